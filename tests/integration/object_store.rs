//! Buckets as tables and `COPY` targets, against a real S3-protocol server on 127.0.0.1 (see
//! `common::S3Server`): configured from the environment as a user would, or per table with
//! `OPTIONS (...)`.

use crate::common::S3Server;
use std::process::{Command, Output};

fn hazy_sql(env: &[(&str, String)], sql: &str) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hazy"));
    command
        .args(["sql", "--format", "csv", "-c", sql])
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    for key in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_ENDPOINT",
        "AWS_ALLOW_HTTP",
    ] {
        command.env_remove(key);
    }
    command.envs(env.iter().map(|(k, v)| (*k, v)));
    command.output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn states_are_written_to_a_bucket_and_merged_from_it() {
    let Some(s3) = S3Server::start("states_are_written_to_a_bucket_and_merged_from_it") else {
        return;
    };
    s3.create_bucket("hazy-states");
    let env = s3.env();
    // Hourly states of two halves of the events, written with COPY to the bucket.
    for (i, half) in ["entity < 'entity_5'", "entity >= 'entity_5'"]
        .iter()
        .enumerate()
    {
        ok(&hazy_sql(
            &env,
            &format!(
                "COPY (SELECT date_trunc('hour', ts) AS hour, hll_sketch(entity) AS users, \
                 cms_sketch(event_type) AS events, kll_sketch(value) AS amounts \
                 FROM 'data/events.parquet' WHERE {half} GROUP BY 1) \
                 TO 's3://hazy-states/hourly/part-{i}.parquet' STORED AS PARQUET"
            ),
        ));
    }
    // The bucket as a table name, configured from the environment.
    let merged = ok(&hazy_sql(
        &env,
        "SELECT hll_estimate(hll_merge(users)) AS users, cms_estimate(cms_merge(events), 'click') AS clicks \
         FROM 's3://hazy-states/hourly/'",
    ));
    let whole = ok(&hazy_sql(
        &[],
        "SELECT approx_count_distinct(entity) AS users, cms_estimate(cms_sketch(event_type), 'click') AS clicks \
         FROM 'data/events.parquet'",
    ));
    assert_eq!(merged, whole, "merged states from the bucket = one pass");

    // The same bucket configured only by OPTIONS (no AWS_* variables at all).
    let options = format!(
        "OPTIONS ('aws.access_key_id' 'hazy', 'aws.secret_access_key' 'hazy-secret', \
         'aws.region' 'us-east-1', 'aws.endpoint' '{}', 'aws.allow_http' 'true')",
        s3.endpoint
    );
    let by_options = ok(&hazy_sql(
        &[],
        &format!(
            "CREATE EXTERNAL TABLE hourly STORED AS PARQUET LOCATION 's3://hazy-states/hourly/' {options}; \
             SELECT hll_estimate(hll_merge(users)) AS users, cms_estimate(cms_merge(events), 'click') AS clicks FROM hourly"
        ),
    ));
    assert_eq!(by_options, whole);
    // COPY with OPTIONS, then read back with the environment.
    ok(&hazy_sql(
        &[],
        &format!(
            "COPY (SELECT 1 AS x) TO 's3://hazy-states/total.parquet' STORED AS PARQUET {options}"
        ),
    ));
    let back = ok(&hazy_sql(
        &env,
        "SELECT count(*) AS n FROM 's3://hazy-states/total.parquet'",
    ));
    assert_eq!(back, "n\n1\n");

    // Clear errors: a bucket that does not exist, an option of another store, a local path
    // given store options.
    let missing = hazy_sql(&env, "SELECT count(*) FROM 's3://no-such-bucket/x.parquet'");
    assert!(!missing.status.success());
    let foreign = hazy_sql(
        &env,
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 's3://hazy-states/hourly/' OPTIONS ('gcp.service_account_path' 'x')",
    );
    let err = String::from_utf8_lossy(&foreign.stderr);
    assert!(err.contains("is for another store"), "{err}");
    let local = hazy_sql(
        &env,
        "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION 'data/events.parquet' OPTIONS ('aws.region' 'x')",
    );
    let err = String::from_utf8_lossy(&local.stderr);
    assert!(err.contains("not an s3://"), "{err}");
}
