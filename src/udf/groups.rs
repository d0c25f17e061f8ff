//! The one native `GroupsAccumulator` of every sketch family: one optional sketch per group,
//! O(1) `size()` from heap deltas, exact `EmitTo::First`, states as `LargeBinary`.
//!
//! A family supplies a [`GroupSketch`]: how rows update a sketch, how a state merges in, how a
//! sketch is written and finally evaluated. Everything about groups lives here once.

use super::args::{for_each_state, row_filter};
use arrow::array::{Array, ArrayRef, BooleanArray, LargeBinaryBuilder};
use datafusion::common::Result;
use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
use std::fmt::Debug;
use std::mem::size_of;
use std::sync::Arc;

/// What a sketch family tells the generic accumulator.
pub trait GroupSketch: Debug + Send + Sync + 'static {
    type Sketch: Debug + Send + Sync;

    /// The SQL name, for error messages.
    fn function(&self) -> &'static str;

    /// Whether the input rows are states (the `_merge` aggregates) rather than values: then
    /// updates merge them and `convert_to_state` passes them through, here, for every family.
    fn reads_states(&self) -> bool;

    /// Heap bytes of one sketch.
    fn heap_size(sketch: &Self::Sketch) -> usize;

    /// Adds the kept input values to their groups' sketches (never called with states);
    /// returns the change in heap bytes.
    fn update(
        &self,
        sketches: &mut [Option<Self::Sketch>],
        values: &[ArrayRef],
        groups: &[usize],
        keep: &dyn Fn(usize) -> bool,
    ) -> Result<isize>;

    /// Merges one serialized state into a group; returns the change in heap bytes.
    fn merge_state(&self, slot: &mut Option<Self::Sketch>, bytes: &[u8]) -> Result<isize>;

    /// Appends the serialized state of a sketch (`None`: the family's empty state, if any).
    fn write_state(&self, sketch: Option<&mut Self::Sketch>, out: &mut Vec<u8>) -> bool;

    /// The final values of emitted groups.
    fn evaluate(&self, sketches: Vec<Option<Self::Sketch>>) -> Result<ArrayRef>;

    /// One state per input value row, for skipped partial aggregation (null for rows not
    /// kept; never called with states).
    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        keep: &dyn Fn(usize) -> bool,
    ) -> Result<ArrayRef>;
}

/// Merges the kept state rows of `states` into their groups; returns the change in heap bytes.
fn merge_states<G: GroupSketch>(
    glue: &G,
    sketches: &mut [Option<G::Sketch>],
    states: &dyn Array,
    groups: &[usize],
    keep: &dyn Fn(usize) -> bool,
) -> Result<isize> {
    let mut delta = 0isize;
    for_each_state(glue.function(), states, None, |row, bytes| {
        if keep(row) {
            delta += glue.merge_state(&mut sketches[groups[row]], bytes)?;
        }
        Ok(())
    })?;
    Ok(delta)
}

/// Adds input rows, values or states as the family reads them.
pub fn update_any<G: GroupSketch>(
    glue: &G,
    sketches: &mut [Option<G::Sketch>],
    values: &[ArrayRef],
    groups: &[usize],
    keep: &dyn Fn(usize) -> bool,
) -> Result<isize> {
    if glue.reads_states() {
        merge_states(glue, sketches, values[0].as_ref(), groups, keep)
    } else {
        glue.update(sketches, values, groups, keep)
    }
}

/// Serializes sketches into one `LargeBinary` array: a batch of dense states easily passes
/// the 2 GiB that i32 offsets allow.
pub fn states_array<G: GroupSketch>(glue: &G, sketches: Vec<Option<G::Sketch>>) -> ArrayRef {
    let mut builder = LargeBinaryBuilder::with_capacity(sketches.len(), sketches.len() * 64);
    let mut buf = Vec::new();
    for mut sketch in sketches {
        buf.clear();
        if glue.write_state(sketch.as_mut(), &mut buf) {
            builder.append_value(&buf);
        } else {
            builder.append_null();
        }
    }
    Arc::new(builder.finish())
}

/// The generic per-group accumulator.
#[derive(Debug)]
pub struct SketchGroups<G: GroupSketch> {
    glue: G,
    sketches: Vec<Option<G::Sketch>>,
    /// Heap bytes of all sketches, kept current so `size()` is O(1).
    heap: usize,
}

impl<G: GroupSketch> SketchGroups<G> {
    pub fn new(glue: G) -> Self {
        Self {
            glue,
            sketches: Vec::new(),
            heap: 0,
        }
    }

    fn add_heap(&mut self, delta: isize) {
        self.heap = self.heap.saturating_add_signed(delta);
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<Option<G::Sketch>> {
        let taken = emit_to.take_needed(&mut self.sketches);
        let freed: usize = taken.iter().flatten().map(G::heap_size).sum();
        self.heap = self.heap.saturating_sub(freed);
        taken
    }

    #[cfg(test)]
    pub fn heap_is_exact(&self) -> bool {
        self.heap
            == self
                .sketches
                .iter()
                .flatten()
                .map(G::heap_size)
                .sum::<usize>()
    }

    #[cfg(test)]
    pub fn groups(&self) -> usize {
        self.sketches.len()
    }
}

impl<G: GroupSketch> GroupsAccumulator for SketchGroups<G> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.sketches.resize_with(total_num_groups, || None);
        let keep = row_filter(opt_filter);
        let delta = update_any(&self.glue, &mut self.sketches, values, group_indices, &keep)?;
        self.add_heap(delta);
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let taken = self.take(emit_to);
        self.glue.evaluate(taken)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let taken = self.take(emit_to);
        Ok(vec![states_array(&self.glue, taken)])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.sketches.resize_with(total_num_groups, || None);
        let delta = merge_states(
            &self.glue,
            &mut self.sketches,
            values[0].as_ref(),
            group_indices,
            &|_| true,
        )?;
        self.add_heap(delta);
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let keep = row_filter(opt_filter);
        let states = if self.glue.reads_states() {
            pass_states_through(self.glue.function(), values[0].as_ref(), &keep)?
        } else {
            self.glue.convert_to_state(values, &keep)?
        };
        Ok(vec![states])
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.sketches.capacity() * size_of::<Option<G::Sketch>>() + self.heap
    }
}

/// `convert_to_state` for aggregates whose input already is a state: pass the states through
/// (they are validated when merged), null where a row is not kept.
fn pass_states_through(
    function: &str,
    input: &dyn Array,
    keep: &dyn Fn(usize) -> bool,
) -> Result<ArrayRef> {
    let mut builder = LargeBinaryBuilder::with_capacity(input.len(), 0);
    let mut next_row = 0;
    for_each_state(function, input, None, |row, bytes| {
        if keep(row) {
            (next_row..row).for_each(|_| builder.append_null());
            builder.append_value(bytes);
            next_row = row + 1;
        }
        Ok(())
    })?;
    (next_row..input.len()).for_each(|_| builder.append_null());
    Ok(Arc::new(builder.finish()))
}

/// The single-group accumulator of a family (no GROUP BY, window frames): one slot of the same
/// [`GroupSketch`] logic. Moving frames work when the family can retract.
#[derive(Debug)]
pub struct SketchAccumulator<G: GroupSketch> {
    glue: G,
    slot: [Option<G::Sketch>; 1],
    /// Group indices (all zero) reused across batches.
    zeros: Vec<usize>,
}

/// Families whose updates can be undone (linear sketches), for moving window frames.
pub trait Retract: GroupSketch {
    /// Removes rows that `update` added before (values or states, as `update` takes them).
    fn retract(&self, slot: &mut Option<Self::Sketch>, values: &[ArrayRef]) -> Result<()>;
}

impl<G: GroupSketch> SketchAccumulator<G>
where
    G::Sketch: Clone,
{
    pub fn new(glue: G) -> Self {
        Self {
            glue,
            slot: [None],
            zeros: Vec::new(),
        }
    }

    fn update(&mut self, values: &[ArrayRef]) -> Result<()> {
        let rows = values.first().map_or(0, |v| v.len());
        self.zeros.resize(rows, 0);
        update_any(&self.glue, &mut self.slot, values, &self.zeros, &|_| true)?;
        Ok(())
    }

    fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (glue, slot) = (&self.glue, &mut self.slot[0]);
        for_each_state(glue.function(), states[0].as_ref(), None, |_, bytes| {
            glue.merge_state(slot, bytes).map(|_| ())
        })
    }

    fn state_value(&mut self) -> Result<datafusion::common::ScalarValue> {
        let mut buf = Vec::new();
        let written = self.glue.write_state(self.slot[0].as_mut(), &mut buf);
        Ok(datafusion::common::ScalarValue::LargeBinary(
            written.then_some(buf),
        ))
    }

    fn evaluate_value(&mut self) -> Result<datafusion::common::ScalarValue> {
        let out = self.glue.evaluate(vec![self.slot[0].clone()])?;
        datafusion::common::ScalarValue::try_from_array(&out, 0)
    }
}

impl<G: GroupSketch> datafusion::logical_expr::Accumulator for SketchAccumulator<G>
where
    G::Sketch: Clone,
{
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.update(values)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.merge(states)
    }

    fn state(&mut self) -> Result<Vec<datafusion::common::ScalarValue>> {
        Ok(vec![self.state_value()?])
    }

    fn evaluate(&mut self) -> Result<datafusion::common::ScalarValue> {
        self.evaluate_value()
    }

    fn size(&self) -> usize {
        size_of::<Self>()
            + self.slot[0].as_ref().map_or(0, G::heap_size)
            + self.zeros.capacity() * 8
    }
}

/// A [`SketchAccumulator`] that also retracts, for moving window frames.
#[derive(Debug)]
pub struct SlidingSketchAccumulator<G: Retract>(pub SketchAccumulator<G>);

impl<G: Retract> datafusion::logical_expr::Accumulator for SlidingSketchAccumulator<G>
where
    G::Sketch: Clone,
{
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.0.update(values)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.0.merge(states)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.0.glue.retract(&mut self.0.slot[0], values)
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn state(&mut self) -> Result<Vec<datafusion::common::ScalarValue>> {
        Ok(vec![self.0.state_value()?])
    }

    fn evaluate(&mut self) -> Result<datafusion::common::ScalarValue> {
        self.0.evaluate_value()
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.0.slot[0].as_ref().map_or(0, G::heap_size)
    }
}
