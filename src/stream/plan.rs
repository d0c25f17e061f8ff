//! Turning one SQL query into the three plans a windowed stream runs:
//!
//! * **partial**: the query's `Partial` aggregate over events, giving one row of sketch states
//!   per (window, group); each open window runs a copy of it over its own events (pane.rs);
//! * **reduce**: the same aggregate in `PartialReduce` mode, which merges state rows of one
//!   window into fewer state rows (used to merge a window's restored or early-emitted states,
//!   and to combine panes);
//! * **finish**: the rest of the query (`Final` aggregate, projection, HAVING, ORDER BY) over the
//!   merged state rows of a closed window.
//!
//! Each plan reads from a [`Slot`], a source whose rows are whatever was put in it before the
//! plan is executed, so the plans are built once and run many times; a window's copy of the
//! partial plan reads its events from a channel instead.

use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::execution::memory_pool::MemoryPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::ColumnarValue;
use datafusion::optimizer::{Optimizer, OptimizerRule};
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::reset_plan_states;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, PhysicalExpr, collect};
use datafusion::prelude::{SessionConfig, SessionContext};

use super::pane::PaneMemory;
use super::window::WindowSpec;

/// The table name a stream query reads from.
pub const EVENTS: &str = "events";

/// A source that yields the batches put in it, once per execution.
#[derive(Debug)]
pub struct Slot {
    schema: SchemaRef,
    batches: Mutex<Vec<RecordBatch>>,
}

impl Slot {
    pub fn new(schema: SchemaRef) -> Arc<Self> {
        Arc::new(Self {
            schema,
            batches: Mutex::new(Vec::new()),
        })
    }

    /// Runs `plan` (which reads this slot) over `batches`.
    pub async fn run(
        &self,
        plan: &Arc<dyn ExecutionPlan>,
        batches: Vec<RecordBatch>,
        task: &Arc<TaskContext>,
    ) -> Result<Vec<RecordBatch>> {
        *self.batches.lock().expect("slot lock") = batches;
        // A fresh copy of the plan for each run: operators append their metrics to the plan
        // at every execution, which would grow without end over a stream's micro-batches.
        let plan = reset_plan_states(Arc::clone(plan))?;
        let out = collect(plan, Arc::clone(task)).await;
        self.batches.lock().expect("slot lock").clear();
        out
    }

    /// `node` as a scan of this slot, if it is one.
    pub fn scan_in<'a>(
        self: &Arc<Self>,
        node: &'a Arc<dyn ExecutionPlan>,
    ) -> Option<&'a StreamingTableExec> {
        let scan = node.downcast_ref::<StreamingTableExec>()?;
        let this = Arc::as_ptr(self);
        let reads = scan
            .partitions()
            .iter()
            .any(|p| std::ptr::addr_eq(Arc::as_ptr(p), this));
        reads.then_some(scan)
    }

    fn exec(self: &Arc<Self>) -> Result<Arc<dyn ExecutionPlan>> {
        let partition: Arc<dyn PartitionStream> = Arc::clone(self) as _;
        Ok(Arc::new(StreamingTableExec::try_new(
            Arc::clone(&self.schema),
            vec![partition],
            None,
            Vec::new(),
            false,
            None,
        )?))
    }
}

impl PartitionStream for Slot {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let batches = std::mem::take(&mut *self.batches.lock().expect("slot lock"));
        let stream = futures::stream::iter(batches.into_iter().map(Ok));
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream,
        ))
    }
}

/// The three plans of a windowed stream query, and where its window is.
#[derive(Debug)]
pub struct StreamPlans {
    pub task: Arc<TaskContext>,
    pub events: Arc<Slot>,
    pub partial: Arc<dyn ExecutionPlan>,
    pub states: Arc<Slot>,
    pub reduce: Arc<dyn ExecutionPlan>,
    pub finish: Arc<dyn ExecutionPlan>,
    /// Index of the window column among the partial (state) columns.
    pub window_column: usize,
    pub window: WindowSpec,
    /// Names of the state columns, for the rollup table: the query's output name of each
    /// aggregate, with a suffix when an aggregate keeps several state fields.
    pub state_names: Vec<String>,
    /// The query text, as planned (identifies a checkpoint's query).
    pub sql: String,
}

impl StreamPlans {
    /// The events columns the partial plan reads (DataFusion pushes the query's projection into
    /// its scan); `None` when it reads them all.
    pub fn events_read(&self) -> Option<Vec<usize>> {
        let mut read = None;
        let _ = self.partial.apply(|node| {
            if let Some(scan) = self.events.scan_in(node) {
                read = scan.projection().as_ref().map(|p| p.to_vec());
                return Ok(TreeNodeRecursion::Stop);
            }
            Ok(TreeNodeRecursion::Continue)
        });
        read
    }

    pub fn state_schema(&self) -> SchemaRef {
        self.partial.schema()
    }

    pub fn output_schema(&self) -> SchemaRef {
        self.finish.schema()
    }
}

/// A session for stream queries: one partition (a micro-batch is small, and one partition
/// keeps the plan a single chain), every Hazy function bound to its memory pool, and no rewrite of a single
/// `count(DISTINCT x)` into two aggregations (a stream keeps one level of states).
pub fn stream_session() -> SessionContext {
    stream_session_with(Arc::new(RuntimeEnv::default()))
}

/// [`stream_session`] on `runtime` (the command line's: object stores, spill directory), whose
/// memory pool counts what the stream's windows reserve in it.
pub fn stream_session_with(runtime: Arc<RuntimeEnv>) -> SessionContext {
    let memory = PaneMemory::counting(Arc::clone(&runtime.memory_pool));
    let runtime = RuntimeEnvBuilder::from_runtime_env(&runtime)
        .with_memory_pool(Arc::clone(&memory) as Arc<dyn MemoryPool>)
        .build_arc()
        .expect("a runtime rebuilt from a running one");
    let config = SessionConfig::new()
        .with_target_partitions(1)
        .with_batch_size(65_536)
        .with_extension(memory);
    let rules: Vec<Arc<dyn OptimizerRule + Send + Sync>> = Optimizer::new()
        .rules
        .into_iter()
        .filter(|r| r.name() != "single_distinct_aggregation_to_group_by")
        .collect();
    let state = datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_optimizer_rules(rules)
        .build();
    let mut ctx = SessionContext::new_with_state(state);
    let pool = ctx.runtime_env().memory_pool.clone();
    crate::register_all_with_pool(&mut ctx, pool).expect("a new session accepts every function");
    ctx
}

/// Plans `sql` over a stream table `events` with `schema`, windowed on `time_column`.
pub async fn plan(
    ctx: &SessionContext,
    sql: &str,
    schema: SchemaRef,
    time_column: &str,
) -> Result<StreamPlans> {
    let events = Slot::new(Arc::clone(&schema));
    let table = StreamingTable::try_new(schema, vec![Arc::clone(&events) as _])?;
    ctx.deregister_table(EVENTS)?;
    ctx.register_table(EVENTS, Arc::new(table))?;
    let physical = ctx.sql(sql).await?.create_physical_plan().await?;
    let top = find_aggregate(&physical)?;
    let partial = partial_of(&top)?;
    if contains_aggregate(partial.input()) {
        return Err(plan_error(
            "the query has more than one level of aggregation; a stream keeps one level of \
             sketch states per window (use approx_count_distinct(x) instead of a nested or \
             DISTINCT aggregation over a subquery)",
        ));
    }
    let (window_column, window) = find_window(&partial, time_column)?;
    let partial: Arc<dyn ExecutionPlan> = Arc::new(partial);
    let states = Slot::new(partial.schema());
    let state_source = states.exec()?;
    let merge = |mode| -> Result<Arc<dyn ExecutionPlan>> {
        let p = partial
            .downcast_ref::<AggregateExec>()
            .expect("the partial plan is an AggregateExec");
        Ok(Arc::new(AggregateExec::try_new(
            mode,
            p.group_expr().as_final(),
            p.aggr_expr().to_vec(),
            p.filter_expr().to_vec(),
            Arc::clone(&state_source),
            p.input_schema(),
        )?))
    };
    let reduce = merge(AggregateMode::PartialReduce)?;
    let final_agg = merge(AggregateMode::Final)?;
    let finish = replace_aggregate(&physical, final_agg)?;
    let state_names = state_names(&partial, &finish, window_column);
    Ok(StreamPlans {
        task: ctx.task_ctx(),
        events,
        partial,
        states,
        reduce,
        finish,
        window_column,
        window,
        state_names,
        sql: sql.to_string(),
    })
}

fn plan_error(reason: &str) -> DataFusionError {
    DataFusionError::Plan(format!("hazy stream: {reason}"))
}

fn no_window_error() -> DataFusionError {
    plan_error(
        "the query must aggregate with GROUP BY date_bin(INTERVAL '…', <time column>) \
         (a stream has no end, so results come out per event-time window)",
    )
}

/// The topmost aggregate of the plan, through single-input operators only.
fn find_aggregate(plan: &Arc<dyn ExecutionPlan>) -> Result<AggregateExec> {
    let mut node = plan;
    loop {
        if let Some(agg) = node.downcast_ref::<AggregateExec>() {
            return Ok(agg.clone());
        }
        match node.children().as_slice() {
            [child] => node = child,
            [] => return Err(no_window_error()),
            _ => {
                return Err(plan_error(
                    "joins and unions above the windowed aggregation are not supported",
                ));
            }
        }
    }
}

fn contains_aggregate(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.downcast_ref::<AggregateExec>().is_some()
        || plan.children().into_iter().any(contains_aggregate)
}

/// The `Partial` aggregate of `top`: its own partial stage, or one made from a `Single`.
fn partial_of(top: &AggregateExec) -> Result<AggregateExec> {
    if top.group_expr().has_grouping_set() {
        return Err(plan_error(
            "GROUPING SETS, CUBE and ROLLUP are not supported",
        ));
    }
    match top.mode() {
        AggregateMode::Single | AggregateMode::SinglePartitioned => AggregateExec::try_new(
            AggregateMode::Partial,
            top.group_expr().clone(),
            top.aggr_expr().to_vec(),
            top.filter_expr().to_vec(),
            Arc::clone(top.input()),
            top.input_schema(),
        ),
        AggregateMode::Final | AggregateMode::FinalPartitioned => {
            let mut node = top.input();
            loop {
                if let Some(agg) = node.downcast_ref::<AggregateExec>() {
                    if *agg.mode() == AggregateMode::Partial {
                        return Ok(agg.clone());
                    }
                    return Err(no_window_error());
                }
                match node.children().as_slice() {
                    [child] => node = child,
                    _ => return Err(no_window_error()),
                }
            }
        }
        AggregateMode::Partial | AggregateMode::PartialReduce => Err(no_window_error()),
    }
}

/// The index of the `date_bin(stride, time_column[, origin])` group expression, and its window.
fn find_window(partial: &AggregateExec, time_column: &str) -> Result<(usize, WindowSpec)> {
    let input_schema = partial.input_schema();
    let empty = RecordBatch::new_empty(Arc::clone(&input_schema));
    for (i, (expr, _)) in partial.group_expr().expr().iter().enumerate() {
        let Some(f) = expr.downcast_ref::<ScalarFunctionExpr>() else {
            continue;
        };
        if f.name() != "date_bin" {
            continue;
        }
        let args = f.args();
        // The time argument may be wrapped in a cast to the unit date_bin works in.
        let on_time = args.get(1).is_some_and(|a| {
            let columns = datafusion::physical_expr::utils::collect_columns(a);
            columns.len() == 1 && columns.iter().all(|c| c.name() == time_column)
        });
        if !on_time {
            return Err(plan_error(&format!(
                "the window date_bin(…) must bin the time column '{time_column}' itself"
            )));
        }
        let stride = constant(&args[0], &empty)?;
        let stride = interval_nanos(&stride)?;
        let origin = match args.get(2) {
            Some(origin) => timestamp_nanos(&constant(origin, &empty)?)?,
            None => 0,
        };
        return Ok((i, WindowSpec::new(stride, origin)?));
    }
    Err(no_window_error())
}

fn constant(expr: &Arc<dyn PhysicalExpr>, empty: &RecordBatch) -> Result<ScalarValue> {
    match expr.evaluate(empty)? {
        ColumnarValue::Scalar(v) => Ok(v),
        ColumnarValue::Array(_) => Err(plan_error(
            "the date_bin interval and origin must be constants",
        )),
    }
}

fn interval_nanos(v: &ScalarValue) -> Result<i64> {
    let nanos = match v {
        ScalarValue::IntervalMonthDayNano(Some(i)) if i.months == 0 => i64::from(i.days)
            .checked_mul(86_400_000_000_000)
            .and_then(|d| d.checked_add(i.nanoseconds)),
        ScalarValue::IntervalDayTime(Some(i)) => i64::from(i.days)
            .checked_mul(86_400_000)
            .and_then(|d| d.checked_add(i64::from(i.milliseconds)))
            .and_then(|ms| ms.checked_mul(1_000_000)),
        _ => None,
    };
    nanos.filter(|n| *n > 0).ok_or_else(|| {
        plan_error(&format!(
            "the window length must be a positive fixed interval (seconds to days, no months), got {v}"
        ))
    })
}

fn timestamp_nanos(v: &ScalarValue) -> Result<i64> {
    let ns = match v {
        ScalarValue::TimestampNanosecond(Some(t), _) => Some(*t),
        ScalarValue::TimestampMicrosecond(Some(t), _) => t.checked_mul(1_000),
        ScalarValue::TimestampMillisecond(Some(t), _) => t.checked_mul(1_000_000),
        ScalarValue::TimestampSecond(Some(t), _) => t.checked_mul(1_000_000_000),
        _ => None,
    };
    ns.ok_or_else(|| plan_error(&format!("the date_bin origin must be a timestamp, got {v}")))
}

/// `plan` with its topmost aggregate replaced by `replacement`.
fn replace_aggregate(
    plan: &Arc<dyn ExecutionPlan>,
    replacement: Arc<dyn ExecutionPlan>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let mut done = false;
    let out = Arc::clone(plan).transform_down(|node| {
        if !done && node.downcast_ref::<AggregateExec>().is_some() {
            done = true;
            return Ok(Transformed::new(
                Arc::clone(&replacement),
                true,
                datafusion::common::tree_node::TreeNodeRecursion::Jump,
            ));
        }
        Ok(Transformed::no(node))
    })?;
    Ok(out.data)
}

/// Column names of the rollup table: group columns keep their output names where the query
/// selects them unchanged, and each aggregate's state is named after the query's alias.
fn state_names(
    partial: &Arc<dyn ExecutionPlan>,
    finish: &Arc<dyn ExecutionPlan>,
    window_column: usize,
) -> Vec<String> {
    let agg = partial
        .downcast_ref::<AggregateExec>()
        .expect("partial aggregate");
    let aliases = output_aliases(finish);
    let alias_of = |name: &str| {
        aliases
            .iter()
            .find(|(from, _)| from == name)
            .map(|(_, to)| to.clone())
    };
    let groups = agg.group_expr().expr();
    let mut names: Vec<String> = groups
        .iter()
        .enumerate()
        .map(|(i, (_, name))| {
            alias_of(name).unwrap_or_else(|| {
                if i == window_column {
                    "window".into()
                } else {
                    name.clone()
                }
            })
        })
        .collect();
    for expr in agg.aggr_expr() {
        let base = alias_of(expr.name()).unwrap_or_else(|| expr.name().to_string());
        let fields = expr.state_fields().map(|f| f.len()).unwrap_or(1);
        if fields == 1 {
            names.push(base);
        } else {
            names.extend((0..fields).map(|k| format!("{base}_state{k}")));
        }
    }
    names
}

/// `(aggregate output name, alias)` for each output column of the final projection that is
/// a plain column reference.
fn output_aliases(finish: &Arc<dyn ExecutionPlan>) -> Vec<(String, String)> {
    use datafusion::physical_plan::projection::ProjectionExec;
    let mut node = finish;
    loop {
        if let Some(p) = node.downcast_ref::<ProjectionExec>() {
            return p
                .expr()
                .iter()
                .filter_map(|e| {
                    let c = e.expr.downcast_ref::<Column>()?;
                    Some((c.name().to_string(), e.alias.clone()))
                })
                .collect();
        }
        if node.downcast_ref::<AggregateExec>().is_some() {
            return Vec::new();
        }
        match node.children().as_slice() {
            [child] => node = child,
            _ => return Vec::new(),
        }
    }
}

/// The Arrow type the stream stores event times in when the schema does not say.
pub fn default_time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, None)
}

/// Checks the time column exists and is a timestamp.
pub fn check_time_column(schema: &Schema, time_column: &str) -> Result<usize> {
    let (i, field) = schema.column_with_name(time_column).ok_or_else(|| {
        plan_error(&format!(
            "--time-column '{time_column}' is not a column of the events schema ({})",
            schema
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })?;
    match field.data_type() {
        DataType::Timestamp(_, _) => Ok(i),
        other => Err(plan_error(&format!(
            "the time column '{time_column}' must be a TIMESTAMP, got {other}"
        ))),
    }
}
