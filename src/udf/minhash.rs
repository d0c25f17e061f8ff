//! MinHash functions: `minhash_sketch`, `minhash_merge` (aggregates), `minhash_jaccard` and
//! `minhash_lsh_bands` (scalars).

use super::args::{Default, Param, ParamKind, ParamValue};
use super::docs::Doc;
use super::family::{Aggregates, Hashes, SketchAggregate, state_sketch};
use super::scalar::{
    Args, ScalarSpec, StateScalar, decode, map_rows_to_list, per_state_pair, state_at,
};
use crate::sketch::minhash::{DEFAULT_NUM_PERM, MinHash};
use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Field, Int64Type, UInt64Type};
use datafusion::common::{Result, ScalarValue, exec_datafusion_err, exec_err, plan_err};
use std::sync::Arc;

// Parameters: the number of permutations (signature length).
state_sketch!(MinHash, u32 => MinHash::new, Hashes => MinHash::insert_hash, {
    fn write_single(num_perm: u32, hash: u64, out: &mut Vec<u8>) {
        MinHash::write_transit_single(num_perm, hash, out).expect("num_perm checked when planning")
    }
});

static NUM_PERM: [Param; 1] = [Param {
    name: "num_perm",
    kind: ParamKind::Integer(16..=4096),
    default: Some(Default::Integer(DEFAULT_NUM_PERM as i64)),
    doc: "Signature length: the state takes 4 bytes per slot.",
}];

const AGGREGATES: Aggregates<MinHash> = Aggregates::two_stack("sketch");

/// `minhash_sketch(x [, num_perm])`.
pub fn sketch() -> SketchAggregate<MinHash> {
    AGGREGATES.sketch("minhash_sketch", &NUM_PERM, num_perm, &SKETCH_DOC)
}

fn num_perm(_: &str, values: &[ParamValue]) -> Result<u32> {
    Ok(values[0].integer() as u32)
}

/// `minhash_merge(state)`.
pub fn merge() -> SketchAggregate<MinHash> {
    AGGREGATES.merge("minhash_merge", &MERGE_DOC)
}

const SKETCH_DOC: Doc = Doc {
    description: "Builds a MinHash signature of the set of values of `x`: a mergeable binary state \
         compared with minhash_jaccard and indexed with minhash_lsh_bands. Each value costs \
         one hash (one-permutation hashing; empty bins are filled by optimal densification \
         when signatures are compared). The Jaccard estimate has standard deviation about \
         sqrt(J (1 - J) / num_perm): 0.044 at J = 0.5 with the default 128. Nulls are skipped. \
         Also runs in moving window frames.",
    arguments: &[("x", "A column of any hashable type (see hll_sketch).")],
    example: "```sql\nSELECT entity, minhash_sketch(event_type) AS sig FROM events GROUP BY entity;\n```",
};

const MERGE_DOC: Doc = Doc {
    description: "Unions MinHash states: exactly the signature of the union of their sets. States must \
         have the same num_perm; otherwise an error says so. Null states are skipped; no \
         states gives NULL. Runs in moving window frames.",
    arguments: &[(
        "state",
        "A column of states made by minhash_sketch or minhash_merge.",
    )],
    example: "```sql\nSELECT entity, minhash_merge(sig) FROM daily_signatures GROUP BY entity;\n```",
};

/// `minhash_jaccard(a, b)`: the estimated Jaccard similarity of two sets.
pub fn jaccard() -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax: "minhash_jaccard(a, b)",
        doc: Doc {
            description: "The estimated Jaccard similarity |A ∩ B| / |A ∪ B| of the sets behind two \
                     MinHash states, between 0 and 1 (two empty sets: 1). The states must have the \
                     same num_perm. NULL if either state is NULL.",
            arguments: &[("a", "A minhash state."), ("b", "Another minhash state.")],
            example: "```sql\nSELECT a.entity, b.entity, minhash_jaccard(a.sig, b.sig) AS j\nFROM sigs a JOIN sigs b ON a.entity < b.entity ORDER BY j DESC LIMIT 10;\n```",
        },
        args: Args::States(2, "two minhash states"),
        returns: || DataType::Float64,
        invoke: |f, args| {
            per_state_pair(f, args, |a: Option<MinHash>, b| {
                let (Some(a), Some(b)) = (a, b) else {
                    return Ok(ScalarValue::Float64(None));
                };
                let j = a
                    .jaccard(&b)
                    .map_err(|e| exec_datafusion_err!("{f}: {e}"))?;
                Ok(ScalarValue::Float64(Some(j)))
            })
        },
    })
}

fn band_list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::UInt64, true)))
}

/// `minhash_lsh_bands(state, bands)`: one key per band, for similarity joins.
pub fn lsh_bands() -> StateScalar {
    StateScalar::new(ScalarSpec {
        syntax: "minhash_lsh_bands(state, bands)",
        doc: Doc {
            description: "Locality-sensitive hashing of a MinHash state: the signature cut into `bands` \
                     bands of r = num_perm / bands rows, one key per band. Two sets share a key \
                     with probability 1 - (1 - J^r)^bands, an S-curve that rises steeply around \
                     J = (1 / bands)^(1 / r); so a self-join on equal keys finds the similar pairs \
                     without comparing all pairs, and minhash_jaccard then confirms them. For \
                     num_perm 128: 32 bands (r = 4) for a threshold near 0.42, 16 bands (r = 8) \
                     near 0.71, 8 bands (r = 16) near 0.88. More bands find more pairs and more \
                     false candidates. Keys of different bands never coincide. An empty set has \
                     no keys.",
            arguments: &[
                ("state", "A minhash state."),
                (
                    "bands",
                    "Number of bands, from 1 to num_perm; bands x rows of the signature are used.",
                ),
            ],
            example: "```sql\nWITH keys AS (SELECT entity, unnest(minhash_lsh_bands(sig, 32)) AS k FROM sigs)\nSELECT DISTINCT a.entity, b.entity FROM keys a JOIN keys b ON a.k = b.k AND a.entity < b.entity;\n```",
        },
        args: Args::StateAnd("a minhash state and a band count", |f, t| {
            if t.is_integer() || t.is_null() {
                Ok(())
            } else {
                plan_err!("{f}: bands must be an integer, got {t}")
            }
        }),
        returns: band_list_type,
        invoke: band_keys,
    })
}

fn band_keys(
    f: &str,
    args: &datafusion::logical_expr::ScalarFunctionArgs,
) -> Result<datafusion::logical_expr::ColumnarValue> {
    let mut bands_i64: Option<ArrayRef> = None;
    map_rows_to_list::<UInt64Type>(args, |arrays, row| {
        if bands_i64.is_none() {
            bands_i64 = Some(arrow::compute::cast(&arrays[1], &DataType::Int64)?);
        }
        let bands = bands_i64
            .as_ref()
            .expect("cast above")
            .as_primitive::<Int64Type>();
        let (Some(state), true) = (state_at(f, arrays[0].as_ref(), row)?, bands.is_valid(row))
        else {
            return Ok(None);
        };
        let Ok(b) = u32::try_from(bands.value(row)) else {
            return exec_err!("{f}: bands must be positive, got {}", bands.value(row));
        };
        decode::<MinHash>(f, state)?
            .lsh_bands(b)
            .map(Some)
            .map_err(|e| exec_datafusion_err!("{f}: {e}"))
    })
}
