//! A large collection's elements ordered by a 64-bit hash of their key: lookups, inserts and
//! removals in O(log n), a stable SCAN cursor (the next hash to return: elements present for
//! the whole iteration are returned, none twice, whatever changes in between) and a random
//! element in O(log n), from one structure.
//!
//! Each element is one allocation: its key's length (LEB128), its key, then its payload (a
//! hash's value, a sorted set's score; nothing for a set).

use std::collections::BTreeMap;

/// An element as (key, payload).
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// The elements sharing one hash: almost always one.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Slot {
    One(Box<[u8]>),
    Many(Vec<Box<[u8]>>),
}

/// Keyed elements in the order of their keys' hashes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hashed {
    map: BTreeMap<u64, Slot>,
    len: usize,
    bytes: usize,
}

/// Returns the hash that orders `key`.
pub fn hash_of(key: &[u8]) -> u64 {
    // A seed unlike the keyspace's, so the elements of one key spread independently of it.
    xxhash_rust::xxh3::xxh3_64_with_seed(key, 0x6a75_6d70)
}

fn split(e: &[u8]) -> (&[u8], &[u8]) {
    let mut n = 0usize;
    let mut shift = 0;
    let mut i = 0;
    loop {
        let byte = e[i];
        i += 1;
        n |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return (&e[i..i + n], &e[i + n..]);
        }
        shift += 7;
    }
}

fn element(key: &[u8], payload: &[u8]) -> Box<[u8]> {
    let mut out = Vec::with_capacity(key.len() + payload.len() + 3);
    let mut n = key.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(key);
    out.extend_from_slice(payload);
    out.into_boxed_slice()
}

impl Slot {
    fn elements(&self) -> &[Box<[u8]>] {
        match self {
            Slot::One(e) => std::slice::from_ref(e),
            Slot::Many(v) => v,
        }
    }
}

impl Hashed {
    /// Returns the number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Returns true when there is no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Returns the bytes of the elements (keys, payloads and length prefixes).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Returns the payload of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        let slot = self.map.get(&hash_of(key))?;
        slot.elements().iter().find_map(|e| {
            let (k, p) = split(e);
            (k == key).then_some(p)
        })
    }

    /// Stores `payload` under `key`; returns true if `key` is new.
    pub fn insert(&mut self, key: &[u8], payload: &[u8]) -> bool {
        let new = element(key, payload);
        self.bytes += new.len();
        match self.map.entry(hash_of(key)) {
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(Slot::One(new));
            }
            std::collections::btree_map::Entry::Occupied(mut o) => {
                let slot = o.get_mut();
                let elements: &mut [Box<[u8]>] = match slot {
                    Slot::One(e) => std::slice::from_mut(e),
                    Slot::Many(v) => v,
                };
                if let Some(old) = elements.iter_mut().find(|e| split(e).0 == key) {
                    self.bytes -= old.len();
                    *old = new;
                    return false;
                }
                let mut all: Vec<Box<[u8]>> = match std::mem::replace(slot, Slot::Many(Vec::new()))
                {
                    Slot::One(e) => vec![e],
                    Slot::Many(v) => v,
                };
                all.push(new);
                *slot = Slot::Many(all);
            }
        }
        self.len += 1;
        true
    }

    /// Removes `key`; returns true if it was there.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        let h = hash_of(key);
        let Some(slot) = self.map.get_mut(&h) else {
            return false;
        };
        let removed = match slot {
            Slot::One(e) if split(e).0 == key => {
                let n = e.len();
                self.map.remove(&h);
                n
            }
            Slot::One(_) => return false,
            Slot::Many(v) => {
                let Some(i) = v.iter().position(|e| split(e).0 == key) else {
                    return false;
                };
                let n = v.swap_remove(i).len();
                if v.len() == 1 {
                    let last = v.pop().expect("one left");
                    *slot = Slot::One(last);
                }
                n
            }
        };
        self.bytes -= removed;
        self.len -= 1;
        true
    }

    /// Returns every element as (key, payload), in hash order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.map
            .values()
            .flat_map(|s| s.elements().iter().map(|e| split(e)))
    }

    /// Returns the elements whose hash is at or after `cursor`, at least `count` of them
    /// unless fewer are left (never splitting one hash), and the cursor to go on from
    /// (0 when the end was reached).
    pub fn page(&self, cursor: u64, count: usize) -> (u64, Vec<Pair<'_>>) {
        let mut out = Vec::new();
        for (&h, slot) in self.map.range(cursor..) {
            if out.len() >= count.max(1) {
                // The first element (hash 0 included) is always on the first page, so a
                // cursor to go on from is never 0.
                return (h.max(1), out);
            }
            out.extend(slot.elements().iter().map(|e| split(e)));
        }
        (0, out)
    }

    /// Returns the element at or after hash `r`, wrapping to the first: a random element
    /// when `r` is random (biased by the gaps between hashes, as Redis's bucket sampling is).
    pub fn random(&self, r: u64) -> Option<(&[u8], &[u8])> {
        let (_, slot) = self
            .map
            .range(r..)
            .next()
            .or_else(|| self.map.iter().next())?;
        let elements = slot.elements();
        Some(split(&elements[(r as usize) % elements.len()]))
    }
}

#[cfg(test)]
mod tests {
    use super::Hashed;

    #[test]
    fn elements_are_found_replaced_removed_and_paged() {
        let mut h = Hashed::default();
        for i in 0..1000u32 {
            assert!(h.insert(format!("k{i}").as_bytes(), &i.to_le_bytes()));
        }
        assert!(!h.insert(b"k7", b"seven"));
        assert_eq!(h.get(b"k7"), Some(&b"seven"[..]));
        assert!(h.remove(b"k8") && !h.remove(b"k8"));
        assert_eq!(h.len(), 999);
        let (mut cursor, mut seen) = (0, 0);
        loop {
            let (next, page) = h.page(cursor, 10);
            seen += page.len();
            if next == 0 {
                break;
            }
            cursor = next;
        }
        assert_eq!(seen, 999);
        assert!(h.random(12345).is_some());
        let bytes: usize = h.iter().map(|(k, p)| 1 + k.len() + p.len()).sum();
        assert_eq!(h.bytes(), bytes);
    }
}
