//! `hazy stream` as a user runs it: windows come out while the input is still open, late and
//! malformed records are reported, and a checkpoint survives `kill -9`.

use crate::common::Scratch;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Output, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

const PER_MINUTE: &str = "SELECT date_bin(INTERVAL '1 minute', ts) AS w, count(*) AS c, \
    approx_count_distinct(entity) AS d FROM events GROUP BY date_bin(INTERVAL '1 minute', ts)";

fn hazy() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hazy"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c
}

fn event(minute: u32, second: u32, entity: &str) -> String {
    format!("{{\"ts\":\"2026-01-01T00:{minute:02}:{second:02}Z\",\"entity\":\"{entity}\"}}\n")
}

fn spawn(args: &[&str]) -> Child {
    hazy()
        .arg("stream")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hazy stream")
}

/// Lines of the child's stdout as they come.
fn lines(stdout: ChildStdout) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    rx
}

fn next_line(rx: &Receiver<String>, within: Duration) -> Option<String> {
    rx.recv_timeout(within).ok()
}

fn json(line: &str) -> serde_json::Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[test]
fn a_window_comes_out_when_the_watermark_passes_it_while_the_input_stays_open() {
    let mut child = spawn(&[
        "--sql",
        PER_MINUTE,
        "--lateness",
        "5s",
        "--idle-timeout",
        "0",
        "--schema",
        "ts TIMESTAMP, entity VARCHAR",
    ]);
    let rx = lines(child.stdout.take().unwrap());
    let mut stdin = child.stdin.take().unwrap();
    for (s, e) in [(1, "a"), (30, "b"), (59, "c")] {
        stdin.write_all(event(0, s, e).as_bytes()).unwrap();
    }
    // Within the lateness: the first window stays open.
    stdin.write_all(event(1, 4, "d").as_bytes()).unwrap();
    stdin.flush().unwrap();
    assert_eq!(
        next_line(&rx, Duration::from_millis(700)),
        None,
        "closed before the watermark passed it"
    );
    // An event 5 s past the window end moves the watermark past it.
    stdin.write_all(event(1, 5, "e").as_bytes()).unwrap();
    stdin.flush().unwrap();
    let started = Instant::now();
    let line =
        next_line(&rx, Duration::from_secs(10)).expect("window 00:00 while the input is open");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    let row = json(&line);
    assert_eq!(row["w"], "2026-01-01T00:00:00");
    assert_eq!(row["c"], 3);
    assert_eq!(row["d"], 3);
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let last = next_line(&rx, Duration::from_secs(5)).expect("the open window at the end of input");
    assert_eq!(json(&last)["c"], 2);
}

#[test]
fn an_idle_input_closes_the_open_window() {
    let mut child = spawn(&["--sql", PER_MINUTE, "--idle-timeout", "300ms"]);
    let rx = lines(child.stdout.take().unwrap());
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all((event(0, 1, "a") + &event(0, 2, "b")).as_bytes())
        .unwrap();
    stdin.flush().unwrap();
    let line = next_line(&rx, Duration::from_secs(10)).expect("window after the idle timeout");
    assert_eq!(json(&line)["c"], 2);
    // A later event for the closed window is late, not added.
    stdin
        .write_all((event(0, 3, "c") + &event(2, 0, "d")).as_bytes())
        .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 late"), "{err}");
    assert_eq!(
        json(&next_line(&rx, Duration::from_secs(5)).unwrap())["w"],
        "2026-01-01T00:02:00"
    );
}

fn run_with_input(args: &[&str], input: &str) -> Output {
    let mut child = spawn(args);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.as_bytes()).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn late_and_malformed_records_are_reported_and_kept() {
    let scratch = Scratch::new("late_and_malformed_records_are_reported_and_kept");
    let late_file = scratch.path("late.ndjson");
    let _ = std::fs::remove_file(&late_file);
    let input = [
        event(0, 1, "a"),
        "{broken\n".to_string(),
        event(1, 30, "b"),
        event(0, 50, "late"),
        "{\"ts\":\"not a time\",\"entity\":\"x\"}\n".to_string(),
        event(1, 31, "c"),
    ]
    .concat();
    let out = run_with_input(
        &[
            "--sql",
            PER_MINUTE,
            "--lateness",
            "10s",
            "--late-output",
            late_file.to_str().unwrap(),
        ],
        &input,
    );
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2") && err.contains("line 5"), "{err}");
    assert!(
        err.contains("2 malformed") && err.contains("1 late"),
        "{err}"
    );
    assert!(
        err.contains("2026-01-01T00:00:00Z: 1"),
        "late count per window: {err}"
    );
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(json)
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["c"].as_i64(), rows[1]["c"].as_i64()),
        (Some(1), Some(2))
    );
    let late = std::fs::read_to_string(&late_file).unwrap();
    assert!(late.contains("\"entity\":\"late\""), "{late}");

    let strict = run_with_input(&["--sql", PER_MINUTE, "--strict"], &input);
    assert!(!strict.status.success());
    assert!(String::from_utf8_lossy(&strict.stderr).contains("malformed record at line 2"));
}

#[test]
fn csv_input_with_an_inferred_schema_and_epoch_seconds() {
    let input = "ts,entity,value\n1767225601,a,1.5\n1767225602,b,2.5\n1767225700,a,4\n";
    let out = run_with_input(
        &[
            "--format",
            "csv",
            "--output",
            "csv",
            "--sql",
            "SELECT date_bin(INTERVAL '1 minute', ts) AS w, count(*) AS c, sum(value) AS s FROM events GROUP BY 1",
        ],
        input,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "w,c,s\n2026-01-01T00:00:00,2,4.0\n2026-01-01T00:01:00,1,4.0\n"
    );
}

#[test]
fn bad_queries_and_flags_fail_with_the_reason() {
    let out = run_with_input(
        &[
            "--sql",
            "SELECT count(*) FROM events",
            "--schema",
            "ts TIMESTAMP",
        ],
        "",
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("GROUP BY date_bin"));
    let out = run_with_input(&["--sql", PER_MINUTE, "--lateness", "soon"], "");
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a duration"));
}

#[test]
fn sigterm_closes_and_flushes_the_open_windows() {
    let mut child = spawn(&["--sql", PER_MINUTE, "--idle-timeout", "0"]);
    let rx = lines(child.stdout.take().unwrap());
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all((event(0, 1, "a") + &event(0, 2, "b")).as_bytes())
        .unwrap();
    stdin.flush().unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let line = next_line(&rx, Duration::from_secs(10)).expect("the open window on SIGTERM");
    assert_eq!(json(&line)["c"], 2);
    assert!(child.wait().unwrap().success());
    drop(stdin);
}

/// The rows of a run keyed by window; a window repeated after a restart must be identical.
fn by_window(outputs: &[String]) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for out in outputs {
        for line in out.lines() {
            let w = json(line)["w"].as_str().unwrap().to_string();
            if let Some(previous) = m.insert(w.clone(), line.to_string()) {
                assert_eq!(
                    previous, line,
                    "window {w} came out twice with different rows"
                );
            }
        }
    }
    m
}

fn gen_events(path: &Path, events: &str, seed: &str) {
    let out = hazy()
        .args([
            "gen",
            "--events",
            events,
            "--format",
            "ndjson",
            "--disorder",
            "3",
            "--rate",
            "500",
            "--seed",
            seed,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    std::fs::write(path, out.stdout).unwrap();
}

#[test]
fn kill_9_and_restart_from_a_checkpoint_loses_and_repeats_nothing() {
    let scratch = Scratch::new("kill_9_and_restart_from_a_checkpoint_loses_and_repeats_nothing");
    let input = scratch.path("events.ndjson");
    gen_events(&input, "200000", "11");
    let all = std::fs::read(&input).unwrap();
    let sql = "SELECT date_bin(INTERVAL '1 minute', ts) AS w, count(*) AS c, approx_count_distinct(entity) AS d, \
               approx_topk(event_type, 3) AS top, count(*) FILTER (WHERE first_seen) AS new FROM events \
               GROUP BY date_bin(INTERVAL '1 minute', ts)";
    let common = [
        "--sql",
        sql,
        "--lateness",
        "2s",
        "--first-seen",
        "entity",
        "--panes",
        "2",
        "--batch-bytes",
        "65536",
    ];

    let whole = hazy()
        .arg("stream")
        .args(common)
        .args(["--input", input.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        whole.status.success(),
        "{}",
        String::from_utf8_lossy(&whole.stderr)
    );
    let expected = by_window(&[String::from_utf8_lossy(&whole.stdout).into_owned()]);
    assert!(expected.len() > 5);

    // First run: follow a file that holds half the events, then kill -9 after a checkpoint.
    let growing = scratch.path("growing.ndjson");
    let half = all.len() / 2;
    let cut = all[..half].iter().rposition(|&b| b == b'\n').unwrap() + 1;
    std::fs::write(&growing, &all[..cut]).unwrap();
    let ckpt = scratch.path("ckpt");
    let _ = std::fs::remove_dir_all(&ckpt);
    let args = |follow: bool| {
        let mut a: Vec<String> = common.iter().map(|s| s.to_string()).collect();
        a.extend(
            [
                "--input",
                growing.to_str().unwrap(),
                "--checkpoint",
                ckpt.to_str().unwrap(),
            ]
            .map(String::from),
        );
        a.extend(["--checkpoint-interval", "100ms", "--idle-timeout", "0"].map(String::from));
        if follow {
            a.push("--follow".into());
        }
        a
    };
    let mut first = hazy()
        .arg("stream")
        .args(args(true))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let rx = lines(first.stdout.take().unwrap());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ckpt.join("checkpoint.json").exists()
        || Instant::now() < deadline.min(Instant::now() + Duration::from_millis(300))
    {
        assert!(Instant::now() < deadline, "no checkpoint written");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();
    let mut first_out = String::new();
    while let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
        first_out.push_str(&l);
        first_out.push('\n');
    }
    assert!(
        !first_out.is_empty(),
        "the first run emitted windows before the kill"
    );

    // The rest of the events arrive; the second run resumes and reads to the end.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&growing)
        .unwrap()
        .write_all(&all[cut..])
        .unwrap();
    let second = hazy().arg("stream").args(args(false)).output().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(second.status.success(), "{err}");
    assert!(err.contains("resumed from checkpoint"), "{err}");
    let got = by_window(&[
        first_out,
        String::from_utf8_lossy(&second.stdout).into_owned(),
    ]);
    assert_eq!(got, expected);
}

#[test]
fn the_rollup_states_merge_into_the_whole_answer() {
    let scratch = Scratch::new("the_rollup_states_merge_into_the_whole_answer");
    let input = scratch.path("rollup-events.ndjson");
    gen_events(&input, "50000", "12");
    let dir = scratch.path("rollup");
    let _ = std::fs::remove_dir_all(&dir);
    let out = hazy()
        .args([
            "stream",
            "--input",
            input.to_str().unwrap(),
            "--lateness",
            "3s",
            "--rollup",
            dir.to_str().unwrap(),
            "--sql",
            PER_MINUTE,
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let files = std::fs::read_dir(&dir).unwrap().count();
    assert!(files >= 2, "{files} rollup files");
    let merged = hazy()
        .args([
            "sql",
            "--format",
            "csv",
            "-c",
            &format!(
                "SELECT sum(c) AS c, hll_estimate(hll_merge(d)) AS d FROM '{}/'",
                dir.display()
            ),
        ])
        .output()
        .unwrap();
    assert!(
        merged.status.success(),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    let whole = hazy()
        .args([
            "sql",
            "--format",
            "csv",
            "-c",
            &format!(
                "SELECT count(*) AS c, approx_count_distinct(entity) AS d FROM read_json('{}')",
                input.display()
            ),
        ])
        .output()
        .unwrap();
    let whole_out = String::from_utf8_lossy(&whole.stdout).to_string();
    let merged_out = String::from_utf8_lossy(&merged.stdout).to_string();
    assert!(merged_out.starts_with("c,d\n50000,"), "{merged_out}");
    if whole.status.success() {
        assert_eq!(merged_out, whole_out);
    }
    // Rollups hold stored states (magic "HZSK"), the format that lasts, not the transit form
    // states take between a query's aggregates.
    let forms = hazy()
        .args(["sql", "--format", "csv", "-c"])
        .arg(format!(
            "SELECT count(*) AS states, count(*) FILTER (WHERE starts_with(encode(d, 'hex'), \
             '485a534b')) AS stored FROM '{}/'",
            dir.display()
        ))
        .output()
        .unwrap();
    let forms = String::from_utf8_lossy(&forms.stdout).to_string();
    let counts: Vec<&str> = forms
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split(',')
        .collect();
    assert!(
        counts.len() == 2 && counts[0] == counts[1] && counts[0] != "0",
        "{forms}"
    );
}

// ---- Faults: restarts, rotated inputs, odd records, kill -9 at random points (issue 21) ----

fn stream_ok(args: &[&str]) -> Output {
    let out = hazy().arg("stream").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "hazy stream {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout_rows(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(json)
        .collect()
}

fn total_count(out: &Output) -> i64 {
    stdout_rows(out)
        .iter()
        .map(|r| r["c"].as_i64().unwrap())
        .sum()
}

/// Events at `minute:second` of 2026-01-01 for each of `n` entities.
fn minute_events(minute: u32, n: u32, tag: &str) -> String {
    (0..n)
        .map(|i| event(minute, i % 60, &format!("{tag}{i}")))
        .collect()
}

#[test]
fn restarts_after_a_clean_end_resume_and_read_only_what_was_added() {
    let scratch = Scratch::new("restarts_after_a_clean_end_resume_and_read_only_what_was_added");
    let input = scratch.path("clean-end.ndjson");
    let ckpt = scratch.path("clean-end-ckpt");
    let _ = std::fs::remove_dir_all(&ckpt);
    std::fs::write(
        &input,
        minute_events(0, 40, "a") + &minute_events(1, 30, "b"),
    )
    .unwrap();
    let args = [
        "--sql",
        PER_MINUTE,
        "--input",
        input.to_str().unwrap(),
        "--checkpoint",
        ckpt.to_str().unwrap(),
    ];
    let first = stream_ok(&args);
    assert_eq!(total_count(&first), 70);
    // No window is open after a clean end: the state file is still a valid (empty) one.
    let states: Vec<_> = std::fs::read_dir(&ckpt)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("states-"))
        .collect();
    assert_eq!(states.len(), 1, "one generation of state files");
    assert!(states[0].metadata().unwrap().len() > 0);
    let again = stream_ok(&args);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("resumed from checkpoint"), "{err}");
    assert_eq!(total_count(&again), 0, "nothing new, nothing written twice");
    std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap()
        .write_all(minute_events(3, 25, "c").as_bytes())
        .unwrap();
    let third = stream_ok(&args);
    assert_eq!(total_count(&third), 25);
}

#[test]
fn a_rotated_or_truncated_input_is_read_from_its_start() {
    let scratch = Scratch::new("a_rotated_or_truncated_input_is_read_from_its_start");
    let input = scratch.path("rotate.ndjson");
    let ckpt = scratch.path("rotate-ckpt");
    let _ = std::fs::remove_dir_all(&ckpt);
    let old = minute_events(0, 400, "old") + &minute_events(1, 400, "old");
    std::fs::write(&input, &old).unwrap();
    let args = [
        "--sql",
        PER_MINUTE,
        "--input",
        input.to_str().unwrap(),
        "--checkpoint",
        ckpt.to_str().unwrap(),
    ];
    assert_eq!(total_count(&stream_ok(&args)), 800);
    // Rotated: the same path now holds a shorter file of newer events.
    let rotated = scratch.path("rotate.ndjson.new");
    std::fs::write(&rotated, minute_events(5, 400, "new")).unwrap();
    std::fs::rename(&rotated, &input).unwrap();
    let out = stream_ok(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not the file the checkpoint read"), "{err}");
    assert_eq!(total_count(&out), 400, "every new event counted: {err}");
    // Truncated in place (same first bytes, now shorter than the saved position): read again
    // from the start; its events belong to a closed window, so they are late, not lost.
    std::fs::write(&input, minute_events(5, 150, "new")).unwrap();
    let out = stream_ok(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("truncated"), "{err}");
    assert!(err.contains("150 late"), "{err}");
}

/// A change to a saved input position.
type PositionEdit = fn(&mut serde_json::Value);

/// Rewrites the saved input position of the checkpoint in `dir`.
fn edit_position(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = dir.join("checkpoint.json");
    let mut meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut meta["position"]);
    std::fs::write(&path, serde_json::to_vec(&meta).unwrap()).unwrap();
}

#[test]
fn a_saved_position_that_does_not_fit_the_input_is_an_error() {
    let scratch = Scratch::new("a_saved_position_that_does_not_fit_the_input_is_an_error");
    let input = scratch.path("misfit.ndjson");
    let ckpt = scratch.path("misfit-ckpt");
    std::fs::write(&input, minute_events(0, 100, "e")).unwrap();
    let args = [
        "--sql",
        PER_MINUTE,
        "--input",
        input.to_str().unwrap(),
        "--checkpoint",
        ckpt.to_str().unwrap(),
    ];
    let cases: [(&str, PositionEdit); 4] = [
        ("no byte offset", |p| p["offset"] = serde_json::json!(-40)),
        ("does not fit", |p| {
            p["offset"] = serde_json::json!(p["offset"].as_u64().unwrap() - 7)
        }),
        ("past the end of the file", |p| {
            p["offset"] = serde_json::json!(p["offset"].as_u64().unwrap() + 4096)
        }),
        ("not at the start of a line", |p| {
            p["offset"] = serde_json::json!(p["offset"].as_u64().unwrap() - 7);
            p["mark"] = serde_json::Value::Null;
        }),
    ];
    for (want, edit) in cases {
        let _ = std::fs::remove_dir_all(&ckpt);
        stream_ok(&args);
        edit_position(&ckpt, edit);
        let out = hazy().arg("stream").args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{want}: accepted: {err}");
        assert!(err.contains(want), "{want}: {err}");
        assert!(err.contains("--checkpoint"), "says what to do: {err}");
    }
}

#[test]
fn odd_records_in_the_first_micro_batch_are_skipped_and_counted() {
    let sql = "SELECT date_bin(INTERVAL '1 minute', ts) AS w, count(*) AS c, sum(v) AS s \
               FROM events GROUP BY date_bin(INTERVAL '1 minute', ts)";
    // A JSON object where the time should be, and a value whose type changes.
    let input = [
        "{\"ts\":{\"at\":\"2026-01-01T00:00:00Z\"},\"v\":1}\n",
        "{\"ts\":\"2026-01-01T00:00:01Z\",\"v\":2}\n",
        "{\"ts\":\"2026-01-01T00:00:02Z\",\"v\":\"three\"}\n",
        "{\"ts\":\"2026-01-01T00:00:03Z\",\"v\":4}\n",
    ]
    .concat();
    let out = run_with_input(&["--sql", sql], &input);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("line 1: field 'ts' is a JSON object, expected a time"),
        "{err}"
    );
    assert!(
        err.contains("line 3: field 'v' is the string \"three\""),
        "{err}"
    );
    assert!(err.contains("2 malformed"), "{err}");
    let rows = stdout_rows(&out);
    assert_eq!(
        (rows[0]["c"].as_i64(), rows[0]["s"].as_i64()),
        (Some(2), Some(6))
    );

    // CSV rows with an extra or a missing field, counted with their line numbers.
    let csv = "ts,entity,v\n1767225601,a,1\n1767225602,b,2,extra\n1767225603,c\n1767225604,d,4\n";
    let out = run_with_input(&["--sql", sql, "--format", "csv"], csv);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("line 3: 4 fields where the header has 3"),
        "{err}"
    );
    assert!(
        err.contains("line 4: 2 fields where the header has 3"),
        "{err}"
    );
    let rows = stdout_rows(&out);
    assert_eq!(
        (rows[0]["c"].as_i64(), rows[0]["s"].as_i64()),
        (Some(2), Some(5))
    );
    // A query that does not fit the inferred types says so, with the schema it inferred.
    let text = "{\"ts\":\"2026-01-01T00:00:01Z\",\"v\":\"a\"}\n{\"ts\":\"2026-01-01T00:00:02Z\",\"v\":\"b\"}\n";
    let out = run_with_input(&["--sql", sql], text);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("inferred from the first records as (ts Timestamp(ns), v Utf8)")
            && err.contains("--schema"),
        "{err}"
    );
    let strict = run_with_input(&["--sql", sql, "--format", "csv", "--strict"], csv);
    assert!(!strict.status.success());
    assert!(
        String::from_utf8_lossy(&strict.stderr).contains("malformed record at line 3"),
        "{}",
        String::from_utf8_lossy(&strict.stderr)
    );
}

#[test]
fn byte_order_marks_and_rfc_4180_csv_are_read_as_files_come() {
    let bom = "\u{feff}";
    let out = run_with_input(
        &["--sql", PER_MINUTE],
        &format!("{bom}{}", minute_events(0, 3, "e")),
    );
    assert!(out.status.success());
    assert_eq!(stdout_rows(&out)[0]["c"], 3, "the first record is not lost");
    // A header with a byte-order mark; quoted fields holding commas, quotes and newlines; a
    // malformed record after them reported at its own line.
    let csv = format!(
        "{bom}ts,entity\r\n1767225601,\"a, \"\"quoted\"\"\nname\"\r\n1767225602,b\r\n1767225603,\"c\"\"\"\r\nbad,row,here\r\n1767225604,d\r\n"
    );
    let sql = "SELECT date_bin(INTERVAL '1 minute', ts) AS w, count(*) AS c, \
               max(length(entity)) AS longest FROM events GROUP BY 1";
    let out = run_with_input(&["--sql", sql, "--format", "csv"], &csv);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("line 6: 3 fields where the header has 2"),
        "{err}"
    );
    assert!(err.contains("1 malformed"), "{err}");
    let rows = stdout_rows(&out);
    assert_eq!(rows[0]["c"], 4, "{rows:?}");
    assert_eq!(rows[0]["longest"], "a, \"quoted\"\nname".len(), "{rows:?}");
}

/// A small deterministic generator for the kill points.
struct SplitMix(u64);

impl SplitMix {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)) % n
    }
}

/// Burst `k` of the fault test: late events for the window the previous idle close closed,
/// the events of minute 2k (closed by the watermark within the burst), a malformed line, and
/// the events of minute 2k+1 (closed by the idle timeout after the burst), a few out of order.
fn burst(k: u32) -> String {
    let base = 1_767_225_600u64;
    let at = |minute: u32, second: u32, entity: String, v: u32| {
        format!(
            "{{\"ts\":{},\"entity\":\"{entity}\",\"v\":{v}}}\n",
            base + u64::from(minute) * 60 + u64::from(second)
        )
    };
    let mut s = String::new();
    if k > 0 {
        for i in 0..5 {
            s += &at(2 * k - 1, 50 + i, format!("late{k}-{i}"), 1000 + i);
        }
    }
    for i in 0..40 {
        s += &at(2 * k, i, format!("e{}", (i * 7 + k) % 23), i);
    }
    s += "{broken\n";
    for i in 0..30 {
        s += &at(2 * k + 1, i + 2, format!("e{}", (i * 5 + k) % 19), i);
        if i == 1 {
            s += &at(2 * k, 58, format!("ooo{k}"), 7); // out of order, within the lateness
        }
    }
    s
}

fn window_name(minute: u32) -> String {
    format!("2026-01-01T{:02}:{:02}:00", minute / 60, minute % 60)
}

/// A `hazy stream --follow` whose output lines all go to one channel, whatever instance.
struct Follower {
    args: Vec<String>,
    child: Option<Child>,
    tx: std::sync::mpsc::Sender<String>,
}

impl Follower {
    fn start(&mut self) {
        let mut child = hazy()
            .arg("stream")
            .args(&self.args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let tx = self.tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        self.child = Some(child);
    }

    fn kill_9(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    fn stop(&mut self) {
        let mut child = self.child.take().unwrap();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(child.wait().unwrap().success());
    }
}

/// Feeds the bursts to a followed file, waiting after each for the window the idle timeout
/// closes; with `kill`, kills the process at random points (while reading, closing windows,
/// saving, starting up, right after a window came out) and restarts it. Returns every output
/// line and the number of kills.
fn run_bursts(name: &str, bursts: u32, mut kill: Option<SplitMix>) -> (Vec<String>, u32) {
    let scratch = Scratch::new(name);
    let input = scratch.path(&format!("{name}.ndjson"));
    let ckpt = scratch.path(&format!("{name}-ckpt"));
    let _ = std::fs::remove_dir_all(&ckpt);
    std::fs::write(&input, "").unwrap();
    let sql = "SELECT date_bin(INTERVAL '1 minute', ts) AS w, count(*) AS c, \
               approx_count_distinct(entity) AS d, sum(v) AS s \
               FROM events GROUP BY date_bin(INTERVAL '1 minute', ts)";
    let args: Vec<String> = [
        "--sql",
        sql,
        "--schema",
        "ts TIMESTAMP, entity VARCHAR, v BIGINT",
        "--input",
        input.to_str().unwrap(),
        "--follow",
        "--checkpoint",
        ckpt.to_str().unwrap(),
        "--checkpoint-interval",
        "30ms",
        "--idle-timeout",
        "150ms",
        "--lateness",
        "5s",
    ]
    .map(String::from)
    .to_vec();
    let (tx, rx) = channel();
    let mut follower = Follower {
        args,
        child: None,
        tx,
    };
    follower.start();
    let mut lines = Vec::new();
    let mut kills = 0;
    for k in 0..bursts {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&input)
            .unwrap()
            .write_all(burst(k).as_bytes())
            .unwrap();
        if let Some(rng) = kill.as_mut() {
            for _ in 0..2 {
                std::thread::sleep(Duration::from_millis(rng.below(350)));
                follower.kill_9();
                follower.start();
                kills += 1;
            }
        }
        let want = window_name(2 * k + 1);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| panic!("window {want} never came out"));
            let done = json(&line)["w"] == want.as_str();
            lines.push(line);
            if done {
                break;
            }
        }
        if let Some(rng) = kill.as_mut()
            && rng.below(2) == 0
        {
            // Right after a window came out: its pending mark may not be cleared yet.
            follower.kill_9();
            follower.start();
            kills += 1;
        }
    }
    // A process restarted just now may still be starting: let it reach its signal handlers.
    std::thread::sleep(Duration::from_secs(1));
    follower.stop();
    drop(follower);
    lines.extend(rx.iter());
    (lines, kills)
}

#[test]
fn kill_9_at_random_points_loses_no_window_and_repeats_none_with_other_rows() {
    const BURSTS: u32 = 22;
    let (whole, _) = run_bursts("faults-whole", BURSTS, None);
    let expected = by_window(&[whole.join("\n")]);
    assert_eq!(expected.len(), 2 * BURSTS as usize);
    let (killed, kills) = run_bursts("faults-killed", BURSTS, Some(SplitMix(21)));
    assert!(kills >= 50, "{kills} kills");
    // by_window fails on a window that came out twice with different rows.
    let got = by_window(&[killed.join("\n")]);
    assert_eq!(got, expected);
}

/// `hazy stream --memory-limit` bounds the stream's pool, with Hazy's aggregates bound to it: a
/// limit that leaves room gives the unbounded run's windows, one that does not fails with
/// "Resources exhausted" and exit status 1, and the default (80% of the machine's memory, as
/// `hazy sql`) gives the unbounded windows too.
#[test]
fn the_memory_limit_bounds_a_stream() {
    let scratch = Scratch::new("the_memory_limit_bounds_a_stream");
    let input = scratch.path("events.ndjson");
    gen_events(&input, "200000", "7");
    let input = input.to_str().unwrap();
    let query = "SELECT date_bin(INTERVAL '1 minute', ts) AS w, count(*) AS c, \
        approx_count_distinct(entity) AS d, approx_topk(entity, 5) AS top \
        FROM events GROUP BY date_bin(INTERVAL '1 minute', ts)";
    let run = |limit: Option<&str>| {
        let mut args = vec!["--input", input, "--lateness", "5s", "--sql", query];
        if let Some(limit) = limit {
            args.extend(["--memory-limit", limit]);
        }
        hazy().arg("stream").args(&args).output().unwrap()
    };
    let unbounded = run(Some("none"));
    assert!(
        unbounded.status.success(),
        "{}",
        String::from_utf8_lossy(&unbounded.stderr)
    );
    assert_eq!(total_count(&unbounded), 200_000);
    for limit in [None, Some("64M")] {
        let out = run(limit);
        assert!(
            out.status.success(),
            "{limit:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, unbounded.stdout, "{limit:?}");
    }
    let short = run(Some("100K"));
    let stderr = String::from_utf8_lossy(&short.stderr);
    assert_eq!(short.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Resources exhausted"), "{stderr}");
}
