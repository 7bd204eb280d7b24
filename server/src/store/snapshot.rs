//! What a snapshot asks of a store: each segment's live keys, copied out under its lock, so
//! every key is written as it was at one moment while the other segments keep serving.

use bytes::Bytes;

use super::{Compact, Object, SEGMENTS};

/// One key as a snapshot copied it: key, value, deadline (Unix ms, 0 = none).
pub type SnapshotEntry = (Bytes, Object, u64);

impl Compact {
    /// Returns `maxmemory`, in bytes: the heaviest collection a load or a RESTORE keeps.
    pub fn max_memory(&self) -> u64 {
        self.inner.max_memory()
    }

    /// Replaces `out` with the keys of segment `s` live at `now_ms`; the segment is locked
    /// only while they are copied.
    ///
    /// # Panics
    /// When `s` is not below [`SEGMENTS`].
    pub fn snapshot_segment(&self, s: usize, now_ms: u64, out: &mut Vec<SnapshotEntry>) {
        assert!(s < SEGMENTS, "segment {s} out of range");
        out.clear();
        let seg = self.lock(s);
        out.extend(seg.entries().iter().filter(|e| e.is_live(now_ms)).map(|e| {
            (
                Bytes::copy_from_slice(e.key()),
                super::objects::object_of(e),
                e.deadline_ms(),
            )
        }));
    }
}
