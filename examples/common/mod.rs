//! Shared by the tutorial examples: reads Hazy's deterministic event generator
//! (`hazy::generator::EventGenerator`, the stream behind `hazy gen`) one event at a time.
//!
//! Not an example itself (Cargo only builds `examples/*.rs` and `examples/*/main.rs`);
//! each example includes it with `#[path = "common/mod.rs"] mod common;`.

use arrow::array::AsArray;
use arrow::datatypes::TimestampMicrosecondType;
use hazy::generator::{EventGenerator, GenArgs};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Rows pulled from the generator at a time; the stream does not depend on it.
const BATCH_ROWS: usize = 8_192;

/// One generated event, borrowing its strings from the current Arrow batch.
///
/// The generator's `value` column (the tutorial's `properties={"value": …}`) is not read:
/// none of the examples looks at it.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    /// Event time, microseconds since the Unix epoch.
    pub ts_us: i64,
    pub entity: &'a str,
    pub event_type: &'a str,
}

/// The generator's arguments for `events` events over `entities` entities, with the
/// generator's defaults otherwise (100 events/s of event time from 2026-01-01T00:00:00Z,
/// in order).
pub fn stream_args(events: u64, entities: u64, seed: u64) -> GenArgs {
    GenArgs {
        events,
        entities,
        seed,
        ..GenArgs::default()
    }
}

/// Calls `f(index, event)` for every event of the stream, in order (index from 0).
pub fn for_each_event(args: &GenArgs, mut f: impl FnMut(usize, Event<'_>)) -> Result<(), BoxError> {
    let mut generator = EventGenerator::new(args)?;
    let mut index = 0;
    while let Some(batch) = generator.next_batch(BATCH_ROWS) {
        // The generator's schema fixes the column order and types: ts, entity, event_type.
        let ts = batch.column(0).as_primitive::<TimestampMicrosecondType>();
        let entity = batch.column(1).as_string::<i32>();
        let event_type = batch.column(2).as_string::<i32>();
        for row in 0..batch.num_rows() {
            let event = Event {
                ts_us: ts.value(row),
                entity: entity.value(row),
                event_type: event_type.value(row),
            };
            f(index, event);
            index += 1;
        }
    }
    Ok(())
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
