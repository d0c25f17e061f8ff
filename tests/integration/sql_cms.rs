//! SQL-level tests of the Count-Min functions.

use crate::common::*;

const SETUP: &str = "
CREATE TABLE t AS SELECT
    CAST(value % 7 AS INT) AS g,
    CAST(value % 1000 AS INT) AS x32,
    CAST(value % 3 AS BIGINT) AS w,
    CASE WHEN value % 10 = 0 THEN NULL ELSE 'k' || CAST(value % 97 AS VARCHAR) END AS s,
    arrow_cast(to_timestamp_seconds(1767225600 + value), 'Timestamp(Microsecond, None)') AS ts
FROM generate_series(0, 99999) AS gs(value);";

/// (item, exact, estimate) for every distinct `s`.
async fn estimates(
    ctx: &datafusion::prelude::SessionContext,
    sketch: &str,
) -> Vec<(String, i64, i64)> {
    let sql = format!(
        "SELECT e.s, e.n, cms_estimate(k.st, e.s) FROM (SELECT s, count(*) AS n FROM t WHERE s IS NOT NULL GROUP BY s) e
         CROSS JOIN (SELECT {sketch} AS st FROM t) k ORDER BY e.s"
    );
    rows(ctx, &sql)
        .await
        .into_iter()
        .map(|r| (r[0].clone(), r[1].parse().unwrap(), r[2].parse().unwrap()))
        .collect()
}

#[tokio::test]
async fn never_under_estimates_and_stays_within_epsilon_n() {
    let ctx = ctx_with(SETUP).await;
    let total = int(&ctx, "SELECT count(s) FROM t").await;
    assert_eq!(
        int(&ctx, "SELECT cms_total(cms_sketch(s)) FROM t").await,
        total
    );
    for (sketch, epsilon) in [
        ("cms_sketch(s)", 0.001),
        ("cms_sketch(s, 0.01, 0.05)", 0.01),
        ("cms_sketch(s, 0.2, 0.5)", 0.2),
    ] {
        let got = estimates(&ctx, sketch).await;
        assert_eq!(got.len(), 97);
        let bound = (epsilon * total as f64) as i64;
        for (item, exact, est) in &got {
            assert!(
                est >= exact,
                "{sketch}: {item} under-estimated {est} < {exact}"
            );
            assert!(
                est - exact <= bound.max(1) * 2,
                "{sketch}: {item} {est} vs {exact}"
            );
        }
    }
    // At the defaults, 97 items over 2,719 counters a row do not all collide in any row.
    let got = estimates(&ctx, "cms_sketch(s)").await;
    assert!(got.iter().all(|(_, exact, est)| exact == est));
}

#[tokio::test]
async fn literals_probe_by_value_whatever_the_column_type() {
    let ctx = ctx_with(SETUP).await;
    let exact = int(&ctx, "SELECT count(*) FROM t WHERE x32 = 42").await;
    for probe in [
        "42",
        "CAST(42 AS TINYINT)",
        "42.0",
        "arrow_cast(42, 'UInt64')",
    ] {
        let est = int(
            &ctx,
            &format!("SELECT cms_estimate(cms_sketch(x32, 0.0001, 0.01), {probe}) FROM t"),
        )
        .await;
        assert_eq!(est, exact, "{probe}");
    }
    let dict = int(
        &ctx,
        "SELECT cms_estimate(cms_sketch(arrow_cast(s, 'Dictionary(Int32, Utf8)')), 'k5') FROM t",
    )
    .await;
    assert_eq!(
        dict,
        int(&ctx, "SELECT count(*) FROM t WHERE s = 'k5'").await
    );
}

#[tokio::test]
async fn weighted_sketches_count_weights() {
    let ctx = ctx_with(SETUP).await;
    let est = int(
        &ctx,
        "SELECT cms_estimate(cms_sketch_weighted(s, w), 'k7') FROM t",
    )
    .await;
    let exact = int(&ctx, "SELECT sum(w) FROM t WHERE s = 'k7'").await;
    assert_eq!(est, exact);
    assert_eq!(
        int(&ctx, "SELECT cms_total(cms_sketch_weighted(s, w)) FROM t").await,
        int(&ctx, "SELECT sum(w) FROM t WHERE s IS NOT NULL").await
    );
    let e = error(&ctx, "SELECT cms_sketch_weighted(s, w - 5) FROM t").await;
    assert!(
        e.contains("cms_sketch_weighted: weights must not be negative"),
        "{e}"
    );
    let e = error(&ctx, "SELECT cms_sketch_weighted(s, 1.5) FROM t").await;
    assert!(e.contains("weight must be an integer"), "{e}");
}

#[tokio::test]
async fn group_by_merge_and_skip_partial_agree() {
    let ctx = ctx_with(SETUP).await;
    let direct = rows(&ctx, "SELECT g, cms_estimate(cms_sketch(s), 'k3'), cms_total(cms_sketch(s)) FROM t GROUP BY g ORDER BY g").await;
    let merged = rows(
        &ctx,
        "SELECT g, cms_estimate(cms_merge(st), 'k3'), cms_total(cms_merge(st)) FROM
        (SELECT g, x32, cms_sketch(s) AS st FROM t GROUP BY g, x32) GROUP BY g ORDER BY g",
    )
    .await;
    assert_eq!(direct, merged);
    skip_partial_aggregation(&ctx).await;
    let skipped = rows(
        &ctx,
        "SELECT g, cms_estimate(cms_merge(st), 'k3'), cms_total(cms_merge(st)) FROM
        (SELECT g, x32, cms_sketch(s) AS st FROM t GROUP BY g, x32) GROUP BY g ORDER BY g",
    )
    .await;
    assert_eq!(skipped, direct);
}

#[tokio::test]
async fn windows_and_sliding_frames() {
    let ctx = ctx_with(SETUP).await;
    rows(&ctx, "CREATE TABLE per_minute AS SELECT date_bin(INTERVAL '1 minute', ts) AS minute, cms_sketch(s) AS st FROM t GROUP BY 1").await;
    let sliding = rows(&ctx, "SELECT minute, cms_estimate(cms_merge(st) OVER (ORDER BY minute ROWS BETWEEN 4 PRECEDING AND CURRENT ROW), 'k11'),
                                  cms_total(cms_merge(st) OVER (ORDER BY minute ROWS BETWEEN 4 PRECEDING AND CURRENT ROW))
                           FROM per_minute ORDER BY minute").await;
    let direct = rows(&ctx, "SELECT m.minute, sum(CASE WHEN t.s = 'k11' THEN 1 ELSE 0 END), count(t.s)
                           FROM per_minute m JOIN t ON t.ts >= m.minute - INTERVAL '4 minutes' AND t.ts < m.minute + INTERVAL '1 minute'
                           GROUP BY m.minute ORDER BY m.minute").await;
    assert_eq!(sliding.len(), direct.len());
    assert_eq!(
        sliding, direct,
        "the items form is exact here, so the frame sums match"
    );
    // Raw values slide too.
    let raw = rows(&ctx, "SELECT cms_total(cms_sketch(s) OVER (ORDER BY ts ROWS BETWEEN 9 PRECEDING AND CURRENT ROW)) FROM t ORDER BY ts LIMIT 12").await;
    let counts: Vec<String> = raw.into_iter().map(|r| r[0].clone()).collect();
    // Row 0 and row 10 are NULL: the frame of ten rows holds nine values from row 9 on.
    assert_eq!(
        counts,
        ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "9", "9"]
    );
}

#[tokio::test]
async fn nulls_empty_input_and_bad_input() {
    let ctx = ctx_with(SETUP).await;
    assert_eq!(
        int(&ctx, "SELECT cms_total(cms_sketch(s)) FROM t WHERE g < 0").await,
        0
    );
    assert_eq!(value(&ctx, "SELECT cms_merge(st) IS NULL FROM (SELECT cms_sketch(s) AS st FROM t WHERE g < 0 GROUP BY g)").await, "true");
    assert_eq!(
        value(&ctx, "SELECT cms_estimate(cms_sketch(s), NULL) FROM t").await,
        "NULL"
    );
    assert_eq!(value(&ctx, "SELECT cms_estimate(NULL, 'a')").await, "NULL");
    assert_eq!(
        int(&ctx, "SELECT cms_estimate(cms_sketch(s), 'absent') FROM t").await,
        0
    );
    for (sql, needle) in [
        (
            "SELECT cms_sketch(s, 0) FROM t",
            "cms_sketch: epsilon must be strictly between 0 and 1, got 0",
        ),
        (
            "SELECT cms_sketch(s, 0.01, 1.5) FROM t",
            "cms_sketch: delta must be strictly between 0 and 1, got 1.5",
        ),
        (
            "SELECT cms_sketch(s, w) FROM t",
            "cms_sketch: epsilon must be a constant",
        ),
        ("SELECT cms_sketch(s, 0.00000001, 0.01) FROM t", "counters"),
        (
            "SELECT cms_merge(s) FROM t",
            "cms_merge expects a sketch state",
        ),
        (
            "SELECT cms_estimate(hll_sketch(s), 'a') FROM t",
            "expected a cms state, got a hll state",
        ),
        ("SELECT cms_total(X'00')", "truncated sketch state"),
        (
            "SELECT cms_estimate(cms_sketch(s), make_array(1)) FROM t",
            "cms_estimate does not support values of type List",
        ),
    ] {
        let e = error(&ctx, sql).await;
        assert!(
            e.contains(needle),
            "{sql}\n  error: {e}\n  expected: {needle}"
        );
    }
    let e = error(&ctx, "SELECT cms_merge(st) FROM (SELECT cms_sketch(s) AS st FROM t UNION ALL SELECT cms_sketch(s, 0.01, 0.01) FROM t)").await;
    assert!(e.contains("cms_merge") && e.contains("cannot merge"), "{e}");
    let info = rows(&ctx, "SELECT i['family'], i['parameters'], i['mode'], i['items'] FROM (SELECT sketch_info(cms_sketch(s)) AS i FROM t)").await;
    // 97 distinct values stay a short list of (hash, weight) pairs; 100,000 need the table.
    assert_eq!(info[0], ["cms", "width=2719, depth=5", "items", "90000"]);
    let wide = rows(&ctx, "SELECT sketch_info(cms_sketch(ts))['mode'] FROM t").await;
    assert_eq!(wide[0][0], "dense");
    let small = rows(
        &ctx,
        "SELECT sketch_info(cms_sketch(s))['mode'] FROM t WHERE g = 0 AND x32 < 50",
    )
    .await;
    assert_eq!(small[0][0], "items");
}
