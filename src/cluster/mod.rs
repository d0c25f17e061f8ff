//! Hazy on Apache DataFusion Ballista: the same SQL on a cluster.
//!
//! Ballista splits a query into stages at every repartition. For a sketch aggregate the first
//! stage runs DataFusion's `Partial` aggregation on each executor over its share of the files, and
//! what crosses the network is the sketch states themselves (one binary value per group), merged
//! by the `Final` stage. So a cluster query returns what the same query returns on one machine,
//! for every family whose merge does not depend on order (HyperLogLog, Count-Min, Bloom, MinHash,
//! DDSketch, and Top-K while it holds every item); KLL and a full Top-K stay within their bounds.
//!
//! Every Hazy function keeps its parameters in its SQL arguments, so plans travel by function name
//! with Ballista's own codecs: the scheduler and every executor only need the functions registered,
//! which is what [`session_state`] and [`function_registry`] do. The pieces:
//!
//! - [`scheduler`]: the `hazy-scheduler` process ([`scheduler::run`]).
//! - [`executor`]: the `hazy-executor` process ([`executor::run`]), which also logs what each task
//!   wrote to the shuffle ([`executor::StageLog`]).
//! - [`remote_context`]: a client session (`hazy sql --remote df://host:port`).
//! - [`loopback::LoopbackCluster`]: a scheduler and executors inside one process, on 127.0.0.1.
//!
//! ```no_run
//! # async fn demo() -> datafusion::common::Result<()> {
//! let ctx = hazy::cluster::remote_context("df://localhost:50050").await?;
//! ctx.sql("CREATE EXTERNAL TABLE events STORED AS PARQUET LOCATION 'data/'").await?;
//! let df = ctx.sql("SELECT approx_count_distinct(user_id) FROM events").await?;
//! df.show().await?;
//! # Ok(())
//! # }
//! ```

pub mod executor;
pub mod logging;
pub mod loopback;
pub mod pool;
pub mod scheduler;

use ballista::prelude::SessionContextExt;
use ballista_core::extension::SessionConfigExt;
use ballista_core::registry::BallistaFunctionRegistry;
use datafusion::common::Result;
use datafusion::execution::memory_pool::MemoryPool;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::prelude::{SessionConfig, SessionContext};
use std::sync::Arc;

/// A session state with DataFusion's defaults, every Hazy function and Hazy's object stores
/// (`s3://`, `gs://`, `az://`, `http(s)://`, configured from the environment), for `config`.
///
/// This is the scheduler's session builder: the scheduler turns the client's logical plan back
/// into a plan with it, so it must know the functions by name, and it lists the table's files
/// when it plans, so it must open the table's bucket.
pub fn session_state(config: SessionConfig) -> Result<SessionState> {
    session_state_in(config, None)
}

/// [`session_state`] whose runtime has `pool`, to which Hazy's aggregates are bound.
fn session_state_in(
    config: SessionConfig,
    pool: Option<Arc<dyn MemoryPool>>,
) -> Result<SessionState> {
    let runtime = runtime_env(crate::store::ObjectStores::new(), None, pool)?;
    let pool = Arc::clone(&runtime.memory_pool);
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .build();
    crate::register_all_with_pool(&mut state, pool)?;
    Ok(state)
}

/// A runtime with the object stores of `stores`, spilling into `spill_dir` when one is given,
/// with `pool` when one is given (else DataFusion's unbounded one).
pub fn runtime_env(
    stores: Arc<crate::store::ObjectStores>,
    spill_dir: Option<&std::path::Path>,
    pool: Option<Arc<dyn MemoryPool>>,
) -> Result<Arc<datafusion::execution::runtime_env::RuntimeEnv>> {
    let mut builder = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_object_store_registry(stores);
    if let Some(dir) = spill_dir {
        builder = builder.with_temp_file_path(dir);
    }
    if let Some(pool) = pool {
        builder = builder.with_memory_pool(pool);
    }
    builder.build_arc()
}

/// The functions an executor can decode in a stage plan: DataFusion's and Hazy's, Hazy's bound
/// to the executor's `pool` when it has one.
pub fn function_registry(pool: Option<Arc<dyn MemoryPool>>) -> Result<BallistaFunctionRegistry> {
    let state = session_state_in(SessionConfig::new_with_ballista(), pool)?;
    Ok(BallistaFunctionRegistry::from(&state))
}

/// Runs a cluster process's main future (`name` for its messages) on a multi-threaded runtime
/// until it ends; the exit status says how it ended.
pub fn run_process<F>(name: &str, main: F) -> std::process::ExitCode
where
    F: std::future::Future<Output = Result<(), ballista_core::error::BallistaError>>,
{
    // Deep plans decode recursively; Ballista's own binaries use the same stack size.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(32 * 1024 * 1024)
        .build();
    let outcome = match runtime {
        Ok(runtime) => runtime.block_on(main).map_err(|e| e.to_string()),
        Err(e) => Err(format!("cannot start its runtime: {e}")),
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("Error: {name}: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A client session whose queries run on the Ballista scheduler at `url` (`df://host:port`).
///
/// Tables are registered on the client and travel with each plan, so their files must be
/// readable at the same path on every executor.
pub async fn remote_context(url: &str) -> Result<SessionContext> {
    let config = SessionConfig::new_with_ballista().with_information_schema(true);
    let ctx = SessionContext::remote_with_state(url, session_state(config)?).await?;
    // File and bucket paths as table names (`FROM 's3://bucket/events/'`), as locally.
    let mut ctx = ctx.enable_url_table();
    // Ballista's upgrade of the state resets the function lists to DataFusion's.
    crate::register_all(&mut ctx)?;
    Ok(ctx)
}
