//! The jumpcache router: clients speak RESP to it as to one Redis; it routes every key to a
//! shard by jump consistent hash and keeps pipelining intact end to end.
//!
//! ```text
//! client ─▶ Connection::read_request ─▶ Command::from_request ─▶ session::handle_local ─┐
//!        ┌──────────────────────────────────────────────────────────────────────────────┘
//!        └▶ plan::plan (ring::bucket) ─▶ ShardClient::send ─▶ write_loop ─▶ shard
//! client ◀─ Connection::flush ◀─ handler::write ◀─ merge::merge / info::merge ◀─ Call::wait ◀─ read_loop ◀─ shard
//! ```
//! - single key: the client's request bytes are forwarded unchanged, and for a RESP2 client
//!   the shard's reply bytes come back unchanged: no parse, no re-encode on the hot path.
//! - multi key: split by shard (`plan::Part`), sent in parallel, merged in key order.
//! - cluster-wide (INFO, DBSIZE, FLUSH*, KEYS, RANDOMKEY): every shard, then merged;
//!   SCAN walks the shards in turn with a cursor that carries the shard index.
//!
//! Replies leave in request order even when shards answer out of order (see `handler`).

pub mod config;
mod handler;
mod health;
pub mod info;
mod latency;
pub mod merge;
pub mod plan;
pub mod ring;
pub mod shard;
pub mod stats;
pub mod topology;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use resp::session::ServerConfig;
use resp::{Acceptor, ClientSlots};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

pub use config::Config;
pub use shard::{ShardClient, ShardError, ShardErrorKind};
pub use topology::{ShardId, Topology};

/// How long connections may finish their in-flight requests after shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Serves RESP on `listener` until `shutdown` resolves, then lets connections finish what
/// they are answering for up to two seconds.
///
/// Shard connections are opened in the background; a shard that is down only fails its
/// own keys. Accept errors (out of file descriptors) are logged and retried, never fatal;
/// clients past `maxclients` are refused (see `resp::clients::Acceptor`).
///
/// # Errors
/// `InvalidInput` when `config.validate()` fails; nothing else once serving.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    config
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let timeout = config.shard_timeout();
    let shards = config
        .shards
        .iter()
        .enumerate()
        .map(|(i, addr)| {
            ShardClient::spawn(
                i,
                addr,
                config.shard_connections,
                config.shard_queue,
                timeout,
                config.shard_password.clone(),
            )
        })
        .collect();
    // The router's own counters; its accept loop counts clients in them.
    let stats = Arc::new(resp::stats::Stats::new(true));
    let clients = ClientSlots::new(config.clients.maxclients, stats.clone());
    let router = Arc::new(handler::Router {
        topology: Topology::new(config.shards.clone()),
        shards,
        server_config: ServerConfig {
            maxmemory: config.maxmemory,
            maxmemory_policy: "allkeys-lru".into(),
            requirepass: config.clients.password().cloned(),
        },
        port: listener.local_addr().map_or(0, |a| a.port()),
        limits: config.clients.limits(),
        maxclients: config.clients.maxclients,
        stats: stats.clone(),
        health: (0..config.shards.len())
            .map(|_| Default::default())
            .collect(),
    });
    tracing::info!(addr = ?listener.local_addr().ok(), shards = config.shards.len(), "router listening");

    let (notify, watch_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tasks.spawn(health::run(router.clone(), watch_rx.clone()));
    let mut next_id: u64 = 1;
    let mut acceptor = Acceptor::new(listener, clients);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            (stream, slot) = acceptor.accept() => {
                tasks.spawn(handler::handle(stream, slot, router.clone(), next_id, watch_rx.clone()));
                next_id += 1;
            },
            // Reap finished connections so the set does not grow with every client ever seen.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(acceptor);
    let _ = notify.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
    }
    Ok(())
}
