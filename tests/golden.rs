//! Golden states: bytes written by format version 1, committed under tests/golden/. They must
//! keep decoding to the same sketch in every later version, so stored sketches stay readable.
//! `HAZY_BLESS=1` writes them (only when a new golden is added, never to paper over a change).

use hazy::sketch::HyperLogLog;
use std::path::PathBuf;

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

struct Case {
    file: &'static str,
    make: fn() -> Vec<u8>,
    /// The estimate the state must still give.
    estimate: f64,
}

fn hll(p: u8, n: u64) -> Vec<u8> {
    let mut s = HyperLogLog::new(p).unwrap();
    (0..n).for_each(|i| s.insert(&format!("user_{i}")));
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

fn topk() -> Vec<u8> {
    let mut s = hazy::sketch::topk::TopK::new(64).unwrap();
    for i in 0..5_000u64 {
        let item = format!("item_{}", if i % 5 == 0 { 0 } else { i % 500 });
        s.insert(hazy::sketch::hash::hash_str(&item), item.as_bytes(), 1);
    }
    s.to_bytes()
}

/// The figure each golden state must still give.
fn read_back(file: &str, bytes: &[u8]) -> f64 {
    if file.starts_with("hll") {
        HyperLogLog::from_bytes(bytes)
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .estimate()
    } else if file.starts_with("cms") {
        let s = hazy::sketch::cms::CountMin::from_bytes(bytes)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        s.estimate(hazy::sketch::hash::hash_i64(0)) as f64
    } else {
        let s =
            hazy::sketch::topk::TopK::from_bytes(bytes).unwrap_or_else(|e| panic!("{file}: {e}"));
        s.estimate(hazy::sketch::hash::hash_str("item_0")).lower as f64
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            file: "hll_v1_p14_sparse.bin",
            make: || hll(14, 1_000),
            estimate: 1_000.0,
        },
        Case {
            file: "hll_v1_p12_dense.bin",
            make: || hll(12, 100_000),
            estimate: 100_000.0,
        },
        Case {
            file: "hll_v1_p4_empty.bin",
            make: || hll(4, 0),
            estimate: 0.0,
        },
        Case {
            file: "cms_v1_items.bin",
            make: || cms(10),
            estimate: 4.0,
        },
        Case {
            file: "cms_v1_dense.bin",
            make: cms_dense,
            // True count 5; within epsilon x N = 1,000 of it, as Count-Min promises.
            estimate: 365.0,
        },
        Case {
            file: "topk_v1.bin",
            make: topk,
            estimate: 938.0,
        }, // lower bound of a true 1,000
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
        let est = read_back(case.file, &bytes);
        let tolerance = (case.estimate * 0.03).max(0.5);
        assert!(
            (est - case.estimate).abs() <= tolerance,
            "{}: estimate {est}",
            case.file
        );
        // Today's encoder still writes the same bytes for the same input.
        assert_eq!(
            (case.make)(),
            bytes,
            "{}: encoding changed; bump the format version",
            case.file
        );
    }
}
