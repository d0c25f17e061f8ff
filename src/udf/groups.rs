//! The accumulators of every sketch aggregate: the native `GroupsAccumulator` (one optional
//! sketch per group, O(1) `size()` from heap deltas, exact `EmitTo::First`, states as
//! `LargeBinary`) and the single-group accumulator (no GROUP BY, cumulative window frames).
//! Everything about groups lives here once; what a family does is in its [`Glue`].

use super::args::{Keep, for_each_state};
use super::family::{Form, Glue, HashRun, StateSketch, states_array};
use super::hashing::for_each_hash_chunk_marked;
use super::memory::{Budget, Held, LARGE_SKETCH, PoolHandle, Reserve, hold};
use crate::sketch::hash::CHUNK;
use arrow::array::{Array, ArrayRef, BooleanArray, LargeBinaryBuilder};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{Accumulator, EmitTo, GroupsAccumulator};
use std::mem::size_of;
use std::ops::Range;
use std::sync::Arc;

/// How many rows ahead [`prefetch_ahead`] looks.
const PREFETCH_ROWS: usize = 8;

/// Asks the processor for the slot of the group `PREFETCH_ROWS` rows ahead. With many groups
/// (a million entities) nearly every row's slot is a cache miss, and each row's work depends
/// on its slot, so the misses come one after another; fetching ahead overlaps them. A hint
/// only: it changes no value, and does nothing off x86-64.
#[inline(always)]
pub(crate) fn prefetch_ahead<T>(slots: &[T], groups: &[usize], row: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(slot) = groups.get(row + PREFETCH_ROWS).and_then(|&g| slots.get(g)) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let start = (slot as *const T).cast::<i8>();
        // A slot may straddle cache lines (a MinHash slot spans three).
        for line in (0..size_of::<T>()).step_by(64) {
            // SAFETY: SSE is part of x86-64, and a prefetch never faults; the address is
            // inside `slot`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(line)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (slots, groups, row);
}

/// The group of a batch whose rows all belong to one group; `None` for several (or none).
pub fn one_group(groups: &[usize]) -> Option<usize> {
    let &group = groups.first()?;
    // A reduction without an early exit, so the check runs vector-wide over one group's
    // batches (where it must read every row anyway).
    groups
        .iter()
        .fold(true, |same, &g| same & (g == group))
        .then_some(group)
}

/// Merges the kept state rows of `states` into their groups; returns the change in heap bytes.
fn merge_states<S: StateSketch>(
    glue: &Glue<S>,
    sketches: &mut [Option<S>],
    states: &dyn Array,
    groups: &[usize],
    keep: Keep<'_>,
) -> Result<isize> {
    let mut delta = 0isize;
    for_each_state(glue.function, states, |row, bytes| {
        if keep.row(row) {
            prefetch_ahead(sketches, groups, row);
            delta += glue.merge_state(&mut sketches[groups[row]], bytes)?;
        }
        Ok(())
    })?;
    Ok(delta)
}

/// Adds input rows, values or states as the aggregate reads them; returns the change in heap
/// bytes.
pub fn update_any<S: StateSketch>(
    glue: &Glue<S>,
    sketches: &mut [Option<S>],
    values: &[ArrayRef],
    groups: &[usize],
    keep: Keep<'_>,
) -> Result<isize> {
    if glue.reads_states() {
        merge_states(glue, sketches, values[0].as_ref(), groups, keep)
    } else {
        glue.update(sketches, values, groups, keep)
    }
}

/// The sketch of each row of a batch on its own (values or states), for the sliding
/// accumulators.
pub fn per_row<S: StateSketch>(glue: &Glue<S>, values: &[ArrayRef]) -> Result<Vec<Option<S>>> {
    let rows = values.first().map_or(0, |v| v.len());
    let mut out: Vec<Option<S>> = vec![None; rows];
    let groups: Vec<usize> = (0..rows).collect();
    update_any(glue, &mut out, values, &groups, Keep::All)?;
    Ok(out)
}

/// Rows gathered at most before [`Gathered`] adds them to their sketches.
const GATHER_ROWS: usize = 1 << 16;

/// How many groups an aggregate has when its rows are gathered. Below, the groups' sketches
/// stay in cache; above, a flush holds too few rows of each group to save anything.
const GATHER_GROUPS: std::ops::RangeInclusive<usize> = 1024..=GATHER_ROWS / 4;

/// Rows of a grouped update gathered by group before they reach the sketches.
///
/// With thousands of groups and micro-batches of a few thousand rows (Nexmark q16: 10,004
/// channels a window, about 3,900 events a micro-batch), nearly every row of a batch goes to a
/// group whose sketch is out of cache, so adding rows in their order costs a cache miss or two
/// a row: the largest single cost of q16's sketch variant. Instead each kept row's group and
/// hash are appended here, in order, and every [`GATHER_ROWS`] rows they are sorted by group
/// (a counting sort, which keeps their order within a group) and added a run per group, so the
/// misses come once per group and flush. Only for families whose rows are their hashes
/// ([`StateSketch::HASH_RUN`]), where adding a run equals adding its rows one by one.
#[derive(Debug, Default)]
struct Gathered {
    /// Rows gathered: the first `len` of `groups` and `keys`.
    len: usize,
    groups: Vec<u32>,
    /// Each row's key ([`crate::udf::family::HashRun`]).
    keys: Vec<u32>,
    /// Scratch of a flush: each group's next position in `sorted`.
    cursors: Vec<u32>,
    /// The keys in group order, during a flush.
    sorted: Vec<u32>,
}

impl Gathered {
    /// How rows are gathered, when they are.
    fn applies<S: StateSketch>(glue: &Glue<S>, total_num_groups: usize) -> Option<HashRun<S>> {
        S::HASH_RUN.filter(|_| glue.gathers() && GATHER_GROUPS.contains(&total_num_groups))
    }

    /// Whether `rows` more rows fit without growing the buffers past [`GATHER_ROWS`] (a batch
    /// larger than that fits when the buffers are empty).
    fn has_room(&self, rows: usize) -> bool {
        self.len == 0 || self.len + rows <= GATHER_ROWS
    }

    fn push(
        &mut self,
        key_of: fn(&[u64], &mut [u32]),
        values: &dyn Array,
        groups: &[usize],
        keep: Keep<'_>,
    ) -> Result<()> {
        let room = GATHER_ROWS.max(self.len + values.len());
        if self.groups.len() < room {
            self.groups.resize(room, 0);
            self.keys.resize(room, 0);
        }
        let (gathered, keys, mut n) = (&mut self.groups, &mut self.keys, self.len);
        let mut kept_hashes = [0u64; CHUNK];
        for_each_hash_chunk_marked(values, keep, |base, chunk, kept| {
            let rows = &groups[base..base + chunk.len()];
            let out = n..n + chunk.len();
            let (gathered, keys) = (&mut gathered[out.clone()], &mut keys[out]);
            // GATHER_GROUPS keeps group indices within u32.
            let Some(kept) = kept else {
                gathered
                    .iter_mut()
                    .zip(rows)
                    .for_each(|(g, &r)| *g = r as u32);
                key_of(chunk, keys);
                n += chunk.len();
                return;
            };
            // Kept rows by their set bits: a FILTER keeps a part of the rows, and the others
            // then cost nothing. The keys are made of the kept hashes alone.
            let mut w = 0;
            for (i, row) in kept.set_indices().enumerate() {
                gathered[i] = rows[row] as u32;
                kept_hashes[i] = chunk[row];
                w = i + 1;
            }
            key_of(&kept_hashes[..w], &mut keys[..w]);
            n += w;
        })?;
        self.len = n;
        Ok(())
    }

    /// Adds the gathered rows to their groups' sketches; returns the change in heap bytes.
    fn flush<S: StateSketch>(
        &mut self,
        glue: &Glue<S>,
        sketches: &mut [Option<S>],
    ) -> Result<isize> {
        let (groups, keys) = (&self.groups[..self.len], &self.keys[..self.len]);
        if groups.is_empty() {
            return Ok(0);
        }
        let cursors = &mut self.cursors;
        cursors.clear();
        cursors.resize(sketches.len(), 0);
        groups.iter().for_each(|&g| cursors[g as usize] += 1);
        let mut start = 0;
        for c in cursors.iter_mut() {
            (start, *c) = (start + *c, start);
        }
        self.sorted.resize(keys.len(), 0);
        for (&g, &key) in groups.iter().zip(keys) {
            let at = &mut cursors[g as usize];
            self.sorted[*at as usize] = key;
            *at += 1;
        }
        // Each cursor now ends its group's run, which starts where the previous one ended.
        let mut begin = 0usize;
        let runs = cursors.iter().enumerate().filter_map(|(group, &end)| {
            let run = (group, &self.sorted[begin..end as usize]);
            begin = end as usize;
            (!run.1.is_empty()).then_some(run)
        });
        let delta = glue.add_key_runs(sketches, runs)?;
        self.len = 0;
        // Only needed during a flush: released, so an aggregate at rest holds the buffers alone.
        self.sorted = Vec::new();
        Ok(delta)
    }

    fn size(&self) -> usize {
        (self.groups.capacity()
            + self.keys.capacity()
            + self.cursors.capacity()
            + self.sorted.capacity())
            * size_of::<u32>()
    }
}

/// The generic per-group accumulator.
#[derive(Debug)]
pub struct SketchGroups<S: StateSketch> {
    glue: Glue<S>,
    sketches: Vec<Option<S>>,
    /// Heap bytes of all sketches, kept current so `size()` is O(1).
    heap: usize,
    /// Rows not yet in `sketches` (wide GROUP BYs of hash-fed families).
    gathered: Gathered,
    /// Where a batch's growth is reserved as it is made (no budget: a batch in one piece),
    /// and where sketches of [`LARGE_SKETCH`] bytes or more are held once a batch has made
    /// one (`holding`); their heap then leaves `size()`.
    reserve: Reserve,
    holding: bool,
}

impl<S: StateSketch> SketchGroups<S> {
    pub fn new(glue: Glue<S>) -> Self {
        Self {
            glue,
            sketches: Vec::new(),
            heap: 0,
            gathered: Gathered::default(),
            reserve: Reserve::default(),
            holding: false,
        }
    }

    /// Reserves each batch's growth in `pool` as it is made (see [`Budget`]), and holds large
    /// sketches there (see [`LARGE_SKETCH`]).
    pub fn with_pool(mut self, pool: &PoolHandle) -> Self {
        self.reserve = Reserve::new(pool, self.glue.function);
        self
    }

    /// Holds the sketches in the pool from the first batch that grew them by
    /// [`LARGE_SKETCH`] a row, and from then on keeps what is held equal to their heap.
    fn settle(&mut self) -> Result<()> {
        let large = |b: &Budget| b.largest_growth_per_row() >= LARGE_SKETCH;
        self.holding |= self.reserve.budget.as_ref().is_some_and(large);
        match self.holding {
            true => self.reserve.hold(self.heap),
            false => Ok(()),
        }
    }

    /// Runs `step` (which returns its growth in heap bytes) over a batch of `rows` rows: in
    /// pieces under a budget, else at once.
    fn take_batch(
        &mut self,
        rows: usize,
        mut step: impl FnMut(&Glue<S>, &mut [Option<S>], Range<usize>) -> Result<isize>,
    ) -> Result<()> {
        let (glue, sketches) = (&self.glue, &mut self.sketches);
        let delta = match &mut self.reserve.budget {
            None => step(glue, sketches, 0..rows)?,
            Some(budget) => budget.run(rows, |piece| step(glue, sketches, piece))?,
        };
        self.add_heap(delta);
        self.settle()
    }

    fn add_heap(&mut self, delta: isize) {
        self.heap = self.heap.saturating_add_signed(delta);
    }

    fn flush_gathered(&mut self) -> Result<()> {
        let delta = self.gathered.flush(&self.glue, &mut self.sketches)?;
        self.add_heap(delta);
        self.settle()
    }

    fn take(&mut self, emit_to: EmitTo) -> Result<Vec<Option<S>>> {
        self.flush_gathered()?;
        let taken = emit_to.take_needed(&mut self.sketches);
        let freed: usize = taken.iter().flatten().map(S::heap_size).sum();
        self.heap = self.heap.saturating_sub(freed);
        self.settle()?;
        Ok(taken)
    }

    #[cfg(test)]
    pub fn heap_is_exact(&self) -> bool {
        self.heap
            == self
                .sketches
                .iter()
                .flatten()
                .map(S::heap_size)
                .sum::<usize>()
    }

    #[cfg(test)]
    pub fn groups(&self) -> usize {
        self.sketches.len()
    }
}

impl<S: StateSketch> GroupsAccumulator for SketchGroups<S> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.sketches.resize_with(total_num_groups, || None);
        let keep = Keep::from_filter(opt_filter);
        if let Some(run) = Gathered::applies(&self.glue, total_num_groups) {
            if !self.gathered.has_room(group_indices.len()) {
                self.flush_gathered()?;
            }
            return self
                .gathered
                .push(run.keys, values[0].as_ref(), group_indices, keep);
        }
        // Under a budget, a batch of several groups (or of states) comes in pieces; one
        // group's batch grows one sketch, and is taken whole, by the family's batch insert.
        let in_pieces = self.reserve.budget.is_some()
            && (self.glue.reads_states() || one_group(group_indices).is_none());
        if in_pieces {
            return self.take_batch(group_indices.len(), |glue, sketches, rows| {
                let (values, filter) = (slice_all(values, &rows), slice_filter(opt_filter, &rows));
                let keep = Keep::from_filter(filter.as_ref());
                let groups = &group_indices[rows];
                match glue.reads_states() {
                    true => merge_states(glue, sketches, values[0].as_ref(), groups, keep),
                    // Row by row, as the whole batch of several groups would be.
                    false => glue.update_row_by_row(sketches, &glue.rows(&values, keep), groups),
                }
            });
        }
        let delta = update_any(&self.glue, &mut self.sketches, values, group_indices, keep)?;
        self.add_heap(delta);
        self.settle()
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let taken = self.take(emit_to)?;
        self.glue.evaluate(taken)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let taken = self.take(emit_to)?;
        Ok(vec![states_array(&self.glue, taken, Form::Transit)])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.sketches.resize_with(total_num_groups, || None);
        let states = values[0].as_ref();
        self.take_batch(group_indices.len(), |glue, sketches, rows| {
            let piece = states.slice(rows.start, rows.len());
            merge_states(
                glue,
                sketches,
                piece.as_ref(),
                &group_indices[rows],
                Keep::All,
            )
        })
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let keep = Keep::from_filter(opt_filter);
        let states = if self.glue.reads_states() {
            pass_states_through(self.glue.function, values[0].as_ref(), keep)?
        } else {
            self.glue.convert_to_state(values, keep)?
        };
        Ok(vec![states])
    }

    /// What is not held in the pool already (see [`LARGE_SKETCH`]).
    fn size(&self) -> usize {
        let unheld = if self.holding { 0 } else { self.heap };
        size_of::<Self>()
            + self.sketches.capacity() * size_of::<Option<S>>()
            + unheld
            + self.gathered.size()
    }
}

/// The rows `rows` of every column.
fn slice_all(values: &[ArrayRef], rows: &Range<usize>) -> Vec<ArrayRef> {
    values
        .iter()
        .map(|v| v.slice(rows.start, rows.len()))
        .collect()
}

fn slice_filter(filter: Option<&BooleanArray>, rows: &Range<usize>) -> Option<BooleanArray> {
    filter.map(|f| f.slice(rows.start, rows.len()))
}

/// `convert_to_state` for aggregates whose input already is a state: pass the states through
/// (they are validated when merged), null where a row is not kept.
fn pass_states_through(function: &str, input: &dyn Array, keep: Keep<'_>) -> Result<ArrayRef> {
    let mut builder = LargeBinaryBuilder::with_capacity(input.len(), 0);
    let mut next_row = 0;
    for_each_state(function, input, |row, bytes| {
        if keep.row(row) {
            (next_row..row).for_each(|_| builder.append_null());
            builder.append_value(bytes);
            next_row = row + 1;
        }
        Ok(())
    })?;
    (next_row..input.len()).for_each(|_| builder.append_null());
    Ok(Arc::new(builder.finish()))
}

/// The single-group accumulator (no GROUP BY, cumulative window frames): one slot of the
/// same logic as a group.
#[derive(Debug)]
pub struct SketchAccumulator<S: StateSketch> {
    pub(super) glue: Glue<S>,
    pub(super) slot: [Option<S>; 1],
    /// Group indices (all zero) reused across batches.
    zeros: Vec<usize>,
    /// The sketch's memory, reserved in the session's pool after each batch (a batch grows
    /// one sketch, which no family lets pass its largest size).
    held: Option<Held>,
}

impl<S: StateSketch> SketchAccumulator<S> {
    pub fn new(glue: Glue<S>) -> Self {
        Self {
            glue,
            slot: [None],
            zeros: Vec::new(),
            held: None,
        }
    }

    /// Reserves the sketch in `pool` (see [`Held`]).
    pub fn with_pool(mut self, pool: &PoolHandle) -> Self {
        self.held = Held::new(pool, self.glue.function);
        self
    }

    /// Reserves what the sketch now holds.
    pub(super) fn hold(&mut self) -> Result<()> {
        let heap = self.heap();
        hold(&mut self.held, heap)
    }

    pub(super) fn state_value(&mut self) -> Result<ScalarValue> {
        let mut buf = Vec::new();
        let written = self
            .glue
            .write_state(self.slot[0].as_mut(), Form::Transit, &mut buf);
        Ok(ScalarValue::LargeBinary(written.then_some(buf)))
    }

    pub(super) fn evaluate_value(&mut self) -> Result<ScalarValue> {
        let out = self.glue.evaluate(vec![self.slot[0].clone()])?;
        ScalarValue::try_from_array(&out, 0)
    }

    pub(super) fn heap(&self) -> usize {
        self.slot[0].as_ref().map_or(0, S::heap_size)
    }
}

impl<S: StateSketch> Accumulator for SketchAccumulator<S> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if !self.glue.reads_states() {
            self.glue.update_single(&mut self.slot[0], values)?;
            return self.hold();
        }
        let rows = values.first().map_or(0, |v| v.len());
        self.zeros.resize(rows, 0);
        update_any(&self.glue, &mut self.slot, values, &self.zeros, Keep::All)?;
        self.hold()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (glue, slot) = (&self.glue, &mut self.slot[0]);
        for_each_state(glue.function, states[0].as_ref(), |_, bytes| {
            glue.merge_state(slot, bytes).map(|_| ())
        })?;
        self.hold()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.state_value()?])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.evaluate_value()
    }

    /// What is not held in the pool already (see [`Held`]).
    fn size(&self) -> usize {
        let unheld = if self.held.is_some() { 0 } else { self.heap() };
        size_of::<Self>() + unheld + self.zeros.capacity() * size_of::<usize>()
    }
}
