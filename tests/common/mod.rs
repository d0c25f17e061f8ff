//! A tiny helper for SQL-level tests: a session with Hazy registered, rows as strings.
#![allow(dead_code)]

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;

pub fn ctx() -> SessionContext {
    hazy::cli::session()
}

/// Runs every statement; returns the last one's rows, each cell formatted as text.
pub async fn rows(ctx: &SessionContext, sql: &str) -> Vec<Vec<String>> {
    match hazy::cli::sql::query(ctx, sql).await {
        Ok(batches) => to_strings(&batches),
        Err(e) => panic!("query failed: {e}\n{sql}"),
    }
}

/// The single value of a one-row, one-column query.
pub async fn value(ctx: &SessionContext, sql: &str) -> String {
    let r = rows(ctx, sql).await;
    assert_eq!(r.len(), 1, "expected one row from {sql}, got {r:?}");
    r[0][0].clone()
}

pub async fn int(ctx: &SessionContext, sql: &str) -> i64 {
    let v = value(ctx, sql).await;
    v.parse()
        .unwrap_or_else(|_| panic!("not an integer: {v} from {sql}"))
}

/// The error message of a query that must fail (at planning or at execution).
pub async fn error(ctx: &SessionContext, sql: &str) -> String {
    match hazy::cli::sql::query(ctx, sql).await {
        Ok(b) => panic!("expected an error from {sql}, got {:?}", to_strings(&b)),
        Err(e) => e.strip_backtrace().to_string(),
    }
}

pub fn to_strings(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let formatters: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
            .collect();
        for row in 0..b.num_rows() {
            out.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    out
}

/// Asserts `estimate` lies within `rel` of `exact`.
pub fn assert_close(estimate: i64, exact: i64, rel: f64, what: &str) {
    let err = (estimate - exact).abs() as f64 / (exact.max(1)) as f64;
    assert!(
        err <= rel,
        "{what}: estimate {estimate} vs exact {exact} ({:.3}% > {:.3}%)",
        err * 100.0,
        rel * 100.0
    );
}
