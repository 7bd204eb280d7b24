//! A cheap latency histogram for INFO's `latency_p50_us` / `latency_p99_us`.
//!
//! Recording is one relaxed `fetch_add` on a fixed log-scale bucket (four buckets per power
//! of two, so a percentile is within 25% of the truth). Percentiles are taken over a sliding
//! window: [`LatencyWindow::tick`] keeps a snapshot per second, and a percentile is read
//! from the counts since the oldest snapshot (about the last ten seconds).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// Buckets: 0..4 µs one each, then four per power of two up to 2^41 µs (25 days).
const BUCKETS: usize = 160;

/// Snapshots kept: the window is this many ticks long.
const WINDOW: usize = 10;

/// Returns the bucket of a latency of `us` microseconds.
fn index(us: u64) -> usize {
    if us < 4 {
        return us as usize;
    }
    let msb = 63 - us.leading_zeros() as usize; // >= 2
    let sub = ((us >> (msb - 2)) & 3) as usize;
    (4 * (msb - 1) + sub).min(BUCKETS - 1)
}

/// Returns the smallest latency, in µs, that falls in bucket `i`.
fn lower_bound(i: usize) -> u64 {
    if i < 4 {
        return i as u64;
    }
    let msb = i / 4 + 1;
    ((4 + (i % 4)) as u64) << (msb - 2)
}

/// Cumulative counts per bucket, plus the snapshots that make the window.
#[derive(Debug)]
pub struct LatencyWindow {
    counts: Box<[AtomicU64]>,
    snapshots: Mutex<VecDeque<Box<[u64]>>>,
}

impl Default for LatencyWindow {
    fn default() -> Self {
        LatencyWindow {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            snapshots: Mutex::new(VecDeque::with_capacity(WINDOW + 1)),
        }
    }
}

impl LatencyWindow {
    /// Counts one round trip.
    #[inline]
    pub fn record(&self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.counts[index(us)].fetch_add(1, Relaxed);
    }

    fn snapshot(&self) -> Box<[u64]> {
        self.counts.iter().map(|c| c.load(Relaxed)).collect()
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
    fn buckets_are_contiguous_and_monotonic() {
        for us in 0..100_000u64 {
            let i = index(us);
            assert!(lower_bound(i) <= us, "{us} in {i}");
            if i + 1 < BUCKETS {
                assert!(us < lower_bound(i + 1), "{us} in {i}");
            }
        }
        assert_eq!(index(u64::MAX), BUCKETS - 1);
    }

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
