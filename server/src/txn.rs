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
//!   token and keeps the group's commands (its part); transactions, scripts and plain writes
//!   on those keys wait (`TXNLOCKED` to a router, which retries). A part stays until COMMIT
//!   or ABORT: past its lease its keys stay locked, and whoever finds them so asks the
//!   coordinator group (`TXN RESOLVE`) whether it committed. Decisions are kept
//!   [`REPLIES_KEPT`], so a late COMMIT or PREPARE gets the same answer; the coordinator
//!   keeps a commit until the router says every group committed (`TXN FORGET`), for at
//!   most [`COMMIT_KEPT`]: a RESOLVE must never find it forgotten while a part waits.
//!
use std::collections::HashMap;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use protocol::{Command, Frame};
use serve::sync::lock;

use crate::script::Placement;

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

/// How long a shard remembers what became of a transaction (committed, with its replies,
/// or aborted): a slow router's late COMMIT, or a resolver's, within this gets the answer.
/// Safety does not need it (an aborted part is gone, and COMMIT without a part runs
/// nothing); only the coordinator's commit must last, below.
pub const REPLIES_KEPT: Duration = Duration::from_secs(30);

/// How long a coordinator keeps a commit no `TXN FORGET` ended (its router died during
/// phase two): a group still holding its part past this (no one touched its keys for an
/// hour) would be resolved as aborted. The entries are a token and a time each.
pub const COMMIT_KEPT: Duration = Duration::from_secs(3600);

#[derive(Debug, Default)]
struct Locks {
    /// Each locked key's transaction.
    by_key: HashMap<Bytes, u64>,
    prepared: HashMap<u64, Part>,
    decided: HashMap<u64, Decided>,
    swept: Option<Instant>,
}

/// What phase one leaves on a group: the commands to run at COMMIT, and whom to ask once
/// the lease ended with no COMMIT.
#[derive(Debug)]
pub struct Part {
    /// This group's queued commands.
    pub cmds: Vec<Command>,
    /// Which group this is, of how many (a script among the commands stays on it).
    pub placement: Option<Placement>,
    /// The coordinator's group number (the first group of the transaction).
    pub coordinator: u64,
    /// This group is the coordinator: its commit is the decision, kept until FORGET.
    pub coordinates: bool,
    /// When others may resolve the transaction instead of waiting for its router.
    pub until: Instant,
    /// The keys locked (filled in by [`Txn::prepare`]).
    pub keys: Vec<Bytes>,
}

#[derive(Debug)]
enum Decision {
    /// Ran here, with this reply (the EXEC array's part) while it is kept.
    Committed(Option<Frame>),
    Aborted,
}

/// A decision, when it was made, and whether this group is the transaction's coordinator.
#[derive(Debug)]
struct Decided {
    decision: Decision,
    at: Instant,
    coordinator: bool,
}

/// A transaction that holds a key, as a `TXNLOCKED` reply names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub token: u64,
    pub coordinator: u64,
    /// Its lease ended: its router is dead or stalled; resolve it at the coordinator.
    pub expired: bool,
}

impl Holder {
    /// `-TXNLOCKED token coordinator expired text`: the router waits, or resolves it.
    pub fn reply(&self) -> Frame {
        Frame::error_owned(format!(
            "TXNLOCKED {} {} {} a key is locked by another transaction",
            self.token,
            self.coordinator,
            u8::from(self.expired)
        ))
    }
}

/// What COMMIT finds.
#[derive(Debug)]
pub enum Commit {
    /// The prepared part: run it, then [`Txn::committed`].
    Run(Vec<Command>, Option<Placement>),
    /// It committed already (a second COMMIT: the slow router's and a resolver's): its
    /// reply, while kept.
    Again(Option<Frame>),
    /// It was aborted (a resolver found the lease over first): nothing runs.
    Aborted,
    /// Nothing known: this shard restarted since PREPARE (a cache keeps no prepared parts).
    Gone,
}

/// Why phase one could not lock.
#[derive(Debug, PartialEq, Eq)]
pub enum LockError {
    /// Another transaction holds one of the keys: retry, or resolve it once expired.
    Locked(Holder),
    /// A WATCHed key changed: the transaction fails (EXEC answers nil).
    Dirty,
    /// The transaction was resolved (aborted) here before this PREPARE arrived.
    Decided,
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
        self.holder(token, keys).is_some()
    }

    /// Returns the transaction that holds a key of `cmd` when `cmd` writes: a plain write
    /// must wait for it. One relaxed load when no transaction holds keys on this shard.
    #[inline]
    pub fn write_blocked(&self, cmd: &Command) -> Option<Holder> {
        if self.locked.load(Relaxed) == 0 {
            return None;
        }
        self.write_blocked_slow(cmd)
    }

    #[cold]
    fn write_blocked_slow(&self, cmd: &Command) -> Option<Holder> {
        if !cmd.spec().flags.contains(protocol::command::Flags::WRITE) {
            return None;
        }
        self.holder(0, cmd.keys())
    }

    /// Returns the transaction other than `token` that locks one of `keys`, if any: what a
    /// `TXNLOCKED` reply names, so that whoever finds its lease over can resolve it.
    pub fn holder<'a>(
        &self,
        token: u64,
        keys: impl IntoIterator<Item = &'a Bytes>,
    ) -> Option<Holder> {
        if self.locked.load(Relaxed) == 0 {
            return None;
        }
        let now = Instant::now();
        let l = lock(&self.locks);
        keys.into_iter().find_map(|k| {
            let held = l.by_key.get(k).filter(|t| **t != token)?;
            let part = l.prepared.get(held)?;
            Some(Holder {
                token: *held,
                coordinator: part.coordinator,
                expired: part.until <= now,
            })
        })
    }

    /// Phase one: checks WATCH's `watch_token` (0: none), then locks the keys of `cmds` and
    /// `watched` for `token` and keeps `cmds` to run at COMMIT. The part stays until COMMIT
    /// or ABORT: when its lease ends the keys stay locked, and whoever finds them so asks
    /// the coordinator group what was decided (`TXN RESOLVE`). Call with the gate exclusive.
    ///
    /// # Errors
    /// `Locked` when another transaction holds a key, `Dirty` when a WATCHed key changed,
    /// `Decided` when `token` was already resolved here (a late PREPARE: refused).
    pub fn prepare(
        &self,
        token: u64,
        watch_token: u64,
        part: Part,
        watched: &[Bytes],
    ) -> Result<(), LockError> {
        let keys: Vec<Bytes> = part
            .cmds
            .iter()
            .flat_map(|c| c.keys().cloned())
            .chain(watched.iter().cloned())
            .collect();
        if let Some(holder) = self.holder(token, &keys) {
            return Err(LockError::Locked(holder));
        }
        let mut l = lock(&self.locks);
        sweep_decisions(&mut l, Instant::now());
        if l.decided.contains_key(&token) {
            return Err(LockError::Decided);
        }
        drop(l);
        if watch_token != 0 && !self.unwatch(watch_token) {
            return Err(LockError::Dirty);
        }
        let mut l = lock(&self.locks);
        for key in &keys {
            l.by_key.insert(key.clone(), token);
        }
        let entry = l.prepared.entry(token).or_insert(Part {
            keys: Vec::new(),
            ..part
        });
        entry.keys.extend(keys);
        self.locked.store(l.prepared.len(), SeqCst);
        Ok(())
    }

    /// Phase two: takes `token`'s prepared part off the locks, to be run now (its keys stay
    /// locked until [`committed`](Self::committed)), or says why there is none. Call with
    /// the gate exclusive.
    pub fn commit(&self, token: u64) -> Commit {
        let mut l = lock(&self.locks);
        sweep_decisions(&mut l, Instant::now());
        if let Some(part) = l.prepared.get(&token) {
            // The part stays, its keys locked, until `committed`.
            return Commit::Run(part.cmds.clone(), part.placement);
        }
        match l.decided.get(&token).map(|d| &d.decision) {
            Some(Decision::Committed(reply)) => Commit::Again(reply.clone()),
            Some(Decision::Aborted) => Commit::Aborted,
            None => Commit::Gone,
        }
    }

    /// Records that `token`'s part ran with `reply`, and releases its keys.
    pub fn committed(&self, token: u64, reply: Frame) {
        let mut l = lock(&self.locks);
        let coordinator = l.prepared.get(&token).is_some_and(|p| p.coordinates);
        release(&mut l, token);
        let decided = Decided {
            decision: Decision::Committed(Some(reply)),
            at: Instant::now(),
            coordinator,
        };
        l.decided.insert(token, decided);
        self.locked.store(l.prepared.len(), SeqCst);
    }

    /// Drops `token`'s part and releases its keys (ABORT), and remembers it aborted so that
    /// a late PREPARE or COMMIT is refused. Returns false, changing nothing, when `token`
    /// committed here.
    pub fn abort(&self, token: u64) -> bool {
        let mut l = lock(&self.locks);
        if matches!(
            l.decided.get(&token).map(|d| &d.decision),
            Some(Decision::Committed(_))
        ) {
            return false;
        }
        release(&mut l, token);
        let decided = Decided {
            decision: Decision::Aborted,
            at: Instant::now(),
            coordinator: false,
        };
        l.decided.insert(token, decided);
        self.locked.store(l.prepared.len(), SeqCst);
        true
    }

    /// `TXN FORGET` on the coordinator: every group committed, the decision is no longer
    /// needed.
    pub fn forget(&self, token: u64) {
        lock(&self.locks).decided.remove(&token);
    }

    /// `TXN RESOLVE` on the coordinator group: true when `token` committed here, else it is
    /// aborted here for good (its part, if still prepared, dropped) and false. The two
    /// outcomes are exclusive, with the gate exclusive: a COMMIT that arrives after an
    /// abort is refused, a RESOLVE after a commit answers committed.
    pub fn resolve(&self, token: u64) -> bool {
        !self.abort(token)
    }

    /// Returns how many transactions hold key locks, and how many WATCH tokens are live.
    /// Returns how many transactions hold key locks, and how many WATCH tokens are live.
    pub fn counts(&self) -> (usize, usize) {
        (self.locked.load(SeqCst), self.watching.load(SeqCst))
    }
}

/// Releases `token`'s keys and drops its part.
fn release(l: &mut Locks, token: u64) {
    if let Some(part) = l.prepared.remove(&token) {
        for key in part.keys {
            if l.by_key.get(&key) == Some(&token) {
                l.by_key.remove(&key);
            }
        }
    }
}

/// Forgets decisions older than [`REPLIES_KEPT`], but a coordinator's commit no FORGET
/// ended, which loses its replies then and goes after [`COMMIT_KEPT`]; at most once a second.
fn sweep_decisions(l: &mut Locks, now: Instant) {
    if l.swept
        .is_some_and(|at| now.duration_since(at) < Duration::from_secs(1))
    {
        return;
    }
    l.swept = Some(now);
    l.decided.retain(|_, d| {
        let age = now.duration_since(d.at);
        if age < REPLIES_KEPT {
            return true;
        }
        match &mut d.decision {
            Decision::Committed(reply) if d.coordinator && age < COMMIT_KEPT => {
                *reply = None;
                true
            }
            _ => false,
        }
    });
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

    fn part(cmds: &[&str], lease: Duration) -> Part {
        let cmds = cmds
            .iter()
            .map(|c| {
                let args = c.split(' ').map(b).collect();
                let request = protocol::Request {
                    args,
                    raw: Bytes::new(),
                    inline: true,
                };
                Command::from_request(request).unwrap()
            })
            .collect();
        Part {
            cmds,
            placement: None,
            coordinator: 0,
            coordinates: true,
            until: Instant::now() + lease,
            keys: Vec::new(),
        }
    }

    #[test]
    fn locks_hold_past_the_lease_until_commit_abort_or_resolve() {
        let t = Txn::default();
        let long = Duration::from_secs(10);
        assert_eq!(
            t.prepare(1, 0, part(&["SET a 1", "GET b"], long), &[]),
            Ok(())
        );
        let Err(LockError::Locked(h)) = t.prepare(2, 0, part(&["GET b"], long), &[]) else {
            panic!("b is locked by 1");
        };
        assert_eq!((h.token, h.expired), (1, false));
        assert!(matches!(t.commit(1), Commit::Run(c, _) if c.len() == 2));
        t.committed(1, Frame::Integer(7));
        assert!(matches!(
            t.commit(1),
            Commit::Again(Some(Frame::Integer(7)))
        ));
        assert!(t.resolve(1), "RESOLVE after a commit: committed");
        t.forget(1);
        assert!(
            matches!(t.commit(1), Commit::Gone),
            "forgotten once every group ran"
        );
        // Token 2's lease is already over: its keys stay locked, marked expired.
        assert_eq!(
            t.prepare(2, 0, part(&["GET b"], Duration::ZERO), &[]),
            Ok(())
        );
        let h = t.holder(3, &[b("b")]).unwrap();
        assert_eq!((h.token, h.expired), (2, true));
        assert!(!t.resolve(2), "RESOLVE before a commit: aborted");
        assert!(matches!(t.commit(2), Commit::Aborted));
        assert_eq!(
            t.prepare(2, 0, part(&["GET b"], long), &[]),
            Err(LockError::Decided)
        );
        assert_eq!(t.prepare(3, 0, part(&["GET b"], long), &[]), Ok(()));
        assert!(matches!(t.commit(4), Commit::Gone));
        t.watch(9, &[b("w")]);
        t.touch([&b("w")]);
        assert_eq!(
            t.prepare(4, 9, part(&["GET w"], long), &[]),
            Err(LockError::Dirty)
        );
        assert!(t.abort(3));
        assert_eq!(t.counts(), (0, 0));
    }
}
