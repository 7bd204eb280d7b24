//! The shard's process counters, read by INFO.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

/// Counters shared by every connection of one shard.
#[derive(Debug)]
pub struct Stats {
    /// When the shard started (`uptime_in_seconds`).
    pub started: Instant,
    /// `total_commands_processed`.
    pub commands_processed: AtomicU64,
    /// `total_net_input_bytes`.
    pub net_input_bytes: AtomicU64,
    /// `total_net_output_bytes`.
    pub net_output_bytes: AtomicU64,
    /// The next client id (`CLIENT ID`).
    next_client_id: AtomicU64,
    ops: Mutex<OpsSampler>,
}

/// Redis's `instantaneous_ops_per_sec`: the mean of the last 16 samples.
#[derive(Debug)]
struct OpsSampler {
    last_at: Instant,
    last_count: u64,
    samples: [f64; 16],
    next: usize,
}

impl Default for Stats {
    fn default() -> Self {
        let now = Instant::now();
        Stats {
            started: now,
            commands_processed: AtomicU64::new(0),
            net_input_bytes: AtomicU64::new(0),
            net_output_bytes: AtomicU64::new(0),
            next_client_id: AtomicU64::new(1),
            ops: Mutex::new(OpsSampler {
                last_at: now,
                last_count: 0,
                samples: [0.0; 16],
                next: 0,
            }),
        }
    }
}

impl Stats {
    /// Returns a fresh client id.
    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Relaxed)
    }

    /// Takes one ops/sec sample; called by the maintenance timer.
    pub fn sample_ops(&self) {
        let now = Instant::now();
        let count = self.commands_processed.load(Relaxed);
        let mut s = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        let secs = now.duration_since(s.last_at).as_secs_f64();
        if secs > 0.0 {
            let i = s.next;
            s.samples[i] = (count - s.last_count) as f64 / secs;
            s.next = (i + 1) % s.samples.len();
        }
        s.last_at = now;
        s.last_count = count;
    }

    /// Returns `instantaneous_ops_per_sec`.
    pub fn ops_per_sec(&self) -> u64 {
        let s = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        (s.samples.iter().sum::<f64>() / s.samples.len() as f64).round() as u64
    }
}

/// Returns this process's resident memory in bytes (`used_memory_rss`), 0 where unknown.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}
