//! HyperLogLog aggregates: `hll_sketch`, `approx_count_distinct` and `hll_merge`.
//!
//! One `AggregateUDFImpl` serves the three, which differ only in what they read (values or
//! states) and what they return (a state or an estimate). Each has a native
//! `GroupsAccumulator`; `hll_merge` also has a sliding accumulator (two-stack aggregation), so
//! it runs in moving window frames at an amortized two merges per row.

use super::args::{
    check_arity, check_integer_param, check_state_type, for_each_state, integer_arg,
    is_integer_type, row_filter,
};
use super::docs::doc;
use super::hashing::{check_hashable, for_each_hash};
use crate::sketch::HyperLogLog;
use crate::sketch::hll::{DEFAULT_PRECISION, MAX_PRECISION, MIN_PRECISION};
use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array, LargeBinaryBuilder};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_datafusion_err, internal_err, plan_err};
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, Documentation, EmitTo, Expr, GroupsAccumulator, ReversedUDAF,
    Signature, TypeSignature, Volatility,
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

    fn groups(&self, args: &AccumulatorArgs) -> Result<HllGroups> {
        Ok(HllGroups {
            core: Core {
                function: self.function(),
                kind: self.kind,
                precision: self.precision(args)?,
            },
            sketches: Vec::new(),
            heap: 0,
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
            core: self.groups(&args)?.core,
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
        Ok(Box::new(self.groups(&args)?))
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

    /// The final values of many groups.
    fn final_array(&self, sketches: &[Option<HyperLogLog>]) -> ArrayRef {
        match self.kind {
            Kind::CountDistinct => Arc::new(
                sketches
                    .iter()
                    .map(|s| Some(s.as_ref().map_or(0, estimate_i64)))
                    .collect::<Int64Array>(),
            ),
            Kind::Sketch => {
                let empty = self.new_sketch();
                states_array(sketches.iter().map(|s| Some(s.as_ref().unwrap_or(&empty))))
            }
            Kind::Merge => states_array(sketches.iter().map(Option::as_ref)),
        }
    }
}

pub(crate) fn estimate_i64(sketch: &HyperLogLog) -> i64 {
    sketch.estimate().round() as i64
}

/// Serializes states into one `LargeBinary` array (null where there is no sketch).
pub(crate) fn states_array<'a>(
    sketches: impl ExactSizeIterator<Item = Option<&'a HyperLogLog>>,
) -> ArrayRef {
    let rows = sketches.len();
    let mut builder = LargeBinaryBuilder::with_capacity(rows, rows * 64);
    let mut buf = Vec::new();
    for sketch in sketches {
        match sketch {
            Some(s) => {
                buf.clear();
                s.write_to(&mut buf);
                builder.append_value(&buf);
            }
            None => builder.append_null(),
        }
    }
    Arc::new(builder.finish())
}

/// The per-group accumulator: one optional sketch per group.
struct HllGroups {
    core: Core,
    sketches: Vec<Option<HyperLogLog>>,
    /// Heap bytes of all sketches, kept current so `size()` is O(1).
    heap: usize,
}

impl HllGroups {
    fn add_heap(&mut self, delta: isize) {
        self.heap = self.heap.saturating_add_signed(delta);
    }

    fn merge_states(
        &mut self,
        states: &dyn Array,
        groups: &[usize],
        filter: Option<&BooleanArray>,
    ) -> Result<()> {
        let core = self.core;
        let mut delta = 0isize;
        for_each_state(core.function, states, filter, |row, bytes| {
            delta += core.merge_into(&mut self.sketches[groups[row]], bytes)?;
            Ok(())
        })?;
        self.add_heap(delta);
        Ok(())
    }

    fn take(&mut self, emit_to: EmitTo) -> Vec<Option<HyperLogLog>> {
        let mut taken = emit_to.take_needed(&mut self.sketches);
        let freed: usize = taken.iter().flatten().map(HyperLogLog::heap_size).sum();
        self.heap = self.heap.saturating_sub(freed);
        // Compacting the owned sketches spares the readers a copy each.
        taken.iter_mut().flatten().for_each(HyperLogLog::compact);
        taken
    }
}

impl GroupsAccumulator for HllGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.sketches.resize_with(total_num_groups, || None);
        if self.core.kind.reads_states() {
            return self.merge_states(values[0].as_ref(), group_indices, opt_filter);
        }
        let core = self.core;
        let keep = row_filter(opt_filter);
        let sketches = &mut self.sketches;
        let mut delta = 0isize;
        for_each_hash(values[0].as_ref(), |row, hash| {
            if keep(row) {
                let sketch = sketches[group_indices[row]].get_or_insert_with(|| core.new_sketch());
                let before = sketch.heap_size();
                sketch.insert_hash(hash);
                delta += sketch.heap_size() as isize - before as isize;
            }
        })?;
        self.add_heap(delta);
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let taken = self.take(emit_to);
        Ok(self.core.final_array(&taken))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let taken = self.take(emit_to);
        Ok(vec![states_array(taken.iter().map(Option::as_ref))])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.sketches.resize_with(total_num_groups, || None);
        self.merge_states(values[0].as_ref(), group_indices, None)
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let input = values[0].as_ref();
        let keep = row_filter(opt_filter);
        if self.core.kind.reads_states() {
            // Already states: pass them through (validated when merged).
            let mut builder = LargeBinaryBuilder::with_capacity(input.len(), 0);
            let mut rows = vec![None; input.len()];
            for_each_state(self.core.function, input, opt_filter, |row, bytes| {
                rows[row] = Some(bytes.to_vec());
                Ok(())
            })?;
            rows.iter()
                .for_each(|r| builder.append_option(r.as_deref()));
            return Ok(vec![Arc::new(builder.finish())]);
        }
        // One singleton state per row, written straight into the output buffer.
        let precision = self.core.precision.unwrap_or(DEFAULT_PRECISION);
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
        Ok(vec![Arc::new(builder.finish())])
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.sketches.capacity() * size_of::<Option<HyperLogLog>>() + self.heap
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
    use arrow::array::{AsArray, Int64Array};
    use arrow::datatypes::Int64Type;

    fn groups(kind: Kind) -> HllGroups {
        HllGroups {
            core: Core {
                function: "test",
                kind,
                precision: (kind != Kind::Merge).then_some(12),
            },
            sketches: Vec::new(),
            heap: 0,
        }
    }

    fn values(n: i64) -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(0..n))
    }

    #[test]
    fn emit_first_takes_exactly_those_groups() {
        let mut acc = groups(Kind::CountDistinct);
        // group g receives values 0..100*(g+1)
        let vals: Vec<i64> = (0..4)
            .flat_map(|g| (0..100 * (g + 1)).map(move |v| (g, v)))
            .map(|(_, v)| v)
            .collect();
        let gi: Vec<usize> = (0..4usize)
            .flat_map(|g| std::iter::repeat_n(g, 100 * (g + 1)))
            .collect();
        acc.update_batch(&[Arc::new(Int64Array::from(vals))], &gi, None, 4)
            .unwrap();
        let first = acc.evaluate(EmitTo::First(2)).unwrap();
        assert_eq!(first.as_primitive::<Int64Type>().values(), &[100, 200]);
        assert_eq!(acc.sketches.len(), 2);
        let rest = acc.evaluate(EmitTo::All).unwrap();
        assert_eq!(rest.as_primitive::<Int64Type>().values(), &[300, 400]);
        assert_eq!(acc.heap, 0, "freed heap is accounted");
    }

    #[test]
    fn size_tracks_heap_exactly() {
        let mut acc = groups(Kind::Sketch);
        let gi: Vec<usize> = (0..10_000).map(|i| i % 3).collect();
        let actual = |acc: &HllGroups| {
            acc.sketches
                .iter()
                .flatten()
                .map(HyperLogLog::heap_size)
                .sum::<usize>()
        };
        acc.update_batch(&[values(10_000)], &gi, None, 3).unwrap();
        assert_eq!(acc.heap, actual(&acc));
        let state = acc.state(EmitTo::First(1)).unwrap();
        assert_eq!(state[0].len(), 1);
        assert_eq!(acc.heap, actual(&acc));
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
        merged.merge_batch(&states, &vec![0; 1000], 1).unwrap();
        let mut direct = groups(Kind::Sketch);
        direct
            .update_batch(&[input], &[0; 1000], Some(&filter), 1)
            .unwrap();
        assert_eq!(
            merged.sketches[0].as_ref().unwrap().estimate(),
            direct.sketches[0].as_ref().unwrap().estimate()
        );
        assert_eq!(merged.sketches[0].as_ref().unwrap().items(), 500);
    }
}
