//! A list: elements packed in chunks of about [`CHUNK_BYTES`] (Redis's quicklist of
//! listpacks; Redis 7.0 names every list `quicklist`). An element costs its bytes and a
//! length prefix, with no allocation of its own; the ends are a chunk away, an index a walk
//! over the chunks' counts.

use std::collections::VecDeque;

use super::leb128;
use super::packed::Packed;

fn framed(item: &[u8]) -> usize {
    leb128::framed(item.len())
}

/// A chunk is split once it holds more bytes than this (Redis: `list-max-listpack-size`
/// -2, 8 KiB; smaller here, as a chunk's elements move on every insert at its front).
const CHUNK_BYTES: usize = 4096;

/// What a chunk costs besides its buffer: its `Packed` in the deque and the allocator's
/// header.
const CHUNK_OVERHEAD: usize = 48;

/// Elements in order.
#[derive(Debug, Clone, Default)]
pub struct List {
    chunks: VecDeque<Packed>,
    len: usize,
    /// Element bytes with their length prefixes.
    bytes: usize,
}

/// Equal when they hold the same elements, however they are cut into chunks.
impl PartialEq for List {
    fn eq(&self, other: &List) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl Eq for List {}

impl List {
    /// Returns the number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Returns true when there is no element.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Returns the bytes the list is charged: its elements with their prefixes, an eighth
    /// more for the chunks' slack (they grow by a quarter), and each chunk's overhead; in
    /// O(1), as every write re-weighs it (measured: docs/benchmarks.md, "Collections").
    pub fn bytes(&self) -> usize {
        self.bytes + self.bytes / 8 + self.chunks.len() * CHUNK_OVERHEAD
    }

    /// Returns Redis 7.0's name for the form (`OBJECT ENCODING`).
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Returns the chunk holding element `i` and `i`'s index in it.
    fn locate(&self, mut i: usize) -> Option<(usize, usize)> {
        if i >= self.len {
            return None;
        }
        // From the nearer end.
        if i < self.len / 2 {
            for (c, chunk) in self.chunks.iter().enumerate() {
                if i < chunk.len() {
                    return Some((c, i));
                }
                i -= chunk.len();
            }
        } else {
            let mut from_end = self.len - 1 - i;
            for (c, chunk) in self.chunks.iter().enumerate().rev() {
                if from_end < chunk.len() {
                    return Some((c, chunk.len() - 1 - from_end));
                }
                from_end -= chunk.len();
            }
        }
        None
    }

    /// Returns the element at `i` (from the head).
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let (c, j) = self.locate(i)?;
        self.chunks[c].iter().nth(j)
    }

    /// Returns the elements in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        // A packed chunk reads forward only: gathered, so the walk can go either way.
        let all: Vec<&[u8]> = self.chunks.iter().flat_map(Packed::iter).collect();
        all.into_iter()
    }

    /// Returns the elements at `start..end` (within the list).
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &[u8]> {
        let first = self.locate(start);
        let (c, j) = first.unwrap_or((self.chunks.len(), 0));
        self.chunks
            .range(c..)
            .flat_map(Packed::iter)
            .skip(j)
            .take(end.saturating_sub(start))
    }

    /// Adds `item` at the head.
    pub fn push_front(&mut self, item: &[u8]) {
        if self
            .chunks
            .front()
            .is_none_or(|c| c.bytes() + item.len() > CHUNK_BYTES)
        {
            self.chunks.push_front(Packed::default());
        }
        let first = self.chunks.front_mut().expect("a chunk");
        first.insert(0, item);
        self.len += 1;
        self.bytes += framed(item);
    }

    /// Adds `item` at the tail.
    pub fn push_back(&mut self, item: &[u8]) {
        if self
            .chunks
            .back()
            .is_none_or(|c| c.bytes() + item.len() > CHUNK_BYTES)
        {
            self.chunks.push_back(Packed::default());
        }
        self.chunks.back_mut().expect("a chunk").push(item);
        self.len += 1;
        self.bytes += framed(item);
    }

    /// Removes and returns the element `j` of chunk `c`, dropping the chunk if emptied.
    fn take(&mut self, c: usize, j: usize) -> Box<[u8]> {
        let chunk = &mut self.chunks[c];
        let (at, item) = chunk.iter_at().nth(j).expect("located");
        let item: Box<[u8]> = item.into();
        chunk.remove(at, 1);
        if chunk.is_empty() {
            self.chunks.remove(c);
        }
        self.len -= 1;
        self.bytes -= framed(&item);
        item
    }

    /// Removes and returns the head.
    pub fn pop_front(&mut self) -> Option<Box<[u8]>> {
        (self.len > 0).then(|| self.take(0, 0))
    }

    /// Removes and returns the tail.
    pub fn pop_back(&mut self) -> Option<Box<[u8]>> {
        let c = self.chunks.len().checked_sub(1)?;
        let j = self.chunks[c].len() - 1;
        Some(self.take(c, j))
    }

    /// Replaces the element at `i` (which must exist).
    pub fn set(&mut self, i: usize, item: &[u8]) {
        let (c, j) = self.locate(i).expect("an element at i");
        let chunk = &mut self.chunks[c];
        let (at, old) = chunk.iter_at().nth(j).expect("located");
        self.bytes = self.bytes - framed(old) + framed(item);
        chunk.replace(at, item);
        self.split_if_full(c);
    }

    /// Inserts `item` before index `i` (`i` may be the length).
    pub fn insert(&mut self, i: usize, item: &[u8]) {
        if i >= self.len {
            return self.push_back(item);
        }
        let (c, j) = self.locate(i).expect("an element at i");
        let chunk = &mut self.chunks[c];
        let at = chunk.iter_at().nth(j).expect("located").0;
        chunk.insert(at, item);
        self.len += 1;
        self.bytes += framed(item);
        self.split_if_full(c);
    }

    /// Cuts chunk `c` in two once it holds twice [`CHUNK_BYTES`].
    fn split_if_full(&mut self, c: usize) {
        let chunk = &self.chunks[c];
        if chunk.bytes() <= 2 * CHUNK_BYTES || chunk.len() < 2 {
            return;
        }
        let half = chunk.len() / 2;
        let mut upper = Packed::default();
        for item in chunk.iter().skip(half) {
            upper.push(item);
        }
        let at = chunk.iter_at().nth(half).expect("half").0;
        let chunk = &mut self.chunks[c];
        chunk.remove(at, chunk.len() - half);
        self.chunks.insert(c + 1, upper);
    }

    /// Removes the element at `i` (which must exist).
    pub fn remove(&mut self, i: usize) {
        if let Some((c, j)) = self.locate(i) {
            self.take(c, j);
        }
    }

    /// LREM: removes up to `limit` elements equal to `item`, from the head or (`from_tail`)
    /// the tail; returns how many went.
    pub fn remove_equal(&mut self, item: &[u8], limit: usize, from_tail: bool) -> usize {
        let positions: Vec<usize> = {
            let all = self
                .iter()
                .enumerate()
                .filter(|(_, e)| *e == item)
                .map(|(i, _)| i);
            if from_tail {
                let mut v: Vec<usize> = all.collect();
                v.reverse();
                v.truncate(limit);
                v
            } else {
                all.take(limit).collect()
            }
        };
        let mut sorted = positions.clone();
        sorted.sort_unstable();
        // From the highest index down, so the lower ones stay where they are.
        for &i in sorted.iter().rev() {
            self.remove(i);
        }
        positions.len()
    }

    /// Keeps only the elements at `start..end`: whole chunks go at once, so LTRIM of a few
    /// elements off a long list stays cheap.
    pub fn keep(&mut self, start: usize, end: usize) {
        let end = end.min(self.len);
        let start = start.min(end);
        let mut tail = self.len - end;
        while tail > 0 {
            let last = self.chunks.back().expect("elements left").len();
            if last <= tail {
                let gone = self.chunks.pop_back().expect("a chunk");
                self.bytes -= gone.iter().map(framed).sum::<usize>();
                self.len -= last;
                tail -= last;
            } else {
                self.pop_back();
                tail -= 1;
            }
        }
        let mut head = start;
        while head > 0 {
            let first = self.chunks.front().expect("elements left").len();
            if first <= head {
                let gone = self.chunks.pop_front().expect("a chunk");
                self.bytes -= gone.iter().map(framed).sum::<usize>();
                self.len -= first;
                head -= first;
            } else {
                self.pop_front();
                head -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::List;

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

    fn check(l: &List, model: &VecDeque<Vec<u8>>) {
        let got: Vec<&[u8]> = l.iter().collect();
        let want: Vec<&[u8]> = model.iter().map(Vec::as_slice).collect();
        assert_eq!(got, want);
        assert_eq!(l.len(), model.len());
        let framed: usize = model.iter().map(|e| super::framed(e)).sum();
        assert_eq!(l.bytes, framed);
        assert!(l.bytes() >= framed);
    }

    /// The reference LREM: the first `limit` matches from one end go.
    fn remove_equal(model: &mut VecDeque<Vec<u8>>, item: &[u8], limit: usize, from_tail: bool) {
        let n = model.len();
        let mut gone = 0;
        let order: Vec<usize> = if from_tail {
            (0..n).rev().collect()
        } else {
            (0..n).collect()
        };
        let mut drop = vec![false; n];
        for i in order {
            if gone < limit && model[i] == item {
                drop[i] = true;
                gone += 1;
            }
        }
        let mut i = 0;
        model.retain(|_| {
            i += 1;
            !drop[i - 1]
        });
    }

    #[test]
    fn random_changes_keep_the_list_equal_to_a_vecdeque() {
        for seed in 1..=20u64 {
            let mut next = rng(seed);
            let mut l = List::default();
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for step in 0..3000 {
                let item = vec![b'a' + (next() % 5) as u8; (next() % 4) as usize];
                let len = model.len();
                match next() % 9 {
                    0 | 1 => {
                        l.push_front(&item);
                        model.push_front(item);
                    }
                    2 | 3 => {
                        l.push_back(&item);
                        model.push_back(item);
                    }
                    4 => assert_eq!(l.pop_front().map(Vec::from), model.pop_front()),
                    5 => assert_eq!(l.pop_back().map(Vec::from), model.pop_back()),
                    6 if len > 0 => {
                        let i = (next() % len as u64) as usize;
                        if next().is_multiple_of(2) {
                            l.set(i, &item);
                            model[i] = item;
                        } else {
                            l.remove(i);
                            model.remove(i);
                        }
                    }
                    7 => {
                        let i = (next() % (len as u64 + 1)) as usize;
                        l.insert(i, &item);
                        model.insert(i, item);
                    }
                    8 if step % 10 == 0 => {
                        let start = (next() % (len as u64 + 2)) as usize;
                        let end = (next() % (len as u64 + 2)) as usize;
                        let (start, end) = (start.min(end), start.max(end));
                        l.keep(start, end);
                        let kept: VecDeque<Vec<u8>> =
                            model.iter().take(end).skip(start).cloned().collect();
                        model = kept;
                    }
                    _ => {
                        let limit = match next() % 3 {
                            0 => usize::MAX,
                            n => n as usize,
                        };
                        let from_tail = next().is_multiple_of(2);
                        let before = model.len();
                        remove_equal(&mut model, &item, limit, from_tail);
                        assert_eq!(
                            l.remove_equal(&item, limit, from_tail),
                            before - model.len()
                        );
                    }
                }
                check(&l, &model);
            }
        }
    }
}
