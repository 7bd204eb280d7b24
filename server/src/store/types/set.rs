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
