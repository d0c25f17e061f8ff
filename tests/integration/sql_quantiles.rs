//! SQL-level tests of the quantile functions (KLL and DDSketch).

use crate::common::*;

/// `x` is a permutation of 0..100,000 (so a value is its own rank), `y` spans five orders of
/// magnitude, `g` splits the rows into 10 groups.
const SETUP: &str = "
CREATE TABLE t AS SELECT
    CAST(value % 10 AS INT) AS g,
    CAST((value * 7919) % 100000 AS BIGINT) AS x,
    power(10.0, ((value * 7919) % 100000) / 20000.0) AS y,
    CASE WHEN value % 10 = 0 THEN NULL ELSE CAST(value % 1000 AS DOUBLE) END AS n,
    arrow_cast(to_timestamp_seconds(1767225600 + value), 'Timestamp(Millisecond, Some(\"UTC\"))') AS ts
FROM generate_series(0, 99999) AS gs(value);";

const N: f64 = 100_000.0;
const QS: [f64; 7] = [0.0, 0.01, 0.1, 0.5, 0.9, 0.99, 1.0];
/// KLL's rank error at k = 200 with 99% confidence.
const RANK_ERROR: f64 = 0.0133;

/// The one-shots aim their precision at the quantiles asked for: over 100,000 rows in four
/// partitions (merged partial states), the answer is the exact quantile or a few values off,
/// where KLL alone is off by hundreds.
#[tokio::test]
async fn approx_quantile_is_near_exact_at_the_quantile_asked_for() {
    let ctx = ctx_with(SETUP).await;
    rows(&ctx, "SET datafusion.execution.target_partitions = 4").await;
    for q in [0.001, 0.1, 0.5, 0.9, 0.99, 0.999] {
        // x is a permutation of 0..N: the inclusive q-quantile is ceil(q N) - 1.
        let exact = (q * N).ceil() - 1.0;
        let got = float(&ctx, &format!("SELECT approx_quantile(x, {q}) FROM t")).await;
        assert!((got - exact).abs() <= 2.0, "q={q}: {got} against {exact}");
        // generate_series hands each partition a sorted range: every partial state aims at
        // its own q-quantile, and the merge finds the global one between coarser centroids.
        let sorted = float(
            &ctx,
            &format!(
                "SELECT approx_quantile(value, {q}) FROM generate_series(0, 99999) AS s(value)"
            ),
        )
        .await;
        println!("q={q}: {got}, sorted ranges {sorted}, exact {exact}");
        // The final aggregate merges the four partial states in the order they arrive, which
        // thread timing decides: 0 to 120 ranks off seen (0.12%), against the KLL guard's
        // 1,330; the bound leaves room for orders not seen yet.
        assert!(
            (sorted - exact).abs() <= 200.0,
            "sorted q={q}: {sorted} against {exact}"
        );
    }
    let list = rows(
        &ctx,
        "SELECT approx_quantiles(x, [0.25, 0.75, 0.95]) FROM t",
    )
    .await;
    let values: Vec<f64> = list[0][0]
        .trim_matches(|c| c == '[' || c == ']')
        .split(", ")
        .map(|v| v.parse().unwrap())
        .collect();
    for (got, q) in values.iter().zip([0.25, 0.75, 0.95]) {
        let exact = (q * N).ceil() - 1.0;
        assert!(
            (got - exact).abs() <= 2.0,
            "list q={q}: {got} against {exact}"
        );
    }
    let kll = float(&ctx, "SELECT kll_quantile(kll_sketch(x), 0.99) FROM t").await;
    println!("p99: KLL {kll}, approx_quantile within 2 of 98999");
}

#[tokio::test]
async fn approx_quantile_is_within_the_rank_error() {
    let ctx = ctx_with(SETUP).await;
    for q in QS {
        let one_shot = float(&ctx, &format!("SELECT approx_quantile(x, {q}) FROM t")).await;
        let from_state = float(
            &ctx,
            &format!("SELECT kll_quantile(kll_sketch(x), {q}) FROM t"),
        )
        .await;
        // Merging 10 partial states keeps the guarantee.
        let merged = float(
            &ctx,
            &format!(
                "SELECT kll_quantile(kll_merge(s), {q}) FROM (SELECT g, kll_sketch(x) AS s FROM t GROUP BY g)"
            ),
        )
        .await;
        for (how, got) in [
            ("one-shot", one_shot),
            ("state", from_state),
            ("merged", merged),
        ] {
            // x is a permutation of 0..N, so the value is its rank.
            let error = (got / (N - 1.0) - q).abs();
            assert!(
                error <= RANK_ERROR,
                "{how} q={q}: {got} (rank error {error})"
            );
        }
    }
    assert_eq!(
        float(&ctx, "SELECT approx_quantile(x, 0) FROM t").await,
        0.0
    );
    assert_eq!(
        float(&ctx, "SELECT approx_quantile(x, 1) FROM t").await,
        N - 1.0
    );
    let ranks = rows(
        &ctx,
        "SELECT kll_rank(s, 25000), kll_rank(s, -1), kll_rank(s, 1e9) FROM (SELECT kll_sketch(x) AS s FROM t)",
    )
    .await;
    let rank: f64 = ranks[0][0].parse().unwrap();
    assert!((rank - 0.25).abs() <= RANK_ERROR, "{rank}");
    assert_eq!(ranks[0][1..], ["0.0", "1.0"]);
}

#[tokio::test]
async fn quantiles_come_back_in_the_input_type() {
    let ctx = ctx_with(SETUP).await;
    let typed = rows(
        &ctx,
        "SELECT arrow_typeof(approx_quantile(x, 0.5)), arrow_typeof(approx_quantile(xi, 0.5)),
                arrow_typeof(approx_quantile(ts, 0.5)), arrow_typeof(approx_quantile(xd, 0.5)),
                arrow_typeof(approx_quantiles(y, [0.5, 0.9]))
         FROM (SELECT x, CAST(x AS INT) AS xi, CAST(x AS DECIMAL(10, 2)) AS xd, ts, y FROM t)",
    )
    .await;
    assert_eq!(
        typed[0],
        [
            "Int64",
            "Int32",
            "Timestamp(ms, \"UTC\")",
            "Decimal128(10, 2)",
            "List(Float64)"
        ]
    );
    // The median instant lies within 1.33% of the 100,000-second span from the true one.
    let median = int(
        &ctx,
        "SELECT CAST(to_unixtime(approx_quantile(ts, 0.5)) AS BIGINT) - 1767225600 FROM t",
    )
    .await;
    assert!((median - 50_000).abs() <= 1_330, "{median}");
    let list = rows(&ctx, "SELECT approx_quantiles(x, [0.1, 0.5, 0.99]) FROM t").await;
    let values: Vec<f64> = list[0][0]
        .trim_matches(['[', ']'])
        .split(", ")
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(values.len(), 3);
    for (v, q) in values.iter().zip([0.1, 0.5, 0.99]) {
        assert!((v / (N - 1.0) - q).abs() <= RANK_ERROR, "{list:?}");
    }
    let dictionary = float(
        &ctx,
        "SELECT approx_quantile(arrow_cast(n, 'Dictionary(Int32, Float64)'), 1.0) FROM t",
    )
    .await;
    assert_eq!(dictionary, 999.0);
}

#[tokio::test]
async fn dd_quantiles_are_within_relative_error() {
    let ctx = ctx_with(SETUP).await;
    let mut sorted: Vec<f64> = rows(&ctx, "SELECT y FROM t ORDER BY y")
        .await
        .into_iter()
        .map(|r| r[0].parse().unwrap())
        .collect();
    sorted.sort_by(f64::total_cmp);
    for (state, from, alpha) in [
        ("dd_sketch(y)", "t", 0.01),
        ("dd_sketch(y, 0.001, 8192)", "t", 0.001),
        (
            "dd_merge(s)",
            "(SELECT g, dd_sketch(y) AS s FROM t GROUP BY g)",
            0.01,
        ),
    ] {
        for q in QS {
            let sql = format!("SELECT dd_quantile({state}, {q}) FROM {from}");
            let got = float(&ctx, &sql).await;
            let truth = sorted[(q * (sorted.len() - 1) as f64).floor() as usize];
            let error = (got - truth).abs() / truth;
            assert!(error <= alpha + 1e-12, "{sql}: {got} vs {truth} ({error})");
        }
    }
    // At alpha 0.1%, 2,048 buckets cover 1.8 of y's 5 decades: the lowest buckets collapse,
    // the high quantiles keep the guarantee, and sketch_info says so.
    let collapsed = rows(
        &ctx,
        "SELECT dd_quantile(s, 0.99), sketch_info(s)['mode'] FROM (SELECT dd_sketch(y, 0.001) AS s FROM t)",
    )
    .await;
    let p99: f64 = collapsed[0][0].parse().unwrap();
    let truth = sorted[(0.99 * (sorted.len() - 1) as f64) as usize];
    assert!(
        (p99 - truth).abs() / truth <= 0.001 + 1e-12,
        "{p99} vs {truth}"
    );
    assert_eq!(collapsed[0][1], "collapsed");
    // Zero and negative values keep their sign.
    let signed = rows(
        &ctx,
        "SELECT dd_quantile(s, 0), dd_quantile(s, 0.5), dd_quantile(s, 1) FROM (SELECT dd_sketch(CAST(x AS DOUBLE) - 50000) AS s FROM t)",
    )
    .await;
    assert_eq!(signed[0][0], "-50000.0");
    let mid: f64 = signed[0][1].parse().unwrap();
    assert!(mid.abs() <= 1.0, "{signed:?}");
    assert_eq!(signed[0][2], "49999.0");
}

#[tokio::test]
async fn sliding_frames_and_windows() {
    let ctx = ctx_with(SETUP).await;
    // Per-group sketches over a moving frame of 3 groups; each group holds every 10th x.
    let sliding = rows(
        &ctx,
        "WITH per AS (SELECT CAST(x / 10000 AS INT) AS b, kll_sketch(x) AS k, dd_sketch(y) AS d FROM t GROUP BY 1)
         SELECT b, kll_quantile(kll_merge(k) OVER w, 0.5), dd_quantile(dd_merge(d) OVER w, 1.0)
         FROM per WINDOW w AS (ORDER BY b ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) ORDER BY b",
    )
    .await;
    assert_eq!(sliding.len(), 10);
    for (b, r) in sliding.iter().enumerate() {
        let lo = b.saturating_sub(2) as f64 * 10_000.0;
        let hi = (b + 1) as f64 * 10_000.0;
        let median: f64 = r[1].parse().unwrap();
        let expected = (lo + hi) / 2.0;
        assert!(
            (median - expected).abs() <= RANK_ERROR * (hi - lo) + 1.0,
            "frame {b}: {median} vs {expected}"
        );
        let max: f64 = r[2].parse().unwrap();
        let true_max = 10f64.powf((hi - 1.0) / 20_000.0);
        assert!(
            (max - true_max).abs() / true_max <= 0.01,
            "{max} vs {true_max}"
        );
    }
    // Raw values slide too: the max over the last 3 rows.
    let raw = rows(
        &ctx,
        "SELECT approx_quantile(x, 1.0) OVER (ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW),
                greatest(x, coalesce(lag(x, 1) OVER (ORDER BY ts), x), coalesce(lag(x, 2) OVER (ORDER BY ts), x))
         FROM t ORDER BY ts LIMIT 50",
    )
    .await;
    assert!(raw.iter().all(|r| r[0] == r[1]), "{raw:?}");
}

#[tokio::test]
async fn nan_infinities_nulls_empty_input_and_bad_input() {
    let ctx = ctx_with(SETUP).await;
    rows(
        &ctx,
        "CREATE TABLE special(v DOUBLE) AS VALUES (1.0), ('NaN'), (2.0), ('inf'), (3.0), (NULL), ('-inf')",
    )
    .await;
    let special = rows(
        &ctx,
        "SELECT approx_quantile(v, 0), approx_quantile(v, 0.5), approx_quantile(v, 1),
                dd_quantile(dd_sketch(v), 0), dd_quantile(dd_sketch(v), 1), sketch_info(kll_sketch(v))['items']
         FROM special",
    )
    .await;
    assert_eq!(special[0], ["-inf", "2.0", "inf", "-inf", "inf", "5"]);
    assert_eq!(
        value(&ctx, "SELECT approx_quantile(x, 0.5) FROM t WHERE g < 0").await,
        "NULL"
    );
    assert_eq!(
        value(
            &ctx,
            "SELECT kll_quantile(kll_sketch(x), 0.5) FROM t WHERE g < 0"
        )
        .await,
        "NULL",
        "an empty sketch has no quantiles"
    );
    assert_eq!(value(&ctx, "SELECT kll_quantile(NULL, 0.5)").await, "NULL");
    assert_eq!(
        value(&ctx, "SELECT kll_merge(s) IS NULL FROM (SELECT kll_sketch(x) AS s FROM t WHERE g < 0 GROUP BY g)").await,
        "true"
    );
    let approx_n = float(&ctx, "SELECT approx_quantile(n, 1.0) FROM t").await;
    assert_eq!(approx_n, 999.0, "nulls are skipped");
    for (sql, needle) in [
        (
            "SELECT approx_quantile(x, 1.5) FROM t",
            "approx_quantile: q must be in [0, 1], got 1.5",
        ),
        (
            "SELECT approx_quantile(x, -0.1) FROM t",
            "approx_quantile: q must be in [0, 1], got -0.1",
        ),
        ("SELECT approx_quantile(x, g) FROM t", "must be a constant"),
        (
            "SELECT approx_quantiles(x, [0.5, 2]) FROM t",
            "approx_quantiles: q must be in [0, 1], got 2",
        ),
        (
            "SELECT approx_quantiles(x, [0.01,0.02,0.03,0.04,0.05,0.06,0.07,0.08,0.09,0.1,0.11,0.12,0.13,0.14,0.15,0.16,0.17]) FROM t",
            "approx_quantiles: at most 16 distinct quantiles besides 0 and 1, got 17",
        ),
        (
            "SELECT kll_quantile(kll_sketch(x), 1.5) FROM t",
            "kll_quantile: q must be in [0, 1], got 1.5",
        ),
        (
            "SELECT dd_quantile(dd_sketch(y), -1) FROM t",
            "dd_quantile: q must be in [0, 1], got -1",
        ),
        (
            "SELECT kll_sketch(x, 4) FROM t",
            "kll_sketch: k must be between 8 and 65535, got 4",
        ),
        (
            "SELECT dd_sketch(y, 1.5) FROM t",
            "dd_sketch: alpha must be",
        ),
        (
            "SELECT kll_sketch(CAST(x AS VARCHAR)) FROM t",
            "kll_sketch does not support values of type Utf8",
        ),
        (
            "SELECT dd_sketch(ts) FROM t",
            "dd_sketch does not support values of type Timestamp",
        ),
        (
            "SELECT kll_quantile(hll_sketch(x), 0.5) FROM t",
            "expected a kll state, got a hll state",
        ),
        ("SELECT dd_quantile(X'0102', 0.5)", "dd_quantile:"),
        (
            "SELECT kll_merge(x) FROM t",
            "kll_merge expects a sketch state",
        ),
    ] {
        let e = error(&ctx, sql).await;
        assert!(
            e.contains(needle),
            "{sql}\n  error: {e}\n  expected: {needle}"
        );
    }
    let e = error(
        &ctx,
        "SELECT dd_merge(s) FROM (SELECT dd_sketch(y) AS s FROM t UNION ALL SELECT dd_sketch(y, 0.05) FROM t)",
    )
    .await;
    assert!(e.contains("dd_merge"), "{e}");
}

/// Many small groups: partial aggregation is skipped (each row becomes a one-value state)
/// and the answers do not change; groups of 20 values are answered exactly, as KLL does.
#[tokio::test]
async fn skip_partial_aggregation_gives_the_same_quantiles() {
    let ctx = ctx_with(SETUP).await;
    let query = "SELECT x % 5000 AS k, approx_quantile(x, 0.5), approx_quantiles(y, [0.1, 0.99]),
                        kll_quantile(kll_sketch(x), 0.5)
                 FROM t GROUP BY x % 5000 ORDER BY k";
    let normal = rows(&ctx, query).await;
    assert_eq!(normal.len(), 5000);
    for row in &normal {
        let (approx, kll): (f64, f64) = (row[1].parse().unwrap(), row[3].parse().unwrap());
        assert_eq!(approx, kll, "group {}: exact on 20 values", row[0]);
    }
    skip_partial_aggregation(&ctx).await;
    assert_eq!(rows(&ctx, query).await, normal);
}

/// Integers keep every digit, however large (issue 21): values past 2^53, which a double
/// rounds, come back as they went in, across partitions whose digests hold them from
/// different origins, and nanosecond timestamps of today keep their nanoseconds.
#[tokio::test]
async fn integer_quantiles_are_exact_past_2_pow_53() {
    let ctx = ctx();
    // 2^60 + 7 + 1000 i: a double there is a multiple of 256, never 7 past a thousand.
    let big = "SELECT 1152921504606846983 + 1000 * ((value * 7919) % 100000) AS x \
               FROM generate_series(0, 99999)";
    for (q, exact) in [(0.5, 49_999i128), (0.99, 98_999), (0.0, 0), (1.0, 99_999)] {
        let got: i128 = value(
            &ctx,
            &format!("SELECT approx_quantile(x, {q}) FROM ({big})"),
        )
        .await
        .parse()
        .unwrap();
        let steps = got - 1_152_921_504_606_846_983;
        assert_eq!(steps % 1_000, 0, "q {q}: {got} is not an input value");
        assert!((steps / 1_000 - exact).abs() <= 8, "q {q}: {got}");
    }
    // Two partitions on either side of 2^60 (two origins 2^52 apart), small enough for exact
    // answers; and the largest unsigned values.
    let cases = [
        (
            "SELECT 1152921504606846976 - value AS x FROM generate_series(1, 1000) \
             UNION ALL SELECT 1152921504606846976 + value FROM generate_series(0, 999)",
            "[1152921504606845976, 1152921504606846475, 1152921504606846975, 1152921504606847975]",
        ),
        (
            "SELECT arrow_cast(18446744073709551615, 'UInt64') - arrow_cast(value, 'UInt64') AS x \
             FROM generate_series(0, 1999)",
            "[18446744073709549616, 18446744073709550115, 18446744073709550615, 18446744073709551615]",
        ),
        (
            "SELECT arrow_cast('123456789012345678901234567890', 'Decimal128(38, 0)') \
             + arrow_cast(value, 'Decimal128(38, 0)') AS x FROM generate_series(1, 2000)",
            "[123456789012345678901234567891, 123456789012345678901234568390, \
             123456789012345678901234568890, 123456789012345678901234569890]",
        ),
    ];
    assert_quartiles(&ctx, &cases).await;
    let nanos = int(
        &ctx,
        "SELECT CAST(approx_quantile(arrow_cast(1764763200123456789 + value, \
         'Timestamp(Nanosecond, None)'), 0.5) AS BIGINT) FROM generate_series(1, 3001)",
    )
    .await;
    assert_eq!(nanos, 1_764_763_200_123_458_290);
}

/// Asserts `approx_quantiles(x, [0.0, 0.25, 0.5, 1.0])` over each `(input, answer)`.
async fn assert_quartiles(ctx: &datafusion::prelude::SessionContext, cases: &[(&str, &str)]) {
    for (input, want) in cases {
        let sql = format!("SELECT approx_quantiles(x, [0.0, 0.25, 0.5, 1.0]) FROM ({input})");
        assert_eq!(&value(ctx, &sql).await, want, "{input}");
    }
}

/// Integers spread over more than 2^53 in one group (random 64-bit IDs, the whole of BIGINT,
/// wide DECIMAL(38, 0)) stay integers too: small groups come back exact, and answers at the
/// targets of large ones are input values, over partitions that merge (issue 21).
#[tokio::test]
async fn integer_quantiles_stay_exact_when_a_group_spreads_past_2_pow_53() {
    let ctx = ctx();
    // Odd values over the whole of BIGINT, 184467440737094 apart, in a scrambled order: a
    // double there is a multiple of 512 at least, never odd.
    let (base, step) = (-9_223_372_036_854_775_807i128, 184_467_440_737_094i128);
    let whole = |n: u32| {
        format!(
            "SELECT CAST({base} AS BIGINT) + {step} * ((value * 7919) % {n}) AS x \
             FROM generate_series(0, {})",
            n - 1
        )
    };
    for (q, at) in [(0.5, 49_999i128), (0.99, 98_999), (0.0, 0), (1.0, 99_999)] {
        let sql = format!("SELECT approx_quantile(x, {q}) FROM ({})", whole(100_000));
        let got: i128 = value(&ctx, &sql).await.parse().unwrap();
        let steps = got - base;
        assert_eq!(steps % step, 0, "q {q}: {got} is not an input value");
        assert!((steps / step - at).abs() <= 8, "q {q}: {got}");
    }
    let at = |rank: i128| (base + step * rank).to_string();
    let small = (
        whole(2_000),
        format!("[{}, {}, {}, {}]", at(0), at(499), at(999), at(1_999)),
    );
    assert_quartiles(&ctx, &[(&small.0, &small.1)]).await;
    // DECIMAL(38, 0) values 10^34 apart, and a group of BIGINTs whose first values are small
    // (the digest starts near zero and turns exact when 2^62 + 1 arrives).
    let cases = [
        (
            "SELECT arrow_cast('10000000000000000000000000000000000', 'Decimal128(38, 0)') \
             * arrow_cast(value, 'Decimal128(38, 0)') + arrow_cast(1, 'Decimal128(38, 0)') AS x \
             FROM generate_series(1, 2000)",
            "[10000000000000000000000000000000001, 5000000000000000000000000000000000001, \
             10000000000000000000000000000000000001, 20000000000000000000000000000000000001]",
        ),
        (
            "SELECT x FROM (SELECT value AS x FROM generate_series(1, 3) \
             UNION ALL SELECT 4611686018427387905 AS x)",
            "[1, 1, 2, 4611686018427387905]",
        ),
    ];
    assert_quartiles(&ctx, &cases).await;
}

/// Integer and decimal quantiles at the ends of their types come back in the type, never NULL
/// and never past the type (issue 21): i64::MAX is 2^63 as an f64, u64::MAX is 2^64, the
/// largest DECIMAL(38, 0) is 1e38.
#[tokio::test]
async fn quantiles_at_the_ends_of_integer_and_decimal_types_are_never_null() {
    let ctx = ctx();
    let cases = [
        (
            "arrow_cast(9223372036854775807, 'Int64')",
            "9223372036854775807",
        ),
        (
            "arrow_cast(-9223372036854775808, 'Int64')",
            "-9223372036854775808",
        ),
        (
            "arrow_cast(18446744073709551615, 'UInt64')",
            "18446744073709551615",
        ),
        (
            "arrow_cast('99999999999999999999999999999999999999', 'Decimal128(38, 0)')",
            "99999999999999999999999999999999999999",
        ),
        ("arrow_cast(127, 'Int8')", "127"),
        ("arrow_cast(12.25, 'Decimal128(10, 2)')", "12.25"),
    ];
    for (v, want) in cases {
        for f in [
            "approx_quantile(x, 0.5)",
            "approx_quantile(x, 1.0)",
            "approx_quantiles(x, [0.5])[1]",
        ] {
            let got = value(
                &ctx,
                &format!("SELECT {f} FROM (SELECT {v} AS x FROM generate_series(1, 50))"),
            )
            .await;
            assert_eq!(got, want, "{f} over {v}");
        }
    }
}
