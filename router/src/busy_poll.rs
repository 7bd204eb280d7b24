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

use crate::handler::Router;

/// The router's record of when it last had work, and the poller's wake-up.
#[derive(Debug)]
pub(crate) struct BusyPoll {
    epoch: Instant,
    window_us: u64,
    /// Microseconds since `epoch` of the last request read or reply written.
    last_us: AtomicU64,
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
            epoch: Instant::now(),
            window_us: window.as_micros().try_into().unwrap_or(u64::MAX),
            last_us: AtomicU64::new(0),
            sleeping: AtomicBool::new(false),
            wake: Notify::new(),
        }
    }

    fn micros(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.epoch)
            .as_micros()
            .try_into()
            .unwrap_or(u64::MAX)
    }

    /// Notes work at `now`: a request read or a reply written. Two atomics; wakes the poller
    /// when it sleeps.
    pub(crate) fn activity(&self, now: Instant) {
        self.last_us.store(self.micros(now), Ordering::Relaxed);
        if self.sleeping.load(Ordering::Relaxed) && self.sleeping.swap(false, Ordering::Relaxed) {
            self.wake.notify_one();
        }
    }

    /// Polls while the last work is younger than the window and the shards have at most
    /// one request in flight; sleeps until the next work otherwise. Runs until aborted.
    pub(crate) async fn run(self: Arc<Self>, router: Arc<Router>) {
        loop {
            let idle = self
                .micros(Instant::now())
                .saturating_sub(self.last_us.load(Ordering::Relaxed));
            if idle < self.window_us && in_flight(&router) <= MAX_IN_FLIGHT {
                // Let any other runnable thread on this CPU go first, then let the runtime
                // poll its sockets without blocking (a yielded task is polled again only
                // after the I/O driver has been).
                std::thread::yield_now();
                tokio::task::yield_now().await;
            } else {
                self.sleeping.store(true, Ordering::Relaxed);
                self.wake.notified().await;
            }
        }
    }
}

/// Requests queued or in flight on every shard connection (one atomic load each).
fn in_flight(router: &Router) -> usize {
    router
        .groups
        .iter()
        .flat_map(|g| g.members.iter())
        .map(|m| m.client.in_flight())
        .sum()
}
