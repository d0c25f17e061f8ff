//! The windowed stream runtime (the Rust API behind `hazy stream`), checked against the same
//! query run over all events at once.

use crate::common::*;

use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::datasource::MemTable;
use hazy::generator::{EventGenerator, GenArgs};
use hazy::stream::{ClosedWindow, FirstSeenOptions, StreamOptions, WindowedStream};

const SEC: i64 = 1_000_000_000;

fn events(n: u64, disorder: f64, seed: u64) -> Vec<RecordBatch> {
    let args = GenArgs {
        events: n,
        disorder,
        seed,
        ..GenArgs::default()
    };
    let mut g = EventGenerator::new(&args).unwrap();
    let mut out = Vec::new();
    while let Some(b) = g.next_batch(1000) {
        out.push(b);
    }
    out
}

/// Splits batches into batches of `size` rows (the stream's result must not depend on it).
fn rebatch(batches: &[RecordBatch], size: usize) -> Vec<RecordBatch> {
    let all = arrow::compute::concat_batches(&EventGenerator::schema(), batches).unwrap();
    (0..all.num_rows())
        .step_by(size)
        .map(|o| all.slice(o, size.min(all.num_rows() - o)))
        .collect()
}

async fn run(
    sql: &str,
    options: StreamOptions,
    batches: &[RecordBatch],
) -> (Vec<ClosedWindow>, WindowedStream) {
    let mut s = WindowedStream::new(sql, EventGenerator::schema(), options)
        .await
        .unwrap();
    let mut out = Vec::new();
    for b in batches {
        out.extend(s.push(b.clone()).await.unwrap());
    }
    out.extend(s.finish().await.unwrap());
    (out, s)
}

fn window_rows(windows: &[ClosedWindow]) -> Vec<Vec<String>> {
    to_strings(&windows.iter().map(|w| w.rows.clone()).collect::<Vec<_>>())
}

async fn batch_ctx(batches: &[RecordBatch]) -> datafusion::prelude::SessionContext {
    let ctx = ctx();
    let table = MemTable::try_new(EventGenerator::schema(), vec![batches.to_vec()]).unwrap();
    ctx.register_table("events", Arc::new(table)).unwrap();
    ctx
}

const PER_MINUTE: &str = "SELECT date_bin(INTERVAL '1 minute', ts) AS w, count(*) AS c, \
     approx_count_distinct(entity) AS d, sum(value) > 0 AS positive \
     FROM events GROUP BY date_bin(INTERVAL '1 minute', ts)";

#[tokio::test]
async fn tumbling_windows_equal_the_batch_query() {
    let batches = events(30_000, 0.0, 1);
    let (windows, s) = run(PER_MINUTE, StreamOptions::new("ts"), &batches).await;
    let ctx = batch_ctx(&batches).await;
    let exact = rows(&ctx, &format!("{PER_MINUTE} ORDER BY w")).await;
    assert_eq!(window_rows(&windows), exact);

    // first_seen marks each entity's first event, give or take the Bloom filter's 1%.
    let mut options = StreamOptions::new("ts");
    options.first_seen = Some(FirstSeenOptions {
        column: "entity".into(),
        expected_items: 100_000,
        fpr: 0.01,
    });
    let sql = "SELECT date_bin(INTERVAL '1 minute', ts) AS w, count(*) FILTER (WHERE first_seen) AS new_entities \
               FROM events GROUP BY date_bin(INTERVAL '1 minute', ts)";
    let (first, _) = run(sql, options, &batches).await;
    let new: i64 = window_rows(&first)
        .iter()
        .map(|r| r[1].parse::<i64>().unwrap())
        .sum();
    let distinct = int(&ctx, "SELECT count(DISTINCT entity) FROM events").await;
    assert!(
        new <= distinct && new as f64 >= 0.98 * distinct as f64,
        "{new} first-seen vs {distinct} distinct"
    );
    assert!(windows.len() >= 5, "{} windows", windows.len());
    for w in &windows {
        assert_eq!(w.end - w.start, 60 * SEC);
        let states = w.stored_states().unwrap();
        assert_eq!(states.num_rows(), 1);
        assert_eq!(states.schema().field(0).name(), "w");
        assert_eq!(states.schema().field(2).name(), "d");
    }
    assert_eq!(s.stats().events, 30_000);
    assert_eq!(s.stats().late, 0);
    assert!(s.open_windows().is_empty());
}

#[tokio::test]
async fn windows_close_as_the_watermark_passes_them() {
    let batches = events(30_000, 0.0, 2);
    let mut s = WindowedStream::new(
        PER_MINUTE,
        EventGenerator::schema(),
        StreamOptions::new("ts"),
    )
    .await
    .unwrap();
    let mut closed = 0;
    for b in &batches {
        for w in s.push(b.clone()).await.unwrap() {
            closed += 1;
            let watermark = s.watermark().unwrap();
            assert!(
                w.end <= watermark,
                "a window came out before the watermark passed it"
            );
        }
        // Only the window holding the watermark (and any later) stays open.
        assert!(s.open_windows().len() <= 1, "{:?}", s.open_windows());
    }
    assert!(
        closed >= 4,
        "windows must come out while the input is still open"
    );
}

#[tokio::test]
async fn out_of_order_events_within_the_lateness_land_in_their_window() {
    let batches = events(30_000, 3.0, 3);
    let mut options = StreamOptions::new("ts");
    options.lateness_ns = 3 * SEC;
    let (windows, s) = run(PER_MINUTE, options, &batches).await;
    assert_eq!(s.stats().late, 0);
    let ctx = batch_ctx(&batches).await;
    assert_eq!(
        window_rows(&windows),
        rows(&ctx, &format!("{PER_MINUTE} ORDER BY w")).await
    );
}

#[tokio::test]
async fn late_events_are_counted_per_window_and_never_added() {
    let batches = events(30_000, 10.0, 4);
    let mut options = StreamOptions::new("ts");
    options.lateness_ns = SEC;
    let (windows, s) = run(PER_MINUTE, options.clone(), &batches).await;
    let stats = s.stats();
    assert!(stats.late > 100, "{} late", stats.late);
    assert_eq!(stats.events + stats.late, 30_000);
    assert_eq!(stats.late_by_window.values().sum::<u64>(), stats.late);
    let ctx = batch_ctx(&batches).await;
    let exact = rows(
        &ctx,
        "SELECT date_bin(INTERVAL '1 minute', ts) AS w, count(*) FROM events GROUP BY 1 ORDER BY 1",
    )
    .await;
    let got = window_rows(&windows);
    assert_eq!(got.len(), exact.len());
    for (w, (g, e)) in windows.iter().zip(got.iter().zip(&exact)) {
        let late = stats.late_by_window.get(&w.start).copied().unwrap_or(0);
        assert_eq!(g[0], e[0]);
        assert_eq!(
            g[1].parse::<u64>().unwrap() + late,
            e[1].parse::<u64>().unwrap(),
            "window {}",
            g[0]
        );
    }
    // Which events are late does not depend on how the input is cut into batches.
    let (again, s2) = run(PER_MINUTE, options, &rebatch(&batches, 7)).await;
    assert_eq!(window_rows(&again), got);
    assert_eq!(s2.stats(), stats);
}

#[tokio::test]
async fn close_all_emits_open_windows_and_later_events_for_them_are_late() {
    let batches = events(10_000, 0.0, 5);
    let mut s = WindowedStream::new(
        PER_MINUTE,
        EventGenerator::schema(),
        StreamOptions::new("ts"),
    )
    .await
    .unwrap();
    let (first, rest) = batches.split_at(3);
    let mut out = Vec::new();
    for b in first {
        out.extend(s.push(b.clone()).await.unwrap());
    }
    let idle = s.close_all().await.unwrap();
    assert!(!idle.is_empty(), "idle close emits the open window");
    assert!(s.open_windows().is_empty());
    let before = s.stats().late;
    let again = s.push(rest[0].clone()).await.unwrap();
    assert!(again.is_empty() || again[0].start > idle.last().unwrap().start);
    assert!(
        s.stats().late > before,
        "events of the idle-closed window are late"
    );
}

#[tokio::test]
async fn sliding_windows_equal_recomputing_each_window() {
    let batches = events(40_000, 2.0, 6);
    let mut options = StreamOptions::new("ts");
    options.lateness_ns = 2 * SEC;
    options.panes = 3;
    let sql = "SELECT date_bin(INTERVAL '1 minute', ts) AS w, event_type, count(*) AS c, \
               approx_count_distinct(entity) AS d, kll_quantile(kll_sketch(value), 0.5) AS median \
               FROM events GROUP BY date_bin(INTERVAL '1 minute', ts), event_type ORDER BY event_type";
    let (windows, s) = run(sql, options, &batches).await;
    assert_eq!(s.stats().late, 0);
    let ctx = batch_ctx(&batches).await;
    // Every pane closes a window, and the end of input adds the two trailing windows that
    // still hold the last panes.
    let minutes = int(
        &ctx,
        "SELECT count(DISTINCT date_bin(INTERVAL '1 minute', ts)) FROM events",
    )
    .await;
    assert_eq!(
        windows.len() as i64,
        minutes + 2,
        "{} windows",
        windows.len()
    );
    for w in &windows {
        assert_eq!(w.end - w.start, 180 * SEC);
        let exact = rows(
            &ctx,
            &format!(
                "SELECT to_timestamp_nanos({start}) AS w, event_type, count(*) AS c, approx_count_distinct(entity) AS d, \
                 kll_quantile(kll_sketch(value), 0.5) AS median FROM events \
                 WHERE ts >= to_timestamp_nanos({start}) AND ts < to_timestamp_nanos({end}) \
                 GROUP BY event_type ORDER BY event_type",
                start = w.start,
                end = w.end
            ),
        )
        .await;
        let got = to_strings(std::slice::from_ref(&w.rows));
        assert_eq!(got.len(), exact.len());
        for (g, e) in got.iter().zip(&exact) {
            assert_eq!(g[1..4], e[1..4], "window starting {}", w.start);
            // KLL merges are not bit-identical to one pass; the median stays close.
            let (gm, em): (f64, f64) = (g[4].parse().unwrap(), e[4].parse().unwrap());
            assert!((gm - em).abs() < 0.05, "{gm} vs {em}");
        }
    }
}

#[tokio::test]
async fn a_restored_checkpoint_continues_exactly() {
    let batches = events(30_000, 4.0, 7);
    let mut options = StreamOptions::new("ts");
    options.lateness_ns = SEC;
    options.panes = 2;
    options.first_seen = Some(FirstSeenOptions {
        column: "entity".into(),
        expected_items: 100_000,
        fpr: 0.01,
    });
    let sql = "SELECT date_bin(INTERVAL '1 minute', ts) AS w, count(*) AS c, approx_count_distinct(entity) AS d, \
               count(*) FILTER (WHERE first_seen) AS new_entities FROM events GROUP BY date_bin(INTERVAL '1 minute', ts)";
    let (whole, s_whole) = run(sql, options.clone(), &batches).await;

    let mut s = WindowedStream::new(sql, EventGenerator::schema(), options.clone())
        .await
        .unwrap();
    let mut out = Vec::new();
    for b in &batches[..13] {
        out.extend(s.push(b.clone()).await.unwrap());
    }
    let dir = std::env::temp_dir().join(format!("hazy-ckpt-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut ckpt = s
        .checkpoint(serde_json::json!({"batch": 13}))
        .await
        .unwrap();
    ckpt.write(&dir).unwrap();
    drop(s);

    let restored = hazy::stream::Checkpoint::read(&dir).unwrap().unwrap();
    assert_eq!(restored.meta.position, serde_json::json!({"batch": 13}));
    let mut s = WindowedStream::new(sql, EventGenerator::schema(), options)
        .await
        .unwrap();
    s.restore(restored).await.unwrap();
    for b in &batches[13..] {
        out.extend(s.push(b.clone()).await.unwrap());
    }
    out.extend(s.finish().await.unwrap());
    assert_eq!(window_rows(&out), window_rows(&whole));
    assert_eq!(s.stats(), s_whole.stats());
    // A checkpoint of another query is refused.
    let other = WindowedStream::new(
        PER_MINUTE,
        EventGenerator::schema(),
        StreamOptions::new("ts"),
    )
    .await;
    let e = other
        .unwrap()
        .restore(hazy::stream::Checkpoint::read(&dir).unwrap().unwrap())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("different query"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

async fn plan_error(sql: &str) -> String {
    match WindowedStream::new(sql, EventGenerator::schema(), StreamOptions::new("ts")).await {
        Ok(_) => panic!("expected a planning error for {sql}"),
        Err(e) => e.strip_backtrace().to_string(),
    }
}

#[tokio::test]
async fn queries_a_stream_cannot_run_are_refused_with_the_reason() {
    let e = plan_error("SELECT count(*) FROM events").await;
    assert!(e.contains("GROUP BY date_bin"), "{e}");
    let e = plan_error("SELECT entity, count(*) FROM events GROUP BY entity").await;
    assert!(e.contains("GROUP BY date_bin"), "{e}");
    let e = plan_error("SELECT date_bin(INTERVAL '1 month', ts), count(*) FROM events GROUP BY 1")
        .await;
    assert!(e.contains("no months"), "{e}");
    let e = plan_error(
        "SELECT w, count(*) FROM (SELECT date_bin(INTERVAL '1 minute', ts) AS w, entity FROM events GROUP BY 1, 2) GROUP BY w",
    )
    .await;
    assert!(e.contains("more than one level"), "{e}");
    let e = match WindowedStream::new(
        PER_MINUTE,
        EventGenerator::schema(),
        StreamOptions::new("value"),
    )
    .await
    {
        Ok(_) => panic!("value is not a timestamp"),
        Err(e) => e.to_string(),
    };
    assert!(e.contains("must be a TIMESTAMP"), "{e}");
}

#[tokio::test]
async fn count_distinct_stays_one_level() {
    let batches = events(20_000, 0.0, 8);
    let sql = "SELECT date_bin(INTERVAL '1 minute', ts) AS w, count(DISTINCT entity) AS d FROM events \
               GROUP BY date_bin(INTERVAL '1 minute', ts)";
    let (windows, _) = run(sql, StreamOptions::new("ts"), &batches).await;
    let ctx = batch_ctx(&batches).await;
    assert_eq!(
        window_rows(&windows),
        rows(&ctx, &format!("{sql} ORDER BY w")).await
    );
}

const PER_ENTITY: &str = "SELECT entity, date_bin(INTERVAL '1 hour', ts) AS w, \
     approx_count_distinct(value) AS d, count(*) AS c FROM events \
     GROUP BY entity, date_bin(INTERVAL '1 hour', ts)";

/// Runs `sql` over `batches` in a session whose memory pool holds `limit` bytes.
async fn run_limited(
    sql: &str,
    limit: usize,
    batches: &[RecordBatch],
) -> datafusion::common::Result<Vec<ClosedWindow>> {
    let (_, mut s) = limited_stream(sql, limit).await?;
    let mut out = Vec::new();
    for b in batches {
        out.extend(s.push(b.clone()).await?);
    }
    out.extend(s.finish().await?);
    Ok(out)
}

/// A stream of `sql` in a stream session whose memory pool holds `limit` bytes, and the session.
async fn limited_stream(
    sql: &str,
    limit: usize,
) -> datafusion::common::Result<(datafusion::prelude::SessionContext, WindowedStream)> {
    let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_memory_limit(limit, 1.0)
        .build_arc()?;
    let ctx = hazy::stream::stream_session_with(runtime);
    let stream = WindowedStream::with_context(
        &ctx,
        sql,
        EventGenerator::schema(),
        StreamOptions::new("ts"),
    )
    .await?;
    Ok((ctx, stream))
}

/// An open window's groups are held decoded by its aggregate: their memory is reported while
/// the window is open and given back when it closes, and it counts against the session's memory
/// limit, which stops the stream with DataFusion's error rather than growing past it.
#[tokio::test]
async fn open_windows_report_their_memory_and_obey_the_memory_limit() {
    let batches = events(20_000, 0.0, 3);
    let mut s = WindowedStream::new(
        PER_ENTITY,
        EventGenerator::schema(),
        StreamOptions::new("ts"),
    )
    .await
    .unwrap();
    for b in &batches {
        assert!(s.push(b.clone()).await.unwrap().is_empty());
    }
    let open = s.memory_bytes();
    assert!(
        open > 100_000,
        "{open} bytes for an open window of thousands of groups"
    );
    let closed = s.finish().await.unwrap();
    assert_eq!(closed.len(), 1);
    assert_eq!(s.memory_bytes(), 0);

    let error = run_limited(PER_ENTITY, open / 4, &batches)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("Resources exhausted"), "{error}");
}

/// Whatever the memory limit, a stream gives the unlimited run's rows (in some order) or
/// DataFusion's "Resources exhausted", never other rows: a window's partial aggregate that runs
/// short emits early, and its merge spills or fails.
#[tokio::test]
async fn windows_short_of_memory_give_the_same_rows_or_an_error() {
    let batches = events(20_000, 0.0, 3);
    let sorted = |windows: &[ClosedWindow]| {
        let mut rows = window_rows(windows);
        rows.sort();
        rows
    };
    let (unlimited, s) = run(PER_ENTITY, StreamOptions::new("ts"), &batches).await;
    drop(s);
    let want = sorted(&unlimited);
    let (mut finished, mut failed) = (0, 0);
    for limit in [300_000, 600_000, 1_000_000, 1_400_000, 2_000_000, 4_000_000] {
        match run_limited(PER_ENTITY, limit, &batches).await {
            Ok(out) => {
                assert_eq!(sorted(&out), want, "limit {limit}");
                finished += 1;
            }
            Err(e) => {
                assert!(e.to_string().contains("Resources exhausted"), "{e}");
                failed += 1;
            }
        }
    }
    assert!(
        finished > 0 && failed > 0,
        "{finished} finished, {failed} failed"
    );
}

/// The columns a decoder may leave NULL are those nothing reads: not the query's, the time
/// column, the first-seen column, and none at all while late rows are kept (they are written out
/// whole).
#[tokio::test]
async fn unread_columns_are_those_nothing_reads() {
    let bits = |columns: &[&str]| {
        let schema = EventGenerator::schema();
        columns
            .iter()
            .fold(0u64, |m, c| m | 1 << schema.index_of(c).unwrap())
    };
    let stream = |sql: &'static str, options: StreamOptions| async move {
        WindowedStream::new(sql, EventGenerator::schema(), options)
            .await
            .unwrap()
    };
    const COUNT: &str = "SELECT date_bin(INTERVAL '1 minute', ts) AS w, count(*) AS c \
         FROM events GROUP BY date_bin(INTERVAL '1 minute', ts)";
    let mut s = stream(COUNT, StreamOptions::new("ts")).await;
    assert_eq!(s.unread_columns(), bits(&["entity", "event_type", "value"]));
    s.keep_late_rows(true);
    assert_eq!(s.unread_columns(), 0);

    let s = stream(PER_MINUTE, StreamOptions::new("ts")).await;
    assert_eq!(s.unread_columns(), bits(&["event_type"]));

    let mut options = StreamOptions::new("ts");
    options.first_seen = Some(FirstSeenOptions {
        column: "event_type".into(),
        expected_items: 1000,
        fpr: 0.01,
    });
    let s = stream(COUNT, options).await;
    assert_eq!(s.unread_columns(), bits(&["entity", "value"]));
}

/// What Hazy's aggregates hold in the session's pool themselves (sketches of 64 KB or more,
/// which they keep out of DataFusion's accounting) counts in the memory an open window
/// reports, as the accumulators DataFusion reserves for do: a stream session's pool counts
/// every reservation made in it, here one made as such an aggregate makes its own.
#[tokio::test]
async fn reservations_in_the_stream_session_count_in_the_window_memory() {
    use datafusion::execution::memory_pool::MemoryConsumer;
    let (ctx, mut s) = limited_stream(PER_ENTITY, 1 << 30).await.unwrap();
    for b in &events(5_000, 0.0, 3) {
        assert!(s.push(b.clone()).await.unwrap().is_empty());
    }
    let open = s.memory_bytes();
    assert!(open > 0);
    let held =
        MemoryConsumer::new("topk_merge (sketches held)").register(&ctx.runtime_env().memory_pool);
    held.try_grow(5 << 20).unwrap();
    assert_eq!(s.memory_bytes(), open + (5 << 20));
    drop(held);
    assert_eq!(s.memory_bytes(), open);
    s.finish().await.unwrap();
    assert_eq!(s.memory_bytes(), 0);
}
