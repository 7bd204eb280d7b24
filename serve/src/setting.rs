//! A value `CONFIG GET` reports that its owner may change while clients read it.

use std::sync::{Arc, PoisonError, RwLock};

/// One setting: a shard's stays as configured; a router's follows what its shards report
/// (`maxmemory`, `maxmemory-policy`, updated by its poll). Clones share the value.
#[derive(Debug, Clone, Default)]
pub struct Setting<T>(Arc<RwLock<T>>);

impl<T: Clone> Setting<T> {
    /// Returns a setting holding `value`.
    pub fn new(value: T) -> Setting<T> {
        Setting(Arc::new(RwLock::new(value)))
    }

    /// Returns the value now.
    pub fn get(&self) -> T {
        // A writer that panicked left a whole value behind (a plain store): keep serving it.
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the value; every clone sees the new one.
    pub fn set(&self, value: T) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = value;
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
}
