//! `hazy sql`: runs SQL statements and prints their results as they arrive, like datafusion-cli.
//!
//! Each statement is planned, then executed as a stream: every batch is printed as soon as it
//! comes (see [`super::print`]), with a progress line on stderr for queries that run longer than
//! a second (files and bytes read of the total, rows per second; only on a terminal). Store
//! options in `OPTIONS (...)` of `CREATE EXTERNAL TABLE` and `COPY … TO` open the bucket with
//! them ([`crate::store`]) before DataFusion sees the format options. Errors keep DataFusion's
//! words, with two additions a user needs: a query over `--memory-limit` names the aggregates it
//! ran, and a `COPY … TO` a full disk says so instead of DataFusion's internal-error text.

use std::io::Write;
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result};
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::logical_expr::{DdlStatement, LogicalPlan};
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::{ExecutionPlan, execute_stream};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{DFParser, Statement};
use futures::StreamExt;
use tokio::sync::Notify;

use super::print::Printer;
use crate::progress::{ProgressLine, human_bytes, human_count};
use crate::store::{StoreScheme, build_store, split_store_options};

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    #[default]
    Table,
    Csv,
    Json,
    NdJson,
}

impl FromStr for OutputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Self::Table),
            "csv" => Ok(Self::Csv),
            "json" => Ok(Self::Json),
            "ndjson" => Ok(Self::NdJson),
            other => Err(format!(
                "unknown format '{other}' (expected table, csv, json or ndjson)"
            )),
        }
    }
}

/// How statements run and report.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// How results are printed.
    pub format: OutputFormat,
    /// No progress line.
    pub quiet: bool,
    /// Print "N rows in set. Query took X seconds." after each statement (the shell).
    pub timing: bool,
    /// Notified on Ctrl-C: the running statement stops with [`cancelled`].
    pub interrupt: Option<Arc<Notify>>,
}

impl RunOptions {
    /// Results in `format`, nothing else (scripts and tests).
    pub fn plain(format: OutputFormat) -> Self {
        Self {
            format,
            quiet: true,
            ..Self::default()
        }
    }
}

/// The error of a statement stopped by Ctrl-C.
pub fn cancelled() -> DataFusionError {
    DataFusionError::Execution("query cancelled".into())
}

/// Runs every statement of `sql` in order, printing each query's result to `out`.
pub async fn run_statements(
    ctx: &SessionContext,
    sql: &str,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<()> {
    run_script(ctx, sql, &RunOptions::plain(format), out).await
}

/// Runs every statement of `sql` in order with `options`.
pub async fn run_script(
    ctx: &SessionContext,
    sql: &str,
    options: &RunOptions,
    out: &mut dyn Write,
) -> Result<()> {
    for statement in DFParser::parse_sql(sql)? {
        run_statement(ctx, statement, options, out).await?;
    }
    Ok(())
}

/// Plans and runs one statement, printing its result batch by batch; returns its row count.
pub async fn run_statement(
    ctx: &SessionContext,
    statement: Statement,
    options: &RunOptions,
    out: &mut dyn Write,
) -> Result<usize> {
    let started = Instant::now();
    let plan = ctx.state().statement_to_plan(statement).await?;
    let plan = open_stores(ctx, plan)?;
    let copy_target = match &plan {
        LogicalPlan::Copy(copy) => Some(copy.output_url.clone()),
        _ => None,
    };
    let runtime = ctx.runtime_env();
    let df = ctx.execute_logical_plan(plan).await?;
    if !Arc::ptr_eq(&runtime, &ctx.runtime_env()) {
        // `SET datafusion.runtime.…` gave the session a new memory pool: the aggregates
        // reserve in the pool the session has.
        let pool = ctx.runtime_env().memory_pool.clone();
        for f in crate::udf::aggregate_functions_with_pool(pool) {
            ctx.register_udaf(f);
        }
    }
    let schema = Arc::new(df.schema().as_arrow().clone());
    let physical = df.create_physical_plan().await?;
    let result = stream_to(ctx, &physical, schema, options, out).await;
    let rows = result.map_err(|e| explain(e, &physical, copy_target.as_deref()))?;
    if options.timing {
        writeln!(
            out,
            "{rows} row{} in set. Query took {:.3} seconds.\n",
            if rows == 1 { "" } else { "s" },
            started.elapsed().as_secs_f64()
        )
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    }
    Ok(rows)
}

/// Executes `physical`, printing batches as they come and progress while they do not.
async fn stream_to(
    ctx: &SessionContext,
    physical: &Arc<dyn ExecutionPlan>,
    schema: arrow::datatypes::SchemaRef,
    options: &RunOptions,
    out: &mut dyn Write,
) -> Result<usize> {
    let mut stream = execute_stream(Arc::clone(physical), ctx.task_ctx())?;
    // DDL prints nothing (CREATE EXTERNAL TABLE, SET, …).
    let mut printer = (!schema.fields().is_empty()).then(|| Printer::new(options.format, schema));
    let mut progress = ProgressLine::for_stderr(options.quiet);
    let scan = progress.enabled().then(|| ScanTotals::of(physical));
    let mut tick = tokio::time::interval(crate::progress::INTERVAL);
    let interrupt = options.interrupt.clone().unwrap_or_default();
    let mut rows = 0;
    loop {
        tokio::select! {
            next = stream.next() => match next {
                Some(batch) => {
                    let batch = batch?;
                    rows += batch.num_rows();
                    progress.clear();
                    if let Some(p) = printer.as_mut() {
                        p.write(&batch, out)?;
                    }
                }
                None => break,
            },
            _ = tick.tick(), if scan.is_some() => {
                if let Some(scan) = &scan {
                    progress.update(|elapsed| scan.describe(physical, elapsed));
                }
            }
            _ = interrupt.notified() => {
                progress.clear();
                return Err(cancelled());
            }
        }
    }
    progress.clear();
    if let Some(p) = printer.as_mut() {
        p.finish(out)?;
    }
    Ok(rows)
}

/// The files a plan scans, for the progress line.
struct ScanTotals {
    files: usize,
    bytes: u64,
}

impl ScanTotals {
    fn of(plan: &Arc<dyn ExecutionPlan>) -> Self {
        let mut totals = Self { files: 0, bytes: 0 };
        let _ = plan.apply(|node| {
            if let Some(config) = file_scan(node) {
                for group in &config.file_groups {
                    for file in group.iter() {
                        totals.files += 1;
                        totals.bytes += file.object_meta.size;
                    }
                }
            }
            Ok(TreeNodeRecursion::Continue)
        });
        totals
    }

    /// "2 files, 81.0 MiB of 310.2 MiB read, 12.1 M rows (6.0 M rows/s), 2.0 s".
    fn describe(&self, plan: &Arc<dyn ExecutionPlan>, elapsed: Duration) -> String {
        let rows = rows_read(plan).unwrap_or(0);
        let mut bytes = 0usize;
        let _ = plan.apply(|node| {
            if let Some(metrics) = node.metrics() {
                bytes += metrics
                    .sum_by_name("bytes_scanned")
                    .map_or(0, |m| m.as_usize());
            }
            Ok(TreeNodeRecursion::Continue)
        });
        let secs = elapsed.as_secs_f64();
        let files = match self.files {
            0 => String::new(),
            n => format!(
                "{n} file{}, {} of {} read, ",
                if n == 1 { "" } else { "s" },
                human_bytes(bytes as u64),
                human_bytes(self.bytes)
            ),
        };
        format!(
            "{files}{} rows ({} rows/s), {secs:.1} s",
            human_count(rows as f64),
            human_count(rows as f64 / secs.max(1e-9))
        )
    }
}

/// Rows produced by the lowest operators that count them (the scans, or what reads from a
/// source without metrics such as generate_series).
fn rows_read(node: &Arc<dyn ExecutionPlan>) -> Option<usize> {
    let below: Vec<usize> = node.children().into_iter().filter_map(rows_read).collect();
    if below.is_empty() {
        node.metrics().and_then(|m| m.output_rows())
    } else {
        Some(below.iter().sum())
    }
}

fn file_scan(node: &Arc<dyn ExecutionPlan>) -> Option<&FileScanConfig> {
    node.downcast_ref::<DataSourceExec>()?
        .data_source()
        .downcast_ref::<FileScanConfig>()
}

/// Opens the buckets named with store options (`aws.*`, `gcp.*`, `azure.*`, `http.*`) in
/// `CREATE EXTERNAL TABLE` and `COPY … TO`, and takes those options out of the plan. Buckets
/// without options open from the environment when first read.
fn open_stores(ctx: &SessionContext, plan: LogicalPlan) -> Result<LogicalPlan> {
    match plan {
        LogicalPlan::Ddl(DdlStatement::CreateExternalTable(mut cmd)) => {
            let store = split_store_options(&mut cmd.options);
            for location in &cmd.locations {
                register_store(ctx, location, &store)?;
            }
            Ok(LogicalPlan::Ddl(DdlStatement::CreateExternalTable(cmd)))
        }
        LogicalPlan::Copy(mut copy) => {
            let store = split_store_options(&mut copy.options);
            register_store(ctx, &copy.output_url, &store)?;
            Ok(LogicalPlan::Copy(copy))
        }
        other => Ok(other),
    }
}

fn register_store(
    ctx: &SessionContext,
    location: &str,
    options: &std::collections::HashMap<String, String>,
) -> Result<()> {
    if options.is_empty() {
        return Ok(());
    }
    let url = url::Url::parse(location)
        .ok()
        .filter(|u| StoreScheme::of(u.scheme()).is_some())
        .ok_or_else(|| {
            DataFusionError::Plan(format!(
                "store options ({}) given for '{location}', which is not an s3://, gs://, az:// or http(s):// location",
                options.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
    ctx.register_object_store(&url, build_store(&url, options)?);
    Ok(())
}

/// DataFusion's error, with what a user needs added (see the module docs).
fn explain(
    e: DataFusionError,
    physical: &Arc<dyn ExecutionPlan>,
    copy_target: Option<&str>,
) -> DataFusionError {
    if let DataFusionError::ResourcesExhausted(message) = e.find_root() {
        let aggregates = aggregate_names(physical);
        if !aggregates.is_empty() {
            return DataFusionError::ResourcesExhausted(format!(
                "{message} (the query's aggregates: {}; a larger --memory-limit may let it finish)",
                aggregates.join(", ")
            ));
        }
        return e;
    }
    if let Some(target) = copy_target
        && disk_full(&e, target)
    {
        return DataFusionError::Execution(format!("COPY to {target}: no space left on device"));
    }
    e
}

/// The distinct aggregate functions a plan runs, in plan order.
fn aggregate_names(plan: &Arc<dyn ExecutionPlan>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    let _ = plan.apply(|node| {
        if let Some(aggregate) = node.downcast_ref::<AggregateExec>() {
            for e in aggregate.aggr_expr() {
                let name = e.fun().name().to_string();
                if !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
    names
}

/// Whether a failed COPY ran out of disk: the error says so, or (where DataFusion's writer
/// drops the cause and reports an internal error) the target's file system has no room left.
fn disk_full(e: &DataFusionError, target: &str) -> bool {
    const ENOSPC: i32 = 28;
    let says_so =
        |text: &str| text.contains("No space left on device") || text.contains("os error 28");
    if says_so(&e.to_string()) {
        return true;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && (io.kind() == std::io::ErrorKind::StorageFull || io.raw_os_error() == Some(ENOSPC))
        {
            return true;
        }
        source = s.source();
    }
    matches!(e.find_root(), DataFusionError::Internal(_)) && local_disk_is_full(target)
}

/// Whether the local file system holding `target` is full: writing a probe of 1 MiB beside it
/// fails with "no space left" (DataFusion's writer has already given up its partial file).
fn local_disk_is_full(target: &str) -> bool {
    let path = target.strip_prefix("file://").unwrap_or(target);
    let mut dir = std::path::Path::new(path);
    while !dir.is_dir() {
        match dir.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => dir = parent,
            _ => dir = std::path::Path::new("."),
        }
    }
    let probe = dir.join(format!(".hazy-space-probe-{}", std::process::id()));
    let written = std::fs::File::create(&probe)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &vec![0u8; 1 << 20]));
    let _ = std::fs::remove_file(&probe);
    matches!(written, Err(e) if e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28))
}

/// Runs `sql` and returns the batches of its last statement (for tests and the demo).
pub async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let mut last = Vec::new();
    for statement in DFParser::parse_sql(sql)? {
        let plan = ctx.state().statement_to_plan(statement).await?;
        let plan = open_stores(ctx, plan)?;
        last = ctx.execute_logical_plan(plan).await?.collect().await?;
    }
    Ok(last)
}
