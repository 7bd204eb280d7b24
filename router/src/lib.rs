//! The jumpcache router: clients speak RESP to it as to one Redis; it routes every key to a
//! shard group by jump consistent hash and keeps pipelining intact end to end.
//!
//! ```text
//! client ─▶ Connection::read_request ─▶ Command::from_request ─▶ session::handle_local ─┐
//!        ┌──────────────────────────────────────────────────────────────────────────────┘
//!        └▶ plan::plan (ring::bucket) ─▶ Group::send_read / send_write ─▶ ShardClient::send ─▶ shard
//! client ◀─ Connection::flush ◀─ handler::write ◀─ merge::merge / info::render ◀─ GroupCall::wait ◀─ shard
//!
//! health::run_checks (PING every member) ─▶ Group::on_check ─▶ sync::run_worker ─▶ member up
//! poll::run (every member's figures, once a second) ─▶ stats (the metrics recorder), CONFIG GET
//! ```
//! - single key: the client's request bytes are forwarded unchanged, and for a RESP2 client
//!   the shard's reply bytes come back unchanged: no parse, no re-encode on the hot path.
//!   A group without replicas goes straight to its one `ShardClient`.
//! - replicated groups: reads to one healthy member (retried on another if it fails), writes
//!   to every member not down, replies compared (see `group`, `call`); returning members are
//!   re-synced before they serve reads (see `sync`).
//! - multi key: split by group (`plan::Part`), sent in parallel, merged in key order.
//! - cluster-wide (INFO, DBSIZE, FLUSH*, KEYS, RANDOMKEY): every group, then merged;
//!   SCAN walks the groups in turn with a cursor that carries the group index.
//! - transactions and scripts (`txn`): EXEC as one `TXN EXEC` on one group or two phases
//!   (`TXN PREPARE`, `TXN COMMIT`) across groups; EVAL on its declared keys' group.
//!
//! Replies leave in request order even when shards answer out of order (see `handler`).

pub mod config;
mod elastic;
pub mod near;
pub mod observe;
pub mod path;
mod replication;
pub mod shards;
mod txn;

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use serve::session::ServerConfig;
use serve::{serve_clients, Acceptor, ClientSlots, Incoming, Listeners, Setting, Shutdown};
use tokio::task::JoinSet;

use elastic::Elastic;
use observe::poll;
use path::busy_poll::BusyPoll;
use path::handler;

pub use config::{Config, ReadPolicy, ShardTls, WritePolicy};
pub use elastic::ShardFactory;
pub use path::topology::{ShardId, Topology};
pub use replication::group::MemberState;
pub use shards::{LocalShard, LocalShards, ShardClient, ShardError, ShardErrorKind};

/// Serves RESP on `listener` until `shutdown` resolves, then lets connections finish what
/// they are answering for up to `--shutdown-grace-ms`.
///
/// Shard connections are opened in the background; a shard that is down only fails its
/// own keys. Accept errors (out of file descriptors) are logged and retried, never fatal;
/// clients past `maxclients` are refused (see `serve::clients::Acceptor`).
///
/// # Errors
/// `InvalidInput` when `config.validate()` fails; nothing else once serving.
pub async fn run(
    listener: impl Into<Listeners>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    run_with_local(listener, config, LocalShards::new(), shutdown).await
}

/// As [`run`], where the shards of `config.shards` found in `local` run in this process
/// (`jumpcache cluster`): the router calls them in its own tasks, without a socket.
///
/// # Errors
/// As [`run`].
pub async fn run_with_local(
    listener: impl Into<Listeners>,
    config: Config,
    local: LocalShards,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    run_elastic(listener, config, local, None, shutdown).await
}

/// As [`run_with_local`], where `factory` starts more in-process shards: `JUMPCACHE RESIZE`
/// grows and shrinks the cluster live (`jumpcache cluster`).
///
/// # Errors
/// As [`run`]; also `InvalidInput` for a `--topology` file that cannot be read or parsed.
pub async fn run_elastic(
    listener: impl Into<Listeners>,
    config: Config,
    local: LocalShards,
    factory: Option<ShardFactory>,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let listener = listener.into();
    let mut config = config;
    // CLIENT TRACKING through the router: its clients' reads, told of the invalidations its
    // shard connections receive, which they do with a near-cache only.
    let tracking = Arc::new(serve::tracking::Hub::keeping_unsettled());
    let registry = Arc::new(serve::registry::ClientRegistry::default());
    if config.near_cache > 0 && config.near.0.is_none() {
        let near = near::NearCache::new(config.near_cache)
            .with_clients(tracking.clone(), registry.clone());
        config.near.0 = Some(Arc::new(near));
        tracking.set_supported();
    }
    let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);
    config.validate().map_err(invalid)?;
    let topology = match &config.topology {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| invalid(format!("--topology {}: {e}", path.display())))?;
            Topology::from_toml(&text)
                .map_err(|e| invalid(format!("--topology {}: {e}", path.display())))?
        }
        None => Topology::parse(&config.shards),
    };
    let all_local = topology
        .groups()
        .iter()
        .flatten()
        .all(|addr| local.contains_key(addr));
    let stop = Shutdown::new();
    // The router's own counters; its accept loop counts clients in them.
    let stats = Arc::new(serve::stats::Stats::new(true));
    let elastic = Elastic::new(
        topology,
        config.clone(),
        local,
        factory,
        config.topology.clone(),
        stats.clone(),
        stop.clone(),
    );
    let clients = ClientSlots::new(config.clients.maxclients, stats.clone());
    let router = Arc::new(handler::Router {
        elastic: elastic.clone(),
        // Until the poll first hears from the shards; then what they report.
        server_config: ServerConfig {
            maxmemory: Setting::new(config.maxmemory),
            maxmemory_policy: Setting::new("allkeys-lru".into()),
            acl: Arc::new(config.clients.acl_or_locked()),
            slowlog: config.clients.slowlog(),
            latency: config.clients.latency_monitor(),
            clients: registry,
            timeout_seconds: Arc::new(std::sync::atomic::AtomicU64::new(config.clients.timeout)),
            slots: Some(clients.clone()),
            store: None,
            snapshots: Arc::new(config.snapshots.clone()),
            tracking,
        },
        port: listener.local_addr().map_or(0, |a| a.port()),
        limits: config.clients.limits(),
        maxclients: config.clients.maxclients,
        stats: stats.clone(),
        // Only over sockets: a router whose shards all run in-process has no shard hop to
        // poll through (measured: no gain at -c 1 in `cluster`, twice the CPU).
        busy_poll: (config.busy_poll_us > 0 && !all_local)
            .then(|| Arc::new(BusyPoll::new(Duration::from_micros(config.busy_poll_us)))),
        scripts: Default::default(),
        near: config.near.0.clone(),
    });
    // Before the first client: the shards' epoch, a resize to resume or to start.
    elastic.start().await;
    let view = elastic.view();
    tracing::info!(addr = ?listener.local_addr().ok(), tls_addr = ?listener.tls_addr(), shards = view.groups.len(), epoch = view.topology.epoch(), "router listening");
    drop(view);

    let mut background = JoinSet::new();
    let (scrape_tx, scrapes) = tokio::sync::mpsc::channel(16);
    background.spawn(poll::run(
        elastic.groups(),
        stats.clone(),
        router.server_config.clone(),
        scrapes,
        {
            let elastic = elastic.clone();
            let near = router.near.clone();
            Box::new(move || {
                elastic::export(&elastic);
                near::export(near.as_deref());
            })
        },
        stop.clone(),
    ));
    let _probe = register_probe(elastic.clone(), scrape_tx);
    if let Some(busy_poll) = &router.busy_poll {
        background.spawn(busy_poll.clone().run(router.clone()));
    }
    if let Some(near) = &router.near {
        // moka evicts (and counts evictions) only when touched or told to: every 200 ms.
        let near = near.clone();
        background.spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                near.run_pending_tasks();
            }
        });
    }
    let acceptor = Acceptor::new(listener, clients);
    let grace = config.clients.shutdown_grace();
    let mut next_id: u64 = 0;
    serve_clients(acceptor, shutdown, &stop, grace, |incoming, slot| {
        next_id += 1;
        let (router, id, stop) = (router.clone(), next_id, stop.clone());
        // Each kind of connection is its own boxed future: a plain connection's task polls
        // the handler's own state machine, compiled (and inlined) as before TLS existed; one
        // future holding both kinds measured ~120 instructions more per request (callgrind).
        let task: serve::ClientTask = match incoming {
            Incoming::Plain(stream) => Box::pin(handler::handle(stream, slot, router, id, stop)),
            Incoming::Tls(stream, tls) => Box::pin(async move {
                if let Some(stream) = tls.accept(stream).await {
                    handler::handle(stream, slot, router, id, stop).await;
                }
            }),
        };
        task
    })
    .await;
    elastic.stop_tasks();
    background.abort_all();
    Ok(())
}

/// Registers the router with the admin port: ready once every group has had a member that
/// answered its health checks and is up, and from then on while any group has one (a
/// group down costs the clients of its keys, not every client: an orchestrator that took
/// every router out of service for one dead group would stop the whole cluster); a scrape
/// waits for a poll of its own.
fn register_probe(
    elastic: Arc<Elastic>,
    scrapes: tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<()>>,
) -> serve::admin::Registration {
    let warmed = std::sync::atomic::AtomicBool::new(false);
    serve::admin::register(serve::admin::Probe {
        ready: Box::new(move || {
            let groups = &elastic.view().groups;
            if groups.iter().all(|g| g.reachable()) {
                warmed.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            warmed.load(std::sync::atomic::Ordering::Relaxed)
                && groups.iter().any(|g| g.reachable())
        }),
        refresh: Box::new(move || {
            let scrapes = scrapes.clone();
            Box::pin(async move {
                let (done, polled) = tokio::sync::oneshot::channel();
                if scrapes.send(done).await.is_ok() {
                    let _ = polled.await;
                }
            })
        }),
    })
}
