//! The stream processing tutorial, Step 5: anomaly detection in a stream.
//!
//! A [`StreamAnomalyDetector`] learns the normal event-type rates (a [`CountMin`]) and the
//! known entities (a [`BloomFilter`]) from training traffic, then checks each new event:
//!
//! * **Rate spike**: the event's type is more than 3× as frequent in the recent events as
//!   in training. The tutorial compares against an all-time count since the detector
//!   started, which reacts late and never forgets a burst; here "recent" is a sliding
//!   window of the last 150 to 200 events, a Count-Min over a ring of 50-event panes: each
//!   event goes into the open pane and the window, and when a pane falls out of the ring it
//!   is subtracted from the window again (`CountMin::retract`; Count-Min is linear).
//! * **New entities**: the tutorial's rule, kept as is and reported as its own signal: an
//!   entity the Bloom filter has never seen is new, and every new entity past the 100th
//!   raises an alert. It is cumulative, so on traffic with a larger population than the
//!   training's it keeps firing; it says nothing about the flood below.
//!
//! The demo trains on 10,000 events over 1,000 entities, then runs 5,000 events over 2,000
//! entities (another seed) in which events 1000 to 1500 are turned into `purchase` events,
//! and reports where the purchase spike was detected, with the precision and recall of the
//! per-event spike alerts against the injected interval, next to the tutorial's rule.
//!
//! ```text
//! cargo run --release --example anomaly_detection
//! ```

#[path = "common/mod.rs"]
pub mod common;

use std::collections::{HashSet, VecDeque};
use std::ops::RangeInclusive;

use hazy::sketch::SketchError;
use hazy::sketch::bloom::BloomFilter;
use hazy::sketch::cms::CountMin;
use hazy::sketch::hash::hash_str;

use common::{BoxError, Event, for_each_event, stream_args, thousands};

/// The training and detection streams, the injected flood and the detector's knobs.
#[derive(Debug, Clone)]
pub struct Config {
    pub train_events: u64,
    pub train_entities: u64,
    pub train_seed: u64,
    pub events: u64,
    pub entities: u64,
    pub seed: u64,
    /// Events (0-based indices of the detection stream) turned into `flood_type`.
    pub flood: RangeInclusive<usize>,
    pub flood_type: &'static str,
    pub detector: DetectorConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            train_events: 10_000,
            train_entities: 1_000,
            train_seed: 42,
            events: 5_000,
            entities: 2_000,
            seed: 7,
            flood: 1000..=1500,
            flood_type: "purchase",
            detector: DetectorConfig::default(),
        }
    }
}

/// How the detector decides.
#[derive(Debug, Clone)]
pub struct DetectorConfig {
    /// Events per pane of the sliding window.
    pub pane_events: u64,
    /// The window holds the last `panes - 1` full panes and the open one.
    pub panes: usize,
    /// A type spikes when its recent rate exceeds this multiple of its baseline rate.
    pub spike_factor: f64,
    /// No rate judgement on fewer recent events than this (the tutorial's 100).
    pub min_window_events: u64,
    /// New entities tolerated before each further one raises an alert (the tutorial's 100).
    pub new_entity_threshold: u64,
    /// Capacity of the known-entity Bloom filter (1% false positives up to it).
    pub expected_entities: u64,
}

impl Default for DetectorConfig {
    fn default() -> Self {
        DetectorConfig {
            pane_events: 50,
            panes: 4,
            spike_factor: 3.0,
            min_window_events: 100,
            new_entity_threshold: 100,
            expected_entities: 100_000,
        }
    }
}

/// An alert raised by [`StreamAnomalyDetector::check`].
#[derive(Debug, Clone, PartialEq)]
pub enum Anomaly {
    /// More than the threshold of never-seen entities so far.
    NewEntities { count: u64 },
    /// The event's type is far more frequent recently than in training.
    RateSpike {
        event_type: String,
        current_rate: f64,
        baseline_rate: f64,
    },
}

/// Event-type counts of training (the tutorial's sizes: 10,000 × 5).
const BASELINE_WIDTH: u32 = 10_000;
const BASELINE_DEPTH: u32 = 5;
/// Panes and window hold at most 200 events: 1% of that is 2 events.
const WINDOW_EPSILON: f64 = 0.01;
const WINDOW_DELTA: f64 = 0.01;
const KNOWN_ENTITIES_FPR: f64 = 0.01;

/// Recent event-type counts: a Count-Min over a sliding ring of panes.
#[derive(Debug, Clone)]
struct SlidingCounts {
    pane_events: u64,
    panes: usize,
    open: CountMin,
    /// Full panes still in the window, oldest first.
    closed: VecDeque<CountMin>,
    /// The sum of `closed` and `open`.
    window: CountMin,
}

impl SlidingCounts {
    fn new(pane_events: u64, panes: usize) -> Result<Self, SketchError> {
        let empty = CountMin::with_error(WINDOW_EPSILON, WINDOW_DELTA)?;
        Ok(SlidingCounts {
            pane_events: pane_events.max(1),
            panes: panes.max(1),
            open: empty.clone(),
            closed: VecDeque::with_capacity(panes),
            window: empty,
        })
    }

    fn add(&mut self, hash: u64) -> Result<(), SketchError> {
        self.open.insert_hash(hash, 1);
        self.window.insert_hash(hash, 1);
        if self.open.total() < self.pane_events {
            return Ok(());
        }
        let fresh = CountMin::with_error(WINDOW_EPSILON, WINDOW_DELTA)?;
        self.closed
            .push_back(std::mem::replace(&mut self.open, fresh));
        if self.closed.len() >= self.panes {
            // The oldest pane leaves the window: subtract exactly what it added.
            let oldest = self.closed.pop_front().expect("non-empty");
            self.window.retract(&oldest)?;
        }
        Ok(())
    }

    /// Estimated share of the value in the window (never below its true share).
    fn rate(&self, hash: u64) -> f64 {
        self.window.estimate(hash) as f64 / self.window.total().max(1) as f64
    }

    fn events(&self) -> u64 {
        self.window.total()
    }
}

/// The tutorial's detector with a sliding "current" window.
#[derive(Debug, Clone)]
pub struct StreamAnomalyDetector {
    config: DetectorConfig,
    baseline: CountMin,
    recent: SlidingCounts,
    known_entities: BloomFilter,
    new_entity_count: u64,
}

impl StreamAnomalyDetector {
    pub fn new(config: DetectorConfig) -> Result<Self, SketchError> {
        Ok(StreamAnomalyDetector {
            baseline: CountMin::new(BASELINE_WIDTH, BASELINE_DEPTH)?,
            recent: SlidingCounts::new(config.pane_events, config.panes)?,
            known_entities: BloomFilter::with_capacity(
                config.expected_entities,
                KNOWN_ENTITIES_FPR,
            )?,
            new_entity_count: 0,
            config,
        })
    }

    /// Learns the normal event-type rates and the known entities.
    pub fn train(&mut self, event: &Event<'_>) {
        self.baseline.insert_hash(hash_str(event.event_type), 1);
        self.known_entities.insert(event.entity);
    }

    /// Share of an event type in training (Count-Min: never below the truth).
    pub fn baseline_rate(&self, event_type: &str) -> f64 {
        let count = self.baseline.estimate(hash_str(event_type));
        count as f64 / self.baseline.total().max(1) as f64
    }

    /// Never-seen entities so far (a Bloom false positive can hide one, never invent one).
    pub fn new_entity_count(&self) -> u64 {
        self.new_entity_count
    }

    /// Counts the event and returns its anomalies.
    pub fn check(&mut self, event: &Event<'_>) -> Result<Vec<Anomaly>, SketchError> {
        let mut anomalies = Vec::new();
        if let Some(alert) = self.check_entity(event.entity) {
            anomalies.push(alert);
        }
        let type_hash = hash_str(event.event_type);
        self.recent.add(type_hash)?;
        if let Some(alert) = self.check_rate(event.event_type, type_hash) {
            anomalies.push(alert);
        }
        Ok(anomalies)
    }

    fn check_entity(&mut self, entity: &str) -> Option<Anomaly> {
        if self.known_entities.contains(entity) {
            return None;
        }
        self.new_entity_count += 1;
        self.known_entities.insert(entity);
        (self.new_entity_count > self.config.new_entity_threshold).then_some(Anomaly::NewEntities {
            count: self.new_entity_count,
        })
    }

    fn check_rate(&self, event_type: &str, type_hash: u64) -> Option<Anomaly> {
        if self.recent.events() < self.config.min_window_events {
            return None;
        }
        let baseline_rate =
            self.baseline.estimate(type_hash) as f64 / self.baseline.total().max(1) as f64;
        let current_rate = self.recent.rate(type_hash);
        let spiking =
            baseline_rate > 0.0 && current_rate > baseline_rate * self.config.spike_factor;
        spiking.then(|| Anomaly::RateSpike {
            event_type: event_type.to_owned(),
            current_rate,
            baseline_rate,
        })
    }
}

/// The tutorial's spike rule as written, for comparison: the "current" rate is the
/// all-time share since detection started.
#[derive(Debug, Clone)]
struct AllTimeSpikeRule {
    counts: CountMin,
    factor: f64,
    min_events: u64,
}

impl AllTimeSpikeRule {
    fn check(&mut self, event_type: &str, baseline_rate: f64) -> bool {
        let hash = hash_str(event_type);
        self.counts.insert_hash(hash, 1);
        let current_rate = self.counts.estimate(hash) as f64 / self.counts.total() as f64;
        self.counts.total() > self.min_events
            && baseline_rate > 0.0
            && current_rate > baseline_rate * self.factor
    }
}

/// Per-event alerts of one kind scored against the injected interval.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertScore {
    /// Indices of the alerting events, ascending.
    pub alerts: Vec<usize>,
    pub first: Option<usize>,
    pub last: Option<usize>,
    /// Alerts inside the interval.
    pub true_positives: usize,
    /// `true_positives / alerts` (1.0 without alerts).
    pub precision: f64,
    /// `true_positives / interval length`.
    pub recall: f64,
}

impl AlertScore {
    pub fn new(alerts: Vec<usize>, interval: &RangeInclusive<usize>) -> Self {
        let true_positives = alerts.iter().filter(|i| interval.contains(i)).count();
        let injected = interval.clone().count().max(1);
        AlertScore {
            first: alerts.first().copied(),
            last: alerts.last().copied(),
            true_positives,
            precision: true_positives as f64 / alerts.len().max(1) as f64,
            recall: true_positives as f64 / injected as f64,
            alerts,
        }
    }
}

/// The key numbers of one run.
#[derive(Debug, Clone)]
pub struct Report {
    pub baseline_rate: f64,
    /// Rate-spike alerts of the flood type, scored against the flood.
    pub spike: AlertScore,
    /// The same alerts from the tutorial's all-time rule.
    pub tutorial_spike: AlertScore,
    /// Highest recent share of the flood type seen.
    pub peak_rate: f64,
    /// Rate-spike alerts of other types (false alarms: only the flood was injected).
    pub other_spike_alerts: usize,
    pub new_entities: u64,
    /// Exact count (a set of names beside the filter, for comparison).
    pub exact_new_entities: usize,
    pub new_entity_alerts: usize,
    pub first_new_entity_alert: Option<usize>,
    /// The first few alerts as the tutorial prints them.
    pub sample: Vec<(usize, Vec<Anomaly>)>,
}

/// Trains a detector on the training stream.
pub fn trained_detector(config: &Config) -> Result<StreamAnomalyDetector, BoxError> {
    let mut detector = StreamAnomalyDetector::new(config.detector.clone())?;
    let args = stream_args(
        config.train_events,
        config.train_entities,
        config.train_seed,
    );
    for_each_event(&args, |_, event| detector.train(&event))?;
    Ok(detector)
}

/// Calls `f(index, event)` on the detection stream with the flood injected.
pub fn for_each_flooded_event(
    config: &Config,
    mut f: impl FnMut(usize, Event<'_>),
) -> Result<(), BoxError> {
    let args = stream_args(config.events, config.entities, config.seed);
    for_each_event(&args, |i, mut event| {
        if config.flood.contains(&i) {
            event.event_type = config.flood_type;
        }
        f(i, event);
    })
}

/// Everything [`run`] collects while the detection stream goes by.
#[derive(Default)]
struct Tally {
    spikes: Vec<usize>,
    tutorial_spikes: Vec<usize>,
    other_spikes: usize,
    peak_rate: f64,
    new_entity_alerts: Vec<usize>,
    sample: Vec<(usize, Vec<Anomaly>)>,
}

impl Tally {
    fn record(&mut self, i: usize, anomalies: Vec<Anomaly>, flood_type: &str) {
        for anomaly in &anomalies {
            match anomaly {
                Anomaly::NewEntities { .. } => self.new_entity_alerts.push(i),
                Anomaly::RateSpike { event_type, .. } if event_type == flood_type => {
                    self.spikes.push(i)
                }
                Anomaly::RateSpike { .. } => self.other_spikes += 1,
            }
        }
        // Show the first few rate spikes: the new-entity rule would fill the sample alone.
        let spike = anomalies
            .iter()
            .any(|a| matches!(a, Anomaly::RateSpike { .. }));
        if spike && self.sample.len() < SAMPLE_ALERTS {
            self.sample.push((i, anomalies));
        }
    }
}

const SAMPLE_ALERTS: usize = 3;

pub fn run(config: &Config) -> Result<Report, BoxError> {
    let mut detector = trained_detector(config)?;
    let baseline_rate = detector.baseline_rate(config.flood_type);
    let mut tutorial_rule = AllTimeSpikeRule {
        counts: CountMin::new(BASELINE_WIDTH, BASELINE_DEPTH)?,
        factor: config.detector.spike_factor,
        min_events: config.detector.min_window_events,
    };
    let mut tally = Tally::default();
    let mut error = None;
    for_each_flooded_event(config, |i, event| match detector.check(&event) {
        Ok(anomalies) => {
            let rate = detector.recent.rate(hash_str(config.flood_type));
            tally.peak_rate = tally.peak_rate.max(rate);
            if tutorial_rule.check(event.event_type, detector.baseline_rate(event.event_type))
                && event.event_type == config.flood_type
            {
                tally.tutorial_spikes.push(i);
            }
            tally.record(i, anomalies, config.flood_type);
        }
        Err(e) => error = Some(e),
    })?;
    if let Some(e) = error {
        return Err(e.into());
    }
    Ok(Report {
        baseline_rate,
        spike: AlertScore::new(tally.spikes, &config.flood),
        tutorial_spike: AlertScore::new(tally.tutorial_spikes, &config.flood),
        peak_rate: tally.peak_rate,
        other_spike_alerts: tally.other_spikes,
        new_entities: detector.new_entity_count(),
        exact_new_entities: exact_new_entities(config)?,
        new_entity_alerts: tally.new_entity_alerts.len(),
        first_new_entity_alert: tally.new_entity_alerts.first().copied(),
        sample: tally.sample,
    })
}

/// Distinct entities of the detection stream absent from training, counted exactly.
fn exact_new_entities(config: &Config) -> Result<usize, BoxError> {
    let mut known = HashSet::new();
    let args = stream_args(
        config.train_events,
        config.train_entities,
        config.train_seed,
    );
    for_each_event(&args, |_, e| {
        known.insert(e.entity.to_owned());
    })?;
    let mut new = HashSet::new();
    for_each_flooded_event(config, |_, e| {
        if !known.contains(e.entity) {
            new.insert(e.entity.to_owned());
        }
    })?;
    Ok(new.len())
}

fn index(i: Option<usize>) -> String {
    i.map_or("none".into(), |i| i.to_string())
}

fn print_score(name: &str, s: &AlertScore) {
    println!(
        "  {name:<22} {:>4} alerts, first at event {}, last at {}; precision {:.3}, recall {:.3}",
        s.alerts.len(),
        index(s.first),
        index(s.last),
        s.precision,
        s.recall
    );
}

fn print_report(config: &Config, report: &Report) {
    println!("{}\nANOMALY DETECTION\n{}", "=".repeat(60), "=".repeat(60));
    println!(
        "\nTraining on normal traffic ({} events, {} entities)...",
        thousands(config.train_events),
        thousands(config.train_entities)
    );
    println!(
        "Processing new traffic with anomalies ({} events, {} entities, events {}..={} \
         turned into '{}')...",
        thousands(config.events),
        thousands(config.entities),
        config.flood.start(),
        config.flood.end(),
        config.flood_type
    );
    for (i, anomalies) in &report.sample {
        println!("  Anomaly at event {i}: {anomalies:?}");
    }
    let d = &config.detector;
    let window = (d.panes as u64 - 1) * d.pane_events;
    println!(
        "\n'{}' rate spikes (baseline {:.2}%, alert above {:.2}%, peak {:.1}%):",
        config.flood_type,
        report.baseline_rate * 100.0,
        report.baseline_rate * d.spike_factor * 100.0,
        report.peak_rate * 100.0
    );
    let sliding = format!("last {window}-{} events", window + d.pane_events);
    print_score(&sliding, &report.spike);
    print_score("all-time (tutorial)", &report.tutorial_spike);
    println!(
        "  spike alerts of other types: {}",
        report.other_spike_alerts
    );
    println!(
        "\nNew entities (Bloom filter): {} (exact {}); the tutorial's rule raised {} alerts, \
         the first at event {}",
        thousands(report.new_entities),
        thousands(report.exact_new_entities as u64),
        thousands(report.new_entity_alerts as u64),
        index(report.first_new_entity_alert)
    );
}

fn main() -> Result<(), BoxError> {
    let config = Config::default();
    let report = run(&config)?;
    print_report(&config, &report);
    Ok(())
}
