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
use datafusion::common::{DataFusionError, Result};
use std::fs::File;
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

/// Enough of an input file to recognise it at a saved position: hashes (xxh3) of its first
/// bytes and of the bytes just before the position. A checkpoint keeps it beside the position,
/// so that a restart can tell the same file grown (resume), another file or a truncated one
/// (read it from its start) and a position that does not fit the file (an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InputMark {
    /// The file's length when the mark was taken (a saved position is never past it).
    pub size: u64,
    pub head_len: u64,
    pub head_hash: u64,
    pub tail_len: u64,
    pub tail_hash: u64,
}

/// Bytes hashed at each end of a mark: enough to tell files apart, cheap at every save.
const MARK_BYTES: u64 = 4096;

impl InputMark {
    /// The mark of `file` at byte `offset` (which must not be beyond its end).
    pub fn of(file: &File, offset: u64) -> std::io::Result<InputMark> {
        let head_len = offset.min(MARK_BYTES);
        let tail_len = offset.min(MARK_BYTES);
        Ok(InputMark {
            size: file.metadata()?.len(),
            head_len,
            head_hash: hash_range(file, 0, head_len)?,
            tail_len,
            tail_hash: hash_range(file, offset - tail_len, tail_len)?,
        })
    }
}

fn hash_range(file: &File, start: u64, len: u64) -> std::io::Result<u64> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, start)?;
    Ok(xxhash_rust::xxh3::xxh3_64(&buf))
}

/// Where a restart reads from, after checking the saved position against the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// The same file: read on from the saved position.
    At(Position),
    /// Another file at the same path (rotated, replaced) or the same one truncated: read from
    /// its start; the reason is for the user.
    FromStart(String),
}

/// Checks a saved position against the input file: see [`InputMark`]. Without a mark (a
/// checkpoint of an earlier version) the position must lie within the file, at a line start.
pub fn check_resume(path: &Path, at: Position, mark: Option<InputMark>) -> Result<Resume> {
    let file = File::open(path).map_err(|e| {
        DataFusionError::Execution(format!(
            "hazy stream: cannot open --input {}: {e}",
            path.display()
        ))
    })?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let read_err = |e: std::io::Error| {
        DataFusionError::Execution(format!(
            "hazy stream: reading --input {}: {e}",
            path.display()
        ))
    };
    let does_not_fit = |why: String| {
        DataFusionError::Execution(format!(
            "hazy stream: the checkpoint's input position (byte {}, line {}) does not fit {}: \
             {why}; use a new --checkpoint directory to read the input from its start",
            at.offset,
            at.line,
            path.display()
        ))
    };
    if at.offset == 0 {
        return Ok(Resume::At(at));
    }
    let Some(mark) = mark else {
        if at.offset > len {
            return Err(does_not_fit(format!("the file has {len} bytes")));
        }
        if hash_range(&file, at.offset - 1, 1).map_err(read_err)?
            != xxhash_rust::xxh3::xxh3_64(b"\n")
        {
            return Err(does_not_fit("it is not at the start of a line".into()));
        }
        return Ok(Resume::At(at));
    };
    if at.offset > mark.size {
        return Err(does_not_fit(format!(
            "it is past the end of the file as it was read ({} bytes)",
            mark.size
        )));
    }
    let head_matches = len >= mark.head_len
        && hash_range(&file, 0, mark.head_len).map_err(read_err)? == mark.head_hash;
    if !head_matches {
        return Ok(Resume::FromStart(format!(
            "{} is not the file the checkpoint read (its first bytes differ: rotated or \
             replaced); reading it from its start",
            path.display()
        )));
    }
    if len < at.offset {
        return Ok(Resume::FromStart(format!(
            "{} is shorter ({len} bytes) than the checkpoint's position (byte {}): truncated; \
             reading it from its start",
            path.display(),
            at.offset
        )));
    }
    if mark.tail_len > at.offset
        || hash_range(&file, at.offset - mark.tail_len, mark.tail_len).map_err(read_err)?
            != mark.tail_hash
    {
        return Err(does_not_fit(
            "the bytes before it differ from those the checkpoint read".into(),
        ));
    }
    Ok(Resume::At(at))
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
    /// The mark of the input saved with `resume`, checked before reading on from it.
    pub resume_mark: Option<InputMark>,
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
            resume_mark: None,
        }
    }
}

/// Records arriving from a reader thread and decoder threads, in input order.
pub struct RecordSource {
    schema: SchemaRef,
    /// The decoder the reader threads clone (they share its unread columns).
    decoder: LineDecoder,
    rx: Receiver<Result<Decoded>>,
    /// Whether the resume position could not be honoured (standard input cannot be re-read).
    resumed_at_start: bool,
    /// Why a file was read from its start rather than the resume position.
    restarted: Option<String>,
    /// The input file (the one being read, even if its path is later given to another file),
    /// for [`mark`](Self::mark).
    file: Option<File>,
}

impl RecordSource {
    /// Opens the input, settles the schema, checks the resume position and starts reading.
    pub fn open(options: SourceOptions) -> Result<Self> {
        let stdin = options.path == Path::new("-");
        let file = (!stdin)
            .then(|| File::open(&options.path))
            .transpose()
            .map_err(|e| {
                DataFusionError::Execution(format!(
                    "hazy stream: cannot open --input {}: {e}",
                    options.path.display()
                ))
            })?;
        let (resume, restarted) = if options.resume.offset > 0 && !stdin {
            match check_resume(&options.path, options.resume, options.resume_mark)? {
                Resume::At(at) => (at, None),
                Resume::FromStart(why) => (Position::START, Some(why)),
            }
        } else {
            (options.resume, None)
        };
        let mut source = LineSource::open(
            &options.path,
            options.format,
            0,
            1,
            options.follow,
            options.batch_bytes,
        )?;
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
        if resume.offset > 0 && !stdin {
            source = LineSource::open(
                &options.path,
                options.format,
                resume.offset,
                resume.line,
                options.follow,
                options.batch_bytes,
            )?;
            first = Chunk::default();
        }
        Ok(Self {
            schema,
            rx: spawn_reader(source, first, decoder.clone(), options.batch_bytes),
            decoder,
            resumed_at_start: resume.offset > 0 && stdin,
            restarted,
            file,
        })
    }

    /// Columns no one reads (one bit per schema column), which decoding may leave NULL from now
    /// on (see [`WindowedStream::unread_columns`](super::WindowedStream::unread_columns)).
    pub fn skip_columns(&self, unread: u64) {
        self.decoder.skip_columns(unread);
    }

    /// Why the input was read from its start instead of the resume position (another file
    /// at the path, or a truncated one), if it was.
    pub fn restarted(&self) -> Option<&str> {
        self.restarted.as_deref()
    }

    /// The mark of the input file at `position`, to save beside it (None for standard input
    /// or a FIFO).
    pub fn mark(&self, position: Position) -> Result<Option<InputMark>> {
        let Some(file) = &self.file else {
            return Ok(None);
        };
        if !file.metadata().is_ok_and(|m| m.is_file()) {
            return Ok(None);
        }
        InputMark::of(file, position.offset).map(Some).map_err(|e| {
            DataFusionError::Execution(format!("hazy stream: reading the input to mark it: {e}"))
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
