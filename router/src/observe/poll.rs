//! The router's metrics upkeep: once a second, ask every member of every shard group for
//! its figures (within the shard timeout), sum them, and copy the cluster's numbers, each
//! member's, and each member's state as the health checks see it into the metrics recorder.
//! The shards' memory settings become the router's `CONFIG GET maxmemory` and
//! `maxmemory-policy`.
//!
//! ```text
//! tick ─▶ info::send (ShardClient::send_figures) ─▶ FiguresCall::wait ─▶ MemberPoll::last
//!      ─▶ summary::summarise ─▶ stats::MemberSeries (per member), export_keyspace (sums),
//!                            │  export_persistence (the members' snapshots merged)
//!                            └▶ ServerConfig::maxmemory / maxmemory_policy (CONFIG GET)
//! ```
//! This poll decides nothing: members are taken out of service and brought back by the
//! PING health checks (`health`) and the sync worker (`sync`); the poll only reports.
//!
//! A `/metrics` scrape asks for a poll of its own (`Scrapes`) and waits for it, so a scrape
//! shows every counter as of that moment; the hot path only ever adds to atomics.
//!
//! A member that does not answer keeps its last figures in the sums (see `summary`), so a
//! down member does not look like a counter reset; it shows as `jumpcache_shard_up 0`.

use std::sync::Arc;
use std::time::Duration;

use serve::figures::ShardFigures;
use serve::session::ServerConfig;
use serve::stats::{export_keyspace, export_persistence, export_process, Stats};
use serve::Shutdown;
use tokio::sync::{mpsc, oneshot, watch};

use crate::observe::info;
use crate::observe::stats::{MemberSeries, MEMBERS, MEMBERS_UP, SHARDS, SHARDS_UP};
use crate::observe::summary::{summarise, GroupMembers, Member, Summary};
use crate::replication::group::{Group, MemberState};

/// How often the members are polled and the metrics refreshed.
const INTERVAL: Duration = Duration::from_secs(1);

/// Requests for a poll now, each answered once the metrics are up to date.
pub(crate) type Scrapes = mpsc::Receiver<oneshot::Sender<()>>;

/// What the polls learned about one member.
struct MemberPoll {
    series: MemberSeries,
    /// Its figures from the last poll it answered.
    last: Option<ShardFigures>,
}

/// What the polls learned about one group.
struct GroupPoll {
    members: Vec<MemberPoll>,
    /// The member the group was counted by at the last poll.
    counted: Option<usize>,
}

/// The poll's state between ticks.
struct Poller {
    groups: Vec<Arc<Group>>,
    polls: Vec<GroupPoll>,
    /// The router's own counters.
    stats: Arc<Stats>,
    /// What the router's `CONFIG GET` reports; shared with its sessions.
    config: ServerConfig,
    /// Polls so far: each goes down the next of a member's connections.
    round: u64,
}

/// Polls the members of `groups` (changed by a resize) and exports metrics until shutdown,
/// with `also`'s (the topology's); keeps `config`'s memory settings (shared with the
/// router's sessions) to what the shards report.
pub(crate) async fn run(
    mut groups: watch::Receiver<Vec<Arc<Group>>>,
    stats: Arc<Stats>,
    config: ServerConfig,
    mut scrapes: Scrapes,
    also: Box<dyn Fn() + Send>,
    shutdown: Shutdown,
) {
    let mut stop = shutdown.wait();
    let mut poller = Poller {
        polls: Vec::new(),
        groups: Vec::new(),
        stats,
        config,
        round: 0,
    };
    poller.set_groups(groups.borrow_and_update().clone());
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if groups.has_changed().unwrap_or(false) {
            poller.set_groups(groups.borrow_and_update().clone());
        }
        tokio::select! {
            _ = tick.tick() => {
                poller.poll(true).await;
                also();
            }
            Some(done) = scrapes.recv() => {
                poller.poll(false).await;
                also();
                let _ = done.send(());
                // Scrapes that came during this poll are answered by it too.
                while let Ok(done) = scrapes.try_recv() {
                    let _ = done.send(());
                }
            }
            () = &mut stop => return,
        }
    }
}

impl Poller {
    /// Polls `groups` from now on (a resize changed them); a group kept keeps what the
    /// polls learned of it.
    fn set_groups(&mut self, groups: Vec<Arc<Group>>) {
        let mut old: Vec<(Arc<Group>, GroupPoll)> =
            self.groups.drain(..).zip(self.polls.drain(..)).collect();
        for g in groups {
            let poll = match old.iter().position(|(o, _)| Arc::ptr_eq(o, &g)) {
                Some(i) => old.swap_remove(i).1,
                None => GroupPoll {
                    members: (0..g.members.len())
                        .map(|m| MemberPoll {
                            series: MemberSeries::new(g.id, m, g.members[m].client.addr()),
                            last: None,
                        })
                        .collect(),
                    counted: None,
                },
            };
            self.groups.push(g);
            self.polls.push(poll);
        }
    }

    /// Polls every member at once, waiting at most the shard timeout for the slowest, and
    /// reports what they said; `tick` moves INFO's latency windows on (once a second only).
    async fn poll(&mut self, tick: bool) {
        // A CONFIG SET while the shards are asked wins over what they answer now.
        let versions = (
            self.config.maxmemory.version(),
            self.config.maxmemory_policy.version(),
        );
        let answered = self.gather().await;
        let summary = summarise(&self.members(&answered));
        for ((group, gp), sum) in self.groups.iter().zip(&self.polls).zip(&summary.groups) {
            for (m, (mp, state)) in gp.members.iter().zip(&sum.states).enumerate() {
                export_member(group, m, mp, *state, tick);
            }
        }
        for (gp, sum) in self.polls.iter_mut().zip(&summary.groups) {
            gp.counted = sum.counted;
        }
        self.export_cluster(&summary, versions);
    }

    /// Asks every member for its figures and keeps those that came; returns who answered.
    async fn gather(&mut self) -> Vec<Vec<bool>> {
        self.round = self.round.wrapping_add(1);
        let calls = info::send(&self.groups, self.round).await;
        let mut answered = Vec::with_capacity(calls.len());
        for ((gp, calls), group) in self.polls.iter_mut().zip(calls).zip(&self.groups) {
            let mut got = Vec::with_capacity(calls.len());
            for (m, (mp, call)) in gp.members.iter_mut().zip(calls).enumerate() {
                let figures = call.wait().await;
                got.push(figures.is_some());
                if let Some(f) = &figures {
                    restarted(group, m, &f.run_id);
                }
                if figures.is_some() {
                    mp.last = figures;
                }
            }
            answered.push(got);
        }
        answered
    }

    /// Returns what `summarise` reads: each member's last figures, whether it answered now.
    fn members<'a>(&'a self, answered: &[Vec<bool>]) -> Vec<GroupMembers<'a>> {
        let groups = self.groups.iter().zip(&self.polls).zip(answered);
        groups
            .map(|((group, gp), answered)| GroupMembers {
                members: (gp.members.iter().zip(answered).enumerate())
                    .map(|(m, (mp, answered))| Member {
                        state: group.state(m),
                        figures: mp.last.as_ref(),
                        answered: *answered,
                    })
                    .collect(),
                counted_before: gp.counted,
            })
            .collect()
    }

    /// Exports the cluster's numbers and the router's own, and hands the shards' memory
    /// settings to `CONFIG GET`.
    fn export_cluster(&self, summary: &Summary, versions: (u64, u64)) {
        let members: usize = self.groups.iter().map(|g| g.members.len()).sum();
        metrics::gauge!(SHARDS).set(self.groups.len() as f64);
        metrics::gauge!(SHARDS_UP).set(summary.groups_up() as f64);
        metrics::gauge!(MEMBERS).set(members as f64);
        metrics::gauge!(MEMBERS_UP).set(summary.members_up() as f64);
        export_keyspace(&summary.keyspace);
        if let Some(persistence) = &summary.persistence {
            export_persistence(persistence);
        }
        self.stats.sample_ops();
        export_process(&self.stats);
        if let Some(policy) = &summary.maxmemory_policy {
            let (memory, policy_version) = versions;
            self.config
                .maxmemory
                .set_unless_changed(summary.keyspace.max_memory, memory);
            self.config
                .maxmemory_policy
                .set_unless_changed(policy.to_string(), policy_version);
        }
    }
}

/// Takes member `m` of a replicated group out of service when it answers with another
/// `run_id` than the one it was synced as: it restarted (empty, or from an old snapshot)
/// faster than the health checks noticed, so it is copied again before it serves.
pub(crate) fn restarted(group: &Group, m: usize, run_id: &str) {
    if group.members.len() < 2 || run_id.is_empty() {
        return;
    }
    let known = serve::sync::lock(&group.members[m].run_id).clone();
    if known.is_some_and(|k| k != run_id)
        && group.state(m) == crate::replication::group::MemberState::Up
    {
        tracing::warn!(
            group = group.id,
            member = m,
            "member restarted (a new run_id): copied again before it serves"
        );
        group.mark_down(m);
    }
}

/// Exports member `m` of `group`: its state, its last figures and the router's counters;
/// `tick` keeps a latency snapshot for INFO's window.
fn export_member(group: &Group, m: usize, mp: &MemberPoll, state: MemberState, tick: bool) {
    let metrics = group.members[m].client.metrics();
    if tick {
        metrics.latency.tick();
    }
    metrics.export_round_trips();
    let s = &mp.series;
    s.up.set(if state == MemberState::Up { 1.0 } else { 0.0 });
    s.set_state(state);
    s.failovers.absolute(group.member_failovers(m));
    s.export_figures(&mp.last.as_ref().map(|f| f.keyspace).unwrap_or_default());
    s.export(metrics);
}
