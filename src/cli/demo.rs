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
const MORE_BYTES: &str = "SELECT \
     sketch_info(bloom_sketch(entity, 20000, 0.01))['bytes'] AS bloom_bytes, \
     sketch_info(kll_sketch(value))['bytes'] AS kll_bytes, \
     sketch_info(dd_sketch(value))['bytes'] AS dd_bytes FROM events";
const MINHASH_BYTES: &str = "SELECT sum(sketch_info(sig)['bytes']), count(*) \
     FROM (SELECT minhash_sketch(event_type) AS sig FROM events GROUP BY entity)";
const PERCENTILES: &str = "SELECT q, CASE q WHEN 0.5 THEN a[1] WHEN 0.9 THEN a[2] ELSE a[3] END, \
     kll_quantile(k, q), dd_quantile(d, q), \
     CASE q WHEN 0.5 THEN p50 WHEN 0.9 THEN p90 ELSE p99 END FROM \
     (SELECT approx_quantiles(value, [0.5, 0.9, 0.99]) AS a, \
             kll_sketch(value) AS k, dd_sketch(value) AS d, \
             percentile_cont(value, 0.5) AS p50, percentile_cont(value, 0.9) AS p90, \
             percentile_cont(value, 0.99) AS p99 FROM events) \
     CROSS JOIN (VALUES (0.5), (0.9), (0.99)) AS u(q) ORDER BY q";
const FIRST_TIME_SQL: &str = include_str!("../../sql/first_time_entities.sql");
const SIMILAR_SQL: &str = include_str!("../../sql/similar_entities.sql");
const WINDOWED_SQL: &str = include_str!("../../sql/windowed.sql");
const ANOMALY_SQL: &str = include_str!("../../sql/anomaly_detection.sql");
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

    let top = section(ctx, &mut out, &thin, "TOP EVENT TYPES", TOP_EVENT_TYPES).await?;
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

    let active = section(ctx, &mut out, &thin, "MOST ACTIVE ENTITIES", TOP_ENTITIES).await?;
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

    first_time_section(ctx, &mut out, &thin, exact).await?;
    similar_section(ctx, &mut out, &thin).await?;
    percentile_section(ctx, &mut out, &thin).await?;
    windows_section(ctx, &mut out, &thin).await?;
    anomaly_section(ctx, &mut out, &thin).await?;

    let more = query(ctx, MORE_BYTES).await?;
    let minhash = query(ctx, MINHASH_BYTES).await?;
    heading(&mut out, &thin, "MEMORY USAGE (serialized sketch states)");
    let _ = writeln!(
        out,
        "  HyperLogLog:      {:>10} bytes  ({hll_mode}, p=14)",
        thousands(hll_bytes)
    );
    let signatures = format!("MinHash ({}):", thousands(int(&minhash, 1, 0)));
    let sizes = [
        ("CountMinSketch:", cms_bytes),
        ("TopK (entities):", topk_entities_bytes),
        ("TopK (events):", topk_types_bytes),
        ("BloomFilter:", int(&more, 0, 0)),
        (signatures.as_str(), int(&minhash, 0, 0)),
        ("KLL (value):", int(&more, 1, 0)),
        ("DDSketch (value):", int(&more, 2, 0)),
    ];
    for (name, bytes) in sizes {
        let _ = writeln!(out, "  {name:<18}{:>10} bytes", thousands(bytes));
    }
    let total = hll_bytes + sizes.iter().map(|(_, b)| b).sum::<i64>();
    let _ = writeln!(out, "  {:<18}{:>10} bytes", "TOTAL:", thousands(total));
    let _ = writeln!(
        out,
        "\nTry: hazy sql -c \"SELECT approx_count_distinct(entity) FROM '{}'\"",
        path.display()
    );
    Ok(out)
}

/// First-time entities per minute, from sql/first_time_entities.sql.
async fn first_time_section(
    ctx: &SessionContext,
    out: &mut String,
    thin: &str,
    exact_entities: i64,
) -> Result<()> {
    let minutes = section(
        ctx,
        out,
        thin,
        "FIRST-TIME ENTITIES per minute (Bloom filter of the earlier minutes)",
        FIRST_TIME_SQL,
    )
    .await?;
    let mut total = 0;
    let mut shown = 0;
    for_rows(&minutes, |b, r| {
        total += int_at(b, 3, r);
        if shown < 5 {
            shown += 1;
            let _ = writeln!(
                out,
                "  {}  {:>6} active {:>6} new",
                &text_at(b, 0, r)[11..16],
                thousands(int_at(b, 2, r)),
                thousands(int_at(b, 3, r))
            );
        }
    });
    let _ = writeln!(
        out,
        "  ...\n  First-time entities: {} (exact {}; a false positive can only hide a new one)",
        thousands(total),
        thousands(exact_entities)
    );
    Ok(())
}

/// Entities that behave like one entity, from sql/similar_entities.sql.
async fn similar_section(ctx: &SessionContext, out: &mut String, thin: &str) -> Result<()> {
    let similar = section(
        ctx,
        out,
        thin,
        "ENTITIES SIMILAR TO entity_1234 (MinHash of event types, LSH bands)",
        SIMILAR_SQL,
    )
    .await?;
    let mut shown = 0;
    for_rows(&similar, |b, r| {
        if shown < 5 {
            shown += 1;
            let _ = writeln!(
                out,
                "  {:<15} {:>4} events  jaccard {}",
                text_at(b, 0, r),
                int_at(b, 1, r),
                text_at(b, 2, r)
            );
        }
    });
    Ok(())
}

/// Tumbling 2-minute windows and the uniques of all windows so far, from sql/windowed.sql.
async fn windows_section(ctx: &SessionContext, out: &mut String, thin: &str) -> Result<()> {
    let windows = section(
        ctx,
        out,
        thin,
        "WINDOWS (2 minutes; uniques so far = merged HLL states)",
        WINDOWED_SQL,
    )
    .await?;
    let _ = writeln!(out, "  start    events  uniques  uniques so far");
    for_rows(&windows, |b, r| {
        let _ = writeln!(
            out,
            "  {}  {:>7}  {:>7}  {:>14}",
            &text_at(b, 0, r)[11..16],
            thousands(int_at(b, 1, r)),
            thousands(int_at(b, 2, r)),
            thousands(int_at(b, 4, r))
        );
    });
    Ok(())
}

/// Purchase-rate anomalies per minute against a Count-Min baseline, from
/// sql/anomaly_detection.sql (a purchase flood is injected from 00:10 to 00:12).
async fn anomaly_section(ctx: &SessionContext, out: &mut String, thin: &str) -> Result<()> {
    let minutes = section(
        ctx,
        out,
        thin,
        "ANOMALIES (purchase flood injected 00:10-00:12; baseline: first 5 minutes)",
        ANOMALY_SQL,
    )
    .await?;
    let _ = writeln!(
        out,
        "  minute  purchase rate  baseline  new entities  alert"
    );
    for_rows(&minutes, |b, r| {
        let alert = if text_at(b, 4, r) == "true" {
            "RATE SPIKE"
        } else {
            ""
        };
        let line = format!(
            "  {}  {:>13.2}%  {:>7.2}%  {:>12}  {alert}",
            &text_at(b, 0, r)[11..16],
            float_at(b, 2, r) * 100.0,
            float_at(b, 3, r) * 100.0,
            thousands(int_at(b, 5, r)),
        );
        let _ = writeln!(out, "{}", line.trim_end());
    });
    Ok(())
}

/// Percentiles of `value` from the targeted digest, KLL and DDSketch beside the exact ones.
async fn percentile_section(ctx: &SessionContext, out: &mut String, thin: &str) -> Result<()> {
    let rows = section(
        ctx,
        out,
        thin,
        "PERCENTILES of value   approx_quantile   KLL (k=200)   DDSketch (1%)   exact",
        PERCENTILES,
    )
    .await?;
    for_rows(&rows, |b, r| {
        let q = float_at(b, 0, r);
        let _ = writeln!(
            out,
            "  p{:<19} {:>15.4} {:>13.4} {:>15.4} {:>7.4}",
            (q * 100.0).round(),
            float_at(b, 1, r),
            float_at(b, 2, r),
            float_at(b, 3, r),
            float_at(b, 4, r)
        );
    });
    Ok(())
}

fn float_at(b: &RecordBatch, col: usize, row: usize) -> f64 {
    let c = arrow::compute::cast(b.column(col), &arrow::datatypes::DataType::Float64)
        .expect("numeric column");
    let a = c.as_primitive::<arrow::datatypes::Float64Type>();
    if a.is_null(row) {
        f64::NAN
    } else {
        a.value(row)
    }
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

/// Runs a section's query and writes its heading.
async fn section(
    ctx: &SessionContext,
    out: &mut String,
    thin: &str,
    title: &str,
    sql: &str,
) -> Result<Vec<RecordBatch>> {
    let rows = query(ctx, sql).await?;
    heading(out, thin, title);
    Ok(rows)
}

/// A section's title between two rules.
fn heading(out: &mut String, thin: &str, title: &str) {
    let _ = writeln!(out, "\n{thin}\n{title}\n{thin}");
}
