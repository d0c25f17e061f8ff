//! A description of any Hazy state: what `sketch_info` shows.

use super::cms::CountMin;
use super::envelope::{self, Family};
use super::error::Result;
use super::hll::HyperLogLog;
use super::topk::TopK;

/// What a state is: family, format version, parameters, mode, size and content.
#[derive(Debug, Clone, PartialEq)]
pub struct SketchInfo {
    pub family: Family,
    pub version: u8,
    /// Parameters as `name=value` pairs, e.g. `p=14`.
    pub parameters: String,
    /// The representation, e.g. `sparse` or `dense`.
    pub mode: String,
    /// Serialized size in bytes.
    pub bytes: usize,
    /// Non-null values added, summed over merges.
    pub items: u64,
    /// Family-specific figures as `name=value` pairs (estimate, error, fill, …).
    pub details: String,
}

/// Decodes and describes any Hazy state, validating it completely.
pub fn describe(bytes: &[u8]) -> Result<SketchInfo> {
    let env = envelope::decode_any(bytes)?;
    match env.family {
        Family::HyperLogLog => {
            let s = HyperLogLog::from_bytes(bytes)?;
            Ok(SketchInfo {
                family: env.family,
                version: env.version,
                parameters: format!("p={}", s.precision()),
                mode: if s.is_sparse() { "sparse" } else { "dense" }.to_string(),
                bytes: bytes.len(),
                items: s.items(),
                details: format!(
                    "registers={}, estimate={:.0}, rse={:.2}%",
                    s.registers(),
                    s.estimate(),
                    s.relative_standard_error() * 100.0
                ),
            })
        }
        Family::CountMin => {
            let s = CountMin::from_bytes(bytes)?;
            Ok(SketchInfo {
                family: env.family,
                version: env.version,
                parameters: format!("width={}, depth={}", s.width(), s.depth()),
                mode: if s.is_dense() { "dense" } else { "items" }.to_string(),
                bytes: bytes.len(),
                items: s.total(),
                details: format!(
                    "epsilon={:.6}, delta={:.6}, max_overestimate={:.0}",
                    std::f64::consts::E / s.width() as f64,
                    (-(s.depth() as f64)).exp(),
                    std::f64::consts::E / s.width() as f64 * s.total() as f64
                ),
            })
        }
        Family::TopK => {
            let s = TopK::from_bytes(bytes)?;
            Ok(SketchInfo {
                family: env.family,
                version: env.version,
                parameters: format!("capacity={}", s.capacity()),
                mode: "counters".to_string(),
                bytes: bytes.len(),
                items: s.total(),
                details: format!("tracked={}, max_error={}", s.len(), s.offset()),
            })
        }
        other => Err(super::SketchError::Corrupt(format!(
            "no {} decoder in this build of Hazy",
            other.name()
        ))),
    }
}
