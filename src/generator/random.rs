//! Random numbers for the generator: xoshiro256** seeded through splitmix64, and Walker's
//! alias tables for O(1) draws from weighted categories.

use super::BoxError;

/// One step of splitmix64 (used to expand the seed into xoshiro state).
pub(super) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256** (Blackman & Vigna), a small, fast, high-quality PRNG.
#[derive(Debug, Clone)]
pub(super) struct Xoshiro256 {
    pub(super) s: [u64; 4],
}

impl Xoshiro256 {
    pub(super) fn from_seed(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        // splitmix64 is a bijection of its counter, so four consecutive outputs
        // are never all zero; keep the guard anyway (all-zero is a fixed point).
        if s == [0; 4] {
            return Xoshiro256 { s: [1, 2, 3, 4] };
        }
        Xoshiro256 { s }
    }

    #[inline]
    pub(super) fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    #[inline]
    pub(super) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `0..n` (multiply-shift; bias at most n / 2^64).
    #[inline]
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

// ---------------------------------------------------------------------------
// Alias method
// ---------------------------------------------------------------------------

/// Walker's alias table built with Vose's O(n) algorithm.
///
/// To draw: pick a column `i` uniformly, then keep `i` with probability
/// `threshold[i] / 2^64`, otherwise take `alias[i]`.
#[derive(Debug, Clone)]
pub(super) struct AliasTable {
    threshold: Vec<u64>,
    alias: Vec<u32>,
}

impl AliasTable {
    /// `weight(i)` must be finite and positive for `i in 0..n`; `1 <= n <= u32::MAX`.
    pub(super) fn new(n: usize, weight: impl Fn(usize) -> f64) -> Result<Self, BoxError> {
        debug_assert!(n >= 1 && n as u64 <= u64::from(u32::MAX));
        let mut prob: Vec<f64> = Vec::new();
        let mut threshold: Vec<u64> = Vec::new();
        let mut alias: Vec<u32> = Vec::new();
        let mut small: Vec<u32> = Vec::new();
        let mut large: Vec<u32> = Vec::new();
        let alloc_err = |_| -> BoxError {
            format!("hazy gen: --entities {n} is too large (cannot allocate the sampling table)")
                .into()
        };
        prob.try_reserve_exact(n).map_err(alloc_err)?;
        threshold.try_reserve_exact(n).map_err(alloc_err)?;
        alias.try_reserve_exact(n).map_err(alloc_err)?;

        prob.extend((0..n).map(&weight));
        let total: f64 = prob.iter().sum();
        let scale = n as f64 / total;
        for p in &mut prob {
            *p *= scale;
        }
        let n_small = prob.iter().filter(|&&p| p < 1.0).count();
        small.try_reserve_exact(n_small).map_err(alloc_err)?;
        large.try_reserve_exact(n - n_small).map_err(alloc_err)?;
        for (i, &p) in prob.iter().enumerate() {
            if p < 1.0 {
                small.push(i as u32);
            } else {
                large.push(i as u32);
            }
        }
        threshold.resize(n, u64::MAX);
        alias.extend(0..n as u32); // by default a column aliases itself
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            let (si, li) = (s as usize, l as usize);
            threshold[si] = prob_to_threshold(prob[si]);
            alias[si] = l;
            prob[li] = (prob[li] + prob[si]) - 1.0;
            if prob[li] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Whatever is left has probability 1 up to rounding: keep u64::MAX
        // and self-alias, so the coin flip cannot change the outcome.
        Ok(AliasTable { threshold, alias })
    }

    #[inline]
    pub(super) fn sample(&self, rng: &mut Xoshiro256) -> usize {
        let i = rng.below(self.threshold.len() as u64) as usize;
        if rng.next_u64() < self.threshold[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }
}

/// Maps a probability in `[0, 1)` to a `u64` threshold (`p * 2^64`, saturating).
pub(super) fn prob_to_threshold(p: f64) -> u64 {
    // `as` saturates: negatives (rounding noise) become 0, >= 2^64 becomes MAX.
    (p * 18_446_744_073_709_551_616.0) as u64
}
