//! HyperLogLog aggregates: `hll_sketch`, `approx_count_distinct` and `hll_merge`.
//!
//! One `AggregateUDFImpl` serves the three, which differ only in what they read (values or
//! states) and what they return (a state or an estimate). Each has a native
//! `GroupsAccumulator`; `hll_merge` also has a sliding accumulator (two-stack aggregation), so
//! it runs in moving window frames at an amortized two merges per row.

use super::args::{
    check_arity, check_integer_param, check_state_type, for_each_state, integer_arg,
    is_integer_type,
};
use super::docs::doc;
use super::groups::{GroupSketch, SketchGroups, states_array};
use super::hashing::{check_hashable, for_each_hash};
use crate::sketch::HyperLogLog;
use crate::sketch::hll::{DEFAULT_PRECISION, MAX_PRECISION, MIN_PRECISION};
use arrow::array::{Array, ArrayRef, Int64Array, LargeBinaryBuilder};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_datafusion_err, internal_err, plan_err};
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, Expr, GroupsAccumulator, ReversedUDAF, Signature,
    TypeSignature, Volatility,
};
use std::mem::size_of;
use std::sync::{Arc, LazyLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// `hll_sketch(x [, p])`: values in, state out.
    Sketch,
    /// `approx_count_distinct(x [, p])`: values in, estimate out.
    CountDistinct,
    /// `hll_merge(state)`: states in, state out.
    Merge,
}

impl Kind {
    fn reads_states(self) -> bool {
        self == Kind::Merge
    }
}

/// The HyperLogLog aggregate functions.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HllAggregate {
    kind: Kind,
    signature: Signature,
}

impl HllAggregate {
    fn new(kind: Kind) -> Self {
        let signature = match kind {
            Kind::Merge => Signature::any(1, Volatility::Immutable),
            _ => Signature::one_of(
                vec![TypeSignature::Any(1), TypeSignature::Any(2)],
                Volatility::Immutable,
            ),
        };
        Self { kind, signature }
    }

    /// `hll_sketch(x [, p])`
    pub fn sketch() -> Self {
        Self::new(Kind::Sketch)
    }

    /// `approx_count_distinct(x [, p])`
    pub fn count_distinct() -> Self {
        Self::new(Kind::CountDistinct)
    }

    /// `hll_merge(state)`
    pub fn merge() -> Self {
        Self::new(Kind::Merge)
    }

    fn function(&self) -> &'static str {
        match self.kind {
            Kind::Sketch => "hll_sketch",
            Kind::CountDistinct => "approx_count_distinct",
            Kind::Merge => "hll_merge",
        }
    }

    /// The precision of new sketches (`None` for `hll_merge`, which takes its states').
    fn precision(&self, args: &AccumulatorArgs) -> Result<Option<u8>> {
        if self.kind.reads_states() {
            return Ok(None);
        }
        let p = integer_arg(
            self.function(),
            "precision",
            args.exprs,
            1,
            MIN_PRECISION as i64..=MAX_PRECISION as i64,
            DEFAULT_PRECISION as i64,
        )?;
        Ok(Some(p as u8))
    }

    fn core(&self, args: &AccumulatorArgs) -> Result<Core> {
        Ok(Core {
            function: self.function(),
            kind: self.kind,
            precision: self.precision(args)?,
        })
    }
}

impl AggregateUDFImpl for HllAggregate {
    fn name(&self) -> &str {
        self.function()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let f = self.function();
        if self.kind.reads_states() {
            check_arity(f, args, 1, 1, "one argument (a hll state)")?;
            check_state_type(f, &args[0])?;
        } else {
            check_arity(f, args, 1, 2, "a value and an optional precision")?;
            check_hashable(f, &args[0])?;
            if let Some(p) = args.get(1).filter(|t| !is_integer_type(t)) {
                return plan_err!("{f}: precision must be an integer literal, got {p}");
            }
        }
        Ok(match self.kind {
            Kind::CountDistinct => DataType::Int64,
            _ => DataType::LargeBinary,
        })
    }

    fn is_nullable(&self) -> bool {
        self.kind == Kind::Merge
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(HllAccumulator {
            core: self.core(&args)?,
            sketch: None,
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        // LargeBinary: a batch of dense states easily passes the 2 GiB of i32 offsets.
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "hll"),
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
        Ok(Box::new(SketchGroups::new(self.core(&args)?)))
    }

    fn create_sliding_accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        if !self.kind.reads_states() {
            return plan_err!(
                "{} cannot run in a moving window frame: build one state per pane with \
                 hll_sketch (e.g. per minute) and slide hll_merge over the panes",
                self.function()
            );
        }
        Ok(Box::new(SlidingHllMerge {
            function: self.function(),
            back: Vec::new(),
            back_union: None,
            front: Vec::new(),
        }))
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        if self.kind.reads_states() {
            return None;
        }
        let function = self.function();
        Some(Box::new(move |aggregate, _| {
            let range = MIN_PRECISION as i64..=MAX_PRECISION as i64;
            check_integer_param(function, "precision", aggregate.params.args.get(1), range)?;
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
        match self.kind {
            Kind::CountDistinct => Ok(ScalarValue::Int64(Some(0))),
            _ => ScalarValue::try_from(data_type),
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(match self.kind {
            Kind::Sketch => &SKETCH_DOC,
            Kind::CountDistinct => &COUNT_DISTINCT_DOC,
            Kind::Merge => &MERGE_DOC,
        })
    }
}

static PRECISION_ARG: (&str, &str) = (
    "p",
    "Optional precision, an integer literal from 4 to 18 (default 14): 2^p registers, \
     relative standard error 1.04/sqrt(2^p) (0.81% at 14; 12 KiB per dense state). Use p >= 7: \
     below 128 registers the estimate is biased by up to 11%.",
);

static SKETCH_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Builds a HyperLogLog sketch of the distinct values of `x`: a mergeable binary state. \
         Nulls are skipped; a group with no values gives an empty sketch (estimate 0). Equal \
         values hash equal across types (42 as INT, BIGINT, DOUBLE or DECIMAL; strings in any \
         encoding; dictionary columns by value). Small sketches are sparse (a few bytes per \
         distinct value) and near exact.",
        "hll_sketch(x [, p])",
        &[
            (
                "x",
                "A column of integers, floats, decimals, strings, binaries, booleans, dates or timestamps.",
            ),
            PRECISION_ARG,
        ],
        "```sql\n-- one state per day, stored for later rollups\nCOPY (SELECT date_trunc('day', ts) AS day, hll_sketch(entity) AS users FROM events GROUP BY 1)\nTO 'daily_users.parquet';\n```",
    )
});

static COUNT_DISTINCT_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Approximate number of distinct non-null values of `x`, in bounded memory; equal to \
         `hll_estimate(hll_sketch(x, p))`. Unlike DataFusion's `approx_distinct` it accepts \
         dictionary columns and a precision, and costs a few bytes per small group.",
        "approx_count_distinct(x [, p])",
        &[
            ("x", "A column of any hashable type (see hll_sketch)."),
            PRECISION_ARG,
        ],
        "```sql\nSELECT date_bin(INTERVAL '1 minute', ts) AS minute, approx_count_distinct(entity) AS users\nFROM events GROUP BY 1 ORDER BY 1;\n```",
    )
});

static MERGE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Merges HyperLogLog states into one: the sketch of the union of their inputs. States \
         of different precisions merge at the smallest precision. Null states are skipped; \
         no states at all gives NULL. Also works in moving window frames.",
        "hll_merge(state)",
        &[(
            "state",
            "A column of states made by hll_sketch or hll_merge.",
        )],
        "```sql\n-- distinct users over the last hour, sliding minute by minute\nSELECT minute, hll_estimate(hll_merge(users) OVER (ORDER BY minute ROWS BETWEEN 59 PRECEDING AND CURRENT ROW))\nFROM per_minute;\n```",
    )
});

/// What every HLL accumulator knows: its function, kind and precision of new sketches.
#[derive(Debug, Clone, Copy)]
struct Core {
    function: &'static str,
    kind: Kind,
    precision: Option<u8>,
}

impl Core {
    fn new_sketch(&self) -> HyperLogLog {
        HyperLogLog::new(self.precision.unwrap_or(DEFAULT_PRECISION))
            .expect("precision checked at plan time")
    }

    fn decode(&self, bytes: &[u8]) -> Result<HyperLogLog> {
        HyperLogLog::from_bytes(bytes).map_err(|e| exec_datafusion_err!("{}: {e}", self.function))
    }

    /// Merges `bytes` into `slot`; returns the change in heap bytes.
    fn merge_into(&self, slot: &mut Option<HyperLogLog>, bytes: &[u8]) -> Result<isize> {
        Ok(match slot {
            Some(s) => {
                let before = s.heap_size();
                s.merge_bytes(bytes)
                    .map_err(|e| exec_datafusion_err!("{}: {e}", self.function))?;
                s.heap_size() as isize - before as isize
            }
            None => {
                let incoming = self.decode(bytes)?;
                let size = incoming.heap_size() as isize;
                *slot = Some(incoming);
                size
            }
        })
    }

    /// The final value of one group.
    fn final_scalar(&self, sketch: Option<&HyperLogLog>) -> ScalarValue {
        match self.kind {
            Kind::CountDistinct => ScalarValue::Int64(Some(sketch.map_or(0, estimate_i64))),
            Kind::Sketch => ScalarValue::LargeBinary(Some(match sketch {
                Some(s) => s.to_bytes(),
                None => self.new_sketch().to_bytes(),
            })),
            Kind::Merge => ScalarValue::LargeBinary(sketch.map(HyperLogLog::to_bytes)),
        }
    }
}

pub(crate) fn estimate_i64(sketch: &HyperLogLog) -> i64 {
    sketch.estimate().round() as i64
}

impl GroupSketch for Core {
    type Sketch = HyperLogLog;

    fn function(&self) -> &'static str {
        self.function
    }

    fn reads_states(&self) -> bool {
        self.kind.reads_states()
    }

    fn heap_size(sketch: &HyperLogLog) -> usize {
        sketch.heap_size()
    }

    fn update(
        &self,
        sketches: &mut [Option<HyperLogLog>],
        values: &[ArrayRef],
        groups: &[usize],
        keep: &dyn Fn(usize) -> bool,
    ) -> Result<isize> {
        let mut delta = 0isize;
        for_each_hash(values[0].as_ref(), |row, hash| {
            if keep(row) {
                let sketch = sketches[groups[row]].get_or_insert_with(|| self.new_sketch());
                let before = sketch.heap_size();
                sketch.insert_hash(hash);
                delta += sketch.heap_size() as isize - before as isize;
            }
        })?;
        Ok(delta)
    }

    fn merge_state(&self, slot: &mut Option<HyperLogLog>, bytes: &[u8]) -> Result<isize> {
        self.merge_into(slot, bytes)
    }

    fn write_state(&self, sketch: Option<&mut HyperLogLog>, out: &mut Vec<u8>) -> bool {
        match (sketch, self.kind) {
            (Some(s), _) => {
                s.compact();
                s.write_to(out);
                true
            }
            // hll_sketch of a group without values is the empty sketch, not NULL.
            (None, Kind::Sketch) => {
                self.new_sketch().write_to(out);
                true
            }
            (None, _) => false,
        }
    }

    fn evaluate(&self, mut sketches: Vec<Option<HyperLogLog>>) -> Result<ArrayRef> {
        if self.kind != Kind::CountDistinct {
            return Ok(states_array(self, sketches));
        }
        sketches.iter_mut().flatten().for_each(HyperLogLog::compact);
        let estimates: Int64Array = sketches
            .iter()
            .map(|s| Some(s.as_ref().map_or(0, estimate_i64)))
            .collect();
        Ok(Arc::new(estimates))
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        keep: &dyn Fn(usize) -> bool,
    ) -> Result<ArrayRef> {
        let input = values[0].as_ref();
        // One singleton state per row, written straight into the output buffer.
        let precision = self.precision.unwrap_or(DEFAULT_PRECISION);
        let mut builder = LargeBinaryBuilder::with_capacity(input.len(), input.len() * 40);
        let mut next_row = 0;
        let mut buf = Vec::with_capacity(64);
        for_each_hash(input, |row, hash| {
            if keep(row) {
                (next_row..row).for_each(|_| builder.append_null());
                buf.clear();
                HyperLogLog::write_singleton(precision, hash, &mut buf)
                    .expect("precision checked at plan time");
                builder.append_value(&buf);
                next_row = row + 1;
            }
        })?;
        (next_row..input.len()).for_each(|_| builder.append_null());
        Ok(Arc::new(builder.finish()))
    }
}

/// The single-group accumulator (no GROUP BY, and cumulative window frames).
#[derive(Debug)]
struct HllAccumulator {
    core: Core,
    sketch: Option<HyperLogLog>,
}

impl Accumulator for HllAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        if self.core.kind.reads_states() {
            return self.merge_batch(values);
        }
        let core = self.core;
        let sketch = self.sketch.get_or_insert_with(|| core.new_sketch());
        for_each_hash(values[0].as_ref(), |_, hash| sketch.insert_hash(hash))
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let core = self.core;
        for_each_state(core.function, states[0].as_ref(), None, |_, bytes| {
            core.merge_into(&mut self.sketch, bytes).map(|_| ())
        })
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.sketch.iter_mut().for_each(HyperLogLog::compact);
        Ok(vec![ScalarValue::LargeBinary(
            self.sketch.as_ref().map(HyperLogLog::to_bytes),
        )])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        self.sketch.iter_mut().for_each(HyperLogLog::compact);
        Ok(self.core.final_scalar(self.sketch.as_ref()))
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.sketch.as_ref().map_or(0, HyperLogLog::heap_size)
    }
}

/// `hll_merge` over a moving frame, by two-stack sliding aggregation: rows enter at the back
/// and leave from the front in arrival order (as DataFusion retracts them), the front stack
/// holds suffix unions, so each row costs an amortized two merges whatever the frame length.
#[derive(Debug)]
struct SlidingHllMerge {
    function: &'static str,
    /// States that entered since the last flip, oldest first (None for a null state).
    back: Vec<Option<HyperLogLog>>,
    /// The union of `back`.
    back_union: Option<HyperLogLog>,
    /// Suffix unions of the older rows; the last element covers all of them.
    front: Vec<Option<HyperLogLog>>,
}

fn union(a: Option<&HyperLogLog>, b: Option<&HyperLogLog>) -> Option<HyperLogLog> {
    match (a, b) {
        (Some(a), Some(b)) => {
            let mut u = a.clone();
            u.merge(b);
            Some(u)
        }
        (Some(x), None) | (None, Some(x)) => Some(x.clone()),
        (None, None) => None,
    }
}

impl SlidingHllMerge {
    fn flip(&mut self) {
        while let Some(state) = self.back.pop() {
            let suffix = union(state.as_ref(), self.front.last().and_then(Option::as_ref));
            self.front.push(suffix);
        }
        self.back_union = None;
    }

    fn rows_of(states: &dyn Array) -> usize {
        states.len()
    }
}

impl Accumulator for SlidingHllMerge {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let states = values[0].as_ref();
        let mut decoded: Vec<Option<HyperLogLog>> = vec![None; Self::rows_of(states)];
        let function = self.function;
        for_each_state(function, states, None, |row, bytes| {
            let s = HyperLogLog::from_bytes(bytes)
                .map_err(|e| exec_datafusion_err!("{function}: {e}"))?;
            decoded[row] = Some(s);
            Ok(())
        })?;
        for state in decoded {
            if let Some(s) = &state {
                match &mut self.back_union {
                    Some(u) => u.merge(s),
                    None => self.back_union = Some(s.clone()),
                }
            }
            self.back.push(state);
        }
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for _ in 0..Self::rows_of(values[0].as_ref()) {
            if self.front.is_empty() {
                self.flip();
            }
            if self.front.pop().is_none() {
                return internal_err!(
                    "{}: retracting a row that never entered the frame",
                    self.function
                );
            }
        }
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.update_batch(states)
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.evaluate()?])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let all = union(
            self.front.last().and_then(Option::as_ref),
            self.back_union.as_ref(),
        );
        Ok(ScalarValue::LargeBinary(
            all.as_ref().map(HyperLogLog::to_bytes),
        ))
    }

    fn size(&self) -> usize {
        let heap = |v: &Vec<Option<HyperLogLog>>| {
            v.iter()
                .flatten()
                .map(HyperLogLog::heap_size)
                .sum::<usize>()
        };
        size_of::<Self>() + heap(&self.back) + heap(&self.front)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{AsArray, BooleanArray, Int64Array};
    use arrow::datatypes::Int64Type;
    use datafusion::logical_expr::EmitTo;

    fn groups(kind: Kind) -> SketchGroups<Core> {
        let precision = (kind != Kind::Merge).then_some(12);
        SketchGroups::new(Core {
            function: "test",
            kind,
            precision,
        })
    }

    fn values(n: i64) -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(0..n))
    }

    fn estimates(acc: &mut SketchGroups<Core>, emit: EmitTo) -> Vec<i64> {
        let states = acc.state(emit).unwrap();
        let mut out = Vec::new();
        crate::udf::args::for_each_state("test", states[0].as_ref(), None, |_, b| {
            out.push(estimate_i64(&HyperLogLog::from_bytes(b).unwrap()));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn emit_first_takes_exactly_those_groups() {
        let mut acc = groups(Kind::CountDistinct);
        // group g receives the values 0..100*(g+1)
        let gi: Vec<usize> = (0..4usize)
            .flat_map(|g| std::iter::repeat_n(g, 100 * (g + 1)))
            .collect();
        let vals: Vec<i64> = (0..4i64).flat_map(|g| 0..100 * (g + 1)).collect();
        acc.update_batch(&[Arc::new(Int64Array::from(vals))], &gi, None, 4)
            .unwrap();
        let first = acc.evaluate(EmitTo::First(2)).unwrap();
        assert_eq!(first.as_primitive::<Int64Type>().values(), &[100, 200]);
        assert_eq!(acc.groups(), 2);
        let rest = acc.evaluate(EmitTo::All).unwrap();
        assert_eq!(rest.as_primitive::<Int64Type>().values(), &[300, 400]);
        assert!(acc.heap_is_exact(), "freed heap is accounted");
    }

    #[test]
    fn size_tracks_heap_exactly() {
        let mut acc = groups(Kind::Sketch);
        let gi: Vec<usize> = (0..10_000).map(|i| i % 3).collect();
        acc.update_batch(&[values(10_000)], &gi, None, 3).unwrap();
        assert!(acc.heap_is_exact());
        assert_eq!(estimates(&mut acc, EmitTo::First(1)).len(), 1);
        assert!(acc.heap_is_exact());
    }

    #[test]
    fn convert_to_state_then_merge_equals_direct_update() {
        let acc = groups(Kind::Sketch);
        let input = values(1000);
        let filter = BooleanArray::from_iter((0..1000).map(|i| Some(i % 2 == 0)));
        let states = acc
            .convert_to_state(std::slice::from_ref(&input), Some(&filter))
            .unwrap();
        assert_eq!(states[0].len(), 1000);
        assert_eq!(states[0].null_count(), 500);
        let mut merged = groups(Kind::Sketch);
        merged.merge_batch(&states, &[0; 1000], 1).unwrap();
        let mut direct = groups(Kind::Sketch);
        direct
            .update_batch(&[input], &[0; 1000], Some(&filter), 1)
            .unwrap();
        assert_eq!(
            estimates(&mut merged, EmitTo::All),
            estimates(&mut direct, EmitTo::All)
        );
        assert_eq!(
            estimates(&mut groups(Kind::Sketch), EmitTo::All),
            Vec::<i64>::new()
        );
    }
}
