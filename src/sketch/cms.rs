//! Count-Min: how often did each value occur, in fixed memory.
//!
//! # Algorithm
//! `depth` rows of `width` counters. A value's 64-bit canonical hash picks one counter per row
//! (double hashing: row `i` uses `h1 + i·h2`); adding the value with a weight adds the weight to
//! those counters, and its estimated count is the minimum of them. Updates are linear, so two
//! sketches merge by adding counters and a merged-in sketch can be subtracted again
//! (`retract`), which is what moving window frames need.
//!
//! Small sketches keep the (hash, weight) pairs themselves (16 bytes each) and turn into the
//! counter table when that is smaller; both forms answer exactly alike.
//!
//! # Guarantees
//! With `width = ceil(e / epsilon)` and `depth = ceil(ln(1 / delta))`, for a stream of total
//! weight `N`: the estimate never under-estimates, and over-estimates by at most `epsilon · N`
//! with probability at least `1 - delta`. The defaults (`epsilon = 0.001`, `delta = 0.01`)
//! give 2,719 × 5 counters: within 0.1% of the total at 99% confidence, 108,760 bytes dense.
//!
//! ```
//! use hazy::sketch::Sketch;
//! use hazy::sketch::cms::CountMin;
//! use hazy::sketch::hash::hash_str;
//! let mut s = CountMin::with_error(0.001, 0.01).unwrap();
//! for _ in 0..300 { s.insert_hash(hash_str("page_view"), 1); }
//! s.insert_hash(hash_str("purchase"), 7);
//! assert!(s.estimate(hash_str("page_view")) >= 300);
//! assert!(s.estimate(hash_str("purchase")) >= 7);
//! assert_eq!(s.total(), 307);
//! let back = CountMin::from_bytes(&s.to_bytes()).unwrap();
//! assert_eq!(back.estimate(hash_str("purchase")), s.estimate(hash_str("purchase")));
//! ```

use super::envelope::{self, Family};
use super::error::{Result, SketchError};
use super::state::{Description, Sketch};

/// Default relative error: 0.1% of the total weight.
pub const DEFAULT_EPSILON: f64 = 0.001;
/// Default failure probability: 1%.
pub const DEFAULT_DELTA: f64 = 0.01;
/// Largest table accepted (counters), 64 MiB of u64.
const MAX_CELLS: u64 = 1 << 23;
const MAX_DEPTH: u32 = 32;
const MODE_ITEMS: u8 = 0;
const MODE_DENSE: u8 = 1;

/// A Count-Min sketch.
#[derive(Debug, Clone)]
pub struct CountMin {
    width: u32,
    depth: u32,
    total: u64,
    /// Items appended since the list was last sorted and combined.
    pending: usize,
    repr: Repr,
}

impl PartialEq for CountMin {
    /// Equal when they answer alike: same dimensions, total and combined items or counters.
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.canonical(), other.canonical());
        (a.width, a.depth, a.total) == (b.width, b.depth, b.total) && a.repr == b.repr
    }
}

impl Eq for CountMin {}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Repr {
    /// The (hash, weight) pairs added, in arrival order.
    Items(Vec<(u64, u64)>),
    /// `depth` rows of `width` counters, row-major.
    Dense(Box<[u64]>),
}

/// Width and depth for a target error `epsilon` (fraction of the total) and failure
/// probability `delta`.
pub fn dimensions(epsilon: f64, delta: f64) -> Result<(u32, u32)> {
    let in_unit_interval = |x: f64| x > 0.0 && x < 1.0;
    if !in_unit_interval(epsilon) || !in_unit_interval(delta) {
        return Err(SketchError::InvalidParameter(format!(
            "cms epsilon and delta must lie strictly between 0 and 1, got {epsilon} and {delta}"
        )));
    }
    let width = (std::f64::consts::E / epsilon).ceil();
    let depth = (1.0 / delta).ln().ceil().max(1.0);
    if width * depth > MAX_CELLS as f64 || depth > MAX_DEPTH as f64 {
        return Err(SketchError::InvalidParameter(format!(
            "cms epsilon {epsilon} and delta {delta} need {width} x {depth} counters, more than {MAX_CELLS}"
        )));
    }
    Ok((width as u32, depth as u32))
}

impl CountMin {
    /// An empty sketch of `width` × `depth` counters.
    pub fn new(width: u32, depth: u32) -> Result<Self> {
        if width == 0 || depth == 0 || depth > MAX_DEPTH || width as u64 * depth as u64 > MAX_CELLS
        {
            return Err(SketchError::InvalidParameter(format!(
                "cms width {width} x depth {depth} out of range (depth 1..={MAX_DEPTH}, at most {MAX_CELLS} counters)"
            )));
        }
        Ok(Self {
            width,
            depth,
            total: 0,
            pending: 0,
            repr: Repr::Items(Vec::new()),
        })
    }

    /// An empty sketch sized for error `epsilon · N` with probability `1 - delta`.
    pub fn with_error(epsilon: f64, delta: f64) -> Result<Self> {
        let (w, d) = dimensions(epsilon, delta)?;
        Self::new(w, d)
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn depth(&self) -> u32 {
        self.depth
    }

    /// Total weight added (summed over merges, less retractions).
    pub fn total(&self) -> u64 {
        self.total
    }

    pub fn is_dense(&self) -> bool {
        matches!(self.canonical().repr, Repr::Dense(_))
    }

    fn cells(&self) -> usize {
        self.width as usize * self.depth as usize
    }

    /// Pairs kept before the counter table is smaller (16 bytes a pair, 8 a counter).
    fn items_limit(&self) -> usize {
        self.cells() / 2
    }

    /// The counter of row `row` for `hash`.
    #[inline]
    fn cell(&self, hash: u64, row: u32) -> usize {
        let h1 = hash as u32;
        let h2 = (hash >> 32) as u32 | 1;
        let g = h1.wrapping_add(row.wrapping_mul(h2));
        row as usize * self.width as usize + ((g as u64 * self.width as u64) >> 32) as usize
    }

    /// Adds `weight` occurrences of the value with canonical hash `hash`.
    #[inline]
    pub fn insert_hash(&mut self, hash: u64, weight: u64) {
        if weight == 0 {
            return;
        }
        self.total = self.total.saturating_add(weight);
        match &mut self.repr {
            Repr::Items(items) => {
                items.push((hash, weight));
                self.pending += 1;
                // Combine when the new tail is as long as the combined part: each item is
                // sorted an amortized constant number of times, and memory stays near the
                // number of distinct values.
                if self.pending >= (items.len() - self.pending).max(16) {
                    self.compact_items();
                }
            }
            Repr::Dense(_) => self.add_to_cells(hash, weight),
        }
    }

    /// Combines repeated items; turns dense if the distinct ones still fill half the limit
    /// (so a few frequent values, the usual case, stay a few bytes).
    fn compact_items(&mut self) {
        let limit = self.items_limit();
        if let Repr::Items(items) = &mut self.repr {
            items.sort_unstable_by_key(|&(h, _)| h);
            let kept = super::fold_sorted_runs(
                items,
                |a, b| a.0 == b.0,
                |kept, (_, w)| kept.1 = kept.1.saturating_add(w),
            );
            items.truncate(kept);
            self.pending = 0;
            if items.len() > limit {
                self.densify();
            }
        }
    }

    /// This sketch with its items combined: borrowed when already so.
    fn canonical(&self) -> std::borrow::Cow<'_, CountMin> {
        super::with_pending_folded(self, self.pending > 0, Self::compact_items)
    }

    fn add_to_cells(&mut self, hash: u64, weight: u64) {
        for row in 0..self.depth {
            let c = self.cell(hash, row);
            if let Repr::Dense(cells) = &mut self.repr {
                cells[c] = cells[c].saturating_add(weight);
            }
        }
    }

    /// Turns the sketch into its counter table now, rather than once its item list outgrows
    /// the table. The small form answers [`estimate`](Self::estimate) by scanning the items,
    /// which is cheap for a few frequent values but not for a sketch queried after every
    /// insert with thousands of distinct values in it; the table answers with `depth` lookups.
    /// Estimates do not change, and later inserts and merges keep the table.
    pub fn densify(&mut self) {
        if let Repr::Items(items) = &mut self.repr {
            let items = std::mem::take(items);
            self.repr = Repr::Dense(vec![0u64; self.cells()].into_boxed_slice());
            self.pending = 0;
            for (h, w) in items {
                self.add_to_cells(h, w);
            }
        }
    }

    /// The estimated count of the value with canonical hash `hash`: never below the truth.
    pub fn estimate(&self, hash: u64) -> u64 {
        let rows = 0..self.depth;
        match &self.repr {
            Repr::Dense(cells) => rows.map(|r| cells[self.cell(hash, r)]).min().unwrap_or(0),
            Repr::Items(items) => rows
                .map(|r| {
                    let target = self.cell(hash, r);
                    items
                        .iter()
                        .filter(|(h, _)| self.cell(*h, r) == target)
                        .fold(0u64, |acc, (_, w)| acc.saturating_add(*w))
                })
                .min()
                .unwrap_or(0),
        }
    }

    fn check_compatible(&self, other: &CountMin) -> Result<()> {
        if (self.width, self.depth) != (other.width, other.depth) {
            return Err(SketchError::Incompatible(format!(
                "cms of width {} x depth {} cannot merge with width {} x depth {} (build both with the same epsilon and delta)",
                self.width, self.depth, other.width, other.depth
            )));
        }
        Ok(())
    }

    /// Subtracts a sketch that was merged in before (moving window frames).
    pub fn retract(&mut self, other: &CountMin) -> Result<()> {
        self.check_compatible(other)?;
        if let (Repr::Items(mine), Repr::Items(theirs)) = (&mut self.repr, &other.repr) {
            // Small frames stay small: remove the very pairs that were added.
            let mut remaining = mine.clone();
            let all_found =
                theirs
                    .iter()
                    .all(|pair| match remaining.iter().position(|p| p == pair) {
                        Some(i) => {
                            remaining.swap_remove(i);
                            true
                        }
                        None => false,
                    });
            if all_found {
                *mine = remaining;
                self.pending = mine.len();
                self.total = self.total.saturating_sub(other.total);
                return Ok(());
            }
        }
        self.densify();
        let mut removed = other.clone();
        removed.densify();
        let (Repr::Dense(cells), Repr::Dense(theirs)) = (&mut self.repr, &removed.repr) else {
            unreachable!("both dense")
        };
        for (a, b) in cells.iter_mut().zip(theirs.iter()) {
            *a = a.checked_sub(*b).ok_or_else(|| {
                SketchError::Incompatible("cms retract of a state that was never merged in".into())
            })?;
        }
        self.total = self.total.saturating_sub(other.total);
        Ok(())
    }
}

impl Sketch for CountMin {
    const FAMILY: Family = Family::CountMin;

    /// Heap bytes held (for memory accounting).
    fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Items(v) => v.capacity() * 16,
            Repr::Dense(c) => c.len() * 8,
        }
    }

    /// Appends the serialized state (see `docs/FORMAT.md`).
    fn write_to(&self, out: &mut Vec<u8>) {
        let this = self.canonical();
        let this = this.as_ref();
        let mut params = [0u8; 8];
        params[..4].copy_from_slice(&this.width.to_le_bytes());
        params[4..].copy_from_slice(&this.depth.to_le_bytes());
        envelope::encode_with(Family::CountMin, &params, out, |body| match &this.repr {
            Repr::Items(items) => {
                body.push(MODE_ITEMS);
                body.extend_from_slice(&this.total.to_le_bytes());
                body.extend_from_slice(&(items.len() as u32).to_le_bytes());
                for (h, w) in items {
                    body.extend_from_slice(&h.to_le_bytes());
                    body.extend_from_slice(&w.to_le_bytes());
                }
            }
            Repr::Dense(cells) => {
                body.push(MODE_DENSE);
                body.extend_from_slice(&this.total.to_le_bytes());
                cells
                    .iter()
                    .for_each(|c| body.extend_from_slice(&c.to_le_bytes()));
            }
        });
    }

    /// Decodes a state, validating every field.
    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let ((width, depth), mut body) =
            envelope::open(bytes, Family::CountMin, |p| Ok((p.u32()?, p.u32()?)))?;
        let mut sketch = CountMin::new(width, depth)?;
        let mode = body.u8()?;
        sketch.total = body.u64()?;
        match mode {
            MODE_ITEMS => {
                let n = body.u32()? as usize;
                if n * 16 != body.remaining() {
                    return Err(SketchError::Corrupt(format!(
                        "cms item list declares {n} items in {} bytes",
                        body.remaining()
                    )));
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push((body.u64()?, body.u64()?));
                }
                sketch.pending = items.len();
                sketch.repr = Repr::Items(items);
                sketch.compact_items();
            }
            MODE_DENSE => {
                if body.remaining() != sketch.cells() * 8 {
                    return Err(SketchError::Corrupt(format!(
                        "cms counter table has {} bytes, expected {}",
                        body.remaining(),
                        sketch.cells() * 8
                    )));
                }
                let cells: Vec<u64> = (0..sketch.cells())
                    .map(|_| body.u64())
                    .collect::<Result<_>>()?;
                sketch.repr = Repr::Dense(cells.into_boxed_slice());
            }
            other => return Err(SketchError::Corrupt(format!("unknown cms mode {other}"))),
        }
        body.finish("cms body")?;
        Ok(sketch)
    }

    /// Adds `other` in: afterwards this sketch answers for both streams.
    fn merge(&mut self, other: &CountMin) -> Result<()> {
        self.check_compatible(other)?;
        match &other.repr {
            Repr::Items(items) => {
                for &(h, w) in items {
                    self.insert_hash(h, w);
                }
            }
            Repr::Dense(theirs) => {
                self.densify();
                self.total = self.total.saturating_add(other.total);
                if let Repr::Dense(cells) = &mut self.repr {
                    cells
                        .iter_mut()
                        .zip(theirs.iter())
                        .for_each(|(a, b)| *a = a.saturating_add(*b));
                }
            }
        }
        Ok(())
    }

    fn describe(&self) -> Description {
        let epsilon = std::f64::consts::E / self.width() as f64;
        Description {
            parameters: format!("width={}, depth={}", self.width(), self.depth()),
            mode: if self.is_dense() { "dense" } else { "items" }.to_string(),
            items: self.total(),
            details: format!(
                "epsilon={:.6}, delta={:.6}, max_overestimate={:.0}",
                epsilon,
                (-(self.depth() as f64)).exp(),
                epsilon * self.total() as f64
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch::hash::hash_i64;
    use crate::sketch::testdata::splitmix;

    /// A Zipf(1.1) stream over `distinct` values with exact counts.
    fn zipf_stream(n: usize, distinct: usize, seed: u64) -> (Vec<i64>, Vec<u64>) {
        let mut cdf = Vec::with_capacity(distinct);
        let mut acc = 0.0;
        for i in 1..=distinct {
            acc += 1.0 / (i as f64).powf(1.1);
            cdf.push(acc);
        }
        let mut state = seed;
        let mut counts = vec![0u64; distinct];
        let values = (0..n)
            .map(|_| {
                let u = (splitmix(&mut state) >> 11) as f64 / (1u64 << 53) as f64 * acc;
                let v = cdf.partition_point(|&c| c < u).min(distinct - 1);
                counts[v] += 1;
                v as i64
            })
            .collect();
        (values, counts)
    }

    #[test]
    fn densify_keeps_the_estimates() {
        let (values, counts) = zipf_stream(20_000, 2_000, 3);
        let mut small = CountMin::with_error(0.001, 0.01).unwrap();
        let mut dense = small.clone();
        dense.densify();
        assert!(dense.is_dense());
        for &v in &values {
            small.insert_hash(hash_i64(v), 1);
            dense.insert_hash(hash_i64(v), 1);
        }
        assert!(!small.is_dense(), "2,000 values stay in the small form");
        assert!(dense.is_dense());
        assert_eq!(dense.total(), small.total());
        for (v, &truth) in counts.iter().enumerate() {
            let h = hash_i64(v as i64);
            assert_eq!(dense.estimate(h), small.estimate(h));
            assert!(dense.estimate(h) >= truth);
        }
        small.densify();
        assert_eq!(small, dense);
        dense.densify(); // idempotent
        assert_eq!(small, dense);
    }

    #[test]
    fn defaults_match_the_documented_size() {
        assert_eq!(
            dimensions(DEFAULT_EPSILON, DEFAULT_DELTA).unwrap(),
            (2719, 5)
        );
        assert!(dimensions(0.0, 0.5).is_err());
        assert!(dimensions(0.1, 1.0).is_err());
        assert!(dimensions(1e-9, 0.01).is_err());
        assert!(CountMin::new(0, 3).is_err());
    }

    #[test]
    fn never_under_and_rarely_over_by_more_than_epsilon_n() {
        let (epsilon, delta) = (0.001, 0.01);
        let mut failures = 0;
        let mut checked = 0;
        for seed in 0..5 {
            let (values, counts) = zipf_stream(200_000, 50_000, seed);
            let mut s = CountMin::with_error(epsilon, delta).unwrap();
            values.iter().for_each(|&v| s.insert_hash(hash_i64(v), 1));
            let bound = (epsilon * values.len() as f64) as u64;
            for (v, &truth) in counts.iter().enumerate() {
                let est = s.estimate(hash_i64(v as i64));
                assert!(est >= truth, "under-estimate {est} < {truth}");
                checked += 1;
                if est - truth > bound {
                    failures += 1;
                }
            }
        }
        let rate = failures as f64 / checked as f64;
        assert!(
            rate <= delta,
            "{failures} of {checked} values over the bound: {rate} > {delta}"
        );
    }

    #[test]
    fn frequent_values_stay_in_the_small_form() {
        let mut s = CountMin::with_error(0.001, 0.01).unwrap();
        for i in 0..100_000i64 {
            s.insert_hash(hash_i64(i % 12), 1);
        }
        assert!(!s.is_dense());
        assert!(s.to_bytes().len() < 1_000, "{}", s.to_bytes().len());
        assert_eq!(s.estimate(hash_i64(3)), 100_000 / 12 + 1);
    }

    #[test]
    fn items_form_answers_like_the_dense_form() {
        let mut small = CountMin::new(64, 4).unwrap();
        for i in 0..100 {
            small.insert_hash(hash_i64(i % 37), 1 + i as u64 % 3);
        }
        assert!(!small.is_dense());
        let mut dense = small.clone();
        dense.densify();
        for v in 0..60 {
            assert_eq!(small.estimate(hash_i64(v)), dense.estimate(hash_i64(v)));
        }
    }

    #[test]
    fn merge_equals_the_sketch_of_both_and_retract_undoes_it() {
        let mut a = CountMin::new(500, 4).unwrap();
        let mut b = CountMin::new(500, 4).unwrap();
        let mut both = CountMin::new(500, 4).unwrap();
        for i in 0..5_000i64 {
            let (h, w) = (hash_i64(i % 700), (i % 5) as u64);
            if i % 3 == 0 {
                a.insert_hash(h, w)
            } else {
                b.insert_hash(h, w)
            }
            both.insert_hash(h, w);
        }
        let before = a.clone();
        a.merge(&b).unwrap();
        for v in 0..700 {
            assert_eq!(a.estimate(hash_i64(v)), both.estimate(hash_i64(v)));
        }
        assert_eq!(a.total(), both.total());
        a.retract(&b).unwrap();
        for v in 0..700 {
            assert_eq!(a.estimate(hash_i64(v)), before.estimate(hash_i64(v)));
        }
        // Retracting from the items form keeps it.
        let mut small = CountMin::new(500, 4).unwrap();
        let mut part = CountMin::new(500, 4).unwrap();
        let (one, five) = (hash_i64(1), hash_i64(5));
        small.insert_hash(one, 2);
        small.insert_hash(five, 1);
        part.insert_hash(five, 1);
        small.retract(&part).unwrap();
        assert!(!small.is_dense());
        assert_eq!(
            (small.estimate(five), small.estimate(one), small.total()),
            (0, 2, 2)
        );
        assert!(CountMin::new(10, 2).unwrap().retract(&b).is_err());
        assert!(a.merge(&CountMin::new(501, 4).unwrap()).is_err());
    }

    #[test]
    fn round_trips_and_rejects_corrupt_states() {
        let mut s = CountMin::new(100, 3).unwrap();
        s.insert_hash(42, 3);
        let small = s.to_bytes();
        assert_eq!(CountMin::from_bytes(&small).unwrap(), s);
        (0..500).for_each(|i| s.insert_hash(hash_i64(i), 1));
        assert!(s.is_dense());
        assert_eq!(CountMin::from_bytes(&s.to_bytes()).unwrap(), s);
        let env = envelope::decode(&small, Family::CountMin).unwrap();
        let mut body = env.body.to_vec();
        body[9..13].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(
            CountMin::from_bytes(&envelope::encode(Family::CountMin, env.params, &body)).is_err()
        );
        let huge = [0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0, 0, 0];
        assert!(
            CountMin::from_bytes(&envelope::encode(Family::CountMin, &huge, env.body)).is_err()
        );
        assert!(CountMin::from_bytes(&small[..small.len() - 1]).is_err());
    }
}
