//! Count-Min functions: `cms_sketch`, `cms_sketch_weighted`, `cms_merge` (aggregates),
//! `cms_estimate` and `cms_total` (scalars).
//!
//! Count-Min is linear, so every aggregate here also retracts: in moving window frames the
//! rows that leave are subtracted, at a cost per row independent of the frame length.

use super::args::{Default, Param, ParamKind, ParamValue, open_unit};
use super::docs::Doc;
use super::family::{Aggregates, SketchAggregate, Sliding, StateSketch, WeightedHashes};
use super::hashing::check_hashable;
use super::scalar::{Args, ScalarSpec, StateScalar, columnar, per_state, probe_hashes};
use crate::sketch::cms::{self, CountMin, DEFAULT_DELTA, DEFAULT_EPSILON};
use arrow::array::Int64Array;
use arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, plan_datafusion_err};
use std::sync::Arc;

impl StateSketch for CountMin {
    /// Width and depth.
    type Params = (u32, u32);
    type Input = WeightedHashes;

    fn create((width, depth): (u32, u32)) -> Self {
        CountMin::new(width, depth).expect("dimensions checked when planning")
    }

    fn insert(&mut self, (hash, weight): (u64, u64)) {
        self.insert_hash(hash, weight)
    }
}

static ERROR_PARAMS: [Param; 2] = [
    Param {
        name: "epsilon",
        kind: ParamKind::Number {
            valid: open_unit,
            expected: "strictly between 0 and 1",
        },
        default: Some(Default::Number(DEFAULT_EPSILON)),
        doc: "Relative error: estimates exceed the true count by at most epsilon x the total \
              weight. Width = ceil(e / epsilon): 2,719 at the default.",
    },
    Param {
        name: "delta",
        kind: ParamKind::Number {
            valid: open_unit,
            expected: "strictly between 0 and 1",
        },
        default: Some(Default::Number(DEFAULT_DELTA)),
        doc: "Failure probability: the bound holds with probability 1 - delta. Depth = \
              ceil(ln(1 / delta)): 5 at the default. The defaults give a 108,760-byte dense \
              state.",
    },
];

fn dimensions(function: &str, values: &[ParamValue]) -> Result<(u32, u32)> {
    cms::dimensions(values[0].number(), values[1].number())
        .map_err(|e| plan_datafusion_err!("{function}: {e}"))
}

fn retract(sketch: &mut CountMin, leaving: &CountMin) -> Result<(), crate::sketch::SketchError> {
    sketch.retract(leaving)
}

const AGGREGATES: Aggregates<CountMin> = Aggregates {
    state_field: "cms",
    sliding: Sliding::Retract(retract),
};

/// `cms_sketch(x [, epsilon, delta])`.
pub fn sketch() -> SketchAggregate<CountMin> {
    AGGREGATES.sketch("cms_sketch", &ERROR_PARAMS, dimensions, &SKETCH_DOC)
}

/// `cms_sketch_weighted(x, weight [, epsilon, delta])`.
pub fn weighted() -> SketchAggregate<CountMin> {
    AGGREGATES
        .sketch(
            "cms_sketch_weighted",
            &ERROR_PARAMS,
            dimensions,
            &WEIGHTED_DOC,
        )
        .weighted()
}

/// `cms_merge(state)`.
pub fn merge() -> SketchAggregate<CountMin> {
    AGGREGATES.merge("cms_merge", &MERGE_DOC)
}

const SKETCH_DOC: Doc = Doc {
    description: "Builds a Count-Min sketch of how often each value of `x` occurs: a mergeable binary \
         state, probed with cms_estimate. Never under-estimates; over-estimates by at most \
         epsilon x N with probability 1 - delta. Nulls are skipped. Small states keep their \
         (hash, weight) pairs and grow into the counter table. Also runs in moving window frames \
         (Count-Min is linear, so rows leaving the frame are subtracted).",
    arguments: &[("x", "A column of any hashable type (see hll_sketch).")],
    example: "```sql\nSELECT cms_estimate(cms_sketch(event_type), 'purchase') AS purchases FROM events;\n```",
};

const WEIGHTED_DOC: Doc = Doc {
    description: "Builds a Count-Min sketch in which each row of `x` counts `weight` times (bytes sent, \
         items bought). Rows with a NULL value or weight are skipped; a negative weight is an \
         error.",
    arguments: &[
        ("x", "A column of any hashable type."),
        ("weight", "A non-negative integer column."),
    ],
    example: "```sql\nSELECT cms_estimate(cms_sketch_weighted(entity, CAST(value * 100 AS BIGINT)), 'entity_0') FROM events;\n```",
};

const MERGE_DOC: Doc = Doc {
    description: "Adds Count-Min states together: the sketch of all their inputs. States must have the \
         same width and depth (the same epsilon and delta); otherwise an error says so. Null \
         states are skipped; no states gives NULL. In moving window frames each row costs one \
         addition and one subtraction of a state, whatever the frame length.",
    arguments: &[(
        "state",
        "A column of states made by cms_sketch, cms_sketch_weighted or cms_merge.",
    )],
    example: "```sql\nSELECT minute, cms_estimate(cms_merge(s) OVER (ORDER BY minute ROWS BETWEEN 59 PRECEDING AND CURRENT ROW), 'error')\nFROM per_minute;\n```",
};

/// `cms_estimate(state, item)`: the estimated count of `item`.
pub fn estimate() -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax: "cms_estimate(state, item)",
        doc: Doc {
            description: "The estimated number of occurrences (total weight) of `item` in a Count-Min \
                     state: never below the truth. The item may be a literal or a column, of any \
                     type that hashes like the sketched values (an integer literal finds INT, \
                     BIGINT or DOUBLE values alike). NULL state or item gives NULL.",
            arguments: &[
                ("state", "A cms state."),
                ("item", "The value to look up: a literal or a column."),
            ],
            example: "```sql\nSELECT t.event_type, cms_estimate(s.st, t.event_type) AS estimated\nFROM (SELECT cms_sketch(event_type) AS st FROM events) s CROSS JOIN (VALUES ('click'), ('purchase')) AS t(event_type);\n```",
        },
        args: Args::StateAnd("a cms state and an item", check_hashable),
        returns: || DataType::Int64,
        invoke: |f, args| {
            let (values, all_scalar) = probe_hashes(f, args, |s: &CountMin, h| {
                s.estimate(h).min(i64::MAX as u64) as i64
            })?;
            columnar(Arc::new(Int64Array::from(values)), all_scalar)
        },
    })
}

/// `cms_total(state)`: the total weight in a Count-Min state.
pub fn total() -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax: "cms_total(state)",
        doc: Doc {
            description: "The total weight (row count for cms_sketch) that went into a Count-Min \
                     state, exact. With it, epsilon x cms_total(state) is the error bound of \
                     every estimate.",
            arguments: &[("state", "A cms state.")],
            example: "```sql\nSELECT cms_total(cms_sketch(event_type)) AS events FROM events;\n```",
        },
        args: Args::States(1, "one argument (a cms state)"),
        returns: || DataType::Int64,
        invoke: |f, args| {
            per_state(f, args, |s: Option<CountMin>| {
                Ok(ScalarValue::Int64(
                    s.map(|s| s.total().min(i64::MAX as u64) as i64),
                ))
            })
        },
    })
}
