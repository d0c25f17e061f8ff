//! `sketch_info(state)`: describes any Hazy state.

use super::docs::Doc;
use super::scalar::{Args, ScalarSpec, StateScalar, rows_to_compute, state_at, struct_result};
use crate::sketch::describe;
use arrow::array::{ArrayRef, Int32Builder, Int64Builder, StringBuilder};
use arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::{Result, exec_datafusion_err};
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
        args: Args::States(1, "one argument (a sketch state)"),
        returns: || DataType::Struct(info_fields()),
        invoke: infos,
    })
}

/// One described state, whichever library wrote it.
struct Info {
    family: String,
    version: i32,
    parameters: String,
    mode: String,
    bytes: i64,
    /// NULL for DataSketches states, which do not count the values added.
    items: Option<i64>,
    details: String,
}

fn info(f: &str, bytes: &[u8]) -> Result<Info> {
    let failed = |e| exec_datafusion_err!("{f}: {e}");
    if let Some(ds) = super::datasketches::describe(bytes) {
        let ds = ds.map_err(failed)?;
        return Ok(Info {
            family: ds.family.to_string(),
            version: ds.version as i32,
            parameters: ds.parameters,
            mode: ds.mode,
            bytes: bytes.len() as i64,
            items: None,
            details: ds.details,
        });
    }
    let hazy = describe(bytes).map_err(failed)?;
    Ok(Info {
        family: hazy.family.name().to_string(),
        version: hazy.version as i32,
        parameters: hazy.parameters,
        mode: hazy.mode,
        bytes: hazy.bytes as i64,
        items: Some(hazy.items.min(i64::MAX as u64) as i64),
        details: hazy.details,
    })
}

/// The struct column, built field by field: a struct scalar per row, concatenated, cost
/// about 10 µs a row.
#[derive(Default)]
struct InfoColumns {
    family: StringBuilder,
    version: Int32Builder,
    parameters: StringBuilder,
    mode: StringBuilder,
    bytes: Int64Builder,
    items: Int64Builder,
    details: StringBuilder,
    valid: Vec<bool>,
}

impl InfoColumns {
    fn push(&mut self, info: Option<Info>) {
        self.valid.push(info.is_some());
        // A NULL state is a NULL struct; its fields hold placeholders, as the non-nullable
        // fields must.
        let i = info.unwrap_or(Info {
            family: String::new(),
            version: 0,
            parameters: String::new(),
            mode: String::new(),
            bytes: 0,
            items: None,
            details: String::new(),
        });
        self.family.append_value(i.family);
        self.version.append_value(i.version);
        self.parameters.append_value(i.parameters);
        self.mode.append_value(i.mode);
        self.bytes.append_value(i.bytes);
        self.items.append_option(i.items);
        self.details.append_value(i.details);
    }

    fn finish(mut self, all_scalar: bool) -> Result<ColumnarValue> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.family.finish()),
            Arc::new(self.version.finish()),
            Arc::new(self.parameters.finish()),
            Arc::new(self.mode.finish()),
            Arc::new(self.bytes.finish()),
            Arc::new(self.items.finish()),
            Arc::new(self.details.finish()),
        ];
        struct_result(info_fields(), columns, self.valid, all_scalar)
    }
}

fn infos(f: &str, args: &ScalarFunctionArgs) -> Result<ColumnarValue> {
    let (rows, all_scalar) = rows_to_compute(args);
    let states = args.args[0].to_array(rows)?;
    let mut columns = InfoColumns::default();
    for row in 0..rows {
        let state = state_at(f, states.as_ref(), row)?;
        columns.push(state.map(|bytes| info(f, bytes)).transpose()?);
    }
    columns.finish(all_scalar)
}
