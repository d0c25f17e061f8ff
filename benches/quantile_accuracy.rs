//! Rank error of `approx_quantile(v, q)` over many trials, Hazy against DataFusion, DuckDB and
//! ClickHouse on the same files: `cargo bench --bench quantile_accuracy -- [--trials N]
//! [--rows N] [--q Q] [--no-peers]`.
//!
//! Each trial writes `rows` values of the benchmark's heavy-tailed column, 100·(−ln U)², from
//! its own seed to target/bench/qacc-<seed>.parquet, asks every engine for the q-quantile, and
//! measures the answer's rank against the exactly sorted values: the error is
//! `rank(answer) − q`, where `rank(x)` is the fraction of values at most `x`. DuckDB and
//! ClickHouse (`quantileTDigest`) run through `../shared/bench/peers.sh`.

#[path = "common/args.rs"]
mod args;
use args::Args;

use arrow::array::{Float64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::prelude::{ParquetReadOptions, SessionContext};
use parquet::arrow::ArrowWriter;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

const ENGINES: [&str; 6] = [
    "Hazy approx_quantile (targeted digest, KLL-guarded)",
    "Hazy kll_quantile(kll_sketch(v)) (KLL, k = 200)",
    "Hazy dd_quantile (DDSketch, 1%)",
    "DataFusion approx_percentile_cont (t-digest)",
    "DuckDB approx_quantile",
    "ClickHouse quantileTDigest",
];

/// Engines answered in this process (the first of [`ENGINES`]).
const IN_PROCESS: usize = 4;

struct Options {
    trials: u64,
    rows: usize,
    q: f64,
    peers: bool,
}

fn options() -> Options {
    let args = Args::from_env();
    Options {
        trials: args.parsed("--trials", 20),
        rows: args.parsed("--rows", 1_000_000),
        q: args.parsed("--q", 0.99),
        peers: !args.has("--no-peers"),
    }
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn values(seed: u64, rows: usize) -> Vec<f64> {
    let mut state = seed.wrapping_mul(0x2545_F491_4F6C_DD1D);
    (0..rows)
        .map(|_| {
            let u = (splitmix(&mut state) >> 11) as f64 / (1u64 << 53) as f64;
            (-(1.0 - u).ln()).powi(2) * 100.0
        })
        .collect()
}

fn write_parquet(path: &Path, values: &[f64]) {
    let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Float64, false)]));
    let file = std::fs::File::create(path).expect("create trial file");
    let mut writer = ArrowWriter::try_new(file, schema.clone(), None).expect("parquet writer");
    for chunk in values.chunks(1 << 16) {
        let column = Arc::new(Float64Array::from(chunk.to_vec()));
        writer
            .write(&RecordBatch::try_new(schema.clone(), vec![column]).unwrap())
            .unwrap();
    }
    writer.close().unwrap();
}

/// Hazy's two answers and DataFusion's, in `ENGINES` order.
async fn in_process_answers(path: &Path, q: f64) -> Vec<f64> {
    let mut ctx = SessionContext::new();
    hazy::register_all(&mut ctx).unwrap();
    ctx.register_parquet(
        "t",
        path.to_string_lossy().as_ref(),
        ParquetReadOptions::default(),
    )
    .await
    .unwrap();
    let sql = format!(
        "SELECT approx_quantile(v, {q}), kll_quantile(kll_sketch(v), {q}), dd_quantile(dd_sketch(v), {q}), approx_percentile_cont(v, {q}) FROM t"
    );
    let batches = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    let batch = &batches[0];
    (0..IN_PROCESS)
        .map(|c| {
            let column = batch.column(c);
            arrow::compute::cast(column, &DataType::Float64)
                .unwrap()
                .as_any()
                .downcast_ref::<Float64Array>()
                .unwrap()
                .value(0)
        })
        .collect()
}

/// DuckDB's and ClickHouse's answers from peers.sh (NaN when an engine gave none).
fn peer_answers(path: &Path, q: f64) -> Vec<f64> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/bench/peers.sh");
    let out = Command::new("bash")
        .arg(script)
        .args(["--runs", "1", "--file"])
        .arg(path)
        .args(["quantile", "v", &q.to_string()])
        .output()
        .expect("peers.sh");
    let text = String::from_utf8_lossy(&out.stdout);
    ["duckdb", "clickhouse"]
        .iter()
        .map(|engine| {
            text.lines()
                .find(|l| l.contains(&format!("\"engine\": \"{engine}")))
                .and_then(first_number_of_answer)
                .unwrap_or(f64::NAN)
        })
        .collect()
}

fn first_number_of_answer(line: &str) -> Option<f64> {
    let answer = &line[line.find("\"answer\"")? + 9..];
    let start = answer.find(|c: char| c.is_ascii_digit() || c == '-')?;
    let rest = &answer[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | 'e' | 'E' | '+')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Fraction of `sorted` at most `x`.
fn rank(sorted: &[f64], x: f64) -> f64 {
    sorted.partition_point(|&v| v <= x) as f64 / sorted.len() as f64
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let opts = options();
    let dir: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    let engines = if opts.peers {
        ENGINES.len()
    } else {
        IN_PROCESS
    };
    let mut errors: Vec<Vec<f64>> = vec![Vec::new(); engines];
    for seed in 1..=opts.trials {
        let mut v = values(seed, opts.rows);
        let path = dir.join(format!("qacc-{seed}.parquet"));
        write_parquet(&path, &v);
        let mut answers = in_process_answers(&path, opts.q).await;
        if opts.peers {
            answers.extend(peer_answers(&path, opts.q));
        }
        v.sort_by(f64::total_cmp);
        for (e, answer) in answers.iter().enumerate() {
            if answer.is_finite() {
                errors[e].push(rank(&v, *answer) - opts.q);
            }
        }
        let _ = std::fs::remove_file(&path);
        eprintln!("trial {seed}: answers {answers:?}");
    }
    println!(
        "q = {}, {} rows per trial, {} trials (seeds 1..={})",
        opts.q, opts.rows, opts.trials, opts.trials
    );
    println!(
        "| engine | trials | bias (mean rank error) | RMS rank error | RMS in values of {} | mean abs | max abs |",
        opts.rows
    );
    println!("|---|---|---|---|---|---|---|");
    for (e, errs) in errors.iter().enumerate() {
        if errs.is_empty() {
            println!("| {} | 0 | | | | | |", ENGINES[e]);
            continue;
        }
        let n = errs.len() as f64;
        let bias = errs.iter().sum::<f64>() / n;
        let rms = (errs.iter().map(|x| x * x).sum::<f64>() / n).sqrt();
        let mean_abs = errs.iter().map(|x| x.abs()).sum::<f64>() / n;
        let max_abs = errs.iter().map(|x| x.abs()).fold(0.0, f64::max);
        println!(
            "| {} | {} | {:+.5}% | {:.5}% | {:.1} | {:.5}% | {:.5}% |",
            ENGINES[e],
            errs.len(),
            bias * 100.0,
            rms * 100.0,
            rms * opts.rows as f64,
            mean_abs * 100.0,
            max_abs * 100.0
        );
    }
}
