//! One generic aggregate for the families whose functions differ only in data: how a row feeds
//! a sketch, which literal parameters a new sketch takes, and what the final value is.
//!
//! A family implements [`StateSketch`] for its sketch type and describes each SQL function with
//! an [`AggregateSpec`]; [`SketchAggregate`] then provides the DataFusion side once: the native
//! `GroupsAccumulator` (through [`SketchGroups`]), the single-group accumulator, plan-time
//! parameter checks, and moving window frames through [`TwoStackMerge`], which works for any
//! mergeable sketch, linear or not.

use super::args::check_state_type;
use super::groups::{GroupSketch, SketchAccumulator, SketchGroups, states_array, update_any};
use crate::sketch::SketchError;
use arrow::array::{ArrayRef, LargeBinaryBuilder};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_datafusion_err, internal_err};
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Expr, GroupsAccumulator, ReversedUDAF, Signature,
    Volatility,
};
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::mem::size_of;
use std::sync::Arc;

/// A sketch as the generic aggregate sees it.
pub trait StateSketch: Clone + Debug + Send + Sync + 'static {
    /// What a new sketch is built from (precision, size, …).
    type Params: Copy + Debug + Send + Sync + 'static;
    /// What one input row contributes (a hash, a number).
    type Input: RowInput;

    fn create(params: Self::Params) -> Self;
    fn insert(&mut self, input: Self::Input);
    /// Adds many inputs to one sketch (families with a faster batch path override it).
    fn insert_all(&mut self, inputs: &[Self::Input]) {
        inputs.iter().for_each(|&i| self.insert(i));
    }
    fn heap_size(&self) -> usize;
    fn write_to(&self, out: &mut Vec<u8>);
    fn decode(bytes: &[u8]) -> Result<Self, SketchError>;
    fn merge(&mut self, other: &Self) -> Result<(), SketchError>;
}

/// Implements the storage half of [`StateSketch`] (heap size, serialization, merge) by the
/// sketch's own methods of the same names, which every Hazy sketch has.
macro_rules! stored_like_its_methods {
    ($t:ty) => {
        fn heap_size(&self) -> usize {
            <$t>::heap_size(self)
        }

        fn write_to(&self, out: &mut Vec<u8>) {
            <$t>::write_to(self, out)
        }

        fn decode(bytes: &[u8]) -> Result<Self, crate::sketch::SketchError> {
            <$t>::from_bytes(bytes)
        }

        fn merge(&mut self, other: &Self) -> Result<(), crate::sketch::SketchError> {
            <$t>::merge(self, other)
        }
    };
}
pub(crate) use stored_like_its_methods;

/// What a row gives a sketch, read from the value argument.
pub trait RowInput: Copy + 'static {
    /// Calls `f(row, input)` for each kept non-null row of the value argument.
    fn feed(
        values: &[ArrayRef],
        keep: &dyn Fn(usize) -> bool,
        f: &mut dyn FnMut(usize, Self),
    ) -> Result<()>;
}

/// The canonical hash of any hashable value.
impl RowInput for u64 {
    fn feed(
        values: &[ArrayRef],
        keep: &dyn Fn(usize) -> bool,
        f: &mut dyn FnMut(usize, u64),
    ) -> Result<()> {
        super::hashing::for_each_hash(values[0].as_ref(), |row, h| {
            if keep(row) {
                f(row, h)
            }
        })
    }
}

/// A number, date, timestamp or duration as `f64` (see [`super::numbers`]).
impl RowInput for f64 {
    fn feed(
        values: &[ArrayRef],
        keep: &dyn Fn(usize) -> bool,
        f: &mut dyn FnMut(usize, f64),
    ) -> Result<()> {
        super::numbers::for_each_number(values[0].as_ref(), keep, f)
    }
}

/// The final values of emitted groups, for aggregates that do not return states.
pub type Finish<S> = Arc<dyn Fn(Vec<Option<S>>) -> Result<ArrayRef> + Send + Sync>;

/// Builds the [`Finish`] of a one-shot aggregate from its arguments.
pub type MakeFinish<S> = fn(&AccumulatorArgs) -> Result<Finish<S>>;

/// How one sketch aggregate differs from the others: plain functions of its arguments.
pub struct AggregateSpec<S: StateSketch> {
    pub name: &'static str,
    /// True for `_merge` aggregates, whose input is states.
    pub reads_states: bool,
    /// Checks argument types (the function's name given for errors) and gives the result type.
    pub return_type: fn(&str, &[DataType]) -> Result<DataType>,
    /// Parameters of new sketches from the (constant) arguments; unused when reading states.
    pub params: fn(&AccumulatorArgs) -> Result<S::Params>,
    /// Plan-time check of literal parameters (also under EXPLAIN).
    pub check_literals: fn(&[Expr]) -> Result<()>,
    /// For one-shot aggregates: the final values from the sketches. `None`: return states.
    pub finish: Option<MakeFinish<S>>,
    pub documentation: fn() -> &'static Documentation,
}

/// The `return_type` of `_merge` aggregates: one state argument, a state out.
pub fn merge_return_type(function: &str, args: &[DataType]) -> Result<DataType> {
    super::args::check_arity(function, args, 1, 1, "one argument (a sketch state)")?;
    check_state_type(function, &args[0])?;
    Ok(DataType::LargeBinary)
}

/// No literal parameters to check.
pub fn no_literals(_: &[Expr]) -> Result<()> {
    Ok(())
}

/// The SQL aggregate described by an [`AggregateSpec`].
pub struct SketchAggregate<S: StateSketch> {
    spec: AggregateSpec<S>,
    signature: Signature,
}

impl<S: StateSketch> SketchAggregate<S> {
    pub fn new(spec: AggregateSpec<S>) -> Self {
        Self {
            spec,
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }

    /// The family's `_merge` aggregate: states in, their union out.
    pub fn merging(name: &'static str, documentation: fn() -> &'static Documentation) -> Self {
        Self::new(AggregateSpec {
            name,
            reads_states: true,
            return_type: merge_return_type,
            params: |_| internal_err!("a merge aggregate takes its states' parameters"),
            check_literals: no_literals,
            finish: None,
            documentation,
        })
    }

    fn glue(&self, args: &AccumulatorArgs) -> Result<Glue<S>> {
        let params = if self.spec.reads_states {
            None
        } else {
            Some((self.spec.params)(args)?)
        };
        let finish = self.spec.finish.map(|f| f(args)).transpose()?;
        Ok(Glue {
            function: self.spec.name,
            params,
            finish,
        })
    }
}

impl<S: StateSketch> Debug for SketchAggregate<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SketchAggregate")
            .field("name", &self.spec.name)
            .finish()
    }
}

/// Functions are identified by name: the spec is fixed per name.
impl<S: StateSketch> PartialEq for SketchAggregate<S> {
    fn eq(&self, other: &Self) -> bool {
        self.spec.name == other.spec.name
    }
}

impl<S: StateSketch> Eq for SketchAggregate<S> {}

impl<S: StateSketch> Hash for SketchAggregate<S> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.spec.name.hash(state)
    }
}

impl<S: StateSketch> AggregateUDFImpl for SketchAggregate<S> {
    fn name(&self) -> &str {
        self.spec.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        (self.spec.return_type)(self.spec.name, args)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SketchAccumulator::new(self.glue(&args)?)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "sketch"),
            DataType::LargeBinary,
            true,
        ))])
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(SketchGroups::new(self.glue(&args)?)))
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(TwoStackMerge::new(self.glue(&args)?)))
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        let check = self.spec.check_literals;
        Some(Box::new(move |aggregate, _| {
            check(&aggregate.params.args)?;
            Ok(Expr::AggregateFunction(aggregate))
        }))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some((self.spec.documentation)())
    }
}

/// How a [`StateSketch`] plugs into the generic accumulators.
#[derive(Clone)]
pub struct Glue<S: StateSketch> {
    function: &'static str,
    /// Parameters of new sketches; `None` for `_merge`, which takes its states'.
    params: Option<S::Params>,
    finish: Option<Finish<S>>,
}

impl<S: StateSketch> Debug for Glue<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Glue")
            .field("function", &self.function)
            .field("params", &self.params)
            .finish()
    }
}

impl<S: StateSketch> Glue<S> {
    fn error(&self, e: SketchError) -> DataFusionError {
        exec_datafusion_err!("{}: {e}", self.function)
    }

    fn new_sketch(&self) -> Option<S> {
        self.params.map(S::create)
    }

    /// All rows into one sketch (no GROUP BY, or a batch of one group): one batch insert,
    /// one heap measurement.
    fn update_one(
        &self,
        slot: &mut Option<S>,
        values: &[ArrayRef],
        keep: &dyn Fn(usize) -> bool,
        params: S::Params,
    ) -> Result<isize> {
        let before = slot.as_ref().map_or(0, S::heap_size);
        let mut inputs = Vec::with_capacity(values[0].len());
        S::Input::feed(values, keep, &mut |_, input| inputs.push(input))?;
        if inputs.is_empty() {
            return Ok(0);
        }
        let sketch = slot.get_or_insert_with(|| S::create(params));
        sketch.insert_all(&inputs);
        Ok(sketch.heap_size() as isize - before as isize)
    }

    fn merge_into(&self, into: &mut S, other: &S) -> Result<()> {
        into.merge(other).map_err(|e| self.error(e))
    }
}

impl<S: StateSketch> GroupSketch for Glue<S> {
    type Sketch = S;

    fn function(&self) -> &'static str {
        self.function
    }

    fn reads_states(&self) -> bool {
        self.params.is_none()
    }

    fn heap_size(sketch: &S) -> usize {
        sketch.heap_size()
    }

    fn update(
        &self,
        sketches: &mut [Option<S>],
        values: &[ArrayRef],
        groups: &[usize],
        keep: &dyn Fn(usize) -> bool,
    ) -> Result<isize> {
        let Some(params) = self.params else {
            return internal_err!("{}: values given to a state aggregate", self.function);
        };
        if let Some(&group) = groups.first()
            && groups.iter().all(|&g| g == group)
        {
            return self.update_one(&mut sketches[group], values, keep, params);
        }
        let mut delta = 0isize;
        S::Input::feed(values, keep, &mut |row, input| {
            let slot = &mut sketches[groups[row]];
            // A sketch created here counts from zero, so its initial allocation is accounted.
            let before = slot.as_ref().map_or(0, S::heap_size);
            let sketch = slot.get_or_insert_with(|| S::create(params));
            sketch.insert(input);
            delta += sketch.heap_size() as isize - before as isize;
        })?;
        Ok(delta)
    }

    fn merge_state(&self, slot: &mut Option<S>, bytes: &[u8]) -> Result<isize> {
        let incoming = S::decode(bytes).map_err(|e| self.error(e))?;
        Ok(match slot {
            Some(s) => {
                let before = s.heap_size();
                self.merge_into(s, &incoming)?;
                s.heap_size() as isize - before as isize
            }
            None => {
                let size = incoming.heap_size() as isize;
                *slot = Some(incoming);
                size
            }
        })
    }

    fn write_state(&self, sketch: Option<&mut S>, out: &mut Vec<u8>) -> bool {
        match (sketch, self.new_sketch()) {
            (Some(s), _) => s.write_to(out),
            // A value aggregate over no rows gives the empty sketch, not NULL.
            (None, Some(empty)) => empty.write_to(out),
            (None, None) => return false,
        }
        true
    }

    fn evaluate(&self, sketches: Vec<Option<S>>) -> Result<ArrayRef> {
        match &self.finish {
            Some(finish) => finish(sketches),
            None => Ok(states_array(self, sketches)),
        }
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        keep: &dyn Fn(usize) -> bool,
    ) -> Result<ArrayRef> {
        let Some(params) = self.params else {
            return internal_err!("{}: values given to a state aggregate", self.function);
        };
        let rows = values[0].len();
        let mut builder = LargeBinaryBuilder::with_capacity(rows, rows * 48);
        let (mut next_row, mut buf) = (0, Vec::with_capacity(64));
        S::Input::feed(values, keep, &mut |row, input| {
            (next_row..row).for_each(|_| builder.append_null());
            let mut one = S::create(params);
            one.insert(input);
            buf.clear();
            one.write_to(&mut buf);
            builder.append_value(&buf);
            next_row = row + 1;
        })?;
        (next_row..rows).for_each(|_| builder.append_null());
        Ok(Arc::new(builder.finish()))
    }
}

/// Moving window frames for any mergeable sketch (two-stack sliding aggregation): rows enter a
/// back stack with a running union; when rows leave and the front stack is empty, the back
/// stack is flipped into suffix unions. Each row is merged O(1) times amortized, whatever the
/// frame length, and no sketch needs to be subtractable.
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
        // Each row becomes its own "group", so values and states decode in one vectorized pass.
        let rows = values.first().map_or(0, |v| v.len());
        let mut per_row: Vec<Option<S>> = vec![None; rows];
        let groups: Vec<usize> = (0..rows).collect();
        update_any(&self.glue, &mut per_row, values, &groups, &|_| true)?;
        per_row.into_iter().try_for_each(|row| self.push(row))
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
        super::args::for_each_state(self.glue.function, states[0].as_ref(), None, |_, b| {
            self.glue.merge_state(&mut merged, b).map(|_| ())
        })?;
        self.push(merged)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let mut buf = Vec::new();
        let written = self.glue.write_state(self.current()?.as_mut(), &mut buf);
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
