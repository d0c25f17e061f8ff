//! Typed errors of the sketch layer.

use std::fmt;

/// Everything that can go wrong when building, merging or decoding a sketch.
///
/// Decoding never panics: every malformed input maps to one of these variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SketchError {
    /// Fewer bytes than the structure needs.
    Truncated { needed: usize, available: usize },
    /// The bytes do not start with the Hazy magic: not a Hazy sketch state.
    BadMagic,
    /// Written by a newer Hazy than this one.
    UnsupportedVersion(u8),
    /// An unknown family code.
    UnknownFamily(u8),
    /// A valid state, but of another sketch family than the function expects.
    WrongFamily {
        expected: &'static str,
        found: &'static str,
    },
    /// The lengths in the header disagree with the bytes present.
    LengthMismatch { declared: usize, actual: usize },
    /// The integrity check failed: the bytes were altered.
    ChecksumMismatch,
    /// A parameter outside its allowed range.
    InvalidParameter(String),
    /// The body contradicts the parameters (e.g. a register out of range).
    Corrupt(String),
    /// Two sketches that cannot be merged.
    Incompatible(String),
}

impl fmt::Display for SketchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, available } => write!(
                f,
                "truncated sketch state: needs {needed} bytes, has {available}"
            ),
            Self::BadMagic => write!(f, "not a Hazy sketch state (bad magic bytes)"),
            Self::UnsupportedVersion(v) => write!(
                f,
                "sketch state format version {v} is newer than this Hazy supports ({})",
                crate::sketch::envelope::FORMAT_VERSION
            ),
            Self::UnknownFamily(c) => write!(f, "unknown sketch family code {c}"),
            Self::WrongFamily { expected, found } => {
                write!(f, "expected a {expected} state, got a {found} state")
            }
            Self::LengthMismatch { declared, actual } => write!(
                f,
                "corrupt sketch state: header declares {declared} bytes, found {actual}"
            ),
            Self::ChecksumMismatch => {
                write!(f, "corrupt sketch state: integrity check failed")
            }
            Self::InvalidParameter(m) => write!(f, "invalid parameter: {m}"),
            Self::Corrupt(m) => write!(f, "corrupt sketch state: {m}"),
            Self::Incompatible(m) => write!(f, "incompatible sketches: {m}"),
        }
    }
}

impl std::error::Error for SketchError {}

pub type Result<T, E = SketchError> = std::result::Result<T, E>;

/// `Ok` when the parameter `what` lies in `range`; otherwise the one wording every family
/// uses: "hll precision must be between 4 and 18, got 30".
pub(crate) fn check_range<T>(what: &str, value: T, range: std::ops::RangeInclusive<T>) -> Result<()>
where
    T: PartialOrd + fmt::Display,
{
    if range.contains(&value) {
        return Ok(());
    }
    Err(SketchError::InvalidParameter(format!(
        "{what} must be between {} and {}, got {value}",
        range.start(),
        range.end()
    )))
}

/// Checks that `q` is a valid normalized rank, for every family that answers quantiles.
pub(crate) fn check_q(q: f64) -> Result<()> {
    if (0.0..=1.0).contains(&q) {
        Ok(())
    } else {
        Err(SketchError::InvalidParameter(format!(
            "quantile q must lie in [0, 1], got {q}"
        )))
    }
}
