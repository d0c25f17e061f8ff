//! Vectorized canonical hashing of Arrow arrays (see [`crate::sketch::hash`] for the rules).
//!
//! One pass per array, no per-row `ScalarValue`: the array's type is matched once and the loop
//! runs over its native values. Dictionary arrays hash each distinct value once, then map keys.

use super::args::Keep;
use crate::sketch::hash::{
    CHUNK, NANOS_PER_DAY, hash_bool, hash_bytes, hash_decimal, hash_f64, hash_i64_into, hash_u64,
};
use arrow::array::BooleanBufferBuilder;
use arrow::array::{Array, ArrowPrimitiveType, AsArray, GenericByteArray, GenericByteViewArray};
use arrow::buffer::{BooleanBuffer, ScalarBuffer};
use arrow::datatypes::*;
use datafusion::common::{Result, ScalarValue, exec_err, plan_err};

/// Whether values of this type can be hashed canonically (checked at plan time).
pub fn is_hashable(dt: &DataType) -> bool {
    match dt {
        DataType::Null
        | DataType::Boolean
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(_, _)
        | DataType::Date32
        | DataType::Date64
        | DataType::Timestamp(_, _) => true,
        dt if dt.is_integer() || is_string_or_binary(dt) => true,
        DataType::Dictionary(_, value) => is_hashable(value),
        _ => false,
    }
}

/// Strings and binaries of every Arrow layout.
pub fn is_string_or_binary(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_)
    )
}

/// Plan-time check that `function` can hash its argument of type `dt`.
pub fn check_hashable(function: &str, dt: &DataType) -> Result<()> {
    if is_hashable(dt) {
        Ok(())
    } else {
        plan_err!(
            "{function} does not support values of type {dt}: use integers, floats, decimals, \
             strings, binaries, booleans, dates or timestamps (or a dictionary of these)"
        )
    }
}

/// Calls `f(row, hash)` for every non-null row of `array`, in row order.
pub fn for_each_hash(array: &dyn Array, mut f: impl FnMut(usize, u64)) -> Result<()> {
    hash_rows(array, &mut f)
}

/// Calls `f(row, hash, weight)` for every kept row with a value: weight 1, or the row's
/// weight when `weights` is given (rows with a NULL weight are skipped; a negative weight is an
/// error naming `function`).
pub fn for_each_weighted_hash(
    function: &str,
    values: &dyn Array,
    weights: Option<&arrow::array::ArrayRef>,
    keep: Keep<'_>,
    mut f: impl FnMut(usize, u64, u64),
) -> Result<()> {
    let Some(weights) = weights else {
        return for_each_hash(values, |row, h| {
            if keep.row(row) {
                f(row, h, 1)
            }
        });
    };
    let weights = arrow::compute::cast(weights, &DataType::Int64)?;
    let weights = weights.as_primitive::<Int64Type>();
    let mut negative = None;
    for_each_hash(values, |row, h| {
        if keep.row(row) && weights.is_valid(row) {
            match u64::try_from(weights.value(row)) {
                Ok(w) => f(row, h, w),
                Err(_) => negative = Some(weights.value(row)),
            }
        }
    })?;
    match negative {
        Some(w) => exec_err!("{function}: weights must not be negative, got {w}"),
        None => Ok(()),
    }
}

/// The hash of every row of `values` (`None` for nulls): how dictionaries hash their values.
/// Not generic, so the recursion through dictionaries instantiates `hash_rows` only once more.
fn hash_values(values: &dyn Array) -> Result<Vec<Option<u64>>> {
    let mut out = vec![None; values.len()];
    hash_rows(values, &mut |i, h| out[i] = Some(h))?;
    Ok(out)
}

/// The canonical hash of a scalar (`None` for null), through the same code as arrays.
pub fn hash_scalar(value: &ScalarValue) -> Result<Option<u64>> {
    let array = value.to_array()?;
    let mut out = None;
    for_each_hash(&array, |_, h| out = Some(h))?;
    Ok(out)
}

// Generic over the callback so the per-row call inlines into the sketch update.
fn hash_rows<F: FnMut(usize, u64)>(array: &dyn Array, f: &mut F) -> Result<()> {
    match array.data_type() {
        DataType::Null => {}
        DataType::Boolean => {
            let a = array.as_boolean();
            each_valid(array, |i| f(i, hash_bool(a.value(i))));
        }
        DataType::Int8 => integers::<Int8Type, _>(array, f),
        DataType::Int16 => integers::<Int16Type, _>(array, f),
        DataType::Int32 => integers::<Int32Type, _>(array, f),
        DataType::Int64 => integers::<Int64Type, _>(array, f),
        DataType::UInt8 => integers::<UInt8Type, _>(array, f),
        DataType::UInt16 => integers::<UInt16Type, _>(array, f),
        DataType::UInt32 => integers::<UInt32Type, _>(array, f),
        DataType::UInt64 => primitive::<UInt64Type, _>(array, hash_u64, f),
        DataType::Float32 => primitive::<Float32Type, _>(array, |v| hash_f64(v as f64), f),
        DataType::Float64 => primitive::<Float64Type, _>(array, hash_f64, f),
        DataType::Decimal128(_, scale) => {
            let scale = *scale;
            primitive::<Decimal128Type, _>(array, |v| hash_decimal(v, scale), f)
        }
        DataType::Date32 => {
            primitive::<Date32Type, _>(array, |d| timestamp(d as i64, NANOS_PER_DAY), f)
        }
        DataType::Date64 => primitive::<Date64Type, _>(array, |ms| timestamp(ms, 1_000_000), f),
        DataType::Timestamp(unit, _) => {
            let nanos = match unit {
                TimeUnit::Second => 1_000_000_000,
                TimeUnit::Millisecond => 1_000_000,
                TimeUnit::Microsecond => 1_000,
                TimeUnit::Nanosecond => 1,
            };
            // Every unit stores an i64, so the Int64 view of the values is exact.
            match unit {
                TimeUnit::Second => {
                    primitive::<TimestampSecondType, _>(array, |v| timestamp(v, nanos), f)
                }
                TimeUnit::Millisecond => {
                    primitive::<TimestampMillisecondType, _>(array, |v| timestamp(v, nanos), f)
                }
                TimeUnit::Microsecond => {
                    primitive::<TimestampMicrosecondType, _>(array, |v| timestamp(v, nanos), f)
                }
                TimeUnit::Nanosecond => {
                    primitive::<TimestampNanosecondType, _>(array, |v| timestamp(v, nanos), f)
                }
            }
        }
        DataType::Utf8 => bytes(array.as_string::<i32>(), f),
        DataType::LargeUtf8 => bytes(array.as_string::<i64>(), f),
        DataType::Binary => bytes(array.as_binary::<i32>(), f),
        DataType::LargeBinary => bytes(array.as_binary::<i64>(), f),
        DataType::Utf8View => views(array.as_string_view(), f),
        DataType::BinaryView => views(array.as_binary_view(), f),
        DataType::FixedSizeBinary(_) => {
            let a = array.as_fixed_size_binary();
            each_valid(array, |i| f(i, hash_bytes(a.value(i))));
        }
        DataType::Dictionary(_, _) => dictionary(array, f)?,
        other => return exec_err!("cannot hash values of type {other}"),
    }
    Ok(())
}

#[inline]
fn timestamp(value: i64, nanos_per_unit: i64) -> u64 {
    crate::sketch::hash::hash_timestamp(value, nanos_per_unit)
}

/// Calls `f(i)` for each valid row.
#[inline]
fn each_valid(array: &dyn Array, f: impl FnMut(usize)) {
    match array.logical_nulls() {
        None => (0..array.len()).for_each(f),
        Some(nulls) => nulls.valid_indices().for_each(f),
    }
}

#[inline]
fn primitive<T: ArrowPrimitiveType, F: FnMut(usize, u64)>(
    array: &dyn Array,
    hash: impl Fn(T::Native) -> u64,
    f: &mut F,
) {
    let values = array.as_primitive::<T>().values();
    match array.nulls() {
        None => {
            for (i, &v) in values.iter().enumerate() {
                f(i, hash(v));
            }
        }
        Some(nulls) => nulls.valid_indices().for_each(|i| f(i, hash(values[i]))),
    }
}

/// Integers that fit `i64` exactly, hashed a chunk at a time ([`hash_i64_into`] runs several
/// lanes wide); the values under nulls are hashed too, which is cheaper than skipping them.
fn integers<T, F>(array: &dyn Array, f: &mut F)
where
    T: ArrowPrimitiveType,
    T::Native: Into<i64>,
    F: FnMut(usize, u64),
{
    let nulls = array.nulls();
    integer_chunks::<T>(array, |base, hashes| {
        for (i, &h) in hashes.iter().enumerate() {
            if nulls.is_none_or(|n| n.is_valid(base + i)) {
                f(base + i, h);
            }
        }
    })
}

/// The longest Int64 array whose hashes are remembered (512 KiB of them).
const REMEMBERED_ROWS: usize = 1 << 16;

thread_local! {
    /// The Int64 values hashed last on this thread, with their hashes. Holding the values keeps
    /// their memory alive, so values at the same address and of the same length are the same
    /// values: the aggregates of one column in a query (q16's four FILTERed distinct counts of
    /// each column) hash each batch once.
    static LAST_HASHED: std::cell::RefCell<Option<(ScalarBuffer<i64>, Vec<u64>)>> =
        const { std::cell::RefCell::new(None) };
}

/// [`integer_chunks`] of Int64 values through [`LAST_HASHED`].
fn remembered_int64_chunks(values: &ScalarBuffer<i64>, mut f: impl FnMut(usize, &[u64])) {
    // Taken out while `f` runs, so nothing it calls can find the memory borrowed.
    let last = LAST_HASHED.with_borrow_mut(Option::take);
    let same = |(v, _): &(ScalarBuffer<i64>, Vec<u64>)| {
        v.as_ptr() == values.as_ptr() && v.len() == values.len()
    };
    let (values, hashes) = match last {
        Some(last) if same(&last) => {
            for (c, chunk) in last.1.chunks(CHUNK).enumerate() {
                f(c * CHUNK, chunk);
            }
            last
        }
        last => {
            let mut hashes = last.map(|(_, h)| h).unwrap_or_default();
            hashes.resize(values.len(), 0);
            for (c, (chunk, out)) in values
                .chunks(CHUNK)
                .zip(hashes.chunks_mut(CHUNK))
                .enumerate()
            {
                hash_i64_into(chunk, out);
                f(c * CHUNK, out);
            }
            (values.clone(), hashes)
        }
    };
    LAST_HASHED.with_borrow_mut(|last| *last = Some((values, hashes)));
}

/// Calls `f(first_row, hashes)` for each chunk of at most [`CHUNK`] values of an integer
/// array, nulls included.
#[inline]
fn integer_chunks<T>(array: &dyn Array, mut f: impl FnMut(usize, &[u64]))
where
    T: ArrowPrimitiveType,
    T::Native: Into<i64>,
{
    let mut wide = [0i64; CHUNK];
    let mut hashes = [0u64; CHUNK];
    if let Some(int64) = array.as_primitive_opt::<Int64Type>() {
        // Already i64: hashed in place, or not at all when hashed just before.
        if int64.len() <= REMEMBERED_ROWS {
            return remembered_int64_chunks(int64.values(), f);
        }
        for (c, chunk) in int64.values().chunks(CHUNK).enumerate() {
            hash_i64_into(chunk, &mut hashes);
            f(c * CHUNK, &hashes[..chunk.len()]);
        }
        return;
    }
    for (c, chunk) in array.as_primitive::<T>().values().chunks(CHUNK).enumerate() {
        let wide = &mut wide[..chunk.len()];
        for (w, &v) in wide.iter_mut().zip(chunk) {
            *w = v.into();
        }
        hash_i64_into(wide, &mut hashes);
        f(c * CHUNK, &hashes[..chunk.len()]);
    }
}

/// Calls `f` with the hashes of the kept rows that have a value, a chunk of at most
/// [`CHUNK`] at a time, in row order: for sketches whose batch insert beats a call per row.
pub fn for_each_hash_chunk(
    array: &dyn Array,
    keep: Keep<'_>,
    mut f: impl FnMut(&[u64]),
) -> Result<()> {
    let kept_rows = kept_mask(array, keep);
    let mut kept = [0u64; CHUNK];
    // Integers: whole chunks as hashed when every row is kept, otherwise the kept ones moved
    // to the front (every hash is written; the count advances only for a kept row, so there
    // is no branch on it).
    let integers = integer_hash_chunks(array, |base, hashes| match &kept_rows {
        None => f(hashes),
        Some(k) => {
            let mut n = 0;
            for (&h, is_kept) in hashes.iter().zip(k.slice(base, hashes.len()).iter()) {
                kept[n] = h;
                n += is_kept as usize;
            }
            f(&kept[..n]);
        }
    });
    if !integers {
        let mut chunk = Gather::default();
        hash_rows(array, &mut |row, h| {
            if keep.row(row) {
                chunk.push(h, &mut f);
            }
        })?;
        f(chunk.rest());
    }
    Ok(())
}

/// Hashes of an integer array's rows, a chunk at a time with the chunk's first row; false
/// (and no call) for an array of another type.
fn integer_hash_chunks(array: &dyn Array, f: impl FnMut(usize, &[u64])) -> bool {
    match array.data_type() {
        DataType::Int8 => integer_chunks::<Int8Type>(array, f),
        DataType::Int16 => integer_chunks::<Int16Type>(array, f),
        DataType::Int32 => integer_chunks::<Int32Type>(array, f),
        DataType::Int64 => integer_chunks::<Int64Type>(array, f),
        DataType::UInt8 => integer_chunks::<UInt8Type>(array, f),
        DataType::UInt16 => integer_chunks::<UInt16Type>(array, f),
        DataType::UInt32 => integer_chunks::<UInt32Type>(array, f),
        _ => return false,
    }
    true
}

/// Which rows are kept and have a value, as one bitmap (`None`: all of them), so a loop over
/// the rows reads one bit a row.
fn kept_mask(array: &dyn Array, keep: Keep<'_>) -> Option<BooleanBuffer> {
    let filter = match keep {
        Keep::All => None,
        // A NULL filter value drops its row.
        Keep::Filter(f) => Some(match f.nulls() {
            Some(nulls) => f.values() & nulls.inner(),
            None => f.values().clone(),
        }),
    };
    match (filter, array.nulls()) {
        (Some(f), Some(nulls)) => Some(&f & nulls.inner()),
        (Some(f), None) => Some(f),
        (None, nulls) => nulls.map(|n| n.inner().clone()),
    }
}

/// Calls `f(first_row, hashes, kept)` for every row of the array, a chunk of at most
/// [`CHUNK`] rows at a time, where `kept` holds a bit a row (`None`: every row) saying whether
/// `keep` takes it and it has a value; the hash of a row not kept is meaningless. For callers
/// that pair each kept row's hash with something of the row's own (its group).
pub fn for_each_hash_chunk_marked(
    array: &dyn Array,
    keep: Keep<'_>,
    mut f: impl FnMut(usize, &[u64], Option<&BooleanBuffer>),
) -> Result<()> {
    let kept_rows = kept_mask(array, keep);
    let integers = integer_hash_chunks(array, |base, hashes| {
        let kept = kept_rows.as_ref().map(|k| k.slice(base, hashes.len()));
        f(base, hashes, kept.as_ref())
    });
    if !integers {
        // Kept: the rows `keep` takes among those given a hash (a dictionary's null values
        // have a valid key but no hash).
        let (mut all, mut kept) = (vec![0u64; array.len()], BooleanBufferBuilder::new(0));
        kept.append_n(array.len(), false);
        hash_rows(array, &mut |row, h| {
            all[row] = h;
            kept.set_bit(row, keep.row(row));
        })?;
        let kept = kept.finish();
        for (c, chunk) in all.chunks(CHUNK).enumerate() {
            f(c * CHUNK, chunk, Some(&kept.slice(c * CHUNK, chunk.len())));
        }
    }
    Ok(())
}

/// Hashes gathered into chunks of [`CHUNK`].
struct Gather {
    buf: [u64; CHUNK],
    len: usize,
}

impl Default for Gather {
    fn default() -> Self {
        Self {
            buf: [0; CHUNK],
            len: 0,
        }
    }
}

impl Gather {
    #[inline]
    fn push(&mut self, hash: u64, full: &mut impl FnMut(&[u64])) {
        self.buf[self.len] = hash;
        self.len += 1;
        if self.len == CHUNK {
            full(&self.buf);
            self.len = 0;
        }
    }

    fn rest(&self) -> &[u64] {
        &self.buf[..self.len]
    }
}

fn bytes<T: arrow::datatypes::ByteArrayType, F: FnMut(usize, u64)>(
    a: &GenericByteArray<T>,
    f: &mut F,
) where
    T::Native: AsRef<[u8]>,
{
    each_valid(a, |i| f(i, hash_bytes(a.value(i).as_ref())));
}

fn views<T: arrow::datatypes::ByteViewType + ?Sized, F: FnMut(usize, u64)>(
    a: &GenericByteViewArray<T>,
    f: &mut F,
) where
    T::Native: AsRef<[u8]>,
{
    each_valid(a, |i| f(i, hash_bytes(a.value(i).as_ref())));
}

/// Hashes each dictionary value once, then visits the rows through their keys.
fn dictionary<F: FnMut(usize, u64)>(array: &dyn Array, f: &mut F) -> Result<()> {
    let Some(dict) = array.as_any_dictionary_opt() else {
        return exec_err!("expected a dictionary array, got {}", array.data_type());
    };
    let value_hashes = hash_values(dict.values().as_ref())?;
    let keys = dict.normalized_keys();
    let visit = |i: usize, f: &mut F| {
        if let Some(Some(h)) = value_hashes.get(keys[i]) {
            f(i, *h);
        }
    };
    match array.nulls() {
        None => (0..array.len()).for_each(|i| visit(i, f)),
        Some(nulls) => nulls.valid_indices().for_each(|i| visit(i, f)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::*;
    use std::sync::Arc;

    fn hashes(array: &dyn Array) -> Vec<(usize, u64)> {
        let mut out = Vec::new();
        for_each_hash(array, |i, h| out.push((i, h))).unwrap();
        out
    }

    #[test]
    fn remembered_hashes_are_those_of_the_values_given() {
        let expected = |a: &Int64Array| -> Vec<u64> {
            a.values()
                .iter()
                .map(|&v| crate::sketch::hash::hash_i64(v))
                .collect()
        };
        let chunked = |a: &Int64Array| {
            let mut out = vec![0u64; a.len()];
            integer_chunks::<Int64Type>(a, |base, h| out[base..base + h.len()].copy_from_slice(h));
            out
        };
        let a = Int64Array::from_iter_values(0..3000);
        let b = Int64Array::from_iter_values(5000..8000);
        // Again and again, another array between, slices of one buffer at other offsets and
        // lengths, and one too long to be remembered.
        let long = Int64Array::from_iter_values(0..REMEMBERED_ROWS as i64 + 1);
        for array in [
            &a,
            &a,
            &b,
            &a,
            &a.slice(1, 2999),
            &a.slice(0, 2999),
            &long,
            &a,
        ] {
            assert_eq!(chunked(array), expected(array));
        }
        // A buffer freed and its memory reused: the remembered values keep it alive, so the
        // new one lies elsewhere.
        let first = Int64Array::from_iter_values(0..100);
        let seen_at = first.values().as_ptr();
        assert_eq!(chunked(&first), expected(&first));
        drop(first);
        let second = Int64Array::from_iter_values(100..200);
        assert_ne!(second.values().as_ptr(), seen_at);
        assert_eq!(chunked(&second), expected(&second));
    }

    #[test]
    fn equal_values_hash_equal_across_types() {
        let i32s = Int32Array::from(vec![Some(1), None, Some(-5)]);
        let i64s = Int64Array::from(vec![Some(1), None, Some(-5)]);
        let f64s = Float64Array::from(vec![Some(1.0), None, Some(-5.0)]);
        let dec = Decimal128Array::from(vec![Some(100), None, Some(-500)])
            .with_precision_and_scale(10, 2)
            .unwrap();
        assert_eq!(hashes(&i32s), hashes(&i64s));
        assert_eq!(hashes(&i32s), hashes(&f64s));
        assert_eq!(hashes(&i32s), hashes(&dec));
        let u8s = UInt8Array::from(vec![1u8]);
        assert_eq!(hashes(&u8s)[0].1, hashes(&i64s)[0].1);
    }

    #[test]
    fn strings_hash_equal_in_every_encoding() {
        let values = vec![Some("a"), None, Some("hazy")];
        let utf8 = StringArray::from(values.clone());
        let large = LargeStringArray::from(values.clone());
        let view = StringViewArray::from(values.clone());
        let binary = BinaryArray::from(vec![Some(&b"a"[..]), None, Some(&b"hazy"[..])]);
        let dict: DictionaryArray<Int8Type> = values.clone().into_iter().collect();
        let keys = UInt16Array::from(vec![Some(1), None, Some(0)]);
        let dict_u16 = DictionaryArray::new(keys, Arc::new(StringArray::from(vec!["hazy", "a"])));
        let expected = hashes(&utf8);
        assert_eq!(expected.len(), 2);
        for other in [&large as &dyn Array, &view, &binary, &dict, &dict_u16] {
            assert_eq!(hashes(other), expected, "{}", other.data_type());
        }
    }

    #[test]
    fn negative_zero_and_nans() {
        let a = Float64Array::from(vec![0.0, -0.0, f64::NAN, -f64::NAN]);
        let h = hashes(&a);
        assert_eq!(h[0].1, h[1].1);
        assert_eq!(h[2].1, h[3].1);
        let b = Float32Array::from(vec![-0.0f32, f32::NAN]);
        assert_eq!(hashes(&b)[0].1, h[0].1);
        assert_eq!(hashes(&b)[1].1, h[2].1);
    }

    #[test]
    fn dates_and_timestamps_are_instants() {
        let day = Date32Array::from(vec![20_454]);
        let ms = Date64Array::from(vec![20_454 * 86_400_000]);
        let secs = TimestampSecondArray::from(vec![20_454 * 86_400]).with_timezone("UTC");
        let nanos = TimestampNanosecondArray::from(vec![20_454 * 86_400 * 1_000_000_000]);
        let h = hashes(&day);
        assert_eq!(hashes(&ms), h);
        assert_eq!(hashes(&secs), h);
        assert_eq!(hashes(&nanos), h);
        assert_ne!(hashes(&Int32Array::from(vec![20_454])), h);
    }

    #[test]
    fn scalars_hash_like_arrays() {
        assert_eq!(
            hash_scalar(&ScalarValue::Int64(Some(7))).unwrap(),
            Some(hashes(&Int16Array::from(vec![7i16]))[0].1)
        );
        assert_eq!(hash_scalar(&ScalarValue::Utf8(None)).unwrap(), None);
        assert!(!is_hashable(&DataType::List(Arc::new(Field::new(
            "x",
            DataType::Int32,
            true
        )))));
    }
}
