//! Integration test harness: shards, clusters and a reference redis-server, all on
//! loopback ports chosen by the OS, driven only through sockets.
//!
//! Every handle stops what it started when dropped. Nothing here sleeps to wait for
//! readiness: a listener is bound before its server task starts, and redis-server is
//! ready when it prints so.

mod process;
mod reference;
pub mod tls;
mod wire;

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use process::{free_port, start_logged, ShardProcess};
pub use reference::{RawUnixClient, RedisServer};
pub use wire::{read_reply, read_to_end, reply_len, request, send_raw, RawClient};

/// How long any single test step may take before the test fails instead of hanging.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `step` and returns its output, or panics when it takes longer than [`STEP_TIMEOUT`]:
/// a hang fails the test instead of stalling the run.
pub async fn within<T>(step: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(STEP_TIMEOUT, step)
        .await
        .expect("the step finished within STEP_TIMEOUT")
}

/// A shard running in this process.
pub struct ShardHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Starts a shard with default settings on 127.0.0.1:0.
pub async fn spawn_shard() -> ShardHandle {
    spawn_shard_with(server::Config::default()).await
}

/// Starts a shard with `config` on 127.0.0.1:0; returns once its snapshot file (if it has
/// `rdb` settings and a file) is loaded.
pub async fn spawn_shard_with(config: server::Config) -> ShardHandle {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let (shard, state) = start_shard(listener, config);
    within(state.persistence.wait_load_over()).await;
    shard
}

/// Starts a shard with `config` on 127.0.0.1:0 without waiting for its snapshot to load:
/// data commands answer `-LOADING` until it is in. Returns the state too.
pub async fn spawn_shard_loading(
    config: server::Config,
) -> (ShardHandle, std::sync::Arc<server::ShardState>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    start_shard(listener, config)
}

/// The environment variable that puts every shard the harness starts on another store
/// backend (`compact` or `moka`): the integration and differential tests run once per backend
/// (.ci/run) without a copy of each test.
pub const STORE_ENV: &str = "JUMPCACHE_TEST_STORE";

/// Returns `config` on the backend [`STORE_ENV`] names, if it is set.
///
/// # Panics
/// When it names no backend.
pub fn on_test_store(mut config: server::Config) -> server::Config {
    if let Ok(name) = std::env::var(STORE_ENV) {
        config.store = match name.as_str() {
            "compact" => server::StoreBackend::Compact,
            "moka" => server::StoreBackend::Moka,
            _ => panic!("{STORE_ENV}={name}: not a store backend"),
        };
    }
    config
}

fn start_shard(
    listener: TcpListener,
    config: server::Config,
) -> (ShardHandle, std::sync::Arc<server::ShardState>) {
    let config = on_test_store(config);
    config.validate().expect("a valid shard config");
    let port = listener.local_addr().expect("local addr").port();
    let state = server::ShardState::new(config, port);
    (serve_shard(listener, state.clone()), state)
}

/// Starts a shard serving `state` on 127.0.0.1:0 (the state a router may also call in-process).
async fn spawn_shard_state(state: std::sync::Arc<server::ShardState>) -> ShardHandle {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    serve_shard(listener, state)
}

fn serve_shard(listener: TcpListener, state: std::sync::Arc<server::ShardState>) -> ShardHandle {
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server::serve(listener, state, async {
            let _ = rx.await;
        })
        .await
        .expect("shard runs");
    });
    ShardHandle {
        addr,
        stop: Some(tx),
        task: Some(task),
    }
}

impl ShardHandle {
    /// Returns the shard's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns a connected redis-rs client.
    pub async fn client(&self) -> redis::aio::MultiplexedConnection {
        client_for(self.addr).await
    }

    /// Returns a raw socket client.
    pub async fn raw(&self) -> RawClient {
        RawClient::connect(self.addr).await
    }

    /// Stops the shard and waits until it has released its port and connections.
    pub async fn stop(mut self) {
        self.shutdown().await;
    }

    async fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(STEP_TIMEOUT, task).await;
        }
    }
}

impl Drop for ShardHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// Returns a redis-rs multiplexed connection to `addr`.
///
/// Replies may take up to [`STEP_TIMEOUT`]: redis-rs's default of 500 ms is too short for
/// a 10,000-command pipeline through a debug build on a loaded machine.
pub async fn client_for(addr: SocketAddr) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(format!("redis://{addr}/")).expect("client url");
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(STEP_TIMEOUT))
        .set_response_timeout(Some(STEP_TIMEOUT));
    tokio::time::timeout(
        STEP_TIMEOUT,
        client.get_multiplexed_async_connection_with_config(&config),
    )
    .await
    .expect("connect in time")
    .expect("connect")
}

/// A router running in this process.
pub struct RouterHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// Starts a router over `shards` (in bucket order) on 127.0.0.1:0.
pub async fn spawn_router(config: router::Config) -> RouterHandle {
    spawn_router_with_local(config, router::LocalShards::new()).await
}

/// As [`spawn_router`], calling the shards found in `local` in-process.
pub async fn spawn_router_with_local(
    config: router::Config,
    local: router::LocalShards,
) -> RouterHandle {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        router::run_with_local(listener, config, local, async {
            let _ = rx.await;
        })
        .await
        .expect("router runs");
    });
    RouterHandle {
        addr,
        stop: Some(tx),
        task: Some(task),
    }
}

impl RouterHandle {
    /// Returns the router's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the router and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(STEP_TIMEOUT, task).await;
        }
    }
}

impl Drop for RouterHandle {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// A router over N in-process shards.
pub struct Cluster {
    router: RouterHandle,
    shards: Vec<Option<ShardHandle>>,
    shard_addrs: Vec<SocketAddr>,
    shard_config: server::Config,
}

/// Starts `n` shards with default settings and a router over them.
pub async fn spawn_cluster(n: usize) -> Cluster {
    spawn_cluster_with(n, server::Config::default(), router::Config::default()).await
}

/// Starts `n` shards with `shard_config` and a router with `router_config` (its shard list
/// is filled in).
pub async fn spawn_cluster_with(
    n: usize,
    shard_config: server::Config,
    mut router_config: router::Config,
) -> Cluster {
    let mut shards = Vec::new();
    for _ in 0..n {
        shards.push(spawn_shard_with(shard_config.clone()).await);
    }
    let shard_addrs: Vec<SocketAddr> = shards.iter().map(ShardHandle::addr).collect();
    router_config.shards = shard_addrs.iter().map(ToString::to_string).collect();
    let router = spawn_router(router_config).await;
    Cluster {
        router,
        shards: shards.into_iter().map(Some).collect(),
        shard_addrs,
        shard_config,
    }
}

/// Starts `n` shards and a router that calls them in-process, as `jumpcache cluster` does;
/// each shard also listens, for tests that reach a shard directly.
pub async fn spawn_embedded_cluster_with(
    n: usize,
    shard_config: server::Config,
    mut router_config: router::Config,
) -> Cluster {
    let mut shards = Vec::new();
    let mut local = router::LocalShards::new();
    for _ in 0..n {
        let state = server::ShardState::new(on_test_store(shard_config.clone()), 0);
        let shard = spawn_shard_state(state.clone()).await;
        local.insert(
            shard.addr().to_string(),
            std::sync::Arc::new(server::Embedded::new(state)),
        );
        shards.push(shard);
    }
    let shard_addrs: Vec<SocketAddr> = shards.iter().map(ShardHandle::addr).collect();
    router_config.shards = shard_addrs.iter().map(ToString::to_string).collect();
    let router = spawn_router_with_local(router_config, local).await;
    Cluster {
        router,
        shards: shards.into_iter().map(Some).collect(),
        shard_addrs,
        shard_config,
    }
}

impl Cluster {
    /// Stops the router, then every shard, waiting until each has released its port and
    /// connections.
    pub async fn stop(self) {
        self.router.stop().await;
        for shard in self.shards.into_iter().flatten() {
            shard.stop().await;
        }
    }

    /// Returns the router's address.
    pub fn addr(&self) -> SocketAddr {
        self.router.addr()
    }

    /// Returns a redis-rs client connected to the router.
    pub async fn client(&self) -> redis::aio::MultiplexedConnection {
        client_for(self.addr()).await
    }

    /// Returns a raw socket client connected to the router.
    pub async fn raw(&self) -> RawClient {
        RawClient::connect(self.addr()).await
    }

    /// Returns the shards' addresses, in bucket order.
    pub fn shard_addrs(&self) -> &[SocketAddr] {
        &self.shard_addrs
    }

    /// Returns the bucket of `key` among this cluster's shards.
    pub fn bucket_of(&self, key: &[u8]) -> usize {
        router::path::ring::bucket(key, self.shard_addrs.len())
    }

    /// Returns `n` distinct keys, each on a different shard when there are enough shards
    /// (key i lives on shard i % shards).
    pub fn keys_on_distinct_shards(&self, n: usize) -> Vec<String> {
        let shards = self.shard_addrs.len();
        let mut keys = Vec::new();
        let mut candidate = 0u64;
        while keys.len() < n {
            let key = format!("key:{candidate}");
            candidate += 1;
            if self.bucket_of(key.as_bytes()) == keys.len() % shards {
                keys.push(key);
            }
        }
        keys
    }

    /// Stops shard `i` and waits until its port and connections are released.
    pub async fn stop_shard(&mut self, i: usize) {
        if let Some(shard) = self.shards[i].take() {
            shard.stop().await;
        }
    }

    /// Starts shard `i` again, empty, on the same port.
    pub async fn restart_shard(&mut self, i: usize) {
        self.stop_shard(i).await;
        let listener = TcpListener::bind(self.shard_addrs[i])
            .await
            .expect("rebind the shard's port");
        let (shard, state) = start_shard(listener, self.shard_config.clone());
        within(state.persistence.wait_load_over()).await;
        self.shards[i] = Some(shard);
    }
}

/// What a test runs against: one shard, or a router over three shards. Tests of client
/// behaviour (bad input, limits, AUTH) run against both, since both must behave as Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// One in-process shard.
    Shard,
    /// An in-process router over three in-process shards.
    Cluster,
    /// A router calling three shards in-process, without sockets (`jumpcache cluster`).
    Embedded,
}

/// A running [`Target`].
#[allow(clippy::large_enum_variant)] // reason: one per test, never moved in a loop; a shard's config is what is large
pub enum Server {
    /// See [`Target::Shard`].
    Shard(ShardHandle),
    /// See [`Target::Cluster`] and [`Target::Embedded`].
    Cluster(Cluster),
}

/// Starts `target` with default settings.
pub async fn spawn(target: Target) -> Server {
    spawn_with(target, serve::ClientConfig::default()).await
}

/// Starts `target` with `clients` as the client-facing limits and password of what clients
/// connect to: the shard, or the router (its shards keep the defaults).
pub async fn spawn_with(target: Target, clients: serve::ClientConfig) -> Server {
    match target {
        Target::Shard => Server::Shard(
            spawn_shard_with(server::Config {
                clients,
                ..server::Config::default()
            })
            .await,
        ),
        Target::Cluster => Server::Cluster(
            spawn_cluster_with(
                3,
                server::Config::default(),
                router::Config {
                    clients,
                    ..router::Config::default()
                },
            )
            .await,
        ),
        Target::Embedded => Server::Cluster(
            spawn_embedded_cluster_with(
                3,
                server::Config::default(),
                router::Config {
                    clients,
                    ..router::Config::default()
                },
            )
            .await,
        ),
    }
}

impl Server {
    /// Stops it and waits until it has released its ports and connections (dropping it
    /// only asks it to stop).
    pub async fn stop(self) {
        match self {
            Server::Shard(s) => s.stop().await,
            Server::Cluster(c) => c.stop().await,
        }
    }

    /// Returns the address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        match self {
            Server::Shard(s) => s.addr(),
            Server::Cluster(c) => c.addr(),
        }
    }

    /// Returns a connected redis-rs client.
    pub async fn client(&self) -> redis::aio::MultiplexedConnection {
        client_for(self.addr()).await
    }

    /// Returns a raw socket client.
    pub async fn raw(&self) -> RawClient {
        RawClient::connect(self.addr()).await
    }

    /// Returns an `INFO` field as the server reports it, read on a fresh connection
    /// (which itself counts in `connected_clients`).
    pub async fn info_field(&self, name: &str) -> String {
        let mut raw = self.raw().await;
        let reply = raw.call(&[b"INFO"]).await;
        let text = String::from_utf8_lossy(&reply).into_owned();
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("INFO has no {name}: {text}"))
            .trim()
            .to_string()
    }

    /// Waits (polling every 10 ms, up to [`STEP_TIMEOUT`]) until `connected_clients` is `n`,
    /// not counting the connection that asks.
    pub async fn wait_for_clients(&self, n: usize) {
        let want = (n + 1).to_string();
        within(async {
            loop {
                if self.info_field("connected_clients").await == want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
    }
}

/// Runs an async test body against a shard, a cluster over sockets, and a cluster that
/// calls its shards in-process.
#[macro_export]
macro_rules! on_shard_and_cluster {
    ($(async fn $name:ident($target:ident: Target) $body:block)*) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;
                async fn run($target: $crate::Target) $body
                #[tokio::test]
                async fn shard() {
                    run($crate::Target::Shard).await
                }
                #[tokio::test]
                async fn cluster() {
                    run($crate::Target::Cluster).await
                }
                #[tokio::test]
                async fn embedded() {
                    run($crate::Target::Embedded).await
                }
            }
        )*
    };
}
