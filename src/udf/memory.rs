//! An aggregate's memory, reserved in the session's memory pool as it is made: a batch's growth
//! ([`Budget`]) and the sketches DataFusion does not account for ([`Held`]).
//!
//! DataFusion asks an aggregate for its [`size`](datafusion::logical_expr::GroupsAccumulator::size)
//! after each batch and only then grows its reservation, as it does for its own aggregates. For
//! sketches that is too late when a batch holds large states: 2,000 Top-K states of capacity
//! 16,384 decode to about 1.8 GB within one `merge_batch`, made in full before the pool can
//! refuse, and under a container's memory limit the allocator aborts the process (issue 21).
//!
//! An aggregate bound to its session's pool ([`crate::udf::register_all_with_pool`]) takes a
//! batch of states, or of several groups' values, a piece at a time and reserves what it has
//! grown beyond a slack before the next piece. The pieces go row by row, as the whole batch
//! would, so the sketches do not depend on the limit; one group's batch grows one sketch and
//! is taken whole. Over the limit the query fails with "Resources exhausted" naming the
//! aggregate, having allocated at most the slack and one piece past what the pool holds. The
//! slack (a sixteenth of the pool's limit) leaves batches of ordinary growth to DataFusion's
//! accounting after the batch, which then spills or emits early as it does for its own
//! aggregates. An unbounded pool, or an aggregate not bound to one (`register_all`, or
//! through the FFI), works as before, a batch in one piece.
//!
//! Some sketches are kept out of DataFusion's accounting and [`Held`] here instead: those of
//! moving window frames (DataFusion's window operators reserve nothing), the single-group
//! sketch, and in grouped aggregates sketches of [`LARGE_SKETCH`] or more, which DataFusion
//! must not emit early or spill in batches of hundreds of megabytes.
//!
//! ```
//! use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryPool};
//! use hazy::udf::memory::{Budget, PoolHandle};
//! use std::sync::Arc;
//! let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(16 << 20));
//! let mut budget = Budget::new(&PoolHandle::new(pool), "topk_merge").expect("a bounded pool");
//! // Each row grows the aggregate by 1 MB: the pool refuses long before 100 rows are made.
//! let mut made = 0;
//! let err = budget
//!     .run(100, |rows| {
//!         made += rows.len();
//!         Ok(rows.len() as isize * (1 << 20))
//!     })
//!     .unwrap_err();
//! assert!(err.to_string().contains("Resources exhausted") && err.to_string().contains("topk_merge"));
//! assert!(made < 20, "{made} rows made");
//! ```

use datafusion::common::human_readable_size;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::memory_pool::{
    MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};
use std::fmt::Debug;
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::Arc;

/// Rows of an aggregate's first piece, before its growth per row is known.
const FIRST_PIECE_ROWS: usize = 8;

/// The share of the pool's limit an aggregate may grow within a batch before it reserves.
const SLACK_DIVISOR: usize = 16;

/// Growth per row from which a grouped aggregate holds its sketches in the pool itself
/// ([`Held`]) rather than leaving them to DataFusion's accounting after each batch.
///
/// Short of memory, DataFusion's partial aggregate emits all its groups at once and its final
/// aggregate spills sorted batches of them: with states of this size, batches of hundreds of
/// megabytes that then travel, are copied by the repartition and are read back outside any
/// pool. Under an address-space limit that is where the process was still aborted (2,000
/// merged Top-K states of 0.9 MB: 4 runs in 10). Held, such sketches never make DataFusion's
/// reservation fail, so it neither emits them early nor spills them: over the limit the
/// aggregate fails, naming itself. Sketches below it (a dense HyperLogLog is 16 KB) keep
/// DataFusion's spilling.
pub const LARGE_SKETCH: usize = 64 << 10;

/// The memory pool an aggregate reserves its growth in, or none. Carried by the UDF, so equal
/// for any two pools: a function is the same function whatever session it is bound to.
#[derive(Clone, Default)]
pub struct PoolHandle(Option<Arc<dyn MemoryPool>>);

impl PoolHandle {
    pub fn new(pool: Arc<dyn MemoryPool>) -> Self {
        Self(Some(pool))
    }

    /// The pool and its limit; `None` when there is no pool or it has no limit (nothing to
    /// reserve against).
    fn bounded(&self) -> Option<(&Arc<dyn MemoryPool>, usize)> {
        let pool = self.0.as_ref()?;
        match pool.memory_limit() {
            MemoryLimit::Finite(limit) => Some((pool, limit)),
            _ => None,
        }
    }
}

impl Debug for PoolHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "bound" } else { "unbound" })
    }
}

impl PartialEq for PoolHandle {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for PoolHandle {}

impl Hash for PoolHandle {
    fn hash<H: Hasher>(&self, _: &mut H) {}
}

/// One aggregate's reservation for the growth of the batch it is taking.
#[derive(Debug)]
pub struct Budget {
    function: &'static str,
    reservation: MemoryReservation,
    /// Growth within a batch left to DataFusion's accounting after the batch.
    slack: usize,
    /// The largest growth per row of a piece seen so far, in bytes.
    per_row: usize,
    /// Rows of the next piece: doubled after each piece, up to what fits in the slack at
    /// `per_row`, so that an aggregate of small growth soon takes whole batches.
    piece: usize,
}

impl Budget {
    /// A budget in `pool` for `function`; `None` when the pool has no limit (nothing to
    /// reserve against) or there is no pool.
    pub fn new(pool: &PoolHandle, function: &'static str) -> Option<Self> {
        let (pool, limit) = pool.bounded()?;
        let consumer = MemoryConsumer::new(format!("{function} (one batch's growth)"));
        Some(Self {
            function,
            reservation: consumer.register(pool),
            slack: limit / SLACK_DIVISOR,
            per_row: 0,
            piece: FIRST_PIECE_ROWS,
        })
    }

    /// Runs `step` over the rows `0..rows` of a batch in pieces, each returning how many bytes
    /// it grew the aggregate by, and reserves the growth beyond the slack before the next
    /// piece; returns the batch's whole growth. Pieces start at a few rows and double, up to
    /// as many rows as fit in the slack at the largest growth per row seen. The reservation is
    /// released at the end: DataFusion then accounts for the aggregate's new size.
    pub fn run(
        &mut self,
        rows: usize,
        step: impl FnMut(Range<usize>) -> Result<isize>,
    ) -> Result<isize> {
        let result = self.run_pieces(rows, step);
        self.reservation.free();
        result
    }

    fn run_pieces(
        &mut self,
        rows: usize,
        mut step: impl FnMut(Range<usize>) -> Result<isize>,
    ) -> Result<isize> {
        let (mut grown, mut start) = (0isize, 0);
        while start < rows {
            let end = rows.min(start.saturating_add(self.piece));
            let delta = step(start..end)?;
            grown += delta;
            self.per_row = self
                .per_row
                .max((delta.max(0) as usize).div_ceil(end - start));
            self.reserve_beyond_slack(grown)?;
            let fits = self.slack.checked_div(self.per_row).unwrap_or(usize::MAX);
            self.piece = self.piece.saturating_mul(2).min(fits).max(1);
            start = end;
        }
        Ok(grown)
    }

    /// The largest growth per row of a piece seen so far, in bytes.
    pub fn largest_growth_per_row(&self) -> usize {
        self.per_row
    }

    fn reserve_beyond_slack(&self, grown: isize) -> Result<()> {
        let beyond = (grown.max(0) as usize).saturating_sub(self.slack);
        if beyond <= self.reservation.size() {
            return Ok(());
        }
        self.reservation.try_resize(beyond).map_err(|e| {
            exhausted(
                self.function,
                format!(
                    "the sketches of one batch need more memory than the limit leaves \
                     ({} made in this batch so far)",
                    human_readable_size(grown.max(0) as usize)
                ),
                e,
            )
        })
    }
}

/// Memory an accumulator keeps between batches and reserves itself, because DataFusion does
/// not: its window operators never ask an accumulator for its size, so the sketches of a
/// moving frame (one a row, and their unions) would otherwise grow outside any limit. The
/// single-group accumulator holds its sketch the same way, whichever operator runs it.
///
/// What is held is counted here and not in the accumulator's `size()`, so an operator that
/// does ask (DataFusion's aggregate without GROUP BY) does not count it twice. Dropped with
/// the accumulator, it is given back.
#[derive(Debug)]
pub struct Held {
    function: &'static str,
    reservation: MemoryReservation,
}

impl Held {
    /// A reservation in `pool` for `function`; `None` when the pool has no limit or there is
    /// no pool.
    pub fn new(pool: &PoolHandle, function: &'static str) -> Option<Self> {
        let (pool, _) = pool.bounded()?;
        Some(Self {
            function,
            reservation: MemoryConsumer::new(format!("{function} (sketches held)")).register(pool),
        })
    }

    /// Holds `bytes` in all, growing or shrinking the reservation; over the limit, the error
    /// names the function and says how much its sketches hold.
    ///
    /// A moving frame holds a little more or less at every row: the reservation grows an
    /// eighth ahead and shrinks once it is twice what is needed, so that the pool (a lock in
    /// DataFusion's tracking pool) is not called at every row.
    pub fn hold(&mut self, bytes: usize) -> Result<()> {
        let held = self.reservation.size();
        if bytes <= held && bytes >= held / 2 {
            return Ok(());
        }
        if bytes > held && self.reservation.try_resize(bytes + bytes / 8).is_ok() {
            return Ok(());
        }
        self.reservation.try_resize(bytes).map_err(|e| {
            exhausted(
                self.function,
                format!(
                    "its sketches need {}, more memory than the limit leaves",
                    human_readable_size(bytes)
                ),
                e,
            )
        })
    }
}

/// Holds `bytes` in `held` when there is one.
pub fn hold(held: &mut Option<Held>, bytes: usize) -> Result<()> {
    held.as_mut().map_or(Ok(()), |h| h.hold(bytes))
}

/// An accumulator's two reservations in its pool: a [`Budget`] for the batch it is taking
/// and [`Held`] for the sketches it keeps (both `None` when unbound or unbounded).
#[derive(Debug, Default)]
pub struct Reserve {
    pub budget: Option<Budget>,
    pub held: Option<Held>,
}

impl Reserve {
    pub fn new(pool: &PoolHandle, function: &'static str) -> Self {
        Self {
            budget: Budget::new(pool, function),
            held: Held::new(pool, function),
        }
    }

    /// Holds `bytes` in all (see [`Held::hold`]).
    pub fn hold(&mut self, bytes: usize) -> Result<()> {
        hold(&mut self.held, bytes)
    }
}

/// "Resources exhausted" naming `function` and `what` it needed, followed by the pool's own
/// account of its consumers.
fn exhausted(function: &str, what: String, e: DataFusionError) -> DataFusionError {
    let pool = match e {
        DataFusionError::ResourcesExhausted(message) => message,
        other => other.strip_backtrace(),
    };
    DataFusionError::ResourcesExhausted(format!("{function}: {what}. {pool}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sketch::Sketch;
    use crate::sketch::hash::hash_i64;
    use crate::sketch::topk::TopK;
    use crate::udf::family::Glue;
    use crate::udf::groups::SketchGroups;
    use arrow::array::{ArrayRef, LargeBinaryBuilder};
    use datafusion::execution::memory_pool::GreedyMemoryPool;
    use datafusion::logical_expr::{EmitTo, GroupsAccumulator};

    /// `n` full Top-K states of capacity 16,384, about 0.9 MB each once decoded.
    fn full_topk_states(n: i64) -> ArrayRef {
        let mut states = LargeBinaryBuilder::new();
        for s in 0..n {
            let mut topk = TopK::new(16_384).unwrap();
            for i in s * 100_000..s * 100_000 + 16_384 {
                topk.insert(hash_i64(i), &i.to_le_bytes(), 1);
            }
            states.append_value(topk.to_bytes());
        }
        Arc::new(states.finish())
    }

    fn topk_merge(pool: Option<&Arc<dyn MemoryPool>>) -> SketchGroups<TopK> {
        let merge = crate::udf::topk::merge();
        let handle = pool.map_or_else(PoolHandle::default, |p| PoolHandle::new(p.clone()));
        SketchGroups::new(Glue::for_test(&merge, None)).with_pool(&handle)
    }

    /// `pool` holds `heap` bytes, and at most an eighth more (see [`Held::hold`]).
    fn assert_holds(pool: &Arc<dyn MemoryPool>, heap: usize) {
        let reserved = pool.reserved();
        assert!(
            reserved >= heap && reserved <= heap + heap / 8,
            "{reserved} held for {heap}"
        );
    }

    /// Issue 21: 40 large states merged into 40 groups in one batch under a 16 MB limit. Without
    /// a budget all 40 are decoded before DataFusion sees the size; with one, the batch stops
    /// at the limit with a clear error and the reservation is given back.
    #[test]
    fn a_batch_of_large_states_stops_at_the_limit() {
        let states = full_topk_states(40);
        let groups: Vec<usize> = (0..40).collect();
        let mut unbudgeted = topk_merge(None);
        unbudgeted
            .merge_batch(std::slice::from_ref(&states), &groups, 40)
            .unwrap();
        assert!(unbudgeted.size() > 32 << 20, "{}", unbudgeted.size());

        let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(16 << 20));
        let mut budgeted = topk_merge(Some(&pool));
        let err = budgeted.merge_batch(&[states], &groups, 40).unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("Resources exhausted: topk_merge: "),
            "{message}"
        );
        // The limit, the slack (a sixteenth) and at most one piece (one state) more.
        assert!(budgeted.size() < 20 << 20, "{}", budgeted.size());
        assert_eq!(pool.reserved(), 0, "the reservation is given back");
    }

    /// With room enough, a budget changes nothing: the same states, in pieces. Sketches of
    /// `LARGE_SKETCH` bytes or more are held in the pool by the aggregate, out of its
    /// `size()`, so DataFusion's reservation never fails on them (no early emission, no spill
    /// of batches of them); emitted, they are given back.
    #[test]
    fn with_room_the_same_states_and_large_ones_held() {
        let states = full_topk_states(12);
        // Rows of 12 states into 5 groups, so that pieces merge into groups made earlier.
        let groups: Vec<usize> = (0..12).map(|i| i % 5).collect();
        let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(48 << 20));
        let (mut unbudgeted, mut held) = (topk_merge(None), topk_merge(Some(&pool)));
        for acc in [&mut unbudgeted, &mut held] {
            acc.merge_batch(std::slice::from_ref(&states), &groups, 5)
                .unwrap();
        }
        assert!(pool.reserved() > 4 << 20, "{}", pool.reserved());
        assert_holds(&pool, unbudgeted.size() - held.size());
        for emit in [EmitTo::First(2), EmitTo::All] {
            assert_eq!(
                held.state(emit).unwrap()[0].to_data(),
                unbudgeted.state(emit).unwrap()[0].to_data()
            );
            assert!(held.heap_is_exact());
        }
        assert_eq!(pool.reserved(), 0);
    }

    /// Sketches below `LARGE_SKETCH` are left to DataFusion's accounting (and spilling).
    #[test]
    fn small_sketches_are_left_to_datafusion() {
        let small: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(48 << 20));
        let handle = PoolHandle::new(small.clone());
        let mut hll = SketchGroups::new(Glue::for_test(&crate::udf::hll::sketch(), Some(14)))
            .with_pool(&handle);
        let values: ArrayRef = Arc::new(arrow::array::Int64Array::from_iter_values(0..50_000));
        let groups: Vec<usize> = (0..50_000).map(|i| i % 10).collect();
        hll.update_batch(&[values], &groups, None, 10).unwrap();
        assert_eq!(small.reserved(), 0);
        assert!(hll.size() > 10 * 10_000, "{}", hll.size());
    }

    /// Values of several groups in pieces give the sketches of the whole batch, also for a
    /// family whose batch insert for one group differs from inserting row by row (KLL), and
    /// where the first pieces hold one group only.
    #[test]
    fn values_in_pieces_give_the_sketches_of_the_whole_batch() {
        use crate::sketch::kll::Kll;
        let values: ArrayRef = Arc::new(arrow::array::Float64Array::from_iter_values(
            (0..5_000).map(|i| ((i * 7_919) % 5_003) as f64),
        ));
        let groups: Vec<usize> = (0..5_000)
            .map(|i| usize::from(i >= 3_000 && i % 2 == 1))
            .collect();
        let kll = |pool: Option<&Arc<dyn MemoryPool>>| {
            let handle = pool.map_or_else(PoolHandle::default, |p| PoolHandle::new(p.clone()));
            SketchGroups::<Kll>::new(Glue::for_test(&crate::udf::kll::sketch(), Some(200)))
                .with_pool(&handle)
        };
        let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(1 << 30));
        let (mut whole, mut pieces) = (kll(None), kll(Some(&pool)));
        for acc in [&mut whole, &mut pieces] {
            acc.update_batch(std::slice::from_ref(&values), &groups, None, 2)
                .unwrap();
        }
        assert_eq!(
            pieces.state(EmitTo::All).unwrap()[0].to_data(),
            whole.state(EmitTo::All).unwrap()[0].to_data()
        );
    }

    /// The single-group accumulator holds its sketch in the pool itself, and not in `size()`,
    /// which DataFusion's aggregate without GROUP BY reserves too; dropped, it gives it back.
    /// Under a limit smaller than its sketch, the error names the function.
    #[test]
    fn a_single_group_holds_its_sketch_in_the_pool() {
        use crate::udf::groups::SketchAccumulator;
        use datafusion::logical_expr::Accumulator;
        let states = full_topk_states(3);
        let merge = crate::udf::topk::merge();
        let single = |pool: &Arc<dyn MemoryPool>| {
            SketchAccumulator::new(Glue::for_test(&merge, None))
                .with_pool(&PoolHandle::new(pool.clone()))
        };
        let mut unbound = SketchAccumulator::new(Glue::for_test(&merge, None));
        unbound.update_batch(std::slice::from_ref(&states)).unwrap();

        let pool: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(64 << 20));
        let mut held = single(&pool);
        held.update_batch(std::slice::from_ref(&states)).unwrap();
        assert!(pool.reserved() > 800_000, "{}", pool.reserved());
        assert_holds(&pool, unbound.size() - held.size());
        assert_eq!(held.state().unwrap(), unbound.state().unwrap());
        drop(held);
        assert_eq!(pool.reserved(), 0);

        let tiny: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(100_000));
        let message = single(&tiny)
            .update_batch(&[states])
            .unwrap_err()
            .to_string();
        assert!(
            message.starts_with("Resources exhausted: topk_merge: its sketches need"),
            "{message}"
        );
    }

    #[test]
    fn no_budget_without_a_bounded_pool() {
        let unbounded: Arc<dyn MemoryPool> =
            Arc::new(datafusion::execution::memory_pool::UnboundedMemoryPool::default());
        assert!(Budget::new(&PoolHandle::new(unbounded), "hll_merge").is_none());
        assert!(Budget::new(&PoolHandle::default(), "hll_merge").is_none());
    }
}
