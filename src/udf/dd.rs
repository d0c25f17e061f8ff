//! DDSketch functions: `dd_sketch`, `dd_merge` (aggregates) and `dd_quantile`.

use super::args::check_state_type;
use super::args::{check_arity, check_float_param, float_arg};
use super::docs::doc;
use super::family::{AggregateSpec, SketchAggregate, StateSketch, merge_return_type, no_literals};
use super::kll::{per_state_and_q, state_scalar};
use super::numbers::{check_number_input, for_each_number};
use crate::sketch::SketchError;
use crate::sketch::dd::{DEFAULT_ALPHA, DdSketch};
use arrow::array::ArrayRef;
use arrow::datatypes::DataType;
use datafusion::common::{Result, exec_datafusion_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::LazyLock;

const SKETCH: &str = "dd_sketch";
const MERGE: &str = "dd_merge";
const ALPHA_RANGE: &str = "strictly between 0 and 1";

fn alpha_ok(a: f64) -> bool {
    DdSketch::new(a).is_ok()
}

impl StateSketch for DdSketch {
    /// The relative accuracy alpha.
    type Params = f64;
    type Input = f64;

    fn create(alpha: f64) -> Self {
        DdSketch::new(alpha).expect("alpha checked when planning")
    }

    fn feed(
        _function: &str,
        values: &[ArrayRef],
        keep: &dyn Fn(usize) -> bool,
        f: &mut dyn FnMut(usize, f64),
    ) -> Result<()> {
        for_each_number(values[0].as_ref(), keep, f)
    }

    fn insert(&mut self, v: f64) {
        DdSketch::insert(self, v)
    }

    fn heap_size(&self) -> usize {
        DdSketch::heap_size(self)
    }

    fn write_to(&self, out: &mut Vec<u8>) {
        DdSketch::write_to(self, out)
    }

    fn decode(bytes: &[u8]) -> Result<Self, SketchError> {
        DdSketch::from_bytes(bytes)
    }

    fn merge(&mut self, other: &Self) -> Result<(), SketchError> {
        DdSketch::merge(self, other)
    }
}

/// `dd_sketch(x [, alpha])`.
pub fn sketch() -> SketchAggregate<DdSketch> {
    SketchAggregate::new(AggregateSpec {
        name: SKETCH,
        reads_states: false,
        return_type: |args| {
            check_arity(SKETCH, args, 1, 2, "a numeric value and an optional alpha")?;
            check_number_input(SKETCH, &args[0], false)?;
            match args.get(1) {
                Some(t) if !t.is_numeric() && !t.is_null() => {
                    plan_err!("{SKETCH}: alpha must be a numeric literal, got {t}")
                }
                _ => Ok(DataType::LargeBinary),
            }
        },
        params: |args| {
            float_arg(
                SKETCH,
                "alpha",
                args.exprs,
                1,
                ALPHA_RANGE,
                alpha_ok,
                DEFAULT_ALPHA,
            )
        },
        check_literals: |args| {
            check_float_param(SKETCH, "alpha", args.get(1), ALPHA_RANGE, alpha_ok)
        },
        finish: None,
        documentation: || &SKETCH_DOC,
    })
}

/// `dd_merge(state)`.
pub fn merge() -> SketchAggregate<DdSketch> {
    SketchAggregate::new(AggregateSpec {
        name: MERGE,
        reads_states: true,
        return_type: |args| merge_return_type(MERGE, args),
        params: |_| plan_err!("{MERGE} reads states"),
        check_literals: no_literals,
        finish: None,
        documentation: || &MERGE_DOC,
    })
}

static SKETCH_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Builds a DDSketch of `x`: a mergeable binary state whose quantiles (dd_quantile) are \
         within relative error alpha of a true value at that rank, after any merges: with the \
         default alpha of 1%, a p99 latency of 250 ms comes back between 247.5 and 252.5. Made \
         for latencies and sizes, whose range spans orders of magnitude. Zero and negative \
         values are kept exactly apart; NULL and NaN are skipped; infinities are counted and \
         returned at their ranks. Each sign keeps at most 2,048 buckets: beyond that the \
         buckets nearest zero are collapsed into one, so the lowest quantiles lose the \
         guarantee before the high ones do (sketch_info reports it). Also runs in moving \
         window frames.",
        "dd_sketch(x [, alpha])",
        &[
            (
                "x",
                "A numeric or duration column (durations as nanoseconds).",
            ),
            (
                "alpha",
                "Optional relative accuracy, a literal strictly between 0 and 1 (default 0.01).",
            ),
        ],
        "```sql\nSELECT dd_quantile(dd_sketch(latency_ms), 0.99) AS p99 FROM requests;\n```",
    )
});

static MERGE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Merges DDSketch states: the sketch of all their inputs, with the same relative-error \
         guarantee. States must have the same alpha and bucket bound; otherwise an error says \
         so. Null states are skipped; no states gives NULL. Runs in moving window frames.",
        "dd_merge(state)",
        &[("state", "A column of states made by dd_sketch or dd_merge.")],
        "```sql\nSELECT dd_quantile(dd_merge(s), 0.99) FROM per_minute WHERE w >= now() - INTERVAL '1 hour';\n```",
    )
});

fn decode(function: &str, bytes: &[u8]) -> Result<DdSketch> {
    DdSketch::from_bytes(bytes).map_err(|e| exec_datafusion_err!("{function}: {e}"))
}

fn check_numeric_q(t: &DataType) -> Result<()> {
    if t.is_numeric() || t.is_null() {
        Ok(())
    } else {
        plan_err!("dd_quantile: q must be a number in [0, 1], got {t}")
    }
}

state_scalar!(
    DdQuantile,
    "dd_quantile",
    "a dd state and q",
    DataType::Float64,
    check_numeric_q,
    |args| per_state_and_q("dd_quantile", args, decode, |s: &DdSketch, q| {
        s.quantile(q)
            .map_err(|e| exec_datafusion_err!("dd_quantile: {e}"))
    }),
    || doc(
        "The approximate quantile `q` of the values behind a DDSketch state, as DOUBLE: within \
         relative error alpha of the true value at rank floor(q (n - 1)). NULL for a NULL or \
         empty state; q outside [0, 1] is an error.",
        "dd_quantile(state, q)",
        &[
            ("state", "A dd state."),
            ("q", "The quantile in [0, 1], a literal or a column."),
        ],
        "```sql\nSELECT w, dd_quantile(s, 0.99) AS p99 FROM per_minute ORDER BY w;\n```",
    )
);
