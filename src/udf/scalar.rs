//! The scalar functions over sketch states: one generic [`StateScalar`] described by a
//! [`ScalarSpec`], and the plumbing they share (reading states row by row, probing a sketch
//! with hashed items, decoding a constant state once).

use super::args::{Param, check_arity, check_scalar_literals, check_state_type};
use super::docs::Doc;
use super::family::MergeableState;
use super::numbers::{check_numeric_q, check_q};
use crate::sketch::{Quantiles, Sketch};
use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_datafusion_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
    Volatility,
};
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;

/// How one scalar function differs from the others.
pub struct ScalarSpec {
    /// How the function is called, `topk_items(state [, n])`; the function's name is what
    /// comes before the `(`. Just the name for [`Args::StateAndParams`], whose parameters
    /// write the rest.
    pub syntax: &'static str,
    /// What the function answers, for its `Documentation`. Syntax and doc come first so that a
    /// spec reads from what the function is to how it runs.
    pub doc: Doc,
    /// What the arguments must be, checked when planning.
    pub args: Args,
    /// The result type.
    pub returns: fn() -> DataType,
    pub invoke: fn(&str, &ScalarFunctionArgs) -> Result<ColumnarValue>,
}

/// The arguments of a scalar function, with the words its arity error uses ("a kll state and
/// q").
pub enum Args {
    /// This many states.
    States(usize, &'static str),
    /// A state and one more argument, whose type the function checks.
    StateAnd(&'static str, fn(&str, &DataType) -> Result<()>),
    /// Other argument lists, checked by the function.
    Checked(fn(&str, &[DataType]) -> Result<()>),
    /// A state, then literal parameters (trailing optional ones may be left out). A constant's
    /// value is checked when planning; the function reads them with
    /// [`super::args::scalar_params`], which checks them again.
    StateAndParams(&'static [Param]),
}

impl Args {
    fn check(&self, function: &str, args: &[DataType]) -> Result<()> {
        match *self {
            Args::States(count, usage) => check_state_args(function, args, count, usage),
            Args::StateAnd(usage, check) => state_and(function, args, usage, check),
            Args::Checked(check) => check(function, args),
            Args::StateAndParams(params) => state_and_params(function, args, params),
        }
    }
}

/// The `return_type` of a function of a state and literal parameters.
fn state_and_params(function: &str, args: &[DataType], params: &[Param]) -> Result<()> {
    let required = params.iter().filter(|p| p.default.is_none()).count();
    let names: Vec<&str> = params.iter().map(|p| p.name).collect();
    let usage = format!("a state, then {}", names.join(", "));
    check_arity(function, args, 1 + required, 1 + params.len(), &usage)?;
    check_state_type(function, &args[0])?;
    params
        .iter()
        .zip(&args[1..])
        .try_for_each(|(p, t)| p.check_type(function, t))
}

/// The SQL scalar function described by a [`ScalarSpec`].
pub struct StateScalar {
    name: &'static str,
    spec: ScalarSpec,
    signature: Signature,
    documentation: OnceLock<Documentation>,
}

impl StateScalar {
    pub fn new(spec: ScalarSpec) -> Self {
        let name = spec.syntax.split('(').next().unwrap_or_default().trim();
        Self {
            name,
            spec,
            signature: Signature::variadic_any(Volatility::Immutable),
            documentation: OnceLock::new(),
        }
    }
}

impl std::fmt::Debug for StateScalar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateScalar")
            .field("name", &self.name)
            .finish()
    }
}

/// Functions are identified by name: the spec is fixed per name.
impl PartialEq for StateScalar {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for StateScalar {}

impl Hash for StateScalar {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

impl ScalarUDFImpl for StateScalar {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        self.spec.args.check(self.name, args)?;
        Ok((self.spec.returns)())
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args
            .arg_fields
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let returns = self.return_type(&types)?;
        if let Args::StateAndParams(params) = self.spec.args {
            check_scalar_literals(self.name, params, args.scalar_arguments, 1)?;
        }
        Ok(std::sync::Arc::new(Field::new(self.name(), returns, true)))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        (self.spec.invoke)(self.name, &args)
    }

    fn documentation(&self) -> Option<&Documentation> {
        let spec = &self.spec;
        Some(self.documentation.get_or_init(|| match spec.args {
            Args::StateAndParams(params) => spec.doc.build_with_params(self.name, params),
            _ => spec.doc.build(spec.syntax),
        }))
    }
}

/// Decodes a state (stored or in transit) for `function`, whose name the error carries.
pub fn decode<S: MergeableState>(function: &str, bytes: &[u8]) -> Result<S> {
    S::decode_any(bytes).map_err(|e| exec_datafusion_err!("{function}: {e}"))
}

/// The `return_type` of a function of a state and one more argument, whose type `check`
/// checks.
pub fn state_and(
    function: &str,
    args: &[DataType],
    usage: &str,
    check: impl Fn(&str, &DataType) -> Result<()>,
) -> Result<()> {
    check_arity(function, args, 2, 2, usage)?;
    check_state_type(function, &args[0])?;
    check(function, &args[1])
}

/// Plan-time check that every argument of `function` is a state.
pub fn check_state_args(
    function: &str,
    args: &[DataType],
    count: usize,
    usage: &str,
) -> Result<()> {
    check_arity(function, args, count, count, usage)?;
    args.iter().try_for_each(|t| check_state_type(function, t))
}

/// The bytes of row `row` of a state array (`None` for null).
pub fn state_at<'a>(function: &str, array: &'a dyn Array, row: usize) -> Result<Option<&'a [u8]>> {
    if array.is_null(row) || array.data_type() == &DataType::Null {
        return Ok(None);
    }
    Ok(Some(match array.data_type() {
        DataType::Binary => array.as_binary::<i32>().value(row),
        DataType::LargeBinary => array.as_binary::<i64>().value(row),
        DataType::BinaryView => array.as_binary_view().value(row),
        other => {
            return Err(exec_datafusion_err!(
                "{function} expects a sketch state (binary), got {other}"
            ));
        }
    }))
}

/// How many rows a scalar function computes, and whether every argument is a scalar: then
/// one row, whose value is the scalar result.
pub fn rows_to_compute(args: &ScalarFunctionArgs) -> (usize, bool) {
    let all_scalar = args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)));
    (if all_scalar { 1 } else { args.number_rows }, all_scalar)
}

/// Every argument as an array of the rows to compute (see [`rows_to_compute`]), and whether
/// they were all scalars.
fn argument_arrays(args: &ScalarFunctionArgs) -> Result<(Vec<ArrayRef>, bool)> {
    let (rows, all_scalar) = rows_to_compute(args);
    let arrays = args.args.iter().map(|a| a.to_array(rows));
    Ok((arrays.collect::<Result<Vec<_>>>()?, all_scalar))
}

/// The result of a row-wise function: a scalar when every argument was one.
fn one_or_many(array: ArrayRef, all_scalar: bool) -> Result<ColumnarValue> {
    Ok(if all_scalar {
        ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
    } else {
        ColumnarValue::Array(array)
    })
}

/// A struct result built column by column (a struct scalar per row costs microseconds):
/// `valid[row]` false makes that row NULL, whatever its fields hold. Scalars in give a scalar
/// out.
pub fn struct_result(
    fields: arrow::datatypes::Fields,
    columns: Vec<ArrayRef>,
    valid: Vec<bool>,
    all_scalar: bool,
) -> Result<ColumnarValue> {
    let nulls = arrow::buffer::NullBuffer::from(valid);
    let nulls = (nulls.null_count() > 0).then_some(nulls);
    let array = arrow::array::StructArray::try_new(fields, columns, nulls)?;
    one_or_many(std::sync::Arc::new(array), all_scalar)
}

/// A list result built as one array (a list scalar per row costs microseconds):
/// `row_fn(arrays, row)` gives each row's items, `None` for NULL. The items are nullable and
/// named as `Field::new_list_field` names them. Scalars in give a scalar out.
pub fn map_rows_to_list<T: arrow::datatypes::ArrowPrimitiveType>(
    args: &ScalarFunctionArgs,
    mut row_fn: impl FnMut(&[ArrayRef], usize) -> Result<Option<Vec<T::Native>>>,
) -> Result<ColumnarValue> {
    let (arrays, all_scalar) = argument_arrays(args)?;
    let rows = arrays.first().map_or(0, |a| a.len());
    let mut lists =
        arrow::array::ListBuilder::new(arrow::array::PrimitiveBuilder::<T>::with_capacity(rows));
    for row in 0..rows {
        match row_fn(&arrays, row)? {
            Some(items) => {
                lists.values().append_slice(&items);
                lists.append(true);
            }
            None => lists.append_null(),
        }
    }
    one_or_many(std::sync::Arc::new(lists.finish()), all_scalar)
}

/// Evaluates a row-wise function over array or scalar arguments: `row_fn(arrays, row)` gives
/// one output value; scalars in give a scalar out.
pub fn map_rows(
    args: &ScalarFunctionArgs,
    mut row_fn: impl FnMut(&[ArrayRef], usize) -> Result<ScalarValue>,
) -> Result<ColumnarValue> {
    let (arrays, all_scalar) = argument_arrays(args)?;
    let rows = arrays.first().map_or(0, |a| a.len());
    let values = (0..rows)
        .map(|row| row_fn(&arrays, row))
        .collect::<Result<Vec<_>>>()?;
    if all_scalar {
        return Ok(ColumnarValue::Scalar(
            values.into_iter().next().expect("one row"),
        ));
    }
    if values.is_empty() {
        return Ok(ColumnarValue::Array(arrow::array::new_empty_array(
            args.return_type(),
        )));
    }
    Ok(ColumnarValue::Array(ScalarValue::iter_to_array(values)?))
}

/// Probes sketches with items: `probe(sketch, hash)` for each row whose state and item are
/// both non-null (`None` otherwise). A constant state, the common case of one sketch probed
/// with many items, is decoded once. Returns the values and whether every argument was a
/// scalar (then there is one value, and the result should be a scalar).
pub fn probe_hashes<S: Sketch + Send + Sync + 'static, T>(
    function: &str,
    args: &ScalarFunctionArgs,
    probe: impl Fn(&S, u64) -> T,
) -> Result<(Vec<Option<T>>, bool)> {
    let decode = |bytes: &[u8]| decode::<S>(function, bytes);
    let (rows, all_scalar) = rows_to_compute(args);
    let items = args.args[1].to_array(rows)?;
    let mut hashes = vec![None; rows];
    super::hashing::for_each_hash(items.as_ref(), |row, h| hashes[row] = Some(h))?;
    let out = match &args.args[0] {
        ColumnarValue::Scalar(state) => {
            let sketch = super::args::scalar_state(function, state)?
                .map(|bytes| decode_constant(bytes, &decode))
                .transpose()?;
            hashes
                .iter()
                .map(|h| Some(probe(sketch.as_ref()?, (*h)?)))
                .collect()
        }
        ColumnarValue::Array(states) => {
            // A join repeats one state on many rows: decode it once while it repeats.
            let mut last: Option<(&[u8], S)> = None;
            let mut out = Vec::with_capacity(rows);
            for (row, hash) in hashes.iter().enumerate() {
                let (Some(bytes), Some(h)) = (state_at(function, states.as_ref(), row)?, hash)
                else {
                    out.push(None);
                    continue;
                };
                if last.as_ref().is_none_or(|(b, _)| *b != bytes) {
                    last = Some((bytes, decode(bytes)?));
                }
                out.push(last.as_ref().map(|(_, sketch)| probe(sketch, *h)));
            }
            out
        }
    };
    Ok((out, all_scalar))
}

/// The result of a scalar function from its values: a scalar when every argument was one.
pub fn columnar(array: ArrayRef, all_scalar: bool) -> Result<ColumnarValue> {
    Ok(if all_scalar {
        ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?)
    } else {
        ColumnarValue::Array(array)
    })
}

/// Decodes a constant state once per thread, not once per batch: a literal or scalar-subquery
/// state arrives again with every batch, and a large filter takes longer to decode (checksum
/// and structure) than a batch takes to probe. Keyed by type, length and the state's trailing
/// xxh3 checksum, which identifies the bytes for any honest input.
fn decode_constant<S: Send + Sync + 'static>(
    bytes: &[u8],
    decode: &impl Fn(&[u8]) -> Result<S>,
) -> Result<std::sync::Arc<S>> {
    use std::any::{Any, TypeId};
    use std::cell::RefCell;
    type Entry = (
        TypeId,
        usize,
        [u8; 8],
        std::sync::Arc<dyn Any + Send + Sync>,
    );
    thread_local! {
        static LAST: RefCell<Option<Entry>> = const { RefCell::new(None) };
    }
    let trailer: [u8; 8] = match bytes.len().checked_sub(8) {
        Some(start) => bytes[start..].try_into().expect("8 bytes"),
        None => return decode(bytes).map(std::sync::Arc::new),
    };
    let key = (TypeId::of::<S>(), bytes.len(), trailer);
    let cached = LAST.with_borrow(|last| match last {
        Some((t, n, c, sketch)) if (*t, *n, *c) == key => sketch.clone().downcast::<S>().ok(),
        _ => None,
    });
    if let Some(sketch) = cached {
        return Ok(sketch);
    }
    let sketch = std::sync::Arc::new(decode(bytes)?);
    LAST.with_borrow_mut(|last| *last = Some((key.0, key.1, key.2, sketch.clone())));
    Ok(sketch)
}

/// Rows of a call on one state: `value(sketch)` of each row's decoded state (`None` for a null
/// one).
pub fn per_state<S: MergeableState>(
    function: &str,
    args: &ScalarFunctionArgs,
    value: impl Fn(Option<S>) -> Result<ScalarValue>,
) -> Result<ColumnarValue> {
    map_rows(args, |arrays, row| {
        value(state_of(function, arrays, 0, row)?)
    })
}

/// Rows of a call on two states: `value(a, b)` of each row's decoded states.
pub fn per_state_pair<S: MergeableState>(
    function: &str,
    args: &ScalarFunctionArgs,
    value: impl Fn(Option<S>, Option<S>) -> Result<ScalarValue>,
) -> Result<ColumnarValue> {
    map_rows(args, |arrays, row| {
        let a = state_of(function, arrays, 0, row)?;
        value(a, state_of(function, arrays, 1, row)?)
    })
}

/// `<family>_union(a, b)`: the union of two states row by row, the scalar form of
/// `<family>_merge`. A NULL side counts as empty; two NULLs give NULL.
pub fn union_scalar<S: MergeableState>(
    usage: &'static str,
    syntax: &'static str,
    doc: Doc,
) -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax,
        doc,
        args: Args::States(2, usage),
        returns: || DataType::LargeBinary,
        invoke: union_rows::<S>,
    })
}

fn union_rows<S: MergeableState>(
    function: &str,
    args: &ScalarFunctionArgs,
) -> Result<ColumnarValue> {
    per_state_pair(function, args, |a: Option<S>, b| {
        let union = match (a, b) {
            (Some(mut a), Some(b)) => {
                a.merge(&b)
                    .map_err(|e| exec_datafusion_err!("{function}: {e}"))?;
                Some(a)
            }
            (x, None) | (None, x) => x,
        };
        Ok(ScalarValue::LargeBinary(union.map(|s| {
            let mut out = Vec::new();
            s.write_to(&mut out);
            out
        })))
    })
}

/// The decoded state of argument `arg` at `row` (`None` for null).
fn state_of<S: MergeableState>(
    function: &str,
    arrays: &[ArrayRef],
    arg: usize,
    row: usize,
) -> Result<Option<S>> {
    state_at(function, arrays[arg].as_ref(), row)?
        .map(|bytes| decode(function, bytes))
        .transpose()
}

/// `<family>_quantile(state, q)`: the quantile `q` of the values behind each state, as DOUBLE.
/// `usage` names the arguments in arity errors ("a kll state and q").
pub fn quantile_scalar<S: Quantiles>(
    syntax: &'static str,
    usage: &'static str,
    doc: Doc,
) -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax,
        doc,
        args: Args::StateAnd(usage, check_numeric_q),
        returns: || DataType::Float64,
        invoke: |f, args| {
            per_state_and_q(f, args, |s: &S, q| {
                S::QUANTILE(s, q).map_err(|e| exec_datafusion_err!("{f}: {e}"))
            })
        },
    })
}

/// Rows of a `(state, q)` call: `value(sketch, q)` where both are present.
pub fn per_state_and_q<S: Sketch>(
    function: &str,
    args: &ScalarFunctionArgs,
    value: impl Fn(&S, f64) -> Result<Option<f64>>,
) -> Result<ColumnarValue> {
    let mut qs: Option<Vec<Option<f64>>> = None;
    map_rows(args, |arrays, row| {
        if qs.is_none() {
            let floats = arrow::compute::cast(&arrays[1], &DataType::Float64)?;
            qs = Some(floats.as_primitive::<Float64Type>().iter().collect());
        }
        let q = qs.as_ref().expect("read above")[row];
        let (Some(bytes), Some(q)) = (state_at(function, arrays[0].as_ref(), row)?, q) else {
            return Ok(ScalarValue::Float64(None));
        };
        let q = check_q(function, q)?;
        Ok(ScalarValue::Float64(value(
            &decode::<S>(function, bytes)?,
            q,
        )?))
    })
}
