//! Hazy's integration tests, in one binary so that DataFusion is linked once. One module per
//! area; `cargo test --release <module>` (for example `sql_hll`) runs one of them.

#[path = "../common/mod.rs"]
mod common;

mod cli;
mod datasketches;
mod decode_fuzz;
mod golden;
mod hll_accuracy;
mod object_store;
mod shell;
mod sliding;
mod sql_bloom_minhash;
mod sql_cms;
mod sql_docs;
mod sql_files;
mod sql_hll;
mod sql_quantiles;
mod sql_topk;
mod stream_cli;
mod stream_runtime;
mod tutorial_examples;
mod tutorial_sql;
