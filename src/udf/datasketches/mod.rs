//! Apache DataSketches interchange: SQL functions whose states are the sketches that Spark,
//! Druid, Hive, Impala, Snowflake, StarRocks and the DuckDB extension store, byte for byte.
//!
//! * [`hll`]: `ds_hll_sketch`, `ds_hll_merge`, `ds_hll_estimate`, `ds_hll_union`,
//!   `ds_hll_bounds` (DataSketches HLL, `HLL_4`, `HLL_6` or `HLL_8`).
//! * [`theta`]: `theta_sketch`, `theta_union`, `theta_intersect_agg` (aggregates) and
//!   `theta_union_pair`, `theta_intersect`, `theta_a_not_b`, `theta_estimate`, `theta_bounds`
//!   (compact theta sketches, with set operations).
//! * [`kll`]: `kll_to_datasketches`, `kll_from_datasketches` (Hazy's KLL states to and from
//!   DataSketches' KLL sketches of doubles, floats or longs).
//! * [`frequencies`]: `topk_to_datasketches`, `topk_from_datasketches` (Hazy's Top-K states to
//!   and from DataSketches' frequent-items sketches of strings or longs).
//!
//! The sketches themselves are the Apache DataSketches Rust crate (`datasketches`), the
//! field's own implementation whose tests read the Java and C++ golden files: Hazy does not
//! re-implement them. What Hazy adds is the SQL layer: the states are the library's compact
//! serialized bytes (no Hazy envelope, since compatibility is the point), and the wrappers in
//! [`hll`] and [`theta`] make the library's types fit the generic aggregate (they must be
//! `Clone` and mergeable in place, which `ThetaSketch` and `ThetaUnion` are not).
//!
//! # Hashing
//!
//! Items hash the DataSketches way, not Hazy's ([`crate::sketch::hash`]): MurmurHash3 x64/128
//! with seed 9001 over integers as 8 little-endian bytes (every integer type widened to 64
//! bits, as Java's `update(long)` and Spark do), floats as the bits of the `f64` with -0.0 and
//! NaN made canonical (as Java's `update(double)`), strings as their UTF-8 bytes and binaries
//! as their bytes, empty ones skipped (as Java and C++ skip them). So 1 and 1.0 hash
//! differently here, unlike in Hazy's own sketches, and an integer column must stay integer
//! for its sketches to union with Spark's. Other types (decimals, dates, timestamps,
//! booleans) are refused at planning: cast them to what the other system hashes.
//!
//! # Guarantees
//!
//! Foreign or corrupt bytes give an error naming the function and the defect. The library
//! validates what it reads; where a malformed image gets past its checks and reaches one of its
//! internal assertions, the panic is caught at the call ([`guard`]) and reported the same way.

pub mod frequencies;
pub mod hll;
pub mod kll;
pub mod theta;

use super::args::Keep;
use super::bound;
use super::family::{RowInput, Rows};
use super::hashing::is_string_or_binary;
use super::memory::PoolHandle;
use super::scalar::{Args, StateScalar};
use crate::sketch::SketchError;
use crate::sketch::envelope::{MAGIC, TRANSIT_MAGIC};
use arrow::array::{Array, ArrayRef, AsArray, Float64Array};
use arrow::datatypes::*;
use datafusion::common::{Result, ScalarValue, exec_datafusion_err, exec_err, plan_err};
use datafusion::logical_expr::AggregateUDF;
use datasketches::common::NumStdDev;
use datasketches::hash::value::{canonical_float, raw_bytes};
use std::hash::{Hash, Hasher};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

/// One row's value as DataSketches hashes it.
#[derive(Debug, Clone, Copy)]
pub enum DsItem<'r> {
    /// Any integer, widened to 64 bits (hashed as 8 little-endian bytes).
    Long(i64),
    /// Any float, as an `f64` (hashed as its canonical bits).
    Double(f64),
    /// UTF-8 bytes of a string, or the bytes of a binary; never empty.
    Bytes(&'r [u8]),
}

impl Hash for DsItem<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match *self {
            DsItem::Long(v) => v.hash(state),
            DsItem::Double(v) => canonical_float::from_f64(v).hash(state),
            DsItem::Bytes(b) => raw_bytes::from_slice(b).hash(state),
        }
    }
}

/// Rows as DataSketches items (see the module documentation).
#[derive(Debug)]
pub struct DsItems;

impl RowInput for DsItems {
    type Item<'r> = DsItem<'r>;

    fn check_type(function: &str, dt: &DataType) -> Result<()> {
        if is_ds_hashable(dt) {
            return Ok(());
        }
        plan_err!(
            "{function} does not support values of type {dt}: DataSketches hashes integers, \
             floats, strings and binaries; cast the column to the type the other system \
             sketches (for example CAST(x AS BIGINT) or CAST(x AS VARCHAR))"
        )
    }

    fn feed<F: for<'r> FnMut(usize, DsItem<'r>)>(rows: &Rows<'_>, mut f: F) -> Result<()> {
        for_each_item(rows.values.as_ref(), rows.keep, &mut f)
    }
}

/// The DataSketches-compatible aggregates, in reference order, reserving in `pool`.
pub fn aggregate_functions(pool: &PoolHandle) -> Vec<AggregateUDF> {
    vec![
        bound(hll::sketch(), pool),
        bound(hll::merge(), pool),
        bound(theta::sketch(), pool),
        bound(theta::union(), pool),
        bound(theta::intersect_agg(), pool),
    ]
}

/// The DataSketches-compatible scalar functions, in reference order.
pub fn scalar_functions() -> Vec<StateScalar> {
    vec![
        hll::estimate(),
        hll::union(),
        hll::bounds(),
        theta::estimate(),
        theta::bounds(),
        theta::union_pair_scalar(),
        theta::intersect_scalar(),
        theta::a_not_b_scalar(),
        kll::to_datasketches(),
        kll::from_datasketches(),
        frequencies::to_datasketches(),
        frequencies::from_datasketches(),
    ]
}

/// Whether DataSketches hashes values of this type (checked at plan time).
pub fn is_ds_hashable(dt: &DataType) -> bool {
    match dt {
        DataType::Null | DataType::Float32 | DataType::Float64 => true,
        dt if is_string_or_binary(dt) => true,
        dt if dt.is_integer() => true,
        DataType::Dictionary(_, value) => is_ds_hashable(value),
        _ => false,
    }
}

/// Calls `f(row, item)` for every kept row with a value, skipping empty strings and binaries.
fn for_each_item<F: for<'r> FnMut(usize, DsItem<'r>)>(
    array: &dyn Array,
    keep: Keep<'_>,
    f: &mut F,
) -> Result<()> {
    let valid = |i: usize| array.is_valid(i) && keep.row(i);
    macro_rules! numbers {
        ($t:ty, $item:expr) => {{
            let a = array.as_primitive::<$t>();
            for (i, &v) in a.values().iter().enumerate() {
                if valid(i) {
                    f(i, $item(v));
                }
            }
        }};
    }
    macro_rules! bytes {
        ($a:expr) => {{
            let a = $a;
            for i in 0..a.len() {
                if valid(i) {
                    let b: &[u8] = a.value(i).as_ref();
                    if !b.is_empty() {
                        f(i, DsItem::Bytes(b));
                    }
                }
            }
        }};
    }
    match array.data_type() {
        DataType::Null => {}
        DataType::Int8 => numbers!(Int8Type, |v: i8| DsItem::Long(v as i64)),
        DataType::Int16 => numbers!(Int16Type, |v: i16| DsItem::Long(v as i64)),
        DataType::Int32 => numbers!(Int32Type, |v: i32| DsItem::Long(v as i64)),
        DataType::Int64 => numbers!(Int64Type, DsItem::Long),
        DataType::UInt8 => numbers!(UInt8Type, |v: u8| DsItem::Long(v as i64)),
        DataType::UInt16 => numbers!(UInt16Type, |v: u16| DsItem::Long(v as i64)),
        DataType::UInt32 => numbers!(UInt32Type, |v: u32| DsItem::Long(v as i64)),
        // The same 8 bytes as the signed value of the same bits, as Java's long.
        DataType::UInt64 => numbers!(UInt64Type, |v: u64| DsItem::Long(v as i64)),
        DataType::Float32 => numbers!(Float32Type, |v: f32| DsItem::Double(v as f64)),
        DataType::Float64 => numbers!(Float64Type, DsItem::Double),
        DataType::Utf8 => bytes!(array.as_string::<i32>()),
        DataType::LargeUtf8 => bytes!(array.as_string::<i64>()),
        DataType::Utf8View => bytes!(array.as_string_view()),
        DataType::Binary => bytes!(array.as_binary::<i32>()),
        DataType::LargeBinary => bytes!(array.as_binary::<i64>()),
        DataType::BinaryView => bytes!(array.as_binary_view()),
        DataType::FixedSizeBinary(_) => bytes!(array.as_fixed_size_binary()),
        DataType::Dictionary(_, value_type) => {
            let values = arrow::compute::cast(array, value_type)?;
            for_each_item(values.as_ref(), keep, f)?;
        }
        other => return exec_err!("DataSketches cannot hash values of type {other}"),
    }
    Ok(())
}

/// Runs a DataSketches call on bytes that came from outside. The library validates what it
/// decodes, but a crafted image can pass its checks and reach one of its internal assertions
/// later (an auxiliary entry that is not where the registers say, for example); that panic is
/// caught here and becomes the error of the function, as a malformed state must.
pub fn guard<T>(call: impl FnOnce() -> Result<T, SketchError>) -> Result<T, SketchError> {
    match std::panic::catch_unwind(AssertUnwindSafe(call)) {
        Ok(result) => result,
        Err(panic) => {
            let reason = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "an internal check failed".to_string());
            Err(SketchError::Corrupt(format!(
                "DataSketches rejected the bytes: {reason}"
            )))
        }
    }
}

/// The error for bytes the library refused, or for a Hazy state given where a DataSketches
/// one is expected.
pub fn rejected(bytes: &[u8], family: &'static str, e: datasketches::error::Error) -> SketchError {
    if bytes.len() >= 4 && (bytes[..4] == MAGIC || bytes[..4] == TRANSIT_MAGIC) {
        return SketchError::WrongFamily {
            expected: family,
            found: "Hazy",
        };
    }
    SketchError::Corrupt(format!("not a valid {family} sketch: {}", e.message()))
}

/// `num_std_dev` of a bounds function: 1, 2 or 3 (about 68%, 95% and 99.7% confidence).
pub fn num_std_dev(function: &str, value: i64) -> Result<NumStdDev> {
    match value {
        1 => Ok(NumStdDev::One),
        2 => Ok(NumStdDev::Two),
        3 => Ok(NumStdDev::Three),
        other => exec_err!("{function}: num_std_dev must be 1, 2 or 3, got {other}"),
    }
}

/// The fields of a bounds struct.
pub fn bounds_fields() -> Fields {
    Fields::from(vec![
        Field::new("lower", DataType::Float64, false),
        Field::new("estimate", DataType::Float64, false),
        Field::new("upper", DataType::Float64, false),
    ])
}

/// The arguments of the `_bounds` functions: a state and `num_std_dev`, an integer.
pub const BOUNDS_ARGS: Args = Args::StateAnd(
    "two arguments (a state and num_std_dev: 1, 2 or 3)",
    |f, t| {
        if super::args::is_integer_type(t) {
            Ok(())
        } else {
            plan_err!("{f}: num_std_dev must be an integer (1, 2 or 3), got {t}")
        }
    },
);

/// The result type of the `_bounds` functions.
pub fn bounds_type() -> DataType {
    DataType::Struct(bounds_fields())
}

/// A sketch whose estimate has confidence bounds, for the `_bounds(state, num_std_dev)`
/// functions.
pub trait Bounded {
    /// {lower, estimate, upper} of the sketch in `bytes`, at `k` standard deviations.
    fn bounds(function: &str, bytes: &[u8], k: NumStdDev) -> Result<[f64; 3]>;
}

/// The `invoke` of a `_bounds(state, num_std_dev)` function: NULL where either is NULL. The
/// struct column is built field by field (a struct scalar per row costs microseconds).
pub fn bounds_of_rows<B: Bounded>(
    function: &str,
    args: &datafusion::logical_expr::ScalarFunctionArgs,
) -> Result<datafusion::logical_expr::ColumnarValue> {
    let (rows, all_scalar) = super::scalar::rows_to_compute(args);
    let states = args.args[0].to_array(rows)?;
    let k = arrow::compute::cast(&args.args[1].to_array(rows)?, &DataType::Int64)?;
    let k = k.as_primitive::<Int64Type>();
    let mut fields: [Vec<f64>; 3] = Default::default();
    let mut valid = Vec::with_capacity(rows);
    for row in 0..rows {
        let state = super::scalar::state_at(function, states.as_ref(), row)?;
        let bounds = match (state, k.is_valid(row)) {
            (Some(bytes), true) => Some(B::bounds(
                function,
                bytes,
                num_std_dev(function, k.value(row))?,
            )?),
            _ => None,
        };
        valid.push(bounds.is_some());
        // A NULL struct's fields hold zeros, as the non-nullable fields must.
        for (field, v) in fields.iter_mut().zip(bounds.unwrap_or_default()) {
            field.push(v);
        }
    }
    let columns: Vec<ArrayRef> = fields
        .into_iter()
        .map(|f| Arc::new(Float64Array::from(f)) as ArrayRef)
        .collect();
    super::scalar::struct_result(bounds_fields(), columns, valid, all_scalar)
}

/// What `sketch_info` says about DataSketches bytes: family, serial version, parameters, mode
/// and details, the bytes fully decoded by the library. `None` when the bytes are not
/// recognisably a DataSketches sketch of a family Hazy reads (HLL, compact theta, KLL,
/// frequent items).
pub fn describe(bytes: &[u8]) -> Option<Result<Described, SketchError>> {
    if bytes.len() < 8 || bytes[..4] == MAGIC || bytes[..4] == TRANSIT_MAGIC {
        return None;
    }
    match bytes[2] {
        hll::FAMILY_ID => Some(hll::describe(bytes)),
        theta::FAMILY_ID => Some(theta::describe(bytes)),
        kll::FAMILY_ID => Some(kll::describe(bytes)),
        frequencies::FAMILY_ID => Some(frequencies::describe(bytes)),
        _ => None,
    }
}

/// A DataSketches sketch as `sketch_info` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Described {
    pub family: &'static str,
    pub version: u8,
    pub parameters: String,
    pub mode: String,
    pub details: String,
}

/// The `invoke` of a conversion between a Hazy state and DataSketches bytes: `convert` of each
/// row's bytes, as a binary; NULL for NULL.
pub fn convert_rows(
    function: &str,
    args: &datafusion::logical_expr::ScalarFunctionArgs,
    convert: impl Fn(&[u8]) -> Result<Vec<u8>>,
) -> Result<datafusion::logical_expr::ColumnarValue> {
    super::scalar::map_rows(args, |arrays, row| {
        let bytes = super::scalar::state_at(function, arrays[0].as_ref(), row)?;
        Ok(ScalarValue::LargeBinary(bytes.map(&convert).transpose()?))
    })
}

/// Errors of a scalar function over DataSketches states carry its name.
pub fn named(function: &str) -> impl Fn(SketchError) -> datafusion::error::DataFusionError + '_ {
    move |e| exec_datafusion_err!("{function}: {e}")
}
