//! Saving and restoring a [`WindowedStream`]: the open windows' sketch states, the sliding
//! panes, the first-seen filter, the counters, the windows that closed but may not have been
//! written yet, and whatever input position the caller keeps beside them.
//!
//! A checkpoint directory holds `checkpoint.json` (the counters, window bookkeeping, the
//! caller's position and a fingerprint of the query) and, named by the save's generation,
//! `states-<n>.arrow` (the state rows, Arrow IPC; a valid file with no batch when no window is
//! open), `first_seen-<n>.bin` (the Bloom filter's Hazy state) and `pending-rows-<n>.arrow` /
//! `pending-states-<n>.arrow` (closed windows saved before they are written out).
//!
//! Guarantees:
//! - **Atomic as a whole.** Every data file of a save is new (a new generation) and synced
//!   before `checkpoint.json` is replaced by a rename (and the directory synced), so a crash at
//!   any point leaves either the previous save or the new one, whole. Files of other
//!   generations (a save cut short) are removed after each save.
//! - **Write-ahead closes.** A caller that saves the windows a close produced as
//!   [`Checkpoint::pending`] *before* writing them, then calls [`Checkpoint::clear_pending`],
//!   never loses a window and never writes one with different rows: after a crash the restart
//!   writes the saved rows again, byte for byte, whatever happened after the save. (The close
//!   itself, including an idle close that depends on the wall clock, is part of the save.)

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use datafusion::common::{DataFusionError, Result};
use serde::{Deserialize, Serialize};

use super::runtime::{ClosedWindow, StreamStats, WindowedStream};
use crate::sketch::Sketch;
use crate::sketch::bloom::BloomFilter;

/// The in-memory form of a checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub meta: CheckpointMeta,
    /// The schema of the state rows (kept so that a save with no open window is still a valid
    /// Arrow file).
    pub state_schema: SchemaRef,
    /// Open panes, then the sliding front, then the sliding back (see [`CheckpointMeta`]).
    pub batches: Vec<RecordBatch>,
    pub first_seen: Option<Vec<u8>>,
    /// Windows that closed at this save and may not have been written out yet: a restart
    /// writes them again (see the module docs).
    pub pending: Vec<ClosedWindow>,
}

/// Everything but the state rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    pub version: u32,
    /// Hash of the query, schema and options the states belong to.
    pub fingerprint: u64,
    pub stats: StreamStats,
    pub closed_before: Option<i64>,
    /// Start of each open pane, one state batch each.
    pub open: Vec<i64>,
    pub sliding: Option<SlidingMeta>,
    /// The caller's input position (for the CLI: byte offset and line of the next record, and
    /// marks that recognise the input file).
    pub position: serde_json::Value,
    /// Bumped at every save; names the data files.
    pub generation: u64,
    /// Start and end of each pending window, one batch each in the pending files.
    #[serde(default)]
    pub pending: Vec<[i64; 2]>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlidingMeta {
    pub front: usize,
    pub back: usize,
    pub had_events: Vec<bool>,
    pub next_pane: Option<i64>,
}

const VERSION: u32 = 1;
const META: &str = "checkpoint.json";
/// The data files of a save, each followed by `-<generation>.<ext>`.
const DATA_FILES: [(&str, &str); 4] = [
    ("states", "arrow"),
    ("first_seen", "bin"),
    ("pending-rows", "arrow"),
    ("pending-states", "arrow"),
];

fn data_file(dir: &Path, kind: &str, generation: u64) -> std::path::PathBuf {
    let ext = DATA_FILES
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or("bin", |(_, e)| e);
    dir.join(format!("{kind}-{generation}.{ext}"))
}

fn io_error(what: &str, path: &Path, e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!(
        "hazy stream: checkpoint: {what} {}: {e}",
        path.display()
    ))
}

impl Checkpoint {
    /// Writes the checkpoint into `dir` (created if needed), replacing the previous one
    /// atomically (see the module docs).
    pub fn write(&mut self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).map_err(|e| io_error("cannot create", dir, e))?;
        let previous = read_meta(dir).ok().flatten().map(|m| m.generation);
        // A save cut short may have left files of the next generation: skip past any.
        let mut generation = previous.map_or(1, |g| g + 1);
        while DATA_FILES
            .iter()
            .any(|(k, _)| data_file(dir, k, generation).exists())
        {
            generation += 1;
        }
        self.meta.generation = generation;
        write_batches(
            &data_file(dir, "states", generation),
            &self.state_schema,
            &self.batches,
        )?;
        if let Some(bloom) = &self.first_seen {
            write_synced(&data_file(dir, "first_seen", generation), bloom)?;
        }
        self.meta.pending = self.pending.iter().map(|w| [w.start, w.end]).collect();
        if let Some(first) = self.pending.first() {
            let rows: Vec<RecordBatch> = self.pending.iter().map(|w| w.rows.clone()).collect();
            let states = (self.pending.iter())
                .map(ClosedWindow::stored_states)
                .collect::<Result<Vec<_>>>()?;
            let path = data_file(dir, "pending-rows", generation);
            write_batches(&path, &first.rows.schema(), &rows)?;
            let path = data_file(dir, "pending-states", generation);
            write_batches(&path, &first.states.schema(), &states)?;
        }
        write_meta(dir, &self.meta)?;
        remove_other_generations(dir, generation);
        Ok(())
    }

    /// Marks the pending windows of the checkpoint in `dir` as written out, so a restart does
    /// not write them again.
    pub fn clear_pending(dir: &Path) -> Result<()> {
        let Some(mut meta) = read_meta(dir)? else {
            return Ok(());
        };
        if meta.pending.is_empty() {
            return Ok(());
        }
        meta.pending.clear();
        write_meta(dir, &meta)?;
        for kind in ["pending-rows", "pending-states"] {
            let _ = fs::remove_file(data_file(dir, kind, meta.generation));
        }
        Ok(())
    }

    /// Reads the checkpoint in `dir`, or None when there is none yet.
    pub fn read(dir: &Path) -> Result<Option<Checkpoint>> {
        let Some(meta) = read_meta(dir)? else {
            return Ok(None);
        };
        if meta.version != VERSION {
            return Err(io_error(
                "unsupported version in",
                &dir.join(META),
                meta.version,
            ));
        }
        let states = data_file(dir, "states", meta.generation);
        let (state_schema, batches) = read_batches(&states)?;
        let bloom = data_file(dir, "first_seen", meta.generation);
        let first_seen = bloom
            .exists()
            .then(|| fs::read(&bloom))
            .transpose()
            .map_err(|e| io_error("cannot read", &bloom, e))?;
        let pending = if meta.pending.is_empty() {
            Vec::new()
        } else {
            let rows_path = data_file(dir, "pending-rows", meta.generation);
            let (_, rows) = read_batches(&rows_path)?;
            let (_, states) = read_batches(&data_file(dir, "pending-states", meta.generation))?;
            if rows.len() != meta.pending.len() || states.len() != meta.pending.len() {
                return Err(io_error(
                    "the pending windows do not match checkpoint.json in",
                    dir,
                    format!("{} windows, {} row batches", meta.pending.len(), rows.len()),
                ));
            }
            meta.pending
                .iter()
                .zip(rows.into_iter().zip(states))
                .map(|([start, end], (rows, states))| ClosedWindow {
                    start: *start,
                    end: *end,
                    rows,
                    states,
                })
                .collect()
        };
        Ok(Some(Checkpoint {
            meta,
            state_schema,
            batches,
            first_seen,
            pending,
        }))
    }
}

fn read_meta(dir: &Path) -> Result<Option<CheckpointMeta>> {
    let path = dir.join(META);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io_error("malformed", &path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("cannot read", &path, e)),
    }
}

/// Replaces `checkpoint.json` by a rename, then syncs the directory so the rename is durable.
fn write_meta(dir: &Path, meta: &CheckpointMeta) -> Result<()> {
    let json = serde_json::to_vec_pretty(meta).map_err(|e| io_error("cannot encode", dir, e))?;
    let tmp = dir.join(format!("{META}.tmp"));
    write_synced(&tmp, &json)?;
    let path = dir.join(META);
    fs::rename(&tmp, &path).map_err(|e| io_error("cannot rename", &path, e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("cannot sync", dir, e))
}

/// Removes the data files of every generation but `keep` (earlier saves, saves cut short).
fn remove_other_generations(dir: &Path, keep: u64) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let generation = DATA_FILES.iter().find_map(|(kind, ext)| {
            name.strip_prefix(kind)?
                .strip_prefix('-')?
                .strip_suffix(ext)?
                .strip_suffix('.')?
                .parse::<u64>()
                .ok()
        });
        if generation.is_some_and(|g| g != keep) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(|e| io_error("cannot create", path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| io_error("cannot write", path, e))
}

/// An Arrow IPC file of `batches` (valid, with its schema, even when there is none).
fn write_batches(path: &Path, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<()> {
    let file = File::create(path).map_err(|e| io_error("cannot create", path, e))?;
    let mut writer = FileWriter::try_new(BufWriter::new(file), schema)?;
    for b in batches {
        writer.write(b)?;
    }
    writer.finish()?;
    let buffered = writer.into_inner()?;
    let file = buffered
        .into_inner()
        .map_err(|e| io_error("cannot write", path, e.error()))?;
    file.sync_all()
        .map_err(|e| io_error("cannot sync", path, e))
}

fn read_batches(path: &Path) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let file = File::open(path).map_err(|e| io_error("cannot open", path, e))?;
    if file.metadata().is_ok_and(|m| m.len() == 0) {
        // Written by earlier versions when no window was open: no rows.
        return Ok((
            std::sync::Arc::new(arrow::datatypes::Schema::empty()),
            Vec::new(),
        ));
    }
    let reader = FileReader::try_new(BufReader::new(file), None)
        .map_err(|e| io_error("cannot read", path, e))?;
    let schema = reader.schema();
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| io_error("cannot read", path, e))?;
    Ok((schema, batches))
}

impl WindowedStream {
    /// A checkpoint of the stream as it is now; `position` is stored with it unchanged.
    pub async fn checkpoint(&mut self, position: serde_json::Value) -> Result<Checkpoint> {
        let (open, mut batches) = self.open_pane_states().await?;
        let sliding = self
            .sliding_parts()
            .map(|(front, back, had_events, next_pane)| {
                let meta = SlidingMeta {
                    front: front.len(),
                    back: back.len(),
                    had_events,
                    next_pane,
                };
                batches.extend(front);
                batches.extend(back);
                meta
            });
        Ok(Checkpoint {
            meta: CheckpointMeta {
                version: VERSION,
                fingerprint: self.fingerprint(),
                stats: self.stats().clone(),
                closed_before: self.closed_before_bound(),
                open,
                sliding,
                position,
                generation: 0,
                pending: Vec::new(),
            },
            state_schema: self.raw_state_schema(),
            batches,
            first_seen: self.first_seen_filter().map(BloomFilter::to_bytes),
            pending: Vec::new(),
        })
    }

    /// Puts the stream back in the state of `checkpoint` (made by the same query and options).
    pub async fn restore(&mut self, checkpoint: Checkpoint) -> Result<()> {
        let meta = checkpoint.meta;
        if meta.fingerprint != self.fingerprint() {
            return Err(DataFusionError::Execution(
                "hazy stream: the checkpoint was made by a different query, schema or options; \
                 use a new --checkpoint directory"
                    .into(),
            ));
        }
        let slides = meta.sliding.as_ref().map_or(0, |s| s.front + s.back);
        if checkpoint.batches.len() != meta.open.len() + slides {
            return Err(DataFusionError::Execution(
                "hazy stream: checkpoint: the state file does not match checkpoint.json".into(),
            ));
        }
        let state_schema = self.raw_state_schema();
        for b in &checkpoint.batches {
            if b.schema().fields() != state_schema.fields() {
                return Err(DataFusionError::Execution(
                    "hazy stream: checkpoint: the state rows do not match the query's state columns".into(),
                ));
            }
        }
        let mut batches = checkpoint.batches.into_iter();
        let open: Vec<(i64, RecordBatch)> =
            meta.open.iter().copied().zip(batches.by_ref()).collect();
        let sliding = match meta.sliding {
            Some(s) => {
                let front: Vec<RecordBatch> = batches.by_ref().take(s.front).collect();
                let back: Vec<RecordBatch> = batches.take(s.back).collect();
                Some((front, back, s.had_events, s.next_pane))
            }
            None => None,
        };
        let first_seen = checkpoint
            .first_seen
            .map(|bytes| {
                BloomFilter::from_bytes(&bytes).map_err(|e| {
                    DataFusionError::Execution(format!(
                        "hazy stream: checkpoint: first_seen filter: {e}"
                    ))
                })
            })
            .transpose()?;
        self.restore_parts(meta.stats, meta.closed_before, open, sliding, first_seen)
            .await
    }
}
