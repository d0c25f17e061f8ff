//! The stream processing tutorial, Steps 1 to 3, on Hazy's Rust sketch API.
//!
//! A [`StreamProcessor`] answers the usual questions about an unbounded event stream in
//! bounded memory, one sketch per question:
//!
//! | question                               | sketch                         |
//! |----------------------------------------|--------------------------------|
//! | how many distinct entities?            | [`HyperLogLog`] (p = 14)       |
//! | how often did this event type occur?   | [`CountMin`] keyed by type     |
//! | how many events has this entity sent?  | [`CountMin`] keyed by entity   |
//! | which entities / types are the busiest?| two [`TopK`]s                  |
//! | is this entity new?                    | [`BloomFilter`] (1%)           |
//! | which entities behave alike?           | one [`MinHash`] per entity     |
//!
//! It is fed by Hazy's deterministic event generator (`hazy gen`: 100,000 events over
//! 10,000 entities with the tutorial's power law and event-type weights) and prints the
//! tutorial's report: stream statistics, top event types, most active entities, memory.
//!
//! ```text
//! cargo run --release --example stream_processor
//! ```

#[path = "common/mod.rs"]
pub mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use hazy::sketch::bloom::BloomFilter;
use hazy::sketch::cms::CountMin;
use hazy::sketch::hash::hash_str;
use hazy::sketch::minhash::MinHash;
use hazy::sketch::topk::TopK;
use hazy::sketch::{HyperLogLog, Sketch, SketchError};

use common::{BoxError, Event, for_each_event, stream_args, thousands};

/// What to generate and how to size the processor.
#[derive(Debug, Clone)]
pub struct Config {
    pub events: u64,
    pub entities: u64,
    pub seed: u64,
    /// Capacity of the first-time Bloom filter (it keeps a 1% false-positive rate up to here).
    pub expected_unique_entities: u64,
    /// Counters of the entity Top-K. The tutorial's `TopK(k=50)` is a list of 50; Hazy's
    /// Top-K keeps `top_k` Misra-Gries counters and every count may be short by up to
    /// `2 · events / top_k`. On 10,000 entities with a flat head, 50 counters leave the
    /// top 10 buried in that error (counts of 1 "at most 1,959"), so the demo keeps 1,000.
    pub top_k: u32,
}

impl Default for Config {
    /// The tutorial's demo: 100,000 events, 10,000 entities, `StreamProcessor(10_000, …)`.
    fn default() -> Self {
        Config {
            events: 100_000,
            entities: 10_000,
            seed: 42,
            expected_unique_entities: 10_000,
            top_k: 1_000,
        }
    }
}

/// What [`StreamProcessor::process`] learns about one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessResult {
    /// The Bloom filter had not seen the entity (a false positive can hide a new entity,
    /// never the reverse).
    pub is_first_time: bool,
    /// Events of this entity so far, this one included (Count-Min: never below the truth).
    pub entity_event_count: u64,
}

/// The tutorial's `get_stats()`.
#[derive(Debug, Clone)]
pub struct Stats {
    pub total_events: u64,
    /// HyperLogLog estimate of the distinct entities.
    pub unique_entities: f64,
    /// Relative standard error of that estimate.
    pub unique_entities_rse: f64,
    pub first_time_entities: u64,
    /// Since the processor was built; includes generating the events, as in the tutorial.
    pub elapsed: Duration,
    pub events_per_second: f64,
}

/// One row of a top list: `count` is a lower bound of the true count, `upper` an upper one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranked {
    pub item: String,
    pub count: u64,
    pub upper: u64,
}

/// Heap bytes held by each sketch (the tutorial's `memory_usage()`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUsage {
    pub unique_entities_hll: usize,
    pub event_frequencies_cms: usize,
    pub entity_frequencies_cms: usize,
    pub top_entities_topk: usize,
    pub top_event_types_topk: usize,
    pub seen_entities_bloom: usize,
    /// The signatures only (each one's struct and heap), not the map holding them.
    pub entity_signatures_minhash: usize,
}

impl MemoryUsage {
    pub fn total(&self) -> usize {
        self.unique_entities_hll
            + self.event_frequencies_cms
            + self.entity_frequencies_cms
            + self.top_entities_topk
            + self.top_event_types_topk
            + self.seen_entities_bloom
            + self.entity_signatures_minhash
    }
}

/// Real-time stream statistics in bounded memory (but for the per-entity signatures,
/// which grow with the number of entities, as in the tutorial).
#[derive(Debug, Clone)]
pub struct StreamProcessor {
    unique_entities: HyperLogLog,
    event_frequencies: CountMin,
    /// The tutorial reads `event_frequencies[entity_id]` although it only ever adds event
    /// types there, so its `entity_event_count` is a hash collision, not a count. What it
    /// means is the entity's event count, so entities get a Count-Min of their own (one
    /// sketch per key space keeps each one's error bound about its own stream).
    entity_frequencies: CountMin,
    top_entities: TopK,
    top_event_types: TopK,
    seen_entities: BloomFilter,
    entity_signatures: HashMap<String, MinHash>,
    total_events: u64,
    first_time_entities: u64,
    start: Instant,
}

/// The tutorial's sketch sizes.
const HLL_PRECISION: u8 = 14;
const CMS_WIDTH: u32 = 10_000;
const CMS_DEPTH: u32 = 5;
const EVENT_TYPES_TOP_K: u32 = 50;
const FIRST_TIME_FPR: f64 = 0.01;
const SIGNATURE_PERMUTATIONS: u32 = 128;

impl StreamProcessor {
    pub fn new(expected_unique_entities: u64, top_k: u32) -> Result<Self, SketchError> {
        let mut entity_frequencies = CountMin::new(CMS_WIDTH, CMS_DEPTH)?;
        // A sparse Count-Min answers by scanning its item list, and this one is queried
        // after every event with up to 10,000 distinct entities in it: go dense at once.
        entity_frequencies.densify();
        Ok(StreamProcessor {
            unique_entities: HyperLogLog::new(HLL_PRECISION)?,
            event_frequencies: CountMin::new(CMS_WIDTH, CMS_DEPTH)?,
            entity_frequencies,
            top_entities: TopK::new(top_k)?,
            top_event_types: TopK::new(EVENT_TYPES_TOP_K)?,
            seen_entities: BloomFilter::with_capacity(expected_unique_entities, FIRST_TIME_FPR)?,
            entity_signatures: HashMap::new(),
            total_events: 0,
            first_time_entities: 0,
            start: Instant::now(),
        })
    }

    /// Feeds one event to every sketch.
    pub fn process(&mut self, event: &Event<'_>) -> ProcessResult {
        self.total_events += 1;
        // Hash each string once; every sketch takes the same canonical hash.
        let entity = hash_str(event.entity);
        let event_type = hash_str(event.event_type);

        self.unique_entities.insert_hash(entity);
        self.event_frequencies.insert_hash(event_type, 1);
        self.top_event_types
            .insert(event_type, event.event_type.as_bytes(), 1);
        self.top_entities.insert(entity, event.entity.as_bytes(), 1);
        self.entity_frequencies.insert_hash(entity, 1);

        let is_first_time = !self.seen_entities.contains_hash(entity);
        if is_first_time {
            self.first_time_entities += 1;
            self.seen_entities.insert_hash(entity);
        }
        self.add_to_signature(event.entity, event_type);

        ProcessResult {
            is_first_time,
            entity_event_count: self.entity_frequencies.estimate(entity),
        }
    }

    /// Adds the event type to the entity's behaviour signature (its set of event types).
    fn add_to_signature(&mut self, entity: &str, event_type: u64) {
        if let Some(signature) = self.entity_signatures.get_mut(entity) {
            signature.insert_hash(event_type);
            return;
        }
        let mut signature = MinHash::new(SIGNATURE_PERMUTATIONS).expect("128 is a valid num_perm");
        signature.insert_hash(event_type);
        self.entity_signatures.insert(entity.to_owned(), signature);
    }

    pub fn stats(&self) -> Stats {
        let elapsed = self.start.elapsed();
        Stats {
            total_events: self.total_events,
            unique_entities: self.unique_entities.estimate(),
            unique_entities_rse: self.unique_entities.relative_standard_error(),
            first_time_entities: self.first_time_entities,
            elapsed,
            events_per_second: self.total_events as f64 / elapsed.as_secs_f64().max(1e-9),
        }
    }

    /// The `n` most active entities, busiest first.
    pub fn top_entities(&self, n: usize) -> Vec<Ranked> {
        ranked(&self.top_entities, n)
    }

    /// The `n` most common event types, most common first.
    pub fn top_event_types(&self, n: usize) -> Vec<Ranked> {
        ranked(&self.top_event_types, n)
    }

    /// Estimated count of an event type: never below the truth.
    pub fn event_count(&self, event_type: &str) -> u64 {
        self.event_frequencies.estimate(hash_str(event_type))
    }

    /// Estimated number of events of an entity: never below the truth.
    pub fn entity_count(&self, entity: &str) -> u64 {
        self.entity_frequencies.estimate(hash_str(entity))
    }

    /// Entities whose sets of event types have an estimated Jaccard similarity of at least
    /// `threshold` with `entity`'s, most similar first (ties by name). A linear scan over
    /// all signatures, as in the tutorial; `MinHash::lsh_bands` is the way to scale it.
    pub fn similar_entities(&self, entity: &str, threshold: f64) -> Vec<(String, f64)> {
        let Some(target) = self.entity_signatures.get(entity) else {
            return Vec::new();
        };
        let mut similar: Vec<(String, f64)> = self
            .entity_signatures
            .iter()
            .filter(|(other, _)| other.as_str() != entity)
            .filter_map(|(other, signature)| {
                let similarity = target.jaccard(signature).ok()?;
                (similarity >= threshold).then(|| (other.clone(), similarity))
            })
            .collect();
        similar.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        similar
    }

    pub fn memory_usage(&self) -> MemoryUsage {
        MemoryUsage {
            unique_entities_hll: self.unique_entities.heap_size(),
            event_frequencies_cms: self.event_frequencies.heap_size(),
            entity_frequencies_cms: self.entity_frequencies.heap_size(),
            top_entities_topk: self.top_entities.heap_size(),
            top_event_types_topk: self.top_event_types.heap_size(),
            seen_entities_bloom: self.seen_entities.heap_size(),
            entity_signatures_minhash: self
                .entity_signatures
                .values()
                // A signature of a few values lives in its struct, with no heap.
                .map(|s| std::mem::size_of::<MinHash>() + s.heap_size())
                .sum(),
        }
    }
}

fn ranked(top: &TopK, n: usize) -> Vec<Ranked> {
    top.top(n)
        .into_iter()
        .map(|e| Ranked {
            item: String::from_utf8_lossy(e.item).into_owned(),
            count: e.count,
            upper: e.upper,
        })
        .collect()
}

/// The key numbers of one run.
#[derive(Debug, Clone)]
pub struct Report {
    pub stats: Stats,
    pub top_event_types: Vec<Ranked>,
    pub top_entities: Vec<Ranked>,
    pub memory: MemoryUsage,
    /// The busiest entity and the entities that behave like it (Jaccard >= [`SIMILARITY`]).
    pub similar_to_busiest: (String, Vec<(String, f64)>),
}

/// Threshold of the similarity query in the report: 11 of the same 12 event types.
pub const SIMILARITY: f64 = 0.9;

/// Runs the generated stream through a new processor.
pub fn process_stream(config: &Config) -> Result<StreamProcessor, BoxError> {
    let mut processor = StreamProcessor::new(config.expected_unique_entities, config.top_k)?;
    let args = stream_args(config.events, config.entities, config.seed);
    for_each_event(&args, |_, event| {
        processor.process(&event);
    })?;
    Ok(processor)
}

pub fn run(config: &Config) -> Result<Report, BoxError> {
    let processor = process_stream(config)?;
    let stats = processor.stats();
    let top_entities = processor.top_entities(10);
    let busiest = top_entities
        .first()
        .map_or(String::new(), |r| r.item.clone());
    let similar = processor.similar_entities(&busiest, SIMILARITY);
    Ok(Report {
        stats,
        top_event_types: processor.top_event_types(10),
        top_entities,
        memory: processor.memory_usage(),
        similar_to_busiest: (busiest, similar),
    })
}

fn banner(title: &str) {
    println!("\n{}\n{title}\n{}", "=".repeat(60), "=".repeat(60));
}

fn section(title: &str) {
    println!("\n{}\n{title}\n{}", "-".repeat(40), "-".repeat(40));
}

fn print_report(config: &Config, report: &Report) {
    let stats = &report.stats;
    banner("STREAM PROCESSING DEMO");
    println!("\nProcessing {} events...", thousands(config.events));
    println!(
        "\nProcessed in {:.2}s ({} events/sec)",
        stats.elapsed.as_secs_f64(),
        thousands(stats.events_per_second as u64)
    );

    banner("STREAM STATISTICS");
    println!("Total events:       {}", thousands(stats.total_events));
    println!(
        "Unique entities:    {} (± {:.1}% standard error)",
        thousands(stats.unique_entities.round() as u64),
        stats.unique_entities_rse * 100.0
    );
    println!(
        "First-time events:  {}",
        thousands(stats.first_time_entities)
    );

    section("TOP EVENT TYPES");
    for r in &report.top_event_types {
        let pct = r.count as f64 / stats.total_events as f64 * 100.0;
        let bar = "#".repeat(pct as usize);
        println!(
            "  {:<15} {:>7} ({pct:>5.1}%) {bar}",
            r.item,
            thousands(r.count)
        );
    }

    section("MOST ACTIVE ENTITIES");
    for r in &report.top_entities {
        let (count, upper) = (thousands(r.count), thousands(r.upper));
        println!("  {:<15} {count:>6} events (at most {upper})", r.item);
    }

    let (busiest, similar) = &report.similar_to_busiest;
    let examples: Vec<&str> = similar.iter().take(3).map(|s| s.0.as_str()).collect();
    println!(
        "\n  {} entities behave like {busiest} (Jaccard >= {SIMILARITY}), e.g. {}",
        thousands(similar.len() as u64),
        examples.join(", ")
    );

    print_memory(&report.memory);
}

fn print_memory(memory: &MemoryUsage) {
    section("MEMORY USAGE");
    let rows = [
        ("HyperLogLog:", memory.unique_entities_hll),
        ("CMS (types):", memory.event_frequencies_cms),
        ("CMS (entities):", memory.entity_frequencies_cms),
        ("TopK (entities):", memory.top_entities_topk),
        ("TopK (events):", memory.top_event_types_topk),
        ("BloomFilter:", memory.seen_entities_bloom),
        ("MinHash sigs:", memory.entity_signatures_minhash),
        ("TOTAL:", memory.total()),
    ];
    for (name, bytes) in rows {
        println!("  {name:<17}{:>10} bytes", thousands(bytes as u64));
    }
    println!(
        "  {:<17}({:.2} MB)",
        "",
        memory.total() as f64 / 1024.0 / 1024.0
    );
}

fn main() -> Result<(), BoxError> {
    let config = Config::default();
    let report = run(&config)?;
    print_report(&config, &report);
    Ok(())
}
