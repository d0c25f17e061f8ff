//! The tutorial's three programs and four exercises as SQL files (sql/), run over the shipped
//! data/ as `hazy sql -f` runs them, with their key results checked against exact SQL.

use crate::common::*;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParser;

/// Every query's rows of a SQL file, in order (DDL gives none).
async fn run_file(ctx: &SessionContext, name: &str) -> Vec<Vec<Vec<String>>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sql")
        .join(name);
    let sql = std::fs::read_to_string(&path).unwrap();
    let mut results = Vec::new();
    for statement in DFParser::parse_sql(&sql).unwrap() {
        let plan = ctx.state().statement_to_plan(statement).await.unwrap();
        let is_query = matches!(
            plan,
            datafusion::logical_expr::LogicalPlan::Projection(_)
                | datafusion::logical_expr::LogicalPlan::Sort(_)
                | datafusion::logical_expr::LogicalPlan::Limit(_)
                | datafusion::logical_expr::LogicalPlan::Union(_)
        );
        let batches = ctx
            .execute_logical_plan(plan)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        if is_query {
            results.push(to_strings(&batches));
        }
    }
    results
}

fn num(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("not a number: {s}"))
}

async fn exact_rows(ctx: &SessionContext, sql: &str) -> Vec<Vec<String>> {
    rows(ctx, &format!("CREATE EXTERNAL TABLE IF NOT EXISTS events STORED AS PARQUET LOCATION 'data/events.parquet'; {sql}")).await
}

fn within(estimate: f64, exact: f64, relative: f64) -> bool {
    (estimate - exact).abs() <= relative * exact
}

#[tokio::test]
async fn stream_processor_report() {
    let ctx = ctx();
    let r = run_file(&ctx, "stream_processor.sql").await;
    assert_eq!(r.len(), 4);
    let stats = &r[0][0];
    assert_eq!(stats[0], "100000");
    let exact = exact_rows(&ctx, "SELECT count(DISTINCT entity), count(*) FILTER (WHERE event_type = 'purchase') FROM events").await;
    // HLL at p=14: 0.81% standard error; 3 of them.
    assert!(
        within(num(&stats[1]), num(&exact[0][0]), 0.025),
        "{stats:?} vs {exact:?}"
    );
    // Count-Min never under-estimates, and over-estimates by at most 0.1% of 100,000 here.
    let (purchase, truth) = (num(&stats[2]), num(&exact[0][1]));
    assert!(
        purchase >= truth && purchase <= truth + 100.0,
        "{purchase} vs {truth}"
    );
    assert_eq!(stats[3], "true");
    // Top event types: the exact ranking, with exact counts (12 types fit in the sketch).
    let types = exact_rows(
        &ctx,
        "SELECT event_type, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
    )
    .await;
    let got: Vec<(String, String)> = r[1]
        .iter()
        .map(|row| (row[0].clone(), row[1].clone()))
        .collect();
    let want: Vec<(String, String)> = types
        .iter()
        .map(|row| (row[0].clone(), row[1].clone()))
        .collect();
    assert_eq!(got, want);
    // Most active entities: the true top 10 in order, each true count within its bounds.
    let top = exact_rows(
        &ctx,
        "SELECT entity, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10",
    )
    .await;
    for (row, truth) in r[2].iter().zip(&top) {
        assert_eq!(row[0], truth[0]);
        let (lower, upper, n) = (num(&row[2]), num(&row[3]), num(&truth[1]));
        assert!(lower <= n && n <= upper, "{row:?} vs {truth:?}");
    }
    let memory = &r[3][0];
    let parts: f64 = memory[..5].iter().map(|v| num(v)).sum();
    assert_eq!(parts, num(&memory[5]));
    assert!(num(&memory[5]) < 200_000.0, "{memory:?}");
}

#[tokio::test]
async fn windowed_uniques_merge_into_the_hour() {
    let ctx = ctx();
    let r = run_file(&ctx, "windowed.sql").await.pop().unwrap();
    let exact = exact_rows(
        &ctx,
        "SELECT date_bin(INTERVAL '2 minutes', ts), count(*), count(DISTINCT entity) FROM events GROUP BY 1 ORDER BY 1",
    )
    .await;
    assert_eq!(r.len(), exact.len());
    for (row, truth) in r.iter().zip(&exact) {
        assert_eq!(row[..2], truth[..2]);
        assert!(
            within(num(&row[2]), num(&truth[2]), 0.025),
            "{row:?} vs {truth:?}"
        );
    }
    let all = exact_rows(&ctx, "SELECT count(DISTINCT entity) FROM events").await;
    let hourly = num(&r.last().unwrap()[4]);
    assert!(
        within(hourly, num(&all[0][0]), 0.025),
        "{hourly} vs {all:?}"
    );
    // The merged uniques never shrink as windows are added.
    assert!(r.windows(2).all(|w| num(&w[0][4]) <= num(&w[1][4])));
}

#[tokio::test]
async fn anomaly_detection_flags_exactly_the_flood() {
    let ctx = ctx();
    let r = run_file(&ctx, "anomaly_detection.sql").await.pop().unwrap();
    let flagged: Vec<&str> = r
        .iter()
        .filter(|row| row[4] == "true")
        .map(|row| row[0].as_str())
        .collect();
    assert_eq!(
        flagged,
        ["2026-01-01T00:10:00Z", "2026-01-01T00:11:00Z"],
        "{r:?}"
    );
    // New entities: never more than the active ones, and the Bloom filter has no false
    // negatives, so an entity of the training minutes is never counted new.
    for row in &r {
        assert!(num(&row[5]) <= num(&row[6]));
    }
    let exact_new = exact_rows(
        &ctx,
        "SELECT count(DISTINCT entity) FROM events WHERE ts >= TIMESTAMP '2026-01-01T00:05:00Z' AND ts < TIMESTAMP '2026-01-01T00:06:00Z'
         AND entity NOT IN (SELECT entity FROM events WHERE ts < TIMESTAMP '2026-01-01T00:05:00Z')",
    )
    .await;
    let (got, truth) = (num(&r[0][5]), num(&exact_new[0][0]));
    assert!(got <= truth && got >= 0.97 * truth, "{got} vs {truth}");
}

#[tokio::test]
async fn sliding_windows_equal_recomputing_each_window() {
    let ctx = ctx();
    let r = run_file(&ctx, "sliding_windows.sql").await.pop().unwrap();
    let exact = exact_rows(
        &ctx,
        "WITH m AS (SELECT DISTINCT date_bin(INTERVAL '1 minute', ts) AS minute FROM events)
         SELECT m.minute, count(*), approx_count_distinct(e.entity), percentile_cont(e.value, 0.9)
         FROM m JOIN events e ON e.ts >= m.minute - INTERVAL '4 minutes' AND e.ts < m.minute + INTERVAL '1 minute'
         GROUP BY m.minute ORDER BY m.minute",
    )
    .await;
    assert_eq!(r.len(), exact.len());
    for (row, truth) in r.iter().zip(&exact) {
        // Counts and HLL unions are exact merges; the merged KLL keeps its rank error bound
        // (value is uniform on [0, 1), so rank error is value error; plus 0.0005 of rounding).
        assert_eq!(row[..3], truth[..3]);
        assert!(
            (num(&row[3]) - num(&truth[3])).abs() <= 0.0138,
            "{row:?} vs {truth:?}"
        );
    }
}

#[tokio::test]
async fn percentiles_per_minute_and_merged() {
    let ctx = ctx();
    let r = run_file(&ctx, "percentiles.sql").await.pop().unwrap();
    let exact = exact_rows(
        &ctx,
        "SELECT CAST(date_bin(INTERVAL '1 minute', ts) AS VARCHAR), percentile_cont(value, 0.5), percentile_cont(value, 0.99) FROM events GROUP BY 1
         UNION ALL SELECT 'all', percentile_cont(value, 0.5), percentile_cont(value, 0.99) FROM events ORDER BY 1",
    )
    .await;
    assert_eq!(r.len(), exact.len());
    for (row, truth) in r.iter().zip(&exact) {
        assert_eq!(row[0], truth[0]);
        // value is uniform on [0, 1): rank error is value error. KLL k=200: within 1.33%.
        assert!(
            (num(&row[1]) - num(&truth[1])).abs() <= 0.0133 + 1e-4,
            "{row:?} vs {truth:?}"
        );
        assert!(
            (num(&row[3]) - num(&truth[2])).abs() <= 0.0133 + 1e-4,
            "{row:?} vs {truth:?}"
        );
        // DDSketch: relative value error within 1%.
        assert!(
            within(num(&row[4]), num(&truth[2]), 0.0101),
            "{row:?} vs {truth:?}"
        );
    }
}

#[tokio::test]
async fn correlated_event_types_match_exact_jaccard() {
    let ctx = ctx();
    let r = run_file(&ctx, "correlation.sql").await.pop().unwrap();
    assert_eq!(r.len(), 10);
    let exact = exact_rows(
        &ctx,
        "WITH s AS (SELECT DISTINCT event_type, entity FROM events),
              i AS (SELECT a.event_type AS x, b.event_type AS y, count(*) AS both_ FROM s a JOIN s b ON a.entity = b.entity AND a.event_type < b.event_type GROUP BY 1, 2),
              n AS (SELECT event_type, count(*) AS n FROM s GROUP BY 1)
         SELECT x, y, CAST(both_ AS DOUBLE) / (nx.n + ny.n - both_) FROM i JOIN n nx ON nx.event_type = x JOIN n ny ON ny.event_type = y
         ORDER BY 3 DESC",
    )
    .await;
    let exact: std::collections::HashMap<(String, String), f64> = exact
        .iter()
        .map(|row| ((row[0].clone(), row[1].clone()), num(&row[2])))
        .collect();
    for row in &r {
        let j = exact[&(row[0].clone(), row[1].clone())];
        // num_perm 256: standard deviation sqrt(J(1-J)/256) <= 0.031; allow 3 of them.
        assert!((num(&row[2]) - j).abs() <= 0.094, "{row:?} vs exact {j}");
    }
    let best = exact.iter().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    assert_eq!(
        (&r[0][0], &r[0][1]),
        (&best.0, &best.1),
        "the most correlated pair comes first"
    );
}

#[tokio::test]
async fn stored_partition_states_merge_into_the_single_pass_answer() {
    let ctx = ctx();
    let r = run_file(&ctx, "distributed_merge.sql").await.pop().unwrap();
    assert_eq!(r.len(), 2);
    let (merged, single) = (&r[0], &r[1]);
    assert_eq!(
        (merged[0].as_str(), single[0].as_str()),
        ("merged", "single pass")
    );
    // Counts, HLL unions, Top-K of 12 types and Count-Min sums merge exactly. A KLL merge
    // depends on the order the partitions' states arrive in, so the merged median is held to
    // KLL's rank error bound (value is uniform, so rank error is value error) instead.
    for column in [1, 2, 3, 5] {
        assert_eq!(merged[column], single[column], "column {column}");
    }
    let (m, s) = (num(&merged[4]), num(&single[4]));
    assert!((m - s).abs() <= 2.0 * 0.0133 + 0.001, "median {m} vs {s}");
    let stored = int(
        &ctx,
        "SELECT count(*) FROM 'target/tutorial/processor_states.parquet'",
    )
    .await;
    assert_eq!(stored, 4, "one stored state row per processor");
}

#[test]
fn the_stream_query_runs_on_a_live_stream() {
    let dir = std::env::temp_dir().join(format!("hazy-tutorial-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("events.ndjson");
    let generated = std::process::Command::new(env!("CARGO_BIN_EXE_hazy"))
        .args([
            "gen",
            "--events",
            "30000",
            "--format",
            "ndjson",
            "--disorder",
            "1",
            "--output",
            input.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(generated.status.success());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hazy"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "stream",
            "--input",
            input.to_str().unwrap(),
            "--first-seen",
            "entity",
            "--lateness",
            "2s",
            "--sql-file",
            "sql/stream_tutorial.sql",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 6, "30,000 events at 100/s: 5 minutes and a bit");
    let events: i64 = rows.iter().map(|r| r["events"].as_i64().unwrap()).sum();
    assert_eq!(events, 30_000);
    let new: i64 = rows
        .iter()
        .map(|r| r["first_time_entities"].as_i64().unwrap())
        .sum();
    assert!((7_500..=8_200).contains(&new), "{new} first-time entities");
    assert_eq!(rows[1]["top_event_types"][0]["item"], "page_view");
    std::fs::remove_dir_all(&dir).unwrap();
}
