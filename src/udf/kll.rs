//! KLL quantile functions: `kll_sketch`, `kll_merge` (aggregates), `kll_quantile`,
//! `kll_quantiles` and `kll_rank` (scalars).

use super::args::{Default, Param, ParamKind};
use super::docs::Doc;
use super::family::{Aggregates, Numbers, Rows, SketchAggregate, collect_numbers, state_sketch};
use super::numbers::{check_number_input, numbers_of, q_list};
use super::quantile::{check_q_list_type, list_of};
use super::scalar::{
    Args, ScalarSpec, StateScalar, decode, map_rows, map_rows_to_list, quantile_scalar, state_at,
};
use crate::sketch::kll::{DEFAULT_K, Kll};
use arrow::array::Array;
use arrow::datatypes::{DataType, Float64Type};
use datafusion::common::{Result, ScalarValue, exec_datafusion_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs};

/// The accuracy parameter `k` of KLL sketches (also the guard of `approx_quantile`).
pub const K_RANGE: std::ops::RangeInclusive<i64> = 8..=65_535;

state_sketch!(Kll, u16 => Kll::new, Numbers => Kll::insert, {
    fn insert_rows(&mut self, rows: &Rows<'_>) -> Result<()> {
        self.insert_many(&collect_numbers::<Numbers>(rows)?);
        Ok(())
    }
});

static K: [Param; 1] = [Param {
    name: "k",
    kind: ParamKind::Integer(K_RANGE),
    default: Some(Default::Integer(DEFAULT_K as i64)),
    doc: "Accuracy: the normalized rank error is about 1.33% at k = 200 with 99% confidence, \
          roughly inversely proportional to k. A full sketch takes about 3 k values (5 KB at \
          200).",
}];

const AGGREGATES: Aggregates<Kll> = Aggregates::two_stack("sketch");

/// `kll_sketch(x [, k])`.
pub fn sketch() -> SketchAggregate<Kll> {
    AGGREGATES.sketch(
        "kll_sketch",
        &K,
        |_, values| Ok(values[0].integer() as u16),
        &SKETCH_DOC,
    )
}

/// `kll_merge(state)`.
pub fn merge() -> SketchAggregate<Kll> {
    AGGREGATES.merge("kll_merge", &MERGE_DOC)
}

const SKETCH_DOC: Doc = Doc {
    description: "Builds a KLL quantile sketch of `x`: a mergeable binary state that answers \
         \"what is the p99\" (kll_quantile) and \"what fraction is at most v\" (kll_rank) \
         within a rank error of about 1.33% at the default k, with 99% confidence, also after \
         any number of merges. Numbers of every type are sketched as DOUBLE; dates, \
         timestamps and durations as nanoseconds. NULL and NaN are skipped; infinities are \
         ordinary values at the ends. Also runs in moving window frames.",
    arguments: &[("x", "A numeric, date, timestamp or duration column.")],
    example: "```sql\nSELECT kll_quantile(kll_sketch(value), 0.99) AS p99 FROM events;\n```",
};

const MERGE_DOC: Doc = Doc {
    description: "Merges KLL states: the sketch of all their inputs, with the same rank-error \
         guarantee. States with different k merge (the result keeps the smaller k). Null \
         states are skipped; no states gives NULL. Runs in moving window frames.",
    arguments: &[(
        "state",
        "A column of states made by kll_sketch or kll_merge.",
    )],
    example: "```sql\nSELECT kll_quantile(kll_merge(latency), 0.99) FROM hourly WHERE day = DATE '2026-11-28';\n```",
};

/// `kll_quantile(state, q)`.
pub fn quantile() -> StateScalar {
    quantile_scalar::<Kll>("kll_quantile(state, q)", "a kll state and q", QUANTILE_DOC)
}

const QUANTILE_DOC: Doc = Doc {
    description: "The approximate quantile `q` of the values behind a KLL state, as DOUBLE (dates and \
         timestamps as nanoseconds since the epoch: wrap in to_timestamp_nanos(CAST(... AS \
         BIGINT))). NULL for a NULL or empty state; q outside [0, 1] is an error.",
    arguments: &[
        ("state", "A kll state."),
        ("q", "The quantile in [0, 1], a literal or a column."),
    ],
    example: "```sql\nSELECT w, kll_quantile(s, 0.5) AS p50, kll_quantile(s, 0.99) AS p99 FROM per_minute;\n```",
};

/// `kll_quantiles(state, [q, ...])`.
pub fn quantiles() -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax: "kll_quantiles(state, [q, ...])",
        doc: Doc {
            description: "Several approximate quantiles of the values behind a KLL state, as a list of DOUBLE \
                 (one pass over the sketch). NULL for a NULL or empty state.",
            arguments: &[
                ("state", "A kll state."),
                ("quantiles", "A list of quantiles in [0, 1]."),
            ],
            example: "```sql\nSELECT kll_quantiles(kll_sketch(value), [0.5, 0.9, 0.99]) FROM events;\n```",
        },
        args: Args::StateAnd("a kll state and a list of quantiles", check_q_list_type),
        returns: || list_of(DataType::Float64),
        invoke: quantile_lists,
    })
}

fn quantile_lists(f: &str, args: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    // The usual list of quantiles is a constant: read it once.
    let constant_qs = match &args.args[1] {
        ColumnarValue::Scalar(qs) => Some(q_list(f, qs)?.unwrap_or_default()),
        ColumnarValue::Array(_) => None,
    };
    map_rows_to_list::<Float64Type>(args, |arrays, row| {
        let (Some(bytes), false) = (
            state_at(f, arrays[0].as_ref(), row)?,
            arrays[1].is_null(row),
        ) else {
            return Ok(None);
        };
        let row_qs;
        let qs = match &constant_qs {
            Some(qs) => qs,
            None => {
                row_qs = q_list(f, &ScalarValue::try_from_array(&arrays[1], row)?)?;
                row_qs.as_ref().map_or(&[][..], |q| &q[..])
            }
        };
        decode::<Kll>(f, bytes)?
            .quantiles(qs)
            .map_err(|e| exec_datafusion_err!("{f}: {e}"))
    })
}

/// `kll_rank(state, value)`.
pub fn rank() -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax: "kll_rank(state, value)",
        doc: Doc {
            description: "The approximate fraction of the values behind a KLL state that are at most `value` \
                 (its normalized rank, in [0, 1]), within the sketch's rank error. NULL for a NULL or \
                 empty state or a NULL value.",
            arguments: &[
                ("state", "A kll state."),
                (
                    "value",
                    "A number (or date, timestamp, duration), a literal or a column.",
                ),
            ],
            example: "```sql\n-- Share of requests served within 250 ms\nSELECT kll_rank(kll_sketch(latency_ms), 250) FROM requests;\n```",
        },
        args: Args::StateAnd("a kll state and a value", |f, t| {
            check_number_input(f, t, true)
        }),
        returns: || DataType::Float64,
        invoke: ranks,
    })
}

fn ranks(f: &str, args: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    let mut values: Option<Vec<Option<f64>>> = None;
    map_rows(args, |arrays, row| {
        if values.is_none() {
            values = Some(numbers_of(arrays[1].as_ref())?);
        }
        let v = values.as_ref().expect("read above")[row];
        let (Some(bytes), Some(v)) = (state_at(f, arrays[0].as_ref(), row)?, v) else {
            return Ok(ScalarValue::Float64(None));
        };
        Ok(ScalarValue::Float64(decode::<Kll>(f, bytes)?.rank(v)))
    })
}
