//! The moka backend's walks over the keyspace (SCAN, KEYS, RANDOMKEY, snapshots, a resize's
//! export) and a resize's imports, all over the stripes' key indexes: moka's own `iter()` has
//! no order to resume a cursor from.

use bytes::Bytes;
use rand::Rng;
use serve::glob::glob_match;

use super::super::scan::{cut, pages, scan_hash};
use super::super::segment::key_hash;
use super::super::types::Collection;
use super::super::{segment_of, SnapshotEntry, StoreError, Value, SEGMENTS};
use super::{weigh, MokaStore, Stripe};

/// Random stripes RANDOMKEY tries before it walks them in order.
const RANDOM_TRIES: usize = 64;

impl MokaStore {
    /// As `Compact::scan`: the same cursor (a 48-bit hash position), the same pages.
    pub fn scan(&self, cursor: u64, pattern: Option<&[u8]>, count: usize) -> (u64, Vec<Bytes>) {
        self.reap();
        let now = self.now_ms();
        let mut found: Vec<(u64, Bytes)> = Vec::new();
        pages(cursor, pattern, count, |s, room, page| {
            found.clear();
            found.extend(
                self.stripe(s)
                    .keys
                    .iter()
                    .filter(|slot| live(slot.deadline_ms, now))
                    .map(|slot| (scan_hash(&slot.key), slot.key.clone()))
                    .filter(|&(h, _)| h >= cursor),
            );
            let end = cut(&mut found, room, page.is_empty());
            page.extend(found.drain(..).map(|(_, k)| k));
            end
        })
    }

    /// As `Compact::keys`.
    pub fn keys(&self, pattern: &[u8]) -> Vec<Bytes> {
        self.reap();
        let all = pattern == b"*";
        let now = self.now_ms();
        let mut keys = Vec::new();
        for s in 0..SEGMENTS {
            let st = self.stripe(s);
            keys.extend(
                st.keys
                    .iter()
                    .filter(|slot| {
                        live(slot.deadline_ms, now) && (all || glob_match(pattern, &slot.key))
                    })
                    .map(|slot| slot.key.clone()),
            );
        }
        keys
    }

    /// As `Compact::random_key`.
    pub fn random_key(&self) -> Option<Bytes> {
        self.reap();
        let now = self.now_ms();
        let mut rng = rand::thread_rng();
        for _ in 0..RANDOM_TRIES {
            let st = self.stripe(rng.gen_range(0..SEGMENTS));
            if st.keys.is_empty() {
                continue;
            }
            let slot = st.keys.iter().nth(rng.gen_range(0..st.keys.len()))?;
            if live(slot.deadline_ms, now) {
                return Some(slot.key.clone());
            }
        }
        let start = rng.gen_range(0..SEGMENTS);
        (0..SEGMENTS).find_map(|step| {
            let st = self.stripe((start + step) % SEGMENTS);
            let slot = st.keys.iter().find(|slot| live(slot.deadline_ms, now))?;
            Some(slot.key.clone())
        })
    }

    /// Appends the live keys of stripe `st` for which `pick` is true, with copies of their
    /// values and their deadlines.
    fn copy_out(
        &self,
        st: &Stripe,
        now_ms: u64,
        pick: impl Fn(&[u8]) -> bool,
        out: &mut Vec<SnapshotEntry>,
    ) {
        for slot in &st.keys {
            if !live(slot.deadline_ms, now_ms) || !pick(&slot.key) {
                continue;
            }
            if let Some(e) = st.backing.cache.get(&slot.key[..]) {
                out.push((slot.key.clone(), e.object(), e.deadline_ms));
            }
        }
    }

    /// As `Compact::snapshot_segment`: stripe `s`'s live keys.
    ///
    /// # Panics
    /// When `s` is not below [`SEGMENTS`].
    pub fn snapshot_segment(&self, s: usize, now_ms: u64, out: &mut Vec<SnapshotEntry>) {
        assert!(s < SEGMENTS, "segment {s} out of range");
        if s == 0 {
            self.reap();
        }
        out.clear();
        let st = self.stripe(s);
        self.copy_out(&st, now_ms, |_| true, out);
    }

    /// As `Compact::export_leaving`.
    pub fn export_leaving(
        &self,
        cursor: usize,
        count: usize,
        leaving: impl Fn(&[u8]) -> bool,
    ) -> (usize, Vec<SnapshotEntry>) {
        let now = self.now_ms();
        let mut out = Vec::new();
        for s in cursor..SEGMENTS {
            let st = self.stripe(s);
            self.copy_out(&st, now, &leaving, &mut out);
            drop(st);
            if out.len() >= count {
                return (if s + 1 == SEGMENTS { 0 } else { s + 1 }, out);
            }
        }
        (0, out)
    }

    /// As `Compact::set_migrating`.
    pub fn set_migrating(&self, on: bool) {
        self.reap();
        for s in 0..SEGMENTS {
            let mut st = self.stripe(s);
            match (on, st.tombstones.is_some()) {
                (true, false) => st.tombstones = Some(Box::default()),
                (false, true) => st.tombstones = None,
                _ => {}
            }
        }
    }

    /// As `Compact::is_migrating`.
    pub fn is_migrating(&self) -> bool {
        self.stripe(0).tombstones.is_some()
    }

    /// Returns true when a copy of `key` may be stored in stripe `st`: the key is not live
    /// here and was not removed (nor the store flushed) since the resize began.
    fn admits(&self, st: &mut Stripe, h: u64, key: &[u8]) -> bool {
        let mut now = self.now();
        if self.find(st, h, key, &mut now, false).is_some() {
            return false;
        }
        !st.tombstones
            .as_ref()
            .is_some_and(|t| t.flushed || t.hashes.contains(&h))
    }

    /// As `Compact::import`.
    ///
    /// # Errors
    /// [`StoreError::OutOfMemory`] when the entry alone outweighs `max_memory`.
    pub fn import(&self, key: &[u8], value: &Value) -> Result<bool, StoreError> {
        let w = weigh(key.len(), value.data.len() as u64, self.max_memory())?;
        if !value.is_live(self.now_ms()) {
            return Ok(false);
        }
        self.reap();
        let h = key_hash(key);
        let mut st = self.stripe(segment_of(h));
        if !self.admits(&mut st, h, key) {
            return Ok(false);
        }
        self.put_str(&mut st, h, key, value, w, &mut self.now());
        Ok(true)
    }

    /// As `Compact::import_collection`.
    ///
    /// # Errors
    /// [`StoreError::OutOfMemory`] when the collection alone outweighs `max_memory`.
    pub fn import_collection(
        &self,
        key: &[u8],
        value: Collection,
        deadline_ms: u64,
    ) -> Result<bool, StoreError> {
        weigh(key.len(), value.weight(), self.max_memory())?;
        if value.is_empty() || (deadline_ms != 0 && self.now_ms() > deadline_ms) {
            return Ok(false);
        }
        self.reap();
        let h = key_hash(key);
        let mut st = self.stripe(segment_of(h));
        if !self.admits(&mut st, h, key) {
            return Ok(false);
        }
        self.put_coll(&mut st, h, key, value, deadline_ms)?;
        Ok(true)
    }
}

/// Returns true while a key with `deadline_ms` exists at `now_ms`.
fn live(deadline_ms: u64, now_ms: u64) -> bool {
    deadline_ms == 0 || now_ms <= deadline_ms
}
