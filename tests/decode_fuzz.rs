//! Decoders never panic, hang or allocate from a lying length field: random bytes and
//! mutated valid states (with the checksum recomputed, so mutations reach the body decoders).

use hazy::sketch::cms::CountMin;
use hazy::sketch::envelope::{self, Family};
use hazy::sketch::topk::TopK;
use hazy::sketch::{HyperLogLog, describe};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Valid states of every family, in every mode.
fn seeds() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for (p, n) in [
        (4u8, 0u64),
        (4, 3),
        (10, 50),
        (10, 5_000),
        (14, 100),
        (14, 100_000),
        (18, 10),
    ] {
        let mut s = HyperLogLog::new(p).unwrap();
        (0..n).for_each(|i| s.insert(&i));
        out.push(s.to_bytes());
    }
    for n in [0u64, 5, 2_000] {
        let mut c = CountMin::new(64, 3).unwrap();
        (0..n).for_each(|i| c.insert_hash(hazy::sketch::hash::hash_i64(i as i64), 1 + i % 3));
        out.push(c.to_bytes());
        let mut t = TopK::new(16).unwrap();
        (0..n).for_each(|i| {
            let item = format!("item_{}", i % 40);
            t.insert(hazy::sketch::hash::hash_str(&item), item.as_bytes(), 1);
        });
        out.push(t.to_bytes());
    }
    out
}

/// Every decoder over `bytes`: must return Ok or Err, never panic.
fn decode_all(bytes: &[u8]) {
    let _ = HyperLogLog::from_bytes(bytes).map(|s| s.estimate());
    let _ = CountMin::from_bytes(bytes).map(|s| s.estimate(7));
    let _ = TopK::from_bytes(bytes).map(|s| s.top(5).len());
    let _ = describe(bytes);
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    if v.is_empty() {
        return vec![rng.next() as u8];
    }
    match rng.below(6) {
        0 => {
            let i = rng.below(v.len());
            v[i] ^= 1 << rng.below(8);
        }
        1 => v.truncate(rng.below(v.len())),
        2 => {
            let i = rng.below(v.len());
            v[i] = rng.next() as u8;
        }
        3 => {
            let extra = rng.below(64);
            v.extend((0..extra).map(|_| rng.next() as u8));
        }
        4 => {
            // Lie in a length field (params, body, or a sparse entry count).
            let i = [6, 8, 10, 22, 23, 24, 25][rng.below(7)].min(v.len() - 1);
            v[i] = 0xFF;
        }
        _ => {
            let i = rng.below(v.len());
            let j = rng.below(v.len());
            v.swap(i, j);
        }
    }
    v
}

/// Re-wraps a mutated state's inner bytes in a valid envelope so the body decoder sees them.
fn rewrap(v: &[u8]) -> Option<Vec<u8>> {
    if v.len() < envelope::OVERHEAD + 1 {
        return None;
    }
    let family = Family::from_code(v[5]).unwrap_or(Family::HyperLogLog);
    let params_len = (u16::from_le_bytes([v[6], v[7]]) as usize).min(v.len() - envelope::OVERHEAD);
    let params = &v[12..12 + params_len];
    let body = &v[12 + params_len..v.len() - 8];
    Some(envelope::encode(family, params, body))
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(1);
    for _ in 0..100_000 {
        let len = rng.below(96);
        let mut v: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if rng.below(2) == 0 && v.len() >= 6 {
            v[..4].copy_from_slice(&envelope::MAGIC);
            v[4] = 1;
            v[5] = 1 + rng.below(7) as u8;
        }
        decode_all(&v);
    }
}

#[test]
fn mutated_states_never_panic() {
    let mut rng = Rng(2);
    let seeds = seeds();
    for round in 0..200_000 {
        let seed = &seeds[round % seeds.len()];
        let mut v = mutate(&mut rng, seed);
        for _ in 0..rng.below(3) {
            v = mutate(&mut rng, &v);
        }
        decode_all(&v);
        if let Some(w) = rewrap(&v) {
            decode_all(&w);
        }
    }
}

#[test]
fn unmodified_seeds_decode() {
    for s in seeds() {
        let again = match Family::from_code(s[5]).unwrap() {
            Family::HyperLogLog => HyperLogLog::from_bytes(&s).unwrap().to_bytes(),
            Family::CountMin => CountMin::from_bytes(&s).unwrap().to_bytes(),
            _ => TopK::from_bytes(&s).unwrap().to_bytes(),
        };
        assert_eq!(again, s);
        describe(&s).unwrap();
    }
}
