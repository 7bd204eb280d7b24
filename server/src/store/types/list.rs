//! A list: a double-ended queue of elements (Redis 7.0 names every list `quicklist`).

use std::collections::VecDeque;

/// Elements in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct List {
    items: VecDeque<Box<[u8]>>,
    bytes: usize,
}

impl List {
    /// Returns the number of elements.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Returns true when there is no element.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Returns the bytes of the elements.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Returns Redis 7.0's name for the form (`OBJECT ENCODING`).
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Returns the element at `i` (from the head).
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        self.items.get(i).map(|e| &e[..])
    }

    /// Returns the elements in order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &[u8]> + ExactSizeIterator {
        self.items.iter().map(|e| &e[..])
    }

    /// Returns the elements at `start..end` (within the list), without walking to `start`.
    pub fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &[u8]> {
        self.items.range(start..end).map(|e| &e[..])
    }

    /// Adds `item` at the head.
    pub fn push_front(&mut self, item: &[u8]) {
        self.bytes += item.len();
        self.items.push_front(item.into());
    }

    /// Adds `item` at the tail.
    pub fn push_back(&mut self, item: &[u8]) {
        self.bytes += item.len();
        self.items.push_back(item.into());
    }

    /// Removes and returns the head.
    pub fn pop_front(&mut self) -> Option<Box<[u8]>> {
        let e = self.items.pop_front()?;
        self.bytes -= e.len();
        Some(e)
    }

    /// Removes and returns the tail.
    pub fn pop_back(&mut self) -> Option<Box<[u8]>> {
        let e = self.items.pop_back()?;
        self.bytes -= e.len();
        Some(e)
    }

    /// Replaces the element at `i` (which must exist).
    pub fn set(&mut self, i: usize, item: &[u8]) {
        self.bytes = self.bytes - self.items[i].len() + item.len();
        self.items[i] = item.into();
    }

    /// Inserts `item` before index `i` (`i` may be the length).
    pub fn insert(&mut self, i: usize, item: &[u8]) {
        self.bytes += item.len();
        self.items.insert(i, item.into());
    }

    /// Removes the element at `i` (which must exist).
    pub fn remove(&mut self, i: usize) {
        if let Some(e) = self.items.remove(i) {
            self.bytes -= e.len();
        }
    }

    /// Removes up to `limit` elements equal to `item`, the first ones from the head, or
    /// from the tail when `from_tail` (LREM); returns how many.
    pub fn remove_equal(&mut self, item: &[u8], limit: usize, from_tail: bool) -> usize {
        let matches = |(i, e): (usize, &[u8])| (e == item).then_some(i);
        let at: Vec<usize> = if from_tail {
            let last = self.items.len().saturating_sub(1);
            let rev = self.iter().rev().enumerate();
            rev.filter_map(matches)
                .map(|i| last - i)
                .take(limit)
                .collect()
        } else {
            let fwd = self.iter().enumerate();
            fwd.filter_map(matches).take(limit).collect()
        };
        let (Some(&lo), Some(&hi)) = (at.iter().min(), at.iter().max()) else {
            return 0;
        };
        // Taking matches from one end, every match between the first and last taken is taken.
        let mut i = 0;
        self.items.retain(|e| {
            let k = i;
            i += 1;
            !((lo..=hi).contains(&k) && &e[..] == item)
        });
        self.bytes -= at.len() * item.len();
        at.len()
    }

    /// Keeps only the elements at `start..end`.
    pub fn keep(&mut self, start: usize, end: usize) {
        let end = end.min(self.items.len());
        let start = start.min(end);
        // Only what goes is counted: LTRIM of a few elements off a long list stays cheap.
        let gone = self.items.range(end..).chain(self.items.range(..start));
        self.bytes -= gone.map(|e| e.len()).sum::<usize>();
        self.items.truncate(end);
        self.items.drain(..start);
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
        assert_eq!(l.bytes(), model.iter().map(Vec::len).sum::<usize>());
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
