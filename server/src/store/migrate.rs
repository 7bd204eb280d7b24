//! What a resize asks of a store: hand over the keys (of every type) that now belong to
//! another group, take in keys from one, and never let a late copy undo a delete.
//!
//! A key being moved exists at its old owner until its new owner has it; the router's copy
//! goes old owner → new owner → removed at the old owner (docs/operations.md). While this
//! store takes keys in (`set_migrating(true)`), every segment remembers which keys it
//! removed, so a copy that arrives after the key was deleted, expired or evicted here is
//! refused: [`Store::import`] only ever fills a key this store never had during the resize.

use bytes::Bytes;

use super::objects::object_of;
use super::segment::{key_hash, Entry, Segment};
use super::types::Collection;
use super::{segment_of, Compact, Now, Object, StoreError, Value, SEGMENTS};

impl Compact {
    /// Starts (or stops) remembering removed keys for [`import`](Self::import); stopping
    /// forgets them.
    pub fn set_migrating(&self, on: bool) {
        for s in 0..SEGMENTS {
            let mut seg = self.lock(s);
            match (on, seg.tombstones.is_some()) {
                (true, false) => seg.tombstones = Some(Box::default()),
                (false, true) => seg.tombstones = None,
                _ => {}
            }
        }
    }

    /// Returns true while removed keys are remembered.
    pub fn is_migrating(&self) -> bool {
        self.lock(0).tombstones.is_some()
    }

    /// Stores a key copied from its old owner, only if this store has not had it during the
    /// resize: not present, not removed since the resize began (nor flushed), and still
    /// live. Returns whether it was stored.
    ///
    /// # Errors
    /// [`StoreError::OutOfMemory`] when the entry alone outweighs `max_memory`.
    pub fn import(&self, key: &[u8], value: &Value) -> Result<bool, StoreError> {
        super::weigh(key, &value.data, self.inner.max_memory())?;
        let h = key_hash(key);
        let s = segment_of(h);
        let mut now = Now::new(&*self.inner.clock);
        if !value.is_live(now.ms()) {
            return Ok(false);
        }
        let mut seg = self.lock(s);
        if !self.admits(&mut seg, h, key, &mut now) {
            return Ok(false);
        }
        self.put(&mut seg, s, h, key, value, None, &mut now);
        Ok(true)
    }

    /// [`import`](Self::import) of a collection, on the same terms.
    ///
    /// # Errors
    /// [`StoreError::OutOfMemory`] when the collection alone outweighs `max_memory`.
    pub fn import_collection(
        &self,
        key: &[u8],
        value: Collection,
        deadline_ms: u64,
    ) -> Result<bool, StoreError> {
        let max = self.inner.max_memory();
        super::weigh(key, b"", max)?;
        if value.weight() > max {
            return Err(StoreError::OutOfMemory);
        }
        let h = key_hash(key);
        let s = segment_of(h);
        let mut now = Now::new(&*self.inner.clock);
        if value.is_empty() || (deadline_ms != 0 && now.ms() > deadline_ms) {
            return Ok(false);
        }
        let mut seg = self.lock(s);
        if !self.admits(&mut seg, h, key, &mut now) {
            return Ok(false);
        }
        let stamp = self.fresh_stamp(&mut now);
        let e = Entry::new_collection(key, value, deadline_ms, stamp);
        let w = e.weight();
        seg.insert(h, e);
        self.charge(&mut seg, w);
        self.bound(&mut seg, s, h, key, &mut now);
        Ok(true)
    }

    /// Returns true when a copy of `key` may be stored: the key is not live here and was not
    /// removed (nor the store flushed) since the resize began.
    fn admits(&self, seg: &mut Segment, h: u64, key: &[u8], now: &mut Now) -> bool {
        if let Some(i) = seg.find(h, key) {
            // An expired entry is removed here, which leaves its tombstone: the copy is older.
            if self.live_or_purge(seg, i, now) {
                return false;
            }
        }
        !seg.tombstones
            .as_ref()
            .is_some_and(|t| t.flushed || t.hashes.contains(&h))
    }

    /// Returns up to about `count` live keys of any type, with their values and deadlines,
    /// for which `leaving` is true, from segment `cursor` on, and the segment to go on from (0
    /// when every segment was read). A whole segment is read at a time.
    pub fn export_leaving(
        &self,
        cursor: usize,
        count: usize,
        leaving: impl Fn(&[u8]) -> bool,
    ) -> (usize, Vec<(Bytes, Object, u64)>) {
        let now = self.now_ms();
        let mut out = Vec::new();
        for s in cursor..SEGMENTS {
            let seg = self.lock(s);
            for e in seg.entries() {
                if e.is_live(now) && leaving(e.key()) {
                    out.push((
                        Bytes::copy_from_slice(e.key()),
                        object_of(e),
                        e.deadline_ms(),
                    ));
                }
            }
            drop(seg);
            if out.len() >= count {
                return (if s + 1 == SEGMENTS { 0 } else { s + 1 }, out);
            }
        }
        (0, out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::clock::ManualClock;
    use crate::store::{Backend, Store, StoreConfig};

    fn store(backend: Backend) -> (Store, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let config = StoreConfig {
            backend,
            ..StoreConfig::default()
        };
        (Store::new(config, clock.clone()), clock)
    }

    fn v(s: &str) -> Value {
        Value::persistent(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn an_import_fills_only_a_key_the_store_never_had_during_the_resize(b: Backend) {
        let (store, _) = store(b);
        store.set_migrating(true);
        assert!(store.import(b"new", &v("copy")).unwrap());
        assert_eq!(store.get_str(b"new").unwrap().data, "copy");
        // Written here first: the copy is older.
        store.set(b"written", v("mine")).unwrap();
        assert!(!store.import(b"written", &v("copy")).unwrap());
        assert_eq!(store.get_str(b"written").unwrap().data, "mine");
        // Deleted here: a late copy must not bring it back.
        store.remove(b"new");
        assert!(!store.import(b"new", &v("copy")).unwrap());
        assert!(store.get_str(b"new").is_none());
        // Flushed: nothing comes back.
        store.set(b"a", v("1")).unwrap();
        store.flush();
        assert!(!store.import(b"b", &v("copy")).unwrap());
        // Done: tombstones are forgotten.
        store.set_migrating(false);
        assert!(store.import(b"new", &v("copy")).unwrap());
    }

    fn a_collection_is_imported_on_the_same_terms_as_a_string(b: Backend) {
        let (store, _) = store(b);
        store.set_migrating(true);
        let set = |m: &[u8]| {
            let mut s = crate::store::types::Set::default();
            s.insert(m);
            Collection::Set(s)
        };
        assert!(store.import_collection(b"s", set(b"a"), 0).unwrap());
        assert!(!store.import_collection(b"s", set(b"b"), 0).unwrap());
        assert_eq!(store.object(b"s").unwrap().0, Object::Coll(set(b"a")));
        store.remove(b"s");
        assert!(!store.import_collection(b"s", set(b"c"), 0).unwrap());
        let past = store.now_ms() - 1;
        assert!(!store.import_collection(b"t", set(b"a"), past).unwrap());
        store.set_max_memory(10);
        let mut big = crate::store::types::Set::default();
        big.insert(&[b'x'; 100]);
        assert!(store
            .import_collection(b"u", Collection::Set(big), 0)
            .is_err());
    }

    fn an_expired_key_is_neither_imported_nor_revived(b: Backend) {
        let (store, clock) = store(b);
        store.set_migrating(true);
        let now = store.now_ms();
        let dead = Value {
            data: Bytes::from_static(b"x"),
            deadline_ms: now - 1,
        };
        assert!(!store.import(b"k", &dead).unwrap());
        let soon = Value {
            data: Bytes::from_static(b"short"),
            deadline_ms: now + 10,
        };
        store.set(b"k", soon).unwrap();
        clock.advance(20);
        // The owner's copy expired: the older, longer-lived copy stays out.
        assert!(!store.import(b"k", &v("old")).unwrap());
        assert!(store.get_str(b"k").is_none());
    }

    fn export_hands_over_only_the_leaving_keys_once(b: Backend) {
        let (store, _) = store(b);
        for i in 0..5000 {
            store.set(format!("k{i}").as_bytes(), v("x")).unwrap();
        }
        let mut h = crate::store::types::Hash::default();
        h.set(b"f", b"v");
        store
            .put_object(b"hash7", Object::Coll(Collection::Hash(h)), 0)
            .unwrap();
        let leaving = |k: &[u8]| k.ends_with(b"7");
        let (mut cursor, mut seen) = (0, Vec::new());
        loop {
            let (next, page) = store.export_leaving(cursor, 100, leaving);
            seen.extend(page.into_iter().map(|(k, _, _)| k));
            if next == 0 {
                break;
            }
            cursor = next;
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 500 + 1);
        assert!(seen.iter().all(|k| k.ends_with(b"7")));
    }

    on_both_backends!(
        an_import_fills_only_a_key_the_store_never_had_during_the_resize,
        a_collection_is_imported_on_the_same_terms_as_a_string,
        an_expired_key_is_neither_imported_nor_revived,
        export_hands_over_only_the_leaving_keys_once,
    );
}
