//! Accuracy per byte of Apache DataSketches HLL (HLL_4, HLL_6, HLL_8, what `ds_hll_sketch`
//! stores) against Hazy's HyperLogLog at the same number of registers, over many trials: bias,
//! relative standard error and the stored state's bytes, at several cardinalities.
//!
//! `cargo run --release --example ds_hll_accuracy -- [trials] [lg_k]` (defaults 300 and 12).
//! Each trial is a fresh stream of distinct 64-bit integers (a different offset per trial),
//! fed to all four sketches; the three DataSketches types hold the same registers, so their
//! estimates are equal and only their bytes differ.

use datasketches::hll::{HllSketch, HllType};
use hazy::sketch::{HyperLogLog, Sketch};

const CARDINALITIES: [u64; 5] = [100, 1_000, 10_000, 100_000, 1_000_000];

#[derive(Default)]
struct Errors {
    sum: f64,
    sum_sq: f64,
    bytes: usize,
    trials: usize,
}

impl Errors {
    fn add(&mut self, estimate: f64, n: u64, bytes: usize) {
        let e = estimate / n as f64 - 1.0;
        self.sum += e;
        self.sum_sq += e * e;
        self.bytes += bytes;
        self.trials += 1;
    }

    fn row(&self) -> (f64, f64, f64) {
        let t = self.trials as f64;
        (
            100.0 * self.sum / t,
            100.0 * (self.sum_sq / t).sqrt(),
            self.bytes as f64 / t,
        )
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let trials: usize = args.get(1).map_or(300, |a| a.parse().unwrap());
    let lg_k: u8 = args.get(2).map_or(12, |a| a.parse().unwrap());
    let max_n = *CARDINALITIES.last().unwrap();
    let types = [
        ("HLL_4", HllType::Hll4),
        ("HLL_6", HllType::Hll6),
        ("HLL_8", HllType::Hll8),
    ];
    // [cardinality][sketch]: the three DataSketches types, then Hazy.
    let mut errors: Vec<[Errors; 4]> = CARDINALITIES.iter().map(|_| Default::default()).collect();
    for trial in 0..trials as u64 {
        let offset = (trial + 1) * 10 * max_n;
        let mut ds: Vec<HllSketch> = types
            .iter()
            .map(|(_, t)| HllSketch::new(lg_k, *t).unwrap())
            .collect();
        let mut hazy = HyperLogLog::new(lg_k).unwrap();
        let mut next = 0;
        for (i, &n) in CARDINALITIES.iter().enumerate() {
            for v in next..n {
                let item = (offset + v) as i64;
                ds.iter_mut().for_each(|s| s.update(item));
                hazy.insert(&item);
            }
            next = n;
            for (j, s) in ds.iter().enumerate() {
                errors[i][j].add(s.estimate(), n, s.serialize().len());
            }
            hazy.compact();
            errors[i][3].add(hazy.estimate(), n, hazy.to_bytes().len());
        }
    }
    println!(
        "{trials} trials, lg_k = p = {lg_k} (2^{lg_k} registers); theoretical RSE 1.04/sqrt(k) = {:.3}%\n",
        104.0 / f64::from(1u32 << lg_k).sqrt()
    );
    println!("| n | sketch | bias | RSE | state bytes | RSE x sqrt(bytes) |");
    println!("|---|---|---|---|---|---|");
    for (i, n) in CARDINALITIES.iter().enumerate() {
        let names = types.iter().map(|(n, _)| *n).chain(["Hazy hll"]);
        for (j, name) in names.enumerate() {
            let (bias, rse, bytes) = errors[i][j].row();
            println!(
                "| {n} | {name} | {bias:+.3}% | {rse:.3}% | {bytes:.0} | {:.3} |",
                rse / 100.0 * bytes.sqrt()
            );
        }
    }
}
