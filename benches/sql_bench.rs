//! Benchmarks of the Hazy SQL functions against DataFusion's built-ins, on one generated
//! 10M-row Parquet file, all in one run (`cargo bench --bench sql_bench`).
//!
//! Each query runs in a fresh child process (so its peak RSS is its own): one warm-up, then
//! `RUNS` timed runs; the median is reported. Options after `--`:
//!   `--rows N` (default 10,000,000), `--runs N` (default 5), `--only SUBSTRING` (cases whose
//!   name contains it), `--file PATH` (default target/bench/bench.parquet under the crate).
//! The Parquet file is made once and reused; pass it to `../shared/bench/peers.sh --file`
//! to time DuckDB and ClickHouse on the same data.

#[path = "common/args.rs"]
mod args;
use args::Args;

use arrow::array::{Float64Builder, Int64Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

struct Case {
    name: &'static str,
    group: &'static str,
    sql: &'static str,
}

const CASES: &[Case] = &[
    Case {
        name: "hazy approx_count_distinct(id)",
        group: "int64, 1 group",
        sql: "SELECT approx_count_distinct(id) FROM bench",
    },
    Case {
        name: "datafusion approx_distinct(id)",
        group: "int64, 1 group",
        sql: "SELECT approx_distinct(id) FROM bench",
    },
    Case {
        name: "scan floor sum(id)",
        group: "int64, 1 group",
        sql: "SELECT sum(id) FROM bench",
    },
    Case {
        name: "hazy approx_count_distinct(s)",
        group: "string, 1 group",
        sql: "SELECT approx_count_distinct(s) FROM bench",
    },
    Case {
        name: "datafusion approx_distinct(s)",
        group: "string, 1 group",
        sql: "SELECT approx_distinct(s) FROM bench",
    },
    Case {
        name: "scan floor sum(octet_length(s))",
        group: "string, 1 group",
        sql: "SELECT sum(octet_length(s)) FROM bench",
    },
    Case {
        name: "hazy approx_count_distinct(id) GROUP BY g",
        group: "1M groups",
        sql: "SELECT g, approx_count_distinct(id) FROM bench GROUP BY g",
    },
    Case {
        name: "datafusion approx_distinct(id) GROUP BY g",
        group: "1M groups",
        sql: "SELECT g, approx_distinct(id) FROM bench GROUP BY g",
    },
    Case {
        name: "hazy approx_topk(k, 10)",
        group: "zipf string top-10",
        sql: "SELECT approx_topk(k, 10) FROM bench",
    },
    Case {
        name: "datafusion exact GROUP BY k ORDER BY count(*) DESC LIMIT 10",
        group: "zipf string top-10",
        sql: "SELECT k, count(*) AS n FROM bench GROUP BY k ORDER BY n DESC LIMIT 10",
    },
    Case {
        name: "scan floor sum(octet_length(k))",
        group: "zipf string top-10",
        sql: "SELECT sum(octet_length(k)) FROM bench",
    },
    Case {
        name: "hazy approx_quantile(v, 0.99)",
        group: "float p99",
        sql: "SELECT approx_quantile(v, 0.99) FROM bench",
    },
    Case {
        name: "hazy kll_quantile(kll_sketch(v), 0.99)",
        group: "float p99",
        sql: "SELECT kll_quantile(kll_sketch(v), 0.99) FROM bench",
    },
    Case {
        name: "hazy dd_quantile(dd_sketch(v), 0.99)",
        group: "float p99",
        sql: "SELECT dd_quantile(dd_sketch(v), 0.99) FROM bench",
    },
    Case {
        name: "datafusion approx_percentile_cont(v, 0.99)",
        group: "float p99",
        sql: "SELECT approx_percentile_cont(v, 0.99) FROM bench",
    },
    Case {
        name: "scan floor sum(v)",
        group: "float p99",
        sql: "SELECT sum(v) FROM bench",
    },
    Case {
        name: "hazy bloom_sketch(s, 2000000, 0.01)",
        group: "bloom build, 10M strings",
        sql: "SELECT sketch_info(bloom_sketch(s, 2000000, 0.01))['bytes'] FROM bench",
    },
    Case {
        name: "hazy bloom_contains(filter of id, g) over 10M rows",
        group: "bloom build + probe",
        sql: "SELECT count(*) FROM bench WHERE bloom_contains((SELECT bloom_sketch(id, 2000000, 0.01) FROM bench), g)",
    },
    Case {
        name: "hazy bloom_sketch(id, 2000000, 0.01)",
        group: "bloom build + probe",
        sql: "SELECT sketch_info(bloom_sketch(id, 2000000, 0.01))['bytes'] FROM bench",
    },
    Case {
        name: "hazy minhash_sketch(k) GROUP BY g % 10000",
        group: "minhash, 10k entities",
        sql: "SELECT count(*), sum(sketch_info(m)['items']) FROM (SELECT g % 10000 AS e, minhash_sketch(k) AS m FROM bench GROUP BY 1)",
    },
    Case {
        name: "datafusion array_agg(DISTINCT k) GROUP BY g % 10000",
        group: "minhash, 10k entities",
        sql: "SELECT count(*), sum(cardinality(a)) FROM (SELECT g % 10000 AS e, array_agg(DISTINCT k) AS a FROM bench GROUP BY 1)",
    },
    Case {
        name: "scan floor count(*) GROUP BY g % 10000",
        group: "minhash, 10k entities",
        sql: "SELECT g % 10000, count(*) FROM bench GROUP BY 1",
    },
    Case {
        name: "hazy minhash_sketch(k) GROUP BY g (1M entities of ~10 events)",
        group: "minhash, 1M entities",
        sql: "SELECT count(*), count(m) FROM (SELECT g, minhash_sketch(k) AS m FROM bench GROUP BY g)",
    },
    Case {
        name: "datafusion array_agg(DISTINCT k) GROUP BY g (1M entities)",
        group: "minhash, 1M entities",
        sql: "SELECT count(*), count(a) FROM (SELECT g, array_agg(DISTINCT k) AS a FROM bench GROUP BY g)",
    },
    Case {
        name: "scan floor count(*) GROUP BY g",
        group: "1M groups",
        sql: "SELECT g, count(*) FROM bench GROUP BY g",
    },
    // DataSketches (ds_hll_sketch, theta_sketch) against Hazy's own HyperLogLog at the same
    // 2^12 registers and DataFusion's approx_distinct: `--only DataSketches`.
    Case {
        name: "scan floor sum(id)",
        group: "DataSketches, int64",
        sql: "SELECT sum(id) FROM bench",
    },
    Case {
        name: "hazy ds_hll_sketch(id) (lg_k 12, HLL_4)",
        group: "DataSketches, int64",
        sql: "SELECT ds_hll_estimate(ds_hll_sketch(id)) FROM bench",
    },
    Case {
        name: "hazy ds_hll_sketch(id, 12, 'HLL_8')",
        group: "DataSketches, int64",
        sql: "SELECT ds_hll_estimate(ds_hll_sketch(id, 12, 'HLL_8')) FROM bench",
    },
    Case {
        name: "hazy theta_sketch(id) (lg_k 12)",
        group: "DataSketches, int64",
        sql: "SELECT theta_estimate(theta_sketch(id)) FROM bench",
    },
    Case {
        name: "hazy hll_sketch(id, 12)",
        group: "DataSketches, int64",
        sql: "SELECT hll_estimate(hll_sketch(id, 12)) FROM bench",
    },
    Case {
        name: "datafusion approx_distinct(id)",
        group: "DataSketches, int64",
        sql: "SELECT approx_distinct(id) FROM bench",
    },
    Case {
        name: "scan floor sum(octet_length(s))",
        group: "DataSketches, string",
        sql: "SELECT sum(octet_length(s)) FROM bench",
    },
    Case {
        name: "hazy ds_hll_sketch(s) (lg_k 12, HLL_4)",
        group: "DataSketches, string",
        sql: "SELECT ds_hll_estimate(ds_hll_sketch(s)) FROM bench",
    },
    Case {
        name: "hazy theta_sketch(s) (lg_k 12)",
        group: "DataSketches, string",
        sql: "SELECT theta_estimate(theta_sketch(s)) FROM bench",
    },
    Case {
        name: "hazy hll_sketch(s, 12)",
        group: "DataSketches, string",
        sql: "SELECT hll_estimate(hll_sketch(s, 12)) FROM bench",
    },
    Case {
        name: "datafusion approx_distinct(s)",
        group: "DataSketches, string",
        sql: "SELECT approx_distinct(s) FROM bench",
    },
];

struct Options {
    rows: u64,
    runs: usize,
    only: Option<String>,
    file: PathBuf,
}

fn options() -> Options {
    let args = Args::from_env();
    Options {
        rows: args.parsed("--rows", 10_000_000),
        runs: args.parsed("--runs", 5),
        only: args.get("--only"),
        file: args.get("--file").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench/bench.parquet"),
            PathBuf::from,
        ),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--one") {
        return run_one(
            &args[i + 1],
            Path::new(&args[i + 2]),
            args[i + 3].parse().unwrap(),
        );
    }
    let opts = options();
    if !opts.file.exists() {
        eprintln!("writing {} rows to {}", opts.rows, opts.file.display());
        write_data(&opts.file, opts.rows).expect("bench data");
    }
    let exe = std::env::current_exe().unwrap();
    println!("| case | data | median ms | ratio to floor | peak RSS MiB | result (first row) |");
    println!("|---|---|---|---|---|---|");
    let mut floor = std::collections::HashMap::new();
    // Floors first, so each case's ratio is printed with it.
    let mut ordered: Vec<&Case> = CASES
        .iter()
        .filter(|c| c.name.starts_with("scan floor"))
        .collect();
    ordered.extend(CASES.iter().filter(|c| !c.name.starts_with("scan floor")));
    for case in ordered {
        if opts
            .only
            .as_ref()
            .is_some_and(|o| !case.name.contains(o.as_str()) && !case.group.contains(o.as_str()))
        {
            continue;
        }
        // A 20 GiB address-space cap turns a runaway peer into a reported failure, not an OOM kill.
        let out = Command::new("sh")
            .args(["-c", "ulimit -v 20971520; exec \"$0\" \"$@\""])
            .arg(&exe)
            .args([
                "--one",
                case.sql,
                &opts.file.to_string_lossy(),
                &opts.runs.to_string(),
            ])
            .output()
            .expect("child");
        let text = String::from_utf8_lossy(&out.stdout);
        let Some(line) = text.lines().find(|l| l.starts_with("RESULT")) else {
            println!(
                "| {} | {} | failed: {} | | | |",
                case.name,
                case.group,
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("?")
            );
            continue;
        };
        let parts: Vec<&str> = line.splitn(4, ' ').collect();
        let ms: f64 = parts[1].parse().unwrap();
        let rss_kb: f64 = parts[2].parse().unwrap();
        if case.name.starts_with("scan floor") {
            floor.insert(case.group, ms);
        }
        let ratio = floor
            .get(case.group)
            .map_or("".to_string(), |f| format!("{:.2}x", ms / f));
        println!(
            "| {} | {} | {ms:.0} | {ratio} | {:.0} | {} |",
            case.name,
            case.group,
            rss_kb / 1024.0,
            parts[3]
        );
    }
}

/// Child mode: time one query; print `RESULT median_ms peak_rss_kb first_row`.
fn run_one(sql: &str, file: &Path, runs: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut ctx = SessionContext::new();
        hazy::register_all(&mut ctx).unwrap();
        ctx.register_parquet(
            "bench",
            file.to_string_lossy().as_ref(),
            ParquetReadOptions::default(),
        )
        .await
        .unwrap();
        let mut first = String::new();
        let mut times = Vec::new();
        for run in 0..=runs {
            let start = Instant::now();
            let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
            let elapsed = start.elapsed().as_secs_f64() * 1000.0;
            if run == 0 {
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                let cell = arrow::util::display::array_value_to_string(
                    batches[0].column(batches[0].num_columns() - 1),
                    0,
                )
                .unwrap();
                first = format!("{cell} ({rows} rows)");
            } else {
                times.push(elapsed);
            }
        }
        times.sort_by(f64::total_cmp);
        println!(
            "RESULT {:.1} {} {first}",
            times[times.len() / 2],
            peak_rss_kb()
        );
    });
}

fn peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        })
        .unwrap_or(0)
}

/// 10M rows: `id` int64 uniform over 2M values (~1.99M distinct), `s` a string of another
/// uniform id over 2M, `g` int64 uniform over 1M groups, `v` float64 lognormal-ish,
/// `k` a Zipf(1.1) string over 100k items (for the Top-K benchmarks).
fn write_data(path: &Path, rows: u64) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(path.parent().unwrap())?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("s", DataType::Utf8, false),
        Field::new("g", DataType::Int64, false),
        Field::new("v", DataType::Float64, false),
        Field::new("k", DataType::Utf8, false),
    ]));
    let tmp = path.with_extension("tmp");
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(1 << 20))
        .build();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(&tmp)?, schema.clone(), Some(props))?;
    let mut rng = 0x5EED_u64;
    let zipf = ZipfTable::new(100_000, 1.1);
    let mut left = rows;
    while left > 0 {
        let n = left.min(1 << 16) as usize;
        let (mut id, mut s, mut g, mut v, mut k) = (
            Int64Builder::with_capacity(n),
            StringBuilder::with_capacity(n, n * 12),
            Int64Builder::with_capacity(n),
            Float64Builder::with_capacity(n),
            StringBuilder::with_capacity(n, n * 10),
        );
        for _ in 0..n {
            id.append_value((next(&mut rng) % 2_000_000) as i64);
            s.append_value(format!("user_{}", next(&mut rng) % 2_000_000));
            g.append_value((next(&mut rng) % 1_000_000) as i64);
            let u = (next(&mut rng) >> 11) as f64 / (1u64 << 53) as f64;
            v.append_value((-(1.0 - u).ln()).powf(2.0) * 100.0);
            k.append_value(format!("item_{}", zipf.sample(next(&mut rng))));
        }
        let columns: Vec<arrow::array::ArrayRef> = vec![
            Arc::new(id.finish()),
            Arc::new(s.finish()),
            Arc::new(g.finish()),
            Arc::new(v.finish()),
            Arc::new(k.finish()),
        ];
        writer.write(&RecordBatch::try_new(schema.clone(), columns)?)?;
        left -= n as u64;
    }
    writer.close()?;
    std::fs::rename(tmp, path)?;
    Ok(())
}

fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Inverse-CDF sampling of a Zipf distribution over `1..=n`.
struct ZipfTable {
    cdf: Vec<f64>,
}

impl ZipfTable {
    fn new(n: usize, s: f64) -> Self {
        let mut cdf = Vec::with_capacity(n);
        let mut total = 0.0;
        for i in 1..=n {
            total += 1.0 / (i as f64).powf(s);
            cdf.push(total);
        }
        cdf.iter_mut().for_each(|c| *c /= total);
        Self { cdf }
    }

    fn sample(&self, r: u64) -> usize {
        let u = (r >> 11) as f64 / (1u64 << 53) as f64;
        self.cdf.partition_point(|&c| c < u) + 1
    }
}
