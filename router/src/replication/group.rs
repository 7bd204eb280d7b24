//! A shard group: its members, their states, and which of them a read or a write reaches.
//!
//! ```text
//!            health check fails `--fail-after` times, or a connection error on the data path
//!   up ─────────────────────────────────────────────────────────────────────────▶ down
//!   │ ▲  a write it missed or answered differently                                 │
//!   ▼ │  (keys repaired from a healthy peer)                  `--rise-after` good checks
//!  stale                               up ◀── copied from a healthy peer ── syncing ◀┘
//! ```
//! - Reads go to `up` members only, chosen by `--read-policy`, and move to another `up`
//!   member when theirs fails, so a member dying mid-read costs the client nothing.
//! - Writes go to every member that is not `down` (so `stale` and `syncing` members stay
//!   current); the client gets the reply of the primary, or of the first member to answer
//!   under `--write-policy one`. A member that misses a write or answers it differently
//!   (INCR on a diverged value) becomes `stale` until the write's keys are repaired.
//! - A group of one member has no peer to fail over to or copy from: the data path goes
//!   straight to its [`ShardClient`] as if there were no groups (no atomics, no locks), and
//!   health checks only report its state.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serve::sync::lock;
use tokio::sync::Notify;

use crate::config::{Config, ReadPolicy, WritePolicy};
use crate::replication::call::{self, GroupCall, ReadCall};
use crate::shards::ShardId;
use crate::shards::{Call, LocalShards, ShardClient, ShardError, ShardErrorKind};

/// The lane of a member being synced: its writes and the copier's share one connection,
/// so they reach the member in the order they were queued (see `sync`).
pub(crate) const SYNC_LANE: u64 = 0;

/// Repairs beyond this many keys become a full re-sync (flush, then copy everything).
const MAX_REPAIR_KEYS: usize = 100_000;

/// A member's state, as INFO shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum MemberState {
    /// Serves reads and writes.
    Up = 0,
    /// Unreachable: gets no traffic.
    Down = 1,
    /// Missed or diverged on some writes: gets writes, no reads, until repaired.
    Stale = 2,
    /// Back after being down: gets writes, no reads, while it is copied from a peer.
    Syncing = 3,
}

impl MemberState {
    /// Returns the state's name in INFO and logs.
    pub fn name(self) -> &'static str {
        match self {
            MemberState::Up => "up",
            MemberState::Down => "down",
            MemberState::Stale => "stale",
            MemberState::Syncing => "syncing",
        }
    }

    fn from_u8(v: u8) -> MemberState {
        match v {
            0 => MemberState::Up,
            1 => MemberState::Down,
            2 => MemberState::Stale,
            _ => MemberState::Syncing,
        }
    }
}

/// Keys a member must have copied again from a healthy peer.
#[derive(Debug, Default)]
pub(crate) struct Repair {
    pub(crate) keys: HashSet<Bytes>,
    /// Too many keys, or a FLUSHALL missed: flush the member and copy everything.
    pub(crate) all: bool,
}

/// One member of a group.
#[derive(Debug)]
pub(crate) struct Member {
    pub(crate) client: ShardClient,
    state: AtomicU8,
    fails: AtomicU32,
    goods: AtomicU32,
    /// Passed a health check once: losing a member that never served is no failover.
    served: AtomicBool,
    /// Times this member was taken out of service after it had served.
    failovers: AtomicU64,
    /// The shard's `run_id` when last known in sync: a different one means a new process.
    pub(crate) run_id: Mutex<Option<String>>,
    pub(crate) repair: Mutex<Repair>,
}

/// The writes a group took while one member was being synced or repaired (see `sync`).
#[derive(Debug, Default)]
pub(crate) struct WriteLog {
    /// The member being synced; `None` when no sync runs.
    pub(crate) target: Option<usize>,
    /// Bumped by every write logged.
    pub(crate) seq: u64,
    /// Each key written while logging, with the `seq` of its last write.
    pub(crate) touched: HashMap<Bytes, u64>,
    /// FLUSHALL / FLUSHDB seen while logging.
    pub(crate) flushes: u64,
}

/// A shard group and its members, primary first.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) id: ShardId,
    pub(crate) members: Box<[Member]>,
    pub(crate) read_policy: ReadPolicy,
    pub(crate) write_policy: WritePolicy,
    fail_after: u32,
    rise_after: u32,
    next: AtomicUsize,
    /// True while `log.target` is set: writers then take the lock (replicated groups only).
    pub(crate) logging: AtomicBool,
    pub(crate) log: tokio::sync::Mutex<WriteLog>,
    /// Wakes the group's sync worker.
    pub(crate) wake: Notify,
    /// The near-cache, emptied whenever a member changes state: its values may have come
    /// from a member whose invalidations will no longer arrive (`--near-cache`).
    near: Option<std::sync::Arc<dyn crate::shards::Invalidated>>,
}

impl Group {
    /// Returns group `id` over `addrs`, every member optimistically up; members found in
    /// `local` run in this process and are called without a socket.
    pub(crate) fn new(
        id: ShardId,
        addrs: &[String],
        config: &Config,
        local: &LocalShards,
    ) -> Group {
        let near = || {
            config
                .near
                .0
                .clone()
                .map(|n| n as std::sync::Arc<dyn crate::shards::Invalidated>)
        };
        let client = |m: usize, addr: &String| match local.get(addr) {
            Some(shard) => ShardClient::local(id, m, addr, shard.clone(), near()),
            None => ShardClient::spawn_member(
                id,
                m,
                addr,
                config.shard_connections,
                config.shard_queue,
                config.shard_timeout(),
                config.shard_password.clone(),
                config.shard_tls.0.clone().filter(|_| config.tls_shards),
                near(),
            ),
        };
        let members = addrs
            .iter()
            .enumerate()
            .map(|(m, addr)| Member {
                client: client(m, addr),
                state: AtomicU8::new(MemberState::Up as u8),
                fails: AtomicU32::new(0),
                goods: AtomicU32::new(0),
                served: AtomicBool::new(false),
                failovers: AtomicU64::new(0),
                run_id: Mutex::new(None),
                repair: Mutex::new(Repair::default()),
            })
            .collect();
        Group {
            id,
            members,
            read_policy: config.read_policy,
            write_policy: config.write_policy,
            fail_after: config.fail_after,
            rise_after: config.rise_after,
            next: AtomicUsize::new(0),
            logging: AtomicBool::new(false),
            log: tokio::sync::Mutex::new(WriteLog::default()),
            wake: Notify::new(),
            near: near(),
        }
    }

    /// Returns the only member's client when the group has no replicas: the hot path.
    #[inline]
    pub(crate) fn single(&self) -> Option<&ShardClient> {
        match &*self.members {
            [only] => Some(&only.client),
            _ => None,
        }
    }

    /// Returns the primary's client (the first member).
    pub(crate) fn primary(&self) -> &ShardClient {
        // invariant: Config::validate rejects an empty group.
        &self.members[0].client
    }

    /// Returns member `m`'s state.
    pub(crate) fn state(&self, m: usize) -> MemberState {
        MemberState::from_u8(self.members[m].state.load(Ordering::SeqCst))
    }

    /// Returns true when a member is up and has passed a health check (`/readyz`).
    pub(crate) fn reachable(&self) -> bool {
        (0..self.members.len()).any(|m| {
            self.state(m) == MemberState::Up && self.members[m].served.load(Ordering::Relaxed)
        })
    }

    /// Returns how many times a member of this group was taken out of service.
    pub(crate) fn failovers(&self) -> u64 {
        (0..self.members.len())
            .map(|m| self.member_failovers(m))
            .sum()
    }

    /// Returns how many times member `m` was taken out of service.
    pub(crate) fn member_failovers(&self, m: usize) -> u64 {
        self.members[m].failovers.load(Ordering::Relaxed)
    }

    /// Moves member `m` to `to` and logs the transition, once; returns the old state.
    pub(crate) fn set_state(&self, m: usize, to: MemberState) -> MemberState {
        let from = MemberState::from_u8(self.members[m].state.swap(to as u8, Ordering::SeqCst));
        if from != to {
            self.flush_near();
            let addr = self.members[m].client.addr();
            if to == MemberState::Down {
                if self.members[m].served.load(Ordering::Relaxed) {
                    self.members[m].failovers.fetch_add(1, Ordering::Relaxed);
                }
                tracing::warn!(group = self.id, member = m, %addr, from = from.name(), "member down");
            } else {
                tracing::info!(group = self.id, member = m, %addr, from = from.name(), to = to.name(), "member state");
            }
        }
        from
    }

    /// Empties the near-cache, if any: a member failed over, came back or fell behind.
    fn flush_near(&self) {
        if let Some(near) = &self.near {
            near.all();
        }
    }

    /// Moves a synced or repaired member `m` to up, unless it went down meanwhile.
    pub(crate) fn promote(&self, m: usize) -> bool {
        let state = &self.members[m].state;
        let moved = [MemberState::Syncing, MemberState::Stale]
            .into_iter()
            .find(|from| {
                state
                    .compare_exchange(
                        *from as u8,
                        MemberState::Up as u8,
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    )
                    .is_ok()
            });
        if let Some(from) = moved {
            self.flush_near();
            let addr = self.members[m].client.addr();
            tracing::info!(group = self.id, member = m, %addr, from = from.name(), to = "up", "member state");
        }
        moved.is_some()
    }

    /// Takes member `m` out of service: no traffic until it is back and re-synced.
    pub(crate) fn mark_down(&self, m: usize) {
        self.members[m].goods.store(0, Ordering::Relaxed);
        self.set_state(m, MemberState::Down);
    }

    /// Records that member `m` missed a write of `keys` (`all`: a FLUSHALL, or unknown keys):
    /// they are copied again from a healthy peer before it serves reads.
    pub(crate) fn missed(&self, m: usize, keys: &[Bytes], all: bool) {
        let mut repair = lock(&self.members[m].repair);
        // Copied, not sliced: a key sliced from a client's read buffer pins the buffer.
        repair
            .keys
            .extend(keys.iter().map(|k| Bytes::copy_from_slice(k)));
        repair.all |= all || repair.keys.len() > MAX_REPAIR_KEYS;
    }

    /// Records that member `m` missed a write of `keys` (see [`missed`](Self::missed)) and
    /// stops its reads until the sync worker has repaired them.
    pub(crate) fn mark_stale(&self, m: usize, keys: &[Bytes], all: bool) {
        self.missed(m, keys, all);
        let _ = self.members[m].state.compare_exchange(
            MemberState::Up as u8,
            MemberState::Stale as u8,
            Ordering::SeqCst,
            Ordering::SeqCst,
        )
        .map(|_| {
            self.flush_near();
            let addr = self.members[m].client.addr();
            tracing::warn!(group = self.id, member = m, %addr, "member stale: missed or diverged on a write");
        });
        self.wake.notify_one();
    }

    /// Counts one health check of member `m`.
    pub(crate) fn on_check(&self, m: usize, ok: bool) {
        let member = &self.members[m];
        if ok {
            member.fails.store(0, Ordering::Relaxed);
            member.served.store(true, Ordering::Relaxed);
            let goods = member.goods.fetch_add(1, Ordering::Relaxed) + 1;
            if goods >= self.rise_after && self.state(m) == MemberState::Down {
                if self.members.len() == 1 {
                    self.set_state(m, MemberState::Up);
                } else {
                    self.wake.notify_one();
                }
            }
        } else {
            member.goods.store(0, Ordering::Relaxed);
            let fails = member.fails.fetch_add(1, Ordering::Relaxed) + 1;
            if fails >= self.fail_after {
                self.mark_down(m);
            }
        }
    }

    /// Returns true when member `m` is down but has passed enough checks to come back.
    pub(crate) fn ready_to_rise(&self, m: usize) -> bool {
        self.state(m) == MemberState::Down
            && self.members[m].goods.load(Ordering::Relaxed) >= self.rise_after
    }

    /// Returns an `up` member not in `tried` (a bit per member), by `policy`.
    pub(crate) fn reader(&self, tried: u32, policy: ReadPolicy) -> Option<usize> {
        let n = self.members.len();
        let ok = |m: &usize| tried & (1 << m) == 0 && self.state(*m) == MemberState::Up;
        match policy {
            ReadPolicy::Primary => (0..n).find(ok),
            ReadPolicy::RoundRobin => {
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                (0..n).map(|i| (start + i) % n).find(ok)
            }
            ReadPolicy::LeastLoaded => (0..n)
                .filter(ok)
                .min_by_key(|&m| self.members[m].client.in_flight()),
        }
    }

    /// Returns the error of a group with no member to serve a request.
    pub(crate) fn unavailable(&self) -> ShardError {
        ShardError {
            shard: self.id,
            addr: Arc::from(self.primary().addr()),
            kind: ShardErrorKind::Unavailable,
            request_sent: false,
        }
    }

    /// Starts a read: the only member, or an `up` one by the read policy (`sticky`: the
    /// first `up` member, for SCAN whose cursor belongs to one member).
    ///
    /// Cancel-safe, as [`ShardClient::send`] is.
    pub(crate) async fn send_read(
        self: &Arc<Self>,
        lane: u64,
        request: Bytes,
        sticky: bool,
    ) -> GroupCall {
        if let Some(client) = self.single() {
            return GroupCall::One(client.send(lane, request).await);
        }
        let policy = if sticky {
            ReadPolicy::Primary
        } else {
            self.read_policy
        };
        let Some(m) = self.reader(0, policy) else {
            return GroupCall::One(Call::Failed(self.unavailable()));
        };
        let call = self.members[m].client.send(lane, request.clone()).await;
        GroupCall::Read(Box::new(ReadCall {
            group: self.clone(),
            member: m,
            tried: 1 << m,
            call,
            request,
            lane,
            policy,
        }))
    }

    /// Starts a write of `keys` (`flush`: FLUSHALL/FLUSHDB) on every member not down.
    ///
    /// While a member is being synced, the write is logged and queued under the log's lock,
    /// on [`SYNC_LANE`] for that member, so the copier never overwrites it (see `sync`).
    /// Not cancel-safe once logging: a write may be queued on some members only.
    pub(crate) async fn send_write(
        self: &Arc<Self>,
        lane: u64,
        request: Bytes,
        keys: Vec<Bytes>,
        flush: bool,
    ) -> GroupCall {
        if let Some(client) = self.single() {
            return GroupCall::One(client.send(lane, request).await);
        }
        let n = self.members.len();
        // States are read before `logging`: a sync sets `logging` before the state.
        let mut targets: u32 = 0;
        for m in 0..n {
            if self.state(m) != MemberState::Down {
                targets |= 1 << m;
            } else {
                // Kept for its return: it is repaired key by key, not flushed, so a peer
                // router that already brought it back loses nothing (docs/operations.md).
                self.missed(m, &keys, flush);
            }
        }
        let mut calls = Vec::with_capacity(n);
        if self.logging.load(Ordering::SeqCst) {
            let mut log = self.log.lock().await;
            if let Some(target) = log.target {
                targets |= 1 << target;
                log.seq += 1;
                let seq = log.seq;
                if flush {
                    log.flushes += 1;
                }
                for key in &keys {
                    log.touched.insert(Bytes::copy_from_slice(key), seq);
                }
                for m in (0..n).filter(|m| targets & (1 << m) != 0) {
                    let lane = if m == target { SYNC_LANE } else { lane };
                    let call = self.members[m].client.send(lane, request.clone()).await;
                    calls.push((m, call));
                }
                drop(log);
                return call::write(self.clone(), calls, keys, flush);
            }
        }
        if targets == 0 {
            return GroupCall::One(Call::Failed(self.unavailable()));
        }
        for m in (0..n).filter(|m| targets & (1 << m) != 0) {
            calls.push((m, self.members[m].client.send(lane, request.clone()).await));
        }
        call::write(self.clone(), calls, keys, flush)
    }
}
