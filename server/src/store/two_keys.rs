//! RENAME, RENAMENX and COPY: one step under the locks of both keys' segments (taken in
//! segment order, so two such commands cannot deadlock), so no command sees the key in
//! neither place or in both halfway.

use std::sync::MutexGuard;

use super::segment::{key_hash, Segment};
use super::{segment_of, Compact, Now};

/// What moves between the two keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TwoKeys {
    /// RENAME: the destination is replaced.
    Rename,
    /// RENAMENX: nothing happens if the destination exists.
    RenameNx,
    /// COPY: the source stays; the destination is replaced only with REPLACE.
    Copy { replace: bool },
}

/// How it went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moved {
    /// The source does not exist.
    NoSource,
    /// The destination exists (RENAMENX, COPY without REPLACE): nothing changed.
    Exists,
    Done,
}

impl Compact {
    /// Renames or copies `src` to `dst` (distinct keys, checked by the caller).
    pub fn two_keys(&self, src: &[u8], dst: &[u8], what: TwoKeys) -> Moved {
        let (hs, hd) = (key_hash(src), key_hash(dst));
        let (ss, sd) = (segment_of(hs), segment_of(hd));
        let mut now = Now::new(&*self.inner.clock);
        let (mut a, mut b): (MutexGuard<'_, Segment>, Option<MutexGuard<'_, Segment>>) =
            match ss.cmp(&sd) {
                std::cmp::Ordering::Equal => (self.lock(ss), None),
                std::cmp::Ordering::Less => {
                    let a = self.lock(ss);
                    (a, Some(self.lock(sd)))
                }
                std::cmp::Ordering::Greater => {
                    let b = self.lock(sd);
                    (self.lock(ss), Some(b))
                }
            };
        let Some(i) = a
            .find(hs, src)
            .filter(|&i| self.live_or_purge(&mut a, i, &mut now))
        else {
            return Moved::NoSource;
        };
        let keep_dst = matches!(what, TwoKeys::RenameNx | TwoKeys::Copy { replace: false });
        {
            let dseg: &mut Segment = match b.as_deref_mut() {
                Some(d) => d,
                None => &mut a,
            };
            let existing = dseg
                .find(hd, dst)
                .filter(|&j| self.live_or_purge(dseg, j, &mut now));
            if existing.is_some() && keep_dst {
                return Moved::Exists;
            }
        }
        let entry = match what {
            TwoKeys::Copy { .. } => a.entry(i).copy_as(dst),
            TwoKeys::Rename | TwoKeys::RenameNx => {
                let e = a.remove(i);
                self.discharge(&mut a, e.weight());
                e.rekey(dst)
            }
        };
        let dseg: &mut Segment = match b.as_deref_mut() {
            Some(d) => d,
            None => &mut a,
        };
        // Found again: removing the source may have moved it within a shared segment.
        if let Some(j) = dseg.find(hd, dst) {
            let freed = dseg.remove(j).weight();
            self.discharge(dseg, freed);
        }
        let w = entry.weight();
        dseg.insert(hd, entry);
        self.charge(dseg, w);
        self.bound(dseg, sd, hd, dst, &mut now);
        Moved::Done
    }
}
