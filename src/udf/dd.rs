//! DDSketch functions: `dd_sketch`, `dd_merge` (aggregates) and `dd_quantile` (scalar).

use super::args::{Default, Param, ParamKind, ParamValue};
use super::docs::Doc;
use super::family::{Aggregates, Magnitudes, Rows, SketchAggregate, collect_numbers, state_sketch};
use super::scalar::{StateScalar, quantile_scalar};
use crate::sketch::dd::{
    DEFAULT_ALPHA, DEFAULT_MAX_BUCKETS, DdSketch, MAX_MAX_BUCKETS, MIN_MAX_BUCKETS,
};
use datafusion::common::Result;

// Parameters: the relative accuracy alpha and the bucket bound.
state_sketch!(
    DdSketch,
    (f64, u32) => |(alpha, max_buckets)| DdSketch::with_max_buckets(alpha, max_buckets),
    Magnitudes => DdSketch::insert,
    {
        fn insert_rows(&mut self, rows: &Rows<'_>) -> Result<()> {
            self.insert_many(&collect_numbers::<Magnitudes>(rows)?);
            Ok(())
        }
    }
);

static PARAMS: [Param; 2] = [
    Param {
        name: "alpha",
        kind: ParamKind::Number {
            valid: |a| DdSketch::new(a).is_ok(),
            expected: "strictly between 0 and 1",
        },
        default: Some(Default::Number(DEFAULT_ALPHA)),
        doc: "Relative accuracy.",
    },
    Param {
        name: "max_buckets",
        kind: ParamKind::Integer(MIN_MAX_BUCKETS as i64..=MAX_MAX_BUCKETS as i64),
        default: Some(Default::Integer(DEFAULT_MAX_BUCKETS as i64)),
        doc: "Bound on the buckets per sign; each bucket takes a few bytes.",
    },
];

const AGGREGATES: Aggregates<DdSketch> = Aggregates::two_stack("sketch");

/// `dd_sketch(x [, alpha, max_buckets])`.
pub fn sketch() -> SketchAggregate<DdSketch> {
    AGGREGATES.sketch("dd_sketch", &PARAMS, accuracy_and_buckets, &SKETCH_DOC)
}

fn accuracy_and_buckets(_: &str, values: &[ParamValue]) -> Result<(f64, u32)> {
    Ok((values[0].number(), values[1].integer() as u32))
}

/// `dd_merge(state)`.
pub fn merge() -> SketchAggregate<DdSketch> {
    AGGREGATES.merge("dd_merge", &MERGE_DOC)
}

const SKETCH_DOC: Doc = Doc {
    description: "Builds a DDSketch of `x`: a mergeable binary state whose quantiles (dd_quantile) are \
         within relative error alpha of a true value at that rank, after any merges: with the \
         default alpha of 1%, a p99 latency of 250 ms comes back between 247.5 and 252.5. Made \
         for latencies and sizes, whose range spans orders of magnitude. Zero and negative \
         values are kept exactly apart; NULL and NaN are skipped; infinities are counted and \
         returned at their ranks. Each sign keeps at most max_buckets buckets (2,048 by \
         default, which covers about 17 decades of values at alpha 1% and 1.8 at 0.1%): beyond \
         that the buckets nearest zero are collapsed into one, so the lowest quantiles lose \
         the guarantee while the high ones keep it (sketch_info then shows mode \
         'collapsed'). Also runs in moving window frames.",
    arguments: &[(
        "x",
        "A numeric or duration column (durations as nanoseconds).",
    )],
    example: "```sql\nSELECT dd_quantile(dd_sketch(latency_ms), 0.99) AS p99 FROM requests;\n```",
};

const MERGE_DOC: Doc = Doc {
    description: "Merges DDSketch states: the sketch of all their inputs, with the same relative-error \
         guarantee. States must have the same alpha and bucket bound; otherwise an error says \
         so. Null states are skipped; no states gives NULL. Runs in moving window frames.",
    arguments: &[("state", "A column of states made by dd_sketch or dd_merge.")],
    example: "```sql\nSELECT dd_quantile(dd_merge(s), 0.99) FROM per_minute WHERE w >= now() - INTERVAL '1 hour';\n```",
};

/// `dd_quantile(state, q)`.
pub fn quantile() -> StateScalar {
    quantile_scalar::<DdSketch>("dd_quantile(state, q)", "a dd state and q", QUANTILE_DOC)
}

const QUANTILE_DOC: Doc = Doc {
    description: "The approximate quantile `q` of the values behind a DDSketch state, as \
             DOUBLE: within relative error alpha of the true value at rank \
             floor(q (n - 1)). NULL for a NULL or empty state; q outside [0, 1] is an \
             error.",
    arguments: &[
        ("state", "A dd state."),
        ("q", "The quantile in [0, 1], a literal or a column."),
    ],
    example: "```sql\nSELECT w, dd_quantile(s, 0.99) AS p99 FROM per_minute ORDER BY w;\n```",
};
