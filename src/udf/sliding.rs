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
}

impl<S: StateSketch> TwoStackMerge<S> {
    pub fn new(glue: Glue<S>) -> Self {
        Self {
            glue,
            back: Vec::new(),
            back_union: None,
            front: Vec::new(),
            heap: 0,
        }
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
            self.heap -= Self::heap_of(&row);
            let suffix = self.union(row.as_ref(), self.front.last().and_then(Option::as_ref))?;
            self.heap += Self::heap_of(&suffix);
            self.front.push(suffix);
        }
        Ok(())
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
        // Each row becomes its own "group", so values and states decode in one pass.
        per_row(&self.glue, values)?
            .into_iter()
            .try_for_each(|row| self.push(row))
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
        self.push(merged)
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

    fn size(&self) -> usize {
        size_of::<Self>()
            + (self.back.capacity() + self.front.capacity()) * size_of::<Option<S>>()
            + self.heap
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
            (Some(s), Some(l)) => (self.retract)(s, l).map_err(|e| glue.error(e)),
            (_, None) => Ok(()),
            (None, Some(_)) => internal_err!(
                "{}: retracting rows that never entered the frame",
                glue.function
            ),
        }
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
        size_of::<Self>() + self.inner.heap()
    }
}
