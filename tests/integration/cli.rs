//! The `hazy` binary, as a user runs it.

use std::path::PathBuf;
use std::process::{Command, Output};

fn hazy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hazy"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run hazy")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hazy-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn sql_runs_several_statements_in_every_format() {
    let sql = "CREATE TABLE t AS SELECT value % 100 AS x FROM generate_series(1, 10000) AS s(value); \
               SELECT approx_count_distinct(x) AS d FROM t;";
    let csv = hazy(&["sql", "-c", sql, "--format", "csv"]);
    assert!(csv.status.success(), "{}", stderr(&csv));
    assert_eq!(stdout(&csv), "d\n100\n");
    let ndjson = hazy(&["sql", "-c", sql, "--format", "ndjson"]);
    assert_eq!(stdout(&ndjson), "{\"d\":100}\n");
    let json = hazy(&["sql", "-c", sql, "--format", "json"]);
    assert_eq!(stdout(&json).trim(), "[{\"d\":100}]");
    let table = hazy(&["sql", "-c", sql]);
    assert!(stdout(&table).contains("| 100 |"), "{}", stdout(&table));
}

#[test]
fn sql_reads_files_and_external_tables() {
    let file = temp("q.sql");
    std::fs::write(
        &file,
        "CREATE EXTERNAL TABLE events STORED AS PARQUET LOCATION 'data/events.parquet';\n\
         SELECT count(*) AS n, hll_estimate(hll_sketch(entity)) = approx_count_distinct(entity) AS same FROM events;\n",
    )
    .unwrap();
    let out = hazy(&["sql", "-f", file.to_str().unwrap(), "--format", "csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "n,same\n100000,true\n");
}

#[test]
fn errors_are_one_line_and_exit_non_zero() {
    let out = hazy(&["sql", "-c", "SELECT hll_sketch(1, 40)"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("Error: ")
            && err.contains("hll_sketch: precision must be between 4 and 18"),
        "{err}"
    );
    let out = hazy(&["sql", "-c", "SELECT * FROM no_such_table"]);
    assert!(!out.status.success());
    assert_eq!(stderr(&out).lines().count(), 1);
    let out = hazy(&["sql", "-f", "/nonexistent.sql"]);
    assert!(!out.status.success() && stderr(&out).contains("cannot read /nonexistent.sql"));
}

#[test]
fn demo_reports_the_shipped_sample() {
    for out in [hazy(&[]), hazy(&["demo"])] {
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        assert!(text.contains("Total events:       100,000"), "{text}");
        assert!(text.contains("Unique entities:"), "{text}");
        assert!(text.contains("page_view"), "{text}");
        assert!(text.contains("entity_0 "), "{text}");
        assert!(text.contains("HyperLogLog:"), "{text}");
        // The windows and the anomalies: uniques so far end at the whole stream's estimate,
        // and exactly the two flooded minutes raise an alert.
        assert!(
            text.contains("  00:16    4,256    2,645           9,813"),
            "{text}"
        );
        let alerts: Vec<&str> = text.lines().filter(|l| l.ends_with("RATE SPIKE")).collect();
        assert_eq!(alerts.len(), 2, "{text}");
        assert!(
            alerts[0].starts_with("  00:10") && alerts[1].starts_with("  00:11"),
            "{alerts:?}"
        );
    }
}

#[test]
fn gen_is_deterministic_and_feeds_the_demo() {
    let args = [
        "gen",
        "--events",
        "5000",
        "--entities",
        "300",
        "--seed",
        "7",
        "--format",
        "csv",
    ];
    let (a, b) = (hazy(&args), hazy(&args));
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(stdout(&a).lines().count(), 5001);
    let parquet = temp("events.parquet");
    let out = hazy(&[
        "gen",
        "--events",
        "20000",
        "--entities",
        "500",
        "--output",
        parquet.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let demo = hazy(&["demo", "--data", parquet.to_str().unwrap()]);
    assert!(
        stdout(&demo).contains("Total events:       20,000"),
        "{}",
        stdout(&demo)
    );
    let bad = hazy(&["gen", "--entities", "0"]);
    assert!(
        !bad.status.success() && stderr(&bad).contains("--entities"),
        "{}",
        stderr(&bad)
    );
}

/// A deep expression (10,000 terms, as generated SQL can have) is planned and run, not a
/// stack overflow: the command runs on threads with large stacks. (DataFusion's planning of
/// such a chain is quadratic, about 100 s of CPU here: hence one expression only.)
#[test]
fn deep_expressions_do_not_overflow_the_stack() {
    let terms = vec!["x"; 10_000].join(" + ");
    let sql =
        format!("SELECT approx_count_distinct({terms}) AS d FROM (VALUES (1), (2), (3)) AS t(x)");
    let out = hazy(&["sql", "-c", &sql, "--format", "csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "d\n3\n");
}
