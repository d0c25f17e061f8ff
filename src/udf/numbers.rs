//! Numeric input of the quantile sketches: every number, date, timestamp and duration becomes
//! an `f64`, and quantiles go back to the input's type.
//!
//! Temporal values become nanoseconds (dates at midnight UTC), so sketches of a `DATE`, a
//! millisecond and a nanosecond timestamp column merge and compare alike. Nanoseconds of
//! present-day instants exceed 2^53, so they keep a precision of about 0.25 µs in the sketch.

use super::args::Keep;
use crate::sketch::hash::NANOS_PER_DAY;
use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Int32Array, Int64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use datafusion::common::{Result, plan_err};
use std::sync::Arc;

fn nanos_per(unit: &TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
}

/// Nanoseconds per unit of a temporal type; `None` for plain numbers.
fn temporal_scale(dt: &DataType) -> Option<i64> {
    match dt {
        DataType::Date32 => Some(NANOS_PER_DAY),
        DataType::Date64 => Some(1_000_000),
        DataType::Timestamp(unit, _) | DataType::Duration(unit) => Some(nanos_per(unit)),
        _ => None,
    }
}

fn is_plain_number(dt: &DataType) -> bool {
    dt.is_integer()
        || matches!(
            dt,
            DataType::Float16
                | DataType::Float32
                | DataType::Float64
                | DataType::Decimal32(_, _)
                | DataType::Decimal64(_, _)
                | DataType::Decimal128(_, _)
                | DataType::Decimal256(_, _)
        )
}

/// Plan-time check of a quantile sketch's input; `temporal` allows dates and timestamps.
pub fn check_number_input(function: &str, dt: &DataType, temporal: bool) -> Result<()> {
    let ok = match dt {
        DataType::Null => true,
        DataType::Dictionary(_, v) => return check_number_input(function, v, temporal),
        DataType::Duration(_) => true,
        DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) => temporal,
        other => is_plain_number(other),
    };
    if ok {
        return Ok(());
    }
    let accepted = if temporal {
        "integers, floats, decimals, dates, timestamps or durations"
    } else {
        "integers, floats, decimals or durations (relative error of instants means nothing)"
    };
    plan_err!("{function} does not support values of type {dt}: use {accepted}")
}

/// The type quantiles of an input of type `dt` are returned in.
pub fn output_type(dt: &DataType) -> DataType {
    match dt {
        DataType::Dictionary(_, v) => output_type(v),
        DataType::Null => DataType::Float64,
        other => other.clone(),
    }
}

/// Calls `f(row, value)` for every kept non-null row (NaN included: sketches decide).
pub fn for_each_number(
    array: &dyn Array,
    keep: Keep<'_>,
    mut f: impl FnMut(usize, f64),
) -> Result<()> {
    let dt = array.data_type();
    if let DataType::Dictionary(_, v) = dt {
        let plain = cast(array, v)?;
        return for_each_number(plain.as_ref(), keep, f);
    }
    if dt == &DataType::Null {
        return Ok(());
    }
    let floats = match temporal_scale(dt) {
        Some(scale) => {
            let ints = cast(array, &DataType::Int64)?;
            let scale = scale as f64;
            Arc::new(
                ints.as_primitive::<Int64Type>()
                    .unary::<_, Float64Type>(|v| v as f64 * scale),
            ) as ArrayRef
        }
        None => cast(array, &DataType::Float64)?,
    };
    let floats = floats.as_primitive::<Float64Type>();
    let values = floats.values();
    if floats.null_count() == 0 {
        for (row, v) in values.iter().enumerate() {
            if keep.row(row) {
                f(row, *v)
            }
        }
    } else {
        for row in 0..values.len() {
            if floats.is_valid(row) && keep.row(row) {
                f(row, values[row])
            }
        }
    }
    Ok(())
}

/// Values computed in the sketch's `f64` domain, as an array of `dt` (see [`output_type`]).
///
/// Integers and decimals are rounded to the type, and clamped to its range: every input lay in
/// it, so a value past it is the `f64` rounding of one near the end (`i64::MAX` is 2^63 as an
/// `f64`), never NULL and never another number.
pub fn to_output(values: Vec<Option<f64>>, dt: &DataType) -> Result<ArrayRef> {
    if dt.is_integer() {
        return integers_out(&values, dt);
    }
    if let DataType::Decimal128(p, s) | DataType::Decimal64(p, s) | DataType::Decimal32(p, s) = dt {
        let limit = 10i128
            .checked_pow(u32::from(*p))
            .map_or(i128::MAX, |l| l - 1);
        let mantissas: arrow::array::Decimal128Array = values
            .iter()
            .map(|v| v.map(|v| decimal_mantissa(v, *s, limit)))
            .collect();
        let mantissas = mantissas.with_precision_and_scale(38, *s)?;
        return Ok(cast(&mantissas, dt)?);
    }
    let floats = Float64Array::from(values);
    let Some(scale) = temporal_scale(dt) else {
        return Ok(match dt {
            DataType::Float64 => Arc::new(floats),
            other => cast(&floats, other)?,
        });
    };
    let to_units = |v: f64| (v / scale as f64).round();
    let out: ArrayRef = match dt {
        DataType::Date32 => {
            let days: Int32Array = floats
                .iter()
                .map(|v| v.map(|v| to_units(v) as i32))
                .collect();
            cast(&days, dt)?
        }
        _ => {
            let units: Int64Array = floats
                .iter()
                .map(|v| v.map(|v| to_units(v) as i64))
                .collect();
            cast(&units, dt)?
        }
    };
    Ok(out)
}

/// The mantissa at `scale` of the decimal an `f64` stands for: its shortest round-trip decimal
/// digits (so the largest DECIMAL(38, 0), 1e38 as an `f64`, reads as 10^38, not as the binary
/// value 99999999999999997748809823456034029568), rounded half away from zero at the scale,
/// clamped to ±`limit`.
fn decimal_mantissa(v: f64, scale: i8, limit: i128) -> i128 {
    if !v.is_finite() {
        return if v.is_nan() {
            0
        } else {
            limit * v.signum() as i128
        };
    }
    let text = format!("{v:e}");
    let (digits, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let negative = digits.starts_with('-');
    let digits: String = digits.chars().filter(char::is_ascii_digit).collect();
    // At most 17 digits, so this fits.
    let m: i128 = digits.parse().unwrap_or(0);
    let shift = exponent - (digits.len() as i32 - 1) + i32::from(scale);
    let m = if shift >= 0 {
        10i128
            .checked_pow(shift as u32)
            .and_then(|p| m.checked_mul(p))
            .unwrap_or(i128::MAX)
    } else {
        match 10i128.checked_pow((-shift) as u32) {
            Some(p) => (m + p / 2) / p,
            None => 0,
        }
    };
    let m = m.min(limit);
    if negative { -m } else { m }
}

/// Integer outputs: rounded, clamped to the type's range (see [`to_output`]).
fn integers_out(values: &[Option<f64>], dt: &DataType) -> Result<ArrayRef> {
    let (lo, hi): (i128, i128) = match dt {
        DataType::Int8 => (i8::MIN.into(), i8::MAX.into()),
        DataType::Int16 => (i16::MIN.into(), i16::MAX.into()),
        DataType::Int32 => (i32::MIN.into(), i32::MAX.into()),
        DataType::UInt8 => (0, u8::MAX.into()),
        DataType::UInt16 => (0, u16::MAX.into()),
        DataType::UInt32 => (0, u32::MAX.into()),
        DataType::UInt64 => (0, u64::MAX.into()),
        _ => (i64::MIN.into(), i64::MAX.into()),
    };
    // `as i128` saturates and maps NaN to 0; a NaN quantile only comes from NaN input.
    let clamped = values
        .iter()
        .map(|v| v.map(|v| (v.round() as i128).clamp(lo, hi)));
    let out: ArrayRef = if *dt == DataType::UInt64 {
        Arc::new(
            clamped
                .map(|v| v.map(|v| v as u64))
                .collect::<arrow::array::UInt64Array>(),
        )
    } else {
        Arc::new(clamped.map(|v| v.map(|v| v as i64)).collect::<Int64Array>())
    };
    Ok(cast(&out, dt)?)
}

/// Plan-time check of a quantile argument's type.
pub fn check_numeric_q(function: &str, t: &DataType) -> Result<()> {
    if t.is_numeric() || t.is_null() {
        Ok(())
    } else {
        plan_err!("{function}: q must be a number in [0, 1], got {t}")
    }
}

/// A quantile rank `q`, checked to lie in [0, 1]; worded as the plan-time check of a literal q
/// (`check_float_param`), which datafusion-python's FFI drops, so both paths read the same.
pub fn check_q(function: &str, q: f64) -> Result<f64> {
    if (0.0..=1.0).contains(&q) {
        Ok(q)
    } else {
        datafusion::common::exec_err!("{function}: q must be in [0, 1], got {q}")
    }
}

/// The ranks of a list of quantiles (`[0.5, 0.99]`), each checked; a NULL list is `None`.
pub fn q_list(function: &str, value: &datafusion::common::ScalarValue) -> Result<Option<Vec<f64>>> {
    use datafusion::common::ScalarValue;
    let array = match value {
        ScalarValue::List(a) => a.value(0),
        ScalarValue::LargeList(a) => a.value(0),
        ScalarValue::FixedSizeList(a) => a.value(0),
        v if v.is_null() => return Ok(None),
        other => {
            return plan_err!(
                "{function}: quantiles must be a list of numbers such as [0.5, 0.99], got {}",
                other.data_type()
            );
        }
    };
    if value.is_null() {
        return Ok(None);
    }
    let floats = cast(&array, &DataType::Float64).map_err(|_| {
        datafusion::common::plan_datafusion_err!(
            "{function}: quantiles must be numbers, got {}",
            array.data_type()
        )
    })?;
    let floats = floats.as_primitive::<Float64Type>();
    if floats.null_count() > 0 {
        return plan_err!("{function}: quantiles must not contain NULL");
    }
    floats
        .values()
        .iter()
        .map(|q| check_q(function, *q))
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// Every row of a numeric argument in the sketches' domain (`None` for nulls).
pub fn numbers_of(array: &dyn Array) -> Result<Vec<Option<f64>>> {
    let mut out = vec![None; array.len()];
    for_each_number(array, Keep::All, |row, v| out[row] = Some(v))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Date32Array, Int32Array, TimestampMillisecondArray};

    fn numbers(array: &dyn Array) -> Vec<(usize, f64)> {
        let mut out = Vec::new();
        for_each_number(array, Keep::All, |row, v| out.push((row, v))).unwrap();
        out
    }

    #[test]
    fn temporal_values_are_nanoseconds() {
        let day = Date32Array::from(vec![Some(1), None]);
        let ms = TimestampMillisecondArray::from(vec![86_400_000]);
        assert_eq!(numbers(&day), vec![(0, 86_400e9)]);
        assert_eq!(numbers(&ms), vec![(0, 86_400e9)]);
    }

    #[test]
    fn outputs_return_to_the_input_type() {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        let out = to_output(vec![Some(86_400e9), None], &ts).unwrap();
        assert_eq!(out.data_type(), &ts);
        assert_eq!(
            out.as_primitive::<arrow::datatypes::TimestampMillisecondType>()
                .value(0),
            86_400_000
        );
        let ints = to_output(vec![Some(7.0)], &DataType::Int32).unwrap();
        assert_eq!(
            ints.as_any().downcast_ref::<Int32Array>().unwrap().value(0),
            7
        );
        // The ends of integer and decimal types come back, never NULL (2^63 as f64 is past
        // i64::MAX, 1e38 past the largest DECIMAL(38, 0)).
        let big = to_output(vec![Some(i64::MAX as f64)], &DataType::Int64).unwrap();
        assert_eq!(big.as_primitive::<Int64Type>().value(0), i64::MAX);
        let small = to_output(vec![Some(i64::MIN as f64)], &DataType::Int64).unwrap();
        assert_eq!(small.as_primitive::<Int64Type>().value(0), i64::MIN);
        let unsigned = to_output(vec![Some(u64::MAX as f64)], &DataType::UInt64).unwrap();
        assert_eq!(
            unsigned
                .as_primitive::<arrow::datatypes::UInt64Type>()
                .value(0),
            u64::MAX
        );
        let dec = DataType::Decimal128(38, 0);
        let max = to_output(vec![Some(1e38)], &dec).unwrap();
        assert_eq!(
            max.as_primitive::<arrow::datatypes::Decimal128Type>()
                .value(0),
            10i128.pow(38) - 1
        );
        let cents = to_output(vec![Some(12.25)], &DataType::Decimal128(10, 2)).unwrap();
        assert_eq!(
            cents
                .as_primitive::<arrow::datatypes::Decimal128Type>()
                .value(0),
            1225
        );
        let days = to_output(vec![Some(2.0 * 86_400e9)], &DataType::Date32).unwrap();
        assert_eq!(
            days.as_primitive::<arrow::datatypes::Date32Type>().value(0),
            2
        );
    }

    #[test]
    fn instants_are_refused_where_relative_error_means_nothing() {
        let ts = DataType::Timestamp(TimeUnit::Second, None);
        assert!(check_number_input("kll_sketch", &ts, true).is_ok());
        let e = check_number_input("dd_sketch", &ts, false).unwrap_err();
        assert!(e.to_string().contains("dd_sketch does not support"), "{e}");
        assert!(check_number_input("dd_sketch", &DataType::Utf8, false).is_err());
    }
}
