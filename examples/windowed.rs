//! The stream processing tutorial, Step 4: tumbling windows by event time.
//!
//! A [`WindowedStreamProcessor`] cuts the stream into fixed windows of event time (the
//! generator's `ts`, not the wall clock, so the result is the same however fast the
//! events arrive) and keeps, per window, an event count, a [`HyperLogLog`] of entities, a
//! [`TopK`] of entities and a [`CountMin`] of event types. Only the last few closed windows
//! are kept (a ring), so memory stays bounded on an endless stream; the distinct entities
//! over all kept windows come from merging their HyperLogLogs, which is exact: the merge
//! equals the sketch of the union.
//!
//! The demo runs 100,000 events at the generator's 100 events/s (about 1,000 s of event
//! time) through 2-minute windows, keeping the last 5 closed ones, and prints each kept
//! window and the merged uniques next to the exact counts.
//!
//! ```text
//! cargo run --release --example windowed
//! ```

#[path = "common/mod.rs"]
pub mod common;

use std::collections::{HashMap, HashSet, VecDeque};

use hazy::generator::EVENT_TYPES;
use hazy::sketch::cms::CountMin;
use hazy::sketch::hash::hash_str;
use hazy::sketch::topk::TopK;
use hazy::sketch::{HyperLogLog, Sketch, SketchError};

use common::{BoxError, Event, for_each_event, stream_args, thousands};

const MICROS_PER_SECOND: i64 = 1_000_000;

/// What to generate and how to window it.
#[derive(Debug, Clone)]
pub struct Config {
    pub events: u64,
    pub entities: u64,
    pub seed: u64,
    pub window_seconds: i64,
    /// Closed windows kept besides the current one.
    pub retained_windows: usize,
    /// Counters of each window's entity Top-K.
    pub window_top_k: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            events: 100_000,
            entities: 10_000,
            seed: 42,
            window_seconds: 120,
            retained_windows: 5,
            window_top_k: WINDOW_TOP_K,
        }
    }
}

/// The tutorial's per-window sizes: HLL p = 12 (1.6% error), Count-Min 5,000 × 4.
const WINDOW_PRECISION: u8 = 12;
const GLOBAL_PRECISION: u8 = 14;
const CMS_WIDTH: u32 = 5_000;
const CMS_DEPTH: u32 = 4;
/// The tutorial's `TopK(k=20)` is a list of 20; Hazy's capacity is the number of counters
/// kept, and a window holds some 12,000 events over 6,000 entities with a flat head, so
/// 20 counters would lose the order of the top 5. 200 counters keep it (and its bounds).
const WINDOW_TOP_K: u32 = 200;

/// The sketches of one tumbling window.
#[derive(Debug, Clone)]
pub struct Window {
    start_us: i64,
    events: u64,
    uniques: HyperLogLog,
    top_entities: TopK,
    event_types: CountMin,
}

impl Window {
    fn new(start_us: i64, top_k: u32) -> Result<Self, SketchError> {
        Ok(Window {
            start_us,
            events: 0,
            uniques: HyperLogLog::new(WINDOW_PRECISION)?,
            top_entities: TopK::new(top_k)?,
            event_types: CountMin::new(CMS_WIDTH, CMS_DEPTH)?,
        })
    }

    fn add(&mut self, event: &Event<'_>) {
        let entity = hash_str(event.entity);
        self.events += 1;
        self.uniques.insert_hash(entity);
        self.top_entities.insert(entity, event.entity.as_bytes(), 1);
        self.event_types.insert_hash(hash_str(event.event_type), 1);
    }

    /// Estimated count of an event type in this window: never below the truth.
    pub fn event_count(&self, event_type: &str) -> u64 {
        self.event_types.estimate(hash_str(event_type))
    }

    fn stats(&self, window_us: i64) -> WindowStats {
        let top_entities = self
            .top_entities
            .top(TOP_PER_WINDOW)
            .into_iter()
            .map(|e| {
                (
                    String::from_utf8_lossy(e.item).into_owned(),
                    e.count,
                    e.upper,
                )
            })
            .collect();
        // A Count-Min cannot list its keys, so ask it about every type the stream can hold.
        let mut event_types: Vec<(String, u64)> = EVENT_TYPES
            .iter()
            .map(|(name, _)| (name.to_string(), self.event_count(name)))
            .collect();
        event_types.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        WindowStats {
            start_us: self.start_us,
            end_us: self.start_us + window_us,
            events: self.events,
            uniques: self.uniques.estimate(),
            top_entities,
            event_types,
        }
    }
}

/// Entities listed per window.
const TOP_PER_WINDOW: usize = 5;

/// The tutorial's window statistics.
#[derive(Debug, Clone)]
pub struct WindowStats {
    /// `[start_us, end_us)` in microseconds since the epoch.
    pub start_us: i64,
    pub end_us: i64,
    pub events: u64,
    /// HyperLogLog estimate of the distinct entities.
    pub uniques: f64,
    /// The busiest entities: (entity, lower bound, upper bound of its count).
    pub top_entities: Vec<(String, u64, u64)>,
    /// Every event type with its Count-Min estimate, most common first.
    pub event_types: Vec<(String, u64)>,
}

/// Tumbling event-time windows with a bounded history.
#[derive(Debug, Clone)]
pub struct WindowedStreamProcessor {
    window_us: i64,
    retained: usize,
    top_k: u32,
    /// None until the first event fixes where event time starts.
    current: Option<Window>,
    /// Closed windows, oldest first, at most `retained`.
    history: VecDeque<Window>,
    global_uniques: HyperLogLog,
    total_events: u64,
    /// Events older than every kept window (never, for the in-order generator).
    late_dropped: u64,
    windows_evicted: u64,
}

impl WindowedStreamProcessor {
    pub fn new(window_seconds: i64, retained: usize, top_k: u32) -> Result<Self, BoxError> {
        if window_seconds <= 0 {
            return Err("the window must last at least one second".into());
        }
        TopK::new(top_k)?; // fail here rather than at the first event
        Ok(WindowedStreamProcessor {
            window_us: window_seconds * MICROS_PER_SECOND,
            retained,
            top_k,
            current: None,
            history: VecDeque::with_capacity(retained + 1),
            global_uniques: HyperLogLog::new(GLOBAL_PRECISION)?,
            total_events: 0,
            late_dropped: 0,
            windows_evicted: 0,
        })
    }

    /// Start of the window holding `ts_us`: windows are aligned on multiples of their
    /// length since the epoch, so 2-minute windows start on even minutes.
    pub fn window_start(&self, ts_us: i64) -> i64 {
        ts_us.div_euclid(self.window_us) * self.window_us
    }

    pub fn process(&mut self, event: &Event<'_>) {
        self.total_events += 1;
        self.global_uniques.insert(event.entity);
        let start = self.window_start(event.ts_us);
        let current_start = match &self.current {
            Some(w) => w.start_us,
            None => start,
        };
        if self.current.is_none() || start > current_start {
            self.open_window(start);
        }
        if let Some(window) = self.window_mut(start) {
            window.add(event);
        } else {
            self.late_dropped += 1;
        }
    }

    /// The current or a kept window starting at `start`.
    fn window_mut(&mut self, start: i64) -> Option<&mut Window> {
        let current = self.current.as_mut().filter(|w| w.start_us == start);
        current.or_else(|| self.history.iter_mut().find(|w| w.start_us == start))
    }

    /// Closes the current window, and the empty ones up to `start` (so the ring always spans
    /// the same stretch of event time), then opens the window at `start`.
    fn open_window(&mut self, start: i64) {
        let top_k = self.top_k;
        let fresh = |s| Window::new(s, top_k).expect("sizes checked in new()");
        let Some(closed) = self.current.replace(fresh(start)) else {
            return;
        };
        let first_empty = closed.start_us + self.window_us;
        self.keep(closed);
        // Only the last `retained` empty windows can still be in the ring.
        let skipped = (start - first_empty) / self.window_us;
        let kept_empty = skipped.min(self.retained as i64);
        for k in (1..=kept_empty).rev() {
            self.keep(fresh(start - k * self.window_us));
        }
        self.windows_evicted += (skipped - kept_empty) as u64;
    }

    fn keep(&mut self, window: Window) {
        self.history.push_back(window);
        if self.history.len() > self.retained {
            self.history.pop_front();
            self.windows_evicted += 1;
        }
    }

    pub fn current_window_stats(&self) -> Option<WindowStats> {
        self.current.as_ref().map(|w| w.stats(self.window_us))
    }

    /// The kept closed windows, oldest first.
    pub fn historical_stats(&self) -> Vec<WindowStats> {
        self.history
            .iter()
            .map(|w| w.stats(self.window_us))
            .collect()
    }

    /// Distinct entities over the current and the kept windows, by merging their
    /// HyperLogLogs (the tutorial's `get_hourly_uniques`: 12 kept windows of 5 minutes).
    pub fn retained_uniques(&self) -> f64 {
        // Merging folds to the smaller precision, so start at the windows' own.
        let mut merged = HyperLogLog::new(WINDOW_PRECISION).expect("valid precision");
        for window in self.history.iter().chain(&self.current) {
            merged
                .merge(&window.uniques)
                .expect("HyperLogLogs of any precision merge");
        }
        merged.estimate()
    }

    /// Relative standard error of [`Self::retained_uniques`].
    pub fn retained_uniques_rse(&self) -> f64 {
        1.04 / f64::from(1u32 << WINDOW_PRECISION).sqrt()
    }

    /// `[start, end)` of event time covered by the kept windows and the current one.
    pub fn retained_span(&self) -> Option<(i64, i64)> {
        let current = self.current.as_ref()?;
        let first = self.history.front().unwrap_or(current);
        Some((first.start_us, current.start_us + self.window_us))
    }

    pub fn global_uniques(&self) -> f64 {
        self.global_uniques.estimate()
    }

    pub fn total_events(&self) -> u64 {
        self.total_events
    }

    pub fn windows_evicted(&self) -> u64 {
        self.windows_evicted
    }

    pub fn late_dropped(&self) -> u64 {
        self.late_dropped
    }
}

/// Exact distinct entities per window, kept beside the sketches only to show their error.
/// This is the memory the sketches avoid: a set of names per window.
#[derive(Debug, Default)]
struct ExactCheck {
    per_window: HashMap<i64, HashSet<String>>,
    all: HashSet<String>,
}

impl ExactCheck {
    fn add(&mut self, window_start: i64, entity: &str) {
        self.per_window
            .entry(window_start)
            .or_default()
            .insert(entity.to_owned());
        self.all.insert(entity.to_owned());
    }

    fn distinct_in(&self, window_start: i64) -> usize {
        self.per_window.get(&window_start).map_or(0, HashSet::len)
    }

    fn distinct_between(&self, (from, to): (i64, i64)) -> usize {
        let mut union: HashSet<&str> = HashSet::new();
        for (_, set) in self
            .per_window
            .iter()
            .filter(|(s, _)| (from..to).contains(*s))
        {
            union.extend(set.iter().map(String::as_str));
        }
        union.len()
    }
}

/// The key numbers of one run; `exact_*` are computed beside the sketches for comparison.
#[derive(Debug, Clone)]
pub struct Report {
    pub total_events: u64,
    pub span_seconds: f64,
    /// The kept closed windows, oldest first, then the current one.
    pub windows: Vec<WindowStats>,
    pub exact_window_uniques: Vec<usize>,
    pub windows_evicted: u64,
    pub late_dropped: u64,
    pub retained_span: (i64, i64),
    pub retained_uniques: f64,
    pub retained_uniques_rse: f64,
    pub exact_retained_uniques: usize,
    pub global_uniques: f64,
    pub exact_global_uniques: usize,
}

pub fn run(config: &Config) -> Result<Report, BoxError> {
    let mut processor = WindowedStreamProcessor::new(
        config.window_seconds,
        config.retained_windows,
        config.window_top_k,
    )?;
    let mut exact = ExactCheck::default();
    let (mut first_ts, mut last_ts) = (None, 0);
    let args = stream_args(config.events, config.entities, config.seed);
    for_each_event(&args, |_, event| {
        processor.process(&event);
        exact.add(processor.window_start(event.ts_us), event.entity);
        first_ts.get_or_insert(event.ts_us);
        last_ts = event.ts_us;
    })?;

    let mut windows = processor.historical_stats();
    windows.extend(processor.current_window_stats());
    let retained_span = processor.retained_span().ok_or("the stream was empty")?;
    Ok(Report {
        total_events: processor.total_events(),
        span_seconds: (last_ts - first_ts.unwrap_or(last_ts)) as f64 / 1e6,
        exact_window_uniques: windows
            .iter()
            .map(|w| exact.distinct_in(w.start_us))
            .collect(),
        windows,
        windows_evicted: processor.windows_evicted(),
        late_dropped: processor.late_dropped(),
        retained_span,
        retained_uniques: processor.retained_uniques(),
        retained_uniques_rse: processor.retained_uniques_rse(),
        exact_retained_uniques: exact.distinct_between(retained_span),
        global_uniques: processor.global_uniques(),
        exact_global_uniques: exact.all.len(),
    })
}

/// `HH:MM:SS` (UTC) of an instant.
fn clock(us: i64) -> String {
    let s = us.div_euclid(MICROS_PER_SECOND).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// `estimate (exact n, +x.x%)`.
fn versus(estimate: f64, exact: usize) -> String {
    let error = (estimate / exact.max(1) as f64 - 1.0) * 100.0;
    let exact = thousands(exact as u64);
    format!(
        "{} (exact {exact}, {error:+.1}%)",
        thousands(estimate.round() as u64)
    )
}

fn print_window(label: &str, w: &WindowStats, exact_uniques: usize) {
    let top: Vec<String> = (w.top_entities.iter().take(3))
        .map(|(e, count, _)| format!("{e} {count}"))
        .collect();
    let types: Vec<String> = (w.event_types.iter().take(3))
        .map(|(t, count)| format!("{t} {}", thousands(*count)))
        .collect();
    println!(
        "{label:<8} {}-{}  {:>6} events  uniques {}\n{:<9}top: {}  |  {}",
        clock(w.start_us),
        clock(w.end_us),
        thousands(w.events),
        versus(w.uniques, exact_uniques),
        "",
        top.join(", "),
        types.join(", ")
    );
}

fn print_report(config: &Config, report: &Report) {
    println!(
        "{}\nWINDOWED STREAM PROCESSING\n{}",
        "=".repeat(60),
        "=".repeat(60)
    );
    println!(
        "{} events over {:.0} s of event time, {}-second tumbling windows, last {} kept\n",
        thousands(report.total_events),
        report.span_seconds,
        config.window_seconds,
        config.retained_windows
    );
    let (history, current) = report.windows.split_at(report.windows.len() - 1);
    for (i, w) in history.iter().enumerate() {
        print_window("history", w, report.exact_window_uniques[i]);
    }
    print_window(
        "current",
        &current[0],
        report.exact_window_uniques[history.len()],
    );
    println!(
        "\nHistorical windows: {} kept, {} evicted, {} late events dropped",
        history.len(),
        report.windows_evicted,
        report.late_dropped
    );
    println!(
        "Uniques {}-{} (merged HLLs, ± {:.1}%): {}",
        clock(report.retained_span.0),
        clock(report.retained_span.1),
        report.retained_uniques_rse * 100.0,
        versus(report.retained_uniques, report.exact_retained_uniques)
    );
    println!(
        "Uniques over the whole stream (global HLL): {}",
        versus(report.global_uniques, report.exact_global_uniques)
    );
}

fn main() -> Result<(), BoxError> {
    let config = Config::default();
    let report = run(&config)?;
    print_report(&config, &report);
    Ok(())
}
