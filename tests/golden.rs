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
        let sketch =
            HyperLogLog::from_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", case.file));
        let est = sketch.estimate();
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
