//! The stream processing tutorial's examples (`examples/*.rs`) checked against exact
//! computation over the same generated events: the sketches' answers must lie within the
//! error each sketch guarantees, not merely run.
// Each example is a standalone program that includes `examples/common/mod.rs` itself, so
// including all three here loads that file three times, as three separate modules.
#![allow(clippy::duplicate_mod)]

#[path = "../../examples/stream_processor.rs"]
#[allow(dead_code)]
mod stream_processor;

#[path = "../../examples/windowed.rs"]
#[allow(dead_code)]
mod windowed;

#[path = "../../examples/anomaly_detection.rs"]
#[allow(dead_code)]
mod anomaly_detection;

use std::collections::{BTreeMap, HashMap, HashSet};

use arrow::array::AsArray;
use arrow::datatypes::TimestampMicrosecondType;
use hazy::generator::{EVENT_TYPES, EventGenerator, GenArgs};
use hazy::sketch::bloom::{BloomFilter, expected_fpr};

/// One generated event, owned.
#[derive(Debug, Clone)]
struct Row {
    ts_us: i64,
    entity: String,
    event_type: String,
}

/// All events of a generator run, read here independently of the examples' reader.
fn generate(events: u64, entities: u64, seed: u64) -> Vec<Row> {
    let args = GenArgs {
        events,
        entities,
        seed,
        ..GenArgs::default()
    };
    let mut generator = EventGenerator::new(&args).unwrap();
    let mut rows = Vec::new();
    while let Some(batch) = generator.next_batch(10_000) {
        let ts = batch.column(0).as_primitive::<TimestampMicrosecondType>();
        let entity = batch.column(1).as_string::<i32>();
        let event_type = batch.column(2).as_string::<i32>();
        for i in 0..batch.num_rows() {
            rows.push(Row {
                ts_us: ts.value(i),
                entity: entity.value(i).to_owned(),
                event_type: event_type.value(i).to_owned(),
            });
        }
    }
    assert_eq!(rows.len() as u64, events);
    rows
}

fn counts<'a>(values: impl Iterator<Item = &'a str>) -> HashMap<&'a str, u64> {
    let mut counts = HashMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    counts
}

/// Items by count descending, ties by name (the order `TopK::top` uses).
fn ranking<'a>(counts: &HashMap<&'a str, u64>) -> Vec<(&'a str, u64)> {
    let mut ranked: Vec<(&str, u64)> = counts.iter().map(|(k, v)| (*k, *v)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    ranked
}

/// `estimate` lies within `sigmas` relative standard errors of `exact`.
fn assert_close(what: &str, estimate: f64, exact: usize, rse: f64, sigmas: f64) {
    let error = (estimate - exact as f64).abs() / exact as f64;
    assert!(
        error <= sigmas * rse,
        "{what}: estimate {estimate:.0} vs exact {exact}: relative error {error:.4} > {sigmas} × {rse:.4}"
    );
}

/// Expected false positives of a Bloom filter of `blocks` blocks probed once for each of
/// `distinct` new values as they are inserted one by one, plus four standard deviations
/// (and one for luck): the most a healthy filter hides.
fn bloom_allowance(blocks: u32, already: usize, distinct: usize) -> usize {
    let expected: f64 = (already..already + distinct)
        .map(|k| expected_fpr(blocks, k as f64))
        .sum();
    (expected + 4.0 * expected.sqrt() + 1.0).floor() as usize
}

/// Jaccard similarity of two small sets.
fn jaccard(a: &HashSet<&str>, b: &HashSet<&str>) -> f64 {
    a.intersection(b).count() as f64 / a.union(b).count().max(1) as f64
}

// ---------------------------------------------------------------------------
// Steps 1 to 3: the stream processor
// ---------------------------------------------------------------------------

#[test]
fn stream_processor_report_matches_exact_counts() {
    let config = stream_processor::Config::default();
    let report = stream_processor::run(&config).unwrap();
    let rows = generate(config.events, config.entities, config.seed);
    let n = rows.len() as u64;
    let by_entity = counts(rows.iter().map(|r| r.entity.as_str()));
    let by_type = counts(rows.iter().map(|r| r.event_type.as_str()));
    let stats = &report.stats;

    assert_eq!(stats.total_events, n);
    assert_close(
        "unique entities",
        stats.unique_entities,
        by_entity.len(),
        stats.unique_entities_rse,
        3.0,
    );

    // First-time entities: the filter never misses a seen entity, so it never counts one
    // twice; its false positives hide at most the allowance of new ones.
    let blocks = BloomFilter::blocks_for(config.expected_unique_entities, 0.01).unwrap();
    let hidden = by_entity.len() as u64 - stats.first_time_entities;
    assert!(stats.first_time_entities <= by_entity.len() as u64);
    assert!(
        hidden as usize <= bloom_allowance(blocks, 0, by_entity.len()),
        "{hidden} new entities hidden by false positives"
    );

    // Twelve event types in a 50-counter Top-K: exact counts, exact order.
    let exact_types = ranking(&by_type);
    assert_eq!(report.top_event_types.len(), 10);
    for (got, (name, count)) in report.top_event_types.iter().zip(&exact_types) {
        assert_eq!(
            (got.item.as_str(), got.count, got.upper),
            (*name, *count, *count)
        );
    }

    // The entities: the deterministic Misra-Gries bounds, and the exact top 10 in order.
    let exact_entities = ranking(&by_entity);
    for got in &report.top_entities {
        let truth = by_entity[got.item.as_str()];
        assert!(
            got.count <= truth && truth <= got.upper,
            "{got:?} vs {truth}"
        );
    }
    let names: Vec<&str> = report
        .top_entities
        .iter()
        .map(|r| r.item.as_str())
        .collect();
    let exact_names: Vec<&str> = exact_entities.iter().take(10).map(|e| e.0).collect();
    assert_eq!(names, exact_names);

    let memory = &report.memory;
    assert_eq!(
        memory.unique_entities_hll,
        1 << 14,
        "dense HLL: one byte per register"
    );
    assert_eq!(
        memory.entity_frequencies_cms,
        10_000 * 5 * 8,
        "dense 10,000 × 5 CMS"
    );
    // Each signature is its struct, plus 128 bins on the heap once it holds more than a few
    // values.
    let signature = std::mem::size_of::<hazy::sketch::minhash::MinHash>();
    let (least, most) = (signature, signature + 128 * 4);
    assert!(
        (by_entity.len() * least..=by_entity.len() * most)
            .contains(&memory.entity_signatures_minhash),
        "{} for {} entities",
        memory.entity_signatures_minhash,
        by_entity.len()
    );
    assert_eq!(memory.seen_entities_bloom, blocks as usize * 32);
    assert!(memory.total() < 6 << 20, "{memory:?}");
}

#[test]
fn stream_processor_similar_entities_match_exact_jaccard() {
    let config = stream_processor::Config::default();
    let report = stream_processor::run(&config).unwrap();
    let rows = generate(config.events, config.entities, config.seed);
    let mut types: HashMap<&str, HashSet<&str>> = HashMap::new();
    for r in &rows {
        types.entry(&r.entity).or_default().insert(&r.event_type);
    }
    let (busiest, similar) = &report.similar_to_busiest;
    let target = &types[busiest.as_str()];
    // Every estimate near the exact similarity of the two type sets.
    for (other, estimate) in similar {
        let exact = jaccard(target, &types[other.as_str()]);
        assert!(
            (estimate - exact).abs() <= 0.1,
            "{other}: {estimate} vs {exact}"
        );
    }
    // And nearly the same entities as the exact query.
    let exact: HashSet<&str> = (types.iter())
        .filter(|(e, set)| *e != busiest && jaccard(target, set) >= stream_processor::SIMILARITY)
        .map(|(e, _)| *e)
        .collect();
    let found: HashSet<&str> = similar.iter().map(|s| s.0.as_str()).collect();
    let common = exact.intersection(&found).count() as f64;
    assert!(!exact.is_empty());
    assert!(
        common / exact.len() as f64 >= 0.95,
        "{common} of {}",
        exact.len()
    );
    assert!(
        common / found.len() as f64 >= 0.95,
        "{common} of {}",
        found.len()
    );
}

#[test]
fn stream_processor_per_event_results_bound_the_running_counts() {
    let config = stream_processor::Config::default();
    let mut processor =
        stream_processor::StreamProcessor::new(config.expected_unique_entities, config.top_k)
            .unwrap();
    let rows = generate(config.events, config.entities, config.seed);
    let mut running: HashMap<&str, u64> = HashMap::new();
    let epsilon = std::f64::consts::E / 10_000.0;
    let (mut over_bound, mut hidden) = (0, 0);
    for (i, r) in rows.iter().enumerate() {
        let event = stream_processor::common::Event {
            ts_us: r.ts_us,
            entity: &r.entity,
            event_type: &r.event_type,
        };
        let result = processor.process(&event);
        let truth = running.entry(&r.entity).or_default();
        *truth += 1;
        // Never below the truth; above it by more than epsilon · N for at most delta of
        // the queries (depth 5: delta = e^-5).
        assert!(result.entity_event_count >= *truth, "event {i}");
        if result.entity_event_count - *truth > (epsilon * (i + 1) as f64) as u64 {
            over_bound += 1;
        }
        // No false negatives: a repeat is never taken for a first time.
        assert!(
            !result.is_first_time || *truth == 1,
            "event {i}: repeat flagged new"
        );
        if *truth == 1 && !result.is_first_time {
            hidden += 1;
        }
    }
    assert!(
        over_bound as f64 <= (-5f64).exp() * rows.len() as f64,
        "{over_bound}"
    );
    assert_eq!(
        processor.stats().first_time_entities,
        (running.len() - hidden) as u64
    );

    let n = rows.len() as u64;
    let by_type = counts(rows.iter().map(|r| r.event_type.as_str()));
    for (event_type, _) in EVENT_TYPES {
        let (estimate, truth) = (processor.event_count(event_type), by_type[event_type]);
        assert!(truth <= estimate && estimate <= truth + (epsilon * n as f64) as u64);
    }
    assert_eq!(processor.event_count("no_such_type"), 0);
}

// ---------------------------------------------------------------------------
// Step 4: windows
// ---------------------------------------------------------------------------

#[test]
fn windowed_counts_and_uniques_match_exact() {
    let config = windowed::Config::default();
    let report = windowed::run(&config).unwrap();
    let rows = generate(config.events, config.entities, config.seed);
    let window_us = config.window_seconds * 1_000_000;
    let mut windows: BTreeMap<i64, Vec<&Row>> = BTreeMap::new();
    for r in &rows {
        let start = r.ts_us.div_euclid(window_us) * window_us;
        windows.entry(start).or_default().push(r);
    }
    assert!(
        windows.len() > config.retained_windows + 1,
        "too few windows to evict any"
    );
    let kept: Vec<(&i64, &Vec<&Row>)> = windows
        .iter()
        .skip(windows.len() - config.retained_windows - 1)
        .collect();
    assert_eq!(report.windows.len(), kept.len());
    assert_eq!(report.windows_evicted as usize, windows.len() - kept.len());
    assert_eq!(report.late_dropped, 0);

    let window_rse = 1.04 / 64.0; // p = 12
    let epsilon = std::f64::consts::E / 5_000.0;
    for (got, (start, events)) in report.windows.iter().zip(&kept) {
        assert_eq!((got.start_us, got.end_us), (**start, *start + window_us));
        assert_eq!(got.events, events.len() as u64);
        let by_entity = counts(events.iter().map(|r| r.entity.as_str()));
        assert_close(
            "window uniques",
            got.uniques,
            by_entity.len(),
            window_rse,
            3.0,
        );
        let by_type = counts(events.iter().map(|r| r.event_type.as_str()));
        for (event_type, estimate) in &got.event_types {
            let truth = by_type.get(event_type.as_str()).copied().unwrap_or(0);
            let bound = truth + (epsilon * events.len() as f64) as u64;
            assert!(truth <= *estimate && *estimate <= bound, "{event_type}");
        }
        for (entity, lower, upper) in &got.top_entities {
            let truth = by_entity[entity.as_str()];
            assert!(*lower <= truth && truth <= *upper, "{entity}: {truth}");
        }
        let names: Vec<&str> = got.top_entities.iter().map(|t| t.0.as_str()).collect();
        let exact: Vec<&str> = ranking(&by_entity)
            .iter()
            .take(names.len())
            .map(|e| e.0)
            .collect();
        assert_eq!(names, exact, "window at {start}");
    }

    // The merged HyperLogLogs against the exact union of the kept windows.
    let union: HashSet<&str> = kept
        .iter()
        .flat_map(|(_, events)| events.iter().map(|r| r.entity.as_str()))
        .collect();
    assert_eq!(report.retained_span.0, *kept[0].0);
    assert_eq!(report.exact_retained_uniques, union.len());
    assert_close(
        "merged uniques",
        report.retained_uniques,
        union.len(),
        report.retained_uniques_rse,
        3.0,
    );
    let all: HashSet<&str> = rows.iter().map(|r| r.entity.as_str()).collect();
    assert_eq!(report.exact_global_uniques, all.len());
    assert_close(
        "global uniques",
        report.global_uniques,
        all.len(),
        1.04 / 128.0,
        3.0,
    );
}

#[test]
fn windowed_ring_skips_gaps_and_routes_late_events() {
    let mut processor = windowed::WindowedStreamProcessor::new(120, 2, 20).unwrap();
    let second = 1_000_000;
    let mut feed = |seconds: i64, entity: &str| {
        processor.process(&windowed::common::Event {
            ts_us: seconds * second,
            entity,
            event_type: "click",
        })
    };
    feed(0, "a"); // window [0, 120)
    feed(130, "b"); // window [120, 240): [0, 120) closes
    feed(10, "c"); // late, but its window is still kept
    feed(1_000, "d"); // window [960, 1080): 240..960 were empty, only the last 2 kept
    feed(50, "e"); // late, and its window is gone
    let starts: Vec<(i64, u64)> = processor
        .historical_stats()
        .iter()
        .map(|w| (w.start_us / second, w.events))
        .collect();
    assert_eq!(starts, [(720, 0), (840, 0)]);
    let current = processor.current_window_stats().unwrap();
    assert_eq!((current.start_us / second, current.events), (960, 1));
    assert_eq!(processor.late_dropped(), 1);
    // [0, 120) and [120, 240) closed and left, as did 4 of the 6 empty windows between.
    assert_eq!(processor.windows_evicted(), 6);
    assert_eq!(processor.total_events(), 5);
    assert_eq!(processor.global_uniques().round(), 5.0);
    assert_eq!(processor.retained_uniques().round(), 1.0);
}

// ---------------------------------------------------------------------------
// Step 5: anomaly detection
// ---------------------------------------------------------------------------

#[test]
fn anomaly_detection_finds_the_flood_and_stops_after_it() {
    let config = anomaly_detection::Config::default();
    let report = anomaly_detection::run(&config).unwrap();
    let flood = config.flood.clone();
    let spike = &report.spike;

    // Score the alerts here rather than trusting the example's arithmetic.
    let inside = spike.alerts.iter().filter(|i| flood.contains(i)).count();
    let precision = inside as f64 / spike.alerts.len() as f64;
    let recall = inside as f64 / flood.clone().count() as f64;
    // Recall misses only the few events before the window's purchase share crosses 3×
    // the baseline; precision only genuine purchases just after the flood.
    assert!(precision >= 0.95, "precision {precision}");
    assert!(recall >= 0.95, "recall {recall}");
    assert_eq!((spike.precision, spike.recall), (precision, recall));
    // Detection starts within a few dozen events of the flood and stops within one window
    // (200 events) of its end.
    let (first, last) = (spike.first.unwrap(), spike.last.unwrap());
    assert!((1_000..=1_050).contains(&first), "first alert at {first}");
    assert!((1_500..=1_700).contains(&last), "last alert at {last}");
    // The tutorial's all-time rule keeps firing long after the flood.
    assert!(
        report.tutorial_spike.last.unwrap() > last + 1_000,
        "{:?}",
        report.tutorial_spike.last
    );
    assert!(report.peak_rate > 0.7, "{}", report.peak_rate);

    // The baseline rate against the exact training share.
    let training = generate(
        config.train_events,
        config.train_entities,
        config.train_seed,
    );
    let purchases = training
        .iter()
        .filter(|r| r.event_type == config.flood_type)
        .count();
    let exact_rate = purchases as f64 / training.len() as f64;
    let epsilon = std::f64::consts::E / 10_000.0;
    assert!(exact_rate <= report.baseline_rate && report.baseline_rate <= exact_rate + epsilon);
}

#[test]
fn anomaly_detection_reports_new_entities_separately() {
    let config = anomaly_detection::Config::default();
    let report = anomaly_detection::run(&config).unwrap();
    let training = generate(
        config.train_events,
        config.train_entities,
        config.train_seed,
    );
    let known: HashSet<&str> = training.iter().map(|r| r.entity.as_str()).collect();
    let stream = generate(config.events, config.entities, config.seed);
    let mut new = HashSet::new();
    let mut first_alert_at = None; // where the exact rule would first fire
    for (i, r) in stream.iter().enumerate() {
        let is_new = !known.contains(r.entity.as_str()) && new.insert(r.entity.as_str());
        if is_new && new.len() as u64 == config.detector.new_entity_threshold + 1 {
            first_alert_at = Some(i);
        }
    }
    assert_eq!(report.exact_new_entities, new.len());
    let blocks = BloomFilter::blocks_for(config.detector.expected_entities, 0.01).unwrap();
    let hidden = new.len() as u64 - report.new_entities;
    assert!(report.new_entities <= new.len() as u64);
    assert!(
        hidden as usize <= bloom_allowance(blocks, known.len(), new.len()),
        "{hidden}"
    );
    // One alert per new entity past the threshold; false positives can only delay the first.
    let threshold = config.detector.new_entity_threshold;
    assert_eq!(
        report.new_entity_alerts as u64,
        report.new_entities - threshold
    );
    assert!(report.first_new_entity_alert.unwrap() >= first_alert_at.unwrap());
    // It is a separate signal: its alerts start long before the flood.
    assert!(report.first_new_entity_alert.unwrap() < *config.flood.start());
}
