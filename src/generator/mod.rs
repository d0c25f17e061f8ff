//! `hazy gen`: a deterministic synthetic event stream.
//!
//! [`random`]: the random numbers and the alias tables; [`time`]: RFC 3339 text;
//! [`events`]: the generator of Arrow batches; [`output`]: the Parquet, CSV and NDJSON
//! writers. This module holds the flags and [`run`].
//!
//! The stream models the "simulate an event stream" step of the stream
//! processing tutorial: a large population of entities (users, devices, …)
//! produce typed events, a few entities being far more active than the rest.
//!
//! Every row has four columns, in this order:
//!
//! | column       | Arrow type                          | content                                   |
//! |--------------|-------------------------------------|-------------------------------------------|
//! | `ts`         | `Timestamp(Microsecond, "UTC")`     | event time                                |
//! | `entity`     | `Utf8`                              | `entity_{i}`, `0 <= i < --entities`       |
//! | `event_type` | `Utf8`                              | one of the twelve [`EVENT_TYPES`]         |
//! | `value`      | `Float64`                           | uniform in `[0, 1)`                       |
//!
//! * **Entities** follow a power law: entity `i` is drawn with weight
//!   `1 / (i + 1)^0.7`, so `entity_0` is the most active one.
//! * **Event types** are drawn with fixed weights (`page_view` 50, `click` 30,
//!   … `like` 12, see [`EVENT_TYPES`]).
//! * **Event time** starts at `--start` and advances by exponentially
//!   distributed gaps with a mean of `1 / --rate` seconds (a Poisson process),
//!   so `ts` is non-decreasing. With `--disorder D`, each event's timestamp is
//!   moved back by a uniform random amount in `[0, D)` seconds, which yields an
//!   out-of-order stream whose lateness is bounded by `D`.
//!
//! Both categorical columns are sampled with the Walker/Vose alias method (O(1)
//! per draw) from a self-contained xoshiro256** generator seeded through
//! splitmix64, so the same `--seed` and flags always produce the same rows, and
//! the same bytes for a given output format. The rows do not depend on how the
//! stream is cut into batches.
//!
//! Output is streamed in batches of [`BATCH_ROWS`] rows, so `--events` can be
//! arbitrarily large (10^9 and more) with constant memory. Formats: Parquet
//! (zstd, row groups of about 1M rows), CSV with a header, or NDJSON; in CSV
//! and NDJSON, timestamps are RFC 3339 strings such as
//! `2026-01-01T00:00:00.012345Z`.
//!
//! ```text
//! hazy gen --events 1000000 --output events.parquet
//! hazy gen --events 10 --seed 7 --disorder 2.5 | jq .
//! ```

mod events;
mod output;
mod random;
pub(crate) mod time;

pub use events::EventGenerator;

use std::path::PathBuf;

/// What the generator's fallible steps return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Rows per batch when streaming to the output.
pub const BATCH_ROWS: usize = 65_536;

/// Maximum rows per Parquet row group.
const ROW_GROUP_ROWS: usize = 1 << 20;

/// Event type names and their relative weights, in column-value order.
pub const EVENT_TYPES: [(&str, f64); 12] = [
    ("page_view", 50.0),
    ("click", 30.0),
    ("scroll", 20.0),
    ("form_submit", 10.0),
    ("add_to_cart", 8.0),
    ("purchase", 3.0),
    ("search", 15.0),
    ("login", 5.0),
    ("logout", 4.0),
    ("share", 6.0),
    ("comment", 7.0),
    ("like", 12.0),
];

/// Length of the longest event type name.
const EVENT_TYPE_MAX_LEN: usize = 11;

/// Exponent of the entity power law: entity `i` has weight `1 / (i + 1)^ENTITY_EXPONENT`.
pub const ENTITY_EXPONENT: f64 = 0.7;

const DEFAULT_EVENTS: u64 = 100_000;
const DEFAULT_ENTITIES: u64 = 10_000;
const DEFAULT_RATE: f64 = 100.0;
const DEFAULT_START: &str = "2026-01-01T00:00:00Z";
const DEFAULT_SEED: u64 = 42;

/// Output format of `hazy gen`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenFormat {
    /// Apache Parquet (zstd); needs a file path.
    Parquet,
    /// Comma-separated values with a header line.
    Csv,
    /// Newline-delimited JSON, one object per event.
    #[value(alias = "jsonl")]
    Ndjson,
}

/// Generate a deterministic synthetic event stream (ts, entity, event_type, value).
#[derive(clap::Args, Debug, Clone)]
pub struct GenArgs {
    /// Number of events to generate (streamed in batches, any size works).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_EVENTS)]
    pub events: u64,

    /// Number of distinct entities `entity_0` … `entity_{N-1}`; entity i is
    /// drawn with weight 1/(i+1)^0.7.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_ENTITIES)]
    pub entities: u64,

    /// Mean arrival rate in events per second of event time (exponential
    /// inter-arrival times).
    #[arg(long, value_name = "EVENTS_PER_SEC", default_value_t = DEFAULT_RATE, allow_negative_numbers = true)]
    pub rate: f64,

    /// Event time of the start of the stream (RFC 3339).
    #[arg(long, value_name = "RFC3339", default_value = DEFAULT_START)]
    pub start: String,

    /// Out-of-orderness: subtract a uniform random [0, SECONDS) from each
    /// event's timestamp (0 = timestamps are non-decreasing).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub disorder: f64,

    /// Seed of the random generator; the same seed and flags give
    /// byte-identical output.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,

    /// Output file, or `-` for stdout.
    #[arg(long, value_name = "PATH", default_value = "-")]
    pub output: PathBuf,

    /// Output format [default: from the --output extension (.parquet, .csv,
    /// .ndjson/.jsonl); ndjson for stdout].
    #[arg(long, value_enum)]
    pub format: Option<GenFormat>,

    /// No progress line on stderr (it shows only on a terminal, after a second).
    #[arg(long, short)]
    pub quiet: bool,
}

impl Default for GenArgs {
    fn default() -> Self {
        GenArgs {
            events: DEFAULT_EVENTS,
            entities: DEFAULT_ENTITIES,
            rate: DEFAULT_RATE,
            start: DEFAULT_START.to_string(),
            disorder: 0.0,
            seed: DEFAULT_SEED,
            output: PathBuf::from("-"),
            format: None,
            quiet: false,
        }
    }
}

/// Runs `hazy gen`: validates the flags, then streams the events to `--output`.
pub use output::run;

#[cfg(test)]
mod tests;
