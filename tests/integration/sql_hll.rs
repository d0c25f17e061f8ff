//! SQL-level tests of the HyperLogLog functions.

use crate::common::*;

const SETUP: &str = "
CREATE TABLE t AS SELECT
    CAST(value % 7 AS INT) AS g,
    CAST(value % 5000 AS BIGINT) AS x,
    CAST(value % 5000 AS INT) AS x32,
    CASE WHEN value % 10 = 0 THEN NULL ELSE 'user_' || CAST(value % 3000 AS VARCHAR) END AS s,
    arrow_cast(to_timestamp_seconds(1767225600 + value), 'Timestamp(Microsecond, None)') AS ts
FROM generate_series(0, 99999) AS gs(value);";

#[tokio::test]
async fn one_shot_equals_estimate_of_sketch_and_is_near_exact() {
    let ctx = ctx_with(SETUP).await;
    let one_shot = int(&ctx, "SELECT approx_count_distinct(x) FROM t").await;
    let two_step = int(&ctx, "SELECT hll_estimate(hll_sketch(x)) FROM t").await;
    assert_eq!(one_shot, two_step);
    assert_close(one_shot, 5000, 0.01, "p=14");
    let p10 = int(&ctx, "SELECT approx_count_distinct(x, 10) FROM t").await;
    assert_eq!(
        p10,
        int(&ctx, "SELECT hll_estimate(hll_sketch(x, 10)) FROM t").await
    );
    assert_close(p10, 5000, 0.1, "p=10");
    // Nulls are skipped: 3000 distinct strings, 10% of rows null.
    let exact = int(&ctx, "SELECT count(DISTINCT s) FROM t").await;
    assert_close(
        int(&ctx, "SELECT approx_count_distinct(s) FROM t").await,
        exact,
        0.01,
        "strings",
    );
}

#[tokio::test]
async fn group_by_matches_exact_counts() {
    let ctx = ctx_with(SETUP).await;
    let got = rows(
        &ctx,
        "SELECT g, approx_count_distinct(x), count(DISTINCT x), hll_estimate(hll_sketch(s, 12)), count(DISTINCT s)
         FROM t GROUP BY g ORDER BY g",
    )
    .await;
    assert_eq!(got.len(), 7);
    for r in got {
        let v: Vec<i64> = r.iter().map(|c| c.parse().unwrap()).collect();
        assert_close(v[1], v[2], 0.01, "x per group");
        assert_close(v[3], v[4], 0.05, "s per group at p=12");
    }
}

#[tokio::test]
async fn many_small_groups_use_sparse_states_and_stay_exact_enough() {
    let ctx = ctx_with(SETUP).await;
    // 50,000 groups of two rows: sparse states, near exact, and EmitTo/skip-partial paths.
    let got = rows(
        &ctx,
        "SELECT sum(d), max(b), min(m) FROM (
           SELECT x % 50000 AS k, approx_count_distinct(ts) AS d,
                  sketch_info(hll_sketch(ts))['bytes'] AS b, sketch_info(hll_sketch(ts))['mode'] AS m
           FROM (SELECT CAST(x AS BIGINT) * 20 + g AS x, ts FROM t) GROUP BY x % 50000)",
    )
    .await;
    assert_eq!(got[0][0], "100000");
    assert!(
        got[0][1].parse::<i64>().unwrap() < 60,
        "sparse states are small: {:?}",
        got[0]
    );
    assert_eq!(got[0][2], "sparse");
}

#[tokio::test]
async fn skip_partial_aggregation_gives_the_same_answer() {
    let ctx = ctx_with(SETUP).await;
    let query = "SELECT x, approx_count_distinct(s), hll_estimate(hll_sketch(g)) FROM t GROUP BY x ORDER BY x";
    let normal = rows(&ctx, query).await;
    skip_partial_aggregation(&ctx).await;
    assert_eq!(rows(&ctx, query).await, normal);
    let merged = "SELECT k, hll_estimate(hll_merge(st)) FROM (SELECT x % 100 AS k, hll_sketch(s) AS st FROM t GROUP BY x) GROUP BY k ORDER BY k";
    let direct = "SELECT x % 100 AS k, approx_count_distinct(s) FROM t GROUP BY x % 100 ORDER BY k";
    assert_eq!(rows(&ctx, merged).await, rows(&ctx, direct).await);
}

#[tokio::test]
async fn equal_values_merge_across_types_and_encodings() {
    let ctx = ctx_with(SETUP).await;
    rows(
        &ctx,
        "CREATE TABLE a AS SELECT hll_sketch(x32) AS st FROM t WHERE x32 < 3000",
    )
    .await;
    rows(
        &ctx,
        "CREATE TABLE b AS SELECT hll_sketch(CAST(x AS DOUBLE)) AS st FROM t WHERE x >= 2000",
    )
    .await;
    let merged = int(
        &ctx,
        "SELECT hll_estimate(hll_merge(st)) FROM (SELECT st FROM a UNION ALL SELECT st FROM b)",
    )
    .await;
    assert_eq!(
        merged,
        int(&ctx, "SELECT approx_count_distinct(x) FROM t").await
    );
    let utf8 = int(&ctx, "SELECT approx_count_distinct(s) FROM t").await;
    for cast in [
        "LargeUtf8",
        "Utf8View",
        "Dictionary(Int32, Utf8)",
        "Dictionary(UInt16, LargeUtf8)",
        "Binary",
    ] {
        let v = int(
            &ctx,
            &format!("SELECT approx_count_distinct(arrow_cast(s, '{cast}')) FROM t"),
        )
        .await;
        assert_eq!(v, utf8, "{cast}");
    }
    for cast in ["Int16", "UInt32", "Decimal128(20, 3)", "Float32"] {
        let v = int(
            &ctx,
            &format!("SELECT approx_count_distinct(arrow_cast(x % 1000, '{cast}')) FROM t"),
        )
        .await;
        assert_eq!(
            v,
            int(&ctx, "SELECT approx_count_distinct(x % 1000) FROM t").await,
            "{cast}"
        );
    }
    let ts = int(&ctx, "SELECT approx_count_distinct(ts) FROM t").await;
    let ts_s = int(
        &ctx,
        "SELECT approx_count_distinct(arrow_cast(ts, 'Timestamp(Second, Some(\"UTC\"))')) FROM t",
    )
    .await;
    assert_eq!(ts, ts_s);
}

#[tokio::test]
async fn merging_different_precisions_folds_to_the_smaller() {
    let ctx = ctx_with(SETUP).await;
    let got = rows(
        &ctx,
        "SELECT sketch_info(m)['parameters'], hll_estimate(m) FROM (
            SELECT hll_merge(st) AS m FROM (
              SELECT hll_sketch(x, 14) AS st FROM t WHERE g < 3
              UNION ALL SELECT hll_sketch(x, 10) AS st FROM t WHERE g >= 3))",
    )
    .await;
    assert_eq!(got[0][0], "p=10");
    assert_eq!(
        got[0][1],
        int(&ctx, "SELECT approx_count_distinct(x, 10) FROM t")
            .await
            .to_string()
    );
    let u = int(&ctx, "SELECT hll_estimate(hll_union((SELECT hll_sketch(x, 12) FROM t WHERE g = 1), (SELECT hll_sketch(x, 16) FROM t WHERE g = 2)))").await;
    let exact = int(
        &ctx,
        "SELECT approx_count_distinct(x, 12) FROM t WHERE g IN (1, 2)",
    )
    .await;
    assert_eq!(u, exact);
}

#[tokio::test]
async fn nulls_and_empty_input() {
    let ctx = ctx_with(SETUP).await;
    assert_eq!(
        int(&ctx, "SELECT approx_count_distinct(x) FROM t WHERE x < 0").await,
        0
    );
    assert_eq!(
        int(
            &ctx,
            "SELECT hll_estimate(hll_sketch(x)) FROM t WHERE x < 0"
        )
        .await,
        0
    );
    assert_eq!(value(&ctx, "SELECT hll_merge(st) IS NULL FROM (SELECT hll_sketch(x) AS st FROM t WHERE x < 0 GROUP BY g)").await, "true");
    assert_eq!(
        int(
            &ctx,
            "SELECT approx_count_distinct(CAST(NULL AS INT)) FROM t"
        )
        .await,
        0
    );
    assert_eq!(
        int(&ctx, "SELECT approx_count_distinct(NULL) FROM t").await,
        0
    );
    assert_eq!(value(&ctx, "SELECT hll_estimate(NULL)").await, "NULL");
    assert_eq!(
        value(&ctx, "SELECT hll_estimate(hll_union(NULL, NULL))").await,
        "NULL"
    );
    let one = int(
        &ctx,
        "SELECT hll_estimate(hll_union(hll_sketch(x), NULL)) FROM t",
    )
    .await;
    assert_eq!(
        one,
        int(&ctx, "SELECT approx_count_distinct(x) FROM t").await
    );
    // Groups with only nulls count zero.
    let got = rows(&ctx, "SELECT g, approx_count_distinct(CASE WHEN g = 3 THEN NULL ELSE x END) FROM t GROUP BY g ORDER BY g").await;
    assert_eq!(got[3][1], "0");
    // FILTER applies.
    let filtered = int(
        &ctx,
        "SELECT approx_count_distinct(x) FILTER (WHERE x < 100) FROM t",
    )
    .await;
    assert_eq!(filtered, 100);
}

#[tokio::test]
async fn parameters_are_checked_at_plan_time() {
    let ctx = ctx_with(SETUP).await;
    for (sql, needle) in [
        (
            "SELECT approx_count_distinct(x, 3) FROM t",
            "approx_count_distinct: precision must be between 4 and 18, got 3",
        ),
        (
            "SELECT hll_sketch(x, 19) FROM t",
            "hll_sketch: precision must be between 4 and 18, got 19",
        ),
        (
            "SELECT hll_sketch(x, g) FROM t",
            "hll_sketch: precision must be a constant",
        ),
        (
            "SELECT hll_sketch(x, 'a') FROM t",
            "hll_sketch: precision must be an integer literal",
        ),
        (
            "SELECT hll_sketch(x, 12.5) FROM t",
            "hll_sketch: precision must be an integer literal",
        ),
        (
            "SELECT approx_count_distinct(make_array(1, 2)) FROM t",
            "approx_count_distinct does not support values of type List",
        ),
        (
            "SELECT approx_count_distinct() FROM t",
            "approx_count_distinct",
        ),
        (
            "SELECT hll_merge(x) FROM t",
            "hll_merge expects a sketch state",
        ),
        (
            "SELECT hll_estimate(s) FROM t",
            "hll_estimate expects a sketch state",
        ),
        ("SELECT hll_union(hll_sketch(x)) FROM t", "hll_union"),
    ] {
        let e = error(&ctx, sql).await;
        assert!(
            e.contains(needle),
            "{sql}\n  error: {e}\n  expected: {needle}"
        );
    }
    // Plan time: the logical optimizer rejects it, before any execution plan exists.
    let state = ctx.state();
    let plan = state
        .create_logical_plan("SELECT hll_sketch(x, 30) FROM t")
        .await
        .unwrap();
    let e = state.optimize(&plan).unwrap_err().strip_backtrace();
    assert!(
        e.contains("hll_sketch: precision must be between 4 and 18, got 30"),
        "{e}"
    );
}

#[tokio::test]
async fn bad_state_bytes_give_clear_errors() {
    let ctx = ctx_with(SETUP).await;
    for (state, needle) in [
        ("X'00'", "truncated sketch state"),
        (
            "X'504152310000000000000000000000000000000000000000'",
            "not a Hazy sketch state",
        ),
        (
            "X'485A534B09010100010000000000000000000000000000000000'",
            "format version 9",
        ),
    ] {
        for f in [
            "hll_estimate({s})",
            "sketch_info({s})",
            "hll_union({s}, {s})",
        ] {
            let sql = format!("SELECT {}", f.replace("{s}", state));
            let e = error(&ctx, &sql).await;
            assert!(e.contains(needle), "{sql}: {e}");
        }
        let e = error(
            &ctx,
            &format!("SELECT hll_merge(st) FROM (VALUES ({state})) AS v(st)"),
        )
        .await;
        assert!(e.contains("hll_merge") && e.contains(needle), "{e}");
    }
    // A flipped bit fails the integrity check.
    let good = value(
        &ctx,
        "SELECT encode(hll_sketch(x), 'hex') FROM t WHERE x < 3",
    )
    .await;
    let mut bad = good.clone().into_bytes();
    bad[40] = if bad[40] == b'0' { b'1' } else { b'0' };
    let bad = String::from_utf8(bad).unwrap();
    let e = error(
        &ctx,
        &format!("SELECT hll_estimate(decode('{bad}', 'hex'))"),
    )
    .await;
    assert!(e.contains("integrity check failed"), "{e}");
}

#[tokio::test]
async fn date_bin_windows_and_sliding_frames() {
    let ctx = ctx_with(SETUP).await;
    rows(&ctx, "CREATE TABLE per_minute AS SELECT date_bin(INTERVAL '1 minute', ts) AS minute, hll_sketch(x % 500) AS st, count(*) AS n FROM t GROUP BY 1").await;
    assert_eq!(int(&ctx, "SELECT count(*) FROM per_minute").await, 1667);
    // Sliding: three panes back; equal to sketching the raw rows of those minutes.
    let sliding = rows(
        &ctx,
        "SELECT minute, hll_estimate(hll_merge(st) OVER (ORDER BY minute ROWS BETWEEN 2 PRECEDING AND CURRENT ROW))
         FROM per_minute ORDER BY minute",
    )
    .await;
    let direct = rows(
        &ctx,
        "SELECT m.minute, approx_count_distinct(t.x % 500)
         FROM per_minute m JOIN t ON t.ts >= m.minute - INTERVAL '2 minutes' AND t.ts < m.minute + INTERVAL '1 minute'
         WHERE m.minute < TIMESTAMP '2026-01-01T00:30:00' GROUP BY m.minute ORDER BY m.minute",
    )
    .await;
    assert_eq!(&sliding[..direct.len()], &direct[..]);
    // Cumulative frames work too, and the last equals the total.
    let cumulative = rows(
        &ctx,
        "SELECT hll_estimate(hll_merge(st) OVER (ORDER BY minute)) FROM per_minute ORDER BY minute",
    )
    .await;
    assert_eq!(cumulative.last().unwrap()[0], "500");
    // Raw values slide too (tests/integration/sliding.rs checks every aggregate).
    let raw = rows(&ctx, "SELECT approx_count_distinct(x % 500) OVER (ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) FROM t ORDER BY ts LIMIT 5").await;
    assert_eq!(
        raw.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
        ["1", "2", "3", "3", "3"]
    );
}

#[tokio::test]
async fn states_survive_a_parquet_round_trip() {
    let ctx = ctx_with(SETUP).await;
    let dir = std::env::temp_dir().join(format!("hazy-roundtrip-{}", std::process::id()));
    let path = dir.join("states.parquet");
    std::fs::create_dir_all(&dir).unwrap();
    rows(
        &ctx,
        &format!(
            "COPY (SELECT g, hll_sketch(s) AS st FROM t GROUP BY g) TO '{}' STORED AS PARQUET",
            path.display()
        ),
    )
    .await;
    let stored = int(
        &ctx,
        &format!(
            "SELECT hll_estimate(hll_merge(st)) FROM '{}'",
            path.display()
        ),
    )
    .await;
    assert_eq!(
        stored,
        int(&ctx, "SELECT approx_count_distinct(s) FROM t").await
    );
    let info = rows(
        &ctx,
        &format!(
            "SELECT sketch_info(st)['family'], sketch_info(st)['version'] FROM '{}' LIMIT 1",
            path.display()
        ),
    )
    .await;
    assert_eq!(info[0], vec!["hll".to_string(), "1".to_string()]);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn sketch_info_describes_states() {
    let ctx = ctx_with(SETUP).await;
    let got = rows(&ctx, "SELECT i['family'], i['parameters'], i['mode'], i['bytes'], i['items'] FROM (SELECT sketch_info(hll_sketch(x, 12)) AS i FROM t)").await;
    assert_eq!(got[0][..3], ["hll", "p=12", "dense"]);
    assert_eq!(got[0][3], (20 + 1 + 9 + 3072).to_string());
    assert_eq!(got[0][4], "100000");
    let small = rows(&ctx, "SELECT i['mode'], i['items'] FROM (SELECT sketch_info(hll_sketch(x)) AS i FROM t WHERE x < 10)").await;
    assert_eq!(small[0], ["sparse", "200"]);
}
