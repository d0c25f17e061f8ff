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
pub mod memory;
pub mod minhash;
pub mod numbers;
pub mod quantile;
pub mod scalar;
pub mod sketch_info;
pub mod sliding;
pub mod topk;

use datafusion::common::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::memory_pool::MemoryPool;
use datafusion::logical_expr::{AggregateUDF, Documentation, ScalarUDF};
use family::{SketchAggregate, StateSketch};
use memory::PoolHandle;
use std::sync::Arc;

/// Every Hazy aggregate function, in reference order.
pub fn aggregate_functions() -> Vec<AggregateUDF> {
    aggregate_functions_in(&PoolHandle::default())
}

/// Every Hazy aggregate function, each accumulator reserving its sketches in `pool` (see
/// [`memory`]): for a session whose pool was replaced (`SET datafusion.runtime.memory_limit`),
/// registered again over the old ones.
pub fn aggregate_functions_with_pool(pool: Arc<dyn MemoryPool>) -> Vec<AggregateUDF> {
    aggregate_functions_in(&PoolHandle::new(pool))
}

fn aggregate_functions_in(pool: &PoolHandle) -> Vec<AggregateUDF> {
    vec![
        bound(hll::sketch(), pool),
        bound(hll::merge(), pool),
        bound(hll::count_distinct(), pool),
        bound(cms::sketch(), pool),
        bound(cms::weighted(), pool),
        bound(cms::merge(), pool),
        bound(topk::sketch(), pool),
        bound(topk::merge(), pool),
        bound(topk::approx(), pool),
        bound(topk::approx_weighted(), pool),
        bound(bloom::sketch(), pool),
        bound(bloom::merge(), pool),
        bound(minhash::sketch(), pool),
        bound(minhash::merge(), pool),
        bound(kll::sketch(), pool),
        bound(kll::merge(), pool),
        bound(quantile::approx(), pool),
        bound(quantile::approx_many(), pool),
        bound(dd::sketch(), pool),
        bound(dd::merge(), pool),
    ]
    .into_iter()
    .chain(datasketches::aggregate_functions(pool))
    .collect()
}

/// `f` as a DataFusion aggregate bound to `pool`.
fn bound<S: StateSketch>(f: SketchAggregate<S>, pool: &PoolHandle) -> AggregateUDF {
    AggregateUDF::from(f.with_pool(pool.clone()))
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
/// Aggregates are accounted for as DataFusion's own are, after each batch; where the
/// registry's memory pool is at hand, [`register_all_with_pool`] does better.
pub fn register_all(registry: &mut dyn FunctionRegistry) -> Result<()> {
    register_in(registry, &PoolHandle::default())
}

/// Registers every Hazy function with `registry`, the aggregates reserving their sketches in
/// `pool` as they make them (see [`memory`]): under a memory limit, a batch of large states
/// (merged Top-K, Bloom or MinHash states) or a moving frame's sketches fail with "Resources
/// exhausted" naming the aggregate instead of being made past the limit. `pool` is the
/// session's, `ctx.runtime_env().memory_pool`.
///
/// ```
/// use datafusion::execution::runtime_env::RuntimeEnvBuilder;
/// use datafusion::prelude::{SessionConfig, SessionContext};
/// let runtime = RuntimeEnvBuilder::new().with_memory_limit(1 << 30, 1.0).build_arc().unwrap();
/// let mut ctx = SessionContext::new_with_config_rt(SessionConfig::new(), runtime);
/// let pool = ctx.runtime_env().memory_pool.clone();
/// hazy::udf::register_all_with_pool(&mut ctx, pool).unwrap();
/// ```
pub fn register_all_with_pool(
    registry: &mut dyn FunctionRegistry,
    pool: Arc<dyn MemoryPool>,
) -> Result<()> {
    register_in(registry, &PoolHandle::new(pool))
}

fn register_in(registry: &mut dyn FunctionRegistry, pool: &PoolHandle) -> Result<()> {
    for f in aggregate_functions_in(pool) {
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
