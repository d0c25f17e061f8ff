//! The one versioned binary envelope around every sketch state (specified in `docs/FORMAT.md`).
//!
//! ```text
//! offset    size  field
//! 0         4     magic "HZSK"
//! 4         1     format version (1)
//! 5         1     family code (see `Family`)
//! 6         2     parameter length P, u16 little-endian
//! 8         4     body length B, u32 little-endian
//! 12        P     parameters, family-specific, little-endian
//! 12+P      B     body, family-specific, little-endian
//! 12+P+B    8     xxh3-64 (seed 0) of bytes [0, 12+P+B), little-endian
//! ```
//!
//! Decoding checks, in order: length, magic, version, family, declared lengths, checksum, so
//! the error names the first thing that is wrong. Nothing is allocated from a length field
//! before the lengths are checked against the bytes actually present.

use super::error::{Result, SketchError};
use xxhash_rust::xxh3::xxh3_64;

/// Magic bytes at the start of every Hazy state.
pub const MAGIC: [u8; 4] = *b"HZSK";
/// The format version this build writes (and the newest it reads).
pub const FORMAT_VERSION: u8 = 1;
const HEADER_LEN: usize = 12;
const CHECKSUM_LEN: usize = 8;
/// Bytes the envelope adds around parameters and body.
pub const OVERHEAD: usize = HEADER_LEN + CHECKSUM_LEN;

/// Magic bytes of a transit state: a sketch on its way from a partial to a final aggregate of
/// one query (or of one cluster, or a stream's checkpoint). Transit states have no checksum
/// and a raw layout that is cheap to write and merge; they are never what a query returns,
/// and every decoder also reads them. Specified in `docs/FORMAT.md`.
pub const TRANSIT_MAGIC: [u8; 4] = *b"HZTR";
/// The transit version this build writes (and the newest it reads).
pub const TRANSIT_VERSION: u8 = 1;
/// Bytes of the transit header: magic, version, family.
pub const TRANSIT_HEADER_LEN: usize = 6;

/// Whether `bytes` are a transit state (rather than a stored one).
pub fn is_transit(bytes: &[u8]) -> bool {
    bytes.len() >= 4 && bytes[..4] == TRANSIT_MAGIC
}

/// Appends the transit header of `family`.
pub fn write_transit_header(family: Family, out: &mut Vec<u8>) {
    out.extend_from_slice(&TRANSIT_MAGIC);
    out.push(TRANSIT_VERSION);
    out.push(family as u8);
}

/// The family of a transit state, its header checked.
pub fn transit_family(bytes: &[u8]) -> Result<Family> {
    if bytes.len() < TRANSIT_HEADER_LEN {
        return Err(SketchError::Truncated {
            needed: TRANSIT_HEADER_LEN,
            available: bytes.len(),
        });
    }
    if bytes[..4] != TRANSIT_MAGIC {
        return Err(SketchError::BadMagic);
    }
    if bytes[4] == 0 || bytes[4] > TRANSIT_VERSION {
        return Err(SketchError::UnsupportedVersion(bytes[4]));
    }
    Family::from_code(bytes[5])
}

/// The payload of a transit state of the `expected` family.
pub fn transit_payload(bytes: &[u8], expected: Family) -> Result<&[u8]> {
    let family = transit_family(bytes)?;
    if family != expected {
        return Err(SketchError::WrongFamily {
            expected: expected.name(),
            found: family.name(),
        });
    }
    Ok(&bytes[TRANSIT_HEADER_LEN..])
}

/// Sketch families, with their stable one-byte codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    HyperLogLog = 1,
    CountMin = 2,
    TopK = 3,
    Bloom = 4,
    MinHash = 5,
    Kll = 6,
    DDSketch = 7,
    TDigest = 8,
}

impl Family {
    /// Every family, in code order.
    pub const ALL: [Family; 8] = [
        Self::HyperLogLog,
        Self::CountMin,
        Self::TopK,
        Self::Bloom,
        Self::MinHash,
        Self::Kll,
        Self::DDSketch,
        Self::TDigest,
    ];

    pub fn from_code(code: u8) -> Result<Self> {
        Ok(match code {
            1 => Self::HyperLogLog,
            2 => Self::CountMin,
            3 => Self::TopK,
            4 => Self::Bloom,
            5 => Self::MinHash,
            6 => Self::Kll,
            7 => Self::DDSketch,
            8 => Self::TDigest,
            other => return Err(SketchError::UnknownFamily(other)),
        })
    }

    /// The name used in SQL and in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::HyperLogLog => "hll",
            Self::CountMin => "cms",
            Self::TopK => "topk",
            Self::Bloom => "bloom",
            Self::MinHash => "minhash",
            Self::Kll => "kll",
            Self::DDSketch => "dd",
            Self::TDigest => "tdigest",
        }
    }
}

/// A decoded envelope: borrowed views of the parameters and the body.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    pub version: u8,
    pub family: Family,
    pub params: &'a [u8],
    pub body: &'a [u8],
}

/// Appends each value's little-endian bytes (`bytes` is `u32::to_le_bytes` and the like):
/// one resize, then a loop the compiler turns into a copy, where a push per value would check
/// the capacity every time.
pub fn put_le<T: Copy, const N: usize>(out: &mut Vec<u8>, values: &[T], bytes: fn(T) -> [u8; N]) {
    let start = out.len();
    out.resize(start + N * values.len(), 0);
    for (dst, &v) in out[start..].chunks_exact_mut(N).zip(values) {
        dst.copy_from_slice(&bytes(v));
    }
}

/// Wraps parameters and body into a complete state.
pub fn encode(family: Family, params: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(OVERHEAD + params.len() + body.len());
    encode_into(family, params, body, &mut out);
    out
}

/// Appends a complete state to `out` (lets callers reuse one buffer for many states).
pub fn encode_into(family: Family, params: &[u8], body: &[u8], out: &mut Vec<u8>) {
    encode_with(family, params, out, |out| out.extend_from_slice(body));
}

/// Appends a complete state to `out`, with the body written in place by `write_body`
/// (no intermediate buffer for large bodies).
pub fn encode_with(
    family: Family,
    params: &[u8],
    out: &mut Vec<u8>,
    write_body: impl FnOnce(&mut Vec<u8>),
) {
    let start = out.len();
    let params_len = u16::try_from(params.len()).expect("sketch parameters exceed 64 KiB");
    out.extend_from_slice(&MAGIC);
    out.push(FORMAT_VERSION);
    out.push(family as u8);
    out.extend_from_slice(&params_len.to_le_bytes());
    out.extend_from_slice(&[0; 4]); // body length, patched below
    out.extend_from_slice(params);
    let body_start = out.len();
    write_body(out);
    let body_len = u32::try_from(out.len() - body_start).expect("sketch body exceeds 4 GiB");
    out[start + 8..start + 12].copy_from_slice(&body_len.to_le_bytes());
    let checksum = xxh3_64(&out[start..]);
    out.extend_from_slice(&checksum.to_le_bytes());
}

/// Reads the envelope of any family.
pub fn decode_any(bytes: &[u8]) -> Result<Envelope<'_>> {
    if bytes.len() < OVERHEAD {
        if bytes.len() >= 4 && bytes[..4] != MAGIC {
            return Err(SketchError::BadMagic);
        }
        return Err(SketchError::Truncated {
            needed: OVERHEAD,
            available: bytes.len(),
        });
    }
    if bytes[..4] != MAGIC {
        return Err(SketchError::BadMagic);
    }
    let version = bytes[4];
    if version == 0 || version > FORMAT_VERSION {
        return Err(SketchError::UnsupportedVersion(version));
    }
    let family = Family::from_code(bytes[5])?;
    let params_len = u16::from_le_bytes([bytes[6], bytes[7]]) as usize;
    let body_len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    let declared = OVERHEAD + params_len + body_len;
    if declared != bytes.len() {
        return Err(SketchError::LengthMismatch {
            declared,
            actual: bytes.len(),
        });
    }
    let payload_end = bytes.len() - CHECKSUM_LEN;
    let stored = u64::from_le_bytes(bytes[payload_end..].try_into().expect("8 bytes"));
    if stored != xxh3_64(&bytes[..payload_end]) {
        return Err(SketchError::ChecksumMismatch);
    }
    Ok(Envelope {
        version,
        family,
        params: &bytes[HEADER_LEN..HEADER_LEN + params_len],
        body: &bytes[HEADER_LEN + params_len..payload_end],
    })
}

/// Reads the envelope and checks that it holds the expected family.
pub fn decode(bytes: &[u8], expected: Family) -> Result<Envelope<'_>> {
    let env = decode_any(bytes)?;
    if env.family != expected {
        return Err(SketchError::WrongFamily {
            expected: expected.name(),
            found: env.family.name(),
        });
    }
    Ok(env)
}

/// Opens a state of `family`: `read_params` reads its parameters, which must use every
/// parameter byte, and the body comes back as a [`Reader`]. Every family's decoder starts
/// here, so the envelope and parameter checks are the same for all.
pub fn open<'a, P>(
    bytes: &'a [u8],
    family: Family,
    read_params: impl FnOnce(&mut Reader<'a>) -> Result<P>,
) -> Result<(P, Reader<'a>)> {
    let env = decode(bytes, family)?;
    let mut params = Reader::new(env.params);
    let read = read_params(&mut params)?;
    // Formatted only on failure: every state of every family is decoded through here.
    params.finish(format_args!("{} parameters", family.name()))?;
    Ok((read, Reader::new(env.body)))
}

/// A bounds-checked little-endian reader over a byte slice.
pub struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let available = self.bytes.len() - self.pos;
        if n > available {
            return Err(SketchError::Truncated {
                needed: n,
                available,
            });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub fn i128(&mut self) -> Result<i128> {
        Ok(i128::from_le_bytes(
            self.take(16)?.try_into().expect("16 bytes"),
        ))
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }

    pub fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    pub fn u64(&mut self) -> Result<u64> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    pub fn f64(&mut self) -> Result<f64> {
        Ok(f64::from_bits(self.u64()?))
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    /// Fails unless every byte was consumed: trailing bytes mean a corrupt state.
    pub fn finish(&self, what: impl std::fmt::Display) -> Result<()> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(SketchError::Corrupt(format!(
                "{n} unexpected trailing bytes in {what}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let bytes = encode(Family::HyperLogLog, &[14], &[1, 2, 3]);
        let env = decode(&bytes, Family::HyperLogLog).unwrap();
        assert_eq!(env.params, &[14]);
        assert_eq!(env.body, &[1, 2, 3]);
        assert_eq!(bytes.len(), OVERHEAD + 4);
    }

    #[test]
    fn every_defect_is_named() {
        let good = encode(Family::HyperLogLog, &[14], &[1, 2, 3]);
        assert_eq!(
            decode(&good[..10], Family::HyperLogLog).unwrap_err(),
            SketchError::Truncated {
                needed: OVERHEAD,
                available: 10
            }
        );
        assert_eq!(
            decode(b"PAR1 not a sketch at all", Family::HyperLogLog).unwrap_err(),
            SketchError::BadMagic
        );
        let mut v = good.clone();
        v[4] = 9;
        assert_eq!(
            decode_any(&v).unwrap_err(),
            SketchError::UnsupportedVersion(9)
        );
        let mut v = good.clone();
        v[5] = 200;
        assert_eq!(decode_any(&v).unwrap_err(), SketchError::UnknownFamily(200));
        assert!(matches!(
            decode(&good, Family::Bloom).unwrap_err(),
            SketchError::WrongFamily {
                expected: "bloom",
                found: "hll"
            }
        ));
        let mut v = good.clone();
        v.push(0);
        assert!(matches!(
            decode_any(&v).unwrap_err(),
            SketchError::LengthMismatch { .. }
        ));
        let mut v = good.clone();
        v[13] ^= 1;
        assert_eq!(decode_any(&v).unwrap_err(), SketchError::ChecksumMismatch);
    }
}
