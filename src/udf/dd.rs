//! DDSketch functions: `dd_sketch`, `dd_merge` (aggregates) and `dd_quantile`.

use super::args::{check_arity, check_float_param, check_integer_param, float_arg, integer_arg};
use super::docs::doc;
use super::family::{AggregateSpec, SketchAggregate, StateSketch, stored_like_its_methods};
use super::numbers::check_number_input;
use super::numbers::check_numeric_q;
use super::scalar::{per_state_and_q, state_scalar};
use crate::sketch::dd::{
    DEFAULT_ALPHA, DEFAULT_MAX_BUCKETS, DdSketch, MAX_MAX_BUCKETS, MIN_MAX_BUCKETS,
};
use arrow::datatypes::DataType;
use datafusion::common::{Result, exec_datafusion_err, plan_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::LazyLock;

const SKETCH: &str = "dd_sketch";
const MERGE: &str = "dd_merge";
const ALPHA_RANGE: &str = "strictly between 0 and 1";
const BUCKETS: std::ops::RangeInclusive<i64> = MIN_MAX_BUCKETS as i64..=MAX_MAX_BUCKETS as i64;

fn alpha_ok(a: f64) -> bool {
    DdSketch::new(a).is_ok()
}

impl StateSketch for DdSketch {
    /// The relative accuracy alpha and the bucket bound.
    type Params = (f64, u32);
    type Input = f64;

    fn create((alpha, max_buckets): (f64, u32)) -> Self {
        DdSketch::with_max_buckets(alpha, max_buckets).expect("parameters checked when planning")
    }

    fn insert(&mut self, v: f64) {
        DdSketch::insert(self, v)
    }

    fn insert_all(&mut self, values: &[f64]) {
        DdSketch::insert_many(self, values)
    }

    stored_like_its_methods!(DdSketch);
}

/// `dd_sketch(x [, alpha])`.
pub fn sketch() -> SketchAggregate<DdSketch> {
    SketchAggregate::new(AggregateSpec {
        name: SKETCH,
        reads_states: false,
        return_type: |_, args| {
            check_arity(
                SKETCH,
                args,
                1,
                3,
                "a numeric value, an optional alpha and max_buckets",
            )?;
            check_number_input(SKETCH, &args[0], false)?;
            match args[1..].iter().find(|t| !t.is_numeric() && !t.is_null()) {
                Some(t) => {
                    plan_err!("{SKETCH}: alpha and max_buckets must be numeric literals, got {t}")
                }
                None => Ok(DataType::LargeBinary),
            }
        },
        params: |args| {
            let alpha = float_arg(
                SKETCH,
                "alpha",
                args.exprs,
                1,
                ALPHA_RANGE,
                alpha_ok,
                DEFAULT_ALPHA,
            )?;
            let buckets = integer_arg(
                SKETCH,
                "max_buckets",
                args.exprs,
                2,
                BUCKETS,
                DEFAULT_MAX_BUCKETS as i64,
            )?;
            Ok((alpha, buckets as u32))
        },
        check_literals: |args| {
            check_float_param(SKETCH, "alpha", args.get(1), ALPHA_RANGE, alpha_ok)?;
            check_integer_param(SKETCH, "max_buckets", args.get(2), BUCKETS)
        },
        finish: None,
        documentation: || &SKETCH_DOC,
    })
}

/// `dd_merge(state)`.
pub fn merge() -> SketchAggregate<DdSketch> {
    SketchAggregate::merging(MERGE, || &MERGE_DOC)
}

static SKETCH_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Builds a DDSketch of `x`: a mergeable binary state whose quantiles (dd_quantile) are \
         within relative error alpha of a true value at that rank, after any merges: with the \
         default alpha of 1%, a p99 latency of 250 ms comes back between 247.5 and 252.5. Made \
         for latencies and sizes, whose range spans orders of magnitude. Zero and negative \
         values are kept exactly apart; NULL and NaN are skipped; infinities are counted and \
         returned at their ranks. Each sign keeps at most max_buckets buckets (2,048 by \
         default, which covers about 17 decades of values at alpha 1% and 1.8 at 0.1%): beyond \
         that the buckets nearest zero are collapsed into one, so the lowest quantiles lose \
         the guarantee while the high ones keep it (sketch_info then shows mode \
         'collapsed'). Also runs in moving window frames.",
        "dd_sketch(x [, alpha [, max_buckets]])",
        &[
            (
                "x",
                "A numeric or duration column (durations as nanoseconds).",
            ),
            (
                "alpha",
                "Optional relative accuracy, a literal strictly between 0 and 1 (default 0.01).",
            ),
            (
                "max_buckets",
                "Optional bound on the buckets per sign, an integer literal from 16 to 1,048,576 (default 2,048); each bucket takes a few bytes.",
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
