//! `hazy sql`: runs SQL statements and prints their results, like datafusion-cli.

use arrow::record_batch::RecordBatch;
use datafusion::common::{DataFusionError, Result};
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::DFParser;
use std::io::Write;
use std::str::FromStr;

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

/// Runs every statement of `sql` in order, printing each query's result to `out`.
pub async fn run_statements(
    ctx: &SessionContext,
    sql: &str,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<()> {
    let statements = DFParser::parse_sql(sql)?;
    for statement in statements {
        let plan = ctx.state().statement_to_plan(statement).await?;
        let df = ctx.execute_logical_plan(plan).await?;
        let schema = df.schema().as_arrow().clone();
        let batches = df.collect().await?;
        if schema.fields().is_empty() {
            continue; // DDL such as CREATE EXTERNAL TABLE prints nothing
        }
        print_batches(&schema, &batches, format, out)?;
    }
    Ok(())
}

/// Runs `sql` and returns the batches of its last statement (for tests and the demo).
pub async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let mut last = Vec::new();
    for statement in DFParser::parse_sql(sql)? {
        let plan = ctx.state().statement_to_plan(statement).await?;
        last = ctx.execute_logical_plan(plan).await?.collect().await?;
    }
    Ok(last)
}

fn io(e: impl std::error::Error + Send + Sync + 'static) -> DataFusionError {
    DataFusionError::External(Box::new(e))
}

/// Prints batches in `format`; an empty result still prints a header (table and csv).
pub fn print_batches(
    schema: &arrow::datatypes::Schema,
    batches: &[RecordBatch],
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<()> {
    let schema = std::sync::Arc::new(schema.clone());
    let batches: Vec<RecordBatch> = if batches.is_empty() {
        vec![RecordBatch::new_empty(schema.clone())]
    } else {
        batches.to_vec()
    };
    match format {
        OutputFormat::Table => {
            let table = arrow::util::pretty::pretty_format_batches(&batches)?;
            writeln!(out, "{table}").map_err(io)?;
        }
        OutputFormat::Csv => {
            let mut w = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            for b in &batches {
                w.write(b)?;
            }
        }
        OutputFormat::Json => {
            let mut w = arrow::json::ArrayWriter::new(&mut *out);
            for b in &batches {
                w.write(b)?;
            }
            w.finish()?;
            writeln!(out).map_err(io)?;
        }
        OutputFormat::NdJson => {
            let mut w = arrow::json::LineDelimitedWriter::new(&mut *out);
            for b in &batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    out.flush().map_err(io)?;
    Ok(())
}
