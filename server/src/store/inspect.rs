//! What `MEMORY USAGE` and `OBJECT` read of one entry, without counting a hit or refreshing
//! its recency (Redis's `OBJECT` and `MEMORY USAGE` look keys up with `LOOKUP_NOTOUCH`).

use super::segment::key_hash;
use super::{lfu, segment_of, Compact, Eviction, Now};

/// How many bytes of a value [`EntryInfo::head`] holds.
pub const HEAD: usize = 45;

/// One live entry, as `OBJECT` and `MEMORY USAGE` report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// What the entry is charged against `max_memory`: key + value + `ENTRY_OVERHEAD`.
    pub weight: u64,
    /// The value's length in bytes.
    pub value_len: usize,
    /// The value's first [`HEAD`] bytes at most: enough for `OBJECT ENCODING` to tell `int`
    /// and `embstr` (44 bytes at most) from `raw`, without copying a large value.
    pub head: Vec<u8>,
    /// A collection's form, as Redis names it; `None` for a string.
    pub encoding: Option<&'static str>,
    /// The LFU counter after decay (`LFUDecrAndReturn`); `None` under LRU.
    pub freq: Option<u8>,
}

impl Compact {
    /// Returns what `key` costs and how it is tracked, or `None` when it is absent or expired
    /// (an expired entry is removed, as every read does).
    pub fn inspect(&self, key: &[u8]) -> Option<EntryInfo> {
        let h = key_hash(key);
        let mut now = Now::new(&*self.inner.clock);
        let mut seg = self.lock(segment_of(h));
        let i = seg.find(h, key)?;
        if !self.live_or_purge(&mut seg, i, &mut now) {
            return None;
        }
        let e = seg.entry(i);
        let freq = match self.inner.eviction() {
            Eviction::Lru => None,
            Eviction::Lfu => Some(lfu::decayed(e.stamp, lfu::minutes(now.ms()))),
        };
        let value = e.value();
        Some(EntryInfo {
            weight: e.weight(),
            value_len: value.len(),
            head: value[..value.len().min(HEAD)].to_vec(),
            encoding: e.encoding(),
            freq,
        })
    }
}
