//! Canonical hashing of values: equal values hash equal whatever their type or encoding.
//!
//! Every sketch sees a value only through its 64-bit hash, so two sketches built from
//! different tables can merge, and a literal can probe a sketch, only if equal values hash
//! to equal numbers. The rule is: hash the *value*, not its representation.
//!
//! | value class | canonical form (xxh3-64 with the class seed) |
//! |---|---|
//! | integers of any width, signed or unsigned; floats with an integral value; decimals with an integral value | the value as `i64` little-endian, or as `i128` when outside `i64` |
//! | other floats (`-0.0` is `0.0`, every NaN is one NaN) | the `f64` bits |
//! | other decimals whose value is exactly an `f64` (a fraction with a power-of-two denominator, such as `42.5` or `0.125`, of at most 53 significant bits) | the bits of that `f64`, as the float |
//! | other decimals | mantissa with trailing zeros stripped, then the scale |
//! | strings and binaries (`Utf8`, `LargeUtf8`, `Utf8View`, `Binary`, …) | the bytes |
//! | booleans | one byte |
//! | dates and timestamps of every unit | nanoseconds since the epoch |
//!
//! So `42_i32`, `42_u64`, `42.0_f64` and the decimal `42.00` hash alike, the decimal `42.50`
//! and the double `42.5` hash alike, `"a"` hashes the same in every string encoding, and
//! `DATE '2026-01-01'` equals the timestamp of that midnight. A decimal such as `0.1` has no
//! equal double (the double `0.1` is 0.1000000000000000055…), so it hashes apart from it.
//!
//! ```
//! use hazy::sketch::hash;
//! assert_eq!(hash::hash_i64(42), hash::hash_u64(42));
//! assert_eq!(hash::hash_f64(42.0), hash::hash_i64(42));
//! assert_eq!(hash::hash_f64(-0.0), hash::hash_f64(0.0));
//! assert_eq!(hash::hash_decimal(425, 1), hash::hash_f64(42.5));
//! assert_ne!(hash::hash_decimal(1, 1), hash::hash_f64(0.1));
//! assert_ne!(hash::hash_str("42"), hash::hash_i64(42));
//! ```

use xxhash_rust::xxh3::xxh3_64_with_seed;

// One seed per value class keeps classes apart ("42" is not 42, true is not 1).
const SEED_INT: u64 = 0x9E37_79B9_7F4A_7C15;
const SEED_WIDE_INT: u64 = 0xC2B2_AE3D_27D4_EB4F;
const SEED_FLOAT: u64 = 0x1656_67B1_9E37_79F9;
const SEED_DECIMAL: u64 = 0x85EB_CA77_C2B2_AE63;
const SEED_BYTES: u64 = 0x27D4_EB2F_1656_67C5;
const SEED_BOOL: u64 = 0x94D0_49BB_1331_11EB;
const SEED_TIME: u64 = 0xBF58_476D_1CE4_E5B9;
const SEED_WIDE_TIME: u64 = 0xD6E8_FEB8_6659_FD93;

/// xxh3-64 of the 8 little-endian bytes of `v` with `seed`: bit-exact with
/// `xxh3_64_with_seed(&v.to_le_bytes(), seed)` (the test below checks it), but inlined, since
/// integer and timestamp columns hash every row through it and the library call is not.
#[inline(always)]
fn xxh3_u64(v: u64, seed: u64) -> u64 {
    // xxh3 reads the input as two little-endian u32 halves, low half first into the high bits.
    rrmxmx((v >> 32).wrapping_add(v << 32), seed, 8)
}

/// xxh3-64 of a byte string with `seed`, bit-exact with `xxh3_64_with_seed`: inlined up to
/// 16 bytes (most keys: ids, names, codes), the library beyond.
#[inline(always)]
fn xxh3_bytes(v: &[u8], seed: u64) -> u64 {
    const PRIME_MX1: u64 = 0x1656_6791_9E37_79F9;
    const PRIME64_2: u64 = 0xC2B2_AE3D_27D4_EB4F;
    const PRIME64_3: u64 = 0x1656_67B1_9E37_79F9;
    let avalanche64 = |mut h: u64| {
        h ^= h >> 33;
        h = h.wrapping_mul(PRIME64_2);
        h ^= h >> 29;
        h = h.wrapping_mul(PRIME64_3);
        h ^ (h >> 32)
    };
    let len = v.len();
    match len {
        0 => avalanche64(seed ^ (0x4c26_3a81_e690_35e0 ^ 0xcb00_c391_bb52_283c)),
        1..=3 => {
            let combined = ((v[0] as u32) << 16)
                | ((v[len >> 1] as u32) << 24)
                | (v[len - 1] as u32)
                | ((len as u32) << 8);
            let flip = ((0x396c_feb8_u32 ^ 0xbe4b_a423) as u64).wrapping_add(seed);
            avalanche64(combined as u64 ^ flip)
        }
        4..=8 => {
            let lo = u32::from_le_bytes(v[..4].try_into().expect("4 bytes")) as u64;
            let hi = u32::from_le_bytes(v[len - 4..].try_into().expect("4 bytes")) as u64;
            rrmxmx(hi.wrapping_add(lo << 32), seed, len as u64)
        }
        9..=16 => {
            let flip1 = (0x1f67_b3b7_a4a4_4072_u64 ^ 0x78e5_c0cc_4ee6_79cb).wrapping_add(seed);
            let flip2 = (0x2172_ffcc_7dd0_5a82_u64 ^ 0x8e24_43f7_7446_08b8).wrapping_sub(seed);
            let lo = u64::from_le_bytes(v[..8].try_into().expect("8 bytes")) ^ flip1;
            let hi = u64::from_le_bytes(v[len - 8..].try_into().expect("8 bytes")) ^ flip2;
            let product = (lo as u128).wrapping_mul(hi as u128);
            let fold = (product as u64) ^ ((product >> 64) as u64);
            let mut h = (len as u64)
                .wrapping_add(lo.swap_bytes())
                .wrapping_add(hi)
                .wrapping_add(fold);
            h ^= h >> 37;
            h = h.wrapping_mul(PRIME_MX1);
            h ^ (h >> 32)
        }
        _ => xxh3_64_with_seed(v, seed),
    }
}

/// xxh3's 4-to-8-byte finish over the input read as one u64 (`rrmxmx`).
#[inline(always)]
fn rrmxmx(input64: u64, seed: u64, len: u64) -> u64 {
    // Bytes 8..16 and 16..24 of xxh3's default secret, little-endian.
    const SECRET_8: u64 = 0x1cad_21f7_2c81_017c;
    const SECRET_16: u64 = 0xdb97_9083_e96d_d4de;
    const PRIME_MX2: u64 = 0x9FB2_1C65_1E98_DF25;
    let seed = seed ^ (((seed as u32).swap_bytes() as u64) << 32);
    let flip = (SECRET_8 ^ SECRET_16).wrapping_sub(seed);
    let mut h = input64 ^ flip;
    h ^= h.rotate_left(49) ^ h.rotate_left(24);
    h = h.wrapping_mul(PRIME_MX2);
    h ^= (h >> 35).wrapping_add(len);
    h = h.wrapping_mul(PRIME_MX2);
    h ^ (h >> 28)
}

/// Hash of an integer value of any width.
#[inline]
pub fn hash_i64(v: i64) -> u64 {
    xxh3_u64(v as u64, SEED_INT)
}

/// How many integers [`hash_i64_into`] hashes per call at most: a stack buffer's worth.
pub const CHUNK: usize = 512;

super::simd_dispatch! {
    /// `out[i] = hash_i64(values[i])` for a chunk of integers, bit-exact with [`hash_i64`].
    /// Integer columns are most of what distinct counts see, and hashing a chunk at once lets
    /// the multiplies run eight or four lanes wide.
    pub fn hash_i64_into(values: &[i64], out: &mut [u64]) {
        for (h, &v) in out.iter_mut().zip(values) {
            *h = hash_i64(v);
        }
    }
    test forms: hash_i64_into_forms;
}

/// Hash of an unsigned integer: the same as the signed hash of the same value.
#[inline]
pub fn hash_u64(v: u64) -> u64 {
    match i64::try_from(v) {
        Ok(v) => hash_i64(v),
        Err(_) => hash_i128(v as i128),
    }
}

/// Hash of a 128-bit integer: the `i64` hash when the value fits.
#[inline]
pub fn hash_i128(v: i128) -> u64 {
    match i64::try_from(v) {
        Ok(v) => hash_i64(v),
        Err(_) => xxh3_64_with_seed(&v.to_le_bytes(), SEED_WIDE_INT),
    }
}

/// Hash of a float: integral values hash as the integer, `-0.0` as `0.0`, all NaNs alike.
#[inline]
pub fn hash_f64(v: f64) -> u64 {
    // 2^63 as f64; integral floats in [-2^63, 2^63) convert to i64 exactly.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if v.fract() == 0.0 && (-LIMIT..LIMIT).contains(&v) {
        return hash_i64(v as i64);
    }
    let bits = if v.is_nan() {
        f64::NAN.to_bits()
    } else {
        v.to_bits()
    };
    xxh3_u64(bits, SEED_FLOAT)
}

/// Hash of a decimal `mantissa * 10^-scale`: integral decimals hash as the integer, those
/// equal to an `f64` as that float, and `1.50` (150, scale 2) hashes as `1.5` (15, scale 1).
pub fn hash_decimal(mut mantissa: i128, mut scale: i8) -> u64 {
    while scale > 0 && mantissa % 10 == 0 {
        mantissa /= 10;
        scale -= 1;
    }
    while scale < 0 {
        match mantissa.checked_mul(10) {
            Some(m) => {
                mantissa = m;
                scale += 1;
            }
            None => break,
        }
    }
    if scale == 0 {
        return hash_i128(mantissa);
    }
    if let Some(v) = exact_f64(mantissa, scale) {
        return hash_f64(v);
    }
    let mut buf = [0u8; 17];
    buf[..16].copy_from_slice(&mantissa.to_le_bytes());
    buf[16] = scale as u8;
    xxh3_64_with_seed(&buf, SEED_DECIMAL)
}

/// The `f64` equal to `mantissa * 10^-scale` (scale > 0), when there is one: the mantissa
/// must be a multiple of `5^scale`, leaving `q / 2^scale`, and `q` must convert exactly.
fn exact_f64(mantissa: i128, scale: i8) -> Option<f64> {
    let five = 5i128.checked_pow(scale as u32)?;
    if mantissa % five != 0 {
        return None;
    }
    let q = mantissa / five;
    let f = q as f64;
    // `f as i128` saturates, so a q beyond the f64 range never compares equal.
    (f as i128 == q).then(|| f / 2f64.powi(scale as i32))
}

/// Hash of a byte string; strings and binaries of every encoding hash alike.
#[inline]
pub fn hash_bytes(v: &[u8]) -> u64 {
    xxh3_bytes(v, SEED_BYTES)
}

/// Hash of a string (its UTF-8 bytes).
#[inline]
pub fn hash_str(v: &str) -> u64 {
    hash_bytes(v.as_bytes())
}

/// Hash of a boolean.
#[inline]
pub fn hash_bool(v: bool) -> u64 {
    xxh3_64_with_seed(&[v as u8], SEED_BOOL)
}

/// Hash of an instant given in nanoseconds since the Unix epoch.
#[inline]
pub fn hash_timestamp_nanos(nanos: i128) -> u64 {
    match i64::try_from(nanos) {
        Ok(n) => xxh3_u64(n as u64, SEED_TIME),
        Err(_) => xxh3_64_with_seed(&nanos.to_le_bytes(), SEED_WIDE_TIME),
    }
}

/// Hash of an instant given as `value` units of `nanos_per_unit` nanoseconds.
#[inline]
pub fn hash_timestamp(value: i64, nanos_per_unit: i64) -> u64 {
    match value.checked_mul(nanos_per_unit) {
        Some(n) => xxh3_u64(n as u64, SEED_TIME),
        None => hash_timestamp_nanos(value as i128 * nanos_per_unit as i128),
    }
}

/// Nanoseconds in one day, for dates.
pub const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// A value with a canonical hash, so sketches accept it directly (`sketch.insert(&42)`).
pub trait CanonicalHash {
    fn canonical_hash(&self) -> u64;
}

macro_rules! canonical_int {
    ($($t:ty => $f:ident as $as:ty),*) => {$(
        impl CanonicalHash for $t {
            #[inline]
            fn canonical_hash(&self) -> u64 { $f(*self as $as) }
        }
    )*};
}
canonical_int!(i8 => hash_i64 as i64, i16 => hash_i64 as i64, i32 => hash_i64 as i64, i64 => hash_i64 as i64,
    u8 => hash_i64 as i64, u16 => hash_i64 as i64, u32 => hash_i64 as i64, u64 => hash_u64 as u64,
    i128 => hash_i128 as i128, f32 => hash_f64 as f64, f64 => hash_f64 as f64);

impl CanonicalHash for bool {
    fn canonical_hash(&self) -> u64 {
        hash_bool(*self)
    }
}
impl CanonicalHash for str {
    fn canonical_hash(&self) -> u64 {
        hash_str(self)
    }
}
impl CanonicalHash for String {
    fn canonical_hash(&self) -> u64 {
        hash_str(self)
    }
}
impl CanonicalHash for [u8] {
    fn canonical_hash(&self) -> u64 {
        hash_bytes(self)
    }
}
impl<T: CanonicalHash + ?Sized> CanonicalHash for &T {
    fn canonical_hash(&self) -> u64 {
        (**self).canonical_hash()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_path_is_bit_exact_xxh3() {
        let mut x = 0x1234_5678_9abc_def0_u64;
        for i in 0..100_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = if i < 1000 { i.wrapping_sub(500) } else { x };
            for seed in [0, SEED_INT, SEED_TIME, SEED_FLOAT, x.rotate_left(17)] {
                assert_eq!(
                    xxh3_u64(v, seed),
                    xxh3_64_with_seed(&v.to_le_bytes(), seed),
                    "{v} {seed}"
                );
            }
        }
    }

    #[test]
    fn chunked_integer_hashes_equal_one_at_a_time() {
        let mut x = 0x0123_4567_89ab_cdef_u64;
        let values: Vec<i64> = (0..CHUNK as i64 * 3 + 7)
            .map(|i| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                if i % 3 == 0 { i - 700 } else { x as i64 }
            })
            .collect();
        let mut out = [0u64; CHUNK];
        for chunk in values.chunks(CHUNK) {
            let expected: Vec<u64> = chunk.iter().map(|&v| hash_i64(v)).collect();
            hash_i64_into(chunk, &mut out);
            assert_eq!(&out[..chunk.len()], &expected[..]);
            for (form, hash_into) in hash_i64_into_forms() {
                out.fill(0);
                hash_into(chunk, &mut out);
                assert_eq!(&out[..chunk.len()], &expected[..], "{form}");
            }
        }
    }

    #[test]
    fn inline_byte_path_is_bit_exact_xxh3() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut buf = Vec::new();
        for _ in 0..200_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            buf.clear();
            buf.extend((0..(x >> 59) as usize % 20).map(|i| (x >> (i % 8 * 8)) as u8 ^ i as u8));
            for seed in [0, SEED_BYTES, x.rotate_left(29)] {
                assert_eq!(
                    xxh3_bytes(&buf, seed),
                    xxh3_64_with_seed(&buf, seed),
                    "{buf:?} {seed}"
                );
            }
        }
    }

    #[test]
    fn integers_hash_by_value() {
        assert_eq!(hash_i64(-7), hash_i128(-7));
        assert_eq!(hash_u64(u64::MAX), hash_i128(u64::MAX as i128));
        assert_ne!(hash_u64(u64::MAX), hash_i64(-1));
        assert_ne!(hash_i64(1), hash_i64(2));
    }

    #[test]
    fn floats_follow_values() {
        assert_eq!(hash_f64(-0.0), hash_f64(0.0));
        assert_eq!(hash_f64(3.0), hash_i64(3));
        assert_eq!(hash_f64(f64::NAN), hash_f64(-f64::NAN));
        assert_ne!(hash_f64(0.5), hash_f64(0.25));
        assert_eq!(hash_f64(1e300), hash_f64(1e300));
        assert_eq!(hash_f64(0.1_f32 as f64), hash_f64(0.1_f32 as f64));
    }

    #[test]
    fn decimals_normalize() {
        assert_eq!(hash_decimal(150, 2), hash_decimal(15, 1));
        assert_eq!(hash_decimal(4200, 2), hash_i64(42));
        assert_eq!(hash_decimal(42, -2), hash_i64(4200));
        assert_ne!(hash_decimal(15, 1), hash_decimal(15, 2));
        // Decimals equal to a double hash as the double; others stay apart from it.
        assert_eq!(hash_decimal(425, 1), hash_f64(42.5));
        assert_eq!(hash_decimal(-4250, 2), hash_f64(-42.5));
        assert_eq!(hash_decimal(125, 3), hash_f64(0.125));
        assert_ne!(hash_decimal(1, 1), hash_f64(0.1));
        let huge = (1i128 << 60) + 1; // 61 significant bits: no equal double
        assert_ne!(hash_decimal(huge * 5, 1), hash_f64((huge as f64) / 2.0));
    }

    #[test]
    fn classes_stay_apart() {
        assert_ne!(hash_bool(true), hash_i64(1));
        assert_ne!(hash_str("1"), hash_i64(1));
        assert_ne!(hash_timestamp(1, 1), hash_i64(1));
        assert_eq!(
            hash_timestamp(1, NANOS_PER_DAY),
            hash_timestamp(86_400, 1_000_000_000)
        );
    }
}
