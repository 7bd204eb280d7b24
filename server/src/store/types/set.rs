//! A set: small ones packed (Redis 7.2's `listpack`; 7.0 keeps small sets of strings in a
//! `hashtable`), large ones ordered by the member's hash. Redis's limits for the small form
//! (`set-max-listpack-entries` 128, `set-max-listpack-value` 64).

use super::hashed::Hashed;
use super::packed::Packed;

/// The most members a packed set holds.
pub const PACKED_ENTRIES: usize = 128;
/// The longest member a packed set holds.
pub const PACKED_VALUE: usize = 64;

/// Distinct members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Set {
    Packed(Packed),
    Hashed(Hashed),
}

impl Default for Set {
    fn default() -> Set {
        Set::Packed(Packed::default())
    }
}

impl Set {
    /// Returns the number of members.
    pub fn len(&self) -> usize {
        match self {
            Set::Packed(p) => p.len(),
            Set::Hashed(h) => h.len(),
        }
    }

    /// Returns true when there is no member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns true in the small form.
    pub fn is_packed(&self) -> bool {
        matches!(self, Set::Packed(_))
    }

    /// Returns the bytes of the members with their framing.
    pub fn bytes(&self) -> usize {
        match self {
            Set::Packed(p) => p.bytes(),
            Set::Hashed(h) => h.bytes(),
        }
    }

    /// Returns Redis's name for the form (`OBJECT ENCODING`).
    pub fn encoding(&self) -> &'static str {
        match self {
            Set::Packed(_) => "listpack",
            Set::Hashed(_) => "hashtable",
        }
    }

    /// Returns true if `member` is in the set.
    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Packed(p) => p.iter().any(|m| m == member),
            Set::Hashed(h) => h.get(member).is_some(),
        }
    }

    /// Adds `member`; returns true if it is new.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        if let Set::Packed(p) = self {
            if p.iter().any(|m| m == member) {
                return false;
            }
            if member.len() <= PACKED_VALUE && p.len() < PACKED_ENTRIES {
                p.push(member);
                return true;
            }
            let mut h = Hashed::default();
            for m in p.iter() {
                h.insert(m, b"");
            }
            *self = Set::Hashed(h);
        }
        match self {
            Set::Hashed(h) => h.insert(member, b""),
            Set::Packed(_) => unreachable!("unpacked above"),
        }
    }

    /// Removes `member`; returns true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Packed(p) => {
                let found = p.iter_at().find(|(_, m)| *m == member).map(|(at, _)| at);
                if let Some(at) = found {
                    p.remove(at, 1);
                }
                found.is_some()
            }
            Set::Hashed(h) => h.remove(member),
        }
    }

    /// Returns every member: a packed set in insertion order, a large one in hash order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        match self {
            Set::Packed(p) => Box::new(p.iter()),
            Set::Hashed(h) => Box::new(h.iter().map(|(m, _)| m)),
        }
    }

    /// SSCAN's page from `cursor`: a packed set is one page, a large one `count` members or
    /// so at a time.
    pub fn page(&self, cursor: u64, count: usize) -> (u64, Vec<&[u8]>) {
        match self {
            Set::Packed(p) => (0, p.iter().collect()),
            Set::Hashed(h) => {
                let (next, page) = h.page(cursor, count);
                (next, page.into_iter().map(|(m, _)| m).collect())
            }
        }
    }

    /// Returns a random member, `r` being a random number.
    pub fn random(&self, r: u64) -> Option<&[u8]> {
        match self {
            Set::Packed(p) if !p.is_empty() => p.iter().nth((r % p.len() as u64) as usize),
            Set::Packed(_) => None,
            Set::Hashed(h) => h.random(r).map(|(m, _)| m),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{Set, PACKED_ENTRIES, PACKED_VALUE};

    /// xorshift64*: a fixed sequence, so a failure replays.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed;
        move || {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    /// Returns the bytes a member costs in either form: a LEB128 length, then the member.
    fn framed(m: &[u8]) -> usize {
        crate::store::types::leb128::framed(m.len())
    }

    fn check(s: &Set, model: &BTreeSet<Vec<u8>>) {
        assert_eq!(s.len(), model.len());
        let got: BTreeSet<Vec<u8>> = s.iter().map(<[u8]>::to_vec).collect();
        assert_eq!(s.iter().count(), model.len(), "a member listed twice");
        assert_eq!(&got, model);
        let framed: usize = model.iter().map(|m| framed(m)).sum();
        if s.is_packed() {
            assert_eq!(s.bytes(), framed);
        } else {
            // A large set is charged its leaves' whole buffers: its members, their hashes
            // and lengths, and the leaves' slack.
            assert!(
                s.bytes() >= framed + 9 * model.len(),
                "{} < {framed}",
                s.bytes()
            );
        }
    }

    #[test]
    fn random_changes_keep_the_set_equal_to_a_btreeset() {
        for seed in 1..=20u64 {
            let mut next = rng(seed);
            let mut s = Set::default();
            let mut model = BTreeSet::new();
            // A pool wider than the packed limit, with a few members too long to pack.
            let pool = 40 + (next() % 300) as usize;
            for step in 0..2000 {
                let k = (next() % pool as u64) as usize;
                let member = if k % 97 == 5 {
                    vec![b'x'; PACKED_VALUE + 1 + k % 200]
                } else {
                    format!("m{k}").into_bytes()
                };
                match next() % 4 {
                    0 | 1 => assert_eq!(s.insert(&member), model.insert(member.clone())),
                    2 => assert_eq!(s.remove(&member), model.remove(&member)),
                    _ => assert_eq!(s.contains(&member), model.contains(&member)),
                }
                if step % 50 == 0 || s.len() < 3 {
                    check(&s, &model);
                }
                if let Some(m) = s.random(next()) {
                    assert!(model.contains(m));
                } else {
                    assert!(model.is_empty());
                }
            }
            check(&s, &model);
            let (mut cursor, mut paged) = (0, Vec::new());
            loop {
                let (next_cursor, page) = s.page(cursor, 7);
                paged.extend(page.into_iter().map(<[u8]>::to_vec));
                if next_cursor == 0 {
                    break;
                }
                cursor = next_cursor;
            }
            paged.sort();
            assert_eq!(paged, model.iter().cloned().collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_set_unpacks_past_its_limits_and_stays_unpacked() {
        let mut s = Set::default();
        for i in 0..PACKED_ENTRIES {
            assert!(s.insert(format!("{i}").as_bytes()));
        }
        assert_eq!(s.encoding(), "listpack");
        assert!(!s.insert(b"5"));
        assert!(s.insert(b"one-more"));
        assert_eq!((s.encoding(), s.len()), ("hashtable", PACKED_ENTRIES + 1));
        assert!(s.remove(b"one-more") && s.remove(b"5"));
        assert_eq!(s.encoding(), "hashtable");
        let mut long = Set::default();
        long.insert(&[b'x'; PACKED_VALUE + 1]);
        assert_eq!(long.encoding(), "hashtable");
        let mut short = Set::default();
        short.insert(&[b'x'; PACKED_VALUE]);
        assert_eq!(short.encoding(), "listpack");
    }
}
