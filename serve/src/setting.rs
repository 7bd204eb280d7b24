//! A value `CONFIG GET` reports that its owner may change while clients read it.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// How long a set value outranks what a poll reads back: a poll started before it, or one that
/// reached a shard before the change did (a poll's period plus a shard timeout).
const SET_WINS_FOR: Duration = Duration::from_secs(2);

/// One setting: a shard's stays as configured; a router's follows what its shards report
/// (`maxmemory`, `maxmemory-policy`, updated by its poll). Clones share the value.
#[derive(Debug, Clone, Default)]
pub struct Setting<T>(Arc<RwLock<Cell<T>>>);

/// The value, how many times it was set, and when it was last set by [`Setting::set`].
#[derive(Debug, Default)]
struct Cell<T> {
    value: T,
    version: u64,
    set_at: Option<Instant>,
}

impl<T: Clone> Setting<T> {
    /// Returns a setting holding `value`.
    pub fn new(value: T) -> Setting<T> {
        Setting(Arc::new(RwLock::new(Cell {
            value,
            version: 0,
            set_at: None,
        })))
    }

    /// Returns the value now.
    pub fn get(&self) -> T {
        // A writer that panicked left a whole value behind (a plain store): keep serving it.
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .value
            .clone()
    }

    /// Returns how many times the value was set: a poll that read the shards before a
    /// `CONFIG SET` must not put their older value back (`set_unless_changed`).
    pub fn version(&self) -> u64 {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .version
    }

    /// Replaces the value (`CONFIG SET`); every clone sees the new one.
    pub fn set(&self, value: T) {
        let mut cell = self.0.write().unwrap_or_else(PoisonError::into_inner);
        cell.value = value;
        cell.version += 1;
        cell.set_at = Some(Instant::now());
    }

    /// Replaces the value with what a poll read back, unless it was set since `version` was
    /// read, or less than [`SET_WINS_FOR`] ago; returns whether it did.
    pub fn set_unless_changed(&self, value: T, version: u64) -> bool {
        let mut cell = self.0.write().unwrap_or_else(PoisonError::into_inner);
        let recent = cell.set_at.is_some_and(|at| at.elapsed() < SET_WINS_FOR);
        if cell.version != version || recent {
            return false;
        }
        cell.value = value;
        cell.version += 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_value() {
        let policy = Setting::new("allkeys-lru".to_string());
        let seen_by_sessions = policy.clone();
        policy.set("allkeys-lfu".into());
        assert_eq!(seen_by_sessions.get(), "allkeys-lfu");
    }

    #[test]
    fn an_older_reading_does_not_undo_a_newer_set() {
        let maxmemory = Setting::new(100u64);
        let read_at = maxmemory.version();
        maxmemory.set(3000); // CONFIG SET, while a poll is out
        assert!(!maxmemory.set_unless_changed(100, read_at));
        assert_eq!(maxmemory.get(), 3000);
        // Nor a reading taken after it but from a shard the change had not reached yet.
        let now = maxmemory.version();
        assert!(!maxmemory.set_unless_changed(100, now));
        assert_eq!(maxmemory.get(), 3000);
        let polled = Setting::new(1u64);
        let v = polled.version();
        assert!(polled.set_unless_changed(2, v));
        assert_eq!(polled.get(), 2);
    }
}
