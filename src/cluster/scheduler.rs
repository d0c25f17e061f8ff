//! The `hazy-scheduler` process: Ballista's scheduler with every Hazy function registered.

use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::error::BallistaError;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::{SchedulerConfig, TaskDistributionPolicy};
use ballista_scheduler::scheduler_process::{create_scheduler, start_grpc_service_with_listener};
use ballista_scheduler::scheduler_server::SchedulerServer;
use datafusion_proto::protobuf::{LogicalPlanNode, PhysicalPlanNode};
use std::sync::Arc;
use tokio::net::TcpListener;

/// Where the scheduler listens.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// Address to bind.
    pub bind_host: String,
    /// gRPC port (clients use `df://host:port`).
    pub port: u16,
    /// Host name executors and clients use to reach the scheduler.
    pub external_host: String,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            bind_host: "127.0.0.1".into(),
            port: 50050,
            external_host: "localhost".into(),
        }
    }
}

/// Binds `bind_host:port` and serves until the process is stopped.
pub async fn run(options: &SchedulerOptions) -> Result<(), BallistaError> {
    let listener = TcpListener::bind((options.bind_host.as_str(), options.port)).await?;
    let scheduler = Scheduler::new(options, listener.local_addr()?.port()).await?;
    scheduler.serve(listener).await
}

/// A scheduler, created before it serves so its state can be watched (see [`Self::executors`]).
#[derive(Clone)]
pub struct Scheduler {
    server: SchedulerServer<LogicalPlanNode, PhysicalPlanNode>,
}

impl Scheduler {
    /// A scheduler for `options` that will serve on `port`.
    pub async fn new(options: &SchedulerOptions, port: u16) -> Result<Self, BallistaError> {
        let mut config = config(options);
        config.bind_port = port;
        let config = Arc::new(config);
        let cluster = BallistaCluster::new_from_config(&config).await?;
        let server = create_scheduler(cluster, config).await?;
        Ok(Self { server })
    }

    /// Serves gRPC on `listener` until the process stops.
    pub async fn serve(self, listener: TcpListener) -> Result<(), BallistaError> {
        log::info!("hazy-scheduler listening on {}", listener.local_addr()?);
        start_grpc_service_with_listener(listener, self.server).await
    }

    /// Ids of the executors registered so far.
    pub async fn executors(&self) -> Vec<String> {
        let manager = &self.server.state.executor_manager;
        match manager.get_executors_state().await {
            Ok(state) => state.into_iter().map(|(meta, _, _)| meta.id).collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// Ballista's scheduler configuration with Hazy's session builder.
///
/// Tasks go round-robin across executors, so the partial aggregates of a query spread over the
/// whole cluster instead of filling the first executor's slots.
pub fn config(options: &SchedulerOptions) -> SchedulerConfig {
    SchedulerConfig {
        bind_host: options.bind_host.clone(),
        bind_port: options.port,
        external_host: options.external_host.clone(),
        scheduling_policy: TaskSchedulingPolicy::PushStaged,
        task_distribution: TaskDistributionPolicy::RoundRobin,
        ..SchedulerConfig::default()
    }
    .with_override_session_builder(Arc::new(super::session_state))
}
