//! Golden states: bytes written by format version 1, committed under tests/golden/. They must
//! keep decoding to the same sketch in every later version, so stored sketches stay readable.
//! `HAZY_BLESS=1` writes them (only when a new golden is added, never to paper over a change).

use hazy::sketch::SketchError;
use hazy::sketch::bloom::BloomFilter;
use hazy::sketch::dd::DdSketch;
use hazy::sketch::kll::Kll;
use hazy::sketch::minhash::MinHash;
use hazy::sketch::tdigest::TargetedDigest;
use hazy::sketch::{HyperLogLog, Sketch, describe};
use std::path::PathBuf;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

struct Case {
    file: &'static str,
    make: fn() -> Vec<u8>,
    /// Decodes the golden bytes (named by the file, for messages), asserts what the state must
    /// still answer, and returns the decoded sketch encoded again.
    check: fn(&str, &[u8]) -> Vec<u8>,
}

/// The decoded sketch, or a panic naming the golden file.
fn decoded<T>(file: &str, r: Result<T, SketchError>) -> T {
    r.unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The estimate a state must still give: within 3% (or 0.5) of `expected`.
fn assert_estimate(file: &str, est: f64, expected: f64) {
    let tolerance = (expected * 0.03).max(0.5);
    assert!(
        (est - expected).abs() <= tolerance,
        "{file}: estimate {est}, expected {expected}"
    );
}

/// `got` equals `expected` up to floating-point rounding (for figures computed with `exp`/`ln`,
/// which may differ in the last bits between platforms' math libraries).
fn assert_close(file: &str, what: &str, got: f64, expected: f64) {
    assert!(
        (got - expected).abs() <= expected.abs() * 1e-12,
        "{file}: {what} {got}, expected {expected}"
    );
}

fn hll(p: u8, n: u64) -> Vec<u8> {
    let mut s = HyperLogLog::new(p).unwrap();
    (0..n).for_each(|i| s.insert(&format!("user_{i}")));
    s.to_bytes()
}

fn check_hll(file: &str, bytes: &[u8], expected: f64) -> Vec<u8> {
    let s = decoded(file, HyperLogLog::from_bytes(bytes));
    assert_estimate(file, s.estimate(), expected);
    s.to_bytes()
}

/// `n` rows of a 1-in-10 pattern with weights 1..=3; the estimate checked is for item 0.
fn cms(n: u64) -> Vec<u8> {
    let mut s = hazy::sketch::cms::CountMin::with_error(0.01, 0.01).unwrap();
    (0..n).for_each(|i| {
        s.insert_hash(
            hazy::sketch::hash::hash_i64((i % 10) as i64),
            1 + (i % 10) % 3 + (i % 10 == 0) as u64 * 3,
        )
    });
    s.to_bytes()
}

/// 100,000 rows over 20,000 distinct values: the counter table.
fn cms_dense() -> Vec<u8> {
    let mut s = hazy::sketch::cms::CountMin::with_error(0.01, 0.01).unwrap();
    (0..100_000i64).for_each(|i| s.insert_hash(hazy::sketch::hash::hash_i64(i % 20_000), 1));
    assert!(s.is_dense());
    s.to_bytes()
}

fn check_cms(file: &str, bytes: &[u8], expected: f64) -> Vec<u8> {
    let s = decoded(file, hazy::sketch::cms::CountMin::from_bytes(bytes));
    assert_estimate(
        file,
        s.estimate(hazy::sketch::hash::hash_i64(0)) as f64,
        expected,
    );
    s.to_bytes()
}

fn topk() -> Vec<u8> {
    let mut s = hazy::sketch::topk::TopK::new(64).unwrap();
    for i in 0..5_000u64 {
        let item = format!("item_{}", if i % 5 == 0 { 0 } else { i % 500 });
        s.insert(hazy::sketch::hash::hash_str(&item), item.as_bytes(), 1);
    }
    s.to_bytes()
}

fn check_topk(file: &str, bytes: &[u8], expected: f64) -> Vec<u8> {
    let s = decoded(file, hazy::sketch::topk::TopK::from_bytes(bytes));
    assert_estimate(
        file,
        s.estimate(hazy::sketch::hash::hash_str("item_0")).lower as f64,
        expected,
    );
    s.to_bytes()
}

/// 150 rows over 100 distinct strings in a filter sized for 10,000: the sorted hash list.
fn bloom_sparse() -> Vec<u8> {
    let mut s = BloomFilter::with_capacity(10_000, 0.01).unwrap();
    (0..150).for_each(|i| s.insert(&format!("user_{}", i % 100)));
    s.to_bytes()
}

fn check_bloom_sparse(file: &str, bytes: &[u8]) -> Vec<u8> {
    let s = decoded(file, BloomFilter::from_bytes(bytes));
    assert!(s.is_sparse(), "{file}: not sparse");
    assert_eq!(s.num_blocks(), 412, "{file}");
    assert_eq!(s.items(), 150, "{file}");
    assert_eq!(s.estimated_distinct(), 100.0, "{file}");
    assert!(
        (0..100).all(|i| s.contains(&format!("user_{i}"))),
        "{file}: false negative"
    );
    // A sparse filter answers by exact hash membership: no false positives at all.
    let false_positives = (100..10_100)
        .filter(|i| s.contains(&format!("user_{i}")))
        .count();
    assert_eq!(false_positives, 0, "{file}");
    assert!(!s.contains("") && !s.contains(&0i64), "{file}");
    s.to_bytes()
}

/// 1,000 distinct integers in a filter sized for them at 1%: the blocks.
fn bloom_dense() -> Vec<u8> {
    let mut s = BloomFilter::with_capacity(1_000, 0.01).unwrap();
    (0..1_000i64).for_each(|i| s.insert(&i));
    s.to_bytes()
}

fn check_bloom_dense(file: &str, bytes: &[u8]) -> Vec<u8> {
    let s = decoded(file, BloomFilter::from_bytes(bytes));
    assert!(!s.is_sparse(), "{file}: not dense");
    assert_eq!(s.num_blocks(), 42, "{file}");
    assert_eq!(s.items(), 1_000, "{file}");
    assert!(
        (0..1_000i64).all(|i| s.contains(&i)),
        "{file}: false negative"
    );
    // The same bits answer the same "maybe"s: exactly these false positives, about 1%.
    let false_positives = (1_000..11_000i64).filter(|i| s.contains(i)).count();
    assert_eq!(false_positives, 92, "{file}");
    assert!(
        [1_192i64, 1_194, 1_278, 1_487, 1_492]
            .iter()
            .all(|i| s.contains(i)),
        "{file}"
    );
    assert!((1_000..1_020i64).all(|i| !s.contains(&i)), "{file}");
    assert_close(file, "fill", s.fill(), 0.5244605654761905);
    assert_close(file, "distinct", s.estimated_distinct(), 998.630849726976);
    s.to_bytes()
}

fn minhash_of(num_perm: u32, values: impl IntoIterator<Item = u64>, small: bool) -> MinHash {
    let mut s = MinHash::new(num_perm).unwrap();
    for i in values {
        if small {
            s.insert(&format!("word_{i}"));
        } else {
            s.insert(&(i as i64));
        }
    }
    s
}

/// 20 words in 128 bins: most bins empty.
fn minhash_small() -> Vec<u8> {
    minhash_of(128, 0..20, true).to_bytes()
}

fn check_minhash_small(file: &str, bytes: &[u8]) -> Vec<u8> {
    let s = decoded(file, MinHash::from_bytes(bytes));
    assert_eq!(
        (s.num_perm(), s.items(), s.filled_bins()),
        (128, 20, 19),
        "{file}"
    );
    let same = minhash_of(128, 0..20, true);
    assert_eq!(s.jaccard(&same).unwrap(), 1.0, "{file}");
    assert_eq!(
        s.lsh_bands(8).unwrap(),
        same.lsh_bands(8).unwrap(),
        "{file}"
    );
    // True similarity 10 / 30.
    let overlapping = minhash_of(128, 10..30, true);
    assert_eq!(s.jaccard(&overlapping).unwrap(), 9.0 / 28.0, "{file}");
    s.to_bytes()
}

/// 10,000 integers in 256 bins: every bin filled.
fn minhash_full() -> Vec<u8> {
    minhash_of(256, 0..10_000, false).to_bytes()
}

fn check_minhash_full(file: &str, bytes: &[u8]) -> Vec<u8> {
    let s = decoded(file, MinHash::from_bytes(bytes));
    assert_eq!(
        (s.num_perm(), s.items(), s.filled_bins()),
        (256, 10_000, 256),
        "{file}"
    );
    let same = minhash_of(256, 0..10_000, false);
    assert_eq!(s.jaccard(&same).unwrap(), 1.0, "{file}");
    assert_eq!(
        s.lsh_bands(8).unwrap(),
        same.lsh_bands(8).unwrap(),
        "{file}"
    );
    // True similarity 5,000 / 15,000.
    let overlapping = minhash_of(256, 5_000..15_000, false);
    assert_eq!(s.jaccard(&overlapping).unwrap(), 90.0 / 256.0, "{file}");
    assert_eq!(
        s.jaccard(&MinHash::new(256).unwrap()).unwrap(),
        0.0,
        "{file}"
    );
    s.to_bytes()
}

/// The 50 values `1.5 j - 10` for `j` in 0..50, in a scrambled order: fewer than `k`, so kept
/// exactly at level 0.
fn kll_small() -> Vec<u8> {
    let mut s = Kll::new(200).unwrap();
    (0..50).for_each(|i| s.insert(((i * 37) % 50) as f64 * 1.5 - 10.0));
    s.to_bytes()
}

fn check_kll_small(file: &str, bytes: &[u8]) -> Vec<u8> {
    let s = decoded(file, Kll::from_bytes(bytes));
    assert_eq!((s.k(), s.n(), s.num_levels()), (200, 50, 1), "{file}");
    assert_eq!(s.num_retained(), 50, "{file}");
    assert_eq!((s.min(), s.max()), (Some(-10.0), Some(63.5)), "{file}");
    assert_eq!(s.quantile(0.5).unwrap(), Some(26.0), "{file}");
    // Exact below k: the q-quantile is the ceil(50 q)-th smallest value.
    for j in 1..=50 {
        let expected = (j - 1) as f64 * 1.5 - 10.0;
        assert_eq!(
            s.quantile((j as f64 - 0.5) / 50.0).unwrap(),
            Some(expected),
            "{file}"
        );
    }
    assert_eq!(s.rank(0.0), Some(7.0 / 50.0), "{file}");
    s.to_bytes()
}

/// 0..100,000 in a scrambled order: compacted into several levels.
/// Fewer values than the buffer: written as single values, exact.
fn tdigest_small() -> Vec<u8> {
    let mut s = TargetedDigest::new(&[0.5, 0.99], 408).unwrap();
    (0..50).for_each(|i| s.insert(((i * 37) % 50) as f64 * 1.5 - 10.0));
    s.to_bytes()
}

fn check_tdigest_small(file: &str, bytes: &[u8]) -> Vec<u8> {
    let s = decoded(file, TargetedDigest::from_bytes(bytes));
    assert_eq!(s.targets(), &[0.5, 0.99], "{file}");
    assert_eq!((s.k(), s.resolution(), s.n()), (408, 20, 50), "{file}");
    assert_eq!(s.num_centroids(), 50, "{file}");
    assert_eq!((s.min(), s.max()), (Some(-10.0), Some(63.5)), "{file}");
    for j in 1..=50 {
        let expected = (j - 1) as f64 * 1.5 - 10.0;
        let q = (j as f64 - 0.5) / 50.0;
        assert_eq!(s.quantile(q).unwrap(), Some(expected), "{file} q {q}");
    }
    s.to_bytes()
}

/// 100,000 values aimed at p99: compressed centroids, single values about the target.
fn tdigest_compacted() -> Vec<u8> {
    let mut s = TargetedDigest::new(&[0.99], 408).unwrap();
    let values: Vec<f64> = (0..100_000u64)
        .map(|i| ((i * 7_919) % 100_000) as f64)
        .collect();
    values.chunks(8192).for_each(|c| s.insert_many(c));
    s.to_bytes()
}

fn check_tdigest_compacted(file: &str, bytes: &[u8]) -> Vec<u8> {
    let s = decoded(file, TargetedDigest::from_bytes(bytes));
    assert_eq!((s.targets(), s.n()), (&[0.99][..], 100_000), "{file}");
    assert_eq!((s.min(), s.max()), (Some(0.0), Some(99_999.0)), "{file}");
    let centroids = s.num_centroids();
    assert!(
        (300..1_000).contains(&centroids),
        "{file}: {centroids} centroids"
    );
    // Values are their ranks: the exact p99 is 98,999.
    assert_eq!(s.quantile(0.99).unwrap(), Some(98_999.0), "{file}");
    let median = s.quantile(0.5).unwrap().unwrap();
    assert!(
        (median / 100_000.0 - 0.5).abs() <= 0.0133,
        "{file}: {median}"
    );
    s.to_bytes()
}

fn kll_compacted() -> Vec<u8> {
    let mut s = Kll::new(200).unwrap();
    (0..100_000u64).for_each(|i| s.insert(((i * 7_919) % 100_000) as f64));
    s.to_bytes()
}

fn check_kll_compacted(file: &str, bytes: &[u8]) -> Vec<u8> {
    let s = decoded(file, Kll::from_bytes(bytes));
    assert_eq!((s.k(), s.n(), s.num_levels()), (200, 100_000, 9), "{file}");
    assert_eq!(s.num_retained(), 582, "{file}");
    assert_eq!((s.min(), s.max()), (Some(0.0), Some(99_999.0)), "{file}");
    let median = s.quantile(0.5).unwrap().unwrap();
    assert_eq!(median, 50_488.0, "{file}");
    assert!(
        (median / 100_000.0 - 0.5).abs() <= s.normalized_rank_error(),
        "{file}"
    );
    assert_eq!(s.quantile(0.99).unwrap(), Some(99_395.0), "{file}");
    assert_eq!(s.rank(25_000.0), Some(0.25039), "{file}");
    s.to_bytes()
}

/// 20,000 integers spread over 2^58 (IDs 2^44 apart from 2^60, plus one, scrambled): an exact
/// digest with an origin, whose answers at the targets are input values.
fn tdigest_exact() -> Vec<u8> {
    let mut s = TargetedDigest::new(&[0.5, 0.99], 408).unwrap();
    let ids: Vec<i64> = (0..20_000i64)
        .map(|i| (1 << 60) + (((i * 7_919) % 20_000) << 44) + 1)
        .collect();
    ids.chunks(3_000).for_each(|c| s.insert_integers(c));
    s.to_bytes()
}

fn check_tdigest_exact(file: &str, bytes: &[u8]) -> Vec<u8> {
    let s = decoded(file, TargetedDigest::from_bytes(bytes));
    assert!(s.is_exact(), "{file}");
    assert_eq!((s.origin(), s.n()), (1 << 60, 20_000), "{file}");
    let id = |rank: i128| (1i128 << 60) + (rank << 44) + 1;
    let got = s
        .integer_quantiles(&[0.0, 0.5, 0.99, 1.0])
        .unwrap()
        .unwrap();
    assert_eq!((got[0], got[3]), (id(0), id(19_999)), "{file}");
    for (answer, exact) in [(got[1], 9_999), (got[2], 19_799)] {
        let steps = answer - id(0);
        assert_eq!(steps % (1 << 44), 0, "{file}: {answer} is no input");
        assert!(((steps >> 44) - exact).abs() <= 8, "{file}: {answer}");
    }
    s.to_bytes()
}

/// 1..=1,000, -1..=-100, ten zeros (one of them -0.0), +inf twice, -inf once, and a NaN.
fn dd_plain() -> Vec<u8> {
    let mut s = DdSketch::new(0.01).unwrap();
    (1..=1_000).for_each(|i| s.insert(i as f64));
    (1..=100).for_each(|i| s.insert(-(i as f64)));
    (0..9).for_each(|_| s.insert(0.0));
    s.insert(-0.0);
    s.insert(f64::INFINITY);
    s.insert(f64::INFINITY);
    s.insert(f64::NEG_INFINITY);
    s.insert(f64::NAN);
    s.to_bytes()
}

fn check_dd_plain(file: &str, bytes: &[u8]) -> Vec<u8> {
    let s = decoded(file, DdSketch::from_bytes(bytes));
    assert_eq!((s.alpha(), s.max_buckets()), (0.01, 2048), "{file}");
    assert_eq!((s.count(), s.zero_count()), (1_113, 10), "{file}");
    assert_eq!(s.num_buckets(), 285, "{file}");
    assert!(!s.is_collapsed(), "{file}");
    assert_eq!(
        (s.min(), s.max()),
        (Some(f64::NEG_INFINITY), Some(f64::INFINITY)),
        "{file}"
    );
    // Rank floor(0.99 · 1,112) = 1,100 of -inf, -100..=-1, ten zeros, 1..=1,000, +inf, +inf.
    let p99 = s.quantile(0.99).unwrap().unwrap();
    assert_close(file, "p99", p99, 982.5779489474651);
    assert!((p99 - 990.0).abs() <= 0.01 * 990.0, "{file}: p99 {p99}");
    let p01 = s.quantile(0.01).unwrap().unwrap();
    assert_close(file, "p01", p01, -89.13032933636099);
    assert!((p01 + 90.0).abs() <= 0.01 * 90.0, "{file}: p01 {p01}");
    assert_eq!(s.quantile(0.095).unwrap(), Some(0.0), "{file}"); // rank 105: a zero
    assert_eq!(s.quantile(0.0).unwrap(), Some(f64::NEG_INFINITY), "{file}");
    assert_eq!(s.quantile(1.0).unwrap(), Some(f64::INFINITY), "{file}");
    s.to_bytes()
}

/// 1,201 values spanning 10^-6..=10^6 in a sketch of at most 64 buckets: the lowest collapsed.
fn dd_collapsed() -> Vec<u8> {
    let mut s = DdSketch::with_max_buckets(0.01, 64).unwrap();
    (-600..=600).for_each(|i| s.insert(10f64.powf(i as f64 / 100.0)));
    s.to_bytes()
}

fn check_dd_collapsed(file: &str, bytes: &[u8]) -> Vec<u8> {
    let s = decoded(file, DdSketch::from_bytes(bytes));
    assert_eq!((s.alpha(), s.max_buckets()), (0.01, 64), "{file}");
    assert!(s.is_collapsed(), "{file}: not collapsed");
    assert_eq!((s.count(), s.num_buckets()), (1_201, 56), "{file}");
    assert_eq!(s.zero_count(), 0, "{file}");
    assert_eq!(s.min(), Some(10f64.powf(-6.0)), "{file}");
    assert_eq!(s.max(), Some(10f64.powf(6.0)), "{file}");
    // The high end keeps its guarantee: rank 1,188 is 10^5.88.
    let p99 = s.quantile(0.99).unwrap().unwrap();
    assert_close(file, "p99", p99, 751931.8881503791);
    let truth = 10f64.powf(5.88);
    assert!((p99 - truth).abs() <= 0.01 * truth, "{file}: p99 {p99}");
    // The median (10^0) lies in the collapsed bucket, which answers for everything below it.
    assert_close(
        file,
        "p50",
        s.quantile(0.5).unwrap().unwrap(),
        282199.1639933641,
    );
    s.to_bytes()
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            file: "hll_v1_p14_sparse.bin",
            make: || hll(14, 1_000),
            check: |f, b| check_hll(f, b, 1_000.0),
        },
        Case {
            file: "hll_v1_p12_dense.bin",
            make: || hll(12, 100_000),
            check: |f, b| check_hll(f, b, 100_000.0),
        },
        Case {
            file: "hll_v1_p4_empty.bin",
            make: || hll(4, 0),
            check: |f, b| check_hll(f, b, 0.0),
        },
        Case {
            file: "cms_v1_items.bin",
            make: || cms(10),
            check: |f, b| check_cms(f, b, 4.0),
        },
        Case {
            file: "cms_v1_dense.bin",
            make: cms_dense,
            // True count 5; within epsilon x N = 1,000 of it, as Count-Min promises.
            check: |f, b| check_cms(f, b, 365.0),
        },
        Case {
            file: "topk_v1.bin",
            make: topk,
            // Lower bound of a true 1,000.
            check: |f, b| check_topk(f, b, 938.0),
        },
        Case {
            file: "bloom_v1_sparse.bin",
            make: bloom_sparse,
            check: check_bloom_sparse,
        },
        Case {
            file: "bloom_v1_dense.bin",
            make: bloom_dense,
            check: check_bloom_dense,
        },
        Case {
            file: "minhash_v1_small.bin",
            make: minhash_small,
            check: check_minhash_small,
        },
        Case {
            file: "minhash_v1_full.bin",
            make: minhash_full,
            check: check_minhash_full,
        },
        Case {
            file: "kll_v1_small.bin",
            make: kll_small,
            check: check_kll_small,
        },
        Case {
            file: "kll_v1_compacted.bin",
            make: kll_compacted,
            check: check_kll_compacted,
        },
        Case {
            file: "tdigest_v1_small.bin",
            make: tdigest_small,
            check: check_tdigest_small,
        },
        Case {
            file: "tdigest_v1_compacted.bin",
            make: tdigest_compacted,
            check: check_tdigest_compacted,
        },
        Case {
            file: "tdigest_v1_exact.bin",
            make: tdigest_exact,
            check: check_tdigest_exact,
        },
        Case {
            file: "dd_v1_plain.bin",
            make: dd_plain,
            check: check_dd_plain,
        },
        Case {
            file: "dd_v1_collapsed.bin",
            make: dd_collapsed,
            check: check_dd_collapsed,
        },
    ]
}

#[test]
fn golden_states_still_decode() {
    let bless = std::env::var_os("HAZY_BLESS").is_some();
    for case in cases() {
        let path = golden_dir().join(case.file);
        if bless && !path.exists() {
            std::fs::create_dir_all(golden_dir()).unwrap();
            std::fs::write(&path, (case.make)()).unwrap();
        }
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let again = (case.check)(case.file, &bytes);
        // The decoded sketch encodes back to the very same bytes.
        assert_eq!(again, bytes, "{}: decode/encode round trip", case.file);
        describe(&bytes).unwrap_or_else(|e| panic!("{}: describe: {e}", case.file));
        // Today's encoder still writes the same bytes for the same input.
        assert_eq!(
            (case.make)(),
            bytes,
            "{}: encoding changed; bump the format version",
            case.file
        );
    }
}
