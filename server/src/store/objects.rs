//! The store by type: what TYPE, TTL, EXPIRE, RENAME, COPY and the collection commands
//! (hashes, sets, sorted sets, lists) ask of it. A collection is changed in place under its
//! segment's lock (no copy in or out), re-weighed after every change, and removed when a
//! change leaves it empty, as Redis removes an empty collection's key.

use std::sync::MutexGuard;

use bytes::Bytes;

use super::evict::Room;
use super::segment::{key_hash, Entry, Segment};
use super::types::{Collection, ObjType};
use super::{segment_of, weigh, Compact, Now, StoreError};

/// A key's type and deadline (Unix ms, 0 = none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub obj_type: ObjType,
    pub deadline_ms: u64,
}

/// A whole value of any type, as RENAME, COPY and snapshots move it.
#[derive(Debug, Clone, PartialEq)]
pub enum Object {
    Str(Bytes),
    Coll(Collection),
}

/// Where a key is in a locked segment: the segment, the key's hash, the key, and its live
/// entry's index (`None` when absent).
#[derive(Debug, Clone, Copy)]
pub(super) struct Slot<'k> {
    pub(super) s: usize,
    pub(super) h: u64,
    pub(super) key: &'k [u8],
    pub(super) found: Option<usize>,
}

/// What [`Store::retime`] does with a key's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retime {
    Keep,
    /// The new deadline (Unix ms, 0 = none).
    Set(u64),
    /// Delete the key (a deadline already past).
    Remove,
}

/// A key's segment, locked, and the key's live entry in it (an expired one removed on the way,
/// counted as expired), with what the caller needs to write there.
struct Located<'a> {
    seg: MutexGuard<'a, Segment>,
    s: usize,
    h: u64,
    now: Now<'a>,
    found: Option<usize>,
}

impl Compact {
    fn locate(&self, key: &[u8]) -> Located<'_> {
        let h = key_hash(key);
        let s = segment_of(h);
        let mut now = Now::new(&*self.inner.clock);
        let mut seg = self.lock(s);
        let found = seg
            .find(h, key)
            .filter(|&i| self.live_or_purge(&mut seg, i, &mut now));
        Located {
            seg,
            s,
            h,
            now,
            found,
        }
    }
}

impl Compact {
    /// Returns the type and deadline of the live key `key`. With `count`, as a read: a
    /// keyspace hit or miss is counted and recency refreshed (EXISTS, TYPE, TTL).
    pub fn meta(&self, key: &[u8], count: bool) -> Option<Meta> {
        let Located {
            mut seg,
            mut now,
            found,
            ..
        } = self.locate(key);
        if count {
            match found {
                Some(i) => {
                    self.touch(&mut seg, i, &mut now);
                    seg.hits += 1;
                }
                None => seg.misses += 1,
            }
        }
        found.map(|i| {
            let e = seg.entry(i);
            Meta {
                obj_type: e.obj_type(),
                deadline_ms: e.deadline_ms(),
            }
        })
    }

    /// Changes the deadline of `key`, whatever its type: `f` sees the current deadline
    /// (`None` when the key is absent) and says what to do.
    pub fn retime<R>(&self, key: &[u8], f: impl FnOnce(Option<u64>) -> (Retime, R)) -> R {
        let Located { mut seg, found, .. } = self.locate(key);
        let (retime, result) = f(found.map(|i| seg.entry(i).deadline_ms()));
        if let Some(i) = found {
            match retime {
                Retime::Keep => {}
                Retime::Set(deadline_ms) => {
                    seg.set_deadline(i, deadline_ms);
                }
                Retime::Remove => {
                    let freed = seg.remove(i).weight();
                    self.discharge(&mut seg, freed);
                }
            }
        }
        result
    }

    /// Runs `f` on the collection of type `t` at `key`, as a read (a hit or miss is
    /// counted); `Ok(None)` when the key is absent.
    ///
    /// # Errors
    /// [`StoreError::WrongType`] when the key holds another type.
    pub fn read_collection<R>(
        &self,
        key: &[u8],
        t: ObjType,
        f: impl FnOnce(&Collection) -> R,
    ) -> Result<Option<R>, StoreError> {
        let Located {
            mut seg,
            mut now,
            found,
            ..
        } = self.locate(key);
        let Some(i) = found else {
            seg.misses += 1;
            return Ok(None);
        };
        seg.hits += 1;
        self.touch(&mut seg, i, &mut now);
        let e = seg.entry(i);
        if e.obj_type() != t {
            return Err(StoreError::WrongType);
        }
        let c = e.collection().expect("a collection of type t");
        Ok(Some(f(&c)))
    }

    /// Runs `f` on the collection of type `t` at `key`, to change it. When the key is
    /// absent, `f` runs on a new empty collection if `create` (else `Ok(None)`). A collection
    /// left empty is removed; one that grew evicts others while the store is over its bound,
    /// never itself.
    ///
    /// # Errors
    /// [`StoreError::WrongType`] when the key holds another type (`f` does not run).
    pub fn write_collection<R>(
        &self,
        key: &[u8],
        t: ObjType,
        create: bool,
        f: impl FnOnce(&mut Collection) -> R,
    ) -> Result<Option<R>, StoreError> {
        let Located {
            mut seg,
            s,
            h,
            mut now,
            found,
        } = self.locate(key);
        let at = Slot { s, h, key, found };
        self.write_in(&mut seg, at, t, create, &mut now, f)
    }

    /// [`write_collection`](Self::write_collection) in segment `seg`, locked by the caller
    /// (with others, for commands on several keys: `store::moves`), where `at` says the key
    /// is (its live entry's index, if any).
    ///
    /// # Errors
    /// [`StoreError::WrongType`] when the key holds another type (`f` does not run).
    pub(super) fn write_in<R>(
        &self,
        seg: &mut Segment,
        at: Slot<'_>,
        t: ObjType,
        create: bool,
        now: &mut Now,
        f: impl FnOnce(&mut Collection) -> R,
    ) -> Result<Option<R>, StoreError> {
        let Slot { s, h, key, found } = at;
        let result = match found {
            Some(i) => {
                if seg.entry(i).obj_type() != t {
                    return Err(StoreError::WrongType);
                }
                let old = seg.entry(i).weight();
                let e = seg.entry_mut(i);
                let (result, empty) = match e.boxed_mut() {
                    // A large one changes in place.
                    Some(c) => (f(c), c.is_empty()),
                    // A small one is unpacked, changed and stored again (as Redis rewrites
                    // a listpack), packed or boxed by the form it is now in.
                    None => {
                        let mut c = e.collection().expect("a collection of type t").into_owned();
                        let result = f(&mut c);
                        let empty = c.is_empty();
                        if !empty {
                            e.set_collection(c);
                        }
                        (result, empty)
                    }
                };
                if empty {
                    seg.remove(i);
                    self.discharge(seg, old);
                    return Ok(Some(result));
                }
                let stamp = self.rewrite_stamp(seg, i, now);
                let e = seg.entry_mut(i);
                e.stamp = stamp;
                let new = e.weight();
                self.reweigh(seg, old, new);
                result
            }
            None if !create => return Ok(None),
            None => {
                let mut c = Collection::new(t);
                let result = f(&mut c);
                if c.is_empty() {
                    return Ok(Some(result));
                }
                let stamp = self.fresh_stamp(now);
                let e = Entry::new_collection(key, c, 0, stamp);
                let w = e.weight();
                seg.insert(h, e);
                self.charge(seg, w);
                result
            }
        };
        self.bound(seg, s, h, key, now);
        Ok(Some(result))
    }

    /// Returns a copy of the live value of `key` of any type, and its deadline, without
    /// counting a hit (COPY, DUMP, the mover).
    pub fn object(&self, key: &[u8]) -> Option<(Object, u64)> {
        let Located { seg, found, .. } = self.locate(key);
        let i = found?;
        let e = seg.entry(i);
        Some((object_of(e), e.deadline_ms()))
    }

    /// Removes `key` and returns its live value of any type and its deadline (RENAME).
    pub fn take(&self, key: &[u8]) -> Option<(Object, u64)> {
        let Located { mut seg, found, .. } = self.locate(key);
        let i = found?;
        let e = seg.remove(i);
        self.discharge(&mut seg, e.weight());
        let deadline = e.deadline_ms();
        Some((object_of(&e), deadline))
    }

    /// Stores `value` under `key` with `deadline_ms` (0 = none), replacing any value of any
    /// type (RENAME, COPY, RESTORE, a snapshot's load). A deadline already past removes the
    /// key.
    ///
    /// # Errors
    /// [`StoreError::OutOfMemory`] when a string alone outweighs `max_memory`.
    pub fn put_object(
        &self,
        key: &[u8],
        value: Object,
        deadline_ms: u64,
    ) -> Result<(), StoreError> {
        let c = match value {
            Object::Str(data) => return self.set(key, super::Value { data, deadline_ms }),
            Object::Coll(c) => c,
        };
        weigh(key, b"", self.inner.max_memory())?;
        let h = key_hash(key);
        let s = segment_of(h);
        let mut now = Now::new(&*self.inner.clock);
        let mut seg = self.lock(s);
        let found = seg.find(h, key);
        if let Some(i) = found {
            let freed = seg.remove(i).weight();
            self.discharge(&mut seg, freed);
        }
        if c.is_empty() || (deadline_ms != 0 && now.ms() > deadline_ms) {
            return Ok(());
        }
        let stamp = self.fresh_stamp(&mut now);
        let e = Entry::new_collection(key, c, deadline_ms, stamp);
        let w = e.weight();
        seg.insert(h, e);
        self.charge(&mut seg, w);
        self.bound(&mut seg, s, h, key, &mut now);
        Ok(())
    }

    /// Moves the segment's charge and the global counter from `old` to `new`.
    fn reweigh(&self, seg: &mut Segment, old: u64, new: u64) {
        if new >= old {
            self.charge(seg, new - old);
        } else {
            self.discharge(seg, old - new);
        }
    }

    /// Evicts while the store is over its bound, never `key` (just written).
    pub(super) fn bound(&self, seg: &mut Segment, s: usize, h: u64, key: &[u8], now: &mut Now) {
        if self.inner.used.load(std::sync::atomic::Ordering::Relaxed) > self.inner.max_memory() {
            let room = Room {
                keep: Some((h, key)),
                need: 0,
                reuse_len: None,
            };
            drop(self.evict_for(seg, s, room, now));
        }
    }
}

/// Returns a copy of an entry's value of any type.
pub(super) fn object_of(e: &Entry) -> Object {
    match e.collection() {
        Some(c) => Object::Coll(c.into_owned()),
        None => Object::Str(Bytes::copy_from_slice(e.value())),
    }
}
