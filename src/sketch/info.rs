//! A description of any Hazy state: what `sketch_info` shows.

use super::envelope::{self, Family};
use super::error::Result;
use super::state::{FamilyVisitor, Sketch, visit_family};

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

/// Decodes and describes any Hazy state, stored or in transit, validating it completely.
pub fn describe(bytes: &[u8]) -> Result<SketchInfo> {
    struct Describe<'a>(&'a [u8]);
    impl FamilyVisitor for Describe<'_> {
        type Output = Result<super::state::Description>;
        fn visit<S: Sketch>(self) -> Self::Output {
            Ok(S::decode_any(self.0)?.describe())
        }
    }
    let (family, version) = if envelope::is_transit(bytes) {
        (envelope::transit_family(bytes)?, bytes[4])
    } else {
        let env = envelope::decode_any(bytes)?;
        (env.family, env.version)
    };
    let d = visit_family(family, Describe(bytes))?;
    Ok(SketchInfo {
        family,
        version,
        parameters: d.parameters,
        mode: d.mode,
        bytes: bytes.len(),
        items: d.items,
        details: d.details,
    })
}
