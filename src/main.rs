//! The `hazy` command: `hazy sql`, `hazy gen`, and a demo when run with no arguments.

use clap::{Parser, Subcommand};
use hazy::cli::spill::SpillDir;
use hazy::cli::sql::{OutputFormat, RunOptions};
use hazy::cli::{self, SessionOptions};
use hazy::pipe::PipeWatch;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use tokio::sync::Notify;

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

#[derive(clap::Args)]
struct SqlArgs {
    /// SQL to run (several statements separated by `;`); may be repeated.
    #[arg(short = 'c', long = "command")]
    command: Vec<String>,
    /// A file of SQL statements to run; may be repeated.
    #[arg(short = 'f', long = "file")]
    file: Vec<PathBuf>,
    /// Output format: table, csv, json or ndjson. In csv, lists and structs are JSON text and
    /// binaries lowercase hex; in json and ndjson, binaries are hex strings and ±infinity and
    /// NaN the strings "inf", "-inf" and "NaN".
    #[arg(long, default_value = "table")]
    format: OutputFormat,
    #[command(flatten)]
    memory: cli::MemoryArgs,
    /// No progress line on stderr (shown only on a terminal, for queries over a second).
    #[arg(long, short)]
    quiet: bool,
    /// Run on a Ballista cluster: the hazy-scheduler's address, df://HOST:PORT
    /// (needs the `ballista` feature).
    #[arg(long, value_name = "URL")]
    remote: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run SQL statements with every Hazy function registered (flags as datafusion-cli).
    ///
    /// Without -c or -f: an interactive shell on a terminal (\? lists its commands), else the
    /// statements on standard input.
    Sql(SqlArgs),
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
        Some(Command::Sql(args)) => sql(args),
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

fn sql(args: SqlArgs) -> Result<(), String> {
    let mut scripts = args.command;
    for f in args.file {
        scripts.push(
            std::fs::read_to_string(&f).map_err(|e| format!("cannot read {}: {e}", f.display()))?,
        );
    }
    let interactive = scripts.is_empty() && cli::shell::stdin_is_terminal();
    let spill = Arc::new(SpillDir::create().map_err(|e| e.to_string())?);
    let runtime = runtime()?;
    let interrupt = Arc::new(Notify::new());
    on_signals(
        &runtime,
        Arc::clone(&spill),
        interactive.then(|| Arc::clone(&interrupt)),
    );
    let options = RunOptions {
        format: args.format,
        quiet: args.quiet,
        timing: interactive,
        interrupt: Some(interrupt),
    };
    let session = SessionOptions {
        memory_limit: args.memory.limit(),
        spill_dir: Some(spill.path().to_path_buf()),
    };
    let remote = args.remote.as_deref();
    let ctx = runtime.block_on(async {
        match remote {
            None => cli::session_with(&session).map_err(|e| e.strip_backtrace().to_string()),
            Some(url) => remote_session(url).await,
        }
    })?;
    let mut out = PipeWatch::new(std::io::stdout().lock());
    let result = if interactive {
        cli::shell::interactive(&runtime, &ctx, &options, &mut out)
    } else if scripts.is_empty() {
        let mut input = std::io::stdin().lock();
        cli::shell::from_reader(&runtime, &ctx, &mut input, &options, &mut out)
            .map_err(|e| on_cluster(remote, e))
    } else {
        scripts.iter().try_for_each(|script| {
            runtime
                .block_on(cli::sql::run_script(&ctx, script, &options, &mut out))
                .map_err(|e| on_cluster(remote, e))
        })
    };
    match result {
        // The reader of the output went away (`hazy sql … | head`): a normal end.
        Err(_) if out.closed() => Ok(()),
        other => other,
    }
}

fn on_cluster(remote: Option<&str>, e: datafusion::common::DataFusionError) -> String {
    match remote {
        // A refused connection to the scheduler shows up only here, at execution.
        Some(url) => format!("on the cluster at {url}: {}", e.strip_backtrace()),
        None => e.strip_backtrace().to_string(),
    }
}

/// SIGTERM, and SIGINT outside the shell: remove the spill directory and exit as killed by the
/// signal (128 + its number). In the shell, SIGINT (Ctrl-C) cancels the running query instead.
fn on_signals(runtime: &tokio::runtime::Runtime, spill: Arc<SpillDir>, shell: Option<Arc<Notify>>) {
    use tokio::signal::unix::{SignalKind, signal};
    runtime.spawn(async move {
        let mut term = signal(SignalKind::terminate()).ok();
        loop {
            let terminated = async {
                match term.as_mut() {
                    Some(t) => t.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => match &shell {
                    Some(cancel) => cancel.notify_waiters(),
                    None => {
                        spill.remove();
                        std::process::exit(130);
                    }
                },
                _ = terminated => {
                    spill.remove();
                    std::process::exit(143);
                }
            }
        }
    });
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
