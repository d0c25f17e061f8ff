//! An open window's sketch states, updated as its events arrive.
//!
//! Each open window (a pane, with sliding windows) runs the query's aggregate for as long as it
//! is open: the events of every micro-batch that fall in it go into it through a channel, its
//! groups stay decoded in the accumulators, and when the window closes (or a checkpoint needs
//! its states) the channel ends and the window's state rows come out, one row per group.
//!
//! The aggregate is the query's `Partial` aggregate over the window's events. It holds every
//! group and emits once, at the close. Only when there is something to merge does a second
//! stage start, the `PartialReduce` form: for what the `Partial` aggregate emits early when
//! memory runs short (DataFusion's partial aggregation emits rather than spills), and for the
//! states a pane starts from (a restored checkpoint's, or its own after a snapshot). It spills
//! when it must.
//!
//! Why not aggregate each micro-batch into state rows and merge those into the window: with
//! many small groups (Nexmark q16: 10,004 channels, a 1 MB micro-batch of ~3,900 events) nearly
//! every event became a sketch state of its own, built, encoded, decoded and merged again; that
//! round trip took about a third of the stream's CPU. Earlier still, merging a window's state
//! rows now and then decoded and encoded its whole state once per merge (46% of q16's CPU).
//!
//! Memory: the aggregate reserves its accumulators' size in the session's memory pool (so a
//! memory limit applies, with DataFusion's "Resources exhausted" error), and [`PaneMemory`]
//! counts those reservations and the batches waiting in the channels, which is what
//! [`WindowedStream::memory_bytes`](super::WindowedStream::memory_bytes) reports.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::execution_plan::{
    ChildrenPropertiesMode, ReplaceChildrenOptions, reset_plan_states,
};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use futures::TryStreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::plan::{Slot, StreamPlans};

/// Batches that may wait for a window's aggregate before a push waits for it.
const QUEUED_BATCHES: usize = 4;

/// The running aggregate of one open window.
#[derive(Debug)]
pub(super) struct Pane {
    running: Running,
    schema: SchemaRef,
}

impl Pane {
    /// Starts an empty window's aggregate (on the runtime's workers).
    pub fn start(live: &PanePlans) -> Result<Self> {
        Self::from_states(live, Vec::new())
    }

    /// A pane that goes on from `states` (a restored checkpoint's, or its own at a snapshot).
    pub fn holding(live: &PanePlans, states: RecordBatch) -> Result<Self> {
        Self::from_states(live, vec![states])
    }

    fn from_states(live: &PanePlans, earlier: Vec<RecordBatch>) -> Result<Self> {
        let ended = Arc::new(AtomicBool::new(false));
        let partial = live.partial_reading(Arc::clone(&ended))?;
        let schema = partial.plan.schema();
        let earlier = earlier.into_iter().filter(|b| b.num_rows() > 0).collect();
        let merge = Merge {
            reduce: Arc::clone(&live.reduce),
            task: Arc::clone(&live.task),
            memory: Arc::clone(&live.memory),
        };
        let stream = partial.plan.execute(0, Arc::clone(&live.task))?;
        let task = tokio::spawn(aggregate(stream, ended, earlier, merge));
        Ok(Self {
            running: Running::new(partial.sender, task, &live.memory),
            schema,
        })
    }

    /// Adds events of this window; waits while the aggregate is behind.
    pub async fn add(&mut self, events: RecordBatch) -> Result<()> {
        self.running.send(events).await
    }

    /// Ends the window's input: its state rows, one per group.
    pub async fn finish(mut self) -> Result<RecordBatch> {
        self.end().await
    }

    /// The state rows so far (for a checkpoint); the pane goes on from them.
    pub async fn snapshot(&mut self, live: &PanePlans) -> Result<RecordBatch> {
        let states = self.end().await?;
        *self = Self::holding(live, states.clone())?;
        Ok(states)
    }

    async fn end(&mut self) -> Result<RecordBatch> {
        let batches = self.running.finish().await?;
        Ok(concat_batches(&self.schema, &batches)?)
    }
}

/// A window's `Partial` aggregate, whose output is the window's state rows as long as it emits
/// once, at the end of its input. What it emits before (when memory runs short), and the states
/// the pane started from, go through the `PartialReduce` form instead, which merges them with
/// the rest (and spills when it must).
async fn aggregate(
    mut partial: SendableRecordBatchStream,
    input_ended: Arc<AtomicBool>,
    earlier: Vec<RecordBatch>,
    merge: Merge,
) -> Result<Vec<RecordBatch>> {
    let mut merging = None;
    for states in earlier {
        merge.started(&mut merging)?.send(states).await?;
    }
    let mut out = Vec::new();
    while let Some(states) = partial.try_next().await? {
        if merging.is_none() && input_ended.load(Ordering::Acquire) {
            out.push(states);
        } else {
            merge.started(&mut merging)?.send(states).await?;
        }
    }
    let Some(mut merging) = merging else {
        return Ok(out);
    };
    for states in out {
        merging.send(states).await?;
    }
    merging.finish().await
}

/// Starts a window's `PartialReduce` aggregate.
struct Merge {
    reduce: Arc<dyn ExecutionPlan>,
    task: Arc<TaskContext>,
    memory: Arc<PaneMemory>,
}

impl Merge {
    /// The running merge in `merging`, started on first use.
    fn started<'a>(&self, merging: &'a mut Option<Running>) -> Result<&'a mut Running> {
        if merging.is_none() {
            *merging = Some(self.start()?);
        }
        Ok(merging.as_mut().expect("just started"))
    }

    fn start(&self) -> Result<Running> {
        let (sender, receiver) = mpsc::channel(QUEUED_BATCHES);
        let states = Arc::new(Receiving {
            schema: self.reduce.children()[0].schema(),
            receiver: Mutex::new(Some(receiver)),
            ended: None,
        });
        let input = Arc::new(StreamingTableExec::try_new(
            Arc::clone(states.schema()),
            vec![states as Arc<dyn PartitionStream>],
            None,
            Vec::new(),
            false,
            None,
        )?);
        let plan = Arc::clone(&self.reduce).replace_children(
            vec![input],
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )?;
        let stream = plan.execute(0, Arc::clone(&self.task))?;
        Ok(Running::new(
            sender,
            tokio::spawn(stream.try_collect()),
            &self.memory,
        ))
    }
}

/// A plan running as a task of its own, fed through a channel.
#[derive(Debug)]
struct Running {
    sender: Option<mpsc::Sender<Queued>>,
    task: Option<JoinHandle<Result<Vec<RecordBatch>>>>,
    memory: Arc<PaneMemory>,
}

impl Running {
    fn new(
        sender: mpsc::Sender<Queued>,
        task: JoinHandle<Result<Vec<RecordBatch>>>,
        memory: &Arc<PaneMemory>,
    ) -> Self {
        Self {
            sender: Some(sender),
            task: Some(task),
            memory: Arc::clone(memory),
        }
    }

    /// Sends `batch` to the plan; waits while it is behind.
    async fn send(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let queued = Queued::new(batch, &self.memory);
        let sender = self.sender.as_ref().expect("a running plan has its sender");
        if sender.send(queued).await.is_err() {
            // The plan ended before its input did: it failed, and says why.
            self.sender = None;
            self.join().await?;
            return Err(DataFusionError::Internal(
                "hazy stream: a window's aggregate ended before its input did".into(),
            ));
        }
        Ok(())
    }

    /// Ends the input; the plan's output.
    async fn finish(&mut self) -> Result<Vec<RecordBatch>> {
        self.sender = None;
        self.join().await
    }

    async fn join(&mut self) -> Result<Vec<RecordBatch>> {
        let handle = self.task.take().expect("a running plan is joined once");
        handle.await.map_err(|e| {
            DataFusionError::Execution(format!("hazy stream: a window's aggregate stopped: {e}"))
        })?
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(handle) = &self.task {
            handle.abort();
        }
    }
}

/// What starting a pane needs: the query's `Partial` plan (reading the events) and its
/// `PartialReduce` form, and a task context whose memory pool counts what the panes reserve.
#[derive(Debug)]
pub(super) struct PanePlans {
    partial: Arc<dyn ExecutionPlan>,
    events: Arc<Slot>,
    events_schema: SchemaRef,
    reduce: Arc<dyn ExecutionPlan>,
    task: Arc<TaskContext>,
    memory: Arc<PaneMemory>,
}

impl PanePlans {
    pub fn new(plans: &StreamPlans) -> Result<Self> {
        let session_task = &plans.task;
        // A session of `stream_session_with` counts in its pool already, also what Hazy's
        // aggregates hold there themselves; any other is counted from here on.
        let memory = match session_task.session_config().get_extension::<PaneMemory>() {
            Some(memory) => memory,
            None => PaneMemory::counting(Arc::clone(&session_task.runtime_env().memory_pool)),
        };
        let runtime = RuntimeEnvBuilder::from_runtime_env(&session_task.runtime_env())
            .with_memory_pool(Arc::clone(&memory) as Arc<dyn MemoryPool>)
            .build_arc()?;
        let mut config = session_task.session_config().clone();
        // A window's groups are few against its events, and its partial aggregate lives as
        // long as the window: it must never switch to passing each row on as a state of its
        // own, which DataFusion does when the first rows it probes are mostly new groups.
        config
            .options_mut()
            .execution
            .skip_partial_aggregation_probe_ratio_threshold = 1.0;
        // The plans hold their functions already, so the task needs no function registry.
        let task = TaskContext::default()
            .with_session_config(config)
            .with_runtime(runtime);
        Ok(Self {
            partial: Arc::clone(&plans.partial),
            events_schema: Arc::clone(plans.events.schema()),
            events: Arc::clone(&plans.events),
            reduce: Arc::clone(&plans.reduce),
            task: Arc::new(task),
            memory,
        })
    }

    /// A fresh copy of the partial plan, reading events sent through a channel where it read
    /// the events table; `ended` is set once the channel has ended.
    fn partial_reading(&self, ended: Arc<AtomicBool>) -> Result<PartialPlan> {
        let (sender, receiver) = mpsc::channel(QUEUED_BATCHES);
        let source: Arc<dyn PartitionStream> = Arc::new(Receiving {
            schema: Arc::clone(&self.events_schema),
            receiver: Mutex::new(Some(receiver)),
            ended: Some(ended),
        });
        let plan = reset_plan_states(Arc::clone(&self.partial))?;
        let replaced = plan.transform_up(|node| {
            let Some(scan) = self.events.scan_in(&node) else {
                return Ok(Transformed::no(node));
            };
            let projection = scan.projection().as_ref().map(|p| p.to_vec());
            let scan = StreamingTableExec::try_new(
                Arc::clone(scan.partition_schema()),
                vec![Arc::clone(&source)],
                projection.as_ref(),
                scan.projected_output_ordering(),
                scan.is_infinite(),
                scan.limit(),
            )?;
            Ok(Transformed::yes(Arc::new(scan) as Arc<dyn ExecutionPlan>))
        })?;
        if !replaced.transformed {
            return Err(DataFusionError::Internal(
                "hazy stream: the query's partial plan does not read the events table".into(),
            ));
        }
        Ok(PartialPlan {
            plan: replaced.data,
            sender,
        })
    }

    /// Bytes the open panes hold: their accumulators (with the sketches Hazy's aggregates hold
    /// in the pool themselves, in a session of `stream_session_with`) and the batches waiting
    /// for them.
    pub fn memory_bytes(&self) -> usize {
        self.memory.reserved.load(Ordering::Relaxed) + self.memory.queued.load(Ordering::Relaxed)
    }
}

/// A pane's partial plan, and the sender of its events.
struct PartialPlan {
    plan: Arc<dyn ExecutionPlan>,
    sender: mpsc::Sender<Queued>,
}

/// The session's memory pool, counting the reservations made through it (by the panes, and in
/// a session of `stream_session_with` also by Hazy's aggregates holding their own sketches),
/// and the bytes of batches sent to a pane and not yet taken by its aggregate.
#[derive(Debug)]
pub(crate) struct PaneMemory {
    pool: Arc<dyn MemoryPool>,
    reserved: AtomicUsize,
    queued: AtomicUsize,
}

impl PaneMemory {
    /// `pool`, counting what is reserved through it.
    pub(crate) fn counting(pool: Arc<dyn MemoryPool>) -> Arc<Self> {
        Arc::new(Self {
            pool,
            reserved: AtomicUsize::new(0),
            queued: AtomicUsize::new(0),
        })
    }
}

impl fmt::Display for PaneMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (open windows)", self.pool)
    }
}

impl MemoryPool for PaneMemory {
    fn name(&self) -> &str {
        self.pool.name()
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.pool.register(consumer)
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.pool.unregister(consumer)
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.pool.grow(reservation, additional);
        self.reserved.fetch_add(additional, Ordering::Relaxed);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.pool.shrink(reservation, shrink);
        self.reserved.fetch_sub(shrink, Ordering::Relaxed);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        self.pool.try_grow(reservation, additional)?;
        self.reserved.fetch_add(additional, Ordering::Relaxed);
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.pool.reserved()
    }

    fn memory_limit(&self) -> MemoryLimit {
        self.pool.memory_limit()
    }
}

/// A batch on its way to a pane's aggregate, counted in [`PaneMemory::queued`] until it
/// is taken or dropped (a failed or aborted aggregate drops what is left in its channel).
#[derive(Debug)]
struct Queued {
    batch: Option<RecordBatch>,
    bytes: usize,
    memory: Arc<PaneMemory>,
}

impl Queued {
    fn new(batch: RecordBatch, memory: &Arc<PaneMemory>) -> Self {
        let bytes = batch.get_array_memory_size();
        memory.queued.fetch_add(bytes, Ordering::Relaxed);
        Self {
            batch: Some(batch),
            bytes,
            memory: Arc::clone(memory),
        }
    }

    fn take(mut self) -> RecordBatch {
        self.batch.take().expect("a queued batch is taken once")
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.memory.queued.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// The source of a pane's aggregate: the batches sent to the pane, until it finishes.
#[derive(Debug)]
struct Receiving {
    schema: SchemaRef,
    receiver: Mutex<Option<mpsc::Receiver<Queued>>>,
    /// Set, if given, when the channel has ended (the sender is gone and every batch was
    /// taken).
    ended: Option<Arc<AtomicBool>>,
}

impl PartitionStream for Receiving {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let receiver = self.receiver.lock().expect("receiver lock").take();
        let ended = self.ended.clone();
        let batches = futures::stream::unfold(receiver, move |receiver| {
            let ended = ended.clone();
            async move {
                let mut receiver = receiver?;
                let queued = receiver.recv().await;
                if queued.is_none()
                    && let Some(ended) = ended
                {
                    ended.store(true, Ordering::Release);
                }
                Some((Ok(queued?.take()), Some(receiver)))
            }
        });
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            batches,
        ))
    }
}
