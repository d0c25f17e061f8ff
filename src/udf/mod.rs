//! The DataFusion layer: one aggregate or scalar UDF per SQL function, and [`register_all`].

pub mod args;
pub mod bloom;
pub mod cms;
pub mod dd;
pub mod docs;
pub mod family;
pub mod groups;
pub mod hashing;
pub mod hll;
pub mod hll_scalar;
pub mod kll;
pub mod minhash;
pub mod numbers;
pub mod scalar;
pub mod sketch_info;
pub mod topk;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

/// Every Hazy aggregate function.
pub fn aggregate_functions() -> Vec<AggregateUDF> {
    vec![
        AggregateUDF::from(hll::HllAggregate::sketch()),
        AggregateUDF::from(hll::HllAggregate::merge()),
        AggregateUDF::from(hll::HllAggregate::count_distinct()),
        AggregateUDF::from(cms::CmsAggregate::sketch()),
        AggregateUDF::from(cms::CmsAggregate::weighted()),
        AggregateUDF::from(cms::CmsAggregate::merge()),
        AggregateUDF::from(topk::TopKAggregate::sketch()),
        AggregateUDF::from(topk::TopKAggregate::merge()),
        AggregateUDF::from(topk::TopKAggregate::approx()),
        AggregateUDF::from(topk::TopKAggregate::approx_weighted()),
        AggregateUDF::from(bloom::sketch()),
        AggregateUDF::from(bloom::merge()),
        AggregateUDF::from(minhash::sketch()),
        AggregateUDF::from(minhash::merge()),
        AggregateUDF::from(kll::sketch()),
        AggregateUDF::from(kll::merge()),
        AggregateUDF::from(kll::approx()),
        AggregateUDF::from(kll::approx_many()),
        AggregateUDF::from(dd::sketch()),
        AggregateUDF::from(dd::merge()),
    ]
}

/// Every Hazy scalar function.
pub fn scalar_functions() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(hll_scalar::HllEstimate::default()),
        ScalarUDF::from(hll_scalar::HllUnion::default()),
        ScalarUDF::from(cms::CmsEstimate::default()),
        ScalarUDF::from(cms::CmsTotal::default()),
        ScalarUDF::from(topk::TopKItems::default()),
        ScalarUDF::from(bloom::BloomContains::default()),
        ScalarUDF::from(minhash::MinHashJaccard::default()),
        ScalarUDF::from(minhash::MinHashLshBands::default()),
        ScalarUDF::from(kll::KllQuantile::default()),
        ScalarUDF::from(kll::KllQuantiles::default()),
        ScalarUDF::from(kll::KllRank::default()),
        ScalarUDF::from(dd::DdQuantile::default()),
        ScalarUDF::from(sketch_info::SketchInfoUdf::default()),
    ]
}

/// Registers every Hazy function with `ctx`.
pub fn register_all(ctx: &SessionContext) {
    for f in aggregate_functions() {
        ctx.register_udaf(f);
    }
    for f in scalar_functions() {
        ctx.register_udf(f);
    }
}

/// Name, kind and documentation of every function, in reference order.
pub fn documented_functions() -> Vec<(
    String,
    &'static str,
    datafusion::logical_expr::Documentation,
)> {
    let mut out = Vec::new();
    for f in aggregate_functions() {
        if let Some(d) = f.documentation() {
            out.push((f.name().to_string(), "aggregate", d.clone()));
        }
    }
    for f in scalar_functions() {
        if let Some(d) = f.documentation() {
            out.push((f.name().to_string(), "scalar", d.clone()));
        }
    }
    out
}
