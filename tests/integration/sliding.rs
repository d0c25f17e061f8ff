//! Every aggregate in moving window frames, checked against recomputing each frame from its
//! rows with a GROUP BY: the `_merge` aggregates over per-pane states (every one of them, by
//! name), and the value aggregates over raw rows.

use crate::common::*;
use datafusion::datasource::MemTable;
use datafusion::execution::memory_pool::MemoryPool;
use datafusion::prelude::SessionContext;
use std::sync::Arc;

/// 30 panes of 20 rows; 997 possible values, so every frame's Top-K counters are exact.
const SETUP: &str = "
CREATE TABLE t AS SELECT
    value AS i,
    CAST(value / 20 AS BIGINT) AS p,
    CAST((value * 7919) % 997 AS BIGINT) AS x,
    CAST((value * 7919) % 997 AS DOUBLE) / 10.0 AS v
FROM generate_series(0, 599);
CREATE TABLE panes AS SELECT p,
    hll_sketch(x) AS hll, cms_sketch(x) AS cms, topk_sketch(x) AS topk,
    bloom_sketch(x, 1000, 0.01) AS bloom, minhash_sketch(x) AS minhash,
    kll_sketch(v) AS kll, dd_sketch(v) AS dd,
    ds_hll_sketch(x) AS ds_hll, theta_sketch(x) AS theta
FROM t GROUP BY p;
CREATE TABLE frames AS SELECT DISTINCT p FROM t;
";

/// A merge aggregate, the column of per-pane states it merges, how its result is read, and the
/// aggregate that sketches raw rows the same way.
struct MergeCase {
    merge: &'static str,
    column: &'static str,
    /// `{}` stands for the merged state.
    probe: &'static str,
    sketch: &'static str,
}

const MERGES: &[MergeCase] = &[
    MergeCase {
        merge: "hll_merge",
        column: "hll",
        probe: "hll_estimate({})",
        sketch: "hll_sketch(t.x)",
    },
    MergeCase {
        merge: "cms_merge",
        column: "cms",
        probe: "cms_estimate({}, 5) * 1000000 + cms_total({})",
        sketch: "cms_sketch(t.x)",
    },
    MergeCase {
        merge: "topk_merge",
        column: "topk",
        probe: "topk_items({}, 3)",
        sketch: "topk_sketch(t.x)",
    },
    MergeCase {
        merge: "bloom_merge",
        column: "bloom",
        probe: "sketch_info({})['details']",
        sketch: "bloom_sketch(t.x, 1000, 0.01)",
    },
    MergeCase {
        merge: "minhash_merge",
        column: "minhash",
        probe: "sketch_info({})['details']",
        sketch: "minhash_sketch(t.x)",
    },
    MergeCase {
        merge: "kll_merge",
        column: "kll",
        probe: "kll_quantiles({}, [0.1, 0.5, 0.9])",
        sketch: "kll_sketch(t.v)",
    },
    MergeCase {
        merge: "ds_hll_merge",
        column: "ds_hll",
        probe: "ds_hll_estimate({})",
        sketch: "ds_hll_sketch(t.x)",
    },
    MergeCase {
        merge: "theta_union",
        column: "theta",
        probe: "theta_estimate({})",
        sketch: "theta_sketch(t.x)",
    },
    MergeCase {
        merge: "dd_merge",
        column: "dd",
        probe: "dd_quantile({}, 0.5) * 1000 + dd_quantile({}, 0.99)",
        sketch: "dd_sketch(t.v)",
    },
];

#[tokio::test]
async fn every_merge_slides_as_recomputed() {
    let ctx = ctx_with(SETUP).await;
    let merges: Vec<String> = hazy::udf::aggregate_functions()
        .iter()
        .map(|f| f.name().to_string())
        .filter(|n| n.ends_with("_merge"))
        .collect();
    for name in &merges {
        assert!(
            MERGES.iter().any(|c| c.merge == name),
            "{name} has no moving-frame case here"
        );
    }
    for case in MERGES {
        let framed = format!(
            "{}(panes.{}) OVER (ORDER BY p ROWS BETWEEN 3 PRECEDING AND CURRENT ROW)",
            case.merge, case.column
        );
        let sliding = rows(
            &ctx,
            &format!(
                "SELECT p, {} FROM panes ORDER BY p",
                case.probe.replace("{}", &framed)
            ),
        )
        .await;
        let recomputed = rows(
            &ctx,
            &format!(
                "SELECT f.p, {} FROM frames f JOIN t ON t.p BETWEEN f.p - 3 AND f.p \
                 GROUP BY f.p ORDER BY f.p",
                case.probe.replace("{}", case.sketch)
            ),
        )
        .await;
        assert_eq!(sliding.len(), 30, "{}", case.merge);
        assert_eq!(sliding, recomputed, "{} in a moving frame", case.merge);
    }
}

#[tokio::test]
async fn value_aggregates_slide_as_recomputed() {
    let ctx = ctx_with(SETUP).await;
    // (the aggregate over the frame's rows, how its result is read)
    let cases = [
        ("hll_sketch(x)", "hll_estimate({})"),
        ("approx_count_distinct(x)", "{}"),
        ("cms_sketch(x)", "cms_estimate({}, 5)"),
        ("topk_sketch(x, 3)", "topk_items({}, 3)"),
        ("approx_topk(x, 3)", "{}"),
        ("kll_sketch(v)", "kll_quantile({}, 0.5)"),
        ("approx_quantile(v, 0.9)", "{}"),
        ("minhash_sketch(x)", "sketch_info({})['details']"),
        ("ds_hll_sketch(x)", "ds_hll_estimate({})"),
        ("theta_sketch(x)", "theta_estimate({})"),
    ];
    for (aggregate, probe) in cases {
        let framed =
            format!("{aggregate} OVER (ORDER BY i ROWS BETWEEN 9 PRECEDING AND CURRENT ROW)");
        let sliding = rows(
            &ctx,
            &format!(
                "SELECT i, {} FROM t ORDER BY i",
                probe.replace("{}", &framed)
            ),
        )
        .await;
        let inner = aggregate.replace("(x", "(w.x").replace("(v", "(w.v");
        let recomputed = rows(
            &ctx,
            &format!(
                "SELECT t.i, {} FROM t JOIN t AS w ON w.i BETWEEN t.i - 9 AND t.i \
                 GROUP BY t.i ORDER BY t.i",
                probe.replace("{}", &inner)
            ),
        )
        .await;
        assert_eq!(sliding.len(), 600, "{aggregate}");
        assert_eq!(sliding, recomputed, "{aggregate} in a moving frame");
    }
}

/// Top-K over frames wider than its counters: merged in a different order than a GROUP BY,
/// the counts may differ, but every true count stays within the reported bounds.
#[tokio::test]
async fn topk_bounds_hold_in_wide_frames() {
    let ctx = ctx();
    rows(
        &ctx,
        "CREATE TABLE z AS SELECT value AS i,
             CAST(CASE WHEN value % 3 = 0 THEN value % 7 ELSE (value * 7919) % 5003 END AS BIGINT) AS x
         FROM generate_series(0, 19999)",
    )
    .await;
    let framed = rows(
        &ctx,
        "SELECT i, e['item'], e['lower'], e['upper'] FROM (
             SELECT i, unnest(approx_topk(x, 5) OVER (ORDER BY i ROWS BETWEEN 4999 PRECEDING AND CURRENT ROW)) AS e
             FROM z) WHERE i % 997 = 0",
    )
    .await;
    assert!(!framed.is_empty());
    for row in framed {
        let (i, item, lower, upper) = (
            row[0].parse::<i64>().unwrap(),
            &row[1],
            row[2].parse::<i64>().unwrap(),
            row[3].parse::<i64>().unwrap(),
        );
        let exact = int(
            &ctx,
            &format!("SELECT count(*) FROM z WHERE i BETWEEN {i} - 4999 AND {i} AND x = {item}"),
        )
        .await;
        assert!(
            lower <= exact && exact <= upper,
            "row {i}, item {item}: {exact} outside [{lower}, {upper}]"
        );
    }
}

/// A frame with no rows (the first row of `1 PRECEDING` frames): NULL for aggregates with no
/// value over nothing, 0 distinct values for approx_count_distinct; never an error.
#[tokio::test]
async fn empty_frames_give_null_or_zero() {
    let ctx = ctx_with(SETUP).await;
    for (aggregate, first) in [
        ("hll_sketch(x)", "NULL"),
        ("approx_count_distinct(x)", "0"),
        ("cms_sketch(x)", "NULL"),
        ("topk_sketch(x)", "NULL"),
        ("approx_topk(x, 3)", "NULL"),
        ("bloom_sketch(x)", "NULL"),
        ("minhash_sketch(x)", "NULL"),
        ("kll_sketch(v)", "NULL"),
        ("dd_sketch(v)", "NULL"),
        ("approx_quantile(v, 0.5)", "NULL"),
        ("ds_hll_sketch(x)", "NULL"),
        ("theta_sketch(x)", "NULL"),
    ] {
        let sql = format!(
            "SELECT {aggregate} OVER (ORDER BY i ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) \
             IS NULL, {aggregate} OVER (ORDER BY i ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) \
             FROM t ORDER BY i LIMIT 2"
        );
        let r = rows(&ctx, &sql).await;
        let expected_null = first == "NULL";
        assert_eq!(r[0][0], expected_null.to_string(), "{aggregate}: {r:?}");
        if !expected_null {
            assert_eq!(r[0][1], first, "{aggregate}");
        }
        assert_eq!(
            r[1][0], "false",
            "{aggregate}: the second frame holds a row"
        );
    }
}

/// `hazy sql`'s session with a memory pool of `limit` bytes (Hazy's functions bound to it),
/// and the pool.
fn limited(limit: usize) -> (SessionContext, Arc<dyn MemoryPool>) {
    let options = hazy::cli::SessionOptions {
        memory_limit: Some(limit),
        spill_dir: None,
    };
    let ctx = hazy::cli::session_with(&options).unwrap();
    let pool = ctx.runtime_env().memory_pool.clone();
    (ctx, pool)
}

/// Issue 21: DataFusion's window operators never ask an accumulator for its size, so a moving
/// frame's sketches (one a row, and the unions of their suffixes: here 20,000 HyperLogLogs,
/// most of them dense) grew past any memory limit. They are now reserved as they are made:
/// under the limit the query fails naming the aggregate, with room it gives the unbound answer,
/// and the reservation goes with the query.
#[tokio::test]
async fn a_moving_frame_holds_its_sketches_within_the_memory_limit() {
    let sql = "SELECT max(c) FROM (SELECT approx_count_distinct(value) OVER \
        (ORDER BY value ROWS BETWEEN 20000 PRECEDING AND CURRENT ROW) AS c \
        FROM generate_series(1, 50000))";
    let (small, pool) = limited(32 << 20);
    let message = error(&small, sql).await;
    assert!(
        message.contains("Resources exhausted: approx_count_distinct: its sketches need"),
        "{message}"
    );
    assert_eq!(pool.reserved(), 0);

    let want = value(&ctx(), sql).await;
    let (roomy, pool) = limited(2 << 30);
    assert_eq!(value(&roomy, sql).await, want);
    assert_eq!(pool.reserved(), 0);
}

/// A frame of large merged states (Top-K at capacity 4,096) is reserved too, a piece of rows at
/// a time, so one batch of them is not decoded in full before the pool can refuse.
#[tokio::test]
async fn a_moving_frame_of_large_states_stops_at_the_limit() {
    let states = ctx()
        .sql(
            "SELECT g, topk_sketch(value, 4096) AS k FROM \
             (SELECT value, value % 300 AS g FROM generate_series(1, 1500000)) GROUP BY g",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let table = MemTable::try_new(states[0].schema(), vec![states]).unwrap();
    let sql = "SELECT max(cardinality(topk_items(m))) FROM (SELECT topk_merge(k) OVER \
        (ROWS BETWEEN 299 PRECEDING AND CURRENT ROW) AS m FROM s)";
    let (small, pool) = limited(24 << 20);
    small.register_table("s", Arc::new(table)).unwrap();
    let message = error(&small, sql).await;
    assert!(
        message.contains("Resources exhausted: topk_merge: "),
        "{message}"
    );
    assert_eq!(pool.reserved(), 0);
}
