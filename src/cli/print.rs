//! Printing query results in `table`, `csv`, `json` and `ndjson`, batch by batch.
//!
//! Every Arrow type Hazy's functions return prints in every format:
//!
//! - **table**: Arrow's pretty printer. Batches are printed as they arrive, gathered into blocks
//!   of up to [`TABLE_BLOCK_ROWS`] rows (a block is one table, its columns as wide as its
//!   widest value), so a long result starts printing at once and memory stays bounded.
//! - **csv**: a header, then rows. Lists, structs and maps (the results of `approx_topk`,
//!   `sketch_info`, `kll_quantiles`, …) are written as JSON text in their field, quoted by CSV;
//!   binaries (sketch states) as lowercase hex, as in the other formats.
//! - **json**: one array of objects; **ndjson**: one object per line. Binaries are lowercase
//!   hex strings. JSON has no numbers for infinities and NaN, so ±infinity and NaN print as the
//!   strings `"inf"`, `"-inf"` and `"NaN"` (never `null`, which means SQL NULL).
//!
//! ```
//! use hazy::cli::print::Printer;
//! use hazy::cli::sql::OutputFormat;
//! use arrow::array::{Float64Array, RecordBatch};
//! use std::sync::Arc;
//! let batch = RecordBatch::try_from_iter([(
//!     "x",
//!     Arc::new(Float64Array::from(vec![1.5, f64::INFINITY])) as _,
//! )])
//! .unwrap();
//! let mut out = Vec::new();
//! let mut printer = Printer::new(OutputFormat::NdJson, batch.schema());
//! printer.write(&batch, &mut out).unwrap();
//! printer.finish(&mut out).unwrap();
//! assert_eq!(String::from_utf8(out).unwrap(), "{\"x\":1.5}\n{\"x\":\"inf\"}\n");
//! ```

use std::io::Write;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, PrimitiveArray, RecordBatch, StringBuilder,
};
use arrow::datatypes::{DataType, Field, FieldRef, Float32Type, Float64Type, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::json::writer::{
    Encoder, EncoderFactory, EncoderOptions, JsonArray, LineDelimited, NullableEncoder,
    WriterBuilder, make_encoder,
};
use datafusion::common::{DataFusionError, Result};

use super::sql::OutputFormat;

/// Rows gathered into one table in the table format.
pub const TABLE_BLOCK_ROWS: usize = 4096;

/// Writes one result in one format, a batch at a time.
pub struct Printer {
    format: OutputFormat,
    schema: SchemaRef,
    /// Table format: batches waiting to fill a block.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    block_rows: usize,
    /// Whether anything (a header, a row, `[`) has been written.
    started: bool,
    rows: usize,
}

impl Printer {
    /// A printer for a result with `schema`.
    pub fn new(format: OutputFormat, schema: SchemaRef) -> Self {
        Self {
            format,
            schema,
            pending: Vec::new(),
            pending_rows: 0,
            block_rows: TABLE_BLOCK_ROWS,
            started: false,
            rows: 0,
        }
    }

    /// Table format: print a table as soon as this many rows wait (1: every batch at once,
    /// as `hazy stream` prints each window).
    pub fn with_table_block_rows(mut self, rows: usize) -> Self {
        self.block_rows = rows.max(1);
        self
    }

    /// Rows written so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Writes `batch` (or keeps it for the current table block), then flushes `out`.
    pub fn write(&mut self, batch: &RecordBatch, out: &mut dyn Write) -> Result<()> {
        self.rows += batch.num_rows();
        match self.format {
            OutputFormat::Table => {
                if batch.num_rows() > 0 {
                    self.pending_rows += batch.num_rows();
                    self.pending.push(batch.clone());
                }
                if self.pending_rows >= self.block_rows {
                    self.write_table_block(out)?;
                }
            }
            OutputFormat::Csv => {
                let text = csv_ready(batch)?;
                let mut w = arrow::csv::WriterBuilder::new()
                    .with_header(!self.started)
                    .build(&mut *out);
                w.write(&text)?;
                self.started = true;
            }
            OutputFormat::Json => {
                let objects = json_objects(batch)?;
                if !objects.is_empty() {
                    out.write_all(if self.started { b"," } else { b"[" })
                        .map_err(io)?;
                    out.write_all(&objects).map_err(io)?;
                    self.started = true;
                }
            }
            OutputFormat::NdJson => {
                let mut w = WriterBuilder::new()
                    .with_encoder_factory(Arc::new(NonFiniteAsText))
                    .build::<_, LineDelimited>(&mut *out);
                w.write(batch)?;
                w.finish()?;
            }
        }
        out.flush().map_err(io)
    }

    /// Writes what is left: the last table block, a header for an empty result, the closing
    /// `]` of a JSON array.
    pub fn finish(&mut self, out: &mut dyn Write) -> Result<()> {
        match self.format {
            OutputFormat::Table if !self.pending.is_empty() || !self.started => {
                self.write_table_block(out)?;
            }
            OutputFormat::Csv if !self.started => {
                let empty = RecordBatch::new_empty(Arc::clone(&self.schema));
                self.write(&empty, out)?;
            }
            OutputFormat::Json => {
                out.write_all(if self.started { b"]\n" } else { b"[]\n" })
                    .map_err(io)?;
            }
            _ => {}
        }
        out.flush().map_err(io)
    }

    fn write_table_block(&mut self, out: &mut dyn Write) -> Result<()> {
        let block = if self.pending.is_empty() {
            vec![RecordBatch::new_empty(Arc::clone(&self.schema))]
        } else {
            std::mem::take(&mut self.pending)
        };
        let table = arrow::util::pretty::pretty_format_batches(&block)?;
        writeln!(out, "{table}").map_err(io)?;
        self.pending_rows = 0;
        self.started = true;
        Ok(())
    }
}

/// Prints whole results (the demo and the tests); an empty result still prints a header.
pub fn print_batches(
    schema: &Schema,
    batches: &[RecordBatch],
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<()> {
    let mut printer = Printer::new(format, Arc::new(schema.clone()));
    for b in batches {
        printer.write(b, out)?;
    }
    printer.finish(out)
}

fn io(e: std::io::Error) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// The rows of `batch` as JSON objects separated by commas (no brackets).
fn json_objects(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut w = WriterBuilder::new()
        .with_encoder_factory(Arc::new(NonFiniteAsText))
        .build::<_, JsonArray>(&mut buf);
    w.write(batch)?;
    w.finish()?;
    let text = buf.trim_ascii();
    let inner = text
        .strip_prefix(b"[")
        .and_then(|t| t.strip_suffix(b"]"))
        .unwrap_or(text);
    Ok(inner.to_vec())
}

/// `batch` with every column the CSV writer cannot write (lists, structs, maps, unions) turned
/// into JSON text.
fn csv_ready(batch: &RecordBatch) -> Result<RecordBatch> {
    if !batch.columns().iter().any(|c| needs_json(c.data_type())) {
        return Ok(batch.clone());
    }
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if needs_json(column.data_type()) {
            fields.push(Arc::new(Field::new(field.name(), DataType::Utf8, true)));
            columns.push(json_text(field, column)?);
        } else {
            fields.push(Arc::clone(field));
            columns.push(Arc::clone(column));
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

fn needs_json(t: &DataType) -> bool {
    matches!(
        t,
        DataType::List(_)
            | DataType::LargeList(_)
            | DataType::ListView(_)
            | DataType::LargeListView(_)
            | DataType::FixedSizeList(_, _)
            | DataType::Struct(_)
            | DataType::Map(_, _)
            | DataType::Union(_, _)
    )
}

/// Each value of `column` as JSON text (NULL stays NULL).
fn json_text(field: &FieldRef, column: &ArrayRef) -> Result<ArrayRef> {
    let options = EncoderOptions::default().with_encoder_factory(Arc::new(NonFiniteAsText));
    let mut encoder = make_encoder(field, column.as_ref(), &options)?;
    let mut text = StringBuilder::with_capacity(column.len(), column.len() * 16);
    let mut buf = Vec::new();
    for i in 0..column.len() {
        if encoder.is_null(i) {
            text.append_null();
        } else {
            buf.clear();
            encoder.encode(i, &mut buf);
            text.append_value(String::from_utf8_lossy(&buf));
        }
    }
    Ok(Arc::new(text.finish()))
}

/// Writes ±infinity and NaN as the strings `"inf"`, `"-inf"`, `"NaN"` instead of Arrow's `null`.
/// Columns without such values keep Arrow's own encoder.
#[derive(Debug)]
struct NonFiniteAsText;

impl EncoderFactory for NonFiniteAsText {
    fn make_default_encoder<'a>(
        &self,
        _field: &'a FieldRef,
        array: &'a dyn Array,
        _options: &'a EncoderOptions,
    ) -> std::result::Result<Option<NullableEncoder<'a>>, ArrowError> {
        let encoder: Option<Box<dyn Encoder + 'a>> = match array.data_type() {
            DataType::Float64 => float_text(array.as_primitive::<Float64Type>()),
            DataType::Float32 => float_text(array.as_primitive::<Float32Type>()),
            _ => None,
        };
        Ok(encoder.map(|e| NullableEncoder::new(e, array.nulls().cloned())))
    }
}

fn float_text<'a, T>(array: &'a PrimitiveArray<T>) -> Option<Box<dyn Encoder + 'a>>
where
    T: ArrowPrimitiveType,
    T::Native: serde::Serialize + Into<f64>,
{
    let non_finite = array
        .iter()
        .any(|v| v.is_some_and(|v| !Into::<f64>::into(v).is_finite()));
    non_finite.then(|| Box::new(FloatText(array)) as Box<dyn Encoder + 'a>)
}

struct FloatText<'a, T: ArrowPrimitiveType>(&'a PrimitiveArray<T>);

impl<T> Encoder for FloatText<'_, T>
where
    T: ArrowPrimitiveType,
    T::Native: serde::Serialize + Into<f64>,
{
    fn encode(&mut self, idx: usize, out: &mut Vec<u8>) {
        let v = self.0.value(idx);
        let f: f64 = v.into();
        if f.is_nan() {
            out.extend_from_slice(b"\"NaN\"");
        } else if f == f64::INFINITY {
            out.extend_from_slice(b"\"inf\"");
        } else if f == f64::NEG_INFINITY {
            out.extend_from_slice(b"\"-inf\"");
        } else {
            // A finite float always serializes; the shortest text that reads back the same.
            let _ = serde_json::to_writer(&mut *out, &v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{BinaryArray, Float64Array, Int64Array, ListArray, StructArray};
    use arrow::datatypes::Int64Type;

    fn print(format: OutputFormat, batches: &[RecordBatch]) -> String {
        let mut out = Vec::new();
        let mut p = Printer::new(format, batches[0].schema());
        for b in batches {
            p.write(b, &mut out).unwrap();
        }
        p.finish(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn nested() -> RecordBatch {
        let list =
            ListArray::from_iter_primitive::<Int64Type, _, _>([Some(vec![Some(1), Some(2)]), None]);
        let item = StructArray::from(vec![
            (
                Arc::new(Field::new("count", DataType::Int64, false)),
                Arc::new(Int64Array::from(vec![3, 4])) as ArrayRef,
            ),
            (
                Arc::new(Field::new("p", DataType::Float64, false)),
                Arc::new(Float64Array::from(vec![f64::NEG_INFINITY, 0.5])) as ArrayRef,
            ),
        ]);
        let bytes = BinaryArray::from(vec![Some(&[0x0a_u8, 0xff][..]), None]);
        RecordBatch::try_from_iter([
            ("l", Arc::new(list) as ArrayRef),
            ("s", Arc::new(item) as ArrayRef),
            ("b", Arc::new(bytes) as ArrayRef),
        ])
        .unwrap()
    }

    #[test]
    fn nested_values_and_binaries_print_in_csv_as_json_and_hex() {
        assert_eq!(
            print(OutputFormat::Csv, &[nested()]),
            "l,s,b\n\"[1,2]\",\"{\"\"count\"\":3,\"\"p\"\":\"\"-inf\"\"}\",0aff\n,\"{\"\"count\"\":4,\"\"p\"\":0.5}\",\n"
        );
    }

    #[test]
    fn json_spans_batches_and_keeps_infinities() {
        let b = nested();
        let json = print(OutputFormat::Json, &[b.clone(), b.slice(0, 1)]);
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed.as_array().unwrap().len(), 3);
        assert_eq!(parsed[0]["s"]["p"], "-inf");
        assert_eq!(parsed[0]["b"], "0aff");
        let empty = print(OutputFormat::Json, &[b.slice(0, 0)]);
        assert_eq!(empty, "[]\n");
        let ndjson = print(OutputFormat::NdJson, &[b]);
        assert_eq!(ndjson.lines().count(), 2);
    }

    #[test]
    fn an_empty_result_prints_its_header() {
        let b = nested().slice(0, 0);
        assert_eq!(
            print(OutputFormat::Csv, std::slice::from_ref(&b)),
            "l,s,b\n"
        );
        assert!(print(OutputFormat::Table, &[b]).contains("| l | s | b |"));
    }
}
