//! The `hazy` binary, as a user runs it.

use crate::common::Scratch;
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
    let scratch = Scratch::new("sql_reads_files_and_external_tables");
    let file = scratch.path("q.sql");
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
    let scratch = Scratch::new("gen_is_deterministic_and_feeds_the_demo");
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
    let parquet = scratch.path("events.parquet");
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

/// A deep expression, as generated SQL can have, is planned and run, not a stack overflow: the
/// command plans and runs on threads with large stacks of their own. The process's stack limit
/// is set to 2 MiB, where 2,000 terms overflow a thread of the default size during planning, so
/// the test fails if the work moves back onto such a thread. (DataFusion plans such a chain in
/// quadratic time: 2,000 terms take about 5 s of CPU, 10,000 about 100 s.)
#[test]
fn deep_expressions_do_not_overflow_the_stack() {
    let terms = vec!["x"; 2_000].join(" + ");
    let sql =
        format!("SELECT approx_count_distinct({terms}) AS d FROM (VALUES (1), (2), (3)) AS t(x)");
    let out = Command::new("sh")
        .args(["-c", "ulimit -s 2048 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_hazy"))
        .args(["sql", "-c", &sql, "--format", "csv"])
        .output()
        .expect("run hazy");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "d\n3\n");
}

/// Without `--memory-limit`, `hazy sql` bounds its pool by what the process may use, here a
/// 2.5 GB address-space limit (`ulimit -v`, as a container might set): a sixth of it, about
/// 410 MB. 100M values gathered in one list then fail with DataFusion's "Resources exhausted"
/// (an exit status, not an abort by the allocator), 20M fit, and `--memory-limit none` lifts
/// the bound.
#[test]
fn the_default_memory_limit_follows_what_the_process_may_use() {
    let run = |values: u64, limit: &[&str]| {
        let sql = format!(
            "SELECT cardinality(array_agg(value)) AS n FROM generate_series(1, {values}) AS t(value)"
        );
        Command::new("sh")
            .args(["-c", "ulimit -v 2500000 && exec \"$0\" \"$@\""])
            .arg(env!("CARGO_BIN_EXE_hazy"))
            .args(["sql", "-q", "--format", "csv", "-c", &sql])
            .args(limit)
            .output()
            .expect("run hazy")
    };
    let over = run(100_000_000, &[]);
    assert_eq!(over.status.code(), Some(1), "{}", stderr(&over));
    assert!(
        stderr(&over).contains("Resources exhausted"),
        "{}",
        stderr(&over)
    );
    let within = run(20_000_000, &[]);
    assert!(within.status.success(), "{}", stderr(&within));
    assert_eq!(stdout(&within), "n\n20000000\n");
    let unbounded = run(20_000_000, &["--memory-limit", "none"]);
    assert!(unbounded.status.success(), "{}", stderr(&unbounded));
}

/// `hazy sql` with `input` on standard input (not a terminal).
fn hazy_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hazy"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run hazy");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn sql_reads_statements_from_standard_input() {
    let out = hazy_stdin(
        &["sql", "--format", "csv"],
        "SELECT 1 AS one;\nSELECT\n  approx_count_distinct(entity) AS users\nFROM 'data/events.parquet';\n\\df hll_est\nSELECT 3 AS three",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.starts_with("one\n1\nusers\n9813\nfunction,kind,description\nhll_estimate,scalar,"),
        "{text}"
    );
    assert!(text.ends_with("three\n3\n"), "{text}");
    // The first error stops the run, after what came before it was printed.
    let out = hazy_stdin(
        &["sql", "--format", "csv"],
        "SELECT 1 AS a;\nSELECT * FROM no_such_table;\nSELECT 2 AS b;\n",
    );
    assert!(!out.status.success());
    assert_eq!(stdout(&out), "a\n1\n");
    assert!(stderr(&out).contains("no_such_table"), "{}", stderr(&out));
}

/// One query per Hazy function; every function must be here (checked against the registry).
const EVERY_FUNCTION: &[(&str, &str)] = &[
    (
        "hll_sketch",
        "SELECT event_type, hll_sketch(entity) AS s FROM e GROUP BY 1",
    ),
    (
        "hll_merge",
        "SELECT hll_merge(s) FROM (SELECT hll_sketch(entity) AS s FROM e GROUP BY event_type)",
    ),
    (
        "approx_count_distinct",
        "SELECT approx_count_distinct(entity) FROM e",
    ),
    ("cms_sketch", "SELECT cms_sketch(event_type) FROM e"),
    (
        "cms_sketch_weighted",
        "SELECT cms_sketch_weighted(event_type, CAST(value * 100 AS BIGINT)) FROM e",
    ),
    (
        "cms_merge",
        "SELECT cms_merge(s) FROM (SELECT cms_sketch(entity) AS s FROM e GROUP BY event_type)",
    ),
    ("topk_sketch", "SELECT topk_sketch(event_type) FROM e"),
    (
        "topk_merge",
        "SELECT topk_merge(s) FROM (SELECT topk_sketch(event_type) AS s FROM e GROUP BY entity)",
    ),
    ("approx_topk", "SELECT approx_topk(event_type, 3) FROM e"),
    (
        "approx_topk_weighted",
        "SELECT approx_topk_weighted(event_type, CAST(value * 100 AS BIGINT), 3) FROM e",
    ),
    ("bloom_sketch", "SELECT bloom_sketch(entity, 1000) FROM e"),
    (
        "bloom_merge",
        "SELECT bloom_merge(s) FROM (SELECT bloom_sketch(entity, 1000) AS s FROM e GROUP BY event_type)",
    ),
    ("minhash_sketch", "SELECT minhash_sketch(entity, 16) FROM e"),
    (
        "minhash_merge",
        "SELECT minhash_merge(s) FROM (SELECT minhash_sketch(entity, 16) AS s FROM e GROUP BY event_type)",
    ),
    ("kll_sketch", "SELECT kll_sketch(value) FROM e"),
    (
        "kll_merge",
        "SELECT kll_merge(s) FROM (SELECT kll_sketch(value) AS s FROM e GROUP BY event_type)",
    ),
    (
        "approx_quantile",
        "SELECT approx_quantile(value, 0.99) FROM e",
    ),
    (
        "approx_quantiles",
        "SELECT approx_quantiles(value, [0.0, 0.5, 1.0]) FROM e",
    ),
    ("dd_sketch", "SELECT dd_sketch(value) FROM e"),
    (
        "dd_merge",
        "SELECT dd_merge(s) FROM (SELECT dd_sketch(value) AS s FROM e GROUP BY event_type)",
    ),
    ("ds_hll_sketch", "SELECT ds_hll_sketch(entity) FROM e"),
    (
        "ds_hll_merge",
        "SELECT ds_hll_merge(s) FROM (SELECT ds_hll_sketch(entity) AS s FROM e GROUP BY event_type)",
    ),
    ("theta_sketch", "SELECT theta_sketch(entity) FROM e"),
    (
        "theta_union",
        "SELECT theta_union(s) FROM (SELECT theta_sketch(entity) AS s FROM e GROUP BY event_type)",
    ),
    (
        "theta_intersect_agg",
        "SELECT theta_intersect_agg(s) FROM (SELECT theta_sketch(entity) AS s FROM e GROUP BY event_type)",
    ),
    (
        "hll_estimate",
        "SELECT hll_estimate(hll_sketch(entity)) FROM e",
    ),
    (
        "hll_union",
        "SELECT hll_union(a, b) FROM (SELECT hll_sketch(entity) AS a, hll_sketch(event_type) AS b FROM e)",
    ),
    (
        "cms_estimate",
        "SELECT cms_estimate(cms_sketch(event_type), 'click') FROM e",
    ),
    (
        "cms_total",
        "SELECT cms_total(cms_sketch(event_type)) FROM e",
    ),
    (
        "topk_items",
        "SELECT topk_items(topk_sketch(event_type), 3) FROM e",
    ),
    (
        "bloom_contains",
        "SELECT bloom_contains(bloom_sketch(entity, 1000), 'entity_1') FROM e",
    ),
    (
        "minhash_jaccard",
        "SELECT minhash_jaccard(a, b) FROM (SELECT minhash_sketch(entity) AS a, minhash_sketch(event_type) AS b FROM e)",
    ),
    (
        "minhash_lsh_bands",
        "SELECT minhash_lsh_bands(minhash_sketch(entity), 16) FROM e",
    ),
    (
        "kll_quantile",
        "SELECT kll_quantile(kll_sketch(value), 0.5) FROM e",
    ),
    (
        "kll_quantiles",
        "SELECT kll_quantiles(kll_sketch(value), [0.1, 0.9]) FROM e",
    ),
    ("kll_rank", "SELECT kll_rank(kll_sketch(value), 0.5) FROM e"),
    (
        "dd_quantile",
        "SELECT dd_quantile(dd_sketch(value), 0.5) FROM e",
    ),
    (
        "ds_hll_estimate",
        "SELECT ds_hll_estimate(ds_hll_sketch(entity)) FROM e",
    ),
    (
        "ds_hll_union",
        "SELECT ds_hll_union(a, b) FROM (SELECT ds_hll_sketch(entity) AS a, ds_hll_sketch(event_type) AS b FROM e)",
    ),
    (
        "ds_hll_bounds",
        "SELECT ds_hll_bounds(ds_hll_sketch(entity), 2) FROM e",
    ),
    (
        "theta_estimate",
        "SELECT theta_estimate(theta_sketch(entity)) FROM e",
    ),
    (
        "theta_bounds",
        "SELECT theta_bounds(theta_sketch(entity), 2) FROM e",
    ),
    (
        "theta_union_pair",
        "SELECT theta_union_pair(a, b) FROM (SELECT theta_sketch(entity) AS a, theta_sketch(event_type) AS b FROM e)",
    ),
    (
        "theta_intersect",
        "SELECT theta_intersect(a, b) FROM (SELECT theta_sketch(entity) AS a, theta_sketch(event_type) AS b FROM e)",
    ),
    (
        "theta_a_not_b",
        "SELECT theta_a_not_b(a, b) FROM (SELECT theta_sketch(entity) AS a, theta_sketch(event_type) AS b FROM e)",
    ),
    (
        "kll_to_datasketches",
        "SELECT kll_to_datasketches(kll_sketch(value)) FROM e",
    ),
    (
        "kll_from_datasketches",
        "SELECT kll_from_datasketches(kll_to_datasketches(kll_sketch(value))) FROM e",
    ),
    (
        "topk_to_datasketches",
        "SELECT topk_to_datasketches(topk_sketch(entity)) FROM e",
    ),
    (
        "topk_from_datasketches",
        "SELECT topk_from_datasketches(topk_to_datasketches(topk_sketch(entity))) FROM e",
    ),
    (
        "sketch_info",
        "SELECT sketch_info(hll_sketch(entity)) FROM e",
    ),
];

#[test]
fn every_function_prints_in_every_format() {
    let registered: Vec<String> = hazy::udf::documented_functions()
        .into_iter()
        .map(|(name, _, _)| name)
        .collect();
    let covered: Vec<String> = EVERY_FUNCTION.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(covered, registered, "every function needs a query here");
    // 2,000 rows keep the table output small; every state and list still has content.
    let mut script = String::from(
        "CREATE TABLE e AS SELECT * FROM 'data/events.parquet' ORDER BY ts LIMIT 2000;\n",
    );
    for (_, query) in EVERY_FUNCTION {
        script.push_str(query);
        script.push_str(";\n");
    }
    for format in ["table", "csv", "json", "ndjson"] {
        let out = hazy(&["sql", "--format", format, "-c", &script]);
        assert!(out.status.success(), "{format}: {}", stderr(&out));
        let text = stdout(&out);
        match format {
            "csv" => {
                // Each result: a header line, then rows whose nested values are JSON text.
                assert!(
                    text.contains("\"[{\"\"item\"\":\"\"page_view\"\""),
                    "{text}"
                );
                assert!(text.contains("\"{\"\"family\"\":"), "{text}");
            }
            "json" => {
                let arrays: Vec<serde_json::Value> = text
                    .lines()
                    .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
                    .collect();
                assert_eq!(arrays.len(), EVERY_FUNCTION.len());
                assert!(arrays.iter().all(|a| !a.as_array().unwrap().is_empty()));
            }
            "ndjson" => {
                for line in text.lines() {
                    let row: serde_json::Value = serde_json::from_str(line).unwrap();
                    // No result of these queries is NULL, so every column is in every row
                    // (ndjson leaves NULLs out).
                    let columns = if line.contains("\"event_type\"") {
                        2
                    } else {
                        1
                    };
                    assert_eq!(row.as_object().unwrap().len(), columns, "{line}");
                }
            }
            _ => assert!(text.contains("page_view"), "{text}"),
        }
    }
}

#[test]
fn infinities_are_strings_in_json_and_values_in_csv() {
    let sql = "SELECT CAST('inf' AS DOUBLE) AS p, CAST('-inf' AS DOUBLE) AS n, CAST('NaN' AS DOUBLE) AS x, \
               CAST(NULL AS DOUBLE) AS z, [1.5, CAST('inf' AS DOUBLE)] AS l";
    let json = hazy(&["sql", "--format", "ndjson", "-c", sql]);
    assert_eq!(
        stdout(&json),
        "{\"p\":\"inf\",\"n\":\"-inf\",\"x\":\"NaN\",\"l\":[1.5,\"inf\"]}\n"
    );
    let csv = hazy(&["sql", "--format", "csv", "-c", sql]);
    assert_eq!(
        stdout(&csv),
        "p,n,x,z,l\ninf,-inf,NaN,,\"[1.5,\"\"inf\"\"]\"\n"
    );
}

#[test]
fn a_closed_output_ends_quietly() {
    // `hazy sql … | head -1`: the reader goes away after the first line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_hazy"))
        .args([
            "sql",
            "--format",
            "csv",
            "-c",
            "SELECT value FROM generate_series(1, 5000000) AS s(value)",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    {
        use std::io::BufRead;
        let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
        reader.read_line(&mut first).unwrap();
    } // the read end closes here
    let out = child.wait_with_output().unwrap();
    assert_eq!(first, "value\n");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}

/// The spill directories of `hazy` processes under `tmp`.
fn spill_dirs(tmp: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(tmp)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("hazy-spill-"))
        .collect()
}

#[test]
fn memory_limit_spills_or_fails_clearly_and_spill_files_go() {
    let scratch = Scratch::new("memory_limit_spills_or_fails_clearly_and_spill_files_go");
    let tmp = scratch.path("spill-tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    // A directory left by a process that no longer runs (killed with SIGKILL): swept at start.
    let stale = tmp.join("hazy-spill-99999999");
    std::fs::create_dir_all(stale.join("datafusion-x")).unwrap();
    std::fs::write(stale.join("datafusion-x/a.arrow"), b"spilled").unwrap();
    // hll_estimate keeps the sketches in the plan (an unused aggregate would be pruned).
    let many_groups = "SELECT count(*) AS n, max(hll_estimate(s)) AS m FROM \
        (SELECT value, hll_sketch(value) AS s FROM generate_series(1, 400000) AS t(value) GROUP BY value)";
    let run = |limit: &str| {
        Command::new(env!("CARGO_BIN_EXE_hazy"))
            .args([
                "sql",
                "--format",
                "csv",
                "--memory-limit",
                limit,
                "-c",
                many_groups,
            ])
            .env("TMPDIR", &tmp)
            .output()
            .unwrap()
    };
    // Far too little memory to even spill: DataFusion's message, naming the aggregate.
    let out = run("64K");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("Resources exhausted") && err.contains("hll_sketch"),
        "{err}"
    );
    assert!(
        !stale.exists(),
        "the dead process's spill directory is swept"
    );
    // Enough to run, too little to hold every group: it spills and finishes.
    let out = run("24M");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "n,m\n400000,1\n");
    assert_eq!(spill_dirs(&tmp), Vec::<String>::new(), "removed on exit");
    let bad = hazy(&["sql", "--memory-limit", "lots", "-c", "SELECT 1"]);
    assert!(!bad.status.success() && stderr(&bad).contains("not a size"));
}

/// Issue 21's aborted merges, small: states of several megabytes in all (dense HyperLogLog,
/// MinHash of 4,096 bins, Bloom filters sized for 10^6 items, full Top-K of capacity 16,384)
/// merged under a memory limit. Each query finishes, spilling where DataFusion can, or fails
/// with "Resources exhausted" naming the merge; none is killed or gives a wrong answer.
#[test]
fn merging_large_states_under_a_memory_limit_finishes_or_fails_clearly() {
    let scratch =
        Scratch::new("merging_large_states_under_a_memory_limit_finishes_or_fails_clearly");
    // (family, sketch of `value`, groups, rows, what the outer query reads of a merged state)
    let families = [
        (
            "hll",
            "hll_sketch(value, 14)",
            1000,
            4_000_000,
            "hll_estimate(m)",
        ),
        (
            "minhash",
            "minhash_sketch(value, 4096)",
            2000,
            200_000,
            "minhash_jaccard(m, m)",
        ),
        (
            "bloom",
            "bloom_sketch(value, 1000000, 0.01)",
            50,
            2_500_000,
            "bloom_contains(m, 1)",
        ),
        (
            "topk",
            "topk_sketch(value, 16384)",
            50,
            2_000_000,
            "cardinality(topk_items(m))",
        ),
    ];
    for (family, sketch, groups, rows, read) in families {
        let file = scratch.path(&format!("{family}-states.parquet"));
        let made = hazy(&[
            "sql",
            "-q",
            "-c",
            &format!(
                "COPY (SELECT value % {groups} AS g, {sketch} AS s FROM generate_series(1, {rows}) \
                 AS t(value) GROUP BY value % {groups}) TO '{}'",
                file.display()
            ),
        ]);
        assert!(made.status.success(), "{}", stderr(&made));
        let merge = format!("{family}_merge");
        for (key, keys) in [("g", groups), ("g % 5", 5)] {
            let sql = format!(
                "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{}'; \
                 SELECT count(*) AS n, max({read}) AS m FROM \
                 (SELECT {key} AS k, {merge}(s) AS m FROM t GROUP BY {key})",
                file.display()
            );
            let run = |limit: &str| {
                hazy(&[
                    "sql",
                    "-q",
                    "--format",
                    "csv",
                    "--memory-limit",
                    limit,
                    "-c",
                    &sql,
                ])
            };
            // Room enough: the right number of merged groups.
            let roomy = run("1G");
            assert!(
                roomy.status.success(),
                "{merge} by {key}: {}",
                stderr(&roomy)
            );
            assert!(
                stdout(&roomy).starts_with(&format!("n,m\n{keys},")),
                "{merge} by {key}: {}",
                stdout(&roomy)
            );
            for limit in ["4M", "32M"] {
                let out = run(limit);
                let err = stderr(&out);
                assert!(
                    out.status.code().is_some(),
                    "{merge} by {key} under {limit} was killed: {err}"
                );
                if out.status.success() {
                    assert_eq!(
                        stdout(&out),
                        stdout(&roomy),
                        "{merge} by {key} under {limit}"
                    );
                } else {
                    assert!(
                        err.contains("Resources exhausted") && err.contains(&merge),
                        "{merge} by {key} under {limit}: {err}"
                    );
                }
            }
        }
    }
    // The decoded states are counted, not just their bytes: 50 merged Top-K states hold far
    // more than 32 MB once decoded, which no single batch can spill below.
    let topk = hazy(&[
        "sql",
        "-q",
        "--memory-limit",
        "32M",
        "-c",
        &format!(
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{}'; \
             SELECT count(*) FROM (SELECT g, topk_merge(s) AS m FROM t GROUP BY g) \
             WHERE cardinality(topk_items(m)) > 0",
            scratch.path("topk-states.parquet").display()
        ),
    ]);
    assert!(
        stderr(&topk).contains("Resources exhausted"),
        "{}",
        stderr(&topk)
    );
    // Stopped while the batch is made, by the merge's own reservation (one partition: the 50
    // states come in one batch), also when the limit is SET in the session, which gives it a
    // new pool.
    let merge = format!(
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '{}';          SELECT count(*) FROM (SELECT g, topk_merge(s) AS m FROM t GROUP BY g)          WHERE cardinality(topk_items(m)) > 0",
        scratch.path("topk-states.parquet").display()
    );
    let one_partition = "SET datafusion.execution.target_partitions = 1";
    let limited = hazy(&[
        "sql",
        "-q",
        "--memory-limit",
        "32M",
        "-c",
        one_partition,
        "-c",
        &merge,
    ]);
    let set_in_session = hazy(&[
        "sql",
        "-q",
        "--memory-limit",
        "none",
        "-c",
        one_partition,
        "-c",
        "SET datafusion.runtime.memory_limit = '32M'",
        "-c",
        &merge,
    ]);
    for out in [limited, set_in_session] {
        let err = stderr(&out);
        assert!(
            err.contains("Resources exhausted: topk_merge: the sketches of one batch"),
            "{err}"
        );
    }
}

#[test]
fn a_terminated_query_removes_its_spill_directory() {
    let scratch = Scratch::new("a_terminated_query_removes_its_spill_directory");
    let tmp = scratch.path("spill-term");
    std::fs::create_dir_all(&tmp).unwrap();
    for signal in ["TERM", "INT"] {
        let child = Command::new(env!("CARGO_BIN_EXE_hazy"))
            .args([
                "sql",
                "-c",
                "SELECT count(*) FROM (SELECT value, hll_sketch(value) FROM generate_series(1, 2000000000) AS s(value) GROUP BY value)",
            ])
            .env("TMPDIR", &tmp)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let dir = tmp.join(format!("hazy-spill-{}", child.id()));
        let start = std::time::Instant::now();
        while !dir.exists() && start.elapsed().as_secs() < 20 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            dir.exists(),
            "the spill directory exists while the query runs"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
        let killed = Command::new("kill")
            .args([format!("-{signal}"), child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(if signal == "TERM" { 143 } else { 130 })
        );
        assert!(!dir.exists(), "SIG{signal} removes the spill directory");
    }
}

#[test]
fn copy_to_a_full_disk_says_so() {
    let scratch = Scratch::new("copy_to_a_full_disk_says_so");
    // A tiny file system, when this test may mount one (root in CI); skipped with a notice
    // otherwise.
    let mount = scratch.path("full-disk");
    std::fs::create_dir_all(&mount).unwrap();
    let mounted = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "size=64k",
            "tmpfs",
            mount.to_str().unwrap(),
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("copy_to_a_full_disk_says_so: skipped, cannot mount a tmpfs here");
        return;
    }
    for format in ["parquet", "csv"] {
        let out = hazy(&[
            "sql",
            "-c",
            &format!(
                "COPY (SELECT * FROM 'data/events.parquet') TO '{}/events.{format}'",
                mount.display()
            ),
        ]);
        let _ = std::fs::remove_file(mount.join(format!("events.{format}")));
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(err.contains("no space left on device"), "{format}: {err}");
        assert!(!err.contains("bug in DataFusion"), "{format}: {err}");
    }
    let _ = Command::new("umount").arg(&mount).status();
}
