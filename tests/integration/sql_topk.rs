//! SQL-level tests of the Top-K functions.

use crate::common::*;

const SETUP: &str = "CREATE EXTERNAL TABLE events STORED AS PARQUET LOCATION 'data/events.parquet'";

/// (item, count, lower, upper) rows of a top list.
async fn top(
    ctx: &datafusion::prelude::SessionContext,
    list_sql: &str,
) -> Vec<(String, i64, i64, i64)> {
    let sql = format!(
        "SELECT t['item'], t['count'], t['lower'], t['upper'] FROM (SELECT unnest(({list_sql})) AS t)"
    );
    rows(ctx, &sql)
        .await
        .into_iter()
        .map(|r| {
            (
                r[0].clone(),
                r[1].parse().unwrap(),
                r[2].parse().unwrap(),
                r[3].parse().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn top_items_match_exact_counts_within_bounds() {
    let ctx = ctx_with(SETUP).await;
    let exact = rows(&ctx, "SELECT entity, count(*) FROM events GROUP BY entity ORDER BY count(*) DESC, entity LIMIT 10").await;
    let got = top(&ctx, "SELECT approx_topk(entity, 10) FROM events").await;
    assert_eq!(got.len(), 10);
    for ((item, count, lower, upper), e) in got.iter().zip(&exact) {
        let truth: i64 = e[1].parse().unwrap();
        let truth_of_item = int(
            &ctx,
            &format!("SELECT count(*) FROM events WHERE entity = '{item}'"),
        )
        .await;
        assert!(
            *lower <= truth_of_item && truth_of_item <= *upper,
            "{item}: {truth_of_item} not in [{lower}, {upper}]"
        );
        assert_eq!(count, lower);
        // The top 3 are far apart here: they are the true top 3, in order.
        if exact
            .iter()
            .position(|r| &r[0] == item)
            .is_some_and(|p| p < 3)
        {
            assert_eq!(item, &e[0]);
            assert!(truth == truth_of_item);
        }
    }
    let types = top(&ctx, "SELECT approx_topk(event_type, 12) FROM events").await;
    let exact_types = rows(
        &ctx,
        "SELECT event_type, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC",
    )
    .await;
    for (t, e) in types.iter().zip(&exact_types) {
        assert_eq!(
            (t.0.clone(), t.1.to_string()),
            (e[0].clone(), e[1].clone()),
            "12 items fit: exact"
        );
    }
}

#[tokio::test]
async fn merged_states_keep_valid_bounds() {
    let ctx = ctx_with(SETUP).await;
    let merged = top(&ctx, "SELECT topk_items(topk_merge(st), 5) FROM (SELECT date_bin(INTERVAL '1 minute', ts) AS m, topk_sketch(entity) AS st FROM events GROUP BY 1)").await;
    assert_eq!(merged.len(), 5);
    for (item, _, lower, upper) in &merged {
        let truth = int(
            &ctx,
            &format!("SELECT count(*) FROM events WHERE entity = '{item}'"),
        )
        .await;
        assert!(
            *lower <= truth && truth <= *upper,
            "{item}: {truth} not in [{lower}, {upper}]"
        );
    }
    assert_eq!(merged[0].0, "entity_0");
}

#[tokio::test]
async fn items_come_back_in_the_input_type() {
    let ctx = ctx_with(SETUP).await;
    let got = rows(&ctx, "SELECT arrow_typeof(approx_topk(CAST(substr(entity, 8) AS INT), 2)), arrow_typeof(approx_topk(arrow_cast(event_type, 'Dictionary(Int32, Utf8)'), 2)) FROM events LIMIT 1").await;
    assert!(got[0][0].contains("Int32"), "{}", got[0][0]);
    assert!(
        got[0][1].contains("Utf8") && !got[0][1].contains("Dictionary"),
        "{}",
        got[0][1]
    );
    let ints = top(
        &ctx,
        "SELECT approx_topk(CAST(substr(entity, 8) AS INT), 1) FROM events",
    )
    .await;
    assert_eq!(ints[0].0, "0");
    let weighted = top(
        &ctx,
        "SELECT approx_topk_weighted(event_type, CAST(value * 100 AS BIGINT), 1) FROM events",
    )
    .await;
    let exact = rows(&ctx, "SELECT event_type, sum(CAST(value * 100 AS BIGINT)) AS w FROM events GROUP BY 1 ORDER BY w DESC LIMIT 1").await;
    assert_eq!(
        (weighted[0].0.clone(), weighted[0].1.to_string()),
        (exact[0][0].clone(), exact[0][1].clone())
    );
}

#[tokio::test]
async fn nulls_empty_input_and_bad_input() {
    let ctx = ctx_with(SETUP).await;
    assert_eq!(
        value(
            &ctx,
            "SELECT approx_topk(entity, 3) FROM events WHERE value < 0"
        )
        .await,
        "[]"
    );
    assert_eq!(value(&ctx, "SELECT topk_items(NULL)").await, "NULL");
    assert_eq!(value(&ctx, "SELECT topk_merge(st) IS NULL FROM (SELECT topk_sketch(entity) AS st FROM events WHERE value < 0 GROUP BY event_type)").await, "true");
    let nulls = top(&ctx, "SELECT approx_topk(CASE WHEN event_type = 'click' THEN NULL ELSE event_type END, 2) FROM events").await;
    assert_eq!(nulls[1].0, "scroll");
    for (sql, needle) in [
        (
            "SELECT approx_topk(entity, 0) FROM events",
            "approx_topk: k must be between 1 and 16384, got 0",
        ),
        (
            "SELECT approx_topk(entity, 'a') FROM events",
            "approx_topk: k must be an integer literal",
        ),
        (
            "SELECT approx_topk(entity) FROM events",
            "approx_topk takes",
        ),
        (
            "SELECT topk_merge(entity) FROM events",
            "topk_merge expects a sketch state",
        ),
        (
            "SELECT topk_items(hll_sketch(entity)) FROM events",
            "expected a topk state, got a hll state",
        ),
        ("SELECT topk_items(X'00')", "truncated sketch state"),
        (
            "SELECT approx_topk_weighted(entity, CAST(value * 100 AS BIGINT) - 50, 3) FROM events",
            "weights must not be negative",
        ),
    ] {
        let e = error(&ctx, sql).await;
        assert!(
            e.contains(needle),
            "{sql}\n  error: {e}\n  expected: {needle}"
        );
    }
    let e = error(&ctx, "SELECT topk_merge(st) FROM (SELECT topk_sketch(entity, 10) AS st FROM events UNION ALL SELECT topk_sketch(entity, 100) FROM events)").await;
    assert!(e.contains("topk_merge") && e.contains("capacity"), "{e}");
}
