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

impl ZSet {
    /// Adds `member` with `score`, or moves it to `score`; returns true if it is new.
    ///
    /// A minimal version for loading snapshots (the packed form only); the sorted-set
    /// commands bring the full one.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        match self {
            ZSet::Packed(p) => {
                let mut found = None;
                let mut it = p.iter_at();
                while let Some((at, m)) = it.next() {
                    if m == member {
                        found = Some(at);
                        break;
                    }
                    it.next();
                }
                drop(it);
                if let Some(at) = found {
                    p.remove(at, 2);
                }
                // The first pair that sorts after (score, member), or the end.
                let mut place = p.bytes();
                let mut it = p.iter_at();
                while let Some((at, m)) = it.next() {
                    let Some((_, s)) = it.next() else { break };
                    let s = f64::from_le_bytes(s.try_into().unwrap_or_default());
                    if s > score || (s == score && m > member) {
                        place = at;
                        break;
                    }
                }
                drop(it);
                let score_at = if place == p.bytes() {
                    p.push(member);
                    p.bytes()
                } else {
                    p.insert(place, member);
                    p.at(place).1
                };
                p.insert(score_at, &score.to_le_bytes());
                found.is_none()
            }
        }
    }
}
