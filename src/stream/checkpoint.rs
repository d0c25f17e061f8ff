//! Saving and restoring a [`WindowedStream`]: the open windows' sketch states, the sliding
//! panes, the first-seen filter and the counters, with whatever input position the caller
//! keeps beside them.
//!
//! A checkpoint directory holds `checkpoint.json` (the counters, window bookkeeping, the
//! caller's position and a fingerprint of the query) and `states-<generation>.arrow` (the state
//! rows, Arrow IPC) and `first_seen-<generation>.bin` (the Bloom filter's Hazy state). The JSON
//! file is written last and renamed into place, so a crash mid-write leaves the previous
//! checkpoint whole.

use std::fs::{self, File};
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use arrow::array::RecordBatch;
use arrow::ipc::reader::FileReader;
use arrow::ipc::writer::FileWriter;
use datafusion::common::{DataFusionError, Result};
use serde::{Deserialize, Serialize};

use super::runtime::{StreamStats, WindowedStream};
use crate::sketch::Sketch;
use crate::sketch::bloom::BloomFilter;

/// The in-memory form of a checkpoint.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub meta: CheckpointMeta,
    /// Open panes, then the sliding front, then the sliding back (see [`CheckpointMeta`]).
    pub batches: Vec<RecordBatch>,
    pub first_seen: Option<Vec<u8>>,
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
    /// The caller's input position (for the CLI: byte offset and line of the next record).
    pub position: serde_json::Value,
    /// Bumped at every save; names the data files.
    pub generation: u64,
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

fn io_error(what: &str, path: &Path, e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Execution(format!(
        "hazy stream: checkpoint: {what} {}: {e}",
        path.display()
    ))
}

impl Checkpoint {
    /// Writes the checkpoint into `dir` (created if needed), replacing the previous one.
    pub fn write(&mut self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).map_err(|e| io_error("cannot create", dir, e))?;
        let previous = read_meta(dir).ok().flatten().map(|m| m.generation);
        self.meta.generation = previous.map_or(1, |g| g + 1);
        let generation = self.meta.generation;
        let states = dir.join(format!("states-{generation}.arrow"));
        write_batches(&states, &self.batches)?;
        if let Some(bloom) = &self.first_seen {
            let path = dir.join(format!("first_seen-{generation}.bin"));
            write_synced(&path, bloom)?;
        }
        let json =
            serde_json::to_vec_pretty(&self.meta).map_err(|e| io_error("cannot encode", dir, e))?;
        let tmp = dir.join(format!("{META}.tmp"));
        write_synced(&tmp, &json)?;
        let meta = dir.join(META);
        fs::rename(&tmp, &meta).map_err(|e| io_error("cannot rename", &meta, e))?;
        if let Some(old) = previous {
            let _ = fs::remove_file(dir.join(format!("states-{old}.arrow")));
            let _ = fs::remove_file(dir.join(format!("first_seen-{old}.bin")));
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
        let states = dir.join(format!("states-{}.arrow", meta.generation));
        let file = File::open(&states).map_err(|e| io_error("cannot open", &states, e))?;
        let reader = FileReader::try_new(BufReader::new(file), None)
            .map_err(|e| io_error("cannot read", &states, e))?;
        let batches = reader
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| io_error("cannot read", &states, e))?;
        let bloom = dir.join(format!("first_seen-{}.bin", meta.generation));
        let first_seen = bloom
            .exists()
            .then(|| fs::read(&bloom))
            .transpose()
            .map_err(|e| io_error("cannot read", &bloom, e))?;
        Ok(Some(Checkpoint {
            meta,
            batches,
            first_seen,
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

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = File::create(path).map_err(|e| io_error("cannot create", path, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| io_error("cannot write", path, e))
}

fn write_batches(path: &Path, batches: &[RecordBatch]) -> Result<()> {
    let Some(first) = batches.first() else {
        return write_synced(path, b"");
    };
    let file = File::create(path).map_err(|e| io_error("cannot create", path, e))?;
    let mut writer = FileWriter::try_new(BufWriter::new(file), &first.schema())?;
    for b in batches {
        writer.write(b)?;
    }
    let buffered = writer.into_inner()?;
    let file = buffered
        .into_inner()
        .map_err(|e| io_error("cannot write", path, e.error()))?;
    file.sync_all()
        .map_err(|e| io_error("cannot sync", path, e))
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
            },
            batches,
            first_seen: self.first_seen_filter().map(BloomFilter::to_bytes),
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
