//! The `hazy-executor` process: Ballista's executor with every Hazy function registered.
//!
//! Each task it runs is also recorded in a [`StageLog`]: which partial aggregates the stage
//! computed and how many rows and bytes it wrote to the shuffle. For a sketch query those bytes
//! are the sketch states that cross the network, so the log is how a user (and the tests) see
//! where the partial aggregates ran and what they cost.

use ballista_core::JobId;
use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::error::BallistaError;
use ballista_core::serde::protobuf::{
    RuntimeStatsReport, ShuffleWritePartition, TaskColumnStats, WindowStateReport,
};
use ballista_executor::execution_engine::{
    DefaultExecutionEngine, ExecutionEngine, QueryStageExecutor,
};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Result, human_readable_size};
use datafusion::execution::TaskContext;
use datafusion::execution::memory_pool::{FairSpillPool, MemoryPool, TrackConsumersPool};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::metrics::MetricsSet;
use datafusion::prelude::SessionConfig;
use std::fmt;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an idle shuffle connection to another executor is kept for reuse (Ballista's default).
const SHUFFLE_CLIENT_IDLE: Duration = Duration::from_secs(30);

/// Where an executor listens and which scheduler it serves.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// A name for the logs and the [`StageLog`]; also the Ballista executor id.
    pub id: String,
    /// Address the executor's services bind to.
    pub bind_host: String,
    /// Host name the scheduler and other executors use to reach this one (default: the address
    /// the scheduler sees the executor connect from).
    pub external_host: Option<String>,
    /// Arrow Flight port, where other executors fetch this executor's shuffle output.
    pub flight_port: u16,
    /// gRPC port for tasks the scheduler pushes.
    pub grpc_port: u16,
    /// Scheduler host.
    pub scheduler_host: String,
    /// Scheduler gRPC port.
    pub scheduler_port: u16,
    /// Tasks run at once (0: every core).
    pub concurrent_tasks: usize,
    /// Directory for shuffle files (default: a temporary directory).
    pub work_dir: Option<PathBuf>,
    /// Bytes every task of this executor may hold together, in one pool to which Hazy's
    /// aggregates are bound too; unbounded when `None`.
    pub memory_limit: Option<usize>,
}

impl Default for ExecutorOptions {
    fn default() -> Self {
        Self {
            id: ballista_core::ids::new_instance_id(),
            bind_host: "127.0.0.1".into(),
            external_host: None,
            flight_port: 50051,
            grpc_port: 50052,
            scheduler_host: "localhost".into(),
            scheduler_port: 50050,
            concurrent_tasks: 0,
            work_dir: None,
            memory_limit: crate::cli::default_memory_limit(),
        }
    }
}

/// Runs an executor until it is stopped (SIGINT, SIGTERM or the scheduler). Every task is logged
/// at `info`, and also kept in `log` when one is given (tests and benchmarks read it).
pub async fn run(
    options: &ExecutorOptions,
    log: Option<Arc<StageLog>>,
) -> Result<(), BallistaError> {
    start_executor_process(Arc::new(process_config(options, log)?)).await
}

/// Ballista's executor configuration for `options`, with Hazy's functions and the recording engine.
pub fn process_config(
    options: &ExecutorOptions,
    log: Option<Arc<StageLog>>,
) -> Result<ExecutorProcessConfig, BallistaError> {
    let connections = super::pool::ConnectionPool::new(SHUFFLE_CLIENT_IDLE);
    let engine = RecordingEngine {
        inner: DefaultExecutionEngine::with_client_pool(Arc::new(connections)),
        executor: options.id.clone(),
        log,
    };
    let pool = executor_pool(options.memory_limit);
    Ok(ExecutorProcessConfig {
        executor_id: options.id.clone(),
        bind_host: options.bind_host.clone(),
        external_host: options.external_host.clone(),
        port: options.flight_port,
        grpc_port: options.grpc_port,
        scheduler_host: options.scheduler_host.clone(),
        scheduler_port: options.scheduler_port,
        scheduler_connect_timeout_seconds: 10,
        vcores: options.concurrent_tasks,
        task_scheduling_policy: TaskSchedulingPolicy::PushStaged,
        work_dir: options
            .work_dir
            .as_ref()
            .map(|d| d.to_string_lossy().into_owned()),
        override_function_registry: Some(Arc::new(super::function_registry(pool.clone())?)),
        override_runtime_producer: Some(runtime_producer(options.work_dir.clone(), pool)),
        override_execution_engine: Some(Arc::new(engine)),
        // Ballista would give each task a pool of its own in place of the producer's, one
        // Hazy's aggregates cannot be bound to (they are registered once, before any task):
        // `0` keeps the producer's pool.
        memory_pool_size: Some(0),
        ..ExecutorProcessConfig::default()
    })
}

/// The pool every task of an executor shares, of `limit` bytes: fair among the operators that
/// can spill, as Ballista's own per-task pools are, and naming its largest consumers when full.
fn executor_pool(limit: Option<usize>) -> Option<Arc<dyn MemoryPool>> {
    let limit = limit?;
    log::info!(
        "Executor memory pool: {} for every task and Hazy's sketches (--memory-limit)",
        human_readable_size(limit)
    );
    let consumers = NonZeroUsize::new(5).expect("five");
    Some(Arc::new(TrackConsumersPool::new(
        FairSpillPool::new(limit),
        consumers,
    )))
}

/// Each task's runtime: Hazy's object stores (one registry for the process, so a bucket is
/// opened once, from the executor's environment: `AWS_*`, `GOOGLE_*`, `AZURE_*`), spilling
/// into the work directory as Ballista's own runtime does, and the executor's `pool`.
fn runtime_producer(
    work_dir: Option<PathBuf>,
    pool: Option<Arc<dyn MemoryPool>>,
) -> ballista_core::RuntimeProducer {
    let stores = crate::store::ObjectStores::new();
    Arc::new(move |_config: &SessionConfig| {
        super::runtime_env(stores.clone(), work_dir.as_deref(), pool.clone())
    })
}

/// One task an executor ran: a stage's share of partitions, and what it wrote to the shuffle.
#[derive(Debug, Clone)]
pub struct StageRecord {
    /// The executor that ran it.
    pub executor: String,
    /// Ballista's job id.
    pub job: String,
    /// The stage within the job.
    pub stage: usize,
    /// The task within the stage.
    pub task: usize,
    /// Aggregate functions the stage ran in `Partial` mode (the ones whose states it shuffles).
    pub partial_aggregates: Vec<String>,
    /// Rows written to the shuffle (or to the final output).
    pub rows: u64,
    /// Bytes written to the shuffle (Arrow IPC, as Ballista counts them).
    pub bytes: u64,
    /// Time the task took.
    pub elapsed: Duration,
}

/// Every task the executors of this process ran, in completion order.
#[derive(Debug, Default)]
pub struct StageLog {
    records: Mutex<Vec<StageRecord>>,
}

impl StageLog {
    /// A copy of the records so far.
    pub fn records(&self) -> Vec<StageRecord> {
        self.lock().clone()
    }

    /// Forgets the records so far (between queries of a benchmark, for example).
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn push(&self, record: StageRecord) {
        self.lock().push(record);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<StageRecord>> {
        // A poisoned lock only means another task panicked mid-push; the records stay valid.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Names of the aggregate functions `plan` computes in `Partial` mode.
pub fn partial_aggregates(plan: &Arc<dyn ExecutionPlan>) -> Vec<String> {
    let mut names = Vec::new();
    let _ = plan.apply(|node| {
        if let Some(aggregate) = node.downcast_ref::<AggregateExec>()
            && matches!(aggregate.mode(), AggregateMode::Partial)
        {
            names.extend(
                aggregate
                    .aggr_expr()
                    .iter()
                    .map(|e| e.fun().name().to_string()),
            );
        }
        Ok(TreeNodeRecursion::Continue)
    });
    names
}

/// DataFusion's stage execution, with each finished task recorded.
struct RecordingEngine {
    inner: DefaultExecutionEngine,
    executor: String,
    log: Option<Arc<StageLog>>,
}

impl ExecutionEngine for RecordingEngine {
    fn create_query_stage_exec(
        &self,
        job_id: JobId,
        stage_id: usize,
        task_id: usize,
        global_output_partition_ids: Vec<usize>,
        plan: Arc<dyn ExecutionPlan>,
        work_dir: &str,
        config: &SessionConfig,
    ) -> Result<Arc<dyn QueryStageExecutor>> {
        let partial = partial_aggregates(&plan);
        let job = job_id.to_string();
        let inner = self.inner.create_query_stage_exec(
            job_id,
            stage_id,
            task_id,
            global_output_partition_ids,
            plan,
            work_dir,
            config,
        )?;
        Ok(Arc::new(RecordingStage {
            inner,
            log: self.log.clone(),
            template: StageRecord {
                executor: self.executor.clone(),
                job,
                stage: stage_id,
                task: task_id,
                partial_aggregates: partial,
                rows: 0,
                bytes: 0,
                elapsed: Duration::ZERO,
            },
        }))
    }
}

struct RecordingStage {
    inner: Arc<dyn QueryStageExecutor>,
    log: Option<Arc<StageLog>>,
    template: StageRecord,
}

impl fmt::Debug for RecordingStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl fmt::Display for RecordingStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.inner, f)
    }
}

#[async_trait::async_trait]
impl QueryStageExecutor for RecordingStage {
    async fn execute_query_stage(
        &self,
        task_id: usize,
        context: Arc<TaskContext>,
    ) -> Result<Vec<ShuffleWritePartition>> {
        let start = Instant::now();
        let written = self.inner.execute_query_stage(task_id, context).await?;
        let record = StageRecord {
            rows: written.iter().map(|p| p.num_rows).sum(),
            bytes: written.iter().map(|p| p.num_bytes).sum(),
            elapsed: start.elapsed(),
            ..self.template.clone()
        };
        log::info!(
            "executor {} job {} stage {} task {}: {} rows, {} bytes shuffled in {:.1} ms{}",
            record.executor,
            record.job,
            record.stage,
            record.task,
            record.rows,
            record.bytes,
            record.elapsed.as_secs_f64() * 1e3,
            if record.partial_aggregates.is_empty() {
                String::new()
            } else {
                format!(
                    " (partial states of {})",
                    record.partial_aggregates.join(", ")
                )
            }
        );
        if let Some(log) = &self.log {
            log.push(record);
        }
        Ok(written)
    }

    fn collect_plan_metrics(&self) -> Vec<MetricsSet> {
        self.inner.collect_plan_metrics()
    }

    fn collect_runtime_stats_reports(&self) -> Vec<RuntimeStatsReport> {
        self.inner.collect_runtime_stats_reports()
    }

    fn collect_window_state_reports(&self) -> Result<Vec<WindowStateReport>> {
        self.inner.collect_window_state_reports()
    }

    fn collect_column_stats(&self) -> Vec<TaskColumnStats> {
        self.inner.collect_column_stats()
    }
}
