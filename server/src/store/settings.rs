//! `maxmemory` and the eviction policy, which CONFIG SET changes while the store serves.
//!
//! Each is one relaxed atomic: a write reads it once. A lower bound is enforced by the next
//! write over it and by the maintenance timer (`enforce_bound`). After a policy change the
//! entries keep the stamps of the old one until they are written or read again (Redis:
//! "LRU and LFU data will take some time to adjust").

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use super::{Compact, Eviction, Inner};

/// Returns the cell holding `eviction`: true for LFU.
pub(super) fn eviction_cell(eviction: Eviction) -> AtomicBool {
    AtomicBool::new(eviction == Eviction::Lfu)
}

impl Inner {
    /// Returns `maxmemory`, in bytes.
    pub(super) fn max_memory(&self) -> u64 {
        self.max_memory.load(Relaxed)
    }

    /// Returns the eviction policy.
    pub(super) fn eviction(&self) -> Eviction {
        if self.eviction.load(Relaxed) {
            Eviction::Lfu
        } else {
            Eviction::Lru
        }
    }
}

impl Compact {
    /// Changes `maxmemory` (CONFIG SET maxmemory).
    pub fn set_max_memory(&self, bytes: u64) {
        self.inner.max_memory.store(bytes, Relaxed);
    }

    /// Changes the eviction policy (CONFIG SET maxmemory-policy).
    pub fn set_eviction(&self, eviction: Eviction) {
        self.inner
            .eviction
            .store(eviction == Eviction::Lfu, Relaxed);
    }

    /// Returns the eviction policy.
    pub fn eviction(&self) -> Eviction {
        self.inner.eviction()
    }
}
