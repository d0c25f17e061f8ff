//! # Hazy: probabilistic sketches as mergeable SQL aggregates
//!
//! * [`sketch`]: the algorithms (HyperLogLog, …), usable without DataFusion
//!   (`default-features = false`).
//! * `udf` (feature `datafusion`, on by default): the DataFusion aggregate and scalar
//!   functions; [`register_all`] adds every one of them to a `SessionContext`.
//! * `stream` (feature `datafusion`): `hazy stream`'s windowed runtime.
//! * `cluster` (feature `ballista`, off by default): the same SQL on Apache DataFusion Ballista.

pub mod sketch;

#[cfg(feature = "datafusion")]
pub mod cli;
#[cfg(feature = "ballista")]
pub mod cluster;
/// `hazy gen`: the tutorial's synthetic event stream.
#[cfg(feature = "datafusion")]
pub mod generator;
/// A writer that notices a closed output (`hazy … | head`).
#[cfg(feature = "datafusion")]
pub mod pipe;
/// The progress line of long commands.
#[cfg(feature = "datafusion")]
pub mod progress;
/// `s3://`, `gs://`, `az://` and `http(s)://` object stores.
#[cfg(feature = "datafusion")]
pub mod store;
#[cfg(feature = "datafusion")]
pub mod stream;
#[cfg(feature = "datafusion")]
pub mod udf;

#[cfg(feature = "datafusion")]
pub use udf::{register_all, register_all_with_pool};
