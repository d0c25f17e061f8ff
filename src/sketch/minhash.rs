//! MinHash: how similar are two sets (Jaccard similarity), and which of many sets are
//! near-duplicates (locality-sensitive hashing), from fixed-size signatures.
//!
//! # Algorithm
//! One-permutation hashing (OPH; Li, Owen and Zhang, 2012) with optimal densification
//! (Shrivastava, "Optimal densification for fast and accurate minwise hashing", 2017): one
//! hash per value, not one per signature entry. A value's 64-bit canonical hash picks one of
//! `k = num_perm` bins with its upper 32 bits by multiply-shift, `((h >> 32) · k) >> 32` (so `k`
//! need not be a power of two), and its lower 32 bits, passed through a 32-bit bijective mixer
//! (the MurmurHash3 finalizer), are its *value* in that bin. Each bin keeps the smallest value
//! seen; `u32::MAX` marks an empty bin (a value that mixes to `u32::MAX` is stored as
//! `u32::MAX - 1`).
//!
//! The sketch keeps these raw bin minima, empty bins included, so merging is exact (below).
//! Only when a fixed-length signature is needed ([`MinHash::signature`],
//! [`MinHash::lsh_bands`]) are empty bins *densified*: empty bin `j` probes bins
//! `probe(j, 1), probe(j, 2), …` (a fixed hash of `(j, attempt)`, the same for every set) and
//! copies the raw minimum of the first non-empty one. After 128 misses (likely only when very
//! few bins are filled) it copies the next non-empty bin cyclically after `probe(j, 129)`. So the
//! same set always densifies the same way, and two sets with the same empty bins copy from the
//! same places, which keeps each densified entry matching with probability `J`.
//!
//! # Guarantees
//! * [`MinHash::jaccard`] reads the raw bins (the OPH estimator of Li, Owen and Zhang): among
//!   the bins filled in either sketch, the fraction where both hold the same minimum. A filled
//!   bin's minimum over `A ∪ B` is equally likely to be any of its values, so it lies in
//!   `A ∩ B`, and both sketches hold it, with probability `J = |A ∩ B| / |A ∪ B|`: the estimate
//!   is unbiased, with standard deviation about `sqrt(J (1 - J) / k)`, 0.044 at `J = 0.5` and
//!   the default `k = 128`, 0.011 at `k = 2048`. It is slightly less for sets much larger than
//!   `k` (OPH samples without replacement; 0.87–1.0× measured) and less for sets smaller than
//!   `k` (0.73–0.84× at 50 values and `k = 128`). Identical sets estimate exactly 1 and
//!   disjoint sets 0 (up to 32-bit value collisions).
//! * Each entry of two densified signatures matches with probability `J` as well, which is
//!   what LSH relies on; for sets much smaller than `k` copied entries are correlated, and the
//!   fraction of matching entries spreads up to about 1.2× `sqrt(J (1 - J) / k)`.
//! * Cost: one multiply-shift, one 32-bit mix and one compare per value; `4k` bytes of state
//!   (512 bytes at `k = 128`). In memory, a sketch with at most 12 filled bins keeps them in
//!   place of its bins and allocates nothing; its states are the same bytes.
//!
//! # Merging
//! Merging takes the bin-wise minimum of the raw bins: the merge of two sketches is exactly
//! the sketch of the union of their inputs (equal bins, equal bytes), and merges commute and
//! associate. Only sketches with the same `num_perm` merge or compare.
//!
//! # Locality-sensitive hashing
//! [`MinHash::lsh_bands`] cuts the densified signature into `b` bands of `r = k / b` rows
//! (trailing `k - b·r` rows unused) and hashes each band to one key. Two sets share at least one
//! key with probability `1 - (1 - J^r)^b` ([`lsh_probability`]): an S-curve rising steeply
//! around `(1/b)^(1/r)` ([`lsh_threshold`]), where it passes about 0.6. So to find pairs of
//! similarity `t` or more, pick `b` with threshold well below `t`; [`lsh_bands_for_recall`]
//! picks the fewest bands (fewest dissimilar candidates) that find pairs of similarity `t` with
//! a given probability. For `k = 128`:
//!
//! | bands × rows | threshold | P(found) at J = 0.5 | at 0.7 | at 0.9 |
//! |---|---|---|---|---|
//! | 64 × 2 | 0.13 | 1.000 | 1.000 | 1.000 |
//! | 32 × 4 | 0.42 | 0.873 | 1.000 | 1.000 |
//! | 25 × 5 | 0.53 | 0.548 | 0.990 | 1.000 |
//! | 21 × 6 | 0.60 | 0.282 | 0.928 | 1.000 |
//! | 16 × 8 | 0.71 | 0.061 | 0.613 | 1.000 |
//! | 12 × 10 | 0.78 | 0.012 | 0.291 | 0.994 |
//! | 8 × 16 | 0.88 | 0.000 | 0.026 | 0.806 |
//! | 4 × 32 | 0.96 | 0.000 | 0.000 | 0.130 |
//!
//! ```
//! use hazy::sketch::Sketch;
//! use hazy::sketch::minhash::{MinHash, lsh_threshold};
//! let mut a = MinHash::new(128).unwrap();
//! let mut b = MinHash::new(128).unwrap();
//! for i in 0..10_000i64 { a.insert(&i); }         // A = 0..10,000
//! for i in 2_000..12_000i64 { b.insert(&i); }     // B = 2,000..12,000: J = 8,000 / 12,000
//! let j = a.jaccard(&b).unwrap();
//! assert!((j - 2.0 / 3.0).abs() < 0.15, "{j}");  // sd 0.042
//! // 32 bands of 4 rows: threshold 0.42, so this pair shares a band key.
//! assert!((lsh_threshold(32, 4) - 0.42).abs() < 0.01);
//! let (ka, kb) = (a.lsh_bands(32).unwrap(), b.lsh_bands(32).unwrap());
//! assert!(ka.iter().zip(&kb).any(|(x, y)| x == y));
//! a.merge(&b).unwrap();                           // the sketch of A ∪ B
//! assert_eq!(MinHash::from_bytes(&a.to_bytes()).unwrap(), a);
//! ```

use super::envelope::{self, Family, Reader};
use super::error::{Result, SketchError, check_range};
use super::hash::CanonicalHash;
use super::state::{Description, Sketch};
use smallvec::SmallVec;
use std::borrow::Cow;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Signature length when none is given.
pub const DEFAULT_NUM_PERM: u32 = 128;
/// Smallest signature length accepted.
pub const MIN_NUM_PERM: u32 = 16;
/// Largest signature length accepted.
pub const MAX_NUM_PERM: u32 = 4096;

/// The raw value of an empty bin.
const EMPTY: u32 = u32::MAX;
/// Probes of the densification hash before falling back to a cyclic scan.
const MAX_PROBES: u32 = 128;
/// Seed of the densification probe hash.
const PROBE_SEED: u64 = 0x5851_F42D_4C95_7F2D;
/// LSH keys carry the band index in their top 12 bits (bands ≤ 4096 = 2^12).
const BAND_SHIFT: u32 = 52;
/// Transit modes (docs/FORMAT.md): the filled bins as a list, every bin, or one value.
const TRANSIT_SPARSE: u8 = 0;
const TRANSIT_DENSE: u8 = 1;
const TRANSIT_SINGLE: u8 = 2;
/// Bytes of one filled bin in a sparse transit list: the bin (u16) and its value (u32).
const SPARSE_ENTRY: usize = 6;

/// The MurmurHash3 32-bit finalizer: a bijection that spreads every input bit.
#[inline]
fn fmix32(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x85eb_ca6b);
    x ^= x >> 13;
    x = x.wrapping_mul(0xc2b2_ae35);
    x ^ (x >> 16)
}

/// The splitmix64 finalizer.
#[inline]
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Multiply-shift of a 32-bit value onto `0..k`.
#[inline]
fn reduce(x: u32, k: u32) -> usize {
    ((x as u64 * k as u64) >> 32) as usize
}

/// The bin (from the upper 32 bits) and the value (from the lower 32 bits) of a hash.
#[inline]
fn bin_and_value(hash: u64, k: u32) -> (usize, u32) {
    (
        reduce((hash >> 32) as u32, k),
        fmix32(hash as u32).min(EMPTY - 1),
    )
}

/// The bin an empty bin `j` looks at on attempt `attempt` (1-based) when densifying.
#[inline]
fn probe(j: u32, attempt: u32, k: u32) -> usize {
    let h = mix64(PROBE_SEED ^ ((j as u64) << 32 | attempt as u64));
    reduce((h >> 32) as u32, k)
}

/// A MinHash sketch: `num_perm` bins of one-permutation hashing.
#[derive(Debug, Clone)]
pub struct MinHash {
    num_perm: u32,
    /// Non-null values inserted (counting repeats), summed over merges.
    items: u64,
    /// The smallest value seen per bin, [`EMPTY`] when none; no bins at all while the
    /// sketch is small (`few` holds them).
    bins: Box<[u32]>,
    /// The filled bins of a small sketch, `(bin, smallest value)`, one per bin: a sketch of a
    /// few values (an entity with a handful of events) allocates nothing and fills no
    /// `num_perm` bins until more than [`INLINE_BINS`] are filled.
    few: SmallVec<[(u16, u32); INLINE_BINS]>,
}

/// How many filled bins a small sketch holds in place of its bins.
const INLINE_BINS: usize = 12;

/// Equal when they hold the same bins and count, whichever form holds them.
impl PartialEq for MinHash {
    fn eq(&self, other: &Self) -> bool {
        (self.num_perm, self.items) == (other.num_perm, other.items)
            && self.dense() == other.dense()
    }
}

impl Eq for MinHash {}

fn check_num_perm(num_perm: u32) -> Result<()> {
    check_range("minhash num_perm", num_perm, MIN_NUM_PERM..=MAX_NUM_PERM)
}

impl MinHash {
    /// An empty sketch of `num_perm` bins, 16..=4096.
    pub fn new(num_perm: u32) -> Result<Self> {
        check_num_perm(num_perm)?;
        Ok(Self {
            num_perm,
            items: 0,
            bins: Box::default(),
            few: SmallVec::new(),
        })
    }

    /// Every bin, [`EMPTY`] where none is filled: the bins themselves, or those of a small
    /// sketch laid out.
    fn dense(&self) -> Cow<'_, [u32]> {
        if !self.bins.is_empty() {
            return Cow::Borrowed(&self.bins);
        }
        let mut bins = vec![EMPTY; self.num_perm as usize];
        for &(bin, value) in &self.few {
            bins[bin as usize] = value;
        }
        Cow::Owned(bins)
    }

    /// Turns a small sketch into one with every bin.
    fn fill_every_bin(&mut self) {
        if self.bins.is_empty() {
            self.bins = self.dense().into_owned().into_boxed_slice();
            self.few.clear();
        }
    }

    /// Keeps the smaller of `value` and what bin `bin` holds.
    #[inline]
    fn keep_min(&mut self, bin: usize, value: u32) {
        if self.bins.is_empty() {
            if let Some(held) = self.few.iter_mut().find(|(b, _)| *b as usize == bin) {
                held.1 = held.1.min(value);
                return;
            }
            if self.few.len() < INLINE_BINS {
                // bin < num_perm <= 4096
                self.few.push((bin as u16, value));
                return;
            }
            self.fill_every_bin();
        }
        let b = &mut self.bins[bin];
        *b = (*b).min(value);
    }

    /// The signature length `k`.
    pub fn num_perm(&self) -> u32 {
        self.num_perm
    }

    /// Adds a value given its 64-bit canonical hash.
    #[inline]
    pub fn insert_hash(&mut self, hash: u64) {
        self.items = self.items.saturating_add(1);
        let (bin, value) = bin_and_value(hash, self.num_perm);
        self.keep_min(bin, value);
    }

    /// Adds a value by its canonical hash (see [`super::hash`]).
    #[inline]
    pub fn insert<T: CanonicalHash + ?Sized>(&mut self, v: &T) {
        self.insert_hash(v.canonical_hash());
    }

    /// Appends the transit state of a sketch of the one value with canonical hash `hash`,
    /// without building the sketch: 16 bytes where the stored state takes `32 + 4k`. This is
    /// what skipped partial aggregation sends per row.
    pub fn write_transit_single(num_perm: u32, hash: u64, out: &mut Vec<u8>) -> Result<()> {
        check_num_perm(num_perm)?;
        let (bin, value) = bin_and_value(hash, num_perm);
        envelope::write_transit_header(Family::MinHash, out);
        out.extend_from_slice(&num_perm.to_le_bytes());
        write_single_payload(bin, value, out);
        Ok(())
    }

    /// Adds a checked transit state of the same `num_perm`.
    fn merge_transit_view(&mut self, view: &TransitView<'_>) {
        self.items = self.items.saturating_add(view.items);
        match view.bins {
            TransitBins::Single(bin, value) => self.keep_min(bin, value),
            TransitBins::Sparse(raw) => sparse_entries(raw).for_each(|(b, v)| self.keep_min(b, v)),
            TransitBins::Dense(raw) => {
                self.fill_every_bin();
                self.bins
                    .iter_mut()
                    .zip(u32s(raw))
                    .for_each(|(a, b)| *a = (*a).min(b));
            }
        }
    }

    fn check_compatible(&self, num_perm: u32, what: &str) -> Result<()> {
        if self.num_perm != num_perm {
            return Err(SketchError::Incompatible(format!(
                "minhash sketches of different num_perm ({} vs {num_perm}) cannot be {what}; \
                 build both with the same num_perm",
                self.num_perm
            )));
        }
        Ok(())
    }

    /// Whether no value was inserted.
    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    /// Non-null values inserted (counting repeats), summed over merges.
    pub fn items(&self) -> u64 {
        self.items
    }

    /// Bins holding a value (at most the number of distinct values inserted).
    pub fn filled_bins(&self) -> u32 {
        if self.bins.is_empty() {
            return self.few.len() as u32;
        }
        self.bins.iter().filter(|&&b| b != EMPTY).count() as u32
    }

    /// The raw bins: the smallest value per bin, `u32::MAX` for an empty bin.
    pub fn raw_bins(&self) -> Cow<'_, [u32]> {
        self.dense()
    }

    /// The densified signature: `num_perm` values, each empty bin filled from a non-empty
    /// one (see the module docs). Empty for an empty sketch.
    pub fn signature(&self) -> Vec<u32> {
        if self.is_empty() {
            return Vec::new();
        }
        let k = self.num_perm;
        let bins = self.dense();
        let mut sig = bins.to_vec();
        for j in 0..k {
            if bins[j as usize] != EMPTY {
                continue;
            }
            let found = (1..=MAX_PROBES)
                .map(|a| probe(j, a, k))
                .find(|&t| bins[t] != EMPTY)
                .unwrap_or_else(|| {
                    let start = probe(j, MAX_PROBES + 1, k);
                    (0..k as usize)
                        .map(|i| (start + i) % k as usize)
                        .find(|&t| bins[t] != EMPTY)
                        .expect("a non-empty sketch has a filled bin")
                });
            // Copy from the raw bins, never from another densified bin.
            sig[j as usize] = bins[found];
        }
        sig
    }

    /// The estimated Jaccard similarity `|A ∩ B| / |A ∪ B|` of the two inputs: among the bins
    /// filled in either sketch, the fraction where both hold the same minimum (no
    /// densification needed; see the module docs). Two empty sketches are identical (1.0); an empty
    /// and a non-empty one share nothing (0.0). Fails if `num_perm` differs.
    pub fn jaccard(&self, other: &MinHash) -> Result<f64> {
        self.check_compatible(other.num_perm, "compared")?;
        Ok(match (self.is_empty(), other.is_empty()) {
            (true, true) => 1.0,
            (true, false) | (false, true) => 0.0,
            (false, false) => {
                let (mut filled, mut equal) = (0u32, 0u32);
                for (&a, &b) in self.dense().iter().zip(other.dense().iter()) {
                    if a != EMPTY || b != EMPTY {
                        filled += 1;
                        equal += (a == b) as u32;
                    }
                }
                equal as f64 / filled as f64
            }
        })
    }

    /// One key per band for locality-sensitive hashing: the densified signature cut into
    /// `bands` bands of `rows = num_perm / bands` rows (the last `num_perm - bands·rows` entries
    /// unused). Key `i` is the band index `i` in the top 12 bits and, below it, the top 52
    /// bits of xxh3-64 (seed `i`) of the band's rows as little-endian u32s. Two sketches share
    /// key `i` when band `i` of their signatures matches (or, with probability 2^-52, by
    /// accident); keys of different bands never collide. `bands` must lie in
    /// `1..=num_perm`; an empty sketch has no keys.
    pub fn lsh_bands(&self, bands: u32) -> Result<Vec<u64>> {
        if bands == 0 || bands > self.num_perm {
            return Err(SketchError::InvalidParameter(format!(
                "minhash bands must lie in 1..={} (num_perm), got {bands}",
                self.num_perm
            )));
        }
        if self.is_empty() {
            return Ok(Vec::new());
        }
        let rows = (self.num_perm / bands) as usize;
        let sig = self.signature();
        let mut buf = Vec::with_capacity(rows * 4);
        Ok(sig
            .chunks_exact(rows)
            .take(bands as usize)
            .enumerate()
            .map(|(i, band)| {
                buf.clear();
                envelope::put_le(&mut buf, band, u32::to_le_bytes);
                let h = xxh3_64_with_seed(&buf, i as u64);
                (i as u64) << BAND_SHIFT | h >> (64 - BAND_SHIFT)
            })
            .collect())
    }
}

impl Sketch for MinHash {
    const FAMILY: Family = Family::MinHash;

    /// Heap bytes held (for memory accounting).
    fn heap_size(&self) -> usize {
        // `few` never outgrows its inline room: the sketch turns dense first.
        self.bins.len() * 4
    }

    /// Appends the complete serialized state (see `docs/FORMAT.md`).
    fn write_to(&self, out: &mut Vec<u8>) {
        envelope::encode_with(Family::MinHash, &self.num_perm.to_le_bytes(), out, |body| {
            let bins = self.dense();
            body.reserve(8 + bins.len() * 4);
            body.extend_from_slice(&self.items.to_le_bytes());
            envelope::put_le(body, &bins, u32::to_le_bytes);
        });
    }

    /// Decodes a state, validating every field; never panics.
    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (num_perm, items, raw) = parse(bytes)?;
        Ok(Self {
            num_perm,
            items,
            bins: u32s(raw).collect(),
            few: SmallVec::new(),
        })
    }

    /// Adds `other` in: afterwards this is exactly the sketch of the union of both inputs.
    fn merge(&mut self, other: &MinHash) -> Result<()> {
        self.check_compatible(other.num_perm, "merged")?;
        self.items = self.items.saturating_add(other.items);
        if other.bins.is_empty() {
            other
                .few
                .iter()
                .for_each(|&(b, v)| self.keep_min(b as usize, v));
            return Ok(());
        }
        self.fill_every_bin();
        self.bins
            .iter_mut()
            .zip(other.bins.iter())
            .for_each(|(a, &b)| *a = (*a).min(b));
        Ok(())
    }

    /// Merges a serialized sketch in without decoding it into a sketch first. The state is
    /// validated completely before anything changes, so on error this sketch is untouched.
    fn merge_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let (num_perm, items, raw) = parse(bytes)?;
        self.check_compatible(num_perm, "merged")?;
        self.items = self.items.saturating_add(items);
        self.fill_every_bin();
        self.bins
            .iter_mut()
            .zip(u32s(raw))
            .for_each(|(a, b)| *a = (*a).min(b));
        Ok(())
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(envelope::OVERHEAD + 12 + self.num_perm as usize * 4);
        self.write_to(&mut out);
        out
    }

    /// One value as itself, the filled bins as a list while that is smaller than every bin
    /// (what a sketch of a small set, a few values per group, sends from a partial
    /// aggregate), else every bin.
    fn write_transit(&self, out: &mut Vec<u8>) {
        envelope::write_transit_header(Family::MinHash, out);
        out.extend_from_slice(&self.num_perm.to_le_bytes());
        let filled = self.filled_bins() as usize;
        if filled * SPARSE_ENTRY >= self.num_perm as usize * 4 {
            out.push(TRANSIT_DENSE);
            out.extend_from_slice(&self.items.to_le_bytes());
            envelope::put_le(out, &self.dense(), u32::to_le_bytes);
            return;
        }
        if self.bins.is_empty() {
            // A small sketch lists its few bins without laying out every bin first.
            let mut few = self.few.clone();
            few.sort_unstable_by_key(|&(bin, _)| bin);
            let few = few.iter().map(|&(bin, value)| (bin as usize, value));
            return write_filled_bins(self.items, filled, few, out);
        }
        let filled_bins = self.bins.iter().enumerate().filter(|&(_, &v)| v != EMPTY);
        write_filled_bins(self.items, filled, filled_bins.map(|(b, &v)| (b, v)), out);
    }

    fn from_transit(bytes: &[u8]) -> Result<Self> {
        let view = TransitView::parse(bytes)?;
        let mut sketch = MinHash::new(view.num_perm)?;
        sketch.merge_transit_view(&view);
        Ok(sketch)
    }

    fn merge_transit(&mut self, bytes: &[u8]) -> Result<()> {
        let view = TransitView::parse(bytes)?;
        self.check_compatible(view.num_perm, "merged")?;
        self.merge_transit_view(&view);
        Ok(())
    }

    fn describe(&self) -> Description {
        Description {
            parameters: format!("num_perm={}", self.num_perm()),
            mode: "one-permutation".to_string(),
            items: self.items(),
            details: format!(
                "filled_bins={}, jaccard_sd_at_0.5={:.4}",
                self.filled_bins(),
                (0.25 / self.num_perm() as f64).sqrt()
            ),
        }
    }
}

/// The little-endian u32s of a byte slice whose length is a multiple of 4.
fn u32s(raw: &[u8]) -> impl Iterator<Item = u32> + '_ {
    raw.chunks_exact(4)
        .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")))
}

/// The payload of a transit state of `filled` bins, given in bin order: one value as itself,
/// else the list of filled bins.
fn write_filled_bins(
    items: u64,
    filled: usize,
    mut bins: impl Iterator<Item = (usize, u32)>,
    out: &mut Vec<u8>,
) {
    if items == 1 && filled == 1 {
        let (bin, value) = bins.next().expect("one filled bin");
        return write_single_payload(bin, value, out);
    }
    out.push(TRANSIT_SPARSE);
    out.extend_from_slice(&items.to_le_bytes());
    out.extend_from_slice(&(filled as u32).to_le_bytes());
    for (bin, value) in bins {
        out.extend_from_slice(&(bin as u16).to_le_bytes());
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// The mode and bin of a transit state of one value.
fn write_single_payload(bin: usize, value: u32, out: &mut Vec<u8>) {
    out.push(TRANSIT_SINGLE);
    out.extend_from_slice(&(bin as u16).to_le_bytes());
    out.extend_from_slice(&value.to_le_bytes());
}

/// A validated, borrowed view of a transit state.
struct TransitView<'a> {
    num_perm: u32,
    items: u64,
    bins: TransitBins<'a>,
}

enum TransitBins<'a> {
    /// The bin and value of the one item.
    Single(usize, u32),
    /// Entries of [`SPARSE_ENTRY`] bytes: bins strictly increasing, values never empty.
    Sparse(&'a [u8]),
    /// `num_perm` little-endian u32 bins.
    Dense(&'a [u8]),
}

impl<'a> TransitView<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(envelope::transit_payload(bytes, Family::MinHash)?);
        let num_perm = r.u32()?;
        check_num_perm(num_perm)?;
        let corrupt = |m: String| Err(SketchError::Corrupt(m));
        let (items, bins, filled) = match r.u8()? {
            TRANSIT_SINGLE => {
                let (bin, value) = (r.u16()? as usize, r.u32()?);
                if bin >= num_perm as usize || value == EMPTY {
                    return corrupt(format!(
                        "minhash transit value {value} in bin {bin} of {num_perm}"
                    ));
                }
                (1, TransitBins::Single(bin, value), 1)
            }
            TRANSIT_SPARSE => {
                let items = r.u64()?;
                let n = r.u32()? as usize;
                if n > num_perm as usize || n * SPARSE_ENTRY != r.remaining() {
                    return corrupt(format!(
                        "minhash transit list declares {n} bins in {} bytes",
                        r.remaining()
                    ));
                }
                let raw = r.take(n * SPARSE_ENTRY)?;
                check_sparse_entries(raw, num_perm)?;
                (items, TransitBins::Sparse(raw), n as u64)
            }
            TRANSIT_DENSE => {
                let items = r.u64()?;
                let raw = r.take(num_perm as usize * 4)?;
                let filled = u32s(raw).filter(|&b| b != EMPTY).count() as u64;
                (items, TransitBins::Dense(raw), filled)
            }
            other => return corrupt(format!("unknown minhash transit mode {other}")),
        };
        r.finish("minhash transit state")?;
        check_filled(items, filled)?;
        Ok(Self {
            num_perm,
            items,
            bins,
        })
    }
}

/// The (bin, value) entries of a sparse transit list.
fn sparse_entries(raw: &[u8]) -> impl Iterator<Item = (usize, u32)> + '_ {
    raw.chunks_exact(SPARSE_ENTRY).map(|e| {
        let bin = u16::from_le_bytes([e[0], e[1]]) as usize;
        (bin, u32::from_le_bytes([e[2], e[3], e[4], e[5]]))
    })
}

/// Checks that a sparse list's bins are strictly increasing and below `num_perm`, and that no
/// value marks an empty bin.
fn check_sparse_entries(raw: &[u8], num_perm: u32) -> Result<()> {
    let mut next_allowed = 0;
    for (bin, value) in sparse_entries(raw) {
        if bin < next_allowed || bin >= num_perm as usize || value == EMPTY {
            return Err(SketchError::Corrupt(format!(
                "minhash transit entry ({bin}, {value}) is out of order, outside {num_perm} \
                 bins or empty"
            )));
        }
        next_allowed = bin + 1;
    }
    Ok(())
}

/// A state's filled bins must come from its items: none without items, at most one per item.
fn check_filled(items: u64, filled: u64) -> Result<()> {
    if (items == 0) != (filled == 0) || filled > items {
        return Err(SketchError::Corrupt(format!(
            "minhash with {filled} filled bins from {items} items"
        )));
    }
    Ok(())
}

/// Validates a serialized sketch: its `num_perm`, `items` and raw bin bytes.
fn parse(bytes: &[u8]) -> Result<(u32, u64, &[u8])> {
    let (num_perm, mut body) = envelope::open(bytes, Family::MinHash, Reader::u32)?;
    check_num_perm(num_perm)?;
    let items = body.u64()?;
    let expected = num_perm as usize * 4;
    if body.remaining() != expected {
        return Err(SketchError::Corrupt(format!(
            "minhash bins take {} bytes, expected {expected} for num_perm {num_perm}",
            body.remaining()
        )));
    }
    let raw = body.take(expected)?;
    check_filled(items, u32s(raw).filter(|&b| b != EMPTY).count() as u64)?;
    Ok((num_perm, items, raw))
}

/// The approximate similarity threshold of LSH with `bands` bands of `rows` rows:
/// `(1/b)^(1/r)`, where the S-curve [`lsh_probability`] rises most steeply (it is about 0.6
/// there). Bands and rows below 1 count as 1.
pub fn lsh_threshold(bands: u32, rows: u32) -> f64 {
    let (b, r) = (bands.max(1) as f64, rows.max(1) as f64);
    (1.0 / b).powf(1.0 / r)
}

/// The probability that two sets of Jaccard similarity `jaccard` share at least one of
/// `bands` band keys of `rows` rows: `1 - (1 - s^r)^b`. Bands and rows below 1 count as 1.
pub fn lsh_probability(jaccard: f64, bands: u32, rows: u32) -> f64 {
    let s = jaccard.clamp(0.0, 1.0);
    let (b, r) = (bands.max(1) as i32, rows.max(1) as i32);
    1.0 - (1.0 - s.powi(r)).powi(b)
}

/// The number of bands (rows `num_perm / bands`) for finding pairs of similarity `jaccard` or
/// more with probability at least `recall`, using as few bands (as many rows per band, so as
/// few dissimilar candidates) as possible. If even `num_perm` bands of one row miss the
/// recall, returns `num_perm`. Fails unless `num_perm` is valid, `jaccard` lies in `(0, 1]`
/// and `recall` in `(0, 1)`.
pub fn lsh_bands_for_recall(num_perm: u32, jaccard: f64, recall: f64) -> Result<u32> {
    check_num_perm(num_perm)?;
    let valid = jaccard > 0.0 && jaccard <= 1.0 && recall > 0.0 && recall < 1.0;
    if !valid {
        return Err(SketchError::InvalidParameter(format!(
            "minhash LSH needs a similarity in (0, 1] and a recall in (0, 1), got {jaccard} and {recall}"
        )));
    }
    Ok((1..=num_perm)
        .rev()
        .map(|rows| num_perm / rows)
        .find(|&bands| lsh_probability(jaccard, bands, num_perm / bands) >= recall)
        .unwrap_or(num_perm))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch::hash::{hash_i64, hash_u64};
    use crate::sketch::testdata::{merged_both_ways, splitmix};
    use std::collections::HashMap;

    fn sketch_of(k: u32, hashes: impl IntoIterator<Item = u64>) -> MinHash {
        let mut s = MinHash::new(k).unwrap();
        hashes.into_iter().for_each(|h| s.insert_hash(h));
        s
    }

    /// Two sets with union `u` and intersection `round(j · u)`, as hashes of distinct ids.
    fn set_pair(u: usize, j: f64, seed: u64) -> (Vec<u64>, Vec<u64>, f64) {
        let common = (j * u as f64).round() as usize;
        let only_a = (u - common) / 2;
        let base = seed << 32;
        let ids = |from: usize, to: usize| (from..to).map(move |i| hash_u64(base + i as u64));
        let a: Vec<u64> = ids(0, common + only_a).collect();
        let b: Vec<u64> = ids(0, common).chain(ids(common + only_a, u)).collect();
        (a, b, common as f64 / u as f64)
    }

    struct Accuracy {
        bias: f64,
        sd: f64,
        theory: f64,
        beyond_3sd: usize,
    }

    fn accuracy(k: u32, j: f64, trials: u64, size: impl Fn(u64) -> usize) -> Accuracy {
        let mut errors = Vec::new();
        let mut theory = 0.0;
        let mut beyond_3sd = 0;
        for t in 0..trials {
            let seed = (j * 1000.0) as u64 * 1_000_003 + t * 7919 + k as u64;
            let (a, b, truth) = set_pair(size(seed), j, seed);
            let est = sketch_of(k, a).jaccard(&sketch_of(k, b)).unwrap();
            let sd = (truth * (1.0 - truth) / k as f64).sqrt();
            theory += sd / trials as f64;
            if (est - truth).abs() > 3.0 * sd + 1e-12 {
                beyond_3sd += 1;
            }
            errors.push(est - truth);
        }
        let n = errors.len() as f64;
        let bias = errors.iter().sum::<f64>() / n;
        let sd = (errors.iter().map(|e| (e - bias).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        Accuracy {
            bias,
            sd,
            theory,
            beyond_3sd,
        }
    }

    fn check_accuracy(k: u32, label: &str, size: impl Fn(u64) -> usize + Copy, small: bool) {
        let trials = 200;
        let mut beyond = 0;
        let mut checked = 0;
        for j in [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0] {
            let acc = accuracy(k, j, trials, size);
            println!(
                "minhash k={k} {label} J={j:<4}: bias {:+.4} sd {:.4} (theory {:.4}, ratio {:.2}) \
                 beyond 3 sd {}/{trials}",
                acc.bias,
                acc.sd,
                acc.theory,
                if acc.theory > 0.0 {
                    acc.sd / acc.theory
                } else {
                    0.0
                },
                acc.beyond_3sd
            );
            if j == 0.0 || j == 1.0 {
                assert_eq!(
                    (acc.bias, acc.sd),
                    (0.0, 0.0),
                    "J = {j} is estimated exactly"
                );
                continue;
            }
            beyond += acc.beyond_3sd;
            checked += trials as usize;
            // Unbiased: the mean of 200 trials lies within 4 standard errors of the truth.
            let standard_error = acc.theory / (trials as f64).sqrt();
            assert!(
                acc.bias.abs() < 4.0 * standard_error,
                "J={j} bias {}",
                acc.bias
            );
            // The spread matches sqrt(J(1-J)/k): slightly less for large sets (sampling
            // without replacement), and no more for small ones.
            let ratio = acc.sd / acc.theory;
            let low = if small { 0.5 } else { 0.8 };
            assert!((low..1.2).contains(&ratio), "J={j} sd ratio {ratio}");
        }
        // About 0.27% of a normal lies beyond 3 sd; allow 0.5% (the estimate is discrete).
        assert!(
            beyond as f64 <= 0.005 * checked as f64,
            "{beyond} of {checked} trials beyond 3 sd"
        );
    }

    #[test]
    fn jaccard_is_accurate_for_large_sets() {
        check_accuracy(
            128,
            "sets of 1k-10k",
            |s| 1_000 + (s % 9_001) as usize,
            false,
        );
    }

    #[test]
    fn jaccard_is_accurate_for_small_sets() {
        check_accuracy(128, "sets of ~50", |s| 45 + (s % 11) as usize, true);
    }

    #[test]
    fn jaccard_is_accurate_for_other_signature_lengths() {
        check_accuracy(
            16,
            "sets of 1k-10k",
            |s| 1_000 + (s % 9_001) as usize,
            false,
        );
        check_accuracy(
            1000,
            "sets of 1k-10k",
            |s| 1_000 + (s % 9_001) as usize,
            false,
        );
    }

    /// The fraction of equal densified signature entries: what LSH bands see.
    fn densified_jaccard(a: &MinHash, b: &MinHash) -> f64 {
        let (x, y) = (a.signature(), b.signature());
        x.iter().zip(&y).filter(|(p, q)| p == q).count() as f64 / x.len() as f64
    }

    #[test]
    fn densified_signatures_match_at_the_jaccard_rate() {
        let k = 128;
        let trials = 200;
        for size in [50, 200, 1000] {
            for j in [0.25, 0.5, 0.75] {
                let mut errors = Vec::new();
                for t in 0..trials {
                    let seed = 77_000_000 + size as u64 * 1000 + (j * 100.0) as u64 * 7 + t;
                    let (a, b, truth) = set_pair(size, j, seed);
                    let (sa, sb) = (sketch_of(k, a), sketch_of(k, b));
                    errors.push(densified_jaccard(&sa, &sb) - truth);
                }
                let n = trials as f64;
                let bias = errors.iter().sum::<f64>() / n;
                let sd =
                    (errors.iter().map(|e| (e - bias).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
                let theory = (j * (1.0 - j) / k as f64).sqrt();
                println!(
                    "minhash k={k} densified, union {size} J={j}: bias {bias:+.4} sd {sd:.4} \
                     (theory {theory:.4}, ratio {:.2})",
                    sd / theory
                );
                assert!(
                    bias.abs() < 4.0 * theory / n.sqrt(),
                    "{size} {j}: bias {bias}"
                );
                // Copied entries are correlated: a little more spread for sets smaller than k.
                assert!(sd / theory < 1.35, "{size} {j}: sd {sd}");
            }
        }
    }

    /// Pins bins, values, densification and band keys to values computed independently from
    /// `docs/FORMAT.md`.
    #[test]
    fn layout_matches_the_format_spec() {
        let s = sketch_of(
            16,
            [
                0xF000_0000_1234_5678,
                0x0123_4567_89AB_CDEF,
                0xDEAD_BEEF_CAFE_BABE,
            ],
        );
        let mut raw = [EMPTY; 16];
        raw[15] = 3816608188;
        raw[0] = 1302822782;
        raw[13] = 2046756072;
        assert_eq!(s.raw_bins(), &raw[..]);
        let sig = s.signature();
        let expected: [u32; 16] = [
            0x4da77f7e, 0x4da77f7e, 0x4da77f7e, 0xe37cd1bc, 0x79ff04e8, 0xe37cd1bc, 0xe37cd1bc,
            0xe37cd1bc, 0x79ff04e8, 0x4da77f7e, 0xe37cd1bc, 0x79ff04e8, 0x4da77f7e, 0x79ff04e8,
            0x79ff04e8, 0xe37cd1bc,
        ];
        assert_eq!(sig, expected);
        let keys = s.lsh_bands(3).unwrap();
        for (i, key) in keys.iter().enumerate() {
            let bytes: Vec<u8> = sig[i * 5..i * 5 + 5]
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect();
            let h = xxh3_64_with_seed(&bytes, i as u64);
            assert_eq!(*key, (i as u64) << 52 | h >> 12);
        }
        let bytes = s.to_bytes();
        assert_eq!(&bytes[12..16], &16u32.to_le_bytes());
        assert_eq!(&bytes[16..24], &3u64.to_le_bytes());
        assert_eq!(&bytes[24..28], &1302822782u32.to_le_bytes());
        assert_eq!(&bytes[28..32], &u32::MAX.to_le_bytes());
    }

    #[test]
    fn empty_and_tiny_sketches() {
        let e = MinHash::new(64).unwrap();
        let mut one = MinHash::new(64).unwrap();
        one.insert(&1);
        let mut other = MinHash::new(64).unwrap();
        other.insert(&2);
        assert!(e.is_empty() && !one.is_empty());
        assert_eq!(e.jaccard(&e).unwrap(), 1.0);
        assert_eq!(e.jaccard(&one).unwrap(), 0.0);
        assert_eq!(one.jaccard(&e).unwrap(), 0.0);
        assert_eq!(one.jaccard(&one.clone()).unwrap(), 1.0);
        assert_eq!(one.jaccard(&other).unwrap(), 0.0);
        assert_eq!(e.signature(), Vec::<u32>::new());
        assert_eq!(e.lsh_bands(8).unwrap(), Vec::<u64>::new());
        assert_eq!((one.filled_bins(), one.items()), (1, 1));
        // One value densifies to a constant signature, also at the largest size.
        let sig = one.signature();
        assert!(sig.len() == 64 && sig.iter().all(|&v| v == sig[0] && v != EMPTY));
        let mut big = MinHash::new(MAX_NUM_PERM).unwrap();
        big.insert(&"x");
        assert!(big.signature().iter().all(|&v| v != EMPTY));
        // Repeats count as items, not as bins.
        one.insert(&1);
        assert_eq!((one.filled_bins(), one.items()), (1, 2));
    }

    #[test]
    fn signatures_are_deterministic_and_order_independent() {
        let mut state = 1;
        let hashes: Vec<u64> = (0..300).map(|_| splitmix(&mut state)).collect();
        let forward = sketch_of(128, hashes.iter().copied());
        let backward = sketch_of(128, hashes.iter().rev().copied());
        let mut shuffled = hashes.clone();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, splitmix(&mut state) as usize % (i + 1));
        }
        let shuffled = sketch_of(128, shuffled);
        assert_eq!(forward, backward);
        assert_eq!(forward, shuffled);
        assert_eq!(forward.to_bytes(), shuffled.to_bytes());
        assert_eq!(forward.signature(), shuffled.signature());
        assert!(
            forward.filled_bins() < 128,
            "some bins are empty at 300 values"
        );
        assert!(forward.signature().iter().all(|&v| v != EMPTY));
        // Densified entries are copies of filled bins.
        let raw = forward.raw_bins();
        assert!(forward.signature().iter().all(|v| raw.contains(v)));
    }

    #[test]
    fn transit_states_carry_the_same_sketch_in_every_mode() {
        for (k, n) in [
            (16, 0),
            (128, 1),
            (128, 10),
            (128, 60),
            (128, 5_000),
            (4096, 3),
        ] {
            let s = sketch_of(k, (0..n).map(hash_i64));
            let mut t = Vec::new();
            s.write_transit(&mut t);
            assert!(envelope::is_transit(&t));
            assert_eq!(MinHash::from_transit(&t).unwrap(), s, "k {k}, n {n}");
            assert_eq!(MinHash::decode_any(&t).unwrap(), s);
            let other = sketch_of(k, (n / 2..n + 7).map(hash_i64));
            let (mut via_transit, mut via_sketch) = (other.clone(), other.clone());
            via_transit.merge_transit(&t).unwrap();
            via_sketch.merge(&s).unwrap();
            assert_eq!(via_transit, via_sketch, "k {k}, n {n}");
            if n <= 10 {
                assert!(
                    t.len() * 4 < s.to_bytes().len(),
                    "{} bytes for {n}",
                    t.len()
                );
            }
        }
        let mut single = Vec::new();
        MinHash::write_transit_single(128, hash_i64(42), &mut single).unwrap();
        assert_eq!(single.len(), 17);
        let one = sketch_of(128, [hash_i64(42)]);
        assert_eq!(MinHash::from_transit(&single).unwrap(), one);
        assert!(MinHash::new(16).unwrap().merge_transit(&single).is_err());
        assert!(MinHash::write_transit_single(8, 1, &mut single).is_err());
    }

    #[test]
    fn corrupt_transit_states_are_refused() {
        let mut t = Vec::new();
        sketch_of(128, (0..10).map(hash_i64)).write_transit(&mut t);
        for len in 0..t.len() {
            assert!(MinHash::from_transit(&t[..len]).is_err(), "{len}");
        }
        // Header 6, num_perm 4, mode 1, items 8, count 4: the entries start at 23.
        let first = 23;
        let mut swapped = t.clone();
        swapped[first..first + 12].rotate_left(6);
        let mut empty_value = t.clone();
        empty_value[first + 2..first + 6].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut no_items = t.clone();
        no_items[11..19].copy_from_slice(&0u64.to_le_bytes());
        let mut unknown_mode = t.clone();
        unknown_mode[10] = 9;
        let mut single = Vec::new();
        MinHash::write_transit_single(16, hash_i64(1), &mut single).unwrap();
        single[11..13].copy_from_slice(&16u16.to_le_bytes());
        for bad in [swapped, empty_value, no_items, unknown_mode, single] {
            let err = MinHash::from_transit(&bad).unwrap_err();
            assert!(matches!(err, SketchError::Corrupt(_)), "{err}");
        }
    }

    #[test]
    fn merge_equals_the_sketch_of_the_union() {
        for (na, nb, k) in [
            (0, 10, 128),
            (30, 40, 128),
            (5_000, 300, 256),
            (2_000, 2_000, 16),
        ] {
            let (a, b, _) = set_pair(na + nb, 0.3, (na + nb) as u64);
            let (a, b) = (&a[..na.min(a.len())], &b[..nb.min(b.len())]);
            let sa = sketch_of(k, a.iter().copied());
            let sb = sketch_of(k, b.iter().copied());
            let union = sketch_of(k, a.iter().chain(b).copied());
            let mut ab = sa.clone();
            ab.merge(&sb).unwrap();
            let mut ba = sb.clone();
            ba.merge(&sa).unwrap();
            assert_eq!(ab, union);
            assert_eq!(ba, union);
            assert_eq!(ab.to_bytes(), union.to_bytes());
            let mut via_bytes = sa.clone();
            via_bytes.merge_bytes(&sb.to_bytes()).unwrap();
            assert_eq!(via_bytes, union);
        }
        // Many parts in any grouping.
        let hashes: Vec<u64> = (0..3000).map(hash_i64).collect();
        let parts: Vec<_> = hashes
            .chunks(111)
            .map(|c| sketch_of(64, c.iter().copied()))
            .collect();
        let (left, right) = merged_both_ways(&parts, &MinHash::new(64).unwrap());
        assert_eq!(left, right);
        assert_eq!(left, sketch_of(64, hashes));
    }

    #[test]
    fn lsh_finds_similar_pairs() {
        // 150 base sets from a shared universe of 20,000 ids (random pairs: J about 0.03),
        // and a planted partner for each with J spread over 0.4..0.98.
        let k = 128;
        let threshold = 0.7;
        let bands = lsh_bands_for_recall(k, threshold, 0.99).unwrap();
        let rows = k / bands;
        let mut state = 42;
        let mut sets: Vec<Vec<u64>> = Vec::new();
        for _ in 0..150 {
            let size = 100 + splitmix(&mut state) as usize % 900;
            let mut base: Vec<u64> = (0..size).map(|_| splitmix(&mut state) % 20_000).collect();
            base.sort_unstable();
            base.dedup();
            let target = 0.4 + 0.58 * (splitmix(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
            // Keep a fraction f of the base and add as many fresh ids as were dropped:
            // J = f·n / ((2 - f)·n) = target for f = 2·target / (1 + target).
            let keep = 2.0 * target / (1.0 + target);
            let mut partner: Vec<u64> = base
                .iter()
                .copied()
                .filter(|_| ((splitmix(&mut state) >> 11) as f64 / (1u64 << 53) as f64) < keep)
                .collect();
            let dropped = base.len() - partner.len();
            partner.extend((0..dropped).map(|_| 1_000_000 + splitmix(&mut state) % 1_000_000));
            partner.sort_unstable();
            partner.dedup();
            sets.push(base);
            sets.push(partner);
        }
        let exact = |a: &[u64], b: &[u64]| {
            let (mut i, mut j, mut common) = (0, 0, 0);
            while i < a.len() && j < b.len() {
                match a[i].cmp(&b[j]) {
                    std::cmp::Ordering::Less => i += 1,
                    std::cmp::Ordering::Greater => j += 1,
                    std::cmp::Ordering::Equal => {
                        common += 1;
                        i += 1;
                        j += 1;
                    }
                }
            }
            common as f64 / (a.len() + b.len() - common) as f64
        };
        let sketches: Vec<MinHash> = sets
            .iter()
            .map(|s| sketch_of(k, s.iter().map(|&v| hash_u64(v))))
            .collect();
        let mut buckets: HashMap<u64, Vec<usize>> = HashMap::new();
        for (i, s) in sketches.iter().enumerate() {
            for key in s.lsh_bands(bands).unwrap() {
                buckets.entry(key).or_default().push(i);
            }
        }
        let mut candidates = std::collections::HashSet::new();
        for members in buckets.values() {
            for (x, &i) in members.iter().enumerate() {
                for &j in &members[x + 1..] {
                    candidates.insert((i.min(j), i.max(j)));
                }
            }
        }
        let (mut similar, mut found, mut dissimilar_candidates) = (0, 0, 0);
        for i in 0..sets.len() {
            for j in i + 1..sets.len() {
                let jac = exact(&sets[i], &sets[j]);
                let candidate = candidates.contains(&(i, j));
                if jac >= threshold {
                    similar += 1;
                    found += candidate as usize;
                } else if jac < 0.3 && candidate {
                    dissimilar_candidates += 1;
                }
            }
        }
        let recall = found as f64 / similar as f64;
        println!(
            "minhash LSH k={k} {bands}x{rows} (threshold {:.3}): {found}/{similar} pairs with \
             J >= {threshold} found (recall {recall:.3}, expected >= {:.3}); {} candidates, \
             {dissimilar_candidates} of them with J < 0.3",
            lsh_threshold(bands, rows),
            lsh_probability(threshold, bands, rows),
            candidates.len()
        );
        assert!(similar >= 50, "{similar}");
        assert!(recall >= 0.95, "{recall}");
        assert!(dissimilar_candidates <= 5, "{dissimilar_candidates}");
    }

    #[test]
    fn lsh_keys_and_curves() {
        let s = sketch_of(128, (0..1000).map(hash_i64));
        let keys = s.lsh_bands(5).unwrap();
        assert_eq!(keys.len(), 5);
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(key >> BAND_SHIFT, i as u64, "band index in the top bits");
        }
        assert_eq!(s.lsh_bands(128).unwrap().len(), 128);
        assert_eq!(s.lsh_bands(1).unwrap().len(), 1);
        // Equal sketches give equal keys; a different set differs in (almost) every band.
        assert_eq!(keys, s.clone().lsh_bands(5).unwrap());
        let t = sketch_of(128, (5000..6000).map(hash_i64));
        let other = t.lsh_bands(5).unwrap();
        assert!(keys.iter().zip(&other).all(|(a, b)| a != b));
        for bad in [0, 129] {
            assert!(matches!(
                s.lsh_bands(bad),
                Err(SketchError::InvalidParameter(_))
            ));
        }
        assert!((lsh_threshold(32, 4) - 0.420_448).abs() < 1e-6);
        assert!((lsh_threshold(16, 8) - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
        assert_eq!(lsh_threshold(1, 1), 1.0);
        assert!((lsh_probability(0.5, 32, 4) - 0.873).abs() < 1e-3);
        assert_eq!(lsh_probability(1.0, 3, 7), 1.0);
        assert_eq!(lsh_probability(0.0, 3, 7), 0.0);
        // The documented table.
        for (b, r, at_half, at_07, at_09) in [
            (64, 2, 1.000, 1.000, 1.000),
            (32, 4, 0.873, 1.000, 1.000),
            (25, 5, 0.548, 0.990, 1.000),
            (21, 6, 0.282, 0.928, 1.000),
            (16, 8, 0.061, 0.613, 1.000),
            (12, 10, 0.012, 0.291, 0.994),
            (8, 16, 0.000, 0.026, 0.806),
            (4, 32, 0.000, 0.000, 0.130),
        ] {
            for (s, p) in [(0.5, at_half), (0.7, at_07), (0.9, at_09)] {
                let got = lsh_probability(s, b, r);
                assert!((got - p).abs() < 0.0006, "{b}x{r} at {s}: {got}");
            }
        }
        assert_eq!(lsh_bands_for_recall(128, 0.7, 0.99).unwrap(), 32);
        assert_eq!(lsh_bands_for_recall(128, 0.7, 0.98).unwrap(), 25);
        assert_eq!(lsh_bands_for_recall(128, 0.9, 0.99).unwrap(), 12);
        assert_eq!(lsh_bands_for_recall(128, 1.0, 0.5).unwrap(), 1);
        assert_eq!(lsh_bands_for_recall(16, 0.01, 0.99).unwrap(), 16);
        assert!(lsh_bands_for_recall(128, 0.0, 0.9).is_err());
        assert!(lsh_bands_for_recall(128, 0.5, 1.0).is_err());
        assert!(lsh_bands_for_recall(8, 0.5, 0.9).is_err());
    }

    #[test]
    fn parameters_are_validated() {
        for k in [0, 15, 4097] {
            assert_eq!(
                MinHash::new(k).unwrap_err(),
                SketchError::InvalidParameter(format!(
                    "minhash num_perm must be between 16 and 4096, got {k}"
                ))
            );
        }
        assert!(MinHash::new(16).is_ok() && MinHash::new(4096).is_ok());
    }

    #[test]
    fn a_few_values_are_held_inline_and_answer_alike() {
        let mut small = MinHash::new(DEFAULT_NUM_PERM).unwrap();
        assert_eq!(
            small.heap_size(),
            0,
            "nothing allocated before the first values"
        );
        let values: Vec<u64> = (0..200).map(|i| mix64(i + 1)).collect();
        let mut filled_inline = 0;
        for (i, &h) in values.iter().enumerate() {
            small.insert_hash(h);
            if small.heap_size() == 0 {
                filled_inline = small.filled_bins();
            }
            // The same values straight into every bin: equal bins, bytes and answers.
            let mut dense = MinHash::new(DEFAULT_NUM_PERM).unwrap();
            dense.fill_every_bin();
            values[..=i].iter().for_each(|&h| dense.insert_hash(h));
            assert_eq!(small, dense);
            assert_eq!(small.to_bytes(), dense.to_bytes());
            assert_eq!(small.signature(), dense.signature());
            let (mut a, mut b) = (Vec::new(), Vec::new());
            small.write_transit(&mut a);
            dense.write_transit(&mut b);
            assert_eq!(a, b);
        }
        assert_eq!(filled_inline as usize, INLINE_BINS);
        assert_eq!(small.heap_size(), 4 * DEFAULT_NUM_PERM as usize);
    }

    #[test]
    fn different_lengths_do_not_merge_or_compare() {
        let mut a = sketch_of(128, [1, 2, 3]);
        let b = sketch_of(256, [1, 2, 3]);
        let e = a.merge(&b).unwrap_err();
        assert_eq!(
            e,
            SketchError::Incompatible(
                "minhash sketches of different num_perm (128 vs 256) cannot be merged; \
                 build both with the same num_perm"
                    .into()
            )
        );
        assert!(
            matches!(a.jaccard(&b), Err(SketchError::Incompatible(m)) if m.contains("compared"))
        );
        assert_eq!(a.merge_bytes(&b.to_bytes()).unwrap_err(), e);
        assert_eq!(a, sketch_of(128, [1, 2, 3]));
    }

    #[test]
    fn round_trips() {
        for s in [
            MinHash::new(16).unwrap(),
            sketch_of(128, (0..20).map(hash_i64)),
            sketch_of(4096, (0..100_000).map(hash_i64)),
        ] {
            let bytes = s.to_bytes();
            assert_eq!(
                bytes.len(),
                envelope::OVERHEAD + 4 + 8 + 4 * s.num_perm() as usize
            );
            let back = MinHash::from_bytes(&bytes).unwrap();
            assert_eq!(back, s);
            assert_eq!(back.to_bytes(), bytes);
            let mut buf = vec![9];
            s.write_to(&mut buf);
            assert_eq!(&buf[1..], &bytes[..]);
        }
    }

    #[test]
    fn rejects_corrupt_states() {
        let encode = |k: u32, items: u64, bins: &[u32]| {
            let mut body = items.to_le_bytes().to_vec();
            envelope::put_le(&mut body, bins, u32::to_le_bytes);
            envelope::encode(Family::MinHash, &k.to_le_bytes(), &body)
        };
        let corrupt = |bytes: Vec<u8>| {
            let e = MinHash::from_bytes(&bytes).unwrap_err();
            let mut s = sketch_of(16, [7]);
            assert!(s.merge_bytes(&bytes).is_err());
            assert_eq!(
                s,
                sketch_of(16, [7]),
                "a failed merge_bytes changes nothing"
            );
            e
        };
        let mut bins = vec![EMPTY; 16];
        assert!(MinHash::from_bytes(&encode(16, 0, &bins)).is_ok());
        // Items without bins, bins without items, more bins than items.
        corrupt(encode(16, 3, &bins));
        bins[2] = 5;
        assert!(MinHash::from_bytes(&encode(16, 1, &bins)).is_ok());
        corrupt(encode(16, 0, &bins));
        bins[3] = 5;
        corrupt(encode(16, 1, &bins));
        // Lengths: too few or too many bins, num_perm out of range, bad parameters.
        assert!(matches!(
            corrupt(encode(16, 2, &bins[..15])),
            SketchError::Corrupt(_)
        ));
        let mut more = bins.clone();
        more.push(1);
        corrupt(encode(16, 2, &more));
        corrupt(encode(17, 2, &bins));
        corrupt(encode(8, 2, &bins[..8]));
        corrupt(encode(u32::MAX, 2, &bins));
        let good = encode(16, 2, &bins);
        let env = envelope::decode(&good, Family::MinHash).unwrap();
        corrupt(envelope::encode(Family::MinHash, &[16, 0], env.body));
        corrupt(envelope::encode(
            Family::MinHash,
            env.params,
            &env.body[..5],
        ));
        assert!(matches!(
            corrupt(envelope::encode(Family::Bloom, env.params, env.body)),
            SketchError::WrongFamily { .. }
        ));
        corrupt(good[..good.len() - 1].to_vec());
        let mut flipped = good.clone();
        flipped[20] ^= 4;
        assert_eq!(corrupt(flipped), SketchError::ChecksumMismatch);
    }
}
