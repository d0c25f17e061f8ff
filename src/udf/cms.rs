//! Count-Min aggregates (`cms_sketch`, `cms_sketch_weighted`, `cms_merge`) and scalars
//! (`cms_estimate`, `cms_total`).
//!
//! Count-Min is linear, so every aggregate here also retracts: `cms_merge` (and the raw-value
//! forms) run in moving window frames at a cost per row independent of the frame length.

use super::args::{check_arity, check_float_param, check_state_type, float_arg, is_integer_type};
use super::docs::doc;
use super::groups::{
    GroupSketch, Retract, SketchAccumulator, SketchGroups, SlidingSketchAccumulator, states_array,
    update_any,
};
use super::hashing::{check_hashable, for_each_weighted_hash};
use super::scalar::{check_state_args, columnar, map_rows, probe_hashes, state_at};
use crate::sketch::cms::{self, CountMin, DEFAULT_DELTA, DEFAULT_EPSILON};
use arrow::array::{Array, ArrayRef, Int64Array, LargeBinaryBuilder};
use arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::{Result, ScalarValue, exec_datafusion_err, exec_err, plan_err};
use datafusion::logical_expr::function::{
    AccumulatorArgs, AggregateFunctionSimplification, StateFieldsArgs,
};
use datafusion::logical_expr::utils::{AggregateOrderSensitivity, format_state_name};
use datafusion::logical_expr::{
    Accumulator, AggregateUDFImpl, ColumnarValue, Documentation, Expr, GroupsAccumulator,
    ReversedUDAF, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::{Arc, LazyLock};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// `cms_sketch(x [, epsilon, delta])`
    Sketch,
    /// `cms_sketch_weighted(x, weight [, epsilon, delta])`
    Weighted,
    /// `cms_merge(state)`
    Merge,
}

impl Kind {
    fn function(self) -> &'static str {
        match self {
            Kind::Sketch => "cms_sketch",
            Kind::Weighted => "cms_sketch_weighted",
            Kind::Merge => "cms_merge",
        }
    }

    /// Index of the first of `epsilon, delta`.
    fn first_param(self) -> usize {
        match self {
            Kind::Sketch => 1,
            Kind::Weighted => 2,
            Kind::Merge => usize::MAX,
        }
    }
}

const EPSILON_RANGE: &str = "strictly between 0 and 1";
fn unit_interval(x: f64) -> bool {
    x > 0.0 && x < 1.0
}

/// The Count-Min aggregate functions.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CmsAggregate {
    kind: Kind,
    signature: Signature,
}

impl CmsAggregate {
    fn new(kind: Kind) -> Self {
        Self {
            kind,
            signature: Signature::variadic_any(Volatility::Immutable),
        }
    }

    pub fn sketch() -> Self {
        Self::new(Kind::Sketch)
    }

    pub fn weighted() -> Self {
        Self::new(Kind::Weighted)
    }

    pub fn merge() -> Self {
        Self::new(Kind::Merge)
    }

    fn glue(&self, args: &AccumulatorArgs) -> Result<CmsGlue> {
        let f = self.kind.function();
        let dims = if self.kind == Kind::Merge {
            None
        } else {
            let i = self.kind.first_param();
            let epsilon = float_arg(
                f,
                "epsilon",
                args.exprs,
                i,
                EPSILON_RANGE,
                unit_interval,
                DEFAULT_EPSILON,
            )?;
            let delta = float_arg(
                f,
                "delta",
                args.exprs,
                i + 1,
                EPSILON_RANGE,
                unit_interval,
                DEFAULT_DELTA,
            )?;
            Some(cms::dimensions(epsilon, delta).map_err(|e| exec_datafusion_err!("{f}: {e}"))?)
        };
        Ok(CmsGlue {
            kind: self.kind,
            dims,
        })
    }
}

impl AggregateUDFImpl for CmsAggregate {
    fn name(&self) -> &str {
        self.kind.function()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        let f = self.kind.function();
        match self.kind {
            Kind::Merge => {
                check_arity(f, args, 1, 1, "one argument (a cms state)")?;
                check_state_type(f, &args[0])?;
            }
            Kind::Sketch | Kind::Weighted => {
                let first = self.kind.first_param();
                check_arity(
                    f,
                    args,
                    first,
                    first + 2,
                    "a value, [a weight,] and optional epsilon and delta",
                )?;
                check_hashable(f, &args[0])?;
                if self.kind == Kind::Weighted && !is_integer_type(&args[1]) {
                    return plan_err!("{f}: weight must be an integer column, got {}", args[1]);
                }
                if let Some(t) = args[first..]
                    .iter()
                    .find(|t| !t.is_numeric() && !t.is_null())
                {
                    return plan_err!("{f}: epsilon and delta must be numeric literals, got {t}");
                }
            }
        }
        Ok(DataType::LargeBinary)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(SketchAccumulator::new(self.glue(&args)?)))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "cms"),
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
        Ok(Box::new(SlidingSketchAccumulator(SketchAccumulator::new(
            self.glue(&args)?,
        ))))
    }

    fn simplify(&self) -> Option<AggregateFunctionSimplification> {
        if self.kind == Kind::Merge {
            return None;
        }
        let (f, first) = (self.kind.function(), self.kind.first_param());
        Some(Box::new(move |aggregate, _| {
            let args = &aggregate.params.args;
            check_float_param(f, "epsilon", args.get(first), EPSILON_RANGE, unit_interval)?;
            check_float_param(
                f,
                "delta",
                args.get(first + 1),
                EPSILON_RANGE,
                unit_interval,
            )?;
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
        Some(match self.kind {
            Kind::Sketch => &SKETCH_DOC,
            Kind::Weighted => &WEIGHTED_DOC,
            Kind::Merge => &MERGE_DOC,
        })
    }
}

const ERROR_ARGS: [(&str, &str); 2] = [
    (
        "epsilon",
        "Optional relative error, a literal strictly between 0 and 1 (default 0.001): estimates exceed the true count by at most epsilon x the total weight. Width = ceil(e / epsilon): 2,719 at the default.",
    ),
    (
        "delta",
        "Optional failure probability, a literal strictly between 0 and 1 (default 0.01): the bound holds with probability 1 - delta. Depth = ceil(ln(1 / delta)): 5 at the default. The defaults give a 108,760-byte dense state.",
    ),
];

static SKETCH_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Builds a Count-Min sketch of how often each value of `x` occurs: a mergeable binary \
         state, probed with cms_estimate. Never under-estimates; over-estimates by at most \
         epsilon x N with probability 1 - delta. Nulls are skipped. Small states keep their \
         (hash, weight) pairs and grow into the counter table. Also runs in moving window frames \
         (Count-Min is linear, so rows leaving the frame are subtracted).",
        "cms_sketch(x [, epsilon, delta])",
        &[
            ("x", "A column of any hashable type (see hll_sketch)."),
            ERROR_ARGS[0],
            ERROR_ARGS[1],
        ],
        "```sql\nSELECT cms_estimate(cms_sketch(event_type), 'purchase') AS purchases FROM events;\n```",
    )
});

static WEIGHTED_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Builds a Count-Min sketch in which each row of `x` counts `weight` times (bytes sent, \
         items bought). Rows with a NULL value or weight are skipped; a negative weight is an \
         error.",
        "cms_sketch_weighted(x, weight [, epsilon, delta])",
        &[
            ("x", "A column of any hashable type."),
            ("weight", "A non-negative integer column."),
            ERROR_ARGS[0],
            ERROR_ARGS[1],
        ],
        "```sql\nSELECT cms_estimate(cms_sketch_weighted(entity, CAST(value * 100 AS BIGINT)), 'entity_0') FROM events;\n```",
    )
});

static MERGE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Adds Count-Min states together: the sketch of all their inputs. States must have the \
         same width and depth (the same epsilon and delta); otherwise an error says so. Null \
         states are skipped; no states gives NULL. In moving window frames each row costs one \
         addition and one subtraction of a state, whatever the frame length.",
        "cms_merge(state)",
        &[(
            "state",
            "A column of states made by cms_sketch, cms_sketch_weighted or cms_merge.",
        )],
        "```sql\nSELECT minute, cms_estimate(cms_merge(s) OVER (ORDER BY minute ROWS BETWEEN 59 PRECEDING AND CURRENT ROW), 'error')\nFROM per_minute;\n```",
    )
});

/// How Count-Min plugs into the generic accumulators.
#[derive(Debug, Clone, Copy)]
struct CmsGlue {
    kind: Kind,
    /// Width and depth of new sketches; `None` for `cms_merge`, which takes its states'.
    dims: Option<(u32, u32)>,
}

impl CmsGlue {
    fn error(&self, e: impl std::fmt::Display) -> datafusion::common::DataFusionError {
        exec_datafusion_err!("{}: {e}", self.kind.function())
    }

    fn new_sketch(&self) -> Option<CountMin> {
        self.dims
            .map(|(w, d)| CountMin::new(w, d).expect("dimensions checked at plan time"))
    }

    fn decode(&self, bytes: &[u8]) -> Result<CountMin> {
        CountMin::from_bytes(bytes).map_err(|e| self.error(e))
    }

    /// Calls `f(row, hash, weight)` for every kept row with a value (and a weight).
    fn for_each_row(
        &self,
        values: &[ArrayRef],
        keep: &dyn Fn(usize) -> bool,
        f: impl FnMut(usize, u64, u64),
    ) -> Result<()> {
        let weights = (self.kind == Kind::Weighted).then(|| &values[1]);
        for_each_weighted_hash(self.kind.function(), values[0].as_ref(), weights, keep, f)
    }
}

impl GroupSketch for CmsGlue {
    type Sketch = CountMin;

    fn function(&self) -> &'static str {
        self.kind.function()
    }

    fn reads_states(&self) -> bool {
        self.kind == Kind::Merge
    }

    fn heap_size(sketch: &CountMin) -> usize {
        sketch.heap_size()
    }

    fn update(
        &self,
        sketches: &mut [Option<CountMin>],
        values: &[ArrayRef],
        groups: &[usize],
        keep: &dyn Fn(usize) -> bool,
    ) -> Result<isize> {
        let mut delta = 0isize;
        self.for_each_row(values, keep, |row, hash, weight| {
            let slot = &mut sketches[groups[row]];
            let sketch = slot.get_or_insert_with(|| {
                self.new_sketch().expect("value aggregates have dimensions")
            });
            let before = sketch.heap_size();
            sketch.insert_hash(hash, weight);
            delta += sketch.heap_size() as isize - before as isize;
        })?;
        Ok(delta)
    }

    fn merge_state(&self, slot: &mut Option<CountMin>, bytes: &[u8]) -> Result<isize> {
        let incoming = self.decode(bytes)?;
        Ok(match slot {
            Some(s) => {
                let before = s.heap_size();
                s.merge(&incoming).map_err(|e| self.error(e))?;
                s.heap_size() as isize - before as isize
            }
            None => {
                let size = incoming.heap_size() as isize;
                *slot = Some(incoming);
                size
            }
        })
    }

    fn write_state(&self, sketch: Option<&mut CountMin>, out: &mut Vec<u8>) -> bool {
        match (sketch, self.new_sketch()) {
            (Some(s), _) => s.write_to(out),
            // A value aggregate over no rows gives the empty sketch, not NULL.
            (None, Some(empty)) => empty.write_to(out),
            (None, None) => return false,
        }
        true
    }

    fn evaluate(&self, sketches: Vec<Option<CountMin>>) -> Result<ArrayRef> {
        Ok(states_array(self, sketches))
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        keep: &dyn Fn(usize) -> bool,
    ) -> Result<ArrayRef> {
        let rows = values[0].len();
        let mut builder = LargeBinaryBuilder::with_capacity(rows, rows * 48);
        let (mut next_row, mut buf) = (0, Vec::with_capacity(64));
        self.for_each_row(values, keep, |row, hash, weight| {
            (next_row..row).for_each(|_| builder.append_null());
            let mut one = self.new_sketch().expect("value aggregates have dimensions");
            one.insert_hash(hash, weight);
            buf.clear();
            one.write_to(&mut buf);
            builder.append_value(&buf);
            next_row = row + 1;
        })?;
        (next_row..rows).for_each(|_| builder.append_null());
        Ok(Arc::new(builder.finish()))
    }
}

impl Retract for CmsGlue {
    fn retract(&self, slot: &mut Option<CountMin>, values: &[ArrayRef]) -> Result<()> {
        let mut leaving: Option<CountMin> = None;
        update_any(
            self,
            std::slice::from_mut(&mut leaving),
            values,
            &vec![0; values[0].len()],
            &|_| true,
        )?;
        match (slot.as_mut(), leaving) {
            (Some(s), Some(l)) => s.retract(&l).map_err(|e| self.error(e)),
            (_, None) => Ok(()),
            (None, Some(_)) => exec_err!(
                "{}: retracting rows that never entered the frame",
                self.function()
            ),
        }
    }
}

/// `cms_estimate(state, item)`: the estimated count of `item`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CmsEstimate {
    signature: Signature,
}

impl Default for CmsEstimate {
    fn default() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

fn decode_state(function: &str, bytes: &[u8]) -> Result<CountMin> {
    CountMin::from_bytes(bytes).map_err(|e| exec_datafusion_err!("{function}: {e}"))
}

impl ScalarUDFImpl for CmsEstimate {
    fn name(&self) -> &str {
        "cms_estimate"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        check_arity(self.name(), args, 2, 2, "a cms state and an item")?;
        check_state_type(self.name(), &args[0])?;
        check_hashable(self.name(), &args[1])?;
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (values, all_scalar) =
            probe_hashes(self.name(), &args, CountMin::from_bytes, |s, h| {
                s.estimate(h).min(i64::MAX as u64) as i64
            })?;
        columnar(Arc::new(Int64Array::from(values)), all_scalar)
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            doc(
                "The estimated number of occurrences (total weight) of `item` in a Count-Min \
                 state: never below the truth. The item may be a literal or a column, of any \
                 type that hashes like the sketched values (an integer literal finds INT, \
                 BIGINT or DOUBLE values alike). NULL state or item gives NULL.",
                "cms_estimate(state, item)",
                &[
                    ("state", "A cms state."),
                    ("item", "The value to look up: a literal or a column."),
                ],
                "```sql\nSELECT t.event_type, cms_estimate(s.st, t.event_type) AS estimated\nFROM (SELECT cms_sketch(event_type) AS st FROM events) s CROSS JOIN (VALUES ('click'), ('purchase')) AS t(event_type);\n```",
            )
        });
        Some(&DOC)
    }
}

/// `cms_total(state)`: the total weight in a Count-Min state.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CmsTotal {
    signature: Signature,
}

impl Default for CmsTotal {
    fn default() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for CmsTotal {
    fn name(&self) -> &str {
        "cms_total"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        check_state_args(self.name(), args, 1, "one argument (a cms state)")?;
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let f = self.name();
        map_rows(&args, |arrays, row| {
            let total = match state_at(f, arrays[0].as_ref(), row)? {
                Some(bytes) => Some(decode_state(f, bytes)?.total().min(i64::MAX as u64) as i64),
                None => None,
            };
            Ok(ScalarValue::Int64(total))
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            doc(
                "The total weight (row count for cms_sketch) that went into a Count-Min state, \
                 exact. With it, epsilon x cms_total(state) is the error bound of every estimate.",
                "cms_total(state)",
                &[("state", "A cms state.")],
                "```sql\nSELECT cms_total(cms_sketch(event_type)) AS events FROM events;\n```",
            )
        });
        Some(&DOC)
    }
}
