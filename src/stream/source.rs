//! A stream's input as Arrow batches: NDJSON or CSV records from a file or standard input,
//! read by one thread and decoded by several, delivered in input order with their position.
//!
//! This is the fast path `hazy stream` uses; a Rust program feeding a [`super::WindowedStream`]
//! uses it the same way:
//!
//! ```no_run
//! # fn demo() -> datafusion::common::Result<()> {
//! use hazy::stream::input::InputFormat;
//! use hazy::stream::source::{RecordSource, SourceOptions};
//! let source = RecordSource::open(SourceOptions::new("events.ndjson", InputFormat::Ndjson, "ts"))?;
//! while let Some(decoded) = source.next() {
//!     let decoded = decoded?;
//!     println!("{} records up to byte {}", decoded.batch.num_rows(), decoded.end.offset);
//! }
//! # Ok(()) }
//! ```

use super::input::{
    Chunk, EpochUnit, InputFormat, LineDecoder, LineSource, Malformed, infer_schema,
};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::common::Result;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::Duration;

/// Input position of the next record, kept in checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Byte offset in the input.
    pub offset: u64,
    /// 1-based line number, for messages.
    pub line: u64,
}

impl Position {
    /// The start of the input.
    pub const START: Position = Position { offset: 0, line: 1 };
}

/// Decoded records and where the input stands after them.
pub struct Decoded {
    pub batch: RecordBatch,
    /// Records that could not be decoded, with their line numbers (skipped and counted).
    pub malformed: Vec<Malformed>,
    /// The position after the last record of `batch`.
    pub end: Position,
}

/// What to read and how.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// The input file, or `-` for standard input.
    pub path: PathBuf,
    pub format: InputFormat,
    /// The event-time column.
    pub time_column: String,
    /// How numbers in the time column count time.
    pub time_unit: EpochUnit,
    /// The records' schema; inferred from the start of the input when `None`.
    pub schema: Option<SchemaRef>,
    /// Keep reading a file as it grows (as `tail -f`).
    pub follow: bool,
    /// Bytes of input per decoded batch.
    pub batch_bytes: usize,
    /// Where to start reading (a checkpoint's position); the schema and a CSV header still
    /// come from the start of the input.
    pub resume: Position,
}

impl SourceOptions {
    pub fn new(path: impl Into<PathBuf>, format: InputFormat, time_column: &str) -> Self {
        Self {
            path: path.into(),
            format,
            time_column: time_column.to_string(),
            time_unit: EpochUnit::Auto,
            schema: None,
            follow: false,
            batch_bytes: 1 << 20,
            resume: Position::START,
        }
    }
}

/// Records arriving from a reader thread and decoder threads, in input order.
pub struct RecordSource {
    schema: SchemaRef,
    rx: Receiver<Result<Decoded>>,
    /// Whether the resume position could not be honoured (standard input cannot be re-read).
    resumed_at_start: bool,
}

impl RecordSource {
    /// Opens the input, settles the schema and starts reading.
    pub fn open(options: SourceOptions) -> Result<Self> {
        let mut source = LineSource::open(&options.path, 0, 1, options.follow)?;
        let mut first = source.next_chunk(options.batch_bytes)?.unwrap_or_default();
        let header = match options.format {
            InputFormat::Csv => Some(take_first_line(&mut first)),
            InputFormat::Ndjson => None,
        };
        let schema = match options.schema {
            Some(schema) => schema,
            None => {
                let mut sample = header.clone().unwrap_or_default();
                sample.extend_from_slice(&first.data);
                infer_schema(options.format, &sample, &options.time_column)?
            }
        };
        let decoder = LineDecoder::new(
            options.format,
            Arc::clone(&schema),
            &options.time_column,
            options.time_unit,
            header.as_deref(),
        )?;
        let resume = options.resume;
        let stdin = options.path == Path::new("-");
        if resume.offset > 0 && !stdin {
            source = LineSource::open(&options.path, resume.offset, resume.line, options.follow)?;
            first = Chunk::default();
        }
        Ok(Self {
            schema,
            rx: spawn_reader(source, first, decoder, options.batch_bytes),
            resumed_at_start: resume.offset > 0 && stdin,
        })
    }

    pub fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    /// True when a resume position was asked for on standard input, which cannot be re-read:
    /// reading goes on with what arrives now.
    pub fn resumed_at_start(&self) -> bool {
        self.resumed_at_start
    }

    /// The next decoded records; `None` at the end of the input.
    pub fn next(&self) -> Option<Result<Decoded>> {
        self.rx.recv().ok()
    }

    /// The next decoded records, waiting at most `timeout`: `Err(Timeout)` when none came,
    /// `Err(Disconnected)` at the end of the input.
    pub fn next_within(
        &self,
        timeout: Duration,
    ) -> std::result::Result<Result<Decoded>, RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }
}

/// Removes the first line (a CSV header) from `chunk` and returns it.
fn take_first_line(chunk: &mut Chunk) -> Vec<u8> {
    let end = chunk
        .data
        .iter()
        .position(|&b| b == b'\n')
        .map_or(chunk.data.len(), |i| i + 1);
    let header: Vec<u8> = chunk.data.drain(..end).collect();
    chunk.first_line += 1;
    chunk.lines = chunk.lines.saturating_sub(1);
    header
}

/// Reads in one thread and decodes in several (decoding is most of the cost of a record);
/// the results come back in input order. Bounded channels hold back a fast input.
fn spawn_reader(
    mut source: LineSource,
    first: Chunk,
    decoder: LineDecoder,
    batch_bytes: usize,
) -> Receiver<Result<Decoded>> {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let (work_tx, work_rx) = sync_channel::<(u64, Result<Chunk>)>(workers * 2);
    let work_rx = Arc::new(std::sync::Mutex::new(work_rx));
    let (done_tx, done_rx) = sync_channel::<(u64, Result<Decoded>)>(workers * 2);
    let (out_tx, out_rx) = sync_channel(4);
    std::thread::spawn(move || {
        let mut pending = Some(first).filter(|c| !c.data.is_empty());
        for seq in 0.. {
            let next = match pending.take() {
                Some(c) => Some(Ok(c)),
                None => source.next_chunk(batch_bytes).transpose(),
            };
            let Some(next) = next else { return };
            let failed = next.is_err();
            if work_tx.send((seq, next)).is_err() || failed {
                return;
            }
        }
    });
    for _ in 0..workers {
        let (work_rx, done_tx, decoder) = (Arc::clone(&work_rx), done_tx.clone(), decoder.clone());
        std::thread::spawn(move || {
            loop {
                let item = work_rx
                    .lock()
                    .map_err(|_| ())
                    .and_then(|rx| rx.recv().map_err(|_| ()));
                let Ok((seq, chunk)) = item else { return };
                let decoded = chunk.and_then(|chunk| decode(&decoder, &chunk));
                if done_tx.send((seq, decoded)).is_err() {
                    return;
                }
            }
        });
    }
    drop(done_tx);
    std::thread::spawn(move || {
        let mut waiting = std::collections::BTreeMap::new();
        let mut next = 0u64;
        for (seq, decoded) in done_rx {
            waiting.insert(seq, decoded);
            while let Some(d) = waiting.remove(&next) {
                if out_tx.send(d).is_err() {
                    return;
                }
                next += 1;
            }
        }
    });
    out_rx
}

fn decode(decoder: &LineDecoder, chunk: &Chunk) -> Result<Decoded> {
    let (batch, malformed) = decoder.decode(&chunk.data, chunk.first_line)?;
    Ok(Decoded {
        batch,
        malformed,
        end: Position {
            offset: chunk.end_offset,
            line: chunk.first_line + chunk.lines,
        },
    })
}
