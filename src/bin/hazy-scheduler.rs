//! `hazy-scheduler`: a Ballista scheduler that knows every Hazy function.

use clap::Parser;
use hazy::cluster::{logging, scheduler};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "hazy-scheduler",
    version,
    about = "Ballista scheduler with every Hazy function registered (clients: hazy sql --remote df://HOST:PORT)"
)]
struct Args {
    /// gRPC port for clients and executors.
    #[arg(short, long, default_value_t = 50050)]
    port: u16,
    /// Host name executors and clients use to reach this scheduler.
    #[arg(long, default_value = "localhost")]
    external_host: String,
    #[command(flatten)]
    process: logging::ProcessFlags,
}

fn main() -> ExitCode {
    let args = Args::parse();
    logging::init(args.process.log_level);
    let options = scheduler::SchedulerOptions {
        bind_host: args.process.bind_host,
        port: args.port,
        external_host: args.external_host,
    };
    hazy::cluster::run_process("hazy-scheduler", scheduler::run(&options))
}
