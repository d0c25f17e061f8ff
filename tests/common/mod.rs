//! A tiny helper for SQL-level tests: a session with Hazy registered, rows as strings.
#![allow(dead_code)]

use arrow::array::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;

pub fn ctx() -> SessionContext {
    hazy::cli::session()
}

/// A session with Hazy registered in which the statements of `setup` have run.
pub async fn ctx_with(setup: &str) -> SessionContext {
    let ctx = ctx();
    rows(&ctx, setup).await;
    ctx
}

/// Runs every statement; returns the last one's rows, each cell formatted as text.
pub async fn rows(ctx: &SessionContext, sql: &str) -> Vec<Vec<String>> {
    match hazy::cli::sql::query(ctx, sql).await {
        Ok(batches) => to_strings(&batches),
        Err(e) => panic!("query failed: {e}\n{sql}"),
    }
}

/// Makes `ctx` skip partial aggregation from the start (each row then reaches the final
/// aggregate as a one-value state), with batches of 1,000 rows.
pub async fn skip_partial_aggregation(ctx: &SessionContext) {
    for setting in [
        "SET datafusion.execution.skip_partial_aggregation_probe_rows_threshold = 10",
        "SET datafusion.execution.skip_partial_aggregation_probe_ratio_threshold = 0.0",
        "SET datafusion.execution.batch_size = 1000",
    ] {
        rows(ctx, setting).await;
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

pub async fn float(ctx: &SessionContext, sql: &str) -> f64 {
    let v = value(ctx, sql).await;
    v.parse()
        .unwrap_or_else(|_| panic!("not a number: {v} from {sql}"))
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

/// An S3-protocol server (moto's) on 127.0.0.1, started for one test and stopped when dropped.
///
/// `.ci/run` installs moto in a virtual environment and sets `HAZY_MOTO_SERVER` to its
/// `moto_server` program. Without that variable (a plain local `cargo test`) [`S3Server::start`]
/// prints a notice and returns `None`, and the test returns early.
pub struct S3Server {
    child: std::process::Child,
    pub endpoint: String,
    port: u16,
}

impl S3Server {
    pub fn start(test: &str) -> Option<Self> {
        let Some(program) = std::env::var_os("HAZY_MOTO_SERVER") else {
            eprintln!(
                "{test}: skipped: HAZY_MOTO_SERVER is not set (.ci/run installs moto and sets it)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.to_string_lossy()));
        let server = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
        };
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed().as_secs() < 60, "moto_server did not listen");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Some(server)
    }

    /// Creates a bucket (S3's CreateBucket: an unsigned PUT, which moto accepts).
    pub fn create_bucket(&self, bucket: &str) {
        use std::io::{Read, Write};
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(
            conn,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        )
        .unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).unwrap();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }

    /// The environment a user sets for this server, as for any S3-compatible store.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "hazy".into()),
            ("AWS_SECRET_ACCESS_KEY", "hazy-secret".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT", self.endpoint.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory of one test's own under the system's temporary directory, emptied when made
/// and removed when dropped (a failing test's too), so that test runs leave nothing behind.
pub struct Scratch(std::path::PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("hazy-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        Self(dir)
    }

    /// `name` inside the directory.
    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
