//! Accepts connections and runs the shard until shutdown.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use serve::{Acceptor, Shutdown};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::config::Config;
use crate::handler;
use crate::state::ShardState;

/// How long in-flight connections may finish after shutdown before they are dropped.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How often a shard with its own `/metrics` copies its counters into the recorder.
const EXPORT_INTERVAL: Duration = Duration::from_secs(1);

/// Serves RESP on `listener` until `shutdown` resolves, then drains for up to 5 s.
///
/// Cancel-safe in the sense that dropping the future stops accepting and drops every
/// connection task.
///
/// # Errors
/// An invalid `config`, or the listener's address cannot be read.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    config
        .validate()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let port = listener.local_addr()?.port();
    serve(listener, ShardState::new(config, port), shutdown).await
}

/// Serves an existing shard state (tests inject a manual clock this way).
///
/// # Errors
/// None today; the `Result` keeps room for fatal listener errors.
pub async fn serve(
    listener: TcpListener,
    shard: Arc<ShardState>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let stop = Shutdown::new();
    let mut tasks = JoinSet::new();
    tasks.spawn(maintenance(shard.clone(), stop.clone()));
    // maxclients, and EMFILE backoff: see `serve::clients::Acceptor`.
    let mut acceptor = Acceptor::new(listener, shard.clients.clone());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            (socket, slot) = acceptor.accept() => {
                tasks.spawn(handler::handle(socket, slot, shard.clone(), stop.clone()));
            },
            _ = &mut shutdown => break,
            // Reap finished connection tasks so the set does not grow without bound.
            Some(_) = tasks.join_next(), if tasks.len() > 1 => {}
        }
    }
    drop(acceptor);
    stop.trigger();
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tasks.abort_all();
    }
    Ok(())
}

/// Runs the store's pending work (expiry, eviction), samples ops/sec and exports metrics, until
/// shutdown.
async fn maintenance(shard: Arc<ShardState>, shutdown: Shutdown) {
    let mut stop = shutdown.wait();
    let mut tick =
        tokio::time::interval(Duration::from_millis(shard.config.maintenance_interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut exported = std::time::Instant::now();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                shard.store.run_pending_tasks();
                shard.stats.sample_ops();
                if shard.config.export_metrics && exported.elapsed() >= EXPORT_INTERVAL {
                    exported = std::time::Instant::now();
                    crate::stats::export(&shard);
                }
            }
            () = &mut stop => return,
        }
    }
}
