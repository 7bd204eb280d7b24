//! The shard's keyspace: a moka cache of key -> [`Value`], bounded in bytes.
//!
//! ```text
//! exec ─▶ Store::get / peek ──────────────▶ moka get      ─▶ own deadline check (expired: removed, counted)
//! exec ─▶ Store::update(key, f) ─▶ key's stripe lock ─▶ moka get, f, insert / invalidate
//! exec ─▶ Store::set(key, value) ─▶ key's stripe lock ─▶ moka insert (a blind write)
//! moka maintenance (run_pending_tasks) ─▶ eviction listener ─▶ expired / evicted / expires counters
//! ```
//!
//! * Every write to a key holds that key's stripe lock (one of [`STRIPES`] mutexes, chosen by
//!   the key's hash), so a read-modify-write (INCR) and a blind SET of the same key never
//!   interleave. moka's own entry API would give the same atomicity, but measured at 2.7 µs
//!   per write against 1.2 µs for lock + `insert` (moka 0.12, 100k keys, 64 B values).
//! * Each entry carries its own deadline (Unix ms from the injected [`Clock`]) and every read
//!   checks it; moka's [`Expiry`] only reclaims memory, since its clock cannot be mocked.
//! * moka has no background threads: the server calls [`Store::run_pending_tasks`] on a timer.
//! * moka types never leave this file.

use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::notification::RemovalCause;
use moka::policy::EvictionPolicy;
use moka::sync::Cache;
use moka::Expiry;
use rand::Rng;

use crate::clock::Clock;
use resp::glob::glob_match;

/// Shard SCAN cursors are below `2^SCAN_CURSOR_BITS`; the router packs the shard index above them.
pub const SCAN_CURSOR_BITS: u32 = 48;

/// Bytes charged per entry on top of its key and value.
///
/// Approximates what one entry costs beyond its payload: moka's per-entry bookkeeping
/// (`ValueEntry`, `EntryInfo`, the access-order deque node and timer-wheel node, its hash-table
/// bucket and `Arc<K>`), our [`Value`] (a `Bytes` handle and a deadline) and two heap
/// allocation headers. Measured: 481 B/entry in total for 16 B keys and 32 B values on moka
/// 0.12, i.e. about 430 B of overhead.
pub const ENTRY_OVERHEAD: u32 = 432;

/// How the store chooses what to evict when it is over `max_memory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Eviction {
    /// Least recently used, as Redis's `allkeys-lru`: a fresh SET is always kept.
    #[default]
    Lru,
    /// moka's TinyLFU: better hit ratios for skewed reads, but it may refuse a freshly
    /// inserted key when full (a SET can vanish at the next maintenance).
    TinyLfu,
}

/// How a [`Store`] is sized.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Memory bound for keys, values and per-entry overhead, in bytes (Redis: `maxmemory`).
    pub max_memory: u64,
    /// What to evict when over the bound (Redis: `maxmemory-policy`).
    pub eviction: Eviction,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_memory: 1 << 30,
            eviction: Eviction::Lru,
        }
    }
}

/// A stored string and its deadline.
///
/// `data` must own its allocation (`Bytes::copy_from_slice` or `Bytes::from(Vec)`), never be a
/// slice of a client's read buffer: a slice pins the whole buffer and the memory bound lies.
#[derive(Clone, Debug, PartialEq)]
pub struct Value {
    /// The string.
    pub data: Bytes,
    /// Unix time in ms after which the key no longer exists; 0 means no expiry.
    pub deadline_ms: u64,
}

impl Value {
    /// Returns a value with no expiry.
    pub fn persistent(data: Bytes) -> Value {
        Value {
            data,
            deadline_ms: 0,
        }
    }

    /// Returns true while the key exists at `now_ms`. As Redis's `keyIsExpired`
    /// (`now > when`), a key is still there at its deadline's exact millisecond.
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.deadline_ms == 0 || now_ms <= self.deadline_ms
    }
}

/// What [`Store::update`] does with the key after its closure ran.
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// Leave the key as it was.
    Keep,
    /// Store this value (replacing any).
    Put(Value),
    /// Delete the key.
    Remove,
}

/// Why a store write was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreError {
    /// The value cannot fit under `max_memory` even in an empty store; reply `resp::text::OOM`.
    OutOfMemory,
}

/// Counters for INFO and `/metrics`: the shape the router sums over shards.
pub type StoreStats = resp::stats::Keyspace;

/// Counters shared by the store and moka's eviction listener.
#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    expired: AtomicU64,
    evicted: AtomicU64,
    /// Keys with a deadline: +1 when one is put, -1 when the listener sees one leave.
    /// Signed because the two sides race; read clamped at 0.
    expires: AtomicI64,
}

/// Tells moka when an entry may be reclaimed, from the entry's own deadline.
/// How long after its deadline moka may reclaim an entry nobody read: a read in between is
/// answered by our own deadline check (absent, counted as expired).
const RECLAIM_SLACK_MS: u64 = 1000;

struct DeadlineExpiry {
    clock: Arc<dyn Clock>,
}

impl DeadlineExpiry {
    fn ttl(&self, value: &Value, at: Instant) -> Option<Duration> {
        if value.deadline_ms == 0 {
            return None;
        }
        // Our own deadline check must see an expired key before moka hides it, so that a read
        // of it counts in `expired_keys` at once (as in Redis): moka reclaims a little later.
        let ms = value
            .deadline_ms
            .saturating_sub(self.clock.now_ms())
            .saturating_add(RECLAIM_SLACK_MS);
        let ttl = Duration::from_millis(ms);
        // A TTL past Instant's range (EXPIRE in the year 292 billion): moka never reclaims it;
        // our own deadline check still applies.
        at.checked_add(ttl)?;
        Some(ttl)
    }
}

impl Expiry<Vec<u8>, Value> for DeadlineExpiry {
    fn expire_after_create(&self, _key: &Vec<u8>, value: &Value, at: Instant) -> Option<Duration> {
        self.ttl(value, at)
    }

    fn expire_after_update(
        &self,
        _key: &Vec<u8>,
        value: &Value,
        at: Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        self.ttl(value, at)
    }
}

/// Returns an entry's weight: key + value + [`ENTRY_OVERHEAD`], saturating at `u32::MAX`.
fn weigh(key: &[u8], value: &Value) -> u32 {
    let len = key.len().saturating_add(value.data.len());
    u32::try_from(len)
        .unwrap_or(u32::MAX)
        .saturating_add(ENTRY_OVERHEAD)
}

/// Returns a key's SCAN position: the top 48 bits of its xxh3-64 hash.
fn scan_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key) >> (64 - SCAN_CURSOR_BITS)
}

/// Write locks per store: enough that two busy keys rarely share one.
pub const STRIPES: usize = 1024;

struct Inner {
    cache: Cache<Vec<u8>, Value>,
    stripes: Box<[Mutex<()>]>,
    clock: Arc<dyn Clock>,
    counters: Arc<Counters>,
    max_memory: u64,
}

/// The keyspace of one shard; cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("max_memory", &self.inner.max_memory)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Returns an empty store bounded by `config.max_memory`, reading time from `clock`.
    pub fn new(config: StoreConfig, clock: Arc<dyn Clock>) -> Store {
        let counters = Arc::new(Counters::default());
        let listener_counters = Arc::clone(&counters);
        let policy = match config.eviction {
            Eviction::Lru => EvictionPolicy::lru(),
            Eviction::TinyLfu => EvictionPolicy::tiny_lfu(),
        };
        let cache = Cache::builder()
            .max_capacity(config.max_memory)
            .weigher(|key: &Vec<u8>, value: &Value| weigh(key, value))
            .expire_after(DeadlineExpiry {
                clock: Arc::clone(&clock),
            })
            .eviction_policy(policy)
            .eviction_listener(move |_key: Arc<Vec<u8>>, value: Value, cause| {
                let c = &listener_counters;
                if value.deadline_ms != 0 {
                    c.expires.fetch_sub(1, Ordering::Relaxed);
                }
                match cause {
                    // Our own read-path removals are `Explicit` and counted there: never twice.
                    RemovalCause::Expired => c.expired.fetch_add(1, Ordering::Relaxed),
                    RemovalCause::Size => c.evicted.fetch_add(1, Ordering::Relaxed),
                    RemovalCause::Explicit | RemovalCause::Replaced => 0,
                };
            })
            .build();
        Store {
            inner: Arc::new(Inner {
                cache,
                stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
                clock,
                counters,
                max_memory: config.max_memory,
            }),
        }
    }

    /// Returns the store clock's time in Unix milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    /// Returns the live value of `key`, counting a keyspace hit or miss and refreshing recency.
    pub fn get(&self, key: &[u8]) -> Option<Value> {
        let found = self.peek(key);
        let counter = if found.is_some() {
            &self.inner.counters.hits
        } else {
            &self.inner.counters.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Returns the live value of `key` without touching the hit/miss counters.
    pub fn peek(&self, key: &[u8]) -> Option<Value> {
        let value = self.inner.cache.get(key)?;
        let now = self.now_ms();
        if value.is_live(now) {
            return Some(value);
        }
        self.purge_expired(key, now);
        None
    }

    /// Locks the stripe that serialises writes to `key`.
    fn lock(&self, key: &[u8]) -> MutexGuard<'_, ()> {
        let i = xxhash_rust::xxh3::xxh3_64(key) as usize % STRIPES;
        // A poisoned stripe only means a panic elsewhere; the unit value it guards is fine.
        self.inner.stripes[i]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Removes `key` if it is (still) expired at `now`, counting it once.
    fn purge_expired(&self, key: &[u8], now: u64) {
        let _stripe = self.lock(key);
        if let Some(v) = self.inner.cache.get(key) {
            if !v.is_live(now) {
                self.inner.cache.invalidate(key);
                self.inner.counters.expired.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Stores `value` under `key` whatever was there (SET without options, MSET, SETEX).
    ///
    /// # Errors
    /// [`StoreError::OutOfMemory`] when the entry alone outweighs `max_memory`.
    pub fn set(&self, key: &[u8], value: Value) -> Result<(), StoreError> {
        if u64::from(weigh(key, &value)) > self.inner.max_memory {
            return Err(StoreError::OutOfMemory);
        }
        let now = self.now_ms();
        let _stripe = self.lock(key);
        self.put(key, value, now);
        Ok(())
    }

    /// Writes `value` (or removes the key, when its deadline is already past); the caller
    /// holds the key's stripe.
    fn put(&self, key: &[u8], value: Value, now: u64) {
        let counters = &self.inner.counters;
        if !value.is_live(now) {
            counters.expired.fetch_add(1, Ordering::Relaxed);
            self.inner.cache.invalidate(key);
            return;
        }
        if value.deadline_ms != 0 {
            counters.expires.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.cache.insert(key.to_vec(), value);
    }

    /// Reads, then writes, one key atomically with respect to every other write of that key.
    ///
    /// `f` sees the live value; an expired one is passed as `None`, removed and counted as
    /// expired. A `Put` whose deadline is already past removes the key (counted as expired).
    ///
    /// # Errors
    /// [`StoreError::OutOfMemory`] when a `Put`'s weight exceeds `max_memory`; nothing
    /// visible changes then (`f`'s result is dropped).
    pub fn update<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<&Value>) -> (Update, R),
    ) -> Result<R, StoreError> {
        let now = self.now_ms();
        let _stripe = self.lock(key);
        let mut current = self.inner.cache.get(key);
        if current.as_ref().is_some_and(|v| !v.is_live(now)) {
            self.inner.counters.expired.fetch_add(1, Ordering::Relaxed);
            self.inner.cache.invalidate(key);
            current = None;
        }
        let (update, result) = f(current.as_ref());
        match update {
            Update::Keep => {}
            Update::Remove => {
                if current.is_some() {
                    self.inner.cache.invalidate(key);
                }
            }
            Update::Put(value) => {
                if u64::from(weigh(key, &value)) > self.inner.max_memory {
                    return Err(StoreError::OutOfMemory);
                }
                self.put(key, value, now);
            }
        }
        Ok(result)
    }

    /// Removes `key`; returns true if a live key was removed.
    pub fn remove(&self, key: &[u8]) -> bool {
        self.update(key, |v| match v {
            Some(_) => (Update::Remove, true),
            None => (Update::Keep, false),
        })
        .unwrap_or(false)
    }

    /// Removes every key (Redis: FLUSHDB).
    pub fn flush(&self) {
        self.inner.cache.invalidate_all();
        self.inner.cache.run_pending_tasks();
    }

    /// Returns the number of keys held, after running moka's pending maintenance so the
    /// count is exact after writes (keys past their deadline but not yet touched count, as
    /// in Redis's DBSIZE).
    pub fn len(&self) -> u64 {
        self.inner.cache.run_pending_tasks();
        self.inner.cache.entry_count()
    }

    /// Returns true when [`len`](Self::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns every live key matching the glob `pattern` (Redis: KEYS). O(keys).
    pub fn keys(&self, pattern: &[u8]) -> Vec<Bytes> {
        let all = pattern == b"*";
        let now = self.now_ms();
        self.inner
            .cache
            .iter()
            .filter(|(k, v)| v.is_live(now) && (all || glob_match(pattern, k)))
            .map(|(k, _)| Bytes::copy_from_slice(&k))
            .collect()
    }

    /// Returns one page of a SCAN and the cursor of the next (0 when the iteration is done).
    ///
    /// Keys are ordered by a 48-bit hash ([`SCAN_CURSOR_BITS`]); a cursor is a hash position
    /// and a page holds every key whose hash lies in `[cursor, next)`, so a full iteration
    /// returns every key present throughout exactly once, even while keys come and go
    /// (keys sharing the page's boundary hash are all in the same page).
    ///
    /// `count` is a hint, as in Redis. moka cannot seek, so each page costs one pass over the
    /// store; to bound a full iteration to about 256 passes, pages hold at least `len / 256`
    /// keys. `pattern` filters after selection, as Redis's MATCH does (pages may be empty).
    pub fn scan(&self, cursor: u64, pattern: Option<&[u8]>, count: usize) -> (u64, Vec<Bytes>) {
        let now = self.now_ms();
        let cache = &self.inner.cache;
        let page = count
            .max(usize::try_from(cache.entry_count() / 256).unwrap_or(usize::MAX))
            .max(1);

        // One pass keeps the `page` smallest hashes at or after the cursor (a max-heap).
        let mut smallest: BinaryHeap<(u64, Arc<Vec<u8>>)> =
            BinaryHeap::with_capacity(page.min(4096) + 1);
        let mut more = false;
        for (key, value) in cache.iter() {
            let h = scan_hash(&key);
            if h < cursor || !value.is_live(now) {
                continue;
            }
            if smallest.len() < page {
                smallest.push((h, key));
            } else if smallest.peek().is_some_and(|(top, _)| h <= *top) {
                // `<=`: ties with the largest hash are kept a moment, then cut below.
                smallest.push((h, key));
                more = true;
                while smallest.len() > page && smallest.peek().map(|(t, _)| *t) != Some(h) {
                    smallest.pop();
                }
            } else {
                more = true;
            }
        }
        let mut found: Vec<(u64, Arc<Vec<u8>>)> = smallest.into_vec();
        found.sort_unstable();
        // With more keys left, the page ends before its largest hash, so keys sharing that hash
        // all come on the next page (unless the whole page shares it: then it is kept whole).
        let next = match found.last() {
            Some(&(last, _)) if more && found.first().is_some_and(|(first, _)| *first < last) => {
                found.retain(|(h, _)| *h < last);
                last
            }
            Some(&(last, _)) if more => last
                .checked_add(1)
                .filter(|n| *n < 1 << SCAN_CURSOR_BITS)
                .unwrap_or(0),
            _ => 0,
        };
        let keys = found
            .into_iter()
            .map(|(_, k)| k)
            .filter(|k| match pattern {
                Some(p) => p == b"*" || glob_match(p, k),
                None => true,
            })
            .map(|k| Bytes::copy_from_slice(&k))
            .collect();
        (next, keys)
    }

    /// Returns a random live key, or `None` when there is none (Redis: RANDOMKEY). O(keys):
    /// moka offers no random access.
    pub fn random_key(&self) -> Option<Bytes> {
        let now = self.now_ms();
        let n = self.inner.cache.entry_count();
        let pick = if n > 1 {
            rand::thread_rng().gen_range(0..n)
        } else {
            0
        };
        let mut chosen = None;
        for (seen, (key, _)) in
            (0u64..).zip(self.inner.cache.iter().filter(|(_, v)| v.is_live(now)))
        {
            chosen = Some(key);
            if seen >= pick {
                break;
            }
        }
        chosen.map(|k| Bytes::copy_from_slice(&k))
    }

    /// Returns the counters, after running pending maintenance so sizes are current.
    pub fn stats(&self) -> StoreStats {
        let cache = &self.inner.cache;
        cache.run_pending_tasks();
        let c = &self.inner.counters;
        StoreStats {
            keys: cache.entry_count(),
            expires: u64::try_from(c.expires.load(Ordering::Relaxed)).unwrap_or(0),
            used_memory: cache.weighted_size(),
            max_memory: self.inner.max_memory,
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            expired: c.expired.load(Ordering::Relaxed),
            evicted: c.evicted.load(Ordering::Relaxed),
        }
    }

    /// Runs moka's deferred maintenance: eviction, reclaiming expired entries, listener calls.
    /// moka has no background thread; the server calls this on a timer.
    pub fn run_pending_tasks(&self) {
        self.inner.cache.run_pending_tasks();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::thread;

    use super::*;
    use crate::clock::ManualClock;

    const T0: u64 = 1_700_000_000_000;

    fn store_with(max_memory: u64, eviction: Eviction) -> (Store, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(T0));
        let config = StoreConfig {
            max_memory,
            eviction,
        };
        (Store::new(config, clock.clone()), clock)
    }

    fn store() -> (Store, Arc<ManualClock>) {
        store_with(1 << 30, Eviction::Lru)
    }

    fn put(store: &Store, key: &str, data: &str, deadline_ms: u64) {
        let value = Value {
            data: Bytes::copy_from_slice(data.as_bytes()),
            deadline_ms,
        };
        store
            .update(key.as_bytes(), |_| (Update::Put(value), ()))
            .unwrap();
    }

    #[test]
    fn expired_keys_are_never_returned_after_their_deadline() {
        let (store, clock) = store();
        put(&store, "k", "v", T0 + 10_000);
        put(&store, "forever", "v", 0);
        assert_eq!(store.get(b"k").map(|v| v.data), Some(Bytes::from("v")));
        clock.advance(10_000);
        assert!(store.peek(b"k").is_some(), "live at its deadline's own ms");
        clock.advance(1);
        assert_eq!(store.get(b"k"), None);
        assert_eq!(store.peek(b"k"), None);
        assert!(store.keys(b"*").iter().all(|k| k.as_ref() != b"k"));
        assert_eq!(store.scan(0, None, 100).1, vec![Bytes::from("forever")]);
        let seen = store.update(b"k", |v| (Update::Keep, v.is_some())).unwrap();
        assert!(!seen);
        let stats = store.stats();
        assert_eq!(stats.expired, 1, "counted once");
        assert_eq!(stats.keys, 1);
        assert_eq!(stats.expires, 0);
        assert_eq!((stats.hits, stats.misses), (1, 1));
    }

    #[test]
    fn update_sees_an_expired_key_as_absent_and_counts_it() {
        let (store, clock) = store();
        put(&store, "k", "old", T0 + 5);
        clock.advance(6);
        let saw = store
            .update(b"k", |v| {
                (
                    Update::Put(Value::persistent(Bytes::from("new"))),
                    v.cloned(),
                )
            })
            .unwrap();
        assert_eq!(saw, None);
        assert_eq!(store.get(b"k").map(|v| v.data), Some(Bytes::from("new")));
        let stats = store.stats();
        assert_eq!((stats.expired, stats.expires, stats.keys), (1, 0, 1));
    }

    #[test]
    fn a_put_with_a_past_deadline_removes_the_key() {
        let (store, _clock) = store();
        put(&store, "k", "v", 0);
        put(&store, "k", "v", T0 - 1);
        assert_eq!(store.get(b"k"), None);
        assert_eq!(store.len(), 0);
        assert_eq!(store.stats().expired, 1);
    }

    #[test]
    fn expires_counter_follows_keys_with_deadlines() {
        let (store, _clock) = store();
        put(&store, "a", "v", T0 + 1_000);
        put(&store, "b", "v", T0 + 1_000);
        put(&store, "c", "v", 0);
        assert_eq!(store.stats().expires, 2);
        put(&store, "a", "v", 0);
        assert!(store.remove(b"b"));
        assert!(!store.remove(b"b"));
        assert_eq!(store.stats().expires, 0);
        put(&store, "d", "v", T0 + 1_000);
        store.flush();
        let stats = store.stats();
        assert_eq!((stats.keys, stats.expires, stats.used_memory), (0, 0, 0));
    }

    #[test]
    fn small_max_memory_evicts_oldest_first_with_lru() {
        let per_entry = u64::from(ENTRY_OVERHEAD) + 8;
        let (store, _clock) = store_with(per_entry * 100, Eviction::Lru);
        for i in 0..300 {
            put(&store, &format!("k{i:04}"), "v", 0);
            if i % 50 == 0 {
                store.run_pending_tasks();
            }
        }
        store.run_pending_tasks();
        let stats = store.stats();
        assert!(stats.used_memory <= stats.max_memory, "{stats:?}");
        assert!(stats.keys <= 100 && stats.keys >= 90, "{stats:?}");
        assert_eq!(stats.evicted, 300 - stats.keys);
        assert!(store.peek(b"k0000").is_none(), "oldest evicted");
        assert!(store.peek(b"k0299").is_some(), "newest kept");
    }

    #[test]
    fn a_value_larger_than_max_memory_is_refused_and_changes_nothing() {
        let (store, _clock) = store_with(1_000, Eviction::Lru);
        put(&store, "k", "small", 0);
        let big = Value::persistent(Bytes::from(vec![b'x'; 1_000]));
        let result = store.update(b"k", |_| (Update::Put(big), ()));
        assert_eq!(result, Err(StoreError::OutOfMemory));
        assert_eq!(store.get(b"k").map(|v| v.data), Some(Bytes::from("small")));
    }

    #[test]
    fn tiny_lfu_store_is_constructible_and_usable() {
        let (store, _clock) = store_with(1 << 20, Eviction::TinyLfu);
        put(&store, "k", "v", 0);
        assert_eq!(store.get(b"k").map(|v| v.data), Some(Bytes::from("v")));
        assert_eq!(StoreConfig::default().eviction, Eviction::Lru);
    }

    #[test]
    fn concurrent_increments_are_exact() {
        let (store, _clock) = store();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let store = store.clone();
                thread::spawn(move || {
                    for _ in 0..500 {
                        store
                            .update(b"n", |v| {
                                let n: u64 = v
                                    .map(|v| std::str::from_utf8(&v.data).unwrap().parse().unwrap())
                                    .unwrap_or(0);
                                let next = Value::persistent(Bytes::from((n + 1).to_string()));
                                (Update::Put(next), ())
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(store.get(b"n").map(|v| v.data), Some(Bytes::from("4000")));
    }

    fn full_scan(store: &Store, count: usize, mut during: impl FnMut(usize)) -> Vec<Bytes> {
        let mut cursor = 0;
        let mut seen = Vec::new();
        for call in 0.. {
            let (next, keys) = store.scan(cursor, None, count);
            assert!(next < 1 << SCAN_CURSOR_BITS);
            seen.extend(keys);
            during(call);
            if next == 0 {
                break;
            }
            assert!(next > cursor, "cursors only move forward");
            cursor = next;
        }
        seen
    }

    #[test]
    fn scan_returns_every_key_exactly_once() {
        let (store, _clock) = store();
        for i in 0..1_000 {
            put(&store, &format!("key:{i}"), "v", 0);
        }
        let seen = full_scan(&store, 7, |_| {});
        assert_eq!(seen.len(), 1_000);
        assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 1_000);
    }

    #[test]
    fn scan_returns_every_lasting_key_while_keys_are_added() {
        let (store, _clock) = store();
        for i in 0..500 {
            put(&store, &format!("old:{i}"), "v", 0);
        }
        let mut added = 0;
        let seen = full_scan(&store, 10, |call| {
            for j in 0..20 {
                put(&store, &format!("new:{call}:{j}"), "v", 0);
                added += 1;
            }
        });
        let seen: HashSet<_> = seen.into_iter().collect();
        for i in 0..500 {
            assert!(seen.contains(format!("old:{i}").as_bytes()), "old:{i}");
        }
        assert!(added > 0);
    }

    #[test]
    fn scan_filters_by_pattern_after_selection() {
        let (store, _clock) = store();
        for i in 0..100 {
            put(&store, &format!("a{i}"), "v", 0);
            put(&store, &format!("b{i}"), "v", 0);
        }
        let mut cursor = 0;
        let mut seen = Vec::new();
        loop {
            let (next, keys) = store.scan(cursor, Some(b"a*"), 10);
            seen.extend(keys);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        assert_eq!(seen.len(), 100);
        assert!(seen.iter().all(|k| k.starts_with(b"a")));
        assert_eq!(store.scan(1 << SCAN_CURSOR_BITS, None, 10), (0, vec![]));
    }

    #[test]
    fn keys_and_random_key_see_only_live_keys() {
        let (store, clock) = store();
        assert_eq!(store.random_key(), None);
        put(&store, "hello", "v", 0);
        put(&store, "hallo", "v", 0);
        put(&store, "gone", "v", T0 + 1);
        clock.advance(2);
        let mut keys = store.keys(b"h?llo");
        keys.sort();
        assert_eq!(keys, vec![Bytes::from("hallo"), Bytes::from("hello")]);
        assert_eq!(store.keys(b"*").len(), 2);
        for _ in 0..20 {
            let k = store.random_key().unwrap();
            assert!(k.as_ref() == b"hello" || k.as_ref() == b"hallo");
        }
    }
}
