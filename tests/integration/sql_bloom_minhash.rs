//! SQL-level tests of the Bloom filter and MinHash functions.

use crate::common::*;

const SETUP: &str = "
CREATE TABLE t AS SELECT
    CAST(value % 7 AS INT) AS g,
    CAST(value % 5000 AS INT) AS x32,
    CASE WHEN value % 10 = 0 THEN NULL ELSE 'k' || CAST(value % 997 AS VARCHAR) END AS s,
    arrow_cast(to_timestamp_seconds(1767225600 + value), 'Timestamp(Microsecond, None)') AS ts
FROM generate_series(0, 49999) AS gs(value);";

#[tokio::test]
async fn bloom_has_no_false_negatives_and_few_false_positives() {
    let ctx = ctx_with(SETUP).await;
    // Every value that went in is found, in every encoding of the probe.
    let missed = int(
        &ctx,
        "SELECT count(*) FROM t CROSS JOIN (SELECT bloom_sketch(x32, 5000, 0.01) AS f FROM t) b
         WHERE NOT bloom_contains(b.f, t.x32)",
    )
    .await;
    assert_eq!(missed, 0);
    for probe in [
        "42",
        "CAST(42 AS BIGINT)",
        "42.0",
        "arrow_cast(42, 'UInt16')",
    ] {
        let found = value(
            &ctx,
            &format!("SELECT bloom_contains(bloom_sketch(x32, 5000, 0.01), {probe}) FROM t"),
        )
        .await;
        assert_eq!(found, "true", "{probe}");
    }
    // Values never added: at capacity the false-positive rate is near the target.
    let false_positives = int(
        &ctx,
        "SELECT count(*) FROM generate_series(100000, 199999) AS p(v)
         CROSS JOIN (SELECT bloom_sketch(x32, 5000, 0.01) AS f FROM t) b
         WHERE bloom_contains(b.f, p.v)",
    )
    .await;
    assert!(
        false_positives < 1_100,
        "{false_positives} false positives in 100,000 probes at fpr 0.01"
    );
    let strings = int(
        &ctx,
        "SELECT count(*) FROM (SELECT DISTINCT s FROM t WHERE s IS NOT NULL) v
         CROSS JOIN (SELECT bloom_sketch(arrow_cast(s, 'Dictionary(Int32, Utf8)')) AS f FROM t) b
         WHERE bloom_contains(b.f, arrow_cast(v.s, 'LargeUtf8'))",
    )
    .await;
    assert_eq!(
        strings, 997,
        "dictionary-built filters find LargeUtf8 probes"
    );
}

#[tokio::test]
async fn bloom_merge_equals_one_pass_and_checks_sizes() {
    let ctx = ctx_with(SETUP).await;
    let one_pass = value(
        &ctx,
        "SELECT encode(bloom_sketch(x32, 5000, 0.01), 'hex') FROM t",
    )
    .await;
    let merged = value(
        &ctx,
        "SELECT encode(bloom_merge(f), 'hex') FROM (SELECT g, bloom_sketch(x32, 5000, 0.01) AS f FROM t GROUP BY g)",
    )
    .await;
    assert_eq!(
        one_pass, merged,
        "the merge of partial filters is the filter of all rows"
    );
    let e = error(
        &ctx,
        "SELECT bloom_merge(f) FROM (SELECT bloom_sketch(x32, 5000, 0.01) AS f FROM t
         UNION ALL SELECT bloom_sketch(x32, 100000, 0.01) FROM t)",
    )
    .await;
    assert!(
        e.contains("bloom_merge") && e.contains("different sizes"),
        "{e}"
    );
    let info = rows(
        &ctx,
        "SELECT i['family'], i['mode'], i['items'], i['details'] FROM (SELECT sketch_info(bloom_sketch(x32, 1000, 0.01)) AS i FROM t)",
    )
    .await;
    assert_eq!(info[0][0], "bloom");
    assert_eq!(info[0][2], "50000");
    assert!(info[0][3].contains("fill="), "{:?}", info[0]);
    // 5,000 distinct values in a filter sized for 1,000: sketch_info shows it is over capacity.
    let fpr: f64 = info[0][3]
        .split(", ")
        .find_map(|kv| kv.strip_prefix("estimated_fpr="))
        .unwrap_or_else(|| panic!("no estimated_fpr in {:?}", info[0]))
        .trim_end_matches('%')
        .parse()
        .unwrap();
    assert!(fpr > 10.0, "over-full filter reports {fpr}%");
}

#[tokio::test]
async fn bloom_windows_nulls_and_bad_input() {
    let ctx = ctx_with(SETUP).await;
    // First-time values per 5,000-row block, against a filter of all earlier blocks.
    let sliding = rows(
        &ctx,
        "WITH blocks AS (SELECT CAST(x32 / 1000 AS INT) AS b, bloom_sketch(s, 2000, 0.001) AS f FROM t GROUP BY 1),
              hist AS (SELECT b, bloom_merge(f) OVER (ORDER BY b ROWS BETWEEN 2 PRECEDING AND 1 PRECEDING) AS earlier FROM blocks)
         SELECT b, earlier IS NULL FROM hist ORDER BY b",
    )
    .await;
    assert_eq!(sliding.len(), 5);
    assert_eq!(sliding[0][1], "true");
    assert!(sliding[1..].iter().all(|r| r[1] == "false"));
    assert_eq!(
        value(&ctx, "SELECT bloom_contains(bloom_sketch(s), NULL) FROM t").await,
        "NULL"
    );
    assert_eq!(
        value(&ctx, "SELECT bloom_contains(NULL, 'a')").await,
        "NULL"
    );
    assert_eq!(
        value(
            &ctx,
            "SELECT bloom_contains(bloom_sketch(s), 'k1') FROM t WHERE g < 0"
        )
        .await,
        "false",
        "the filter of no rows contains nothing"
    );
    for (sql, needle) in [
        (
            "SELECT bloom_sketch(s, 0) FROM t",
            "bloom_sketch: expected_items must be between 1 and",
        ),
        (
            "SELECT bloom_sketch(s, 1000, 1.5) FROM t",
            "bloom_sketch: fpr must be strictly between 0 and 1, got 1.5",
        ),
        (
            "SELECT bloom_sketch(s, 1000000000, 0.0000001) FROM t",
            "bloom_sketch:",
        ),
        ("SELECT bloom_sketch(s, g) FROM t", "must be a constant"),
        (
            "SELECT bloom_merge(s) FROM t",
            "bloom_merge expects a sketch state",
        ),
        (
            "SELECT bloom_contains(hll_sketch(s), 'a') FROM t",
            "expected a bloom state, got a hll state",
        ),
        ("SELECT bloom_contains(X'00', 1)", "truncated sketch state"),
        (
            "SELECT bloom_contains(bloom_sketch(s), make_array(1)) FROM t",
            "bloom_contains does not support values of type List",
        ),
    ] {
        let e = error(&ctx, sql).await;
        assert!(
            e.contains(needle),
            "{sql}\n  error: {e}\n  expected: {needle}"
        );
    }
}

/// Exact Jaccard similarity of the value sets of groups `a` and `b` of `t`.
const EXACT_JACCARD: &str = "
WITH sets AS (SELECT g, array_agg(DISTINCT x32) AS xs FROM t GROUP BY g)
SELECT a.g, b.g, CAST(cardinality(array_intersect(a.xs, b.xs)) AS DOUBLE) / cardinality(array_union(a.xs, b.xs))
FROM sets a JOIN sets b ON a.g < b.g ORDER BY 1, 2";

#[tokio::test]
async fn minhash_jaccard_tracks_the_exact_similarity() {
    let ctx = ctx();
    // Groups whose value ranges overlap by different amounts: J from 0 to 1.
    rows(
        &ctx,
        "CREATE TABLE t AS SELECT g, CAST(g * 400 + v AS INT) AS x32
         FROM generate_series(0, 5) AS a(g) CROSS JOIN generate_series(0, 1999) AS b(v)",
    )
    .await;
    let exact = rows(&ctx, EXACT_JACCARD).await;
    let estimated = rows(
        &ctx,
        "WITH sigs AS (SELECT g, minhash_sketch(x32, 256) AS s FROM t GROUP BY g)
         SELECT a.g, b.g, minhash_jaccard(a.s, b.s) FROM sigs a JOIN sigs b ON a.g < b.g ORDER BY 1, 2",
    )
    .await;
    assert_eq!(exact.len(), 15);
    for (e, m) in exact.iter().zip(&estimated) {
        let (j, est): (f64, f64) = (e[2].parse().unwrap(), m[2].parse().unwrap());
        let sd = (j * (1.0 - j) / 256.0).sqrt();
        assert!(
            (est - j).abs() <= 3.0 * sd + 1e-9,
            "{e:?}: {est} vs {j} (sd {sd})"
        );
    }
    // Merging partial signatures gives exactly the signature of the union.
    let one_pass = value(&ctx, "SELECT encode(minhash_sketch(x32), 'hex') FROM t").await;
    let merged = value(
        &ctx,
        "SELECT encode(minhash_merge(s), 'hex') FROM (SELECT g, minhash_sketch(x32) AS s FROM t GROUP BY g)",
    )
    .await;
    assert_eq!(one_pass, merged);
}

/// Many small groups: skipped partial aggregation sends one-value transit states, partial
/// aggregates send sparse ones; the stored states must be the same bytes either way.
#[tokio::test]
async fn minhash_states_do_not_depend_on_how_partial_aggregation_ran() {
    let ctx = ctx_with(SETUP).await;
    let query = "SELECT x32 % 2000 AS e, encode(minhash_sketch(s), 'hex'), \
                 encode(minhash_sketch(x32, 4096), 'hex') FROM t GROUP BY 1 ORDER BY 1";
    let normal = rows(&ctx, query).await;
    skip_partial_aggregation(&ctx).await;
    assert_eq!(rows(&ctx, query).await, normal);
    let merged = "SELECT e % 10 AS f, encode(minhash_merge(m), 'hex') FROM \
                  (SELECT x32 % 2000 AS e, minhash_sketch(s) AS m FROM t GROUP BY 1) GROUP BY 1 ORDER BY 1";
    let direct =
        "SELECT x32 % 10 AS f, encode(minhash_sketch(s), 'hex') FROM t GROUP BY 1 ORDER BY 1";
    assert_eq!(rows(&ctx, merged).await, rows(&ctx, direct).await);
}

#[tokio::test]
async fn lsh_bands_find_similar_pairs() {
    let ctx = ctx();
    // 60 groups: pairs (2i, 2i+1) share 90% of their values, other groups share nothing.
    rows(
        &ctx,
        "CREATE TABLE t AS SELECT g, CAST(CASE WHEN v < 180 THEN (g / 2) * 1000 + v ELSE g * 1000 + 500 + v END AS INT) AS x32
         FROM generate_series(0, 59) AS a(g) CROSS JOIN generate_series(0, 199) AS b(v)",
    )
    .await;
    let found = rows(
        &ctx,
        "WITH sigs AS (SELECT g, minhash_sketch(x32) AS s FROM t GROUP BY g),
              keys AS (SELECT g, unnest(minhash_lsh_bands(s, 32)) AS k FROM sigs)
         SELECT DISTINCT a.g, b.g FROM keys a JOIN keys b ON a.k = b.k AND a.g < b.g ORDER BY 1, 2",
    )
    .await;
    let planted: Vec<Vec<String>> = (0..30)
        .map(|i| vec![(2 * i).to_string(), (2 * i + 1).to_string()])
        .collect();
    // J = 180 / 220 = 0.82, well above the 32-band threshold of about 0.42 (a pair is missed
    // with probability (1 - 0.82^4)^32 < 1e-8), and unrelated groups (J = 0) never share a key.
    assert_eq!(found, planted);
    assert_eq!(
        value(
            &ctx,
            "SELECT cardinality(minhash_lsh_bands(minhash_sketch(x32), 32)) FROM t"
        )
        .await,
        "32"
    );
}

#[tokio::test]
async fn minhash_nulls_empty_input_and_bad_input() {
    let ctx = ctx_with(SETUP).await;
    assert_eq!(
        value(
            &ctx,
            "SELECT minhash_jaccard(minhash_sketch(s), minhash_sketch(s)) FROM t"
        )
        .await,
        "1.0"
    );
    assert_eq!(
        value(
            &ctx,
            "SELECT minhash_jaccard(a, b) FROM (SELECT minhash_sketch(s) AS a FROM t WHERE g < 0), (SELECT minhash_sketch(s) AS b FROM t)"
        )
        .await,
        "0.0",
        "an empty set shares nothing with a non-empty one"
    );
    assert_eq!(
        value(
            &ctx,
            "SELECT cardinality(minhash_lsh_bands(minhash_sketch(s), 8)) FROM t WHERE g < 0"
        )
        .await,
        "0",
        "an empty set has no band keys"
    );
    assert_eq!(
        value(&ctx, "SELECT minhash_jaccard(NULL, NULL)").await,
        "NULL"
    );
    for (sql, needle) in [
        (
            "SELECT minhash_sketch(s, 8) FROM t",
            "minhash_sketch: num_perm must be between 16 and 4096, got 8",
        ),
        (
            "SELECT minhash_jaccard(minhash_sketch(s, 64), minhash_sketch(s, 128)) FROM t",
            "minhash_jaccard:",
        ),
        (
            "SELECT minhash_lsh_bands(minhash_sketch(s), 0) FROM t",
            "minhash_lsh_bands:",
        ),
        (
            "SELECT minhash_lsh_bands(minhash_sketch(s), 1000) FROM t",
            "minhash_lsh_bands:",
        ),
        (
            "SELECT minhash_jaccard(bloom_sketch(s), minhash_sketch(s)) FROM t",
            "expected a minhash state, got a bloom state",
        ),
        (
            "SELECT minhash_merge(s) FROM t",
            "minhash_merge expects a sketch state",
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
        "SELECT minhash_merge(m) FROM (SELECT minhash_sketch(s, 64) AS m FROM t UNION ALL SELECT minhash_sketch(s) FROM t)",
    )
    .await;
    assert!(e.contains("minhash_merge"), "{e}");
    // Sliding frames merge the signatures of the rows in the frame: blocks of disjoint
    // values, so the frame of two blocks has J = 0.5 with the newer one.
    let sliding = rows(
        &ctx,
        "WITH per AS (SELECT CAST(x32 / 1000 AS INT) AS b, minhash_sketch(x32) AS m FROM t GROUP BY 1)
         SELECT b, minhash_jaccard(minhash_merge(m) OVER (ORDER BY b ROWS BETWEEN 1 PRECEDING AND CURRENT ROW), m) FROM per ORDER BY b",
    )
    .await;
    assert_eq!(sliding.len(), 5);
    assert_eq!(sliding[0][1], "1.0");
    for r in &sliding[1..] {
        let j: f64 = r[1].parse().unwrap();
        assert!((j - 0.5).abs() < 0.14, "{sliding:?}");
    }
}

/// Equal values hash equal across DECIMAL and DOUBLE (issue 21): the decimal 42.5 finds the
/// double 42.5 and back; 0.1, which no double equals, stays apart.
#[tokio::test]
async fn decimals_and_doubles_that_are_equal_probe_alike() {
    let ctx = crate::common::ctx();
    let probe = |state: &str, item: &str| {
        format!(
            "SELECT bloom_contains(s, {item}), cms_estimate(c, {item}) FROM \
             (SELECT bloom_sketch(x) AS s, cms_sketch(x) AS c FROM (SELECT {state} AS x))"
        )
    };
    let decimal = "arrow_cast(42.5, 'Decimal128(10, 2)')";
    let double = "arrow_cast(42.5, 'Float64')";
    for (state, item) in [(decimal, double), (double, decimal)] {
        let r = crate::common::rows(&ctx, &probe(state, item)).await;
        assert_eq!(
            r,
            vec![vec!["true".to_string(), "1".to_string()]],
            "{state} / {item}"
        );
    }
    let r = crate::common::rows(
        &ctx,
        &probe(
            "arrow_cast(0.1, 'Decimal128(10, 1)')",
            "arrow_cast(0.1, 'Float64')",
        ),
    )
    .await;
    assert_eq!(r[0][1], "0", "0.1 as a decimal is not the double 0.1");
}
