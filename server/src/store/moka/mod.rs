//! The moka backend (`--store moka`): keys in a moka 0.12 `sync::Cache`, which bounds memory
//! with a weigher, evicts by its policy (`EvictionPolicy::lru()`, or TinyLFU for `lfu`) and
//! reclaims expired keys by a per-entry `Expiry`.
//!
//! ```text
//! exec ─▶ Store::get / update / write_collection ... ─▶ MokaStore
//!            ─▶ key_hash ─▶ stripe lock ─▶ cache.get ─▶ deadline check (expired: removed, counted)
//!            ─▶ (a write) cache.insert of a new Arc<Entry> + the stripe's key index
//! moka's housekeeping (inside a write, or the timer's run_pending_tasks)
//!            ─▶ evicts / expires ─▶ eviction_listener: gauges, counters, reap queue
//! timer ─▶ run_pending_tasks ─▶ cache.run_pending_tasks ─▶ reap (the stripes forget removed keys)
//! ```
//!
//! * Every operation on a key holds its stripe's mutex ([`SEGMENTS`] stripes by the top bits
//!   of the key's xxh3 hash, as the compact store's segments): one serialisation point per
//!   key, so INCR, APPEND and SET ... GET never interleave with another write of the key
//!   (moka's `and_compute_with` is atomic only against other entry-API calls, not against
//!   `insert`; see /work/shared/DEPENDENCIES.md). Commands on several keys take their
//!   stripes in order, as the compact store takes its segments.
//! * A stripe indexes its keys with their deadlines (`Slot`): SCAN walks stripes in hash
//!   order with a stable cursor (the compact store's 48-bit hash positions), and KEYS,
//!   RANDOMKEY, snapshots and a resize's export read the index, not moka's unordered `iter()`.
//!   Keys moka removes on its own (evicted, expired) reach the index through the eviction
//!   listener's queue (`reap`), which never takes a stripe lock (the listener can run inside
//!   a write holding one).
//! * Values are never changed inside the cache: a write inserts a new `Arc<Entry>` (a
//!   collection is moved, not copied, from the old one), so moka re-weighs it and the
//!   listener's `Replaced` notification takes the old weight off `used_memory`.
//! * Each entry keeps its own deadline (Unix ms from the injected clock) and every read checks
//!   it; moka's `Expiry` (the same deadline, on moka's clock) only reclaims memory of keys
//!   nobody reads. moka has no threads of its own since 0.12: the shard's maintenance timer
//!   runs its pending work.
//! * `maxmemory` and the policy are fixed when a moka cache is built: CONFIG SET of either
//!   builds a new cache and moves every entry into it (all stripes held; O(keys)).

mod objects;
mod walk;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ::moka::notification::RemovalCause;
use ::moka::policy::EvictionPolicy;
use ::moka::sync::Cache;
use ::moka::Expiry;
use bytes::Bytes;
use hashbrown::HashTable;
use xxhash_rust::xxh3::Xxh3Builder;

use super::segment::{key_hash, Tombstones};
use super::types::Collection;
use super::{segment_of, Eviction, Now, StoreConfig, StoreError, StoreStats, Value, SEGMENTS};
use crate::clock::Clock;

pub use objects::Locked;

/// Bytes charged per entry on top of its key and value (or a collection's weight).
///
/// What an entry costs besides its payload here: moka's own entry (its node in the
/// concurrent hash table, the access-order deque and the timer wheel, the key's `Arc`, the
/// frequency sketch's share), this backend's `Arc<Entry>`, the key's and value's `Bytes`
/// headers, and the stripe index's slot. Measured as RSS growth per key less the payload:
/// 595 B for 16 B keys with 100 B values at 1,000,000 keys (docs/benchmarks.md, "Store
/// backends side by side"), so that RSS tracks `max_memory` as the compact store's does.
pub const MOKA_ENTRY_OVERHEAD: u32 = 600;

/// One stored value: what the cache holds under a key.
#[derive(Debug)]
pub(super) struct Entry {
    value: Data,
    /// Unix ms after which the key no longer exists; 0 = none.
    deadline_ms: u64,
    /// Key + value + [`MOKA_ENTRY_OVERHEAD`], as moka's weigher reads it (fixed at insert).
    weight: u32,
}

#[derive(Debug)]
enum Data {
    Str(Bytes),
    /// Behind a mutex only to be changed (then moved out) under the stripe lock that every
    /// access holds; never contended. Boxed, so a string's entry stays small.
    Coll(Box<Mutex<Collection>>),
}

impl Entry {
    fn is_live(&self, now_ms: u64) -> bool {
        self.deadline_ms == 0 || now_ms <= self.deadline_ms
    }

    fn coll(&self) -> Option<MutexGuard<'_, Collection>> {
        match &self.value {
            Data::Str(_) => None,
            Data::Coll(c) => Some(c.lock().unwrap_or_else(|p| p.into_inner())),
        }
    }
}

/// A key in a stripe's index, with its deadline (so walks filter expired keys without a
/// cache read).
#[derive(Debug)]
struct Slot {
    key: Bytes,
    deadline_ms: u64,
}

/// Gauges of one cache: what it holds, kept by inserts (+) and the listener (-).
#[derive(Debug, Default)]
struct Gauges {
    used: AtomicU64,
    expires: AtomicU64,
}

/// What moka removed on its own, shared by every cache this store builds.
#[derive(Default)]
struct Removals {
    evicted: AtomicU64,
    expired: AtomicU64,
    /// Keys moka evicted or expired, for the stripes' indexes to forget (`reap`).
    reap: Mutex<Vec<Bytes>>,
    /// Told each key the store removes by itself: see [`MokaStore::on_removal`].
    hook: std::sync::OnceLock<super::Removal>,
}

impl std::fmt::Debug for Removals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Removals")
            .field("evicted", &self.evicted)
            .field("expired", &self.expired)
            .finish_non_exhaustive()
    }
}

impl Removals {
    /// Tells the removal hook, if any, that `key` went.
    fn removed(&self, key: &[u8]) {
        if let Some(f) = self.hook.get() {
            f(key);
        }
    }
}

type Moka = Cache<Bytes, Arc<Entry>, Xxh3Builder>;

/// A cache and its gauges; replaced whole when `maxmemory` or the policy changes.
struct Backing {
    cache: Moka,
    gauges: Arc<Gauges>,
    /// What it was built with.
    max_memory: u64,
    lfu: bool,
}

impl std::fmt::Debug for Backing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backing").finish_non_exhaustive()
    }
}

/// moka's per-entry expiry: the entry's own deadline, read against the store's clock when the
/// entry is written, 2 ms late (a key is live during its deadline's own ms; moka's own expiry
/// comes after every read would have found the key past).
struct Deadlines {
    clock: Arc<dyn Clock>,
}

impl Deadlines {
    fn after(&self, e: &Entry) -> Option<Duration> {
        (e.deadline_ms != 0).then(|| {
            let left = e.deadline_ms.saturating_sub(self.clock.now_ms());
            Duration::from_millis(left.saturating_add(2))
        })
    }
}

impl Expiry<Bytes, Arc<Entry>> for Deadlines {
    fn expire_after_create(&self, _: &Bytes, e: &Arc<Entry>, _: Instant) -> Option<Duration> {
        self.after(e)
    }

    fn expire_after_update(
        &self,
        _: &Bytes,
        e: &Arc<Entry>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        self.after(e)
    }
}

fn build(
    max_memory: u64,
    lfu: bool,
    clock: Arc<dyn Clock>,
    removals: Arc<Removals>,
) -> Arc<Backing> {
    let gauges = Arc::new(Gauges::default());
    let g = gauges.clone();
    let policy = if lfu {
        EvictionPolicy::tiny_lfu()
    } else {
        EvictionPolicy::lru()
    };
    let cache = Cache::builder()
        .max_capacity(max_memory)
        .weigher(|_: &Bytes, e: &Arc<Entry>| e.weight)
        .expire_after(Deadlines { clock })
        .eviction_policy(policy)
        // Called in the thread that removed the entry, maybe under a stripe lock: atomics
        // and the reap queue only.
        .eviction_listener(move |key: Arc<Bytes>, e: Arc<Entry>, cause| {
            g.used.fetch_sub(u64::from(e.weight), Relaxed);
            if e.deadline_ms != 0 {
                g.expires.fetch_sub(1, Relaxed);
            }
            let counter = match cause {
                RemovalCause::Size => &removals.evicted,
                RemovalCause::Expired => &removals.expired,
                RemovalCause::Explicit | RemovalCause::Replaced => return,
            };
            counter.fetch_add(1, Relaxed);
            removals.removed(&key);
            lock(&removals.reap).push((*key).clone());
        })
        .build_with_hasher(Xxh3Builder::new());
    Arc::new(Backing {
        cache,
        gauges,
        max_memory,
        lfu,
    })
}

/// Locks `m`; a panic that poisoned it left nothing half-done that matters here (a stripe's
/// index is rebuilt from the cache by `reap` and by the next write of a key).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| {
        m.clear_poison();
        p.into_inner()
    })
}

/// One stripe: the keys whose hash starts with its number, and its counters.
#[derive(Debug)]
struct Stripe {
    keys: HashTable<Slot>,
    backing: Arc<Backing>,
    hits: u64,
    misses: u64,
    /// Keys found expired by a read (moka's own expirations are in [`Removals`]).
    expired: u64,
    tombstones: Option<Box<Tombstones>>,
}

/// A stripe on a cache line of its own.
#[repr(align(64))]
#[derive(Debug)]
struct Padded(Mutex<Stripe>);

struct Inner {
    stripes: Box<[Padded]>,
    clock: Arc<dyn Clock>,
    max_memory: AtomicU64,
    lfu: AtomicBool,
    removals: Arc<Removals>,
}

/// The moka backend; cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct MokaStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MokaStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MokaStore")
            .field("max_memory", &self.max_memory())
            .field("eviction", &self.eviction())
            .finish_non_exhaustive()
    }
}

/// Returns an entry's weight, or `OutOfMemory` when it alone outweighs `max_memory`.
fn weigh(key_len: usize, value_weight: u64, max_memory: u64) -> Result<u32, StoreError> {
    let w = key_len as u64 + value_weight + u64::from(MOKA_ENTRY_OVERHEAD);
    if w > max_memory {
        return Err(StoreError::OutOfMemory);
    }
    // A collection's weight grows past u32 only past 4 GiB; moka's weigher is 32 bits.
    Ok(u32::try_from(w).unwrap_or(u32::MAX))
}

impl MokaStore {
    /// Returns an empty store bounded by `config.max_memory`, reading time from `clock`.
    pub fn new(config: StoreConfig, clock: Arc<dyn Clock>) -> MokaStore {
        let lfu = config.eviction == Eviction::Lfu;
        let removals = Arc::new(Removals::default());
        let backing = build(config.max_memory, lfu, clock.clone(), removals.clone());
        let stripes = (0..SEGMENTS)
            .map(|_| {
                Padded(Mutex::new(Stripe {
                    keys: HashTable::new(),
                    backing: backing.clone(),
                    hits: 0,
                    misses: 0,
                    expired: 0,
                    tombstones: None,
                }))
            })
            .collect();
        MokaStore {
            inner: Arc::new(Inner {
                stripes,
                clock,
                max_memory: AtomicU64::new(config.max_memory),
                lfu: AtomicBool::new(lfu),
                removals,
            }),
        }
    }

    /// Sets what is told each key the store removes by itself (expired on a read or by
    /// moka, evicted), maybe under a stripe lock: it must not call the store. The first call
    /// wins.
    pub fn on_removal(&self, f: impl Fn(&[u8]) + Send + Sync + 'static) {
        let _ = self.inner.removals.hook.set(Box::new(f));
    }

    /// Returns the store clock's time in Unix milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    fn stripe(&self, s: usize) -> MutexGuard<'_, Stripe> {
        lock(&self.inner.stripes[s].0)
    }

    fn now(&self) -> Now<'_> {
        Now::new(&*self.inner.clock)
    }

    /// Returns the live entry of `key` in its stripe `st` (locked); an expired one is removed
    /// and counted. With `count`, a keyspace hit or miss is counted.
    fn find(
        &self,
        st: &mut Stripe,
        h: u64,
        key: &[u8],
        now: &mut Now,
        count: bool,
    ) -> Option<Arc<Entry>> {
        let found = match st.backing.cache.get(key) {
            Some(e) if e.deadline_ms == 0 || e.is_live(now.ms()) => Some(e),
            Some(_) => {
                self.discard(st, h, key);
                self.inner.removals.removed(key);
                st.expired += 1;
                None
            }
            // moka's `get` hides an entry past its expiry from then on, but removes it only when
            // its timer wheel (1 s buckets) gets there: a read that finds the key's deadline
            // past removes it now and counts it, as Redis counts an expiry a read finds (moka
            // reports an `invalidate` as `Explicit` whatever the entry's own expiry: the
            // listener does not count it again).
            None => {
                let past = st
                    .keys
                    .find(h, |s| s.key == key)
                    .is_some_and(|s| s.deadline_ms != 0 && now.ms() > s.deadline_ms);
                if past {
                    self.discard(st, h, key);
                    self.inner.removals.removed(key);
                    st.expired += 1;
                }
                None
            }
        };
        if count {
            if found.is_some() {
                st.hits += 1;
            } else {
                st.misses += 1;
            }
        }
        found
    }

    /// Writes `value` (already weighed) under `key` in stripe `st` with `deadline_ms`.
    fn insert(
        &self,
        st: &mut Stripe,
        h: u64,
        key: &[u8],
        value: Data,
        deadline_ms: u64,
        weight: u32,
    ) {
        let g = &st.backing.gauges;
        g.used.fetch_add(u64::from(weight), Relaxed);
        if deadline_ms != 0 {
            g.expires.fetch_add(1, Relaxed);
        }
        let kb = match st.keys.find_mut(h, |s| s.key == key) {
            Some(slot) => {
                slot.deadline_ms = deadline_ms;
                slot.key.clone()
            }
            None => {
                let kb = Bytes::copy_from_slice(key);
                st.keys.insert_unique(
                    h,
                    Slot {
                        key: kb.clone(),
                        deadline_ms,
                    },
                    |s| key_hash(&s.key),
                );
                kb
            }
        };
        let entry = Entry {
            value,
            deadline_ms,
            weight,
        };
        st.backing.cache.insert(kb, Arc::new(entry));
    }

    /// Removes `key` from stripe `st`'s cache and index, remembering it during a resize.
    fn discard(&self, st: &mut Stripe, h: u64, key: &[u8]) {
        st.backing.cache.invalidate(key);
        if let Ok(slot) = st.keys.find_entry(h, |s| s.key == key) {
            slot.remove();
        }
        if let Some(t) = &mut st.tombstones {
            t.hashes.insert(h);
        }
    }

    /// Stores a string (copied: a request's bytes would pin its read buffer) with its
    /// deadline, or removes the key (counted as expired) when the deadline is past.
    fn put_str(
        &self,
        st: &mut Stripe,
        h: u64,
        key: &[u8],
        value: &Value,
        weight: u32,
        now: &mut Now,
    ) {
        if !value.is_live(now.ms()) {
            self.discard(st, h, key);
            st.expired += 1;
            return;
        }
        let data = Data::Str(Bytes::copy_from_slice(&value.data));
        self.insert(st, h, key, data, value.deadline_ms, weight);
    }

    fn read(&self, key: &[u8], count: bool) -> Result<Option<Value>, StoreError> {
        let h = key_hash(key);
        let mut now = self.now();
        let mut st = self.stripe(segment_of(h));
        match self.find(&mut st, h, key, &mut now, count) {
            None => Ok(None),
            Some(e) => match &e.value {
                Data::Str(data) => Ok(Some(Value {
                    data: data.clone(),
                    deadline_ms: e.deadline_ms,
                })),
                Data::Coll(_) => Err(StoreError::WrongType),
            },
        }
    }

    /// As `Compact::get`.
    ///
    /// # Errors
    /// [`StoreError::WrongType`] when the key holds a collection.
    pub fn get(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        self.read(key, true)
    }

    /// As `Compact::peek`.
    ///
    /// # Errors
    /// [`StoreError::WrongType`] when the key holds a collection.
    pub fn peek(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        self.read(key, false)
    }

    /// As `Compact::set`.
    ///
    /// # Errors
    /// [`StoreError::OutOfMemory`] when the entry alone outweighs `max_memory`.
    pub fn set(&self, key: &[u8], value: Value) -> Result<(), StoreError> {
        let w = weigh(key.len(), value.data.len() as u64, self.max_memory())?;
        let h = key_hash(key);
        let mut now = self.now();
        let mut st = self.stripe(segment_of(h));
        self.put_str(&mut st, h, key, &value, w, &mut now);
        Ok(())
    }

    /// As `Compact::update`.
    ///
    /// # Errors
    /// As `Compact::update`.
    pub fn update<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<&Value>) -> (super::Update, R),
    ) -> Result<R, StoreError> {
        self.update_typed(key, true, f)
    }

    /// As `Compact::update_any`.
    ///
    /// # Errors
    /// As `Compact::update_any`.
    pub fn update_any<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<&Value>) -> (super::Update, R),
    ) -> Result<R, StoreError> {
        self.update_typed(key, false, f)
    }

    fn update_typed<R>(
        &self,
        key: &[u8],
        strict: bool,
        f: impl FnOnce(Option<&Value>) -> (super::Update, R),
    ) -> Result<R, StoreError> {
        let h = key_hash(key);
        let mut now = self.now();
        let mut st = self.stripe(segment_of(h));
        let found = self.find(&mut st, h, key, &mut now, false);
        let current = match &found {
            None => None,
            Some(e) => match &e.value {
                Data::Str(data) => Some(Value {
                    data: data.clone(),
                    deadline_ms: e.deadline_ms,
                }),
                Data::Coll(_) if strict => return Err(StoreError::WrongType),
                Data::Coll(_) => Some(Value {
                    data: Bytes::new(),
                    deadline_ms: e.deadline_ms,
                }),
            },
        };
        let (update, result) = f(current.as_ref());
        match update {
            super::Update::Keep => {}
            super::Update::Remove => {
                if found.is_some() {
                    self.discard(&mut st, h, key);
                }
            }
            super::Update::Put(value) => {
                let w = weigh(key.len(), value.data.len() as u64, self.max_memory())?;
                self.put_str(&mut st, h, key, &value, w, &mut now);
            }
        }
        Ok(result)
    }

    /// Removes `key`; returns true if a live key was removed.
    pub fn remove(&self, key: &[u8]) -> bool {
        let h = key_hash(key);
        let mut now = self.now();
        let mut st = self.stripe(segment_of(h));
        let found = self.find(&mut st, h, key, &mut now, false).is_some();
        if found {
            self.discard(&mut st, h, key);
        }
        found
    }

    /// Removes every key (FLUSHDB), one stripe at a time.
    pub fn flush(&self) {
        for s in 0..SEGMENTS {
            let mut st = self.stripe(s);
            let Stripe { keys, backing, .. } = &mut *st;
            for slot in keys.drain() {
                backing.cache.invalidate(&slot.key[..]);
            }
            if let Some(t) = &mut st.tombstones {
                t.flushed = true;
            }
        }
    }

    /// Returns the number of keys held, after moka's pending removals are applied.
    pub fn len(&self) -> u64 {
        self.settle();
        (0..SEGMENTS)
            .map(|s| self.stripe(s).keys.len() as u64)
            .sum()
    }

    /// Returns true when [`len`](Self::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns INFO's counters, after moka's pending removals are applied.
    pub fn stats(&self) -> StoreStats {
        self.settle();
        let r = &self.inner.removals;
        let mut stats = StoreStats {
            max_memory: self.max_memory(),
            evicted: r.evicted.load(Relaxed),
            expired: r.expired.load(Relaxed),
            ..StoreStats::default()
        };
        for s in 0..SEGMENTS {
            let st = self.stripe(s);
            if s == 0 {
                stats.used_memory = st.backing.gauges.used.load(Relaxed);
                stats.expires = st.backing.gauges.expires.load(Relaxed);
            }
            stats.keys += st.keys.len() as u64;
            stats.hits += st.hits;
            stats.misses += st.misses;
            stats.expired += st.expired;
        }
        stats
    }

    /// Returns the cache every stripe uses now.
    fn backing(&self) -> Arc<Backing> {
        self.stripe(0).backing.clone()
    }

    /// Runs moka's pending work (evictions, expirations) and lets the stripes forget what it
    /// removed.
    fn settle(&self) {
        self.backing().cache.run_pending_tasks();
        self.reap();
    }

    /// Removes from the stripes' indexes the keys moka evicted or expired (unless written
    /// again since), remembering them during a resize.
    fn reap(&self) {
        let gone = std::mem::take(&mut *lock(&self.inner.removals.reap));
        for key in gone {
            let h = key_hash(&key);
            let mut st = self.stripe(segment_of(h));
            if st.backing.cache.contains_key(&key[..]) {
                continue;
            }
            if let Ok(slot) = st.keys.find_entry(h, |s| s.key == key) {
                slot.remove();
                if let Some(t) = &mut st.tombstones {
                    t.hashes.insert(h);
                }
            }
        }
    }

    /// Runs the periodic work: moka's pending evictions and expirations, then the stripes'
    /// reaping. Never behind: moka expires every due entry in its pass.
    pub fn run_pending_tasks(&self) -> bool {
        self.settle();
        false
    }

    /// As [`run_pending_tasks`](Self::run_pending_tasks).
    pub fn expire_more(&self, _budget: Duration) -> bool {
        self.run_pending_tasks()
    }

    /// Always 0: a stripe poisoned by a panic is used as it is (see `lock`).
    pub fn repaired_segments(&self) -> u64 {
        0
    }

    /// Returns `maxmemory`, in bytes.
    pub fn max_memory(&self) -> u64 {
        self.inner.max_memory.load(Relaxed)
    }

    /// Returns the eviction policy.
    pub fn eviction(&self) -> Eviction {
        if self.inner.lfu.load(Relaxed) {
            Eviction::Lfu
        } else {
            Eviction::Lru
        }
    }

    /// Changes `maxmemory` (CONFIG SET maxmemory): a new cache of that capacity.
    pub fn set_max_memory(&self, bytes: u64) {
        self.inner.max_memory.store(bytes, Relaxed);
        self.rebuild();
    }

    /// Changes the policy (CONFIG SET maxmemory-policy): a new cache with that policy.
    pub fn set_eviction(&self, eviction: Eviction) {
        self.inner.lfu.store(eviction == Eviction::Lfu, Relaxed);
        self.rebuild();
    }

    /// Builds a cache with the current `maxmemory` and policy and moves every entry into it,
    /// every stripe held meanwhile, so no write goes to the old one.
    fn rebuild(&self) {
        let mut stripes: Vec<MutexGuard<'_, Stripe>> =
            (0..SEGMENTS).map(|s| self.stripe(s)).collect();
        let old = stripes[0].backing.clone();
        if (old.max_memory, old.lfu) == (self.max_memory(), self.inner.lfu.load(Relaxed)) {
            return;
        }
        let new = build(
            self.max_memory(),
            self.inner.lfu.load(Relaxed),
            self.inner.clock.clone(),
            self.inner.removals.clone(),
        );
        for st in &mut stripes {
            st.backing = new.clone();
            let Stripe { keys, .. } = &mut **st;
            keys.retain(|slot| match old.cache.get(&slot.key[..]) {
                Some(e) => {
                    new.gauges.used.fetch_add(u64::from(e.weight), Relaxed);
                    if e.deadline_ms != 0 {
                        new.gauges.expires.fetch_add(1, Relaxed);
                    }
                    new.cache.insert(slot.key.clone(), e);
                    true
                }
                None => false,
            });
        }
        drop(stripes);
        self.settle();
    }

    /// Checks that every indexed key is in its stripe and cached with the index's deadline,
    /// that the cache holds no key the index lacks, and that `used_memory` is the sum of the
    /// cached entries' weights.
    ///
    /// moka expires entries on its own clock, which a test's manual clock does not move: an
    /// entry may expire while this runs. So the check is retried (for up to 5 s) until it
    /// finds no entry mid-removal.
    ///
    /// # Panics
    /// When one does not hold.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let started = Instant::now();
        loop {
            self.settle();
            let backing = self.backing();
            let (mut weight, mut indexed, mut missing) = (0, 0, 0);
            for s in 0..SEGMENTS {
                let st = self.stripe(s);
                for slot in &st.keys {
                    assert_eq!(segment_of(key_hash(&slot.key)), s, "key in its stripe");
                    let Some(e) = backing.cache.get(&slot.key[..]) else {
                        assert_ne!(slot.deadline_ms, 0, "a key without a deadline is cached");
                        missing += 1;
                        continue;
                    };
                    assert_eq!(e.deadline_ms, slot.deadline_ms, "index deadline");
                    weight += u64::from(e.weight);
                    indexed += 1;
                }
            }
            let used = backing.gauges.used.load(Relaxed);
            let cached = backing.cache.iter().count();
            if missing == 0 && used == weight && cached == indexed {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "used {used} != weights {weight}, or {cached} cached != {indexed} indexed, \
                 {missing} expiring"
            );
            std::thread::yield_now();
        }
    }
}
