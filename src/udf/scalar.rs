//! Plumbing shared by the scalar functions over sketch states.

use super::args::{check_arity, check_state_type};
use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_datafusion_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs};

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

/// Evaluates a row-wise function over array or scalar arguments: `row_fn(arrays, row)` gives
/// one output value; scalars in give a scalar out.
pub fn map_rows(
    args: &ScalarFunctionArgs,
    mut row_fn: impl FnMut(&[ArrayRef], usize) -> Result<ScalarValue>,
) -> Result<ColumnarValue> {
    let all_scalar = args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let rows = if all_scalar { 1 } else { args.number_rows };
    let arrays = args
        .args
        .iter()
        .map(|a| a.to_array(rows))
        .collect::<Result<Vec<_>>>()?;
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
