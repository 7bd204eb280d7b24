//! One of the store's segments: a slab of entries and a hash table of slab indices.
//!
//! * [`Entry`] is 32 bytes inline: the key and value live in ONE heap allocation
//!   (`Box<[u8]>`, key bytes then value bytes), plus the deadline, the key's length and an
//!   eviction stamp. No `Arc`, no `Bytes`: readers get a copy.
//! * The table holds `u32` slab indices (4 bytes a slot, plus hashbrown's control byte). It
//!   keeps no hash: a resize or a moved entry re-hashes the key (xxh3 of a short key is a few
//!   dozen instructions), which costs less than 8 more bytes in every entry.
//! * Removal is a `swap_remove`: the slab stays dense, so a random index is a random key.
//! * `slab[..expiring]` are exactly the entries with a deadline (a partition kept on every
//!   insert, removal and deadline change), so active expiry samples only keys that can expire
//!   and `expires` is an exact count.

use hashbrown::HashTable;

use std::borrow::Cow;

use super::types::{Collection, ObjType};
use super::{hooks, ENTRY_OVERHEAD};

/// One key and its value, its deadline and its eviction stamp.
#[derive(Debug)]
pub(super) struct Entry {
    data: Data,
    /// Unix time in ms after which the key no longer exists; 0 means no expiry.
    deadline_ms: u64,
    /// The key's length (low [`TAG_SHIFT`] bits: keys are at most 512 MiB) and, in the top
    /// bits, the type of a small collection packed in `Data::Flat` (0 for a string).
    key_len: u32,
    /// LRU: the store's write clock at the last access. LFU: minutes << 8 | log counter.
    pub(super) stamp: u32,
}

/// What an entry holds. Both variants fit in 16 bytes (the box's null niche tells them
/// apart), so an entry stays 32.
#[derive(Debug)]
enum Data {
    /// The key's bytes followed by the value's: a string's, or a small collection's packed
    /// elements (one allocation for the key and all of them, as Redis embeds a listpack).
    Flat(Box<[u8]>),
    /// A large collection.
    Coll(Box<Keyed>),
}

/// A key and the large collection it holds.
#[derive(Debug)]
struct Keyed {
    key: Box<[u8]>,
    value: Collection,
}

const TAG_SHIFT: u32 = 29;
const LEN_MASK: u32 = (1 << TAG_SHIFT) - 1;

/// The tag of a small collection of type `t` packed in `Data::Flat`.
fn tag_of(t: ObjType) -> u32 {
    let tag = match t {
        ObjType::String => 0,
        ObjType::Hash => 1,
        ObjType::Set => 2,
        ObjType::ZSet => 3,
        ObjType::List => 4,
    };
    tag << TAG_SHIFT
}

fn type_of_tag(key_len: u32) -> ObjType {
    match key_len >> TAG_SHIFT {
        1 => ObjType::Hash,
        2 => ObjType::Set,
        3 => ObjType::ZSet,
        4 => ObjType::List,
        _ => ObjType::String,
    }
}

/// Bytes charged for a large collection's own allocations (its key's box and the
/// [`Keyed`]), on top of [`ENTRY_OVERHEAD`].
const KEYED_OVERHEAD: u64 = 64;

impl Entry {
    /// Returns an entry holding copies of `key` and `value`; `key.len()` must fit in
    /// [`TAG_SHIFT`] bits (the store refuses longer keys before this).
    pub(super) fn new(key: &[u8], value: &[u8], deadline_ms: u64, stamp: u32) -> Entry {
        Entry {
            data: Data::Flat(concat(key, value)),
            deadline_ms,
            // Checked by the store's `weigh` (a longer key is refused as out of memory).
            key_len: key.len() as u32,
            stamp,
        }
    }

    /// Returns an entry holding a copy of `key` and the collection `value`: packed with the
    /// key when it is in a small form, boxed otherwise.
    pub(super) fn new_collection(
        key: &[u8],
        value: Collection,
        deadline_ms: u64,
        stamp: u32,
    ) -> Entry {
        let mut e = Entry::new(key, b"", deadline_ms, stamp);
        e.set_collection(value);
        e
    }

    /// Returns an entry written into `data`, the block of an entry removed just before, whose
    /// length is exactly `key.len() + value.len()`.
    pub(super) fn reuse(
        mut data: Box<[u8]>,
        key: &[u8],
        value: &[u8],
        deadline_ms: u64,
        stamp: u32,
    ) -> Entry {
        data[..key.len()].copy_from_slice(key);
        data[key.len()..].copy_from_slice(value);
        Entry {
            data: Data::Flat(data),
            deadline_ms,
            key_len: key.len() as u32,
            stamp,
        }
    }

    /// Returns the length of a flat key+value block; `None` for a large collection.
    pub(super) fn data_len(&self) -> Option<usize> {
        match &self.data {
            Data::Flat(d) => Some(d.len()),
            Data::Coll(_) => None,
        }
    }

    /// Returns a flat key+value block, for [`reuse`](Self::reuse).
    pub(super) fn into_data(self) -> Option<Box<[u8]>> {
        match self.data {
            Data::Flat(d) => Some(d),
            Data::Coll(_) => None,
        }
    }

    fn key_len(&self) -> usize {
        (self.key_len & LEN_MASK) as usize
    }

    /// Returns the key.
    pub(super) fn key(&self) -> &[u8] {
        match &self.data {
            Data::Flat(d) => &d[..self.key_len()],
            Data::Coll(k) => &k.key,
        }
    }

    /// Returns a string's value; empty for a collection (see [`is_string`](Self::is_string)).
    pub(super) fn value(&self) -> &[u8] {
        match &self.data {
            Data::Flat(d) if self.key_len >> TAG_SHIFT == 0 => &d[self.key_len()..],
            _ => &[],
        }
    }

    /// Returns true if the entry holds a string.
    pub(super) fn is_string(&self) -> bool {
        matches!(self.data, Data::Flat(_)) && self.key_len >> TAG_SHIFT == 0
    }

    /// Returns the type of the value.
    pub(super) fn obj_type(&self) -> ObjType {
        match &self.data {
            Data::Flat(_) => type_of_tag(self.key_len),
            Data::Coll(k) => k.value.obj_type(),
        }
    }

    /// Returns the collection, if the entry holds one: a large one as it is, a small one
    /// unpacked into a copy.
    pub(super) fn collection(&self) -> Option<Cow<'_, Collection>> {
        match &self.data {
            Data::Flat(_) if self.is_string() => None,
            Data::Flat(d) => Some(Cow::Owned(Collection::from_packed(
                type_of_tag(self.key_len),
                &d[self.key_len()..],
            ))),
            Data::Coll(k) => Some(Cow::Borrowed(&k.value)),
        }
    }

    /// Returns a large collection to change in place; the caller re-weighs the entry after.
    pub(super) fn boxed_mut(&mut self) -> Option<&mut Collection> {
        match &mut self.data {
            Data::Flat(_) => None,
            Data::Coll(k) => Some(&mut k.value),
        }
    }

    /// Returns Redis's name for the form of the value, for a collection.
    pub(super) fn encoding(&self) -> Option<&'static str> {
        match &self.data {
            Data::Flat(_) if self.is_string() => None,
            Data::Flat(_) => Some("listpack"),
            Data::Coll(k) => Some(k.value.encoding()),
        }
    }

    /// Replaces the value with the collection `value`, packed with the key when it is in a
    /// small form.
    pub(super) fn set_collection(&mut self, value: Collection) {
        if let Some(packed) = value.packed() {
            let t = value.obj_type();
            let data = concat(self.key(), packed);
            self.key_len = self.key_len() as u32 | tag_of(t);
            self.data = Data::Flat(data);
            return;
        }
        self.key_len = self.key_len() as u32;
        match &mut self.data {
            Data::Coll(k) => k.value = value,
            Data::Flat(_) => {
                self.data = Data::Coll(Box::new(Keyed {
                    key: self.key().into(),
                    value,
                }));
            }
        }
    }

    /// Returns a copy of this entry under another key, with the same deadline and stamp.
    pub(super) fn copy_as(&self, key: &[u8]) -> Entry {
        let data = match &self.data {
            Data::Flat(d) => Data::Flat(concat(key, &d[self.key_len()..])),
            Data::Coll(k) => Data::Coll(Box::new(Keyed {
                key: key.into(),
                value: k.value.clone(),
            })),
        };
        Entry {
            data,
            deadline_ms: self.deadline_ms,
            key_len: key.len() as u32 | (self.key_len & !LEN_MASK),
            stamp: self.stamp,
        }
    }

    /// Returns this entry under another key (a large collection moved, not copied).
    pub(super) fn rekey(self, key: &[u8]) -> Entry {
        let old_len = self.key_len();
        let data = match self.data {
            Data::Flat(d) => Data::Flat(concat(key, &d[old_len..])),
            Data::Coll(mut k) => {
                k.key = key.into();
                Data::Coll(k)
            }
        };
        Entry {
            data,
            key_len: key.len() as u32 | (self.key_len & !LEN_MASK),
            ..self
        }
    }

    /// Returns the deadline (Unix ms, 0 = none).
    pub(super) fn deadline_ms(&self) -> u64 {
        self.deadline_ms
    }

    /// Returns what this entry is charged against `max_memory`.
    pub(super) fn weight(&self) -> u64 {
        match &self.data {
            Data::Flat(d) => d.len() as u64 + u64::from(ENTRY_OVERHEAD),
            Data::Coll(k) => {
                k.key.len() as u64 + k.value.weight() + u64::from(ENTRY_OVERHEAD) + KEYED_OVERHEAD
            }
        }
    }

    /// Returns true while the key exists at `now_ms` (as `Value::is_live`).
    pub(super) fn is_live(&self, now_ms: u64) -> bool {
        self.deadline_ms == 0 || now_ms <= self.deadline_ms
    }

    /// Replaces the value with the string `value`, writing over the old one in place when
    /// the size is unchanged (a SET of a same-sized value then costs no allocation).
    pub(super) fn set_value(&mut self, value: &[u8]) {
        let k = self.key_len();
        self.key_len = k as u32;
        match &mut self.data {
            Data::Flat(d) if d.len() - k == value.len() => d[k..].copy_from_slice(value),
            _ => self.data = Data::Flat(concat(self.key(), value)),
        }
    }
}

/// Returns `a` then `b` in one exactly-sized allocation.
fn concat(a: &[u8], b: &[u8]) -> Box<[u8]> {
    let mut data = Vec::with_capacity(a.len() + b.len());
    data.extend_from_slice(a);
    data.extend_from_slice(b);
    data.into_boxed_slice()
}

/// Returns a key's 64-bit hash: the segment comes from its top bits, SCAN's order from its
/// top 48 bits, the table's probe position from the rest.
pub(super) fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// Returns the hash given to hashbrown. hashbrown takes its 7-bit tag from the top bits and
/// the probe position from the low bits; within one segment the top bits of [`key_hash`] are
/// all the same, so they are rotated into the middle, where only a table of over 4 million
/// slots would use them.
fn table_hash(h: u64) -> u64 {
    h.rotate_left(32)
}

/// Marks a table slot whose entry is being moved (no slab index is ever this large).
const MOVING: u32 = u32::MAX;

/// Eviction candidates a segment keeps between evictions (Redis: `EVPOOL_SIZE`).
const POOL: usize = 16;

/// The most entries one eviction samples besides the pool.
pub(super) const MAX_SAMPLES: usize = 16;

/// A slab of entries, a table of their indices, and the counters only this segment touches.
#[derive(Debug)]
pub(super) struct Segment {
    slab: Vec<Entry>,
    table: HashTable<u32>,
    /// `slab[..expiring]` have a deadline, the rest have none.
    expiring: usize,
    /// xorshift64* state, for sampling and LFU increments (seeded per segment).
    rng: u64,
    /// Slab indices of the best eviction candidates seen (kept right as entries move).
    pool: Vec<u32>,
    /// Weight this segment's entries add to the store's global counter: changed only by
    /// `Store::charge` / `Store::discharge`, together with that counter, so a segment
    /// rebuilt after a panic knows how far the counter is off (see [`rebuild`](Self::rebuild)).
    pub(super) charged: u64,
    pub(super) hits: u64,
    pub(super) misses: u64,
    pub(super) expired: u64,
    pub(super) evicted: u64,
    /// While this shard takes keys in a resize: what was removed since it began (see
    /// `store::migrate`); `None` otherwise, which costs removals one branch.
    pub(super) tombstones: Option<Box<Tombstones>>,
}

/// The keys a segment removed while a resize moves keys in: a copy of one of them arriving
/// late must not bring it back.
#[derive(Debug, Default)]
pub(super) struct Tombstones {
    /// [`key_hash`] of every key removed (deleted, expired, evicted); a 64-bit collision
    /// refuses one copy, which then counts as a miss.
    pub(super) hashes: std::collections::HashSet<u64>,
    /// Flushed: every late copy is refused.
    pub(super) flushed: bool,
}

impl Segment {
    /// Returns an empty segment whose sampling starts from `seed`.
    pub(super) fn new(seed: u64) -> Segment {
        Segment {
            slab: Vec::new(),
            table: HashTable::new(),
            expiring: 0,
            // splitmix64 of the seed: any non-zero state will do for xorshift.
            rng: splitmix(seed) | 1,
            pool: Vec::new(),
            charged: 0,
            hits: 0,
            misses: 0,
            expired: 0,
            evicted: 0,
            tombstones: None,
        }
    }

    /// Returns the number of entries (expired ones not yet removed included).
    pub(super) fn len(&self) -> usize {
        self.slab.len()
    }

    /// Returns the number of entries with a deadline.
    pub(super) fn expiring(&self) -> usize {
        self.expiring
    }

    /// Returns every entry, those with a deadline first.
    pub(super) fn entries(&self) -> &[Entry] {
        &self.slab
    }

    /// Returns the entry at slab index `i`.
    pub(super) fn entry(&self, i: usize) -> &Entry {
        &self.slab[i]
    }

    /// Returns the entry at slab index `i` for a value or stamp change; deadlines change only
    /// through [`set_deadline`](Self::set_deadline), which keeps the partition.
    pub(super) fn entry_mut(&mut self, i: usize) -> &mut Entry {
        &mut self.slab[i]
    }

    /// Returns the slab index of `key`, whose [`key_hash`] is `h`.
    pub(super) fn find(&self, h: u64, key: &[u8]) -> Option<usize> {
        let slab = &self.slab;
        self.table
            .find(table_hash(h), |&i| slab[i as usize].key() == key)
            .map(|&i| i as usize)
    }

    /// Adds `entry`, whose key (hashing to `h`) is not in the segment; returns its index.
    pub(super) fn insert(&mut self, h: u64, entry: Entry) -> usize {
        let mut i = self.slab.len();
        let expiring = entry.deadline_ms != 0;
        if i == self.slab.capacity() {
            // Grow by a quarter, not by doubling: a slab slot is the largest fixed cost of an
            // entry, and a doubled slab holds up to 32 idle bytes per entry (measured: 130 B of
            // RSS per 45 B entry at a bad point of doubling, 109 B charged).
            self.slab.reserve_exact((i / 4).max(8));
        }
        self.slab.push(entry);
        hooks::fault("segment.insert");
        if expiring {
            // The first entry without a deadline moves to the end; the new one takes its place.
            self.relocate(self.expiring, i);
            i = self.expiring;
            self.expiring += 1;
        }
        let Segment { slab, table, .. } = self;
        // A segment never nears 2^32 entries (each costs over 64 bytes).
        table.insert_unique(table_hash(h), i as u32, |&j| {
            table_hash(key_hash(slab[j as usize].key()))
        });
        i
    }

    /// Removes and returns the entry at slab index `i`; the last entry (and, for an entry with
    /// a deadline, the last of those) move into the hole.
    pub(super) fn remove(&mut self, i: usize) -> Entry {
        let kh = key_hash(self.slab[i].key());
        if let Some(t) = &mut self.tombstones {
            t.hashes.insert(kh);
        }
        let h = table_hash(kh);
        // invariant: every slab index has exactly one table slot.
        let slot = self.table.find_entry(h, |&x| x as usize == i).unwrap();
        slot.remove();
        hooks::fault("segment.remove");
        self.pool.retain(|&p| p as usize != i);
        let mut hole = i;
        if i < self.expiring {
            let last_expiring = self.expiring - 1;
            self.relocate(last_expiring, hole);
            hole = last_expiring;
            self.expiring -= 1;
        }
        let last = self.slab.len() - 1;
        self.relocate(last, hole);
        // invariant: the slab held entry `i`, so it is not empty.
        self.slab.pop().unwrap()
    }

    /// Sets the deadline of the entry at `i`, moving it across the partition when it gains or
    /// loses one; returns its new index.
    pub(super) fn set_deadline(&mut self, i: usize, deadline_ms: u64) -> usize {
        let had = self.slab[i].deadline_ms != 0;
        self.slab[i].deadline_ms = deadline_ms;
        match (had, deadline_ms != 0) {
            (false, true) => {
                let j = self.expiring;
                self.swap(i, j);
                self.expiring += 1;
                j
            }
            (true, false) => {
                let j = self.expiring - 1;
                self.swap(i, j);
                self.expiring -= 1;
                j
            }
            _ => i,
        }
    }

    /// Removes every entry and returns the weight freed; the memory goes back to the allocator.
    pub(super) fn clear(&mut self) -> u64 {
        let freed = self.slab.iter().map(Entry::weight).sum();
        if let Some(t) = &mut self.tombstones {
            t.flushed = true;
        }
        self.slab = Vec::new();
        self.table = HashTable::new();
        self.expiring = 0;
        self.pool.clear();
        freed
    }

    /// Moves the entry at `from` to `to`, whose table slot is already gone (a hole or an entry
    /// not yet in the table), swapping the two in the slab.
    fn relocate(&mut self, from: usize, to: usize) {
        if from == to {
            return;
        }
        *self.slot_mut(from, from) = to as u32;
        self.slab.swap(from, to);
        for p in &mut self.pool {
            if *p as usize == from {
                *p = to as u32;
            }
        }
    }

    /// Swaps the entries at `a` and `b`, both in the table.
    fn swap(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        // Indices are unique in the table, so a slot is found by its index alone; `MOVING`
        // keeps `a`'s slot apart while `b`'s is rewritten to `a`.
        *self.slot_mut(a, a) = MOVING;
        *self.slot_mut(b, b) = a as u32;
        hooks::fault("segment.swap");
        self.slab.swap(a, b);
        *self.slot_mut(b, MOVING as usize) = b as u32;
        for p in &mut self.pool {
            if *p as usize == a {
                *p = b as u32;
            } else if *p as usize == b {
                *p = a as u32;
            }
        }
    }

    /// Returns the table slot that holds `index`, for the entry now at slab position `at`.
    fn slot_mut(&mut self, at: usize, index: usize) -> &mut u32 {
        let h = table_hash(key_hash(self.slab[at].key()));
        // invariant: every slab index (or the one `MOVING` mark) has exactly one table slot.
        self.table.find_mut(h, |&x| x as usize == index).unwrap()
    }

    /// Makes the segment consistent again after a panic left it half-updated, keeping every
    /// entry the slab holds: the table is rebuilt from the slab (a second entry for a key
    /// is dropped), the deadline partition restored, the eviction pool emptied. Returns the
    /// weight the entries now have; the caller corrects the global counter by its difference
    /// from [`charged`](Self::charged).
    ///
    /// The slab is the one structure a panic cannot tear: every entry in it is whole (safe
    /// moves only), while the table, the partition, the pool and the charge are updated in
    /// steps around it.
    pub(super) fn rebuild(&mut self) -> u64 {
        let mut slab = std::mem::take(&mut self.slab);
        // Entries with a deadline first, as the partition wants (stable: no other order matters).
        slab.sort_by_key(|e| e.deadline_ms == 0);
        self.table = HashTable::with_capacity(slab.len());
        self.expiring = 0;
        self.pool.clear();
        let mut weight = 0;
        for e in slab {
            let h = key_hash(e.key());
            if self.find(h, e.key()).is_some() {
                continue;
            }
            weight += e.weight();
            self.insert(h, e);
        }
        weight
    }

    /// Returns the sum of the entries' weights after checking every structural invariant:
    /// one table slot per slab index, each key found at its own index (so no key twice),
    /// in segment `s`, the deadline partition, a pool of distinct live indices, and
    /// [`charged`](Self::charged) equal to that sum.
    ///
    /// # Panics
    /// When an invariant does not hold.
    #[cfg(test)]
    pub(super) fn check(&self, s: usize) -> u64 {
        assert_eq!(self.table.len(), self.slab.len(), "segment {s}: table size");
        assert!(self.expiring <= self.slab.len(), "segment {s}: partition");
        let mut pool = self.pool.clone();
        pool.sort_unstable();
        pool.dedup();
        assert_eq!(pool.len(), self.pool.len(), "segment {s}: pool repeats");
        assert!(pool.iter().all(|&p| (p as usize) < self.slab.len()));
        let mut weight = 0;
        for (i, e) in self.slab.iter().enumerate() {
            let h = key_hash(e.key());
            assert_eq!(
                super::segment_of(h),
                s,
                "segment {s}: a key of another segment"
            );
            assert_eq!(
                self.find(h, e.key()),
                Some(i),
                "segment {s}: index of entry {i}"
            );
            assert_eq!(
                e.deadline_ms != 0,
                i < self.expiring,
                "segment {s}: partition at {i}"
            );
            weight += e.weight();
        }
        assert_eq!(self.charged, weight, "segment {s}: charge");
        weight
    }

    /// Returns the next pseudo-random number (xorshift64*).
    pub(super) fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Returns a pseudo-random index below `n` (`n` > 0, below 2^32).
    pub(super) fn random_below(&mut self, n: usize) -> usize {
        (((self.next_random() >> 32) * n as u64) >> 32) as usize
    }

    /// Returns the highest-scoring entry other than `keep` among the eviction pool and up to
    /// `samples` (at most [`MAX_SAMPLES`]) random entries (all of them when the segment is that
    /// small), with its score; the best [`POOL`] of them stay in the pool for the next call.
    ///
    /// As Redis's eviction pool (`evictionPoolPopulate`): candidates found by earlier samples
    /// are kept and re-scored (a touched entry drops back), so eviction comes much closer to
    /// true LRU/LFU than the best of one sample.
    pub(super) fn sample_max(
        &mut self,
        samples: usize,
        keep: Option<usize>,
        mut score: impl FnMut(&Entry) -> u64,
    ) -> Option<(usize, u64)> {
        let mut cands = [(0u64, 0u32); POOL + MAX_SAMPLES];
        let mut n = 0;
        let mut add = |cands: &mut [(u64, u32)], n: &mut usize, i: usize, e: &Entry| {
            if Some(i) != keep && *n < cands.len() && !cands[..*n].iter().any(|c| c.1 as usize == i)
            {
                cands[*n] = (score(e), i as u32);
                *n += 1;
            }
        };
        for &i in &self.pool {
            add(&mut cands, &mut n, i as usize, &self.slab[i as usize]);
        }
        let samples = samples.min(MAX_SAMPLES);
        if self.slab.len() <= samples + 1 {
            for (i, e) in self.slab.iter().enumerate() {
                add(&mut cands, &mut n, i, e);
            }
        } else {
            for _ in 0..samples {
                let i = self.random_below(self.slab.len());
                add(&mut cands, &mut n, i, &self.slab[i]);
            }
        }
        let cands = &mut cands[..n];
        cands.sort_unstable_by_key(|c| std::cmp::Reverse(c.0));
        self.pool.clear();
        self.pool.extend(cands.iter().take(POOL).map(|c| c.1));
        cands.first().map(|&(s, i)| (i as usize, s))
    }

    /// Samples up to `samples` entries with a deadline (all of them when there are no more)
    /// and removes those expired at `now_ms`, counting them and telling `removed` each key;
    /// returns (sampled, expired, weight freed).
    pub(super) fn expire_some(
        &mut self,
        now_ms: u64,
        samples: usize,
        removed: &dyn Fn(&[u8]),
    ) -> (usize, usize, u64) {
        let mut expired = 0;
        let mut freed = 0;
        if self.expiring <= samples {
            // From the top down: a removal moves the last entry with a deadline (already
            // checked) into the hole.
            let sampled = self.expiring;
            for i in (0..self.expiring).rev() {
                if !self.slab[i].is_live(now_ms) {
                    let gone = self.remove(i);
                    removed(gone.key());
                    freed += gone.weight();
                    expired += 1;
                }
            }
            self.expired += expired as u64;
            return (sampled, expired, freed);
        }
        for _ in 0..samples {
            if self.expiring == 0 {
                break;
            }
            let i = self.random_below(self.expiring);
            if !self.slab[i].is_live(now_ms) {
                let gone = self.remove(i);
                removed(gone.key());
                freed += gone.weight();
                expired += 1;
            }
        }
        self.expired += expired as u64;
        (samples, expired, freed)
    }
}

/// Returns splitmix64 of `x`: spreads a segment number into a sampling seed.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that every entry is found at its own index and the partition holds.
    fn check(seg: &Segment) {
        assert_eq!(seg.table.len(), seg.slab.len());
        assert!(seg.pool.iter().all(|&p| (p as usize) < seg.slab.len()));
        for (i, e) in seg.slab.iter().enumerate() {
            assert_eq!(seg.find(key_hash(e.key()), e.key()), Some(i));
            assert_eq!(e.deadline_ms != 0, i < seg.expiring, "partition at {i}");
        }
    }

    #[test]
    fn entry_is_32_bytes_inline() {
        assert_eq!(std::mem::size_of::<Entry>(), 32);
    }

    #[test]
    fn random_inserts_removes_and_deadline_changes_keep_table_and_partition_exact() {
        let mut seg = Segment::new(7);
        for step in 0..20_000u64 {
            let r = seg.next_random();
            let key = format!("k{}", r % 300).into_bytes();
            let h = key_hash(&key);
            let deadline = if r >> 20 & 1 == 0 {
                0
            } else {
                1 + (r >> 30) % 100
            };
            match (r >> 8) % 4 {
                0 | 1 => match seg.find(h, &key) {
                    Some(i) => {
                        seg.entry_mut(i)
                            .set_value(&step.to_le_bytes()[..(r >> 40) as usize % 8]);
                        seg.set_deadline(i, deadline);
                    }
                    None => {
                        seg.insert(h, Entry::new(&key, b"v", deadline, (r >> 16) as u32));
                    }
                },
                2 => {
                    if let Some(i) = seg.find(h, &key) {
                        assert_eq!(seg.remove(i).key(), &key[..]);
                    }
                }
                _ if r >> 50 & 1 == 0 => {
                    seg.expire_some(r % 100, 5, &|_| {});
                }
                _ => {
                    // Entries with lower `stamp` score higher; the pool must follow moves.
                    let before = seg.pool.clone();
                    if let Some((i, score)) =
                        seg.sample_max(5, None, |e| u64::from(u32::MAX - e.stamp))
                    {
                        assert_eq!(score, u64::from(u32::MAX - seg.entry(i).stamp));
                        assert!(before
                            .iter()
                            .all(|&p| score >= u64::from(u32::MAX - seg.entry(p as usize).stamp)));
                        seg.remove(i);
                    }
                }
            }
            if step % 997 == 0 {
                check(&seg);
            }
        }
        check(&seg);
        let n = seg.len() as u64;
        let freed = seg.clear();
        assert!(freed >= n * u64::from(ENTRY_OVERHEAD));
        check(&seg);
    }

    #[test]
    fn same_sized_values_are_written_in_place() {
        let mut e = Entry::new(b"key", b"abc", 0, 0);
        let before = e.value().as_ptr();
        e.set_value(b"xyz");
        assert_eq!(
            (e.key(), e.value(), e.value().as_ptr()),
            (&b"key"[..], &b"xyz"[..], before)
        );
        e.set_value(b"longer");
        assert_eq!((e.key(), e.value()), (&b"key"[..], &b"longer"[..]));
    }

    #[test]
    fn expire_some_removes_only_expired_entries() {
        let mut seg = Segment::new(1);
        for i in 0..100u64 {
            let key = format!("k{i}").into_bytes();
            let deadline = if i % 2 == 0 { 50 } else { 0 };
            seg.insert(key_hash(&key), Entry::new(&key, b"v", deadline, 0));
        }
        assert_eq!(seg.expiring(), 50);
        while seg.expire_some(51, 20, &|_| {}).1 > 0 {}
        seg.expire_some(51, 20, &|_| {});
        assert_eq!((seg.len(), seg.expiring(), seg.expired), (50, 0, 50));
        check(&seg);
    }
}
