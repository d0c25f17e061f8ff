//! Hazy on a Ballista cluster: one scheduler and two executors on loopback in this process, a
//! multi-file Parquet table, and one query per family. Results and state bytes must equal a local
//! run, and the partial aggregates must run on both executors.

mod common;
use common::*;
use datafusion::prelude::SessionContext;
use hazy::cluster::executor;
use hazy::cluster::loopback::LoopbackCluster;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const FILES: usize = 4;

struct Cluster {
    remote: SessionContext,
    local: SessionContext,
    cluster: LoopbackCluster,
    dir: PathBuf,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hazy-ballista-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Splits the shipped events into `FILES` Parquet files under `dir/events/`.
async fn write_events_table(dir: &Path) -> PathBuf {
    let table = dir.join("events");
    std::fs::create_dir_all(&table).unwrap();
    let ctx = ctx();
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/events.parquet");
    let per_file = 100_000 / FILES;
    for i in 0..FILES {
        let sql = format!(
            "COPY (SELECT * FROM '{}' ORDER BY ts LIMIT {per_file} OFFSET {}) TO '{}' STORED AS PARQUET",
            source.display(),
            i * per_file,
            table.join(format!("part-{i}.parquet")).display()
        );
        rows(&ctx, &sql).await;
    }
    table
}

async fn start_cluster(name: &str) -> Cluster {
    let dir = scratch_dir(name);
    let table = write_events_table(&dir).await;
    let cluster = LoopbackCluster::start(2, 2).await.unwrap();
    let remote = cluster.context().await.unwrap();
    let local = ctx();
    let ddl = format!(
        "CREATE EXTERNAL TABLE events STORED AS PARQUET LOCATION '{}/'",
        table.display()
    );
    rows(&remote, &ddl).await;
    rows(&local, &ddl).await;
    Cluster {
        remote,
        local,
        cluster,
        dir,
    }
}

impl Cluster {
    fn executors_that_ran(
        &self,
        keep: impl Fn(&executor::StageRecord) -> bool,
    ) -> BTreeSet<String> {
        self.cluster
            .log
            .records()
            .into_iter()
            .filter(|r| keep(r))
            .map(|r| r.executor)
            .collect()
    }

    /// Runs `sql` on the cluster and locally; asserts equal rows and that `function`'s partial
    /// aggregates ran on both executors. Returns the rows.
    async fn same_as_local(&self, sql: &str, function: &str) -> Vec<Vec<String>> {
        self.cluster.log.clear();
        let remote = rows(&self.remote, sql).await;
        let local = rows(&self.local, sql).await;
        assert_eq!(remote, local, "cluster and local differ for {sql}");
        self.partial_states_on_both_executors(function, sql);
        remote
    }

    /// Asserts `function` ran as a partial aggregate on every executor and its states crossed
    /// the shuffle.
    fn partial_states_on_both_executors(&self, function: &str, sql: &str) {
        let partial =
            |r: &executor::StageRecord| r.partial_aggregates.iter().any(|f| f == function);
        let ran_on = self.executors_that_ran(partial);
        assert_eq!(
            ran_on.len(),
            self.cluster.executors().len(),
            "partial {function} should run on both executors for {sql}; ran on {ran_on:?}; log {:?}",
            self.cluster.log.records()
        );
        let shuffled: u64 = self
            .cluster
            .log
            .records()
            .iter()
            .filter(|r| partial(r))
            .map(|r| r.bytes)
            .sum();
        assert!(
            shuffled > 0,
            "{function}: the partial states should cross the shuffle"
        );
    }

    async fn remote_rows(&self, sql: &str) -> Vec<Vec<String>> {
        rows(&self.remote, sql).await
    }
}

fn num(s: &str) -> f64 {
    s.parse().unwrap_or_else(|_| panic!("not a number: {s}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_family_runs_on_two_executors_like_local() {
    let cluster = start_cluster("families").await;

    // Distinct counts: the estimates and the HLL state bytes equal the local run.
    cluster
        .same_as_local(
            "SELECT approx_count_distinct(entity), hll_sketch(entity) FROM events",
            "approx_count_distinct",
        )
        .await;
    cluster
        .same_as_local(
            "SELECT event_type, hll_estimate(hll_sketch(entity)) FROM events GROUP BY event_type ORDER BY event_type",
            "hll_sketch",
        )
        .await;

    // Top-K: few event types, so every count is exact and the states equal.
    cluster
        .same_as_local(
            "SELECT approx_topk(event_type, 5), topk_sketch(event_type) FROM events",
            "approx_topk",
        )
        .await;

    // Count-Min: linear, so the state bytes equal whatever the merge order.
    let cms = cluster
        .same_as_local(
            "SELECT cms_estimate(s, 'entity_1'), cms_total(s), s FROM (SELECT cms_sketch(entity) AS s FROM events)",
            "cms_sketch",
        )
        .await;
    assert_eq!(cms[0][1], "100000");

    // Bloom: the union of bit arrays.
    let bloom = cluster
        .same_as_local(
            "SELECT bloom_contains(s, 'entity_1'), bloom_contains(s, 'no such entity'), s \
             FROM (SELECT bloom_sketch(entity, 10000) AS s FROM events)",
            "bloom_sketch",
        )
        .await;
    assert_eq!(bloom[0][0], "true");

    // MinHash: element-wise minima, so the states and the similarities equal.
    cluster
        .same_as_local(
            "SELECT event_type, minhash_sketch(entity) FROM events GROUP BY event_type ORDER BY event_type",
            "minhash_sketch",
        )
        .await;

    // DataSketches HLL and theta: partial states are the library's bytes, merged by its union,
    // whose estimate depends on how the rows were split (the one-pass HIP estimate is lost in
    // a union): held to 5% (three standard errors at lg_k 12) of the local answer.
    let sql = "SELECT event_type, ds_hll_estimate(ds_hll_sketch(entity)), theta_estimate(theta_sketch(entity)) \
               FROM events GROUP BY event_type ORDER BY event_type";
    cluster.cluster.log.clear();
    let remote = cluster.remote_rows(sql).await;
    cluster.partial_states_on_both_executors("ds_hll_sketch", sql);
    let local = rows(&cluster.local, sql).await;
    assert_eq!(remote.len(), local.len());
    for (r, l) in remote.iter().zip(&local) {
        assert_eq!(r[0], l[0]);
        for (a, b) in r[1..].iter().zip(&l[1..]) {
            assert!(
                (num(a) - num(b)).abs() <= 0.05 * num(b),
                "{sql}: {r:?} against {l:?}"
            );
        }
    }

    // DDSketch: bucket counts add, so the state and quantiles equal.
    cluster
        .same_as_local(
            "SELECT dd_quantile(s, 0.5), dd_quantile(s, 0.99), s FROM (SELECT dd_sketch(value) AS s FROM events)",
            "dd_sketch",
        )
        .await;

    // The remaining scalar functions, on states built on the cluster from two slices of the table.
    cluster
        .same_as_local(
            "SELECT hll_estimate(hll_union(a.s, b.s)), minhash_jaccard(a.m, b.m), \
             cardinality(minhash_lsh_bands(a.m, 16)), sketch_info(a.s)['family'], \
             kll_quantiles(a.k, [0.0, 1.0]) \
             FROM (SELECT hll_sketch(entity) AS s, minhash_sketch(entity) AS m, kll_sketch(value) AS k \
                   FROM events WHERE event_type = 'click') a, \
                  (SELECT hll_sketch(entity) AS s, minhash_sketch(entity) AS m FROM events \
                   WHERE event_type = 'purchase') b",
            "minhash_sketch",
        )
        .await;

    // The weighted forms, and KLL's extremes (exact whatever the merge order).
    cluster
        .same_as_local(
            "SELECT cms_estimate(cms_sketch_weighted(event_type, CAST(value * 100 AS BIGINT)), 'click'), \
             approx_topk_weighted(event_type, CAST(value * 100 AS BIGINT), 3) FROM events",
            "cms_sketch_weighted",
        )
        .await;
    cluster
        .same_as_local(
            "SELECT approx_quantiles(value, [0.0, 1.0]) FROM events",
            "approx_quantiles",
        )
        .await;
    cluster
        .same_as_local(
            "SELECT kll_quantile(kll_merge(s), 0.0), kll_quantile(kll_merge(s), 1.0) \
             FROM (SELECT event_type, kll_sketch(value) AS s FROM events GROUP BY event_type)",
            "kll_sketch",
        )
        .await;

    // KLL: a merge depends on the order the states arrive in, so hold the cluster's answers to
    // KLL's rank bound against the exact quantiles instead of to the local bytes.
    cluster.cluster.log.clear();
    let kll = cluster
        .remote_rows(
            "SELECT approx_quantile(value, 0.5), approx_quantile(value, 0.99), kll_rank(kll_sketch(value), 0.5) FROM events",
        )
        .await;
    cluster.partial_states_on_both_executors("approx_quantile", "approx_quantile");
    let exact_rank =
        |v: &str| format!("SELECT avg(CASE WHEN value <= {v} THEN 1.0 ELSE 0.0 END) FROM events");
    for (cell, q) in [(&kll[0][0], 0.5), (&kll[0][1], 0.99)] {
        let rank = num(&value(&cluster.local, &exact_rank(cell)).await);
        assert!(
            (rank - q).abs() <= 0.0133,
            "approx_quantile({q}) = {cell} has rank {rank}"
        );
    }
    let rank_of_half = num(&kll[0][2]);
    let exact = num(&value(&cluster.local, &exact_rank("0.5")).await);
    assert!(
        (rank_of_half - exact).abs() <= 0.0133,
        "kll_rank(0.5) = {rank_of_half}, exact {exact}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stored_states_merge_on_the_cluster_and_bad_states_fail_clearly() {
    let cluster = start_cluster("stored").await;

    // States stored per hour and per source file locally (an hour can span two files), then
    // merged on the cluster: the same answers as local.
    let states = cluster.dir.join("states");
    std::fs::create_dir_all(&states).unwrap();
    for i in 0..FILES {
        let part = cluster.dir.join(format!("events/part-{i}.parquet"));
        let copy = format!(
            "COPY (SELECT date_trunc('hour', ts) AS hour, hll_sketch(entity) AS users, \
             cms_sketch(event_type) AS events, topk_sketch(event_type) AS top, \
             bloom_sketch(entity, 10000) AS seen, minhash_sketch(entity) AS similar, \
             dd_sketch(value) AS dd FROM '{}' GROUP BY 1) TO '{}/hourly-{i}.parquet' STORED AS PARQUET",
            part.display(),
            states.display()
        );
        rows(&cluster.local, &copy).await;
    }
    let ddl = format!(
        "CREATE EXTERNAL TABLE hourly STORED AS PARQUET LOCATION '{}/'",
        states.display()
    );
    rows(&cluster.remote, &ddl).await;
    rows(&cluster.local, &ddl).await;
    let merged = cluster
        .same_as_local(
            "SELECT hll_estimate(hll_merge(users)), cms_estimate(cms_merge(events), 'purchase'), \
             topk_items(topk_merge(top), 3), bloom_contains(bloom_merge(seen), 'entity_1'), \
             dd_quantile(dd_merge(dd), 0.99), hll_merge(users), minhash_merge(similar) FROM hourly",
            "hll_merge",
        )
        .await;
    let whole = rows(
        &cluster.local,
        "SELECT approx_count_distinct(entity), cms_estimate(cms_sketch(event_type), 'purchase') FROM events",
    )
    .await;
    assert_eq!(
        merged[0][0], whole[0][0],
        "merged hourly HLL = whole-table HLL"
    );
    assert_eq!(
        merged[0][1], whole[0][1],
        "merged hourly Count-Min = whole-table Count-Min"
    );

    // A state that is not a Hazy state fails with the function's name, from the executors.
    let message = error(
        &cluster.remote,
        "SELECT hll_estimate(hll_merge(s)) FROM (SELECT X'0102030405' AS s FROM events LIMIT 3)",
    )
    .await;
    assert!(message.contains("hll_merge"), "{message}");
}

/// A child process killed when the test ends, whatever its outcome.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(binary: &str, args: &[String]) -> Child {
    Child(
        std::process::Command::new(binary)
            .args(args)
            .args(["--log-level", "warn"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}")),
    )
}

/// The shipped binaries as a user runs them: `hazy-scheduler`, two `hazy-executor`s and
/// `hazy sql --remote`, whose output equals `hazy sql` on one machine. The executors' memory
/// limit binds Hazy's aggregates too: a moving frame of 20,000 HyperLogLogs (about 300 MB) fails
/// on them naming the aggregate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binaries_form_a_cluster_for_hazy_sql_remote() {
    let dir = scratch_dir("binaries");
    let table = write_events_table(&dir).await;
    let port = free_port();
    let _scheduler = spawn(
        env!("CARGO_BIN_EXE_hazy-scheduler"),
        &["--port".into(), port.to_string()],
    );
    let _executors: Vec<Child> = (0..2)
        .map(|_| {
            spawn(
                env!("CARGO_BIN_EXE_hazy-executor"),
                &[
                    "--scheduler-host".into(),
                    "127.0.0.1".into(),
                    "--scheduler-port".into(),
                    port.to_string(),
                    "--port".into(),
                    free_port().to_string(),
                    "--grpc-port".into(),
                    free_port().to_string(),
                    "--concurrent-tasks".into(),
                    "1".into(),
                    "--memory-limit".into(),
                    "64M".into(),
                ],
            )
        })
        .collect();
    let sql = format!(
        "CREATE EXTERNAL TABLE events STORED AS PARQUET LOCATION '{}/'; \
         SELECT approx_count_distinct(entity) AS users, approx_topk(event_type, 3) AS top, \
         dd_quantile(dd_sketch(value), 0.99) AS p99 FROM events",
        table.display()
    );
    let hazy_sql = |remote: Option<String>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hazy"));
        command.args(["sql", "--format", "ndjson", "-c", &sql]);
        if let Some(url) = remote {
            command.args(["--remote", &url]);
        }
        command.output().unwrap()
    };
    let local = hazy_sql(None);
    assert!(
        local.status.success(),
        "{}",
        String::from_utf8_lossy(&local.stderr)
    );
    // The scheduler takes a moment to listen; a refused connection is retried, a wrong
    // answer is not.
    let started = std::time::Instant::now();
    let remote = loop {
        let out = hazy_sql(Some(format!("df://127.0.0.1:{port}")));
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        if out.status.success() || !stderr.contains("onnect") || started.elapsed().as_secs() > 30 {
            break out;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    assert!(
        remote.status.success(),
        "{}",
        String::from_utf8_lossy(&remote.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&remote.stdout),
        String::from_utf8_lossy(&local.stdout)
    );
    let text = String::from_utf8_lossy(&local.stdout);
    assert!(
        text.starts_with("{\"users\":9813,\"top\":[{\"item\":\"page_view\""),
        "{text}"
    );

    let frame = format!(
        "CREATE EXTERNAL TABLE events STORED AS PARQUET LOCATION '{}/'; \
         SELECT max(c) FROM (SELECT approx_count_distinct(entity) OVER \
         (ORDER BY ts ROWS BETWEEN 20000 PRECEDING AND CURRENT ROW) AS c FROM events)",
        table.display()
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hazy"))
        .args(["sql", "-c", &frame, "--remote"])
        .arg(format!("df://127.0.0.1:{port}"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Ballista passes the executor's error on in its debug form.
    assert!(
        stderr.contains("ResourcesExhausted(\"approx_count_distinct: its sketches need"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The shipped binaries on loopback over a real S3-protocol server (see `common::S3Server`):
/// Parquet events and sketch states written to a bucket by `hazy sql`, then one query per family
/// and a merge of the stored states on the cluster, each equal to `hazy sql` on one machine. The
/// scheduler and the executors open the bucket from their environment, as deployed ones would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cluster_reads_a_bucket_like_one_machine() {
    let Some(s3) = S3Server::start("the_cluster_reads_a_bucket_like_one_machine") else {
        return;
    };
    s3.create_bucket("hazy-cluster");
    let env = s3.env();
    let hazy_sql = |sql: &str, remote: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_hazy"));
        command
            .args(["sql", "--format", "ndjson", "-c", sql])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .envs(env.iter().map(|(k, v)| (*k, v)));
        if let Some(url) = remote {
            command.args(["--remote", url]);
        }
        command.output().unwrap()
    };
    let ok = |out: std::process::Output| {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Four Parquet files of events and four of hourly states, in the bucket.
    let per_file = 100_000 / FILES;
    for i in 0..FILES {
        let slice = format!(
            "SELECT * FROM 'data/events.parquet' ORDER BY ts LIMIT {per_file} OFFSET {}",
            i * per_file
        );
        ok(hazy_sql(
            &format!(
                "COPY ({slice}) TO 's3://hazy-cluster/events/part-{i}.parquet' STORED AS PARQUET"
            ),
            None,
        ));
        ok(hazy_sql(
            &format!(
                "COPY (SELECT date_trunc('hour', ts) AS hour, hll_sketch(entity) AS users, \
                 cms_sketch(event_type) AS events, topk_sketch(event_type) AS top, \
                 bloom_sketch(entity, 10000) AS seen, minhash_sketch(entity) AS similar, \
                 kll_sketch(value) AS amounts, dd_sketch(value) AS dd FROM ({slice}) GROUP BY 1) \
                 TO 's3://hazy-cluster/states/part-{i}.parquet' STORED AS PARQUET"
            ),
            None,
        ));
    }

    let port = free_port();
    let spawn_with_env = |binary: &str, args: Vec<String>| {
        Child(
            std::process::Command::new(binary)
                .args(&args)
                .args(["--log-level", "warn"])
                .envs(env.iter().map(|(k, v)| (*k, v)))
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {binary}: {e}")),
        )
    };
    let _scheduler = spawn_with_env(
        env!("CARGO_BIN_EXE_hazy-scheduler"),
        vec!["--port".into(), port.to_string()],
    );
    let _executors: Vec<Child> = (0..2)
        .map(|_| {
            spawn_with_env(
                env!("CARGO_BIN_EXE_hazy-executor"),
                vec![
                    "--scheduler-host".into(),
                    "127.0.0.1".into(),
                    "--scheduler-port".into(),
                    port.to_string(),
                    "--port".into(),
                    free_port().to_string(),
                    "--grpc-port".into(),
                    free_port().to_string(),
                    "--concurrent-tasks".into(),
                    "1".into(),
                    "--memory-limit".into(),
                    "64M".into(),
                ],
            )
        })
        .collect();
    let url = format!("df://127.0.0.1:{port}");
    let tables = "CREATE EXTERNAL TABLE events STORED AS PARQUET LOCATION 's3://hazy-cluster/events/'; \
                  CREATE EXTERNAL TABLE hourly STORED AS PARQUET LOCATION 's3://hazy-cluster/states/'; ";
    // One query per family over the bucket (exact merges, so the cluster equals one machine),
    // and the stored states merged.
    let queries = [
        "SELECT approx_count_distinct(entity) AS users, hll_sketch(entity) AS state FROM events",
        "SELECT cms_estimate(cms_sketch(event_type), 'click') AS clicks, cms_total(cms_sketch(event_type)) AS n FROM events",
        "SELECT approx_topk(event_type, 3) AS top FROM events",
        "SELECT bloom_contains(bloom_sketch(entity, 10000), 'entity_1') AS seen FROM events",
        "SELECT event_type, minhash_sketch(entity) AS sig FROM events GROUP BY event_type ORDER BY event_type",
        "SELECT kll_quantile(kll_sketch(value), 0.0) AS low, kll_quantile(kll_sketch(value), 1.0) AS high FROM events",
        "SELECT dd_quantile(dd_sketch(value), 0.99) AS p99 FROM events",
        "SELECT hll_estimate(hll_merge(users)) AS users, cms_estimate(cms_merge(events), 'purchase') AS purchases, \
         topk_items(topk_merge(top), 3) AS top, bloom_contains(bloom_merge(seen), 'entity_1') AS seen, \
         minhash_merge(similar) AS similar, kll_quantile(kll_merge(amounts), 1.0) AS high, \
         dd_quantile(dd_merge(dd), 0.5) AS median FROM hourly",
    ];
    for query in queries {
        let sql = format!("{tables}{query}");
        let local = ok(hazy_sql(&sql, None));
        // The scheduler takes a moment to listen; a refused connection is retried.
        let started = std::time::Instant::now();
        let remote = loop {
            let out = hazy_sql(&sql, Some(&url));
            let stderr = String::from_utf8_lossy(&out.stderr).to_string();
            if out.status.success()
                || !stderr.contains("onnect")
                || started.elapsed().as_secs() > 30
            {
                break ok(out);
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        };
        assert_eq!(remote, local, "{query}");
        assert!(!local.trim().is_empty(), "{query}");
    }
    // The merged stored states equal one pass over the events.
    let merged = ok(hazy_sql(
        &format!("{tables}SELECT hll_estimate(hll_merge(users)) AS n FROM hourly"),
        Some(&url),
    ));
    let whole = ok(hazy_sql(
        "SELECT approx_count_distinct(entity) AS n FROM 'data/events.parquet'",
        None,
    ));
    assert_eq!(merged, whole);
}
