//! The router-to-shard round trip: INFO's `latency_p50_us` / `latency_p99_us` and the
//! exported histogram, both from one `serve::latency::LogHistogram`.
//!
//! Recording is one relaxed `fetch_add` on a fixed log-scale bucket (four buckets per power
//! of two, so a percentile is within 25% of the truth). Percentiles are taken over a sliding
//! window: [`LatencyWindow::tick`] keeps a snapshot per second, and a percentile is read
//! from the counts since the oldest snapshot (about the last ten seconds).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use serve::latency::{lower_bound, LogHistogram};

/// Snapshots kept: the window is this many ticks long.
const WINDOW: usize = 10;

/// Cumulative counts per bucket, plus the snapshots that make the window.
#[derive(Debug, Default)]
pub struct LatencyWindow {
    counts: LogHistogram,
    snapshots: Mutex<VecDeque<Box<[u64]>>>,
    /// The counts last copied into the metrics histogram.
    exported: Mutex<Option<Box<[u64]>>>,
}

impl LatencyWindow {
    /// Counts one round trip.
    #[inline]
    pub fn record(&self, elapsed: Duration) {
        self.counts.record(elapsed);
    }

    fn snapshot(&self) -> Box<[u64]> {
        self.counts.snapshot()
    }

    /// Copies the round trips counted since the last call into `to`.
    pub fn export(&self, to: &metrics::Histogram) {
        let mut last = self.exported.lock().unwrap_or_else(|p| p.into_inner());
        let last = last.get_or_insert_with(|| vec![0; serve::latency::BUCKETS].into());
        self.counts.export_since(last, to);
    }

    /// Keeps a snapshot; called about once a second.
    pub fn tick(&self) {
        let now = self.snapshot();
        let mut snaps = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
        snaps.push_back(now);
        while snaps.len() > WINDOW {
            snaps.pop_front();
        }
    }

    /// Returns the latencies in µs below which `quantiles` (0..=1) of the window's round
    /// trips fall, each as its bucket's lower bound; zeros when the window is empty.
    pub fn percentiles<const N: usize>(&self, quantiles: [f64; N]) -> [u64; N] {
        let now = self.snapshot();
        let oldest = {
            let snaps = self.snapshots.lock().unwrap_or_else(|p| p.into_inner());
            snaps.front().cloned()
        };
        let counts: Vec<u64> = match oldest {
            Some(old) => now
                .iter()
                .zip(old.iter())
                .map(|(n, o)| n.saturating_sub(*o))
                .collect(),
            None => now.to_vec(),
        };
        let total: u64 = counts.iter().sum();
        let mut out = [0; N];
        if total == 0 {
            return out;
        }
        for (slot, q) in out.iter_mut().zip(quantiles) {
            // The rank of the sample at quantile q, 1-based (nearest-rank method).
            let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    *slot = lower_bound(i);
                    break;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_read_the_window_since_the_oldest_snapshot() {
        let w = LatencyWindow::default();
        assert_eq!(w.percentiles([0.5, 0.99]), [0, 0]);
        for _ in 0..100 {
            w.record(Duration::from_micros(1000));
        }
        w.tick();
        for _ in 0..98 {
            w.record(Duration::from_micros(10));
        }
        w.record(Duration::from_micros(500));
        w.record(Duration::from_micros(500));
        // The 1000 µs samples came before the oldest snapshot: outside the window.
        assert_eq!(w.percentiles([0.5, 0.99]), [10, 448]);
    }
}
