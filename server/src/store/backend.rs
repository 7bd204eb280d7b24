//! The store interface the executors use: [`Store`], one of two backends chosen at start-up
//! (`--store compact|moka`), with one method per thing a command asks of a keyspace.
//!
//! ```text
//! exec ─▶ Store::get / update / write_collection / lock_keys / scan ... ─▶ match backend
//!            ├─▶ Compact (segment.rs, evict.rs ...: the default)
//!            └─▶ Moka    (moka/: moka::sync::Cache under per-stripe locks)
//! ```
//!
//! * The methods are shaped by the commands (a read-modify-write closure, a collection changed
//!   in place, several keys under one step, a SCAN position), not by either backend: no
//!   executor knows which one it runs on.
//! * An enum, not a trait object: the closures the methods take are generic, and a match on
//!   a two-variant enum costs the compact hot path a compare and a jump (measured in
//!   docs/benchmarks.md), where a generic executor would have doubled the code of every
//!   command.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::moka::{Locked as MokaLocked, MokaStore};
use super::moves::Locked as CompactLocked;
use super::types::{Collection, ObjType};
use super::{
    Compact, EntryInfo, Eviction, Meta, Moved, Object, Retime, SnapshotEntry, StoreConfig,
    StoreError, StoreStats, TwoKeys, Update, Value,
};
use crate::clock::Clock;

/// Which backend holds a shard's keys (`--store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Backend {
    /// The segmented store of this crate (segment.rs): the smallest and cheapest per key.
    #[default]
    Compact,
    /// moka's `sync::Cache` (moka/): a well-known concurrent cache library, at more memory
    /// and instructions per key.
    Moka,
}

impl Backend {
    /// Returns the name `--store` takes and INFO reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Compact => "compact",
            Backend::Moka => "moka",
        }
    }
}

/// The keyspace of one shard, on the backend its [`StoreConfig`] named; cheap to clone.
#[derive(Clone, Debug)]
pub enum Store {
    Compact(Compact),
    Moka(MokaStore),
}

/// Runs `$body` with `$s` bound to the backend of `$store`.
macro_rules! each {
    ($store:expr, $s:ident => $body:expr) => {
        match $store {
            Store::Compact($s) => $body,
            Store::Moka($s) => $body,
        }
    };
}

impl Store {
    /// Returns an empty store of `config.backend`, bounded by `config.max_memory`, reading
    /// time from `clock`.
    pub fn new(config: StoreConfig, clock: Arc<dyn Clock>) -> Store {
        match config.backend {
            Backend::Compact => Store::Compact(Compact::new(config, clock)),
            Backend::Moka => Store::Moka(MokaStore::new(config, clock)),
        }
    }

    /// Returns which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            Store::Compact(_) => Backend::Compact,
            Store::Moka(_) => Backend::Moka,
        }
    }

    /// Returns the bytes charged per entry on top of its key and value (MEMORY USAGE).
    pub fn entry_overhead(&self) -> u32 {
        match self {
            Store::Compact(_) => super::ENTRY_OVERHEAD,
            Store::Moka(_) => super::MOKA_ENTRY_OVERHEAD,
        }
    }

    /// Sets what is told each key the store removes by itself (expired, evicted), under the
    /// key's lock: it must not call the store. The first call wins.
    pub fn on_removal(&self, f: impl Fn(&[u8]) + Send + Sync + 'static) {
        each!(self, s => s.on_removal(f))
    }

    /// Returns the store clock's time in Unix milliseconds.
    #[inline]
    pub fn now_ms(&self) -> u64 {
        each!(self, s => s.now_ms())
    }

    /// Returns the live string value of `key`, counting a keyspace hit or miss and
    /// refreshing recency.
    ///
    /// # Errors
    /// [`StoreError::WrongType`] when the key holds a collection.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        each!(self, s => s.get(key))
    }

    /// Returns the live string value of `key` without touching the hit/miss counters.
    ///
    /// # Errors
    /// [`StoreError::WrongType`] when the key holds a collection.
    #[inline]
    pub fn peek(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        each!(self, s => s.peek(key))
    }

    /// [`get`](Self::get) of a key known to hold a string, for tests.
    #[cfg(test)]
    pub(crate) fn get_str(&self, key: &[u8]) -> Option<Value> {
        self.get(key).expect("a string")
    }

    /// [`peek`](Self::peek) of a key known to hold a string, for tests.
    #[cfg(test)]
    pub(crate) fn peek_str(&self, key: &[u8]) -> Option<Value> {
        self.peek(key).expect("a string")
    }

    /// Stores `value` under `key` whatever was there (SET without options, MSET, SETEX).
    ///
    /// # Errors
    /// [`StoreError::OutOfMemory`] when the entry alone outweighs `max_memory`.
    #[inline]
    pub fn set(&self, key: &[u8], value: Value) -> Result<(), StoreError> {
        each!(self, s => s.set(key, value))
    }

    /// Reads, then writes, one string key atomically with respect to every other operation
    /// on it (INCR, APPEND, SET ... GET). `f` sees the live value (`None` when absent or
    /// expired, the expired one removed and counted); a `Put` whose deadline is past removes
    /// the key. `f` must not call back into the store.
    ///
    /// # Errors
    /// [`StoreError::OutOfMemory`] when a `Put` outweighs `max_memory` (nothing changes);
    /// [`StoreError::WrongType`] when the key holds a collection (`f` does not run).
    #[inline]
    pub fn update<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<&Value>) -> (Update, R),
    ) -> Result<R, StoreError> {
        each!(self, s => s.update(key, f))
    }

    /// As [`update`](Self::update), but a key holding a collection is passed to `f` as an
    /// empty string with its deadline (SET's NX / XX / KEEPTTL replace any type).
    ///
    /// # Errors
    /// As [`update`](Self::update), without `WrongType`.
    #[inline]
    pub fn update_any<R>(
        &self,
        key: &[u8],
        f: impl FnOnce(Option<&Value>) -> (Update, R),
    ) -> Result<R, StoreError> {
        each!(self, s => s.update_any(key, f))
    }

    /// Removes `key`; returns true if a live key was removed.
    #[inline]
    pub fn remove(&self, key: &[u8]) -> bool {
        each!(self, s => s.remove(key))
    }

    /// Removes every key (FLUSHDB).
    pub fn flush(&self) {
        each!(self, s => s.flush())
    }

    /// Returns the number of keys held (DBSIZE: expired keys not yet removed count).
    pub fn len(&self) -> u64 {
        each!(self, s => s.len())
    }

    /// Returns true when [`len`](Self::len) is 0.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns INFO's keyspace counters.
    pub fn stats(&self) -> StoreStats {
        each!(self, s => s.stats())
    }

    /// Returns the type and deadline of the live `key`; with `count`, as a read (a hit or
    /// miss counted, recency refreshed).
    #[inline]
    pub fn meta(&self, key: &[u8], count: bool) -> Option<Meta> {
        each!(self, s => s.meta(key, count))
    }

    /// Changes the deadline of `key`, whatever its type: `f` sees the current one (`None`
    /// when absent) and says what to do.
    pub fn retime<R>(&self, key: &[u8], f: impl FnOnce(Option<u64>) -> (Retime, R)) -> R {
        each!(self, s => s.retime(key, f))
    }

    /// Runs `f` on the collection of type `t` at `key`, as a read; `Ok(None)` when absent.
    ///
    /// # Errors
    /// [`StoreError::WrongType`] when the key holds another type.
    #[inline]
    pub fn read_collection<R>(
        &self,
        key: &[u8],
        t: ObjType,
        f: impl FnOnce(&Collection) -> R,
    ) -> Result<Option<R>, StoreError> {
        each!(self, s => s.read_collection(key, t, f))
    }

    /// Runs `f` on the collection of type `t` at `key` to change it (on a new empty one when
    /// absent and `create`, else `Ok(None)`); an emptied collection is removed.
    ///
    /// # Errors
    /// [`StoreError::WrongType`] when the key holds another type (`f` does not run).
    #[inline]
    pub fn write_collection<R>(
        &self,
        key: &[u8],
        t: ObjType,
        create: bool,
        f: impl FnOnce(&mut Collection) -> R,
    ) -> Result<Option<R>, StoreError> {
        each!(self, s => s.write_collection(key, t, create, f))
    }

    /// Returns a copy of the live value of `key` of any type and its deadline, without
    /// counting a hit (COPY, DUMP, the mover).
    pub fn object(&self, key: &[u8]) -> Option<(Object, u64)> {
        each!(self, s => s.object(key))
    }

    /// Removes `key` and returns its live value and deadline.
    pub fn take(&self, key: &[u8]) -> Option<(Object, u64)> {
        each!(self, s => s.take(key))
    }

    /// Stores `value` of any type under `key` with `deadline_ms`, replacing anything
    /// (RESTORE, a snapshot's load); a past deadline removes the key.
    ///
    /// # Errors
    /// [`StoreError::OutOfMemory`] when a string alone outweighs `max_memory`.
    pub fn put_object(
        &self,
        key: &[u8],
        value: Object,
        deadline_ms: u64,
    ) -> Result<(), StoreError> {
        each!(self, s => s.put_object(key, value, deadline_ms))
    }

    /// Renames or copies `src` to `dst` (distinct keys) in one step.
    pub fn two_keys(&self, src: &[u8], dst: &[u8], what: TwoKeys) -> Moved {
        each!(self, s => s.two_keys(src, dst, what))
    }

    /// Runs `f` with every key of `keys` held: what `f` does through [`Locked`] is one step
    /// for every other command (SMOVE, LMOVE, the set operations). `f` must not call back
    /// into the store.
    pub fn lock_keys<R>(&self, keys: &[&[u8]], f: impl FnOnce(&mut Locked<'_, '_>) -> R) -> R {
        match self {
            Store::Compact(s) => s.lock_keys(keys, |l| f(&mut Locked::Compact(l))),
            Store::Moka(s) => s.lock_keys(keys, |l| f(&mut Locked::Moka(l))),
        }
    }

    /// Returns one SCAN page from `cursor` (a 48-bit hash position) and the next cursor (0
    /// at the end): every key present throughout an iteration is returned exactly once.
    pub fn scan(&self, cursor: u64, pattern: Option<&[u8]>, count: usize) -> (u64, Vec<Bytes>) {
        each!(self, s => s.scan(cursor, pattern, count))
    }

    /// Returns every live key matching the glob `pattern` (KEYS).
    pub fn keys(&self, pattern: &[u8]) -> Vec<Bytes> {
        each!(self, s => s.keys(pattern))
    }

    /// Returns a random live key (RANDOMKEY).
    pub fn random_key(&self) -> Option<Bytes> {
        each!(self, s => s.random_key())
    }

    /// Returns what `key` costs and how it is tracked (OBJECT, MEMORY USAGE), without
    /// counting a read.
    pub fn inspect(&self, key: &[u8]) -> Option<EntryInfo> {
        each!(self, s => s.inspect(key))
    }

    /// Starts (or stops) refusing late copies of keys removed during a resize.
    pub fn set_migrating(&self, on: bool) {
        each!(self, s => s.set_migrating(on))
    }

    /// Returns true while a resize's removed keys are remembered.
    pub fn is_migrating(&self) -> bool {
        each!(self, s => s.is_migrating())
    }

    /// Stores a key copied from its old owner, only if this store has not had it during the
    /// resize; returns whether it was stored.
    ///
    /// # Errors
    /// [`StoreError::OutOfMemory`] when the entry alone outweighs `max_memory`.
    pub fn import(&self, key: &[u8], value: &Value) -> Result<bool, StoreError> {
        each!(self, s => s.import(key, value))
    }

    /// [`import`](Self::import) of a collection.
    ///
    /// # Errors
    /// [`StoreError::OutOfMemory`] when the collection alone outweighs `max_memory`.
    pub fn import_collection(
        &self,
        key: &[u8],
        value: Collection,
        deadline_ms: u64,
    ) -> Result<bool, StoreError> {
        each!(self, s => s.import_collection(key, value, deadline_ms))
    }

    /// Returns live keys for which `leaving` is true, with their values and deadlines, from
    /// segment `cursor` on, and the segment to go on from (0 when done).
    pub fn export_leaving(
        &self,
        cursor: usize,
        count: usize,
        leaving: impl Fn(&[u8]) -> bool,
    ) -> (usize, Vec<SnapshotEntry>) {
        each!(self, s => s.export_leaving(cursor, count, leaving))
    }

    /// Replaces `out` with the keys of segment `s` (below [`super::SEGMENTS`]) live at
    /// `now_ms`.
    pub fn snapshot_segment(&self, s: usize, now_ms: u64, out: &mut Vec<SnapshotEntry>) {
        each!(self, st => st.snapshot_segment(s, now_ms, out))
    }

    /// Returns `maxmemory`, in bytes.
    pub fn max_memory(&self) -> u64 {
        each!(self, s => s.max_memory())
    }

    /// Changes `maxmemory` (CONFIG SET maxmemory).
    pub fn set_max_memory(&self, bytes: u64) {
        each!(self, s => s.set_max_memory(bytes))
    }

    /// Changes the eviction policy (CONFIG SET maxmemory-policy).
    pub fn set_eviction(&self, eviction: Eviction) {
        each!(self, s => s.set_eviction(eviction))
    }

    /// Returns the eviction policy.
    pub fn eviction(&self) -> Eviction {
        each!(self, s => s.eviction())
    }

    /// Runs the periodic work (active expiry, the memory bound); returns true when expiry is
    /// behind and [`expire_more`](Self::expire_more) should follow soon.
    pub fn run_pending_tasks(&self) -> bool {
        each!(self, s => s.run_pending_tasks())
    }

    /// Runs active expiry alone for up to `budget`; returns true while still behind.
    pub fn expire_more(&self, budget: Duration) -> bool {
        each!(self, s => s.expire_more(budget))
    }

    /// Returns how many times part of the store was rebuilt after a panic inside it.
    pub fn repaired_segments(&self) -> u64 {
        each!(self, s => s.repaired_segments())
    }

    /// Checks the backend's invariants; call it while no other thread uses the store.
    ///
    /// # Panics
    /// When an invariant does not hold.
    #[cfg(test)]
    pub(crate) fn check_invariants(&self) {
        each!(self, s => s.check_invariants())
    }
}

/// The keys of one [`Store::lock_keys`] step, held.
pub enum Locked<'l, 'a> {
    Compact(&'l mut CompactLocked<'a>),
    Moka(&'l mut MokaLocked<'a>),
}

/// Runs `$body` with `$l` bound to the backend's locked keys.
macro_rules! each_locked {
    ($locked:expr, $l:ident => $body:expr) => {
        match $locked {
            Locked::Compact($l) => $body,
            Locked::Moka($l) => $body,
        }
    };
}

impl Locked<'_, '_> {
    /// Returns the type of the live `key`, without counting a read.
    pub fn obj_type(&mut self, key: &[u8]) -> Option<ObjType> {
        each_locked!(self, l => l.obj_type(key))
    }

    /// Returns the collections of type `t` at `keys`, in order (`None` when absent), each
    /// counted as a read.
    ///
    /// # Errors
    /// [`StoreError::WrongType`] when any key holds another type.
    pub fn read_many(
        &mut self,
        keys: &[&[u8]],
        t: ObjType,
    ) -> Result<Vec<Option<Cow<'_, Collection>>>, StoreError> {
        each_locked!(self, l => l.read_many(keys, t))
    }

    /// As [`Store::write_collection`], within the step.
    ///
    /// # Errors
    /// [`StoreError::WrongType`] when the key holds another type (`f` does not run).
    pub fn write<R>(
        &mut self,
        key: &[u8],
        t: ObjType,
        create: bool,
        f: impl FnOnce(&mut Collection) -> R,
    ) -> Result<Option<R>, StoreError> {
        each_locked!(self, l => l.write(key, t, create, f))
    }

    /// Replaces whatever `key` holds with `value` (no deadline), or removes the key when
    /// `value` is empty; returns true if it existed.
    pub fn replace(&mut self, key: &[u8], value: Collection) -> bool {
        each_locked!(self, l => l.replace(key, value))
    }
}
