//! Event-time windows over endless streams: the runtime behind `hazy stream`.
//!
//! DataFusion runs a `GROUP BY date_bin(…)` over an unbounded source only in narrow cases
//! (one partition, ordered input, a window comes out when a later key arrives) and has no
//! watermark, no idle close and no notion of late events. Hazy runs the query itself, in three
//! DataFusion plans made from it once (see [`plan`]):
//!
//! 1. each event goes to its window's own running copy of the query's **partial** aggregate,
//!    which updates that window's groups in place for as long as the window is open (see
//!    `pane`), so an open window costs the size of its groups' sketches, not of its events;
//! 2. states that must be merged (emitted early under memory pressure, or restored from a
//!    checkpoint) go through the same aggregate in `PartialReduce` mode;
//! 3. when the **watermark** (the greatest event time seen minus the allowed lateness) passes a
//!    window's end, or the input goes idle, the window's states go through the rest of the query
//!    (final aggregate, projection, HAVING, ORDER BY) and its rows come out.
//!
//! Events for a window that already closed are **late**: they are counted per window and
//! handed back to the caller, never added to a closed window. Sliding windows merge the last
//! N panes with two stacks, so each step costs the same whatever N is. The whole state can be
//! checkpointed and restored ([`checkpoint`]).
//!
//! ```no_run
//! # async fn demo(batches: Vec<arrow::array::RecordBatch>, schema: arrow::datatypes::SchemaRef) -> datafusion::common::Result<()> {
//! use hazy::stream::{StreamOptions, WindowedStream};
//! let mut options = StreamOptions::new("ts");
//! options.lateness_ns = 5_000_000_000;
//! let sql = "SELECT date_bin(INTERVAL '1 minute', ts) AS w, count(*) AS c, \
//!            approx_count_distinct(entity) AS d FROM events \
//!            GROUP BY date_bin(INTERVAL '1 minute', ts)";
//! let mut stream = WindowedStream::new(sql, schema, options).await?;
//! for batch in batches {
//!     for window in stream.push(batch).await? {
//!         println!("{}: {} rows", window.start, window.rows.num_rows());
//!     }
//! }
//! let last = stream.finish().await?; // end of input: the open windows come out
//! # Ok(()) }
//! ```

pub mod checkpoint;
pub mod input;
pub mod ndjson;
mod pane;
pub mod plan;
mod runtime;
pub mod source;
pub mod window;

pub use checkpoint::Checkpoint;
pub use plan::{stream_session, stream_session_with};
pub use runtime::{
    ClosedWindow, FIRST_SEEN, FirstSeenOptions, StreamOptions, StreamStats, WindowedStream,
};
