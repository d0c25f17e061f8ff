//! Every SQL file under sql/ runs over the shipped data/ and gives the tutorial's answers,
//! checked against exact SQL over the same events.

use crate::common::*;
use datafusion::prelude::SessionContext;

async fn run_file(ctx: &SessionContext, name: &str) -> Vec<Vec<String>> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sql")
        .join(name);
    let sql = std::fs::read_to_string(&path).unwrap();
    rows(ctx, &sql).await
}

fn num(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("not a number: {s}"))
}

#[tokio::test]
async fn first_time_entities_never_repeat_and_miss_few() {
    let ctx = ctx();
    let got = run_file(&ctx, "first_time_entities.sql").await;
    let exact = rows(
        &ctx,
        "SELECT first_minute, count(*) FROM (
             SELECT entity, min(date_bin(INTERVAL '1 minute', ts)) AS first_minute FROM events GROUP BY entity)
         GROUP BY 1 ORDER BY 1",
    )
    .await;
    assert_eq!(got.len(), exact.len());
    let (mut found, mut truth) = (0.0, 0.0);
    for (g, e) in got.iter().zip(&exact) {
        assert_eq!(g[0], e[0]);
        let (first, exact_first) = (num(&g[3]), num(&e[1]));
        // No false negatives: an entity seen before is never new. False positives can only
        // hide new entities, at about the filter's 1%.
        assert!(first <= exact_first, "{g:?} vs {e:?}");
        found += first;
        truth += exact_first;
    }
    assert_eq!(
        got[0][2], got[0][3],
        "in the first minute every entity is new"
    );
    assert!(
        found >= 0.97 * truth,
        "{found} of {truth} first-time entities"
    );
}

#[tokio::test]
async fn similar_entities_are_similar() {
    let ctx = ctx();
    let got = run_file(&ctx, "similar_entities.sql").await;
    assert_eq!(got.len(), 10);
    let exact = rows(
        &ctx,
        "WITH sets AS (SELECT entity, array_agg(DISTINCT event_type) AS types FROM events GROUP BY entity)
         SELECT b.entity, CAST(cardinality(array_intersect(a.types, b.types)) AS DOUBLE) / cardinality(array_union(a.types, b.types))
         FROM sets a JOIN sets b ON a.entity = 'entity_1234' AND b.entity <> a.entity",
    )
    .await;
    let exact: std::collections::HashMap<String, f64> = exact
        .into_iter()
        .map(|r| (r[0].clone(), num(&r[1])))
        .collect();
    for row in &got {
        let (estimated, truth) = (num(&row[2]), exact[&row[0]]);
        assert!((estimated - truth).abs() <= 0.15, "{row:?}: exact {truth}");
    }
    // The LSH candidates find every entity with the very same behaviour (J = 1), so the top
    // of the list is all exact matches when there are at least ten.
    let identical = exact.values().filter(|j| **j == 1.0).count();
    assert!(identical >= 10, "{identical}");
    assert!(
        got.iter().all(|r| num(&r[2]) == 1.0 && exact[&r[0]] == 1.0),
        "{got:?}"
    );
}

#[tokio::test]
async fn theta_retention_matches_the_exact_sets() {
    let ctx = ctx();
    let got = run_file(&ctx, "retention_theta.sql").await;
    assert_eq!(got.len(), 1);
    let exact = rows(
        &ctx,
        "WITH m AS (SELECT DISTINCT entity, dense_rank() OVER (ORDER BY date_bin(INTERVAL '1 minute', ts)) AS day FROM events),
         kept AS (SELECT entity FROM m WHERE day = 1 INTERSECT SELECT entity FROM m WHERE day = 7)
         SELECT (SELECT count(*) FROM kept) AS both_days,
                (SELECT count(*) FROM (SELECT entity FROM kept EXCEPT SELECT entity FROM m WHERE day = 17)) AS churned",
    )
    .await;
    let (both, churned) = (num(&exact[0][0]), num(&exact[0][1]));
    assert!(churned > 100.0 && both > churned, "{exact:?}");
    for (estimate, truth) in [(num(&got[0][0]), both), (num(&got[0][1]), churned)] {
        assert!(
            (estimate - truth).abs() <= 0.05 * truth,
            "estimate {estimate} vs exact {truth}: {got:?}"
        );
    }
    assert!(
        got[0][2].contains("lower") && got[0][2].contains("upper"),
        "{got:?}"
    );
}
