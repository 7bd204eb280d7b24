//! A large sorted set's members in (score, member) order: a vector of chunks, each one
//! buffer of up to [`CHUNK_LEN`] elements packed back to back (score as 8 bytes f64 LE, the
//! member's length as LEB128, the member).
//!
//! Why chunks and not a skiplist or a B-tree of boxes: an element costs its bytes plus a
//! byte or two of framing, no pointer and no allocation of its own. A position is found by
//! a binary search over the chunks' first elements and a walk of at most one chunk; a rank
//! is the sum of the earlier chunks' lengths, O(n / 128) additions of adjacent integers.

use std::cmp::Ordering;

/// The most elements a chunk holds before it splits in two.
const CHUNK_LEN: usize = 128;
/// The most bytes a chunk holds before it splits (long members make short chunks).
const CHUNK_BYTES: usize = 4096;
/// A chunk below this many elements is merged with a neighbour when they fit in one.
const CHUNK_MIN: usize = CHUNK_LEN / 4;

/// Orders scores as Redis does: by value, so `-0` equals `0` (NaN is never stored).
pub fn cmp_score(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

/// Orders two elements by (score, member).
pub fn cmp_element(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    cmp_score(a.0, b.0).then_with(|| a.1.cmp(b.1))
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Chunk {
    buf: Vec<u8>,
    len: usize,
}

/// Returns the encoded size of an element with a member of `n` bytes.
pub fn element_len(n: usize) -> usize {
    let mut prefix = 1;
    let mut rest = n >> 7;
    while rest != 0 {
        rest >>= 7;
        prefix += 1;
    }
    8 + prefix + n
}

fn encode(out: &mut Vec<u8>, score: f64, member: &[u8]) {
    out.extend_from_slice(&score.to_le_bytes());
    let mut n = member.len();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(member);
}

/// Reads the element at `at`: its score, its member and the offset after it.
fn decode(buf: &[u8], at: usize) -> (f64, &[u8], usize) {
    // invariant: every offset handed here starts an element written by `encode`.
    let score = f64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"));
    let mut n = 0usize;
    let mut shift = 0;
    let mut i = at + 8;
    loop {
        let byte = buf[i];
        i += 1;
        n |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return (score, &buf[i..i + n], i + n);
        }
        shift += 7;
    }
}

impl Chunk {
    fn first(&self) -> (f64, &[u8]) {
        let (s, m, _) = decode(&self.buf, 0);
        (s, m)
    }

    /// Returns the offset of the `i`th element (`buf.len()` for `i == len`).
    fn offset_of(&self, i: usize) -> usize {
        let mut at = 0;
        for _ in 0..i {
            at = decode(&self.buf, at).2;
        }
        at
    }

    fn iter(&self) -> impl Iterator<Item = (f64, &[u8])> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            if at >= self.buf.len() {
                return None;
            }
            let (s, m, next) = decode(&self.buf, at);
            at = next;
            Some((s, m))
        })
    }

    /// Inserts the encoded `piece` at `at`, growing the buffer by an eighth at most beyond
    /// what it needs (a doubling `Vec` would leave up to half of a chunk unused).
    fn splice_in(&mut self, at: usize, piece: &[u8]) {
        let need = self.buf.len() + piece.len();
        if self.buf.capacity() < need {
            self.buf.reserve_exact(piece.len() + self.buf.len() / 8);
        }
        self.buf.splice(at..at, piece.iter().copied());
        self.len += 1;
    }

    fn shrink(&mut self) {
        if self.buf.capacity() > self.buf.len() + self.buf.len() / 4 + 16 {
            self.buf.shrink_to_fit();
        }
    }

    fn too_big(&self) -> bool {
        self.len >= 2 && (self.len > CHUNK_LEN || self.buf.len() > CHUNK_BYTES)
    }
}

/// Elements in (score, member) order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Order {
    chunks: Vec<Chunk>,
    len: usize,
}

impl Order {
    /// Returns the number of elements.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Returns the index of the chunk where (score, member) belongs.
    fn chunk_for(&self, score: f64, member: &[u8]) -> usize {
        self.chunks
            .partition_point(|c| cmp_element(c.first(), (score, member)) != Ordering::Greater)
            .saturating_sub(1)
    }

    /// Inserts (score, member), which must not be there.
    pub fn insert(&mut self, score: f64, member: &[u8]) {
        let mut piece = Vec::with_capacity(element_len(member.len()));
        encode(&mut piece, score, member);
        self.len += 1;
        if self.chunks.is_empty() {
            self.chunks.push(Chunk { buf: piece, len: 1 });
            return;
        }
        let ci = self.chunk_for(score, member);
        let last = ci + 1 == self.chunks.len();
        let chunk = &mut self.chunks[ci];
        let mut at = 0;
        while at < chunk.buf.len() {
            let (s, m, next) = decode(&chunk.buf, at);
            if cmp_element((s, m), (score, member)) == Ordering::Greater {
                break;
            }
            at = next;
        }
        // Appending past the last chunk's end starts a new chunk once that one is full, so
        // members added in order fill their chunks instead of leaving them half empty.
        if last && at == chunk.buf.len() && chunk.len >= CHUNK_LEN {
            self.chunks.push(Chunk { buf: piece, len: 1 });
            return;
        }
        chunk.splice_in(at, &piece);
        if chunk.too_big() {
            self.split(ci);
        }
    }

    fn split(&mut self, ci: usize) {
        let chunk = &mut self.chunks[ci];
        let half = chunk.len / 2;
        let at = chunk.offset_of(half);
        let tail = Chunk {
            buf: chunk.buf[at..].to_vec(),
            len: chunk.len - half,
        };
        chunk.buf.truncate(at);
        chunk.buf.shrink_to_fit();
        chunk.len = half;
        self.chunks.insert(ci + 1, tail);
    }

    /// Removes (score, member); returns true if it was there.
    pub fn remove(&mut self, score: f64, member: &[u8]) -> bool {
        if self.chunks.is_empty() {
            return false;
        }
        let ci = self.chunk_for(score, member);
        let chunk = &mut self.chunks[ci];
        let mut at = 0;
        while at < chunk.buf.len() {
            let (s, m, next) = decode(&chunk.buf, at);
            if s.to_bits() == score.to_bits() && m == member {
                chunk.buf.drain(at..next);
                chunk.len -= 1;
                self.len -= 1;
                self.settle(ci);
                return true;
            }
            at = next;
        }
        false
    }

    /// After chunk `ci` shrank: drops it when empty, merges it with a neighbour when both
    /// fit in one chunk.
    fn settle(&mut self, ci: usize) {
        if self.chunks[ci].len == 0 {
            self.chunks.remove(ci);
            return;
        }
        if self.chunks[ci].len < CHUNK_MIN {
            for (a, b) in [(ci, ci + 1), (ci.wrapping_sub(1), ci)] {
                if b < self.chunks.len() && a < b {
                    let (x, y) = (&self.chunks[a], &self.chunks[b]);
                    if x.len + y.len <= CHUNK_LEN && x.buf.len() + y.buf.len() <= CHUNK_BYTES {
                        let next = self.chunks.remove(b);
                        let first = &mut self.chunks[a];
                        first.buf.reserve_exact(next.buf.len());
                        first.buf.extend_from_slice(&next.buf);
                        first.len += next.len;
                        return;
                    }
                }
            }
        }
        self.chunks[ci].shrink();
    }

    /// Returns how many elements pass `pred`, which holds for a prefix of the order and for
    /// nothing after it (as `slice::partition_point`).
    pub fn partition_point(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let ci = self.chunks.partition_point(|c| {
            let (s, m) = c.first();
            pred(s, m)
        });
        if ci == 0 {
            return 0;
        }
        let before: usize = self.chunks[..ci - 1].iter().map(|c| c.len).sum();
        before
            + self.chunks[ci - 1]
                .iter()
                .take_while(|&(s, m)| pred(s, m))
                .count()
    }

    /// Returns the chunk holding rank `rank` and the rank of its first element.
    fn locate(&self, rank: usize) -> Option<(usize, usize)> {
        let mut base = 0;
        for (ci, c) in self.chunks.iter().enumerate() {
            if rank < base + c.len {
                return Some((ci, base));
            }
            base += c.len;
        }
        None
    }

    /// Returns the elements from rank `rank` on, in order.
    pub fn iter_from(&self, rank: usize) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let (ci, skip) = match self.locate(rank) {
            Some((ci, base)) => (ci, rank - base),
            None => (self.chunks.len(), 0),
        };
        self.chunks[ci..]
            .iter()
            .flat_map(Chunk::iter)
            .skip(skip)
            .map(|(s, m)| (m, s))
    }

    /// Returns the elements from rank `rank` down to the first, in reverse order.
    pub fn iter_back_from(&self, rank: usize) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        let (ci, keep) = match self.locate(rank) {
            Some((ci, base)) => (ci + 1, rank - base + 1),
            None => (0, 0),
        };
        self.chunks[..ci]
            .iter()
            .enumerate()
            .rev()
            .flat_map(move |(i, c)| {
                let mut v: Vec<(&[u8], f64)> = c.iter().map(|(s, m)| (m, s)).collect();
                if i + 1 == ci {
                    v.truncate(keep);
                }
                v.into_iter().rev()
            })
    }

    /// Removes `count` elements from rank `start` on, calling `f` with each.
    pub fn remove_ranks(&mut self, start: usize, mut count: usize, mut f: impl FnMut(&[u8])) {
        // The elements still to remove always start at rank `start`.
        while count > 0 {
            let Some((ci, base)) = self.locate(start) else {
                return;
            };
            let chunk = &mut self.chunks[ci];
            let from = chunk.offset_of(start - base);
            let mut to = from;
            let mut n = 0;
            while n < count && to < chunk.buf.len() {
                let (_, m, next) = decode(&chunk.buf, to);
                f(m);
                to = next;
                n += 1;
            }
            chunk.buf.drain(from..to);
            chunk.len -= n;
            self.len -= n;
            count -= n;
            self.settle(ci);
        }
    }

    /// Checks the chunks' counts and order (tests).
    #[cfg(test)]
    pub fn check(&self) {
        let mut n = 0;
        let mut last: Option<(f64, Vec<u8>)> = None;
        for c in &self.chunks {
            assert!(c.len > 0 && c.len == c.iter().count());
            for (s, m) in c.iter() {
                if let Some((ls, lm)) = &last {
                    assert_eq!(cmp_element((*ls, lm), (s, m)), Ordering::Less);
                }
                last = Some((s, m.to_vec()));
                n += 1;
            }
        }
        assert_eq!(n, self.len);
    }
}
