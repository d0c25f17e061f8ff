//! Seeded test data shared by the sketch tests: a small splitmix generator and the
//! distributions the accuracy tests sweep.

/// One step of splitmix64: fast, seedable and the same on every platform.
pub(crate) fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A splitmix64 generator.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        splitmix(&mut self.0)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal (Box–Muller).
    pub(crate) fn normal(&mut self) -> f64 {
        let u = 1.0 - self.unit();
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// A copy of `body` with one to four random bytes overwritten, then one time in four cut
    /// short: the random corruptions a decoder must refuse without panicking.
    pub(crate) fn corrupt(&mut self, body: &[u8]) -> Vec<u8> {
        let mut body = body.to_vec();
        for _ in 0..1 + self.next() % 4 {
            let i = (self.next() % body.len() as u64) as usize;
            body[i] = self.next() as u8;
        }
        if self.next().is_multiple_of(4) {
            body.truncate((self.next() % body.len() as u64) as usize);
        }
        body
    }
}

/// Every distribution [`Data::values`] knows. The first seven suit any quantile sketch;
/// `signed_with_zeros` (a quarter exact zeros, a quarter negative) and `tiny_and_huge` (200
/// decades) test the range a relative-error sketch covers.
pub(crate) const DISTRIBUTIONS: [&str; 9] = [
    "uniform",
    "normal",
    "lognormal",
    "pareto",
    "sorted",
    "reversed",
    "ten_values",
    "signed_with_zeros",
    "tiny_and_huge",
];

/// How one sketch's tests draw the shared distributions. The fields keep each test module's
/// data exactly what its thresholds were set against.
pub(crate) struct Data {
    /// XORed into the scrambled seed.
    pub(crate) salt: u64,
    /// Added to `uniform`, `sorted` and `reversed`, which draw from [0, 1000).
    pub(crate) uniform_shift: f64,
    /// The sigma of `lognormal`.
    pub(crate) lognormal_sigma: f64,
    /// The distributions the module's sweeps run, from [`DISTRIBUTIONS`].
    pub(crate) distributions: &'static [&'static str],
}

impl Data {
    /// `n` values of `dist`, the same for the same `seed`.
    pub(crate) fn values(&self, dist: &str, n: usize, seed: u64) -> Vec<f64> {
        let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ self.salt);
        let mut v: Vec<f64> = (0..n)
            .map(|_| match dist {
                "uniform" | "sorted" | "reversed" => rng.unit() * 1000.0 + self.uniform_shift,
                "normal" => rng.normal() * 50.0 + 10.0,
                "lognormal" => (rng.normal() * self.lognormal_sigma).exp(),
                "pareto" => (1.0 - rng.unit()).powf(-1.0 / 1.2),
                "ten_values" => (rng.next() % 10) as f64 * 2.5,
                "signed_with_zeros" => match rng.next() % 4 {
                    0 => 0.0,
                    1 => -(rng.normal() * 3.0).exp(),
                    _ => (rng.normal() * 3.0).exp(),
                },
                "tiny_and_huge" => {
                    let e = (rng.unit() * 200.0 - 100.0).round() as i32;
                    (1.0 + rng.unit()) * 10f64.powi(e)
                }
                _ => unreachable!("unknown distribution {dist}"),
            })
            .collect();
        if dist == "sorted" {
            v.sort_by(f64::total_cmp);
        }
        if dist == "reversed" {
            v.sort_by(|a, b| b.total_cmp(a));
        }
        v
    }
}

/// A change to a state's body that its decoder must refuse.
pub(crate) type Mutation = Box<dyn Fn(&mut Vec<u8>)>;

/// The mutations every quantile body (a count at 0, `min` at 8, `max` at 16) must fail on:
/// a wrong count, a NaN `min`, `min > max`, a truncated body and a trailing byte.
pub(crate) fn count_and_extreme_mutations() -> Vec<(&'static str, Mutation)> {
    vec![
        ("count", Box::new(|b: &mut Vec<u8>| b[0] ^= 1)),
        (
            "min NaN",
            Box::new(|b: &mut Vec<u8>| b[8..16].copy_from_slice(&f64::NAN.to_le_bytes())),
        ),
        (
            "min > max",
            Box::new(|b: &mut Vec<u8>| b[8..16].copy_from_slice(&1e300f64.to_le_bytes())),
        ),
        (
            "truncated",
            Box::new(|b: &mut Vec<u8>| b.truncate(b.len() - 1)),
        ),
        ("trailing", Box::new(|b: &mut Vec<u8>| b.push(0))),
    ]
}

/// Asserts that `rejects` refuses `body` after each mutation.
pub(crate) fn assert_mutations_rejected(
    body: &[u8],
    mutations: Vec<(&str, Mutation)>,
    rejects: impl Fn(&[u8]) -> bool,
) {
    for (what, mutate) in mutations {
        let mut changed = body.to_vec();
        mutate(&mut changed);
        assert!(rejects(&changed), "{what} accepted");
    }
}

/// Merges `parts` into `empty` from the left (((a b) c) d) and from the right
/// (a (b (c d))), so a test can check that the grouping changes nothing.
pub(crate) fn merged_both_ways<S: super::Sketch>(parts: &[S], empty: &S) -> (S, S) {
    let mut left = empty.clone();
    parts.iter().for_each(|p| left.merge(p).unwrap());
    let right = parts.iter().rev().fold(empty.clone(), |right, p| {
        let mut p = p.clone();
        p.merge(&right).unwrap();
        p
    });
    (left, right)
}
