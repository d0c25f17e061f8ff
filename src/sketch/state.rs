//! What every Hazy sketch does with its state, as one trait, and the one dispatch from a
//! state's family byte to its sketch type.
//!
//! Generic code (the SQL aggregates, `sketch_info`, the golden and fuzz tests) works through
//! [`Sketch`] and [`visit_family`] instead of matching on every family, so a new family is one
//! `impl Sketch` and one line in [`visit_family`].
//!
//! ```
//! use hazy::sketch::{HyperLogLog, Sketch};
//!
//! let mut a = HyperLogLog::new(12).unwrap();
//! a.insert(&"alice");
//! let mut b = HyperLogLog::new(12).unwrap();
//! b.insert(&"bob");
//! a.merge_bytes(&b.to_bytes()).unwrap();
//! let again = HyperLogLog::from_bytes(&a.to_bytes()).unwrap();
//! assert_eq!(again.estimate().round(), 2.0);
//! assert_eq!(again.describe().parameters, "p=12");
//! ```

use super::bloom::BloomFilter;
use super::cms::CountMin;
use super::dd::DdSketch;
use super::envelope::Family;
use super::error::Result;
use super::hll::HyperLogLog;
use super::kll::Kll;
use super::minhash::MinHash;
use super::tdigest::TargetedDigest;
use super::topk::TopK;

/// A sketch whose state is a Hazy envelope: sized, written, decoded, merged and described
/// the same way for every family.
pub trait Sketch: Sized + Clone {
    /// The family byte of the sketch's envelope.
    const FAMILY: Family;

    /// Heap bytes held, for memory accounting.
    fn heap_size(&self) -> usize;

    /// Appends the serialized state (see `docs/FORMAT.md`) to `out`.
    fn write_to(&self, out: &mut Vec<u8>);

    /// Decodes a state, validating every field.
    fn from_bytes(bytes: &[u8]) -> Result<Self>;

    /// Merges `other` in: the sketch of both inputs. Parameters that cannot be combined are
    /// an error, never a silently different sketch.
    fn merge(&mut self, other: &Self) -> Result<()>;

    /// Merges a serialized state in. Families that can merge without building the incoming
    /// sketch first override this; for the others it is decode, then merge.
    fn merge_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        self.merge(&Self::from_bytes(bytes)?)
    }

    /// Parameters, representation, items and family-specific figures, for `sketch_info`.
    fn describe(&self) -> Description;

    /// Appends the state in its transit form (see [`super::envelope::TRANSIT_MAGIC`]):
    /// for the hop from a partial to a final aggregate. Families without a cheaper form
    /// send their stored state.
    fn write_transit(&self, out: &mut Vec<u8>) {
        self.write_to(out)
    }

    /// Decodes a transit state of this family.
    fn from_transit(bytes: &[u8]) -> Result<Self> {
        let family = super::envelope::transit_family(bytes)?;
        Err(super::SketchError::Corrupt(format!(
            "{} states have no transit form",
            family.name()
        )))
    }

    /// Merges a transit state in; families with a transit form may override it to merge
    /// without building the incoming sketch.
    fn merge_transit(&mut self, bytes: &[u8]) -> Result<()> {
        self.merge(&Self::from_transit(bytes)?)
    }

    /// Decodes a stored or a transit state.
    fn decode_any(bytes: &[u8]) -> Result<Self> {
        if super::envelope::is_transit(bytes) {
            Self::from_transit(bytes)
        } else {
            Self::from_bytes(bytes)
        }
    }

    /// Merges a stored or a transit state in.
    fn merge_any(&mut self, bytes: &[u8]) -> Result<()> {
        if super::envelope::is_transit(bytes) {
            self.merge_transit(bytes)
        } else {
            self.merge_bytes(bytes)
        }
    }

    /// The serialized state.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }
}

/// A sketch that answers quantiles: one SQL `<family>_quantile(state, q)` serves them all.
pub trait Quantiles: Sketch {
    /// The sketch's quantile method: the quantile `q` in [0, 1], `None` when it is empty.
    const QUANTILE: fn(&Self, f64) -> Result<Option<f64>>;
}

/// What a sketch says about itself (the family-specific part of [`super::SketchInfo`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Description {
    /// Parameters as `name=value` pairs, e.g. `p=14`.
    pub parameters: String,
    /// The representation, e.g. `sparse` or `dense`.
    pub mode: String,
    /// Non-null values added, summed over merges.
    pub items: u64,
    /// Family-specific figures as `name=value` pairs (estimate, error, fill, …).
    pub details: String,
}

/// Code that runs for one sketch type, chosen at run time by [`visit_family`].
pub trait FamilyVisitor {
    type Output;
    fn visit<S: Sketch>(self) -> Self::Output;
}

/// Runs `visitor` with the sketch type of `family`: the one place that lists every family.
pub fn visit_family<V: FamilyVisitor>(family: Family, visitor: V) -> V::Output {
    match family {
        Family::HyperLogLog => visitor.visit::<HyperLogLog>(),
        Family::CountMin => visitor.visit::<CountMin>(),
        Family::TopK => visitor.visit::<TopK>(),
        Family::Bloom => visitor.visit::<BloomFilter>(),
        Family::MinHash => visitor.visit::<MinHash>(),
        Family::Kll => visitor.visit::<Kll>(),
        Family::DDSketch => visitor.visit::<DdSketch>(),
        Family::TDigest => visitor.visit::<TargetedDigest>(),
    }
}

/// A state in its stored form: transit states (see [`super::envelope::TRANSIT_MAGIC`]) are
/// decoded and written as stored states, stored states come back as they are.
pub fn to_stored(bytes: &[u8]) -> Result<std::borrow::Cow<'_, [u8]>> {
    struct Store<'a>(&'a [u8]);
    impl FamilyVisitor for Store<'_> {
        type Output = Result<Vec<u8>>;
        fn visit<S: Sketch>(self) -> Self::Output {
            Ok(S::from_transit(self.0)?.to_bytes())
        }
    }
    if !super::envelope::is_transit(bytes) {
        return Ok(std::borrow::Cow::Borrowed(bytes));
    }
    let family = super::envelope::transit_family(bytes)?;
    visit_family(family, Store(bytes)).map(std::borrow::Cow::Owned)
}

/// A figure that may be absent (an empty sketch has no minimum), as `describe` shows it.
pub(crate) fn show(v: Option<f64>) -> String {
    v.map_or_else(|| "none".to_string(), |v| v.to_string())
}
