//! # Hazy: probabilistic sketches as mergeable SQL aggregates
//!
//! * [`sketch`]: the algorithms (HyperLogLog, …), usable without DataFusion
//!   (`default-features = false`).
//! * `udf` (feature `datafusion`, on by default): the DataFusion aggregate and scalar
//!   functions; [`register_all`] adds every one of them to a `SessionContext`.

pub mod sketch;

#[cfg(feature = "datafusion")]
pub mod cli;
/// `hazy gen`: the tutorial's synthetic event stream.
#[cfg(feature = "datafusion")]
pub mod r#gen;
#[cfg(feature = "datafusion")]
pub mod stream;
#[cfg(feature = "datafusion")]
pub mod udf;

#[cfg(feature = "datafusion")]
pub use udf::register_all;
