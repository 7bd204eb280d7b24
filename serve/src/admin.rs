//! What a process's admin port (`/metrics`, `/readyz`) asks of the servers running in it.
//!
//! The metrics recorder is process-global, so is this registry: a shard or router that
//! exports metrics registers how to tell whether it is ready and how to bring its metrics up
//! to date, and the binary's admin listener calls every registration. Scrape-time refresh
//! keeps the hot path as it is (plain atomics): the copy into the recorder happens when
//! someone reads it, not on every request.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::sync::lock;

/// A future that brings one server's metrics up to date.
pub type RefreshFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What one server tells the admin port.
pub struct Probe {
    /// Returns true while the server can serve its clients (`/readyz`).
    pub ready: Box<dyn Fn() -> bool + Send + Sync>,
    /// Copies the server's counters into the metrics recorder (before a `/metrics` scrape).
    pub refresh: Box<dyn Fn() -> RefreshFuture + Send + Sync>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);
static PROBES: Mutex<Vec<(u64, Arc<Probe>)>> = Mutex::new(Vec::new());

/// Keeps a probe registered; dropping it unregisters the probe.
#[derive(Debug)]
#[must_use = "the probe is unregistered when this is dropped"]
pub struct Registration {
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&PROBES).retain(|(id, _)| *id != self.id);
    }
}

/// Registers `probe` until the returned [`Registration`] is dropped.
pub fn register(probe: Probe) -> Registration {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    lock(&PROBES).push((id, Arc::new(probe)));
    Registration { id }
}

/// Returns true when at least one server is registered and every one is ready.
pub fn ready() -> bool {
    let probes = lock(&PROBES);
    !probes.is_empty() && probes.iter().all(|(_, p)| (p.ready)())
}

/// Brings every registered server's metrics up to date.
///
/// Cancel-safe: dropping it leaves the recorder with whatever was copied so far.
pub async fn refresh() {
    let probes: Vec<Arc<Probe>> = lock(&PROBES).iter().map(|(_, p)| p.clone()).collect();
    for probe in probes {
        (probe.refresh)().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_needs_a_registration_and_every_one_ready() {
        // The registry is global: this is the only test in the crate that registers.
        assert!(!ready());
        let noop = || -> RefreshFuture { Box::pin(async {}) };
        let yes = register(Probe {
            ready: Box::new(|| true),
            refresh: Box::new(noop),
        });
        assert!(ready());
        let no = register(Probe {
            ready: Box::new(|| false),
            refresh: Box::new(noop),
        });
        assert!(!ready());
        drop(no);
        assert!(ready());
        drop(yes);
        assert!(!ready());
    }
}
