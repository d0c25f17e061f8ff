//! Reused gRPC connections for shuffle reads.
//!
//! Ballista's executor keeps idle connections to other executors so that a shuffle-heavy query
//! does not open one connection per fetch (and run out of ephemeral ports). Its pool is private
//! to its crate, and Hazy replaces the execution engine to record each task, so this is the same
//! service: idle clients per (host, port, settings), dropped after `idle_timeout`.

use ballista_core::client::BallistaClient;
use ballista_core::client_pool::{BallistaClientPool, PooledClient};
use ballista_core::error::Result;
use ballista_core::extension::BallistaConfigGrpcEndpoint;
use ballista_core::utils::GrpcClientConfig;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

type Key = (String, u16, GrpcClientConfig);
type Idle = HashMap<Key, Vec<(BallistaClient, Instant)>>;

/// Idle shuffle clients, reused most recent first.
#[derive(Clone)]
pub struct ConnectionPool {
    idle: Arc<Mutex<Idle>>,
    idle_timeout: Duration,
}

impl std::fmt::Debug for ConnectionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionPool")
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

impl ConnectionPool {
    /// A pool whose clients are closed after `idle_timeout` unused.
    pub fn new(idle_timeout: Duration) -> Self {
        Self {
            idle: Arc::default(),
            idle_timeout,
        }
    }

    fn lock(idle: &Mutex<Idle>) -> MutexGuard<'_, Idle> {
        // A panic while holding the lock leaves a map of valid clients: keep using it.
        idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Closes the clients idle for longer than the timeout.
    fn evict_expired(&self, idle: &mut Idle) {
        let deadline = Instant::now().checked_sub(self.idle_timeout);
        idle.retain(|_, clients| {
            clients.retain(|(_, since)| deadline.is_none_or(|d| *since >= d));
            !clients.is_empty()
        });
    }

    fn take_idle(&self, key: &Key) -> Option<BallistaClient> {
        let mut idle = Self::lock(&self.idle);
        self.evict_expired(&mut idle);
        idle.get_mut(key)
            .and_then(|clients| clients.pop())
            .map(|(c, _)| c)
    }
}

#[async_trait::async_trait]
impl BallistaClientPool for ConnectionPool {
    async fn acquire(
        &self,
        host: &str,
        port: u16,
        config: &GrpcClientConfig,
        customize_endpoint: Option<Arc<BallistaConfigGrpcEndpoint>>,
    ) -> Result<PooledClient> {
        let key = (host.to_string(), port, config.clone());
        let client = match self.take_idle(&key) {
            Some(client) => client,
            None => {
                BallistaClient::try_new(
                    host,
                    port,
                    config.max_message_size,
                    config.use_tls,
                    customize_endpoint,
                    config.io_retries_times,
                    config.io_retry_wait_time_ms,
                    config.initial_connection_window_size,
                    config.initial_stream_window_size,
                )
                .await?
            }
        };
        let idle = Arc::clone(&self.idle);
        Ok(PooledClient::new(
            client,
            Box::new(move |client| {
                Self::lock(&idle)
                    .entry(key)
                    .or_default()
                    .push((client, Instant::now()));
            }),
        ))
    }

    async fn evict_idle(&self) {
        self.evict_expired(&mut Self::lock(&self.idle));
    }
}
