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
pub use state::{Description, FamilyVisitor, Quantiles, Sketch, to_stored, visit_family};

/// Defines `fn $name` whose loop body is compiled three times, for AVX-512, for AVX2 and for
/// baseline x86-64, and runs the widest form the CPU has (checked at run time: the build
/// targets baseline x86-64, so it may assume neither). Bodies must be plain loops over slices
/// that the compiler can vectorize; every form gives the same result, which the test function
/// `$forms` (every form this CPU runs, by name) lets a test check.
macro_rules! simd_dispatch {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $body:block
     test forms: $forms:ident;) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) {
            $crate::sketch::simd_dispatch!(@forms ($($arg: $ty),*) $body);
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::is_x86_feature_detected as has;
                if has!("avx512dq") && has!("avx512vl") && has!("avx512cd") {
                    // SAFETY: the CPU has every feature `avx512` is compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if has!("avx2") && has!("lzcnt") {
                    // SAFETY: as above, for `avx2`.
                    return unsafe { avx2($($arg),*) };
                }
            }
            portable($($arg),*)
        }

        #[cfg(test)]
        #[allow(clippy::type_complexity)]
        fn $forms() -> Vec<(&'static str, fn($($ty),*))> {
            $crate::sketch::simd_dispatch!(@forms ($($arg: $ty),*) $body);
            let mut forms: Vec<(&'static str, fn($($ty),*))> =
                vec![("portable", |$($arg: $ty),*| portable($($arg),*))];
            #[cfg(target_arch = "x86_64")]
            {
                use std::arch::is_x86_feature_detected as has;
                if has!("avx512dq") && has!("avx512vl") && has!("avx512cd") {
                    // SAFETY: checked as in the dispatching function.
                    forms.push(("avx512", |$($arg: $ty),*| unsafe { avx512($($arg),*) }));
                }
                if has!("avx2") && has!("lzcnt") {
                    // SAFETY: as above.
                    forms.push(("avx2", |$($arg: $ty),*| unsafe { avx2($($arg),*) }));
                }
            }
            forms
        }
    };
    (@forms ($($arg:ident: $ty:ty),*) $body:block) => {
        #[inline(always)]
        fn portable($($arg: $ty),*) $body

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512cd")]
        fn avx512($($arg: $ty),*) {
            portable($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,lzcnt")]
        fn avx2($($arg: $ty),*) {
            portable($($arg),*)
        }
    };
}
pub(crate) use simd_dispatch;

/// Folds runs of equal keys of a sorted slice in place, keeping the folded runs at the front:
/// `same(kept, next)` says whether `next` belongs to the run ending in `kept`, `fold` adds it
/// in. Returns how many remain, for the caller to truncate to. Sparse sketches keep sorted
/// entries this way (HyperLogLog keeps the highest rank per register, Count-Min sums weights).
pub(crate) fn fold_sorted_runs<T: Copy>(
    items: &mut [T],
    same: impl Fn(&T, &T) -> bool,
    fold: impl Fn(&mut T, T),
) -> usize {
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
    kept
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
