//! The event generator: Arrow batches of (ts, entity, event_type, value).

use super::random::{AliasTable, Xoshiro256};
use super::time::parse_rfc3339_micros;
use super::{BoxError, ENTITY_EXPONENT, EVENT_TYPE_MAX_LEN, EVENT_TYPES, GenArgs};
use arrow::array::{ArrayRef, Float64Array, StringBuilder, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use std::sync::{Arc, LazyLock};

pub(super) static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
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
pub(super) const NAME_TABLE_MAX: usize = 1 << 20;

/// The `entity_{i}` strings: a precomputed table (all names concatenated)
/// for up to [`NAME_TABLE_MAX`] entities, formatted on demand beyond that.
#[derive(Debug, Clone)]
pub(super) struct EntityNames {
    /// `entity_0entity_1…`, or empty when formatting on demand.
    pub(super) table: String,
    /// `table[offsets[i]..offsets[i + 1]]` is the name of entity `i`.
    offsets: Vec<u32>,
    /// Scratch buffer for on-demand formatting.
    scratch: String,
    /// Length of the longest name.
    pub(super) max_len: usize,
}

impl EntityNames {
    fn new(n: usize) -> Self {
        Self::with_table(n, n <= NAME_TABLE_MAX)
    }

    pub(super) fn with_table(n: usize, precompute: bool) -> Self {
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
    pub(super) fn get(&mut self, i: usize) -> &str {
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
pub(super) fn write_entity_name(buf: &mut String, mut i: u32) {
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
