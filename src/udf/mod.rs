//! The DataFusion layer: one aggregate or scalar UDF per SQL function, and [`register_all`].
//!
//! Every aggregate is a [`family::SketchAggregate`] described by data (an `AggregateSpec`),
//! every scalar a [`scalar::StateScalar`] described by a `ScalarSpec`; docs/ARCHITECTURE.md
//! says how to add a family.

pub mod args;
pub mod bloom;
pub mod cms;
pub mod datasketches;
pub mod dd;
pub mod docs;
pub mod family;
pub mod groups;
pub mod hashing;
pub mod hll;
pub mod kll;
pub mod minhash;
pub mod numbers;
pub mod quantile;
pub mod scalar;
pub mod sketch_info;
pub mod sliding;
pub mod topk;

use datafusion::common::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::{AggregateUDF, Documentation, ScalarUDF};
use std::sync::Arc;

/// Every Hazy aggregate function, in reference order.
pub fn aggregate_functions() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::from(hll::sketch()),
        AggregateUDF::from(hll::merge()),
        AggregateUDF::from(hll::count_distinct()),
        AggregateUDF::from(cms::sketch()),
        AggregateUDF::from(cms::weighted()),
        AggregateUDF::from(cms::merge()),
        AggregateUDF::from(topk::sketch()),
        AggregateUDF::from(topk::merge()),
        AggregateUDF::from(topk::approx()),
        AggregateUDF::from(topk::approx_weighted()),
        AggregateUDF::from(bloom::sketch()),
        AggregateUDF::from(bloom::merge()),
        AggregateUDF::from(minhash::sketch()),
        AggregateUDF::from(minhash::merge()),
        AggregateUDF::from(kll::sketch()),
        AggregateUDF::from(kll::merge()),
        AggregateUDF::from(quantile::approx()),
        AggregateUDF::from(quantile::approx_many()),
        AggregateUDF::from(dd::sketch()),
        AggregateUDF::from(dd::merge()),
    ]
    .into_iter()
    .chain(datasketches::aggregate_functions())
    .collect()
}

/// Every Hazy scalar function, in reference order.
pub fn scalar_functions() -> Vec<ScalarUDF> {
    [
        hll::estimate(),
        hll::union(),
        cms::estimate(),
        cms::total(),
        topk::items(),
        bloom::contains(),
        minhash::jaccard(),
        minhash::lsh_bands(),
        kll::quantile(),
        kll::quantiles(),
        kll::rank(),
        dd::quantile(),
    ]
    .into_iter()
    .chain(datasketches::scalar_functions())
    .chain([sketch_info::sketch_info()])
    .map(ScalarUDF::from)
    .collect()
}

/// Registers every Hazy function with `registry` (a `SessionContext`, a `SessionState`, …).
pub fn register_all(registry: &mut dyn FunctionRegistry) -> Result<()> {
    for f in aggregate_functions() {
        registry.register_udaf(Arc::new(f))?;
    }
    for f in scalar_functions() {
        registry.register_udf(Arc::new(f))?;
    }
    Ok(())
}

/// Name, kind and documentation of every function, in reference order.
pub fn documented_functions() -> Vec<(String, &'static str, Documentation)> {
    let aggregates = aggregate_functions().into_iter().filter_map(|f| {
        Some((
            f.name().to_string(),
            "aggregate",
            f.documentation()?.clone(),
        ))
    });
    let scalars = scalar_functions()
        .into_iter()
        .filter_map(|f| Some((f.name().to_string(), "scalar", f.documentation()?.clone())));
    aggregates.chain(scalars).collect()
}
