//! Numeric input of the quantile sketches, and quantiles back in the input's type.
//!
//! KLL and DDSketch take every number as an `f64` ([`for_each_number`]). Temporal values
//! become nanoseconds (dates at midnight UTC), so sketches of a `DATE`, a millisecond and a
//! nanosecond timestamp column merge and compare alike; nanoseconds of present-day instants
//! exceed 2^53, so those sketches keep a precision of about 0.25 µs.
//!
//! The one-shot quantiles (`approx_quantile`) read integral columns ([`is_integral`]:
//! integers, decimal mantissas, nanoseconds) as integers ([`for_each_integer`]). Their digest
//! keeps integers exact at any magnitude (`crate::sketch::tdigest`), and answers go back as
//! integers ([`integers_to_output`]).

use super::args::Keep;
use crate::sketch::hash::NANOS_PER_DAY;
use arrow::array::{
    Array, ArrayRef, AsArray, Decimal128Array, Float64Array, Int64Array, PrimitiveArray,
    UInt64Array,
};
use arrow::compute::cast;
use arrow::datatypes::{
    ArrowPrimitiveType, DataType, Decimal128Type, Float64Type, Int64Type, TimeUnit, UInt64Type,
};
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
pub fn for_each_number(array: &dyn Array, keep: Keep<'_>, f: impl FnMut(usize, f64)) -> Result<()> {
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
    visit(floats.as_primitive::<Float64Type>(), keep, |v| v, f);
    Ok(())
}

/// Values computed in the sketch's `f64` domain, as an array of a float type `dt` (see
/// [`output_type`]; integral types go through [`integers_to_output`]).
pub fn to_output(values: Vec<Option<f64>>, dt: &DataType) -> Result<ArrayRef> {
    let floats = Float64Array::from(values);
    Ok(match dt {
        DataType::Float64 => Arc::new(floats),
        other => cast(&floats, other)?,
    })
}

/// Whether a sketch keeps values of `dt` as integers: integers, the mantissas of decimals up
/// to DECIMAL(38), and dates, timestamps and durations as nanoseconds. Floats and DECIMAL(76)
/// are `f64`.
pub fn is_integral(dt: &DataType) -> bool {
    match dt {
        DataType::Dictionary(_, v) => is_integral(v),
        DataType::Decimal32(..) | DataType::Decimal64(..) | DataType::Decimal128(..) => true,
        other => other.is_integer() || temporal_scale(other).is_some(),
    }
}

/// Calls `f(row, value)` for every kept non-null row of an integral column (see
/// [`is_integral`]), in the sketches' integer domain.
pub fn for_each_integer(
    array: &dyn Array,
    keep: Keep<'_>,
    f: impl FnMut(usize, i128),
) -> Result<()> {
    match array.data_type() {
        DataType::Dictionary(_, v) => for_each_integer(cast(array, v)?.as_ref(), keep, f),
        DataType::UInt64 => {
            visit(array.as_primitive::<UInt64Type>(), keep, i128::from, f);
            Ok(())
        }
        DataType::Decimal32(_, s) | DataType::Decimal64(_, s) | DataType::Decimal128(_, s) => {
            let mantissas = cast(array, &DataType::Decimal128(38, *s))?;
            visit(mantissas.as_primitive::<Decimal128Type>(), keep, |m| m, f);
            Ok(())
        }
        other => {
            let scale = i128::from(temporal_scale(other).unwrap_or(1));
            let ints = cast(array, &DataType::Int64)?;
            visit(
                ints.as_primitive::<Int64Type>(),
                keep,
                |v| v as i128 * scale,
                f,
            );
            Ok(())
        }
    }
}

/// Calls `f(row, map(value))` for every valid kept row.
fn visit<T: ArrowPrimitiveType, V>(
    array: &PrimitiveArray<T>,
    keep: Keep<'_>,
    map: impl Fn(T::Native) -> V,
    mut f: impl FnMut(usize, V),
) {
    let values = array.values();
    if array.null_count() == 0 {
        for (row, v) in values.iter().enumerate() {
            if keep.row(row) {
                f(row, map(*v))
            }
        }
    } else {
        for (row, v) in values.iter().enumerate() {
            if array.is_valid(row) && keep.row(row) {
                f(row, map(*v))
            }
        }
    }
}

/// Integer answers of a sketch of an integral input (see [`is_integral`]) as an array of
/// `dt`: integers, decimal mantissas, or nanoseconds rounded to the type's unit. They are
/// clamped to the type's range, which only a crafted state could leave, so an answer is
/// never NULL.
pub fn integers_to_output(values: Vec<Option<i128>>, dt: &DataType) -> Result<ArrayRef> {
    if let Some(scale) = temporal_scale(dt) {
        let units: Int64Array = values
            .iter()
            .map(|v| v.map(|n| clamp_to(nearest_multiple(n, scale.into()), i64::MIN, i64::MAX)))
            .collect();
        return Ok(match dt {
            DataType::Date32 => cast(&cast(&units, &DataType::Int32)?, dt)?,
            _ => cast(&units, dt)?,
        });
    }
    if let DataType::Decimal128(p, s) | DataType::Decimal64(p, s) | DataType::Decimal32(p, s) = dt {
        let limit = 10i128
            .checked_pow(u32::from(*p))
            .map_or(i128::MAX, |l| l - 1);
        let mantissas: Decimal128Array = values
            .iter()
            .map(|v| v.map(|m| m.clamp(-limit, limit)))
            .collect();
        return Ok(cast(&mantissas.with_precision_and_scale(38, *s)?, dt)?);
    }
    let out: ArrayRef = if *dt == DataType::UInt64 {
        let clamped = values.iter().map(|v| v.map(|v| clamp_to(v, 0, u64::MAX)));
        Arc::new(clamped.collect::<UInt64Array>())
    } else {
        let (lo, hi): (i64, i64) = match dt {
            DataType::Int8 => (i8::MIN.into(), i8::MAX.into()),
            DataType::Int16 => (i16::MIN.into(), i16::MAX.into()),
            DataType::Int32 => (i32::MIN.into(), i32::MAX.into()),
            DataType::UInt8 => (0, u8::MAX.into()),
            DataType::UInt16 => (0, u16::MAX.into()),
            DataType::UInt32 => (0, u32::MAX.into()),
            _ => (i64::MIN, i64::MAX),
        };
        let clamped = values.iter().map(|v| v.map(|v| clamp_to(v, lo, hi)));
        Arc::new(clamped.collect::<Int64Array>())
    };
    Ok(cast(&out, dt)?)
}

/// `v` clamped into `[lo, hi]`.
fn clamp_to<T: TryFrom<i128> + Into<i128> + Copy>(v: i128, lo: T, hi: T) -> T {
    T::try_from(v.clamp(lo.into(), hi.into())).unwrap_or(hi)
}

/// `n / unit` rounded to the nearest integer, halves away from zero.
fn nearest_multiple(n: i128, unit: i128) -> i128 {
    let (q, r) = (n / unit, n % unit);
    if 2 * r.abs() >= unit {
        q + n.signum()
    } else {
        q
    }
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
    use arrow::array::{Date32Array, TimestampMillisecondArray};

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
        let out = integers_to_output(vec![Some(86_400_000_499_999), None], &ts).unwrap();
        assert_eq!(out.data_type(), &ts);
        let ms = out.as_primitive::<arrow::datatypes::TimestampMillisecondType>();
        assert_eq!((ms.value(0), ms.is_null(1)), (86_400_000, true));
        let ints = integers_to_output(vec![Some(7)], &DataType::Int32).unwrap();
        assert_eq!(
            ints.as_primitive::<arrow::datatypes::Int32Type>().value(0),
            7
        );
        // Every integer is itself, at the ends of the types too.
        for (v, dt) in [
            (i64::MAX as i128, DataType::Int64),
            (i64::MIN as i128, DataType::Int64),
            ((1 << 53) + 1, DataType::Int64),
            (u64::MAX as i128, DataType::UInt64),
            (10i128.pow(38) - 1, DataType::Decimal128(38, 0)),
            (1225, DataType::Decimal128(10, 2)),
        ] {
            let out = integers_to_output(vec![Some(v)], &dt).unwrap();
            let back = arrow::compute::cast(&out, &DataType::Decimal128(38, 0)).unwrap();
            let back = match dt {
                DataType::Decimal128(_, 2) => out.as_primitive::<Decimal128Type>().value(0),
                _ => back.as_primitive::<Decimal128Type>().value(0),
            };
            assert_eq!((back, out.data_type()), (v, &dt));
        }
        let days =
            integers_to_output(vec![Some(2 * NANOS_PER_DAY as i128)], &DataType::Date32).unwrap();
        assert_eq!(
            days.as_primitive::<arrow::datatypes::Date32Type>().value(0),
            2
        );
        let half = integers_to_output(vec![Some(-1_500_000)], &ts).unwrap();
        assert_eq!(
            half.as_primitive::<arrow::datatypes::TimestampMillisecondType>()
                .value(0),
            -2,
            "halves round away from zero"
        );
    }

    #[test]
    fn integral_columns_are_read_as_integers() {
        let mut got = Vec::new();
        let ns = arrow::array::TimestampSecondArray::from(vec![Some(1), None, Some(-2)]);
        for_each_integer(&ns, Keep::All, |row, v| got.push((row, v))).unwrap();
        assert_eq!(got, vec![(0, 1_000_000_000), (2, -2_000_000_000)]);
        let big = arrow::array::UInt64Array::from(vec![u64::MAX]);
        got.clear();
        for_each_integer(&big, Keep::All, |row, v| got.push((row, v))).unwrap();
        assert_eq!(got, vec![(0, u64::MAX as i128)]);
        assert!(is_integral(&DataType::Decimal128(20, 3)) && !is_integral(&DataType::Float32));
        assert!(!is_integral(&DataType::Decimal256(40, 0)));
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
