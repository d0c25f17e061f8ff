//! Moving window frames (`OVER (ROWS BETWEEN n PRECEDING AND CURRENT ROW)`) for every sketch
//! aggregate, values or states, in one of two ways:
//!
//! * [`TwoStackMerge`]: two-stack sliding aggregation, for any mergeable sketch. Rows enter a
//!   back stack with a running union; when rows leave and the front stack is empty, the back
//!   stack is flipped into suffix unions. Each row is merged O(1) times amortized, whatever the
//!   frame length, and no sketch needs to be subtractable.
//! * [`RetractingAccumulator`]: for linear sketches (Count-Min), the rows that leave are
//!   subtracted: one addition and one subtraction per row.

use super::args::Keep;
use super::family::{Form, Glue, StateSketch};
use super::groups::{SketchAccumulator, per_row, update_any};
use super::memory::{PoolHandle, Reserve};
use crate::sketch::SketchError;
use arrow::array::ArrayRef;
use datafusion::common::{Result, ScalarValue, internal_err};
use datafusion::logical_expr::Accumulator;
use std::mem::size_of;

/// Two-stack sliding aggregation over any [`StateSketch`].
#[derive(Debug)]
pub struct TwoStackMerge<S: StateSketch> {
    glue: Glue<S>,
    /// Rows that entered since the last flip, oldest first (`None`: a row without a value).
    back: Vec<Option<S>>,
    /// The union of `back`.
    back_union: Option<S>,
    /// Suffix unions of the older rows; the last element covers all of them.
    front: Vec<Option<S>>,
    /// Heap bytes of everything held, kept current so `size()` is O(1).
    heap: usize,
    /// Reserves a batch's rows as they are made, then holds the frame's sketches:
    /// DataFusion's window operators reserve nothing for them.
    reserve: Reserve,
}

impl<S: StateSketch> TwoStackMerge<S> {
    pub fn new(glue: Glue<S>) -> Self {
        Self {
            glue,
            back: Vec::new(),
            back_union: None,
            front: Vec::new(),
            heap: 0,
            reserve: Reserve::default(),
        }
    }

    /// Reserves the frame's sketches in `pool` (see [`Held`](super::memory::Held)).
    pub fn with_pool(mut self, pool: &PoolHandle) -> Self {
        self.reserve = Reserve::new(pool, self.glue.function);
        self
    }

    fn heap_of(s: &Option<S>) -> usize {
        s.as_ref().map_or(0, S::heap_size)
    }

    /// The union of two optional sketches (`None` when both are).
    fn union(&self, a: Option<&S>, b: Option<&S>) -> Result<Option<S>> {
        Ok(match (a, b) {
            (Some(a), Some(b)) => {
                let mut u = a.clone();
                self.glue.merge_into(&mut u, b)?;
                Some(u)
            }
            (Some(x), None) | (None, Some(x)) => Some(x.clone()),
            (None, None) => None,
        })
    }

    fn flip(&mut self) -> Result<()> {
        self.heap -= Self::heap_of(&self.back_union);
        self.back_union = None;
        while let Some(row) = self.back.pop() {
            // A union is at most its parts: reserved before it is made.
            let last = Self::heap_of(self.front.last().unwrap_or(&None));
            self.reserve.hold(self.heap + last)?;
            self.heap -= Self::heap_of(&row);
            let suffix = self.union(row.as_ref(), self.front.last().and_then(Option::as_ref))?;
            self.heap += Self::heap_of(&suffix);
            self.front.push(suffix);
        }
        self.reserve.hold(self.heap)
    }

    /// Pushes the rows of `values`, each its own sketch.
    fn push_rows(&mut self, values: &[ArrayRef]) -> Result<()> {
        // Each row becomes its own "group", so values and states decode in one pass.
        per_row(&self.glue, values)?
            .into_iter()
            .try_for_each(|row| self.push(row))
    }

    fn push(&mut self, row: Option<S>) -> Result<()> {
        if let Some(s) = &row {
            self.heap -= Self::heap_of(&self.back_union);
            match &mut self.back_union {
                Some(u) => self.glue.merge_into(u, s)?,
                None => self.back_union = Some(s.clone()),
            }
            self.heap += Self::heap_of(&self.back_union);
        }
        self.heap += Self::heap_of(&row);
        self.back.push(row);
        Ok(())
    }

    fn current(&self) -> Result<Option<S>> {
        self.union(
            self.front.last().and_then(Option::as_ref),
            self.back_union.as_ref(),
        )
    }
}

impl<S: StateSketch> Accumulator for TwoStackMerge<S> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let Some(mut budget) = self.reserve.budget.take() else {
            return self.push_rows(values);
        };
        let rows = values.first().map_or(0, |v| v.len());
        let pushed = budget.run(rows, |piece| {
            let before = self.heap as isize;
            let piece: Vec<ArrayRef> = values
                .iter()
                .map(|v| v.slice(piece.start, piece.len()))
                .collect();
            self.push_rows(&piece)?;
            Ok(self.heap as isize - before)
        });
        self.reserve.budget = Some(budget);
        pushed?;
        self.reserve.hold(self.heap)
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for _ in 0..values.first().map_or(0, |v| v.len()) {
            if self.front.is_empty() {
                self.flip()?;
            }
            match self.front.pop() {
                Some(row) => self.heap -= Self::heap_of(&row),
                None => {
                    return internal_err!(
                        "{}: retracting a row that never entered the frame",
                        self.glue.function
                    );
                }
            }
        }
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let mut merged = None;
        super::args::for_each_state(self.glue.function, states[0].as_ref(), |_, b| {
            self.glue.merge_state(&mut merged, b).map(|_| ())
        })?;
        self.push(merged)?;
        self.reserve.hold(self.heap)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut buf = Vec::new();
        let written = self
            .glue
            .write_state(self.current()?.as_mut(), Form::Transit, &mut buf);
        Ok(vec![ScalarValue::LargeBinary(written.then_some(buf))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let out = self.glue.evaluate(vec![self.current()?])?;
        ScalarValue::try_from_array(&out, 0)
    }

    /// What is not held in the pool already (see [`Held`](super::memory::Held)).
    fn size(&self) -> usize {
        let unheld = if self.reserve.held.is_some() {
            0
        } else {
            self.heap
        };
        size_of::<Self>()
            + (self.back.capacity() + self.front.capacity()) * size_of::<Option<S>>()
            + unheld
    }
}

/// The single-group accumulator of a linear sketch, which also subtracts rows leaving the
/// frame.
#[derive(Debug)]
pub struct RetractingAccumulator<S: StateSketch> {
    inner: SketchAccumulator<S>,
    retract: fn(&mut S, &S) -> Result<(), SketchError>,
}

impl<S: StateSketch> RetractingAccumulator<S> {
    pub fn new(glue: Glue<S>, retract: fn(&mut S, &S) -> Result<(), SketchError>) -> Self {
        Self {
            inner: SketchAccumulator::new(glue),
            retract,
        }
    }

    /// Reserves the sketch in `pool` (see [`Held`](super::memory::Held)).
    pub fn with_pool(mut self, pool: &PoolHandle) -> Self {
        self.inner = self.inner.with_pool(pool);
        self
    }
}

impl<S: StateSketch> Accumulator for RetractingAccumulator<S> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.inner.update_batch(values)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.inner.merge_batch(states)
    }

    /// Builds the sketch of the leaving rows as `update_batch` built theirs, then
    /// subtracts it.
    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let glue = &self.inner.glue;
        let mut leaving = [None];
        let zeros = vec![0; values.first().map_or(0, |v| v.len())];
        update_any(glue, &mut leaving, values, &zeros, Keep::All)?;
        match (self.inner.slot[0].as_mut(), &leaving[0]) {
            (Some(s), Some(l)) => (self.retract)(s, l).map_err(|e| glue.error(e))?,
            (_, None) => {}
            (None, Some(_)) => {
                return internal_err!(
                    "{}: retracting rows that never entered the frame",
                    glue.function
                );
            }
        }
        self.inner.hold()
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.inner.state_value()?])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.inner.evaluate_value()
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.inner.size() - size_of::<SketchAccumulator<S>>()
    }
}
