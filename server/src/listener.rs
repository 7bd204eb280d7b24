//! Accepts connections and runs the shard until shutdown.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use serve::{serve_clients, Acceptor, Incoming, Listeners, Shutdown};
use tokio::task::JoinSet;

use crate::config::Config;
use crate::handler;
use crate::state::ShardState;

/// Serves RESP on `listener` until `shutdown` resolves, then lets connections finish for up
/// to `--shutdown-grace-ms`.
///
/// Cancel-safe in the sense that dropping the future stops accepting and drops every
/// connection task.
///
/// # Errors
/// An invalid `config`, or the listener's address cannot be read.
pub async fn run(
    listener: impl Into<Listeners>,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    config
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let listeners = listener.into();
    let port = listeners.local_addr()?.port();
    serve(listeners, ShardState::new(config, port), shutdown).await
}

/// Serves an existing shard state (tests inject a manual clock this way).
///
/// # Errors
/// The snapshot file cannot be loaded (under `--rdb-corrupt fail`).
pub async fn serve(
    listener: impl Into<Listeners>,
    shard: Arc<ShardState>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let stop = Shutdown::new();
    // The snapshot (--dir/--dbfilename) loads in a thread of its own while clients connect:
    // until it is in, data commands answer -LOADING (as Redis), INFO says `loading:1` and
    // `/readyz` is not ready. A file that cannot be loaded (`--rdb-corrupt fail`) stops
    // the shard with its error.
    let (failed_tx, mut failed) = tokio::sync::oneshot::channel::<String>();
    if shard.persistence.claim_load() {
        let loader = shard.clone();
        let load =
            tokio::task::spawn_blocking(move || loader.persistence.load_claimed(&loader.store));
        tokio::spawn(async move {
            let result = load.await.map_err(|e| e.to_string()).and_then(|r| r);
            if let Err(e) = result {
                let _ = failed_tx.send(e);
            }
        });
    }
    // Ready once the snapshot is loaded; `/metrics` copies the counters at each scrape.
    let _probe = shard.config.export_metrics.then(|| {
        let exported = shard.clone();
        let persistence = shard.persistence.clone();
        serve::admin::register(serve::admin::Probe {
            ready: Box::new(move || !persistence.is_loading()),
            refresh: Box::new(move || {
                crate::stats::export(&exported);
                Box::pin(async {})
            }),
        })
    });
    // In a set, so that dropping this future drops the task too.
    let mut background = JoinSet::new();
    background.spawn(maintenance(shard.clone(), stop.clone()));
    // maxclients, and EMFILE backoff: see `serve::clients::Acceptor`.
    let acceptor = Acceptor::new(listener, shard.clients.clone());
    let grace = shard.config.clients.shutdown_grace();
    let mut load_error = None;
    let shutdown = async {
        tokio::select! {
            () = shutdown => {}
            Ok(e) = &mut failed => load_error = Some(e),
        }
    };
    serve_clients(acceptor, shutdown, &stop, grace, |incoming, slot| {
        let (shard, stop) = (shard.clone(), stop.clone());
        // Each kind of connection is its own boxed future (see router::run_elastic).
        let task: serve::ClientTask = match incoming {
            Incoming::Plain(socket) => Box::pin(handler::handle(socket, slot, shard, stop)),
            Incoming::Tls(socket, tls) => Box::pin(async move {
                if let Some(socket) = tls.accept(socket).await {
                    handler::handle(socket, slot, shard, stop).await;
                }
            }),
        };
        task
    })
    .await;
    // The maintenance task returns as soon as `stop` is triggered.
    while background.join_next().await.is_some() {}
    if let Some(e) = load_error {
        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
    }
    // As Redis: with `--save` points, a last snapshot on the way out.
    if shard
        .persistence
        .config()
        .is_some_and(|c| !c.save.0.is_empty())
    {
        let saver = shard.clone();
        let _ =
            tokio::task::spawn_blocking(move || saver.persistence.save_on_shutdown(&saver.store))
                .await;
    }
    Ok(())
}

/// Runs the store's pending work (expiry, eviction) and samples ops/sec, until shutdown.
async fn maintenance(shard: Arc<ShardState>, shutdown: Shutdown) {
    let mut stop = shutdown.wait();
    let interval = Duration::from_millis(shard.config.maintenance_interval_ms);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let started = std::time::Instant::now();
                if shard.store.run_pending_tasks() {
                    expire_more(&shard, interval / 4, started.elapsed()).await;
                }
                shard.stats.sample_ops();
                shard.persistence.maybe_save(&shard.store);
            }
            () = &mut stop => return,
        }
    }
}

/// Time one extra slice of active expiry may take before the task yields to clients.
const EXPIRE_SLICE: Duration = Duration::from_millis(1);

/// Keeps expiring in [`EXPIRE_SLICE`] slices while the store reports that expiry is behind,
/// until the maintenance run has spent `limit` (`spent` of it already) - Redis's fast expire
/// cycles, which with its slow cycle let active expiry take up to 25% of the CPU while many
/// sampled keys are expired. Yielding between slices lets the clients on this worker run, so
/// the effort costs them at most a slice of latency at a time.
async fn expire_more(shard: &ShardState, limit: Duration, mut spent: Duration) {
    while spent < limit {
        tokio::task::yield_now().await;
        let started = std::time::Instant::now();
        let behind = shard.store.expire_more(EXPIRE_SLICE);
        spent += started.elapsed();
        if !behind {
            return;
        }
    }
}
