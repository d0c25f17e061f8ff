//! Writing the generated events: Parquet, CSV and NDJSON, streamed batch by batch from a
//! helper thread.

use super::events::{EventGenerator, SCHEMA};
use super::time::write_rfc3339_micros;
use super::{BATCH_ROWS, BoxError, GenArgs, GenFormat, ROW_GROUP_ROWS};
use arrow::array::{StringBuilder, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, LazyLock};

/// [`EventGenerator::schema`] with `ts` as RFC 3339 text, for CSV and NDJSON.
pub(super) static TEXT_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields: Vec<Field> = SCHEMA.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[0] = Field::new("ts", DataType::Utf8, false);
    Arc::new(Schema::new(fields))
});

/// Turns the `ts` column into RFC 3339 strings (`2026-01-01T00:00:00.012345Z`).
///
/// Arrow's own timestamp formatting goes through chrono's strftime and costs
/// about as much as the rest of the CSV writer; this is ~30x faster, and it
/// runs on the generator thread.
pub(super) fn to_text_batch(batch: &RecordBatch) -> RecordBatch {
    let ts = batch
        .column(0)
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .expect("gen batches have a microsecond ts column");
    let mut text = StringBuilder::with_capacity(ts.len(), ts.len() * 27);
    let mut buf = String::with_capacity(32);
    for &micros in ts.values() {
        write_rfc3339_micros(&mut buf, micros);
        text.append_value(&buf);
    }
    let mut columns = batch.columns().to_vec();
    columns[0] = Arc::new(text.finish());
    RecordBatch::try_new(Arc::clone(&TEXT_SCHEMA), columns).expect("text batch matches its schema")
}

/// Appends the rows of a text batch as NDJSON: the four known columns written directly (what
/// a generic JSON writer spends on looking up types and escaping is most of its time), the
/// same output a JSON writer gives for these values.
pub(super) fn ndjson_rows(batch: &RecordBatch, out: &mut Vec<u8>) {
    use arrow::array::AsArray;
    let ts = batch.column(0).as_string::<i32>();
    let entity = batch.column(1).as_string::<i32>();
    let event_type = batch.column(2).as_string::<i32>();
    let value = batch
        .column(3)
        .as_primitive::<arrow::datatypes::Float64Type>();
    for row in 0..batch.num_rows() {
        out.extend_from_slice(b"{\"ts\":");
        json_string(ts.value(row), out);
        out.extend_from_slice(b",\"entity\":");
        json_string(entity.value(row), out);
        out.extend_from_slice(b",\"event_type\":");
        json_string(event_type.value(row), out);
        out.extend_from_slice(b",\"value\":");
        let v = value.value(row);
        // As Arrow's JSON writer: exponent notation below 1e-5, plain decimals above.
        let _ = if v != 0.0 && v.abs() < 1e-5 {
            write!(out, "{v:e}")
        } else {
            write!(out, "{v}")
        };
        out.extend_from_slice(b"}\n");
    }
}

/// A JSON string literal; the generator's strings need no escaping, others go through serde.
pub(super) fn json_string(s: &str, out: &mut Vec<u8>) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(
            serde_json::to_string(s)
                .expect("a string serializes")
                .as_bytes(),
        );
    }
}

/// Resolves `--format`, falling back on the `--output` extension.
pub(super) fn resolve_format(
    format: Option<GenFormat>,
    output: &Path,
) -> Result<GenFormat, BoxError> {
    let to_stdout = output == Path::new("-");
    let format = match format {
        Some(f) => f,
        None if to_stdout => GenFormat::Ndjson,
        None => {
            let ext = output
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            match ext.as_deref() {
                Some("parquet" | "pq") => GenFormat::Parquet,
                Some("csv") => GenFormat::Csv,
                Some("ndjson" | "jsonl") => GenFormat::Ndjson,
                _ => {
                    return Err(format!(
                        "hazy gen: cannot infer the format of --output '{}' from its extension; \
                         use .parquet, .csv, .ndjson or .jsonl, or pass --format parquet|csv|ndjson",
                        output.display()
                    )
                    .into());
                }
            }
        }
    };
    if format == GenFormat::Parquet && to_stdout {
        return Err(
            "hazy gen: --format parquet needs a file path: pass --output FILE.parquet".into(),
        );
    }
    Ok(format)
}

pub(super) fn parquet_properties() -> WriterProperties {
    let ts = ColumnPath::from("ts");
    let value = ColumnPath::from("value");
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        // Timestamps are (nearly) sorted: delta encoding beats a dictionary,
        // and their (page) statistics let readers prune time ranges.
        .set_column_dictionary_enabled(ts.clone(), false)
        .set_column_encoding(ts, Encoding::DELTA_BINARY_PACKED)
        // Uniform random doubles never repeat.
        .set_column_dictionary_enabled(value.clone(), false)
        // Every row group holds nearly every entity, event type and value
        // range, so min/max statistics on those columns could never prune
        // anything; skipping them makes writing ~15% faster.
        .set_column_statistics_enabled(value, EnabledStatistics::None)
        .set_column_statistics_enabled(ColumnPath::from("entity"), EnabledStatistics::None)
        .set_column_statistics_enabled(ColumnPath::from("event_type"), EnabledStatistics::None)
        .build()
}

/// Writes every batch from `batches` to `out` in `format`, then flushes.
/// For CSV and NDJSON the batches must already be [`to_text_batch`]es.
pub(super) fn write_batches<W: Write + Send>(
    batches: Receiver<RecordBatch>,
    format: GenFormat,
    out: W,
) -> Result<(), BoxError> {
    match format {
        GenFormat::Parquet => {
            let mut writer =
                ArrowWriter::try_new(out, EventGenerator::schema(), Some(parquet_properties()))?;
            for batch in batches {
                writer.write(&batch)?;
            }
            writer.into_inner()?.flush()?;
        }
        GenFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            let mut wrote_any = false;
            for batch in batches {
                writer.write(&batch)?;
                wrote_any = true;
            }
            if !wrote_any {
                // Still emit the header line.
                writer.write(&RecordBatch::new_empty(Arc::clone(&TEXT_SCHEMA)))?;
            }
            writer.into_inner().flush()?;
        }
        GenFormat::Ndjson => {
            let mut out = out;
            let mut line = Vec::with_capacity(BATCH_ROWS * 110);
            for batch in batches {
                line.clear();
                ndjson_rows(&batch, &mut line);
                out.write_all(&line)?;
            }
            out.flush()?;
        }
    }
    Ok(())
}

/// Generates (and for text formats, formats timestamps) on a helper thread
/// and writes on this one, so the two overlap.
/// A reader that goes away (broken pipe) is a normal end, not an error.
pub(super) fn generate_into<W: Write + Send>(
    generator: EventGenerator,
    format: GenFormat,
    out: W,
    quiet: bool,
) -> Result<(), BoxError> {
    let total = generator.remaining();
    let out = crate::pipe::PipeWatch::new(out);
    let broken = out.closed_flag();
    let result = std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<RecordBatch>(2);
        let mut generator = generator;
        scope.spawn(move || {
            let mut progress = crate::progress::ProgressLine::for_stderr(quiet);
            let mut made = 0u64;
            while let Some(mut batch) = generator.next_batch(BATCH_ROWS) {
                made += batch.num_rows() as u64;
                progress.update(|elapsed| {
                    format!(
                        "hazy gen: {} of {} events ({} events/s)",
                        crate::progress::human_count(made as f64),
                        crate::progress::human_count(total as f64),
                        crate::progress::human_count(made as f64 / elapsed.as_secs_f64())
                    )
                });
                if format != GenFormat::Parquet {
                    batch = to_text_batch(&batch);
                }
                if tx.send(batch).is_err() {
                    break; // the writer stopped
                }
            }
        });
        // `rx` is dropped when this returns, which unblocks the generator.
        write_batches(rx, format, out)
    });
    match result {
        Err(_) if broken.load(Ordering::Relaxed) => Ok(()),
        Err(e) => Err(format!("hazy gen: writing output: {e}").into()),
        Ok(()) => Ok(()),
    }
}

/// Runs `hazy gen`: validates the flags, then streams the events to `--output`.
pub fn run(args: &GenArgs) -> Result<(), BoxError> {
    let generator = EventGenerator::new(args)?;
    let format = resolve_format(args.format, &args.output)?;
    if args.output == Path::new("-") {
        let out = BufWriter::with_capacity(1 << 16, io::stdout());
        generate_into(generator, format, out, args.quiet)
    } else {
        let file = File::create(&args.output).map_err(|e| {
            format!(
                "hazy gen: cannot create --output '{}': {e}",
                args.output.display()
            )
        })?;
        generate_into(
            generator,
            format,
            BufWriter::with_capacity(1 << 20, file),
            args.quiet,
        )
    }
}
