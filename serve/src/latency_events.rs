//! LATENCY: Redis's latency monitor (`latency.c`), for the two events a jumpcache process
//! has: `command` and `fast-command` (a command of the table's `fast` flag), each a command
//! that took at least `latency-monitor-threshold` milliseconds (0, Redis's default: off).
//!
//! Recording costs one relaxed load on the hot path; only an event over the threshold takes
//! the lock.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use protocol::frame::Frame;

use crate::sync::lock;

/// Redis's `LATENCY_TS_LEN`: samples kept per event.
const SAMPLES: usize = 160;
/// The events, in the order LATEST lists them.
const EVENTS: [&str; 2] = ["command", "fast-command"];

/// One event's samples: a ring of (Unix seconds, ms), at most one per second.
#[derive(Debug, Clone)]
struct Series {
    samples: [(u64, u64); SAMPLES],
    next: usize,
    max_ms: u64,
}

/// The monitor of one process.
#[derive(Debug, Default)]
pub struct LatencyMonitor {
    /// `latency-monitor-threshold`, ms; 0 = off.
    threshold_ms: AtomicU64,
    series: Mutex<[Option<Box<Series>>; 2]>,
}

impl LatencyMonitor {
    /// Returns a monitor with Redis's `latency-monitor-threshold`, in ms (0 = off).
    pub fn new(threshold_ms: u64) -> LatencyMonitor {
        LatencyMonitor {
            threshold_ms: AtomicU64::new(threshold_ms),
            series: Mutex::new([None, None]),
        }
    }

    /// Returns `latency-monitor-threshold`, ms.
    pub fn threshold_ms(&self) -> u64 {
        self.threshold_ms.load(Relaxed)
    }

    /// Sets `latency-monitor-threshold`, ms.
    pub fn set_threshold_ms(&self, ms: u64) {
        self.threshold_ms.store(ms, Relaxed);
    }

    /// Records a command that took `elapsed` when it reaches the threshold (`fast`: the
    /// table's `fast` flag, Redis's `fast-command` event).
    pub fn record(&self, fast: bool, elapsed: Duration) {
        let threshold = self.threshold_ms.load(Relaxed);
        let ms = elapsed.as_millis() as u64;
        if threshold == 0 || ms < threshold {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut series = lock(&self.series);
        let s = series[usize::from(fast)].get_or_insert_with(|| {
            Box::new(Series {
                samples: [(0, 0); SAMPLES],
                next: 0,
                max_ms: 0,
            })
        });
        s.max_ms = s.max_ms.max(ms);
        // `latencyAddSample`: one sample per second, the highest of that second.
        let prev = (s.next + SAMPLES - 1) % SAMPLES;
        if s.samples[prev].0 == now {
            s.samples[prev].1 = s.samples[prev].1.max(ms);
            return;
        }
        s.samples[s.next] = (now, ms);
        s.next = (s.next + 1) % SAMPLES;
    }

    /// LATENCY LATEST: per event, its name, the latest sample's time and latency, the max.
    pub fn latest(&self) -> Frame {
        let series = lock(&self.series);
        let mut out = Vec::new();
        for (name, s) in EVENTS.iter().zip(series.iter()) {
            let Some(s) = s else { continue };
            let (time, ms) = s.samples[(s.next + SAMPLES - 1) % SAMPLES];
            out.push(Frame::Array(vec![
                Frame::bulk(name.as_bytes()),
                Frame::Integer(time as i64),
                Frame::Integer(ms as i64),
                Frame::Integer(s.max_ms as i64),
            ]));
        }
        Frame::Array(out)
    }

    /// LATENCY HISTORY event: its samples, oldest first, as (time, latency) pairs.
    pub fn history(&self, event: &[u8]) -> Frame {
        let series = lock(&self.series);
        let found = EVENTS
            .iter()
            .position(|e| e.as_bytes() == event)
            .and_then(|i| series[i].as_ref());
        let Some(s) = found else {
            return Frame::Array(vec![]);
        };
        let samples = (0..SAMPLES)
            .map(|i| s.samples[(s.next + i) % SAMPLES])
            .filter(|(time, _)| *time != 0)
            .map(|(time, ms)| {
                Frame::Array(vec![Frame::Integer(time as i64), Frame::Integer(ms as i64)])
            })
            .collect();
        Frame::Array(samples)
    }

    /// LATENCY RESET [event ...]: drops those events (all without names); returns how many
    /// had samples.
    pub fn reset(&self, events: &[bytes::Bytes]) -> usize {
        let mut series = lock(&self.series);
        let mut reset = 0;
        for (name, s) in EVENTS.iter().zip(series.iter_mut()) {
            let named = events.is_empty() || events.iter().any(|e| &e[..] == name.as_bytes());
            if named && s.take().is_some() {
                reset += 1;
            }
        }
        reset
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_over_the_threshold_are_kept_one_sample_a_second() {
        let monitor = LatencyMonitor::new(0);
        monitor.record(false, Duration::from_secs(1));
        assert_eq!(monitor.latest(), Frame::Array(vec![]));
        monitor.set_threshold_ms(5);
        monitor.record(false, Duration::from_millis(4));
        monitor.record(false, Duration::from_millis(7));
        monitor.record(false, Duration::from_millis(9));
        let Frame::Array(latest) = monitor.latest() else {
            panic!()
        };
        let Frame::Array(entry) = &latest[0] else {
            panic!()
        };
        assert_eq!(entry[0], Frame::bulk(b"command"));
        assert_eq!(entry[3], Frame::Integer(9));
        // Both samples fell in the same second (almost always): at most two.
        let Frame::Array(history) = monitor.history(b"command") else {
            panic!()
        };
        assert!((1..=2).contains(&history.len()));
        assert_eq!(monitor.history(b"fast-command"), Frame::Array(vec![]));
        assert_eq!(monitor.reset(&[bytes::Bytes::from("nope")]), 0);
        assert_eq!(monitor.reset(&[]), 1);
        assert_eq!(monitor.latest(), Frame::Array(vec![]));
    }
}
