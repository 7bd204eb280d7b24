//! SMOVE, LMOVE and the set operations over several keys (SINTER ... SDIFFSTORE): one step
//! under the locks of every key's segment, taken in segment order (as `two_keys`, so no two
//! such commands deadlock), so no command sees a member in neither set or in both halfway,
//! nor a destination half-written.

use std::borrow::Cow;
use std::sync::MutexGuard;

use super::objects::Slot;
use super::segment::{key_hash, Entry, Segment};
use super::types::{Collection, ObjType};
use super::{segment_of, Compact, Now, StoreError};

/// The segments of a command's keys, locked together ([`Store::lock_keys`]).
pub struct Locked<'a> {
    store: &'a Compact,
    /// Sorted by segment, each once.
    segs: Vec<(usize, MutexGuard<'a, Segment>)>,
    now: Now<'a>,
}

impl Compact {
    /// Locks the segments of every key in `keys` and runs `f` with them: what `f` does
    /// through [`Locked`] is one step for every other command. `f` must not call back into
    /// the store.
    pub fn lock_keys<R>(&self, keys: &[&[u8]], f: impl FnOnce(&mut Locked<'_>) -> R) -> R {
        let mut ids: Vec<usize> = keys.iter().map(|k| segment_of(key_hash(k))).collect();
        ids.sort_unstable();
        ids.dedup();
        let segs = ids.into_iter().map(|s| (s, self.lock(s))).collect();
        let mut locked = Locked {
            store: self,
            segs,
            now: Now::new(&*self.inner.clock),
        };
        f(&mut locked)
    }
}

impl Locked<'_> {
    /// Returns the index of the segment of a key hashing to `h` in `segs`.
    fn slot(&self, h: u64) -> usize {
        let s = segment_of(h);
        // invariant: `lock_keys` locked the segment of every key it was given.
        self.segs
            .binary_search_by_key(&s, |(id, _)| *id)
            .expect("a key passed to lock_keys")
    }

    /// Returns the slab index of the live `key`, removing it if it expired.
    fn find(&mut self, key: &[u8]) -> Option<usize> {
        let h = key_hash(key);
        let at = self.slot(h);
        let Locked {
            store, segs, now, ..
        } = self;
        let seg = &mut segs[at].1;
        seg.find(h, key)
            .filter(|&i| store.live_or_purge(seg, i, now))
    }

    /// Returns the type of the live `key`, without counting a read (Redis's
    /// `lookupKeyWrite`).
    pub fn obj_type(&mut self, key: &[u8]) -> Option<ObjType> {
        let i = self.find(key)?;
        let at = self.slot(key_hash(key));
        Some(self.segs[at].1.entry(i).obj_type())
    }

    /// Returns the collections of type `t` at `keys`, in order (`None` for an absent key),
    /// each counted as a read (a keyspace hit or miss, as Redis's `lookupKeyRead`).
    ///
    /// # Errors
    /// [`StoreError::WrongType`] when any key holds another type.
    pub fn read_many(
        &mut self,
        keys: &[&[u8]],
        t: ObjType,
    ) -> Result<Vec<Option<Cow<'_, Collection>>>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        let mut wrong = false;
        for key in keys {
            let i = self.find(key);
            let at = self.slot(key_hash(key));
            let Locked {
                store, segs, now, ..
            } = self;
            let seg = &mut segs[at].1;
            match i {
                Some(i) => {
                    seg.hits += 1;
                    store.touch(seg, i, now);
                    wrong |= seg.entry(i).obj_type() != t;
                }
                None => seg.misses += 1,
            }
            found.push((at, i));
        }
        if wrong {
            return Err(StoreError::WrongType);
        }
        Ok(found
            .into_iter()
            .map(|(at, i)| i.and_then(|i| self.segs[at].1.entry(i).collection()))
            .collect())
    }

    /// As [`Store::write_collection`], under the locks already held.
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
        let found = self.find(key);
        let h = key_hash(key);
        let at = self.slot(h);
        let Locked {
            store, segs, now, ..
        } = self;
        let (s, seg) = (segs[at].0, &mut *segs[at].1);
        let slot = Slot { s, h, key, found };
        store.write_in(seg, slot, t, create, now, f)
    }

    /// Replaces whatever `key` holds with `value` (no deadline), or just removes the key
    /// when `value` is empty: the STORE forms' destination. Returns true if it existed.
    pub fn replace(&mut self, key: &[u8], value: Collection) -> bool {
        let found = self.find(key);
        let h = key_hash(key);
        let at = self.slot(h);
        let Locked {
            store, segs, now, ..
        } = self;
        let (s, seg) = (segs[at].0, &mut *segs[at].1);
        if let Some(i) = found {
            let freed = seg.remove(i).weight();
            store.discharge(seg, freed);
        }
        if value.is_empty() {
            return found.is_some();
        }
        let stamp = store.fresh_stamp(now);
        let e = Entry::new_collection(key, value, 0, stamp);
        let w = e.weight();
        seg.insert(h, e);
        store.charge(seg, w);
        store.bound(seg, s, h, key, now);
        found.is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::thread;

    use bytes::Bytes;

    use super::super::types::{Collection, ObjType, Set};
    use super::super::{Backend, Eviction, Store, StoreConfig, Value};
    use crate::clock::ManualClock;

    const T0: u64 = 1_700_000_000_000;

    fn store_with(backend: Backend, max_memory: u64) -> Store {
        let config = StoreConfig {
            max_memory,
            eviction: Eviction::Lru,
            backend,
        };
        Store::new(config, Arc::new(ManualClock::new(T0)))
    }

    fn set_of(c: &mut Collection) -> &mut Set {
        match c {
            Collection::Set(s) => s,
            _ => unreachable!("typed by the store"),
        }
    }

    /// Moves one member from `src` to `dst` as SMOVE does; returns true if one moved.
    fn move_one(store: &Store, src: &[u8], dst: &[u8], member: &[u8]) -> bool {
        store.lock_keys(&[src, dst], |l| {
            let removed = l.write(src, ObjType::Set, false, |c| set_of(c).remove(member));
            if removed != Ok(Some(true)) {
                return false;
            }
            let added = l.write(dst, ObjType::Set, true, |c| set_of(c).insert(member));
            assert_eq!(added, Ok(Some(true)), "a member in two sets");
            true
        })
    }

    fn moves_in_every_direction_on_four_threads_lose_and_duplicate_nothing(b: Backend) {
        let store = store_with(b, 1 << 30);
        let keys: Vec<Vec<u8>> = (0..6).map(|i| format!("set{i}").into_bytes()).collect();
        for m in 0..300u32 {
            let key = &keys[m as usize % keys.len()];
            let added = store.write_collection(key, ObjType::Set, true, |c| {
                set_of(c).insert(&m.to_le_bytes())
            });
            assert_eq!(added, Ok(Some(true)));
        }
        thread::scope(|scope| {
            for t in 0..4u64 {
                let (store, keys) = (&store, &keys);
                scope.spawn(move || {
                    let mut x = 0x9e37_79b9_7f4a_7c15 ^ (t + 1);
                    for _ in 0..5000 {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let src = &keys[(x % 6) as usize];
                        let dst = &keys[((x >> 8) % 6) as usize];
                        let member = (((x >> 16) % 300) as u32).to_le_bytes();
                        if src != dst {
                            move_one(store, src, dst, &member);
                        }
                    }
                });
            }
        });
        let mut all = Vec::new();
        for key in &keys {
            let members = store.read_collection(key, ObjType::Set, |c| match c {
                Collection::Set(s) => s.iter().map(<[u8]>::to_vec).collect::<Vec<_>>(),
                _ => unreachable!("a set"),
            });
            all.extend(members.expect("a set").unwrap_or_default());
        }
        all.sort();
        let want: Vec<Vec<u8>> = (0..300u32).map(|m| m.to_le_bytes().to_vec()).collect();
        let mut want = want;
        want.sort();
        assert_eq!(all, want);
        store.check_invariants();
    }

    fn a_store_form_over_the_bound_evicts_others_while_holding_several_segments(b: Backend) {
        let store = store_with(b, 64 << 10);
        for i in 0..400 {
            let value = Value {
                data: Bytes::from(vec![b'v'; 100]),
                deadline_ms: 0,
            };
            store
                .set(format!("str{i}").as_bytes(), value)
                .expect("fits");
        }
        let (a, b) = (&b"src"[..], &b"dst"[..]);
        for round in 0..20u32 {
            let mut s = Set::default();
            for m in 0..200u32 {
                s.insert(format!("{round}-{m}").as_bytes());
            }
            store.lock_keys(&[a, b], |l| {
                l.replace(a, Collection::Set(s.clone()));
                l.replace(b, Collection::Set(s));
            });
            assert!(store.object(b).is_some(), "never evicts the key it wrote");
        }
        store.check_invariants();
    }

    on_both_backends!(
        moves_in_every_direction_on_four_threads_lose_and_duplicate_nothing,
        a_store_form_over_the_bound_evicts_others_while_holding_several_segments,
    );
}
