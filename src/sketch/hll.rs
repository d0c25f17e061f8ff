//! HyperLogLog: the number of distinct values of a stream in a few kilobytes.
//!
//! # Algorithm
//! Each value's 64-bit canonical hash picks one of `m = 2^p` registers with its top `p` bits;
//! the register keeps the largest *rank* seen (one plus the number of leading zeros of the
//! remaining `64 - p` bits). The cardinality is read from the histogram of register values with
//! Otmar Ertl's improved estimator ("New cardinality estimation algorithms for HyperLogLog
//! sketches", 2017), which has no bias bumps and no empirical correction tables over the whole
//! range, from a handful of values up to 2^64.
//!
//! Small sketches are *sparse*: a sorted list of non-zero registers (4 bytes each) at the
//! fixed sparse precision 25, whatever `p` is, so a `GROUP BY` over many small groups costs
//! bytes, not `2^p` bytes, per group, and small cardinalities are counted almost exactly
//! (the estimate runs over `2^25` registers). A sketch turns dense (one byte per register in
//! memory, six bits per register when serialized) as soon as the sparse list would be larger;
//! its registers are then the sparse ones folded to precision `p`, exactly those that direct
//! insertion at `p` would have produced.
//!
//! # Guarantees
//! * Relative standard error about `1.04 / sqrt(m)`: 0.81% at the default `p = 14`
//!   (12 KiB serialized when dense); see [`HyperLogLog::relative_standard_error`].
//! * Merging is exact: the merge of two sketches equals the sketch of the union of their
//!   inputs, and merges commute and associate.
//! * Sketches of different precisions merge by folding the finer one down to the smaller
//!   precision (HyperLogLog allows this without loss beyond that of the smaller precision).
//!
//! ```
//! use hazy::sketch::Sketch;
//! use hazy::sketch::hll::HyperLogLog;
//! let mut a = HyperLogLog::new(14).unwrap();
//! let mut b = HyperLogLog::new(12).unwrap();
//! for i in 0..50_000u64 { a.insert(&i); }
//! for i in 25_000..100_000u64 { b.insert(&i); }
//! a.merge(&b).unwrap();                   // folds to p = 12
//! assert_eq!(a.precision(), 12);
//! let est = a.estimate();
//! assert!((est - 100_000.0).abs() < 100_000.0 * 0.05, "{est}");
//! let restored = HyperLogLog::from_bytes(&a.to_bytes()).unwrap();
//! assert_eq!(restored, a);
//! ```

use super::envelope::{self, Family, Reader};
use super::error::{Result, SketchError, check_range};
use super::hash::{CHUNK, CanonicalHash};
use super::state::{Description, Sketch};
use smallvec::SmallVec;

/// Smallest supported precision.
pub const MIN_PRECISION: u8 = 4;
/// Largest supported precision.
pub const MAX_PRECISION: u8 = 18;
/// Precision used when none is given: 16,384 registers, 0.81% standard error.
pub const DEFAULT_PRECISION: u8 = 14;

const MODE_SPARSE: u8 = 0;
const MODE_DENSE: u8 = 1;
const BITS_PER_REGISTER: usize = 6;
/// Precision of the sparse form: 25 index bits and a 7-bit rank fill a `u32` entry.
const SPARSE_PRECISION: u8 = 25;
const RANK_BITS: u32 = 7;

/// A HyperLogLog sketch of precision `p` (`2^p` registers).
#[derive(Debug, Clone)]
pub struct HyperLogLog {
    precision: u8,
    /// Sparse entries appended since the last compaction, at the end of the list. Appending
    /// is a store, not a search, which is what a wide `GROUP BY` needs: most rows touch a
    /// group whose entries are not in cache.
    pending: u32,
    /// Non-null values inserted, summed over merges (not distinct).
    items: u64,
    repr: Repr,
}

/// Sparse entries, the first [`INLINE_ENTRIES`] inside the sketch itself: most groups of a
/// wide GROUP BY hold a handful of values, and then cost no allocation and no second cache
/// miss per row.
type Entries = SmallVec<[u32; INLINE_ENTRIES]>;

/// How many sparse entries a sketch holds without allocating: 12 covers the ~10 values per
/// group of the 1M-group benchmarks, and keeps a sketch within 80 bytes (a test checks).
const INLINE_ENTRIES: usize = 12;

/// Sparse lists up to this long are compacted by sorting them whole; once spilled from the
/// inline storage, a list compacts no sooner than this many pending entries.
const WHOLE_SORT_ENTRIES: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Repr {
    /// Entries `index << 7 | rank` at [`SPARSE_PRECISION`]: sorted by index with one entry per
    /// non-zero register, except for the `pending` last ones.
    Sparse(Entries),
    /// One byte per register.
    Dense(Box<[u8]>),
}

#[inline]
fn entry(index: u32, rank: u8) -> u32 {
    index << RANK_BITS | rank as u32
}

#[inline]
fn entry_index(e: u32) -> u32 {
    e >> RANK_BITS
}

#[inline]
fn entry_rank(e: u32) -> u8 {
    (e & ((1 << RANK_BITS) - 1)) as u8
}

/// Register index (top `p` bits) and rank (1 + leading zeros of the rest) of a hash.
#[inline]
fn index_and_rank(hash: u64, precision: u8) -> (u32, u8) {
    let p = precision as u32;
    let index = (hash >> (64 - p)) as u32;
    // The guard bit caps the rank at 64 - p + 1 when the remaining bits are all zero.
    let rest = (hash << p) | (1u64 << (p - 1));
    (index, rest.leading_zeros() as u8 + 1)
}

super::simd_dispatch! {
    /// `index << 8 | rank` of each hash at precision `p` (see [`index_and_rank`]).
    fn index_rank_into(hashes: &[u64], p: u8, out: &mut [u32]) {
        for (e, &h) in out.iter_mut().zip(hashes) {
            let (index, rank) = index_and_rank(h, p);
            *e = index << 8 | rank as u32;
        }
    }
    test forms: index_rank_into_forms;
}

super::simd_dispatch! {
    /// The sparse entry of each hash: its register and rank at the sparse precision, which
    /// hold all that a sketch of any precision takes from the hash (a dense one folds them).
    pub fn sparse_entries_of(hashes: &[u64], out: &mut [u32]) {
        for (e, &h) in out.iter_mut().zip(hashes) {
            let (index, rank) = index_and_rank(h, SPARSE_PRECISION);
            *e = entry(index, rank);
        }
    }
    test forms: sparse_entries_of_forms;
}

/// A register `(index, rank)` at precision `from` seen at the smaller precision `to`:
/// the dropped low index bits become the leading bits of the rank's bit string.
#[inline]
fn fold_register(index: u32, rank: u8, from: u8, to: u8) -> (u32, u8) {
    let d = (from - to) as u32;
    if d == 0 {
        return (index, rank);
    }
    let low = index & ((1u32 << d) - 1);
    let folded_rank = if low != 0 {
        (low.leading_zeros() - (32 - d)) as u8 + 1
    } else {
        d as u8 + rank
    };
    (index >> d, folded_rank)
}

impl HyperLogLog {
    /// An empty sketch; `precision` must lie in 4..=18.
    pub fn new(precision: u8) -> Result<Self> {
        check_precision(precision)?;
        Ok(Self {
            precision,
            pending: 0,
            items: 0,
            repr: Repr::Sparse(Entries::new()),
        })
    }

    pub fn precision(&self) -> u8 {
        self.precision
    }

    /// Number of registers, `2^p`.
    pub fn registers(&self) -> usize {
        1 << self.precision
    }

    /// Non-null values inserted (counting repeats), summed over merges.
    pub fn items(&self) -> u64 {
        self.items
    }

    pub fn is_sparse(&self) -> bool {
        matches!(self.canonical().repr, Repr::Sparse(_))
    }

    /// Sorts and deduplicates pending sparse entries, and turns dense past the sparse limit.
    /// Readers do this on a copy when needed; calling it first saves the copy.
    pub fn compact(&mut self) {
        let limit = self.sparse_limit();
        if let Repr::Sparse(entries) = &mut self.repr {
            if self.pending > 0 {
                let sorted = entries.len() - self.pending as usize;
                // A short list sorts whole (branch-free sorting networks); a longer one sorts
                // its tail and merges, so an entry is sorted once however often it compacts.
                let from = if entries.len() <= WHOLE_SORT_ENTRIES {
                    0
                } else {
                    sorted
                };
                let tail = &mut entries[from..];
                tail.sort_unstable();
                let kept = keep_highest_ranks(tail);
                if from == 0 {
                    entries.truncate(kept);
                } else {
                    let run = SmallVec::<[u32; WHOLE_SORT_ENTRIES]>::from_slice(&tail[..kept]);
                    entries.truncate(sorted);
                    merge_sorted_into(entries, &run);
                }
                self.pending = 0;
            }
            if entries.len() > limit {
                self.densify();
            }
        }
    }

    /// This sketch with no pending entries: borrowed when already so.
    fn canonical(&self) -> std::borrow::Cow<'_, HyperLogLog> {
        super::with_pending_folded(self, self.pending > 0, Self::compact)
    }

    /// The expected relative standard error of the estimate, `1.04 / sqrt(2^p)`.
    pub fn relative_standard_error(&self) -> f64 {
        1.04 / (self.registers() as f64).sqrt()
    }

    /// Adds a value by its canonical hash (see [`super::hash`]).
    #[inline]
    pub fn insert<V: CanonicalHash + ?Sized>(&mut self, value: &V) {
        self.insert_hash(value.canonical_hash());
    }

    /// Adds a value given its 64-bit canonical hash.
    #[inline]
    pub fn insert_hash(&mut self, hash: u64) {
        self.items += 1;
        match &mut self.repr {
            Repr::Dense(regs) => {
                let (index, rank) = index_and_rank(hash, self.precision);
                let r = &mut regs[index as usize];
                if rank > *r {
                    *r = rank;
                }
            }
            Repr::Sparse(_) => {
                let (index, rank) = index_and_rank(hash, SPARSE_PRECISION);
                self.insert_sparse(index, rank);
            }
        }
    }

    /// Adds many values given their hashes: the same as `insert_hash` on each, with the
    /// representation looked up once per chunk rather than once per value.
    pub fn insert_hashes(&mut self, hashes: &[u64]) {
        let mut rest = hashes;
        let mut entries = [0u32; CHUNK];
        while let (Repr::Sparse(_), false) = (&self.repr, rest.is_empty()) {
            let (now, later) = rest.split_at(rest.len().min(CHUNK));
            let entries = &mut entries[..now.len()];
            sparse_entries_of(now, entries);
            self.insert_entries(entries);
            rest = later;
        }
        if let Repr::Dense(regs) = &mut self.repr {
            self.items += rest.len() as u64;
            // Two passes a chunk: registers and ranks vector-wide, then the scattered maxima.
            let regs: &mut [u8] = regs;
            let mut packed = [0u32; CHUNK];
            for chunk in rest.chunks(CHUNK) {
                let packed = &mut packed[..chunk.len()];
                index_rank_into(chunk, self.precision, packed);
                for &e in packed.iter() {
                    let r = &mut regs[(e >> 8) as usize];
                    *r = (*r).max(e as u8);
                }
            }
        }
    }

    /// Adds values given as their sparse entries ([`sparse_entries_of`] of their hashes): the
    /// same as `insert_hash` on each. A sparse sketch appends them as they are.
    pub fn insert_entries(&mut self, entries: &[u32]) {
        self.items += entries.len() as u64;
        let mut rest = entries;
        // Sparse: as many entries at once as fit before the next compaction is due.
        while let (Repr::Sparse(list), false) = (&mut self.repr, rest.is_empty()) {
            let room = rest.len().min(sparse_room(list, self.pending as usize));
            let (now, later) = rest.split_at(room);
            list.extend_from_slice(now);
            self.pending += room as u32;
            rest = later;
            if sparse_room(list, self.pending as usize) == 0 {
                self.compact();
            }
        }
        if let Repr::Dense(regs) = &mut self.repr {
            fold_entries_into(rest.iter().copied(), self.precision, regs);
        }
    }

    /// Appends a sparse entry; compacts once the pending tail is as long as the sorted part
    /// and at least [`WHOLE_SORT_ENTRIES`] (so each entry is sorted once and merged an
    /// amortized constant number of times), or when the inline storage is full.
    fn insert_sparse(&mut self, index: u32, rank: u8) {
        let Repr::Sparse(entries) = &mut self.repr else {
            unreachable!("insert_sparse on a dense sketch")
        };
        entries.push(entry(index, rank));
        self.pending += 1;
        if sparse_room(entries, self.pending as usize) == 0 {
            self.compact();
        }
    }

    /// The largest sparse list that is still no larger than the dense form, in memory
    /// (4 bytes per entry against 1 per register) and serialized (4 against 6 bits).
    fn sparse_limit(&self) -> usize {
        self.registers() * 3 / 16
    }

    fn densify(&mut self) {
        if let Repr::Sparse(entries) = &self.repr {
            // Duplicates among pending entries are harmless: folding keeps the maximum.
            let mut regs = vec![0u8; self.registers()].into_boxed_slice();
            fold_entries_into(entries.iter().copied(), self.precision, &mut regs);
            self.repr = Repr::Dense(regs);
            self.pending = 0;
        }
    }

    /// The histogram of register values at the precision of the current form, into `counts`
    /// (zeroed): `counts[k]` registers hold `k`, for k in 0..=q+1 with q = 64 - precision (a
    /// fixed array: estimates of many small groups allocate nothing). Returns `q + 2` and the
    /// highest rank held (0 when every register is zero).
    fn histogram(&self, counts: &mut [u64; 66]) -> (usize, usize) {
        // Ranks are at most 61 (precision 4), one bit each: the highest held is then one
        // instruction rather than a scan down the counts.
        let mut held = 1u64;
        let (precision, nonzero) = match &self.repr {
            Repr::Sparse(entries) => {
                entries.iter().for_each(|&e| {
                    counts[entry_rank(e) as usize] += 1;
                    held |= 1 << entry_rank(e);
                });
                (SPARSE_PRECISION, entries.len() as u64)
            }
            Repr::Dense(regs) => {
                regs.iter().for_each(|&r| counts[r as usize] += 1);
                for (k, &c) in counts.iter().enumerate().take(62).skip(1) {
                    held |= ((c != 0) as u64) << k;
                }
                (self.precision, regs.len() as u64 - counts[0])
            }
        };
        let top = 63 - held.leading_zeros() as usize;
        counts[0] = (1u64 << precision) - nonzero;
        (66 - precision as usize, top)
    }

    /// The estimated number of distinct values (Ertl's improved estimator).
    pub fn estimate(&self) -> f64 {
        let mut counts = [0u64; 66];
        let (len, held) = self.canonical().histogram(&mut counts);
        let q = len - 2;
        let m = (1u64 << (64 - q)) as f64;
        let mut z = m * tau(1.0 - counts[q + 1] as f64 / m);
        // Halving zero gives zero: the loop starts at the highest rank held, which for a
        // small sparse sketch is near 10 rather than 39 (the same value, bit for bit).
        let top = if z == 0.0 { held.min(q) } else { q };
        for k in (1..=top).rev() {
            z = 0.5 * (z + counts[k] as f64);
        }
        z += m * zeros_term(counts[0], q);
        const ALPHA_INF: f64 = 0.721_347_520_444_481_7; // 1 / (2 ln 2)
        ALPHA_INF * m * m / z
    }

    fn merge_same_precision(&mut self, other: &HyperLogLog) {
        debug_assert_eq!(self.precision, other.precision);
        self.items = self.items.saturating_add(other.items);
        match (&mut self.repr, &other.repr) {
            (Repr::Sparse(a), Repr::Sparse(b)) => {
                merge_sorted_into(a, b);
                if a.len() > self.sparse_limit() {
                    self.densify();
                }
            }
            (Repr::Dense(a), Repr::Dense(b)) => {
                for (x, &y) in a.iter_mut().zip(b.iter()) {
                    *x = (*x).max(y);
                }
            }
            (Repr::Dense(a), Repr::Sparse(b)) => {
                fold_entries_into(b.iter().copied(), self.precision, a)
            }
            (Repr::Sparse(a), Repr::Dense(b)) => {
                let mut regs = b.clone();
                fold_entries_into(a.iter().copied(), self.precision, &mut regs);
                self.repr = Repr::Dense(regs);
            }
        }
    }

    /// This sketch at a smaller precision, equal to the sketch built at that precision.
    pub fn folded(&self, precision: u8) -> HyperLogLog {
        assert!(
            (MIN_PRECISION..=self.precision).contains(&precision),
            "fold to precision {precision} from {}",
            self.precision
        );
        let this = self.canonical();
        let mut out = HyperLogLog {
            precision,
            pending: 0,
            items: self.items,
            repr: Repr::Sparse(Entries::new()),
        };
        match &this.repr {
            Repr::Sparse(entries) => {
                // The sparse form does not depend on p; only the densify limit does.
                out.repr = Repr::Sparse(entries.clone());
                out.compact();
            }
            Repr::Dense(regs) => {
                let mut folded = vec![0u8; out.registers()].into_boxed_slice();
                for (i, &r) in regs.iter().enumerate().filter(|(_, r)| **r != 0) {
                    let (fi, fr) = fold_register(i as u32, r, self.precision, precision);
                    folded[fi as usize] = folded[fi as usize].max(fr);
                }
                out.repr = Repr::Dense(folded);
            }
        }
        out
    }

    /// Bytes of the serialized body (the envelope adds [`envelope::OVERHEAD`] + 1).
    fn serialized_body_len(&self) -> usize {
        9 + match &self.canonical().repr {
            Repr::Sparse(e) => 4 + 4 * e.len(),
            Repr::Dense(r) => (r.len() * BITS_PER_REGISTER).div_ceil(8),
        }
    }

    /// Bytes of the serialized state.
    pub fn serialized_len(&self) -> usize {
        envelope::OVERHEAD + 1 + self.serialized_body_len()
    }

    /// Writes the transit state of a sketch holding the single hash `hash`: the per-row state
    /// of skipped partial aggregation, 12 bytes.
    pub fn write_transit_single(precision: u8, hash: u64, out: &mut Vec<u8>) -> Result<()> {
        check_precision(precision)?;
        let (index, rank) = index_and_rank(hash, SPARSE_PRECISION);
        envelope::write_transit_header(Family::HyperLogLog, out);
        out.push(precision);
        out.push(TRANSIT_SINGLE);
        out.extend_from_slice(&entry(index, rank).to_le_bytes());
        Ok(())
    }

    /// Adds a checked transit state of the same precision.
    fn merge_transit_view(&mut self, view: &TransitView<'_>) {
        match view.data {
            TransitData::Single(e) => {
                self.items = self.items.saturating_add(1);
                self.insert_entry(e);
            }
            TransitData::Sparse(raw) => {
                self.items = self.items.saturating_add(view.items);
                match &mut self.repr {
                    // A checked list is sorted with one entry per index: an empty sketch takes
                    // it as it is (the final aggregate's first state of each group).
                    Repr::Sparse(mine) if mine.is_empty() => {
                        mine.reserve_exact(raw.len() / 4);
                        mine.extend(sparse_entries(raw));
                        if mine.len() > self.sparse_limit() {
                            self.densify();
                        }
                    }
                    _ => sparse_entries(raw).for_each(|e| self.insert_entry(e)),
                }
            }
            TransitData::Dense(regs) => {
                self.items = self.items.saturating_add(view.items);
                if let Repr::Sparse(_) = self.repr {
                    self.densify();
                }
                if let Repr::Dense(mine) = &mut self.repr {
                    mine.iter_mut()
                        .zip(regs)
                        .for_each(|(x, &y)| *x = (*x).max(y));
                }
            }
        }
    }

    /// Adds one sparse entry, into the registers when dense.
    fn insert_entry(&mut self, e: u32) {
        match &mut self.repr {
            Repr::Sparse(_) => self.insert_sparse(entry_index(e), entry_rank(e)),
            Repr::Dense(regs) => fold_entries_into([e], self.precision, regs),
        }
    }

    /// Writes the state of a sketch holding the single hash `hash`, without building it:
    /// the per-row state of skipped partial aggregation.
    pub fn write_singleton(precision: u8, hash: u64, out: &mut Vec<u8>) -> Result<()> {
        check_precision(precision)?;
        let (index, rank) = index_and_rank(hash, SPARSE_PRECISION);
        let mut body = [0u8; 17];
        body[0] = MODE_SPARSE;
        body[1..9].copy_from_slice(&1u64.to_le_bytes());
        body[9..13].copy_from_slice(&1u32.to_le_bytes());
        body[13..17].copy_from_slice(&entry(index, rank).to_le_bytes());
        envelope::encode_into(Family::HyperLogLog, &[precision], &body, out);
        Ok(())
    }
}

impl Sketch for HyperLogLog {
    const FAMILY: Family = Family::HyperLogLog;

    /// Heap bytes held by this sketch (for memory accounting).
    fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Sparse(v) if v.spilled() => v.capacity() * 4,
            Repr::Sparse(_) => 0,
            Repr::Dense(r) => r.len(),
        }
    }

    /// Appends the serialized state to `out`.
    fn write_to(&self, out: &mut Vec<u8>) {
        let this = self.canonical();
        let this = this.as_ref();
        out.reserve(this.serialized_len());
        envelope::encode_with(Family::HyperLogLog, &[this.precision], out, |body| {
            body.push(match this.repr {
                Repr::Sparse(_) => MODE_SPARSE,
                Repr::Dense(_) => MODE_DENSE,
            });
            body.extend_from_slice(&this.items.to_le_bytes());
            match &this.repr {
                Repr::Sparse(entries) => {
                    body.extend_from_slice(&(entries.len() as u32).to_le_bytes());
                    envelope::put_le(body, entries, u32::to_le_bytes);
                }
                Repr::Dense(regs) => pack_registers(regs, body),
            }
        });
    }

    /// Decodes a state written by [`Self::to_bytes`], validating every field.
    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let view = StateView::parse(bytes)?;
        let mut sketch = HyperLogLog::new(view.precision)?;
        sketch.items = view.items;
        match view.data {
            Data::Sparse(raw) => {
                sketch.repr = Repr::Sparse(sparse_entries(raw).collect());
                sketch.compact();
            }
            Data::Dense(packed) => sketch.repr = Repr::Dense(view.unpack_dense(packed)?),
        }
        Ok(sketch)
    }

    /// Merges `other` in; when precisions differ, the result has the smaller one.
    fn merge(&mut self, other: &HyperLogLog) -> Result<()> {
        self.compact();
        let other = other.canonical();
        if other.precision < self.precision {
            *self = self.folded(other.precision);
        }
        if other.precision > self.precision {
            self.merge_same_precision(&other.folded(self.precision));
        } else {
            self.merge_same_precision(&other);
        }
        Ok(())
    }

    /// Merges a serialized state in without building it first: what a `GROUP BY` merge does
    /// for every partial state, so a small sparse state costs no allocation.
    fn merge_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let view = StateView::parse(bytes)?;
        if view.precision < self.precision {
            *self = self.folded(view.precision);
        }
        match (view.data, &mut self.repr) {
            (Data::Sparse(raw), Repr::Dense(regs)) => {
                fold_entries_into(sparse_entries(raw), self.precision, regs)
            }
            (Data::Sparse(raw), Repr::Sparse(_)) => {
                let mut entries = sparse_entries(raw);
                // A merge can outgrow the sparse form part way: the rest goes into registers.
                for e in entries.by_ref() {
                    self.insert_sparse(entry_index(e), entry_rank(e));
                    if matches!(self.repr, Repr::Dense(_)) {
                        break;
                    }
                }
                if let Repr::Dense(regs) = &mut self.repr {
                    fold_entries_into(entries, self.precision, regs);
                }
            }
            (Data::Dense(packed), Repr::Dense(regs)) if view.precision == self.precision => {
                let incoming = view.unpack_dense(packed)?;
                regs.iter_mut()
                    .zip(incoming.iter())
                    .for_each(|(x, &y)| *x = (*x).max(y));
            }
            _ => {
                return self.merge(&HyperLogLog::from_bytes(bytes)?);
            }
        }
        self.items = self.items.saturating_add(view.items);
        Ok(())
    }

    /// Transit form: precision, mode, then the registers or entries unpacked and without a
    /// checksum (see docs/FORMAT.md): one store per value to write, no checksum to check.
    fn write_transit(&self, out: &mut Vec<u8>) {
        let this = self.canonical();
        let this = this.as_ref();
        envelope::write_transit_header(Family::HyperLogLog, out);
        out.push(this.precision);
        match &this.repr {
            Repr::Sparse(entries) if entries.len() == 1 && this.items == 1 => {
                out.push(TRANSIT_SINGLE);
                out.extend_from_slice(&entries[0].to_le_bytes());
            }
            Repr::Sparse(entries) => {
                out.push(MODE_SPARSE);
                out.extend_from_slice(&this.items.to_le_bytes());
                out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
                envelope::put_le(out, entries, u32::to_le_bytes);
            }
            Repr::Dense(regs) => {
                out.push(MODE_DENSE);
                out.extend_from_slice(&this.items.to_le_bytes());
                out.extend_from_slice(regs);
            }
        }
    }

    fn from_transit(bytes: &[u8]) -> Result<Self> {
        let view = TransitView::parse(bytes)?;
        let mut sketch = HyperLogLog::new(view.precision)?;
        sketch.merge_transit_view(&view);
        Ok(sketch)
    }

    fn merge_transit(&mut self, bytes: &[u8]) -> Result<()> {
        let view = TransitView::parse(bytes)?;
        if view.precision != self.precision {
            return self.merge(&HyperLogLog::from_transit(bytes)?);
        }
        self.merge_transit_view(&view);
        Ok(())
    }

    fn describe(&self) -> Description {
        Description {
            parameters: format!("p={}", self.precision()),
            mode: if self.is_sparse() { "sparse" } else { "dense" }.to_string(),
            items: self.items(),
            details: format!(
                "registers={}, estimate={:.0}, rse={:.2}%",
                self.registers(),
                self.estimate(),
                self.relative_standard_error() * 100.0
            ),
        }
    }
}

impl PartialEq for HyperLogLog {
    /// Equal when they hold the same registers and counts, whatever is pending.
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.canonical(), other.canonical());
        a.precision == b.precision && a.items == b.items && a.repr == b.repr
    }
}

impl Eq for HyperLogLog {}

/// Transit mode of a sketch holding one value (items 1, one entry).
const TRANSIT_SINGLE: u8 = 2;

/// A validated, borrowed view of a transit state.
struct TransitView<'a> {
    precision: u8,
    items: u64,
    data: TransitData<'a>,
}

enum TransitData<'a> {
    Single(u32),
    /// Little-endian u32 entries, checked as in a stored state.
    Sparse(&'a [u8]),
    /// One byte per register, checked.
    Dense(&'a [u8]),
}

impl<'a> TransitView<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(envelope::transit_payload(bytes, Family::HyperLogLog)?);
        let precision = r.u8()?;
        check_precision(precision)?;
        let (items, data) = match r.u8()? {
            TRANSIT_SINGLE => {
                let e = r.u32()?;
                check_sparse_entries(&e.to_le_bytes())?;
                (1, TransitData::Single(e))
            }
            MODE_SPARSE => {
                let items = r.u64()?;
                (items, TransitData::Sparse(read_sparse_list(&mut r)?))
            }
            MODE_DENSE => {
                let items = r.u64()?;
                let regs = r.take(1 << precision)?;
                let max_rank = 64 - precision + 1;
                if let Some(bad) = regs.iter().find(|&&x| x > max_rank) {
                    return Err(SketchError::Corrupt(format!(
                        "hll register value {bad} exceeds {max_rank} at precision {precision}"
                    )));
                }
                (items, TransitData::Dense(regs))
            }
            other => {
                return Err(SketchError::Corrupt(format!(
                    "unknown hll transit mode {other}"
                )));
            }
        };
        r.finish("hll transit state")?;
        Ok(Self {
            precision,
            items,
            data,
        })
    }
}

/// Reads a counted list of sparse entries that ends the state (stored or transit), checked
/// to be valid and strictly increasing.
fn read_sparse_list<'a>(r: &mut Reader<'a>) -> Result<&'a [u8]> {
    let n = r.u32()? as usize;
    if n > 1 << SPARSE_PRECISION || n * 4 != r.remaining() {
        return Err(SketchError::Corrupt(format!(
            "hll sparse list declares {n} entries in {} bytes",
            r.remaining()
        )));
    }
    let raw = r.take(n * 4)?;
    check_sparse_entries(raw)?;
    Ok(raw)
}

/// A validated, borrowed view of a serialized state.
struct StateView<'a> {
    precision: u8,
    items: u64,
    data: Data<'a>,
}

#[derive(Clone, Copy)]
enum Data<'a> {
    /// Little-endian u32 entries, already checked to be valid and strictly increasing.
    Sparse(&'a [u8]),
    /// Packed 6-bit registers of the right length (values checked when unpacked).
    Dense(&'a [u8]),
}

impl<'a> StateView<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self> {
        let (precision, mut body) = envelope::open(bytes, Family::HyperLogLog, Reader::u8)?;
        check_precision(precision)?;
        let mode = body.u8()?;
        let items = body.u64()?;
        let data = match mode {
            MODE_SPARSE => Data::Sparse(read_sparse_list(&mut body)?),
            MODE_DENSE => {
                let expected = ((1usize << precision) * BITS_PER_REGISTER).div_ceil(8);
                if body.remaining() != expected {
                    return Err(SketchError::Corrupt(format!(
                        "hll dense body has {} bytes, expected {expected}",
                        body.remaining()
                    )));
                }
                Data::Dense(body.take(expected)?)
            }
            other => return Err(SketchError::Corrupt(format!("unknown hll mode {other}"))),
        };
        body.finish("hll body")?;
        Ok(Self {
            precision,
            items,
            data,
        })
    }

    fn unpack_dense(&self, packed: &[u8]) -> Result<Box<[u8]>> {
        let regs = unpack_registers(packed, 1 << self.precision)?;
        let max_rank = 64 - self.precision + 1;
        if let Some(bad) = regs.iter().find(|&&r| r > max_rank) {
            return Err(SketchError::Corrupt(format!(
                "hll register value {bad} exceeds {max_rank} at precision {}",
                self.precision
            )));
        }
        Ok(regs)
    }
}

fn sparse_entries(raw: &[u8]) -> impl Iterator<Item = u32> + '_ {
    raw.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}

fn check_sparse_entries(raw: &[u8]) -> Result<()> {
    let max_rank = 64 - SPARSE_PRECISION + 1;
    let valid = |previous: Option<u32>, e: u32| {
        let (i, r) = (entry_index(e), entry_rank(e));
        r != 0 && r <= max_rank && previous.is_none_or(|p| p < i)
    };
    // Every entry is checked without a branch (each final state of a wide GROUP BY is read
    // here); the first bad one is looked for only when there is one.
    let mut all_valid = true;
    let mut previous = None;
    for e in sparse_entries(raw) {
        all_valid &= valid(previous, e);
        previous = Some(entry_index(e));
    }
    if all_valid {
        return Ok(());
    }
    let mut previous = None;
    let bad = sparse_entries(raw)
        .find(|&e| {
            let bad = !valid(previous, e);
            previous = Some(entry_index(e));
            bad
        })
        .unwrap_or_default();
    Err(SketchError::Corrupt(format!(
        "hll sparse entry {bad:#x} invalid"
    )))
}

fn check_precision(p: u8) -> Result<()> {
    check_range("hll precision", p, MIN_PRECISION..=MAX_PRECISION)
}

/// How many entries a sparse list with `pending` unsorted ones takes before it compacts: when
/// its inline storage is full (repeats folded then may keep it there), and once the pending
/// tail is as long as the sorted part and at least [`WHOLE_SORT_ENTRIES`].
fn sparse_room(entries: &Entries, pending: usize) -> usize {
    // A full inline list with nothing pending goes on to the heap.
    if !entries.spilled() && (entries.len() < INLINE_ENTRIES || pending > 0) {
        return INLINE_ENTRIES - entries.len();
    }
    let sorted = entries.len() - pending;
    sorted.max(WHOLE_SORT_ENTRIES).saturating_sub(pending)
}

/// Keeps, of entries sorted by (index, rank), the last of each index's run (its highest rank)
/// at the front; returns how many. Without a branch per entry: most entries of a small sketch
/// are distinct, repeats are values seen again, and which comes next is a coin toss.
fn keep_highest_ranks(sorted: &mut [u32]) -> usize {
    let Some(&first) = sorted.first() else {
        return 0;
    };
    let (mut kept, mut last) = (0, first);
    for read in 1..sorted.len() {
        let e = sorted[read];
        kept += (entry_index(e) != entry_index(last)) as usize;
        sorted[kept] = e;
        last = e;
    }
    kept + 1
}

/// Folds sparse entries into dense registers of precision `precision` (max per register).
fn fold_entries_into(entries: impl IntoIterator<Item = u32>, precision: u8, regs: &mut [u8]) {
    for e in entries {
        let (i, r) = fold_register(entry_index(e), entry_rank(e), SPARSE_PRECISION, precision);
        let x = &mut regs[i as usize];
        *x = (*x).max(r);
    }
}

/// Merges the sorted, one-per-index entries `run` into the sorted, one-per-index `entries`
/// in place, keeping the larger rank where both hold an index. Back to front, so the grown
/// list is the only buffer and each entry moves once (twice when indexes coincide).
fn merge_sorted_into(entries: &mut Entries, run: &[u32]) {
    let before = entries.len();
    match (entries.last(), run.first()) {
        (_, None) => return,
        (Some(&last), Some(&first)) if entry_index(last) >= entry_index(first) => {}
        _ => return entries.extend_from_slice(run),
    }
    entries.resize(before + run.len(), 0);
    let (mut i, mut j, mut w) = (before, run.len(), before + run.len());
    while i > 0 && j > 0 {
        let (a, b) = (entries[i - 1], run[j - 1]);
        w -= 1;
        entries[w] = match entry_index(a).cmp(&entry_index(b)) {
            std::cmp::Ordering::Greater => {
                i -= 1;
                a
            }
            std::cmp::Ordering::Less => {
                j -= 1;
                b
            }
            std::cmp::Ordering::Equal => {
                i -= 1;
                j -= 1;
                a.max(b)
            }
        };
    }
    // What is left of one side lies below `w`; shared indexes left a gap at the front.
    entries[w - j..w].copy_from_slice(&run[..j]);
    entries.copy_within(0..i, w - j - i);
    let gap = w - j - i;
    entries.copy_within(gap.., 0);
    entries.truncate(entries.len() - gap);
}

/// Packs 6-bit registers little-endian: register `i` occupies bits `6i..6i+6` of the stream.
fn pack_registers(regs: &[u8], out: &mut Vec<u8>) {
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &r in regs {
        acc |= (r as u32) << bits;
        bits += BITS_PER_REGISTER;
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    if bits > 0 {
        out.push(acc as u8);
    }
}

fn unpack_registers(bytes: &[u8], m: usize) -> Result<Box<[u8]>> {
    let expected = (m * BITS_PER_REGISTER).div_ceil(8);
    if bytes.len() != expected {
        return Err(SketchError::Corrupt(format!(
            "hll dense body has {} bytes, expected {expected}",
            bytes.len()
        )));
    }
    let mut regs = vec![0u8; m].into_boxed_slice();
    let mut acc: u32 = 0;
    let mut bits = 0;
    let mut next = bytes.iter();
    for r in regs.iter_mut() {
        while bits < BITS_PER_REGISTER {
            acc |= (*next.next().expect("length checked") as u32) << bits;
            bits += 8;
        }
        *r = (acc & 0x3f) as u8;
        acc >>= BITS_PER_REGISTER;
        bits -= BITS_PER_REGISTER;
    }
    Ok(regs)
}

/// `sigma(zeros / m)`, Ertl's term for the `zeros` registers still at zero of `m = 2^(64-q)`.
/// A small sparse sketch (a few nonzero of 2^25 registers) reads it from a table, built once by
/// `sigma` itself: its series then needs some 25 squarings to fade, the most of an estimate.
fn zeros_term(zeros: u64, q: usize) -> f64 {
    const TABLED: usize = 1024;
    static SPARSE: std::sync::OnceLock<Box<[f64]>> = std::sync::OnceLock::new();
    let m = 1u64 << (64 - q);
    let nonzero = m - zeros;
    if q == 64 - SPARSE_PRECISION as usize && (nonzero as usize) < TABLED {
        let table = SPARSE.get_or_init(|| {
            (0..TABLED as u64)
                .map(|n| sigma((m - n) as f64 / m as f64))
                .collect()
        });
        return table[nonzero as usize];
    }
    sigma(zeros as f64 / m as f64)
}

/// Ertl's sigma function, for the registers still at zero.
fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let previous = z;
        z += x * y;
        y += y;
        if z == previous {
            return z;
        }
    }
}

/// Ertl's tau function, for the registers at the maximum rank.
fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let previous = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if z == previous {
            return z / 3.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch::testdata::splitmix;

    fn sketch_of(p: u8, range: std::ops::Range<u64>) -> HyperLogLog {
        let mut s = HyperLogLog::new(p).unwrap();
        range.for_each(|i| s.insert(&i));
        s
    }

    #[test]
    fn tabled_zero_terms_equal_the_series() {
        let q = 64 - SPARSE_PRECISION as usize;
        let m = 1u64 << SPARSE_PRECISION;
        for nonzero in (0..1100).chain([4096, m / 2, m - 1]) {
            let direct = sigma((m - nonzero) as f64 / m as f64);
            assert_eq!(zeros_term(m - nonzero, q).to_bits(), direct.to_bits());
        }
        let dense_q = 64 - 14;
        assert_eq!(
            zeros_term(1000, dense_q).to_bits(),
            sigma(1000.0 / 16384.0).to_bits()
        );
    }

    #[test]
    fn empty_estimates_zero() {
        let s = HyperLogLog::new(14).unwrap();
        assert_eq!(s.estimate(), 0.0);
        assert_eq!(HyperLogLog::from_bytes(&s.to_bytes()).unwrap(), s);
    }

    #[test]
    fn precision_range_is_checked() {
        assert!(HyperLogLog::new(3).is_err());
        assert!(HyperLogLog::new(19).is_err());
        for p in MIN_PRECISION..=MAX_PRECISION {
            let s = sketch_of(p, 0..1000);
            assert_eq!(HyperLogLog::from_bytes(&s.to_bytes()).unwrap(), s);
        }
    }

    #[test]
    fn small_counts_are_near_exact() {
        for n in [1u64, 2, 10, 100, 1000] {
            let est = sketch_of(14, 0..n).estimate();
            assert!(
                (est - n as f64).abs() <= (n as f64 * 0.01).max(0.5),
                "n={n} est={est}"
            );
        }
    }

    #[test]
    fn sparse_turns_dense_at_the_limit_without_changing_the_estimate() {
        let mut s = HyperLogLog::new(10).unwrap();
        let mut state = 7;
        while s.is_sparse() {
            s.insert_hash(splitmix(&mut state));
        }
        let dense = s.clone();
        // The same registers, re-entered through a sparse sketch, give the same estimate.
        let mut rebuilt = HyperLogLog::new(10).unwrap();
        rebuilt.merge(&dense).unwrap();
        assert_eq!(rebuilt.estimate(), dense.estimate());
        assert!(dense.serialized_len() <= envelope::OVERHEAD + 1 + 9 + 768);
    }

    #[test]
    fn dense_round_trip_packs_six_bits() {
        let s = sketch_of(14, 0..200_000);
        assert!(!s.is_sparse());
        let bytes = s.to_bytes();
        assert_eq!(bytes.len(), envelope::OVERHEAD + 1 + 9 + 12_288);
        assert_eq!(HyperLogLog::from_bytes(&bytes).unwrap(), s);
    }

    #[test]
    fn merge_equals_union_and_commutes() {
        for (p, a, b) in [
            (12, 0..500, 300..900),
            (14, 0..50_000, 10_000..90_000),
            (8, 0..10, 5..100_000),
        ] {
            let sa = sketch_of(p, a.clone());
            let sb = sketch_of(p, b.clone());
            let union = sketch_of(p, a.start.min(b.start)..a.end.max(b.end));
            let mut ab = sa.clone();
            ab.merge(&sb).unwrap();
            let mut ba = sb.clone();
            ba.merge(&sa).unwrap();
            assert_eq!(ab.estimate(), union.estimate());
            assert_eq!(ab.estimate(), ba.estimate());
        }
    }

    #[test]
    fn merge_associates() {
        let (a, b, c) = (
            sketch_of(11, 0..100),
            sketch_of(11, 50..5000),
            sketch_of(11, 4000..9000),
        );
        let mut left = a.clone();
        left.merge(&b).unwrap();
        left.merge(&c).unwrap();
        let mut bc = b.clone();
        bc.merge(&c).unwrap();
        let mut right = a.clone();
        right.merge(&bc).unwrap();
        assert_eq!(left.estimate(), right.estimate());
    }

    #[test]
    fn folding_equals_sketching_at_the_smaller_precision() {
        for n in [100u64, 5_000, 300_000] {
            let fine = sketch_of(16, 0..n);
            let coarse = sketch_of(11, 0..n);
            assert_eq!(fine.folded(11).estimate(), coarse.estimate(), "n={n}");
            let mut merged = sketch_of(11, 0..0);
            merged.merge(&fine).unwrap();
            assert_eq!(merged.precision(), 11);
            assert_eq!(merged.estimate(), coarse.estimate());
        }
    }

    #[test]
    fn merge_bytes_equals_decode_then_merge() {
        let shapes = [
            (14u8, 0..0u64),
            (14, 0..10),
            (14, 5..5_000),
            (14, 0..200_000),
            // Two sparse sketches whose union outgrows the sparse form.
            (14, 10_000..12_000),
            (14, 20_000..22_000),
            (12, 3..50),
            (16, 0..100_000),
        ];
        for (pa, ra) in shapes.iter().cloned() {
            for (pb, rb) in shapes.iter().cloned() {
                let mut expected = sketch_of(pa, ra.clone());
                let other = sketch_of(pb, rb.clone());
                expected.merge(&other).unwrap();
                let mut got = sketch_of(pa, ra.clone());
                got.merge_bytes(&other.to_bytes()).unwrap();
                assert_eq!(
                    got.estimate(),
                    expected.estimate(),
                    "{pa} {ra:?} + {pb} {rb:?}"
                );
                assert_eq!(
                    (got.precision(), got.items()),
                    (expected.precision(), expected.items())
                );
                assert_eq!(got.to_bytes(), expected.to_bytes());
            }
        }
    }

    #[test]
    fn singleton_state_equals_a_one_value_sketch() {
        let mut one = HyperLogLog::new(11).unwrap();
        one.insert_hash(0xDEAD_BEEF_1234_5678);
        let mut bytes = Vec::new();
        HyperLogLog::write_singleton(11, 0xDEAD_BEEF_1234_5678, &mut bytes).unwrap();
        assert_eq!(bytes, one.to_bytes());
        assert!(HyperLogLog::write_singleton(2, 1, &mut bytes).is_err());
    }

    #[test]
    fn a_few_values_are_held_inline() {
        let mut s = HyperLogLog::new(14).unwrap();
        for v in 0..INLINE_ENTRIES as u64 {
            s.insert(&v);
        }
        s.compact();
        assert!(s.is_sparse());
        assert_eq!(
            s.heap_size(),
            0,
            "no allocation up to {INLINE_ENTRIES} entries"
        );
        let inline_bytes = s.to_bytes();
        s.insert(&(INLINE_ENTRIES as u64));
        s.compact();
        assert!(
            s.heap_size() >= 4 * (INLINE_ENTRIES + 1),
            "{}",
            s.heap_size()
        );
        let restored = HyperLogLog::from_bytes(&inline_bytes).unwrap();
        assert_eq!(restored.to_bytes(), inline_bytes);
        assert!(std::mem::size_of::<Option<HyperLogLog>>() <= 80);
    }

    #[test]
    fn every_compiled_form_gives_the_same_registers_and_ranks() {
        let mut x = 0x5851_f42d_4c95_7f2d_u64;
        let mut hashes: Vec<u64> = (0..CHUNK)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                x
            })
            .collect();
        // The ends: no bits after the index (the guard caps the rank), and every bit set.
        hashes.extend([0, u64::MAX, 1, 1 << 63]);
        for p in MIN_PRECISION..=MAX_PRECISION {
            for chunk in hashes.chunks(CHUNK) {
                let expected: Vec<u32> = chunk
                    .iter()
                    .map(|&h| {
                        let (index, rank) = index_and_rank(h, p);
                        index << 8 | rank as u32
                    })
                    .collect();
                for (form, index_rank) in index_rank_into_forms() {
                    let mut out = vec![0u32; chunk.len()];
                    index_rank(chunk, p, &mut out);
                    assert_eq!(out, expected, "{form} at p = {p}");
                }
            }
        }
        for chunk in hashes.chunks(CHUNK) {
            let expected: Vec<u32> = chunk
                .iter()
                .map(|&h| {
                    let (index, rank) = index_and_rank(h, SPARSE_PRECISION);
                    entry(index, rank)
                })
                .collect();
            for (form, entries_of) in sparse_entries_of_forms() {
                let mut out = vec![0u32; chunk.len()];
                entries_of(chunk, &mut out);
                assert_eq!(out, expected, "{form} sparse entries");
            }
        }
    }

    #[test]
    fn inserting_entries_equals_inserting_their_hashes() {
        let mut rng = crate::sketch::testdata::Rng(5);
        for p in [MIN_PRECISION, 10, 14, MAX_PRECISION] {
            // Past the sparse limit too, so runs go into dense registers by folding.
            for n in [0, 1, 11, 12, 13, 70, 700, 5000] {
                let hashes: Vec<u64> = (0..n).map(|_| rng.next()).collect();
                let mut entries = vec![0u32; n];
                sparse_entries_of(&hashes, &mut entries);
                let (mut by_hash, mut by_entry) =
                    (HyperLogLog::new(p).unwrap(), HyperLogLog::new(p).unwrap());
                hashes.iter().for_each(|&h| by_hash.insert_hash(h));
                entries
                    .chunks(9)
                    .for_each(|run| by_entry.insert_entries(run));
                assert_eq!(by_entry, by_hash, "p = {p}, {n} values");
                assert_eq!(by_entry.items(), n as u64);
            }
        }
    }

    #[test]
    fn compaction_keeps_the_highest_rank_of_every_index() {
        use std::collections::BTreeMap;
        let mut rng = crate::sketch::testdata::Rng(11);
        for trial in 0..500u64 {
            let indexes = 1 + trial % 13;
            let mut entries: Vec<u32> = (0..trial % 70)
                .map(|_| entry((rng.next() % indexes) as u32, (1 + rng.next() % 40) as u8))
                .collect();
            let mut want = BTreeMap::new();
            for &e in &entries {
                let r = want.entry(entry_index(e)).or_insert(0);
                *r = entry_rank(e).max(*r);
            }
            entries.sort_unstable();
            let kept = keep_highest_ranks(&mut entries);
            let want: Vec<u32> = want.iter().map(|(&i, &r)| entry(i, r)).collect();
            assert_eq!(entries[..kept], want[..], "trial {trial}");
        }
    }

    #[test]
    fn merging_sorted_entries_keeps_the_max_rank_of_every_index() {
        use std::collections::BTreeMap;
        let mut rng = crate::sketch::testdata::Rng(7);
        let mut sorted_entries = |len: u64, indexes: u64| {
            let mut by_index = BTreeMap::new();
            for _ in 0..len {
                let (i, r) = ((rng.next() % indexes) as u32, (1 + rng.next() % 40) as u8);
                by_index.insert(i, r);
            }
            by_index
        };
        for trial in 0..300u64 {
            let indexes = 1 + trial % 97;
            let (a, b) = (
                sorted_entries(trial % 50, indexes),
                sorted_entries(trial % 23, indexes),
            );
            let as_entries = |m: &BTreeMap<u32, u8>| -> Entries {
                m.iter().map(|(&i, &r)| entry(i, r)).collect()
            };
            let mut want = a.clone();
            for (&i, &r) in &b {
                let e = want.entry(i).or_insert(r);
                *e = (*e).max(r);
            }
            let mut merged = as_entries(&a);
            merge_sorted_into(&mut merged, &as_entries(&b));
            assert_eq!(merged, as_entries(&want), "trial {trial}");
        }
    }

    #[test]
    fn batch_insert_equals_single_inserts() {
        let hashes: Vec<u64> = (0..20_000u64)
            .map(|i| crate::sketch::hash::hash_i64(i as i64))
            .collect();
        let mut a = HyperLogLog::new(12).unwrap();
        hashes.iter().for_each(|&h| a.insert_hash(h));
        let mut b = HyperLogLog::new(12).unwrap();
        hashes.chunks(333).for_each(|c| b.insert_hashes(c));
        assert_eq!(a, b);
    }

    #[test]
    fn batch_inserts_of_any_size_equal_single_inserts_while_sparse() {
        // Repeats, so compactions shrink the list; p = 14 keeps 700 values sparse.
        let hashes: Vec<u64> = (0..5_000u64)
            .map(|i| crate::sketch::hash::hash_i64((i * 7919 % 700) as i64))
            .collect();
        for run in [1, 5, 12, 13, 64, 65, 333] {
            let (mut a, mut b) = (HyperLogLog::new(14).unwrap(), HyperLogLog::new(14).unwrap());
            for chunk in hashes.chunks(run) {
                chunk.iter().for_each(|&h| a.insert_hash(h));
                b.insert_hashes(chunk);
                assert_eq!(a, b, "runs of {run}");
                assert_eq!(a.items(), b.items());
            }
            assert!(b.is_sparse());
        }
    }

    #[test]
    fn corrupt_bodies_are_rejected() {
        let bytes = sketch_of(4, 0..3).to_bytes();
        let env = envelope::decode(&bytes, Family::HyperLogLog).unwrap();
        let reencode =
            |params: &[u8], body: &[u8]| envelope::encode(Family::HyperLogLog, params, body);
        assert!(HyperLogLog::from_bytes(&reencode(&[30], env.body)).is_err());
        assert!(HyperLogLog::from_bytes(&reencode(&[4, 0], env.body)).is_err());
        let mut body = env.body.to_vec();
        body[0] = 7;
        assert!(HyperLogLog::from_bytes(&reencode(env.params, &body)).is_err());
        // A lying entry count must not allocate or read past the end.
        let mut body = env.body.to_vec();
        body[9..13].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(HyperLogLog::from_bytes(&reencode(env.params, &body)).is_err());
        // A rank above the largest possible one.
        let mut body = env.body[..13].to_vec();
        body[9..13].copy_from_slice(&1u32.to_le_bytes());
        body.extend_from_slice(&entry(16, 60).to_le_bytes());
        assert!(HyperLogLog::from_bytes(&reencode(env.params, &body)).is_err());
    }
}
