//! Walks over the keyspace: SCAN pages in hash order, KEYS, RANDOMKEY.

use bytes::Bytes;
use protocol::command::SCAN_CURSOR_BITS;
use rand::Rng;
use serve::glob::glob_match;

use super::segment::key_hash;
use super::{Compact, SEGMENTS, SEGMENT_BITS};

/// One past the largest SCAN position.
const SCAN_END: u64 = 1 << SCAN_CURSOR_BITS;

/// Bits of a SCAN position below its segment number.
const SCAN_SHIFT: u32 = SCAN_CURSOR_BITS - SEGMENT_BITS;

/// Random segments RANDOMKEY tries before it walks them in order.
const RANDOM_TRIES: usize = 64;

/// Sorts one segment's live keys at or after the cursor, `found` as (SCAN position, the
/// backend's handle of the key), and keeps those that go in a page with `room` places left;
/// returns the next cursor when the page ends inside this segment.
///
/// The page ends before the first position it leaves out: keys sharing that position all
/// come on the next page, unless nothing else would fill this one (then they are all in it).
pub(super) fn cut<T: Ord>(found: &mut Vec<(u64, T)>, room: usize, page_empty: bool) -> Option<u64> {
    if found.len() <= room {
        found.sort_unstable();
        return None;
    }
    found.select_nth_unstable(room);
    let boundary = found[room].0;
    found.retain(|(h, _)| *h <= boundary);
    found.sort_unstable();
    let below = found.partition_point(|(h, _)| *h < boundary);
    if below == 0 && page_empty {
        Some(boundary + 1)
    } else {
        found.truncate(below);
        Some(boundary)
    }
}

/// Returns one SCAN page from `cursor` and the next cursor, for either backend: `segment(s,
/// room, page)` appends to `page` the keys of segment `s` that go in it (at most `room` unless
/// they share a position; see [`cut`]) and returns the next cursor when the page ends there.
/// `pattern` filters after selection, as Redis's MATCH does (pages may be empty).
pub(super) fn pages(
    cursor: u64,
    pattern: Option<&[u8]>,
    count: usize,
    mut segment: impl FnMut(usize, usize, &mut Vec<Bytes>) -> Option<u64>,
) -> (u64, Vec<Bytes>) {
    if cursor >= SCAN_END {
        return (0, Vec::new());
    }
    let count = count.max(1);
    let mut page: Vec<Bytes> = Vec::with_capacity(count.min(1024));
    let mut next = 0;
    for s in (cursor >> SCAN_SHIFT) as usize..SEGMENTS {
        if let Some(end) = segment(s, count - page.len(), &mut page) {
            next = end;
            break;
        }
        if page.len() == count {
            next = ((s as u64) + 1) << SCAN_SHIFT;
            break;
        }
    }
    if next >= SCAN_END {
        next = 0;
    }
    if let Some(p) = pattern.filter(|p| *p != b"*") {
        page.retain(|k| glob_match(p, k));
    }
    (next, page)
}

/// Returns a key's SCAN position: the top 48 bits of its xxh3-64 hash (the top bits of which
/// are its segment).
pub(super) fn scan_hash(key: &[u8]) -> u64 {
    key_hash(key) >> (64 - SCAN_CURSOR_BITS)
}

impl Compact {
    /// Returns one page of a SCAN and the cursor of the next (0 when the iteration is done).
    ///
    /// Keys are ordered by a 48-bit hash ([`SCAN_CURSOR_BITS`]); a cursor is a hash position
    /// and a page holds every live key whose hash lies in `[cursor, next)`, so a full iteration
    /// returns every key present throughout exactly once, even while keys come and go
    /// (keys sharing the page's boundary hash are all in the same page).
    ///
    /// A page holds the `count` smallest hashes at or after the cursor (more only when they
    /// all share one hash). Segments cover consecutive hash ranges, so a page locks and
    /// reads only the segments from the cursor's on, until it has `count` keys: its cost is
    /// about `count` plus one segment's keys, and a full iteration with `count` at least a
    /// segment's size (keys / 1024) is one pass over the store. `pattern` filters after
    /// selection, as Redis's MATCH does (pages may be empty).
    pub fn scan(&self, cursor: u64, pattern: Option<&[u8]>, count: usize) -> (u64, Vec<Bytes>) {
        let now = self.now_ms();
        let mut found: Vec<(u64, usize)> = Vec::new();
        pages(cursor, pattern, count, |s, room, page| {
            let seg = self.lock(s);
            found.clear();
            found.extend(
                seg.entries()
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.is_live(now))
                    .map(|(i, e)| (scan_hash(e.key()), i))
                    .filter(|&(h, _)| h >= cursor),
            );
            let end = cut(&mut found, room, page.is_empty());
            page.extend(
                found
                    .iter()
                    .map(|&(_, i)| Bytes::copy_from_slice(seg.entry(i).key())),
            );
            end
        })
    }

    /// Returns every live key matching the glob `pattern` (Redis: KEYS). O(keys), one
    /// segment locked at a time.
    pub fn keys(&self, pattern: &[u8]) -> Vec<Bytes> {
        let all = pattern == b"*";
        let now = self.now_ms();
        let mut keys = Vec::new();
        for s in 0..SEGMENTS {
            let seg = self.lock(s);
            keys.extend(
                seg.entries()
                    .iter()
                    .filter(|e| e.is_live(now) && (all || glob_match(pattern, e.key())))
                    .map(|e| Bytes::copy_from_slice(e.key())),
            );
        }
        keys
    }

    /// Returns a random live key, or `None` when there is none (Redis: RANDOMKEY): a random
    /// entry of a random segment, and after [`RANDOM_TRIES`] misses (a nearly empty store)
    /// the first live key from a random segment on.
    pub fn random_key(&self) -> Option<Bytes> {
        let now = self.now_ms();
        let mut rng = rand::thread_rng();
        for _ in 0..RANDOM_TRIES {
            let seg = self.lock(rng.gen_range(0..SEGMENTS));
            if seg.len() == 0 {
                continue;
            }
            let e = seg.entry(rng.gen_range(0..seg.len()));
            if e.is_live(now) {
                return Some(Bytes::copy_from_slice(e.key()));
            }
        }
        let start = rng.gen_range(0..SEGMENTS);
        (0..SEGMENTS).find_map(|step| {
            let seg = self.lock((start + step) % SEGMENTS);
            let e = seg.entries().iter().find(|e| e.is_live(now))?;
            Some(Bytes::copy_from_slice(e.key()))
        })
    }
}
