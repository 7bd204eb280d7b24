//! The moka backend by type: TYPE, TTL and EXPIRE, the collections, RENAME and COPY, and the
//! commands on several keys, each under its keys' stripe locks.
//!
//! A collection is changed in place inside its entry, then moved into a new entry that
//! replaces it (so moka re-weighs it); an emptied one is removed, as Redis removes an empty
//! collection's key.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, MutexGuard};

use super::super::inspect::{EntryInfo, HEAD};
use super::super::segment::key_hash;
use super::super::types::{Collection, ObjType};
use super::super::{segment_of, Meta, Moved, Now, Object, Retime, StoreError, TwoKeys, Value};
use super::{weigh, Data, Entry, MokaStore, Stripe};

impl Entry {
    fn obj_type(&self) -> ObjType {
        match &self.value {
            Data::Str(_) => ObjType::String,
            Data::Coll(c) => super::lock(c).obj_type(),
        }
    }

    /// Returns a copy of the value.
    pub(super) fn object(&self) -> Object {
        match &self.value {
            Data::Str(b) => Object::Str(b.clone()),
            Data::Coll(c) => Object::Coll(super::lock(c).clone()),
        }
    }

    /// Moves the value out, leaving an empty one (the entry is about to be replaced).
    fn take_data(&self) -> Data {
        match &self.value {
            Data::Str(b) => Data::Str(b.clone()),
            Data::Coll(c) => {
                let mut c = super::lock(c);
                let t = c.obj_type();
                Data::Coll(Box::new(Mutex::new(std::mem::replace(
                    &mut *c,
                    Collection::new(t),
                ))))
            }
        }
    }
}

/// Returns a collection's entry data and weight.
///
/// # Errors
/// [`StoreError::OutOfMemory`] when the key alone outweighs `max_memory`.
fn coll_data(key: &[u8], c: Collection, max_memory: u64) -> Result<(Data, u32), StoreError> {
    let w = weigh(key.len(), c.weight(), max_memory)
        .or_else(|_| weigh(key.len(), 0, max_memory).map(|_| u32::MAX))?;
    Ok((Data::Coll(Box::new(Mutex::new(c))), w))
}

impl MokaStore {
    /// Locks the stripe of `key`; returns it with the key's hash.
    fn locate(&self, key: &[u8]) -> (MutexGuard<'_, Stripe>, u64) {
        let h = key_hash(key);
        (self.stripe(segment_of(h)), h)
    }

    /// As `Compact::meta`.
    pub fn meta(&self, key: &[u8], count: bool) -> Option<Meta> {
        let (mut st, h) = self.locate(key);
        let e = self.find(&mut st, h, key, &mut self.now(), count)?;
        Some(Meta {
            obj_type: e.obj_type(),
            deadline_ms: e.deadline_ms,
        })
    }

    /// As `Compact::retime`.
    pub fn retime<R>(&self, key: &[u8], f: impl FnOnce(Option<u64>) -> (Retime, R)) -> R {
        let (mut st, h) = self.locate(key);
        let found = self.find(&mut st, h, key, &mut self.now(), false);
        let (retime, result) = f(found.as_ref().map(|e| e.deadline_ms));
        if let Some(e) = found {
            match retime {
                Retime::Keep => {}
                Retime::Set(deadline_ms) => {
                    self.insert(&mut st, h, key, e.take_data(), deadline_ms, e.weight);
                }
                Retime::Remove => self.discard(&mut st, h, key),
            }
        }
        result
    }

    /// As `Compact::read_collection`.
    ///
    /// # Errors
    /// [`StoreError::WrongType`] when the key holds another type.
    pub fn read_collection<R>(
        &self,
        key: &[u8],
        t: ObjType,
        f: impl FnOnce(&Collection) -> R,
    ) -> Result<Option<R>, StoreError> {
        let (mut st, h) = self.locate(key);
        let Some(e) = self.find(&mut st, h, key, &mut self.now(), true) else {
            return Ok(None);
        };
        let result = match e.coll() {
            Some(c) if c.obj_type() == t => Ok(Some(f(&c))),
            _ => Err(StoreError::WrongType),
        };
        result
    }

    /// As `Compact::write_collection`.
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
        let (mut st, h) = self.locate(key);
        self.write_in(&mut st, h, key, t, create, &mut self.now(), f)
    }

    /// [`write_collection`](Self::write_collection) in stripe `st`, locked by the caller.
    #[allow(clippy::too_many_arguments)] // reason: the caller's lookups, handed down
    fn write_in<R>(
        &self,
        st: &mut Stripe,
        h: u64,
        key: &[u8],
        t: ObjType,
        create: bool,
        now: &mut Now,
        f: impl FnOnce(&mut Collection) -> R,
    ) -> Result<Option<R>, StoreError> {
        let (c, result, deadline_ms) = match self.find(st, h, key, now, false) {
            Some(e) => {
                let Some(mut c) = e.coll().filter(|c| c.obj_type() == t) else {
                    return Err(StoreError::WrongType);
                };
                let result = f(&mut c);
                let c = std::mem::replace(&mut *c, Collection::new(t));
                (c, result, e.deadline_ms)
            }
            None if !create => return Ok(None),
            None => {
                let mut c = Collection::new(t);
                let result = f(&mut c);
                (c, result, 0)
            }
        };
        if c.is_empty() {
            self.discard(st, h, key);
        } else {
            let (data, w) = coll_data(key, c, self.max_memory())?;
            self.insert(st, h, key, data, deadline_ms, w);
        }
        Ok(Some(result))
    }

    /// As `Compact::object`.
    pub fn object(&self, key: &[u8]) -> Option<(Object, u64)> {
        let (mut st, h) = self.locate(key);
        let e = self.find(&mut st, h, key, &mut self.now(), false)?;
        Some((e.object(), e.deadline_ms))
    }

    /// As `Compact::take`.
    pub fn take(&self, key: &[u8]) -> Option<(Object, u64)> {
        let (mut st, h) = self.locate(key);
        let e = self.find(&mut st, h, key, &mut self.now(), false)?;
        self.discard(&mut st, h, key);
        Some((e.object(), e.deadline_ms))
    }

    /// As `Compact::put_object`.
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
            Object::Str(data) => return self.set(key, Value { data, deadline_ms }),
            Object::Coll(c) => c,
        };
        let (mut st, h) = self.locate(key);
        self.put_coll(&mut st, h, key, c, deadline_ms)
    }

    /// Replaces whatever `key` holds with the collection `c` and `deadline_ms`; an empty one,
    /// or a past deadline, just removes the key.
    pub(super) fn put_coll(
        &self,
        st: &mut Stripe,
        h: u64,
        key: &[u8],
        c: Collection,
        deadline_ms: u64,
    ) -> Result<(), StoreError> {
        if c.is_empty() || (deadline_ms != 0 && self.now_ms() > deadline_ms) {
            self.discard(st, h, key);
            return Ok(());
        }
        let (data, w) = coll_data(key, c, self.max_memory())?;
        self.insert(st, h, key, data, deadline_ms, w);
        Ok(())
    }

    /// As `Compact::two_keys`.
    pub fn two_keys(&self, src: &[u8], dst: &[u8], what: TwoKeys) -> Moved {
        self.lock_keys(&[src, dst], |l| {
            let (ss, hs) = l.at(src);
            let Some(e) = l
                .store
                .find(&mut l.stripes[ss].1, hs, src, &mut l.now, false)
            else {
                return Moved::NoSource;
            };
            let keep_dst = matches!(what, TwoKeys::RenameNx | TwoKeys::Copy { replace: false });
            let (sd, hd) = l.at(dst);
            let exists = l
                .store
                .find(&mut l.stripes[sd].1, hd, dst, &mut l.now, false)
                .is_some();
            if exists && keep_dst {
                return Moved::Exists;
            }
            let data = match what {
                TwoKeys::Copy { .. } => match e.object() {
                    Object::Str(b) => Data::Str(b),
                    Object::Coll(c) => Data::Coll(Box::new(Mutex::new(c))),
                },
                TwoKeys::Rename | TwoKeys::RenameNx => {
                    l.store.discard(&mut l.stripes[ss].1, hs, src);
                    e.take_data()
                }
            };
            let w = u32::try_from(dst.len() as u64 + u64::from(e.weight) - src.len() as u64)
                .unwrap_or(u32::MAX);
            l.store
                .insert(&mut l.stripes[sd].1, hd, dst, data, e.deadline_ms, w);
            Moved::Done
        })
    }

    /// As `Compact::lock_keys`: the stripes of every key, locked in order.
    pub fn lock_keys<R>(&self, keys: &[&[u8]], f: impl FnOnce(&mut Locked<'_>) -> R) -> R {
        let mut ids: Vec<usize> = keys.iter().map(|k| segment_of(key_hash(k))).collect();
        ids.sort_unstable();
        ids.dedup();
        let stripes = ids.into_iter().map(|s| (s, self.stripe(s))).collect();
        f(&mut Locked {
            store: self,
            stripes,
            now: self.now(),
        })
    }

    /// As `Compact::inspect`; an LFU count is not kept per key by moka's TinyLFU (its
    /// sketch is shared and private), so `OBJECT FREQ` reads 0 under `lfu`.
    pub fn inspect(&self, key: &[u8]) -> Option<EntryInfo> {
        let (mut st, h) = self.locate(key);
        let e = self.find(&mut st, h, key, &mut self.now(), false)?;
        let (value_len, head, encoding) = match &e.value {
            Data::Str(b) => (b.len(), b[..b.len().min(HEAD)].to_vec(), None),
            Data::Coll(c) => {
                let c = super::lock(c);
                (c.weight() as usize, Vec::new(), Some(c.encoding()))
            }
        };
        Some(EntryInfo {
            weight: u64::from(e.weight),
            value_len,
            head,
            encoding,
            freq: (self.eviction() == super::Eviction::Lfu).then_some(0),
        })
    }
}

/// The stripes of a command's keys, locked together ([`MokaStore::lock_keys`]).
pub struct Locked<'a> {
    store: &'a MokaStore,
    /// Sorted by stripe, each once.
    stripes: Vec<(usize, MutexGuard<'a, Stripe>)>,
    now: Now<'a>,
}

impl Locked<'_> {
    /// Returns the index in `stripes` of `key`'s stripe, and the key's hash.
    fn at(&self, key: &[u8]) -> (usize, u64) {
        let h = key_hash(key);
        let s = segment_of(h);
        // invariant: `lock_keys` locked the stripe of every key it was given.
        let i = self
            .stripes
            .binary_search_by_key(&s, |(id, _)| *id)
            .expect("a key passed to lock_keys");
        (i, h)
    }

    fn find(&mut self, key: &[u8], count: bool) -> Option<Arc<Entry>> {
        let (i, h) = self.at(key);
        let Locked {
            store,
            stripes,
            now,
            ..
        } = self;
        store.find(&mut stripes[i].1, h, key, now, count)
    }

    /// As `compact`'s `Locked::obj_type`.
    pub fn obj_type(&mut self, key: &[u8]) -> Option<ObjType> {
        Some(self.find(key, false)?.obj_type())
    }

    /// As `compact`'s `Locked::read_many`; the collections are copies.
    ///
    /// # Errors
    /// [`StoreError::WrongType`] when any key holds another type.
    pub fn read_many(
        &mut self,
        keys: &[&[u8]],
        t: ObjType,
    ) -> Result<Vec<Option<Cow<'_, Collection>>>, StoreError> {
        let found: Vec<Option<Arc<Entry>>> = keys.iter().map(|k| self.find(k, true)).collect();
        found
            .into_iter()
            .map(|e| match e {
                None => Ok(None),
                Some(e) => match e.coll() {
                    Some(c) if c.obj_type() == t => Ok(Some(Cow::Owned(c.clone()))),
                    _ => Err(StoreError::WrongType),
                },
            })
            .collect()
    }

    /// As `compact`'s `Locked::write`.
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
        let (i, h) = self.at(key);
        let Locked {
            store,
            stripes,
            now,
            ..
        } = self;
        store.write_in(&mut stripes[i].1, h, key, t, create, now, f)
    }

    /// As `compact`'s `Locked::replace`.
    pub fn replace(&mut self, key: &[u8], value: Collection) -> bool {
        let existed = self.find(key, false).is_some();
        let (i, h) = self.at(key);
        // Only a key alone over `max_memory` fails; it is then just removed.
        if self
            .store
            .put_coll(&mut self.stripes[i].1, h, key, value, 0)
            .is_err()
        {
            self.store.discard(&mut self.stripes[i].1, h, key);
        }
        existed
    }
}
