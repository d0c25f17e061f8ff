//! Scalar functions over HyperLogLog states: `hll_estimate` and `hll_union`.

use super::docs::doc;
use super::hll::estimate_i64;
use super::scalar::{check_state_args, map_rows, state_at};
use crate::sketch::HyperLogLog;
use arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, exec_datafusion_err};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use std::sync::LazyLock;

fn decode(function: &str, bytes: &[u8]) -> Result<HyperLogLog> {
    HyperLogLog::from_bytes(bytes).map_err(|e| exec_datafusion_err!("{function}: {e}"))
}

/// `hll_estimate(state)`: the estimated number of distinct values.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HllEstimate {
    signature: Signature,
}

impl Default for HllEstimate {
    fn default() -> Self {
        Self {
            signature: Signature::any(1, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for HllEstimate {
    fn name(&self) -> &str {
        "hll_estimate"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        check_state_args(self.name(), args, 1, "one argument (a hll state)")?;
        Ok(DataType::Int64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        map_rows(&args, |arrays, row| {
            let estimate = match state_at(self.name(), arrays[0].as_ref(), row)? {
                Some(bytes) => Some(estimate_i64(&decode(self.name(), bytes)?)),
                None => None,
            };
            Ok(ScalarValue::Int64(estimate))
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            doc(
                "The estimated number of distinct values in a HyperLogLog state, rounded to an \
                 integer. NULL for a NULL state; an error names the defect of a malformed one.",
                "hll_estimate(state)",
                &[(
                    "state",
                    "A state made by hll_sketch, hll_merge or hll_union.",
                )],
                "```sql\nSELECT hll_estimate(hll_merge(users)) AS monthly_users FROM daily_users;\n```",
            )
        });
        Some(&DOC)
    }
}

/// `hll_union(a, b)`: the state of the union of two states, row by row.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct HllUnion {
    signature: Signature,
}

impl Default for HllUnion {
    fn default() -> Self {
        Self {
            signature: Signature::any(2, Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for HllUnion {
    fn name(&self) -> &str {
        "hll_union"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, args: &[DataType]) -> Result<DataType> {
        check_state_args(self.name(), args, 2, "two arguments (hll states)")?;
        Ok(DataType::LargeBinary)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let f = self.name();
        map_rows(&args, |arrays, row| {
            let a = state_at(f, arrays[0].as_ref(), row)?
                .map(|b| decode(f, b))
                .transpose()?;
            let b = state_at(f, arrays[1].as_ref(), row)?
                .map(|b| decode(f, b))
                .transpose()?;
            let union = match (a, b) {
                (Some(mut a), Some(b)) => {
                    a.merge(&b);
                    Some(a)
                }
                (x, None) | (None, x) => x,
            };
            Ok(ScalarValue::LargeBinary(union.map(|s| s.to_bytes())))
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        static DOC: LazyLock<Documentation> = LazyLock::new(|| {
            doc(
                "The union of two HyperLogLog states, row by row (the scalar form of hll_merge). \
                 A NULL side counts as empty; two NULLs give NULL. Different precisions give \
                 the smaller one.",
                "hll_union(a, b)",
                &[("a", "A hll state."), ("b", "A hll state.")],
                "```sql\nSELECT hll_estimate(hll_union(web.users, app.users)) AS users_on_either\nFROM web JOIN app USING (day);\n```",
            )
        });
        Some(&DOC)
    }
}
