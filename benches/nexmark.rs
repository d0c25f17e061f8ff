//! Nexmark on `hazy stream`: the single-stream windowed queries of the Nexmark benchmark over
//! bids from the `nexmark` crate's generator, each checked against the same SQL in batch.
//!
//! * Bids are generated deterministically (base time 2026-01-01T00:00:00Z, 100,000 Nexmark
//!   events per second of event time, of which 92% are bids) to an NDJSON file under the
//!   target directory, kept between runs.
//! * Each query runs twice through `hazy stream`: reading the file (`--input`), and piped
//!   (`cat file | hazy stream`). Wall time, user+sys CPU and peak RSS of the hazy process come
//!   from `/usr/bin/time`, the peak window state memory from the stream's summary line.
//! * Each output is compared with `hazy sql` over the same file: row for row for exact queries,
//!   within the sketch's bound for `approx_count_distinct` and `approx_topk`. A difference
//!   stops the bench.
//!
//! `cargo bench --bench nexmark` (10M bids; `-- --events N` to choose, `--quick` for 1M,
//! `--only q16` for the queries whose name contains q16, `--runs 3` to keep the run of median
//! CPU time of three).

#[path = "common/args.rs"]
mod args;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use nexmark::EventGenerator;
use nexmark::config::NexmarkConfig;
use nexmark::event::{Bid, Event, EventType};
use serde_json::{Map, Value};

/// 2026-01-01T00:00:00Z in milliseconds since the epoch.
const BASE_MS: u64 = 1_767_225_600_000;
const MS_PER_DAY: u64 = 86_400_000;
/// The bid table of Nexmark, as `hazy stream --schema` and `CREATE EXTERNAL TABLE` take it.
const SCHEMA: &str = "auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, \
                      date_time TIMESTAMP, extra VARCHAR";
/// Nexmark's day windows (q15 to q17) and 10-second windows (q7, q12), all 10 seconds here.
const WINDOW: &str = "date_bin(INTERVAL '10 seconds', date_time)";
/// q5's hopping window: 10 seconds sliding every 2 s, as five 2-second panes.
const PANE: &str = "date_bin(INTERVAL '2 seconds', date_time)";
const PANES: usize = 5;
const PANE_SECONDS: u64 = 2;
/// Nexmark's price bands (q15 to q17).
const RANKS: [(&str, &str); 3] = [
    ("rank1", "price < 10000"),
    ("rank2", "price >= 10000 AND price < 1000000"),
    ("rank3", "price >= 1000000"),
];

/// How a query's stream output is checked against batch SQL.
enum Check {
    /// Equal to the same SQL in batch, row for row.
    Exact,
    /// Equal to this exact twin in batch, except the distinct counts, which must lie within
    /// the HyperLogLog's bound.
    Distinct(String),
    /// `hot`: approx_topk(auction, 10) per window, checked against q5's exact counts.
    TopK,
}

struct Query {
    name: &'static str,
    sql: String,
    panes: usize,
    check: Check,
    /// Flink's published events/s per core for this Nexmark query (V2 guide), if any.
    flink_v2: Option<f64>,
}

/// Flink nexmark GUIDE_V2.md: throughput / cores (8 × 1-slot TaskManagers on 4 × 16-core
/// workers, datagen source, RocksDB, 50M events).
fn flink_v2(query: &str) -> Option<f64> {
    let (throughput, cores) = match query {
        "q0" => (2.65e6, 7.0),
        "q5" => (920.4e3, 12.35),
        "q7" => (262.46e3, 11.45),
        "q12" => (1.95e6, 10.03),
        "q15" => (1.37e6, 8.16),
        "q16" => (487.29e3, 10.77),
        "q17" => (1.63e6, 10.15),
        _ => return None,
    };
    Some(throughput / cores)
}

fn query(name: &'static str, sql: String, panes: usize, check: Check) -> Query {
    let base = name.split('-').next().unwrap_or(name);
    Query {
        name,
        sql,
        panes,
        check,
        flink_v2: flink_v2(base),
    }
}

/// count(*) with the three price bands, then distinct bidders and auctions, total and per
/// band: Nexmark q15's aggregates, exact or with `approx_count_distinct`.
fn band_counts(exact: bool) -> String {
    let distinct = |col: &str, filter: Option<&str>| {
        let agg = if exact {
            format!("count(DISTINCT {col})")
        } else {
            format!("approx_count_distinct({col})")
        };
        filter.map_or(agg.clone(), |p| format!("{agg} FILTER (WHERE {p})"))
    };
    let mut cols = vec!["count(*) AS total_bids".to_string()];
    cols.extend(
        RANKS
            .iter()
            .map(|(n, p)| format!("count(*) FILTER (WHERE {p}) AS {n}_bids")),
    );
    for (col, plural) in [("bidder", "bidders"), ("auction", "auctions")] {
        cols.push(format!("{} AS total_{plural}", distinct(col, None)));
        cols.extend(
            RANKS
                .iter()
                .map(|(n, p)| format!("{} AS {n}_{plural}", distinct(col, Some(p)))),
        );
    }
    cols.join(", ")
}

fn q15(exact: bool) -> String {
    format!(
        "SELECT {WINDOW} AS w, {} FROM events GROUP BY {WINDOW}",
        band_counts(exact)
    )
}

fn q16(exact: bool) -> String {
    format!(
        "SELECT channel, {WINDOW} AS w, {} FROM events GROUP BY channel, {WINDOW}",
        band_counts(exact)
    )
}

fn queries() -> Vec<Query> {
    let bands: Vec<String> = RANKS
        .iter()
        .map(|(n, p)| format!("count(*) FILTER (WHERE {p}) AS {n}_bids"))
        .collect();
    vec![
        query(
            "q0",
            format!("SELECT {WINDOW} AS w, count(*) AS bids FROM events GROUP BY {WINDOW}"),
            1,
            Check::Exact,
        ),
        query(
            "q5",
            format!(
                "SELECT {PANE} AS w, auction, count(*) AS num FROM events GROUP BY auction, {PANE}"
            ),
            PANES,
            Check::Exact,
        ),
        query(
            "q5-hot",
            format!(
                "SELECT {PANE} AS w, approx_topk(auction, 10) AS hot FROM events GROUP BY {PANE}"
            ),
            PANES,
            Check::TopK,
        ),
        query(
            "q7",
            format!(
                "SELECT {WINDOW} AS w, max(price) AS maxprice, count(*) AS bids FROM events \
                 GROUP BY {WINDOW}"
            ),
            1,
            Check::Exact,
        ),
        query(
            "q12",
            format!(
                "SELECT bidder, {WINDOW} AS w, count(*) AS bid_count FROM events \
                 GROUP BY bidder, {WINDOW}"
            ),
            1,
            Check::Exact,
        ),
        query("q15-sketch", q15(false), 1, Check::Distinct(q15(true))),
        query("q15-exact", q15(true), 1, Check::Exact),
        query("q16-sketch", q16(false), 1, Check::Distinct(q16(true))),
        query("q16-exact", q16(true), 1, Check::Exact),
        query(
            "q17",
            format!(
                "SELECT auction, {WINDOW} AS w, count(*) AS total_bids, {}, min(price) AS min_price, \
                 max(price) AS max_price, avg(price) AS avg_price, sum(price) AS sum_price \
                 FROM events GROUP BY auction, {WINDOW}",
                bands.join(", ")
            ),
            1,
            Check::Exact,
        ),
    ]
}

/// The Nexmark generator: bids only, 100,000 events (of all kinds) per second of event time.
fn bids() -> impl Iterator<Item = Bid> {
    let config = NexmarkConfig {
        base_time: BASE_MS,
        first_rate: 100_000,
        next_rate: 100_000,
        ..Default::default()
    };
    EventGenerator::new(config)
        .with_type_filter(EventType::Bid)
        .map(|e| match e {
            Event::Bid(b) => b,
            other => panic!("the bid filter gave {other:?}"),
        })
}

/// Milliseconds since the epoch as RFC 3339 (on the base day).
fn rfc3339(ms: u64) -> String {
    let t = ms - BASE_MS;
    assert!(t < MS_PER_DAY, "more bids than one day of event time");
    let (s, ms) = (t / 1000, t % 1000);
    format!(
        "2026-01-01T{:02}:{:02}:{:02}.{ms:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

fn write_bid(out: &mut impl Write, b: &Bid) -> std::io::Result<()> {
    let s = |v: &str| serde_json::to_string(v).expect("a JSON string");
    writeln!(
        out,
        "{{\"auction\":{},\"bidder\":{},\"price\":{},\"channel\":{},\"url\":{},\"date_time\":\"{}\",\"extra\":{}}}",
        b.auction,
        b.bidder,
        b.price,
        s(&b.channel),
        s(&b.url),
        rfc3339(b.date_time),
        s(&b.extra)
    )
}

/// The NDJSON file of `n` bids, written once and kept (the bids are the same every time).
fn bid_file(n: u64) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("nexmark-bids-{n}.json"));
    if path.exists() {
        return path;
    }
    let started = Instant::now();
    let tmp = path.with_extension("tmp");
    let mut out = BufWriter::with_capacity(1 << 20, File::create(&tmp).expect("bid file"));
    for b in bids().take(n as usize) {
        write_bid(&mut out, &b).expect("write a bid");
    }
    out.flush().expect("write the bid file");
    std::fs::rename(&tmp, &path).expect("bid file");
    eprintln!(
        "wrote {n} bids to {} in {:.1} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    path
}

fn hazy() -> &'static str {
    env!("CARGO_BIN_EXE_hazy")
}

/// One measured run of `hazy stream`.
struct Run {
    wall: f64,
    cpu: f64,
    rss_mib: f64,
    state_kib: u64,
    rows: Vec<Value>,
}

/// Runs the query through `hazy stream` under `/usr/bin/time`, from the file or piped by `cat`.
fn stream(q: &Query, file: &Path, piped: bool, events: u64) -> Run {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let (times, out) = (dir.join("nexmark-time.txt"), dir.join("nexmark-out.json"));
    let mut cmd = Command::new("/usr/bin/time");
    cmd.arg("-o")
        .arg(&times)
        .args(["-f", "%U %S %M", hazy(), "stream"]);
    cmd.args(["--schema", SCHEMA, "--time-column", "date_time"])
        .args(["--idle-timeout", "0", "--quiet", "--output", "ndjson"])
        .args(["--panes", &q.panes.to_string(), "--sql", &q.sql]);
    let mut cat = None;
    if piped {
        let mut child = Command::new("cat")
            .arg(file)
            .stdout(Stdio::piped())
            .spawn()
            .expect("run cat");
        cmd.stdin(Stdio::from(child.stdout.take().unwrap()));
        cat = Some(child);
    } else {
        cmd.arg("--input").arg(file);
    }
    cmd.stdout(File::create(&out).expect("output file"));
    let started = Instant::now();
    let res = cmd.output().expect("run hazy stream");
    let wall = started.elapsed().as_secs_f64();
    if let Some(mut c) = cat {
        c.wait().expect("cat");
    }
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(
        res.status.success(),
        "{}: hazy stream failed: {err}",
        q.name
    );
    let state_kib = check_summary(q.name, &err, events);
    let t = std::fs::read_to_string(&times).expect("/usr/bin/time output");
    let f: Vec<f64> = t
        .split_whitespace()
        .map(|v| v.parse().expect("a time figure"))
        .collect();
    Run {
        wall,
        cpu: f[0] + f[1],
        rss_mib: f[2] / 1024.0,
        state_kib,
        rows: read_rows_and_remove(&out),
    }
}

/// Checks the summary line (every bid counted, none late or malformed); returns the peak
/// state memory in KiB.
fn check_summary(name: &str, stderr: &str, events: u64) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.starts_with("hazy stream: "))
        .unwrap_or_else(|| panic!("{name}: no summary in {stderr}"));
    let want = format!("hazy stream: {events} events in ");
    let clean = ", 0 late, 0 without a time, 0 malformed;";
    assert!(
        line.starts_with(&want) && line.contains(clean),
        "{name}: {line}"
    );
    line.split("peak state memory ")
        .nth(1)
        .and_then(|v| v.trim_end_matches(" KiB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{name}: no state memory in {line}"))
}

/// The stream's output rows; the file goes (q5 writes 3M rows).
fn read_rows_and_remove(path: &Path) -> Vec<Value> {
    let file = BufReader::new(File::open(path).expect("query output"));
    let rows = file
        .lines()
        .map(|l| serde_json::from_str(&l.expect("an output line")).expect("an NDJSON row"))
        .collect();
    let _ = std::fs::remove_file(path);
    rows
}

/// The same SQL in batch: `hazy sql` over the bid file (q5's sliding windows as the union of
/// the five hops each bid belongs to).
fn batch(sql: &str, panes: usize, file: &Path) -> Vec<Value> {
    let create = format!(
        "CREATE EXTERNAL TABLE bids ({SCHEMA}) STORED AS JSON LOCATION '{}'",
        file.display()
    );
    let events = if panes == 1 {
        "CREATE VIEW events AS SELECT * FROM bids".to_string()
    } else {
        sliding_events(panes)
    };
    let res = Command::new(hazy())
        .args(["sql", "--quiet", "--format", "ndjson"])
        .args(["-c", &create, "-c", &events, "-c", &batch_sql(sql, panes)])
        .output()
        .expect("run hazy sql");
    let err = String::from_utf8_lossy(&res.stderr);
    assert!(res.status.success(), "hazy sql failed: {err}\n{sql}");
    String::from_utf8_lossy(&res.stdout)
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("an NDJSON row"))
        .collect()
}

/// Each bid once per sliding window holding it: `hop` is how far its window starts before the
/// bid's own pane (0, 2, 4, … seconds).
fn sliding_events(panes: usize) -> String {
    let hops: Vec<String> = (0..panes)
        .map(|k| format!("(INTERVAL '{} seconds')", k as u64 * PANE_SECONDS))
        .collect();
    format!(
        "CREATE VIEW events AS SELECT bids.*, hop FROM bids CROSS JOIN (VALUES {}) AS h(hop)",
        hops.join(", ")
    )
}

/// The stream query for batch: with panes, the window column becomes the sliding window's
/// start, `pane - hop`.
fn batch_sql(sql: &str, panes: usize) -> String {
    if panes == 1 {
        return sql.to_string();
    }
    let start = format!("({PANE} - hop)");
    sql.replace(PANE, &start)
}

/// Rows as sorted canonical JSON text (object keys sorted), for row-for-row comparison.
fn canonical(rows: &[Value]) -> Vec<String> {
    let mut v: Vec<String> = rows.iter().map(Value::to_string).collect();
    v.sort();
    v
}

fn check_exact(name: &str, got: &[Value], want: &[Value]) {
    let (g, w) = (canonical(got), canonical(want));
    if g != w {
        let first = g.iter().zip(&w).find(|(a, b)| a != b);
        panic!(
            "{name}: stream and batch differ: {} rows against {}; first difference {first:?}",
            g.len(),
            w.len()
        );
    }
}

/// A distinct count within 4 standard errors of HyperLogLog at precision 14 (1.04/√16384),
/// plus one.
fn within_hll_bound(estimate: f64, exact: f64) -> bool {
    (estimate - exact).abs() <= 4.0 * 1.04 / 128.0 * exact + 1.0
}

/// The sketch variant against its exact twin in batch: same rows and keys, counts equal,
/// distinct counts within the bound. Returns the largest relative error among the counts of
/// 100 or more (below, one unit is already a percent or more).
fn check_distinct(name: &str, got: &[Value], want: &[Value]) -> f64 {
    assert_eq!(got.len(), want.len(), "{name}: row counts differ");
    let key = |r: &Value| {
        let o = r.as_object().expect("a row object");
        format!("{:?} {:?}", o.get("w"), o.get("channel"))
    };
    let want: HashMap<String, &Map<String, Value>> = want
        .iter()
        .map(|r| (key(r), r.as_object().unwrap()))
        .collect();
    let mut worst = 0.0f64;
    for row in got {
        let exact = want
            .get(&key(row))
            .unwrap_or_else(|| panic!("{name}: no batch row for {row}"));
        for (col, v) in row.as_object().unwrap() {
            let e = &exact[col];
            if col.ends_with("bidders") || col.ends_with("auctions") {
                let (a, b) = (v.as_f64().unwrap(), e.as_f64().unwrap());
                assert!(
                    within_hll_bound(a, b),
                    "{name}: {col} {a} against {b} in {row}"
                );
                if b >= 100.0 {
                    worst = worst.max((a - b).abs() / b);
                }
            } else {
                assert_eq!(v, e, "{name}: {col} differs in {row}");
            }
        }
    }
    worst
}

/// approx_topk's guarantee per window, against q5's exact counts per auction: each reported
/// item's true count lies in [lower, upper], and no auction had more bids than the first
/// item's upper bound. Returns the share of windows whose first item is a true hottest auction.
fn check_topk(got: &[Value], counts: &[Value]) -> f64 {
    let mut exact: BTreeMap<String, HashMap<i64, i64>> = BTreeMap::new();
    for r in counts {
        let w = r["w"].as_str().expect("w").to_string();
        let auction = r["auction"].as_i64().unwrap();
        exact
            .entry(w)
            .or_default()
            .insert(auction, r["num"].as_i64().unwrap());
    }
    assert_eq!(got.len(), exact.len(), "q5-hot: windows differ");
    let mut hottest_first = 0;
    for row in got {
        let w = row["w"].as_str().expect("w");
        let counts = exact
            .get(w)
            .unwrap_or_else(|| panic!("q5-hot: no window {w}"));
        let hot = row["hot"].as_array().expect("a top-k list");
        for item in hot {
            let n = counts
                .get(&item["item"].as_i64().unwrap())
                .copied()
                .unwrap_or(0);
            let (lo, hi) = (
                item["lower"].as_i64().unwrap(),
                item["upper"].as_i64().unwrap(),
            );
            assert!(lo <= n && n <= hi, "q5-hot: {item} has {n} bids in {w}");
        }
        let max = *counts.values().max().unwrap();
        assert!(
            max <= hot[0]["upper"].as_i64().unwrap(),
            "q5-hot: {max} bids missed in {w}"
        );
        hottest_first += usize::from(counts[&hot[0]["item"].as_i64().unwrap()] == max);
    }
    hottest_first as f64 / got.len() as f64
}

/// Checks a run's rows against batch; returns what the check found, for the table.
fn check(q: &Query, rows: &[Value], reference: &mut Reference) -> String {
    match &q.check {
        Check::Exact => {
            check_exact(q.name, rows, reference.get(&q.sql, q.panes));
            format!("= batch ({} rows)", rows.len())
        }
        Check::Distinct(exact_sql) => {
            let worst = check_distinct(q.name, rows, reference.get(exact_sql, q.panes));
            format!("distinct within bound; ≥ 100 within {:.2}%", worst * 100.0)
        }
        Check::TopK => {
            let q5 = queries().into_iter().find(|q| q.name == "q5").unwrap();
            let share = check_topk(rows, reference.get(&q5.sql, q5.panes));
            format!(
                "bounds hold; first item hottest in {:.0}% of windows",
                share * 100.0
            )
        }
    }
}

/// Batch results by SQL, each computed once.
struct Reference {
    file: PathBuf,
    done: HashMap<String, Vec<Value>>,
}

impl Reference {
    fn get(&mut self, sql: &str, panes: usize) -> &[Value] {
        let file = &self.file;
        self.done
            .entry(sql.to_string())
            .or_insert_with(|| batch(sql, panes, file))
    }
}

fn print_row(q: &Query, mode: &str, run: &Run, events: u64, checked: &str) {
    let per_cpu = events as f64 / run.cpu;
    let flink = q
        .flink_v2
        .map_or("".to_string(), |f| format!("{f:.0} ({:.1}×)", per_cpu / f));
    println!(
        "| {} | {mode} | {:.0} | {per_cpu:.0} | {flink} | {:.1} | {} | {checked} |",
        q.name,
        events as f64 / run.wall,
        run.rss_mib,
        run.state_kib
    );
}

/// q16's sketch variant against the exact one: throughput (events per CPU-second) and state
/// memory ratios, beside the target (≥ 1.5× the throughput at ≤ 0.5× the memory).
fn print_ratios(results: &HashMap<(&str, &str), Run>) {
    for mode in ["file", "piped"] {
        let (Some(s), Some(e)) = (
            results.get(&("q16-sketch", mode)),
            results.get(&("q16-exact", mode)),
        ) else {
            continue;
        };
        println!(
            "q16 {mode}: sketch/exact throughput {:.2}× (CPU) {:.2}× (wall), state memory {:.2}×, \
             peak RSS {:.2}× (target: ≥ 1.5× at ≤ 0.5×)",
            e.cpu / s.cpu,
            e.wall / s.wall,
            s.state_kib as f64 / e.state_kib as f64,
            s.rss_mib / e.rss_mib
        );
    }
}

fn main() {
    let args = args::Args::from_env();
    let events: u64 = if args.has("--quick") {
        1_000_000
    } else {
        args.parsed("--events", 10_000_000)
    };
    let only = args.get("--only");
    let repeats: usize = args.parsed("--runs", 1).max(1);
    let file = bid_file(events);
    let bytes = std::fs::metadata(&file).expect("bid file").len();
    println!(
        "Nexmark bids: {events} in {} ({:.0} bytes a line)",
        file.display(),
        bytes as f64 / events as f64
    );
    println!(
        "| query | input | events/s (wall) | events per CPU-s | Flink V2 per core (Hazy ×) | peak RSS MiB | state KiB | check |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---|");
    let mut reference = Reference {
        file: file.clone(),
        done: HashMap::new(),
    };
    let mut results = HashMap::new();
    for q in queries() {
        if only.as_ref().is_some_and(|o| !q.name.contains(o.as_str())) {
            continue;
        }
        for (mode, piped) in [("file", false), ("piped", true)] {
            let mut runs: Vec<(Run, String)> = (0..repeats)
                .map(|_| {
                    let mut run = stream(&q, &file, piped, events);
                    let checked = check(&q, &run.rows, &mut reference);
                    run.rows = Vec::new();
                    (run, checked)
                })
                .collect();
            runs.sort_by(|a, b| a.0.cpu.total_cmp(&b.0.cpu));
            let (run, checked) = runs.swap_remove(repeats / 2);
            print_row(&q, mode, &run, events, &checked);
            results.insert((q.name, mode), run);
        }
    }
    print_ratios(&results);
}
