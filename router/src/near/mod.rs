//! The near-cache (`--near-cache <size>`): values of GET kept in the router, emptied by the
//! shards' invalidations.
//!
//! ```text
//! GET ─▶ NearCache::get ─ hit ─▶ the client (no shard round trip)
//!     └ miss ─▶ NearCache::stamp ─▶ shard ─▶ reply ─▶ NearCache::fill(key, reply, stamp)
//! shard connection ─▶ `>invalidate` push (or the in-process shard's call) ─▶ NearCache::keys / all
//! write through this router ─▶ NearCache::invalidate before it is sent and when it is answered
//! shard connection up or down, failover, new topology epoch ─▶ NearCache::flush
//! ```
//!
//! The race it closes: a GET's reply can be overtaken by the invalidation of a write that
//! followed it (another shard connection, the in-process shard's synchronous call, or the
//! client task filling only after the connection's reader has passed the push). So every
//! invalidation takes a number from one counter and writes it into the key's slot (one of
//! [`SLOTS`], by hash; a flush into every slot at once); a GET takes the counter's value
//! when it is sent, and its fill is dropped when the key's slot (or a flush) moved past it.
//! The check and the insert run under the slot's stripe lock, as does each invalidation's
//! number and removal, so no fill lands between an invalidation and its removal. Slots are
//! shared by keys: a fill is sometimes dropped for another key's write, never kept wrongly.
//!
//! moka's default policy is TinyLFU: a key read once does not push out hot ones.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use moka::notification::RemovalCause;
use moka::sync::Cache;

use crate::shards::Invalidated;

mod path;
pub use path::{before, drop_keys, fill, txn_keys, Before};

/// Invalidation slots: the stamps' resolution (a fill is dropped for a write to any key of
/// its slot since it was sent).
const SLOTS: usize = 4096;
/// Locks over the slots.
const STRIPES: usize = 64;
/// Bytes charged per entry besides its key and reply (moka's entry and our keys' `Bytes`).
const ENTRY_OVERHEAD: u32 = 96;

/// What the near-cache counts, for INFO and /metrics.
#[derive(Debug, Default)]
pub struct NearStats {
    /// GETs answered from the near-cache.
    pub hits: AtomicU64,
    /// GETs sent to a shard while the near-cache was on.
    pub misses: AtomicU64,
    /// Entries moka evicted to stay within `--near-cache`.
    pub evictions: AtomicU64,
    /// Times the whole near-cache was emptied.
    pub flushes: AtomicU64,
    /// Keys invalidated (by shards' messages and this router's writes).
    pub invalidations: AtomicU64,
    /// Fills dropped because an invalidation arrived after their GET was sent.
    pub dropped_fills: AtomicU64,
}

/// The router's near-cache: GET replies by key.
pub struct NearCache {
    cache: Cache<Bytes, Bytes>,
    counter: AtomicU64,
    slots: Box<[AtomicU64]>,
    /// The counter's value at the last flush.
    flushed: AtomicU64,
    stripes: Box<[Mutex<()>]>,
    hasher: std::collections::hash_map::RandomState,
    stats: Arc<NearStats>,
    /// The router's own tracking clients (CLIENT TRACKING through the router), told of
    /// every invalidation the shards send.
    clients: Option<(
        Arc<serve::tracking::Hub>,
        Arc<serve::registry::ClientRegistry>,
    )>,
}

impl std::fmt::Debug for NearCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearCache")
            .field("entries", &self.cache.entry_count())
            .field("bytes", &self.cache.weighted_size())
            .finish_non_exhaustive()
    }
}

impl NearCache {
    /// Returns an empty near-cache of at most `bytes` of keys and replies.
    pub fn new(bytes: u64) -> NearCache {
        let stats = Arc::new(NearStats::default());
        let evicted = stats.clone();
        let cache = Cache::builder()
            .max_capacity(bytes)
            .weigher(|k: &Bytes, v: &Bytes| {
                u32::try_from(k.len() + v.len())
                    .unwrap_or(u32::MAX)
                    .saturating_add(ENTRY_OVERHEAD)
            })
            .eviction_listener(move |_k, _v, cause| {
                if cause == RemovalCause::Size {
                    evicted.evictions.fetch_add(1, Relaxed);
                }
            })
            .build();
        NearCache {
            cache,
            counter: AtomicU64::new(1),
            slots: (0..SLOTS).map(|_| AtomicU64::new(0)).collect(),
            flushed: AtomicU64::new(0),
            stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: Default::default(),
            stats,
            clients: None,
        }
    }

    /// Returns the near-cache that also forwards the shards' invalidations to the router's
    /// tracking clients in `hub`.
    pub fn with_clients(
        mut self,
        hub: Arc<serve::tracking::Hub>,
        registry: Arc<serve::registry::ClientRegistry>,
    ) -> NearCache {
        self.clients = Some((hub, registry));
        self
    }

    /// Returns the counters.
    pub fn stats(&self) -> &Arc<NearStats> {
        &self.stats
    }

    /// Returns (entries, bytes) held now.
    pub fn size(&self) -> (u64, u64) {
        (self.cache.entry_count(), self.cache.weighted_size())
    }

    fn slot(&self, key: &[u8]) -> usize {
        let mut h = self.hasher.build_hasher();
        h.write(key);
        (h.finish() as usize) % SLOTS
    }

    fn stripe(&self, slot: usize) -> std::sync::MutexGuard<'_, ()> {
        serve::sync::lock(&self.stripes[slot % STRIPES])
    }

    /// Returns the cached GET reply of `key` (RESP2 bytes), counting a hit or a miss.
    pub fn get(&self, key: &Bytes) -> Option<Bytes> {
        let found = self.cache.get(key);
        let counter = if found.is_some() {
            &self.stats.hits
        } else {
            &self.stats.misses
        };
        counter.fetch_add(1, Relaxed);
        found
    }

    /// Returns the stamp of a GET about to be sent.
    pub fn stamp(&self) -> u64 {
        self.counter.load(SeqCst)
    }

    /// Stores `reply` (a GET's RESP2 reply) for `key` unless an invalidation of its slot, or
    /// a flush, came after `stamp`.
    pub fn fill(&self, key: Bytes, reply: Bytes, stamp: u64) {
        let slot = self.slot(&key);
        let _stripe = self.stripe(slot);
        if self.slots[slot].load(SeqCst) > stamp || self.flushed.load(SeqCst) > stamp {
            self.stats.dropped_fills.fetch_add(1, Relaxed);
            return;
        }
        self.cache.insert(key, reply);
    }

    /// Drops `key` and stops fills of GETs sent before now.
    pub fn invalidate(&self, key: &[u8]) {
        let slot = self.slot(key);
        let _stripe = self.stripe(slot);
        let n = self.counter.fetch_add(1, SeqCst) + 1;
        self.slots[slot].store(n, SeqCst);
        self.cache.invalidate(key);
        self.stats.invalidations.fetch_add(1, Relaxed);
    }

    /// Empties the near-cache and stops every fill of a GET sent before now.
    pub fn flush(&self) {
        // Every stripe held: no fill checks between the new number and the emptying.
        let stripes: Vec<_> = (0..STRIPES).map(|s| self.stripe(s)).collect();
        let n = self.counter.fetch_add(1, SeqCst) + 1;
        self.flushed.store(n, SeqCst);
        self.cache.invalidate_all();
        drop(stripes);
        self.stats.flushes.fetch_add(1, Relaxed);
    }

    /// Runs moka's pending maintenance (evictions, their counts); called on a timer.
    pub fn run_pending_tasks(&self) {
        self.cache.run_pending_tasks();
    }
}

impl Invalidated for NearCache {
    fn keys(&self, keys: &[Bytes]) {
        // The near-cache first: a client told of the change finds the key gone.
        for key in keys {
            self.invalidate(key);
        }
        if let Some((hub, registry)) = &self.clients {
            let keys: Vec<&Bytes> = keys.iter().collect();
            hub.invalidate(registry, 0, &keys);
        }
    }

    fn all(&self) {
        self.flush();
        if let Some((hub, registry)) = &self.clients {
            hub.flushed(registry);
        }
    }
}

/// Copies the near-cache's counters into the metrics recorder (the poll calls it); zeros
/// when it is off, so every declared metric exists.
pub fn export(near: Option<&NearCache>) {
    use crate::observe::stats as names;
    let stats = near.map(|n| n.stats.clone()).unwrap_or_default();
    let bytes = near.map_or(0, |n| n.size().1);
    metrics::counter!(names::NEAR_HITS).absolute(stats.hits.load(Relaxed));
    metrics::counter!(names::NEAR_MISSES).absolute(stats.misses.load(Relaxed));
    metrics::counter!(names::NEAR_EVICTIONS).absolute(stats.evictions.load(Relaxed));
    metrics::counter!(names::NEAR_FLUSHES).absolute(stats.flushes.load(Relaxed));
    metrics::counter!(names::NEAR_INVALIDATIONS).absolute(stats.invalidations.load(Relaxed));
    metrics::gauge!(names::NEAR_BYTES).set(bytes as f64);
}

/// INFO's `# Nearcache` section (a router's; zeros when the near-cache is off).
pub fn section(near: Option<&NearCache>) -> serve::info::Section {
    let stats = near.map(|n| n.stats.clone()).unwrap_or_default();
    let (keys, bytes) = near.map_or((0, 0), NearCache::size);
    let mut s = serve::info::Section::new("Nearcache");
    s.add("near_cache_enabled", u8::from(near.is_some()))
        .add("near_cache_keys", keys)
        .add("near_cache_bytes", bytes)
        .add("near_cache_hits", stats.hits.load(Relaxed))
        .add("near_cache_misses", stats.misses.load(Relaxed))
        .add("near_cache_evictions", stats.evictions.load(Relaxed))
        .add("near_cache_flushes", stats.flushes.load(Relaxed))
        .add(
            "near_cache_invalidations",
            stats.invalidations.load(Relaxed),
        )
        .add(
            "near_cache_dropped_fills",
            stats.dropped_fills.load(Relaxed),
        );
    s
}

/// Returns the value of a GET's RESP2 reply worth caching: a bulk string (not nil, not an
/// error).
pub fn cacheable(reply: &[u8]) -> bool {
    reply.first() == Some(&b'$') && !reply.starts_with(b"$-1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn a_fill_older_than_an_invalidation_or_a_flush_is_dropped() {
        let near = NearCache::new(1 << 20);
        let stamp = near.stamp();
        near.invalidate(b"k");
        near.fill(b("k"), b("$1\r\nv\r\n"), stamp);
        assert_eq!(near.get(&b("k")), None);
        let stamp = near.stamp();
        near.fill(b("k"), b("$1\r\nv\r\n"), stamp);
        assert_eq!(near.get(&b("k")), Some(b("$1\r\nv\r\n")));
        let stamp = near.stamp();
        near.flush();
        assert_eq!(near.get(&b("k")), None);
        near.fill(b("k"), b("$1\r\nw\r\n"), stamp);
        assert_eq!(near.get(&b("k")), None);
        // Another key's invalidation before the fill drops it only if they share a slot.
        let stamp = near.stamp();
        near.invalidate(b"other");
        near.fill(b("k"), b("$1\r\nx\r\n"), stamp);
        let same = near.slot(b"k") == near.slot(b"other");
        assert_eq!(near.get(&b("k")).is_none(), same);
    }

    #[test]
    fn only_bulk_replies_are_cached() {
        assert!(cacheable(b"$1\r\nv\r\n"));
        assert!(!cacheable(b"$-1\r\n"));
        assert!(!cacheable(b"-WRONGTYPE x\r\n"));
    }
}
