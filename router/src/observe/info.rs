//! Cluster INFO: the router's own sections, the shard groups' figures summed into Redis's
//! fields, and a `# Cluster` section with a line per group and, for replicated groups, per
//! member.
//!
//! ```text
//! send (every member, the client's lane) ─▶ collect (figures, states, round trips)
//!   ─▶ summary::summarise ─▶ render (own sections + Memory, Stats counters, Cluster, Keyspace)
//! ```
//! Redis's section layout is kept, so every INFO parser (redis-cli, exporters, client
//! libraries) reads the result as if from one server. Server, Clients, CPU, Commandstats and
//! Stats' traffic fields are the router's own; memory, keys and the keyspace counters are
//! the shards' summed, and `# Persistence` their snapshots merged (see `summary`). A member
//! that does not answer is `state=down` and INFO still answers, within the shard timeout.

use std::sync::Arc;

use protocol::Frame;
use serve::figures::{add_keyspace_stats, keyspace_section, memory_section, ShardFigures};
use serve::info::{persistence_section, render as render_text, replication_section};
use serve::info::{Section, Selector};
use serve::stats::{rss_bytes, Stats};

use crate::observe::summary::{summarise, GroupMembers, GroupSummary, Member, Summary};
use crate::replication::group::{Group, MemberState};
use crate::shards::FiguresCall;

/// Redis's section order; a section not listed here goes before the keyspace.
const ORDER: &[&str] = &[
    "Server",
    "Clients",
    "Memory",
    "Persistence",
    "Stats",
    "Replication",
    "CPU",
    "Commandstats",
    "Cluster",
    "Keyspace",
];

/// One member's figures and state, for the sums and the `# Cluster` section.
#[derive(Debug)]
pub struct MemberInfo<'a> {
    /// The member's address.
    pub addr: &'a str,
    /// Its state as the router's health checks see it.
    pub state: MemberState,
    /// Its figures, `None` when it did not answer.
    pub figures: Option<ShardFigures>,
    /// The router's (p50, p99) round trip to it, in µs.
    pub latency_us: (u64, u64),
}

/// One shard group's members, primary first.
#[derive(Debug)]
pub struct GroupInfo<'a> {
    /// The members, in the order `--shards` lists them.
    pub members: Vec<MemberInfo<'a>>,
    /// How many times a member was taken out of service.
    pub failovers: u64,
}

/// Asks every member of every group for its figures, on the client's `lane` so the answer
/// follows the client's earlier commands.
pub(crate) async fn send(groups: &[Arc<Group>], lane: u64) -> Vec<Vec<FiguresCall>> {
    let mut calls = Vec::with_capacity(groups.len());
    for group in groups {
        let mut members = Vec::with_capacity(group.members.len());
        for member in group.members.iter() {
            members.push(member.client.send_figures(lane).await);
        }
        calls.push(members);
    }
    calls
}

/// Waits for the figures [`send`] asked for, and reads each member's state and round trips.
pub(crate) async fn collect(
    groups: &[Arc<Group>],
    calls: Vec<Vec<FiguresCall>>,
) -> Vec<GroupInfo<'_>> {
    let mut infos = Vec::with_capacity(groups.len());
    for (group, calls) in groups.iter().zip(calls) {
        let mut members = Vec::with_capacity(calls.len());
        for (m, call) in calls.into_iter().enumerate() {
            let client = &group.members[m].client;
            let [p50, p99] = client.metrics().latency.percentiles([0.5, 0.99]);
            let figures = call.wait().await;
            if let Some(f) = &figures {
                super::poll::restarted(group, m, &f.run_id);
            }
            members.push(MemberInfo {
                addr: client.addr(),
                state: group.state(m),
                figures,
                latency_us: (p50, p99),
            });
        }
        infos.push(GroupInfo {
            members,
            failovers: group.failovers(),
        });
    }
    infos
}

/// Returns the router's INFO: its own sections (`own`: Server, Clients, Stats, CPU,
/// Commandstats) with the groups' figures (in bucket order) summed into Memory, Stats and
/// Keyspace, and the `# Cluster` section (see [`cluster_section`]).
pub fn render(sections: &[Section], selector: &Selector) -> Frame {
    Frame::Verbatim(render_text(sections, selector).into())
}

/// Returns the router's INFO sections: its own (`own`) and the cluster's, in Redis's order.
pub fn sections(groups: &[GroupInfo<'_>], own: Vec<Section>) -> Vec<Section> {
    let summary = summarise(&members(groups));
    let mut sections = own;
    let memory = match &summary.maxmemory_policy {
        Some(policy) => memory_section(&summary.keyspace, policy, rss_bytes()),
        // No group answered: nothing to sum, only the router's own memory.
        None => rss_memory_section(),
    };
    if summary.maxmemory_policy.is_some() {
        if let Some(stats) = sections.iter_mut().find(|s| s.name == "Stats") {
            add_keyspace_stats(stats, &summary.keyspace);
        }
    }
    let persistence = match &summary.persistence {
        Some(p) => p.section(),
        None => persistence_section(),
    };
    sections.extend([
        memory,
        persistence,
        replication_section(),
        cluster_section(groups, &summary),
        keyspace_section(&summary.keyspace),
    ]);
    sections.sort_by_key(|s| {
        let at = ORDER.iter().position(|name| *name == s.name);
        at.unwrap_or(ORDER.len() - 1)
    });
    sections
}

/// Returns what [`summarise`] reads of the groups: this INFO's answers only.
fn members<'a>(groups: &'a [GroupInfo<'_>]) -> Vec<GroupMembers<'a>> {
    let member = |m: &'a MemberInfo<'_>| Member {
        state: m.state,
        figures: m.figures.as_ref(),
        answered: m.figures.is_some(),
    };
    groups
        .iter()
        .map(|g| GroupMembers {
            members: g.members.iter().map(member).collect(),
            counted_before: None,
        })
        .collect()
}

/// Returns `# Cluster`: `shards:N`, `shards_up:N`, `members:M`, `members_up:M`,
/// `failovers:F` and a line per group in the same format with or without replicas:
/// `shard0:addr=<primary>,state=up,keys=N,used_memory=B,hits=H,misses=M,evicted=E,ops=O,
/// latency_p50_us=X,latency_p99_us=Y`. Keys, memory and latency are those of the member the
/// group is counted by; hits, misses, evictions and ops are summed over its members. A
/// replicated group's line adds `members=2,members_up=1,failovers=F`, followed by one line
/// per member (`shard0_member1:addr=..,state=syncing,role=replica,keys=..,...`).
fn cluster_section(groups: &[GroupInfo<'_>], summary: &Summary) -> Section {
    let mut cluster = Section::new("Cluster");
    cluster
        .add("shards", groups.len())
        .add("shards_up", summary.groups_up())
        .add(
            "members",
            groups.iter().map(|g| g.members.len()).sum::<usize>(),
        )
        .add("members_up", summary.members_up())
        .add("failovers", groups.iter().map(|g| g.failovers).sum::<u64>());
    for (i, (group, sum)) in groups.iter().zip(&summary.groups).enumerate() {
        cluster.add(format!("shard{i}"), group_line(group, sum));
        if group.members.len() > 1 {
            for (j, member) in group.members.iter().enumerate() {
                let line = member_line(member, sum.states[j], j);
                cluster.add(format!("shard{i}_member{j}"), line);
            }
        }
    }
    cluster
}

/// Returns a `shard<N>` line's value.
fn group_line(group: &GroupInfo<'_>, sum: &GroupSummary) -> String {
    let n = group.members.len();
    let up = sum.members_up();
    let state = match (n, up) {
        (1, _) => sum.states[0].name(),
        (_, 0) => "down",
        _ => "up",
    };
    let counted = sum.counted.map(|j| &group.members[j]);
    let k = &sum.keyspace;
    let usage = Usage {
        keys: k.keys,
        used_memory: k.used_memory,
        hits: k.hits,
        misses: k.misses,
        evicted: k.evicted,
        ops: sum.ops_per_sec,
    };
    let latency = counted.unwrap_or(&group.members[0]).latency_us;
    let addr = group.members[0].addr;
    let mut line = format!("addr={addr},state={state},{}", usage.line(latency));
    if n > 1 {
        let failovers = group.failovers;
        line.push_str(&format!(
            ",members={n},members_up={up},failovers={failovers}"
        ));
    }
    line
}

/// Returns a `shard<N>_member<M>` line's value: member `j` in state `state`.
fn member_line(member: &MemberInfo<'_>, state: MemberState, j: usize) -> String {
    let role = if j == 0 { "primary" } else { "replica" };
    let usage = member
        .figures
        .as_ref()
        .map_or_else(Usage::default, |f| Usage {
            keys: f.keyspace.keys,
            used_memory: f.keyspace.used_memory,
            hits: f.keyspace.hits,
            misses: f.keyspace.misses,
            evicted: f.keyspace.evicted,
            ops: f.ops_per_sec,
        });
    format!(
        "addr={},state={},role={role},{}",
        member.addr,
        state.name(),
        usage.line(member.latency_us)
    )
}

/// The numbers of a `# Cluster` line, zeros for a member that did not answer.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    keys: u64,
    used_memory: u64,
    hits: u64,
    misses: u64,
    evicted: u64,
    ops: u64,
}

impl Usage {
    /// `keys=..,used_memory=..,hits=..,misses=..,evicted=..,ops=..,latency_p50_us=..,latency_p99_us=..`
    fn line(&self, (p50, p99): (u64, u64)) -> String {
        format!(
            "keys={},used_memory={},hits={},misses={},evicted={},ops={},\
             latency_p50_us={p50},latency_p99_us={p99}",
            self.keys, self.used_memory, self.hits, self.misses, self.evicted, self.ops,
        )
    }
}

/// Returns `# Memory` with only this process's resident memory.
fn rss_memory_section() -> Section {
    let rss = rss_bytes();
    let mut memory = Section::new("Memory");
    memory
        .add("used_memory_rss", rss)
        .add("used_memory_rss_human", serve::units::human_bytes(rss));
    memory
}

/// Returns the router's own sections: who it is, its clients and their traffic, its CPU,
/// and the commands its clients sent. [`render`] adds what the shards hold.
pub(crate) fn own_sections(stats: &Stats, port: u16, maxclients: usize) -> Vec<Section> {
    use std::sync::atomic::Ordering::Relaxed;
    let mut clients = Section::new("Clients");
    clients
        .add("connected_clients", stats.connected_clients.load(Relaxed))
        .add("maxclients", maxclients)
        .add("blocked_clients", 0);
    vec![
        serve::info::server_section("cluster-proxy", "router", port, stats.started),
        clients,
        serve::info::stats_section(stats, stats.ops_per_sec()),
        serve::info::cpu_section(),
        stats.commands.section(),
    ]
}

#[cfg(test)]
mod tests;
