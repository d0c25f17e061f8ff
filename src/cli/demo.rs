//! `hazy` with no arguments: the tutorial's report (steps 1 to 3) over the shipped sample,
//! computed in SQL with Hazy functions.

use super::sql::query;
use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use arrow::record_batch::RecordBatch;
use datafusion::common::{Result, plan_err};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The shipped sample: `data/events.parquet` under the working directory, else the crate's.
pub fn default_data() -> PathBuf {
    let local = PathBuf::from("data/events.parquet");
    if local.exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/events.parquet")
}

const TOTALS: &str = "SELECT count(*) AS events, approx_count_distinct(entity) AS entities, \
     count(DISTINCT entity) AS exact_entities, \
     sketch_info(hll_sketch(entity))['bytes'] AS hll_bytes, \
     sketch_info(hll_sketch(entity))['mode'] AS hll_mode, \
     sketch_info(cms_sketch(event_type))['bytes'] AS cms_bytes, \
     sketch_info(topk_sketch(entity))['bytes'] AS topk_entities_bytes, \
     sketch_info(topk_sketch(event_type))['bytes'] AS topk_types_bytes FROM events";
const TOP_EVENT_TYPES: &str = "SELECT t['item'] AS event_type, t['count'] AS n \
     FROM (SELECT unnest(approx_topk(event_type, 10)) AS t FROM events)";
const TOP_ENTITIES: &str = "SELECT t['item'] AS entity, t['count'] AS n, t['upper'] AS upper \
     FROM (SELECT unnest(approx_topk(entity, 10)) AS t FROM events)";

/// Renders the whole report for the events in `path`.
pub async fn report(ctx: &SessionContext, path: &Path) -> Result<String> {
    if !path.exists() {
        return plan_err!(
            "demo data {} not found: run `hazy gen --output {}`",
            path.display(),
            path.display()
        );
    }
    ctx.register_parquet(
        "events",
        path.to_string_lossy().as_ref(),
        ParquetReadOptions::default(),
    )
    .await?;
    let totals = query(ctx, TOTALS).await?;
    let events = int(&totals, 0, 0);
    let entities = int(&totals, 1, 0);
    let exact = int(&totals, 2, 0);
    let hll_bytes = int(&totals, 3, 0);
    let hll_mode = text(&totals, 4, 0);
    let cms_bytes = int(&totals, 5, 0);
    let topk_entities_bytes = int(&totals, 6, 0);
    let topk_types_bytes = int(&totals, 7, 0);

    let mut out = String::new();
    let rule = "=".repeat(60);
    let thin = "-".repeat(40);
    let _ = writeln!(
        out,
        "{rule}\nHAZY: STREAM STATISTICS  ({})\n{rule}",
        path.display()
    );
    let _ = writeln!(out, "Total events:       {}", thousands(events));
    let error = if exact > 0 {
        (entities - exact) as f64 / exact as f64 * 100.0
    } else {
        0.0
    };
    let _ = writeln!(
        out,
        "Unique entities:    {}   (approx_count_distinct; exact {}, error {error:+.2}%)",
        thousands(entities),
        thousands(exact)
    );

    let _ = writeln!(out, "\n{thin}\nTOP EVENT TYPES\n{thin}");
    let top = query(ctx, TOP_EVENT_TYPES).await?;
    for_rows(&top, |b, r| {
        let n = int_at(b, 1, r);
        let pct = n as f64 / events.max(1) as f64 * 100.0;
        let _ = writeln!(
            out,
            "  {:<15} {:>7} ({pct:>5.1}%) {}",
            text_at(b, 0, r),
            thousands(n),
            "#".repeat(pct as usize)
        );
    });

    let _ = writeln!(out, "\n{thin}\nMOST ACTIVE ENTITIES\n{thin}");
    let active = query(ctx, TOP_ENTITIES).await?;
    for_rows(&active, |b, r| {
        // The Top-K bounds: the true count lies in [count, upper].
        let _ = writeln!(
            out,
            "  {:<15} {:>6} events (at most {})",
            text_at(b, 0, r),
            thousands(int_at(b, 1, r)),
            thousands(int_at(b, 2, r))
        );
    });

    let _ = writeln!(
        out,
        "\n{thin}\nMEMORY USAGE (serialized sketch states)\n{thin}"
    );
    let _ = writeln!(
        out,
        "  HyperLogLog:    {:>10} bytes  ({hll_mode}, p=14)",
        thousands(hll_bytes)
    );
    for (name, bytes) in [
        ("CountMinSketch:", cms_bytes),
        ("TopK (entities):", topk_entities_bytes),
        ("TopK (events):", topk_types_bytes),
    ] {
        let _ = writeln!(out, "  {name:<16}{:>10} bytes", thousands(bytes));
    }
    let total = hll_bytes + cms_bytes + topk_entities_bytes + topk_types_bytes;
    let _ = writeln!(out, "  {:<16}{:>10} bytes", "TOTAL:", thousands(total));
    let _ = writeln!(
        out,
        "\nTry: hazy sql -c \"SELECT approx_count_distinct(entity) FROM '{}'\"",
        path.display()
    );
    Ok(out)
}

fn for_rows(batches: &[RecordBatch], mut f: impl FnMut(&RecordBatch, usize)) {
    for b in batches {
        (0..b.num_rows()).for_each(|r| f(b, r));
    }
}

fn int_at(b: &RecordBatch, col: usize, row: usize) -> i64 {
    let c = arrow::compute::cast(b.column(col), &arrow::datatypes::DataType::Int64)
        .expect("integer column");
    let a = c.as_primitive::<Int64Type>();
    if a.is_null(row) { 0 } else { a.value(row) }
}

fn text_at(b: &RecordBatch, col: usize, row: usize) -> String {
    let c = arrow::compute::cast(b.column(col), &arrow::datatypes::DataType::Utf8)
        .expect("text column");
    c.as_string::<i32>().value(row).to_string()
}

fn int(batches: &[RecordBatch], col: usize, row: usize) -> i64 {
    batches.first().map_or(0, |b| int_at(b, col, row))
}

fn text(batches: &[RecordBatch], col: usize, row: usize) -> String {
    batches
        .first()
        .map_or_else(String::new, |b| text_at(b, col, row))
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}
