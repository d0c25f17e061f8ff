//! Decoders never panic, hang or allocate from a lying length field: random bytes and
//! mutated valid states (with the checksum recomputed, so mutations reach the body decoders).
//! A state that decodes is also queried, merged and encoded again, so a state that passes the
//! decoder but is internally inconsistent cannot panic later either.

use hazy::sketch::bloom::BloomFilter;
use hazy::sketch::cms::CountMin;
use hazy::sketch::dd::DdSketch;
use hazy::sketch::envelope::{self, Family};
use hazy::sketch::hash::{hash_i64, hash_str};
use hazy::sketch::kll::Kll;
use hazy::sketch::minhash::MinHash;
use hazy::sketch::tdigest::TargetedDigest;
use hazy::sketch::topk::TopK;
use hazy::sketch::{FamilyVisitor, HyperLogLog, Sketch, describe, visit_family};

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

fn bloom_seed(num_blocks: u32, values: std::ops::Range<i64>, repeats: i64) -> Vec<u8> {
    let mut s = BloomFilter::new(num_blocks).unwrap();
    values.for_each(|i| (0..repeats).for_each(|_| s.insert(&i)));
    s.to_bytes()
}

fn minhash_seed(num_perm: u32, n: i64) -> Vec<u8> {
    let mut s = MinHash::new(num_perm).unwrap();
    (0..n).for_each(|i| s.insert(&i));
    s.to_bytes()
}

fn kll_seed(k: u16, values: impl IntoIterator<Item = f64>) -> Vec<u8> {
    let mut s = Kll::new(k).unwrap();
    values.into_iter().for_each(|v| s.insert(v));
    s.to_bytes()
}

fn dd_seed(alpha: f64, max_buckets: u32, values: impl IntoIterator<Item = f64>) -> Vec<u8> {
    let mut s = DdSketch::with_max_buckets(alpha, max_buckets).unwrap();
    values.into_iter().for_each(|v| s.insert(v));
    s.to_bytes()
}

fn tdigest_seed(targets: &[f64], k: u16, values: impl IntoIterator<Item = f64>) -> Vec<u8> {
    let mut s = TargetedDigest::new(targets, k).unwrap();
    values.into_iter().for_each(|v| s.insert(v));
    s.to_bytes()
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
        // The transit form too: every mode (one value, sparse, dense).
        let mut transit = Vec::new();
        s.write_transit(&mut transit);
        out.push(transit);
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
    // Bloom: empty, sparse (with repeats), dense with few and with many blocks.
    out.push(bloom_seed(1, 0..0, 1));
    out.push(bloom_seed(4, 0..3, 2));
    out.push(bloom_seed(42, 0..100, 1));
    out.push(bloom_seed(1, 0..5, 1));
    out.push(bloom_seed(4, 0..100, 1));
    out.push(bloom_seed(42, 0..1_000, 1));
    // MinHash: empty, mostly empty bins, every bin filled; stored and in transit (one value,
    // a sparse list, every bin).
    for (num_perm, n) in [(16, 0), (16, 3), (128, 20), (64, 5_000), (128, 1)] {
        out.push(minhash_seed(num_perm, n));
        let mut transit = Vec::new();
        MinHash::from_bytes(&minhash_seed(num_perm, n))
            .unwrap()
            .write_transit(&mut transit);
        out.push(transit);
    }
    let mut single = Vec::new();
    MinHash::write_transit_single(64, hazy::sketch::hash::hash_i64(7), &mut single).unwrap();
    out.push(single);
    // KLL: empty, fewer values than k (with infinities and -0.0), compacted into many levels.
    out.push(kll_seed(8, []));
    out.push(kll_seed(8, [3.0, -0.0, 1.5]));
    out.push(kll_seed(
        200,
        (0..50)
            .map(|i| i as f64 - 20.0)
            .chain([f64::INFINITY, f64::NEG_INFINITY, f64::NAN]),
    ));
    out.push(kll_seed(
        8,
        (0..10_000).map(|i| ((i * 7_919) % 10_000) as f64),
    ));
    out.push(kll_seed(
        200,
        (0..100_000u64).map(|i| ((i * 7_919) % 100_000) as f64),
    ));
    // DDSketch: empty, positives only, zeros/negatives/infinities, only zeros, only
    // infinities, and collapsed in both stores.
    out.push(dd_seed(0.01, 2048, []));
    out.push(dd_seed(0.01, 2048, [1.0, 2.0, 1e6]));
    out.push(dd_seed(
        0.01,
        2048,
        (1..=100)
            .map(|i| i as f64)
            .chain((1..=20).map(|i| -(i as f64) * 0.5))
            .chain([0.0, -0.0, 1e-310, f64::INFINITY, f64::NEG_INFINITY]),
    ));
    out.push(dd_seed(0.05, 16, [0.0, -0.0, 0.0]));
    out.push(dd_seed(0.001, 16, [f64::NEG_INFINITY, f64::INFINITY]));
    out.push(dd_seed(
        0.02,
        16,
        (-300..=300).flat_map(|i| [10f64.powf(i as f64 / 10.0), -(10f64.powf(i as f64 / 20.0))]),
    ));
    // Targeted digest: empty, a few values with infinities, many values and several targets.
    out.push(tdigest_seed(&[0.99], 200, []));
    out.push(tdigest_seed(
        &[0.5],
        8,
        [3.0, -1.0, f64::INFINITY, 0.0, f64::NEG_INFINITY, 2.5],
    ));
    out.push(tdigest_seed(
        &[0.01, 0.5, 0.99],
        50,
        (0..20_000u64).map(|i| ((i * 7_919) % 20_000) as f64 / 7.0),
    ));
    // Digests of integers far from zero, which carry an origin.
    for (first, count) in [(u64::MAX as i128, 3i128), ((1 << 60) + 7, 6_000)] {
        let mut s = TargetedDigest::new(&[0.5, 0.9], 100).unwrap();
        s.insert_integers(&(0..count).map(|i| first - 3 * i).collect::<Vec<_>>());
        out.push(s.to_bytes());
    }
    // Exact digests: integers spread over more than 2^53, a few and many.
    for (step, count) in [(1i128 << 61, 3i128), ((1 << 50) + 3, 6_000)] {
        let mut s = TargetedDigest::new(&[0.5, 0.9], 100).unwrap();
        s.insert_integers(
            &(0..count)
                .map(|i| -(1i128 << 62) + step * ((i * 7) % count))
                .collect::<Vec<_>>(),
        );
        assert!(s.is_exact());
        out.push(s.to_bytes());
    }
    out
}

/// Queries, merges and re-encodes a decoded filter.
fn exercise_bloom(s: BloomFilter, bytes: &[u8]) {
    for h in [0, 7, u64::MAX, hash_i64(1), hash_str("a")] {
        let _ = s.contains_hash(h);
    }
    assert!((0.0..=1.0).contains(&s.fill()), "bloom fill {}", s.fill());
    assert!((0.0..=1.0).contains(&s.estimated_fpr()));
    assert!(s.estimated_distinct() >= 0.0);
    assert_eq!(
        s.to_bytes(),
        bytes,
        "bloom state does not re-encode as itself"
    );
    let mut m = s.clone();
    m.merge(&s).unwrap();
    m.merge_bytes(bytes).unwrap();
    m.insert_hash(7);
    assert!(m.contains_hash(7));
    BloomFilter::from_bytes(&m.to_bytes()).unwrap();
}

/// Queries, merges and re-encodes a decoded MinHash.
fn exercise_minhash(s: MinHash, bytes: &[u8]) {
    assert_eq!(s.jaccard(&s).unwrap(), 1.0);
    let bands = s.lsh_bands(8).unwrap();
    assert_eq!(bands.len(), if s.is_empty() { 0 } else { 8 });
    let _ = s.signature();
    if envelope::is_transit(bytes) {
        let mut transit = Vec::new();
        s.write_transit(&mut transit);
        assert_eq!(MinHash::decode_any(&transit).unwrap(), s);
    } else {
        assert_eq!(
            s.to_bytes(),
            bytes,
            "minhash state does not re-encode as itself"
        );
    }
    let mut m = s.clone();
    m.merge(&s).unwrap();
    m.merge_any(bytes).unwrap();
    let _ = m.jaccard(&s).unwrap();
    MinHash::from_bytes(&m.to_bytes()).unwrap();
}

/// Queries, merges and re-encodes a decoded KLL sketch.
fn exercise_kll(s: Kll, bytes: &[u8]) {
    let median = s.quantile(0.5).unwrap();
    assert_eq!(median.is_some(), !s.is_empty());
    if let (Some(m), Some(lo), Some(hi)) = (median, s.min(), s.max()) {
        assert!(lo <= m && m <= hi, "kll median {m} outside [{lo}, {hi}]");
        let r = s.rank(m).unwrap();
        assert!((0.0..=1.0).contains(&r), "kll rank {r}");
    }
    let _ = s.rank(0.0);
    let _ = s.quantiles(&[0.0, 0.01, 0.5, 0.99, 1.0]).unwrap();
    assert_eq!(
        s.to_bytes(),
        bytes,
        "kll state does not re-encode as itself"
    );
    let mut m = s.clone();
    if m.merge(&s).is_ok() {
        let _ = m.quantile(0.5).unwrap();
        Kll::from_bytes(&m.to_bytes()).unwrap();
    }
    if s.n() < u64::MAX / 2 {
        let mut m = s;
        [1.0, -1.0, f64::INFINITY, 0.0]
            .iter()
            .for_each(|&v| m.insert(v));
        let _ = m.quantile(0.5).unwrap();
        Kll::from_bytes(&m.to_bytes()).unwrap();
    }
}

/// Queries, merges and re-encodes a decoded DDSketch.
fn exercise_dd(s: DdSketch, bytes: &[u8]) {
    let median = s.quantile(0.5).unwrap();
    assert_eq!(median.is_some(), !s.is_empty());
    if let (Some(m), Some(lo), Some(hi)) = (median, s.min(), s.max()) {
        assert!(lo <= m && m <= hi, "dd median {m} outside [{lo}, {hi}]");
    }
    let _ = s.quantiles(&[0.0, 0.01, 0.5, 0.99, 1.0]).unwrap();
    assert_eq!(s.to_bytes(), bytes, "dd state does not re-encode as itself");
    let mut m = s.clone();
    if m.merge(&s).is_ok() {
        let _ = m.quantile(0.5).unwrap();
        DdSketch::from_bytes(&m.to_bytes()).unwrap();
    }
    if s.count() < u64::MAX / 2 {
        let mut m = s;
        [1.0, -1.0, 0.0, 1e300, -1e-300, f64::INFINITY]
            .iter()
            .for_each(|&v| m.insert(v));
        let _ = m.quantile(0.5).unwrap();
        DdSketch::from_bytes(&m.to_bytes()).unwrap();
    }
}

/// Queries, merges and re-encodes a decoded targeted digest.
fn exercise_tdigest(s: TargetedDigest, bytes: &[u8]) {
    let qs = [0.0, 0.01, 0.5, 0.99, 1.0];
    let answers = s.quantiles(&qs).unwrap();
    assert_eq!(answers.is_some(), !s.is_empty());
    if let (Some(a), Some(lo), Some(hi)) = (answers, s.min(), s.max()) {
        assert!(a.iter().all(|&v| !v.is_nan()), "tdigest answers {a:?}");
        assert!(
            a[0] == lo && a[4] == hi,
            "tdigest extremes {a:?} for [{lo}, {hi}]"
        );
    }
    assert_eq!(
        s.to_bytes(),
        bytes,
        "tdigest state does not re-encode as itself"
    );
    let mut m = s.clone();
    if m.merge(&s).is_ok() {
        let _ = m.quantile(0.5).unwrap();
        TargetedDigest::from_bytes(&m.to_bytes()).unwrap();
    }
    if let Some(exact) = s.integer_quantiles(&qs).unwrap() {
        assert_eq!(exact.len(), qs.len());
    }
    // Merged with a digest of another origin, both ways.
    let mut far = TargetedDigest::new(&[0.5], 50).unwrap();
    far.insert_integers(&[-(1i128 << 62), -(1i128 << 62) + 5]);
    let mut m = s.clone();
    if m.merge(&far).is_ok() {
        let _ = m.integer_quantiles(&[0.5]).unwrap();
        TargetedDigest::from_bytes(&m.to_bytes()).unwrap();
    }
    if far.merge(&s).is_ok() {
        let _ = far.quantile(0.5).unwrap();
        TargetedDigest::from_bytes(&far.to_bytes()).unwrap();
    }
    if s.n() < u64::MAX / 2 {
        let mut m = s;
        m.insert_integers(&[i64::MAX, 0, -3]);
        m.insert_many(&[1.0, -1.0, f64::INFINITY, 0.0, f64::NAN]);
        let _ = m.quantile(0.5).unwrap();
        TargetedDigest::from_bytes(&m.to_bytes()).unwrap();
    }
}

/// What every family's decoder must do with any bytes, through the one trait: return Ok or
/// Err, never panic; what decodes describes itself, re-encodes to a state that decodes to
/// the same encoding, and merges with itself (or refuses to) without panicking.
struct Decode<'a>(&'a [u8]);

impl FamilyVisitor for Decode<'_> {
    type Output = bool;

    fn visit<S: Sketch>(self) -> bool {
        let Ok(s) = S::decode_any(self.0) else {
            return false;
        };
        let _ = s.describe();
        let again = s.to_bytes();
        let decoded = S::from_bytes(&again).expect("a re-encoded state decodes");
        assert_eq!(
            decoded.to_bytes(),
            again,
            "{:?}: re-encoding is stable",
            S::FAMILY
        );
        let mut m = s.clone();
        if m.merge(&s).is_ok() {
            S::from_bytes(&m.to_bytes()).expect("a merged state decodes");
        }
        let mut m = s;
        if m.merge_any(self.0).is_ok() {
            S::from_bytes(&m.to_bytes()).expect("a state merged from bytes decodes");
        }
        true
    }
}

/// Queries a decoded state beyond what the trait covers.
type Query = fn(&[u8]);

/// The queries of each family that the trait does not cover, on a decoded state.
const QUERIES: &[(Family, Query)] = &[
    (Family::HyperLogLog, |b| {
        let _ = HyperLogLog::decode_any(b).unwrap().estimate();
    }),
    (Family::CountMin, |b| {
        let _ = CountMin::from_bytes(b).unwrap().estimate(7);
    }),
    (Family::TopK, |b| {
        let _ = TopK::from_bytes(b).unwrap().top(5).len();
    }),
    (Family::Bloom, |b| {
        exercise_bloom(BloomFilter::from_bytes(b).unwrap(), b)
    }),
    (Family::MinHash, |b| {
        exercise_minhash(MinHash::decode_any(b).unwrap(), b)
    }),
    (Family::Kll, |b| {
        exercise_kll(Kll::from_bytes(b).unwrap(), b)
    }),
    (Family::DDSketch, |b| {
        exercise_dd(DdSketch::from_bytes(b).unwrap(), b)
    }),
    (Family::TDigest, |b| {
        exercise_tdigest(TargetedDigest::from_bytes(b).unwrap(), b)
    }),
];

/// Every decoder over `bytes`: must return Ok or Err, never panic. What decodes is exercised.
/// Returns the code of the family whose decoder accepted the bytes, if any.
fn decode_all(bytes: &[u8]) -> Option<u8> {
    let mut ok = None;
    for family in Family::ALL {
        if visit_family(family, Decode(bytes)) {
            let (_, query) = QUERIES.iter().find(|(f, _)| *f == family).expect("a query");
            query(bytes);
            ok = Some(family as u8);
        }
    }
    assert_eq!(describe(bytes).is_ok(), ok.is_some());
    ok
}

/// Offsets of fixed fields (parameters, counts, extremes, mode and length fields) of each
/// family's state, where a mutation is most likely to make a subtly inconsistent state.
fn field_offsets(family: u8) -> &'static [usize] {
    match family {
        4 => &[12, 16, 17, 25],                 // blocks, mode, items, hash count
        5 => &[12, 16, 24],                     // num_perm, items, first bin
        6 => &[12, 14, 22, 30, 38, 39, 43, 47], // k, n, min, max, levels, lengths
        7 => &[12, 20, 24, 32, 40, 48, 56, 64, 72, 73, 77, 81], // alpha .. positive store
        8 => &[12, 14, 15, 23, 31, 39, 43, 51], // resolution .. first centroid
        _ => &[6, 8, 10, 22, 23, 24, 25],
    }
}

/// A value of `width` bytes likely to be on an edge of some field's validity.
fn special(rng: &mut Rng, old: u64, width: usize) -> u64 {
    let top = if width == 8 {
        u64::MAX
    } else {
        (1u64 << (8 * width)) - 1
    };
    let v = match rng.below(14) {
        0 => 0,
        1 => 1,
        2 => u64::MAX,
        3 => 1 << (8 * width - 1),
        4 => old.wrapping_add(1),
        5 => old.wrapping_sub(1),
        6 => old.wrapping_mul(2),
        7 => old / 2,
        8 => f64::NAN.to_bits(),
        9 => f64::INFINITY.to_bits(),
        10 => f64::NEG_INFINITY.to_bits(),
        11 => (-0.0f64).to_bits(),
        12 => f64::MIN_POSITIVE.to_bits(),
        _ => rng.below(300) as u64,
    };
    v & top
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    if v.is_empty() {
        return vec![rng.next() as u8];
    }
    match rng.below(7) {
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
        5 => {
            // An edge value (0, ±1, NaN, ±inf, -0.0, ...) in a field, little-endian.
            let width = [1, 2, 4, 8][rng.below(4)];
            let offsets = field_offsets(v.get(5).copied().unwrap_or(0));
            let at = if rng.below(2) == 0 {
                offsets[rng.below(offsets.len())]
            } else {
                rng.below(v.len())
            };
            if at + width <= v.len() {
                let mut old = [0u8; 8];
                old[..width].copy_from_slice(&v[at..at + width]);
                let new = special(rng, u64::from_le_bytes(old), width);
                v[at..at + width].copy_from_slice(&new.to_le_bytes()[..width]);
            }
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

/// Rounds of a fuzz loop and the seed of its generator: `default` rounds and `seed` unless
/// `HAZY_FUZZ_ROUNDS` or `HAZY_FUZZ_SEED` say otherwise (for a longer hunt by hand).
fn fuzz_config(default: usize, seed: u64) -> (usize, Rng) {
    let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let rounds = var("HAZY_FUZZ_ROUNDS").map_or(default, |r| r as usize);
    (
        rounds,
        Rng(var("HAZY_FUZZ_SEED").map_or(seed, |s| s ^ seed)),
    )
}

/// `HAZY_FUZZ_FAMILY`: mutate only the seeds of this family code (a Hazy family, or the
/// family byte of a DataSketches image), so that a long campaign gives each family its count.
fn keep_family(family: usize) -> bool {
    std::env::var("HAZY_FUZZ_FAMILY")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .is_none_or(|only| only == family)
}

#[test]
fn random_bytes_never_panic() {
    let (rounds, mut rng) = fuzz_config(100_000, 1);
    for _ in 0..rounds {
        let len = rng.below(96);
        let mut v: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        if rng.below(2) == 0 && v.len() >= 6 {
            v[..4].copy_from_slice(&envelope::MAGIC);
            v[4] = 1;
            v[5] = 1 + rng.below(Family::ALL.len()) as u8;
        }
        decode_all(&v);
        // Random bodies behind a valid envelope reach the body decoders.
        if let Some(w) = rewrap(&v) {
            decode_all(&w);
        }
    }
}

#[test]
fn mutated_states_never_panic() {
    let (rounds, mut rng) = fuzz_config(400_000, 2);
    let (seeds, families): (Vec<Vec<u8>>, Vec<usize>) = seeds()
        .into_iter()
        .map(|s| {
            let family = decode_all(&s).expect("a seed decodes") as usize;
            (s, family)
        })
        .filter(|&(_, family)| keep_family(family))
        .unzip();
    // Mutated states (differing from their seed) that some decoder accepted, by family code.
    let mut accepted = [0u64; 9];
    // Mutated inputs tried, by the family code of their seed.
    let mut tried = [0u64; 9];
    for round in 0..rounds {
        let seed = &seeds[round % seeds.len()];
        tried[families[round % seeds.len()]] += 1;
        let mut v = mutate(&mut rng, seed);
        for _ in 0..rng.below(3) {
            v = mutate(&mut rng, &v);
        }
        decode_all(&v);
        if let Some(w) = rewrap(&v)
            && w != *seed
            && let Some(family) = decode_all(&w)
        {
            accepted[family as usize] += 1;
        }
    }
    eprintln!("mutated states tried, by family code: {tried:?}");
    eprintln!("mutated states accepted, by family code: {accepted:?}");
    // The mutations reach past the decoders' checks often enough to exercise the sketches.
    for family in [
        Family::Bloom,
        Family::MinHash,
        Family::Kll,
        Family::DDSketch,
        Family::TDigest,
    ] {
        if tried[family as usize] < rounds as u64 / 20 {
            continue; // left out by HAZY_FUZZ_FAMILY
        }
        assert!(
            accepted[family as usize] >= 1_000,
            "only {} mutated {} states decoded",
            accepted[family as usize],
            family.name()
        );
    }
}

/// The decoded seed encoded again, by its family's decoder.
fn reencode(s: &[u8]) -> Vec<u8> {
    struct Reencode<'a>(&'a [u8]);
    impl FamilyVisitor for Reencode<'_> {
        type Output = Vec<u8>;
        fn visit<S: Sketch>(self) -> Vec<u8> {
            let sketch = S::decode_any(self.0).unwrap();
            if envelope::is_transit(self.0) {
                let mut out = Vec::new();
                sketch.write_transit(&mut out);
                out
            } else {
                sketch.to_bytes()
            }
        }
    }
    visit_family(Family::from_code(s[5]).unwrap(), Reencode(s))
}

#[test]
fn unmodified_seeds_decode() {
    let seeds = seeds();
    for family in Family::ALL {
        assert!(
            seeds.iter().any(|s| s[5] == family as u8),
            "no seed of family {}",
            family.name()
        );
    }
    for s in seeds {
        assert_eq!(reencode(&s), s);
        describe(&s).unwrap();
        decode_all(&s);
    }
}

/// The seeds cover every mode of the new families.
#[test]
fn seeds_cover_every_mode() {
    let seeds = seeds();
    let infos: Vec<_> = seeds.iter().map(|s| describe(s).unwrap()).collect();
    for (family, mode) in [
        (Family::Bloom, "sparse"),
        (Family::Bloom, "dense"),
        (Family::DDSketch, "exact-range"),
        (Family::DDSketch, "collapsed"),
    ] {
        assert!(
            infos.iter().any(|i| i.family == family && i.mode == mode),
            "no {} seed in {mode} mode",
            family.name()
        );
    }
    let kll: Vec<_> = seeds
        .iter()
        .filter_map(|s| Kll::from_bytes(s).ok())
        .collect();
    assert!(kll.iter().any(|s| s.num_levels() == 1 && !s.is_empty()));
    assert!(kll.iter().any(|s| s.num_levels() > 5));
    let minhash: Vec<_> = seeds
        .iter()
        .filter_map(|s| MinHash::from_bytes(s).ok())
        .collect();
    assert!(minhash.iter().any(|s| s.filled_bins() == s.num_perm()));
    assert!(
        minhash
            .iter()
            .any(|s| !s.is_empty() && s.filled_bins() < s.num_perm() / 2)
    );
}

/// Apache DataSketches bytes (ds_hll_*, theta_*, KLL and frequent-items conversions: the
/// library's format, no Hazy envelope): the reference library's golden sketches and Hazy's own,
/// mutated. Every decoder returns Ok or Err; what decodes is estimated, described, merged with
/// its seed (or converted back) and encoded again.
#[test]
fn mutated_datasketches_bytes_never_panic() {
    use hazy::udf::datasketches::kll::{self, Items};
    use hazy::udf::datasketches::{describe as ds_describe, frequencies, hll::DsHll, theta::Theta};
    use hazy::udf::family::MergeableState;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/datasketches");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .map(|p| std::fs::read(p).unwrap())
        .filter(|b| b.len() <= 50_000 && keep_family(b[2] as usize))
        .collect();
    seeds.sort();
    let filtered = std::env::var_os("HAZY_FUZZ_FAMILY").is_some();
    assert!(
        seeds.len() >= 20 || (filtered && !seeds.is_empty()),
        "the golden DataSketches files are there"
    );
    let (rounds, mut rng) = fuzz_config(30_000, 3);
    let mut accepted = 0;
    // Inputs tried by the DataSketches family byte of their seed (theta 3, HLL 7, frequent
    // items 10, KLL 15).
    let mut tried = std::collections::BTreeMap::<u8, u64>::new();
    for round in 0..rounds {
        let seed = &seeds[round % seeds.len()];
        *tried.entry(seed[2]).or_default() += 1;
        let mut v = mutate(&mut rng, seed);
        for _ in 0..rng.below(3) {
            v = mutate(&mut rng, &v);
        }
        let _ = ds_describe(&v);
        if let Ok(mut s) = DsHll::decode_any(&v) {
            accepted += 1;
            let _ = s.sketch().estimate();
            let mut out = Vec::new();
            s.write_to(&mut out);
            let _ = s.merge_any(seed);
            DsHll::decode_any(&out).expect("a re-encoded sketch decodes");
        }
        for items in [Items::Double, Items::Float, Items::Long] {
            if let Ok(s) = kll::from_image(&v, items) {
                accepted += 1;
                let _ = s.quantile(0.5);
                let image = kll::to_image(&s).expect("a converted sketch converts back");
                kll::from_image(&image, Items::Double).expect("and reads again");
            }
        }
        for items in [frequencies::Items::String, frequencies::Items::Long] {
            if let Ok(s) = frequencies::from_image(&v, items, 1024) {
                accepted += 1;
                let _ = s.top(10);
                let image = frequencies::to_image(&s, items).expect("converts back");
                frequencies::from_image(&image, items, 1024).expect("and reads again");
            }
        }
        if let Ok(mut s) = Theta::decode_any(&v) {
            accepted += 1;
            let _ = s.compact().estimate();
            let mut out = Vec::new();
            s.write_to(&mut out);
            let _ = s.merge_any(seed);
            Theta::decode_any(&out).expect("a re-encoded sketch decodes");
        }
    }
    eprintln!("mutated DataSketches images tried, by family byte: {tried:?}");
    eprintln!("mutated DataSketches images accepted: {accepted} of {rounds}");
}
