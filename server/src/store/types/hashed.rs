//! A large collection's elements ordered by a 64-bit hash of their key, in packed leaves: a
//! B-tree of leaves, each one `Vec<u8>` holding up to about [`LEAF_BYTES`] of elements back
//! to back (hash, key, payload), sorted by hash. Lookups, inserts and removals cost a tree
//! descent and a walk of one leaf; a SCAN cursor is the next hash to return, so elements
//! present for a whole iteration are returned and none twice, whatever changes in between;
//! a random element is a random hash's leaf.
//!
//! An element costs its bytes plus 8 for its hash and 2 or so for its lengths, with no
//! allocation of its own (a hashtable's entry and two strings cost Redis about 70 bytes more
//! than the strings themselves; docs/benchmarks.md, "Collections").

use std::collections::BTreeMap;

use super::leb128;

/// A leaf is split once it holds more bytes than this.
const LEAF_BYTES: usize = 1024;
/// What a leaf costs besides its buffer: its place in a tree node (bound and `Vec`) and the
/// allocator's header.
const LEAF_OVERHEAD: usize = 48;

/// Returns what a leaf costs: its whole buffer (slack included) and [`LEAF_OVERHEAD`].
fn cost(leaf: &[u8], capacity: usize) -> usize {
    debug_assert!(capacity >= leaf.len());
    capacity + LEAF_OVERHEAD
}

/// An element as (key, payload).
pub type Pair<'a> = (&'a [u8], &'a [u8]);

/// Keyed elements in the order of their keys' hashes.
#[derive(Debug, Clone, Default)]
pub struct Hashed {
    /// Leaves by the lowest hash they may hold (the first leaf's is 0): a leaf holds the
    /// hashes from its own bound up to the next leaf's.
    leaves: BTreeMap<u64, Vec<u8>>,
    len: usize,
    /// The sum of the leaves' [`cost`]s.
    bytes: usize,
}

/// Equal when they hold the same elements, however their leaves are cut.
impl PartialEq for Hashed {
    fn eq(&self, other: &Hashed) -> bool {
        if self.len != other.len {
            return false;
        }
        if self.iter().eq(other.iter()) {
            return true;
        }
        // Elements of one hash sit in the order they came in.
        let mut a: Vec<Pair<'_>> = self.iter().collect();
        let mut b: Vec<Pair<'_>> = other.iter().collect();
        a.sort_unstable();
        b.sort_unstable();
        a == b
    }
}

impl Eq for Hashed {}

/// Returns the hash that orders `key`.
pub fn hash_of(key: &[u8]) -> u64 {
    // A seed unlike the keyspace's, so the elements of one key spread independently of it.
    xxhash_rust::xxh3::xxh3_64_with_seed(key, 0x6a75_6d70)
}

/// One element of a leaf, where it starts and ends.
struct At<'a> {
    start: usize,
    end: usize,
    hash: u64,
    key: &'a [u8],
    payload: &'a [u8],
}

/// Returns the elements of a leaf in order.
fn elements(leaf: &[u8]) -> impl Iterator<Item = At<'_>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= leaf.len() {
            return None;
        }
        let start = at;
        let hash = u64::from_le_bytes(leaf[at..at + 8].try_into().expect("8 bytes"));
        at += 8;
        let (klen, after) = leb128::get(leaf, at);
        at = after;
        let key = &leaf[at..at + klen];
        at += klen;
        let (plen, after) = leb128::get(leaf, at);
        at = after;
        let payload = &leaf[at..at + plen];
        at += plen;
        Some(At {
            start,
            end: at,
            hash,
            key,
            payload,
        })
    })
}

fn encode(hash: u64, key: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + key.len() + payload.len());
    out.extend_from_slice(&hash.to_le_bytes());
    leb128::put(&mut out, key.len());
    out.extend_from_slice(key);
    leb128::put(&mut out, payload.len());
    out.extend_from_slice(payload);
    out
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

    /// Returns the bytes the leaves take: their buffers, slack included, and their place in
    /// the tree.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Returns the bound of the leaf that holds `hash`.
    fn leaf_of(&self, hash: u64) -> Option<u64> {
        self.leaves.range(..=hash).next_back().map(|(&b, _)| b)
    }

    /// Returns the payload of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        let h = hash_of(key);
        let leaf = self.leaves.get(&self.leaf_of(h)?)?;
        elements(leaf)
            .skip_while(|e| e.hash < h)
            .take_while(|e| e.hash == h)
            .find(|e| e.key == key)
            .map(|e| e.payload)
    }

    /// Stores `payload` under `key`; returns true if `key` is new.
    pub fn insert(&mut self, key: &[u8], payload: &[u8]) -> bool {
        let h = hash_of(key);
        let new = encode(h, key, payload);
        let bound = self.leaf_of(h).unwrap_or(0);
        let fresh_leaf = !self.leaves.contains_key(&bound);
        let leaf = self.leaves.entry(bound).or_default();
        let before = if fresh_leaf {
            0
        } else {
            cost(leaf, leaf.capacity())
        };
        let mut place = leaf.len();
        let mut old = None;
        for e in elements(leaf) {
            if e.hash == h && e.key == key {
                old = Some((e.start, e.end));
                break;
            }
            if e.hash > h {
                place = e.start;
                break;
            }
        }
        let fresh = old.is_none();
        let (from, to) = old.unwrap_or((place, place));
        if leaf.capacity() < leaf.len() + new.len() {
            // Grow by a quarter, not by doubling: a leaf's slack is memory every element pays.
            leaf.reserve_exact(new.len().max(leaf.len() / 4));
        }
        leaf.splice(from..to, new);
        self.bytes = self.bytes + cost(leaf, leaf.capacity()) - before;
        if fresh {
            self.len += 1;
        }
        if leaf.len() > LEAF_BYTES {
            self.split(bound);
        }
        fresh
    }

    /// Moves the upper half of leaf `bound` into a leaf of its own, never parting elements
    /// of one hash.
    fn split(&mut self, bound: u64) {
        let leaf = &self.leaves[&bound];
        let half = leaf.len() / 2;
        let mut cut = None;
        let mut prev: Option<u64> = None;
        for e in elements(leaf) {
            if e.start >= half && prev.is_some_and(|p| p != e.hash) {
                cut = Some((e.start, e.hash));
                break;
            }
            prev = Some(e.hash);
        }
        let Some((at, upper_bound)) = cut else {
            return;
        };
        let leaf = self.leaves.get_mut(&bound).expect("the leaf just read");
        let before = cost(leaf, leaf.capacity());
        let upper = leaf[at..].to_vec();
        leaf.truncate(at);
        leaf.shrink_to_fit();
        self.bytes =
            self.bytes + cost(leaf, leaf.capacity()) + cost(&upper, upper.capacity()) - before;
        self.leaves.insert(upper_bound, upper);
    }

    /// Removes `key`; returns true if it was there.
    pub fn remove(&mut self, key: &[u8]) -> bool {
        let h = hash_of(key);
        let Some(bound) = self.leaf_of(h) else {
            return false;
        };
        let leaf = self.leaves.get_mut(&bound).expect("found by its bound");
        let Some((from, to)) = elements(leaf)
            .skip_while(|e| e.hash < h)
            .take_while(|e| e.hash == h)
            .find(|e| e.key == key)
            .map(|e| (e.start, e.end))
        else {
            return false;
        };
        let before = cost(leaf, leaf.capacity());
        leaf.drain(from..to);
        self.len -= 1;
        if leaf.is_empty() && bound != 0 {
            // Its hashes fall to the leaf before.
            self.leaves.remove(&bound);
            self.bytes -= before;
            return true;
        }
        if leaf.capacity() > 2 * leaf.len() + 64 {
            leaf.shrink_to_fit();
        }
        self.bytes = self.bytes + cost(leaf, leaf.capacity()) - before;
        true
    }

    /// Returns every element as (key, payload), in hash order.
    pub fn iter(&self) -> impl Iterator<Item = Pair<'_>> {
        self.leaves
            .values()
            .flat_map(|l| elements(l).map(|e| (e.key, e.payload)))
    }

    /// Returns the elements whose hash is at or after `cursor`, at least `count` of them
    /// unless fewer are left (never splitting one hash), and the cursor to go on from
    /// (0 when the end was reached).
    pub fn page(&self, cursor: u64, count: usize) -> (u64, Vec<Pair<'_>>) {
        let mut out = Vec::new();
        let from = self.leaf_of(cursor).unwrap_or(0);
        let mut last = None;
        for leaf in self.leaves.range(from..).map(|(_, l)| l) {
            for e in elements(leaf).filter(|e| e.hash >= cursor) {
                if out.len() >= count.max(1) && last != Some(e.hash) {
                    // The first element (hash 0 included) is always on the first page, so
                    // a cursor to go on from is never 0.
                    return (e.hash.max(1), out);
                }
                last = Some(e.hash);
                out.push((e.key, e.payload));
            }
        }
        (0, out)
    }

    /// Returns an element of the leaf holding hash `r`: a random element when `r` is random
    /// (biased by the leaves' sizes, as Redis's bucket sampling is by chain lengths).
    pub fn random(&self, r: u64) -> Option<Pair<'_>> {
        let bound = self.leaf_of(r)?;
        let leaf = &self.leaves[&bound];
        let n = elements(leaf).count();
        if n == 0 {
            // Only the first leaf may be empty, and only when everything is.
            return self.iter().next();
        }
        elements(leaf)
            .nth((r >> 7) as usize % n)
            .map(|e| (e.key, e.payload))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{cost, Hashed};

    #[test]
    fn elements_are_found_replaced_removed_and_paged() {
        let mut h = Hashed::default();
        for i in 0..5000u32 {
            assert!(h.insert(format!("k{i}").as_bytes(), &i.to_le_bytes()));
        }
        assert!(h.leaves.len() > 10);
        assert!(!h.insert(b"k7", b"seven"));
        assert_eq!(h.get(b"k7"), Some(&b"seven"[..]));
        assert!(h.remove(b"k8") && !h.remove(b"k8"));
        assert_eq!(h.len(), 4999);
        let (mut cursor, mut seen) = (0, 0);
        loop {
            let (next, page) = h.page(cursor, 10);
            seen += page.len();
            if next == 0 {
                break;
            }
            cursor = next;
        }
        assert_eq!(seen, 4999);
        assert!(h.random(12345).is_some());
        let bytes: usize = h.leaves.values().map(|l| cost(l, l.capacity())).sum();
        assert_eq!(h.bytes(), bytes);
        for i in 0..5000u32 {
            h.remove(format!("k{i}").as_bytes());
        }
        assert!(h.is_empty() && h.iter().next().is_none() && h.random(1).is_none());
        let first = &h.leaves[&0];
        assert_eq!(h.bytes(), cost(first, first.capacity()));
    }

    #[test]
    fn random_operations_agree_with_a_map() {
        let mut h = Hashed::default();
        let mut model = BTreeMap::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = format!("k{}", x % 3000).into_bytes();
            let value = vec![b'v'; (x >> 20) as usize % 40];
            if x.is_multiple_of(3) {
                assert_eq!(h.remove(&key), model.remove(&key).is_some());
            } else {
                assert_eq!(
                    h.insert(&key, &value),
                    model.insert(key.clone(), value).is_none()
                );
            }
            assert_eq!(h.len(), model.len());
        }
        for (k, v) in &model {
            assert_eq!(h.get(k), Some(&v[..]));
        }
        let mut all: Vec<_> = h.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
        all.sort();
        assert_eq!(all, model.into_iter().collect::<Vec<_>>());
    }
}
