//! `hazy-executor`: a Ballista executor that knows every Hazy function.

use clap::Parser;
use hazy::cluster::{executor, logging};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "hazy-executor",
    version,
    about = "Ballista executor with every Hazy function registered; logs the sketch-state bytes each task shuffles"
)]
struct Args {
    /// Scheduler host.
    #[arg(long, default_value = "localhost")]
    scheduler_host: String,
    /// Scheduler gRPC port.
    #[arg(long, default_value_t = 50050)]
    scheduler_port: u16,
    /// Host name the scheduler and other executors use to reach this executor
    /// (default: the address the scheduler sees it connect from).
    #[arg(long)]
    external_host: Option<String>,
    /// Arrow Flight port (shuffle reads); give each executor on a host its own.
    #[arg(short, long, default_value_t = 50051)]
    port: u16,
    /// gRPC port for tasks the scheduler pushes; give each executor on a host its own.
    #[arg(long, default_value_t = 50052)]
    grpc_port: u16,
    /// Tasks run at once (0: every core).
    #[arg(short = 'c', long, default_value_t = 0)]
    concurrent_tasks: usize,
    /// Directory for shuffle files (default: a temporary directory).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Executor id (default: a random one).
    #[arg(long)]
    id: Option<String>,
    /// One memory pool for every task of this executor, which Hazy's aggregates reserve in
    /// too (in place of Ballista's pool per task).
    #[command(flatten)]
    memory: hazy::cli::MemoryArgs,
    #[command(flatten)]
    process: logging::ProcessFlags,
}

fn main() -> ExitCode {
    let args = Args::parse();
    logging::init(args.process.log_level);
    let defaults = executor::ExecutorOptions::default();
    let options = executor::ExecutorOptions {
        id: args.id.unwrap_or(defaults.id),
        bind_host: args.process.bind_host,
        external_host: args.external_host,
        flight_port: args.port,
        grpc_port: args.grpc_port,
        scheduler_host: args.scheduler_host,
        scheduler_port: args.scheduler_port,
        concurrent_tasks: args.concurrent_tasks,
        work_dir: args.work_dir,
        memory_limit: args.memory.limit(),
    };
    hazy::cluster::run_process("hazy-executor", executor::run(&options, None))
}
