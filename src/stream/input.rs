//! Reading a stream of NDJSON or CSV records: complete lines in chunks, with their byte offsets
//! and line numbers, decoded into Arrow batches; malformed records are set aside with their line
//! number instead of failing the batch.

use crate::generator::time::Rfc3339Nanos;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsFd;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};
use std::time::{Duration, Instant};

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, BooleanBufferBuilder, RecordBatch,
    TimestampNanosecondArray,
};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimestampNanosecondType};
use datafusion::common::{DataFusionError, Result};

/// Record format of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    Ndjson,
    /// CSV with a header line naming the columns.
    Csv,
}

/// How a number in the time column is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpochUnit {
    /// By magnitude: below 10^11 seconds, below 10^14 milliseconds, below 10^17 microseconds,
    /// else nanoseconds (dates from 1973 to 5138 read right in every unit).
    Auto,
    Seconds,
    Millis,
    Micros,
    Nanos,
}

/// A run of complete lines and where it sits in the input.
#[derive(Debug, Clone, Default)]
pub struct Chunk {
    pub data: Vec<u8>,
    /// Byte offset of `data[0]` in the input, and of the byte after the last line.
    pub start_offset: u64,
    pub end_offset: u64,
    /// 1-based number of the first line.
    pub first_line: u64,
    pub lines: u64,
}

/// A record that could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Malformed {
    pub line: u64,
    pub reason: String,
}

/// Where to read from, and where to resume.
///
/// A thread reads the input into pieces of complete lines: a full piece when the input is fast,
/// or whatever is there once the input pauses (a file's current end; a pipe empty for
/// [`LINGER`]), so a slow stream is not held back. [`next_chunk`](Self::next_chunk) hands each
/// piece on as it comes, with any others already waiting.
pub struct LineSource {
    pieces: Receiver<std::io::Result<Vec<u8>>>,
    carry: Vec<u8>,
    /// Offset and line number of the start of `carry`.
    offset: u64,
    line: u64,
    ended: bool,
    /// Where records end in `carry`.
    ends: RecordEnds,
    /// At the start of the input: a UTF-8 byte-order mark there is skipped.
    at_start: bool,
}

/// The UTF-8 byte-order mark some editors and exporters put at the start of a text file.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The longest CSV record with quoted newlines that is waited for (see [`RecordEnds`]).
const MAX_QUOTED_RECORD: usize = 16 << 20;

/// Finds the end of the last complete record in a growing buffer: the last newline for
/// NDJSON; for CSV the last newline outside a quoted field (RFC 4180: a field in double quotes
/// may hold newlines, and `""` is a quote inside it, so a newline ends a record exactly when
/// the quotes before it since the last record end are even in number). Scans each byte once.
#[derive(Debug, Clone, Default)]
struct RecordEnds {
    quoted: bool,
    /// How much of the buffer has been scanned, whether that ends inside quotes, and the end
    /// (one past the newline) of the last complete record in it.
    scanned: usize,
    in_quotes: bool,
    last_end: Option<usize>,
}

impl RecordEnds {
    fn new(format: InputFormat) -> Self {
        Self {
            quoted: format == InputFormat::Csv,
            ..Self::default()
        }
    }

    /// One past the last record-ending newline in `buf`.
    fn last(&mut self, buf: &[u8]) -> Option<usize> {
        if !self.quoted {
            return memchr::memrchr(b'\n', buf).map(|i| i + 1);
        }
        for i in memchr::memchr2_iter(b'"', b'\n', &buf[self.scanned..]) {
            let i = self.scanned + i;
            if buf[i] == b'"' {
                self.in_quotes = !self.in_quotes;
            } else if !self.in_quotes {
                self.last_end = Some(i + 1);
            }
        }
        self.scanned = buf.len();
        // An unmatched quote would hold back the rest of the stream: past this size, the
        // quoted record ends at the last newline (and is reported malformed when decoded).
        let pending = buf.len() - self.last_end.unwrap_or(0);
        if self.in_quotes && pending > MAX_QUOTED_RECORD {
            self.in_quotes = false;
            self.last_end = memchr::memrchr(b'\n', buf).map(|i| i + 1).or(self.last_end);
        }
        self.last_end
    }

    /// The buffer lost its first `n` bytes (up to a record end).
    fn consumed(&mut self, n: usize) {
        self.scanned -= n.min(self.scanned);
        self.last_end = None;
    }
}

/// How long a pipe's reader waits for more input once it holds complete lines.
pub const LINGER: Duration = Duration::from_millis(2);

/// The longest a pipe's reader holds lines while more keeps coming: a steady trickle (an event
/// a millisecond) never pauses for [`LINGER`], and would otherwise wait for a full piece.
const MAX_HOLD: Duration = Duration::from_millis(50);

impl LineSource {
    /// `-` is standard input; anything else a file or FIFO path, read from byte `offset`.
    /// With `follow`, the end of a file is waited at for more (like `tail -f`). Chunks end at
    /// record ends of `format` (a CSV record may span lines). The input is read in pieces of
    /// about `piece_bytes` (`--batch-bytes`; at least 64 KiB).
    pub fn open(
        input: &Path,
        format: InputFormat,
        offset: u64,
        line: u64,
        follow: bool,
        piece_bytes: usize,
    ) -> Result<Self> {
        let reader = if input == Path::new("-") {
            if offset > 0 {
                return Err(DataFusionError::Execution(
                    "hazy stream: cannot resume standard input at a byte offset".into(),
                ));
            }
            // As a file of its own, read with the same calls as any input (and as a file when
            // the shell redirected one to it).
            let stdin = std::io::stdin().as_fd().try_clone_to_owned().map_err(|e| {
                DataFusionError::Execution(format!("hazy stream: cannot read standard input: {e}"))
            })?;
            File::from(stdin)
        } else {
            let mut f = File::open(input).map_err(|e| {
                DataFusionError::Execution(format!(
                    "hazy stream: cannot open --input {}: {e}",
                    input.display()
                ))
            })?;
            if offset > 0 {
                f.seek(SeekFrom::Start(offset)).map_err(|e| {
                    DataFusionError::Execution(format!(
                        "hazy stream: cannot seek --input to {offset}: {e}"
                    ))
                })?;
            }
            f
        };
        let regular_file = reader.metadata().is_ok_and(|m| m.is_file());
        let (tx, pieces) = sync_channel(8);
        std::thread::spawn(move || match regular_file {
            true => read_pieces(reader, follow, tx, file_filler(piece_bytes)),
            false => read_pieces(reader, follow, tx, pipe_filler(piece_bytes)),
        });
        Ok(Self {
            pieces,
            carry: Vec::new(),
            offset,
            line: line.max(1),
            ended: false,
            ends: RecordEnds::new(format),
            at_start: offset == 0,
        })
    }

    /// The next run of complete lines (about `max_bytes` at most), or None at the end of the
    /// input.
    pub fn next_chunk(&mut self, max_bytes: usize) -> Result<Option<Chunk>> {
        loop {
            if self.at_start && (self.ended || self.carry.len() >= BOM.len()) {
                self.skip_bom();
            }
            if self.ended {
                return Ok(self.take_lines().or_else(|| self.take_rest()));
            }
            if self.carry.len() >= max_bytes
                && let Some(chunk) = self.take_lines()
            {
                return Ok(Some(chunk));
            }
            // The readers send a piece once the input pauses or the piece is full, so lines in
            // hand go at once, with the pieces already waiting.
            let has_lines = !self.at_start && self.ends.last(&self.carry).is_some();
            let piece = if has_lines {
                self.pieces.try_recv()
            } else {
                self.pieces.recv().map_err(|_| TryRecvError::Disconnected)
            };
            match piece {
                // Pieces end at line ends, so the carry is mostly empty: no copy then.
                Ok(Ok(bytes)) if self.carry.is_empty() => self.carry = bytes,
                Ok(Ok(bytes)) => self.carry.extend_from_slice(&bytes),
                Ok(Err(e)) => {
                    return Err(DataFusionError::Execution(format!(
                        "hazy stream: reading input: {e}"
                    )));
                }
                Err(TryRecvError::Empty) => return Ok(self.take_lines()),
                Err(TryRecvError::Disconnected) => self.ended = true,
            }
        }
    }

    /// Drops a byte-order mark at the start of the input (its bytes still count in offsets).
    fn skip_bom(&mut self) {
        self.at_start = false;
        if self.carry.starts_with(BOM) {
            self.carry.drain(..BOM.len());
            self.offset += BOM.len() as u64;
            self.ends.consumed(BOM.len());
        }
    }

    fn take_lines(&mut self) -> Option<Chunk> {
        let end = self.ends.last(&self.carry)?;
        self.ends.consumed(end);
        let rest = self.carry[end..].to_vec();
        let data = truncated(std::mem::replace(&mut self.carry, rest), end);
        Some(self.chunk(data))
    }

    /// The last line when the input ends without a newline.
    fn take_rest(&mut self) -> Option<Chunk> {
        if self.carry.is_empty() {
            return None;
        }
        let data = std::mem::take(&mut self.carry);
        self.ends = RecordEnds::new(if self.ends.quoted {
            InputFormat::Csv
        } else {
            InputFormat::Ndjson
        });
        Some(self.chunk(data))
    }

    fn chunk(&mut self, data: Vec<u8>) -> Chunk {
        let lines = memchr_count(&data).max(u64::from(!data.is_empty() && !data.ends_with(b"\n")));
        let chunk = Chunk {
            start_offset: self.offset,
            end_offset: self.offset + data.len() as u64,
            first_line: self.line,
            lines,
            data,
        };
        self.offset = chunk.end_offset;
        self.line += lines;
        chunk
    }
}

/// Reads `input` into pieces that end at a line end (the partial line after it opens the next
/// piece), until its end (in follow mode: forever, polling at the end). `fill` reads into the
/// piece and says how many bytes came and whether the lines so far are due to be sent. A piece
/// is a micro-batch as it is (at the default `--batch-bytes`), so the bytes are not copied
/// again on their way to the decoder.
fn read_pieces(
    mut input: File,
    follow: bool,
    tx: SyncSender<std::io::Result<Vec<u8>>>,
    mut fill: impl FnMut(&mut File, &mut Vec<u8>) -> std::io::Result<(usize, bool)>,
) {
    let mut piece: Vec<u8> = Vec::new();
    loop {
        match fill(&mut input, &mut piece) {
            Ok((0, _)) if follow => std::thread::sleep(Duration::from_millis(20)),
            Ok((0, _)) => {
                if !piece.is_empty() {
                    let _ = tx.send(Ok(piece));
                }
                return;
            }
            // With no line end yet (a line longer than a piece), the reads go on.
            Ok((_, due)) => {
                if due && !send_lines(&mut piece, &tx) {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

/// Reads a regular file in pieces of `piece_bytes`, straight into the piece that is sent; each
/// read's lines are due (a short read is the file's current end).
fn file_filler(
    piece_bytes: usize,
) -> impl FnMut(&mut File, &mut Vec<u8>) -> std::io::Result<(usize, bool)> {
    // Room for the last, partial line, so that a piece keeps at least `piece_bytes` of lines.
    const SLACK: usize = 64 << 10;
    move |file, piece| {
        let want = (piece_bytes + SLACK).saturating_sub(piece.len()).max(SLACK);
        // Not `reserve_exact`: a line longer than a piece grows the piece by doubling.
        piece.reserve(want);
        let read = file.take(want as u64).read_to_end(piece)?;
        Ok((read, true))
    }
}

/// Reads a pipe or FIFO (standard input, mostly): the reads gather into one piece of about
/// `piece_bytes` until the pipe stays empty for [`LINGER`] or the first read has waited
/// [`MAX_HOLD`], so a fast writer's bytes come in whole micro-batches and a slow one's lines
/// wait no more than that.
fn pipe_filler(
    piece_bytes: usize,
) -> impl FnMut(&mut File, &mut Vec<u8>) -> std::io::Result<(usize, bool)> {
    let mut held_since: Option<Instant> = None;
    let mut holds: Option<usize> = None;
    move |pipe, piece| {
        // One read takes what the pipe holds, within the piece's room (64 KiB at least).
        let len = piece.len();
        let room = piece_bytes.saturating_sub(len).max(PIPE_BYTES);
        let read_bytes = room.min(*holds.get_or_insert_with(|| grown_pipe(pipe)));
        piece.reserve(
            (piece_bytes + read_bytes)
                .saturating_sub(len)
                .max(read_bytes),
        );
        // Zeroed room for the read: writing zeroes costs less than copying from a buffer.
        piece.resize(len + read_bytes, 0);
        let read = pipe.read(&mut piece[len..]);
        piece.truncate(len + read.as_ref().map_or(0, |n| *n));
        let read = read?;
        let held = held_since.get_or_insert_with(Instant::now).elapsed();
        let left = MAX_HOLD.saturating_sub(held);
        let full = piece.len() >= piece_bytes;
        let due = full || left.is_zero() || !more_comes(pipe, left.min(LINGER));
        if due {
            held_since = None;
        }
        Ok((read, due))
    }
}

/// What a pipe holds: Linux's default, unless it could be grown.
const PIPE_BYTES: usize = 64 << 10;

/// Asks for a pipe of 1 MiB (Linux's `F_SETPIPE_SZ`, allowed up to `/proc/sys/fs/pipe-max-size`,
/// 1 MiB by default), so a fast writer fills a micro-batch with one read rather than sixteen,
/// and both sides wake up less often; returns what the pipe then holds.
fn grown_pipe(pipe: &File) -> usize {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use nix::fcntl::{FcntlArg, fcntl};
        if let Ok(holds) = fcntl(pipe, FcntlArg::F_SETPIPE_SZ(1 << 20)) {
            return (holds as usize).max(PIPE_BYTES);
        }
    }
    let _ = pipe;
    PIPE_BYTES
}

/// Whether `pipe` has more to read (bytes, or its end) within `wait`. An error counts as no:
/// the lines read so far are then sent rather than held.
fn more_comes(pipe: &File, wait: Duration) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut fds = [PollFd::new(pipe.as_fd(), PollFlags::POLLIN)];
    let wait = PollTimeout::try_from(wait).unwrap_or(PollTimeout::ZERO);
    poll(&mut fds, wait).is_ok_and(|ready| ready > 0)
}

/// Sends the lines at the front of `piece` (up to its last line end) and keeps the partial
/// line after them in `piece`, to open the next one; false when no one receives any more.
fn send_lines(piece: &mut Vec<u8>, tx: &SyncSender<std::io::Result<Vec<u8>>>) -> bool {
    let Some(end) = memchr::memrchr(b'\n', piece).map(|i| i + 1) else {
        return true;
    };
    let rest = piece[end..].to_vec();
    let mut lines = std::mem::replace(piece, rest);
    lines.truncate(end);
    tx.send(Ok(lines)).is_ok()
}

fn memchr_count(data: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', data).count() as u64
}

fn truncated(mut data: Vec<u8>, len: usize) -> Vec<u8> {
    data.truncate(len);
    data
}

/// Lines of `data` with their 1-based numbers, blank lines left out.
fn numbered_lines(data: &[u8], first_line: u64) -> impl Iterator<Item = (u64, &[u8])> {
    data.split(|&b| b == b'\n')
        .enumerate()
        .map(move |(i, l)| (first_line + i as u64, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
}

/// Decodes lines into batches of the stream's schema.
#[derive(Debug, Clone)]
pub struct LineDecoder {
    format: InputFormat,
    schema: SchemaRef,
    /// The schema lines are parsed with: the time column as text, CSV columns in header order.
    read_schema: SchemaRef,
    /// For CSV: the position in `read_schema` of each `schema` column.
    order: Vec<usize>,
    time_index: usize,
    epoch: EpochUnit,
    /// Columns the query never reads (one bit each), shared with the decoder's clones; the
    /// NDJSON fast path leaves them NULL (see [`skip_columns`](Self::skip_columns)).
    unread: Arc<AtomicU64>,
}

impl LineDecoder {
    /// A decoder for `schema`; for CSV, `header` is the input's first line.
    pub fn new(
        format: InputFormat,
        schema: SchemaRef,
        time_column: &str,
        epoch: EpochUnit,
        header: Option<&[u8]>,
    ) -> Result<Self> {
        let time_index = schema.index_of(time_column).map_err(|_| {
            DataFusionError::Plan(format!(
                "hazy stream: --time-column '{time_column}' is not in the schema"
            ))
        })?;
        let as_text = |f: &Field| {
            if f.name() == time_column {
                Field::new(f.name(), DataType::Utf8, true)
            } else {
                f.clone()
            }
        };
        let (read_schema, order) = match format {
            InputFormat::Ndjson => {
                let fields: Vec<Field> = schema.fields().iter().map(|f| as_text(f)).collect();
                (Schema::new(fields), (0..schema.fields().len()).collect())
            }
            InputFormat::Csv => {
                let header = header.ok_or_else(|| {
                    DataFusionError::Plan("hazy stream: CSV input needs a header line".into())
                })?;
                let names = csv_header(header)?;
                let mut fields = Vec::with_capacity(names.len());
                for name in &names {
                    let field = schema.field_with_name(name).map_err(|_| {
                        DataFusionError::Plan(format!(
                            "hazy stream: CSV column '{name}' is not in the schema"
                        ))
                    })?;
                    fields.push(as_text(field));
                }
                let order = schema
                    .fields()
                    .iter()
                    .map(|f| {
                        names.iter().position(|n| n == f.name()).ok_or_else(|| {
                            DataFusionError::Plan(format!(
                                "hazy stream: the CSV header has no column '{}'",
                                f.name()
                            ))
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                (Schema::new(fields), order)
            }
        };
        Ok(Self {
            format,
            schema,
            read_schema: Arc::new(read_schema),
            order,
            time_index,
            epoch,
            unread: Arc::new(AtomicU64::new(0)),
        })
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// From now on (in this decoder and its clones) the nullable columns of `unread` (one bit
    /// per schema column; the time column never) may come out NULL: no one reads them.
    pub fn skip_columns(&self, unread: u64) {
        let time = 1u64.checked_shl(self.time_index as u32).unwrap_or(0);
        self.unread.store(unread & !time, Ordering::Relaxed);
    }

    /// Decodes a chunk: the good records as one batch, and the malformed ones.
    pub fn decode(&self, data: &[u8], first_line: u64) -> Result<(RecordBatch, Vec<Malformed>)> {
        let mut malformed = Vec::new();
        // The whole chunk at once; record by record only when that fails.
        let (raw, lines) = match self.parse_whole(data) {
            Some(batch) => (batch, None),
            None => {
                let (batch, lines) = self.parse_by_record(data, first_line, &mut malformed)?;
                (batch, Some(lines))
            }
        };
        let (batch, bad_rows) = self.with_times(raw)?;
        if !bad_rows.is_empty() {
            let lines = lines.unwrap_or_else(|| {
                records(self.format, data, first_line, 0)
                    .iter()
                    .map(|r| r.line)
                    .collect()
            });
            let time = self.schema.field(self.time_index).name();
            for row in bad_rows {
                malformed.push(Malformed {
                    line: lines[row],
                    reason: format!("no readable time in '{time}'"),
                });
            }
            malformed.sort_by_key(|m| m.line);
        }
        Ok((batch, malformed))
    }

    /// The chunk in one go, when every record in it reads (for CSV: when no field is quoted,
    /// so that lines are records and their count checks the result).
    fn parse_whole(&self, data: &[u8]) -> Option<RecordBatch> {
        if self.format == InputFormat::Csv && memchr::memchr(b'"', data).is_some() {
            return None;
        }
        let batch = self.parse(data, true).ok()?;
        let whole = self.format == InputFormat::Ndjson
            || batch.num_rows() == numbered_lines(data, 1).count();
        whole.then_some(batch)
    }

    /// `data` in `read_schema`; with `instants`, the NDJSON fast path may give the time column
    /// as instants already (see [`super::ndjson::decode_flat_timed`]).
    fn parse(
        &self,
        data: &[u8],
        instants: bool,
    ) -> std::result::Result<RecordBatch, arrow::error::ArrowError> {
        if self.format == InputFormat::Ndjson
            && let Some(batch) = super::ndjson::decode_flat_timed(
                data,
                &self.read_schema,
                self.unread.load(Ordering::Relaxed),
                instants.then_some(self.order[self.time_index]),
            )
        {
            return Ok(batch);
        }
        let rows = memchr_count(data) as usize + 1;
        let batch = match self.format {
            InputFormat::Ndjson => {
                let mut d = arrow::json::ReaderBuilder::new(Arc::clone(&self.read_schema))
                    .with_coerce_primitive(true)
                    .with_batch_size(rows)
                    .build_decoder()?;
                d.decode(data)?;
                d.flush()?
            }
            InputFormat::Csv => {
                let mut d = arrow::csv::ReaderBuilder::new(Arc::clone(&self.read_schema))
                    .with_header(false)
                    .with_batch_size(rows)
                    .build_decoder();
                let mut off = 0;
                while off < data.len() {
                    let n = d.decode(&data[off..])?;
                    if n == 0 {
                        break;
                    }
                    off += n;
                }
                d.flush()?
            }
        };
        Ok(batch.unwrap_or_else(|| RecordBatch::new_empty(Arc::clone(&self.read_schema))))
    }

    /// Record by record: the records that read as one batch with their line numbers; the
    /// others set aside with their line and the reason.
    fn parse_by_record(
        &self,
        data: &[u8],
        first_line: u64,
        malformed: &mut Vec<Malformed>,
    ) -> Result<(RecordBatch, Vec<u64>)> {
        let mut good = Vec::new();
        for r in records(
            self.format,
            data,
            first_line,
            self.read_schema.fields().len(),
        ) {
            match r.problem {
                Some(reason) => malformed.push(Malformed {
                    line: r.line,
                    reason,
                }),
                None => good.push(r),
            }
        }
        // Well-formed CSV records (quoted fields) mostly read together.
        if self.format == InputFormat::Csv {
            let joined: Vec<u8> = good.iter().flat_map(|r| r.bytes.iter().copied()).collect();
            if let Ok(batch) = self.parse(&joined, false)
                && batch.num_rows() == good.len()
            {
                return Ok((batch, good.iter().map(|r| r.line).collect()));
            }
        }
        let mut batches = Vec::with_capacity(good.len());
        let mut lines = Vec::with_capacity(good.len());
        for r in good {
            match self.parse(&r.bytes, false) {
                Ok(b) if b.num_rows() == 1 => {
                    batches.push(b);
                    lines.push(r.line);
                }
                Ok(b) => malformed.push(Malformed {
                    line: r.line,
                    reason: format!("{} records on one line", b.num_rows()),
                }),
                Err(e) => malformed.push(Malformed {
                    line: r.line,
                    reason: self.explain(&r.bytes).unwrap_or_else(|| e.to_string()),
                }),
            }
        }
        let batch = arrow::compute::concat_batches(&self.read_schema, &batches)?;
        Ok((batch, lines))
    }

    /// Why a JSON record does not fit the schema, naming the field: a clearer reason than the
    /// JSON decoder's, which names neither.
    fn explain(&self, record: &[u8]) -> Option<String> {
        if self.format != InputFormat::Ndjson {
            return None;
        }
        let value: serde_json::Value = match serde_json::from_slice(record) {
            Ok(v) => v,
            Err(e) => return Some(format!("not valid JSON: {e}")),
        };
        let Some(object) = value.as_object() else {
            return Some(format!("not a JSON object but {}", describe_json(&value)));
        };
        for (i, field) in self.schema.fields().iter().enumerate() {
            let Some(v) = object.get(field.name()) else {
                continue;
            };
            let is_time = i == self.time_index;
            if !json_fits(v, field.data_type(), is_time) {
                let expected = if is_time {
                    "a time (an RFC 3339 string or a number since the epoch)".to_string()
                } else {
                    format!("a value of type {}", field.data_type())
                };
                return Some(format!(
                    "field '{}' is {}, expected {expected}",
                    field.name(),
                    describe_json(v)
                ));
            }
        }
        None
    }

    /// The batch in the stream's schema, and the rows without a readable time (left out).
    fn with_times(&self, raw: RecordBatch) -> Result<(RecordBatch, Vec<usize>)> {
        let ti = self.order[self.time_index];
        // The NDJSON fast path gives instants when every time was an RFC 3339 string.
        let (times, bad) = match raw.column(ti).as_primitive_opt::<TimestampNanosecondType>() {
            Some(instants) => {
                let bad = match instants.nulls() {
                    Some(nulls) => (0..nulls.len()).filter(|&r| nulls.is_null(r)).collect(),
                    None => Vec::new(),
                };
                (instants.clone(), bad)
            }
            None => self.times_of_text(raw.column(ti))?,
        };
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for (i, field) in self.schema.fields().iter().enumerate() {
            if i == self.time_index {
                columns.push(cast(&times, field.data_type())?);
            } else {
                columns.push(Arc::clone(raw.column(self.order[i])));
            }
        }
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), columns)?;
        if bad.is_empty() {
            return Ok((batch, bad));
        }
        let keep = BooleanArray::new(rows_except(batch.num_rows(), &bad), None);
        Ok((filter_record_batch(&batch, &keep)?, bad))
    }

    /// The instants of a column of times as text (or numbers), and the rows without one.
    fn times_of_text(&self, column: &ArrayRef) -> Result<(TimestampNanosecondArray, Vec<usize>)> {
        let text = cast(column, &DataType::Utf8)?;
        let text = text.as_string::<i32>();
        let (mut bad, mut rfc3339) = (Vec::new(), Rfc3339Nanos::default());
        let mut values = Vec::with_capacity(text.len());
        for (row, v) in text.iter().enumerate() {
            // An RFC 3339 time has nothing to trim: only the others are trimmed first.
            let time = v.and_then(|s| {
                rfc3339
                    .parse(s)
                    .or_else(|| parse_time_with(&mut rfc3339, s.trim(), self.epoch))
            });
            values.push(time.unwrap_or_else(|| {
                bad.push(row);
                0
            }));
        }
        let valid = (!bad.is_empty()).then(|| NullBuffer::new(rows_except(values.len(), &bad)));
        Ok((TimestampNanosecondArray::new(values.into(), valid), bad))
    }
}

/// A mask of `rows` rows with every row set but those of `left_out`.
pub(super) fn rows_except(rows: usize, left_out: &[usize]) -> BooleanBuffer {
    let mut mask = BooleanBufferBuilder::new(rows);
    mask.append_n(rows, true);
    left_out.iter().for_each(|&row| mask.set_bit(row, false));
    mask.finish()
}

/// One record of a chunk: its first line, its bytes (ending in a newline), and why it cannot
/// be read when that is known before decoding.
struct Record<'a> {
    line: u64,
    bytes: std::borrow::Cow<'a, [u8]>,
    problem: Option<String>,
}

/// The records of a chunk, blank lines left out. For CSV (RFC 4180, read by the `csv` crate:
/// quoted fields may hold commas, quotes and newlines), a record whose number of fields differs
/// from `fields` (when not 0) is a problem; good records are written back as one CSV line each.
fn records(format: InputFormat, data: &[u8], first_line: u64, fields: usize) -> Vec<Record<'_>> {
    match format {
        InputFormat::Ndjson => numbered_lines(data, first_line)
            .map(|(line, text)| {
                let mut bytes = text.to_vec();
                bytes.push(b'\n');
                Record {
                    line,
                    bytes: bytes.into(),
                    problem: None,
                }
            })
            .collect(),
        InputFormat::Csv => csv_records(data, first_line, fields),
    }
}

fn csv_records(data: &[u8], first_line: u64, fields: usize) -> Vec<Record<'static>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(data);
    let mut out = Vec::new();
    let mut record = csv::ByteRecord::new();
    // The csv crate's line numbers skip newlines inside quoted fields: count them from bytes.
    let (mut counted_to, mut line) = (0usize, first_line);
    let mut line_at = |p: Option<&csv::Position>| {
        let mut byte = p
            .map_or(counted_to, |p| p.byte() as usize)
            .clamp(counted_to, data.len());
        // After a CR LF the position may point at the LF: the record starts past line ends.
        while byte < data.len() && matches!(data[byte], b'\r' | b'\n') {
            byte += 1;
        }
        line += memchr_count(&data[counted_to..byte]);
        counted_to = byte;
        line
    };
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => return out,
            Ok(true) => {
                let line = line_at(record.position());
                let problem = (fields != 0 && record.len() != fields)
                    .then(|| format!("{} fields where the header has {fields}", record.len()));
                out.push(Record {
                    line,
                    bytes: csv_line(&record).into(),
                    problem,
                });
            }
            Err(e) => {
                // Flexible byte records have no field-count or UTF-8 errors, and a slice no I/O
                // error: this is not expected, but it is reported, not dropped.
                out.push(Record {
                    line: line_at(e.position()),
                    bytes: Vec::new().into(),
                    problem: Some(e.to_string()),
                });
                return out;
            }
        }
    }
}

/// A record as one CSV line, quoted where needed.
fn csv_line(record: &csv::ByteRecord) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    let _ = w.write_byte_record(record);
    w.into_inner().unwrap_or_default()
}

/// Whether a JSON value can be read into a column of type `t` (as the JSON decoder with
/// primitive coercion reads it); types this does not judge are left to the decoder.
fn json_fits(v: &serde_json::Value, t: &DataType, is_time: bool) -> bool {
    use serde_json::Value;
    match v {
        Value::Null => true,
        _ if is_time => v.is_string() || v.is_number(),
        Value::Object(_) | Value::Array(_) => {
            !(t.is_primitive() || is_text(t) || *t == DataType::Boolean)
        }
        Value::String(s) if t.is_numeric() => s.trim().parse::<f64>().is_ok(),
        Value::Bool(_) => !t.is_numeric(),
        _ => true,
    }
}

fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
}

fn describe_json(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => {
            let short: String = s.chars().take(40).collect();
            format!("the string {short:?}")
        }
        Value::Array(_) => "a JSON array".into(),
        Value::Object(_) => "a JSON object".into(),
    }
}

fn csv_header(line: &[u8]) -> Result<Vec<String>> {
    let bad = || DataFusionError::Plan("hazy stream: the CSV header is not UTF-8 CSV".into());
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line);
    let mut record = csv::StringRecord::new();
    reader.read_record(&mut record).map_err(|_| bad())?;
    Ok(record.iter().map(|s| s.trim().to_string()).collect())
}

/// An event time: RFC 3339 (read here, several times faster than Arrow's general parser),
/// any other timestamp Arrow reads, or a number since the epoch.
pub fn parse_time(s: &str, epoch: EpochUnit) -> Option<i64> {
    parse_time_with(&mut Rfc3339Nanos::default(), s, epoch)
}

/// [`parse_time`] of one of many values: `rfc3339` remembers the last minute it read.
fn parse_time_with(rfc3339: &mut Rfc3339Nanos, s: &str, epoch: EpochUnit) -> Option<i64> {
    if let Some(t) = rfc3339.parse(s) {
        return Some(t);
    }
    let numeric = s
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'-' || b == b'+')
        && !s.contains([':', 'T']);
    if !numeric {
        return arrow::compute::kernels::cast_utils::string_to_timestamp_nanos(s).ok();
    }
    let v: f64 = s.parse().ok()?;
    if !v.is_finite() {
        return None;
    }
    let scale = match epoch {
        EpochUnit::Seconds => 1e9,
        EpochUnit::Millis => 1e6,
        EpochUnit::Micros => 1e3,
        EpochUnit::Nanos => 1.0,
        EpochUnit::Auto => match v.abs() {
            a if a < 1e11 => 1e9,
            a if a < 1e14 => 1e6,
            a if a < 1e17 => 1e3,
            _ => 1.0,
        },
    };
    // Integers keep every digit; fractions go through f64 (sub-microsecond at today's dates).
    if let Ok(i) = s.parse::<i64>() {
        return i.checked_mul(scale as i64);
    }
    let ns = v * scale;
    (ns.abs() < 9.2e18).then_some(ns as i64)
}

/// Infers a schema from the first lines (NDJSON) or the header and first rows (CSV); the time
/// column becomes a nanosecond TIMESTAMP.
pub fn infer_schema(format: InputFormat, sample: &[u8], time_column: &str) -> Result<SchemaRef> {
    // Malformed records must not stop the inference (they are reported when decoded): records
    // that do not parse, and values whose kind differs from most of the column's, are left out.
    let schema = match format {
        InputFormat::Ndjson => {
            let objects: Vec<(&[u8], serde_json::Map<String, serde_json::Value>)> =
                numbered_lines(sample, 1)
                    .filter_map(|(_, l)| match serde_json::from_slice(l) {
                        Ok(serde_json::Value::Object(o)) => Some((l, o)),
                        _ => None,
                    })
                    .take(1000)
                    .collect();
            let kinds: Vec<Vec<(&str, Option<&'static str>)>> = objects
                .iter()
                .map(|(_, o)| {
                    o.iter()
                        .map(|(k, v)| (k.as_str(), json_kind(v, k == time_column)))
                        .collect()
                })
                .collect();
            let keep = agreeing_records(&kinds);
            let valid: Vec<u8> = objects
                .iter()
                .zip(keep)
                .filter(|(_, k)| *k)
                .flat_map(|((l, _), _)| l.iter().copied().chain([b'\n']))
                .collect();
            let (schema, _) =
                arrow::json::reader::infer_json_schema(std::io::Cursor::new(valid), None)?;
            schema
        }
        InputFormat::Csv => {
            let header_end = memchr::memchr(b'\n', sample).map_or(sample.len(), |i| i + 1);
            let names = csv_header(&sample[..header_end])?;
            let rows: Vec<Record> = records(format, &sample[header_end..], 2, names.len())
                .into_iter()
                .filter(|r| r.problem.is_none())
                .take(1000)
                .collect();
            let kinds: Vec<Vec<(&str, Option<&'static str>)>> = rows
                .iter()
                .map(|r| csv_kinds(&r.bytes, &names, time_column))
                .collect();
            let keep = agreeing_records(&kinds);
            let mut valid = sample[..header_end].to_vec();
            if !valid.ends_with(b"\n") {
                valid.push(b'\n');
            }
            for (r, k) in rows.iter().zip(keep) {
                if k {
                    valid.extend_from_slice(&r.bytes);
                }
            }
            let (schema, _) = arrow::csv::reader::Format::default()
                .with_header(true)
                .infer_schema(std::io::Cursor::new(valid), None)?;
            schema
        }
    };
    if schema.fields().is_empty() {
        return Err(DataFusionError::Plan(
            "hazy stream: cannot infer a schema from the first records; give --schema".into(),
        ));
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            if f.name() == time_column {
                Field::new(f.name(), super::plan::default_time_type(), true)
            } else {
                f.as_ref().clone().with_nullable(true)
            }
        })
        .collect();
    Ok(Arc::new(Schema::new(fields)))
}

/// The kind of a JSON value for inference (None: null, which fits any column). A time column
/// takes strings and numbers only.
fn json_kind(v: &serde_json::Value, is_time: bool) -> Option<&'static str> {
    use serde_json::Value;
    let kind = match v {
        Value::Null => return None,
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    Some(if is_time && !matches!(kind, "number" | "string") {
        "not a time"
    } else if is_time {
        "time"
    } else {
        kind
    })
}

/// The kind of each CSV field (empty: None); the time column is not judged.
fn csv_kinds<'a>(
    line: &[u8],
    names: &'a [String],
    time_column: &str,
) -> Vec<(&'a str, Option<&'static str>)> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line);
    let mut record = csv::StringRecord::new();
    if reader.read_record(&mut record).is_err() {
        return Vec::new();
    }
    names
        .iter()
        .zip(record.iter())
        .map(|(name, v)| {
            let v = v.trim();
            let kind = if v.is_empty() || name == time_column {
                None
            } else if v.parse::<f64>().is_ok() {
                Some("number")
            } else if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
                Some("boolean")
            } else {
                Some("text")
            };
            (name.as_str(), kind)
        })
        .collect()
}

/// Which records agree with the most common kind of each of their fields (ties go to the kind
/// seen first); a time column that is not a string or number never agrees.
fn agreeing_records(records: &[Vec<(&str, Option<&'static str>)>]) -> Vec<bool> {
    let mut counts: std::collections::HashMap<&str, Vec<(&'static str, usize)>> =
        std::collections::HashMap::new();
    for record in records {
        for (name, kind) in record {
            let Some(kind) = kind else { continue };
            let seen = counts.entry(name).or_default();
            match seen.iter_mut().find(|(k, _)| k == kind) {
                Some((_, n)) => *n += 1,
                None => seen.push((kind, 1)),
            }
        }
    }
    let majority: std::collections::HashMap<&str, &'static str> = counts
        .into_iter()
        .map(|(name, kinds)| {
            let best = kinds.iter().map(|(_, n)| *n).max().unwrap_or(0);
            let kind = kinds
                .iter()
                .find(|(_, n)| *n == best)
                .map_or("", |(k, _)| *k);
            (name, kind)
        })
        .collect();
    records
        .iter()
        .map(|record| {
            record.iter().all(|(name, kind)| {
                kind.is_none_or(|k| {
                    k == "time" || (k != "not a time" && majority.get(name) == Some(&k))
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::{TimeUnit, TimestampNanosecondType};
    use std::io::Write;

    /// `--batch-bytes`'s default.
    const PIECE: usize = 1 << 20;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
            Field::new("entity", DataType::Utf8, true),
        ]))
    }

    #[test]
    fn times_from_rfc3339_and_epoch_numbers() {
        let t = 1_767_225_600_000_000_000i64;
        assert_eq!(parse_time("2026-01-01T00:00:00Z", EpochUnit::Auto), Some(t));
        assert_eq!(parse_time("1767225600", EpochUnit::Auto), Some(t));
        assert_eq!(parse_time("1767225600000", EpochUnit::Auto), Some(t));
        assert_eq!(parse_time("1767225600000000", EpochUnit::Auto), Some(t));
        assert_eq!(parse_time("1767225600000000000", EpochUnit::Auto), Some(t));
        assert_eq!(
            parse_time("1767225600.5", EpochUnit::Auto),
            Some(t + 500_000_000)
        );
        assert_eq!(parse_time("5", EpochUnit::Millis), Some(5_000_000));
        assert_eq!(parse_time("yesterday", EpochUnit::Auto), None);
        assert_eq!(parse_time("NaN", EpochUnit::Auto), None);
    }

    /// The RFC 3339 fast path gives Arrow's instant wherever it reads a time.
    #[test]
    fn rfc3339_fast_path_agrees_with_arrow() {
        use crate::generator::time::parse_rfc3339_nanos;
        use arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut read = 0;
        for _ in 0..20_000 {
            // Instants from 1700 to 2250, in every form the fast path reads.
            let ns = (next() % (17_000_000_000_000_000_000u64)) as i64 - 8_500_000_000_000_000_000;
            let (secs, frac) = (ns.div_euclid(1_000_000_000), ns.rem_euclid(1_000_000_000));
            let offset = [0i64, 3_600, -19_800, 50_400][(next() % 4) as usize];
            let local = secs + offset;
            let (y, m, d) = crate::generator::time::civil_from_days(local.div_euclid(86_400));
            let rem = local.rem_euclid(86_400);
            let digits = (next() % 10) as usize;
            let fraction = match digits {
                0 => String::new(),
                n => format!(".{}", &format!("{frac:09}")[..n]),
            };
            let zone = match offset {
                0 if next() % 2 == 0 => "Z".to_string(),
                o => format!(
                    "{}{:02}:{:02}",
                    if o < 0 { '-' } else { '+' },
                    o.abs() / 3600,
                    o.abs() % 3600 / 60
                ),
            };
            let sep = if next() % 4 == 0 { ' ' } else { 'T' };
            let text = format!(
                "{y:04}-{m:02}-{d:02}{sep}{:02}:{:02}:{:02}{fraction}{zone}",
                rem / 3600,
                rem / 60 % 60,
                rem % 60
            );
            let fast = parse_rfc3339_nanos(&text);
            assert!(fast.is_some(), "{text}");
            assert_eq!(fast, string_to_timestamp_nanos(&text).ok(), "{text}");
            read += 1;
        }
        assert_eq!(read, 20_000);
        for other in [
            "2026-01-01T00:00:00",
            "2026-01-01",
            "2026-01-01T00:00:00+0100",
        ] {
            assert_eq!(parse_rfc3339_nanos(other), None, "{other}: left to Arrow");
        }
        assert_eq!(
            parse_time("2026-01-01T00:00:00", EpochUnit::Auto),
            string_to_timestamp_nanos("2026-01-01T00:00:00").ok()
        );
    }

    #[test]
    fn malformed_lines_are_set_aside_with_their_number() {
        let d =
            LineDecoder::new(InputFormat::Ndjson, schema(), "ts", EpochUnit::Auto, None).unwrap();
        let data = b"{\"ts\":\"2026-01-01T00:00:00Z\",\"entity\":\"a\"}\n\n{not json\n{\"ts\":1767225601,\"entity\":\"b\"}\n{\"entity\":\"c\"}\n{\"ts\":\"soon\",\"entity\":\"d\"}\n{\"ts\":\" 2026-01-01T00:00:02Z\\t\",\"entity\":\"e\"}\n";
        let (batch, bad) = d.decode(data, 10).unwrap();
        assert_eq!(batch.num_rows(), 3);
        let lines: Vec<u64> = bad.iter().map(|m| m.line).collect();
        assert_eq!(lines, vec![12, 14, 15], "{bad:?}");
        let ents = batch.column(1).as_string::<i32>();
        assert_eq!(
            (ents.value(0), ents.value(1), ents.value(2)),
            ("a", "b", "e")
        );
        // A time with white space around it is read, trimmed.
        let times = batch.column(0).as_primitive::<TimestampNanosecondType>();
        assert_eq!(times.value(2), 1_767_225_602_000_000_000);
        assert_eq!(batch.column(0).null_count(), 0);
    }

    #[test]
    fn csv_columns_follow_the_header() {
        let d = LineDecoder::new(
            InputFormat::Csv,
            schema(),
            "ts",
            EpochUnit::Auto,
            Some(b"entity,ts\n"),
        )
        .unwrap();
        let (batch, bad) = d
            .decode(b"x,2026-01-01T00:00:00Z\ny,1767225600\nz\n", 2)
            .unwrap();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(bad.iter().map(|m| m.line).collect::<Vec<_>>(), vec![4]);
        assert_eq!(batch.column(1).as_string::<i32>().value(1), "y");
    }

    /// A file of `bytes`, opened at `offset` (line `line`), and its first chunk.
    fn first_chunk(
        name: &str,
        bytes: &[u8],
        format: InputFormat,
        offset: u64,
        line: u64,
    ) -> (std::path::PathBuf, LineSource, Chunk) {
        let path = std::env::temp_dir().join(format!("hazy-input-{name}-{}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        let mut source = LineSource::open(&path, format, offset, line, false, PIECE).unwrap();
        let chunk = source.next_chunk(1 << 20).unwrap().unwrap();
        (path, source, chunk)
    }

    #[test]
    fn csv_records_end_outside_quotes_and_a_bom_is_skipped() {
        let (path, mut s, c) = first_chunk(
            "csv",
            b"\xEF\xBB\xBFts,e\n1,\"a\nb\"\n2,\"c\"\"\"\n3,d",
            InputFormat::Csv,
            0,
            1,
        );
        assert_eq!(
            c.start_offset, 3,
            "the byte-order mark is skipped but counted"
        );
        assert_eq!(c.data, b"ts,e\n1,\"a\nb\"\n2,\"c\"\"\"\n");
        assert_eq!((c.first_line, c.lines), (1, 4));
        let rest = s.next_chunk(1 << 20).unwrap().unwrap();
        assert_eq!((rest.data.as_slice(), rest.first_line), (&b"3,d"[..], 5));
        let mut ends = RecordEnds::new(InputFormat::Csv);
        assert_eq!(ends.last(b"1,\"a\nb"), None, "inside quotes");
        assert_eq!(ends.last(b"1,\"a\nb\"\n2,x"), Some(8));
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn chunks_end_on_line_boundaries_and_count_lines() {
        let (path, mut s, c) = first_chunk("lines", b"a\nb\nc", InputFormat::Ndjson, 2, 2);
        assert_eq!(
            (
                c.data.as_slice(),
                c.start_offset,
                c.end_offset,
                c.first_line,
                c.lines
            ),
            (&b"b\n"[..], 2, 4, 2, 1)
        );
        let c = s.next_chunk(1 << 20).unwrap().unwrap();
        assert_eq!(
            (c.data.as_slice(), c.first_line, c.lines),
            (&b"c"[..], 3, 1)
        );
        assert!(s.next_chunk(1 << 20).unwrap().is_none());
        std::fs::remove_file(&path).unwrap();
    }

    /// Input several pieces long, with a line longer than a piece and no newline at its end.
    fn large_input() -> Vec<u8> {
        let mut bytes = Vec::new();
        for i in 0..60_000 {
            bytes.extend_from_slice(
                format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "x".repeat(i % 97)).as_bytes(),
            );
            if i == 30_000 {
                bytes.extend_from_slice(&vec![b'y'; 3 * PIECE]);
                bytes.push(b'\n');
            }
        }
        bytes.extend_from_slice(b"{\"last\":1}");
        bytes
    }

    /// Reads `source` to its end in chunks of `batch` bytes, checking that each chunk starts
    /// where the last one ended, ends at a line end (or the input's end), counts its lines and
    /// keeps near `batch` unless it holds a longer line; returns the bytes read.
    fn read_back(mut source: LineSource, size: usize, batch: usize) -> Vec<u8> {
        let (mut read, mut lines, mut chunks) = (Vec::new(), 0, 0);
        while let Some(c) = source.next_chunk(batch).unwrap() {
            assert_eq!(c.start_offset, read.len() as u64);
            assert_eq!(c.first_line, lines + 1);
            let last = c.data.last().copied();
            assert!(last == Some(b'\n') || c.end_offset == size as u64);
            let longest = c.data.split(|&b| b == b'\n').map(<[u8]>::len).max();
            assert!(
                longest > Some(batch) || c.data.len() <= 2 * batch + (128 << 10),
                "{} bytes in a chunk of {batch}",
                c.data.len()
            );
            lines += c.lines;
            read.extend_from_slice(&c.data);
            chunks += 1;
        }
        assert_eq!(lines, 60_002);
        assert!(chunks > 4, "{chunks} chunks");
        read
    }

    /// A regular file is read in pieces that end at line ends, of about `--batch-bytes`
    /// (the default, and a small one): every byte comes back.
    #[test]
    fn a_large_file_reads_back_whole_in_line_chunks() {
        let bytes = large_input();
        let path = std::env::temp_dir().join(format!("hazy-input-large-{}", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        for batch in [PIECE, 100_000] {
            let source = LineSource::open(&path, InputFormat::Ndjson, 0, 1, false, batch).unwrap();
            assert!(
                read_back(source, bytes.len(), batch) == bytes,
                "the chunks give back the file"
            );
        }
        std::fs::remove_file(&path).unwrap();
    }

    /// A steady trickle through a FIFO (a line every 0.1 ms, a pause of `LINGER` rare)
    /// still comes out while it runs, not only once a piece is full or the input ends.
    #[test]
    fn a_trickle_through_a_pipe_is_not_held_back() {
        let path = std::env::temp_dir().join(format!("hazy-input-trickle-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let writer = {
            let path = path.clone();
            std::thread::spawn(move || {
                let mut fifo = std::fs::OpenOptions::new().write(true).open(path).unwrap();
                let start = Instant::now();
                let mut n = 0;
                while start.elapsed() < Duration::from_secs(2) {
                    writeln!(fifo, "{{\"n\":{n}}}").unwrap();
                    n += 1;
                    std::thread::sleep(Duration::from_micros(100));
                }
            })
        };
        let mut source = LineSource::open(&path, InputFormat::Ndjson, 0, 1, false, PIECE).unwrap();
        let start = Instant::now();
        let first = source.next_chunk(1 << 20).unwrap().expect("a first chunk");
        let waited = start.elapsed();
        assert!(first.lines > 0);
        // The writer runs for 2 s; the reader holds lines for at most `MAX_HOLD` (50 ms).
        assert!(
            waited < Duration::from_secs(1),
            "first chunk after {waited:?}"
        );
        while source.next_chunk(1 << 20).unwrap().is_some() {}
        writer.join().unwrap();
        std::fs::remove_file(&path).unwrap();
    }

    /// A FIFO is read as a pipe, gathering what is ready at once: every byte comes back, in
    /// whatever pieces the writer's writes make (small ones, and a pause, mid-line too).
    #[test]
    fn a_large_pipe_reads_back_whole_in_line_chunks() {
        let bytes = large_input();
        let path = std::env::temp_dir().join(format!("hazy-input-fifo-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::S_IRWXU).unwrap();
        let writer = {
            let (path, bytes) = (path.clone(), bytes.clone());
            std::thread::spawn(move || {
                let mut fifo = std::fs::OpenOptions::new().write(true).open(path).unwrap();
                for (i, part) in bytes.chunks(10_007).enumerate() {
                    fifo.write_all(part).unwrap();
                    if i % 100 == 0 {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                }
            })
        };
        let batch = 100_000;
        let source = LineSource::open(&path, InputFormat::Ndjson, 0, 1, false, batch).unwrap();
        assert!(
            read_back(source, bytes.len(), batch) == bytes,
            "the chunks give back the input"
        );
        writer.join().unwrap();
        std::fs::remove_file(&path).unwrap();
    }
}
