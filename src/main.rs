//! The `hazy` command: `hazy sql`, `hazy gen`, and a demo when run with no arguments.

use clap::{Parser, Subcommand};
use hazy::cli::{self, sql::OutputFormat};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "hazy",
    version,
    about = "Probabilistic sketches in SQL (DataFusion)"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run SQL statements with every Hazy function registered (flags as datafusion-cli).
    Sql {
        /// SQL to run (several statements separated by `;`); may be repeated.
        #[arg(short = 'c', long = "command")]
        command: Vec<String>,
        /// A file of SQL statements to run; may be repeated.
        #[arg(short = 'f', long = "file")]
        file: Vec<PathBuf>,
        /// Output format: table, csv, json or ndjson.
        #[arg(long, default_value = "table")]
        format: OutputFormat,
        /// Run on a Ballista cluster: the hazy-scheduler's address, df://HOST:PORT
        /// (needs the `ballista` feature).
        #[arg(long, value_name = "URL")]
        remote: Option<String>,
    },
    /// Run a windowed SQL query over an endless stream of NDJSON or CSV records.
    Stream(Box<cli::stream::StreamArgs>),
    /// Generate the tutorial's synthetic event stream.
    Gen(hazy::generator::GenArgs),
    /// The report over the shipped sample (what `hazy` with no arguments runs).
    Demo {
        /// Events Parquet file (default: data/events.parquet).
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

/// Stack of the thread that plans and of the runtime's workers. Generated SQL with thousands of
/// terms recurses deeply in the SQL parser, the planner and expression evaluation, beyond the
/// places DataFusion's `recursive_protection` grows the stack; 64 MiB of address space per
/// thread (committed only as used) holds a 10,000-term expression with room to spare.
const STACK_BYTES: usize = 64 << 20;

fn main() -> ExitCode {
    match std::thread::Builder::new()
        .name("hazy".into())
        .stack_size(STACK_BYTES)
        .spawn(run)
    {
        Ok(thread) => thread.join().unwrap_or(ExitCode::FAILURE),
        Err(e) => {
            eprintln!("Error: cannot start: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => demo(None),
        Some(Command::Demo { data }) => demo(data),
        Some(Command::Sql {
            command,
            file,
            format,
            remote,
        }) => sql(command, file, format, remote.as_deref()),
        Some(Command::Stream(args)) => cli::stream::run(&args),
        Some(Command::Gen(args)) => hazy::generator::run(&args).map_err(|e| e.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            let line = message.lines().collect::<Vec<_>>().join(" ");
            eprintln!("Error: {line}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(STACK_BYTES)
        .build()
        .map_err(|e| e.to_string())
}

fn sql(
    commands: Vec<String>,
    files: Vec<PathBuf>,
    format: OutputFormat,
    remote: Option<&str>,
) -> Result<(), String> {
    let mut scripts = commands;
    for f in files {
        scripts.push(
            std::fs::read_to_string(&f).map_err(|e| format!("cannot read {}: {e}", f.display()))?,
        );
    }
    if scripts.is_empty() {
        return Err("hazy sql needs -c \"SQL\" or -f FILE".into());
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    runtime()?.block_on(async {
        let ctx = match remote {
            None => cli::session(),
            Some(url) => remote_session(url).await?,
        };
        for script in &scripts {
            cli::sql::run_statements(&ctx, script, format, &mut out)
                .await
                .map_err(|e| match remote {
                    // A refused connection to the scheduler shows up only here, at execution.
                    Some(url) => format!("on the cluster at {url}: {}", e.strip_backtrace()),
                    None => e.strip_backtrace().to_string(),
                })?;
        }
        Ok(())
    })
}

#[cfg(feature = "ballista")]
async fn remote_session(url: &str) -> Result<datafusion::prelude::SessionContext, String> {
    hazy::cluster::remote_context(url)
        .await
        .map_err(|e| format!("cannot use the cluster at {url}: {}", e.strip_backtrace()))
}

#[cfg(not(feature = "ballista"))]
async fn remote_session(url: &str) -> Result<datafusion::prelude::SessionContext, String> {
    Err(format!(
        "--remote {url}: this hazy was built without the `ballista` feature \
         (cargo install --path . --features ballista)"
    ))
}

fn demo(data: Option<PathBuf>) -> Result<(), String> {
    let path = data.unwrap_or_else(cli::demo::default_data);
    let ctx = cli::session();
    let report = runtime()?
        .block_on(cli::demo::report(&ctx, &path))
        .map_err(|e| e.strip_backtrace().to_string())?;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(report.as_bytes());
    Ok(())
}
