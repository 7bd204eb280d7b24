//! The shard's keyspace. [`Store`] (backend.rs) is the interface every command uses, over one
//! of two backends: [`Compact`], described here and in the files beside this one, and the moka
//! backend (moka/). [`Compact`]: key -> [`Value`] in [`SEGMENTS`] locked segments, bounded in
//! bytes.
//!
//! ```text
//! exec ─▶ Compact::get / peek ─▶ key_hash ─▶ segment lock ─▶ Segment::find ─▶ deadline check
//!                                          (expired: removed, counted) ─▶ touch ─▶ value copied out
//! exec ─▶ Compact::update(key, f) ─▶ segment lock ─▶ find, f, put / remove
//! exec ─▶ Compact::set(key, value) ─▶ segment lock ─▶ put ─▶ over max_memory? evict (evict.rs)
//! server timer ─▶ Compact::run_pending_tasks ─▶ active expiry, bound, LRU stamp aging (evict.rs)
//! exec ─▶ Compact::scan / keys / random_key ─▶ segments in hash order (scan.rs)
//! ```
//!
//! * A key's segment is the top bits of its xxh3-64 hash, whose top 48 bits are also its SCAN
//!   position, so SCAN walks segments in cursor order.
//! * Every operation on a key holds its segment's mutex, so a read-modify-write (INCR) and a
//!   blind SET of the same key never interleave, and no entry is shared outside the lock:
//!   reads copy the value out (`Bytes::copy_from_slice`, cheap at cache sizes).
//! * Each entry carries its own deadline (Unix ms from the injected [`Clock`]); every read
//!   checks it and `run_pending_tasks` removes expired keys nobody reads (as Redis's active
//!   expiry does).
//! * Memory: one global counter of weights (key + value + [`ENTRY_OVERHEAD`]); the write that
//!   crosses `max_memory` evicts, Redis-style (a few sampled entries and a pool of earlier
//!   candidates, the least recently or least frequently used goes), never the entry it just
//!   wrote.
//! * A segment whose mutex a panic poisoned is rebuilt from its slab before anything else
//!   runs on it, and the global counter corrected (`Store::repair`): a panic halfway through
//!   moving an entry never leaves a later operation on a half-updated table.
//! * This replaced a moka 0.12 cache. For 1,000,000 keys with 100-byte values it held 531
//!   bytes of RSS per key (this store: 176; redis-server: 208), and cost about 1,500
//!   instructions per GET and 8,100 per SET (this store: about 530 and 600, the value copies
//!   and their malloc included); see docs/benchmarks.md.

/// Runs each test named on both backends: `compact::NAME` and `moka::NAME`.
#[cfg(test)]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod compact {
            $(#[test]
            fn $name() {
                super::$name(super::Backend::Compact);
            })*
        }
        mod moka {
            $(#[test]
            fn $name() {
                super::$name(super::Backend::Moka);
            })*
        }
    };
}

mod backend;
mod evict;
mod hooks;
mod inspect;
mod lfu;
mod migrate;
mod moka;
mod moves;
mod objects;
mod scan;
mod segment;
mod settings;
mod snapshot;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod threaded_tests;
mod two_keys;
pub mod types;

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use bytes::Bytes;

pub use self::moka::MOKA_ENTRY_OVERHEAD;
use crate::clock::Clock;
pub use backend::{Backend, Locked, Store};
use evict::Room;
pub use inspect::{EntryInfo, HEAD};
pub use objects::{Meta, Object, Retime};
use segment::{key_hash, Entry, Segment};
pub use snapshot::SnapshotEntry;
pub use two_keys::{Moved, TwoKeys};

/// Bytes charged per entry on top of its key and value.
///
/// What an entry really costs beyond its payload: its 32-byte slab slot, its table slot
/// (4 bytes and a control byte, at a load between 7/16 and 7/8), the allocator's 8-byte
/// header and 16-byte rounding of the key+value block, and the slack of slabs growing by a
/// quarter. Measured as RSS growth per key less the payload: 55-60 B for 16 B keys with
/// 100 B values at 1M and 3M keys, 70 B at 600k (a worse point of the tables' doubling),
/// about 79 B for 13 B keys with 32 B values (malloc's rounding weighs more on small blocks);
/// 72 keeps RSS within 1.2x of `max_memory` for all of them (see docs/operations.md).
pub const ENTRY_OVERHEAD: u32 = 72;

/// Number of segments (a power of two): enough that two busy keys rarely share a lock.
pub const SEGMENTS: usize = 1 << SEGMENT_BITS;
const SEGMENT_BITS: u32 = 10;

/// How the store chooses what to evict when it is over `max_memory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Eviction {
    /// Approximated least recently used, as Redis's `allkeys-lru`: a fresh SET is always kept.
    #[default]
    Lru,
    /// Approximated least frequently used, as Redis's `allkeys-lfu`: an 8-bit logarithmic
    /// access counter that loses one a minute (`lfu-log-factor` 10, `lfu-decay-time` 1).
    /// A fresh SET is kept too.
    Lfu,
}

/// How a [`Store`] is sized.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Memory bound for keys, values and per-entry overhead, in bytes (Redis: `maxmemory`).
    pub max_memory: u64,
    /// What to evict when over the bound (Redis: `maxmemory-policy`).
    pub eviction: Eviction,
    /// Which backend holds the keys (`--store`).
    pub backend: Backend,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            max_memory: 1 << 30,
            eviction: Eviction::Lru,
            backend: Backend::Compact,
        }
    }
}

/// A stored string and its deadline, as handed in and out of the store.
///
/// The store keeps its own copy of the bytes; `data` handed out is a fresh copy too.
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

    /// Returns a copy of an entry's value.
    fn of(entry: &Entry) -> Value {
        Value {
            data: Bytes::copy_from_slice(entry.value()),
            deadline_ms: entry.deadline_ms(),
        }
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
    /// The value cannot fit under `max_memory` even in an empty store; reply `protocol::text::OOM`.
    OutOfMemory,
    /// The key holds a value of another type; reply `protocol::text::WRONGTYPE`.
    WrongType,
}

/// Counters for INFO and `/metrics`: the shape the router sums over shards.
pub type StoreStats = serve::stats::Keyspace;

/// A segment on a cache line of its own, so two cores locking neighbours do not share one.
#[repr(align(64))]
struct Slot(Mutex<Segment>);

struct Inner {
    segments: Box<[Slot]>,
    /// Sum of the weights of all entries: the figure bounded by `max_memory`.
    used: AtomicU64,
    /// LRU's clock: advanced by every write, read by every access (see evict.rs).
    tick: AtomicU32,
    clock: Arc<dyn Clock>,
    /// `maxmemory` and the policy: atomics, as CONFIG SET changes them (settings.rs).
    max_memory: AtomicU64,
    eviction: std::sync::atomic::AtomicBool,
    /// Where the next eviction outside the writer's segment, active expiry, and LRU stamp
    /// aging resume.
    evict_cursor: AtomicUsize,
    expire_cursor: AtomicUsize,
    age_cursor: AtomicUsize,
    /// Segments rebuilt after a panic (see `Store::repair`).
    repaired: AtomicU64,
    /// Told each key the store removes by itself (expired, evicted): see [`Compact::on_removal`].
    removal: std::sync::OnceLock<Removal>,
}

/// What [`Compact::on_removal`] installs.
pub(crate) type Removal = Box<dyn Fn(&[u8]) + Send + Sync>;

/// The compact backend: the keyspace of one shard in [`SEGMENTS`] segments of its own
/// slab and table; cheap to clone (an `Arc` inside).
#[derive(Clone)]
pub struct Compact {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Compact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compact")
            .field("max_memory", &self.inner.max_memory())
            .field("eviction", &self.inner.eviction())
            .finish_non_exhaustive()
    }
}

/// The clock read at most once per operation, and only when needed (most keys have no
/// deadline: a GET of one never reads the clock under LRU).
struct Now<'a> {
    clock: &'a dyn Clock,
    ms: Option<u64>,
}

impl<'a> Now<'a> {
    fn new(clock: &'a dyn Clock) -> Now<'a> {
        Now { clock, ms: None }
    }

    fn ms(&mut self) -> u64 {
        let clock = self.clock;
        *self.ms.get_or_insert_with(|| clock.now_ms())
    }
}

/// Returns an entry's weight: key + value + [`ENTRY_OVERHEAD`].
///
/// # Errors
/// [`StoreError::OutOfMemory`] when it exceeds `max_memory` (or the key is over 4 GiB).
fn weigh(key: &[u8], value: &[u8], max_memory: u64) -> Result<u64, StoreError> {
    let weight = key.len() as u64 + value.len() as u64 + u64::from(ENTRY_OVERHEAD);
    if weight > max_memory || u32::try_from(key.len()).is_err() {
        return Err(StoreError::OutOfMemory);
    }
    Ok(weight)
}

/// Returns the segment of a key hashing to `h`.
fn segment_of(h: u64) -> usize {
    (h >> (64 - SEGMENT_BITS)) as usize
}

impl Compact {
    /// Returns an empty store bounded by `config.max_memory`, reading time from `clock`.
    pub fn new(config: StoreConfig, clock: Arc<dyn Clock>) -> Compact {
        Compact {
            inner: Arc::new(Inner {
                segments: (0..SEGMENTS as u64)
                    .map(|i| Slot(Mutex::new(Segment::new(i))))
                    .collect(),
                used: AtomicU64::new(0),
                tick: AtomicU32::new(0),
                clock,
                max_memory: AtomicU64::new(config.max_memory),
                eviction: settings::eviction_cell(config.eviction),
                evict_cursor: AtomicUsize::new(0),
                expire_cursor: AtomicUsize::new(0),
                age_cursor: AtomicUsize::new(0),
                repaired: AtomicU64::new(0),
                removal: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Sets what is told each key the store removes by itself (expired on a read or by
    /// active expiry, evicted), under the key's segment lock: it must not call the store.
    /// The first call wins.
    pub fn on_removal(&self, f: impl Fn(&[u8]) + Send + Sync + 'static) {
        let _ = self.inner.removal.set(Box::new(f));
    }

    /// Tells the removal hook, if any, that `key` went.
    fn removed(&self, key: &[u8]) {
        if let Some(f) = self.inner.removal.get() {
            f(key);
        }
    }

    /// Returns the store clock's time in Unix milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    /// Locks segment `s`, repairing it first if a panic left it poisoned.
    fn lock(&self, s: usize) -> MutexGuard<'_, Segment> {
        match self.inner.segments[s].0.lock() {
            Ok(seg) => seg,
            Err(poisoned) => self.repair(s, poisoned.into_inner()),
        }
    }

    /// Locks segment `s` if no one holds it, repairing it first if a panic left it poisoned.
    fn try_lock(&self, s: usize) -> Option<MutexGuard<'_, Segment>> {
        match self.inner.segments[s].0.try_lock() {
            Ok(seg) => Some(seg),
            Err(TryLockError::Poisoned(poisoned)) => Some(self.repair(s, poisoned.into_inner())),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Rebuilds segment `s` (locked, poisoned: a panic unwound while it was held, maybe
    /// halfway through moving an entry), corrects the global memory counter by what the
    /// segment's entries really weigh, counts the repair and clears the poison.
    ///
    /// A panic in an `update` closure happens before anything changed; one inside the store
    /// (a bug, or an allocation failure that panics) can leave the table, the deadline
    /// partition or the charge half-updated. Carrying on over such a segment could return
    /// the wrong entry or lose track of memory, so no operation runs on it before this.
    #[cold]
    fn repair<'a>(&'a self, s: usize, mut seg: MutexGuard<'a, Segment>) -> MutexGuard<'a, Segment> {
        let before = (seg.len(), seg.charged);
        let weight = seg.rebuild();
        if weight >= seg.charged {
            let more = weight - seg.charged;
            self.charge(&mut seg, more);
        } else {
            let less = seg.charged - weight;
            self.discharge(&mut seg, less);
        }
        self.inner.segments[s].0.clear_poison();
        self.inner.repaired.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            segment = s,
            entries_before = before.0,
            entries = seg.len(),
            charged_before = before.1,
            charged = weight,
            "store segment rebuilt after a panic"
        );
        seg
    }

    /// Adds `w` to segment `seg`'s charge and the global counter; returns the new total.
    fn charge(&self, seg: &mut Segment, w: u64) -> u64 {
        seg.charged += w;
        self.inner.used.fetch_add(w, Ordering::Relaxed) + w
    }

    /// Takes `w` off segment `seg`'s charge and the global counter; returns the new total.
    fn discharge(&self, seg: &mut Segment, w: u64) -> u64 {
        seg.charged -= w;
        self.inner.used.fetch_sub(w, Ordering::Relaxed) - w
    }

    /// Returns how many times a segment was rebuilt after a panic inside the store.
    pub fn repaired_segments(&self) -> u64 {
        self.inner.repaired.load(Ordering::Relaxed)
    }

    /// Checks every invariant of every segment and that the global memory counter is the
    /// sum of the entries' weights; call it while no other thread uses the store.
    ///
    /// # Panics
    /// When an invariant does not hold.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        let mut weight = 0;
        for s in 0..SEGMENTS {
            weight += self.lock(s).check(s);
        }
        assert_eq!(
            self.inner.used.load(Ordering::Relaxed),
            weight,
            "global counter"
        );
    }

    /// Returns the live string value of `key`, counting a keyspace hit or miss and
    /// refreshing recency.
    ///
    /// # Errors
    /// [`StoreError::WrongType`] when the key holds a collection.
    pub fn get(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        self.read(key, true)
    }

    /// Returns the live string value of `key` without touching the hit/miss counters.
    ///
    /// # Errors
    /// [`StoreError::WrongType`] when the key holds a collection.
    pub fn peek(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        self.read(key, false)
    }

    fn read(&self, key: &[u8], count: bool) -> Result<Option<Value>, StoreError> {
        let h = key_hash(key);
        let mut now = Now::new(&*self.inner.clock);
        let mut seg = self.lock(segment_of(h));
        let found = match seg.find(h, key) {
            Some(i) if self.live_or_purge(&mut seg, i, &mut now) => {
                self.touch(&mut seg, i, &mut now);
                Some(i)
            }
            _ => None,
        };
        if count {
            if found.is_some() {
                seg.hits += 1;
            } else {
                seg.misses += 1;
            }
        }
        match found {
            Some(i) if !seg.entry(i).is_string() => Err(StoreError::WrongType),
            Some(i) => Ok(Some(Value::of(seg.entry(i)))),
            None => Ok(None),
        }
    }

    /// Returns true if the entry at `i` is live; removes it (counted as expired) if not.
    fn live_or_purge(&self, seg: &mut Segment, i: usize, now: &mut Now) -> bool {
        let e = seg.entry(i);
        if e.deadline_ms() == 0 || e.is_live(now.ms()) {
            return true;
        }
        let gone = seg.remove(i);
        self.removed(gone.key());
        let freed = gone.weight();
        seg.expired += 1;
        self.discharge(seg, freed);
        false
    }

    /// Stores `value` under `key` whatever was there (SET without options, MSET, SETEX).
    ///
    /// # Errors
    /// [`StoreError::OutOfMemory`] when the entry alone outweighs `max_memory`.
    pub fn set(&self, key: &[u8], value: Value) -> Result<(), StoreError> {
        weigh(key, &value.data, self.inner.max_memory())?;
        let h = key_hash(key);
        let s = segment_of(h);
        let mut now = Now::new(&*self.inner.clock);
        let mut seg = self.lock(s);
        let found = seg.find(h, key);
        self.put(&mut seg, s, h, key, &value, found, &mut now);
        Ok(())
    }

    /// Reads, then writes, one key atomically with respect to every other operation on it.
    ///
    /// `f` sees the live value; an expired one is passed as `None`, removed and counted as
    /// expired. A `Put` whose deadline is already past removes the key (counted as expired).
    /// `f` runs under the key's segment lock: it must not call back into the store.
    ///
    /// # Errors
    /// [`StoreError::OutOfMemory`] when a `Put`'s weight exceeds `max_memory`; nothing
    /// visible changes then (`f`'s result is dropped). [`StoreError::WrongType`] when the
    /// key holds a collection (`f` does not run).
    pub fn update<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<&Value>) -> (Update, R),
    ) -> Result<R, StoreError> {
        self.update_typed(key, true, f)
    }

    /// As [`update`](Self::update), but a key holding a collection is passed to `f` as an
    /// empty string with its deadline: for SET's NX / XX / KEEPTTL, which replace a value of
    /// any type without reading it.
    ///
    /// # Errors
    /// As [`update`](Self::update), without `WrongType`.
    pub fn update_any<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<&Value>) -> (Update, R),
    ) -> Result<R, StoreError> {
        self.update_typed(key, false, f)
    }

    fn update_typed<R>(
        &self,
        key: &[u8],
        strict: bool,
        f: impl FnOnce(Option<&Value>) -> (Update, R),
    ) -> Result<R, StoreError> {
        let h = key_hash(key);
        let s = segment_of(h);
        let mut now = Now::new(&*self.inner.clock);
        let mut seg = self.lock(s);
        let found = seg
            .find(h, key)
            .filter(|&i| self.live_or_purge(&mut seg, i, &mut now));
        if strict && found.is_some_and(|i| !seg.entry(i).is_string()) {
            return Err(StoreError::WrongType);
        }
        let current = found.map(|i| Value::of(seg.entry(i)));
        let (update, result) = f(current.as_ref());
        match update {
            Update::Keep => {
                if let Some(i) = found {
                    self.touch(&mut seg, i, &mut now);
                }
            }
            Update::Remove => {
                if let Some(i) = found {
                    let freed = seg.remove(i).weight();
                    self.discharge(&mut seg, freed);
                }
            }
            Update::Put(value) => {
                weigh(key, &value.data, self.inner.max_memory())?;
                self.put(&mut seg, s, h, key, &value, found, &mut now);
            }
        }
        Ok(result)
    }

    /// Writes `value` into segment `s` (locked by the caller), where `key` is at `found`;
    /// removes the key instead when the deadline is already past (counted as expired). Then
    /// evicts while the store is over its bound, never the entry just written.
    #[allow(clippy::too_many_arguments)] // reason: the caller's lookups, handed down to save a second hash and probe
    fn put(
        &self,
        seg: &mut Segment,
        s: usize,
        h: u64,
        key: &[u8],
        value: &Value,
        found: Option<usize>,
        now: &mut Now,
    ) {
        if value.deadline_ms != 0 && !value.is_live(now.ms()) {
            if let Some(i) = found {
                let freed = seg.remove(i).weight();
                self.discharge(seg, freed);
            }
            seg.expired += 1;
            return;
        }
        let total = match found {
            Some(i) => {
                let stamp = self.rewrite_stamp(seg, i, now);
                let e = seg.entry_mut(i);
                let old = e.weight();
                e.set_value(&value.data);
                e.stamp = stamp;
                let new = e.weight();
                seg.set_deadline(i, value.deadline_ms);
                if new >= old {
                    self.charge(seg, new - old)
                } else {
                    self.discharge(seg, old - new)
                }
            }
            None => {
                // Make room first, so a victim's block can be reused (see `evict_for`).
                let len = key.len() + value.data.len();
                let w = len as u64 + u64::from(ENTRY_OVERHEAD);
                let spare = if self.inner.used.load(Ordering::Relaxed) + w > self.inner.max_memory()
                {
                    let room = Room {
                        keep: None,
                        need: w,
                        reuse_len: Some(len),
                    };
                    self.evict_for(seg, s, room, now)
                } else {
                    None
                };
                let stamp = self.fresh_stamp(now);
                let e = match spare {
                    Some(data) => Entry::reuse(data, key, &value.data, value.deadline_ms, stamp),
                    None => Entry::new(key, &value.data, value.deadline_ms, stamp),
                };
                seg.insert(h, e);
                hooks::fault("store.put");
                self.charge(seg, w)
            }
        };
        if total > self.inner.max_memory() {
            // Another write raced in, or an overwrite grew: never evict the key just written.
            let room = Room {
                keep: Some((h, key)),
                need: 0,
                reuse_len: None,
            };
            drop(self.evict_for(seg, s, room, now));
        }
    }

    /// Removes `key`; returns true if a live key was removed.
    pub fn remove(&self, key: &[u8]) -> bool {
        let h = key_hash(key);
        let mut now = Now::new(&*self.inner.clock);
        let mut seg = self.lock(segment_of(h));
        match seg.find(h, key) {
            Some(i) if self.live_or_purge(&mut seg, i, &mut now) => {
                let freed = seg.remove(i).weight();
                self.discharge(&mut seg, freed);
                true
            }
            _ => false,
        }
    }

    /// Removes every key (Redis: FLUSHDB), one segment at a time.
    pub fn flush(&self) {
        for s in 0..SEGMENTS {
            let mut seg = self.lock(s);
            let freed = seg.clear();
            self.discharge(&mut seg, freed);
        }
    }

    /// Returns the number of keys held (keys past their deadline but not yet removed count, as
    /// in Redis's DBSIZE). Exact; locks each segment in turn.
    pub fn len(&self) -> u64 {
        (0..SEGMENTS).map(|s| self.lock(s).len() as u64).sum()
    }

    /// Returns true when [`len`](Self::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the counters: sizes exact, summed over the segments.
    pub fn stats(&self) -> StoreStats {
        let mut stats = StoreStats {
            used_memory: self.inner.used.load(Ordering::Relaxed),
            max_memory: self.inner.max_memory(),
            ..StoreStats::default()
        };
        for s in 0..SEGMENTS {
            let seg = self.lock(s);
            stats.keys += seg.len() as u64;
            stats.expires += seg.expiring() as u64;
            stats.hits += seg.hits;
            stats.misses += seg.misses;
            stats.expired += seg.expired;
            stats.evicted += seg.evicted;
        }
        stats
    }
}
