//! `hazy stream`: runs a windowed SQL query over NDJSON or CSV records as they arrive.
//!
//! A [`RecordSource`] reads and decodes the input on its own threads (so parsing and
//! aggregation use both cores); this module parses the flags, feeds the decoded batches to a
//! [`WindowedStream`], writes each closed window's rows as soon as it closes, closes open
//! windows when the input goes idle, and saves checkpoints.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::common::{DataFusionError, Result};
use serde_json::json;

use crate::stream::input::{EpochUnit, InputFormat, Malformed};
use crate::stream::source::{Decoded, InputMark, Position, RecordSource, SourceOptions};
use crate::stream::window::rfc3339;
use crate::stream::{
    Checkpoint, ClosedWindow, FirstSeenOptions, StreamOptions, WindowedStream, stream_session_with,
};

/// Run a windowed SQL query over an endless stream of NDJSON or CSV records.
#[derive(clap::Args, Debug, Clone)]
pub struct StreamArgs {
    /// The query over the table `events`; it must GROUP BY date_bin(INTERVAL '…', <time column>).
    #[arg(long, conflicts_with = "sql_file")]
    pub sql: Option<String>,
    /// A file holding the query.
    #[arg(long, value_name = "FILE")]
    pub sql_file: Option<PathBuf>,
    /// Input: `-` (standard input), a file or a FIFO.
    #[arg(long, default_value = "-")]
    pub input: PathBuf,
    /// Keep reading a file as it grows (like `tail -f`) instead of ending at its end.
    #[arg(long)]
    pub follow: bool,
    /// Input record format: ndjson or csv (with a header line).
    #[arg(long, default_value = "ndjson", value_parser = parse_input_format)]
    pub format: InputFormat,
    /// Column definitions, e.g. "ts TIMESTAMP, entity VARCHAR, value DOUBLE"; inferred from
    /// the first records when not given.
    #[arg(long)]
    pub schema: Option<String>,
    /// The event-time column: RFC 3339 strings or numbers since the epoch.
    #[arg(long, default_value = "ts")]
    pub time_column: String,
    /// Unit of numeric event times: auto (by magnitude), s, ms, us or ns.
    #[arg(long, default_value = "auto", value_parser = parse_epoch)]
    pub time_unit: EpochUnit,
    /// How late an event may be, behind the latest event time, and still count (e.g. 5s).
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub lateness: Duration,
    /// Close the open windows after this long without input (e.g. 2s); 0 never.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// Each result covers this many consecutive date_bin windows (panes), emitted at every
    /// pane close: sliding windows. 1 gives tumbling windows.
    #[arg(long, default_value_t = 1)]
    pub panes: usize,
    /// Add a Boolean column `first_seen` to `events`: true on the first event of each value of
    /// this column (a Bloom filter over the whole stream).
    #[arg(long, value_name = "COLUMN")]
    pub first_seen: Option<String>,
    /// Distinct values the first_seen filter is sized for (1% false positives there; 1.2 MB
    /// for the default 1,000,000, 10 bits per value). Beyond it, more new values are missed.
    #[arg(long, default_value_t = 1_000_000)]
    pub first_seen_capacity: u64,
    /// Output format of the window rows: ndjson, csv or table.
    #[arg(long, default_value = "ndjson", value_parser = parse_output_format)]
    pub output: super::sql::OutputFormat,
    /// Also write each closed window's sketch states as DIR/<window start>.parquet (the
    /// rollup table: merge them later with the *_merge functions).
    #[arg(long, value_name = "DIR")]
    pub rollup: Option<PathBuf>,
    /// Append late events (as NDJSON) to this file instead of only counting them.
    #[arg(long, value_name = "FILE")]
    pub late_output: Option<PathBuf>,
    /// Save open windows and the input position here, and resume from it on start.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// How often to save a checkpoint (also saved after each closed window and on exit).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub checkpoint_interval: Duration,
    /// Stop at the first malformed record instead of counting and skipping it.
    #[arg(long)]
    pub strict: bool,
    /// Read input in chunks of about this many bytes (a micro-batch).
    #[arg(long, default_value_t = 1 << 20)]
    pub batch_bytes: usize,
    /// Open windows, their sketches and the queries' operators share one memory pool.
    #[command(flatten)]
    pub memory: super::MemoryArgs,
    /// Print a summary (events, windows, late, malformed, rate, memory) to stderr at the end.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub summary: bool,
    /// No progress line on stderr (events/s, open windows, watermark; shown only on a
    /// terminal, after a second).
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_input_format(s: &str) -> std::result::Result<InputFormat, String> {
    match s.to_ascii_lowercase().as_str() {
        "ndjson" | "jsonl" | "json" => Ok(InputFormat::Ndjson),
        "csv" => Ok(InputFormat::Csv),
        other => Err(format!(
            "unknown input format '{other}' (expected ndjson or csv)"
        )),
    }
}

fn parse_output_format(s: &str) -> std::result::Result<super::sql::OutputFormat, String> {
    match s.parse()? {
        super::sql::OutputFormat::Json => {
            Err("--output json is one array per run; use ndjson for a stream".into())
        }
        f => Ok(f),
    }
}

fn parse_epoch(s: &str) -> std::result::Result<EpochUnit, String> {
    match s {
        "auto" => Ok(EpochUnit::Auto),
        "s" => Ok(EpochUnit::Seconds),
        "ms" => Ok(EpochUnit::Millis),
        "us" => Ok(EpochUnit::Micros),
        "ns" => Ok(EpochUnit::Nanos),
        other => Err(format!(
            "unknown time unit '{other}' (expected auto, s, ms, us or ns)"
        )),
    }
}

/// `500ms`, `5s`, `2m`, `1h`, or a number of seconds.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let (v, unit) = super::number_and_unit(s, "a duration such as 500ms, 5s, 2m or 1h")?;
    let s = s.trim();
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" => 1e-6,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(v * scale)
        .map_err(|_| format!("'{s}' is not a non-negative duration"))
}

/// Runs `hazy stream` until the input ends or a signal arrives.
pub fn run(args: &StreamArgs) -> std::result::Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        // Registered here, before anything else runs, not when the task is first polled: a
        // signal that arrives during start-up still ends the stream cleanly.
        let (mut term, mut interrupt) = {
            use tokio::signal::unix::{SignalKind, signal};
            let _runtime = runtime.enter();
            (
                signal(SignalKind::terminate()).ok(),
                signal(SignalKind::interrupt()).ok(),
            )
        };
        runtime.spawn(async move {
            async fn received(s: &mut Option<tokio::signal::unix::Signal>) {
                match s.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                _ = received(&mut interrupt) => {}
                _ = received(&mut term) => {}
            }
            stop.store(true, Ordering::SeqCst);
        });
    }
    // Spills of the window aggregates go to Hazy's directory, removed on exit and on
    // SIGINT/SIGTERM (both end the loop below), or at the next start after a SIGKILL.
    let spill = super::spill::SpillDir::create().map_err(|e| format!("hazy stream: {e}"))?;
    let out = crate::pipe::PipeWatch::new(std::io::BufWriter::with_capacity(
        1 << 16,
        std::io::stdout(),
    ));
    let closed = out.closed_flag();
    let result =
        Runner::start(args, &runtime, stop, spill.path(), Box::new(out)).and_then(|r| r.run());
    match result {
        // The reader of the output went away (`| head`): a normal end, as for other tools.
        Err(_) if closed.load(Ordering::Relaxed) => Ok(()),
        Err(e) if e.to_string().contains(BROKEN_PIPE) => Ok(()),
        other => other.map_err(|e| e.strip_backtrace().to_string()),
    }
}

struct Runner<'a> {
    args: &'a StreamArgs,
    runtime: &'a tokio::runtime::Runtime,
    stream: WindowedStream,
    source: RecordSource,
    stop: Arc<AtomicBool>,
    out: Box<dyn Write>,
    late_out: Option<std::io::BufWriter<std::fs::File>>,
    printer: Option<super::print::Printer>,
    position: Position,
    malformed: u64,
    reported_late: u64,
    started: Instant,
    peak_memory: usize,
    progress: crate::progress::ProgressLine,
}

const MALFORMED_REPORTED: u64 = 5;

impl<'a> Runner<'a> {
    fn start(
        args: &'a StreamArgs,
        runtime: &'a tokio::runtime::Runtime,
        stop: Arc<AtomicBool>,
        spill_dir: &Path,
        out: Box<dyn Write>,
    ) -> Result<Self> {
        let sql = match (&args.sql, &args.sql_file) {
            (Some(sql), _) => sql.clone(),
            (None, Some(f)) => std::fs::read_to_string(f).map_err(|e| {
                DataFusionError::Execution(format!("hazy stream: cannot read {}: {e}", f.display()))
            })?,
            (None, None) => {
                return Err(DataFusionError::Plan(
                    "hazy stream needs --sql \"…\" or --sql-file FILE".into(),
                ));
            }
        };
        let mut checkpoint = match &args.checkpoint {
            Some(dir) => Checkpoint::read(dir)?,
            None => None,
        };
        let (resume, resume_mark) = match &checkpoint {
            Some(c) => saved_position(&c.meta.position)?,
            None => (Position::START, None),
        };
        let source = RecordSource::open(SourceOptions {
            path: args.input.clone(),
            format: args.format,
            time_column: args.time_column.clone(),
            time_unit: args.time_unit,
            schema: match &args.schema {
                Some(ddl) => Some(runtime.block_on(schema_from_ddl(ddl))?),
                None => None,
            },
            follow: args.follow,
            batch_bytes: args.batch_bytes,
            resume,
            resume_mark,
        })?;
        if let Some(why) = source.restarted() {
            eprintln!("hazy stream: {why}");
        }
        if source.resumed_at_start() {
            eprintln!(
                "hazy stream: standard input cannot be re-read: the saved windows go on with what arrives now"
            );
        }
        let schema = source.schema();
        let options = StreamOptions {
            time_column: args.time_column.clone(),
            lateness_ns: i64::try_from(args.lateness.as_nanos()).unwrap_or(i64::MAX),
            panes: args.panes,
            first_seen: args.first_seen.as_ref().map(|column| FirstSeenOptions {
                column: column.clone(),
                expected_items: args.first_seen_capacity,
                fpr: 0.01,
            }),
        };
        let session = stream_session_with(crate::cli::runtime_env(&super::SessionOptions {
            memory_limit: args.memory.limit(),
            spill_dir: Some(spill_dir.to_path_buf()),
        })?);
        let mut stream = runtime
            .block_on(WindowedStream::with_context(
                &session,
                &sql,
                Arc::clone(&schema),
                options,
            ))
            .map_err(|e| match &args.schema {
                Some(_) => e,
                None => with_inferred_schema(e, &schema),
            })?;
        stream.keep_late_rows(args.late_output.is_some());
        source.skip_columns(stream.unread_columns());
        let pending = checkpoint
            .as_mut()
            .map(|c| std::mem::take(&mut c.pending))
            .unwrap_or_default();
        if let Some(c) = checkpoint {
            runtime.block_on(stream.restore(c))?;
            let position = match source.restarted() {
                Some(_) => "the start of the input".to_string(),
                None => format!("line {} (byte {})", resume.line, resume.offset),
            };
            eprintln!(
                "hazy stream: resumed from checkpoint at {position}, {} windows open",
                stream.open_windows().len()
            );
        }
        let late_out = match &args.late_output {
            Some(p) => Some(std::io::BufWriter::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| {
                        DataFusionError::Execution(format!(
                            "hazy stream: cannot open --late-output {}: {e}",
                            p.display()
                        ))
                    })?,
            )),
            None => None,
        };
        if let Some(dir) = &args.rollup {
            std::fs::create_dir_all(dir).map_err(|e| {
                DataFusionError::Execution(format!(
                    "hazy stream: cannot create --rollup {}: {e}",
                    dir.display()
                ))
            })?;
        }
        let position = match source.restarted() {
            Some(_) => Position::START,
            None => resume,
        };
        let mut runner = Self {
            args,
            runtime,
            stream,
            source,
            stop,
            out,
            late_out,
            printer: None,
            position,
            malformed: 0,
            reported_late: 0,
            started: Instant::now(),
            peak_memory: 0,
            progress: crate::progress::ProgressLine::for_stderr(args.quiet),
        };
        // Windows the last run closed and saved but may not have written: written again, with
        // the very rows it saved.
        if !pending.is_empty() {
            runner.emit(pending)?;
        }
        if let Some(dir) = &args.checkpoint {
            Checkpoint::clear_pending(dir)?;
        }
        Ok(runner)
    }

    fn run(mut self) -> Result<()> {
        let idle = (!self.args.idle_timeout.is_zero()).then_some(self.args.idle_timeout);
        let tick = Duration::from_millis(100);
        let mut last_input = Instant::now();
        let mut last_checkpoint = Instant::now();
        let mut idle_closed = false;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return self.shutdown();
            }
            match self.source.next_within(tick) {
                Ok(decoded) => {
                    self.take(decoded?)?;
                    last_input = Instant::now();
                    idle_closed = false;
                }
                Err(RecvTimeoutError::Timeout) => {
                    if let Some(idle) = idle
                        && !idle_closed
                        && last_input.elapsed() >= idle
                    {
                        let closed = self.runtime.block_on(self.stream.close_all())?;
                        self.close(closed)?;
                        idle_closed = true;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let closed = self.runtime.block_on(self.stream.finish())?;
                    self.close(closed)?;
                    self.save_checkpoint(Vec::new())?;
                    self.summary();
                    return Ok(());
                }
            }
            self.show_progress();
            if self.args.checkpoint.is_some()
                && last_checkpoint.elapsed() >= self.args.checkpoint_interval
            {
                self.save_checkpoint(Vec::new())?;
                last_checkpoint = Instant::now();
            }
        }
    }

    /// SIGINT/SIGTERM: with a checkpoint, save the open windows to resume later; without one,
    /// close them so no accepted event goes unreported.
    fn shutdown(mut self) -> Result<()> {
        if self.args.checkpoint.is_some() {
            self.save_checkpoint(Vec::new())?;
            eprintln!("hazy stream: stopped; open windows saved to the checkpoint");
        } else {
            let closed = self.runtime.block_on(self.stream.finish())?;
            self.emit(closed)?;
            eprintln!("hazy stream: stopped; open windows closed");
        }
        self.summary();
        Ok(())
    }

    fn take(&mut self, decoded: Decoded) -> Result<()> {
        self.report_malformed(&decoded.malformed)?;
        let closed = self.runtime.block_on(self.stream.push(decoded.batch))?;
        self.position = decoded.end;
        self.write_late()?;
        self.peak_memory = self.peak_memory.max(self.stream.memory_bytes());
        self.close(closed)
    }

    /// Writes closed windows out. With a checkpoint, they are saved first (with the state
    /// after the close) and marked written after: a crash at any point then neither loses a
    /// window nor writes one with other rows (see `crate::stream::checkpoint`).
    fn close(&mut self, closed: Vec<ClosedWindow>) -> Result<()> {
        if closed.is_empty() {
            return Ok(());
        }
        let Some(dir) = self.args.checkpoint.clone() else {
            return self.emit(closed);
        };
        let closed = (closed.into_iter())
            .map(ClosedWindow::with_stored_states)
            .collect::<Result<Vec<_>>>()?;
        self.save_checkpoint(closed.clone())?;
        self.emit(closed)?;
        Checkpoint::clear_pending(&dir)
    }

    /// "1.2 M events (410.3 k events/s), 3 windows open, watermark 2024-…".
    fn show_progress(&mut self) {
        use crate::progress::human_count;
        let stream = &self.stream;
        self.progress.update(|elapsed| {
            let events = stream.stats().events as f64;
            let watermark = stream
                .watermark()
                .map_or_else(|| "none yet".to_string(), rfc3339);
            format!(
                "hazy stream: {} events ({} events/s), {} windows open, watermark {watermark}",
                human_count(events),
                human_count(events / elapsed.as_secs_f64()),
                stream.open_windows().len()
            )
        });
    }

    fn report_malformed(&mut self, malformed: &[Malformed]) -> Result<()> {
        for m in malformed {
            self.malformed += 1;
            if self.args.strict {
                return Err(DataFusionError::Execution(format!(
                    "hazy stream: malformed record at line {}: {}",
                    m.line, m.reason
                )));
            }
            if self.malformed <= MALFORMED_REPORTED {
                eprintln!(
                    "hazy stream: skipped malformed record at line {}: {}",
                    m.line, m.reason
                );
            }
        }
        Ok(())
    }

    fn write_late(&mut self) -> Result<()> {
        if let Some(out) = &mut self.late_out {
            let rows = self.stream.take_late_rows();
            let mut w = arrow::json::LineDelimitedWriter::new(&mut *out);
            for b in &rows {
                w.write(b)?;
            }
            w.finish()?;
            out.flush().map_err(io)?;
        }
        Ok(())
    }

    fn emit(&mut self, closed: Vec<ClosedWindow>) -> Result<()> {
        if !closed.is_empty() {
            self.progress.clear();
        }
        for w in closed {
            self.write_rows(&w.rows)?;
            if let Some(dir) = &self.args.rollup
                && w.has_states()
            {
                write_rollup(dir, &w)?;
            }
        }
        self.out.flush().map_err(io)?;
        self.report_late();
        Ok(())
    }

    /// Writes a closed window's rows at once, in the printer `hazy sql` uses (nested values
    /// in CSV as JSON text, infinities in NDJSON as strings).
    fn write_rows(&mut self, rows: &RecordBatch) -> Result<()> {
        let format = self.args.output;
        let printer = self.printer.get_or_insert_with(|| {
            super::print::Printer::new(format, rows.schema()).with_table_block_rows(1)
        });
        printer.write(rows, &mut self.out)
    }

    /// Late events, as they happen: how many, and for which windows.
    fn report_late(&mut self) {
        let stats = self.stream.stats();
        if stats.late > self.reported_late {
            let recent: Vec<String> = stats
                .late_by_window
                .iter()
                .rev()
                .take(3)
                .map(|(w, n)| format!("{}: {n}", rfc3339(*w)))
                .collect();
            eprintln!(
                "hazy stream: {} late events so far (after their window closed; latest windows {})",
                stats.late,
                recent.join(", ")
            );
            self.reported_late = stats.late;
        }
    }

    /// Saves the stream, its input position and mark, and `pending`: windows closed but not
    /// written out yet.
    fn save_checkpoint(&mut self, pending: Vec<ClosedWindow>) -> Result<()> {
        let Some(dir) = &self.args.checkpoint else {
            return Ok(());
        };
        let mark = self.source.mark(self.position)?;
        let position = json!({
            "offset": self.position.offset,
            "line": self.position.line,
            "input": self.args.input,
            "mark": mark,
        });
        let mut c = self.runtime.block_on(self.stream.checkpoint(position))?;
        c.pending = pending;
        c.write(dir)
    }

    fn summary(&mut self) {
        self.progress.clear();
        let _ = self.out.flush();
        if !self.args.summary {
            return;
        }
        let s = self.stream.stats();
        let secs = self.started.elapsed().as_secs_f64();
        eprintln!(
            "hazy stream: {} events in {} windows, {} late, {} without a time, {} malformed; {:.2}s ({:.0} events/s); peak state memory {} KiB",
            s.events,
            s.windows_closed,
            s.late,
            s.missing_time,
            self.malformed,
            secs,
            s.events as f64 / secs.max(1e-9),
            self.peak_memory / 1024
        );
        if s.late > 0 {
            let mut by: Vec<(&i64, &u64)> = s.late_by_window.iter().collect();
            by.sort_by(|a, b| b.1.cmp(a.1));
            let top: Vec<String> = by
                .iter()
                .take(10)
                .map(|(w, n)| format!("{}: {n}", rfc3339(**w)))
                .collect();
            eprintln!(
                "hazy stream: late events by window (most first): {}",
                top.join(", ")
            );
        }
    }
}

const BROKEN_PIPE: &str = "hazy stream: output closed";

/// The input position saved in a checkpoint: a byte offset, a line number and (since marks
/// exist) the input's mark. Anything else is an error, never a silent start from byte 0.
fn saved_position(saved: &serde_json::Value) -> Result<(Position, Option<InputMark>)> {
    let bad = |what: &str| {
        DataFusionError::Execution(format!(
            "hazy stream: checkpoint: the saved input position has {what}: {saved}; use a new \
             --checkpoint directory to read the input from its start"
        ))
    };
    let offset = saved["offset"]
        .as_u64()
        .ok_or_else(|| bad("no byte offset (a whole number from 0)"))?;
    let line = saved["line"]
        .as_u64()
        .filter(|l| *l >= 1)
        .ok_or_else(|| bad("no line number (a whole number from 1)"))?;
    let mark = match saved.get("mark") {
        None | Some(serde_json::Value::Null) => None,
        Some(m) => Some(serde_json::from_value(m.clone()).map_err(|_| bad("a malformed mark"))?),
    };
    Ok((Position { offset, line }, mark))
}

/// A planning error over an inferred schema, with the schema: a column of mixed types in the
/// first records is inferred as text, and a function over it then fails to match.
fn with_inferred_schema(e: DataFusionError, schema: &SchemaRef) -> DataFusionError {
    let columns: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("{} {}", f.name(), f.data_type()))
        .collect();
    DataFusionError::Plan(format!(
        "{}\nhazy stream: the schema was inferred from the first records as ({}); a column whose \
         values mix types is inferred as text: give its type with --schema",
        e.strip_backtrace(),
        columns.join(", ")
    ))
}

fn io(e: std::io::Error) -> DataFusionError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return DataFusionError::Execution(BROKEN_PIPE.into());
    }
    DataFusionError::Execution(format!("hazy stream: writing output: {e}"))
}

/// Column definitions as SQL (`ts TIMESTAMP, entity VARCHAR`) to an Arrow schema.
async fn schema_from_ddl(ddl: &str) -> Result<SchemaRef> {
    let ctx = datafusion::prelude::SessionContext::new();
    ctx.sql(&format!("CREATE TABLE hazy_stream_schema ({ddl})"))
        .await
        .map_err(|e| {
            DataFusionError::Plan(format!("hazy stream: --schema: {}", e.strip_backtrace()))
        })?;
    let table = ctx.table("hazy_stream_schema").await?;
    Ok(Arc::new(table.schema().as_arrow().clone()))
}

/// Writes a window's states as `<dir>/<start>.parquet` (rewritten whole if it comes again).
fn write_rollup(dir: &Path, w: &ClosedWindow) -> Result<()> {
    let name = rfc3339(w.start).replace(':', "-");
    let path = dir.join(format!("{name}.parquet"));
    let tmp = dir.join(format!(".{name}.parquet.tmp"));
    let file = std::fs::File::create(&tmp).map_err(io)?;
    let states = w.stored_states()?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, states.schema(), None)?;
    writer.write(&states)?;
    writer.close()?;
    std::fs::rename(&tmp, &path).map_err(io)
}
