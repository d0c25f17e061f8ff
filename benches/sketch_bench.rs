//! Cost per item of the sketch layer alone (no SQL), `cargo bench --bench sketch_bench`:
//! MinHash's one-permutation hashing against a classic MinHash that computes `num_perm`
//! hashes per item, and the insert and probe rates of Bloom, KLL and DDSketch.
//!
//! Every case hashes or inserts the same pre-computed inputs; each is run `RUNS` times and the
//! median is reported in nanoseconds per item and items per second.

use hazy::sketch::bloom::BloomFilter;
use hazy::sketch::dd::DdSketch;
use hazy::sketch::hash::hash_u64;
use hazy::sketch::kll::Kll;
use hazy::sketch::minhash::MinHash;
use std::hint::black_box;
use std::time::Instant;

const ITEMS: usize = 2_000_000;
const RUNS: usize = 7;
const NUM_PERM: usize = 128;

fn median_ns_per_item(items: usize, mut run: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed().as_nanos() as f64 / items as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[RUNS / 2]
}

fn report(name: &str, ns: f64) {
    println!("| {name} | {ns:.2} | {:.1} M |", 1_000.0 / ns);
}

/// The textbook MinHash with its cheapest hash family: `num_perm` multiply-add-shift hash
/// functions `(a·h + b) >> 32` per item (no modulo), each compared with its signature slot.
fn classic_minhash(hashes: &[u64], coefficients: &[(u64, u64)]) -> Vec<u32> {
    let mut signature = vec![u32::MAX; coefficients.len()];
    for &h in hashes {
        for (slot, &(a, b)) in signature.iter_mut().zip(coefficients) {
            let v = (a.wrapping_mul(h).wrapping_add(b) >> 32) as u32;
            *slot = (*slot).min(v);
        }
    }
    signature
}

fn main() {
    let hashes: Vec<u64> = (0..ITEMS as u64).map(hash_u64).collect();
    let values: Vec<f64> = hashes
        .iter()
        .map(|h| {
            let u = (h >> 11) as f64 / (1u64 << 53) as f64;
            (-(1.0 - u).ln()).powf(2.0) * 100.0
        })
        .collect();
    println!("| case | ns per item | items per second |");
    println!("|---|---|---|");

    let one_permutation = median_ns_per_item(ITEMS, || {
        let mut m = MinHash::new(NUM_PERM as u32).unwrap();
        hashes.iter().for_each(|&h| m.insert_hash(h));
        black_box(m);
    });
    report(
        "minhash_sketch insert (one-permutation, num_perm 128)",
        one_permutation,
    );
    let coefficients: Vec<(u64, u64)> = (0..NUM_PERM as u64)
        .map(|i| (hash_u64(i) | 1, hash_u64(i + 1_000)))
        .collect();
    // The classic form is far slower: time a tenth of the items.
    let classic_items = ITEMS / 10;
    let classic = median_ns_per_item(classic_items, || {
        black_box(classic_minhash(&hashes[..classic_items], &coefficients));
    });
    report(
        "classic MinHash insert (128 hash functions per item)",
        classic,
    );
    println!(
        "| ratio classic / one-permutation | {:.0}x | |",
        classic / one_permutation
    );

    let mut filter = BloomFilter::with_capacity(ITEMS as u64, 0.01).unwrap();
    let build = median_ns_per_item(ITEMS, || {
        let mut f = BloomFilter::with_capacity(ITEMS as u64, 0.01).unwrap();
        hashes.iter().for_each(|&h| f.insert_hash(h));
        f.compact();
        black_box(f);
    });
    report("bloom insert (2M items, fpr 1%)", build);
    hashes.iter().for_each(|&h| filter.insert_hash(h));
    filter.compact();
    let probes: Vec<u64> = (0..ITEMS as u64).map(|i| hash_u64(i + (1 << 40))).collect();
    let probe = median_ns_per_item(ITEMS, || {
        black_box(probes.iter().filter(|&&h| filter.contains_hash(h)).count());
    });
    report("bloom contains (absent items)", probe);

    let kll = median_ns_per_item(ITEMS, || {
        let mut k = Kll::new(200).unwrap();
        values.chunks(8192).for_each(|c| k.insert_many(c));
        black_box(k);
    });
    report("kll insert (k 200)", kll);
    let dd = median_ns_per_item(ITEMS, || {
        let mut d = DdSketch::new(0.01).unwrap();
        values.iter().for_each(|&v| d.insert(v));
        black_box(d);
    });
    report("dd insert (alpha 1%)", dd);
}
