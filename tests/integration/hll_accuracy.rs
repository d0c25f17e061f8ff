//! HyperLogLog accuracy over many independent trials (run in release mode).
//!
//! Each trial inserts a fresh stream of distinct values (disjoint integer ranges, hashed through
//! the canonical hash like any column) and reads the estimate at log-spaced cardinalities
//! up to 10^7. Reported: bias (mean relative error) and relative standard error (RMS relative
//! error) per cardinality, against the theoretical 1.04/sqrt(m).

use hazy::sketch::HyperLogLog;
use std::thread;

const TRIALS: u64 = 1_000;
const MAX_N: u64 = 10_000_000;

fn checkpoints() -> Vec<u64> {
    let mut n: Vec<u64> = (0..=28)
        .map(|k| 10f64.powf(k as f64 / 4.0).round() as u64)
        .collect();
    n.dedup();
    n
}

/// Relative errors `[checkpoint][trial]` for trials `first..first + count`.
fn run_trials(precision: u8, first: u64, count: u64, points: &[u64]) -> Vec<Vec<f64>> {
    let mut errors = vec![Vec::new(); points.len()];
    for trial in first..first + count {
        let mut sketch = HyperLogLog::new(precision).unwrap();
        let base = trial << 40;
        let mut inserted = 0u64;
        for (slot, &n) in points.iter().enumerate() {
            while inserted < n {
                sketch.insert(&(base | inserted));
                inserted += 1;
            }
            errors[slot].push(sketch.estimate() / n as f64 - 1.0);
        }
    }
    errors
}

fn accuracy(precision: u8, trials: u64, max_n: u64) -> Vec<(u64, f64, f64)> {
    let points: Vec<u64> = checkpoints().into_iter().filter(|&n| n <= max_n).collect();
    let workers = thread::available_parallelism().map_or(2, |n| n.get() as u64);
    let per = trials.div_ceil(workers);
    let parts: Vec<Vec<Vec<f64>>> = thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let points = &points;
                let count = per.min(trials.saturating_sub(w * per));
                s.spawn(move || run_trials(precision, w * per, count, points))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    points
        .iter()
        .enumerate()
        .map(|(slot, &n)| {
            let all: Vec<f64> = parts.iter().flat_map(|p| p[slot].iter().copied()).collect();
            let bias = all.iter().sum::<f64>() / all.len() as f64;
            let rse = (all.iter().map(|e| e * e).sum::<f64>() / all.len() as f64).sqrt();
            (n, bias, rse)
        })
        .collect()
}

fn report(precision: u8, rows: &[(u64, f64, f64)]) {
    let theory = 1.04 / ((1u64 << precision) as f64).sqrt();
    eprintln!("p={precision}  theoretical RSE {:.3}%", theory * 100.0);
    eprintln!("{:>10} {:>9} {:>8}", "n", "bias %", "RSE %");
    for (n, bias, rse) in rows {
        eprintln!("{n:>10} {:>9.4} {:>8.4}", bias * 100.0, rse * 100.0);
    }
}

#[test]
fn precision_14_meets_its_bound_from_1_to_10_million() {
    let rows = accuracy(14, TRIALS, MAX_N);
    report(14, &rows);
    for &(n, bias, rse) in &rows {
        assert!(
            bias.abs() < 0.002,
            "n={n}: bias {:.4}% exceeds 0.2%",
            bias * 100.0
        );
        assert!(rse < 0.0085, "n={n}: RSE {:.4}% exceeds 0.85%", rse * 100.0);
        if n <= 100 {
            assert!(
                rse < 0.002,
                "n={n}: small cardinalities should be near exact, RSE {rse}"
            );
        }
    }
}

#[test]
fn every_precision_stays_within_its_theoretical_error() {
    for precision in [4u8, 8, 10, 12, 16, 18] {
        let theory = 1.04 / ((1u64 << precision) as f64).sqrt();
        let rows = accuracy(precision, 200, 1_000_000);
        report(precision, &rows);
        for &(n, bias, rse) in &rows {
            // 200 trials estimate the RSE to about +/-5% (one sigma): allow 15%, and 35% at
            // p = 4, where 16 registers are too few for the asymptotic 1.04/sqrt(m).
            let slack = if precision <= 6 { 1.35 } else { 1.15 };
            assert!(
                rse < theory * slack,
                "p={precision} n={n}: RSE {rse} vs {theory}"
            );
            // Below 128 registers the estimator (built on the large-m limit) is biased upwards by
            // up to about 11%: documented, and the reason the default is p = 14.
            let max_bias = if precision <= 6 {
                0.12
            } else {
                theory * 0.25 + 0.001
            };
            assert!(bias.abs() < max_bias, "p={precision} n={n}: bias {bias}");
        }
    }
}
