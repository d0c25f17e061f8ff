//! One query per sketch family on the 10M-row benchmark file, run locally and on a loopback
//! Ballista cluster (one scheduler, two executors, in this process), with the bytes of sketch
//! state each query shuffled between the partial and final stages.
//!
//! `cargo bench --features ballista --bench cluster_bench -- [--runs N] [--file PATH]
//! [--executors N] [--tasks N] [--only SUBSTRING]`. The file is the one `sql_bench` writes
//! (target/bench/bench.parquet); run that first.

#[path = "common/args.rs"]
mod args;
use args::Args;

use arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use hazy::cluster::loopback::LoopbackCluster;
use std::path::{Path, PathBuf};
use std::time::Instant;

const QUERIES: &[(&str, &str)] = &[
    (
        "distinct (HLL)",
        "SELECT approx_count_distinct(id) FROM bench",
    ),
    (
        "distinct per group (HLL, 1,000 groups)",
        "SELECT count(*), sum(c) FROM (SELECT g % 1000 AS e, approx_count_distinct(id) AS c FROM bench GROUP BY 1)",
    ),
    ("top-k", "SELECT approx_topk(k, 10) FROM bench"),
    (
        "Count-Min",
        "SELECT cms_estimate(cms_sketch(k), 'item_1') FROM bench",
    ),
    (
        "Bloom",
        "SELECT bloom_contains(bloom_sketch(id, 2000000, 0.01), 42) FROM bench",
    ),
    (
        "MinHash (10,000 groups)",
        "SELECT count(*), sum(sketch_info(m)['items']) FROM (SELECT g % 10000 AS e, minhash_sketch(k) AS m FROM bench GROUP BY 1)",
    ),
    (
        "quantile (KLL)",
        "SELECT approx_quantile(v, 0.99) FROM bench",
    ),
    (
        "quantile (DDSketch)",
        "SELECT dd_quantile(dd_sketch(v), 0.99) FROM bench",
    ),
    (
        "DataFusion approx_distinct (reference)",
        "SELECT approx_distinct(id) FROM bench",
    ),
    ("scan floor", "SELECT sum(v) FROM bench"),
];

struct Options {
    runs: usize,
    file: PathBuf,
    executors: usize,
    tasks: usize,
    only: Option<String>,
}

fn options() -> Options {
    let args = Args::from_env();
    Options {
        runs: args.parsed("--runs", 3),
        file: args.get("--file").map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench/bench.parquet"),
            PathBuf::from,
        ),
        executors: args.parsed("--executors", 2),
        tasks: args.parsed("--tasks", 1),
        only: args.get("--only"),
    }
}

async fn first_row(ctx: &SessionContext, sql: &str) -> String {
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return String::new();
    };
    let options = FormatOptions::default();
    let cells: Vec<String> = batch
        .columns()
        .iter()
        .map(|c| {
            ArrayFormatter::try_new(c.as_ref(), &options)
                .unwrap()
                .value(0)
                .to_string()
        })
        .collect();
    let row = cells.join(", ");
    if row.len() > 60 {
        format!("{}…", &row[..row.floor_char_boundary(60)])
    } else {
        row
    }
}

/// Median milliseconds of `runs` runs after one warm-up, and the result's first row.
async fn time(ctx: &SessionContext, sql: &str, runs: usize) -> (f64, String) {
    let result = first_row(ctx, sql).await;
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let start = Instant::now();
        first_row(ctx, sql).await;
        ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    ms.sort_by(f64::total_cmp);
    (ms[ms.len() / 2], result)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let opts = options();
    assert!(
        opts.file.exists(),
        "{} is missing: run `cargo bench --bench sql_bench` first",
        opts.file.display()
    );
    let cluster = LoopbackCluster::start(opts.executors, opts.tasks)
        .await
        .expect("loopback cluster");
    let remote = cluster.context().await.unwrap();
    let local = hazy::cli::session();
    let ddl = format!(
        "CREATE EXTERNAL TABLE bench STORED AS PARQUET LOCATION '{}'",
        opts.file.display()
    );
    for ctx in [&remote, &local] {
        ctx.sql(&ddl).await.unwrap().collect().await.unwrap();
    }
    println!(
        "| query | local ms | cluster ms | cluster / local | state bytes shuffled | rows shuffled | tasks (executors) | same result |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (name, sql) in QUERIES {
        if opts
            .only
            .as_ref()
            .is_some_and(|o| !name.contains(o.as_str()))
        {
            continue;
        }
        let (local_ms, local_result) = time(&local, sql, opts.runs).await;
        let (remote_ms, remote_result) = time(&remote, sql, opts.runs).await;
        // One more cluster run, alone in the log, for what its partial stage shuffled.
        cluster.log.clear();
        first_row(&remote, sql).await;
        let partial: Vec<_> = cluster
            .log
            .records()
            .into_iter()
            .filter(|r| !r.partial_aggregates.is_empty())
            .collect();
        let bytes: u64 = partial.iter().map(|r| r.bytes).sum();
        let rows: u64 = partial.iter().map(|r| r.rows).sum();
        let executors: std::collections::BTreeSet<_> =
            partial.iter().map(|r| r.executor.clone()).collect();
        println!(
            "| {name} | {local_ms:.0} | {remote_ms:.0} | {:.2}x | {bytes} | {rows} | {} ({}) | {} |",
            remote_ms / local_ms,
            partial.len(),
            executors.len(),
            if local_result == remote_result {
                "yes".to_string()
            } else {
                format!("local {local_result} / cluster {remote_result}")
            }
        );
    }
}
