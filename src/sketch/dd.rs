//! DDSketch: quantiles with a relative error guarantee on the value.
//!
//! # Algorithm
//! The sketch of Masson, Rim and Lee ("DDSketch: a fast and fully-mergeable quantile sketch
//! with relative-error guarantees", VLDB 2019) with its logarithmic mapping. For a relative
//! accuracy `alpha`, let `gamma = (1 + alpha) / (1 - alpha)`. A positive value `v` falls in the
//! bucket of key `ceil(ln(v) / ln(gamma))`, which covers `(gamma^(key-1), gamma^key]`; the
//! bucket answers with `2·gamma^key / (gamma + 1)`, within relative error `alpha` of every
//! value in it. Negative values are counted by `|v|` in a second store; values with
//! `|v| < f64::MIN_POSITIVE` (zero, `-0.0` and subnormals) in a zero counter; `+inf` and `-inf`
//! in two more counters. Each store is a dense array of counters over a window of keys, so an
//! insert is a logarithm and an increment (amortized O(1); the window grows geometrically).
//!
//! # Guarantees
//! [`DdSketch::quantile`]`(q)` answers for the value at 0-based rank `floor(q · (n - 1))` of
//! the sorted values (the lower one when `q · (n - 1)` is not an integer): the returned value
//! is within relative error `alpha` of that value (`|returned - true| <= alpha · |true|`), for
//! every `q`, whatever the distribution; `q = 0` and `q = 1` give the exact minimum and
//! maximum, and every answer is clamped to `[min, max]`. Values counted as zero come back as
//! `0.0`, infinities as themselves. Memory depends on the range of the data, not on `n`:
//! about `ln(max/min) / (2·alpha)` buckets per store, 115 per decade at `alpha = 0.01`
//! (10^7 lognormal values with σ = 1: 485 buckets, a 1,169-byte state).
//!
//! # Bucket bound
//! Each store spans at most `max_buckets` consecutive keys ([`DEFAULT_MAX_BUCKETS`] = 2048,
//! 17.8 decades at 1%). When a value would widen a store beyond that, the store's
//! **lowest-magnitude** buckets are collapsed into one, which then answers for everything below
//! it. The high-magnitude end keeps its guarantee (the tail quantiles of latencies and sizes);
//! quantiles whose value lies in a collapsed bucket (the smallest positive values, or the
//! negative values closest to zero) lose it. [`DdSketch::is_collapsed`] tells whether that
//! ever happened to this sketch or to one merged into it.
//!
//! # Merging
//! Counts add bucket by bucket, so merging is exact: a merge of sketches answers exactly as one
//! sketch of all the values would (until the bucket bound collapses buckets). Only sketches of
//! the same `alpha` and `max_buckets` merge.
//!
//! # NaN and infinities
//! NaN is ignored (not counted). `+inf` and `-inf` are counted and returned at their ranks.
//!
//! ```
//! use hazy::sketch::Sketch;
//! use hazy::sketch::dd::DdSketch;
//! let mut s = DdSketch::new(0.01).unwrap();
//! for i in 1..=100_000 {
//!     s.insert(i as f64);
//! }
//! s.insert(f64::NAN); // ignored
//! assert_eq!(s.count(), 100_000);
//! let p99 = s.quantile(0.99).unwrap().unwrap();
//! let truth = 99_000.0; // rank floor(0.99 · 99,999) = 98,999, value 99,000
//! assert!((p99 - truth).abs() <= 0.01 * truth);
//! assert_eq!(s.quantile(1.0).unwrap(), Some(100_000.0));
//! let restored = DdSketch::from_bytes(&s.to_bytes()).unwrap();
//! assert_eq!(restored, s);
//! ```

use super::envelope::{self, Family, Reader};
use super::error::{Result, SketchError, check_q, check_range};
use super::state::{Description, Sketch, show};

/// Default relative accuracy: 1%.
pub const DEFAULT_ALPHA: f64 = 0.01;
/// Smallest accepted relative accuracy.
pub const MIN_ALPHA: f64 = 1e-6;
/// Default bound on the keys spanned by each store.
pub const DEFAULT_MAX_BUCKETS: u32 = 2048;
/// Accepted range of `max_buckets`.
pub const MIN_MAX_BUCKETS: u32 = 16;
pub const MAX_MAX_BUCKETS: u32 = 1 << 20;
/// The smallest magnitude with a bucket of its own: smaller ones count as zero.
pub const MIN_INDEXABLE: f64 = f64::MIN_POSITIVE;

/// Smallest window a store allocates.
const MIN_WINDOW: usize = 32;
const FLAG_COLLAPSED: u8 = 1;
const FLAG_POSITIVE_FLOOR: u8 = 2;
const FLAG_NEGATIVE_FLOOR: u8 = 4;

/// Counters over a window of consecutive keys.
#[derive(Debug, Clone, Default)]
struct Store {
    /// Key of `counts[0]`.
    offset: i32,
    /// The window; may have zero counters at both ends.
    counts: Vec<u64>,
    /// Set by a collapse: `counts[floor_at]` (never zero then) counts every value whose key
    /// is at or below its own, and later values below the window land there.
    floor: bool,
    /// Index of the floor counter; the counters below it are zero. After a collapse the window
    /// keeps room above its top, and keys rising past the span limit fold the lowest counters
    /// into the floor in place (each counter folds once), so rising values cost the same as
    /// falling ones instead of a rebuild of the whole window per new key.
    floor_at: usize,
    /// Counters at `floor_at..limit` take values without a rebuild: the window's length, or
    /// after a collapse `max_buckets` counters from the floor.
    limit: usize,
}

impl PartialEq for Store {
    /// Equal when they count alike, whatever the windows' padding.
    fn eq(&self, other: &Self) -> bool {
        self.floor == other.floor && self.occupied() == other.occupied()
    }
}

impl Store {
    /// Key of the lowest non-zero counter and the counters from it to the highest non-zero one.
    fn occupied(&self) -> (i32, &[u64]) {
        match self.counts.iter().position(|&c| c != 0) {
            None => (0, &[]),
            Some(first) => {
                let last = self.counts.iter().rposition(|&c| c != 0).unwrap_or(first);
                (self.offset + first as i32, &self.counts[first..=last])
            }
        }
    }

    fn num_nonzero(&self) -> usize {
        self.counts.iter().filter(|&&c| c != 0).count()
    }

    /// Adds `count` at `key`; returns whether buckets had to be collapsed.
    #[inline]
    fn add(&mut self, key: i32, count: u64, max_buckets: usize) -> bool {
        let idx = key as i64 - self.offset as i64;
        let floor_at = self.floor_at as i64;
        if idx >= floor_at && idx < self.limit as i64 {
            self.counts[idx as usize] += count;
            false
        } else if idx < floor_at && self.floor {
            self.counts[self.floor_at] += count;
            false
        } else if self.floor && idx < self.counts.len() as i64 {
            self.fold_up_to(idx as usize, count, max_buckets);
            true
        } else {
            self.add_outside(key, count, max_buckets)
        }
    }

    /// Collapsed, a key above the span limit but within the window: the floor moves up so the
    /// span ends at the key, the counters it passes folding into it.
    fn fold_up_to(&mut self, idx: usize, count: u64, max_buckets: usize) {
        let new_floor = idx + 1 - max_buckets;
        let folded: u64 = self.counts[self.floor_at..new_floor].iter().sum();
        self.counts[self.floor_at..new_floor].fill(0);
        self.counts[new_floor] += folded;
        self.floor_at = new_floor;
        self.limit = (new_floor + max_buckets).min(self.counts.len());
        self.counts[idx] += count;
    }

    /// Rebuilds the window to take `key`, collapsing the lowest keys if the span would exceed
    /// `max_buckets`.
    #[cold]
    fn add_outside(&mut self, key: i32, count: u64, max_buckets: usize) -> bool {
        let (occ_lo, occupied) = self.occupied();
        let (lo, hi, growing_up) = if occupied.is_empty() {
            (key, key, None)
        } else {
            let occ_hi = occ_lo + occupied.len() as i32 - 1;
            (occ_lo.min(key), occ_hi.max(key), Some(key > occ_hi))
        };
        let mut new_lo = lo;
        let collapsed = (hi as i64 - lo as i64 + 1) > max_buckets as i64;
        if collapsed {
            new_lo = hi - (max_buckets as i32 - 1);
        }
        let span = (hi - new_lo + 1) as usize;
        let floor = self.floor || collapsed;
        // Collapsed and rising, the window keeps room above the span limit (see `floor_at`).
        let cap = if floor && growing_up != Some(false) {
            max_buckets + (max_buckets / 2).max(MIN_WINDOW)
        } else {
            max_buckets
        };
        let len = (span + span / 2).max(MIN_WINDOW).min(cap).max(span);
        let slack = (len - span) as i32;
        let start = match growing_up {
            _ if collapsed || self.floor => new_lo,
            None => new_lo - slack / 2,
            Some(true) => new_lo,
            Some(false) => new_lo - slack,
        };
        let mut counts = vec![0u64; len];
        for (i, &c) in self.counts.iter().enumerate() {
            if c != 0 {
                let k = (self.offset + i as i32).max(new_lo);
                counts[(k - start) as usize] += c;
            }
        }
        counts[(key.max(new_lo) - start) as usize] += count;
        self.counts = counts;
        self.offset = start;
        self.floor = floor;
        self.floor_at = 0;
        self.limit = if floor { len.min(max_buckets) } else { len };
        collapsed
    }

    /// Adds every counter of `other`; returns whether buckets had to be collapsed.
    fn merge(&mut self, other: &Store, max_buckets: usize) -> bool {
        let (lo, counts) = other.occupied();
        let mut collapsed = false;
        // From the top down: the window settles at the high end first.
        for (i, &c) in counts.iter().enumerate().rev() {
            if c != 0 {
                collapsed |= self.add(lo + i as i32, c, max_buckets);
            }
        }
        collapsed
    }

    /// The key of the bucket holding the 0-based rank `rank` within this store, counting from
    /// the lowest key; `Err(number of values in the store)` when `rank` lies past it.
    fn key_at(&self, rank: u64) -> std::result::Result<i32, u64> {
        let mut cumulative = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            cumulative += c;
            if rank < cumulative {
                return Ok(self.offset + i as i32);
            }
        }
        Err(cumulative)
    }

    /// As [`Store::key_at`], counted from the highest key down.
    fn key_at_from_top(&self, rank: u64) -> std::result::Result<i32, u64> {
        let mut cumulative = 0u64;
        for (i, &c) in self.counts.iter().enumerate().rev() {
            cumulative += c;
            if rank < cumulative {
                return Ok(self.offset + i as i32);
            }
        }
        Err(cumulative)
    }

    fn write(&self, out: &mut Vec<u8>) {
        let (lo, counts) = self.occupied();
        out.extend_from_slice(&lo.to_le_bytes());
        out.extend_from_slice(&(counts.len() as u32).to_le_bytes());
        for &c in counts {
            write_varint(c, out);
        }
    }

    /// Reads a store written by [`Store::write`], checking it against the key range and bound.
    fn read(
        r: &mut Reader,
        floor: bool,
        keys: (i32, i32),
        max_buckets: u32,
        what: &str,
    ) -> Result<Self> {
        let corrupt = |m: String| Err(SketchError::Corrupt(m));
        let offset = r.u32()? as i32;
        let m = r.u32()?;
        if m > max_buckets {
            return corrupt(format!(
                "dd {what} store spans {m} buckets, more than max_buckets {max_buckets}"
            ));
        }
        if m as usize > r.remaining() {
            return corrupt(format!(
                "dd {what} store declares {m} buckets in {} bytes",
                r.remaining()
            ));
        }
        if m == 0 {
            if offset != 0 || floor {
                return corrupt(format!("dd empty {what} store has an offset or a floor"));
            }
            return Ok(Store::default());
        }
        let last = offset as i64 + m as i64 - 1;
        if (offset as i64) < keys.0 as i64 || last > keys.1 as i64 {
            return corrupt(format!(
                "dd {what} store keys {offset}..={last} outside {}..={}",
                keys.0, keys.1
            ));
        }
        let counts: Vec<u64> = (0..m).map(|_| read_varint(r)).collect::<Result<_>>()?;
        if counts[0] == 0 || counts[counts.len() - 1] == 0 {
            return corrupt(format!("dd {what} store has empty end buckets"));
        }
        let limit = counts.len();
        Ok(Store {
            offset,
            counts,
            floor,
            floor_at: 0,
            limit,
        })
    }
}

/// Appends `v` as unsigned LEB128 (7 bits a byte, low bits first, high bit = more follows).
fn write_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads an unsigned LEB128 of at most 10 bytes, rejecting overflow and redundant zero bytes.
fn read_varint(r: &mut Reader) -> Result<u64> {
    let mut v = 0u64;
    for i in 0..10 {
        let b = r.u8()?;
        if i == 9 && b > 1 {
            break;
        }
        v |= ((b & 0x7F) as u64) << (7 * i);
        if b & 0x80 == 0 {
            if b == 0 && i > 0 {
                break;
            }
            return Ok(v);
        }
    }
    Err(SketchError::Corrupt(
        "dd bucket count is not a valid varint".into(),
    ))
}

/// A DDSketch over `f64`.
#[derive(Debug, Clone)]
pub struct DdSketch {
    alpha: f64,
    max_buckets: u32,
    /// `ln(gamma)` and its inverse.
    ln_gamma: f64,
    inv_ln_gamma: f64,
    /// `ln(1 - alpha)`: a bucket answers `exp(key · ln_gamma + ln_one_minus_alpha)`.
    ln_one_minus_alpha: f64,
    count: u64,
    /// Exact extremes; `+inf` / `-inf` while empty.
    min: f64,
    max: f64,
    zero: u64,
    neg_inf: u64,
    pos_inf: u64,
    positive: Store,
    /// Negative values, by magnitude.
    negative: Store,
    collapsed: bool,
}

impl PartialEq for DdSketch {
    fn eq(&self, other: &Self) -> bool {
        self.alpha == other.alpha
            && self.max_buckets == other.max_buckets
            && self.count == other.count
            && self.min == other.min
            && self.max == other.max
            && (self.zero, self.neg_inf, self.pos_inf) == (other.zero, other.neg_inf, other.pos_inf)
            && self.collapsed == other.collapsed
            && self.positive == other.positive
            && self.negative == other.negative
    }
}

impl DdSketch {
    /// An empty sketch with relative accuracy `alpha` (in `[1e-6, 1)`) and
    /// [`DEFAULT_MAX_BUCKETS`].
    pub fn new(alpha: f64) -> Result<Self> {
        Self::with_max_buckets(alpha, DEFAULT_MAX_BUCKETS)
    }

    /// An empty sketch with relative accuracy `alpha` (in `[1e-6, 1)`) whose stores each span
    /// at most `max_buckets` keys (16..=1,048,576).
    pub fn with_max_buckets(alpha: f64, max_buckets: u32) -> Result<Self> {
        if !(MIN_ALPHA..1.0).contains(&alpha) {
            return Err(SketchError::InvalidParameter(format!(
                "dd relative accuracy alpha must lie in [{MIN_ALPHA}, 1), got {alpha}"
            )));
        }
        check_range(
            "dd max_buckets",
            max_buckets,
            MIN_MAX_BUCKETS..=MAX_MAX_BUCKETS,
        )?;
        let ln_gamma = alpha.ln_1p() - (-alpha).ln_1p();
        Ok(Self {
            alpha,
            max_buckets,
            ln_gamma,
            inv_ln_gamma: 1.0 / ln_gamma,
            ln_one_minus_alpha: (-alpha).ln_1p(),
            count: 0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            zero: 0,
            neg_inf: 0,
            pos_inf: 0,
            positive: Store::default(),
            negative: Store::default(),
            collapsed: false,
        })
    }

    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    pub fn max_buckets(&self) -> u32 {
        self.max_buckets
    }

    /// `gamma = (1 + alpha) / (1 - alpha)`, the ratio between consecutive bucket bounds.
    pub fn gamma(&self) -> f64 {
        self.ln_gamma.exp()
    }

    /// Values inserted (NaN excluded), summed over merges.
    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The exact smallest value, `None` when empty.
    pub fn min(&self) -> Option<f64> {
        (self.count > 0).then_some(self.min)
    }

    /// The exact largest value, `None` when empty.
    pub fn max(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max)
    }

    /// Values counted as zero (`|v| < f64::MIN_POSITIVE`).
    pub fn zero_count(&self) -> u64 {
        self.zero
    }

    /// Non-empty buckets in the positive and the negative store (the zero and infinity
    /// counters are not buckets).
    pub fn num_buckets(&self) -> usize {
        self.positive.num_nonzero() + self.negative.num_nonzero()
    }

    /// Whether the bucket bound ever collapsed buckets, in this sketch or in one merged in.
    pub fn is_collapsed(&self) -> bool {
        self.collapsed
    }

    /// The bucket key of a magnitude in `[MIN_INDEXABLE, f64::MAX]`.
    #[inline]
    fn key(&self, magnitude: f64) -> i32 {
        (magnitude.ln() * self.inv_ln_gamma).ceil() as i32
    }

    /// The value a bucket answers with: `2·gamma^key / (gamma + 1) = gamma^key · (1 - alpha)`.
    fn value(&self, key: i32) -> f64 {
        (key as f64 * self.ln_gamma + self.ln_one_minus_alpha).exp()
    }

    /// The keys a store can hold: those of `MIN_INDEXABLE` and `f64::MAX`.
    fn key_range(&self) -> (i32, i32) {
        (self.key(MIN_INDEXABLE), self.key(f64::MAX))
    }

    /// Adds a value; NaN is ignored.
    #[inline]
    pub fn insert(&mut self, v: f64) {
        // A full counter (only a crafted state gets there) keeps the sketch consistent.
        if v.is_nan() || self.count == u64::MAX {
            return;
        }
        let v = v + 0.0; // -0.0 becomes 0.0
        self.count += 1;
        if v < self.min {
            self.min = v;
        }
        if v > self.max {
            self.max = v;
        }
        let magnitude = v.abs();
        if magnitude < MIN_INDEXABLE {
            self.zero += 1;
        } else if magnitude == f64::INFINITY {
            if v > 0.0 {
                self.pos_inf += 1;
            } else {
                self.neg_inf += 1;
            }
        } else {
            let key = self.key(magnitude);
            let store = if v > 0.0 {
                &mut self.positive
            } else {
                &mut self.negative
            };
            if store.add(key, 1, self.max_buckets as usize) {
                self.collapsed = true;
            }
        }
    }

    /// Adds many values (NaN ignored).
    pub fn insert_many(&mut self, values: &[f64]) {
        values.iter().for_each(|&v| self.insert(v));
    }

    /// The value at 0-based rank `floor(q · (n - 1))`, within relative error `alpha` (unless
    /// its bucket was collapsed) and clamped to `[min, max]`; `q = 0` and `q = 1` give the
    /// exact minimum and maximum. `None` when empty; an error when `q` is NaN or outside
    /// `[0, 1]`.
    pub fn quantile(&self, q: f64) -> Result<Option<f64>> {
        check_q(q)?;
        Ok((self.count > 0).then(|| self.value_at(q)))
    }

    /// [`DdSketch::quantile`] for many `q` at once.
    pub fn quantiles(&self, qs: &[f64]) -> Result<Option<Vec<f64>>> {
        qs.iter().try_for_each(|&q| check_q(q))?;
        Ok((self.count > 0).then(|| qs.iter().map(|&q| self.value_at(q)).collect()))
    }

    /// The answer for a valid `q` in a non-empty sketch.
    fn value_at(&self, q: f64) -> f64 {
        if q <= 0.0 {
            return self.min;
        }
        if q >= 1.0 {
            return self.max;
        }
        let mut rank = ((q * (self.count - 1) as f64).floor() as u64).min(self.count - 1);
        let value = 'found: {
            if rank < self.neg_inf {
                break 'found f64::NEG_INFINITY;
            }
            rank -= self.neg_inf;
            match self.negative.key_at_from_top(rank) {
                Ok(key) => break 'found -self.value(key),
                Err(seen) => rank -= seen,
            }
            if rank < self.zero {
                break 'found 0.0;
            }
            rank -= self.zero;
            match self.positive.key_at(rank) {
                Ok(key) => self.value(key),
                Err(_) => f64::INFINITY,
            }
        };
        value.clamp(self.min, self.max)
    }
}

impl super::Quantiles for DdSketch {
    const QUANTILE: fn(&Self, f64) -> Result<Option<f64>> = Self::quantile;
}

impl Sketch for DdSketch {
    const FAMILY: Family = Family::DDSketch;

    /// Heap bytes held (for memory accounting).
    fn heap_size(&self) -> usize {
        (self.positive.counts.capacity() + self.negative.counts.capacity()) * 8
    }

    /// Appends the serialized state (see `docs/FORMAT.md`).
    fn write_to(&self, out: &mut Vec<u8>) {
        let mut params = [0u8; 12];
        params[..8].copy_from_slice(&self.alpha.to_le_bytes());
        params[8..].copy_from_slice(&self.max_buckets.to_le_bytes());
        envelope::encode_with(Family::DDSketch, &params, out, |body| {
            body.extend_from_slice(&self.count.to_le_bytes());
            body.extend_from_slice(&self.min.to_le_bytes());
            body.extend_from_slice(&self.max.to_le_bytes());
            body.extend_from_slice(&self.zero.to_le_bytes());
            body.extend_from_slice(&self.neg_inf.to_le_bytes());
            body.extend_from_slice(&self.pos_inf.to_le_bytes());
            let mut flags = 0;
            if self.collapsed {
                flags |= FLAG_COLLAPSED;
            }
            if self.positive.floor {
                flags |= FLAG_POSITIVE_FLOOR;
            }
            if self.negative.floor {
                flags |= FLAG_NEGATIVE_FLOOR;
            }
            body.push(flags);
            self.positive.write(body);
            self.negative.write(body);
        });
    }

    /// Decodes a state, validating every field.
    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let ((alpha, max_buckets), mut body) =
            envelope::open(bytes, Family::DDSketch, |p| Ok((p.f64()?, p.u32()?)))?;
        let mut s = DdSketch::with_max_buckets(alpha, max_buckets)?;
        let corrupt = |m: String| Err(SketchError::Corrupt(m));
        let count = body.u64()?;
        let (min, max) = (body.f64()?, body.f64()?);
        let (zero, neg_inf, pos_inf) = (body.u64()?, body.u64()?, body.u64()?);
        let flags = body.u8()?;
        if flags & !(FLAG_COLLAPSED | FLAG_POSITIVE_FLOOR | FLAG_NEGATIVE_FLOOR) != 0 {
            return corrupt(format!("dd flags {flags:#04x} has unknown bits"));
        }
        let floors = FLAG_POSITIVE_FLOOR | FLAG_NEGATIVE_FLOOR;
        if flags & floors != 0 && flags & FLAG_COLLAPSED == 0 {
            return corrupt("dd store has a collapse floor but the sketch is not collapsed".into());
        }
        let keys = s.key_range();
        let positive = Store::read(
            &mut body,
            flags & FLAG_POSITIVE_FLOOR != 0,
            keys,
            max_buckets,
            "positive",
        )?;
        let negative = Store::read(
            &mut body,
            flags & FLAG_NEGATIVE_FLOOR != 0,
            keys,
            max_buckets,
            "negative",
        )?;
        body.finish("dd body")?;
        let (pos_total, neg_total) = (positive.total_u128(), negative.total_u128());
        let sum = zero as u128 + neg_inf as u128 + pos_inf as u128 + pos_total + neg_total;
        if sum != count as u128 {
            return corrupt(format!(
                "dd buckets and counters hold {sum} values, the count says {count}"
            ));
        }
        if count == 0 {
            if min != f64::INFINITY || max != f64::NEG_INFINITY || flags != 0 {
                return corrupt("an empty dd state has extremes or flags".into());
            }
            return Ok(s);
        }
        let negative_zero = |x: f64| x == 0.0 && x.is_sign_negative();
        if min.is_nan() || max.is_nan() || min > max || negative_zero(min) || negative_zero(max) {
            return corrupt(format!("dd extremes [{min}, {max}] are not a range"));
        }
        let consistent = (neg_inf > 0) == (min == f64::NEG_INFINITY)
            && (pos_inf > 0) == (max == f64::INFINITY)
            && (pos_total == 0 || max >= MIN_INDEXABLE)
            && (neg_total == 0 || min <= -MIN_INDEXABLE)
            && (zero == 0 || (min < MIN_INDEXABLE && max > -MIN_INDEXABLE))
            && (neg_total + neg_inf as u128 > 0 || min > -MIN_INDEXABLE)
            && (pos_total + pos_inf as u128 > 0 || max < MIN_INDEXABLE);
        if !consistent {
            return corrupt(format!(
                "dd extremes [{min}, {max}] contradict the counters"
            ));
        }
        s.count = count;
        s.min = min;
        s.max = max;
        s.zero = zero;
        s.neg_inf = neg_inf;
        s.pos_inf = pos_inf;
        s.positive = positive;
        s.negative = negative;
        s.collapsed = flags & FLAG_COLLAPSED != 0;
        Ok(s)
    }

    /// Adds `other` in: afterwards this sketch answers for both streams. Only sketches of the
    /// same `alpha` and `max_buckets` merge.
    fn merge(&mut self, other: &DdSketch) -> Result<()> {
        if self.alpha != other.alpha || self.max_buckets != other.max_buckets {
            return Err(SketchError::Incompatible(format!(
                "dd sketches of alpha {} and max_buckets {} cannot merge with alpha {} and max_buckets {} (build both with the same parameters)",
                self.alpha, self.max_buckets, other.alpha, other.max_buckets
            )));
        }
        let count = self.count.checked_add(other.count).ok_or_else(|| {
            SketchError::Incompatible("dd merge: the total count overflows u64".into())
        })?;
        if other.count == 0 {
            return Ok(());
        }
        self.count = count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.zero += other.zero;
        self.neg_inf += other.neg_inf;
        self.pos_inf += other.pos_inf;
        let mb = self.max_buckets as usize;
        let collapsed_pos = self.positive.merge(&other.positive, mb);
        let collapsed_neg = self.negative.merge(&other.negative, mb);
        self.collapsed |= other.collapsed || collapsed_pos || collapsed_neg;
        Ok(())
    }

    fn describe(&self) -> Description {
        let mode = if self.is_collapsed() {
            "collapsed"
        } else {
            "exact-range"
        };
        Description {
            parameters: format!("alpha={}, max_buckets={}", self.alpha(), self.max_buckets()),
            mode: mode.to_string(),
            items: self.count(),
            details: format!(
                "buckets={}, min={}, max={}",
                self.num_buckets(),
                show(self.min()),
                show(self.max())
            ),
        }
    }
}

impl Store {
    /// Total in u128, safe on decoded counters.
    fn total_u128(&self) -> u128 {
        self.counts.iter().map(|&c| c as u128).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch::testdata::{
        DISTRIBUTIONS, Data, Mutation, Rng, assert_mutations_rejected, count_and_extreme_mutations,
    };

    const DATA: Data = Data {
        salt: 0xC0FFEE,
        uniform_shift: 0.0,
        lognormal_sigma: 2.0,
        distributions: &DISTRIBUTIONS,
    };

    /// The largest relative error over a grid of q, against the exact sorted values; panics
    /// beyond `alpha` (with room for floating-point rounding).
    fn max_relative_error(s: &DdSketch, sorted: &[f64], what: &str) -> f64 {
        let alpha = s.alpha();
        let n = sorted.len();
        let mut worst: f64 = 0.0;
        let qs: Vec<f64> = (0..=1000).map(|i| i as f64 / 1000.0).collect();
        let estimates = s.quantiles(&qs).unwrap().unwrap();
        for (&q, est) in qs.iter().zip(estimates) {
            let truth = sorted[(q * (n - 1) as f64).floor() as usize];
            let err = if truth == est {
                0.0
            } else {
                (est - truth).abs() / truth.abs()
            };
            assert!(
                err <= alpha * (1.0 + 1e-9),
                "{what}: q = {q}: estimate {est} for {truth}, relative error {err}"
            );
            worst = worst.max(err);
        }
        worst
    }

    #[test]
    fn every_quantile_is_within_alpha() {
        let mut worst: f64 = 0.0;
        for alpha in [0.01, 0.001, 0.05] {
            for &dist in DATA.distributions {
                for seed in 0..3 {
                    let values = DATA.values(dist, 50_000, seed);
                    let mut s = DdSketch::with_max_buckets(alpha, MAX_MAX_BUCKETS).unwrap();
                    values.iter().for_each(|&v| s.insert(v));
                    assert!(!s.is_collapsed(), "{dist}");
                    let mut sorted = values;
                    sorted.sort_by(f64::total_cmp);
                    assert_eq!(s.min(), sorted.first().copied());
                    assert_eq!(s.max(), sorted.last().copied());
                    let e = max_relative_error(&s, &sorted, dist);
                    if alpha == 0.01 {
                        worst = worst.max(e);
                    }
                }
            }
        }
        eprintln!("dd max relative error at alpha 1%: {:.6}%", worst * 100.0);
        assert!(worst > 0.005, "suspiciously exact: {worst}");
    }

    #[test]
    fn merged_sketches_answer_like_one_sketch() {
        for &dist in DATA.distributions {
            let values = DATA.values(dist, 100_000, 7);
            let new = || DdSketch::with_max_buckets(DEFAULT_ALPHA, 100_000).unwrap();
            let mut whole = new();
            values.iter().for_each(|&v| whole.insert(v));
            assert!(!whole.is_collapsed());
            let mut merged = new();
            for part in values.chunks(1_000) {
                let mut p = new();
                p.insert_many(part);
                merged.merge(&p).unwrap();
            }
            assert_eq!(merged, whole, "{dist}");
            assert_eq!(merged.to_bytes(), whole.to_bytes(), "{dist}");
            let mut sorted = values;
            sorted.sort_by(f64::total_cmp);
            max_relative_error(&merged, &sorted, dist);
        }
    }

    #[test]
    fn zeros_negatives_and_infinities() {
        let mut s = DdSketch::new(0.01).unwrap();
        for v in [
            -5.0,
            -0.0,
            0.0,
            1e-320,
            3.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
        ] {
            s.insert(v);
        }
        assert_eq!(s.count(), 7);
        assert_eq!(s.zero_count(), 3);
        assert_eq!(s.min(), Some(f64::NEG_INFINITY));
        assert_eq!(s.max(), Some(f64::INFINITY));
        let qs = s
            .quantiles(&[0.0, 1.0 / 6.0, 2.0 / 6.0, 0.5, 4.0 / 6.0, 5.0 / 6.0, 1.0])
            .unwrap()
            .unwrap();
        assert_eq!(qs[0], f64::NEG_INFINITY);
        assert!((qs[1] + 5.0).abs() <= 0.05, "{}", qs[1]);
        assert_eq!(&qs[2..5], &[0.0, 0.0, 0.0]);
        assert!((qs[5] - 3.0).abs() <= 0.03, "{}", qs[5]);
        assert_eq!(qs[6], f64::INFINITY);
        assert_eq!(s.quantile(0.1).unwrap(), Some(f64::NEG_INFINITY));
        assert!((s.quantile(0.99).unwrap().unwrap() - 3.0).abs() <= 0.03);
        s.insert(f64::INFINITY);
        assert_eq!(s.quantile(0.99).unwrap(), Some(f64::INFINITY));
        assert_eq!(DdSketch::from_bytes(&s.to_bytes()).unwrap(), s);

        let mut only_zeros = DdSketch::new(0.01).unwrap();
        (0..10).for_each(|_| only_zeros.insert(0.0));
        only_zeros.insert(-0.0);
        assert_eq!(only_zeros.quantile(0.5).unwrap(), Some(0.0));
        assert!(only_zeros.min().unwrap().is_sign_positive());
        assert_eq!(only_zeros.num_buckets(), 0);

        // Extremes of the f64 range: about 71,000 keys apart at 1%.
        let mut big = DdSketch::with_max_buckets(0.01, 100_000).unwrap();
        for v in [f64::MAX, -f64::MAX, MIN_INDEXABLE, -MIN_INDEXABLE, 1.0] {
            big.insert(v);
        }
        let qs = big.quantiles(&[0.25, 0.5, 0.75]).unwrap().unwrap();
        assert!((qs[0] + MIN_INDEXABLE).abs() <= 0.01 * MIN_INDEXABLE * 1.000001);
        assert!((qs[1] - MIN_INDEXABLE).abs() <= 0.01 * MIN_INDEXABLE * 1.000001);
        assert!((qs[2] - 1.0).abs() <= 0.01 * (1.0 + 1e-9), "{}", qs[2]);
        big.insert(f64::MAX);
        let top = big.quantile(0.999).unwrap().unwrap();
        assert!(
            top.is_finite() && (f64::MAX - top) <= 0.01 * f64::MAX,
            "{top}"
        );
        assert_eq!(DdSketch::from_bytes(&big.to_bytes()).unwrap(), big);
        assert!(!big.is_collapsed());
        let mut bounded = DdSketch::new(0.01).unwrap();
        bounded.insert(f64::MAX);
        bounded.insert(MIN_INDEXABLE);
        assert!(bounded.is_collapsed());
        assert_eq!(bounded.num_buckets(), 2);
    }

    #[test]
    fn empty_and_parameters() {
        let s = DdSketch::new(DEFAULT_ALPHA).unwrap();
        assert!(s.is_empty());
        assert_eq!((s.count(), s.min(), s.max()), (0, None, None));
        assert_eq!(s.quantile(0.5).unwrap(), None);
        assert_eq!(s.quantiles(&[0.5]).unwrap(), None);
        assert_eq!(DdSketch::from_bytes(&s.to_bytes()).unwrap(), s);
        assert_eq!(
            s.quantile(1.5).unwrap_err().to_string(),
            "invalid parameter: quantile q must lie in [0, 1], got 1.5"
        );
        for bad in [-0.1, f64::NAN, 2.0] {
            assert!(matches!(
                s.quantile(bad),
                Err(SketchError::InvalidParameter(_))
            ));
        }
        for bad in [0.0, 1.0, -0.5, 1e-7, f64::NAN, f64::INFINITY] {
            let err = DdSketch::new(bad).unwrap_err();
            assert!(matches!(err, SketchError::InvalidParameter(_)));
            assert!(err.to_string().contains(&format!("{bad}")), "{err}");
        }
        assert!(DdSketch::new(MIN_ALPHA).is_ok());
        assert!(DdSketch::new(0.999).is_ok());
        assert!(DdSketch::with_max_buckets(0.01, 15).is_err());
        assert!(DdSketch::with_max_buckets(0.01, MAX_MAX_BUCKETS + 1).is_err());
        let g = DdSketch::new(0.01).unwrap().gamma();
        assert!((g - 1.01 / 0.99).abs() < 1e-12);
    }

    #[test]
    fn incompatible_merges_are_refused() {
        let mut a = DdSketch::new(0.01).unwrap();
        a.insert(1.0);
        let before = a.clone();
        let b = DdSketch::new(0.02).unwrap();
        let err = a.merge(&b).unwrap_err();
        assert!(matches!(err, SketchError::Incompatible(_)));
        assert!(err.to_string().contains("0.02"), "{err}");
        let c = DdSketch::with_max_buckets(0.01, 100).unwrap();
        assert!(a.merge(&c).is_err());
        assert_eq!(a, before);
    }

    #[test]
    fn rising_falling_and_shuffled_values_collapse_alike() {
        // 5,000 keys at 1% over a bound of 256: a long rise past the bound (each new key used
        // to rebuild the whole window), a fall, and a shuffle give the same sketch and bytes.
        let rising: Vec<f64> = (0..5_000).map(|i| 1.0201f64.powi(i)).collect();
        let falling: Vec<f64> = rising.iter().rev().copied().collect();
        let mut shuffled = rising.clone();
        let mut state = 7u64;
        for i in (1..shuffled.len()).rev() {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            shuffled.swap(i, (state >> 33) as usize % (i + 1));
        }
        let sketch = |values: &[f64]| {
            let mut s = DdSketch::with_max_buckets(0.01, 256).unwrap();
            values.iter().for_each(|&v| s.insert(v));
            s
        };
        let (up, down, mixed) = (sketch(&rising), sketch(&falling), sketch(&shuffled));
        assert!(up.is_collapsed());
        assert!(up.positive.occupied().1.len() <= 256);
        assert_eq!(up, down);
        assert_eq!(up, mixed);
        assert_eq!(up.to_bytes(), down.to_bytes());
        assert_eq!(up.quantile(1.0).unwrap(), Some(rising[4_999]));
        // A rise that keeps going after a round trip and a merge stays within the bound.
        let mut again = DdSketch::from_bytes(&up.to_bytes()).unwrap();
        again.insert_many(
            &(5_000..6_000)
                .map(|i| 1.0201f64.powi(i))
                .collect::<Vec<_>>(),
        );
        again.merge(&down).unwrap();
        assert!(again.positive.occupied().1.len() <= 256);
        assert_eq!(again.count(), 11_000);
    }

    #[test]
    fn collapse_keeps_the_high_quantiles() {
        // Values over 20 decades need about 2,300 keys at 1%, beyond the bound of 1,024.
        let values = DATA
            .values("tiny_and_huge", 200_000, 3)
            .into_iter()
            .map(|v| v.powf(0.1))
            .collect::<Vec<_>>();
        let mb = 1024;
        let mut s = DdSketch::with_max_buckets(0.01, mb).unwrap();
        values.iter().for_each(|&v| s.insert(v));
        assert!(s.is_collapsed());
        let (lo, counts) = s.positive.occupied();
        assert!(counts.len() <= mb as usize, "{}", counts.len());
        assert!(s.num_buckets() <= mb as usize);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        // Every value above the collapsed bucket keeps its guarantee.
        let floor_value = s.value(lo);
        let mut checked = 0;
        for i in 0..=1000 {
            let q = i as f64 / 1000.0;
            let truth = sorted[(q * (n - 1) as f64).floor() as usize];
            let est = s.quantile(q).unwrap().unwrap();
            if truth > floor_value * 1.02 {
                assert!((est - truth).abs() <= 0.01 * truth * (1.0 + 1e-9), "q {q}");
                checked += 1;
            }
        }
        assert!(checked > 200, "{checked}");
        // The lowest quantiles lost it.
        let low = s.quantile(0.01).unwrap().unwrap();
        let truth = sorted[(0.01 * (n - 1) as f64) as usize];
        assert!((low - truth).abs() > 0.01 * truth);
        // Merges keep the bound and the flag; round trips keep the floor.
        let mut m = DdSketch::with_max_buckets(0.01, mb).unwrap();
        for part in values.chunks(10_000) {
            let mut p = DdSketch::with_max_buckets(0.01, mb).unwrap();
            p.insert_many(part);
            m.merge(&p).unwrap();
        }
        assert!(m.is_collapsed());
        assert!(m.positive.occupied().1.len() <= mb as usize);
        let p99 = m.quantile(0.99).unwrap().unwrap();
        let truth = sorted[(0.99 * (n - 1) as f64) as usize];
        assert!((p99 - truth).abs() <= 0.01 * truth * (1.0 + 1e-9));
        let back = DdSketch::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back, s);
        let (mut a, mut b) = (s.clone(), back);
        for v in [1e-30, 1e-20, 5.0, 1e30, 1e40, 1e-40] {
            a.insert(v);
            b.insert(v);
        }
        assert_eq!(a.to_bytes(), b.to_bytes());
        // A collapse on the negative side loses the values nearest zero.
        let mut neg = DdSketch::with_max_buckets(0.01, 64).unwrap();
        let values: Vec<f64> = (0..1000).map(|i| -(1.1f64.powi(i))).collect();
        values.iter().for_each(|&v| neg.insert(v));
        assert!(neg.is_collapsed());
        assert_eq!(neg.quantile(0.0).unwrap(), Some(values[999]));
        let p1 = neg.quantile(0.01).unwrap().unwrap();
        let truth = values[999 - 9];
        assert!((p1 - truth).abs() <= 0.01 * truth.abs() * (1.0 + 1e-9));
        let p90 = neg.quantile(0.9).unwrap().unwrap();
        let truth = values[999 - 899];
        assert!((p90 - truth).abs() > 0.01 * truth.abs());
    }

    #[test]
    fn deterministic_bytes_and_round_trip() {
        let build = || {
            let mut s = DdSketch::new(0.01).unwrap();
            DATA.values("signed_with_zeros", 50_000, 1)
                .iter()
                .for_each(|&v| s.insert(v));
            s
        };
        let s = build();
        assert_eq!(s.to_bytes(), build().to_bytes());
        let back = DdSketch::from_bytes(&s.to_bytes()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.to_bytes(), s.to_bytes());
        assert_eq!(back.quantile(0.37).unwrap(), s.quantile(0.37).unwrap());
    }

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX - 1, u64::MAX] {
            let mut out = Vec::new();
            write_varint(v, &mut out);
            let mut r = Reader::new(&out);
            assert_eq!(read_varint(&mut r).unwrap(), v);
            assert_eq!(r.remaining(), 0);
        }
        for bad in [&[0x80u8][..], &[0x80, 0x00], &[0xFF; 10], &[0xFF; 11]] {
            assert!(read_varint(&mut Reader::new(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn rejects_corrupt_states() {
        let mut s = DdSketch::new(0.01).unwrap();
        DATA.values("signed_with_zeros", 5_000, 2)
            .iter()
            .for_each(|&v| s.insert(v));
        s.insert(f64::INFINITY);
        let bytes = s.to_bytes();
        let env = envelope::decode(&bytes, Family::DDSketch).unwrap();
        let reencode = |params: &[u8], body: &[u8]| {
            DdSketch::from_bytes(&envelope::encode(Family::DDSketch, params, body))
        };
        assert!(reencode(env.params, env.body).is_ok());
        let mut params = env.params.to_vec();
        params[..8].copy_from_slice(&1.5f64.to_le_bytes());
        assert!(reencode(&params, env.body).is_err());
        let mut params = env.params.to_vec();
        params[8..].copy_from_slice(&16u32.to_le_bytes());
        assert!(
            reencode(&params, env.body).is_err(),
            "span beyond max_buckets"
        );
        assert!(reencode(&env.params[..8], env.body).is_err());
        let store_start = 8 * 6 + 1;
        let mut mutations = count_and_extreme_mutations();
        mutations.extend::<Vec<(&str, Mutation)>>(vec![
            (
                "max finite with +inf",
                Box::new(|b| b[16..24].copy_from_slice(&5.0f64.to_le_bytes())),
            ),
            ("zero count", Box::new(|b| b[24] ^= 1)),
            ("neg inf count", Box::new(|b| b[32] ^= 1)),
            ("flags", Box::new(move |b| b[store_start - 1] = 0x80)),
            (
                "floor without collapse",
                Box::new(move |b| b[store_start - 1] = 2),
            ),
            (
                "huge span",
                Box::new(move |b| {
                    b[store_start + 4..store_start + 8].copy_from_slice(&u32::MAX.to_le_bytes())
                }),
            ),
            (
                "key out of range",
                Box::new(move |b| {
                    b[store_start..store_start + 4].copy_from_slice(&i32::MAX.to_le_bytes())
                }),
            ),
        ]);
        assert_mutations_rejected(env.body, mutations, |b| reencode(env.params, b).is_err());
        let mut rng = Rng(99);
        for _ in 0..3_000 {
            let body = rng.corrupt(env.body);
            let _ = reencode(env.params, &body).map(|s| s.quantile(0.5));
        }
        for len in 0..bytes.len() {
            assert!(DdSketch::from_bytes(&bytes[..len]).is_err());
        }
    }

    #[test]
    fn size_depends_on_the_range_not_the_count() {
        let mut s = DdSketch::new(0.01).unwrap();
        let mut rng = Rng(11);
        for _ in 0..1_000_000 {
            s.insert((rng.normal() * 1.0).exp());
        }
        let bytes = s.to_bytes().len();
        assert!(bytes < 4_000, "{bytes}");
        assert!(s.num_buckets() < 800, "{}", s.num_buckets());
        assert!(s.heap_size() <= 2 * DEFAULT_MAX_BUCKETS as usize * 8);
    }

    /// `cargo test --release --lib dd_throughput -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn dd_throughput() {
        let mut rng = Rng(5);
        let values: Vec<f64> = (0..10_000_000).map(|_| (rng.normal()).exp()).collect();
        for _ in 0..3 {
            let t = std::time::Instant::now();
            let mut s = DdSketch::new(DEFAULT_ALPHA).unwrap();
            values.iter().for_each(|&v| s.insert(v));
            let e = t.elapsed();
            eprintln!(
                "dd insert: {:.0} M/s; {} buckets, {} bytes (lognormal, 1e7 values, alpha 1%)",
                1e7 / e.as_secs_f64() / 1e6,
                s.num_buckets(),
                s.to_bytes().len()
            );
        }
    }
}
