//! A description of any Hazy state: what `sketch_info` shows.

use super::bloom::BloomFilter;
use super::cms::CountMin;
use super::dd::DdSketch;
use super::envelope::{self, Family};
use super::error::Result;
use super::hll::HyperLogLog;
use super::kll::Kll;
use super::minhash::MinHash;
use super::tdigest::TargetedDigest;
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
        Family::Bloom => {
            let s = BloomFilter::from_bytes(bytes)?;
            Ok(SketchInfo {
                family: env.family,
                version: env.version,
                parameters: format!("blocks={}, bits={}", s.num_blocks(), s.num_bits()),
                mode: if s.is_sparse() { "sparse" } else { "dense" }.to_string(),
                bytes: bytes.len(),
                items: s.items(),
                details: format!(
                    "fill={:.4}, estimated_fpr={:.4}%, estimated_distinct={:.0}",
                    s.fill(),
                    s.estimated_fpr() * 100.0,
                    s.estimated_distinct()
                ),
            })
        }
        Family::MinHash => {
            let s = MinHash::from_bytes(bytes)?;
            Ok(SketchInfo {
                family: env.family,
                version: env.version,
                parameters: format!("num_perm={}", s.num_perm()),
                mode: "one-permutation".to_string(),
                bytes: bytes.len(),
                items: s.items(),
                details: format!(
                    "filled_bins={}, jaccard_sd_at_0.5={:.4}",
                    s.filled_bins(),
                    (0.25 / s.num_perm() as f64).sqrt()
                ),
            })
        }
        Family::Kll => {
            let s = Kll::from_bytes(bytes)?;
            Ok(SketchInfo {
                family: env.family,
                version: env.version,
                parameters: format!("k={}", s.k()),
                mode: "compactors".to_string(),
                bytes: bytes.len(),
                items: s.n(),
                details: format!(
                    "retained={}, min={}, max={}, rank_error={:.2}%",
                    s.num_retained(),
                    show(s.min()),
                    show(s.max()),
                    s.normalized_rank_error() * 100.0
                ),
            })
        }
        Family::DDSketch => {
            let s = DdSketch::from_bytes(bytes)?;
            Ok(SketchInfo {
                family: env.family,
                version: env.version,
                parameters: format!("alpha={}, max_buckets={}", s.alpha(), s.max_buckets()),
                mode: if s.is_collapsed() {
                    "collapsed"
                } else {
                    "exact-range"
                }
                .to_string(),
                bytes: bytes.len(),
                items: s.count(),
                details: format!(
                    "buckets={}, min={}, max={}",
                    s.num_buckets(),
                    show(s.min()),
                    show(s.max())
                ),
            })
        }
        Family::TDigest => {
            let s = TargetedDigest::from_bytes(bytes)?;
            let targets: Vec<String> = s.targets().iter().map(|t| t.to_string()).collect();
            Ok(SketchInfo {
                family: env.family,
                version: env.version,
                parameters: format!(
                    "targets=[{}], resolution={}, k={}",
                    targets.join(", "),
                    s.resolution(),
                    s.k()
                ),
                mode: "targeted, kll-guarded".to_string(),
                bytes: bytes.len(),
                items: s.n(),
                details: format!(
                    "centroids={}, min={}, max={}, guard_rank_error={:.2}%",
                    s.num_centroids(),
                    show(s.min()),
                    show(s.max()),
                    s.guard_rank_error() * 100.0
                ),
            })
        }
    }
}

fn show(v: Option<f64>) -> String {
    v.map_or_else(|| "none".to_string(), |v| v.to_string())
}
