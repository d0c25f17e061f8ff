//! Bloom filter functions: `bloom_sketch`, `bloom_merge` (aggregates) and `bloom_contains`.

use super::args::{Default, Param, ParamKind, ParamValue, open_unit};
use super::docs::Doc;
use super::family::{Aggregates, Hashes, SketchAggregate, state_sketch};
use super::hashing::check_hashable;
use super::scalar::{Args, ScalarSpec, StateScalar, columnar, probe_hashes};
use crate::sketch::bloom::{BloomFilter, DEFAULT_EXPECTED_ITEMS, DEFAULT_FPR};
use arrow::array::BooleanArray;
use arrow::datatypes::DataType;
use datafusion::common::{Result, plan_datafusion_err};
use std::sync::Arc;

const SKETCH: &str = "bloom_sketch";

// Parameters: the number of 256-bit blocks.
state_sketch!(BloomFilter, u32 => BloomFilter::new, Hashes => BloomFilter::insert_hash);

static PARAMS: [Param; 2] = [
    Param {
        name: "expected_items",
        kind: ParamKind::Integer(1..=1_000_000_000),
        default: Some(Default::Integer(DEFAULT_EXPECTED_ITEMS as i64)),
        doc: "The number of distinct values the filter is sized for.",
    },
    Param {
        name: "fpr",
        kind: ParamKind::Number {
            valid: open_unit,
            expected: "strictly between 0 and 1",
        },
        default: Some(Default::Number(DEFAULT_FPR)),
        doc: "Target false-positive rate at that many values. The defaults give a 1.2 MB \
              filter once it is full.",
    },
];

/// The filter's size in blocks; a valid pair can still need more memory than a filter may take.
fn blocks(function: &str, values: &[ParamValue]) -> Result<u32> {
    BloomFilter::blocks_for(values[0].integer() as u64, values[1].number())
        .map_err(|e| plan_datafusion_err!("{function}: {e}"))
}

const AGGREGATES: Aggregates<BloomFilter> = Aggregates::two_stack("sketch");

/// `bloom_sketch(x [, expected_items, fpr])`.
pub fn sketch() -> SketchAggregate<BloomFilter> {
    AGGREGATES.sketch(SKETCH, &PARAMS, blocks, &SKETCH_DOC)
}

/// `bloom_merge(state)`.
pub fn merge() -> SketchAggregate<BloomFilter> {
    AGGREGATES.merge("bloom_merge", &MERGE_DOC)
}

const SKETCH_DOC: Doc = Doc {
    description: "Builds a Bloom filter of the values of `x`: a mergeable binary state that answers \
         \"have I seen this value?\" with bloom_contains. No false negatives, ever; false \
         positives at about the rate `fpr` while at most `expected_items` distinct values were \
         added (sketch_info reports the fill and the current false-positive rate, so an \
         over-full filter shows). The layout is Parquet's split-block Bloom filter (SBBF). \
         Small filters keep their values' hashes and grow into the bit array only when that is \
         smaller, so many small groups stay cheap. Nulls are skipped. Also runs in moving \
         window frames.",
    arguments: &[("x", "A column of any hashable type (see hll_sketch).")],
    example: "```sql\nSELECT bloom_contains(bloom_sketch(entity, 10000, 0.01), 'entity_42') AS seen FROM events;\n```",
};

const MERGE_DOC: Doc = Doc {
    description: "Unions Bloom filter states (bitwise OR): the filter of all their inputs, as if built \
         in one pass. States must have the same size (the same expected_items and fpr); \
         otherwise an error says so. Null states are skipped; no states gives NULL. Runs in \
         moving window frames (each row is merged a constant number of times, whatever the \
         frame length).",
    arguments: &[(
        "state",
        "A column of states made by bloom_sketch or bloom_merge.",
    )],
    example: "```sql\n-- Entities seen on any earlier day\nSELECT bloom_merge(seen) FROM daily WHERE day < DATE '2026-11-28';\n```",
};

/// `bloom_contains(state, item)`: whether the filter may contain `item`.
pub fn contains() -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax: "bloom_contains(state, item)",
        doc: Doc {
            description: "Whether a Bloom filter state may contain `item`: false means certainly never \
                     added; true means added, or a false positive (at about the filter's fpr). The \
                     item may be a literal or a column of any type that hashes like the sketched \
                     values (an integer literal finds INT, BIGINT or DOUBLE values alike). NULL \
                     state or item gives NULL. To probe many rows with one filter, pass it as a \
                     scalar subquery (evaluated once) rather than through a CROSS JOIN, which \
                     copies the state into every row.",
            arguments: &[
                ("state", "A bloom state."),
                ("item", "The value to look up: a literal or a column."),
            ],
            example: "```sql\n-- Entities new today, given the filters of all earlier days. The scalar subquery\n-- runs once and its filter is decoded once.\nSELECT DISTINCT entity FROM today\nWHERE NOT bloom_contains((SELECT bloom_merge(seen) FROM daily WHERE day < DATE '2026-11-28'), entity);\n```",
        },
        args: Args::StateAnd("a bloom state and an item", check_hashable),
        returns: || DataType::Boolean,
        invoke: |f, args| {
            let (values, all_scalar) = probe_hashes(f, args, BloomFilter::contains_hash)?;
            columnar(Arc::new(BooleanArray::from(values)), all_scalar)
        },
    })
}
