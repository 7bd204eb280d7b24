//! A sorted set: members with scores, ordered by (score, member).
//!
//! Small ones are packed as (member, score) pairs in order (Redis's `listpack`, limits
//! `zset-max-listpack-entries` 128 and `zset-max-listpack-value` 64).

use super::packed::Packed;

/// Members and their scores.
#[derive(Debug, Clone, PartialEq)]
pub enum ZSet {
    /// member, score (8 bytes, f64 little-endian), in (score, member) order.
    Packed(Packed),
}

impl Default for ZSet {
    fn default() -> ZSet {
        ZSet::Packed(Packed::default())
    }
}

impl ZSet {
    /// Returns the number of members.
    pub fn len(&self) -> usize {
        match self {
            ZSet::Packed(p) => p.len() / 2,
        }
    }

    /// Returns true when there is no member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns true in the small form.
    pub fn is_packed(&self) -> bool {
        matches!(self, ZSet::Packed(_))
    }

    /// Returns the bytes of the members and scores with their framing.
    pub fn bytes(&self) -> usize {
        match self {
            ZSet::Packed(p) => p.bytes(),
        }
    }

    /// Returns Redis's name for the form (`OBJECT ENCODING`).
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Packed(_) => "listpack",
        }
    }
}

impl ZSet {
    /// Returns every (member, score) in (score, member) order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match self {
            ZSet::Packed(p) => {
                let mut it = p.iter();
                Box::new(std::iter::from_fn(move || {
                    let m = it.next()?;
                    let s = it.next()?;
                    Some((m, f64::from_le_bytes(s.try_into().ok()?)))
                }))
            }
        }
    }
}
