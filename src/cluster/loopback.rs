//! A whole cluster inside one process on 127.0.0.1: a scheduler and N executors, each with its
//! own ports and shuffle directory, exactly as the binaries run them. For tests, benchmarks and
//! trying a query on "a cluster" without deploying one.

use super::executor::{self, ExecutorOptions, StageLog};
use super::scheduler::{Scheduler, SchedulerOptions};
use ballista_core::error::BallistaError;
use datafusion::common::Result;
use datafusion::prelude::SessionContext;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;

/// How long [`LoopbackCluster::start`] waits for every executor to register.
const REGISTRATION_TIMEOUT: Duration = Duration::from_secs(60);

/// A scheduler and executors running as tasks of the current Tokio runtime; they stop with it.
pub struct LoopbackCluster {
    /// `df://127.0.0.1:PORT`, for [`super::remote_context`] or `hazy sql --remote`.
    pub url: String,
    /// Every task the executors ran, with the bytes each wrote to the shuffle.
    pub log: Arc<StageLog>,
    executors: Vec<String>,
    work_dir: PathBuf,
}

impl LoopbackCluster {
    /// Starts a scheduler and `executors` executors (named `executor-1`, …), each running up to
    /// `concurrent_tasks` tasks at once, and returns once all of them have registered.
    pub async fn start(executors: usize, concurrent_tasks: usize) -> Result<Self, BallistaError> {
        let work_dir = std::env::temp_dir().join(format!(
            "hazy-cluster-{}-{}",
            std::process::id(),
            ballista_core::ids::new_instance_id()
        ));
        std::fs::create_dir_all(&work_dir)?;

        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let scheduler_port = listener.local_addr()?.port();
        let options = SchedulerOptions {
            external_host: "127.0.0.1".into(),
            ..SchedulerOptions::default()
        };
        let scheduler = Scheduler::new(&options, scheduler_port).await?;
        let serving = scheduler.clone();
        tokio::spawn(async move {
            if let Err(e) = serving.serve(listener).await {
                log::error!("loopback scheduler stopped: {e}");
            }
        });

        let log = Arc::new(StageLog::default());
        let mut ids = Vec::new();
        for n in 1..=executors {
            let options = ExecutorOptions {
                id: format!("executor-{n}"),
                flight_port: free_port()?,
                grpc_port: free_port()?,
                scheduler_host: "127.0.0.1".into(),
                scheduler_port,
                concurrent_tasks,
                work_dir: Some(work_dir.join(format!("executor-{n}"))),
                ..ExecutorOptions::default()
            };
            std::fs::create_dir_all(options.work_dir.as_ref().expect("set above"))?;
            ids.push(options.id.clone());
            let log = log.clone();
            tokio::spawn(async move {
                if let Err(e) = executor::run(&options, Some(log)).await {
                    log::error!("loopback executor {} stopped: {e}", options.id);
                }
            });
        }
        wait_for_registrations(&scheduler, executors).await?;
        Ok(Self {
            url: format!("df://127.0.0.1:{scheduler_port}"),
            log,
            executors: ids,
            work_dir,
        })
    }

    /// A client session on this cluster with every Hazy function.
    pub async fn context(&self) -> Result<SessionContext> {
        super::remote_context(&self.url).await
    }

    /// The executors' ids.
    pub fn executors(&self) -> &[String] {
        &self.executors
    }
}

impl Drop for LoopbackCluster {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.work_dir);
    }
}

async fn wait_for_registrations(
    scheduler: &Scheduler,
    expected: usize,
) -> Result<(), BallistaError> {
    let start = Instant::now();
    loop {
        let registered = scheduler.executors().await.len();
        if registered >= expected {
            return Ok(());
        }
        if start.elapsed() > REGISTRATION_TIMEOUT {
            return Err(BallistaError::General(format!(
                "only {registered} of {expected} loopback executors registered within {} s",
                REGISTRATION_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A port free right now (the executor binds it a moment later; a clash fails its start loudly).
fn free_port() -> Result<u16, BallistaError> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
