//! The sketch algorithms, free of DataFusion and Arrow.
//!
//! Each family lives in its own module with its serialization beside it; all states share one
//! versioned envelope ([`envelope`], specified in `docs/FORMAT.md`) and all values reach a sketch
//! through one canonical hash ([`hash`]). This module builds with `default-features = false`, so
//! a Rust program can use the sketches without the SQL layer.

pub mod bloom;
pub mod cms;
pub mod dd;
pub mod envelope;
pub mod error;
pub mod hash;
pub mod hll;
pub mod info;
pub mod kll;
pub mod minhash;
pub mod state;
pub mod tdigest;
#[cfg(test)]
pub(crate) mod testdata;
pub mod topk;

pub use envelope::Family;
pub use error::SketchError;
pub use hash::CanonicalHash;
pub use hll::HyperLogLog;
pub use info::{SketchInfo, describe};
pub use state::{Description, FamilyVisitor, Sketch, to_stored, visit_family};

/// Folds runs of equal keys of a sorted vector in place: `same(kept, next)` says whether
/// `next` belongs to the run ending in `kept`, `fold` adds it in. Sparse sketches keep sorted
/// entries this way (HyperLogLog keeps the highest rank per register, Count-Min sums weights).
pub(crate) fn fold_sorted_runs<T: Copy>(
    items: &mut Vec<T>,
    same: impl Fn(&T, &T) -> bool,
    fold: impl Fn(&mut T, T),
) {
    let mut kept = 0;
    for read in 0..items.len() {
        let item = items[read];
        if kept > 0 && same(&items[kept - 1], &item) {
            fold(&mut items[kept - 1], item);
        } else {
            items[kept] = item;
            kept += 1;
        }
    }
    items.truncate(kept);
}

/// A sparse sketch as its readers must see it: itself when nothing is pending, else a copy
/// with its pending tail folded in by `fold_pending` (reads take `&self`, so they cannot fold
/// in place).
pub(crate) fn with_pending_folded<T: Clone>(
    sketch: &T,
    pending: bool,
    fold_pending: impl FnOnce(&mut T),
) -> std::borrow::Cow<'_, T> {
    if !pending {
        return std::borrow::Cow::Borrowed(sketch);
    }
    let mut copy = sketch.clone();
    fold_pending(&mut copy);
    std::borrow::Cow::Owned(copy)
}
