//! Following `--topology FILE`: read again within a second of it changing (a Kubernetes
//! ConfigMap swaps a symlink, which only a read through the path sees) and on SIGHUP.

use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use serve::Shutdown;

use super::Elastic;
use crate::path::topology::Topology;

/// How often the file is read: well inside the one second a change must be seen in.
const EVERY: Duration = Duration::from_millis(250);

/// Reads `path` every [`EVERY`] and on SIGHUP; a changed file is proposed as the topology.
pub(super) async fn run(elastic: Arc<Elastic>, path: PathBuf, stop: Shutdown) {
    let mut stop = stop.wait();
    #[cfg(unix)]
    let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut last = std::fs::read_to_string(&path).ok();
    let mut tick = tokio::time::interval(EVERY);
    loop {
        let forced = tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => false,
            () = hangup(&mut hup) => true,
        };
        // A few hundred bytes from a local file: not worth a blocking-pool hop.
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) => {
                if forced || last.is_some() {
                    elastic.counters.reload_errors.fetch_add(1, Relaxed);
                    tracing::error!(path = %path.display(), error = %e, "cannot read the topology file; serving on the current topology");
                }
                last = None;
                continue;
            }
        };
        if !forced && last.as_deref() == Some(text.as_str()) {
            continue;
        }
        last = Some(text.clone());
        match Topology::from_toml(&text) {
            Ok(next) => {
                let _ = elastic.propose(next, "file").await;
            }
            Err(why) => {
                elastic.counters.reload_errors.fetch_add(1, Relaxed);
                tracing::error!(path = %path.display(), reason = %why, "topology file refused; serving on the current topology");
            }
        }
    }
}

#[cfg(unix)]
async fn hangup(hup: &mut Option<tokio::signal::unix::Signal>) {
    match hup {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}
