//! Argument handling shared by every function: literal parameters, state columns, errors.

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
use arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_datafusion_err, plan_datafusion_err, plan_err};
use datafusion::logical_expr::{ColumnarValue, Expr};
use datafusion::physical_expr::PhysicalExpr;
use std::sync::Arc;

/// The value of a constant argument, read by evaluating its physical expression against an
/// empty batch (so `14`, `CAST(14 AS TINYINT)` and `7 * 2` all work; a column does not).
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
        _ => plan_err!("{function}: {name} must be a constant, got {expr}"),
    }
}

/// An integer parameter within `range`, or `default` when absent.
pub fn integer_arg(
    function: &str,
    name: &str,
    exprs: &[Arc<dyn PhysicalExpr>],
    index: usize,
    range: std::ops::RangeInclusive<i64>,
    default: i64,
) -> Result<i64> {
    match constant_arg(function, name, exprs, index)? {
        Some(value) => integer_in_range(function, name, &value, range),
        None => Ok(default),
    }
}

fn integer_in_range(
    function: &str,
    name: &str,
    value: &ScalarValue,
    range: std::ops::RangeInclusive<i64>,
) -> Result<i64> {
    let n = scalar_to_i64(value).ok_or_else(|| {
        plan_datafusion_err!("{function}: {name} must be an integer literal, got {value}")
    })?;
    if !range.contains(&n) {
        return plan_err!(
            "{function}: {name} must be between {} and {}, got {n}",
            range.start(),
            range.end()
        );
    }
    Ok(n)
}

/// Logical-plan check of an integer parameter, so a bad literal fails while planning (also
/// under EXPLAIN), before any data is read. Expressions that are neither literals nor columns
/// are checked when the accumulator is created.
pub fn check_integer_param(
    function: &str,
    name: &str,
    arg: Option<&Expr>,
    range: std::ops::RangeInclusive<i64>,
) -> Result<()> {
    match arg {
        Some(Expr::Literal(value, _)) => integer_in_range(function, name, value, range).map(|_| ()),
        Some(Expr::Column(c)) => plan_err!("{function}: {name} must be a constant, got column {c}"),
        _ => Ok(()),
    }
}

/// A float parameter accepted by `valid` (described by `expected`), or `default` when absent.
pub fn float_arg(
    function: &str,
    name: &str,
    exprs: &[Arc<dyn PhysicalExpr>],
    index: usize,
    expected: &str,
    valid: fn(f64) -> bool,
    default: f64,
) -> Result<f64> {
    match constant_arg(function, name, exprs, index)? {
        Some(value) => float_in_range(function, name, &value, expected, valid),
        None => Ok(default),
    }
}

fn float_in_range(
    function: &str,
    name: &str,
    value: &ScalarValue,
    expected: &str,
    valid: fn(f64) -> bool,
) -> Result<f64> {
    let x = match value {
        ScalarValue::Float64(Some(x)) => *x,
        ScalarValue::Float32(Some(x)) => *x as f64,
        ScalarValue::Decimal128(Some(m), _, s) => *m as f64 / 10f64.powi(*s as i32),
        other => match scalar_to_i64(other) {
            Some(n) => n as f64,
            None => return plan_err!("{function}: {name} must be a numeric literal, got {value}"),
        },
    };
    if !valid(x) {
        return plan_err!("{function}: {name} must be {expected}, got {x}");
    }
    Ok(x)
}

/// Logical-plan check of a float parameter (see [`check_integer_param`]).
pub fn check_float_param(
    function: &str,
    name: &str,
    arg: Option<&Expr>,
    expected: &str,
    valid: fn(f64) -> bool,
) -> Result<()> {
    match arg {
        Some(Expr::Literal(value, _)) => {
            float_in_range(function, name, value, expected, valid).map(|_| ())
        }
        Some(Expr::Column(c)) => plan_err!("{function}: {name} must be a constant, got column {c}"),
        _ => Ok(()),
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

/// Calls `f(row, bytes)` for each non-null state (and each row passing the optional filter).
pub fn for_each_state(
    function: &str,
    array: &dyn Array,
    filter: Option<&BooleanArray>,
    mut f: impl FnMut(usize, &[u8]) -> Result<()>,
) -> Result<()> {
    let keep = |i: usize| filter.is_none_or(|m| m.is_valid(i) && m.value(i));
    macro_rules! visit {
        ($a:expr) => {{
            let a = $a;
            for i in 0..a.len() {
                if a.is_valid(i) && keep(i) {
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

/// Turns a row filter into a keep-predicate over rows.
pub fn row_filter(filter: Option<&BooleanArray>) -> impl Fn(usize) -> bool + '_ {
    move |i| filter.is_none_or(|m| m.is_valid(i) && m.value(i))
}

/// Arrays of a scalar function's arguments, all of `rows` rows.
pub fn to_arrays(args: &[ColumnarValue], rows: usize) -> Result<Vec<ArrayRef>> {
    args.iter().map(|a| a.to_array(rows)).collect()
}
