//! What a shard keeps for transactions and scripts: the gate that makes EXEC and EVAL one
//! unit, the WATCH table, and the key locks of cross-group transactions.
//!
//! ```text
//! command ─▶ handler::execute ─▶ Txn::shared (gate, shared) ─▶ exec::execute ─▶ Txn::touch
//! EXEC    ─▶ exec::multi::exec ─▶ Txn::exclusive (gate, exclusive) ─▶ exec::execute × N
//! router  ─▶ TXN PREPARE (locks + WATCH check) ─▶ TXN COMMIT (run, unlock) | TXN ABORT
//! ```
//!
//! - The gate is an `RwLock<()>`: every data command holds it shared (an uncontended read
//!   lock is one atomic add and one atomic sub; docs/benchmarks.md), EXEC, EVAL and TXN
//!   hold it exclusive, so nothing runs on this shard while a transaction or script does.
//! - WATCH registers a token per connection (or per router transaction) on its keys. A write
//!   marks the tokens on its keys dirty; with no token registered (`watching == 0`) a write
//!   pays one relaxed load. Tokens not used for [`WATCH_LEASE`] are dropped (their EXEC
//!   then fails, as if the key had changed): a router that died leaves nothing behind.
//! - Key locks: a cross-group transaction's phase one locks its keys on every group under a
//!   token with a lease; transactions and scripts on those keys wait (`TXNLOCKED` to a
//!   router, which retries), plain commands do not. A lock whose lease passed is free.

use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serve::sync::lock;

/// Runs `f`, which may block for a while (a script, a wait for the gate), with this thread's
/// tokio worker role handed to another thread (`block_in_place`): tasks queued on this
/// worker (its LIFO slot cannot be stolen) would otherwise wait for it, SCRIPT KILL among
/// them. Outside a multi-threaded runtime it just runs `f`.
pub fn blocking<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread) {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

/// How long a wait may hold a worker thread before it waits in [`blocking`].
pub const HAND_OFF_AFTER: Duration = Duration::from_millis(2);

/// A WATCH token unused this long is dropped; its EXEC then fails as if a key changed.
pub const WATCH_LEASE: Duration = Duration::from_secs(300);

/// The shard's transaction state.
#[derive(Debug, Default)]
pub struct Txn {
    gate: RwLock<()>,
    watching: AtomicUsize,
    watches: Mutex<Watches>,
    locked: AtomicUsize,
    locks: Mutex<Locks>,
}

#[derive(Debug, Default)]
struct Watches {
    by_key: HashMap<Bytes, Vec<u64>>,
    tokens: HashMap<u64, Token>,
    swept: Option<Instant>,
}

#[derive(Debug)]
struct Token {
    dirty: bool,
    keys: Vec<Bytes>,
    used: Instant,
}

#[derive(Debug, Default)]
struct Locks {
    by_key: HashMap<Bytes, (u64, Instant)>,
    tokens: HashMap<u64, Vec<Bytes>>,
}

/// Why phase one could not lock.
#[derive(Debug, PartialEq, Eq)]
pub enum LockError {
    /// Another transaction holds one of the keys: retry.
    Locked,
    /// A WATCHed key changed: the transaction fails (EXEC answers nil).
    Dirty,
}

impl Txn {
    /// Holds the gate shared: a plain command.
    pub fn shared(&self) -> RwLockReadGuard<'_, ()> {
        self.gate.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Holds the gate shared, or returns `None` once `busy` says a script is past its time
    /// limit (Redis answers `-BUSY` then). The first try is the whole cost when the gate is
    /// free; a waiter polls every 50 µs so it can give up instead of blocking its thread.
    pub fn shared_unless(&self, busy: impl Fn() -> bool) -> Option<RwLockReadGuard<'_, ()>> {
        let mut waited: Option<Instant> = None;
        loop {
            match self.gate.try_read() {
                Ok(guard) => return Some(guard),
                Err(std::sync::TryLockError::Poisoned(e)) => return Some(e.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => {
                    if busy() {
                        return None;
                    }
                    let since = *waited.get_or_insert_with(Instant::now);
                    let nap = || std::thread::sleep(Duration::from_micros(50));
                    if since.elapsed() >= HAND_OFF_AFTER {
                        blocking(nap);
                    } else {
                        nap();
                    }
                }
            }
        }
    }

    /// Holds the gate exclusive, or returns `None` once `busy` says a script is past its
    /// time limit: as [`shared_unless`](Self::shared_unless), a waiter polls instead of
    /// blocking its thread behind a running script.
    pub fn exclusive_unless(&self, busy: impl Fn() -> bool) -> Option<RwLockWriteGuard<'_, ()>> {
        let mut waited: Option<Instant> = None;
        loop {
            match self.gate.try_write() {
                Ok(guard) => return Some(guard),
                Err(std::sync::TryLockError::Poisoned(e)) => return Some(e.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => {
                    if busy() {
                        return None;
                    }
                    let since = *waited.get_or_insert_with(Instant::now);
                    let nap = || std::thread::sleep(Duration::from_micros(50));
                    if since.elapsed() >= HAND_OFF_AFTER {
                        blocking(nap);
                    } else {
                        nap();
                    }
                }
            }
        }
    }

    /// Holds the gate exclusive: a transaction or script, alone on the shard.
    pub fn exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.gate.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Returns true when some connection or transaction WATCHes keys (a relaxed load).
    #[inline]
    pub fn watching(&self) -> bool {
        self.watching.load(Relaxed) != 0
    }

    /// Marks the WATCH tokens on `keys` dirty; one relaxed load when nothing is watched.
    ///
    /// Called after a write, under the gate: EXEC's check (gate exclusive) sees it.
    pub fn touch<'a>(&self, keys: impl IntoIterator<Item = &'a Bytes>) {
        if self.watching.load(Relaxed) == 0 {
            return;
        }
        let mut w = lock(&self.watches);
        let Watches { by_key, tokens, .. } = &mut *w;
        for key in keys {
            for token in by_key.get(key).into_iter().flatten() {
                if let Some(t) = tokens.get_mut(token) {
                    t.dirty = true;
                }
            }
        }
    }

    /// Marks every WATCH token dirty (FLUSHALL, FLUSHDB).
    pub fn touch_all(&self) {
        if self.watching.load(Relaxed) == 0 {
            return;
        }
        for t in lock(&self.watches).tokens.values_mut() {
            t.dirty = true;
        }
    }

    /// Registers `keys` under `token` (WATCH).
    pub fn watch(&self, token: u64, keys: &[Bytes]) {
        let now = Instant::now();
        let mut w = lock(&self.watches);
        sweep(&mut w, now);
        let t = w.tokens.entry(token).or_insert_with(|| Token {
            dirty: false,
            keys: Vec::new(),
            used: now,
        });
        t.used = now;
        let mut fresh = Vec::new();
        for key in keys {
            if !t.keys.contains(key) {
                t.keys.push(key.clone());
                fresh.push(key.clone());
            }
        }
        for key in fresh {
            w.by_key.entry(key).or_default().push(token);
        }
        self.watching.store(w.tokens.len(), SeqCst);
    }

    /// Drops `token`, returning true when none of its keys changed since WATCH. An unknown
    /// token (never registered here, or dropped after its lease) counts as changed.
    pub fn unwatch(&self, token: u64) -> bool {
        let mut w = lock(&self.watches);
        let Some(t) = w.tokens.remove(&token) else {
            return false;
        };
        for key in &t.keys {
            if let Some(list) = w.by_key.get_mut(key) {
                list.retain(|x| *x != token);
                if list.is_empty() {
                    w.by_key.remove(key);
                }
            }
        }
        self.watching.store(w.tokens.len(), SeqCst);
        !t.dirty
    }

    /// Returns true when one of `keys` is locked by a transaction other than `token`.
    pub fn locked_by_other<'a>(
        &self,
        token: u64,
        keys: impl IntoIterator<Item = &'a Bytes>,
    ) -> bool {
        if self.locked.load(Relaxed) == 0 {
            return false;
        }
        let now = Instant::now();
        let l = lock(&self.locks);
        keys.into_iter().any(|k| {
            l.by_key
                .get(k)
                .is_some_and(|(t, until)| *t != token && *until > now)
        })
    }

    /// Phase one: locks `keys` for `token` until `lease` from now, after checking WATCH's
    /// `watch_token` (0: none). Takes nothing when it fails. Call with the gate exclusive.
    ///
    /// # Errors
    /// `Locked` when another live transaction holds a key, `Dirty` when a WATCHed key changed.
    pub fn prepare(
        &self,
        token: u64,
        watch_token: u64,
        lease: Duration,
        keys: &[Bytes],
    ) -> Result<(), LockError> {
        if self.locked_by_other(token, keys) {
            return Err(LockError::Locked);
        }
        if watch_token != 0 && !self.unwatch(watch_token) {
            return Err(LockError::Dirty);
        }
        let until = Instant::now() + lease;
        let mut l = lock(&self.locks);
        for key in keys {
            l.by_key.insert(key.clone(), (token, until));
        }
        l.tokens
            .entry(token)
            .or_default()
            .extend(keys.iter().cloned());
        self.locked.store(l.tokens.len(), SeqCst);
        Ok(())
    }

    /// Returns true when `token` still holds every key it locked (its lease not passed, or
    /// passed with no one else taking the key).
    pub fn holds(&self, token: u64) -> bool {
        let l = lock(&self.locks);
        let Some(keys) = l.tokens.get(&token) else {
            return false;
        };
        keys.iter()
            .all(|k| l.by_key.get(k).is_some_and(|(t, _)| *t == token))
    }

    /// Releases `token`'s locks (phase two's end, ABORT).
    pub fn unlock(&self, token: u64) {
        let mut l = lock(&self.locks);
        if let Some(keys) = l.tokens.remove(&token) {
            for key in keys {
                if l.by_key.get(&key).is_some_and(|(t, _)| *t == token) {
                    l.by_key.remove(&key);
                }
            }
        }
        // Leases that passed and were never released: their holders are gone.
        let now = Instant::now();
        let stale: Vec<u64> = l
            .by_key
            .values()
            .filter(|(_, until)| *until <= now)
            .map(|(t, _)| *t)
            .collect();
        for t in stale {
            if let Some(keys) = l.tokens.remove(&t) {
                for key in keys {
                    if l.by_key.get(&key).is_some_and(|(x, _)| *x == t) {
                        l.by_key.remove(&key);
                    }
                }
            }
        }
        self.locked.store(l.tokens.len(), SeqCst);
    }

    /// Returns how many transactions hold key locks, and how many WATCH tokens are live.
    pub fn counts(&self) -> (usize, usize) {
        (self.locked.load(SeqCst), self.watching.load(SeqCst))
    }
}

/// Drops WATCH tokens unused for [`WATCH_LEASE`], at most once a second.
fn sweep(w: &mut Watches, now: Instant) {
    if w.swept
        .is_some_and(|at| now.duration_since(at) < Duration::from_secs(1))
    {
        return;
    }
    w.swept = Some(now);
    let old: Vec<u64> = w
        .tokens
        .iter()
        .filter(|(_, t)| now.duration_since(t.used) > WATCH_LEASE)
        .map(|(k, _)| *k)
        .collect();
    for token in old {
        if let Some(t) = w.tokens.remove(&token) {
            for key in t.keys {
                if let Some(list) = w.by_key.get_mut(&key) {
                    list.retain(|x| *x != token);
                    if list.is_empty() {
                        w.by_key.remove(&key);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    #[test]
    fn a_write_dirties_the_tokens_watching_its_key_only() {
        let t = Txn::default();
        t.watch(1, &[b("a")]);
        t.watch(2, &[b("b")]);
        t.touch([&b("a")]);
        assert!(!t.unwatch(1));
        assert!(t.unwatch(2));
        assert!(!t.unwatch(3), "an unknown token counts as changed");
        assert_eq!(t.counts(), (0, 0));
    }

    #[test]
    fn locks_exclude_other_tokens_until_released_or_expired() {
        let t = Txn::default();
        let keys = [b("a"), b("b")];
        assert_eq!(t.prepare(1, 0, Duration::from_secs(10), &keys), Ok(()));
        assert_eq!(
            t.prepare(2, 0, Duration::from_secs(10), &keys[1..]),
            Err(LockError::Locked)
        );
        assert!(t.holds(1));
        t.unlock(1);
        assert_eq!(t.prepare(2, 0, Duration::ZERO, &keys[1..]), Ok(()));
        // Token 2's lease is already over: anyone may take its keys, and then it holds nothing.
        assert_eq!(t.prepare(3, 0, Duration::from_secs(10), &keys), Ok(()));
        assert!(!t.holds(2));
        t.watch(9, &[b("w")]);
        t.touch([&b("w")]);
        assert_eq!(
            t.prepare(4, 9, Duration::from_secs(10), &[b("w")]),
            Err(LockError::Dirty)
        );
    }
}
