//! KLL quantile functions: `kll_sketch`, `kll_merge`, `approx_quantile`, `approx_quantiles`
//! (aggregates) and `kll_quantile`, `kll_quantiles`, `kll_rank` (scalars).

use super::args::{check_arity, check_float_param, check_integer_param, constant_arg, integer_arg};
use super::docs::doc;
use super::family::{AggregateSpec, Finish, SketchAggregate, StateSketch, stored_like_its_methods};
use super::numbers::check_numeric_q;
use super::numbers::{check_number_input, check_q, numbers_of, output_type, q_list, to_output};
use super::scalar::{map_rows, per_state_and_q, state_at, state_scalar};
use crate::sketch::kll::{DEFAULT_K, Kll};
use crate::sketch::tdigest::{MAX_TARGETS, TargetedDigest, guard_k};
use arrow::array::{Array, ArrayRef, ListArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, ScalarValue, exec_datafusion_err, plan_datafusion_err, plan_err};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::{Arc, LazyLock};

const SKETCH: &str = "kll_sketch";
const MERGE: &str = "kll_merge";
const APPROX: &str = "approx_quantile";
const APPROX_MANY: &str = "approx_quantiles";
const K_RANGE: std::ops::RangeInclusive<i64> = 8..=65_535;
const Q_RANGE: &str = "in [0, 1]";

fn unit_closed(q: f64) -> bool {
    (0.0..=1.0).contains(&q)
}

impl StateSketch for Kll {
    type Params = u16;
    type Input = f64;

    fn create(k: u16) -> Self {
        Kll::new(k).expect("k checked when planning")
    }

    fn insert(&mut self, v: f64) {
        Kll::insert(self, v)
    }

    fn insert_all(&mut self, values: &[f64]) {
        Kll::insert_many(self, values)
    }

    stored_like_its_methods!(Kll);
}

/// What a one-shot quantile sketch is built from: the `k` of its guard (worked out once from
/// the `k` of the rank bound, not per group) and the quantiles asked for (0 and 1 are
/// answered exactly without a target).
#[derive(Debug, Clone, Copy)]
pub struct QuantileParams {
    guard_k: u16,
    targets: [f64; MAX_TARGETS],
    len: usize,
}

impl QuantileParams {
    fn new(function: &str, k: u16, qs: &[f64]) -> Result<Self> {
        let mut inner: Vec<f64> = qs.iter().copied().filter(|&q| q > 0.0 && q < 1.0).collect();
        inner.sort_by(f64::total_cmp);
        inner.dedup();
        if inner.len() > MAX_TARGETS {
            return plan_err!(
                "{function}: at most {MAX_TARGETS} distinct quantiles besides 0 and 1, got {} \
                 (kll_quantiles(kll_sketch(x), [...]) takes any number)",
                inner.len()
            );
        }
        let mut targets = [0.0; MAX_TARGETS];
        targets[..inner.len()].copy_from_slice(&inner);
        Ok(Self {
            guard_k: guard_k(k),
            targets,
            len: inner.len(),
        })
    }
}

impl StateSketch for TargetedDigest {
    type Params = QuantileParams;
    type Input = f64;

    fn create(p: QuantileParams) -> Self {
        TargetedDigest::new(&p.targets[..p.len], p.guard_k)
            .expect("targets and k checked when planning")
    }

    fn insert(&mut self, v: f64) {
        TargetedDigest::insert(self, v)
    }

    fn insert_all(&mut self, values: &[f64]) {
        TargetedDigest::insert_many(self, values)
    }

    stored_like_its_methods!(TargetedDigest);
}

/// `k` from argument `index`, or the default.
fn k_param(function: &str, args: &AccumulatorArgs, index: usize) -> Result<u16> {
    Ok(integer_arg(function, "k", args.exprs, index, K_RANGE, DEFAULT_K as i64)? as u16)
}

fn check_k_type(function: &str, t: Option<&DataType>) -> Result<()> {
    match t {
        Some(t) if !t.is_integer() && !t.is_null() => {
            plan_err!("{function}: k must be an integer literal, got {t}")
        }
        _ => Ok(()),
    }
}

/// `kll_sketch(x [, k])`.
pub fn sketch() -> SketchAggregate<Kll> {
    SketchAggregate::new(AggregateSpec {
        name: SKETCH,
        reads_states: false,
        return_type: |_, args| {
            check_arity(SKETCH, args, 1, 2, "a numeric value and an optional k")?;
            check_number_input(SKETCH, &args[0], true)?;
            check_k_type(SKETCH, args.get(1))?;
            Ok(DataType::LargeBinary)
        },
        params: |args| k_param(SKETCH, args, 1),
        check_literals: |args| check_integer_param(SKETCH, "k", args.get(1), K_RANGE),
        finish: None,
        documentation: || &SKETCH_DOC,
    })
}

/// `kll_merge(state)`.
pub fn merge() -> SketchAggregate<Kll> {
    SketchAggregate::merging(MERGE, || &MERGE_DOC)
}

/// The quantile at `q` of each sketch, as `out_type`.
fn quantile_column(
    function: &str,
    sketches: Vec<Option<TargetedDigest>>,
    q: f64,
    out_type: &DataType,
) -> Result<ArrayRef> {
    let values = sketches
        .iter()
        .map(|s| match s {
            Some(s) => s
                .quantile(q)
                .map_err(|e| exec_datafusion_err!("{function}: {e}")),
            None => Ok(None),
        })
        .collect::<Result<Vec<_>>>()?;
    to_output(values, out_type)
}

/// The constant `q` of `approx_quantile`, checked.
fn single_q(args: &AccumulatorArgs) -> Result<f64> {
    let q = match constant_arg(APPROX, "q", args.exprs, 1)? {
        Some(v) if !v.is_null() => v
            .cast_to(&DataType::Float64)
            .ok()
            .and_then(|v| match v {
                ScalarValue::Float64(x) => x,
                _ => None,
            })
            .ok_or_else(|| plan_datafusion_err!("{APPROX}: q must be a number, got {v}"))?,
        _ => return plan_err!("{APPROX}: q must not be NULL"),
    };
    check_q(APPROX, q)
}

/// The constant list of quantiles of `approx_quantiles`, checked.
fn q_list_arg(args: &AccumulatorArgs) -> Result<Vec<f64>> {
    match constant_arg(APPROX_MANY, "quantiles", args.exprs, 1)? {
        Some(v) => q_list(APPROX_MANY, &v)?,
        None => None,
    }
    .ok_or_else(|| plan_datafusion_err!("{APPROX_MANY}: quantiles must not be NULL"))
}

/// `approx_quantile(x, q [, k])`.
pub fn approx() -> SketchAggregate<TargetedDigest> {
    SketchAggregate::new(AggregateSpec {
        name: APPROX,
        reads_states: false,
        return_type: |_, args| {
            check_arity(APPROX, args, 2, 3, "a numeric value, q, and an optional k")?;
            check_number_input(APPROX, &args[0], true)?;
            if !args[1].is_numeric() && !args[1].is_null() {
                return plan_err!("{APPROX}: q must be a numeric literal, got {}", args[1]);
            }
            check_k_type(APPROX, args.get(2))?;
            Ok(output_type(&args[0]))
        },
        params: |args| QuantileParams::new(APPROX, k_param(APPROX, args, 2)?, &[single_q(args)?]),
        check_literals: |args| {
            check_float_param(APPROX, "q", args.get(1), Q_RANGE, unit_closed)?;
            check_integer_param(APPROX, "k", args.get(2), K_RANGE)
        },
        finish: Some(|args| {
            let q = single_q(args)?;
            let out_type = args.return_field.data_type().clone();
            let finish: Finish<TargetedDigest> =
                Arc::new(move |sketches| quantile_column(APPROX, sketches, q, &out_type));
            Ok(finish)
        }),
        documentation: || &APPROX_DOC,
    })
}

/// The quantiles `qs` of each sketch, as lists of `item_type`.
fn quantile_lists(
    function: &str,
    sketches: Vec<Option<TargetedDigest>>,
    qs: &[f64],
    item_type: &DataType,
) -> Result<ArrayRef> {
    let mut flat = Vec::with_capacity(sketches.len() * qs.len());
    let mut lengths = Vec::with_capacity(sketches.len());
    let mut valid = Vec::with_capacity(sketches.len());
    for s in &sketches {
        let found = match s {
            Some(s) => s
                .quantiles(qs)
                .map_err(|e| exec_datafusion_err!("{function}: {e}"))?,
            None => None,
        };
        valid.push(found.is_some());
        let found = found.unwrap_or_default();
        lengths.push(found.len());
        flat.extend(found.into_iter().map(Some));
    }
    let values = to_output(flat, item_type)?;
    let field = Arc::new(Field::new_list_field(item_type.clone(), true));
    Ok(Arc::new(ListArray::try_new(
        field,
        OffsetBuffer::from_lengths(lengths),
        values,
        Some(valid.into()),
    )?))
}

fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item, true)))
}

fn check_q_list_type(function: &str, t: &DataType) -> Result<()> {
    match t {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _)
            if f.data_type().is_numeric() || f.data_type().is_null() =>
        {
            Ok(())
        }
        DataType::Null => Ok(()),
        other => plan_err!(
            "{function}: quantiles must be a list of numbers such as [0.5, 0.99], got {other}"
        ),
    }
}

/// Plan-time check of a literal list of quantiles.
fn check_q_list_literal(function: &str, arg: Option<&Expr>) -> Result<()> {
    if let Some(Expr::Literal(v, _)) = arg
        && let Some(qs) = q_list(function, v)?
    {
        QuantileParams::new(function, DEFAULT_K, &qs)?;
    }
    Ok(())
}

/// `approx_quantiles(x, [q, …] [, k])`.
pub fn approx_many() -> SketchAggregate<TargetedDigest> {
    SketchAggregate::new(AggregateSpec {
        name: APPROX_MANY,
        reads_states: false,
        return_type: |_, args| {
            check_arity(
                APPROX_MANY,
                args,
                2,
                3,
                "a numeric value, a list of quantiles, and an optional k",
            )?;
            check_number_input(APPROX_MANY, &args[0], true)?;
            check_q_list_type(APPROX_MANY, &args[1])?;
            check_k_type(APPROX_MANY, args.get(2))?;
            Ok(list_of(output_type(&args[0])))
        },
        params: |args| {
            QuantileParams::new(
                APPROX_MANY,
                k_param(APPROX_MANY, args, 2)?,
                &q_list_arg(args)?,
            )
        },
        check_literals: |args| {
            check_q_list_literal(APPROX_MANY, args.get(1))?;
            check_integer_param(APPROX_MANY, "k", args.get(2), K_RANGE)
        },
        finish: Some(|args| {
            let qs = q_list_arg(args)?;
            let item_type = match args.return_field.data_type() {
                DataType::List(f) => f.data_type().clone(),
                other => return plan_err!("{APPROX_MANY}: unexpected return type {other}"),
            };
            let finish: Finish<TargetedDigest> =
                Arc::new(move |sketches| quantile_lists(APPROX_MANY, sketches, &qs, &item_type));
            Ok(finish)
        }),
        documentation: || &APPROX_MANY_DOC,
    })
}

const K_ARG: (&str, &str) = (
    "k",
    "Optional accuracy parameter, an integer literal from 8 to 65535 (default 200): the normalized rank error is about 1.33% at k = 200 with 99% confidence, roughly inversely proportional to k. A full sketch takes about 3 k values (5 KB at 200).",
);

static SKETCH_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Builds a KLL quantile sketch of `x`: a mergeable binary state that answers \
         \"what is the p99\" (kll_quantile) and \"what fraction is at most v\" (kll_rank) \
         within a rank error of about 1.33% at the default k, with 99% confidence, also after \
         any number of merges. Numbers of every type are sketched as DOUBLE; dates, \
         timestamps and durations as nanoseconds. NULL and NaN are skipped; infinities are \
         ordinary values at the ends. Also runs in moving window frames.",
        "kll_sketch(x [, k])",
        &[
            ("x", "A numeric, date, timestamp or duration column."),
            K_ARG,
        ],
        "```sql\nSELECT kll_quantile(kll_sketch(value), 0.99) AS p99 FROM events;\n```",
    )
});

static MERGE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Merges KLL states: the sketch of all their inputs, with the same rank-error \
         guarantee. States with different k merge (the result keeps the smaller k). Null \
         states are skipped; no states gives NULL. Runs in moving window frames.",
        "kll_merge(state)",
        &[(
            "state",
            "A column of states made by kll_sketch or kll_merge.",
        )],
        "```sql\nSELECT kll_quantile(kll_merge(latency), 0.99) FROM hourly WHERE day = DATE '2026-11-28';\n```",
    )
});

const APPROX_K_ARG: (&str, &str) = (
    "k",
    "Optional integer literal from 8 to 65535 (default 200): the worst-case rank error is that of a KLL sketch of this k (1.33% at 200, at least 98% confidence). The state keeps a KLL guard of about 2k and a digest of about 600 centroids per quantile (about 20 KB at the defaults).",
);

static APPROX_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "The approximate quantile `q` of `x`, in the type of `x`. One pass, bounded memory and \
         parallel partial aggregation, with the precision aimed at q: the state is a t-digest \
         whose centroids shrink to single values around rank q, so the answer is the exact \
         quantile or a few values away from it (1M rows: about 0.5 ranks off at p99 over 12 \
         seeds, where a KLL sketch is off by about 1,800). Streams of up to 4,096 values are \
         answered exactly. A KLL sketch kept beside it bounds every answer: the rank error is \
         at most 1.33% at the default k with 98% confidence whatever the data or its order. \
         Partial states aimed at other ranks (each partition of range-partitioned data sees \
         its own q) merge to a coarser answer, typically within 0.1%. NULL and NaN are \
         skipped; infinities are ordinary values at the ends; no values give NULL.",
        "approx_quantile(x, q [, k])",
        &[
            ("x", "A numeric, date, timestamp or duration column."),
            (
                "q",
                "The quantile, a literal in [0, 1]: 0.5 for the median, 0.99 for p99. 0 and 1 give the exact minimum and maximum.",
            ),
            APPROX_K_ARG,
        ],
        "```sql\nSELECT event_type, approx_quantile(value, 0.5) AS median, approx_quantile(value, 0.99) AS p99\nFROM events GROUP BY event_type;\n```",
    )
});

static APPROX_MANY_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Several approximate quantiles of `x` from one state, as a list in the type of `x` \
         (see approx_quantile): the digest aims at every quantile of the list, at most 16 \
         besides 0 and 1 (for more, kll_quantiles(kll_sketch(x), [...]) takes any number).",
        "approx_quantiles(x, [q, ...] [, k])",
        &[
            ("x", "A numeric, date, timestamp or duration column."),
            (
                "quantiles",
                "A list literal of quantiles in [0, 1], such as [0.5, 0.9, 0.99].",
            ),
            APPROX_K_ARG,
        ],
        "```sql\nSELECT approx_quantiles(value, [0.5, 0.9, 0.99]) AS p FROM events;\n```",
    )
});

fn decode(function: &str, bytes: &[u8]) -> Result<Kll> {
    Kll::from_bytes(bytes).map_err(|e| exec_datafusion_err!("{function}: {e}"))
}

state_scalar!(
    KllQuantile,
    "kll_quantile",
    "a kll state and q",
    DataType::Float64,
    check_numeric_q,
    |args| per_state_and_q("kll_quantile", args, decode, |s: &Kll, q| {
        s.quantile(q)
            .map_err(|e| exec_datafusion_err!("kll_quantile: {e}"))
    }),
    || doc(
        "The approximate quantile `q` of the values behind a KLL state, as DOUBLE (dates and \
         timestamps as nanoseconds since the epoch: wrap in to_timestamp_nanos(CAST(... AS \
         BIGINT))). NULL for a NULL or empty state; q outside [0, 1] is an error.",
        "kll_quantile(state, q)",
        &[
            ("state", "A kll state."),
            ("q", "The quantile in [0, 1], a literal or a column."),
        ],
        "```sql\nSELECT w, kll_quantile(s, 0.5) AS p50, kll_quantile(s, 0.99) AS p99 FROM per_minute;\n```",
    )
);

state_scalar!(
    KllQuantiles,
    "kll_quantiles",
    "a kll state and a list of quantiles",
    list_of(DataType::Float64),
    check_q_list_type,
    |args| {
        let f = "kll_quantiles";
        map_rows(args, |arrays, row| {
            let (Some(bytes), false) = (
                state_at(f, arrays[0].as_ref(), row)?,
                arrays[1].is_null(row),
            ) else {
                return ScalarValue::try_from(list_of(DataType::Float64));
            };
            let qs = q_list(f, &ScalarValue::try_from_array(&arrays[1], row)?)?.unwrap_or_default();
            let values = decode(f, bytes)?
                .quantiles(&qs)
                .map_err(|e| exec_datafusion_err!("{f}: {e}"))?;
            match values {
                Some(v) => {
                    let items: Vec<ScalarValue> = v.into_iter().map(ScalarValue::from).collect();
                    Ok(ScalarValue::List(ScalarValue::new_list_nullable(
                        &items,
                        &DataType::Float64,
                    )))
                }
                None => ScalarValue::try_from(list_of(DataType::Float64)),
            }
        })
    },
    || doc(
        "Several approximate quantiles of the values behind a KLL state, as a list of DOUBLE \
         (one pass over the sketch). NULL for a NULL or empty state.",
        "kll_quantiles(state, [q, ...])",
        &[
            ("state", "A kll state."),
            ("quantiles", "A list of quantiles in [0, 1]."),
        ],
        "```sql\nSELECT kll_quantiles(kll_sketch(value), [0.5, 0.9, 0.99]) FROM events;\n```",
    )
);

state_scalar!(
    KllRank,
    "kll_rank",
    "a kll state and a value",
    DataType::Float64,
    |f, t| check_number_input(f, t, true),
    |args| {
        let f = "kll_rank";
        let mut values: Option<Vec<Option<f64>>> = None;
        map_rows(args, |arrays, row| {
            if values.is_none() {
                values = Some(numbers_of(arrays[1].as_ref())?);
            }
            let v = values.as_ref().expect("read above")[row];
            let (Some(bytes), Some(v)) = (state_at(f, arrays[0].as_ref(), row)?, v) else {
                return Ok(ScalarValue::Float64(None));
            };
            Ok(ScalarValue::Float64(decode(f, bytes)?.rank(v)))
        })
    },
    || doc(
        "The approximate fraction of the values behind a KLL state that are at most `value` \
         (its normalized rank, in [0, 1]), within the sketch's rank error. NULL for a NULL or \
         empty state or a NULL value.",
        "kll_rank(state, value)",
        &[
            ("state", "A kll state."),
            (
                "value",
                "A number (or date, timestamp, duration), a literal or a column."
            ),
        ],
        "```sql\n-- Share of requests served within 250 ms\nSELECT kll_rank(kll_sketch(latency_ms), 250) FROM requests;\n```",
    )
);
