//! Top-K: the most frequent items of a stream, with deterministic error bounds.
//!
//! # Algorithm
//! The frequent-items summary of Misra and Gries with a median purge, in the mergeable form of
//! Agarwal et al. ("Mergeable summaries", 2012). The sketch keeps at most `capacity` counters,
//! keyed by the item's 64-bit canonical hash (see [`super::hash`]) and holding the item's bytes,
//! plus one number, the *offset*. Adding an item with weight `w` adds `w` to its counter, or
//! starts a counter at `w`. When that makes one counter too many, the sketch *purges*: it takes
//! the median `v` of the counter values, subtracts `v` from every counter, drops the counters
//! that reach zero and adds `v` to the offset. A purge drops at least half of the counters, so
//! it runs at most once per `capacity / 2` new items and an insert costs amortized O(1).
//!
//! Merging adds the counters of equal hashes, adds the offsets and the totals, then purges the
//! same way until at most `capacity` counters remain.
//!
//! # Guarantees
//! For every item, with `count` its counter (0 when it has none) and `true` the total weight
//! it was added with, in this sketch or in any sketch merged into it:
//!
//! * `lower = count <= true <= count + offset = upper`, so the estimate never exceeds the
//!   truth and misses it by at most the offset ([`TopK::estimate`]);
//! * `offset <= 2 * total / capacity`, where `total` is the weight of the whole stream: every
//!   item whose weight exceeds that fraction of the stream has a counter;
//! * both hold after any number of merges, in any order and any tree shape, and merging is
//!   commutative (`a + b` and `b + a` give the same state, byte for byte).
//!
//! The bounds are deterministic, not probabilistic: they hold for every input, with no
//! failure probability. The offset is usually far below its bound on skewed streams.
//!
//! # State size
//! At most `capacity` counters. In memory ([`TopK::heap_size`]), a dense array of 40-byte
//! slots (hash, count, and the item's bytes when at most 22; a longer item gets its own
//! allocation of its length) with room for at most `capacity + 1` of them, and an index of
//! 8-byte positions whose power-of-two number is at least twice the counters: once the sketch
//! has filled, 16 to 32 bytes per unit of capacity. Nothing is allocated before the first
//! insert. Serialized, `44 + sum(20 + item length)` bytes (see `docs/FORMAT.md`),
//! deterministic for a given set of counters whatever the insertion order.
//!
//! ```
//! use hazy::sketch::Sketch;
//! use hazy::sketch::hash::hash_str;
//! use hazy::sketch::topk::TopK;
//! let mut s = TopK::new(64).unwrap();
//! for (word, times) in [("apple", 500u64), ("pear", 300), ("fig", 100)] {
//!     s.insert(hash_str(word), word.as_bytes(), times);
//! }
//! for i in 0..2_000 {
//!     let noise = format!("noise{i}");
//!     s.insert(hash_str(&noise), noise.as_bytes(), 1);
//! }
//! let top = s.top(2);
//! assert_eq!((top[0].item, top[1].item), (&b"apple"[..], &b"pear"[..]));
//! let apple = s.estimate(hash_str("apple"));
//! assert!(apple.lower <= 500 && 500 <= apple.upper);
//! assert!(s.offset() <= 2 * s.total() / 64);
//! let restored = TopK::from_bytes(&s.to_bytes()).unwrap();
//! assert_eq!(restored, s);
//! ```

use super::envelope::{self, Family, Reader};
use super::error::{Result, SketchError, check_range};
use super::state::{Description, Sketch};

/// Smallest supported capacity (number of counters).
pub const MIN_CAPACITY: u32 = 8;
/// Largest supported capacity (number of counters).
pub const MAX_CAPACITY: u32 = 1 << 20;

/// Serialized bytes of one entry besides its item bytes: hash, count, item length.
const ENTRY_HEADER_LEN: usize = 8 + 8 + 4;
/// Serialized bytes of the body before the entries: total, offset, entry count.
const BODY_HEADER_LEN: usize = 8 + 8 + 4;

/// Fewest positions of a non-empty index, so that small sketches do not rebuild it at every
/// other insert.
const MIN_INDEX_LEN: usize = 16;

/// One counter: the item's hash, its count (always at least 1) and its bytes (as first seen).
#[derive(Debug, Clone)]
struct Slot {
    hash: u64,
    count: u64,
    item: ItemBytes,
}

/// Bytes of items up to this length live inside the counter.
const INLINE_ITEM: usize = 22;

/// An item's bytes: short items (most keys) inline and longer ones on the heap, because about
/// a third of the rows of a skewed stream start a counter that a purge soon drops again, and
/// an allocation per such row cost a fifth of the time.
#[derive(Debug, Clone)]
enum ItemBytes {
    Inline(u8, [u8; INLINE_ITEM]),
    Heap(Box<[u8]>),
}

impl ItemBytes {
    const EMPTY: Self = Self::Inline(0, [0; INLINE_ITEM]);

    fn new(bytes: &[u8]) -> Self {
        let mut item = Self::EMPTY;
        item.set(bytes);
        item
    }

    /// Replaces the bytes, short ones in place: building the inline array apart and moving
    /// it in stalled on store forwarding.
    fn set(&mut self, bytes: &[u8]) {
        if bytes.len() > INLINE_ITEM {
            *self = Self::Heap(bytes.into());
            return;
        }
        if let Self::Heap(_) = self {
            *self = Self::EMPTY;
        }
        if let Self::Inline(len, buf) = self {
            *len = bytes.len() as u8;
            copy_short(buf, bytes);
        }
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Self::Inline(len, buf) => &buf[..*len as usize],
            Self::Heap(bytes) => bytes,
        }
    }

    fn len(&self) -> usize {
        self.as_slice().len()
    }
}

/// Where a hash is in the index: at a counter, or absent with `Vacant` the free position that
/// ends its probe sequence.
enum Probe {
    Found(usize),
    Vacant(usize),
}

/// An index position: the high 32 bits of the hash (so that a probe passing other counters
/// rarely reads their slot) over the slot number plus one (so that 0 means empty). Slot
/// numbers fit in the low 32 bits: at most `capacity <= 2^20` counters are ever indexed.
fn index_entry(hash: u64, slot: usize) -> u64 {
    (hash & !0xFFFF_FFFF) | (slot as u64 + 1)
}

/// Copies `bytes` (at most `INLINE_ITEM` of them) to the start of `buf` as two overlapping
/// fixed-size pieces: a copy of variable length is a call to `memcpy`, which cost about 5% of
/// the inserts.
fn copy_short(buf: &mut [u8; INLINE_ITEM], bytes: &[u8]) {
    let n = bytes.len();
    match n {
        0 => {}
        // First, middle and last byte cover every length from 1 to 3.
        1..4 => {
            buf[0] = bytes[0];
            buf[n / 2] = bytes[n / 2];
            buf[n - 1] = bytes[n - 1];
        }
        4..8 => {
            buf[..4].copy_from_slice(&bytes[..4]);
            buf[n - 4..n].copy_from_slice(&bytes[n - 4..]);
        }
        8..16 => {
            buf[..8].copy_from_slice(&bytes[..8]);
            buf[n - 8..n].copy_from_slice(&bytes[n - 8..]);
        }
        _ => {
            buf[..16].copy_from_slice(&bytes[..16]);
            buf[n - 16..n].copy_from_slice(&bytes[n - 16..]);
        }
    }
}

/// Items compare by their bytes only, whatever an inline array holds past them.
impl PartialEq for ItemBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

/// The bounds on one item's true weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// The estimate: the item's counter, 0 when it has none. Equal to `lower`.
    pub count: u64,
    /// The true weight is at least this.
    pub lower: u64,
    /// The true weight is at most this: `count + offset`.
    pub upper: u64,
}

/// One item of [`TopK::top`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemEstimate<'a> {
    /// The item's bytes, as given to [`TopK::insert`] when its counter started.
    pub item: &'a [u8],
    pub hash: u64,
    /// The estimate, equal to `lower`.
    pub count: u64,
    pub lower: u64,
    pub upper: u64,
}

/// A frequent-items sketch of at most `capacity` counters.
///
/// The counters sit densely in `slots`, in no meaningful order; `index` finds them by hash.
/// A purge compacts `slots` and rebuilds `index` from scratch, so the index never deletes
/// and needs no tombstones.
#[derive(Debug, Clone)]
pub struct TopK {
    capacity: u32,
    /// Sum of the purged median values: the largest amount any counter may miss.
    offset: u64,
    /// Weight of the whole stream, summed over merges.
    total: u64,
    /// The counters, hashes distinct.
    slots: Vec<Slot>,
    /// Open addressing with linear probing from the hash's low bits; a power-of-two length of
    /// at least twice the indexed counters (load at most one half), or empty before the first
    /// insert so that an unused sketch allocates nothing. Entries are [`index_entry`]s, 0 when
    /// free. A purge also borrows its memory to select the median of the counts.
    index: Vec<u64>,
    /// Sum of the item lengths of `slots`, for an O(1) `heap_size` (an over-estimate for
    /// inline items) and `serialized_len`.
    item_bytes: usize,
}

/// Equal capacity, total, offset and set of counters; the layout in memory does not matter.
impl PartialEq for TopK {
    fn eq(&self, other: &Self) -> bool {
        (self.capacity, self.total, self.offset, self.slots.len())
            == (other.capacity, other.total, other.offset, other.slots.len())
            && self.slots.iter().all(|s| match other.probe(s.hash) {
                Probe::Found(i) => {
                    let o = &other.slots[i];
                    o.count == s.count && o.item == s.item
                }
                Probe::Vacant(_) => false,
            })
    }
}

impl Eq for TopK {}

impl TopK {
    /// An empty sketch keeping at most `capacity` counters, 8..=1,048,576.
    pub fn new(capacity: u32) -> Result<Self> {
        check_capacity(capacity)?;
        Ok(Self {
            capacity,
            offset: 0,
            total: 0,
            slots: Vec::new(),
            index: Vec::new(),
            item_bytes: 0,
        })
    }

    /// The largest number of counters kept.
    pub fn capacity(&self) -> u32 {
        self.capacity
    }

    /// Weight of the whole stream (every insert, summed over merges).
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The maximum error: every true weight lies in `[count, count + offset]`.
    /// At most `2 * total / capacity`.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Number of counters held (items with a non-zero estimate).
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Adds `weight` occurrences of an item, given its 64-bit canonical hash and its bytes.
    ///
    /// The hash identifies the item: the bytes are copied when its counter starts and are only
    /// stored and returned, never interpreted (a later insert of the same hash with other bytes
    /// counts for the first bytes). A weight of 0 does nothing. Counts saturate at `u64::MAX`.
    #[inline]
    pub fn insert(&mut self, hash: u64, item: &[u8], weight: u64) {
        self.insert_with(hash, weight, || item);
    }

    /// [`Self::insert`] with the item's bytes made only when the item is new to the sketch
    /// (rendering a value is the costly part for non-string columns).
    pub fn insert_with<B: AsRef<[u8]>>(
        &mut self,
        hash: u64,
        weight: u64,
        item: impl FnOnce() -> B,
    ) {
        if weight == 0 {
            return;
        }
        self.total = self.total.saturating_add(weight);
        match self.probe(hash) {
            Probe::Found(i) => {
                let slot = &mut self.slots[i];
                slot.count = slot.count.saturating_add(weight);
            }
            Probe::Vacant(pos) => self.add_counter(hash, weight, item().as_ref(), pos),
        }
    }

    /// Starts a counter for a hash that `probe` did not find, at the free index position `pos`.
    fn add_counter(&mut self, hash: u64, count: u64, item: &[u8], pos: usize) {
        self.item_bytes += item.len();
        self.reserve_one();
        // Built here, after any growth, so that it is written straight into place: a value
        // held across the growth call went through the stack and stalled on store forwarding.
        let n = self.slots.len() + 1;
        self.slots.resize_with(n, || Slot {
            hash,
            count,
            item: ItemBytes::EMPTY,
        });
        self.slots[n - 1].item.set(item);
        if n > self.capacity as usize {
            // The purge rebuilds the index, so the new counter needs no entry now.
            self.purge();
        } else if 2 * n > self.index.len() {
            self.reindex(n);
        } else {
            self.index[pos] = index_entry(hash, n - 1);
        }
    }

    /// Makes room for one more counter, growing `slots` by doubling but never past
    /// `capacity + 1`, the most an insert needs: a full sketch then wastes no slot.
    fn reserve_one(&mut self) {
        let len = self.slots.len();
        if len == self.slots.capacity() {
            let room = (self.capacity as usize + 1).saturating_sub(len);
            self.slots.reserve_exact(len.max(4).min(room.max(1)));
        }
    }

    /// Looks `hash` up in the index.
    #[inline]
    fn probe(&self, hash: u64) -> Probe {
        let Some(mask) = self.index.len().checked_sub(1) else {
            return Probe::Vacant(0);
        };
        let mut pos = hash as usize & mask;
        loop {
            let entry = self.index[pos];
            if entry == 0 {
                return Probe::Vacant(pos);
            }
            if (entry ^ hash) >> 32 == 0 {
                let i = (entry as u32 - 1) as usize;
                if self.slots[i].hash == hash {
                    return Probe::Found(i);
                }
            }
            pos = (pos + 1) & mask;
        }
    }

    /// Rebuilds the index over `slots` from scratch, sized for `counters` (at most `capacity`)
    /// at a load of at most one half, which keeps linear probes short.
    fn reindex(&mut self, counters: usize) {
        let counters = counters.min(self.capacity as usize);
        let len = (2 * counters).next_power_of_two().max(MIN_INDEX_LEN);
        self.index.clear();
        self.index.resize(len, 0);
        let mask = len - 1;
        for (i, slot) in self.slots.iter().enumerate() {
            let mut pos = slot.hash as usize & mask;
            while self.index[pos] != 0 {
                pos = (pos + 1) & mask;
            }
            self.index[pos] = index_entry(slot.hash, i);
        }
    }

    /// Subtracts the median counter value `v` from every counter, drops those that reach zero
    /// and adds `v` to the offset.
    ///
    /// Why the bounds survive: a counter loses at most `v` (exactly `v`, or all of a count
    /// `<= v`), so `count >= true - offset` still holds with the offset grown by `v`; counters
    /// only ever lose weight, so `count <= true` holds too.
    ///
    /// Why `offset <= 2 * total / capacity`: with `k > capacity` counters, at least
    /// `ceil(k / 2) > capacity / 2` of them are `>= v` and each loses a full `v`, so a purge
    /// removes at least `v * capacity / 2` of counted weight. The weight removed over the
    /// sketch's whole history (merges included: the removed weights of the parts add up)
    /// is at most `total`, hence the sum of the `v`s is at most `2 * total / capacity`.
    fn purge(&mut self) {
        if self.slots.is_empty() {
            return;
        }
        let v = self.median_count();
        let mut freed = 0;
        self.slots.retain_mut(|s| {
            if s.count > v {
                s.count -= v;
                true
            } else {
                freed += s.item.len();
                false
            }
        });
        self.item_bytes -= freed;
        self.offset = self.offset.saturating_add(v);
        // Sized for a full sketch: one that purged fills up again, and should not regrow the
        // index on the way.
        self.reindex(self.capacity as usize);
    }

    /// The median of the counts, `counts.select_nth_unstable(len / 2)`. The counts are
    /// gathered in the index's memory, which the purge rebuilds anyway: no allocation per
    /// purge and no separate scratch buffer to hold.
    fn median_count(&mut self) -> u64 {
        let counts = &mut self.index;
        counts.clear();
        counts.extend(self.slots.iter().map(|s| s.count));
        let mid = counts.len() / 2;
        *counts.select_nth_unstable(mid).1
    }

    /// The bounds on the true weight of the item with this hash.
    pub fn estimate(&self, hash: u64) -> Bounds {
        let count = match self.probe(hash) {
            Probe::Found(i) => self.slots[i].count,
            Probe::Vacant(_) => 0,
        };
        Bounds {
            count,
            lower: count,
            upper: count.saturating_add(self.offset),
        }
    }

    /// The `n` items with the largest estimates, by estimate descending, ties broken by item
    /// bytes ascending (then by hash), so the order is deterministic.
    pub fn top(&self, n: usize) -> Vec<ItemEstimate<'_>> {
        if n == 0 {
            return Vec::new();
        }
        let mut all: Vec<ItemEstimate<'_>> = self
            .slots
            .iter()
            .map(|s| ItemEstimate {
                item: s.item.as_slice(),
                hash: s.hash,
                count: s.count,
                lower: s.count,
                upper: s.count.saturating_add(self.offset),
            })
            .collect();
        let order = |a: &ItemEstimate<'_>, b: &ItemEstimate<'_>| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.item.cmp(b.item))
                .then_with(|| a.hash.cmp(&b.hash))
        };
        if n < all.len() {
            all.select_nth_unstable_by(n - 1, order);
            all.truncate(n);
        }
        all.sort_unstable_by(order);
        all
    }

    /// The sketch another Misra-Gries summary describes (such as a DataSketches
    /// frequent-items sketch): `(hash, item, count)` counters, the weight of the whole stream
    /// and the offset. Counters beyond `capacity` are purged as inserts purge them, their
    /// weight moving to the offset, so the bounds `count <= true <= count + offset` still hold.
    pub fn from_counters<'a>(
        capacity: u32,
        total: u64,
        offset: u64,
        counters: impl IntoIterator<Item = (u64, &'a [u8], u64)>,
    ) -> Result<Self> {
        let mut sketch = TopK::new(capacity)?;
        for (hash, item, count) in counters {
            if count == 0 {
                return Err(SketchError::Corrupt(format!(
                    "topk counter of {} bytes has count 0",
                    item.len()
                )));
            }
            sketch.insert(hash, item, count);
        }
        if sketch.total > total {
            return Err(SketchError::Corrupt(format!(
                "topk counters sum to {}, more than the total {total}",
                sketch.total
            )));
        }
        sketch.total = total;
        sketch.offset = sketch.offset.saturating_add(offset);
        Ok(sketch)
    }

    /// Bytes of the serialized state.
    pub fn serialized_len(&self) -> usize {
        envelope::OVERHEAD
            + 4
            + BODY_HEADER_LEN
            + self.slots.len() * ENTRY_HEADER_LEN
            + self.item_bytes
    }
}

impl Sketch for TopK {
    const FAMILY: Family = Family::TopK;

    /// Approximate heap bytes held by this sketch (for memory accounting): an upper estimate,
    /// as it counts inline item bytes twice.
    fn heap_size(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.index.capacity() * std::mem::size_of::<u64>()
            + self.item_bytes
    }

    /// Appends the serialized state to `out`: entries sorted by hash, so equal sketches
    /// serialize to equal bytes.
    ///
    /// # Panics
    /// If an item is 4 GiB or longer (the envelope cannot hold such a body anyway).
    fn write_to(&self, out: &mut Vec<u8>) {
        let mut sorted: Vec<&Slot> = self.slots.iter().collect();
        sorted.sort_unstable_by_key(|s| s.hash);
        out.reserve(self.serialized_len());
        envelope::encode_with(Family::TopK, &self.capacity.to_le_bytes(), out, |body| {
            body.extend_from_slice(&self.total.to_le_bytes());
            body.extend_from_slice(&self.offset.to_le_bytes());
            body.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
            for s in sorted {
                let item = s.item.as_slice();
                let len = u32::try_from(item.len()).expect("topk item of 4 GiB or more");
                body.extend_from_slice(&s.hash.to_le_bytes());
                body.extend_from_slice(&s.count.to_le_bytes());
                body.extend_from_slice(&len.to_le_bytes());
                body.extend_from_slice(item);
            }
        });
    }

    /// Decodes a state written by [`Self::to_bytes`], validating every field; never panics.
    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let (capacity, mut body) = envelope::open(bytes, Family::TopK, Reader::u32)?;
        let mut sketch = TopK::new(capacity)?;
        let total = body.u64()?;
        let offset = body.u64()?;
        let n = body.u32()? as usize;
        // n <= capacity <= 2^20, so the product cannot overflow; checking it against the bytes
        // present bounds the allocation below by the input size.
        if n > capacity as usize || n * ENTRY_HEADER_LEN > body.remaining() {
            return Err(SketchError::Corrupt(format!(
                "topk declares {n} entries (capacity {capacity}) in {} bytes",
                body.remaining()
            )));
        }
        sketch.slots.reserve_exact(n);
        let mut previous: Option<u64> = None;
        let mut counted: u64 = 0;
        for _ in 0..n {
            let hash = body.u64()?;
            let count = body.u64()?;
            let len = body.u32()? as usize;
            let item = body.take(len)?;
            if count == 0 {
                return Err(SketchError::Corrupt(format!(
                    "topk entry {hash:#018x} has count 0"
                )));
            }
            // Strictly increasing also means distinct, which the index relies on.
            if previous.is_some_and(|p| p >= hash) {
                return Err(SketchError::Corrupt(format!(
                    "topk entry hashes not strictly increasing at {hash:#018x}"
                )));
            }
            previous = Some(hash);
            counted = counted.saturating_add(count);
            sketch.slots.push(Slot {
                hash,
                count,
                item: ItemBytes::new(item),
            });
            sketch.item_bytes += len;
        }
        body.finish("topk body")?;
        // Counters only hold weight that was inserted: they cannot add up to more than total.
        if counted > total {
            return Err(SketchError::Corrupt(format!(
                "topk counters sum to {counted}, more than the total {total}"
            )));
        }
        if n > 0 {
            // An empty state stays without an index, as a new sketch does.
            sketch.reindex(n);
        }
        sketch.total = total;
        sketch.offset = offset;
        Ok(sketch)
    }

    /// Merges `other` in: the result summarizes both streams, with the bounds of the module
    /// documentation. Sketches of different capacities do not merge.
    fn merge(&mut self, other: &TopK) -> Result<()> {
        if self.capacity != other.capacity {
            return Err(SketchError::Incompatible(format!(
                "topk capacity {} vs {}: only sketches of equal capacity merge",
                self.capacity, other.capacity
            )));
        }
        // Each side satisfies `count_s <= true_s <= count_s + offset_s` for every item; the
        // sum of two such inequalities is the same inequality for the added counters with the
        // added offsets. The purges below then keep it as they do after an insert, and the
        // weight they remove keeps the offset within `2 * total / capacity` (see `purge`).
        self.total = self.total.saturating_add(other.total);
        self.offset = self.offset.saturating_add(other.offset);
        self.slots.reserve_exact(other.slots.len());
        for o in &other.slots {
            match self.probe(o.hash) {
                Probe::Found(i) => {
                    let mine = &mut self.slots[i];
                    mine.count = mine.count.saturating_add(o.count);
                }
                // Appended without an index entry: the hashes of `other` are distinct, so
                // later lookups need only find the counters that were here before.
                Probe::Vacant(_) => {
                    self.slots.push(o.clone());
                    self.item_bytes += o.item.len();
                }
            }
        }
        if self.slots.len() <= self.capacity as usize {
            self.reindex(self.slots.len().max(self.index.len() / 2));
        }
        // One purge always suffices (it drops more than half of at most 2 * capacity
        // counters); the loop states the invariant rather than relying on that. Each purge
        // rebuilds the index.
        while self.slots.len() > self.capacity as usize {
            self.purge();
        }
        // Give back the room of the merged counters: at most one more than capacity is needed.
        self.slots.shrink_to(self.capacity as usize + 1);
        Ok(())
    }

    fn describe(&self) -> Description {
        Description {
            parameters: format!("capacity={}", self.capacity()),
            mode: "counters".to_string(),
            items: self.total(),
            details: format!("tracked={}, max_error={}", self.len(), self.offset()),
        }
    }
}

fn check_capacity(capacity: u32) -> Result<()> {
    check_range("topk capacity", capacity, MIN_CAPACITY..=MAX_CAPACITY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch::hash::hash_u64;
    use crate::sketch::testdata::splitmix;
    use std::collections::BTreeMap;

    /// A uniform double in [0, 1).
    fn unit(state: &mut u64) -> f64 {
        (splitmix(state) >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Zipf(s) over ranks 1..=n by inverse CDF; `sample` returns the 0-based rank.
    struct Zipf {
        cdf: Vec<f64>,
    }

    impl Zipf {
        fn new(n: usize, s: f64) -> Self {
            let mut acc = 0.0;
            let mut cdf: Vec<f64> = (1..=n)
                .map(|k| {
                    acc += (k as f64).powf(-s);
                    acc
                })
                .collect();
            cdf.iter_mut().for_each(|c| *c /= acc);
            *cdf.last_mut().unwrap() = 1.0;
            Self { cdf }
        }

        fn sample(&self, state: &mut u64) -> usize {
            let u = unit(state);
            self.cdf
                .partition_point(|&c| c <= u)
                .min(self.cdf.len() - 1)
        }
    }

    const DISTINCT: usize = 100_000;

    /// A Zipf stream of 0-based ranks.
    fn zipf_stream(s: f64, len: usize, seed: u64) -> Vec<u32> {
        let zipf = Zipf::new(DISTINCT, s);
        let mut state = seed;
        (0..len).map(|_| zipf.sample(&mut state) as u32).collect()
    }

    fn item(rank: u32) -> [u8; 4] {
        rank.to_le_bytes()
    }

    fn hashes() -> Vec<u64> {
        (0..DISTINCT as u64).map(hash_u64).collect()
    }

    fn sketch_of(capacity: u32, stream: &[u32], hashes: &[u64]) -> TopK {
        let mut s = TopK::new(capacity).unwrap();
        for &r in stream {
            s.insert(hashes[r as usize], &item(r), 1);
        }
        s
    }

    fn exact_counts(stream: &[u32]) -> Vec<u64> {
        let mut counts = vec![0u64; DISTINCT];
        stream.iter().for_each(|&r| counts[r as usize] += 1);
        counts
    }

    fn assert_offset_bound(s: &TopK) {
        assert!(
            s.offset() as u128 * s.capacity() as u128 <= 2 * s.total() as u128,
            "offset {} total {} capacity {}",
            s.offset(),
            s.total(),
            s.capacity()
        );
    }

    /// lower <= true <= upper for every rank, and the offset bound.
    fn assert_bounds(s: &TopK, exact: &[u64], hashes: &[u64], what: &str) {
        assert_offset_bound(s);
        assert_eq!(s.total(), exact.iter().sum::<u64>(), "{what}");
        assert!(s.len() <= s.capacity() as usize);
        for (rank, &truth) in exact.iter().enumerate() {
            let b = s.estimate(hashes[rank]);
            assert!(
                b.lower <= truth && truth <= b.upper,
                "{what}: rank {rank} true {truth} bounds {b:?}"
            );
            assert_eq!(b.count, b.lower);
        }
    }

    /// Every true top-10 item that beats the 11th true count by more than 2 * offset is
    /// reported in the top 10.
    fn assert_top10(s: &TopK, exact: &[u64], what: &str) {
        let mut by_count: Vec<(u64, u32)> = exact
            .iter()
            .enumerate()
            .map(|(r, &c)| (c, r as u32))
            .collect();
        by_count.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        let eleventh = by_count[10].0;
        let reported: Vec<&[u8]> = s.top(10).iter().map(|e| e.item).collect();
        assert_eq!(reported.len(), 10);
        let mut checked = 0;
        for &(count, rank) in &by_count[..10] {
            if count > eleventh + 2 * s.offset() {
                checked += 1;
                assert!(
                    reported.contains(&&item(rank)[..]),
                    "{what}: rank {rank} (count {count}, 11th {eleventh}, offset {}) not in top 10",
                    s.offset()
                );
            }
        }
        assert!(checked > 0, "{what}: no top item separated enough to check");
    }

    #[test]
    fn zipf_streams_keep_their_bounds() {
        let hashes = hashes();
        for (s, seed) in [(0.8, 1u64), (1.1, 2), (1.5, 3)] {
            let stream = zipf_stream(s, 1_000_000, seed);
            let sketch = sketch_of(1024, &stream, &hashes);
            let exact = exact_counts(&stream);
            let what = format!("zipf s={s}");
            assert_bounds(&sketch, &exact, &hashes, &what);
            assert_top10(&sketch, &exact, &what);
            let top = sketch.top(sketch.len());
            assert!(top.windows(2).all(|w| w[0].count >= w[1].count));
        }
    }

    #[test]
    fn long_zipf_stream_keeps_its_bounds() {
        let hashes = hashes();
        let stream = zipf_stream(1.1, 10_000_000, 4);
        let sketch = sketch_of(1024, &stream, &hashes);
        let exact = exact_counts(&stream);
        assert_bounds(&sketch, &exact, &hashes, "zipf 1.1, 10^7");
        assert_top10(&sketch, &exact, "zipf 1.1, 10^7");
    }

    #[test]
    fn merges_of_100_parts_keep_their_bounds() {
        let hashes = hashes();
        for (s, seed) in [(0.8, 5u64), (1.1, 6)] {
            let stream = zipf_stream(s, 1_000_000, seed);
            let exact = exact_counts(&stream);
            let parts: Vec<TopK> = stream
                .chunks(stream.len() / 100)
                .map(|c| sketch_of(1024, c, &hashes))
                .collect();
            assert_eq!(parts.len(), 100);

            let mut chain = TopK::new(1024).unwrap();
            for p in &parts {
                chain.merge(p).unwrap();
                assert_offset_bound(&chain);
            }
            assert_eq!(chain.total(), stream.len() as u64);
            assert_bounds(&chain, &exact, &hashes, &format!("chain s={s}"));
            assert_top10(&chain, &exact, &format!("chain s={s}"));

            let mut level = parts;
            while level.len() > 1 {
                level = level
                    .chunks(2)
                    .map(|pair| {
                        let mut a = pair[0].clone();
                        if let Some(b) = pair.get(1) {
                            a.merge(b).unwrap();
                        }
                        assert_offset_bound(&a);
                        a
                    })
                    .collect();
            }
            let tree = &level[0];
            assert_eq!(tree.total(), stream.len() as u64);
            assert_bounds(tree, &exact, &hashes, &format!("tree s={s}"));
            assert_top10(tree, &exact, &format!("tree s={s}"));
        }
    }

    #[test]
    fn merge_commutes_byte_for_byte() {
        let hashes = hashes();
        let a = sketch_of(64, &zipf_stream(1.0, 20_000, 7), &hashes);
        let b = sketch_of(64, &zipf_stream(1.2, 30_000, 8), &hashes);
        let mut ab = a.clone();
        ab.merge(&b).unwrap();
        let mut ba = b.clone();
        ba.merge(&a).unwrap();
        assert_eq!(ab.to_bytes(), ba.to_bytes());
        assert!(ab.len() <= 64);
    }

    #[test]
    fn weighted_inserts_keep_their_bounds() {
        let hashes = hashes();
        let mut state = 9;
        let zipf = Zipf::new(DISTINCT, 1.0);
        let mut s = TopK::new(256).unwrap();
        let mut exact = vec![0u64; DISTINCT];
        for _ in 0..300_000 {
            let r = zipf.sample(&mut state);
            let w = splitmix(&mut state) % 1000;
            s.insert(hashes[r], &item(r as u32), w);
            exact[r] += w;
        }
        assert_bounds(&s, &exact, &hashes, "weighted");
        assert_top10(&s, &exact, "weighted");

        // Without a purge, a weight w is exactly w inserts of weight 1; weight 0 is a no-op.
        let mut a = TopK::new(8).unwrap();
        let mut b = TopK::new(8).unwrap();
        a.insert(hashes[1], b"one", 5);
        a.insert(hashes[2], b"two", 0);
        (0..5).for_each(|_| b.insert(hashes[1], b"one", 1));
        assert_eq!(a, b);
        assert_eq!((a.len(), a.total(), a.offset()), (1, 5, 0));
        assert_eq!(
            a.estimate(hashes[1]),
            Bounds {
                count: 5,
                lower: 5,
                upper: 5
            }
        );
        assert_eq!(a.estimate(hashes[2]).upper, 0);

        // Huge weights saturate instead of overflowing.
        a.insert(hashes[1], b"one", u64::MAX);
        assert_eq!(
            (a.total(), a.estimate(hashes[1]).count),
            (u64::MAX, u64::MAX)
        );
    }

    #[test]
    fn purge_drops_the_median_and_tracks_the_offset() {
        let mut s = TopK::new(8).unwrap();
        for k in 1..=8u64 {
            s.insert(k, &[k as u8], k * 10);
        }
        assert_eq!((s.len(), s.offset()), (8, 0));
        // A ninth counter: median of 10..=80 and 5 is 40, so 10, 20, 30, 40 and 5 go.
        s.insert(9, &[9], 5);
        assert_eq!((s.len(), s.offset(), s.total()), (4, 40, 365));
        assert_eq!(s.estimate(8).count, 40);
        assert_eq!(s.estimate(9).upper, 40);
        let top: Vec<(u64, u64)> = s.top(2).iter().map(|e| (e.hash, e.count)).collect();
        assert_eq!(top, [(8, 40), (7, 30)]);
        assert!(s.heap_size() >= 4 * std::mem::size_of::<Slot>() + 4);
        // The size the module documentation states.
        assert_eq!(std::mem::size_of::<Slot>(), 40);
    }

    #[test]
    fn top_breaks_ties_by_item_bytes() {
        let mut s = TopK::new(16).unwrap();
        for (h, name) in [(5u64, "pear"), (1, "fig"), (9, "apple"), (3, "kiwi")] {
            s.insert(h, name.as_bytes(), 7);
        }
        s.insert(3, b"kiwi", 1);
        let names: Vec<&[u8]> = s.top(10).iter().map(|e| e.item).collect();
        assert_eq!(names, [&b"kiwi"[..], b"apple", b"fig", b"pear"]);
        let names: Vec<&[u8]> = s.top(2).iter().map(|e| e.item).collect();
        assert_eq!(names, [&b"kiwi"[..], b"apple"]);
        assert!(s.top(0).is_empty());
        assert!(TopK::new(8).unwrap().top(3).is_empty());
    }

    #[test]
    fn round_trip_preserves_estimates_and_top() {
        let hashes = hashes();
        for (capacity, len) in [(8u32, 0usize), (8, 5), (64, 50_000), (1024, 200_000)] {
            let stream = zipf_stream(1.1, len, 10 + len as u64);
            let s = sketch_of(capacity, &stream, &hashes);
            let bytes = s.to_bytes();
            assert_eq!(bytes.len(), s.serialized_len());
            let r = TopK::from_bytes(&bytes).unwrap();
            assert_eq!(r, s);
            assert_eq!(r.top(20), s.top(20));
            for h in hashes.iter().take(2000) {
                assert_eq!(r.estimate(*h), s.estimate(*h));
            }
            assert_eq!(r.to_bytes(), bytes);
            let mut out = vec![0xAA];
            s.write_to(&mut out);
            assert_eq!(&out[1..], &bytes[..]);
        }
    }

    #[test]
    fn bytes_do_not_depend_on_insertion_order() {
        let hashes = hashes();
        let stream: Vec<u32> = zipf_stream(1.3, 2_000, 11);
        let mut reversed = stream.clone();
        reversed.reverse();
        // Capacity above the distinct count: no purge happens.
        let a = sketch_of(4096, &stream, &hashes);
        let b = sketch_of(4096, &reversed, &hashes);
        assert_eq!(a.offset(), 0);
        assert_eq!(a.to_bytes(), b.to_bytes());
        // Exact when nothing was purged.
        let exact = exact_counts(&stream);
        for (rank, &c) in exact.iter().enumerate() {
            assert_eq!(a.estimate(hashes[rank]).upper, c);
        }
    }

    fn small_state() -> Vec<u8> {
        let mut s = TopK::new(8).unwrap();
        for (h, name, w) in [(1u64, "a", 3u64), (2, "bb", 2), (3, "ccc", 1)] {
            s.insert(h, name.as_bytes(), w);
        }
        s.to_bytes()
    }

    fn reencode(params: &[u8], body: &[u8]) -> Vec<u8> {
        envelope::encode(Family::TopK, params, body)
    }

    #[test]
    fn corrupt_states_are_rejected() {
        let bytes = small_state();
        let env = envelope::decode(&bytes, Family::TopK).unwrap();
        let (params, body) = (env.params, env.body);
        assert!(TopK::from_bytes(&reencode(params, body)).is_ok());

        // Truncated, at every length.
        for len in 0..bytes.len() {
            assert!(TopK::from_bytes(&bytes[..len]).is_err(), "len {len}");
        }
        for len in 0..body.len() {
            assert!(TopK::from_bytes(&reencode(params, &body[..len])).is_err());
        }
        // Trailing bytes.
        let mut longer = body.to_vec();
        longer.push(0);
        assert!(TopK::from_bytes(&reencode(params, &longer)).is_err());
        // Capacity out of range, or parameters of the wrong length.
        assert!(matches!(
            TopK::from_bytes(&reencode(&7u32.to_le_bytes(), body)),
            Err(SketchError::InvalidParameter(_))
        ));
        assert!(TopK::from_bytes(&reencode(&[8, 0, 0], body)).is_err());
        assert!(TopK::from_bytes(&reencode(&[8, 0, 0, 0, 0], body)).is_err());
        // A lying entry count must not allocate or read past the end.
        let mut b = body.to_vec();
        b[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(TopK::from_bytes(&reencode(params, &b)).is_err());
        let mut b = body.to_vec();
        b[16..20].copy_from_slice(&8u32.to_le_bytes());
        assert!(TopK::from_bytes(&reencode(params, &b)).is_err());
        // A lying item length (first entry's, at body offset 20 + 16).
        for len in [u32::MAX, 1 << 20, 2] {
            let mut b = body.to_vec();
            b[36..40].copy_from_slice(&len.to_le_bytes());
            assert!(TopK::from_bytes(&reencode(params, &b)).is_err(), "{len}");
        }
        // A zero count.
        let mut b = body.to_vec();
        b[28..36].copy_from_slice(&0u64.to_le_bytes());
        assert!(TopK::from_bytes(&reencode(params, &b)).is_err());
        // Hashes out of order (first entry's hash set to the second's).
        let mut b = body.to_vec();
        b[20..28].copy_from_slice(&2u64.to_le_bytes());
        assert!(TopK::from_bytes(&reencode(params, &b)).is_err());
        // Counters above the total.
        let mut b = body.to_vec();
        b[0..8].copy_from_slice(&5u64.to_le_bytes());
        assert!(TopK::from_bytes(&reencode(params, &b)).is_err());
        // Wrong family, and a flipped bit under the checksum.
        let other = envelope::encode(Family::HyperLogLog, params, body);
        assert!(matches!(
            TopK::from_bytes(&other),
            Err(SketchError::WrongFamily { .. })
        ));
        let mut flipped = bytes.clone();
        flipped[30] ^= 4;
        assert_eq!(
            TopK::from_bytes(&flipped),
            Err(SketchError::ChecksumMismatch)
        );
    }

    #[test]
    fn random_mutations_never_panic() {
        let base = small_state();
        let env = envelope::decode(&base, Family::TopK).unwrap();
        let mut state = 12;
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut params = env.params.to_vec();
            let mut body = env.body.to_vec();
            for _ in 0..1 + splitmix(&mut state) % 4 {
                let r = splitmix(&mut state);
                let target = if r.is_multiple_of(8) {
                    &mut params
                } else {
                    &mut body
                };
                let pos = (r >> 8) as usize % (target.len() + 1);
                match (r >> 4) % 5 {
                    0 if pos < target.len() => target[pos] ^= 1 << ((r >> 40) % 8),
                    1 if pos < target.len() => target[pos] = (r >> 40) as u8,
                    2 => target.truncate(pos),
                    3 => target.insert(pos, (r >> 40) as u8),
                    _ if pos + 4 <= target.len() => {
                        let v = [0u32, 1, 7, 8, 255, 1 << 20, u32::MAX][(r >> 40) as usize % 7];
                        target[pos..pos + 4].copy_from_slice(&v.to_le_bytes());
                    }
                    _ => {}
                }
            }
            let bytes = reencode(&params, &body);
            if let Ok(s) = TopK::from_bytes(&bytes) {
                accepted += 1;
                // A state that decodes is canonical and usable.
                assert_eq!(s.to_bytes(), bytes);
                let _ = s.top(5);
                let _ = s.estimate(1);
                let mut m = s.clone();
                m.merge(&s).unwrap();
                assert!(m.len() <= m.capacity() as usize);
            }
        }
        assert!(accepted > 0);
    }

    /// The insert, purge and merge rules of the module documentation, written plainly over a
    /// sorted map, to check the sketch against.
    struct Model {
        capacity: usize,
        total: u64,
        offset: u64,
        counters: BTreeMap<u64, (u64, Vec<u8>)>,
    }

    impl Model {
        fn new(capacity: u32) -> Self {
            Self {
                capacity: capacity as usize,
                total: 0,
                offset: 0,
                counters: BTreeMap::new(),
            }
        }

        fn insert(&mut self, hash: u64, item: &[u8], weight: u64) {
            if weight == 0 {
                return;
            }
            self.total = self.total.saturating_add(weight);
            if let Some((count, _)) = self.counters.get_mut(&hash) {
                *count = count.saturating_add(weight);
                return;
            }
            self.counters.insert(hash, (weight, item.to_vec()));
            if self.counters.len() > self.capacity {
                self.purge();
            }
        }

        fn purge(&mut self) {
            let mut counts: Vec<u64> = self.counters.values().map(|&(c, _)| c).collect();
            let mid = counts.len() / 2;
            let v = *counts.select_nth_unstable(mid).1;
            self.counters.retain(|_, (c, _)| {
                *c = c.saturating_sub(v);
                *c > 0
            });
            self.offset = self.offset.saturating_add(v);
        }

        fn merge(&mut self, other: &Model) {
            self.total = self.total.saturating_add(other.total);
            self.offset = self.offset.saturating_add(other.offset);
            for (&hash, (count, item)) in &other.counters {
                let mine = self.counters.entry(hash).or_insert((0, item.clone()));
                mine.0 = mine.0.saturating_add(*count);
            }
            while self.counters.len() > self.capacity {
                self.purge();
            }
        }

        /// The state as `docs/FORMAT.md` lays it out, entries in hash order.
        fn to_bytes(&self) -> Vec<u8> {
            let mut body = Vec::new();
            body.extend_from_slice(&self.total.to_le_bytes());
            body.extend_from_slice(&self.offset.to_le_bytes());
            body.extend_from_slice(&(self.counters.len() as u32).to_le_bytes());
            for (hash, (count, item)) in &self.counters {
                body.extend_from_slice(&hash.to_le_bytes());
                body.extend_from_slice(&count.to_le_bytes());
                body.extend_from_slice(&(item.len() as u32).to_le_bytes());
                body.extend_from_slice(item);
            }
            envelope::encode(Family::TopK, &(self.capacity as u32).to_le_bytes(), &body)
        }
    }

    /// Item bytes of 0 to 40 bytes by rank, so both inline and heap items occur.
    fn varied_item(rank: u32) -> Vec<u8> {
        (0..rank % 41)
            .map(|i| (rank as u8).wrapping_add(i as u8))
            .collect()
    }

    /// Feeds the same weighted stream to a sketch and to the model.
    fn both_of(capacity: u32, stream: &[(u32, u64)], hashes: &[u64]) -> (TopK, Model) {
        let mut s = TopK::new(capacity).unwrap();
        let mut m = Model::new(capacity);
        for &(r, w) in stream {
            let item = varied_item(r);
            s.insert(hashes[r as usize], &item, w);
            m.insert(hashes[r as usize], &item, w);
        }
        (s, m)
    }

    fn assert_same(s: &TopK, m: &Model, what: &str) {
        let bytes = s.to_bytes();
        assert!(
            bytes == m.to_bytes(),
            "{what}: state differs from the model"
        );
        assert_eq!(bytes.len(), s.serialized_len(), "{what}");
        assert_eq!(s.len(), m.counters.len(), "{what}");
        // Decoding lays the counters out in hash order, not insertion order.
        assert_eq!(TopK::from_bytes(&bytes).unwrap(), *s, "{what}");
    }

    #[test]
    fn matches_a_plain_model_of_the_rules() {
        let hashes = hashes();
        for (case, (skew, weights)) in [(0.8, 1u64), (1.1, 1), (1.1, 7), (1.5, 1000)]
            .into_iter()
            .enumerate()
        {
            let mut state = 100 + case as u64;
            let stream: Vec<(u32, u64)> = zipf_stream(skew, 200_000, 20 + case as u64)
                .into_iter()
                // Weight 0 is a no-op; a rare huge weight makes the counts saturate.
                .map(|r| match splitmix(&mut state) % (weights * 1000) {
                    0 if weights > 1 => (r, u64::MAX / 3),
                    x => (r, if weights == 1 { 1 } else { x % weights }),
                })
                .collect();
            for capacity in [8u32, 64, 1024] {
                let what = format!("s={skew} weights<{weights} capacity {capacity}");
                let (whole, model) = both_of(capacity, &stream, &hashes);
                assert_same(&whole, &model, &what);

                let parts: Vec<(TopK, Model)> = stream
                    .chunks(stream.len() / 7 + 1)
                    .map(|c| both_of(capacity, c, &hashes))
                    .collect();
                let (mut chain, mut chain_model) =
                    (TopK::new(capacity).unwrap(), Model::new(capacity));
                for (s, m) in &parts {
                    chain.merge(s).unwrap();
                    chain_model.merge(m);
                    assert_same(&chain, &chain_model, &format!("{what}, chain"));
                }
                let (mut first, mut first_model) = both_of(capacity, &stream[..10], &hashes);
                first.merge(&parts[3].0).unwrap();
                first_model.merge(&parts[3].1);
                assert_same(&first, &first_model, &format!("{what}, small + part"));
            }
        }
    }

    #[test]
    fn equality_ignores_the_layout_only() {
        let fill = |order: &[u64], last: u64| {
            let mut s = TopK::new(16).unwrap();
            for &h in order {
                s.insert(h, &h.to_le_bytes(), h);
            }
            s.insert(last, b"last", 1);
            s
        };
        let a = fill(&[1, 2, 3, 4, 5], 9);
        assert_eq!(a, fill(&[5, 3, 1, 4, 2], 9));
        // Another count, item, offset or capacity makes another sketch.
        assert_ne!(a, fill(&[1, 2, 3, 4, 5], 8));
        let mut other_count = a.clone();
        other_count.insert(3, b"", 1);
        assert_ne!(a, other_count);
        let mut b = fill(&[1, 2, 3, 4], 9);
        b.insert(5, b"five", 5);
        assert_ne!(a, b);
        let mut c = TopK::new(32).unwrap();
        c.merge(&TopK::new(32).unwrap()).unwrap();
        assert_ne!(TopK::new(16).unwrap(), c);
    }

    #[test]
    fn parameters_are_checked() {
        for bad in [0u32, 7, MAX_CAPACITY + 1, u32::MAX] {
            let err = TopK::new(bad).unwrap_err();
            assert!(
                matches!(&err, SketchError::InvalidParameter(m) if m.contains("8 and 1048576")),
                "{err}"
            );
        }
        assert!(TopK::new(MIN_CAPACITY).is_ok());
        // The empty state: envelope, capacity, total, offset and entry count.
        assert_eq!(TopK::new(MIN_CAPACITY).unwrap().to_bytes().len(), 44);
        assert!(TopK::new(MAX_CAPACITY).is_ok());
        let mut a = TopK::new(64).unwrap();
        let b = TopK::new(128).unwrap();
        let err = a.merge(&b).unwrap_err();
        assert!(
            matches!(&err, SketchError::Incompatible(m) if m.contains("topk capacity 64 vs 128")),
            "{err}"
        );
    }

    /// Insert rate on a 10^7 Zipf(1.1) stream at `capacity` (hashes precomputed).
    fn measure_insert_rate(capacity: u32) {
        let hashes = hashes();
        let stream = zipf_stream(1.1, 10_000_000, 13);
        for _ in 0..5 {
            let start = std::time::Instant::now();
            let s = sketch_of(capacity, &stream, &hashes);
            let secs = start.elapsed().as_secs_f64();
            println!(
                "topk insert (capacity {capacity}): {:.1} M items/s ({} counters, offset {}, {} heap bytes)",
                stream.len() as f64 / secs / 1e6,
                s.len(),
                s.offset(),
                s.heap_size()
            );
        }
    }

    /// `cargo test --release --no-default-features --lib sketch::topk -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn insert_rate() {
        measure_insert_rate(1024);
    }

    /// As [`insert_rate`] with a larger sketch, whose purges walk more memory.
    #[test]
    #[ignore]
    fn insert_rate_4096() {
        measure_insert_rate(4096);
    }
}
