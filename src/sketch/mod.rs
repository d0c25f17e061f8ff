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
pub use state::{Description, FamilyVisitor, Sketch, visit_family};
