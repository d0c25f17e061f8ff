//! `hazy stream` end to end, as BENCHMARKS.md reports it:
//!
//! * throughput and peak RSS of `hazy gen --format ndjson | hazy stream` with the tutorial's
//!   metrics per 1-minute window, after 1M, 10M and 50M events;
//! * window latency: from writing the event that closes a window to reading its output line.
//!
//! `cargo bench --bench stream_bench` (add `-- 1000000` to choose the sizes; `--quick` for
//! 1M only).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TUTORIAL: &str = "SELECT date_bin(INTERVAL '1 minute', ts) AS w, count(*) AS events, \
    approx_count_distinct(entity) AS uniques, approx_topk(entity, 10) AS top_entities, \
    approx_topk(event_type, 5) AS top_types, count(*) FILTER (WHERE first_seen) AS first_time \
    FROM events GROUP BY date_bin(INTERVAL '1 minute', ts)";

fn hazy() -> &'static str {
    env!("CARGO_BIN_EXE_hazy")
}

/// Runs the pipeline; returns (seconds, events/s, peak RSS of hazy stream in MiB, windows).
fn throughput(events: u64) -> (f64, f64, f64, usize) {
    let script = format!(
        "{hazy} gen --events {events} --rate 5000 --entities 100000 --disorder 1 --format ndjson | \
         /usr/bin/time -f 'RSS %M' {hazy} stream --lateness 2s --first-seen entity --summary false --sql \"{TUTORIAL}\"",
        hazy = hazy()
    );
    let started = Instant::now();
    let out = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("run the pipeline");
    let secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let rss_kib: f64 = err
        .lines()
        .find_map(|l| l.strip_prefix("RSS "))
        .and_then(|v| v.trim().parse().ok())
        .expect("/usr/bin/time output");
    let windows = String::from_utf8_lossy(&out.stdout).lines().count();
    (secs, events as f64 / secs, rss_kib / 1024.0, windows)
}

/// The stream alone, reading a file written beforehand: (seconds, events/s).
fn throughput_from_file(events: u64) -> (f64, f64) {
    let path =
        std::env::temp_dir().join(format!("hazy-stream-bench-{}.ndjson", std::process::id()));
    let status = Command::new(hazy())
        .args([
            "gen",
            "--events",
            &events.to_string(),
            "--rate",
            "5000",
            "--entities",
            "100000",
        ])
        .args([
            "--disorder",
            "1",
            "--format",
            "ndjson",
            "--output",
            path.to_str().unwrap(),
        ])
        .status()
        .expect("run hazy gen");
    assert!(status.success());
    let started = Instant::now();
    let out = Command::new(hazy())
        .args([
            "stream",
            "--input",
            path.to_str().unwrap(),
            "--lateness",
            "2s",
            "--first-seen",
            "entity",
        ])
        .args(["--summary", "false", "--sql", TUTORIAL])
        .output()
        .expect("run hazy stream");
    let secs = started.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_file(&path);
    (secs, events as f64 / secs)
}

fn event(minute: u64, second: u64, i: u64) -> String {
    let (h, m) = (minute / 60, minute % 60);
    format!(
        "{{\"ts\":\"2026-01-01T{h:02}:{m:02}:{second:02}Z\",\"entity\":\"entity_{}\",\"event_type\":\"click\"}}\n",
        i % 5000
    )
}

/// Latency of each window: the stream is fed a minute of events, then one event 2 s past the
/// window's end (the lateness) that moves the watermark past it.
fn latencies(windows: u64, per_window: u64) -> Vec<Duration> {
    let mut child = Command::new(hazy())
        .args([
            "stream",
            "--lateness",
            "2s",
            "--idle-timeout",
            "0",
            "--summary",
            "false",
            "--first-seen",
            "entity",
        ])
        .args([
            "--schema",
            "ts TIMESTAMP, entity VARCHAR, event_type VARCHAR",
            "--sql",
            TUTORIAL,
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run hazy stream");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut out = Vec::new();
    for w in 0..windows {
        let burst: String = (0..per_window)
            .map(|i| event(w, 2 + (i * 57 / per_window), i))
            .collect();
        stdin.write_all(burst.as_bytes()).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let closing = event(w + 1, 2, 0);
        let sent = Instant::now();
        stdin.write_all(closing.as_bytes()).unwrap();
        stdin.flush().unwrap();
        lines.next().expect("a window line").unwrap();
        out.push(sent.elapsed());
    }
    drop(stdin);
    child.wait().unwrap();
    out
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--bench"))
        .collect();
    let sizes: Vec<u64> = if args.iter().any(|a| a == "--quick") {
        vec![1_000_000]
    } else if let Some(n) = args.iter().find_map(|a| a.parse().ok()) {
        vec![n]
    } else {
        vec![1_000_000, 10_000_000, 50_000_000]
    };
    println!("hazy gen --format ndjson | hazy stream, tutorial metrics per 1-minute window");
    println!("| events | seconds | events/s | peak RSS (MiB) | windows |");
    println!("|---:|---:|---:|---:|---:|");
    for n in sizes {
        let (secs, rate, rss, windows) = throughput(n);
        println!("| {n} | {secs:.2} | {rate:.0} | {rss:.1} | {windows} |");
    }
    let (secs, rate) = throughput_from_file(10_000_000);
    println!("hazy stream alone over a 10M-event NDJSON file: {secs:.2} s, {rate:.0} events/s");
    let mut lat = latencies(30, 20_000);
    lat.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "window latency over {} windows of 20,000 events: median {:.1} ms, p90 {:.1} ms, max {:.1} ms",
        lat.len(),
        ms(lat[lat.len() / 2]),
        ms(lat[lat.len() * 9 / 10]),
        ms(*lat.last().unwrap())
    );
}
