//! DataSketches HLL: `ds_hll_sketch`, `ds_hll_merge` (aggregates), `ds_hll_estimate`,
//! `ds_hll_union` and `ds_hll_bounds` (scalars), over the compact bytes of Apache DataSketches'
//! `HllSketch` (Java `toCompactByteArray`, C++ `serialize_compact`, Python `serialize_compact`),
//! which Spark's `hll_sketch_agg`, Druid, Hive's `ds_hll_*` and Snowflake store.
//!
//! [`DsHll`] wraps the library's [`HllSketch`] and [`HllUnion`] for the generic aggregate: a
//! group starts as a sketch and becomes a union gadget at its first merge, so a `_merge` over
//! many states updates one union instead of building a union per pair. Two DsHll states of
//! different `lg_k` merge as the DataSketches union merges them (the result has the smaller
//! `lg_k` once an input is in HLL mode). The result keeps the target type (`HLL_4`, `HLL_6`,
//! `HLL_8`) of the first state.

use super::{
    BOUNDS_ARGS, Bounded, Described, DsItem, DsItems, bounds_of_rows, bounds_type, guard, rejected,
};
use crate::sketch::SketchError;
use crate::udf::args::{Default, Param, ParamKind, ParamValue};
use crate::udf::docs::Doc;
use crate::udf::family::{Aggregates, MergeableState, SketchAggregate, StateSketch};
use crate::udf::scalar::{Args, ScalarSpec, StateScalar, decode, per_state, union_scalar};
use arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datasketches::common::NumStdDev;
use datasketches::hll::{HllSketch, HllType, HllUnion};

/// The DataSketches family id of HLL sketches (byte 2 of the preamble).
pub const FAMILY_ID: u8 = 7;
const FAMILY: &str = "DataSketches HLL";

/// A DataSketches HLL sketch as the generic aggregate holds it.
#[derive(Debug, Clone)]
pub struct DsHll {
    /// The type the state is written as.
    target: HllType,
    inner: Inner,
}

#[derive(Debug, Clone)]
enum Inner {
    /// Values added one by one.
    Sketch(HllSketch),
    /// After the first merge: the library's union gadget, which merges any type and `lg_k`.
    Union(Box<HllUnion>),
}

impl DsHll {
    /// Decodes compact or updatable bytes of any DataSketches implementation.
    ///
    /// The image must also survive writing: the library accepts some inconsistent images
    /// (a coupon count that disagrees with the coupons, found by the decode fuzzer) whose
    /// re-serialization it cannot read, and such a state must be refused here rather than
    /// passed on as output nobody can read.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SketchError> {
        let sketch = guard(|| {
            let sketch = HllSketch::deserialize(bytes).map_err(|e| rejected(bytes, FAMILY, e))?;
            HllSketch::deserialize(&sketch.serialize()).map_err(|e| {
                SketchError::Corrupt(format!(
                    "inconsistent {FAMILY} sketch: it does not survive re-serialization ({})",
                    e.message()
                ))
            })?;
            Ok(sketch)
        })?;
        Ok(Self {
            target: sketch.target_type(),
            inner: Inner::Sketch(sketch),
        })
    }

    /// The sketch of everything added and merged, in the target type.
    pub fn sketch(&self) -> std::borrow::Cow<'_, HllSketch> {
        match &self.inner {
            Inner::Sketch(s) => std::borrow::Cow::Borrowed(s),
            Inner::Union(u) => std::borrow::Cow::Owned(u.to_sketch(self.target)),
        }
    }

    fn lg_config_k(&self) -> u8 {
        match &self.inner {
            Inner::Sketch(s) => s.lg_config_k(),
            Inner::Union(u) => u.lg_config_k(),
        }
    }

    /// The union gadget, made from the sketch at the first merge (large enough for `lg_k`).
    fn union(&mut self, lg_k: u8) -> &mut HllUnion {
        if let Inner::Sketch(s) = &self.inner {
            let lg_max_k = s.lg_config_k().max(lg_k);
            let mut union = HllUnion::new(lg_max_k).expect("lg_k of a valid sketch");
            union.update(s);
            self.inner = Inner::Union(Box::new(union));
        }
        match &mut self.inner {
            Inner::Union(u) => u,
            Inner::Sketch(_) => unreachable!("made a union above"),
        }
    }
}

impl MergeableState for DsHll {
    fn heap_size(&self) -> usize {
        match &self.inner {
            Inner::Sketch(s) => s.estimated_size(),
            Inner::Union(u) => u.estimated_size() + size_of::<HllUnion>(),
        }
    }

    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.sketch().serialize())
    }

    /// States travel between partial and final aggregates as they are stored: the bytes
    /// are the library's, and a Hazy transit form would have to be decoded into it anyway.
    fn write_transit(&self, out: &mut Vec<u8>) {
        self.write_to(out)
    }

    fn decode_any(bytes: &[u8]) -> Result<Self, SketchError> {
        Self::from_bytes(bytes)
    }

    fn merge(&mut self, other: &Self) -> Result<(), SketchError> {
        guard(|| {
            let lg_k = other.lg_config_k();
            let union = self.union(lg_k);
            match &other.inner {
                Inner::Sketch(s) => union.update(s),
                Inner::Union(u) => union.update(&u.to_sketch(HllType::Hll8)),
            }
            Ok(())
        })
    }

    fn merge_any(&mut self, bytes: &[u8]) -> Result<(), SketchError> {
        let incoming = match Self::from_bytes(bytes)?.inner {
            Inner::Sketch(s) => s,
            Inner::Union(_) => unreachable!("a decoded state is a sketch"),
        };
        guard(|| {
            self.union(incoming.lg_config_k()).update(&incoming);
            Ok(())
        })
    }
}

impl StateSketch for DsHll {
    type Params = (u8, HllType);
    type Input = DsItems;

    fn create((lg_k, target): (u8, HllType)) -> Self {
        Self {
            target,
            inner: Inner::Sketch(HllSketch::new(lg_k, target).expect("lg_k checked when planning")),
        }
    }

    fn insert(&mut self, item: DsItem<'_>) {
        match &mut self.inner {
            Inner::Sketch(s) => s.update(item),
            Inner::Union(u) => u.update_value(item),
        }
    }
}

static PARAMS: [Param; 2] = [
    Param {
        name: "lg_k",
        kind: ParamKind::Integer(4..=21),
        default: Some(Default::Integer(12)),
        doc: "2^lg_k registers: relative standard error about 1.04/sqrt(2^lg_k) (1.6% at 12, \
              Spark's default).",
    },
    Param {
        name: "type",
        kind: ParamKind::Choice(&["HLL_4", "HLL_6", "HLL_8"]),
        default: Some(Default::Choice("HLL_4")),
        doc: "Bits per register in the stored state: HLL_4 is the smallest (about 2^lg_k / 2 \
              bytes), HLL_8 the fastest to merge; all three give the same estimates.",
    },
];

fn params(_: &str, values: &[ParamValue]) -> Result<(u8, HllType)> {
    let target = match values[1].choice() {
        "HLL_6" => HllType::Hll6,
        "HLL_8" => HllType::Hll8,
        _ => HllType::Hll4,
    };
    Ok((values[0].integer() as u8, target))
}

/// `ds_hll_sketch(x [, lg_k [, type]])`.
pub fn sketch() -> SketchAggregate<DsHll> {
    AGGREGATES.sketch("ds_hll_sketch", &PARAMS, params, &SKETCH_DOC)
}

const AGGREGATES: Aggregates<DsHll> = Aggregates::two_stack("ds_hll");

/// `ds_hll_merge(state)`.
pub fn merge() -> SketchAggregate<DsHll> {
    AGGREGATES.merge("ds_hll_merge", &MERGE_DOC)
}

const SKETCH_DOC: Doc = Doc {
    description: "Builds an Apache DataSketches HLL sketch of the distinct values of `x`: its compact \
         bytes, readable by the Java, C++ and Python libraries and by every system built on \
         them (Spark's hll_sketch_estimate, Druid, Hive and Impala ds_hll_*, Snowflake, the \
         DuckDB extension), and mergeable with their sketches. Items hash the DataSketches \
         way (MurmurHash3 x64/128, seed 9001): integers as 8 little-endian bytes, floats as \
         their bits with -0.0 and NaN canonical, strings as UTF-8 and binaries as bytes, empty \
         ones skipped. Unlike Hazy's hll_sketch, 1 and 1.0 hash differently; decimals, dates, \
         timestamps and booleans must be cast first. Nulls are skipped; a group with no \
         values gives an empty sketch. Also runs in moving window frames.",
    arguments: &[(
        "x",
        "A column of integers, floats, strings or binaries (or a dictionary of these).",
    )],
    example: "```sql\n-- daily sketches that Spark's hll_union_agg and hll_sketch_estimate read\nSELECT day, ds_hll_sketch(entity) AS users FROM events GROUP BY day ORDER BY day;\n```",
};

const MERGE_DOC: Doc = Doc {
    description: "Merges DataSketches HLL sketches (made by ds_hll_sketch, or by any DataSketches \
         library or system, compact or updatable) into one: the sketch of the union of their \
         inputs, through the library's HLL union. The result keeps the first state's type; \
         states of different lg_k merge at the smaller once one of them is dense. Null states \
         are skipped; no states at all gives NULL. Also works in moving window frames.",
    arguments: &[("state", "A column of DataSketches HLL sketches (binary).")],
    example: "```sql\nSELECT ds_hll_estimate(ds_hll_merge(users)) AS all_users\nFROM (SELECT day, ds_hll_sketch(entity) AS users FROM events GROUP BY day);\n```",
};

/// `ds_hll_estimate(state)`: the estimated number of distinct values.
pub fn estimate() -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax: "ds_hll_estimate(state)",
        doc: Doc {
            description: "The estimated number of distinct values of a DataSketches HLL sketch, \
                     as the DataSketches libraries compute it (a DOUBLE, equal to Java's \
                     getEstimate). NULL for a NULL state; an error names the defect of \
                     malformed bytes.",
            arguments: &[("state", "A DataSketches HLL sketch (binary).")],
            example: "```sql\nSELECT ds_hll_estimate(ds_hll_sketch(entity)) AS users FROM events;\n```",
        },
        args: Args::States(1, "one argument (a DataSketches HLL sketch)"),
        returns: || DataType::Float64,
        invoke: |f, args| {
            per_state(f, args, |s: Option<DsHll>| {
                Ok(ScalarValue::Float64(s.map(|s| s.sketch().estimate())))
            })
        },
    })
}

/// `ds_hll_union(a, b)`: the union of two sketches, row by row.
pub fn union() -> StateScalar {
    union_scalar::<DsHll>(
        "two arguments (DataSketches HLL sketches)",
        "ds_hll_union(a, b)",
        Doc {
            description: "The union of two DataSketches HLL sketches, row by row (the scalar form \
                     of ds_hll_merge), in the type of `a`. A NULL side counts as empty; two \
                     NULLs give NULL.",
            arguments: &[
                ("a", "A DataSketches HLL sketch."),
                ("b", "A DataSketches HLL sketch."),
            ],
            example: "```sql\nSELECT ds_hll_estimate(ds_hll_union(a.users, b.users)) AS clicked_or_searched\nFROM (SELECT ds_hll_sketch(entity) AS users FROM events WHERE event_type = 'click') a,\n     (SELECT ds_hll_sketch(entity) AS users FROM events WHERE event_type = 'search') b;\n```",
        },
    )
}

impl Bounded for DsHll {
    fn bounds(function: &str, bytes: &[u8], k: NumStdDev) -> Result<[f64; 3]> {
        let hll = decode::<DsHll>(function, bytes)?;
        let s = hll.sketch();
        Ok([s.lower_bound(k), s.estimate(), s.upper_bound(k)])
    }
}

/// `ds_hll_bounds(state, num_std_dev)` → {lower, estimate, upper}.
pub fn bounds() -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax: "ds_hll_bounds(state, num_std_dev)",
        doc: Doc {
            description: "Confidence bounds of a DataSketches HLL sketch's estimate: a struct \
                     {lower, estimate, upper} of DOUBLEs, as the DataSketches libraries \
                     compute them (getLowerBound / getUpperBound). NULL when either argument \
                     is NULL.",
            arguments: &[
                ("state", "A DataSketches HLL sketch."),
                (
                    "num_std_dev",
                    "1, 2 or 3 standard deviations (about 68%, 95% or 99.7% confidence).",
                ),
            ],
            example: "```sql\nSELECT ds_hll_bounds(ds_hll_sketch(entity), 2)['upper'] FROM events;\n```",
        },
        args: BOUNDS_ARGS,
        returns: bounds_type,
        invoke: bounds_of_rows::<DsHll>,
    })
}

/// `sketch_info` of HLL bytes: the library decodes them, the preamble says the mode.
pub fn describe(bytes: &[u8]) -> Result<Described, SketchError> {
    let hll = DsHll::from_bytes(bytes)?;
    let sketch = hll.sketch();
    let mode = match bytes[7] & 0x3 {
        0 => "list",
        1 => "set",
        _ => "hll",
    };
    let target = match sketch.target_type() {
        HllType::Hll4 => "HLL_4",
        HllType::Hll6 => "HLL_6",
        HllType::Hll8 => "HLL_8",
    };
    Ok(Described {
        family: "datasketches_hll",
        version: bytes[1],
        parameters: format!("lg_k={}, type={target}", sketch.lg_config_k()),
        mode: mode.to_string(),
        details: format!(
            "estimate={}, lower_2sd={}, upper_2sd={}",
            sketch.estimate(),
            sketch.lower_bound(datasketches::common::NumStdDev::Two),
            sketch.upper_bound(datasketches::common::NumStdDev::Two)
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::udf::family::Glue;
    use crate::udf::groups::SketchGroups;
    use arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray};
    use datafusion::logical_expr::{EmitTo, GroupsAccumulator};
    use std::sync::Arc;

    fn groups() -> SketchGroups<DsHll> {
        SketchGroups::new(Glue::for_test(&sketch(), Some((12, HllType::Hll4))))
    }

    fn states(acc: &mut SketchGroups<DsHll>) -> Vec<Vec<u8>> {
        let out = acc.evaluate(EmitTo::All).unwrap();
        let a = out.as_binary::<i64>();
        (0..a.len()).map(|i| a.value(i).to_vec()).collect()
    }

    #[test]
    fn states_are_the_library_bytes_of_the_same_items() {
        let mut acc = groups();
        let values: ArrayRef = Arc::new(Int64Array::from_iter_values(0..5000));
        acc.update_batch(&[values], &[0; 5000], None, 1).unwrap();
        let mut direct = HllSketch::new(12, HllType::Hll4).unwrap();
        (0..5000i64).for_each(|v| direct.update(v));
        assert_eq!(states(&mut acc), vec![direct.serialize()]);
    }

    #[test]
    fn strings_hash_as_utf8_and_empty_ones_are_skipped() {
        let mut acc = groups();
        let values: ArrayRef = Arc::new(StringArray::from(vec!["a", "", "b", "a"]));
        acc.update_batch(&[values], &[0; 4], None, 1).unwrap();
        let mut direct = HllSketch::new(12, HllType::Hll4).unwrap();
        direct.update(datasketches::hash::value::raw_bytes::from_str("a"));
        direct.update(datasketches::hash::value::raw_bytes::from_str("b"));
        assert_eq!(states(&mut acc), vec![direct.serialize()]);
    }

    #[test]
    fn merging_equals_the_library_union() {
        let (mut a, mut b) = (
            DsHll::create((12, HllType::Hll4)),
            DsHll::create((12, HllType::Hll4)),
        );
        (0..3000i64).for_each(|v| a.insert(DsItem::Long(v)));
        (2000..6000i64).for_each(|v| b.insert(DsItem::Long(v)));
        let mut union = HllUnion::new(12).unwrap();
        union.update(&a.sketch());
        union.update(&b.sketch());
        a.merge(&b).unwrap();
        assert_eq!(
            a.sketch().serialize(),
            union.to_sketch(HllType::Hll4).serialize()
        );
    }

    #[test]
    fn corrupt_bytes_are_errors_not_panics() {
        let mut s = DsHll::create((10, HllType::Hll4));
        (0..2000i64).for_each(|v| s.insert(DsItem::Long(v)));
        let mut good = Vec::new();
        s.write_to(&mut good);
        for cut in 0..good.len() {
            let _ = DsHll::decode_any(&good[..cut]);
        }
        for i in 0..good.len() {
            for bit in [1u8, 0x80] {
                let mut bad = good.clone();
                bad[i] ^= bit;
                if let Ok(mut d) = DsHll::decode_any(&bad) {
                    let _ = d.sketch().estimate();
                    let _ = d.merge_any(&good);
                }
            }
        }
        assert!(matches!(
            DsHll::decode_any(b"HZSK\x01\x01\0\0\0\0\0\0"),
            Err(SketchError::WrongFamily { .. })
        ));
    }
}
