//! Growing and shrinking a live cluster: the topology as an epoch-numbered value that
//! changes only into a successor, and the keys that move with it (docs/operations.md).
//!
//! ```text
//! --topology FILE (reread on change, SIGHUP) ─┐
//! JUMPCACHE RESIZE (jumpcache cluster) ───────┼▶ Elastic::propose ─▶ announce (JUMPCACHE EPOCH
//! -STALEEPOCH from a shard ─▶ Elastic::resync ┘   to every member) ─▶ View swapped ─▶ mover
//! data path: View::moving_key ─▶ settle (EXPORT old ─▶ IMPORT new ─▶ DROP old) ─▶ command
//! ```
//! - Jump hash adds or removes only the last bucket, so a key moves between exactly two
//!   groups: its owner under the previous topology and under the new one.
//! - The shards hold the truth: every member learns the epoch (and the groups keys are
//!   leaving) before any router routes by it, and fences connections stamped with an older
//!   epoch. A router that has not seen the change gets `-STALEEPOCH` and learns it from the
//!   shards (`resync`), then retries; so routers need no coordinator and no shared file.
//! - A key is moved by copying it to its new owner only if that owner never had it during
//!   the resize (the shard keeps tombstones of what it removed), then dropping the old copy;
//!   any router may move any key any number of times, in any interleaving, to the same end.
//! - One resize at a time: a topology that arrives while keys move waits for them.

mod command;
mod learn;
mod mover;
mod settle;
mod watch;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use bytes::{Bytes, BytesMut};
use protocol::Frame;
use serve::sync::lock;
use serve::{LocalShard, Shutdown};
use tokio::sync::watch as channel;
use tokio::task::AbortHandle;

use crate::config::Config;
use crate::path::topology::Topology;
use crate::replication::group::Group;
use crate::replication::{health, sync};
use crate::shards::{LocalShards, Reply};

pub(crate) use command::{command, export, section};
pub(crate) use settle::settle_keys;

/// Starts one more in-process shard (`jumpcache cluster`'s `JUMPCACHE RESIZE`): its
/// listener's address and its entry point.
pub type ShardFactory = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = std::io::Result<(String, Arc<dyn LocalShard>)>> + Send>>
        + Send
        + Sync,
>;

/// Where keys go now.
#[derive(Debug)]
pub(crate) struct View {
    pub(crate) topology: Topology,
    /// One per bucket, in bucket order.
    pub(crate) groups: Vec<Arc<Group>>,
    /// The resize whose keys are still moving.
    pub(crate) moving: Option<Arc<Moving>>,
}

/// A resize in progress: the topology keys are leaving, and how far it got.
#[derive(Debug)]
pub(crate) struct Moving {
    pub(crate) from: Topology,
    /// The previous topology's groups (a shrink's removed groups among them).
    pub(crate) from_groups: Vec<Arc<Group>>,
    /// Keys this router moved in this resize (the mover's and the data path's).
    pub(crate) moved: AtomicU64,
    /// The keys expected to move, estimated when the mover started.
    pub(crate) expected: AtomicU64,
}

impl View {
    /// Returns the groups a key moves between, old then new, when it is moving now.
    pub(crate) fn moving_key(&self, key: &[u8]) -> Option<(&Arc<Moving>, usize, usize)> {
        let moving = self.moving.as_ref()?;
        let (from, to) = (moving.from.shard_for(key), self.topology.shard_for(key));
        (from != to).then_some((moving, from, to))
    }

    /// Returns every group that holds keys: the current ones and, during a shrink, the ones
    /// being emptied.
    pub(crate) fn all_groups(&self) -> Vec<Arc<Group>> {
        let mut all = self.groups.clone();
        if let Some(m) = &self.moving {
            all.extend(m.from_groups.iter().skip(self.groups.len()).cloned());
        }
        all
    }
}

/// The figures INFO's `# Topology` section and the metrics show.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) reload_errors: AtomicU64,
    /// Keys moved by this router, over every resize.
    pub(crate) moved: AtomicU64,
    /// Keys moved in the last resize that ended.
    pub(crate) last_moved: AtomicU64,
}

/// The router's topology, its changes, and the background tasks of its groups.
pub struct Elastic {
    view: ArcSwap<View>,
    config: Config,
    local: Mutex<LocalShards>,
    factory: Option<ShardFactory>,
    stop: Shutdown,
    /// Each group's health checks and sync worker, by the group's address in memory.
    tasks: Mutex<HashMap<usize, Vec<AbortHandle>>>,
    /// One change at a time.
    change: tokio::sync::Mutex<()>,
    /// A topology that arrived while keys were moving.
    pending: Mutex<Option<Topology>>,
    /// Every group holding keys, for the metrics poll and the readiness probe.
    groups_tx: channel::Sender<Vec<Arc<Group>>>,
    pub(crate) counters: Counters,
    file: Option<PathBuf>,
    /// The epoch this router's connections carry (see `stamp`).
    stamped: channel::Sender<u64>,
    /// The router's counters: the mover slows down while clients send commands.
    stats: Arc<serve::stats::Stats>,
}

impl std::fmt::Debug for Elastic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Elastic(epoch {})", self.view().topology.epoch())
    }
}

impl Elastic {
    /// Returns the router's topology control over `topology`, its groups' tasks started.
    pub(crate) fn new(
        topology: Topology,
        config: Config,
        local: LocalShards,
        factory: Option<ShardFactory>,
        file: Option<PathBuf>,
        stats: Arc<serve::stats::Stats>,
        stop: Shutdown,
    ) -> Arc<Elastic> {
        let groups: Vec<Arc<Group>> = (topology.groups().iter().enumerate())
            .map(|(i, members)| Arc::new(Group::new(i, members, &config, &local)))
            .collect();
        let (groups_tx, _) = channel::channel(groups.clone());
        let elastic = Arc::new(Elastic {
            view: ArcSwap::from_pointee(View {
                topology,
                groups: groups.clone(),
                moving: None,
            }),
            config,
            local: Mutex::new(local),
            factory,
            stop,
            tasks: Mutex::new(HashMap::new()),
            change: tokio::sync::Mutex::new(()),
            pending: Mutex::new(None),
            groups_tx,
            counters: Counters::default(),
            file,
            stamped: channel::channel(0).0,
            stats,
        });
        let epoch = elastic.view().topology.epoch();
        for g in &groups {
            elastic.start_tasks(g);
            if epoch > 0 {
                // Stamped from the first connection on: until this router has joined the
                // shards' epoch, a shard that knows a newer one fences it.
                let stamp = encode(&[
                    Bytes::from_static(b"JUMPCACHE"),
                    Bytes::from_static(b"EPOCH"),
                    Bytes::from(epoch.to_string()),
                ]);
                g.members
                    .iter()
                    .for_each(|m| m.client.set_hello(stamp.clone()));
            }
        }
        elastic
    }

    /// Returns where keys go now (cheap: no lock, no reference count on the hot path).
    pub(crate) fn view(&self) -> arc_swap::Guard<Arc<View>> {
        self.view.load()
    }

    /// Returns how many commands the router's clients sent so far.
    fn client_commands(&self) -> u64 {
        self.stats.commands_processed.load(Relaxed)
    }

    /// Returns every group holding keys, and changes to that list.
    pub(crate) fn groups(&self) -> channel::Receiver<Vec<Arc<Group>>> {
        self.groups_tx.subscribe()
    }

    /// Learns where the shards are (a router restarted mid-resize resumes it; one started
    /// with a newer file than the shards resizes them), within twice the shard timeout,
    /// then follows the topology file.
    pub(crate) async fn start(self: &Arc<Self>) {
        let deadline = self.config.shard_timeout() * 2;
        if tokio::time::timeout(deadline, self.join()).await.is_err() {
            tracing::warn!("shards did not say their topology in time; serving on the file's");
        }
        self.resume_mover();
        if let Some(path) = &self.file {
            tokio::spawn(watch::run(self.clone(), path.clone(), self.stop.clone()));
        }
    }

    /// Starts group `g`'s health checks and, when it has replicas, its sync worker.
    fn start_tasks(&self, g: &Arc<Group>) {
        let mut handles = Vec::new();
        for m in 0..g.members.len() {
            let task = health::run_checks(
                g.clone(),
                m,
                self.config.health_interval(),
                self.config.shard_timeout(),
                self.stop.clone(),
            );
            handles.push(tokio::spawn(task).abort_handle());
        }
        if g.members.len() > 1 {
            let task =
                sync::run_worker(g.clone(), self.config.health_interval(), self.stop.clone());
            handles.push(tokio::spawn(task).abort_handle());
        }
        lock(&self.tasks).insert(Arc::as_ptr(g) as usize, handles);
    }

    /// Stops every group's tasks (the router is stopping).
    pub(crate) fn stop_tasks(&self) {
        for handles in lock(&self.tasks).drain().map(|(_, h)| h) {
            handles.iter().for_each(AbortHandle::abort);
        }
    }

    /// Proposes `next` as the topology: applied now when it is a successor of the current
    /// one and no keys are moving, kept for later when keys are moving, refused (logged and
    /// counted, nothing changed) otherwise.
    ///
    /// # Errors
    /// Why it was refused.
    pub(crate) async fn propose(
        self: &Arc<Self>,
        next: Topology,
        source: &str,
    ) -> Result<String, String> {
        let _one = self.change.lock().await;
        let current = self.view.load_full();
        if next == current.topology && next.epoch() == current.topology.epoch() {
            return Ok("unchanged".into());
        }
        let checked = current.topology.check_successor(&next);
        if let Err(why) = &checked {
            if next.epoch() <= current.topology.epoch() && source != "file" {
                return Err(why.clone());
            }
            self.counters.reload_errors.fetch_add(1, Relaxed);
            tracing::error!(source, epoch = next.epoch(), reason = %why, "topology refused; serving on the current one");
            return Err(why.clone());
        }
        if current.moving.is_some() {
            tracing::info!(
                source,
                epoch = next.epoch(),
                "topology accepted; applied once the keys of the current resize have moved"
            );
            *lock(&self.pending) = Some(next);
            return Ok("queued".into());
        }
        self.apply(&current, next, true).await
    }

    /// Makes `next` the topology: its groups built, every member told, then the view swapped
    /// and, when the number of groups changed, the mover started.
    async fn apply(
        self: &Arc<Self>,
        current: &View,
        next: Topology,
        moves: bool,
    ) -> Result<String, String> {
        let groups = self.build_groups(current, &next);
        let moving = (moves && next.len() != current.topology.len()).then(|| {
            Arc::new(Moving {
                from: current.topology.clone(),
                from_groups: current.groups.clone(),
                moved: AtomicU64::new(0),
                expected: AtomicU64::new(0),
            })
        });
        let view = View {
            topology: next,
            groups,
            moving,
        };
        if let Err(newer) = self.announce(&view).await {
            // A newer epoch is out there: learn it instead.
            drop(view);
            return Err(format!("the shards already have epoch {newer}"));
        }
        let epoch = view.topology.epoch();
        let (groups, moving) = (view.topology.len(), view.moving.is_some());
        self.install(view, current);
        self.stamp().await;
        tracing::info!(epoch, groups, moving, "topology applied");
        if moving {
            self.resume_mover();
        }
        Ok(format!("epoch {epoch}"))
    }

    /// Reuses the groups whose members did not change; builds (and starts) the others.
    fn build_groups(&self, current: &View, next: &Topology) -> Vec<Arc<Group>> {
        let local = lock(&self.local).clone();
        (next.groups().iter().enumerate())
            .map(|(i, members)| match current.groups.get(i) {
                Some(g) if current.topology.members(i) == members.as_slice() => g.clone(),
                old => {
                    let g = Arc::new(Group::new(i, members, &self.config, &local));
                    if old.is_some() {
                        joined(&g, current.topology.members(i));
                    }
                    self.start_tasks(&g);
                    g
                }
            })
            .collect()
    }

    /// Swaps in `view`, stops the tasks of groups no longer in it (nor being emptied), and
    /// tells the poll.
    fn install(&self, view: View, old: &View) {
        let keep: Vec<usize> = view
            .all_groups()
            .iter()
            .map(|g| Arc::as_ptr(g) as usize)
            .collect();
        let all = view.all_groups();
        self.view.store(Arc::new(view));
        // A new topology (or a resize's step): keys may now be read from other groups, whose
        // connections never tracked them; the near-cache (and the router's tracking
        // clients) start again.
        if let Some(near) = &self.config.near.0 {
            crate::shards::Invalidated::all(&**near);
        }
        let mut tasks = lock(&self.tasks);
        for g in old.all_groups() {
            let id = Arc::as_ptr(&g) as usize;
            if !keep.contains(&id) {
                if let Some(handles) = tasks.remove(&id) {
                    handles.iter().for_each(AbortHandle::abort);
                }
            }
        }
        drop(tasks);
        let _ = self.groups_tx.send(all);
    }

    /// Returns `JUMPCACHE <verb> <epoch> <groups> [<previous groups>]` for `view`.
    fn epoch_request(verb: &'static [u8], view: &View) -> Bytes {
        let mut args: Vec<Bytes> = vec![
            Bytes::from_static(b"JUMPCACHE"),
            Bytes::from_static(verb),
            Bytes::from(view.topology.epoch().to_string()),
            Bytes::from(view.topology.spec()),
        ];
        if let Some(m) = &view.moving {
            args.push(Bytes::from(m.from.spec()));
        }
        encode(&args)
    }

    /// Tells every member of every group holding keys the epoch of `view` (and, during a
    /// resize, the groups keys are leaving), without stamping this router's connections:
    /// from now on they are fenced until [`stamp`](Self::stamp). `Err(newer)` when a shard
    /// already has a newer epoch.
    async fn announce(&self, view: &View) -> Result<(), u64> {
        let request = Self::epoch_request(b"LEARN", view);
        let mut newest = 0;
        for g in view.all_groups() {
            for member in g.members.iter() {
                if let Ok(reply) = member.client.call(request.clone()).await {
                    if let Some(e) = stale_epoch_bytes(&reply) {
                        newest = newest.max(e);
                    }
                }
            }
        }
        if newest > view.topology.epoch() {
            Err(newest)
        } else {
            Ok(())
        }
    }

    /// Stamps every connection to every member with the current view's epoch (and makes it
    /// the hello of every reconnect), then lets fenced requests go again.
    async fn stamp(&self) {
        let view = self.view.load_full();
        let request = Self::epoch_request(b"EPOCH", &view);
        for g in view.all_groups() {
            for member in g.members.iter() {
                member.client.set_hello(request.clone());
                let _ = member.client.broadcast(request.clone()).await;
            }
        }
        self.stamped.send_replace(view.topology.epoch());
    }

    /// Waits (at most the shard timeout) until this router's connections carry `epoch`: a
    /// request fenced while they were being stamped is sent again after that.
    pub(crate) async fn stamped(&self, epoch: u64) {
        let mut rx = self.stamped.subscribe();
        let wait = rx.wait_for(|&e| e >= epoch);
        let _ = tokio::time::timeout(self.config.shard_timeout(), wait).await;
    }

    /// Starts the mover when keys are moving and it is not running.
    fn resume_mover(self: &Arc<Self>) {
        if let Some(moving) = self.view().moving.clone() {
            tokio::spawn(mover::run(self.clone(), moving, self.stop.clone()));
        }
    }

    /// Returns true while `moving` is this router's resize.
    fn is_moving(&self, moving: &Arc<Moving>) -> bool {
        self.view()
            .moving
            .as_ref()
            .is_some_and(|m| Arc::ptr_eq(m, moving))
    }

    /// Ends the resize `moving` once every key moved: tells every member, forgets the groups
    /// emptied by a shrink, then applies a topology that waited.
    async fn finish(self: &Arc<Self>, moving: &Arc<Moving>) {
        let pending = {
            let _one = self.change.lock().await;
            let current = self.view.load_full();
            let same = current
                .moving
                .as_ref()
                .is_some_and(|m| Arc::ptr_eq(m, moving));
            if !same {
                return;
            }
            let epoch = current.topology.epoch();
            let done = encode(&[
                Bytes::from_static(b"JUMPCACHE"),
                Bytes::from_static(b"DONE"),
                Bytes::from(epoch.to_string()),
            ]);
            for g in current.all_groups() {
                for member in g.members.iter() {
                    let _ = member.client.broadcast(done.clone()).await;
                }
            }
            let view = View {
                topology: current.topology.clone(),
                groups: current.groups.clone(),
                moving: None,
            };
            // Reconnects announce the epoch without the groups keys were leaving.
            let hello = Self::epoch_request(b"EPOCH", &view);
            for g in &view.groups {
                for member in g.members.iter() {
                    member.client.set_hello(hello.clone());
                }
            }
            self.install(view, &current);
            let moved = moving.moved.load(Relaxed);
            self.counters.last_moved.store(moved, Relaxed);
            tracing::info!(epoch, moved, "resize done: every key is on its group");
            lock(&self.pending).take()
        };
        if let Some(next) = pending {
            if let Err(e) = self.propose(next, "queued").await {
                tracing::warn!(reason = %e, "queued topology");
            }
        }
    }
}

/// Marks the members of `g` that were not among `before` (a member replaced in place, a
/// replica added) as syncing: they get writes, and reads only once the sync worker has copied
/// their peers' keys. With no member kept there is no peer to copy from: all serve at once.
fn joined(g: &Group, before: &[String]) {
    let kept = g
        .members
        .iter()
        .any(|m| before.iter().any(|b| b == m.client.addr()));
    if !kept {
        return;
    }
    for (m, member) in g.members.iter().enumerate() {
        if !before.iter().any(|b| b == member.client.addr()) {
            g.set_state(m, crate::replication::group::MemberState::Syncing);
        }
    }
    g.wake.notify_one();
}

/// Returns RESP bytes of a request.
pub(crate) fn encode(args: &[Bytes]) -> Bytes {
    let mut buf = BytesMut::new();
    protocol::encode::request(&mut buf, args.iter().map(|a| &a[..]));
    buf.freeze()
}

/// Returns the epoch a `-STALEEPOCH <n>` reply (RESP bytes) names.
pub(crate) fn stale_epoch_bytes(raw: &[u8]) -> Option<u64> {
    let text = raw.strip_prefix(b"-")?;
    let end = text.iter().position(|&b| b == b'\r').unwrap_or(text.len());
    stale_epoch_text(&text[..end])
}

/// Returns the epoch a reply names when it is `-STALEEPOCH <n>`.
pub(crate) fn stale_epoch(reply: &Reply) -> Option<u64> {
    match reply {
        Reply::Raw(raw) => stale_epoch_bytes(raw),
        Reply::Frame(Frame::Error(e)) => stale_epoch_text(e),
        Reply::Frame(_) => None,
    }
}

/// Reads `STALEEPOCH <n>`, an error's text without its `-` and line end.
fn stale_epoch_text(text: &[u8]) -> Option<u64> {
    std::str::from_utf8(text.strip_prefix(b"STALEEPOCH ")?)
        .ok()?
        .parse()
        .ok()
}
