//! [`WindowedStream`]: push event batches in, get closed windows out.

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, RecordBatch};
use arrow::compute::{cast, concat_batches, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, TimestampNanosecondType};
use datafusion::common::{DataFusionError, Result};
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use super::input::rows_except;
use super::pane::{Pane, PanePlans};
use super::plan::{StreamPlans, check_time_column, plan, stream_session};
use super::window::WindowStarts;
use crate::sketch::Sketch;
use crate::sketch::bloom::BloomFilter;

/// Name of the column `first_seen` adds to the events table.
pub const FIRST_SEEN: &str = "first_seen";

/// How a stream query windows and watermarks its events.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamOptions {
    /// The event-time column (a TIMESTAMP column of the events schema).
    pub time_column: String,
    /// How far behind the latest event time an event may be and still count, in nanoseconds.
    /// The watermark is the maximum event time seen minus this.
    pub lateness_ns: i64,
    /// Each result covers this many consecutive windows of the query's `date_bin` (its panes),
    /// emitted every time a pane closes: 1 gives tumbling windows, 10 with 1-minute panes gives
    /// 10-minute windows sliding by one minute.
    pub panes: usize,
    /// Adds a Boolean column `first_seen` to the events table: true on the first event of each
    /// value of this column (in arrival order), tracked with a Bloom filter.
    pub first_seen: Option<FirstSeenOptions>,
}

impl StreamOptions {
    pub fn new(time_column: impl Into<String>) -> Self {
        Self {
            time_column: time_column.into(),
            lateness_ns: 0,
            panes: 1,
            first_seen: None,
        }
    }
}

/// The Bloom filter behind the `first_seen` column.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstSeenOptions {
    pub column: String,
    /// Distinct values the filter is sized for; beyond it the false-positive rate grows.
    pub expected_items: u64,
    /// False-positive rate at `expected_items`: the share of new values reported as seen.
    pub fpr: f64,
}

/// One result of the stream: the query's rows for a window that closed.
#[derive(Debug, Clone)]
pub struct ClosedWindow {
    /// Window start and end (exclusive), nanoseconds since the epoch. With several panes this
    /// is the whole sliding window.
    pub start: i64,
    pub end: i64,
    /// The query's output rows for the window.
    pub rows: RecordBatch,
    /// The sketch states of the pane that closed (one row per group), as the aggregate passed
    /// them on: [`ClosedWindow::stored_states`] gives the stored form.
    pub(crate) states: RecordBatch,
}

impl ClosedWindow {
    /// The sketch states of the pane that closed (one row per group) in their stored form, the
    /// rows of the rollup table: the same columns as the query's aggregate, holding states
    /// instead of values. Converted on demand, since most windows are only printed.
    pub fn stored_states(&self) -> Result<RecordBatch> {
        let columns = self
            .states
            .columns()
            .iter()
            .map(stored_states)
            .collect::<Result<_>>()?;
        Ok(RecordBatch::try_new(self.states.schema(), columns)?)
    }

    /// This window with its states in the stored form, for a caller that reads them more
    /// than once (a checkpoint, then a rollup).
    pub fn with_stored_states(mut self) -> Result<Self> {
        self.states = self.stored_states()?;
        Ok(self)
    }

    /// Whether the pane that closed held any group.
    pub fn has_states(&self) -> bool {
        self.states.num_rows() > 0
    }
}

/// Counters of a stream, kept across checkpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamStats {
    /// Events taken into a window.
    pub events: u64,
    /// Events whose window had already closed when they arrived (not added anywhere).
    pub late: u64,
    /// Late events by the start of the window they belonged to.
    pub late_by_window: BTreeMap<i64, u64>,
    /// Events without an event time (NULL in the time column).
    pub missing_time: u64,
    /// Results emitted.
    pub windows_closed: u64,
    /// Greatest event time seen (nanoseconds).
    pub max_event_time: Option<i64>,
}

/// A windowed aggregate query over an endless stream of events.
///
/// The query is ordinary SQL over a table `events` that aggregates with
/// `GROUP BY date_bin(INTERVAL '…', <time column>)` (and any other keys). Events are pushed as
/// Arrow batches; each window's sketch states are kept while the window is open, merged as
/// batches arrive, and the window's result comes out when the watermark (the greatest event
/// time seen minus the allowed lateness) passes the window's end, or when [`close_all`] is
/// called (idle input, end of input). Memory holds only the open windows' states.
///
/// It runs on a Tokio runtime (as DataFusion does): each open window's merge is a task of
/// that runtime, so it runs beside the decoding of the next events.
///
/// [`close_all`]: WindowedStream::close_all
pub struct WindowedStream {
    plans: StreamPlans,
    input_schema: SchemaRef,
    time_index: usize,
    options: StreamOptions,
    open: BTreeMap<i64, Pane>,
    /// What the open panes' aggregates are made from (see [`super::pane`]).
    live: PanePlans,
    /// Windows starting before this have closed; their events are late.
    closed_before: Option<i64>,
    sliding: Option<Sliding>,
    first_seen: Option<(usize, BloomFilter)>,
    stats: StreamStats,
    /// Late events kept for the caller (see [`keep_late_rows`](Self::keep_late_rows)).
    late_rows: Option<Vec<RecordBatch>>,
}

impl WindowedStream {
    /// Plans `sql` over events of `schema` in a session made by [`stream_session`].
    pub async fn new(sql: &str, schema: SchemaRef, options: StreamOptions) -> Result<Self> {
        Self::with_context(&stream_session(), sql, schema, options).await
    }

    /// As [`new`](Self::new), in a given session (for extra functions or tables). The session
    /// should have one target partition, as [`stream_session`] does.
    pub async fn with_context(
        ctx: &SessionContext,
        sql: &str,
        schema: SchemaRef,
        options: StreamOptions,
    ) -> Result<Self> {
        let time_index = check_time_column(&schema, &options.time_column)?;
        if options.lateness_ns < 0 {
            return Err(DataFusionError::Plan(
                "hazy stream: the lateness must not be negative".into(),
            ));
        }
        if options.panes == 0 || options.panes > 100_000 {
            return Err(DataFusionError::Plan(format!(
                "hazy stream: the number of panes per window must be in 1..=100000, got {}",
                options.panes
            )));
        }
        let (table_schema, first_seen) = match &options.first_seen {
            None => (Arc::clone(&schema), None),
            Some(f) => {
                let (column, _) = schema.column_with_name(&f.column).ok_or_else(|| {
                    DataFusionError::Plan(format!(
                        "hazy stream: first_seen column '{}' is not in the events schema",
                        f.column
                    ))
                })?;
                crate::udf::hashing::check_hashable(
                    "first_seen",
                    schema.field(column).data_type(),
                )?;
                let mut bloom = BloomFilter::with_capacity(f.expected_items, f.fpr)
                    .map_err(|e| DataFusionError::Plan(format!("hazy stream: first_seen: {e}")))?;
                bloom.densify();
                let mut fields = schema.fields().to_vec();
                fields.push(Arc::new(Field::new(FIRST_SEEN, DataType::Boolean, true)));
                (Arc::new(Schema::new(fields)), Some((column, bloom)))
            }
        };
        let plans = plan(ctx, sql, table_schema, &options.time_column).await?;
        let sliding = (options.panes > 1).then(|| Sliding::new(options.panes));
        let live = PanePlans::new(&plans)?;
        Ok(Self {
            plans,
            live,
            input_schema: schema,
            time_index,
            options,
            open: BTreeMap::new(),
            closed_before: None,
            sliding,
            first_seen,
            stats: StreamStats::default(),
            late_rows: None,
        })
    }

    /// Keeps late events (the rows themselves) for [`take_late_rows`](Self::take_late_rows),
    /// so a caller can store them rather than only count them.
    pub fn keep_late_rows(&mut self, keep: bool) {
        self.late_rows = keep.then(Vec::new);
    }

    /// Columns of the events schema (one bit each) that nothing reads: not the query, the time
    /// column, the first-seen column or kept late rows. A decoder may leave them NULL
    /// ([`RecordSource::skip_columns`](super::source::RecordSource::skip_columns)).
    pub fn unread_columns(&self) -> u64 {
        if self.late_rows.is_some() {
            return 0;
        }
        let Some(read) = self.plans.events_read() else {
            return 0;
        };
        let mut unread =
            (0..self.input_schema.fields().len().min(64)).fold(0u64, |mask, i| mask | 1 << i);
        let first_seen = self.first_seen.as_ref().map(|(column, _)| *column);
        for i in read.into_iter().chain([self.time_index]).chain(first_seen) {
            unread &= !1u64.checked_shl(i as u32).unwrap_or(0);
        }
        unread
    }

    /// The late events kept since the last call.
    pub fn take_late_rows(&mut self) -> Vec<RecordBatch> {
        self.late_rows
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// The schema pushed batches must have.
    pub fn input_schema(&self) -> &SchemaRef {
        &self.input_schema
    }

    /// The schema of [`ClosedWindow::rows`].
    pub fn output_schema(&self) -> SchemaRef {
        self.plans.output_schema()
    }

    /// The schema of [`ClosedWindow::stored_states`] (the rollup table).
    pub fn state_schema(&self) -> SchemaRef {
        let raw = self.plans.state_schema();
        let fields: Vec<Field> = raw
            .fields()
            .iter()
            .zip(&self.plans.state_names)
            .map(|(f, name)| f.as_ref().clone().with_name(name.clone()))
            .collect();
        Arc::new(Schema::new(fields))
    }

    pub fn stats(&self) -> &StreamStats {
        &self.stats
    }

    /// Window length in nanoseconds (one pane).
    pub fn window_length(&self) -> i64 {
        self.plans.window.stride
    }

    /// The current watermark: greatest event time minus the lateness.
    pub fn watermark(&self) -> Option<i64> {
        self.stats
            .max_event_time
            .map(|t| t.saturating_sub(self.options.lateness_ns))
    }

    /// Start times of the open windows.
    pub fn open_windows(&self) -> Vec<i64> {
        self.open.keys().copied().collect()
    }

    /// Bytes held by open window states (and sliding panes and the first-seen filter).
    pub fn memory_bytes(&self) -> usize {
        let panes = self.live.memory_bytes();
        let sliding = self.sliding.as_ref().map_or(0, Sliding::memory_bytes);
        let bloom = self.first_seen.as_ref().map_or(0, |(_, b)| b.heap_size());
        panes + sliding + bloom
    }

    /// Adds events; returns the windows the advancing watermark closed, oldest first.
    pub async fn push(&mut self, batch: RecordBatch) -> Result<Vec<ClosedWindow>> {
        self.check_batch(&batch)?;
        let (kept, starts) = self.take_on_time(&batch)?;
        if kept.num_rows() > 0 {
            let kept = self.add_first_seen(kept)?;
            self.add_events(kept, starts).await?;
        }
        self.close_until(self.closed_before).await
    }

    /// Closes every open window now (idle input, end of input, shutdown): their results come
    /// out, and events for them that arrive later are late.
    pub async fn close_all(&mut self) -> Result<Vec<ClosedWindow>> {
        let Some(max) = self.stats.max_event_time else {
            return Ok(Vec::new());
        };
        let w = self.plans.window;
        let bound = w.end_of(w.start_of(max));
        self.closed_before = Some(self.closed_before.map_or(bound, |c| c.max(bound)));
        self.close_until(self.closed_before).await
    }

    /// The end of the input: closes every open window, and with sliding windows also emits
    /// the trailing windows that still hold the last panes (as if empty panes followed).
    pub async fn finish(&mut self) -> Result<Vec<ClosedWindow>> {
        let mut out = self.close_all().await?;
        if self.sliding.is_some()
            && let Some(closed) = self.closed_before
        {
            let trailing = (self.options.panes as i64 - 1).saturating_mul(self.plans.window.stride);
            let bound = closed.saturating_add(trailing);
            self.closed_before = Some(bound);
            out.extend(self.close_until(Some(bound)).await?);
        }
        Ok(out)
    }

    fn check_batch(&self, batch: &RecordBatch) -> Result<()> {
        let want = self.input_schema.fields();
        let got = batch.schema();
        let same = got.fields().len() == want.len()
            && got
                .fields()
                .iter()
                .zip(want)
                .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
        if same {
            Ok(())
        } else {
            Err(DataFusionError::Execution(format!(
                "hazy stream: a pushed batch has schema {got:?}, expected {:?}",
                self.input_schema
            )))
        }
    }

    /// The rows whose window is still open, in event order, and the start of each one's window;
    /// advancing the watermark event by event (so which events are late does not depend on how
    /// the input is cut into batches).
    fn take_on_time(&mut self, batch: &RecordBatch) -> Result<(RecordBatch, Vec<i64>)> {
        let times = event_times(batch.column(self.time_index))?;
        let w = self.plans.window;
        let mut window_starts = WindowStarts::new(w);
        let lateness = self.options.lateness_ns;
        let mut starts = Vec::with_capacity(times.len());
        let mut late_rows = Vec::new();
        // Rows left out (no time, or late): usually none, so no mask is built per row.
        let mut dropped_rows = Vec::new();
        let mut closed_before = self.closed_before;
        let mut max = self.stats.max_event_time;
        let nulls = times.nulls().filter(|n| n.null_count() > 0);
        for (row, &t) in times.values().iter().enumerate() {
            if nulls.is_some_and(|n| n.is_null(row)) {
                self.stats.missing_time += 1;
                dropped_rows.push(row);
                continue;
            }
            let start = window_starts.start_of(t);
            if closed_before.is_some_and(|c| start < c) {
                self.stats.late += 1;
                *self.stats.late_by_window.entry(start).or_default() += 1;
                late_rows.push(row as u32);
                dropped_rows.push(row);
                continue;
            }
            starts.push(start);
            if max.is_none_or(|m| t > m) {
                max = Some(t);
                let closing = w.start_of(t.saturating_sub(lateness));
                closed_before = Some(closed_before.map_or(closing, |c| c.max(closing)));
            }
        }
        self.stats.max_event_time = max;
        self.closed_before = closed_before;
        self.stats.events += (times.len() - dropped_rows.len()) as u64;
        if let Some(kept) = &mut self.late_rows
            && !late_rows.is_empty()
        {
            let indices = arrow::array::UInt32Array::from(late_rows);
            kept.push(arrow::compute::take_record_batch(batch, &indices)?);
        }
        let kept = match dropped_rows.is_empty() {
            true => batch.clone(),
            false => {
                let keep = BooleanArray::new(rows_except(times.len(), &dropped_rows), None);
                filter_record_batch(batch, &keep)?
            }
        };
        Ok((kept, starts))
    }

    fn add_first_seen(&mut self, batch: RecordBatch) -> Result<RecordBatch> {
        let Some((column, bloom)) = &mut self.first_seen else {
            return Ok(batch);
        };
        let values = batch.column(*column);
        let mut first = vec![None; batch.num_rows()];
        crate::udf::hashing::for_each_hash(values.as_ref(), |row, hash| {
            first[row] = Some(bloom.insert_hash_if_new(hash));
        })?;
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(BooleanArray::from(first)) as ArrayRef);
        Ok(RecordBatch::try_new(self.plans.events_schema(), columns)?)
    }

    /// Hands events to the aggregates of their windows (`starts`: each row's window).
    async fn add_events(&mut self, batch: RecordBatch, starts: Vec<i64>) -> Result<()> {
        let first = starts.first().copied();
        let parts: Vec<(i64, RecordBatch)> = if starts.iter().all(|s| Some(*s) == first) {
            first.map(|s| (s, batch)).into_iter().collect()
        } else {
            let mut distinct = starts.clone();
            distinct.sort_unstable();
            distinct.dedup();
            let mut parts = Vec::with_capacity(distinct.len());
            for s in distinct {
                let mask: BooleanArray = starts.iter().map(|v| Some(*v == s)).collect();
                parts.push((s, filter_record_batch(&batch, &mask)?));
            }
            parts
        };
        for (start, part) in parts {
            let pane = match self.open.entry(start) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(Pane::start(&self.live)?),
            };
            pane.add(part).await?;
        }
        Ok(())
    }

    /// Closes, in order, the windows starting before `bound`.
    async fn close_until(&mut self, bound: Option<i64>) -> Result<Vec<ClosedWindow>> {
        let Some(bound) = bound else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        if self.sliding.is_some() {
            self.close_panes_until(bound, &mut out).await?;
        } else {
            while let Some((&start, _)) = self.open.first_key_value() {
                if start >= bound {
                    break;
                }
                let pane = self.open.remove(&start).expect("first pane");
                let states = pane.finish().await?;
                let rows = self.plans.finish_states(states.clone()).await?;
                out.push(self.closed(start, self.plans.window.end_of(start), rows, states)?);
            }
        }
        Ok(out)
    }

    /// Sliding windows: every pane closes in turn, with or without events, and each close
    /// emits the merge of the last `panes` panes.
    async fn close_panes_until(&mut self, bound: i64, out: &mut Vec<ClosedWindow>) -> Result<()> {
        let w = self.plans.window;
        loop {
            let sliding = self.sliding.as_mut().expect("sliding");
            let first_open = self.open.keys().next().copied();
            // An empty window skips ahead to the next pane with events.
            let next = if sliding.is_empty() {
                first_open
            } else {
                sliding.next_pane
            };
            let Some(next) = next else {
                return Ok(());
            };
            if next >= bound {
                return Ok(());
            }
            let states = match self.open.remove(&next) {
                Some(pane) => pane.finish().await?,
                None => RecordBatch::new_empty(self.plans.state_schema()),
            };
            let had_events = states.num_rows() > 0;
            let normalized = self.plans.with_window(&states, 0)?;
            let plans = &self.plans;
            let sliding = self.sliding.as_mut().expect("sliding");
            sliding.push(normalized, had_events, plans).await?;
            sliding.next_pane = Some(w.end_of(next));
            if sliding.is_empty() {
                sliding.next_pane = None;
            }
            if let Some(merged) = sliding.query(plans).await? {
                let start =
                    next.saturating_sub((self.options.panes as i64 - 1).saturating_mul(w.stride));
                let merged = self.plans.with_window(&merged, start)?;
                let rows = self.plans.finish_states(merged).await?;
                out.push(self.closed(start, w.end_of(next), rows, states)?);
            }
        }
    }

    fn closed(
        &mut self,
        start: i64,
        end: i64,
        rows: RecordBatch,
        states: RecordBatch,
    ) -> Result<ClosedWindow> {
        self.stats.windows_closed += 1;
        // The rollup table's names for the aggregate's state columns.
        let states = RecordBatch::try_new(self.state_schema(), states.columns().to_vec())?;
        Ok(ClosedWindow {
            start,
            end,
            rows,
            states,
        })
    }
}

/// A column of partial states in the stored form users keep (rollups are merged later with
/// the `_merge` functions); other columns as they are.
fn stored_states(column: &ArrayRef) -> Result<ArrayRef> {
    let DataType::LargeBinary = column.data_type() else {
        return Ok(Arc::clone(column));
    };
    let binary = column.as_binary::<i64>();
    if !binary
        .iter()
        .flatten()
        .any(crate::sketch::envelope::is_transit)
    {
        return Ok(Arc::clone(column));
    }
    let mut out = arrow::array::LargeBinaryBuilder::with_capacity(binary.len(), 0);
    for value in binary.iter() {
        match value {
            Some(bytes) => out.append_value(crate::sketch::to_stored(bytes).map_err(|e| {
                datafusion::common::DataFusionError::Execution(format!("hazy stream: {e}"))
            })?),
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

/// Event times of a timestamp column as nanoseconds.
fn event_times(column: &ArrayRef) -> Result<arrow::array::PrimitiveArray<TimestampNanosecondType>> {
    let ns = cast(column, &DataType::Timestamp(TimeUnit::Nanosecond, None))?;
    Ok(ns.as_primitive::<TimestampNanosecondType>().clone())
}

impl StreamPlans {
    fn events_schema(&self) -> SchemaRef {
        Arc::clone(
            datafusion::physical_plan::streaming::PartitionStream::schema(self.events.as_ref()),
        )
    }

    /// Merges state batches of one window into one batch (rows: one per group).
    async fn merge_states(&self, batches: Vec<RecordBatch>) -> Result<RecordBatch> {
        let schema = self.state_schema();
        let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
        if batches.len() <= 1 {
            return Ok(batches
                .into_iter()
                .next()
                .unwrap_or_else(|| RecordBatch::new_empty(schema)));
        }
        let merged = self.states.run(&self.reduce, batches, &self.task).await?;
        Ok(concat_batches(&schema, &merged)?)
    }

    /// The query's result rows for one window's merged states.
    async fn finish_states(&self, states: RecordBatch) -> Result<RecordBatch> {
        let schema = self.output_schema();
        if states.num_rows() == 0 {
            return Ok(RecordBatch::new_empty(schema));
        }
        let rows = self
            .states
            .run(&self.finish, vec![states], &self.task)
            .await?;
        Ok(concat_batches(&schema, &rows)?)
    }

    /// `states` with the window column set to `start` on every row.
    fn with_window(&self, states: &RecordBatch, start: i64) -> Result<RecordBatch> {
        let i = self.window_column;
        let target = states.schema().field(i).data_type().clone();
        let ns = Int64Array::from(vec![start; states.num_rows()]);
        let ts = cast(&ns, &DataType::Timestamp(TimeUnit::Nanosecond, None))?;
        let mut columns = states.columns().to_vec();
        columns[i] = cast(&ts, &target)?;
        Ok(RecordBatch::try_new(states.schema(), columns)?)
    }
}

/// Panes of a sliding window, merged with two stacks so each step costs a constant number of
/// merges whatever the window length: new panes go on the back (with a running merge), and
/// when the oldest pane must leave, the back is turned into suffix merges on the front.
#[derive(Debug)]
struct Sliding {
    panes: usize,
    /// Suffix merges: `front[i]` merges the panes from front pane i to the newest front pane;
    /// the last element holds the oldest pane.
    front: Vec<RecordBatch>,
    back: Vec<RecordBatch>,
    back_merged: Option<RecordBatch>,
    /// Whether each pane in the window had events, oldest first.
    had_events: VecDeque<bool>,
    /// Start of the next pane to close.
    next_pane: Option<i64>,
}

impl Sliding {
    fn new(panes: usize) -> Self {
        Self {
            panes,
            front: Vec::new(),
            back: Vec::new(),
            back_merged: None,
            had_events: VecDeque::new(),
            next_pane: None,
        }
    }

    /// No pane of the current window had events.
    fn is_empty(&self) -> bool {
        !self.had_events.iter().any(|e| *e)
    }

    fn memory_bytes(&self) -> usize {
        self.front
            .iter()
            .chain(&self.back)
            .chain(&self.back_merged)
            .map(RecordBatch::get_array_memory_size)
            .sum()
    }

    async fn push(
        &mut self,
        pane: RecordBatch,
        had_events: bool,
        plans: &StreamPlans,
    ) -> Result<()> {
        self.back_merged = Some(match self.back_merged.take() {
            None => pane.clone(),
            Some(m) => plans.merge_states(vec![m, pane.clone()]).await?,
        });
        self.back.push(pane);
        self.had_events.push_back(had_events);
        if self.had_events.len() > self.panes {
            self.pop_oldest(plans).await?;
        }
        if self.is_empty() {
            self.front.clear();
            self.back.clear();
            self.back_merged = None;
            self.had_events.clear();
        }
        Ok(())
    }

    async fn pop_oldest(&mut self, plans: &StreamPlans) -> Result<()> {
        if self.front.is_empty() {
            let mut suffix: Option<RecordBatch> = None;
            for pane in self.back.drain(..).rev() {
                let merged = match suffix {
                    None => pane,
                    Some(s) => plans.merge_states(vec![s, pane]).await?,
                };
                self.front.push(merged.clone());
                suffix = Some(merged);
            }
            self.back_merged = None;
        }
        self.front.pop();
        self.had_events.pop_front();
        Ok(())
    }

    /// The merge of every pane in the window, or None when none had events.
    async fn query(&self, plans: &StreamPlans) -> Result<Option<RecordBatch>> {
        if self.is_empty() {
            return Ok(None);
        }
        let parts: Vec<RecordBatch> = self
            .front
            .last()
            .into_iter()
            .chain(&self.back_merged)
            .cloned()
            .collect();
        Ok(Some(plans.merge_states(parts).await?))
    }
}

/// Pieces of the stream's state, for checkpoints (see checkpoint.rs).
type SlidingParts = (Vec<RecordBatch>, Vec<RecordBatch>, Vec<bool>, Option<i64>);

impl WindowedStream {
    /// Merges each open pane into one batch; returns the panes' starts and batches.
    pub(super) async fn open_pane_states(&mut self) -> Result<(Vec<i64>, Vec<RecordBatch>)> {
        let mut starts = Vec::with_capacity(self.open.len());
        let mut batches = Vec::with_capacity(self.open.len());
        for (start, pane) in self.open.iter_mut() {
            let merged = pane.snapshot(&self.live).await?;
            starts.push(*start);
            batches.push(merged);
        }
        Ok((starts, batches))
    }

    pub(super) fn sliding_parts(&self) -> Option<SlidingParts> {
        self.sliding.as_ref().map(|s| {
            (
                s.front.clone(),
                s.back.clone(),
                s.had_events.iter().copied().collect(),
                s.next_pane,
            )
        })
    }

    pub(super) fn closed_before_bound(&self) -> Option<i64> {
        self.closed_before
    }

    pub(super) fn first_seen_filter(&self) -> Option<&BloomFilter> {
        self.first_seen.as_ref().map(|(_, b)| b)
    }

    pub(super) fn raw_state_schema(&self) -> SchemaRef {
        self.plans.state_schema()
    }

    /// Identifies the query, schema and options a checkpoint belongs to.
    pub(super) fn fingerprint(&self) -> u64 {
        let text = format!(
            "{:?}|{:?}|{:?}|{:?}",
            self.plans.sql,
            self.input_schema,
            self.options,
            self.plans.state_schema()
        );
        xxhash_rust::xxh3::xxh3_64(text.as_bytes())
    }

    pub(super) async fn restore_parts(
        &mut self,
        stats: StreamStats,
        closed_before: Option<i64>,
        open: Vec<(i64, RecordBatch)>,
        sliding: Option<SlidingParts>,
        first_seen: Option<BloomFilter>,
    ) -> Result<()> {
        if sliding.is_some() != self.sliding.is_some()
            || first_seen.is_some() != self.first_seen.is_some()
        {
            return Err(DataFusionError::Execution(
                "hazy stream: checkpoint: the saved options differ from this stream's".into(),
            ));
        }
        self.stats = stats;
        self.closed_before = closed_before;
        self.open = BTreeMap::new();
        for (start, states) in open {
            self.open.insert(start, Pane::holding(&self.live, states)?);
        }
        if let (Some(s), Some((front, back, had_events, next_pane))) =
            (self.sliding.as_mut(), sliding)
        {
            s.back_merged = match back.len() {
                0 => None,
                _ => Some(self.plans.merge_states(back.clone()).await?),
            };
            s.front = front;
            s.back = back;
            s.had_events = had_events.into();
            s.next_pane = next_pane;
        }
        if let (Some((_, b)), Some(restored)) = (self.first_seen.as_mut(), first_seen) {
            *b = restored;
        }
        Ok(())
    }
}
