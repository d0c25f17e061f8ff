//! HyperLogLog functions: `hll_sketch`, `approx_count_distinct`, `hll_merge` (aggregates),
//! `hll_estimate` and `hll_union` (scalars).
//!
//! Every aggregate has the native `GroupsAccumulator` of the generic layer and runs in moving
//! window frames (two-stack aggregation). `hll_merge` merges states without building them
//! ([`Sketch::merge_bytes`]), and skipped partial aggregation writes one-value states
//! directly ([`HyperLogLog::write_transit_single`]). States on their way from partial to final
//! aggregation are in the transit form (docs/FORMAT.md): unpacked and without a checksum.

use super::args::{Default, Param, ParamKind, ParamValue};
use super::docs::Doc;
use super::family::{
    Aggregates, FinishArgs, Form, HashRun, Hashes, Output, Rows, SketchAggregate, state_sketch,
};
use super::hashing::for_each_hash_chunk;
use super::scalar::{Args, ScalarSpec, StateScalar, per_state, union_scalar};
use crate::sketch::hll::{DEFAULT_PRECISION, MAX_PRECISION, MIN_PRECISION, sparse_entries_of};
use crate::sketch::{HyperLogLog, Sketch};
use arrow::array::Int64Array;
use arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use std::sync::Arc;

state_sketch!(HyperLogLog, u8 => HyperLogLog::new, Hashes => HyperLogLog::insert_hash, {
    /// Hashes a chunk at a time go through the batch insert, which looks at the
    /// representation once a chunk rather than once a row.
    fn insert_rows(&mut self, rows: &Rows<'_>) -> Result<()> {
        for_each_hash_chunk(rows.values, rows.keep, |hashes| self.insert_hashes(hashes))
    }

    fn write_state(&mut self, form: Form, out: &mut Vec<u8>) {
        self.compact();
        match form {
            Form::Stored => self.write_to(out),
            Form::Transit => self.write_transit(out),
        }
    }

    const HASH_RUN: Option<HashRun<Self>> = Some(HashRun {
        keys: sparse_entries_of,
        add: HyperLogLog::insert_entries,
    });

    fn write_single(precision: u8, hash: u64, out: &mut Vec<u8>) {
        HyperLogLog::write_transit_single(precision, hash, out)
            .expect("precision checked when planning")
    }
});

static PRECISION: [Param; 1] = [Param {
    name: "precision",
    kind: ParamKind::Integer(MIN_PRECISION as i64..=MAX_PRECISION as i64),
    default: Some(Default::Integer(DEFAULT_PRECISION as i64)),
    doc: "2^precision registers, relative standard error 1.04/sqrt(2^precision) (0.81% at 14; \
          12 KiB per dense state). Use 7 or more: below 128 registers the estimate is biased \
          by up to 11%.",
}];

fn precision(_: &str, values: &[ParamValue]) -> Result<u8> {
    Ok(values[0].integer() as u8)
}

const VALUE: (&str, &str) = (
    "x",
    "A column of integers, floats, decimals, strings, binaries, booleans, dates or timestamps.",
);

const AGGREGATES: Aggregates<HyperLogLog> = Aggregates::two_stack("hll");

/// `hll_sketch(x [, precision])`.
pub fn sketch() -> SketchAggregate<HyperLogLog> {
    AGGREGATES.sketch("hll_sketch", &PRECISION, precision, &SKETCH_DOC)
}

/// `approx_count_distinct(x [, precision])`.
pub fn count_distinct() -> SketchAggregate<HyperLogLog> {
    AGGREGATES
        .sketch(
            "approx_count_distinct",
            &PRECISION,
            precision,
            &COUNT_DISTINCT_DOC,
        )
        .computing(Output::Computed {
            return_type: |_| DataType::Int64,
            finish: |_: &FinishArgs| Ok(Arc::new(estimates)),
            empty: Some(|| ScalarValue::Int64(Some(0))),
        })
}

/// `hll_merge(state)`.
pub fn merge() -> SketchAggregate<HyperLogLog> {
    AGGREGATES.merge("hll_merge", &MERGE_DOC)
}

/// The estimates of emitted groups; a group without values counts 0.
fn estimates(mut sketches: Vec<Option<HyperLogLog>>) -> Result<arrow::array::ArrayRef> {
    sketches.iter_mut().flatten().for_each(HyperLogLog::compact);
    let estimates: Int64Array = sketches
        .iter()
        .map(|s| Some(s.as_ref().map_or(0, estimate_i64)))
        .collect();
    Ok(Arc::new(estimates))
}

pub(crate) fn estimate_i64(sketch: &HyperLogLog) -> i64 {
    sketch.estimate().round() as i64
}

const SKETCH_DOC: Doc = Doc {
    description: "Builds a HyperLogLog sketch of the distinct values of `x`: a mergeable binary state. \
         Nulls are skipped; a group with no values gives an empty sketch (estimate 0). Equal \
         values hash equal across types (42 as INT, BIGINT, DOUBLE or DECIMAL; strings in any \
         encoding; dictionary columns by value). Small sketches are sparse (a few bytes per \
         distinct value) and near exact. Also runs in moving window frames.",
    arguments: &[VALUE],
    example: "```sql\n-- one state per day, stored for later rollups\nCOPY (SELECT date_trunc('day', ts) AS day, hll_sketch(entity) AS users FROM events GROUP BY 1)\nTO 'daily_users.parquet';\n```",
};

const COUNT_DISTINCT_DOC: Doc = Doc {
    description: "Approximate number of distinct non-null values of `x`, in bounded memory; equal to \
         `hll_estimate(hll_sketch(x, precision))`; 0 over no rows. Unlike DataFusion's \
         `approx_distinct` it accepts dictionary columns and a precision, and costs a few bytes \
         per small group. Also runs in moving window frames.",
    arguments: &[("x", "A column of any hashable type (see hll_sketch).")],
    example: "```sql\nSELECT date_bin(INTERVAL '1 minute', ts) AS minute, approx_count_distinct(entity) AS users\nFROM events GROUP BY 1 ORDER BY 1;\n```",
};

const MERGE_DOC: Doc = Doc {
    description: "Merges HyperLogLog states into one: the sketch of the union of their inputs. States \
         of different precisions merge at the smallest precision. Null states are skipped; \
         no states at all gives NULL. Also works in moving window frames.",
    arguments: &[(
        "state",
        "A column of states made by hll_sketch or hll_merge.",
    )],
    example: "```sql\n-- distinct users over the last hour, sliding minute by minute\nSELECT minute, hll_estimate(hll_merge(users) OVER (ORDER BY minute ROWS BETWEEN 59 PRECEDING AND CURRENT ROW))\nFROM per_minute;\n```",
};

/// `hll_estimate(state)`: the estimated number of distinct values.
pub fn estimate() -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax: "hll_estimate(state)",
        doc: Doc {
            description: "The estimated number of distinct values in a HyperLogLog state, rounded to \
                     an integer. NULL for a NULL state; an error names the defect of a \
                     malformed one.",
            arguments: &[(
                "state",
                "A state made by hll_sketch, hll_merge or hll_union.",
            )],
            example: "```sql\nSELECT hll_estimate(hll_merge(users)) AS monthly_users FROM daily_users;\n```",
        },
        args: Args::States(1, "one argument (a hll state)"),
        returns: || DataType::Int64,
        invoke: |f, args| {
            per_state(f, args, |s: Option<HyperLogLog>| {
                Ok(ScalarValue::Int64(s.as_ref().map(estimate_i64)))
            })
        },
    })
}

/// `hll_union(a, b)`: the state of the union of two states, row by row.
pub fn union() -> StateScalar {
    union_scalar::<HyperLogLog>(
        "two arguments (hll states)",
        "hll_union(a, b)",
        Doc {
            description: "The union of two HyperLogLog states, row by row (the scalar form of \
                     hll_merge). A NULL side counts as empty; two NULLs give NULL. Different \
                     precisions give the smaller one.",
            arguments: &[("a", "A hll state."), ("b", "A hll state.")],
            example: "```sql\nSELECT hll_estimate(hll_union(web.users, app.users)) AS users_on_either\nFROM web JOIN app USING (day);\n```",
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::udf::family::{Glue, StateSketch};
    use crate::udf::groups::SketchGroups;
    use arrow::array::{Array, ArrayRef, AsArray, BooleanArray};
    use arrow::datatypes::Int64Type;
    use datafusion::logical_expr::{EmitTo, GroupsAccumulator};

    fn groups(aggregate: SketchAggregate<HyperLogLog>) -> SketchGroups<HyperLogLog> {
        SketchGroups::new(Glue::for_test(&aggregate, Some(12)))
    }

    fn values(n: i64) -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(0..n))
    }

    fn estimates_of(acc: &mut SketchGroups<HyperLogLog>, emit: EmitTo) -> Vec<i64> {
        let states = acc.state(emit).unwrap();
        let mut out = Vec::new();
        crate::udf::args::for_each_state("test", states[0].as_ref(), |_, b| {
            out.push(estimate_i64(&HyperLogLog::decode_any(b).unwrap()));
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn emit_first_takes_exactly_those_groups() {
        let mut acc = groups(count_distinct());
        // group g receives the values 0..100*(g+1)
        let gi: Vec<usize> = (0..4usize)
            .flat_map(|g| std::iter::repeat_n(g, 100 * (g + 1)))
            .collect();
        let vals: Vec<i64> = (0..4i64).flat_map(|g| 0..100 * (g + 1)).collect();
        acc.update_batch(&[Arc::new(Int64Array::from(vals))], &gi, None, 4)
            .unwrap();
        let first = acc.evaluate(EmitTo::First(2)).unwrap();
        assert_eq!(first.as_primitive::<Int64Type>().values(), &[100, 200]);
        assert_eq!(acc.groups(), 2);
        let rest = acc.evaluate(EmitTo::All).unwrap();
        assert_eq!(rest.as_primitive::<Int64Type>().values(), &[300, 400]);
        assert!(acc.heap_is_exact(), "freed heap is accounted");
    }

    /// Over 1024 groups or more, rows are gathered by group before they reach the sketches
    /// (groups::Gathered): the states must be those of adding each row to its group's sketch,
    /// whether emitted with rows still gathered or after flushes.
    #[test]
    fn a_wide_group_by_gives_each_group_the_sketch_of_its_rows() {
        // Integers are hashed a chunk at a time, strings a row at a time; a dictionary's null
        // values sit behind valid keys.
        wide_group_by(Input::Integers);
        wide_group_by(Input::Strings);
        wide_group_by(Input::Dictionary);
    }

    #[derive(PartialEq)]
    enum Input {
        Integers,
        Strings,
        Dictionary,
    }

    fn wide_group_by(kind: Input) {
        let strings = kind != Input::Integers;
        const GROUPS: usize = 3000;
        let mut acc = groups(count_distinct());
        let mut expected: Vec<HyperLogLog> =
            (0..GROUPS).map(|_| HyperLogLog::new(12).unwrap()).collect();
        let mut rng = 7u64;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let size_before = acc.size();
        for batch in 0..13 {
            let rows = 8192;
            let gi: Vec<usize> = (0..rows).map(|_| next() as usize % GROUPS).collect();
            let vals: Vec<Option<i64>> = (0..rows)
                .map(|_| (next() % 10 != 0).then(|| (next() % 500) as i64))
                .collect();
            let keep: Vec<bool> = (0..rows).map(|_| next() % 4 != 0).collect();
            for ((&g, v), &k) in gi.iter().zip(&vals).zip(&keep) {
                match (v, k, strings) {
                    (Some(v), true, false) => expected[g].insert(v),
                    (Some(v), true, true) => expected[g].insert(v.to_string().as_str()),
                    _ => {}
                }
            }
            let filter = BooleanArray::from(keep);
            let input: ArrayRef = match kind {
                Input::Integers => Arc::new(Int64Array::from(vals)),
                Input::Strings => {
                    let text = vals.iter().map(|v| v.map(|v| v.to_string()));
                    Arc::new(arrow::array::StringArray::from_iter(text))
                }
                Input::Dictionary => {
                    // Values "0".."499", then a null value that the missing rows' keys name.
                    let text = (0..500).map(|v| Some(v.to_string())).chain([None]);
                    let values = arrow::array::StringArray::from_iter(text);
                    let keys = vals.iter().map(|v| v.map_or(500, |v| v as i32));
                    let keys = arrow::array::Int32Array::from_iter_values(keys);
                    Arc::new(arrow::array::DictionaryArray::new(keys, Arc::new(values)))
                }
            };
            acc.update_batch(&[input], &gi, Some(&filter), GROUPS)
                .unwrap();
            if batch == 0 {
                assert!(acc.size() > size_before, "gathered rows are counted");
            }
            assert!(acc.heap_is_exact());
        }
        let transit = |sketches: &mut [HyperLogLog]| -> Vec<Vec<u8>> {
            sketches
                .iter_mut()
                .map(|s| {
                    let mut out = Vec::new();
                    s.write_state(Form::Transit, &mut out);
                    out
                })
                .collect()
        };
        let states = |acc: &mut SketchGroups<HyperLogLog>, emit| {
            let array = acc.state(emit).unwrap().remove(0);
            let binary = array.as_binary::<i64>();
            (0..binary.len())
                .map(|i| binary.value(i).to_vec())
                .collect::<Vec<_>>()
        };
        // 13 batches of 8192 rows: flushed once at 65,536 rows, the rest still gathered.
        assert_eq!(
            states(&mut acc, EmitTo::First(1000)),
            transit(&mut expected[..1000])
        );
        assert!(acc.heap_is_exact());
        assert_eq!(
            states(&mut acc, EmitTo::All),
            transit(&mut expected[1000..])
        );
    }

    #[test]
    fn size_tracks_heap_exactly() {
        let mut acc = groups(sketch());
        let gi: Vec<usize> = (0..10_000).map(|i| i % 3).collect();
        acc.update_batch(&[values(10_000)], &gi, None, 3).unwrap();
        assert!(acc.heap_is_exact());
        assert_eq!(estimates_of(&mut acc, EmitTo::First(1)).len(), 1);
        assert!(acc.heap_is_exact());
    }

    #[test]
    fn convert_to_state_then_merge_equals_direct_update() {
        let acc = groups(sketch());
        let input = values(1000);
        let filter = BooleanArray::from_iter((0..1000).map(|i| Some(i % 2 == 0)));
        let states = acc
            .convert_to_state(std::slice::from_ref(&input), Some(&filter))
            .unwrap();
        assert_eq!(states[0].len(), 1000);
        assert_eq!(states[0].null_count(), 500);
        let mut merged = groups(sketch());
        merged.merge_batch(&states, &[0; 1000], 1).unwrap();
        let mut direct = groups(sketch());
        direct
            .update_batch(&[input], &[0; 1000], Some(&filter), 1)
            .unwrap();
        assert_eq!(
            estimates_of(&mut merged, EmitTo::All),
            estimates_of(&mut direct, EmitTo::All)
        );
        assert_eq!(
            estimates_of(&mut groups(sketch()), EmitTo::All),
            Vec::<i64>::new()
        );
    }
}
