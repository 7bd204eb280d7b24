//! Elements kept sorted in a vector of chunks, each one buffer of up to [`CHUNK_LEN`]
//! elements packed back to back. A large sorted set keeps its members twice this way: by
//! (score, member) for ranks and ranges ([`ByScore`]), by (hash, member) for lookups, a
//! stable ZSCAN cursor and random members ([`ByHash`]).
//!
//! Why chunks and not a skiplist, a B-tree or a hash table of boxes: an element costs its
//! bytes plus a byte of framing, no pointer and no allocation of its own. A position is
//! found by a binary search over the chunks' first elements and a walk of at most one
//! chunk; a rank is the sum of the earlier chunks' lengths, O(n / 128) additions.

use std::cmp::Ordering;
use std::marker::PhantomData;

use crate::store::types::leb128;

/// The most elements a chunk holds before it splits in two.
const CHUNK_LEN: usize = 64;
/// The most bytes a chunk holds before it splits (long members make short chunks).
const CHUNK_BYTES: usize = 4096;
/// A chunk below this many elements is merged with a neighbour when they fit in one.
const CHUNK_MIN: usize = CHUNK_LEN / 4;

/// How elements are laid out and ordered.
pub trait Layout {
    /// Returns the offset after the element that starts at `at` in `buf`.
    fn end(buf: &[u8], at: usize) -> usize;
    /// Orders two elements (either may be a probe: only the parts that order are read).
    fn cmp(a: &[u8], b: &[u8]) -> Ordering;
    /// Returns a key of an element's leading word that orders as `cmp` does, ties aside:
    /// `key(a) < key(b)` implies `a < b`, and `a < b` implies `key(a) <= key(b)`.
    fn key(e: &[u8]) -> u64;
}

/// Orders scores as Redis does: by value, so `-0` equals `0` (NaN is never stored).
pub fn cmp_score(a: f64, b: f64) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

/// Orders two (score, member) pairs.
pub fn cmp_element(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    cmp_score(a.0, b.0).then_with(|| a.1.cmp(b.1))
}

fn word(e: &[u8]) -> [u8; 8] {
    // invariant: every element and probe starts with an 8-byte word.
    e[..8].try_into().expect("8 bytes")
}

/// Returns the member of an element or probe laid out as word, length, member.
fn member_of(e: &[u8]) -> &[u8] {
    let (n, s) = leb128::get(e, 8);
    &e[s..s + n]
}

/// (score, member): score as f64 LE, the member's length (LEB128), the member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ByScore;

impl ByScore {
    /// Returns the element for (score, member).
    pub fn element(score: f64, member: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(member.len() + 10);
        out.extend_from_slice(&score.to_le_bytes());
        leb128::put(&mut out, member.len());
        out.extend_from_slice(member);
        out
    }

    /// Returns (member, score) of an element.
    pub fn read(e: &[u8]) -> (&[u8], f64) {
        (member_of(e), f64::from_le_bytes(word(e)))
    }
}

impl Layout for ByScore {
    fn end(buf: &[u8], at: usize) -> usize {
        let (n, s) = leb128::get(buf, at + 8);
        s + n
    }

    fn cmp(a: &[u8], b: &[u8]) -> Ordering {
        let (am, as_) = ByScore::read(a);
        let (bm, bs) = ByScore::read(b);
        cmp_element((as_, am), (bs, bm))
    }

    fn key(e: &[u8]) -> u64 {
        // IEEE order as unsigned integers: negative scores flipped, positive ones above
        // them; -0 is 0, as in `cmp_score`.
        let s = f64::from_le_bytes(word(e));
        let bits = if s == 0.0 { 0 } else { s.to_bits() };
        if bits >> 63 == 1 {
            !bits
        } else {
            bits | 1 << 63
        }
    }
}

/// (hash, member) → score: the member's hash as u64 LE, its length (LEB128), the member,
/// then its score as f64 LE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ByHash;

/// Returns the hash that orders `member` in [`ByHash`].
pub fn hash_of(member: &[u8]) -> u64 {
    // A seed unlike the keyspace's, so the members of one key spread independently of it.
    xxhash_rust::xxh3::xxh3_64_with_seed(member, 0x7a73_6574)
}

impl ByHash {
    /// Returns the element for (member, score); without a score, a probe to find it by.
    pub fn element(member: &[u8], score: Option<f64>) -> Vec<u8> {
        let mut out = Vec::with_capacity(member.len() + 18);
        out.extend_from_slice(&hash_of(member).to_le_bytes());
        leb128::put(&mut out, member.len());
        out.extend_from_slice(member);
        if let Some(s) = score {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out
    }

    /// Returns the hash of an element or probe.
    pub fn hash(e: &[u8]) -> u64 {
        u64::from_le_bytes(word(e))
    }

    /// Returns (member, score) of an element.
    pub fn read(e: &[u8]) -> (&[u8], f64) {
        let (n, s) = leb128::get(e, 8);
        let score = f64::from_le_bytes(e[s + n..s + n + 8].try_into().expect("8-byte score"));
        (&e[s..s + n], score)
    }
}

impl Layout for ByHash {
    fn end(buf: &[u8], at: usize) -> usize {
        let (n, s) = leb128::get(buf, at + 8);
        s + n + 8
    }

    fn cmp(a: &[u8], b: &[u8]) -> Ordering {
        ByHash::hash(a)
            .cmp(&ByHash::hash(b))
            .then_with(|| member_of(a).cmp(member_of(b)))
    }

    fn key(e: &[u8]) -> u64 {
        ByHash::hash(e)
    }
}

/// Returns the sum of `lens`.
fn sum(lens: &[u32]) -> usize {
    // u32 lanes: a block of 256 chunks of at most 64 elements cannot overflow.
    lens.chunks(256)
        .map(|b| b.iter().sum::<u32>() as usize)
        .sum()
}

#[derive(Debug, Clone, Default, PartialEq)]
struct Chunk {
    buf: Vec<u8>,
    len: usize,
}

impl Chunk {
    fn first<L: Layout>(&self) -> &[u8] {
        &self.buf[..L::end(&self.buf, 0)]
    }

    /// Returns the offset of the `i`th element (`buf.len()` for `i == len`).
    fn offset_of<L: Layout>(&self, i: usize) -> usize {
        let mut at = 0;
        for _ in 0..i {
            at = L::end(&self.buf, at);
        }
        at
    }

    fn iter<L: Layout>(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            if at >= self.buf.len() {
                return None;
            }
            let end = L::end(&self.buf, at);
            let e = &self.buf[at..end];
            at = end;
            Some(e)
        })
    }

    /// Inserts `piece` at `at`, growing the buffer by an eighth at most beyond what it
    /// needs (a doubling `Vec` would leave up to half of a chunk unused).
    fn splice_in(&mut self, at: usize, piece: &[u8]) {
        if self.buf.capacity() < self.buf.len() + piece.len() {
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

/// Elements sorted by `L`.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunked<L> {
    chunks: Vec<Chunk>,
    /// Each chunk's first element's [`Layout::key`]: the binary search for a chunk reads
    /// this one array, not a buffer per step (each a cache miss in a large set).
    heads: Vec<u64>,
    /// Each chunk's length: a rank sums these, one dense array (vectorised), not a field
    /// of each chunk's header.
    lens: Vec<u32>,
    len: usize,
    bytes: usize,
    layout: PhantomData<L>,
}

impl<L> Default for Chunked<L> {
    fn default() -> Self {
        Chunked {
            chunks: Vec::new(),
            heads: Vec::new(),
            lens: Vec::new(),
            len: 0,
            bytes: 0,
            layout: PhantomData,
        }
    }
}

impl<L: Layout> Chunked<L> {
    /// Returns the number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Returns the bytes of the elements.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Returns the index of the chunk where `probe` belongs.
    fn chunk_for(&self, probe: &[u8]) -> usize {
        let key = L::key(probe);
        let (mut lo, mut hi) = (0, self.chunks.len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let head = self.heads[mid];
            let not_after = head < key
                || (head == key
                    && L::cmp(self.chunks[mid].first::<L>(), probe) != Ordering::Greater);
            if not_after {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo.saturating_sub(1)
    }

    /// Copies chunk `ci`'s leading key and length into `heads` and `lens`.
    fn refresh(&mut self, ci: usize) {
        self.heads[ci] = L::key(self.chunks[ci].first::<L>());
        // invariant: a chunk holds at most CHUNK_BYTES + one element, far below u32::MAX
        // elements.
        self.lens[ci] = self.chunks[ci].len as u32;
    }

    /// Adds chunk `c` at index `ci`.
    fn add_chunk(&mut self, ci: usize, c: Chunk) {
        self.heads.insert(ci, L::key(c.first::<L>()));
        self.lens.insert(ci, c.len as u32);
        self.chunks.insert(ci, c);
    }

    /// Drops chunk `ci`.
    fn drop_chunk(&mut self, ci: usize) -> Chunk {
        self.heads.remove(ci);
        self.lens.remove(ci);
        self.chunks.remove(ci)
    }

    /// Returns the chunk where `probe` belongs and the offset of the first element not
    /// below it in that chunk.
    fn position(&self, probe: &[u8]) -> (usize, usize) {
        let ci = self.chunk_for(probe);
        let chunk = &self.chunks[ci];
        let mut at = 0;
        while at < chunk.buf.len() {
            let end = L::end(&chunk.buf, at);
            if L::cmp(&chunk.buf[at..end], probe) != Ordering::Less {
                break;
            }
            at = end;
        }
        (ci, at)
    }

    /// Returns the element equal to `probe`.
    pub fn find(&self, probe: &[u8]) -> Option<&[u8]> {
        if self.chunks.is_empty() {
            return None;
        }
        let (ci, at) = self.position(probe);
        let buf = &self.chunks[ci].buf;
        if at == buf.len() {
            return None;
        }
        let e = &buf[at..L::end(buf, at)];
        (L::cmp(e, probe) == Ordering::Equal).then_some(e)
    }

    /// Inserts `element`, which must not be there.
    pub fn insert(&mut self, element: &[u8]) {
        self.len += 1;
        self.bytes += element.len();
        if self.chunks.is_empty() {
            let c = Chunk {
                buf: element.to_vec(),
                len: 1,
            };
            self.add_chunk(0, c);
            return;
        }
        let (ci, at) = self.position(element);
        let last = ci + 1 == self.chunks.len();
        let chunk = &mut self.chunks[ci];
        // Appending past the last chunk's end starts a new chunk once that one is full, so
        // elements added in order fill their chunks instead of leaving them half empty.
        if last && at == chunk.buf.len() && chunk.len >= CHUNK_LEN {
            let c = Chunk {
                buf: element.to_vec(),
                len: 1,
            };
            self.add_chunk(ci + 1, c);
            return;
        }
        chunk.splice_in(at, element);
        let too_big = chunk.too_big();
        self.refresh(ci);
        if too_big {
            self.split(ci);
        }
    }

    /// Inserts `element`, or replaces the element equal to it with it (same length or
    /// not); returns the element replaced.
    pub fn upsert(&mut self, element: &[u8]) -> Option<Vec<u8>> {
        if !self.chunks.is_empty() {
            let (ci, at) = self.position(element);
            let chunk = &mut self.chunks[ci];
            if at < chunk.buf.len() {
                let end = L::end(&chunk.buf, at);
                if L::cmp(&chunk.buf[at..end], element) == Ordering::Equal {
                    let old = chunk.buf[at..end].to_vec();
                    if old.len() == element.len() {
                        chunk.buf[at..end].copy_from_slice(element);
                    } else {
                        chunk.buf.splice(at..end, element.iter().copied());
                        self.bytes = self.bytes + element.len() - old.len();
                    }
                    return Some(old);
                }
            }
        }
        self.insert(element);
        None
    }

    fn split(&mut self, ci: usize) {
        let chunk = &mut self.chunks[ci];
        let half = chunk.len / 2;
        let at = chunk.offset_of::<L>(half);
        let tail = Chunk {
            buf: chunk.buf[at..].to_vec(),
            len: chunk.len - half,
        };
        chunk.buf.truncate(at);
        chunk.buf.shrink_to_fit();
        chunk.len = half;
        self.refresh(ci);
        self.add_chunk(ci + 1, tail);
    }

    /// Removes the element equal to `probe`; returns true if it was there.
    pub fn remove(&mut self, probe: &[u8]) -> bool {
        if self.chunks.is_empty() {
            return false;
        }
        let (ci, at) = self.position(probe);
        let chunk = &mut self.chunks[ci];
        if at == chunk.buf.len() {
            return false;
        }
        let end = L::end(&chunk.buf, at);
        if L::cmp(&chunk.buf[at..end], probe) != Ordering::Equal {
            return false;
        }
        chunk.buf.drain(at..end);
        chunk.len -= 1;
        self.len -= 1;
        self.bytes -= end - at;
        self.settle(ci);
        true
    }

    /// After chunk `ci` shrank: drops it when empty, merges it with a neighbour when both
    /// fit in one chunk.
    fn settle(&mut self, ci: usize) {
        if self.chunks[ci].len == 0 {
            self.drop_chunk(ci);
            return;
        }
        self.refresh(ci);
        if self.chunks[ci].len < CHUNK_MIN {
            for (a, b) in [(ci, ci + 1), (ci.wrapping_sub(1), ci)] {
                if b < self.chunks.len() && a < b {
                    let (x, y) = (&self.chunks[a], &self.chunks[b]);
                    if x.len + y.len <= CHUNK_LEN && x.buf.len() + y.buf.len() <= CHUNK_BYTES {
                        let next = self.drop_chunk(b);
                        let first = &mut self.chunks[a];
                        first.buf.reserve_exact(next.buf.len());
                        first.buf.extend_from_slice(&next.buf);
                        first.len += next.len;
                        self.refresh(a);
                        return;
                    }
                }
            }
        }
        self.chunks[ci].shrink();
    }

    /// Returns how many elements pass `pred`, which holds for a prefix of the order and for
    /// nothing after it (as `slice::partition_point`).
    pub fn partition_point(&self, pred: impl Fn(&[u8]) -> bool) -> usize {
        let ci = self.chunks.partition_point(|c| pred(c.first::<L>()));
        if ci == 0 {
            return 0;
        }
        let before = sum(&self.lens[..ci - 1]);
        before
            + self.chunks[ci - 1]
                .iter::<L>()
                .take_while(|e| pred(e))
                .count()
    }

    /// Returns the number of elements below `probe` (its rank when it is there), finding
    /// its chunk by the leading keys.
    pub fn rank_of(&self, probe: &[u8]) -> usize {
        if self.chunks.is_empty() {
            return 0;
        }
        let ci = self.chunk_for(probe);
        let below = self.chunks[ci]
            .iter::<L>()
            .take_while(|e| L::cmp(e, probe) == Ordering::Less)
            .count();
        sum(&self.lens[..ci]) + below
    }

    /// Returns the chunk holding rank `rank` and the rank of its first element.
    fn locate(&self, rank: usize) -> Option<(usize, usize)> {
        self.locate_from(0, 0, rank)
    }

    /// As [`locate`](Self::locate), counting from chunk `from`, whose first rank is `base`.
    fn locate_from(&self, from: usize, mut base: usize, rank: usize) -> Option<(usize, usize)> {
        // Whole blocks of lengths first (summed vectorised), then one length at a time.
        const BLOCK: usize = 256;
        let mut ci = from;
        while ci + BLOCK <= self.lens.len() {
            let block = sum(&self.lens[ci..ci + BLOCK]);
            if rank < base + block {
                break;
            }
            base += block;
            ci += BLOCK;
        }
        for (ci, &n) in self.lens.iter().enumerate().skip(ci) {
            if rank < base + n as usize {
                return Some((ci, base));
            }
            base += n as usize;
        }
        None
    }

    /// Returns the elements from rank `rank` on, in order.
    pub fn iter_from(&self, rank: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let (ci, skip) = match self.locate(rank) {
            Some((ci, base)) => (ci, rank - base),
            None => (self.chunks.len(), 0),
        };
        self.chunks[ci..]
            .iter()
            .flat_map(Chunk::iter::<L>)
            .skip(skip)
    }

    /// Returns the elements from the first one not below `probe` on, in order, found
    /// without counting ranks.
    pub fn iter_at(&self, probe: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
        let (ci, at) = if self.chunks.is_empty() {
            (0, 0)
        } else {
            self.position(probe)
        };
        let head = self
            .chunks
            .get(ci)
            .map(|c| &c.buf[at..])
            .unwrap_or_default();
        let mut at = 0;
        let head = std::iter::from_fn(move || {
            if at >= head.len() {
                return None;
            }
            let end = L::end(head, at);
            let e = &head[at..end];
            at = end;
            Some(e)
        });
        head.chain(
            self.chunks
                .get(ci + 1..)
                .unwrap_or_default()
                .iter()
                .flat_map(Chunk::iter::<L>),
        )
    }

    /// Returns the elements from rank `rank` down to the first, in reverse order.
    pub fn iter_back_from(&self, rank: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let (ci, keep) = match self.locate(rank) {
            Some((ci, base)) => (ci + 1, rank - base + 1),
            None => (0, 0),
        };
        self.chunks[..ci]
            .iter()
            .enumerate()
            .rev()
            .flat_map(move |(i, c)| {
                let mut v: Vec<&[u8]> = c.iter::<L>().collect();
                if i + 1 == ci {
                    v.truncate(keep);
                }
                v.into_iter().rev()
            })
    }

    /// Removes `count` elements from rank `start` on, calling `f` with each.
    pub fn remove_ranks(&mut self, start: usize, mut count: usize, mut f: impl FnMut(&[u8])) {
        // The elements still to remove always start at rank `start`. A chunk's change
        // touches only it and its neighbours, so the search resumes one chunk before it.
        let (mut from, mut from_base) = (0, 0);
        while count > 0 {
            let Some((ci, base)) = self.locate_from(from, from_base, start) else {
                return;
            };
            if ci > 0 {
                (from, from_base) = (ci - 1, base - self.lens[ci - 1] as usize);
            }
            let chunk = &mut self.chunks[ci];
            let from = chunk.offset_of::<L>(start - base);
            let mut to = from;
            let mut n = 0;
            while n < count && to < chunk.buf.len() {
                let end = L::end(&chunk.buf, to);
                f(&chunk.buf[to..end]);
                to = end;
                n += 1;
            }
            chunk.buf.drain(from..to);
            chunk.len -= n;
            self.len -= n;
            self.bytes -= to - from;
            count -= n;
            self.settle(ci);
        }
    }

    /// Checks the chunks' counts, bytes and order (tests).
    #[cfg(test)]
    pub fn check(&self) {
        let (mut n, mut bytes) = (0, 0);
        let mut last: Option<&[u8]> = None;
        assert_eq!(self.heads.len(), self.chunks.len());
        assert_eq!(self.lens.len(), self.chunks.len());
        for ((c, &head), &len) in self.chunks.iter().zip(&self.heads).zip(&self.lens) {
            assert_eq!(len as usize, c.len);
            assert_eq!(head, L::key(c.first::<L>()));
            assert!(c.len > 0 && c.len == c.iter::<L>().count());
            for e in c.iter::<L>() {
                if let Some(l) = last {
                    assert_eq!(L::cmp(l, e), Ordering::Less);
                }
                last = Some(e);
                n += 1;
                bytes += e.len();
            }
        }
        assert_eq!((n, bytes), (self.len, self.bytes));
    }
}
