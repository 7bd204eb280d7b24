//! A sorted set: members with scores, ordered by (score, member).
//!
//! Small ones are packed as (member, score) pairs in order (Redis's `listpack`, limits
//! `zset-max-listpack-entries` 128 and `zset-max-listpack-value` 64). Large ones (Redis's
//! `skiplist`) keep each member twice, in two [`Chunked`] sequences: by (hash, member),
//! with its score (ZSCORE, ZSCAN's stable cursor, random members), and by (score, member)
//! (ranks and ranges). As in Redis, a sorted set never goes back to the small form.

mod chunked;
pub mod range;

use super::packed::Packed;
pub use chunked::cmp_element;
use chunked::{ByHash, ByScore, Chunked};

/// The most members a packed sorted set holds.
pub const PACKED_ENTRIES: usize = 128;
/// The longest member a packed sorted set holds.
pub const PACKED_VALUE: usize = 64;

/// A large sorted set's two views of the same members.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Large {
    index: Chunked<ByHash>,
    order: Chunked<ByScore>,
}

/// Members and their scores.
#[derive(Debug, Clone, PartialEq)]
pub enum ZSet {
    /// member, score (8 bytes, f64 little-endian), in (score, member) order.
    Packed(Packed),
    /// Redis's `skiplist`.
    Large(Box<Large>),
}

impl Default for ZSet {
    fn default() -> ZSet {
        ZSet::Packed(Packed::default())
    }
}

fn score_of(bytes: &[u8]) -> f64 {
    // invariant: every score stored is 8 bytes.
    f64::from_le_bytes(bytes.try_into().expect("8-byte score"))
}

/// Returns the offset of `member` in a packed set and its score.
fn find_packed(p: &Packed, member: &[u8]) -> Option<(usize, f64)> {
    let mut it = p.iter_at();
    while let Some((at, m)) = it.next() {
        let (_, s) = it.next()?;
        if m == member {
            return Some((at, score_of(s)));
        }
    }
    None
}

impl ZSet {
    /// Returns the number of members.
    pub fn len(&self) -> usize {
        match self {
            ZSet::Packed(p) => p.len() / 2,
            ZSet::Large(l) => l.order.len(),
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

    /// Returns the bytes of the members and scores with their framing (in the large form,
    /// both structures').
    pub fn bytes(&self) -> usize {
        match self {
            ZSet::Packed(p) => p.bytes(),
            ZSet::Large(l) => l.index.bytes() + l.order.bytes(),
        }
    }

    /// Returns Redis's name for the form (`OBJECT ENCODING`).
    pub fn encoding(&self) -> &'static str {
        match self {
            ZSet::Packed(_) => "listpack",
            ZSet::Large(_) => "skiplist",
        }
    }

    /// Returns the score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Packed(p) => find_packed(p, member).map(|(_, s)| s),
            ZSet::Large(l) => l.score(member),
        }
    }

    /// Sets the score of `member` (never NaN); returns true if `member` is new.
    pub fn insert(&mut self, member: &[u8], score: f64) -> bool {
        if let ZSet::Packed(p) = self {
            // A listpack keeps a score as its text and reads "-0" back as the integer 0.
            let score = if score == 0.0 { 0.0 } else { score };
            let found = find_packed(p, member);
            if let Some((at, old)) = found {
                if old.to_bits() == score.to_bits() {
                    return false;
                }
                p.remove(at, 2);
                insert_packed(p, member, score);
                return false;
            }
            if member.len() <= PACKED_VALUE && p.len() / 2 < PACKED_ENTRIES {
                insert_packed(p, member, score);
                return true;
            }
            self.unpack();
        }
        match self {
            ZSet::Large(l) => l.insert(member, score),
            ZSet::Packed(_) => unreachable!("unpacked above"),
        }
    }

    /// Removes `member`; returns true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            ZSet::Packed(p) => match find_packed(p, member) {
                Some((at, _)) => {
                    p.remove(at, 2);
                    true
                }
                None => false,
            },
            ZSet::Large(l) => l.remove(member),
        }
    }

    /// Returns the rank of `member`, lowest score first.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        if let ZSet::Large(l) = self {
            return Some(l.order.rank_of(&ByScore::element(score, member)));
        }
        Some(self.partition_point(|s, m| {
            cmp_element((s, m), (score, member)) == std::cmp::Ordering::Less
        }))
    }

    /// Returns how many members, from the lowest, pass `pred(score, member)` before the
    /// first that does not.
    pub fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        match self {
            ZSet::Packed(_) => self.iter().take_while(|&(m, s)| pred(s, m)).count(),
            ZSet::Large(l) => l.order.partition_point(|e| {
                let (m, s) = ByScore::read(e);
                pred(s, m)
            }),
        }
    }

    /// Returns every (member, score) in (score, member) order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        self.iter_from(0)
    }

    /// Returns the members from rank `rank` on, in order.
    pub fn iter_from(&self, rank: usize) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match self {
            ZSet::Packed(p) => {
                let mut it = p.iter();
                Box::new(
                    std::iter::from_fn(move || Some((it.next()?, score_of(it.next()?)))).skip(rank),
                )
            }
            ZSet::Large(l) => Box::new(l.order.iter_from(rank).map(ByScore::read)),
        }
    }

    /// Returns the members from rank `rank` down to rank 0.
    pub fn iter_back_from(&self, rank: usize) -> Box<dyn Iterator<Item = (&[u8], f64)> + '_> {
        match self {
            ZSet::Packed(_) => {
                let mut v: Vec<(&[u8], f64)> = self.iter().take(rank.saturating_add(1)).collect();
                v.reverse();
                Box::new(v.into_iter())
            }
            ZSet::Large(l) => Box::new(l.order.iter_back_from(rank).map(ByScore::read)),
        }
    }

    /// Removes the members of ranks `start .. start + count`; returns how many went.
    pub fn remove_ranks(&mut self, start: usize, count: usize) -> usize {
        let before = self.len();
        match self {
            ZSet::Packed(p) => {
                let pairs = (before.saturating_sub(start)).min(count);
                if pairs > 0 {
                    let at = p.iter_at().nth(2 * start).map_or(p.bytes(), |(at, _)| at);
                    p.remove(at, 2 * pairs);
                }
            }
            ZSet::Large(l) => {
                let Large { index, order } = &mut **l;
                order.remove_ranks(start, count, |e| {
                    index.remove(&ByHash::element(ByScore::read(e).0, None));
                });
            }
        }
        before - self.len()
    }

    /// ZSCAN's page from `cursor`: a packed set is one page (as Redis's listpack), a large
    /// one `count` members or so at a time, as (member, 8-byte score).
    pub fn page(&self, cursor: u64, count: usize) -> (u64, Vec<(&[u8], f64)>) {
        match self {
            ZSet::Packed(_) => (0, self.iter().collect()),
            ZSet::Large(l) => l.page(cursor, count),
        }
    }

    /// Returns a random member and its score, `r` being a random number.
    pub fn random(&self, r: u64) -> Option<(&[u8], f64)> {
        match self {
            ZSet::Packed(p) if !p.is_empty() => {
                let i = (r % (p.len() as u64 / 2)) as usize;
                self.iter_from(i).next()
            }
            ZSet::Packed(_) => None,
            ZSet::Large(l) => l.random(r),
        }
    }

    fn unpack(&mut self) {
        let mut l = Large::default();
        for (m, s) in self.iter() {
            l.insert(m, s);
        }
        *self = ZSet::Large(Box::new(l));
    }

    /// Checks that both structures of a large set hold the same members (tests).
    #[cfg(test)]
    pub fn check(&self) {
        if let ZSet::Large(l) = self {
            l.order.check();
            l.index.check();
            assert_eq!(l.order.len(), l.index.len());
            for (m, s) in l.order.iter_from(0).map(ByScore::read) {
                assert_eq!(l.score(m).map(f64::to_bits), Some(s.to_bits()));
            }
        }
    }
}

/// Inserts (member, score), not there yet, at its place in a packed set.
fn insert_packed(p: &mut Packed, member: &[u8], score: f64) {
    let mut at = p.bytes();
    {
        let mut it = p.iter_at();
        while let Some((m_at, m)) = it.next() {
            let Some((_, s)) = it.next() else { break };
            if cmp_element((score_of(s), m), (score, member)) == std::cmp::Ordering::Greater {
                at = m_at;
                break;
            }
        }
    }
    p.insert(at, &score.to_le_bytes());
    p.insert(at, member);
}

impl Large {
    fn score(&self, member: &[u8]) -> Option<f64> {
        self.index
            .find(&ByHash::element(member, None))
            .map(|e| ByHash::read(e).1)
    }

    fn insert(&mut self, member: &[u8], score: f64) -> bool {
        match self.index.upsert(&ByHash::element(member, Some(score))) {
            None => {
                self.order.insert(&ByScore::element(score, member));
                true
            }
            Some(old) => {
                let old = ByHash::read(&old).1;
                if old.to_bits() != score.to_bits() {
                    self.order.remove(&ByScore::element(old, member));
                    self.order.insert(&ByScore::element(score, member));
                }
                false
            }
        }
    }

    fn remove(&mut self, member: &[u8]) -> bool {
        let Some(old) = self.score(member) else {
            return false;
        };
        self.order.remove(&ByScore::element(old, member));
        self.index.remove(&ByHash::element(member, None))
    }

    /// Returns the members whose hash is at or after `cursor`, at least `count` of them
    /// unless fewer are left (never splitting one hash), and the cursor to go on from
    /// (0 when the end was reached).
    fn page(&self, cursor: u64, count: usize) -> (u64, Vec<(&[u8], f64)>) {
        let probe = cursor
            .to_le_bytes()
            .into_iter()
            .chain([0])
            .collect::<Vec<u8>>();
        let mut out = Vec::new();
        let mut last = None;
        for e in self.index.iter_at(&probe) {
            let h = ByHash::hash(e);
            if out.len() >= count.max(1) && last != Some(h) {
                // The first element (hash 0 included) is always on the first page, so a
                // cursor to go on from is never 0.
                return (h.max(1), out);
            }
            last = Some(h);
            out.push(ByHash::read(e));
        }
        (0, out)
    }

    /// Returns the member at or after hash `r`, wrapping to the first: a random member
    /// when `r` is random (biased by the gaps between hashes, as Redis's bucket sampling is).
    fn random(&self, r: u64) -> Option<(&[u8], f64)> {
        let probe = r.to_le_bytes().into_iter().chain([0]).collect::<Vec<u8>>();
        self.index
            .iter_at(&probe)
            .next()
            .or_else(|| self.index.iter_from(0).next())
            .map(ByHash::read)
    }
}

#[cfg(test)]
mod tests;
