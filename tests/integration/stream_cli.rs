//! `hazy stream` as a user runs it: windows come out while the input is still open, late and
//! malformed records are reported, and a checkpoint survives `kill -9`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
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

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hazy-stream-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
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
    let late_file = temp("late.ndjson");
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
    let input = temp("events.ndjson");
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
    let growing = temp("growing.ndjson");
    let half = all.len() / 2;
    let cut = all[..half].iter().rposition(|&b| b == b'\n').unwrap() + 1;
    std::fs::write(&growing, &all[..cut]).unwrap();
    let ckpt = temp("ckpt");
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
    let input = temp("rollup-events.ndjson");
    gen_events(&input, "50000", "12");
    let dir = temp("rollup");
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
}
