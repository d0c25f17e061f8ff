//! `hazy gen`: a deterministic synthetic event stream.
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

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, LazyLock};

use arrow::array::{ArrayRef, Float64Array, StringBuilder, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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
        }
    }
}

// ---------------------------------------------------------------------------
// Random numbers
// ---------------------------------------------------------------------------

/// One step of splitmix64 (used to expand the seed into xoshiro state).
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256** (Blackman & Vigna), a small, fast, high-quality PRNG.
#[derive(Debug, Clone)]
struct Xoshiro256 {
    s: [u64; 4],
}

impl Xoshiro256 {
    fn from_seed(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        // splitmix64 is a bijection of its counter, so four consecutive outputs
        // are never all zero; keep the guard anyway (all-zero is a fixed point).
        if s == [0; 4] {
            return Xoshiro256 { s: [1, 2, 3, 4] };
        }
        Xoshiro256 { s }
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    #[inline]
    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (multiply-shift; bias at most n / 2^64).
    #[inline]
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

// ---------------------------------------------------------------------------
// Alias method
// ---------------------------------------------------------------------------

/// Walker's alias table built with Vose's O(n) algorithm.
///
/// To draw: pick a column `i` uniformly, then keep `i` with probability
/// `threshold[i] / 2^64`, otherwise take `alias[i]`.
#[derive(Debug, Clone)]
struct AliasTable {
    threshold: Vec<u64>,
    alias: Vec<u32>,
}

impl AliasTable {
    /// `weight(i)` must be finite and positive for `i in 0..n`; `1 <= n <= u32::MAX`.
    fn new(n: usize, weight: impl Fn(usize) -> f64) -> Result<Self, BoxError> {
        debug_assert!(n >= 1 && n as u64 <= u64::from(u32::MAX));
        let mut prob: Vec<f64> = Vec::new();
        let mut threshold: Vec<u64> = Vec::new();
        let mut alias: Vec<u32> = Vec::new();
        let mut small: Vec<u32> = Vec::new();
        let mut large: Vec<u32> = Vec::new();
        let alloc_err = |_| -> BoxError {
            format!("hazy gen: --entities {n} is too large (cannot allocate the sampling table)")
                .into()
        };
        prob.try_reserve_exact(n).map_err(alloc_err)?;
        threshold.try_reserve_exact(n).map_err(alloc_err)?;
        alias.try_reserve_exact(n).map_err(alloc_err)?;

        prob.extend((0..n).map(&weight));
        let total: f64 = prob.iter().sum();
        let scale = n as f64 / total;
        for p in &mut prob {
            *p *= scale;
        }
        let n_small = prob.iter().filter(|&&p| p < 1.0).count();
        small.try_reserve_exact(n_small).map_err(alloc_err)?;
        large.try_reserve_exact(n - n_small).map_err(alloc_err)?;
        for (i, &p) in prob.iter().enumerate() {
            if p < 1.0 {
                small.push(i as u32);
            } else {
                large.push(i as u32);
            }
        }
        threshold.resize(n, u64::MAX);
        alias.extend(0..n as u32); // by default a column aliases itself
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            let (si, li) = (s as usize, l as usize);
            threshold[si] = prob_to_threshold(prob[si]);
            alias[si] = l;
            prob[li] = (prob[li] + prob[si]) - 1.0;
            if prob[li] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Whatever is left has probability 1 up to rounding: keep u64::MAX
        // and self-alias, so the coin flip cannot change the outcome.
        Ok(AliasTable { threshold, alias })
    }

    #[inline]
    fn sample(&self, rng: &mut Xoshiro256) -> usize {
        let i = rng.below(self.threshold.len() as u64) as usize;
        if rng.next_u64() < self.threshold[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }
}

/// Maps a probability in `[0, 1)` to a `u64` threshold (`p * 2^64`, saturating).
fn prob_to_threshold(p: f64) -> u64 {
    // `as` saturates: negatives (rounding noise) become 0, >= 2^64 becomes MAX.
    (p * 18_446_744_073_709_551_616.0) as u64
}

// ---------------------------------------------------------------------------
// RFC 3339
// ---------------------------------------------------------------------------

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

/// Parses an RFC 3339 timestamp (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`) into
/// microseconds since the Unix epoch. Fractions beyond microseconds are
/// truncated; a leap second `:60` is counted as the next second.
fn parse_rfc3339_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let num = |from: usize, to: usize| -> Option<i64> {
        let digits = b.get(from..to)?;
        digits.iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let sep = |at: usize, allowed: &[u8]| b.get(at).is_some_and(|c| allowed.contains(c));

    let year = num(0, 4)?;
    let month = num(5, 7)?;
    let day = num(8, 10)?;
    let hour = num(11, 13)?;
    let minute = num(14, 16)?;
    let second = num(17, 19)?;
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    if !(1..=12).contains(&month)
        || !(1..=days_in_month(year, month)).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }

    let mut i = 19;
    let mut micros = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            if i - start < 6 {
                micros = micros * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        if i == start {
            return None;
        }
        for _ in (i - start)..6 {
            micros *= 10;
        }
    }

    let offset_secs = match *b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        c @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let (oh, om) = (num(i + 1, i + 3)?, num(i + 4, i + 6)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            if c == b'-' { -off } else { off }
        }
        _ => return None,
    };

    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
        - offset_secs;
    Some(secs * 1_000_000 + micros)
}

/// Inverse of [`days_from_civil`]: (year, month, day) of a day number.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Replaces `buf` with the RFC 3339 form of `micros` since the epoch, in UTC
/// with exactly six fractional digits: `2026-01-01T00:00:00.012345Z`.
/// (Years outside 0000–9999, which RFC 3339 cannot express, get a sign and
/// as many digits as needed.)
fn write_rfc3339_micros(buf: &mut String, micros: i64) {
    /// Appends the last `width` (<= 6) decimal digits of `value` >= 0.
    fn digits(buf: &mut String, mut value: i64, width: usize) {
        let mut tmp = [b'0'; 6];
        for slot in tmp[..width].iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
        for &c in &tmp[..width] {
            buf.push(char::from(c));
        }
    }
    let secs = micros.div_euclid(1_000_000);
    let frac = micros.rem_euclid(1_000_000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    buf.clear();
    if (0..=9999).contains(&year) {
        digits(buf, year, 4);
    } else {
        use std::fmt::Write as _;
        let _ = write!(buf, "{year:+}");
    }
    buf.push('-');
    digits(buf, month, 2);
    buf.push('-');
    digits(buf, day, 2);
    buf.push('T');
    digits(buf, sod / 3600, 2);
    buf.push(':');
    digits(buf, sod / 60 % 60, 2);
    buf.push(':');
    digits(buf, sod % 60, 2);
    buf.push('.');
    digits(buf, frac, 6);
    buf.push('Z');
}

// ---------------------------------------------------------------------------
// Generator
// ---------------------------------------------------------------------------

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("entity", DataType::Utf8, false),
        Field::new("event_type", DataType::Utf8, false),
        Field::new("value", DataType::Float64, false),
    ]))
});

/// Streams the synthetic events as Arrow record batches.
///
/// ```ignore
/// let mut generator = EventGenerator::new(&GenArgs { events: 1_000, ..GenArgs::default() })?;
/// while let Some(batch) = generator.next_batch(256) {
///     // batch.schema() == EventGenerator::schema()
/// }
/// ```
#[derive(Debug, Clone)]
pub struct EventGenerator {
    rng: Xoshiro256,
    entities: AliasTable,
    event_types: AliasTable,
    /// Events still to produce.
    remaining: u64,
    /// `--start` in microseconds since the epoch.
    start_us: i64,
    /// Mean inter-arrival gap in microseconds.
    mean_gap_us: f64,
    /// `--disorder` in microseconds (0 = in order).
    disorder_us: f64,
    /// Event time since `start_us`: whole microseconds …
    clock_us: i64,
    /// … plus a fraction in `[0, 1)`.
    clock_frac: f64,
    /// `entity_{i}` strings.
    names: EntityNames,
}

impl EventGenerator {
    /// Validates `args` and builds the sampling tables. Output-related flags
    /// (`--output`, `--format`) are not looked at.
    pub fn new(args: &GenArgs) -> Result<Self, BoxError> {
        if args.entities < 1 {
            return Err("hazy gen: --entities must be at least 1".into());
        }
        if args.entities > u64::from(u32::MAX) {
            return Err(format!("hazy gen: --entities must be at most {}", u32::MAX).into());
        }
        if !(args.rate.is_finite() && args.rate > 0.0) {
            return Err(format!(
                "hazy gen: --rate must be a positive finite number of events per second (got {:?})",
                args.rate
            )
            .into());
        }
        let mean_gap_us = 1e6 / args.rate;
        if !mean_gap_us.is_finite() {
            return Err(format!("hazy gen: --rate {:?} is too small", args.rate).into());
        }
        if !(args.disorder.is_finite() && args.disorder >= 0.0) {
            return Err(format!(
                "hazy gen: --disorder must be a finite number of seconds >= 0 (got {:?})",
                args.disorder
            )
            .into());
        }
        let disorder_us = args.disorder * 1e6;
        if !disorder_us.is_finite() {
            return Err(format!("hazy gen: --disorder {:?} is too large", args.disorder).into());
        }
        let start_us = parse_rfc3339_micros(args.start.trim()).ok_or_else(|| {
            format!(
                "hazy gen: --start must be an RFC 3339 timestamp such as 2026-01-01T00:00:00Z (got '{}')",
                args.start
            )
        })?;

        let entities = AliasTable::new(args.entities as usize, |i| {
            ((i + 1) as f64).powf(-ENTITY_EXPONENT)
        })?;
        let event_types = AliasTable::new(EVENT_TYPES.len(), |i| EVENT_TYPES[i].1)?;

        Ok(EventGenerator {
            rng: Xoshiro256::from_seed(args.seed),
            entities,
            event_types,
            remaining: args.events,
            start_us,
            mean_gap_us,
            disorder_us,
            clock_us: 0,
            clock_frac: 0.0,
            names: EntityNames::new(args.entities as usize),
        })
    }

    /// The schema of every batch: `ts`, `entity`, `event_type`, `value`.
    pub fn schema() -> SchemaRef {
        Arc::clone(&SCHEMA)
    }

    /// Number of events not yet returned.
    pub fn remaining(&self) -> u64 {
        self.remaining
    }

    /// Next batch of at most `max_rows` rows, None when `--events` are exhausted.
    ///
    /// `max_rows == 0` is treated as 1. The concatenation of all batches does
    /// not depend on `max_rows`.
    pub fn next_batch(&mut self, max_rows: usize) -> Option<RecordBatch> {
        if self.remaining == 0 {
            return None;
        }
        let n = self.remaining.min(max_rows.max(1) as u64) as usize;

        let mut ts = Vec::with_capacity(n);
        // Room for the longest strings: never reallocates, and untouched
        // capacity costs nothing.
        let mut entity = StringBuilder::with_capacity(n, n * self.names.max_len);
        let mut event_type = StringBuilder::with_capacity(n, n * EVENT_TYPE_MAX_LEN);
        let mut value = Vec::with_capacity(n);
        let in_order = self.disorder_us == 0.0;
        // Work on local copies so the hot state stays in registers.
        let mut rng = self.rng.clone();
        let (mut clock_us, mut clock_frac) = (self.clock_us, self.clock_frac);

        for _ in 0..n {
            // Advance the event clock by an Exp(mean) gap. `1 - u` is exact
            // and in (0, 1], so the logarithm is finite and <= 0.
            let u = rng.next_f64();
            let frac = clock_frac - (1.0 - u).ln() * self.mean_gap_us;
            let whole = frac.floor();
            clock_us = clock_us.saturating_add(whole as i64);
            clock_frac = frac - whole;

            let e = self.entities.sample(&mut rng);
            let t = self.event_types.sample(&mut rng);
            let v = rng.next_f64();

            let offset = if in_order {
                clock_us
            } else {
                let late = clock_frac - rng.next_f64() * self.disorder_us;
                clock_us.saturating_add(late.floor() as i64)
            };
            ts.push(self.start_us.saturating_add(offset));
            entity.append_value(self.names.get(e));
            event_type.append_value(EVENT_TYPES[t].0);
            value.push(v);
        }
        self.rng = rng;
        (self.clock_us, self.clock_frac) = (clock_us, clock_frac);
        self.remaining -= n as u64;

        let columns: Vec<ArrayRef> = vec![
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
            Arc::new(entity.finish()),
            Arc::new(event_type.finish()),
            Arc::new(Float64Array::from(value)),
        ];
        // The columns match SCHEMA by construction (types, lengths, no nulls).
        Some(RecordBatch::try_new(Self::schema(), columns).expect("batch matches the gen schema"))
    }
}

/// Up to this many entities, all names are precomputed in one string.
const NAME_TABLE_MAX: usize = 1 << 20;

/// The `entity_{i}` strings: a precomputed table (all names concatenated)
/// for up to [`NAME_TABLE_MAX`] entities, formatted on demand beyond that.
#[derive(Debug, Clone)]
struct EntityNames {
    /// `entity_0entity_1…`, or empty when formatting on demand.
    table: String,
    /// `table[offsets[i]..offsets[i + 1]]` is the name of entity `i`.
    offsets: Vec<u32>,
    /// Scratch buffer for on-demand formatting.
    scratch: String,
    /// Length of the longest name.
    max_len: usize,
}

impl EntityNames {
    fn new(n: usize) -> Self {
        Self::with_table(n, n <= NAME_TABLE_MAX)
    }

    fn with_table(n: usize, precompute: bool) -> Self {
        let mut names = EntityNames {
            table: String::new(),
            offsets: Vec::new(),
            scratch: String::with_capacity(32),
            max_len: "entity_".len() + n.saturating_sub(1).max(1).ilog10() as usize + 1,
        };
        if precompute {
            names.table.reserve(n * 14);
            names.offsets.reserve(n + 1);
            names.offsets.push(0);
            for i in 0..n {
                write_entity_name(&mut names.scratch, i as u32);
                names.table.push_str(&names.scratch);
                names.offsets.push(names.table.len() as u32);
            }
        }
        names
    }

    #[inline]
    fn get(&mut self, i: usize) -> &str {
        if self.offsets.is_empty() {
            write_entity_name(&mut self.scratch, i as u32);
            &self.scratch
        } else {
            &self.table[self.offsets[i] as usize..self.offsets[i + 1] as usize]
        }
    }
}

/// Writes `entity_{i}` into `buf` without going through `fmt`.
#[inline]
fn write_entity_name(buf: &mut String, mut i: u32) {
    let mut digits = [0u8; 10];
    let mut k = digits.len();
    loop {
        k -= 1;
        digits[k] = b'0' + (i % 10) as u8;
        i /= 10;
        if i == 0 {
            break;
        }
    }
    buf.clear();
    buf.push_str("entity_");
    for &d in &digits[k..] {
        buf.push(char::from(d));
    }
}

// ---------------------------------------------------------------------------
// Output
// ---------------------------------------------------------------------------

/// [`EventGenerator::schema`] with `ts` as RFC 3339 text, for CSV and NDJSON.
static TEXT_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields: Vec<Field> = SCHEMA.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields[0] = Field::new("ts", DataType::Utf8, false);
    Arc::new(Schema::new(fields))
});

/// Turns the `ts` column into RFC 3339 strings (`2026-01-01T00:00:00.012345Z`).
///
/// Arrow's own timestamp formatting goes through chrono's strftime and costs
/// about as much as the rest of the CSV writer; this is ~30x faster, and it
/// runs on the generator thread.
fn to_text_batch(batch: &RecordBatch) -> RecordBatch {
    let ts = batch
        .column(0)
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .expect("gen batches have a microsecond ts column");
    let mut text = StringBuilder::with_capacity(ts.len(), ts.len() * 27);
    let mut buf = String::with_capacity(32);
    for &micros in ts.values() {
        write_rfc3339_micros(&mut buf, micros);
        text.append_value(&buf);
    }
    let mut columns = batch.columns().to_vec();
    columns[0] = Arc::new(text.finish());
    RecordBatch::try_new(Arc::clone(&TEXT_SCHEMA), columns).expect("text batch matches its schema")
}

/// Appends the rows of a text batch as NDJSON: the four known columns written directly (what
/// a generic JSON writer spends on looking up types and escaping is most of its time), the
/// same output a JSON writer gives for these values.
fn ndjson_rows(batch: &RecordBatch, out: &mut Vec<u8>) {
    use arrow::array::AsArray;
    let ts = batch.column(0).as_string::<i32>();
    let entity = batch.column(1).as_string::<i32>();
    let event_type = batch.column(2).as_string::<i32>();
    let value = batch
        .column(3)
        .as_primitive::<arrow::datatypes::Float64Type>();
    for row in 0..batch.num_rows() {
        out.extend_from_slice(b"{\"ts\":");
        json_string(ts.value(row), out);
        out.extend_from_slice(b",\"entity\":");
        json_string(entity.value(row), out);
        out.extend_from_slice(b",\"event_type\":");
        json_string(event_type.value(row), out);
        out.extend_from_slice(b",\"value\":");
        let v = value.value(row);
        // As Arrow's JSON writer: exponent notation below 1e-5, plain decimals above.
        let _ = if v != 0.0 && v.abs() < 1e-5 {
            write!(out, "{v:e}")
        } else {
            write!(out, "{v}")
        };
        out.extend_from_slice(b"}\n");
    }
}

/// A JSON string literal; the generator's strings need no escaping, others go through serde.
fn json_string(s: &str, out: &mut Vec<u8>) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(
            serde_json::to_string(s)
                .expect("a string serializes")
                .as_bytes(),
        );
    }
}

/// Resolves `--format`, falling back on the `--output` extension.
fn resolve_format(format: Option<GenFormat>, output: &Path) -> Result<GenFormat, BoxError> {
    let to_stdout = output == Path::new("-");
    let format = match format {
        Some(f) => f,
        None if to_stdout => GenFormat::Ndjson,
        None => {
            let ext = output
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            match ext.as_deref() {
                Some("parquet" | "pq") => GenFormat::Parquet,
                Some("csv") => GenFormat::Csv,
                Some("ndjson" | "jsonl") => GenFormat::Ndjson,
                _ => {
                    return Err(format!(
                        "hazy gen: cannot infer the format of --output '{}' from its extension; \
                         use .parquet, .csv, .ndjson or .jsonl, or pass --format parquet|csv|ndjson",
                        output.display()
                    )
                    .into());
                }
            }
        }
    };
    if format == GenFormat::Parquet && to_stdout {
        return Err(
            "hazy gen: --format parquet needs a file path: pass --output FILE.parquet".into(),
        );
    }
    Ok(format)
}

/// A writer that remembers whether the reader went away (EPIPE), so that
/// `hazy gen | head` can end quietly whatever error type wraps it upstream.
struct PipeWatch<W> {
    inner: W,
    broken: Arc<AtomicBool>,
}

impl<W: Write> PipeWatch<W> {
    fn check<T>(&self, r: io::Result<T>) -> io::Result<T> {
        if let Err(e) = &r
            && e.kind() == io::ErrorKind::BrokenPipe
        {
            self.broken.store(true, Ordering::Relaxed);
        }
        r
    }
}

impl<W: Write> Write for PipeWatch<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let r = self.inner.write(buf);
        self.check(r)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let r = self.inner.write_all(buf);
        self.check(r)
    }

    fn flush(&mut self) -> io::Result<()> {
        let r = self.inner.flush();
        self.check(r)
    }
}

fn parquet_properties() -> WriterProperties {
    let ts = ColumnPath::from("ts");
    let value = ColumnPath::from("value");
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        // Timestamps are (nearly) sorted: delta encoding beats a dictionary,
        // and their (page) statistics let readers prune time ranges.
        .set_column_dictionary_enabled(ts.clone(), false)
        .set_column_encoding(ts, Encoding::DELTA_BINARY_PACKED)
        // Uniform random doubles never repeat.
        .set_column_dictionary_enabled(value.clone(), false)
        // Every row group holds nearly every entity, event type and value
        // range, so min/max statistics on those columns could never prune
        // anything; skipping them makes writing ~15% faster.
        .set_column_statistics_enabled(value, EnabledStatistics::None)
        .set_column_statistics_enabled(ColumnPath::from("entity"), EnabledStatistics::None)
        .set_column_statistics_enabled(ColumnPath::from("event_type"), EnabledStatistics::None)
        .build()
}

/// Writes every batch from `batches` to `out` in `format`, then flushes.
/// For CSV and NDJSON the batches must already be [`to_text_batch`]es.
fn write_batches<W: Write + Send>(
    batches: Receiver<RecordBatch>,
    format: GenFormat,
    out: W,
) -> Result<(), BoxError> {
    match format {
        GenFormat::Parquet => {
            let mut writer =
                ArrowWriter::try_new(out, EventGenerator::schema(), Some(parquet_properties()))?;
            for batch in batches {
                writer.write(&batch)?;
            }
            writer.into_inner()?.flush()?;
        }
        GenFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(out);
            let mut wrote_any = false;
            for batch in batches {
                writer.write(&batch)?;
                wrote_any = true;
            }
            if !wrote_any {
                // Still emit the header line.
                writer.write(&RecordBatch::new_empty(Arc::clone(&TEXT_SCHEMA)))?;
            }
            writer.into_inner().flush()?;
        }
        GenFormat::Ndjson => {
            let mut out = out;
            let mut line = Vec::with_capacity(BATCH_ROWS * 110);
            for batch in batches {
                line.clear();
                ndjson_rows(&batch, &mut line);
                out.write_all(&line)?;
            }
            out.flush()?;
        }
    }
    Ok(())
}

/// Generates (and for text formats, formats timestamps) on a helper thread
/// and writes on this one, so the two overlap.
/// A reader that goes away (broken pipe) is a normal end, not an error.
fn generate_into<W: Write + Send>(
    generator: EventGenerator,
    format: GenFormat,
    out: W,
) -> Result<(), BoxError> {
    let broken = Arc::new(AtomicBool::new(false));
    let out = PipeWatch {
        inner: out,
        broken: Arc::clone(&broken),
    };
    let result = std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<RecordBatch>(2);
        let mut generator = generator;
        scope.spawn(move || {
            while let Some(mut batch) = generator.next_batch(BATCH_ROWS) {
                if format != GenFormat::Parquet {
                    batch = to_text_batch(&batch);
                }
                if tx.send(batch).is_err() {
                    break; // the writer stopped
                }
            }
        });
        // `rx` is dropped when this returns, which unblocks the generator.
        write_batches(rx, format, out)
    });
    match result {
        Err(_) if broken.load(Ordering::Relaxed) => Ok(()),
        Err(e) => Err(format!("hazy gen: writing output: {e}").into()),
        Ok(()) => Ok(()),
    }
}

/// Runs `hazy gen`: validates the flags, then streams the events to `--output`.
pub fn run(args: &GenArgs) -> Result<(), BoxError> {
    let generator = EventGenerator::new(args)?;
    let format = resolve_format(args.format, &args.output)?;
    if args.output == Path::new("-") {
        let out = BufWriter::with_capacity(1 << 16, io::stdout());
        generate_into(generator, format, out)
    } else {
        let file = File::create(&args.output).map_err(|e| {
            format!(
                "hazy gen: cannot create --output '{}': {e}",
                args.output.display()
            )
        })?;
        generate_into(generator, format, BufWriter::with_capacity(1 << 20, file))
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use arrow::datatypes::{Float64Type, TimestampMicrosecondType};
    use std::collections::HashMap;

    fn args(events: u64) -> GenArgs {
        GenArgs {
            events,
            ..GenArgs::default()
        }
    }

    fn collect(args: &GenArgs, batch_rows: usize) -> Vec<RecordBatch> {
        let mut generator = EventGenerator::new(args).unwrap();
        let mut out = Vec::new();
        while let Some(b) = generator.next_batch(batch_rows) {
            out.push(b);
        }
        out
    }

    fn concat(batches: &[RecordBatch]) -> RecordBatch {
        arrow::compute::concat_batches(&EventGenerator::schema(), batches).unwrap()
    }

    fn ts_values(batch: &RecordBatch) -> Vec<i64> {
        batch
            .column(0)
            .as_primitive::<TimestampMicrosecondType>()
            .values()
            .to_vec()
    }

    fn counts(batch: &RecordBatch, col: usize) -> HashMap<String, usize> {
        let mut m = HashMap::new();
        for s in batch.column(col).as_string::<i32>().iter() {
            *m.entry(s.unwrap().to_string()).or_default() += 1;
        }
        m
    }

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("hazy-gen-test-{}-{name}", std::process::id()))
    }

    #[test]
    fn prng_reference_values() {
        let mut sm = 0u64;
        assert_eq!(splitmix64(&mut sm), 0xE220_A839_7B1D_CDAF);
        let mut x = Xoshiro256 { s: [1, 2, 3, 4] };
        let got: Vec<u64> = (0..4).map(|_| x.next_u64()).collect();
        assert_eq!(got, [11520, 0, 1_509_978_240, 1_215_971_899_390_074_240]);
        let mut r = Xoshiro256::from_seed(1);
        for _ in 0..10_000 {
            let f = r.next_f64();
            assert!((0.0..1.0).contains(&f));
            assert!(r.below(7) < 7);
        }
    }

    #[test]
    fn alias_table_matches_weights() {
        let w = [1.0, 2.0, 3.0, 4.0, 0.5];
        let table = AliasTable::new(w.len(), |i| w[i]).unwrap();
        let mut rng = Xoshiro256::from_seed(9);
        let mut c = [0usize; 5];
        let n = 1_000_000;
        for _ in 0..n {
            c[table.sample(&mut rng)] += 1;
        }
        let total: f64 = w.iter().sum();
        for i in 0..w.len() {
            let expected = w[i] / total;
            let got = c[i] as f64 / n as f64;
            assert!((got - expected).abs() < 0.003, "{i}: {got} vs {expected}");
        }
        let single = AliasTable::new(1, |_| 3.0).unwrap();
        assert!((0..100).all(|_| single.sample(&mut rng) == 0));
    }

    #[test]
    fn schema_and_columns() {
        let schema = EventGenerator::schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["ts", "entity", "event_type", "value"]);
        assert_eq!(
            schema.field(0).data_type(),
            &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        let batch = concat(&collect(&args(5000), 1000));
        assert_eq!(batch.schema(), schema);
        let values = batch.column(3).as_primitive::<Float64Type>();
        assert!(values.values().iter().all(|v| (0.0..1.0).contains(v)));
        for name in batch.column(1).as_string::<i32>().iter().flatten() {
            let i: u64 = name.strip_prefix("entity_").unwrap().parse().unwrap();
            assert!(i < DEFAULT_ENTITIES);
        }
        let types: Vec<&str> = EVENT_TYPES.iter().map(|t| t.0).collect();
        for t in batch.column(2).as_string::<i32>().iter().flatten() {
            assert!(types.contains(&t));
        }
    }

    #[test]
    fn deterministic_per_seed_and_independent_of_batching() {
        let a = collect(&args(10_000), 4096);
        let b = collect(&args(10_000), 4096);
        assert_eq!(a, b);
        let c = collect(
            &GenArgs {
                seed: 43,
                ..args(10_000)
            },
            4096,
        );
        assert_ne!(concat(&a), concat(&c));
        let d = collect(&args(10_000), 777);
        assert_eq!(concat(&a), concat(&d));
        let with_disorder = GenArgs {
            disorder: 3.0,
            ..args(10_000)
        };
        assert_eq!(
            concat(&collect(&with_disorder, 100)),
            concat(&collect(&with_disorder, 10_000))
        );
    }

    #[test]
    fn exact_row_count_across_batches() {
        let batches = collect(&args(100_001), BATCH_ROWS);
        let sizes: Vec<usize> = batches.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(sizes, [65_536, 34_465]);
        assert!(collect(&args(0), BATCH_ROWS).is_empty());
        let mut generator = EventGenerator::new(&args(3)).unwrap();
        assert_eq!(generator.next_batch(0).unwrap().num_rows(), 1);
        assert_eq!(generator.remaining(), 2);
        assert_eq!(generator.next_batch(10).unwrap().num_rows(), 2);
        assert!(generator.next_batch(10).is_none());
    }

    #[test]
    fn event_type_frequencies_follow_weights() {
        let batch = concat(&collect(&args(200_000), BATCH_ROWS));
        let c = counts(&batch, 2);
        let total: f64 = EVENT_TYPES.iter().map(|t| t.1).sum();
        assert_eq!(total, 170.0);
        for (name, w) in EVENT_TYPES {
            let got = *c.get(name).unwrap_or(&0) as f64 / 200_000.0;
            let expected = w / total;
            assert!((got - expected).abs() < 0.01, "{name}: {got} vs {expected}");
        }
    }

    #[test]
    fn entity_power_law() {
        let batch = concat(&collect(&args(200_000), BATCH_ROWS));
        let c = counts(&batch, 1);
        let (top, top_count) = c
            .iter()
            .max_by_key(|(k, v)| (**v, std::cmp::Reverse(*k)))
            .unwrap();
        assert_eq!(top, "entity_0");
        // P(entity_0) = 1 / sum_{i<10000} (i+1)^-0.7
        let h: f64 = (1..=10_000).map(|i| (i as f64).powf(-0.7)).sum();
        let expected = 200_000.0 / h;
        assert!(
            (*top_count as f64 - expected).abs() < 0.1 * expected,
            "{top_count} vs {expected}"
        );
        assert!(c["entity_1"] > c["entity_100"]);
    }

    #[test]
    fn timestamps_in_order_with_poisson_rate() {
        let batch = concat(&collect(&args(100_000), 10_000));
        let ts = ts_values(&batch);
        let start = parse_rfc3339_micros(DEFAULT_START).unwrap();
        assert!(ts[0] >= start);
        assert!(ts.windows(2).all(|w| w[0] <= w[1]));
        // 100k events at 100/s span ~1000 s.
        let span_s = (ts[ts.len() - 1] - start) as f64 / 1e6;
        assert!((span_s - 1000.0).abs() < 20.0, "span {span_s}");
    }

    #[test]
    fn disorder_bounds_lateness() {
        let batch = concat(&collect(
            &GenArgs {
                disorder: 5.0,
                ..args(50_000)
            },
            BATCH_ROWS,
        ));
        let ts = ts_values(&batch);
        let start = parse_rfc3339_micros(DEFAULT_START).unwrap();
        assert!(ts.windows(2).any(|w| w[0] > w[1]), "should be out of order");
        assert!(ts.iter().all(|&t| t >= start - 5_000_000));
        // Lateness relative to the running maximum stays below the bound
        // (plus the largest gap that can have elapsed, which is tiny here).
        let mut max_seen = i64::MIN;
        let mut max_late = 0;
        for &t in &ts {
            max_seen = max_seen.max(t);
            max_late = max_late.max(max_seen - t);
        }
        assert!(max_late <= 5_000_001, "{max_late}");
        assert!(max_late > 4_000_000, "{max_late}");
    }

    #[test]
    fn validation_errors_name_the_flag() {
        let err = |a: GenArgs| EventGenerator::new(&a).unwrap_err().to_string();
        assert_eq!(
            err(GenArgs {
                entities: 0,
                ..GenArgs::default()
            }),
            "hazy gen: --entities must be at least 1"
        );
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = err(GenArgs {
                rate,
                ..GenArgs::default()
            });
            assert!(e.starts_with("hazy gen: --rate"), "{e}");
        }
        assert!(
            err(GenArgs {
                rate: 1e-320,
                ..GenArgs::default()
            })
            .contains("--rate")
        );
        for disorder in [-0.5, f64::NAN, f64::INFINITY, 1e305] {
            let e = err(GenArgs {
                disorder,
                ..GenArgs::default()
            });
            assert!(e.starts_with("hazy gen: --disorder"), "{e}");
        }
        for start in [
            "",
            "yesterday",
            "2026-02-30T00:00:00Z",
            "2026-01-01T00:00:00",
        ] {
            let e = err(GenArgs {
                start: start.into(),
                ..GenArgs::default()
            });
            assert!(e.starts_with("hazy gen: --start"), "{e}");
        }
        let e = resolve_format(Some(GenFormat::Parquet), Path::new("-")).unwrap_err();
        assert!(e.to_string().contains("--format parquet"), "{e}");
        let e = resolve_format(None, Path::new("out.txt")).unwrap_err();
        assert!(e.to_string().contains("--format"), "{e}");
        let e = run(&GenArgs {
            output: PathBuf::from("/nonexistent-dir/x.csv"),
            ..args(1)
        })
        .unwrap_err();
        assert!(e.to_string().contains("--output"), "{e}");
    }

    #[test]
    fn format_inference() {
        let f = |p: &str| resolve_format(None, Path::new(p)).unwrap();
        assert_eq!(f("-"), GenFormat::Ndjson);
        assert_eq!(f("a/b.parquet"), GenFormat::Parquet);
        assert_eq!(f("B.CSV"), GenFormat::Csv);
        assert_eq!(f("x.ndjson"), GenFormat::Ndjson);
        assert_eq!(f("x.jsonl"), GenFormat::Ndjson);
        assert_eq!(
            resolve_format(Some(GenFormat::Csv), Path::new("x.parquet")).unwrap(),
            GenFormat::Csv
        );
    }

    #[test]
    fn rfc3339_parsing() {
        let p = parse_rfc3339_micros;
        assert_eq!(p("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(p("2026-01-01T00:00:00Z"), Some(1_767_225_600_000_000));
        assert_eq!(p("2026-01-01t00:00:00z"), Some(1_767_225_600_000_000));
        assert_eq!(p("2026-01-01T01:00:00+01:00"), Some(1_767_225_600_000_000));
        assert_eq!(p("2025-12-31T23:30:00-00:30"), Some(1_767_225_600_000_000));
        assert_eq!(p("2026-01-01T00:00:00.5Z"), Some(1_767_225_600_500_000));
        assert_eq!(
            p("2026-01-01T00:00:00.123456789Z"),
            Some(1_767_225_600_123_456)
        );
        assert_eq!(p("2024-02-29T12:00:00Z"), Some(1_709_208_000_000_000));
        assert_eq!(p("1969-12-31T23:59:59.999999Z"), Some(-1));
        for bad in [
            "2023-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00+0100",
            "2026-01-01T00:00:00Zjunk",
            "2026-1-01T00:00:00Z",
            "+026-01-01T00:00:00Z",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_formatting_matches_arrow_and_parser() {
        use arrow::util::display::{ArrayFormatter, FormatOptions};
        let mut rng = Xoshiro256::from_seed(5);
        let mut values: Vec<i64> = vec![0, -1, 1, 951_782_400_000_000, 1_767_225_599_999_999];
        // Random instants between years 0000 and 9999.
        let (lo, hi) = (-62_167_219_200_000_000i64, 253_402_300_799_999_999i64);
        values.extend((0..20_000).map(|_| lo + rng.below((hi - lo) as u64) as i64));
        let array = TimestampMicrosecondArray::from(values.clone()).with_timezone("UTC");
        let options = FormatOptions::new().with_timestamp_tz_format(Some("%Y-%m-%dT%H:%M:%S%.6fZ"));
        let formatter = ArrayFormatter::try_new(&array, &options).unwrap();
        let mut buf = String::new();
        for (i, &v) in values.iter().enumerate() {
            write_rfc3339_micros(&mut buf, v);
            assert_eq!(buf, formatter.value(i).to_string(), "{v}");
            assert_eq!(parse_rfc3339_micros(&buf), Some(v), "{buf}");
        }
        write_rfc3339_micros(&mut buf, 1_767_225_600_012_345);
        assert_eq!(buf, "2026-01-01T00:00:00.012345Z");
        // Out-of-range extremes do not panic.
        write_rfc3339_micros(&mut buf, i64::MAX);
        assert!(buf.starts_with('+'), "{buf}");
        write_rfc3339_micros(&mut buf, i64::MIN);
        assert!(buf.starts_with('-'), "{buf}");
    }

    #[test]
    fn entity_names() {
        let mut s = String::new();
        for i in [0u32, 7, 10, 99, 12345, u32::MAX] {
            write_entity_name(&mut s, i);
            assert_eq!(s, format!("entity_{i}"));
        }
        for (n, max_len) in [(1, 8), (10, 8), (11, 9), (10_000, 11), (10_001, 12)] {
            assert_eq!(EntityNames::with_table(n, false).max_len, max_len, "{n}");
        }
        assert!(EVENT_TYPES.iter().all(|t| t.0.len() <= EVENT_TYPE_MAX_LEN));
        let mut table = EntityNames::with_table(2000, true);
        let mut on_demand = EntityNames::with_table(2000, false);
        assert!(on_demand.table.is_empty());
        for i in 0..2000 {
            let expected = format!("entity_{i}");
            assert_eq!(table.get(i), expected);
            assert_eq!(on_demand.get(i), expected);
        }
    }

    #[test]
    fn csv_and_ndjson_output() {
        let csv = temp_path("out.csv");
        run(&GenArgs {
            output: csv.clone(),
            ..args(3)
        })
        .unwrap();
        let text = std::fs::read_to_string(&csv).unwrap();
        std::fs::remove_file(&csv).ok();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert_eq!(lines[0], "ts,entity,event_type,value");
        let ts = lines[1].split(',').next().unwrap();
        assert!(
            ts.starts_with("2026-01-01T00:00:") && ts.ends_with('Z'),
            "{ts}"
        );
        assert_eq!(ts.len(), "2026-01-01T00:00:00.000000Z".len(), "{ts}");
        assert!(parse_rfc3339_micros(ts).is_some());

        let first = concat(&collect(&args(3), 10));
        let expected_ts = ts_values(&first)[0];
        assert_eq!(parse_rfc3339_micros(ts), Some(expected_ts));

        let empty_csv = temp_path("empty.csv");
        run(&GenArgs {
            output: empty_csv.clone(),
            ..args(0)
        })
        .unwrap();
        let text = std::fs::read_to_string(&empty_csv).unwrap();
        std::fs::remove_file(&empty_csv).ok();
        assert_eq!(text.trim_end(), "ts,entity,event_type,value");

        let json = temp_path("out.jsonl");
        run(&GenArgs {
            output: json.clone(),
            ..args(3)
        })
        .unwrap();
        let text = std::fs::read_to_string(&json).unwrap();
        std::fs::remove_file(&json).ok();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let row: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(row["ts"].as_str().unwrap(), ts);
        assert!(row["entity"].as_str().unwrap().starts_with("entity_"));
        assert!(row["event_type"].is_string());
        assert!(row["value"].is_f64());
    }

    #[test]
    fn parquet_output_is_byte_identical_and_readable() {
        let a = temp_path("a.parquet");
        let b = temp_path("b.parquet");
        let gen_args = GenArgs {
            disorder: 1.0,
            ..args(150_000)
        };
        run(&GenArgs {
            output: a.clone(),
            ..gen_args.clone()
        })
        .unwrap();
        run(&GenArgs {
            output: b.clone(),
            ..gen_args.clone()
        })
        .unwrap();
        let (bytes_a, bytes_b) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert_eq!(bytes_a, bytes_b);

        let file = File::open(&a).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        let read: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
        std::fs::remove_file(&a).ok();
        std::fs::remove_file(&b).ok();
        let read = concat(&read);
        assert_eq!(read, concat(&collect(&gen_args, BATCH_ROWS)));
    }

    /// Accepts `limit` bytes, then fails like a closed pipe.
    struct ClosedPipe {
        limit: usize,
    }

    impl Write for ClosedPipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.limit == 0 {
                return Err(io::Error::from(io::ErrorKind::BrokenPipe));
            }
            let n = buf.len().min(self.limit);
            self.limit -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn broken_pipe_ends_quietly() {
        for format in [GenFormat::Csv, GenFormat::Ndjson, GenFormat::Parquet] {
            let generator = EventGenerator::new(&args(1_000_000)).unwrap();
            let out = BufWriter::new(ClosedPipe { limit: 10_000 });
            generate_into(generator, format, out).unwrap();
        }
        // Other I/O errors are reported.
        struct Full;
        impl Write for Full {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other("disk full"))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let generator = EventGenerator::new(&args(100_000)).unwrap();
        let e = generate_into(generator, GenFormat::Csv, Full).unwrap_err();
        assert!(e.to_string().starts_with("hazy gen: writing output"), "{e}");
    }

    /// Throughput check: `cargo test --release --lib gen::tests::throughput -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn throughput() {
        let n = 20_000_000u64;
        let t = std::time::Instant::now();
        let mut generator = EventGenerator::new(&args(n)).unwrap();
        let mut rows = 0;
        while let Some(b) = generator.next_batch(BATCH_ROWS) {
            rows += b.num_rows();
        }
        let dt = t.elapsed().as_secs_f64();
        eprintln!("generate only: {:.2} M rows/s", rows as f64 / dt / 1e6);
        for (name, format) in [
            ("p.parquet", GenFormat::Parquet),
            ("c.csv", GenFormat::Csv),
            ("j.ndjson", GenFormat::Ndjson),
        ] {
            let n = if format == GenFormat::Parquet {
                n
            } else {
                n / 10
            };
            let path = temp_path(name);
            let t = std::time::Instant::now();
            run(&GenArgs {
                output: path.clone(),
                format: Some(format),
                ..args(n)
            })
            .unwrap();
            let dt = t.elapsed().as_secs_f64();
            let size = std::fs::metadata(&path).unwrap().len();
            std::fs::remove_file(&path).ok();
            eprintln!(
                "{format:?}: {:.2} M rows/s, {:.1} bytes/row",
                n as f64 / dt / 1e6,
                size as f64 / n as f64
            );
        }
    }
}
