//! Bloom filter functions: `bloom_sketch`, `bloom_merge` (aggregates) and `bloom_contains`.

use super::args::{check_arity, check_float_param, check_integer_param, float_arg, integer_arg};
use super::docs::doc;
use super::family::{AggregateSpec, SketchAggregate, StateSketch, stored_like_its_methods};
use super::hashing::check_hashable;
use super::scalar::{columnar, probe_hashes};
use crate::sketch::bloom::{BloomFilter, DEFAULT_EXPECTED_ITEMS, DEFAULT_FPR};
use arrow::array::BooleanArray;
use arrow::datatypes::DataType;
use datafusion::common::{Result, exec_datafusion_err, plan_err};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::{Arc, LazyLock};

const SKETCH: &str = "bloom_sketch";
const MERGE: &str = "bloom_merge";
/// Expected items accepted by `bloom_sketch` (the filter's size bounds it further).
const EXPECTED_ITEMS: std::ops::RangeInclusive<i64> = 1..=1_000_000_000;
const FPR_RANGE: &str = "strictly between 0 and 1";

fn unit_interval(x: f64) -> bool {
    x > 0.0 && x < 1.0
}

impl StateSketch for BloomFilter {
    /// Number of 256-bit blocks.
    type Params = u32;
    type Input = u64;

    fn create(blocks: u32) -> Self {
        BloomFilter::new(blocks).expect("block count checked when planning")
    }

    fn insert(&mut self, hash: u64) {
        self.insert_hash(hash)
    }

    stored_like_its_methods!(BloomFilter);
}

fn sketch_return_type(args: &[DataType]) -> Result<DataType> {
    check_arity(
        SKETCH,
        args,
        1,
        3,
        "a value and optional expected_items and fpr",
    )?;
    check_hashable(SKETCH, &args[0])?;
    if let Some(t) = args[1..].iter().find(|t| !t.is_numeric() && !t.is_null()) {
        return plan_err!("{SKETCH}: expected_items and fpr must be numeric literals, got {t}");
    }
    Ok(DataType::LargeBinary)
}

fn sketch_params(args: &AccumulatorArgs) -> Result<u32> {
    let items = integer_arg(
        SKETCH,
        "expected_items",
        args.exprs,
        1,
        EXPECTED_ITEMS,
        DEFAULT_EXPECTED_ITEMS as i64,
    )?;
    let fpr = float_arg(
        SKETCH,
        "fpr",
        args.exprs,
        2,
        FPR_RANGE,
        unit_interval,
        DEFAULT_FPR,
    )?;
    BloomFilter::blocks_for(items as u64, fpr).map_err(|e| exec_datafusion_err!("{SKETCH}: {e}"))
}

fn sketch_literals(args: &[Expr]) -> Result<()> {
    check_integer_param(SKETCH, "expected_items", args.get(1), EXPECTED_ITEMS)?;
    check_float_param(SKETCH, "fpr", args.get(2), FPR_RANGE, unit_interval)?;
    // A valid pair can still need more memory than a filter may take.
    let literal = |i: usize, default: f64| match args.get(i) {
        None => Some(default),
        Some(Expr::Literal(v, _)) => match v.cast_to(&DataType::Float64) {
            Ok(datafusion::common::ScalarValue::Float64(x)) => x,
            _ => None,
        },
        Some(_) => None,
    };
    if let (Some(items), Some(fpr)) = (
        literal(1, DEFAULT_EXPECTED_ITEMS as f64),
        literal(2, DEFAULT_FPR),
    ) && let Err(e) = BloomFilter::blocks_for(items as u64, fpr)
    {
        return plan_err!("{SKETCH}: {e}");
    }
    Ok(())
}

/// `bloom_sketch(x [, expected_items, fpr])`.
pub fn sketch() -> SketchAggregate<BloomFilter> {
    SketchAggregate::new(AggregateSpec {
        name: SKETCH,
        reads_states: false,
        return_type: |_, args| sketch_return_type(args),
        params: sketch_params,
        check_literals: sketch_literals,
        finish: None,
        documentation: || &SKETCH_DOC,
    })
}

/// `bloom_merge(state)`.
pub fn merge() -> SketchAggregate<BloomFilter> {
    SketchAggregate::merging(MERGE, || &MERGE_DOC)
}

static SKETCH_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Builds a Bloom filter of the values of `x`: a mergeable binary state that answers \
         \"have I seen this value?\" with bloom_contains. No false negatives, ever; false \
         positives at about the rate `fpr` while at most `expected_items` distinct values were \
         added (sketch_info reports the fill and the current false-positive rate, so an \
         over-full filter shows). The layout is Parquet's split-block Bloom filter (SBBF). \
         Small filters keep their values' hashes and grow into the bit array only when that is \
         smaller, so many small groups stay cheap. Nulls are skipped. Also runs in moving \
         window frames.",
        "bloom_sketch(x [, expected_items, fpr])",
        &[
            ("x", "A column of any hashable type (see hll_sketch)."),
            (
                "expected_items",
                "Optional number of distinct values the filter is sized for, an integer literal (default 1,000,000).",
            ),
            (
                "fpr",
                "Optional target false-positive rate at that many values, a literal strictly between 0 and 1 (default 0.01). The defaults give a 1.2 MB filter once it is full.",
            ),
        ],
        "```sql\nSELECT bloom_contains(bloom_sketch(entity, 10000, 0.01), 'entity_42') AS seen FROM events;\n```",
    )
});

static MERGE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Unions Bloom filter states (bitwise OR): the filter of all their inputs, as if built \
         in one pass. States must have the same size (the same expected_items and fpr); \
         otherwise an error says so. Null states are skipped; no states gives NULL. Runs in \
         moving window frames (each row is merged a constant number of times, whatever the \
         frame length).",
        "bloom_merge(state)",
        &[(
            "state",
            "A column of states made by bloom_sketch or bloom_merge.",
        )],
        "```sql\n-- Entities seen on any earlier day\nSELECT bloom_merge(seen) FROM daily WHERE day < DATE '2026-11-28';\n```",
    )
});

/// `bloom_contains(state, item)`: whether the filter may contain `item`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BloomContains {
    signature: Signature,
}

impl Default for BloomContains {
    fn default() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for BloomContains {
    fn name(&self) -> &str {
        "bloom_contains"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        check_arity(self.name(), args, 2, 2, "a bloom state and an item")?;
        super::args::check_state_type(self.name(), &args[0])?;
        check_hashable(self.name(), &args[1])?;
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (values, all_scalar) = probe_hashes(
            self.name(),
            &args,
            BloomFilter::from_bytes,
            BloomFilter::contains_hash,
        )?;
        columnar(Arc::new(BooleanArray::from(values)), all_scalar)
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            doc(
                "Whether a Bloom filter state may contain `item`: false means certainly never \
                 added; true means added, or a false positive (at about the filter's fpr). The \
                 item may be a literal or a column of any type that hashes like the sketched \
                 values (an integer literal finds INT, BIGINT or DOUBLE values alike). NULL \
                 state or item gives NULL. To probe many rows with one filter, pass it as a \
                 scalar subquery (evaluated once) rather than through a CROSS JOIN, which \
                 copies the state into every row.",
                "bloom_contains(state, item)",
                &[
                    ("state", "A bloom state."),
                    ("item", "The value to look up: a literal or a column."),
                ],
                "```sql\n-- Entities new today, given the filters of all earlier days. The scalar subquery\n-- runs once and its filter is decoded once.\nSELECT DISTINCT entity FROM today\nWHERE NOT bloom_contains((SELECT bloom_merge(seen) FROM daily WHERE day < DATE '2026-11-28'), entity);\n```",
            )
        });
        Some(&DOC)
    }
}
