//! Collections in RDB files and DUMP payloads: every encoding Redis 2.x to 7.2 writes,
//! decoded into the store's [`Collection`]s (Redis's `rdbLoadObject`).
//!
//! ```text
//! LIST 1, SET 2, ZSET 3, HASH 4, ZSET_2 5   n × element (strings; zset scores as text / f64)
//! HASH_ZIPMAP 9                             zipmap blob
//! LIST_ZIPLIST 10, ZSET_ZIPLIST 12, HASH_ZIPLIST 13          ziplist blob
//! SET_INTSET 11                             intset blob
//! LIST_QUICKLIST 14                         n × ziplist blob
//! HASH_LISTPACK 16, ZSET_LISTPACK 17, SET_LISTPACK 20        listpack blob
//! LIST_QUICKLIST_2 18                       n × (container: 1 plain element | 2 listpack blob)
//! ```
//! A blob is an RDB string, so it may be LZF-compressed (quicklist nodes Redis compressed
//! are). Duplicate members or fields and NaN scores are refused as Redis refuses them. A
//! collection that grows past the caller's weight cap is read to its end and dropped, so a
//! file cannot make the loader hold more than one cap's worth beyond the store.

use std::io::Read;

use super::listpack::{self, Elem};
use super::reader::{corrupt, Reader, Result};
use super::{intset, ziplist};
use crate::store::types::{Collection, ObjType, ZSet};

/// What reading a collection gave.
pub(super) enum Decoded {
    /// The collection, not empty.
    Ready(Collection),
    /// No element (Redis skips such keys too).
    Empty,
    /// Heavier than the cap: read and dropped.
    TooBig,
}

/// Returns the store type RDB value type `t` decodes to; `None` for types not decoded
/// (strings, streams, modules).
pub(super) fn obj_type(t: u8) -> Option<ObjType> {
    Some(match t {
        1 | 10 | 14 | 18 => ObjType::List,
        2 | 11 | 20 => ObjType::Set,
        3 | 5 | 12 | 17 => ObjType::ZSet,
        4 | 9 | 13 | 16 => ObjType::Hash,
        _ => return None,
    })
}

/// A collection being filled, which stops keeping elements once it weighs over `cap`.
///
/// A sorted set's members are gathered first and built in one pass at the end: its only
/// form so far is packed, where each insert is a linear walk, and a file may hold a sorted
/// set of millions.
struct Builder {
    coll: Collection,
    cap: u64,
    over: bool,
    added: u32,
    scored: Vec<(Vec<u8>, f64)>,
    /// The gathered members' bytes, as the packed form will weigh them.
    scored_bytes: u64,
}

impl Builder {
    fn new(t: ObjType, cap: u64) -> Builder {
        Builder {
            coll: Collection::new(t),
            cap,
            over: false,
            added: 0,
            scored: Vec::new(),
            scored_bytes: 0,
        }
    }

    /// Checks the weight every so often (it is cheap, but not free for a packed form).
    fn weigh(&mut self) {
        self.added += 1;
        if self.added.is_multiple_of(64) && self.coll.weight() > self.cap {
            self.over = true;
            self.coll = Collection::new(self.coll.obj_type());
        }
    }

    fn push(&mut self, e: &[u8]) -> Result<()> {
        if self.over {
            return Ok(());
        }
        let fresh = match &mut self.coll {
            Collection::List(l) => {
                l.push_back(e);
                true
            }
            Collection::Set(s) => s.insert(e),
            _ => return corrupt("an element of the wrong shape"),
        };
        if !fresh {
            return corrupt("a duplicate set member");
        }
        self.weigh();
        Ok(())
    }

    fn pair(&mut self, a: &[u8], b: &[u8]) -> Result<()> {
        if self.over {
            return Ok(());
        }
        let fresh = match &mut self.coll {
            Collection::Hash(h) => h.set(a, b),
            _ => return corrupt("a pair of the wrong shape"),
        };
        if !fresh {
            return corrupt("a duplicate hash field");
        }
        self.weigh();
        Ok(())
    }

    fn scored(&mut self, member: &[u8], score: f64) -> Result<()> {
        if score.is_nan() {
            return corrupt("a sorted set score that is NaN");
        }
        if self.coll.obj_type() != ObjType::ZSet {
            return corrupt("a member of the wrong shape");
        }
        if self.over {
            return Ok(());
        }
        // A member's bytes, its score's 8 and two length prefixes of up to 5.
        self.scored_bytes += member.len() as u64 + 18;
        if self.scored_bytes > self.cap {
            self.over = true;
            self.scored = Vec::new();
            return Ok(());
        }
        self.scored.push((member.to_vec(), score));
        Ok(())
    }

    /// Builds the gathered sorted set: refuses a duplicate member, then inserts in (score,
    /// member) order, which appends (to the packed form while it is small, to the large
    /// form's last chunk after).
    fn build_zset(&mut self) -> Result<()> {
        let mut pairs = std::mem::take(&mut self.scored);
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if pairs.windows(2).any(|w| w[0].0 == w[1].0) {
            return corrupt("a duplicate sorted set member");
        }
        // Scores compare as Redis compares them (-0 equals 0; NaN was refused).
        pairs.sort_unstable_by(|a, b| {
            a.1.partial_cmp(&b.1)
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| a.0.cmp(&b.0))
        });
        let mut z = ZSet::default();
        for (member, score) in &pairs {
            z.insert(member, *score);
        }
        self.coll = Collection::ZSet(z);
        Ok(())
    }

    /// Takes a blob's elements two at a time: hash (field, value) or zset (member, score).
    fn pairs_of<'a>(
        &mut self,
        each: impl FnOnce(&'a [u8], &mut dyn FnMut(Elem<'a>) -> Result<()>) -> Result<()>,
        blob: &'a [u8],
    ) -> Result<()> {
        let mut first: Option<Vec<u8>> = None;
        each(blob, &mut |e| match first.take() {
            None => {
                first = Some(e.to_vec());
                Ok(())
            }
            Some(a) => match self.coll.obj_type() {
                ObjType::ZSet => self.scored(&a, e.score()?),
                _ => self.pair(&a, &e.to_vec()),
            },
        })?;
        if first.is_some() {
            return corrupt("a packed hash or sorted set with an odd number of entries");
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Decoded> {
        if !self.over && self.coll.obj_type() == ObjType::ZSet {
            self.build_zset()?;
        }
        Ok(if self.over || self.coll.weight() > self.cap {
            Decoded::TooBig
        } else if self.coll.is_empty() {
            Decoded::Empty
        } else {
            Decoded::Ready(self.coll)
        })
    }
}

fn each_listpack<'a>(blob: &'a [u8], f: &mut dyn FnMut(Elem<'a>) -> Result<()>) -> Result<()> {
    listpack::for_each(blob, f)
}

fn each_ziplist<'a>(blob: &'a [u8], f: &mut dyn FnMut(Elem<'a>) -> Result<()>) -> Result<()> {
    ziplist::for_each(blob, f)
}

/// The container of a `LIST_QUICKLIST_2` node (Redis's `QUICKLIST_NODE_CONTAINER_*`).
const CONTAINER_PLAIN: u64 = 1;
const CONTAINER_PACKED: u64 = 2;

impl<R: Read> Reader<R> {
    /// Reads a value of collection type `t` (one [`obj_type`] knows), dropping it if it
    /// weighs more than `cap`.
    ///
    /// # Errors
    /// A corrupt-file error for bytes that are not a valid value of type `t`.
    pub(super) fn collection(&mut self, t: u8, cap: u64) -> Result<Decoded> {
        let Some(ot) = obj_type(t) else {
            return corrupt(format!("value type {t} is not a collection"));
        };
        let mut b = Builder::new(ot, cap);
        match t {
            1 | 2 => {
                for _ in 0..self.length()? {
                    b.push(&self.string()?)?;
                }
            }
            3 | 5 => {
                for _ in 0..self.length()? {
                    let member = self.string()?;
                    let score = if t == 5 {
                        f64::from_le_bytes(self.array()?)
                    } else {
                        self.text_double()?
                    };
                    b.scored(&member, score)?;
                }
            }
            4 => {
                for _ in 0..self.length()? {
                    let field = self.string()?;
                    b.pair(&field, &self.string()?)?;
                }
            }
            9 => {
                let blob = self.string()?;
                ziplist::for_each_zipmap(&blob, |f, v| b.pair(f, v))?;
            }
            10 => {
                let blob = self.string()?;
                ziplist::for_each(&blob, |e| b.push(&e.to_vec()))?;
            }
            11 => {
                let blob = self.string()?;
                intset::for_each(&blob, |n| b.push(n.to_string().as_bytes()))?;
            }
            12 | 13 => b.pairs_of(each_ziplist, &self.string()?)?,
            16 | 17 => b.pairs_of(each_listpack, &self.string()?)?,
            20 => {
                let blob = self.string()?;
                listpack::for_each(&blob, |e| b.push(&e.to_vec()))?;
            }
            14 => {
                for _ in 0..self.length()? {
                    let blob = self.string()?;
                    ziplist::for_each(&blob, |e| b.push(&e.to_vec()))?;
                }
            }
            18 => {
                for _ in 0..self.length()? {
                    let container = self.length()?;
                    let blob = self.string()?;
                    match container {
                        CONTAINER_PLAIN => b.push(&blob)?,
                        // An empty node adds nothing (Redis skips it silently too).
                        CONTAINER_PACKED => {
                            listpack::for_each(&blob, |e| b.push(&e.to_vec()))?;
                        }
                        other => return corrupt(format!("unknown quicklist container {other}")),
                    }
                }
            }
            _ => return corrupt(format!("value type {t} is not a collection")),
        }
        b.finish()
    }

    /// A version-1 sorted set's score: a length byte and the text, or 253-255 for NaN and
    /// the infinities.
    fn text_double(&mut self) -> Result<f64> {
        match self.u8()? {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            n => {
                let text = self.bytes(u64::from(n))?;
                listpack::parse_score(&text)
                    .map_or_else(|| corrupt("a score that is not a number"), Ok)
            }
        }
    }
}
