//! `hazy sql`'s interactive shell, driven through a pseudo-terminal as a person types: keys
//! go in one at a time, the screen is read back, and nothing is assumed about rustyline's
//! redrawing beyond what a person sees.

use crate::common::Scratch;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use nix::pty::{Winsize, openpty};

const TIMEOUT: Duration = Duration::from_secs(60);

/// A `hazy` process on the slave side of a pseudo-terminal.
struct Terminal {
    child: Child,
    keys: File,
    screen: Receiver<Vec<u8>>,
    seen: String,
}

impl Terminal {
    fn start(args: &[&str], history: &Path) -> Self {
        let size = Winsize {
            ws_row: 50,
            ws_col: 200,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty =
            openpty(Some(&size), None::<&nix::sys::termios::Termios>).expect("a pseudo-terminal");
        let slave = File::from(pty.slave);
        let child = Command::new(env!("CARGO_BIN_EXE_hazy"))
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("TERM", "xterm")
            .env("HAZY_HISTORY", history)
            .stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave))
            .spawn()
            .expect("run hazy");
        let keys = File::from(pty.master);
        let mut reader = keys.try_clone().unwrap();
        let (tx, screen) = channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Ends with EIO once the child has exited and closed the terminal.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            keys,
            screen,
            seen: String::new(),
        }
    }

    /// Types `text` a key at a time (`\r` is Enter).
    fn type_keys(&mut self, text: &str) {
        for c in text.chars() {
            let mut b = [0u8; 4];
            self.keys
                .write_all(c.encode_utf8(&mut b).as_bytes())
                .unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        self.keys.flush().unwrap();
    }

    /// Waits until the screen shows `needle` after what was already matched; returns what
    /// appeared up to it.
    fn expect(&mut self, needle: &str) -> String {
        let start = Instant::now();
        loop {
            if let Some(at) = self.seen.find(needle) {
                let shown: String = self.seen[..at + needle.len()].to_string();
                self.seen = self.seen[at + needle.len()..].to_string();
                return shown;
            }
            match self.screen.recv_timeout(Duration::from_millis(100)) {
                Ok(bytes) => self.seen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(RecvTimeoutError::Timeout) if start.elapsed() < TIMEOUT => {}
                Err(e) => panic!(
                    "no '{needle}' on the screen ({e:?}); it shows:\n{}",
                    self.seen
                ),
            }
        }
    }

    /// Sends SIGTERM, as a service manager stopping the program would.
    fn terminate(&self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("send SIGTERM");
    }

    fn exits_successfully(mut self) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "the shell exited with {status}");
                return;
            }
            assert!(start.elapsed() < TIMEOUT, "the shell did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_person_types_queries_recalls_history_and_lists_functions() {
    let dir = Scratch::new("shell-session");
    let history = dir.path("history");
    let mut t = Terminal::start(&["sql"], &history);
    t.expect("hazy> ");

    // A query over three lines: nothing runs until the `;`.
    t.type_keys("SELECT approx_count_distinct(entity) AS users,\r");
    t.type_keys("       count(*) AS events\r");
    t.type_keys("FROM 'data/events.parquet';\r");
    let first = t.expect("1 row in set. Query took ");
    assert!(first.contains("| users | events |"), "{first}");
    assert!(first.contains("| 9813  | 100000 |"), "{first}");
    t.expect("hazy> ");

    // An error is one line on the screen, and the shell goes on.
    t.type_keys("SELECT * FROM no_such_table;\r");
    t.expect("Error: ");
    t.expect("no_such_table");
    t.expect("hazy> ");

    // The up arrow, twice, recalls the three-line query; Enter runs it again.
    t.type_keys("\x1b[A\x1b[A\r");
    let again = t.expect("1 row in set. Query took ");
    assert!(again.contains("| 9813  | 100000 |"), "{again}");
    t.expect("hazy> ");

    // \df lists Hazy's functions with one line each.
    t.type_keys("\\df\r");
    let functions = t.expect("rows in set.");
    assert!(functions.contains("| function "), "{functions}");
    assert!(
        functions.contains("| hll_estimate ")
            && functions.contains("The estimated number of distinct values in a HyperLogLog state, rounded to an integer."),
        "{functions}"
    );
    let count = hazy::udf::documented_functions().len();
    assert!(
        functions.contains(&format!("{count} rows in set.")),
        "{functions}"
    );
    t.expect("hazy> ");

    // \d lists the tables.
    t.type_keys("CREATE TABLE t AS VALUES (1);\r");
    t.expect("0 rows in set");
    t.expect("hazy> ");
    t.type_keys("\\d\r");
    let tables = t.expect(" in set.");
    assert!(tables.contains("| t "), "{tables}");
    t.expect("hazy> ");

    t.type_keys("\\q\r");
    t.exits_successfully();

    // The history is in the file, the multi-line query whole.
    let saved = std::fs::read_to_string(&history).unwrap();
    assert!(saved.contains("FROM 'data/events.parquet';"), "{saved}");

    // A new shell recalls it from the file; Ctrl-D leaves.
    let mut t = Terminal::start(&["sql", "--format", "csv"], &history);
    t.expect("hazy> ");
    for _ in 0..5 {
        // \q, CREATE, \d, \df, the query again (the newest first).
        t.type_keys("\x1b[A");
    }
    t.type_keys("\r");
    let recalled = t.expect("1 row in set.");
    assert!(
        recalled.contains("users,events\r\n9813,100000"),
        "{recalled}"
    );
    // Ctrl-D at the prompt (typed before it, the terminal would take it as its own EOF).
    t.expect("hazy> ");
    t.type_keys("\x04");
    t.exits_successfully();
}

#[test]
fn long_queries_show_progress_on_a_terminal_only() {
    let dir = Scratch::new("shell-progress");
    let sql =
        "SELECT approx_count_distinct(value) AS d FROM generate_series(1, 600000000) AS s(value)";
    let mut t = Terminal::start(&["sql", "-c", sql], &dir.path("history"));
    let progress = t.expect(" rows/s)");
    assert!(progress.contains(" rows ("), "{progress}");
    t.expect("| d ");
    t.exits_successfully();
    // --quiet: the same query shows only its result.
    let mut t = Terminal::start(&["sql", "--quiet", "-c", sql], &dir.path("history"));
    let quiet = t.expect("| d ");
    assert!(!quiet.contains("rows/s"), "{quiet}");
    t.exits_successfully();
}

#[test]
fn gen_and_stream_show_progress_on_a_terminal() {
    let dir = Scratch::new("shell-gen-stream");
    let events = dir.path("events.ndjson");
    let events_arg = events.to_str().unwrap();
    // hazy gen: events/s while it writes.
    let mut t = Terminal::start(
        &["gen", "--events", "6000000", "--output", events_arg],
        &dir.path("history"),
    );
    let line = t.expect(" events/s)");
    assert!(
        line.contains("hazy gen: ") && line.contains(" of 6.0 M events"),
        "{line}"
    );
    t.exits_successfully();
    // hazy stream over the file: events/s, open windows, watermark. It follows the file, so
    // it is still running when the progress line is due however fast it reads, and a SIGTERM
    // then ends it cleanly.
    let mut t = Terminal::start(
        &[
            "stream",
            "--input",
            events_arg,
            "--follow",
            "--output",
            "csv",
            "--summary",
            "false",
            "--sql",
            "SELECT date_bin(INTERVAL '1 minute', ts) AS minute, approx_count_distinct(entity) AS users \
             FROM events GROUP BY 1",
        ],
        &dir.path("history"),
    );
    let line = t.expect(" windows open, watermark ");
    assert!(
        line.contains("hazy stream: ") && line.contains(" events/s)"),
        "{line}"
    );
    t.terminate();
    t.expect("stopped; open windows closed");
    t.exits_successfully();
}
