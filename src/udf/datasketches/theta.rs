//! Theta sketches with set operations: `theta_sketch`, `theta_union` and `theta_intersect_agg`
//! (aggregates), `theta_union_pair`, `theta_intersect`, `theta_a_not_b`, `theta_estimate` and
//! `theta_bounds` (scalars). States are compact, ordered theta sketches of Apache
//! DataSketches (Java `CompactSketch.toByteArray`, C++/Python `compact().serialize()`), with
//! the default seed 9001: what Spark 4.1's `theta_sketch_agg`, Druid and Hive store.
//!
//! The pair-wise union is `theta_union_pair`, not a scalar `theta_union`: DataFusion resolves a
//! call by name to a scalar function before an aggregate, so the two cannot share a name.
//!
//! The library's `ThetaSketch` and `ThetaUnion` cannot be cloned, which moving window frames
//! and the grouped accumulator need, so [`Theta`] holds the rows' sketch and what was merged
//! in (a decoded compact sketch, or a union gadget once there is more than one) and clones as
//! the compact sketch of both. [`ThetaMeet`] is the same for intersections.
//!
//! A union's size (its `lg_k`, 2^lg_k retained hashes) is the largest of its inputs': the
//! `lg_k` a `theta_sketch` was built with, or for decoded bytes (which do not record it) the
//! smallest `lg_k` that holds their retained hashes, and at least 12, the libraries' default.

use super::{
    BOUNDS_ARGS, Bounded, Described, DsItem, DsItems, bounds_of_rows, bounds_type, guard, named,
    rejected,
};
use crate::sketch::SketchError;
use crate::udf::args::{Default as ParamDefault, Param, ParamKind, ParamValue};
use crate::udf::docs::Doc;
use crate::udf::family::{Aggregates, MergeableState, SketchAggregate, StateSketch, StatesOnly};
use crate::udf::scalar::{Args, ScalarSpec, StateScalar, map_rows, state_at};
use arrow::array::ArrayRef;
use arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue};
use datasketches::common::NumStdDev;
use datasketches::theta::{
    CompactThetaSketch, ThetaANotB, ThetaIntersection, ThetaSketch, ThetaSketchBuilder, ThetaUnion,
    ThetaUnionBuilder,
};
use std::convert::Infallible;

/// The DataSketches family id of compact theta sketches (byte 2 of the preamble).
pub const FAMILY_ID: u8 = 3;
const FAMILY: &str = "DataSketches compact theta";
/// The libraries' default `lg_k`, and the smallest union Hazy makes.
const DEFAULT_LG_K: u8 = 12;
const MAX_LG_K: u8 = 26;

/// Decodes compact theta bytes (serial versions 1 to 4) of the default seed.
pub fn decode_compact(bytes: &[u8]) -> Result<CompactThetaSketch, SketchError> {
    guard(|| CompactThetaSketch::deserialize(bytes).map_err(|e| rejected(bytes, FAMILY, e)))
}

/// The `lg_k` a union needs for what `sketch` retains (see the module documentation): the
/// smallest `lg_k` of a sketch that retains as many hashes. One in estimation mode retains
/// between 2^lg_k and 2^(lg_k+1); an exact one up to 15/16 of 2^(lg_k+1) (its table fills to
/// that before its first rebuild). Never below the libraries' default, 12: a sketch that
/// retains few hashes says nothing about the union it belongs to.
fn lg_k_hint(sketch: &CompactThetaSketch) -> u8 {
    let n = sketch.num_retained().max(1) as f64;
    let lg = if sketch.is_estimation_mode() {
        n.log2().floor()
    } else {
        (n / 1.875).log2().ceil()
    };
    (lg.max(0.0) as u8).clamp(DEFAULT_LG_K, MAX_LG_K)
}

fn new_union(lg_k: u8) -> ThetaUnion {
    ThetaUnionBuilder::default()
        .lg_k(lg_k)
        .build()
        .expect("lg_k within the library's range")
}

fn incompatible(e: datasketches::error::Error) -> SketchError {
    SketchError::Incompatible(e.message().to_string())
}

/// The theta sketch of a group: rows added, and states merged in.
#[derive(Debug)]
pub struct Theta {
    lg_k: u8,
    rows: Option<Box<ThetaSketch>>,
    merged: Merged,
}

#[derive(Debug)]
enum Merged {
    Nothing,
    /// One decoded (or cloned) state: no union needed until a second one comes.
    Compact(CompactThetaSketch),
    /// The union gadget and its `lg_k`.
    Union(Box<ThetaUnion>, u8),
}

impl Clone for Theta {
    fn clone(&self) -> Self {
        Self {
            lg_k: self.lg_k,
            rows: None,
            merged: Merged::Compact(self.compact()),
        }
    }
}

impl Theta {
    fn from_compact(sketch: CompactThetaSketch) -> Self {
        Self {
            lg_k: lg_k_hint(&sketch),
            rows: None,
            merged: Merged::Compact(sketch),
        }
    }

    /// The compact, ordered sketch of everything added and merged.
    pub fn compact(&self) -> CompactThetaSketch {
        match (&self.rows, &self.merged) {
            (None, Merged::Nothing) => ThetaSketchBuilder::default()
                .lg_k(self.lg_k)
                .build()
                .expect("lg_k checked when planning")
                .compact(true),
            (Some(rows), Merged::Nothing) => rows.compact(true),
            (None, Merged::Compact(c)) => c.clone(),
            (None, Merged::Union(u, _)) => u.to_sketch(true),
            (Some(rows), merged) => {
                let mut union = new_union(self.lg_k);
                union.update(&**rows).expect("sketches of one seed");
                match merged {
                    Merged::Compact(c) => union.update(c),
                    Merged::Union(u, _) => union.update(&u.to_sketch(false)),
                    Merged::Nothing => Ok(()),
                }
                .expect("sketches of one seed");
                union.to_sketch(true)
            }
        }
    }

    /// The union gadget holding what was merged, at least `lg_k` large.
    fn union(&mut self, lg_k: u8) -> Result<&mut ThetaUnion, SketchError> {
        let lg_k = lg_k.max(self.lg_k);
        self.lg_k = lg_k;
        let held = match std::mem::replace(&mut self.merged, Merged::Nothing) {
            Merged::Union(u, have) if have >= lg_k => Merged::Union(u, have),
            Merged::Union(u, _) => {
                let mut bigger = new_union(lg_k);
                bigger.update(&u.to_sketch(false)).map_err(incompatible)?;
                Merged::Union(Box::new(bigger), lg_k)
            }
            Merged::Compact(c) => {
                let mut union = new_union(lg_k);
                union.update(&c).map_err(incompatible)?;
                Merged::Union(Box::new(union), lg_k)
            }
            Merged::Nothing => Merged::Union(Box::new(new_union(lg_k)), lg_k),
        };
        self.merged = held;
        match &mut self.merged {
            Merged::Union(u, _) => Ok(u),
            _ => unreachable!("made a union above"),
        }
    }

    fn merge_compact(&mut self, other: &CompactThetaSketch) -> Result<(), SketchError> {
        if matches!(self.merged, Merged::Nothing) && self.rows.is_none() {
            self.lg_k = self.lg_k.max(lg_k_hint(other));
            self.merged = Merged::Compact(other.clone());
            return Ok(());
        }
        self.union(lg_k_hint(other))?
            .update(other)
            .map_err(incompatible)
    }
}

impl MergeableState for Theta {
    fn heap_size(&self) -> usize {
        let rows = self.rows.as_ref().map_or(0, |r| r.estimated_size());
        rows + match &self.merged {
            Merged::Nothing => 0,
            Merged::Compact(c) => c.estimated_size(),
            Merged::Union(u, _) => u.estimated_size(),
        }
    }

    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.compact().serialize())
    }

    /// States travel as they are stored (the library's bytes; see `DsHll`).
    fn write_transit(&self, out: &mut Vec<u8>) {
        self.write_to(out)
    }

    fn decode_any(bytes: &[u8]) -> Result<Self, SketchError> {
        decode_compact(bytes).map(Self::from_compact)
    }

    fn merge(&mut self, other: &Self) -> Result<(), SketchError> {
        guard(|| {
            let lg_k = other.lg_k;
            if let Some(rows) = &other.rows {
                self.union(lg_k)?.update(&**rows).map_err(incompatible)?;
            }
            match &other.merged {
                Merged::Nothing => Ok(()),
                Merged::Compact(c) => self.merge_compact(c),
                Merged::Union(u, _) => self.merge_compact(&u.to_sketch(false)),
            }
        })
    }

    fn merge_any(&mut self, bytes: &[u8]) -> Result<(), SketchError> {
        let incoming = decode_compact(bytes)?;
        guard(|| self.merge_compact(&incoming))
    }
}

impl StateSketch for Theta {
    type Params = u8;
    type Input = DsItems;

    fn create(lg_k: u8) -> Self {
        Self {
            lg_k,
            rows: None,
            merged: Merged::Nothing,
        }
    }

    fn insert(&mut self, item: DsItem<'_>) {
        let lg_k = self.lg_k;
        self.rows
            .get_or_insert_with(|| {
                Box::new(
                    ThetaSketchBuilder::default()
                        .lg_k(lg_k)
                        .build()
                        .expect("lg_k checked when planning"),
                )
            })
            .update(item)
    }
}

/// The intersection of the states of a group (`theta_intersect_agg`).
#[derive(Debug, Clone)]
pub struct ThetaMeet(CompactThetaSketch);

impl MergeableState for ThetaMeet {
    fn heap_size(&self) -> usize {
        self.0.estimated_size()
    }

    fn write_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.serialize())
    }

    fn write_transit(&self, out: &mut Vec<u8>) {
        self.write_to(out)
    }

    fn decode_any(bytes: &[u8]) -> Result<Self, SketchError> {
        decode_compact(bytes).map(ThetaMeet)
    }

    fn merge(&mut self, other: &Self) -> Result<(), SketchError> {
        self.0 = guard(|| intersect(&self.0, &other.0))?;
        Ok(())
    }

    fn merge_any(&mut self, bytes: &[u8]) -> Result<(), SketchError> {
        let other = decode_compact(bytes)?;
        self.0 = guard(|| intersect(&self.0, &other))?;
        Ok(())
    }
}

/// Intersections have no aggregate over values: its only aggregate reads states.
impl StateSketch for ThetaMeet {
    type Params = Infallible;
    type Input = StatesOnly;

    fn create(never: Infallible) -> Self {
        match never {}
    }

    fn insert(&mut self, never: Infallible) {
        match never {}
    }
}

fn intersect(
    a: &CompactThetaSketch,
    b: &CompactThetaSketch,
) -> Result<CompactThetaSketch, SketchError> {
    let mut i = ThetaIntersection::default();
    i.update(a).map_err(incompatible)?;
    i.update(b).map_err(incompatible)?;
    Ok(i.to_sketch(true)
        .expect("an intersection updated with two sketches has a result"))
}

fn union_pair(
    a: &CompactThetaSketch,
    b: &CompactThetaSketch,
) -> Result<CompactThetaSketch, SketchError> {
    let mut u = new_union(lg_k_hint(a).max(lg_k_hint(b)));
    u.update(a).map_err(incompatible)?;
    u.update(b).map_err(incompatible)?;
    Ok(u.to_sketch(true))
}

fn a_not_b(
    a: &CompactThetaSketch,
    b: &CompactThetaSketch,
) -> Result<CompactThetaSketch, SketchError> {
    ThetaANotB::default()
        .compute(a, b, true)
        .map_err(incompatible)
}

static LG_K: [Param; 1] = [Param {
    name: "lg_k",
    kind: ParamKind::Integer(5..=26),
    default: Some(ParamDefault::Integer(12)),
    doc: "Up to 2^lg_k retained hashes (8 bytes each): relative standard error about \
          1/sqrt(2^lg_k) (1.6% at 12, the default of the DataSketches libraries and Spark).",
}];

fn lg_k(_: &str, values: &[ParamValue]) -> Result<u8> {
    Ok(values[0].integer() as u8)
}

/// `theta_sketch(x [, lg_k])`.
pub fn sketch() -> SketchAggregate<Theta> {
    AGGREGATES.sketch("theta_sketch", &LG_K, lg_k, &SKETCH_DOC)
}

const AGGREGATES: Aggregates<Theta> = Aggregates::two_stack("theta");

/// `theta_union(state)`.
pub fn union() -> SketchAggregate<Theta> {
    AGGREGATES.merge("theta_union", &UNION_DOC)
}

/// `theta_intersect_agg(state)`.
pub fn intersect_agg() -> SketchAggregate<ThetaMeet> {
    Aggregates::two_stack("theta_meet").merge("theta_intersect_agg", &INTERSECT_AGG_DOC)
}

const SKETCH_DOC: Doc = Doc {
    description: "Builds an Apache DataSketches theta sketch of the distinct values of `x`: its compact, \
         ordered bytes, readable by the Java, C++ and Python libraries and the systems built on \
         them (Spark 4.1's theta_*, Druid, Hive). Unlike HyperLogLog, theta sketches intersect \
         and subtract (theta_intersect, theta_a_not_b): funnels and retention. Items hash the \
         DataSketches way, as in ds_hll_sketch (integers as 8 bytes, floats canonical, strings \
         as UTF-8, empty strings skipped). Nulls are skipped; a group with no values gives an \
         empty sketch. Also runs in moving window frames.",
    arguments: &[(
        "x",
        "A column of integers, floats, strings or binaries (or a dictionary of these).",
    )],
    example: "```sql\nSELECT day, theta_sketch(entity) AS users FROM events GROUP BY day ORDER BY day;\n```",
};

const UNION_DOC: Doc = Doc {
    description: "Merges theta sketches into one: the sketch of the union of their inputs (the \
         aggregate; the pair-wise scalar form is theta_union_pair). Reads compact theta sketches \
         of any DataSketches library. Null states are skipped; no states at all gives NULL. \
         Also works in moving window frames.",
    arguments: &[("state", "A column of compact theta sketches (binary).")],
    example: "```sql\nSELECT theta_estimate(theta_union(users)) AS all_users\nFROM (SELECT day, theta_sketch(entity) AS users FROM events GROUP BY day);\n```",
};

const INTERSECT_AGG_DOC: Doc = Doc {
    description: "The intersection of the theta sketches of a group: a sketch of the items in \
         every one of them (users active on all days). Null states are skipped; no states at \
         all gives NULL. Also works in moving window frames.",
    arguments: &[("state", "A column of compact theta sketches (binary).")],
    example: "```sql\n-- users active on every day\nSELECT theta_estimate(theta_intersect_agg(users)) AS every_day\nFROM (SELECT day, theta_sketch(entity) AS users FROM events GROUP BY day);\n```",
};

/// `theta_estimate(state)`.
pub fn estimate() -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax: "theta_estimate(state)",
        doc: Doc {
            description: "The estimated number of distinct items of a theta sketch, as the \
                     DataSketches libraries compute it (a DOUBLE). NULL for a NULL state; an \
                     error names the defect of malformed bytes.",
            arguments: &[("state", "A compact theta sketch (binary).")],
            example: "```sql\nSELECT theta_estimate(theta_sketch(entity)) FROM events;\n```",
        },
        args: Args::States(1, "one argument (a theta sketch)"),
        returns: || DataType::Float64,
        invoke: |f, args| {
            map_rows(args, |arrays, row| {
                let estimate = match state_at(f, arrays[0].as_ref(), row)? {
                    Some(bytes) => Some(decode_compact(bytes).map_err(named(f))?.estimate()),
                    None => None,
                };
                Ok(ScalarValue::Float64(estimate))
            })
        },
    })
}

impl Bounded for Theta {
    fn bounds(function: &str, bytes: &[u8], k: NumStdDev) -> Result<[f64; 3]> {
        let s = decode_compact(bytes).map_err(named(function))?;
        guard(|| Ok(bounds_of(&s, k))).map_err(named(function))
    }
}

/// `theta_bounds(state, num_std_dev)`.
pub fn bounds() -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax: "theta_bounds(state, num_std_dev)",
        doc: Doc {
            description: "Confidence bounds of a theta sketch's estimate: a struct {lower, \
                     estimate, upper} of DOUBLEs, as the DataSketches libraries compute them. \
                     NULL when either argument is NULL.",
            arguments: &[
                ("state", "A compact theta sketch."),
                (
                    "num_std_dev",
                    "1, 2 or 3 standard deviations (about 68%, 95% or 99.7% confidence).",
                ),
            ],
            example: "```sql\nSELECT theta_bounds(theta_sketch(entity), 2) FROM events;\n```",
        },
        args: BOUNDS_ARGS,
        returns: bounds_type,
        invoke: bounds_of_rows::<Theta>,
    })
}

fn bounds_of(s: &CompactThetaSketch, k: NumStdDev) -> [f64; 3] {
    [s.lower_bound(k), s.estimate(), s.upper_bound(k)]
}

type Invoke = fn(
    &str,
    &datafusion::logical_expr::ScalarFunctionArgs,
) -> Result<datafusion::logical_expr::ColumnarValue>;

/// A pair-wise set operation as a scalar function.
fn pairwise(invoke: Invoke, syntax: &'static str, doc: Doc) -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax,
        doc,
        args: Args::States(2, "two arguments (theta sketches)"),
        returns: || DataType::LargeBinary,
        invoke,
    })
}

/// `theta_union_pair(a, b)`.
pub fn union_pair_scalar() -> StateScalar {
    pairwise(
        |f, args| set_op(f, args, union_pair, true),
        "theta_union_pair(a, b)",
        Doc {
            description: "The union of two theta sketches, row by row (the scalar form of the \
                     theta_union aggregate, which DataFusion does not let share its name). A \
                     NULL side counts as empty; two NULLs give NULL.",
            arguments: &[
                ("a", "A compact theta sketch."),
                ("b", "A compact theta sketch."),
            ],
            example: "```sql\nSELECT theta_estimate(theta_union_pair(a.users, b.users)) AS clicked_or_searched\nFROM (SELECT theta_sketch(entity) AS users FROM events WHERE event_type = 'click') a,\n     (SELECT theta_sketch(entity) AS users FROM events WHERE event_type = 'search') b;\n```",
        },
    )
}

/// `theta_intersect(a, b)`.
pub fn intersect_scalar() -> StateScalar {
    pairwise(
        |f, args| set_op(f, args, intersect, false),
        "theta_intersect(a, b)",
        Doc {
            description: "The intersection of two theta sketches, row by row: a sketch of the \
                     items in both. NULL when either side is NULL.",
            arguments: &[
                ("a", "A compact theta sketch."),
                ("b", "A compact theta sketch."),
            ],
            example: "```sql\nSELECT theta_estimate(theta_intersect(a.users, b.users)) AS clicked_and_searched\nFROM (SELECT theta_sketch(entity) AS users FROM events WHERE event_type = 'click') a,\n     (SELECT theta_sketch(entity) AS users FROM events WHERE event_type = 'search') b;\n```",
        },
    )
}

/// `theta_a_not_b(a, b)`.
pub fn a_not_b_scalar() -> StateScalar {
    pairwise(
        |f, args| set_op(f, args, a_not_b, false),
        "theta_a_not_b(a, b)",
        Doc {
            description: "The difference of two theta sketches, row by row: a sketch of the items \
                     of `a` that are not in `b`. NULL when either side is NULL (use \
                     theta_sketch over no rows for an empty `b`).",
            arguments: &[
                ("a", "A compact theta sketch."),
                (
                    "b",
                    "A compact theta sketch, whose items are taken out of a.",
                ),
            ],
            example: "```sql\nSELECT theta_estimate(theta_a_not_b(a.users, b.users)) AS clicked_never_searched\nFROM (SELECT theta_sketch(entity) AS users FROM events WHERE event_type = 'click') a,\n     (SELECT theta_sketch(entity) AS users FROM events WHERE event_type = 'search') b;\n```",
        },
    )
}

/// Evaluates a pair-wise set operation row by row.
fn set_op(
    f: &str,
    args: &datafusion::logical_expr::ScalarFunctionArgs,
    op: fn(&CompactThetaSketch, &CompactThetaSketch) -> Result<CompactThetaSketch, SketchError>,
    nulls_as_empty: bool,
) -> Result<datafusion::logical_expr::ColumnarValue> {
    map_rows(args, |arrays: &[ArrayRef], row| {
        let side = |i: usize| -> Result<Option<CompactThetaSketch>> {
            state_at(f, arrays[i].as_ref(), row)?
                .map(|b| decode_compact(b).map_err(named(f)))
                .transpose()
        };
        let result = match (side(0)?, side(1)?) {
            (Some(a), Some(b)) => Some(guard(|| op(&a, &b)).map_err(named(f))?),
            (x, None) | (None, x) if nulls_as_empty => x,
            _ => None,
        };
        Ok(ScalarValue::LargeBinary(result.map(|s| s.serialize())))
    })
}

/// `sketch_info` of compact theta bytes.
pub fn describe(bytes: &[u8]) -> Result<Described, SketchError> {
    let s = decode_compact(bytes)?;
    let mode = if s.is_empty() {
        "empty"
    } else if s.is_estimation_mode() {
        "estimation"
    } else {
        "exact"
    };
    let order = if s.is_ordered() {
        "ordered"
    } else {
        "unordered"
    };
    let [lower, estimate, upper] = guard(|| Ok(bounds_of(&s, NumStdDev::Two)))?;
    Ok(Described {
        family: "datasketches_theta",
        version: bytes[1],
        parameters: format!("seed_hash={:#06x}", s.seed_hash()),
        mode: format!("{mode}, compact, {order}"),
        details: format!(
            "estimate={estimate}, lower_2sd={lower}, upper_2sd={upper}, theta={}, retained={}",
            s.theta(),
            s.num_retained()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built(range: std::ops::Range<i64>) -> Theta {
        let mut t = Theta::create(12);
        range.for_each(|v| t.insert(DsItem::Long(v)));
        t
    }

    fn library(range: std::ops::Range<i64>) -> CompactThetaSketch {
        let mut s = ThetaSketchBuilder::default().lg_k(12).build().unwrap();
        range.for_each(|v| s.update(v));
        s.compact(true)
    }

    fn bytes(t: &Theta) -> Vec<u8> {
        let mut out = Vec::new();
        t.write_to(&mut out);
        out
    }

    #[test]
    fn states_are_the_library_bytes() {
        assert_eq!(bytes(&built(0..20_000)), library(0..20_000).serialize());
        assert_eq!(bytes(&Theta::create(12)), library(0..0).serialize());
    }

    #[test]
    fn merges_equal_the_library_union_in_the_same_order() {
        let parts = [0..7000, 5000..12_000, 11_000..30_000];
        let mut union = new_union(12);
        parts
            .iter()
            .for_each(|r| union.update(&library(r.clone())).unwrap());
        let expected = union.to_sketch(true).serialize();
        let mut a = built(parts[0].clone());
        a.merge(&built(parts[1].clone())).unwrap();
        a.merge_any(&library(parts[2].clone()).serialize()).unwrap();
        assert_eq!(bytes(&a), expected);
        // The library's union trims as it goes, so the order matters: compare in the same one.
        let mut union = new_union(12);
        [2, 0, 1]
            .iter()
            .for_each(|&i| union.update(&library(parts[i].clone())).unwrap());
        let mut b = Theta::decode_any(&library(parts[2].clone()).serialize()).unwrap();
        b.merge(&built(parts[0].clone()).clone()).unwrap();
        b.merge(&built(parts[1].clone())).unwrap();
        assert_eq!(bytes(&b), union.to_sketch(true).serialize());
    }

    #[test]
    fn intersection_and_difference_follow_the_library() {
        let (a, b) = (library(0..10_000), library(5000..20_000));
        let mut meet = ThetaMeet(a.clone());
        meet.merge_any(&b.serialize()).unwrap();
        assert_eq!(meet.0.serialize(), intersect(&a, &b).unwrap().serialize());
        let est = meet.0.estimate();
        assert!((est - 5000.0).abs() < 5000.0 * 0.1, "{est}");
        let diff = a_not_b(&a, &b).unwrap().estimate();
        assert!((diff - 5000.0).abs() < 5000.0 * 0.1, "{diff}");
    }

    #[test]
    fn corrupt_bytes_are_errors_not_panics() {
        let good = library(0..9000).serialize();
        for cut in 0..good.len().min(200) {
            assert!(decode_compact(&good[..cut]).is_err(), "a {cut}-byte prefix");
        }
        for i in 0..32 {
            for bit in [1u8, 0x40, 0x80] {
                let mut bad = good.clone();
                bad[i] ^= bit;
                if let Ok(mut t) = Theta::decode_any(&bad) {
                    let _ = t.merge_any(&good);
                    let _ = describe(&bad);
                }
            }
        }
    }
}
