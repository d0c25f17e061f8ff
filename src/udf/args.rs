//! Arguments of every function: literal parameters described once ([`Param`]), state columns,
//! row filters.
//!
//! A [`Param`] is the single description of a literal parameter: its name, type, range,
//! default and doc sentence. The plan-time check (under `simplify`, so a bad literal fails
//! while planning, also under EXPLAIN), the accumulator-time read (which also runs where
//! `simplify` does not, as through the FFI of datafusion-python) and the `Documentation` text
//! are all made from it, so they cannot drift apart. Both checks give the same message.

use super::numbers::q_list;
use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_datafusion_err, plan_datafusion_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, Expr};
use datafusion::physical_expr::PhysicalExpr;
use std::ops::RangeInclusive;
use std::sync::Arc;

/// A literal parameter of a function.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: &'static str,
    pub kind: ParamKind,
    /// The value when the argument is absent; `None` makes the parameter required.
    pub default: Option<Default>,
    /// What the parameter does, after the generated "an integer literal from … (default …)".
    pub doc: &'static str,
}

/// The type and range of a [`Param`].
#[derive(Debug, Clone)]
pub enum ParamKind {
    /// An integer literal within the range.
    Integer(RangeInclusive<i64>),
    /// A numeric literal accepted by `valid`, described by `expected` ("in [0, 1]").
    Number {
        valid: fn(f64) -> bool,
        expected: &'static str,
    },
    /// A list literal of quantiles in [0, 1], such as `[0.5, 0.99]`.
    Quantiles,
    /// A string literal, one of `choices` (case-insensitive).
    Choice(&'static [&'static str]),
}

/// A parameter's default, written as a constant.
#[derive(Debug, Clone, Copy)]
pub enum Default {
    Integer(i64),
    Number(f64),
    Choice(&'static str),
}

/// The value of a parameter, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Integer(i64),
    Number(f64),
    Quantiles(Vec<f64>),
    Choice(&'static str),
}

impl ParamValue {
    /// The integer of an [`ParamKind::Integer`] parameter.
    pub fn integer(&self) -> i64 {
        match self {
            Self::Integer(n) => *n,
            other => unreachable!("an integer parameter read as {other:?}"),
        }
    }

    /// The number of a [`ParamKind::Number`] (or integer) parameter.
    pub fn number(&self) -> f64 {
        match self {
            Self::Number(x) => *x,
            Self::Integer(n) => *n as f64,
            other => unreachable!("a number parameter read as {other:?}"),
        }
    }

    pub fn quantiles(&self) -> &[f64] {
        match self {
            Self::Quantiles(qs) => qs,
            other => unreachable!("a quantile list read as {other:?}"),
        }
    }

    pub fn choice(&self) -> &'static str {
        match self {
            Self::Choice(c) => c,
            other => unreachable!("a choice read as {other:?}"),
        }
    }
}

/// `0 < x < 1`, the range of error rates and probabilities.
pub fn open_unit(x: f64) -> bool {
    x > 0.0 && x < 1.0
}

/// `0 <= x <= 1`, the range of quantile ranks.
pub fn closed_unit(x: f64) -> bool {
    (0.0..=1.0).contains(&x)
}

impl Param {
    /// Plan-time check of the argument's type (in `return_type`).
    pub fn check_type(&self, function: &str, dt: &DataType) -> Result<()> {
        let ok = match &self.kind {
            ParamKind::Integer(_) => dt.is_integer(),
            ParamKind::Number { .. } => dt.is_numeric(),
            ParamKind::Quantiles => match dt {
                DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
                    f.data_type().is_numeric() || f.data_type().is_null()
                }
                _ => false,
            },
            ParamKind::Choice(_) => {
                matches!(
                    dt,
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                )
            }
        };
        if ok || dt.is_null() {
            Ok(())
        } else {
            plan_err!(
                "{function}: {} must be {}, got {dt}",
                self.name,
                self.what()
            )
        }
    }

    /// What the literal must be, for messages and docs ("an integer literal from 4 to 18").
    fn what(&self) -> String {
        match &self.kind {
            ParamKind::Integer(r) => {
                format!("an integer literal from {} to {}", r.start(), r.end())
            }
            ParamKind::Number { expected, .. } => format!("a numeric literal {expected}"),
            ParamKind::Quantiles => "a list of quantiles in [0, 1] such as [0.5, 0.99]".to_string(),
            ParamKind::Choice(choices) => format!("one of '{}'", choices.join("', '")),
        }
    }

    /// Checks a literal value; `None` for NULL.
    fn check_value(&self, function: &str, value: &ScalarValue) -> Result<ParamValue> {
        let name = self.name;
        if value.is_null() {
            return plan_err!("{function}: {name} must not be NULL");
        }
        match &self.kind {
            ParamKind::Integer(range) => {
                let n = scalar_to_i64(value).ok_or_else(|| {
                    plan_datafusion_err!(
                        "{function}: {name} must be an integer literal, got {value}"
                    )
                })?;
                if !range.contains(&n) {
                    return plan_err!(
                        "{function}: {name} must be between {} and {}, got {n}",
                        range.start(),
                        range.end()
                    );
                }
                Ok(ParamValue::Integer(n))
            }
            ParamKind::Number { valid, expected } => {
                let x = scalar_to_f64(value).ok_or_else(|| {
                    plan_datafusion_err!(
                        "{function}: {name} must be a numeric literal, got {value}"
                    )
                })?;
                if !valid(x) {
                    return plan_err!("{function}: {name} must be {expected}, got {x}");
                }
                Ok(ParamValue::Number(x))
            }
            ParamKind::Quantiles => match q_list(function, value)? {
                Some(qs) => Ok(ParamValue::Quantiles(qs)),
                None => plan_err!("{function}: {name} must not be NULL"),
            },
            ParamKind::Choice(choices) => {
                let text = match value {
                    ScalarValue::Utf8(Some(s))
                    | ScalarValue::LargeUtf8(Some(s))
                    | ScalarValue::Utf8View(Some(s)) => s,
                    other => {
                        return plan_err!(
                            "{function}: {name} must be a string literal, got {other}"
                        );
                    }
                };
                choices
                    .iter()
                    .find(|c| c.eq_ignore_ascii_case(text))
                    .map(|c| ParamValue::Choice(c))
                    .ok_or_else(|| {
                        plan_datafusion_err!(
                            "{function}: {name} must be one of '{}', got '{text}'",
                            choices.join("', '")
                        )
                    })
            }
        }
    }

    fn default_value(&self, function: &str) -> Result<ParamValue> {
        match self.default {
            Some(Default::Integer(n)) => Ok(ParamValue::Integer(n)),
            Some(Default::Number(x)) => Ok(ParamValue::Number(x)),
            Some(Default::Choice(c)) => Ok(ParamValue::Choice(c)),
            None => plan_err!("{function}: {} is required", self.name),
        }
    }

    /// Plan-time check of the argument as written: a literal is checked, a column refused,
    /// other expressions (which constant folding may not have reached yet) left to
    /// [`Self::read`]. Returns the value when it is known.
    pub fn check_literal(&self, function: &str, arg: Option<&Expr>) -> Result<Option<ParamValue>> {
        match arg {
            None => self.default_value(function).map(Some),
            Some(Expr::Literal(value, _)) => self.check_value(function, value).map(Some),
            Some(Expr::Column(_)) => not_constant(function, self.name),
            Some(_) => Ok(None),
        }
    }

    /// The parameter's value when the accumulator is made, from its physical expression
    /// evaluated against an empty batch (so `14`, `CAST(14 AS TINYINT)` and `7 * 2` all
    /// work; a column does not).
    pub fn read(
        &self,
        function: &str,
        exprs: &[Arc<dyn PhysicalExpr>],
        index: usize,
    ) -> Result<ParamValue> {
        match constant_arg(function, self.name, exprs, index)? {
            Some(value) => self.check_value(function, &value),
            None => self.default_value(function),
        }
    }

    /// The argument's documentation: what it must be, its default, what it does.
    pub fn documentation(&self) -> String {
        let what = self.what();
        let head = match self.default {
            None => capitalize(&what),
            Some(d) => format!("Optional, {what} (default {})", show_default(d)),
        };
        format!("{head}. {}", self.doc)
    }
}

fn show_default(d: Default) -> String {
    match d {
        Default::Integer(n) => n.to_string(),
        Default::Number(x) => x.to_string(),
        Default::Choice(c) => format!("'{c}'"),
    }
}

fn capitalize(s: &str) -> String {
    let mut chars = s.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_uppercase().chain(chars).collect())
}

/// Plan-time check of every parameter of a call whose parameters start at argument `first`;
/// returns their values when all are literals (or absent), for checks of their combination.
pub fn check_literals(
    function: &str,
    params: &[Param],
    args: &[Expr],
    first: usize,
) -> Result<Option<Vec<ParamValue>>> {
    let mut values = Vec::with_capacity(params.len());
    for (i, param) in params.iter().enumerate() {
        values.push(param.check_literal(function, args.get(first + i))?);
    }
    Ok(values.into_iter().collect())
}

/// Every parameter's value when the accumulator is made (see [`Param::read`]).
pub fn read_params(
    function: &str,
    params: &[Param],
    exprs: &[Arc<dyn PhysicalExpr>],
    first: usize,
) -> Result<Vec<ParamValue>> {
    params
        .iter()
        .enumerate()
        .map(|(i, p)| p.read(function, exprs, first + i))
        .collect()
}

/// The value of a constant argument, read by evaluating its physical expression against an
/// empty batch; `None` when the argument is absent.
pub fn constant_arg(
    function: &str,
    name: &str,
    exprs: &[Arc<dyn PhysicalExpr>],
    index: usize,
) -> Result<Option<ScalarValue>> {
    let Some(expr) = exprs.get(index) else {
        return Ok(None);
    };
    let batch =
        arrow::record_batch::RecordBatch::new_empty(Arc::new(arrow::datatypes::Schema::empty()));
    match expr.evaluate(&batch) {
        Ok(ColumnarValue::Scalar(v)) => Ok(Some(v)),
        _ => not_constant(function, name),
    }
}

/// The error for a parameter given as a column or an expression over columns. Worded alike
/// at plan time and when the accumulator is made: through datafusion-python's FFI, which drops
/// the plan-time check, the latter is where it comes from (and there a foreign expression
/// cannot be told from a column).
/// Plan-time check of a scalar function's parameters, from the constants DataFusion knows
/// when it types the call (`None` for an argument that is not one: [`scalar_params`] checks
/// it when the function runs, also where this check does not run, as through the FFI).
pub fn check_scalar_literals(
    function: &str,
    params: &[Param],
    literals: &[Option<&ScalarValue>],
    first: usize,
) -> Result<()> {
    for (i, param) in params.iter().enumerate() {
        if let Some(Some(value)) = literals.get(first + i) {
            param.check_value(function, value)?;
        }
    }
    Ok(())
}

/// A scalar function's parameters when it runs: each must be a constant; an absent one takes
/// its default.
pub fn scalar_params(
    function: &str,
    params: &[Param],
    args: &[ColumnarValue],
    first: usize,
) -> Result<Vec<ParamValue>> {
    params
        .iter()
        .enumerate()
        .map(|(i, param)| match args.get(first + i) {
            None => param.default_value(function),
            Some(ColumnarValue::Scalar(value)) => param.check_value(function, value),
            Some(ColumnarValue::Array(array)) => match constant_of(array)? {
                Some(value) => param.check_value(function, &value),
                None if array.is_empty() => param.default_value(function),
                None => not_constant(function, param.name),
            },
        })
        .collect()
}

/// The value of an array whose rows are all equal: a literal reaches a function as such an
/// array through the FFI of datafusion-python, which does not pass scalars. `None` when the
/// rows differ or there are none.
fn constant_of(array: &ArrayRef) -> Result<Option<ScalarValue>> {
    if array.is_empty() {
        return Ok(None);
    }
    let first = ScalarValue::try_from_array(array, 0)?;
    for row in 1..array.len() {
        if ScalarValue::try_from_array(array, row)? != first {
            return Ok(None);
        }
    }
    Ok(Some(first))
}

fn not_constant<T>(function: &str, name: &str) -> Result<T> {
    plan_err!("{function}: {name} must be a constant, not a column or an expression over columns")
}

fn scalar_to_f64(v: &ScalarValue) -> Option<f64> {
    match v {
        ScalarValue::Float64(Some(x)) => Some(*x),
        ScalarValue::Float32(Some(x)) => Some(*x as f64),
        ScalarValue::Float16(Some(x)) => Some(f64::from(*x)),
        ScalarValue::Decimal128(Some(m), _, s) => Some(*m as f64 / 10f64.powi(*s as i32)),
        other => scalar_to_i64(other).map(|n| n as f64),
    }
}

fn scalar_to_i64(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::Int8(Some(x)) => Some(*x as i64),
        ScalarValue::Int16(Some(x)) => Some(*x as i64),
        ScalarValue::Int32(Some(x)) => Some(*x as i64),
        ScalarValue::Int64(Some(x)) => Some(*x),
        ScalarValue::UInt8(Some(x)) => Some(*x as i64),
        ScalarValue::UInt16(Some(x)) => Some(*x as i64),
        ScalarValue::UInt32(Some(x)) => Some(*x as i64),
        ScalarValue::UInt64(Some(x)) => i64::try_from(*x).ok(),
        _ => None,
    }
}

pub fn is_integer_type(dt: &DataType) -> bool {
    dt.is_integer() || dt.is_null()
}

/// Plan-time check of an argument that holds sketch states.
pub fn check_state_type(function: &str, dt: &DataType) -> Result<()> {
    match dt {
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::Null => Ok(()),
        other => plan_err!(
            "{function} expects a sketch state (a binary value made by a Hazy *_sketch or \
             *_merge function), got {other}"
        ),
    }
}

/// Plan-time check of the argument count.
pub fn check_arity(
    function: &str,
    args: &[DataType],
    min: usize,
    max: usize,
    usage: &str,
) -> Result<()> {
    if args.len() < min || args.len() > max {
        return plan_err!("{function} takes {usage}, got {} arguments", args.len());
    }
    Ok(())
}

/// Calls `f(row, bytes)` for each non-null state of `array`.
pub fn for_each_state(
    function: &str,
    array: &dyn Array,
    mut f: impl FnMut(usize, &[u8]) -> Result<()>,
) -> Result<()> {
    macro_rules! visit {
        ($a:expr) => {{
            let a = $a;
            for i in 0..a.len() {
                if a.is_valid(i) {
                    f(i, a.value(i))?;
                }
            }
        }};
    }
    match array.data_type() {
        DataType::Binary => visit!(array.as_binary::<i32>()),
        DataType::LargeBinary => visit!(array.as_binary::<i64>()),
        DataType::BinaryView => visit!(array.as_binary_view()),
        DataType::Null => {}
        other => {
            return Err(exec_datafusion_err!(
                "{function} expects sketch states (binary), got {other}"
            ));
        }
    }
    Ok(())
}

/// The bytes of a scalar state argument (`None` for null).
pub fn scalar_state<'a>(function: &str, v: &'a ScalarValue) -> Result<Option<&'a [u8]>> {
    match v {
        ScalarValue::Binary(b) | ScalarValue::LargeBinary(b) | ScalarValue::BinaryView(b) => {
            Ok(b.as_deref())
        }
        ScalarValue::Null => Ok(None),
        other => Err(exec_datafusion_err!(
            "{function} expects a sketch state (binary), got {}",
            other.data_type()
        )),
    }
}

/// Which rows of a batch an aggregate takes: all of them, or those its FILTER keeps. An enum
/// rather than a closure so the per-row test inlines into the hashing loops (and costs
/// nothing without a FILTER).
#[derive(Clone, Copy)]
pub enum Keep<'a> {
    All,
    Filter(&'a BooleanArray),
}

impl<'a> Keep<'a> {
    pub fn from_filter(filter: Option<&'a BooleanArray>) -> Self {
        filter.map_or(Keep::All, Keep::Filter)
    }

    /// Whether row `i` is taken (a NULL filter value drops it).
    #[inline]
    pub fn row(self, i: usize) -> bool {
        match self {
            Keep::All => true,
            Keep::Filter(f) => f.is_valid(i) && f.value(i),
        }
    }
}

/// Arrays of a scalar function's arguments, all of `rows` rows.
pub fn to_arrays(args: &[ColumnarValue], rows: usize) -> Result<Vec<ArrayRef>> {
    args.iter().map(|a| a.to_array(rows)).collect()
}
