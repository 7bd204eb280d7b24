//! A hash: small ones packed (field, value, field, value ...), large ones ordered by the
//! field's hash. Redis's limits for the small form (`hash-max-listpack-entries` 128,
//! `hash-max-listpack-value` 64); as in Redis, a hash never goes back to it.

use super::hashed::{Hashed, Pair};
use super::packed::Packed;

/// The most fields a packed hash holds.
pub const PACKED_ENTRIES: usize = 128;
/// The longest field or value a packed hash holds.
pub const PACKED_VALUE: usize = 64;

/// Fields and their values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hash {
    /// Fields and values alternating, in insertion order (Redis's `listpack`).
    Packed(Packed),
    /// Redis's `hashtable` (boxed: a small hash's entry stays small).
    Hashed(Box<Hashed>),
}

impl Default for Hash {
    fn default() -> Hash {
        Hash::Packed(Packed::default())
    }
}

/// Returns the offset of `field` in a packed hash and the offset of its value.
fn find_packed(p: &Packed, field: &[u8]) -> Option<(usize, usize)> {
    let mut it = p.iter_at();
    while let Some((at, f)) = it.next() {
        let (value_at, _) = it.next()?;
        if f == field {
            return Some((at, value_at));
        }
    }
    None
}

impl Hash {
    /// Returns the number of fields.
    pub fn len(&self) -> usize {
        match self {
            Hash::Packed(p) => p.len() / 2,
            Hash::Hashed(h) => h.len(),
        }
    }

    /// Returns true when there is no field.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the bytes of fields and values with their framing.
    pub fn bytes(&self) -> usize {
        match self {
            Hash::Packed(p) => p.bytes(),
            Hash::Hashed(h) => h.bytes(),
        }
    }

    /// Returns Redis's name for the form (`OBJECT ENCODING`).
    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Packed(_) => "listpack",
            Hash::Hashed(_) => "hashtable",
        }
    }

    /// Returns the value of `field`.
    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Packed(p) => find_packed(p, field).map(|(_, v)| p.at(v).0),
            Hash::Hashed(h) => h.get(field),
        }
    }

    /// Sets `field` to `value`; returns true if the field is new.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Hash::Packed(p) = self {
            if field.len() <= PACKED_VALUE && value.len() <= PACKED_VALUE {
                if let Some((_, v)) = find_packed(p, field) {
                    p.replace(v, value);
                    return false;
                }
                if p.len() / 2 < PACKED_ENTRIES {
                    p.push(field);
                    p.push(value);
                    return true;
                }
            }
            self.unpack();
        }
        match self {
            Hash::Hashed(h) => h.insert(field, value),
            Hash::Packed(_) => unreachable!("unpacked above"),
        }
    }

    /// Removes `field`; returns true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Packed(p) => match find_packed(p, field) {
                Some((at, _)) => {
                    p.remove(at, 2);
                    true
                }
                None => false,
            },
            Hash::Hashed(h) => h.remove(field),
        }
    }

    /// Returns every (field, value): a packed hash in insertion order, a large one in hash
    /// order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Packed(p) => {
                let mut it = p.iter();
                Box::new(std::iter::from_fn(move || Some((it.next()?, it.next()?))))
            }
            Hash::Hashed(h) => Box::new(h.iter()),
        }
    }

    /// HSCAN's page from `cursor`: a packed hash is one page (as Redis's listpack), a large
    /// one `count` fields or so at a time.
    pub fn page(&self, cursor: u64, count: usize) -> (u64, Vec<Pair<'_>>) {
        match self {
            Hash::Packed(_) => (0, self.iter().collect()),
            Hash::Hashed(h) => h.page(cursor, count),
        }
    }

    /// Returns a random field and value, `r` being a random number.
    pub fn random(&self, r: u64) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Packed(p) if !p.is_empty() => {
                let i = (r % (p.len() as u64 / 2)) as usize;
                self.iter().nth(i)
            }
            Hash::Packed(_) => None,
            Hash::Hashed(h) => h.random(r),
        }
    }

    fn unpack(&mut self) {
        let mut h = Hashed::default();
        for (f, v) in self.iter() {
            h.insert(f, v);
        }
        *self = Hash::Hashed(Box::new(h));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::{Hash, PACKED_ENTRIES};

    /// Random sets and removals across the packed limits agree with a map, in both forms.
    #[test]
    fn random_changes_keep_the_hash_equal_to_a_btreemap() {
        for seed in 1..=10u64 {
            let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            let mut next = move || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let mut h = Hash::default();
            let mut model = BTreeMap::new();
            for _ in 0..2_000 {
                let field = format!("f{}", next() % 200).into_bytes();
                // Now and then a value past the packed form's 64 bytes.
                let value = vec![b'v'; (next() % 70) as usize];
                if next() % 3 == 0 {
                    assert_eq!(h.remove(&field), model.remove(&field).is_some());
                } else {
                    assert_eq!(h.set(&field, &value), model.insert(field, value).is_none());
                }
                assert_eq!(h.len(), model.len());
            }
            for (f, v) in &model {
                assert_eq!(h.get(f), Some(&v[..]));
            }
            let mut all: Vec<(Vec<u8>, Vec<u8>)> =
                h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect();
            all.sort();
            assert_eq!(all, model.into_iter().collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_hash_unpacks_past_its_limits_and_keeps_every_field() {
        let mut h = Hash::default();
        for i in 0..PACKED_ENTRIES {
            assert!(h.set(format!("f{i}").as_bytes(), b"v"));
        }
        assert_eq!(h.encoding(), "listpack");
        assert!(!h.set(b"f3", b"three"));
        assert!(h.set(b"one-more", b"v"));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(
            (h.len(), h.get(b"f3")),
            (PACKED_ENTRIES + 1, Some(&b"three"[..]))
        );
        let mut big = Hash::default();
        big.set(b"f", &[b'x'; 65]);
        assert_eq!(big.encoding(), "hashtable");
        assert!(big.remove(b"f") && big.is_empty());
    }
}
