//! What the router counts about each shard connection, as it sends: plain atomics and a
//! latency window, copied into the metrics recorder by the poll (`observe::poll`).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use metrics::Histogram;

use crate::shards::latency::LatencyWindow;
use crate::shards::ShardErrorKind;

/// Router to shard round trip: from the write to the reply. Declared with the counters that
/// record it, so shard connections need nothing of `observe`; listed in `observe::stats`.
pub const SHARD_RTT: &str = "jumpcache_shard_request_duration_seconds";

/// Returns the position of `kind` among [`ShardMetrics`]' error counters.
fn kind_index(kind: ShardErrorKind) -> usize {
    match kind {
        ShardErrorKind::Unavailable => 0,
        ShardErrorKind::Timeout => 1,
        ShardErrorKind::Protocol => 2,
        ShardErrorKind::Busy => 3,
    }
}

/// What the router counts about one shard (a member of a group), updated by its `ShardClient`.
#[derive(Debug)]
pub struct ShardMetrics {
    /// Requests queued to the shard.
    pub requests: AtomicU64,
    errors: [AtomicU64; 4],
    /// Connections re-established after a failure.
    pub reconnects: AtomicU64,
    /// Round trips, for INFO's percentiles.
    pub latency: LatencyWindow,
    rtt: Histogram,
}

impl ShardMetrics {
    /// Returns zeroed counters for member `member` of group `id` at `addr`, its histogram
    /// registered once.
    pub fn new(id: usize, member: usize, addr: &str) -> ShardMetrics {
        ShardMetrics {
            requests: AtomicU64::new(0),
            errors: Default::default(),
            reconnects: AtomicU64::new(0),
            latency: LatencyWindow::default(),
            rtt: metrics::histogram!(
                SHARD_RTT,
                "shard" => id.to_string(),
                "member" => member.to_string(),
                "addr" => addr.to_string()
            ),
        }
    }

    /// Counts one failed request.
    pub fn error(&self, kind: ShardErrorKind) {
        self.errors[kind_index(kind)].fetch_add(1, Relaxed);
    }

    /// Returns the failed requests of `kind`.
    pub fn errors(&self, kind: ShardErrorKind) -> u64 {
        self.errors[kind_index(kind)].load(Relaxed)
    }

    /// Records one round trip: an atomic add, no call into the metrics recorder.
    #[inline]
    pub fn round_trip(&self, elapsed: Duration) {
        self.latency.record(elapsed);
    }

    /// Copies the round trips since the last call into the exported histogram; called by
    /// the poll once a second.
    pub fn export_round_trips(&self) {
        self.latency.export(&self.rtt);
    }
}
