//! MinHash functions: `minhash_sketch`, `minhash_merge` (aggregates), `minhash_jaccard` and
//! `minhash_lsh_bands`.

use super::args::{check_arity, check_integer_param, check_state_type, integer_arg};
use super::docs::doc;
use super::family::{AggregateSpec, SketchAggregate, StateSketch, stored_like_its_methods};
use super::hashing::check_hashable;
use super::scalar::{check_state_args, map_rows, state_at};
use crate::sketch::minhash::{DEFAULT_NUM_PERM, MinHash};
use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Field, Int64Type};
use datafusion::common::{Result, ScalarValue, exec_datafusion_err, exec_err, plan_err};
use datafusion::logical_expr::function::AccumulatorArgs;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::{Arc, LazyLock};

const SKETCH: &str = "minhash_sketch";
const MERGE: &str = "minhash_merge";
const NUM_PERM: std::ops::RangeInclusive<i64> = 16..=4096;

impl StateSketch for MinHash {
    /// Number of permutations (signature length).
    type Params = u32;
    type Input = u64;

    fn create(num_perm: u32) -> Self {
        MinHash::new(num_perm).expect("num_perm checked when planning")
    }

    fn insert(&mut self, hash: u64) {
        self.insert_hash(hash)
    }

    stored_like_its_methods!(MinHash);
}

fn sketch_return_type(args: &[DataType]) -> Result<DataType> {
    check_arity(SKETCH, args, 1, 2, "a value and an optional num_perm")?;
    check_hashable(SKETCH, &args[0])?;
    if let Some(t) = args.get(1).filter(|t| !t.is_integer() && !t.is_null()) {
        return plan_err!("{SKETCH}: num_perm must be an integer literal, got {t}");
    }
    Ok(DataType::LargeBinary)
}

fn sketch_params(args: &AccumulatorArgs) -> Result<u32> {
    let n = integer_arg(
        SKETCH,
        "num_perm",
        args.exprs,
        1,
        NUM_PERM,
        DEFAULT_NUM_PERM as i64,
    )?;
    Ok(n as u32)
}

/// `minhash_sketch(x [, num_perm])`.
pub fn sketch() -> SketchAggregate<MinHash> {
    SketchAggregate::new(AggregateSpec {
        name: SKETCH,
        reads_states: false,
        return_type: |_, args| sketch_return_type(args),
        params: sketch_params,
        check_literals: |args| check_integer_param(SKETCH, "num_perm", args.get(1), NUM_PERM),
        finish: None,
        documentation: || &SKETCH_DOC,
    })
}

/// `minhash_merge(state)`.
pub fn merge() -> SketchAggregate<MinHash> {
    SketchAggregate::merging(MERGE, || &MERGE_DOC)
}

static SKETCH_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Builds a MinHash signature of the set of values of `x`: a mergeable binary state \
         compared with minhash_jaccard and indexed with minhash_lsh_bands. Each value costs \
         one hash (one-permutation hashing; empty bins are filled by optimal densification \
         when signatures are compared). The Jaccard estimate has standard deviation about \
         sqrt(J (1 - J) / num_perm): 0.044 at J = 0.5 with the default 128. Nulls are skipped. \
         Also runs in moving window frames.",
        "minhash_sketch(x [, num_perm])",
        &[
            ("x", "A column of any hashable type (see hll_sketch)."),
            (
                "num_perm",
                "Optional signature length, an integer literal from 16 to 4096 (default 128): the state takes 4 bytes per slot.",
            ),
        ],
        "```sql\nSELECT entity, minhash_sketch(event_type) AS sig FROM events GROUP BY entity;\n```",
    )
});

static MERGE_DOC: LazyLock<Documentation> = LazyLock::new(|| {
    doc(
        "Unions MinHash states: exactly the signature of the union of their sets. States must \
         have the same num_perm; otherwise an error says so. Null states are skipped; no \
         states gives NULL. Runs in moving window frames.",
        "minhash_merge(state)",
        &[(
            "state",
            "A column of states made by minhash_sketch or minhash_merge.",
        )],
        "```sql\nSELECT entity, minhash_merge(sig) FROM daily_signatures GROUP BY entity;\n```",
    )
});

fn decode(function: &str, bytes: &[u8]) -> Result<MinHash> {
    MinHash::from_bytes(bytes).map_err(|e| exec_datafusion_err!("{function}: {e}"))
}

/// `minhash_jaccard(a, b)`: the estimated Jaccard similarity of two sets.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MinHashJaccard {
    signature: Signature,
}

impl Default for MinHashJaccard {
    fn default() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for MinHashJaccard {
    fn name(&self) -> &str {
        "minhash_jaccard"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        check_state_args(self.name(), args, 2, "two minhash states")?;
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let f = self.name();
        map_rows(&args, |arrays, row| {
            let (Some(a), Some(b)) = (
                state_at(f, arrays[0].as_ref(), row)?,
                state_at(f, arrays[1].as_ref(), row)?,
            ) else {
                return Ok(ScalarValue::Float64(None));
            };
            let j = decode(f, a)?
                .jaccard(&decode(f, b)?)
                .map_err(|e| exec_datafusion_err!("{f}: {e}"))?;
            Ok(ScalarValue::Float64(Some(j)))
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            doc(
                "The estimated Jaccard similarity |A ∩ B| / |A ∪ B| of the sets behind two \
                 MinHash states, between 0 and 1 (two empty sets: 1). The states must have the \
                 same num_perm. NULL if either state is NULL.",
                "minhash_jaccard(a, b)",
                &[("a", "A minhash state."), ("b", "Another minhash state.")],
                "```sql\nSELECT a.entity, b.entity, minhash_jaccard(a.sig, b.sig) AS j\nFROM sigs a JOIN sigs b ON a.entity < b.entity ORDER BY j DESC LIMIT 10;\n```",
            )
        });
        Some(&DOC)
    }
}

/// `minhash_lsh_bands(state, bands)`: one key per band, for similarity joins.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct MinHashLshBands {
    signature: Signature,
}

impl Default for MinHashLshBands {
    fn default() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

fn band_list_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::UInt64, true)))
}

impl ScalarUDFImpl for MinHashLshBands {
    fn name(&self) -> &str {
        "minhash_lsh_bands"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        check_arity(self.name(), args, 2, 2, "a minhash state and a band count")?;
        check_state_type(self.name(), &args[0])?;
        if !args[1].is_integer() && !args[1].is_null() {
            return plan_err!("{}: bands must be an integer, got {}", self.name(), args[1]);
        }
        Ok(band_list_type())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let f = self.name();
        let mut bands_i64: Option<ArrayRef> = None;
        map_rows(&args, |arrays, row| {
            if bands_i64.is_none() {
                bands_i64 = Some(arrow::compute::cast(&arrays[1], &DataType::Int64)?);
            }
            let bands = bands_i64
                .as_ref()
                .expect("cast above")
                .as_primitive::<Int64Type>();
            let (Some(state), true) = (state_at(f, arrays[0].as_ref(), row)?, bands.is_valid(row))
            else {
                return ScalarValue::try_from(band_list_type());
            };
            let Ok(b) = u32::try_from(bands.value(row)) else {
                return exec_err!("{f}: bands must be positive, got {}", bands.value(row));
            };
            let keys = decode(f, state)?
                .lsh_bands(b)
                .map_err(|e| exec_datafusion_err!("{f}: {e}"))?;
            let keys: Vec<ScalarValue> = keys.into_iter().map(ScalarValue::from).collect();
            Ok(ScalarValue::List(ScalarValue::new_list_nullable(
                &keys,
                &DataType::UInt64,
            )))
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            doc(
                "Locality-sensitive hashing of a MinHash state: the signature cut into `bands` \
                 bands of r = num_perm / bands rows, one key per band. Two sets share a key \
                 with probability 1 - (1 - J^r)^bands, an S-curve that rises steeply around \
                 J = (1 / bands)^(1 / r); so a self-join on equal keys finds the similar pairs \
                 without comparing all pairs, and minhash_jaccard then confirms them. For \
                 num_perm 128: 32 bands (r = 4) for a threshold near 0.42, 16 bands (r = 8) \
                 near 0.71, 8 bands (r = 16) near 0.88. More bands find more pairs and more \
                 false candidates. Keys of different bands never coincide. An empty set has \
                 no keys.",
                "minhash_lsh_bands(state, bands)",
                &[
                    ("state", "A minhash state."),
                    (
                        "bands",
                        "Number of bands, from 1 to num_perm; bands x rows of the signature are used.",
                    ),
                ],
                "```sql\nWITH keys AS (SELECT entity, unnest(minhash_lsh_bands(sig, 32)) AS k FROM sigs)\nSELECT DISTINCT a.entity, b.entity FROM keys a JOIN keys b ON a.k = b.k AND a.entity < b.entity;\n```",
            )
        });
        Some(&DOC)
    }
}
