//! One generic aggregate for every sketch family: the families differ only in data.
//!
//! A family implements [`StateSketch`] for its sketch type (how a row feeds it, what a new
//! sketch is built from) and describes each SQL aggregate with an [`AggregateSpec`]: what the
//! rows are (values, weighted values or states), its literal [`Param`]s, what the result is (a
//! state or a computed value), how it slides in moving window frames. [`SketchAggregate`]
//! then provides the DataFusion side once: argument checks and return type, the native
//! `GroupsAccumulator` ([`SketchGroups`]), the single-group accumulator, moving frames
//! ([`super::sliding`]), plan-time parameter checks and `Documentation`.
//!
//! Adding a family is an `impl StateSketch` and its specs; see docs/ARCHITECTURE.md.

use super::args::{
    Keep, Param, ParamValue, check_arity, check_literals, check_state_type, is_integer_type,
    read_params,
};
use super::docs::Doc;
use super::groups::{SketchAccumulator, SketchGroups};
use super::memory::PoolHandle;
use super::sliding::{RetractingAccumulator, TwoStackMerge};
use crate::sketch::{Sketch, SketchError};
use arrow::array::{ArrayRef, LargeBinaryBuilder};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_datafusion_err, plan_err};
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Expr, GroupsAccumulator, ReversedUDAF, Signature,
    Volatility,
};
use std::convert::Infallible;
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

/// A mergeable binary state: what the generic aggregate, the sliding accumulators and the
/// scalar functions need of a sketch. Every Hazy [`Sketch`] is one (the blanket impl below);
/// sketches whose bytes are another library's format, such as the Apache DataSketches
/// families of [`super::datasketches`] (no Hazy envelope, no family code), implement it
/// directly.
pub trait MergeableState: Sized + Clone {
    /// Heap bytes held, for memory accounting.
    fn heap_size(&self) -> usize;
    /// Appends the stored state.
    fn write_to(&self, out: &mut Vec<u8>);
    /// Appends the state as it travels from a partial to a final aggregate.
    fn write_transit(&self, out: &mut Vec<u8>);
    /// Decodes a state in either form, validating it.
    fn decode_any(bytes: &[u8]) -> Result<Self, SketchError>;
    /// Merges `other` in.
    fn merge(&mut self, other: &Self) -> Result<(), SketchError>;
    /// Merges a state in either form in.
    fn merge_any(&mut self, bytes: &[u8]) -> Result<(), SketchError>;
}

impl<S: Sketch> MergeableState for S {
    fn heap_size(&self) -> usize {
        Sketch::heap_size(self)
    }

    fn write_to(&self, out: &mut Vec<u8>) {
        Sketch::write_to(self, out)
    }

    fn write_transit(&self, out: &mut Vec<u8>) {
        Sketch::write_transit(self, out)
    }

    fn decode_any(bytes: &[u8]) -> Result<Self, SketchError> {
        <S as Sketch>::decode_any(bytes)
    }

    fn merge(&mut self, other: &Self) -> Result<(), SketchError> {
        Sketch::merge(self, other)
    }

    fn merge_any(&mut self, bytes: &[u8]) -> Result<(), SketchError> {
        Sketch::merge_any(self, bytes)
    }
}

/// How a family whose rows are their hashes takes rows gathered by group: each row is kept as
/// a 32-bit key of its hash (a third less to move and sort than the hash), and adding a run of
/// keys to one sketch equals inserting their rows one by one.
pub struct HashRun<S> {
    /// The key of each hash of a chunk, in order.
    pub keys: fn(&[u64], &mut [u32]),
    /// Adds a run of keys to one sketch.
    pub add: fn(&mut S, &[u32]),
}

/// A sketch as the generic aggregate sees it.
pub trait StateSketch: MergeableState + Debug + Send + Sync + 'static {
    /// What a new sketch is built from (precision, size, …).
    type Params: Copy + Debug + Send + Sync + 'static;
    /// How rows reach the sketch (hashes, numbers, weighted items, …).
    type Input: RowInput;

    fn create(params: Self::Params) -> Self;

    fn insert(&mut self, item: <Self::Input as RowInput>::Item<'_>);

    /// Adds the kept rows of a batch to this one sketch. Families with a faster batch path
    /// (sorting a buffer once) override it.
    fn insert_rows(&mut self, rows: &Rows<'_>) -> Result<()> {
        rows.feed::<Self::Input>(|_, item| self.insert(item))
    }

    /// Writes the state to return (stored) or to pass on (transit); families that tidy up
    /// first (HyperLogLog folds its pending values) override it.
    fn write_state(&mut self, form: Form, out: &mut Vec<u8>) {
        match form {
            Form::Stored => self.write_to(out),
            Form::Transit => self.write_transit(out),
        }
    }

    /// For families whose rows are their canonical hashes and nothing else: how a grouped
    /// update over thousands of groups gathers its rows by group first (`Gathered` in
    /// src/udf/groups.rs).
    const HASH_RUN: Option<HashRun<Self>> = None;

    /// Writes the transit state of a sketch of one row, for skipped partial aggregation;
    /// families that can write it without building the sketch override it.
    fn write_single(
        params: Self::Params,
        item: <Self::Input as RowInput>::Item<'_>,
        out: &mut Vec<u8>,
    ) {
        let mut one = Self::create(params);
        one.insert(item);
        one.write_state(Form::Transit, out)
    }
}

/// Implements [`StateSketch`] for a sketch made by one fallible constructor of its parameters
/// (which the planner has checked) and fed by one method; overrides follow in braces.
///
/// `state_sketch!(Kll, u16 => Kll::new, Numbers => Kll::insert, { fn insert_rows… });`
macro_rules! state_sketch {
    ($sketch:ty, $params:ty => $new:expr, $input:ty => $insert:path $(, { $($extra:tt)* })?) => {
        impl $crate::udf::family::StateSketch for $sketch {
            type Params = $params;
            type Input = $input;

            fn create(params: $params) -> Self {
                ($new)(params).expect("parameters checked when planning")
            }

            fn insert(&mut self, item: <$input as $crate::udf::family::RowInput>::Item<'_>) {
                $insert(self, item)
            }

            $($($extra)*)?
        }
    };
}
pub(crate) use state_sketch;

/// Which form a state is written in: stored (what a query returns: the versioned, checksummed
/// envelope) or transit (from a partial to a final aggregate; see docs/FORMAT.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Stored,
    Transit,
}

/// How the rows of a value argument reach a sketch: what each row gives it.
pub trait RowInput: 'static {
    /// What one row contributes.
    type Item<'r>;

    /// Plan-time check of the value argument's type.
    fn check_type(function: &str, dt: &DataType) -> Result<()>;

    /// Calls `f(row, item)` for each kept row with a value (and a weight, when weighted).
    /// Generic over `f` so the per-row call inlines into the sketch update.
    fn feed<F>(rows: &Rows<'_>, f: F) -> Result<()>
    where
        F: for<'r> FnMut(usize, Self::Item<'r>);
}

/// The input rows of one batch as a family reads them: the value column, the weight column
/// of weighted aggregates, and which rows to keep (FILTER and grouping).
pub struct Rows<'a> {
    pub function: &'static str,
    pub values: &'a ArrayRef,
    pub weights: Option<&'a ArrayRef>,
    pub keep: Keep<'a>,
}

impl Rows<'_> {
    pub fn feed<I: RowInput>(&self, f: impl for<'r> FnMut(usize, I::Item<'r>)) -> Result<()> {
        I::feed(self, f)
    }

    /// Whether any kept row has a value: a quick look at validity, without reading values.
    fn any_value(&self) -> bool {
        let nulls = self.values.logical_nulls();
        (0..self.values.len())
            .any(|r| nulls.as_ref().is_none_or(|n| n.is_valid(r)) && self.keep.row(r))
    }
}

/// Rows as canonical hashes: every hashable type, equal values alike across types.
#[derive(Debug)]
pub struct Hashes;

impl RowInput for Hashes {
    type Item<'r> = u64;

    fn check_type(function: &str, dt: &DataType) -> Result<()> {
        super::hashing::check_hashable(function, dt)
    }

    fn feed<F: for<'r> FnMut(usize, u64)>(rows: &Rows<'_>, mut f: F) -> Result<()> {
        super::hashing::for_each_hash(rows.values.as_ref(), |row, h| {
            if rows.keep.row(row) {
                f(row, h)
            }
        })
    }
}

/// Rows as (hash, weight): weight 1, or the weight column's value in weighted aggregates.
#[derive(Debug)]
pub struct WeightedHashes;

impl RowInput for WeightedHashes {
    type Item<'r> = (u64, u64);

    fn check_type(function: &str, dt: &DataType) -> Result<()> {
        super::hashing::check_hashable(function, dt)
    }

    fn feed<F: for<'r> FnMut(usize, (u64, u64))>(rows: &Rows<'_>, mut f: F) -> Result<()> {
        super::hashing::for_each_weighted_hash(
            rows.function,
            rows.values.as_ref(),
            rows.weights,
            rows.keep,
            |row, h, w| f(row, (h, w)),
        )
    }
}

/// The input of a family whose aggregates all read states (no `_sketch` aggregate), such as
/// an intersection: no row ever reaches a sketch, so there is no item.
#[derive(Debug)]
pub struct StatesOnly;

impl RowInput for StatesOnly {
    type Item<'r> = Infallible;

    fn check_type(function: &str, dt: &DataType) -> Result<()> {
        plan_err!("{function} takes sketch states, not values of type {dt}")
    }

    fn feed<F: for<'r> FnMut(usize, Infallible)>(rows: &Rows<'_>, _: F) -> Result<()> {
        Err(exec_datafusion_err!(
            "{}: values given to a state aggregate",
            rows.function
        ))
    }
}

/// Rows as numbers (`f64`): numeric and duration columns, and date and timestamp columns
/// where `TIMES` (not where a relative error would mean nothing).
#[derive(Debug)]
pub struct NumberRows<const TIMES: bool>;

/// Numeric, date, timestamp and duration columns.
pub type Numbers = NumberRows<true>;

/// Numbers whose relative error means something: no dates or timestamps.
pub type Magnitudes = NumberRows<false>;

impl<const TIMES: bool> RowInput for NumberRows<TIMES> {
    type Item<'r> = f64;

    fn check_type(function: &str, dt: &DataType) -> Result<()> {
        super::numbers::check_number_input(function, dt, TIMES)
    }

    fn feed<F: for<'r> FnMut(usize, f64)>(rows: &Rows<'_>, f: F) -> Result<()> {
        super::numbers::for_each_number(rows.values.as_ref(), rows.keep, f)
    }
}

/// The kept numbers of a batch, for sketches that insert a sorted buffer at once.
pub fn collect_numbers<I>(rows: &Rows<'_>) -> Result<Vec<f64>>
where
    I: for<'r> RowInput<Item<'r> = f64>,
{
    let mut out = Vec::with_capacity(rows.values.len());
    rows.feed::<I>(|_, v| out.push(v))?;
    Ok(out)
}

/// What the input rows of an aggregate are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Values of one column (the first argument).
    Values,
    /// Values and a non-negative integer weight per row (the first two arguments).
    Weighted,
    /// States made by the family's aggregates (the `_merge` aggregates).
    States,
}

impl Input {
    /// The arguments before the literal parameters.
    fn columns(self) -> usize {
        match self {
            Input::Weighted => 2,
            Input::Values | Input::States => 1,
        }
    }
}

/// What an aggregate returns.
pub enum Output<S: StateSketch> {
    /// The state.
    State,
    /// A value computed from the sketch at the end (`approx_*`).
    Computed {
        /// The result type, from the value argument's type.
        return_type: fn(&DataType) -> DataType,
        finish: MakeFinish<S>,
        /// The result over no rows where it is not NULL (0 distinct values).
        empty: Option<fn() -> ScalarValue>,
    },
}

/// The final values of emitted groups, for aggregates that do not return states.
pub type Finish<S> = Arc<dyn Fn(Vec<Option<S>>) -> Result<ArrayRef> + Send + Sync>;

/// Builds the [`Finish`] of a computed aggregate from its parameters.
pub type MakeFinish<S> = fn(&FinishArgs<'_>) -> Result<Finish<S>>;

/// What a [`Finish`] is built from.
pub struct FinishArgs<'a> {
    pub function: &'static str,
    pub params: &'a [ParamValue],
    pub return_type: &'a DataType,
}

/// How an aggregate runs in moving window frames.
pub enum Sliding<S> {
    /// Two-stack sliding aggregation: any mergeable sketch, an amortized two merges per row.
    TwoStack,
    /// Subtracting the rows that leave (linear sketches): one addition and one subtraction.
    Retract(fn(&mut S, &S) -> Result<(), SketchError>),
}

// By hand: derived impls would ask the sketch type to be `Copy` too.
impl<S> Clone for Sliding<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S> Copy for Sliding<S> {}

/// What every aggregate of one family shares, written once per family: the state field's
/// name suffix (states cross from partial to final aggregation in it, and stream checkpoints
/// keep it) and how the family slides in moving window frames. Its methods make the family's
/// aggregates.
pub struct Aggregates<S: StateSketch> {
    pub state_field: &'static str,
    pub sliding: Sliding<S>,
}

impl<S: StateSketch> Aggregates<S> {
    /// A family whose aggregates slide with two stacks.
    pub const fn two_stack(state_field: &'static str) -> Self {
        Self {
            state_field,
            sliding: Sliding::TwoStack,
        }
    }

    /// `<family>_sketch(x, params…)`: values in, the state out. [`SketchAggregate::weighted`]
    /// and [`SketchAggregate::computing`] make the other aggregates of values from it.
    pub fn sketch(
        &self,
        name: &'static str,
        params: &'static [Param],
        make_params: fn(&str, &[ParamValue]) -> Result<S::Params>,
        doc: &'static Doc,
    ) -> SketchAggregate<S> {
        SketchAggregate::new(AggregateSpec {
            name,
            input: Input::Values,
            params,
            make_params,
            output: Output::State,
            sliding: self.sliding,
            state_field: self.state_field,
            doc,
        })
    }

    /// `<family>_merge(state)`: states in, their union out.
    pub fn merge(&self, name: &'static str, doc: &'static Doc) -> SketchAggregate<S> {
        SketchAggregate::new(AggregateSpec {
            name,
            input: Input::States,
            params: &[],
            make_params: |f, _| plan_err!("{f}: a merge aggregate takes its states' parameters"),
            output: Output::State,
            sliding: self.sliding,
            state_field: self.state_field,
            doc,
        })
    }
}

/// How one sketch aggregate differs from the others: plain data and functions.
pub struct AggregateSpec<S: StateSketch> {
    pub name: &'static str,
    pub input: Input,
    /// Literal parameters, after the value (and weight) arguments.
    pub params: &'static [Param],
    /// The parameters of new sketches, from the parameters' values (which are checked one by
    /// one already; this checks their combination).
    pub make_params: fn(&str, &[ParamValue]) -> Result<S::Params>,
    pub output: Output<S>,
    pub sliding: Sliding<S>,
    /// The state field's name suffix (states cross from partial to final aggregation in it).
    pub state_field: &'static str,
    pub doc: &'static Doc,
}

/// The SQL aggregate described by an [`AggregateSpec`].
pub struct SketchAggregate<S: StateSketch> {
    spec: AggregateSpec<S>,
    signature: Signature,
    documentation: OnceLock<Documentation>,
    /// The session's memory pool, which every accumulator reserves its sketches in.
    pool: PoolHandle,
}

impl<S: StateSketch> SketchAggregate<S> {
    pub fn new(spec: AggregateSpec<S>) -> Self {
        Self {
            spec,
            signature: Signature::variadic_any(Volatility::Immutable),
            documentation: OnceLock::new(),
            pool: PoolHandle::default(),
        }
    }

    /// The same aggregate reserving its sketches in `pool` (see [`super::memory`]).
    pub fn with_pool(mut self, pool: PoolHandle) -> Self {
        self.pool = pool;
        self
    }

    /// The same aggregate over `(value, weight)` rows.
    pub fn weighted(mut self) -> Self {
        self.spec.input = Input::Weighted;
        self
    }

    /// The same aggregate returning a value computed from the sketch (`approx_*`).
    pub fn computing(mut self, output: Output<S>) -> Self {
        self.spec.output = output;
        self
    }

    /// What the accumulators need: the sketch parameters and the finish, read once.
    fn glue(&self, args: &AccumulatorArgs) -> Result<Glue<S>> {
        let spec = &self.spec;
        let (params, finish) = match spec.input {
            Input::States => (None, None),
            input => {
                let values = read_params(spec.name, spec.params, args.exprs, input.columns())?;
                let finish = match &spec.output {
                    Output::State => None,
                    Output::Computed { finish, .. } => Some(finish(&FinishArgs {
                        function: spec.name,
                        params: &values,
                        return_type: args.return_field.data_type(),
                    })?),
                };
                (Some((spec.make_params)(spec.name, &values)?), finish)
            }
        };
        Ok(Glue {
            function: spec.name,
            weighted: spec.input == Input::Weighted,
            params,
            finish,
        })
    }

    /// "a value, a weight, q and an optional k": what the arguments are, for arity errors.
    fn usage(&self) -> String {
        let mut parts = vec!["a value".to_string()];
        if self.spec.input == Input::Weighted {
            parts.push("a weight".to_string());
        }
        let (required, optional): (Vec<&Param>, Vec<&Param>) =
            self.spec.params.iter().partition(|p| p.default.is_none());
        parts.extend(required.iter().map(|p| p.name.to_string()));
        match optional.as_slice() {
            [] => {}
            [one] => parts.push(format!("an optional {}", one.name)),
            many => {
                let names: Vec<&str> = many.iter().map(|p| p.name).collect();
                parts.push(format!("optional {}", join_and(&names)));
            }
        }
        join_and(&parts.iter().map(String::as_str).collect::<Vec<_>>())
    }
}

/// "a, b and c".
fn join_and(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
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
        let (f, spec) = (self.spec.name, &self.spec);
        if spec.input == Input::States {
            check_arity(f, args, 1, 1, "one argument (a sketch state)")?;
            check_state_type(f, &args[0])?;
            return Ok(DataType::LargeBinary);
        }
        let first = spec.input.columns();
        let required = spec.params.iter().filter(|p| p.default.is_none()).count();
        let max = first + spec.params.len();
        check_arity(f, args, first + required, max, &self.usage())?;
        S::Input::check_type(f, &args[0])?;
        if spec.input == Input::Weighted && !is_integer_type(&args[1]) {
            return plan_err!("{f}: weight must be an integer column, got {}", args[1]);
        }
        for (param, t) in spec.params.iter().zip(&args[first..]) {
            param.check_type(f, t)?;
        }
        Ok(match &spec.output {
            Output::State => DataType::LargeBinary,
            Output::Computed { return_type, .. } => return_type(&args[0]),
        })
    }

    /// Only aggregates with a value over no rows (0 distinct values) are never NULL: an
    /// empty window frame gives NULL even for aggregates that return the empty sketch over
    /// an empty table, since DataFusion fills it with `default_value`.
    fn is_nullable(&self) -> bool {
        !matches!(self.spec.output, Output::Computed { empty: Some(_), .. })
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(
            SketchAccumulator::new(self.glue(&args)?).with_pool(&self.pool),
        ))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        // LargeBinary: a batch of dense states easily passes the 2 GiB of i32 offsets.
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, self.spec.state_field),
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
        Ok(Box::new(
            SketchGroups::new(self.glue(&args)?).with_pool(&self.pool),
        ))
    }

    fn create_sliding_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let glue = self.glue(&args)?;
        Ok(match self.spec.sliding {
            Sliding::TwoStack => Box::new(TwoStackMerge::new(glue).with_pool(&self.pool)),
            Sliding::Retract(retract) => {
                Box::new(RetractingAccumulator::new(glue, retract).with_pool(&self.pool))
            }
        })
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        if self.spec.input == Input::States {
            return None;
        }
        let (name, params, first) = (self.spec.name, self.spec.params, self.spec.input.columns());
        let make_params = self.spec.make_params;
        Some(Box::new(move |aggregate, _| {
            if let Some(values) = check_literals(name, params, &aggregate.params.args, first)? {
                make_params(name, &values)?;
            }
            Ok(Expr::AggregateFunction(aggregate))
        }))
    }

    fn order_sensitivity(&self) -> AggregateOrderSensitivity {
        AggregateOrderSensitivity::Insensitive
    }

    fn reverse_expr(&self) -> ReversedUDAF {
        ReversedUDAF::Identical
    }

    fn default_value(&self, data_type: &DataType) -> Result<ScalarValue> {
        match &self.spec.output {
            Output::Computed {
                empty: Some(empty), ..
            } => Ok(empty()),
            _ => ScalarValue::try_from(data_type),
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        let spec = &self.spec;
        Some(
            self.documentation
                .get_or_init(|| spec.doc.build_with_params(spec.name, spec.params)),
        )
    }
}

/// How a [`StateSketch`] aggregate runs, as its accumulators see it.
#[derive(Clone)]
pub struct Glue<S: StateSketch> {
    pub function: &'static str,
    weighted: bool,
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
    pub fn error(&self, e: SketchError) -> DataFusionError {
        exec_datafusion_err!("{}: {e}", self.function)
    }

    /// Whether the input rows are states (the `_merge` aggregates) rather than values.
    pub fn reads_states(&self) -> bool {
        self.params.is_none()
    }

    /// The input rows of a batch of values.
    pub fn rows<'a>(&self, values: &'a [ArrayRef], keep: Keep<'a>) -> Rows<'a> {
        Rows {
            function: self.function,
            values: &values[0],
            weights: self.weighted.then(|| &values[1]),
            keep,
        }
    }

    fn values_to_state_aggregate(&self) -> DataFusionError {
        exec_datafusion_err!("{}: values given to a state aggregate", self.function)
    }

    /// Adds the kept values to their groups' sketches; returns the change in heap bytes.
    pub fn update(
        &self,
        sketches: &mut [Option<S>],
        values: &[ArrayRef],
        groups: &[usize],
        keep: Keep<'_>,
    ) -> Result<isize> {
        let rows = self.rows(values, keep);
        match super::groups::one_group(groups) {
            Some(group) => self.update_one(&mut sketches[group], &rows, self.value_params()?),
            None => self.update_row_by_row(sketches, &rows, groups),
        }
    }

    /// The parameters of new sketches: an error for a state aggregate, which takes its
    /// states'.
    fn value_params(&self) -> Result<S::Params> {
        self.params.ok_or_else(|| self.values_to_state_aggregate())
    }

    /// Adds the rows to their groups' sketches one at a time, as [`Self::update`] does for a
    /// batch of several groups, whatever the groups of these rows: so the rows of such a batch
    /// may come in pieces and give the same sketches (some families' batch insert for one
    /// group is not the same as inserting row by row). Returns the change in heap bytes.
    pub fn update_row_by_row(
        &self,
        sketches: &mut [Option<S>],
        rows: &Rows<'_>,
        groups: &[usize],
    ) -> Result<isize> {
        let params = self.value_params()?;
        let mut delta = 0isize;
        rows.feed::<S::Input>(|row, item| {
            super::groups::prefetch_ahead(sketches, groups, row);
            let slot = &mut sketches[groups[row]];
            // A sketch created here counts from zero, so its initial allocation is accounted.
            let before = slot.as_ref().map_or(0, S::heap_size);
            let sketch = slot.get_or_insert_with(|| S::create(params));
            sketch.insert(item);
            delta += sketch.heap_size() as isize - before as isize;
        })?;
        Ok(delta)
    }

    /// Adds every row to one sketch (no GROUP BY); returns the change in heap bytes.
    pub fn update_single(&self, slot: &mut Option<S>, values: &[ArrayRef]) -> Result<isize> {
        match self.params {
            Some(params) => self.update_one(slot, &self.rows(values, Keep::All), params),
            None => Err(self.values_to_state_aggregate()),
        }
    }

    /// All rows into one sketch (no GROUP BY, or a batch of one group): one batch insert,
    /// one heap measurement. No sketch is made when no row is kept.
    fn update_one(
        &self,
        slot: &mut Option<S>,
        rows: &Rows<'_>,
        params: S::Params,
    ) -> Result<isize> {
        if !rows.any_value() {
            return Ok(0);
        }
        let before = slot.as_ref().map_or(0, S::heap_size);
        let sketch = slot.get_or_insert_with(|| S::create(params));
        sketch.insert_rows(rows)?;
        Ok(sketch.heap_size() as isize - before as isize)
    }

    /// Adds runs of keys ([`HashRun`]) to their groups' sketches, creating those that are
    /// missing: the gathered rows of `Gathered` (src/udf/groups.rs). Returns the change in
    /// heap bytes.
    pub fn add_key_runs<'r>(
        &self,
        sketches: &mut [Option<S>],
        runs: impl Iterator<Item = (usize, &'r [u32])>,
    ) -> Result<isize> {
        let (Some(params), Some(run)) = (self.params, S::HASH_RUN) else {
            return Err(self.values_to_state_aggregate());
        };
        let mut delta = 0isize;
        for (group, keys) in runs {
            let slot = &mut sketches[group];
            let before = slot.as_ref().map_or(0, S::heap_size);
            let sketch = slot.get_or_insert_with(|| S::create(params));
            (run.add)(sketch, keys);
            delta += sketch.heap_size() as isize - before as isize;
        }
        Ok(delta)
    }

    /// Whether grouped updates may gather rows by group: a value aggregate of a family fed by
    /// hashes alone.
    pub fn gathers(&self) -> bool {
        self.params.is_some() && !self.weighted && S::HASH_RUN.is_some()
    }

    pub fn merge_into(&self, into: &mut S, other: &S) -> Result<()> {
        into.merge(other).map_err(|e| self.error(e))
    }

    /// Merges one serialized state into a group; returns the change in heap bytes.
    pub fn merge_state(&self, slot: &mut Option<S>, bytes: &[u8]) -> Result<isize> {
        Ok(match slot {
            Some(s) => {
                let before = s.heap_size();
                s.merge_any(bytes).map_err(|e| self.error(e))?;
                s.heap_size() as isize - before as isize
            }
            None => {
                let incoming = S::decode_any(bytes).map_err(|e| self.error(e))?;
                let size = incoming.heap_size() as isize;
                *slot = Some(incoming);
                size
            }
        })
    }

    /// Appends the state of a group (`None`: the empty sketch of a value aggregate, or no
    /// state at all for a merge); returns whether a state was written.
    pub fn write_state(&self, sketch: Option<&mut S>, form: Form, out: &mut Vec<u8>) -> bool {
        match (sketch, self.params) {
            (Some(s), _) => s.write_state(form, out),
            // A value aggregate over no rows gives the empty sketch, not NULL.
            (None, Some(params)) => S::create(params).write_state(form, out),
            (None, None) => return false,
        }
        true
    }

    /// The final values of emitted groups.
    pub fn evaluate(&self, sketches: Vec<Option<S>>) -> Result<ArrayRef> {
        match &self.finish {
            Some(finish) => finish(sketches),
            None => Ok(states_array(self, sketches, Form::Stored)),
        }
    }

    /// One state per kept input value row (null for the others), for skipped partial
    /// aggregation.
    pub fn convert_to_state(&self, values: &[ArrayRef], keep: Keep<'_>) -> Result<ArrayRef> {
        let Some(params) = self.params else {
            return Err(exec_datafusion_err!(
                "{}: values given to a state aggregate",
                self.function
            ));
        };
        let n = values[0].len();
        let mut builder = LargeBinaryBuilder::with_capacity(n, n * 48);
        let (mut next_row, mut buf) = (0, Vec::with_capacity(64));
        self.rows(values, keep).feed::<S::Input>(|row, item| {
            (next_row..row).for_each(|_| builder.append_null());
            buf.clear();
            S::write_single(params, item, &mut buf);
            builder.append_value(&buf);
            next_row = row + 1;
        })?;
        (next_row..n).for_each(|_| builder.append_null());
        Ok(Arc::new(builder.finish()))
    }
}

/// Serializes sketches into one `LargeBinary` array: a batch of dense states easily passes
/// the 2 GiB that i32 offsets allow.
pub fn states_array<S: StateSketch>(
    glue: &Glue<S>,
    sketches: Vec<Option<S>>,
    form: Form,
) -> ArrayRef {
    let mut builder = LargeBinaryBuilder::with_capacity(sketches.len(), sketches.len() * 64);
    let mut buf = Vec::new();
    for mut sketch in sketches {
        buf.clear();
        if glue.write_state(sketch.as_mut(), form, &mut buf) {
            builder.append_value(&buf);
        } else {
            builder.append_null();
        }
    }
    Arc::new(builder.finish())
}

#[cfg(test)]
impl<S: StateSketch> Glue<S> {
    /// The glue of `aggregate` with the given sketch parameters, for unit tests of the
    /// accumulators (computed results must not depend on parameter values).
    pub fn for_test(aggregate: &SketchAggregate<S>, params: Option<S::Params>) -> Self {
        let spec = &aggregate.spec;
        let finish = match &spec.output {
            Output::State => None,
            Output::Computed { finish, .. } => Some(
                finish(&FinishArgs {
                    function: spec.name,
                    params: &[],
                    return_type: &DataType::Null,
                })
                .expect("a finish without parameters"),
            ),
        };
        Glue {
            function: spec.name,
            weighted: spec.input == Input::Weighted,
            params: params.filter(|_| spec.input != Input::States),
            finish,
        }
    }
}
