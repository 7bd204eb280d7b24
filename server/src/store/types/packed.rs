//! A small collection's elements in one byte buffer, each a LEB128 length then its bytes
//! (Redis's listpack, simplified): a 10-field hash of short strings is one allocation of a
//! few hundred bytes instead of twenty.
//!
//! Every operation is a linear walk, so a collection leaves this form once it holds more
//! than a few hundred elements (see each type's limits).

use super::leb128;

/// Elements packed back to back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Packed {
    buf: Vec<u8>,
    len: usize,
}

/// Reads the element at `at`: returns its bytes' range.
fn read_at(buf: &[u8], at: usize) -> (usize, usize) {
    let (n, start) = leb128::get(buf, at);
    (start, start + n)
}

impl Packed {
    /// Returns the number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Returns true when there is no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Returns the bytes the buffer holds (its allocation may be larger).
    pub fn bytes(&self) -> usize {
        self.buf.len()
    }

    /// Returns the bytes its buffer holds room for.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Returns the packed bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Returns the packed elements `bytes` (as [`as_bytes`](Self::as_bytes) gave them).
    pub fn from_bytes(bytes: &[u8]) -> Packed {
        let mut p = Packed {
            buf: bytes.to_vec(),
            len: 0,
        };
        p.len = p.iter().count();
        p
    }

    /// Returns the elements in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            buf: &self.buf,
            at: 0,
        }
    }

    /// Returns each element with the offset it starts at.
    pub fn iter_at(&self) -> impl Iterator<Item = (usize, &[u8])> {
        let mut it = self.iter();
        std::iter::from_fn(move || {
            let at = it.at;
            it.next().map(|e| (at, e))
        })
    }

    /// Returns the element starting at offset `at` and the offset after it.
    pub fn at(&self, at: usize) -> (&[u8], usize) {
        let (s, e) = read_at(&self.buf, at);
        (&self.buf[s..e], e)
    }

    /// Makes room for `more` bytes, growing by a quarter rather than doubling: a small
    /// collection's slack is memory every one of them pays.
    fn reserve(&mut self, more: usize) {
        if self.buf.capacity() < self.buf.len() + more {
            self.buf.reserve_exact(more.max(self.buf.len() / 4).max(16));
        }
    }

    /// Appends `item`.
    pub fn push(&mut self, item: &[u8]) {
        self.reserve(leb128::size(item.len()) + item.len());
        leb128::put(&mut self.buf, item.len());
        self.buf.extend_from_slice(item);
        self.len += 1;
    }

    /// Inserts `item` before the element at offset `at` (or at the end when `at` is the
    /// buffer's length).
    pub fn insert(&mut self, at: usize, item: &[u8]) {
        let mut piece = Vec::with_capacity(leb128::size(item.len()) + item.len());
        leb128::put(&mut piece, item.len());
        piece.extend_from_slice(item);
        self.reserve(piece.len());
        self.buf.splice(at..at, piece);
        self.len += 1;
    }

    /// Removes `count` elements from offset `at` on.
    pub fn remove(&mut self, at: usize, count: usize) {
        let mut end = at;
        for _ in 0..count {
            end = read_at(&self.buf, end).1;
        }
        self.buf.drain(at..end);
        self.len -= count;
        if self.buf.capacity() > 2 * self.buf.len() + 64 {
            self.buf.shrink_to_fit();
        }
    }

    /// Replaces the element at offset `at` with `item`.
    pub fn replace(&mut self, at: usize, item: &[u8]) {
        let (_, end) = read_at(&self.buf, at);
        let mut piece = Vec::with_capacity(leb128::size(item.len()) + item.len());
        leb128::put(&mut piece, item.len());
        piece.extend_from_slice(item);
        self.reserve(piece.len().saturating_sub(end - at));
        self.buf.splice(at..end, piece);
    }
}

/// The elements of a [`Packed`], in order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.at >= self.buf.len() {
            return None;
        }
        let (s, e) = read_at(self.buf, self.at);
        self.at = e;
        Some(&self.buf[s..e])
    }
}

#[cfg(test)]
mod tests {
    use super::Packed;

    #[test]
    fn elements_keep_their_order_through_every_change() {
        let long = vec![b'x'; 300];
        let mut p = Packed::default();
        p.push(b"a");
        p.push(&long);
        p.push(b"");
        let at: Vec<usize> = p.iter_at().map(|(at, _)| at).collect();
        p.insert(at[1], b"b");
        assert_eq!(p.iter().collect::<Vec<_>>(), [&b"a"[..], b"b", &long, b""]);
        p.replace(at[1], b"bb");
        p.remove(0, 1);
        assert_eq!(p.iter().collect::<Vec<_>>(), [&b"bb"[..], &long, b""]);
        assert_eq!(p.len(), 3);
        let (first, next) = p.at(0);
        assert_eq!((first, p.at(next).0.len()), (&b"bb"[..], 300));
    }
}
