//! Bloom filter: "might this value be in the set?" in fixed memory, never wrong about a "no".
//!
//! # Algorithm
//! A split-block Bloom filter (SBBF), the layout of Parquet's Bloom filters: an array of
//! 256-bit blocks, each eight 32-bit lanes. A value's 64-bit canonical hash picks one block with
//! its upper 32 bits by multiply-shift, `((h >> 32) · num_blocks) >> 32` (so any block count
//! works, not only powers of two), and sets one bit in each of the block's eight lanes, chosen
//! from the lower 32 bits `x` with eight fixed odd salts: bit `(x · salt[i] mod 2^32) >> 27` of
//! lane `i`. A lookup reads one 32-byte block and checks those eight bits.
//!
//! Small filters are *sparse*: they keep the distinct hashes inserted (8 bytes each) and turn
//! into the block array once there are more than four hashes per block, i.e. once the list
//! would be larger than the bits. A `GROUP BY` that builds one filter per group therefore
//! costs bytes, not the full filter, per small group. A sparse filter answers by exact hash
//! membership: it has no false positives other than 64-bit hash collisions. Turning dense
//! sets exactly the bits that inserting the same hashes into a dense filter would set, so it
//! only ever turns a "no" into a "maybe", never the reverse.
//!
//! # Guarantees
//! * **No false negatives**: every value inserted (directly or through a merge) is reported
//!   as contained, in both forms, after any sequence of merges and round trips.
//! * **False-positive rate at capacity**: [`BloomFilter::with_capacity`]`(n, fpr)` sizes the
//!   filter so that, holding `n` distinct values, the *expected* rate is at most `fpr`. Sizing
//!   uses the exact SBBF model: a block's load is Poisson with mean `n / num_blocks`, and a
//!   block holding `L` values answers "maybe" for an absent value with probability
//!   `(1 - (31/32)^L)^8` (see [`expected_fpr`]). Parquet's sizing formula
//!   `-8n / ln(1 - fpr^(1/8))` assumes an ideal Bloom filter and undershoots the split-block
//!   layout: with it a filter at capacity answers "maybe" 1.46× as often as asked at 1% and
//!   2.1× at 0.1%. The cost in bits per distinct value: 6.0 at 10%, 10.5 at 1%, 16.9 at 0.1%,
//!   26.3 at 0.01%. The defaults (1,000,000 values at 1%) give 41,130 blocks, 1.26 MiB.
//! * Past capacity the rate rises; [`BloomFilter::estimated_fpr`] reads the current rate from
//!   the bits set, and [`BloomFilter::estimated_distinct`] the number of distinct values.
//!
//! # Merging
//! A merge is the bitwise OR of the blocks (the union of the hash lists while both sides are
//! sparse): the merge of two filters equals, bit for bit, the filter of the union of their
//! inputs, and merges commute and associate. Only filters with the same number of blocks
//! merge; build every filter that will be merged with the same `expected_items` and `fpr`.
//!
//! ```
//! use hazy::sketch::Sketch;
//! use hazy::sketch::bloom::BloomFilter;
//! let mut seen = BloomFilter::with_capacity(10_000, 0.01).unwrap();
//! let mut more = BloomFilter::with_capacity(10_000, 0.01).unwrap();
//! for i in 0..5_000i64 { seen.insert(&i); }
//! for i in 5_000..10_000i64 { more.insert(&i); }
//! seen.merge(&more).unwrap();
//! assert!((0..10_000i64).all(|i| seen.contains(&i)));     // no false negatives
//! let false_positives = (10_000..110_000i64).filter(|i| seen.contains(i)).count();
//! assert!(false_positives < 1_500, "{false_positives}"); // about 1% of 100,000
//! assert_eq!(seen.items(), 10_000);
//! let restored = BloomFilter::from_bytes(&seen.to_bytes()).unwrap();
//! assert_eq!(restored, seen);
//! ```

use super::envelope::{self, Family, Reader};
use super::error::{Result, SketchError, check_range};
use super::hash::CanonicalHash;
use super::state::{Description, Sketch};
use std::borrow::Cow;

/// Distinct values a filter is sized for when none is given.
pub const DEFAULT_EXPECTED_ITEMS: u64 = 1_000_000;
/// False-positive rate at capacity when none is given: 1%.
pub const DEFAULT_FPR: f64 = 0.01;
/// Bytes in one block: eight 32-bit lanes.
pub const BLOCK_BYTES: usize = 32;
/// Largest filter accepted: 2^22 blocks, 128 MiB.
pub const MAX_BLOCKS: u32 = 1 << 22;

/// Parquet's SBBF salts: lane `i` of a block sets bit `(x · SALT[i]) >> 27`.
const SALT: [u32; 8] = [
    0x47b6_137b,
    0x4497_4d91,
    0x8824_ad5b,
    0xa2b7_289d,
    0x7054_95c7,
    0x2df1_424b,
    0x9efc_4947,
    0x5c6b_fb31,
];
const MODE_SPARSE: u8 = 0;
const MODE_DENSE: u8 = 1;
/// Distinct hashes per block a sparse filter keeps: 4 × 8 bytes is one 32-byte block.
const SPARSE_PER_BLOCK: usize = 4;
/// Bounds of the per-block load searched when sizing (mean values per block).
const MIN_LOAD: f64 = 1e-12;
const MAX_LOAD: f64 = 4096.0;

/// One 256-bit block: eight 32-bit lanes.
type Block = [u32; 8];

/// The block a hash falls in: multiply-shift of its upper 32 bits.
#[inline]
fn block_index(hash: u64, num_blocks: u32) -> usize {
    (((hash >> 32) * num_blocks as u64) >> 32) as usize
}

/// The eight bits (one per lane) a hash sets in its block, from its lower 32 bits.
#[inline]
fn block_mask(hash: u64) -> Block {
    let x = hash as u32;
    let mut mask = [0u32; 8];
    for (m, salt) in mask.iter_mut().zip(SALT) {
        *m = 1 << (x.wrapping_mul(salt) >> 27);
    }
    mask
}

#[inline]
fn set_bits(blocks: &mut [Block], hash: u64) {
    let block = &mut blocks[block_index(hash, blocks.len() as u32)];
    for (lane, m) in block.iter_mut().zip(block_mask(hash)) {
        *lane |= m;
    }
}

#[inline]
fn has_bits(blocks: &[Block], hash: u64) -> bool {
    let block = &blocks[block_index(hash, blocks.len() as u32)];
    block
        .iter()
        .zip(block_mask(hash))
        .all(|(lane, m)| lane & m != 0)
}

/// Calls `f` with each non-empty block the dense form of the sorted hash list would hold.
/// Sorted hashes come in block order, since the block is monotone in the hash.
fn for_each_sparse_block(hashes: &[u64], num_blocks: u32, mut f: impl FnMut(&Block)) {
    let mut current: Option<(usize, Block)> = None;
    for &h in hashes {
        let index = block_index(h, num_blocks);
        match &mut current {
            Some((i, block)) if *i == index => {
                block
                    .iter_mut()
                    .zip(block_mask(h))
                    .for_each(|(l, m)| *l |= m);
            }
            _ => {
                if let Some((_, block)) = &current {
                    f(block);
                }
                current = Some((index, block_mask(h)));
            }
        }
    }
    if let Some((_, block)) = &current {
        f(block);
    }
}

/// The probability that a block holding `load` values answers "maybe" for an absent value:
/// each of the eight lanes must have the probed bit set, and a lane holding `load` values has
/// a given bit clear with probability `(31/32)^load`.
fn block_fpr(load: f64) -> f64 {
    (1.0 - (31.0_f64 / 32.0).powf(load)).powi(8)
}

/// The expected false-positive rate when block loads are Poisson with mean `lambda`.
fn poisson_fpr(lambda: f64) -> f64 {
    if lambda <= 0.0 {
        return 0.0;
    }
    // Sum the Poisson probabilities outward from the mode, over +-15 standard deviations
    // (the rest is below 1e-40): up to a few thousand terms, only at sizing time.
    let mode = lambda.floor();
    let ln_factorial: f64 = (2..=mode as u64).map(|i| (i as f64).ln()).sum();
    let p_mode = (-lambda + mode * lambda.ln() - ln_factorial).exp();
    let spread = 15.0 * lambda.sqrt() + 40.0;
    let mut sum = p_mode * block_fpr(mode);
    let (mut p, mut load) = (p_mode, mode);
    while load < mode + spread {
        load += 1.0;
        p *= lambda / load;
        sum += p * block_fpr(load);
    }
    let (mut p, mut load) = (p_mode, mode);
    while load >= 1.0 && load > mode - spread {
        p *= load / lambda;
        load -= 1.0;
        sum += p * block_fpr(load);
    }
    sum.min(1.0)
}

/// The expected false-positive rate of a filter of `num_blocks` blocks holding `distinct`
/// distinct values (the model [`BloomFilter::with_capacity`] sizes with).
pub fn expected_fpr(num_blocks: u32, distinct: f64) -> f64 {
    if num_blocks == 0 {
        return 1.0;
    }
    if distinct.is_nan() || distinct <= 0.0 {
        return 0.0;
    }
    poisson_fpr(distinct / num_blocks as f64)
}

/// A split-block Bloom filter.
#[derive(Debug, Clone)]
pub struct BloomFilter {
    num_blocks: u32,
    /// Non-null values inserted (counting repeats), summed over merges.
    items: u64,
    /// Sparse hashes appended since the list was last sorted, at its end.
    pending: usize,
    repr: Repr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Repr {
    /// Distinct hashes, sorted, except for the `pending` last ones (which may repeat).
    Sparse(Vec<u64>),
    /// The blocks.
    Dense(Box<[Block]>),
}

impl PartialEq for BloomFilter {
    /// Equal when they answer alike: same size and item count, and the same hashes when both
    /// are sparse, else the same bits once the sparse side is turned dense.
    fn eq(&self, other: &Self) -> bool {
        if (self.num_blocks, self.items) != (other.num_blocks, other.items) {
            return false;
        }
        let (a, b) = (self.canonical(), other.canonical());
        match (&a.repr, &b.repr) {
            (Repr::Sparse(x), Repr::Sparse(y)) => x == y,
            _ => a.blocks() == b.blocks(),
        }
    }
}

impl BloomFilter {
    /// An empty filter of `num_blocks` 256-bit blocks, 1..=[`MAX_BLOCKS`].
    pub fn new(num_blocks: u32) -> Result<Self> {
        check_range("bloom num_blocks", num_blocks, 1..=MAX_BLOCKS)?;
        Ok(Self {
            num_blocks,
            items: 0,
            pending: 0,
            repr: Repr::Sparse(Vec::new()),
        })
    }

    /// An empty filter whose false-positive rate is at most `fpr` (expected) while it holds
    /// up to `expected_items` distinct values.
    pub fn with_capacity(expected_items: u64, fpr: f64) -> Result<Self> {
        Self::new(Self::blocks_for(expected_items, fpr)?)
    }

    /// The number of blocks [`with_capacity`](Self::with_capacity) allocates: the fewest whose
    /// expected false-positive rate with `expected_items` distinct values is at most `fpr`.
    /// Fails for `expected_items = 0`, `fpr` outside `(0, 1)`, or more than 128 MiB.
    pub fn blocks_for(expected_items: u64, fpr: f64) -> Result<u32> {
        if expected_items == 0 {
            return Err(SketchError::InvalidParameter(
                "bloom expected_items must be at least 1, got 0".into(),
            ));
        }
        if !(fpr > 0.0 && fpr < 1.0) {
            return Err(SketchError::InvalidParameter(format!(
                "bloom fpr must lie strictly between 0 and 1, got {fpr}"
            )));
        }
        // The largest mean block load whose rate is at most fpr, by bisection on its log
        // (the rate rises with the load).
        let load = if poisson_fpr(MAX_LOAD) <= fpr {
            MAX_LOAD
        } else {
            let (mut lo, mut hi) = (MIN_LOAD.ln(), MAX_LOAD.ln());
            for _ in 0..64 {
                let mid = 0.5 * (lo + hi);
                if poisson_fpr(mid.exp()) <= fpr {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            lo.exp()
        };
        let blocks = (expected_items as f64 / load).ceil().max(1.0);
        if blocks > MAX_BLOCKS as f64 {
            return Err(SketchError::InvalidParameter(format!(
                "bloom expected_items {expected_items} at fpr {fpr} needs {blocks:.0} blocks \
                 ({:.0} MiB), more than the limit of {MAX_BLOCKS} blocks (128 MiB)",
                blocks * BLOCK_BYTES as f64 / (1u64 << 20) as f64
            )));
        }
        Ok(blocks as u32)
    }

    pub fn num_blocks(&self) -> u32 {
        self.num_blocks
    }

    /// Bits in the dense form, `256 · num_blocks`.
    pub fn num_bits(&self) -> u64 {
        self.num_blocks as u64 * 256
    }

    /// Non-null values inserted (counting repeats), summed over merges.
    pub fn items(&self) -> u64 {
        self.items
    }

    /// Whether the filter keeps its hash list (rather than the blocks).
    pub fn is_sparse(&self) -> bool {
        matches!(self.canonical().repr, Repr::Sparse(_))
    }

    /// The most distinct hashes a sparse filter keeps: beyond, the blocks are smaller.
    fn sparse_limit(&self) -> usize {
        self.num_blocks as usize * SPARSE_PER_BLOCK
    }

    /// Adds a value by its canonical hash (see [`super::hash`]).
    #[inline]
    pub fn insert<T: CanonicalHash + ?Sized>(&mut self, v: &T) {
        self.insert_hash(v.canonical_hash());
    }

    /// Adds a value given its 64-bit canonical hash.
    #[inline]
    pub fn insert_hash(&mut self, hash: u64) {
        self.items = self.items.saturating_add(1);
        match &mut self.repr {
            Repr::Dense(blocks) => set_bits(blocks, hash),
            Repr::Sparse(hashes) => {
                if hashes.capacity() == 0 {
                    // Most groups of a wide GROUP BY hold a handful of values: one allocation.
                    hashes.reserve_exact(4);
                }
                hashes.push(hash);
                self.pending += 1;
                // Sort when the unsorted tail is as long as the sorted part (each hash is
                // sorted an amortized constant number of times), but let the tail grow by at
                // most a quarter of the limit, so the list stays near the dense size.
                let sorted = hashes.len() - self.pending;
                let limit = self.num_blocks as usize * SPARSE_PER_BLOCK;
                if self.pending >= sorted.min(limit / 4).max(8) {
                    self.compact();
                }
            }
        }
    }

    /// Sorts and deduplicates the pending sparse hashes, and turns dense past the sparse
    /// limit. Readers do this on a copy when needed; calling it first saves the copy.
    pub fn compact(&mut self) {
        let limit = self.sparse_limit();
        if let Repr::Sparse(hashes) = &mut self.repr {
            if self.pending > 0 {
                hashes.sort_unstable();
                hashes.dedup();
                self.pending = 0;
            }
            if hashes.len() > limit {
                self.densify();
            }
        }
    }

    /// This filter with no pending hashes: borrowed when already so.
    fn canonical(&self) -> Cow<'_, BloomFilter> {
        super::with_pending_folded(self, self.pending > 0, Self::compact)
    }

    /// Turns the filter dense now (repeated pending hashes are harmless: setting bits is
    /// idempotent). For a filter that is probed and grown value by value, such as a
    /// first-seen check over a stream, where the sparse form's unsorted tail would be
    /// searched linearly at every probe.
    pub fn densify(&mut self) {
        if matches!(self.repr, Repr::Sparse(_)) {
            let blocks = self.blocks().into_owned().into_boxed_slice();
            self.repr = Repr::Dense(blocks);
            self.pending = 0;
        }
    }

    /// The blocks of the dense form: borrowed when dense, built when sparse.
    fn blocks(&self) -> Cow<'_, [Block]> {
        match &self.repr {
            Repr::Dense(blocks) => Cow::Borrowed(blocks),
            Repr::Sparse(hashes) => {
                let mut blocks = vec![[0u32; 8]; self.num_blocks as usize];
                hashes.iter().for_each(|&h| set_bits(&mut blocks, h));
                Cow::Owned(blocks)
            }
        }
    }

    /// Whether the value with canonical hash `hash` may have been inserted: always `true` if
    /// it was; `false` positives occur at about [`estimated_fpr`](Self::estimated_fpr) in the
    /// dense form and only on 64-bit hash collisions in the sparse form. A sparse filter
    /// searches its unsorted tail linearly: call [`compact`](Self::compact) before probing a
    /// freshly built filter many times (decoded filters are already compact).
    #[inline]
    pub fn contains_hash(&self, hash: u64) -> bool {
        match &self.repr {
            Repr::Dense(blocks) => has_bits(blocks, hash),
            Repr::Sparse(hashes) => {
                let (sorted, tail) = hashes.split_at(hashes.len() - self.pending);
                sorted.binary_search(&hash).is_ok() || tail.contains(&hash)
            }
        }
    }

    /// Adds the value with canonical hash `hash` unless it may be present already, and says
    /// whether it was new: `false` for every value inserted before, and for new values at
    /// about the false-positive rate. One block access when dense. `items` counts only the
    /// values found new.
    #[inline]
    pub fn insert_hash_if_new(&mut self, hash: u64) -> bool {
        if let Repr::Dense(blocks) = &mut self.repr {
            let new = !has_bits(blocks, hash);
            if new {
                set_bits(blocks, hash);
                self.items = self.items.saturating_add(1);
            }
            return new;
        }
        let new = !self.contains_hash(hash);
        if new {
            self.insert_hash(hash);
        }
        new
    }

    /// Whether a value may have been inserted (see [`contains_hash`](Self::contains_hash)).
    #[inline]
    pub fn contains<T: CanonicalHash + ?Sized>(&self, v: &T) -> bool {
        self.contains_hash(v.canonical_hash())
    }

    fn check_compatible(&self, num_blocks: u32) -> Result<()> {
        if self.num_blocks != num_blocks {
            return Err(SketchError::Incompatible(format!(
                "bloom filters of different sizes ({} vs {} blocks) cannot be merged; \
                 build both with the same expected_items and fpr",
                self.num_blocks, num_blocks
            )));
        }
        Ok(())
    }

    /// The fraction of the `num_bits` bits set in the dense form (for a sparse filter: of the
    /// bits its dense form would set).
    pub fn fill(&self) -> f64 {
        self.set_bit_count() as f64 / self.num_bits() as f64
    }

    fn set_bit_count(&self) -> u64 {
        let popcount = |b: &Block| b.iter().map(|l| l.count_ones() as u64).sum::<u64>();
        let this = self.canonical();
        match &this.repr {
            Repr::Dense(blocks) => blocks.iter().map(popcount).sum(),
            Repr::Sparse(hashes) => {
                let mut total = 0;
                for_each_sparse_block(hashes, self.num_blocks, |b| total += popcount(b));
                total
            }
        }
    }

    /// The current false-positive rate of the dense form, read from its bits: a block
    /// answers "maybe" for an absent value with probability `∏ lanes (bits set / 32)`,
    /// averaged over the blocks. A sparse filter reports the rate of its dense form, though
    /// it answers exactly itself.
    pub fn estimated_fpr(&self) -> f64 {
        let block_rate = |b: &Block| {
            b.iter()
                .map(|l| l.count_ones() as f64 / 32.0)
                .product::<f64>()
        };
        let this = self.canonical();
        let sum: f64 = match &this.repr {
            Repr::Dense(blocks) => blocks.iter().map(block_rate).sum(),
            Repr::Sparse(hashes) => {
                let mut sum = 0.0;
                for_each_sparse_block(hashes, self.num_blocks, |b| sum += block_rate(b));
                sum
            }
        };
        sum / self.num_blocks as f64
    }

    /// The number of distinct values inserted: exact (up to hash collisions) while sparse;
    /// estimated from the fill when dense (Swamidass–Baldi: each value sets a given bit with
    /// probability `1 / (32 · num_blocks)`, so `n ≈ ln(1 - fill) / ln(1 - 1/(32 · num_blocks))`).
    pub fn estimated_distinct(&self) -> f64 {
        let this = self.canonical();
        if let Repr::Sparse(hashes) = &this.repr {
            return hashes.len() as f64;
        }
        let bits = self.num_bits() as f64;
        // A full filter would give infinity: cap at half a bit short of full.
        let set = (this.set_bit_count() as f64).min(bits - 0.5);
        let per_bit = -1.0 / (32.0 * self.num_blocks as f64);
        (-set / bits).ln_1p() / per_bit.ln_1p()
    }
}

impl Sketch for BloomFilter {
    const FAMILY: Family = Family::Bloom;

    /// Heap bytes held (for memory accounting).
    fn heap_size(&self) -> usize {
        match &self.repr {
            Repr::Sparse(hashes) => hashes.capacity() * 8,
            Repr::Dense(blocks) => blocks.len() * BLOCK_BYTES,
        }
    }

    /// Appends the complete serialized state (see `docs/FORMAT.md`): equal filters in the
    /// same form give equal bytes.
    fn write_to(&self, out: &mut Vec<u8>) {
        let this = self.canonical();
        let this = this.as_ref();
        envelope::encode_with(
            Family::Bloom,
            &this.num_blocks.to_le_bytes(),
            out,
            |body| match &this.repr {
                Repr::Sparse(hashes) => {
                    body.reserve(13 + hashes.len() * 8);
                    body.push(MODE_SPARSE);
                    body.extend_from_slice(&this.items.to_le_bytes());
                    body.extend_from_slice(&(hashes.len() as u32).to_le_bytes());
                    envelope::put_le(body, hashes, u64::to_le_bytes);
                }
                Repr::Dense(blocks) => {
                    body.reserve(9 + blocks.len() * BLOCK_BYTES);
                    body.push(MODE_DENSE);
                    body.extend_from_slice(&this.items.to_le_bytes());
                    blocks
                        .iter()
                        .flatten()
                        .for_each(|l| body.extend_from_slice(&l.to_le_bytes()));
                }
            },
        );
    }

    /// Decodes a state, validating every field; never panics.
    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let view = StateView::parse(bytes)?;
        let mut filter = BloomFilter::new(view.num_blocks)?;
        filter.items = view.items;
        filter.repr = match view.data {
            Data::Sparse(raw) => Repr::Sparse(u64s(raw).collect()),
            Data::Dense(raw) => Repr::Dense(
                raw.chunks_exact(BLOCK_BYTES)
                    .map(|chunk| {
                        let mut block = [0u32; 8];
                        for (lane, b) in block.iter_mut().zip(chunk.chunks_exact(4)) {
                            *lane = u32::from_le_bytes(b.try_into().expect("4 bytes"));
                        }
                        block
                    })
                    .collect(),
            ),
        };
        Ok(filter)
    }

    /// Adds `other` in: afterwards this filter contains everything either contained (the
    /// filter of the union). Filters of different sizes do not merge.
    fn merge(&mut self, other: &BloomFilter) -> Result<()> {
        self.check_compatible(other.num_blocks)?;
        self.items = self.items.saturating_add(other.items);
        match (&mut self.repr, &other.repr) {
            (_, Repr::Dense(theirs)) => {
                self.densify();
                if let Repr::Dense(mine) = &mut self.repr {
                    or_blocks(mine, theirs);
                }
            }
            (Repr::Dense(mine), Repr::Sparse(theirs)) => {
                theirs.iter().for_each(|&h| set_bits(mine, h));
            }
            (Repr::Sparse(mine), Repr::Sparse(theirs)) => {
                if !theirs.is_empty() {
                    mine.extend_from_slice(theirs);
                    self.pending += theirs.len();
                    self.compact();
                }
            }
        }
        Ok(())
    }

    /// Merges a serialized filter in without decoding it into a filter first (what a
    /// `GROUP BY` merge does for every partial state). The state is validated completely
    /// before anything changes, so on error this filter is untouched.
    fn merge_bytes(&mut self, bytes: &[u8]) -> Result<()> {
        let view = StateView::parse(bytes)?;
        self.check_compatible(view.num_blocks)?;
        self.items = self.items.saturating_add(view.items);
        match (view.data, &mut self.repr) {
            (Data::Sparse(raw), Repr::Dense(mine)) => {
                u64s(raw).for_each(|h| set_bits(mine, h));
            }
            (Data::Sparse(raw), Repr::Sparse(mine)) => {
                if !raw.is_empty() {
                    mine.extend(u64s(raw));
                    self.pending += raw.len() / 8;
                    self.compact();
                }
            }
            (Data::Dense(raw), _) => {
                self.densify();
                if let Repr::Dense(mine) = &mut self.repr {
                    for (block, chunk) in mine.iter_mut().zip(raw.chunks_exact(BLOCK_BYTES)) {
                        for (lane, b) in block.iter_mut().zip(chunk.chunks_exact(4)) {
                            *lane |= u32::from_le_bytes(b.try_into().expect("4 bytes"));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn describe(&self) -> Description {
        Description {
            parameters: format!("blocks={}, bits={}", self.num_blocks(), self.num_bits()),
            mode: if self.is_sparse() { "sparse" } else { "dense" }.to_string(),
            items: self.items(),
            details: format!(
                "fill={:.4}, estimated_fpr={:.4}%, estimated_distinct={:.0}",
                self.fill(),
                self.estimated_fpr() * 100.0,
                self.estimated_distinct()
            ),
        }
    }
}

fn or_blocks(mine: &mut [Block], theirs: &[Block]) {
    for (a, b) in mine.iter_mut().zip(theirs) {
        for (x, y) in a.iter_mut().zip(b) {
            *x |= y;
        }
    }
}

/// The little-endian u64s of a byte slice whose length is a multiple of 8.
fn u64s(raw: &[u8]) -> impl Iterator<Item = u64> + '_ {
    raw.chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
}

/// A validated serialized filter, borrowing its data.
struct StateView<'a> {
    num_blocks: u32,
    items: u64,
    data: Data<'a>,
}

enum Data<'a> {
    /// Strictly increasing hashes, 8 bytes each.
    Sparse(&'a [u8]),
    /// `num_blocks · 32` bytes of lanes.
    Dense(&'a [u8]),
}

impl<'a> StateView<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self> {
        let (num_blocks, mut body) = envelope::open(bytes, Family::Bloom, Reader::u32)?;
        BloomFilter::new(num_blocks)?;
        let mode = body.u8()?;
        let items = body.u64()?;
        let data = match mode {
            MODE_SPARSE => {
                let n = body.u32()? as u64;
                if n * 8 != body.remaining() as u64 {
                    return Err(SketchError::Corrupt(format!(
                        "bloom hash list declares {n} hashes in {} bytes",
                        body.remaining()
                    )));
                }
                let limit = num_blocks as u64 * SPARSE_PER_BLOCK as u64;
                if n > limit {
                    return Err(SketchError::Corrupt(format!(
                        "bloom hash list of {n} hashes exceeds the sparse limit of {limit} \
                         for {num_blocks} blocks"
                    )));
                }
                if n > items {
                    return Err(SketchError::Corrupt(format!(
                        "bloom hash list of {n} distinct hashes from only {items} items"
                    )));
                }
                let raw = body.take(n as usize * 8)?;
                let mut previous: Option<u64> = None;
                for h in u64s(raw) {
                    if previous.is_some_and(|p| p >= h) {
                        return Err(SketchError::Corrupt(
                            "bloom hash list is not strictly increasing".into(),
                        ));
                    }
                    previous = Some(h);
                }
                Data::Sparse(raw)
            }
            MODE_DENSE => {
                let expected = num_blocks as usize * BLOCK_BYTES;
                if body.remaining() != expected {
                    return Err(SketchError::Corrupt(format!(
                        "bloom blocks take {} bytes, expected {expected} for {num_blocks} blocks",
                        body.remaining()
                    )));
                }
                if items == 0 {
                    return Err(SketchError::Corrupt(
                        "dense bloom filter with no items".into(),
                    ));
                }
                Data::Dense(body.take(expected)?)
            }
            other => return Err(SketchError::Corrupt(format!("unknown bloom mode {other}"))),
        };
        body.finish("bloom body")?;
        Ok(Self {
            num_blocks,
            items,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch::hash::{hash_i64, hash_str};
    use crate::sketch::testdata::{merged_both_ways, splitmix};

    /// `n` distinct random values' hashes (random i64 values through the canonical hash).
    fn random_hashes(n: usize, seed: u64) -> Vec<u64> {
        let mut state = seed;
        (0..n)
            .map(|_| hash_i64(splitmix(&mut state) as i64))
            .collect()
    }

    fn filter_of(num_blocks: u32, hashes: &[u64]) -> BloomFilter {
        let mut f = BloomFilter::new(num_blocks).unwrap();
        hashes.iter().for_each(|&h| f.insert_hash(h));
        f
    }

    #[test]
    fn sizing_and_defaults() {
        let blocks = BloomFilter::blocks_for(DEFAULT_EXPECTED_ITEMS, DEFAULT_FPR).unwrap();
        assert_eq!(blocks, 41_130, "documented default size");
        for fpr in [0.1, 0.01, 0.001, 1e-4, 1e-6] {
            for n in [1, 10, 1_000, 100_000, 5_000_000] {
                let b = BloomFilter::blocks_for(n, fpr).unwrap();
                assert!(expected_fpr(b, n as f64) <= fpr * 1.000_001, "{n} {fpr}");
                // One block fewer would miss the target (unless the minimum of one block).
                if b > 1 {
                    assert!(expected_fpr(b - 1, n as f64) > fpr, "{n} {fpr} {b}");
                }
            }
        }
        assert_eq!(BloomFilter::blocks_for(1, 0.01).unwrap(), 1);
        assert_eq!(BloomFilter::blocks_for(1, 0.999_999).unwrap(), 1);
        let f = BloomFilter::with_capacity(100_000, 0.01).unwrap();
        assert_eq!(f.num_bits(), f.num_blocks() as u64 * 256);
        assert!(f.is_sparse());
        assert_eq!(f.heap_size(), 0);
        // Sizing is monotone: tighter rates and more items need more blocks.
        let b = |n, p| BloomFilter::blocks_for(n, p).unwrap();
        assert!(b(100_000, 0.001) > b(100_000, 0.01));
        assert!(b(200_000, 0.01) > b(100_000, 0.01));
    }

    #[test]
    fn parameters_are_validated() {
        let message = |r: Result<u32>| match r {
            Err(SketchError::InvalidParameter(m)) => m,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            message(BloomFilter::blocks_for(1000, 1.5)),
            "bloom fpr must lie strictly between 0 and 1, got 1.5"
        );
        for fpr in [0.0, 1.0, -0.1, f64::NAN, f64::INFINITY] {
            assert!(message(BloomFilter::blocks_for(1000, fpr)).contains("bloom fpr"));
        }
        assert_eq!(
            message(BloomFilter::blocks_for(0, 0.01)),
            "bloom expected_items must be at least 1, got 0"
        );
        let m = message(BloomFilter::blocks_for(1_000_000_000, 0.01));
        assert!(m.contains("128 MiB"), "{m}");
        assert!(BloomFilter::blocks_for(u64::MAX, 0.5).is_err());
        assert!(BloomFilter::blocks_for(100_000_000, 0.01).is_ok());
        assert!(BloomFilter::with_capacity(10, 2.0).is_err());
        assert!(BloomFilter::new(0).is_err());
        assert!(BloomFilter::new(MAX_BLOCKS + 1).is_err());
        assert!(BloomFilter::new(MAX_BLOCKS).is_ok());
    }

    #[test]
    fn no_false_negatives_in_either_form_or_after_merges() {
        for seed in 0..40u64 {
            let n = [1, 7, 50, 300, 3_000, 20_000][seed as usize % 6];
            let num_blocks = BloomFilter::blocks_for((n as u64 / 2).max(1), 0.01).unwrap();
            let hashes = random_hashes(n, seed);
            let parts: Vec<BloomFilter> = hashes
                .chunks(n.div_ceil(3))
                .map(|c| filter_of(num_blocks, c))
                .collect();
            let mut merged = BloomFilter::new(num_blocks).unwrap();
            for p in parts.iter().rev() {
                merged.merge(p).unwrap();
            }
            let direct = filter_of(num_blocks, &hashes);
            let restored = BloomFilter::from_bytes(&direct.to_bytes()).unwrap();
            let mut via_bytes = BloomFilter::new(num_blocks).unwrap();
            for p in &parts {
                via_bytes.merge_bytes(&p.to_bytes()).unwrap();
            }
            for f in [&merged, &direct, &restored, &via_bytes] {
                assert!(hashes.iter().all(|&h| f.contains_hash(h)), "seed {seed}");
            }
            // The filter is overfull (2x its capacity) for the larger sizes.
            if n >= 300 {
                assert!(!direct.is_sparse());
            }
        }
        // A sparse filter with pending (unsorted) hashes answers too.
        let mut f = BloomFilter::new(1000).unwrap();
        let hashes = random_hashes(100, 99);
        hashes.iter().for_each(|&h| f.insert_hash(h));
        assert!(f.pending > 0 && f.is_sparse());
        assert!(hashes.iter().all(|&h| f.contains_hash(h)));
        assert!(!random_hashes(1000, 100).iter().any(|&h| f.contains_hash(h)));
        assert!(f.contains("x") == f.contains_hash(hash_str("x")));
    }

    /// Measures the false-positive rate at capacity: `n` distinct values in, a million absent
    /// values probed.
    fn measured_fpr(n: u64, fpr: f64) -> (f64, BloomFilter) {
        let mut f = BloomFilter::with_capacity(n, fpr).unwrap();
        for i in 0..n as i64 {
            f.insert(&i);
        }
        assert!(!f.is_sparse());
        let probes = 1_000_000i64;
        let hits = (0..probes).filter(|i| f.contains(&(n as i64 + i))).count();
        (hits as f64 / probes as f64, f)
    }

    #[test]
    fn false_positive_rate_at_capacity_matches_the_target() {
        for fpr in [0.01, 0.001] {
            let n = 100_000;
            let (measured, f) = measured_fpr(n, fpr);
            let (estimated, distinct) = (f.estimated_fpr(), f.estimated_distinct());
            println!(
                "bloom n={n} target fpr={fpr}: blocks={} measured={measured:.5} ({:.3}x) \
                 estimated_fpr={estimated:.5} estimated_distinct={distinct:.0} fill={:.4}",
                f.num_blocks(),
                measured / fpr,
                f.fill()
            );
            assert!(measured <= fpr * 1.1, "{measured} > 1.1 x {fpr}");
            assert!(
                measured >= fpr * 0.8,
                "{measured} far below {fpr}: oversized"
            );
            assert!(
                (estimated / measured - 1.0).abs() < 0.1,
                "{estimated} {measured}"
            );
            assert!((distinct / n as f64 - 1.0).abs() < 0.02, "{distinct}");
            assert_eq!(f.items(), n);
        }
    }

    #[test]
    fn merge_equals_the_filter_of_the_union() {
        let num_blocks = 64; // sparse limit 256 hashes
        for (na, nb) in [
            (10, 20),
            (150, 150),
            (10, 600),
            (600, 10),
            (600, 700),
            (0, 5),
        ] {
            let a_hashes = random_hashes(na, na as u64);
            // b shares a few of a's values.
            let mut b_hashes = random_hashes(nb, 1000 + nb as u64);
            b_hashes.extend(a_hashes.iter().take(na / 3));
            let mut a = filter_of(num_blocks, &a_hashes);
            let b = filter_of(num_blocks, &b_hashes);
            let mut union = filter_of(num_blocks, &a_hashes);
            b_hashes.iter().for_each(|&h| union.insert_hash(h));
            let mut ab = a.clone();
            ab.merge(&b).unwrap();
            let mut ba = b.clone();
            ba.merge(&a).unwrap();
            assert_eq!(ab.to_bytes(), union.to_bytes(), "{na} {nb}");
            assert_eq!(ba.to_bytes(), union.to_bytes(), "{na} {nb}");
            assert_eq!(ab, union);
            a.merge_bytes(&b.to_bytes()).unwrap();
            assert_eq!(a.to_bytes(), union.to_bytes(), "{na} {nb}");
            // Merging a filter into itself changes nothing but the item count.
            let mut twice = union.clone();
            twice.merge(&union).unwrap();
            assert_eq!(twice.items(), 2 * union.items());
            assert_eq!(twice.blocks(), union.blocks());
        }
        // Associativity over many small parts.
        let hashes = random_hashes(1000, 5);
        let parts: Vec<_> = hashes.chunks(37).map(|c| filter_of(16, c)).collect();
        let (left, right) = merged_both_ways(&parts, &BloomFilter::new(16).unwrap());
        assert_eq!(left.to_bytes(), right.to_bytes());
        assert_eq!(left.to_bytes(), filter_of(16, &hashes).to_bytes());
    }

    #[test]
    fn sparse_to_dense_transition_answers_consistently() {
        let num_blocks = 100;
        let limit = num_blocks as usize * SPARSE_PER_BLOCK;
        let hashes = random_hashes(limit + 1, 7);
        let probes = random_hashes(200_000, 8);
        let mut f = BloomFilter::new(num_blocks).unwrap();
        for (i, &h) in hashes.iter().enumerate() {
            f.insert_hash(h);
            // Repeats do not count towards the limit.
            f.insert_hash(h);
            if i + 1 == limit {
                assert!(f.is_sparse());
                let mut dense = f.clone();
                dense.compact();
                dense.densify();
                assert!(!dense.is_sparse());
                // The dense form answers yes wherever the sparse one does, and the sparse
                // form's figures are those of its dense form.
                for &p in probes.iter().chain(&hashes[..limit]) {
                    assert!(!f.contains_hash(p) || dense.contains_hash(p));
                }
                assert_eq!(f.fill(), dense.fill());
                assert_eq!(f.estimated_fpr(), dense.estimated_fpr());
                assert_eq!(f.estimated_distinct(), limit as f64);
                assert!((dense.estimated_distinct() / limit as f64 - 1.0).abs() < 0.1);
                // Sparse and dense with the same bits and items compare equal.
                assert_eq!(f, dense);
                // The sparse form has no false positives among random probes.
                assert!(!probes.iter().any(|&p| f.contains_hash(p)));
                let dense_hits = probes.iter().filter(|&&p| dense.contains_hash(p)).count();
                let expected = dense.estimated_fpr() * probes.len() as f64;
                assert!((dense_hits as f64) < expected * 3.0 + 10.0, "{dense_hits}");
            }
        }
        assert!(!f.is_sparse());
        assert_eq!(f.items(), 2 * (limit as u64 + 1));
        assert!(hashes.iter().all(|&h| f.contains_hash(h)));
        f.compact();
        assert_eq!(f.heap_size(), num_blocks as usize * BLOCK_BYTES);
        // The sparse list never grows much past the dense size.
        let mut g = BloomFilter::new(num_blocks).unwrap();
        for &h in &hashes[..limit] {
            g.insert_hash(h);
            if let Repr::Sparse(v) = &g.repr {
                assert!(v.len() <= limit + limit / 4 + 8);
            }
        }
    }

    #[test]
    fn estimates_from_the_fill() {
        let empty = BloomFilter::new(10).unwrap();
        assert_eq!(
            (
                empty.fill(),
                empty.estimated_fpr(),
                empty.estimated_distinct()
            ),
            (0.0, 0.0, 0.0)
        );
        let mut f = BloomFilter::new(1000).unwrap();
        for (k, n) in [(0, 5_000), (5_000, 20_000), (20_000, 60_000)] {
            for i in k..n {
                f.insert(&i);
            }
            let d = f.estimated_distinct();
            assert!((d / n as f64 - 1.0).abs() < 0.03, "{d} vs {n}");
            let model = expected_fpr(1000, n as f64);
            let est = f.estimated_fpr();
            println!(
                "bloom 1000 blocks, {n} values: estimated_fpr {est:.3e}, model {model:.3e}, estimated_distinct {d:.0}"
            );
            // Low loads make the rate a rare-event tail: compare where it is not.
            if n >= 20_000 {
                assert!((est / model - 1.0).abs() < 0.15, "{est} vs {model}");
            }
        }
        // A saturated filter gives finite estimates.
        let mut full = BloomFilter::new(1).unwrap();
        (0..10_000).for_each(|i| full.insert(&i));
        assert!(full.fill() > 0.99);
        assert!(full.estimated_distinct().is_finite());
        assert!(full.estimated_fpr() > 0.9);
    }

    #[test]
    fn round_trips() {
        let mut f = BloomFilter::new(50).unwrap();
        let mut buf = vec![1, 2, 3];
        f.write_to(&mut buf);
        assert_eq!(&buf[3..], &f.to_bytes()[..]);
        assert_eq!(BloomFilter::from_bytes(&buf[3..]).unwrap(), f);
        assert_eq!(f.to_bytes().len(), envelope::OVERHEAD + 4 + 13);
        for (n, sparse) in [(3, true), (150, true), (201, false), (5000, false)] {
            f = filter_of(50, &random_hashes(n, n as u64));
            assert_eq!(f.is_sparse(), sparse, "{n}");
            let bytes = f.to_bytes();
            let back = BloomFilter::from_bytes(&bytes).unwrap();
            assert_eq!(back, f);
            assert_eq!(back.to_bytes(), bytes);
            assert_eq!(back.is_sparse(), sparse);
            let size = if sparse { 13 + 8 * n } else { 9 + 50 * 32 };
            assert_eq!(bytes.len(), envelope::OVERHEAD + 4 + size);
        }
        // Insertion order and repeats do not change the bytes.
        let hashes = random_hashes(120, 3);
        let mut rev = BloomFilter::new(50).unwrap();
        hashes.iter().rev().for_each(|&h| rev.insert_hash(h));
        assert_eq!(rev.to_bytes(), filter_of(50, &hashes).to_bytes());
    }

    fn encode(num_blocks: u32, body: &[u8]) -> Vec<u8> {
        envelope::encode(Family::Bloom, &num_blocks.to_le_bytes(), body)
    }

    fn sparse_body(items: u64, count: u32, hashes: &[u64]) -> Vec<u8> {
        let mut body = vec![MODE_SPARSE];
        body.extend_from_slice(&items.to_le_bytes());
        body.extend_from_slice(&count.to_le_bytes());
        envelope::put_le(&mut body, hashes, u64::to_le_bytes);
        body
    }

    #[test]
    fn rejects_corrupt_states() {
        let good = sparse_body(3, 2, &[5, 9]);
        assert!(BloomFilter::from_bytes(&encode(4, &good)).is_ok());
        let corrupt = |bytes: Vec<u8>| {
            let e = BloomFilter::from_bytes(&bytes).unwrap_err();
            let mut f = BloomFilter::new(4).unwrap();
            f.insert_hash(1);
            let before = f.clone();
            assert!(f.merge_bytes(&bytes).is_err());
            assert_eq!(f, before, "a failed merge_bytes changes nothing");
            e
        };
        // Lying counts, in both directions, and a huge one (no allocation from it).
        assert!(matches!(
            corrupt(encode(4, &sparse_body(3, 3, &[5, 9]))),
            SketchError::Corrupt(_)
        ));
        corrupt(encode(4, &sparse_body(3, 1, &[5, 9])));
        corrupt(encode(4, &sparse_body(3, u32::MAX, &[5, 9])));
        // Unsorted, repeated, over the sparse limit, more hashes than items.
        corrupt(encode(4, &sparse_body(3, 2, &[9, 5])));
        corrupt(encode(4, &sparse_body(3, 2, &[5, 5])));
        let many: Vec<u64> = (0..17).collect();
        corrupt(encode(4, &sparse_body(17, 17, &many)));
        corrupt(encode(4, &sparse_body(1, 2, &[5, 9])));
        // Dense: wrong length, no items.
        let mut dense = vec![MODE_DENSE];
        dense.extend_from_slice(&1u64.to_le_bytes());
        dense.extend_from_slice(&[0xFF; 4 * 32]);
        assert!(BloomFilter::from_bytes(&encode(4, &dense)).is_ok());
        corrupt(encode(5, &dense));
        corrupt(encode(3, &dense));
        let mut short = dense.clone();
        short.pop();
        corrupt(encode(4, &short));
        let mut zero_items = dense.clone();
        zero_items[1..9].copy_from_slice(&0u64.to_le_bytes());
        corrupt(encode(4, &zero_items));
        // Unknown mode, trailing bytes, empty body.
        let mut mode = good.clone();
        mode[0] = 2;
        corrupt(encode(4, &mode));
        let mut trailing = good.clone();
        trailing.push(0);
        corrupt(encode(4, &trailing));
        corrupt(encode(4, &[]));
        // Parameters: out of range, wrong length.
        corrupt(encode(0, &good));
        corrupt(encode(MAX_BLOCKS + 1, &good));
        corrupt(envelope::encode(Family::Bloom, &[4, 0, 0], &good));
        corrupt(envelope::encode(Family::Bloom, &[4, 0, 0, 0, 0], &good));
        // Envelope defects: family, truncation, checksum.
        assert!(matches!(
            corrupt(envelope::encode(
                Family::CountMin,
                &4u32.to_le_bytes(),
                &good
            )),
            SketchError::WrongFamily { .. }
        ));
        let bytes = encode(4, &good);
        corrupt(bytes[..bytes.len() - 1].to_vec());
        let mut flipped = bytes.clone();
        flipped[14] ^= 1;
        assert_eq!(corrupt(flipped), SketchError::ChecksumMismatch);
    }

    #[test]
    fn random_bodies_never_panic() {
        let mut state = 11;
        let sparse = filter_of(8, &random_hashes(20, 1));
        let dense = filter_of(8, &random_hashes(200, 2));
        for f in [sparse, dense] {
            let bytes = f.to_bytes();
            let env = envelope::decode(&bytes, Family::Bloom).unwrap();
            for _ in 0..3000 {
                let mut body = env.body.to_vec();
                let r = splitmix(&mut state);
                match r % 3 {
                    0 => body.truncate(r as usize % (body.len() + 1)),
                    1 => {
                        let i = (r >> 8) as usize % body.len();
                        body[i] ^= 1 << ((r >> 40) % 8);
                    }
                    _ => body.extend_from_slice(&r.to_le_bytes()[..(r >> 60) as usize % 8]),
                }
                let bytes = envelope::encode(Family::Bloom, env.params, &body);
                if let Ok(g) = BloomFilter::from_bytes(&bytes) {
                    // Whatever decodes is a usable filter.
                    g.contains_hash(r);
                    g.estimated_distinct();
                    let _ = g.to_bytes();
                }
                let _ = BloomFilter::new(8).unwrap().merge_bytes(&bytes);
            }
        }
    }

    #[test]
    fn filters_of_different_sizes_do_not_merge() {
        let mut a = BloomFilter::new(1024).unwrap();
        let b = BloomFilter::new(2048).unwrap();
        let e = a.merge(&b).unwrap_err();
        assert_eq!(
            e,
            SketchError::Incompatible(
                "bloom filters of different sizes (1024 vs 2048 blocks) cannot be merged; \
                 build both with the same expected_items and fpr"
                    .into()
            )
        );
        assert_eq!(a.merge_bytes(&b.to_bytes()).unwrap_err(), e);
        assert_eq!(a.items(), 0);
    }

    /// Pins the bit layout to values computed independently from `docs/FORMAT.md`.
    #[test]
    fn layout_matches_the_format_spec() {
        let mut f = BloomFilter::new(3).unwrap();
        for h in [
            0xF000_0000_1234_5678,
            0x0123_4567_89AB_CDEF,
            0xDEAD_BEEF_CAFE_BABE,
        ] {
            f.insert_hash(h);
        }
        f.densify();
        let Repr::Dense(blocks) = &f.repr else {
            unreachable!()
        };
        let expect_0 = [
            262144, 524288, 1073741824, 8388608, 16, 65536, 4096, 16777216,
        ];
        let a = [4096, 536870912, 8388608, 4, 32768, 1024, 16, 4];
        let b = [268435456, 64, 32768, 1, 16384, 1024, 1, 1073741824];
        let expect_2: Vec<u32> = a.iter().zip(b).map(|(x, y)| x | y).collect();
        assert_eq!(blocks[0], expect_0);
        assert_eq!(blocks[1], [0; 8]);
        assert_eq!(&blocks[2][..], &expect_2[..]);
        let bytes = f.to_bytes();
        assert_eq!(&bytes[12..16], &3u32.to_le_bytes());
        assert_eq!(bytes[16], MODE_DENSE);
        assert_eq!(&bytes[17..25], &3u64.to_le_bytes());
        assert_eq!(&bytes[25..29], &262144u32.to_le_bytes());
    }

    #[test]
    fn equality_follows_answers() {
        let a = filter_of(10, &[1, 2, 3]);
        let mut b = filter_of(10, &[3, 2, 1]);
        assert_eq!(a, b);
        b.insert_hash(2);
        assert_ne!(a, b, "item counts differ");
        assert_ne!(filter_of(10, &[1, 2]), filter_of(10, &[1, 3]));
        assert_ne!(filter_of(10, &[1]), filter_of(11, &[1]));
    }

    #[test]
    fn insert_if_new_reports_each_value_once() {
        for dense in [false, true] {
            let mut f = BloomFilter::with_capacity(10_000, 0.01).unwrap();
            if dense {
                f.densify();
            }
            let mut new = 0;
            for round in 0..3u64 {
                for v in 0..5_000u64 {
                    let is_new = f.insert_hash_if_new(crate::sketch::hash::hash_u64(v));
                    assert!(!(round > 0 && is_new), "value {v} new twice");
                    new += u64::from(is_new);
                }
            }
            // False positives hide at most about 1% of new values.
            assert!((4_900..=5_000).contains(&new), "{new} new (dense {dense})");
            assert_eq!(f.items(), new);
        }
    }
}
