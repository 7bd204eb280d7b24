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
        self.items.truncate(end);
        self.items.drain(..start.min(self.items.len()));
        self.bytes = self.items.iter().map(|e| e.len()).sum();
    }
}
