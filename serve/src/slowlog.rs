//! SLOWLOG: the commands that took longer than `slowlog-log-slower-than`, newest first, at
//! most `slowlog-max-len` of them (Redis's `slowlog.c`).
//!
//! Recording costs one relaxed load on the hot path: only a command over the threshold
//! takes the log's lock.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use protocol::frame::Frame;

use crate::sync::lock;

/// Redis's `SLOWLOG_ENTRY_MAX_ARGC`: an entry keeps at most this many arguments.
const MAX_ARGC: usize = 32;
/// Redis's `SLOWLOG_ENTRY_MAX_STRING`: an argument keeps at most this many bytes.
const MAX_STRING: usize = 128;

/// One slow command.
#[derive(Debug, Clone)]
struct Entry {
    id: u64,
    unix_seconds: i64,
    duration_us: u64,
    args: Vec<Bytes>,
    addr: String,
    name: Bytes,
}

/// The log, shared by every connection of a process.
#[derive(Debug)]
pub struct SlowLog {
    /// `slowlog-log-slower-than`, µs; negative turns the log off, 0 logs every command.
    slower_than_us: AtomicI64,
    /// `slowlog-max-len`.
    max_len: AtomicUsize,
    next_id: AtomicU64,
    entries: Mutex<VecDeque<Entry>>,
}

impl Default for SlowLog {
    fn default() -> Self {
        SlowLog::new(10_000, 128)
    }
}

impl SlowLog {
    /// Returns an empty log with Redis's two settings.
    pub fn new(slower_than_us: i64, max_len: usize) -> SlowLog {
        SlowLog {
            slower_than_us: AtomicI64::new(slower_than_us),
            max_len: AtomicUsize::new(max_len),
            next_id: AtomicU64::new(0),
            entries: Mutex::new(VecDeque::new()),
        }
    }

    /// Returns `slowlog-log-slower-than`, µs.
    pub fn slower_than_us(&self) -> i64 {
        self.slower_than_us.load(Relaxed)
    }

    /// Sets `slowlog-log-slower-than`, µs.
    pub fn set_slower_than_us(&self, us: i64) {
        self.slower_than_us.store(us, Relaxed);
    }

    /// Returns `slowlog-max-len`.
    pub fn max_len(&self) -> usize {
        self.max_len.load(Relaxed)
    }

    /// Sets `slowlog-max-len`, dropping the oldest entries past it.
    pub fn set_max_len(&self, len: usize) {
        self.max_len.store(len, Relaxed);
        lock(&self.entries).truncate(len);
    }

    /// Returns true when a command that took `elapsed` belongs in the log: the caller then
    /// calls [`record`](Self::record) with what it needs to build the entry.
    pub fn is_slow(&self, elapsed: Duration) -> bool {
        let threshold = self.slower_than_us.load(Relaxed);
        threshold >= 0 && elapsed.as_micros() >= threshold as u128
    }

    /// Logs a command (its arguments, name included) that took `elapsed`, run by the client at
    /// `addr` named `name`; arguments are cut as Redis cuts them.
    pub fn record(&self, args: &[Bytes], elapsed: Duration, addr: &str, name: &[u8]) {
        let max_len = self.max_len.load(Relaxed);
        if max_len == 0 {
            return;
        }
        let entry = Entry {
            id: self.next_id.fetch_add(1, Relaxed),
            unix_seconds: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            duration_us: elapsed.as_micros() as u64,
            args: truncate(args),
            addr: addr.to_string(),
            name: Bytes::copy_from_slice(name),
        };
        let mut entries = lock(&self.entries);
        entries.push_front(entry);
        entries.truncate(max_len);
    }

    /// Returns the number of entries (`SLOWLOG LEN`).
    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    /// Returns true when the log is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties the log (`SLOWLOG RESET`).
    pub fn reset(&self) {
        lock(&self.entries).clear();
    }

    /// Returns the newest `count` entries (all of them for `None`), as `SLOWLOG GET` replies.
    pub fn get(&self, count: Option<usize>) -> Frame {
        let entries = lock(&self.entries);
        let count = count.unwrap_or(entries.len());
        Frame::Array(entries.iter().take(count).map(entry_frame).collect())
    }
}

/// Returns Redis's entry: id, timestamp, duration (µs), arguments, client address, name.
fn entry_frame(e: &Entry) -> Frame {
    Frame::Array(vec![
        Frame::Integer(e.id as i64),
        Frame::Integer(e.unix_seconds),
        Frame::Integer(e.duration_us as i64),
        Frame::Array(e.args.iter().cloned().map(Frame::Bulk).collect()),
        Frame::Bulk(Bytes::copy_from_slice(e.addr.as_bytes())),
        Frame::Bulk(e.name.clone()),
    ])
}

/// Cuts arguments as `slowlogCreateEntry` does: at most 32, the last saying how many more
/// there were; each at most 128 bytes, then how many more bytes it had.
fn truncate(args: &[Bytes]) -> Vec<Bytes> {
    let kept = args.len().min(MAX_ARGC);
    let mut out = Vec::with_capacity(kept);
    for (i, arg) in args.iter().take(kept).enumerate() {
        if kept != args.len() && i == kept - 1 {
            let more = args.len() - kept + 1;
            out.push(Bytes::from(format!("... ({more} more arguments)")));
        } else if arg.len() > MAX_STRING {
            let mut cut = arg[..MAX_STRING].to_vec();
            let more = arg.len() - MAX_STRING;
            cut.extend_from_slice(format!("... ({more} more bytes)").as_bytes());
            out.push(Bytes::from(cut));
        } else {
            out.push(arg.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(n: usize, len: usize) -> Vec<Bytes> {
        (0..n).map(|_| Bytes::from(vec![b'a'; len])).collect()
    }

    #[test]
    fn arguments_are_cut_as_redis_cuts_them() {
        let cut = truncate(&args(40, 1));
        assert_eq!(cut.len(), 32);
        assert_eq!(cut[31], Bytes::from("... (9 more arguments)"));
        let cut = truncate(&args(1, 130));
        let mut want = vec![b'a'; 128];
        want.extend_from_slice(b"... (2 more bytes)");
        assert_eq!(cut[0], Bytes::from(want));
        assert_eq!(truncate(&args(32, 1)).len(), 32);
    }

    #[test]
    fn the_log_keeps_the_newest_entries_up_to_its_length() {
        let log = SlowLog::new(0, 2);
        assert!(log.is_slow(Duration::ZERO));
        for i in 0..3 {
            log.record(
                &[Bytes::from(format!("c{i}"))],
                Duration::from_micros(5),
                "1.2.3.4:5",
                b"",
            );
        }
        assert_eq!(log.len(), 2);
        let Frame::Array(got) = log.get(Some(1)) else {
            panic!()
        };
        let Frame::Array(first) = &got[0] else {
            panic!()
        };
        assert_eq!(first[0], Frame::Integer(2));
        assert_eq!(first[2], Frame::Integer(5));
        log.set_slower_than_us(-1);
        assert!(!log.is_slow(Duration::from_secs(1)));
        log.reset();
        assert!(log.is_empty());
    }
}
