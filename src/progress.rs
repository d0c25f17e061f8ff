//! A progress line on stderr for long work (`hazy sql`, `hazy gen`, `hazy stream`).
//!
//! Shown only when stderr is a terminal and not turned off (`--quiet`), only once the work has
//! run for [`DELAY`], redrawn in place at most every [`INTERVAL`], and erased before anything
//! else is printed and when it is dropped, so it never mixes with results or piped output.
//!
//! ```
//! use hazy::progress::ProgressLine;
//! let mut line = ProgressLine::new(false); // off: nothing is ever written
//! line.update(|elapsed| format!("{:.0} s", elapsed.as_secs_f64()));
//! line.clear();
//! ```

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How long work runs before its progress line appears.
pub const DELAY: Duration = Duration::from_secs(1);
/// The shortest time between two redraws.
pub const INTERVAL: Duration = Duration::from_millis(200);

/// One line of progress, redrawn in place on stderr.
#[derive(Debug)]
pub struct ProgressLine {
    enabled: bool,
    started: Instant,
    last_draw: Option<Instant>,
    shown: bool,
}

impl ProgressLine {
    /// A line drawn only if `enabled`.
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            started: Instant::now(),
            last_draw: None,
            shown: false,
        }
    }

    /// A line drawn when stderr is a terminal and `quiet` is off.
    pub fn for_stderr(quiet: bool) -> Self {
        Self::new(!quiet && std::io::stderr().is_terminal())
    }

    /// Whether this line can ever be drawn (callers skip gathering figures otherwise).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Time since the work started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Redraws the line with `text(elapsed)`, once [`DELAY`] has passed and at most every
    /// [`INTERVAL`]; `text` is not called otherwise.
    pub fn update(&mut self, text: impl FnOnce(Duration) -> String) {
        let elapsed = self.started.elapsed();
        if !self.enabled
            || elapsed < DELAY
            || self.last_draw.is_some_and(|t| t.elapsed() < INTERVAL)
        {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{}", text(elapsed));
        let _ = err.flush();
        self.last_draw = Some(Instant::now());
        self.shown = true;
    }

    /// Erases the line if it is on screen (before printing results or messages).
    pub fn clear(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.shown = false;
            // Redraw at once next time, not after another INTERVAL.
            self.last_draw = None;
        }
    }
}

impl Drop for ProgressLine {
    fn drop(&mut self) {
        self.clear();
    }
}

/// `1234567` → `1.2 M`, for counts and rates on a progress line.
pub fn human_count(n: f64) -> String {
    match n {
        n if n >= 1e9 => format!("{:.1} G", n / 1e9),
        n if n >= 1e6 => format!("{:.1} M", n / 1e6),
        n if n >= 1e3 => format!("{:.1} k", n / 1e3),
        n => format!("{n:.0}"),
    }
}

/// `1536` → `1.5 KiB`, for byte counts on a progress line.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_well() {
        assert_eq!(human_count(999.0), "999");
        assert_eq!(human_count(1_234_567.0), "1.2 M");
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn a_disabled_line_never_asks_for_its_text() {
        let mut line = ProgressLine::new(false);
        line.update(|_| unreachable!("a disabled line builds no text"));
        assert!(!line.enabled());
    }
}
