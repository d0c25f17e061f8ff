//! `sketch_info(state)`: describes any Hazy state.

use super::docs::Doc;
use super::scalar::{Args, ScalarSpec, StateScalar, map_rows, state_at};
use crate::sketch::describe;
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{Result, ScalarValue, exec_datafusion_err};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs};
use std::sync::Arc;

fn info_fields() -> Fields {
    Fields::from(vec![
        Field::new("family", DataType::Utf8, false),
        Field::new("version", DataType::Int32, false),
        Field::new("parameters", DataType::Utf8, false),
        Field::new("mode", DataType::Utf8, false),
        Field::new("bytes", DataType::Int64, false),
        Field::new("items", DataType::Int64, true),
        Field::new("details", DataType::Utf8, false),
    ])
}

/// `sketch_info(state)` → struct {family, version, parameters, mode, bytes, items, details}.
pub fn sketch_info() -> StateScalar {
    StateScalar::new(ScalarSpec {
        name: "sketch_info",
        args: Args::States(1, "one argument (a sketch state)"),
        returns: || DataType::Struct(info_fields()),
        invoke: infos,
        syntax: "sketch_info(state)",
        doc: Doc {
            description: "Describes any Hazy sketch state, of every family: a struct with `family` \
                 (hll, cms, …), format `version`, `parameters`, `mode` (e.g. sparse or dense), \
                 serialized `bytes`, `items` added (non-null values, summed over merges) and \
                 family-specific `details` (estimate and standard error for hll). Apache \
                 DataSketches HLL and compact theta sketches (from ds_hll_sketch, theta_sketch \
                 or any DataSketches library) are recognised too: family `datasketches_hll` or \
                 `datasketches_theta`, their serial version, lg_k and type or seed hash, their \
                 mode (list, set or hll; empty, exact or estimation), and NULL items (they do \
                 not count them). DataSketches KLL and frequent-items bytes are named \
                 `datasketches_kll` and `datasketches_frequent_items`, with k or map size, n or \
                 total weight and how their items are stored. The state is fully validated: malformed bytes give an error \
                 that names the defect.",
            arguments: &[(
                "state",
                "A state made by any Hazy *_sketch or *_merge function.",
            )],
            example: "```sql\nSELECT sketch_info(hll_sketch(entity))['bytes'] AS bytes FROM events;\n```",
        },
    })
}

fn infos(f: &str, args: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    map_rows(args, |arrays, row| {
        let Some(bytes) = state_at(f, arrays[0].as_ref(), row)? else {
            return ScalarValue::try_from(DataType::Struct(info_fields()));
        };
        let failed = |e| exec_datafusion_err!("{f}: {e}");
        let values = match super::datasketches::describe(bytes) {
            Some(ds) => {
                let ds = ds.map_err(failed)?;
                // DataSketches states do not count the values added: items is NULL.
                [
                    ScalarValue::Utf8(Some(ds.family.to_string())),
                    ScalarValue::Int32(Some(ds.version as i32)),
                    ScalarValue::Utf8(Some(ds.parameters)),
                    ScalarValue::Utf8(Some(ds.mode)),
                    ScalarValue::Int64(Some(bytes.len() as i64)),
                    ScalarValue::Int64(None),
                    ScalarValue::Utf8(Some(ds.details)),
                ]
            }
            None => {
                let info = describe(bytes).map_err(failed)?;
                [
                    ScalarValue::Utf8(Some(info.family.name().to_string())),
                    ScalarValue::Int32(Some(info.version as i32)),
                    ScalarValue::Utf8(Some(info.parameters)),
                    ScalarValue::Utf8(Some(info.mode)),
                    ScalarValue::Int64(Some(info.bytes as i64)),
                    ScalarValue::Int64(Some(info.items.min(i64::MAX as u64) as i64)),
                    ScalarValue::Utf8(Some(info.details)),
                ]
            }
        };
        let arrays = values
            .iter()
            .map(|v| v.to_array())
            .collect::<Result<Vec<_>>>()?;
        let s = arrow::array::StructArray::try_new(info_fields(), arrays, None)?;
        Ok(ScalarValue::Struct(Arc::new(s)))
    })
}
