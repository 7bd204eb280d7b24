//! Busy polling at low load: after a client's request is read or its reply written, the
//! router's thread keeps polling its sockets for `--busy-poll-us` instead of sleeping, while
//! at most one request is in flight to the shards.
//!
//! A proxy's request crosses four sleeping processes at `-c 1` (client, router, shard,
//! router, client); on a VM each wake-up of a sleeping process on an idle CPU costs tens of
//! microseconds. A router that is still polling when the shard's reply or the client's next
//! request arrives is not woken: measured on 2 cores, GET at `-c 1` went from ~79 to ~63 us
//! p50 (docs/benchmarks.md). Under load it stands aside: with more than one request in
//! flight the router is not idle long enough to sleep anyway, and each turn of the poll loop
//! yields the CPU to any other runnable thread (`sched_yield`), so a shard or client on the
//! same CPU runs first.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::path::handler::Router;

/// The router's count of work done, and the poller's wake-up.
#[derive(Debug)]
pub(crate) struct BusyPoll {
    window: Duration,
    /// Bumped at every request batch read and reply flushed; the poller notices the change,
    /// so the request path reads no clock for it.
    work: AtomicU64,
    /// True while the poller waits for work (it is woken by the next `activity`).
    sleeping: AtomicBool,
    wake: Notify,
}

/// A request in flight beyond this many means the router has enough to do: no polling.
const MAX_IN_FLIGHT: usize = 1;

impl BusyPoll {
    /// Returns the poller's state for a window of `window`.
    pub(crate) fn new(window: Duration) -> BusyPoll {
        BusyPoll {
            window,
            work: AtomicU64::new(0),
            sleeping: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    /// Notes work: a request batch read or a reply flushed. One atomic add, and a wake-up
    /// of the poller when it sleeps.
    pub(crate) fn activity(&self) {
        self.work.fetch_add(1, Ordering::Relaxed);
        if self.sleeping.load(Ordering::Relaxed) && self.sleeping.swap(false, Ordering::Relaxed) {
            self.wake.notify_one();
        }
    }

    /// Polls while the last work seen is younger than the window and the shards have at
    /// most one request in flight; sleeps until the next work otherwise. Runs until aborted.
    pub(crate) async fn run(self: Arc<Self>, router: Arc<Router>) {
        let mut seen = self.work.load(Ordering::Relaxed);
        let mut since = Instant::now();
        loop {
            let now = Instant::now();
            let work = self.work.load(Ordering::Relaxed);
            if work != seen {
                (seen, since) = (work, now);
            }
            if now.duration_since(since) < self.window && in_flight(&router) <= MAX_IN_FLIGHT {
                // Let any other runnable thread on this CPU go first, then let the runtime
                // poll its sockets without blocking (a yielded task is polled again only
                // after the I/O driver has been).
                std::thread::yield_now();
                tokio::task::yield_now().await;
            } else {
                self.sleeping.store(true, Ordering::Relaxed);
                // Work that came between the load above and this point: look again at once.
                if self.work.load(Ordering::Relaxed) == seen {
                    self.wake.notified().await;
                }
                self.sleeping.store(false, Ordering::Relaxed);
                // Woken by work: its window starts now.
                (seen, since) = (self.work.load(Ordering::Relaxed), Instant::now());
            }
        }
    }
}

/// Requests queued or in flight on every shard connection (one atomic load each).
fn in_flight(router: &Router) -> usize {
    router
        .elastic
        .view()
        .groups
        .iter()
        .flat_map(|g| g.members.iter())
        .map(|m| m.client.in_flight())
        .sum()
}
