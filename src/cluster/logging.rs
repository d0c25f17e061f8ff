//! A small stderr logger for the cluster binaries (Ballista reports through the `log` crate),
//! and the flags every cluster binary takes.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;

struct StderrLogger {
    level: LevelFilter,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let tag = match record.level() {
            Level::Error => "ERROR",
            Level::Warn => "WARN ",
            Level::Info => "INFO ",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        };
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{tag} {}: {}", record.target(), record.args());
    }

    fn flush(&self) {}
}

/// Parses `error`, `warn`, `info`, `debug`, `trace` or `off`.
pub fn parse_level(text: &str) -> Result<LevelFilter, String> {
    text.parse::<LevelFilter>().map_err(|_| {
        format!("unknown log level '{text}' (expected off, error, warn, info, debug or trace)")
    })
}

/// Sends log records at `level` and above to stderr; a second call keeps the first logger.
pub fn init(level: LevelFilter) {
    // Leaked once: the logger lives as long as the process, as `log` requires.
    let logger: &'static StderrLogger = Box::leak(Box::new(StderrLogger { level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}

/// The flags the scheduler and the executor share.
#[derive(clap::Args)]
pub struct ProcessFlags {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind_host: String,
    /// Log level on stderr: off, error, warn, info, debug or trace.
    #[arg(long, default_value = "info", value_parser = parse_level)]
    pub log_level: LevelFilter,
}
