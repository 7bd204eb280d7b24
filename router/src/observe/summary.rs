//! What each shard group and the whole cluster hold and did, from the members' figures: the
//! one computation behind the router's INFO (`info`), its metrics and its `CONFIG GET`
//! memory settings (`poll`).
//!
//! What a group holds (keys, expiring keys, memory, maxmemory) counts once per group, from
//! the member the group is counted by: its first `up` member that answered, else its first
//! member that answered, else the member it was counted by before (replicas hold copies).
//! What members did (hits, misses, expired and evicted keys, ops) is summed over every
//! member with figures, since reads are spread over them. The cluster's memory policy is
//! that of the first group counted. Snapshots are every member's own: their `# Persistence`
//! figures merge over every member with figures (`SnapshotFigures::merge`).

use std::borrow::Cow;

use serve::figures::ShardFigures;
use serve::persistence::SnapshotFigures;
use serve::stats::Keyspace;

use crate::replication::group::MemberState;

/// One member, as seen this round.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Member<'a> {
    /// Its state as the health checks see it.
    pub(crate) state: MemberState,
    /// Its figures: this round's, or (the poll) the last it gave.
    pub(crate) figures: Option<&'a ShardFigures>,
    /// Whether it answered this round; a member that did not is `down`, whatever the checks say.
    pub(crate) answered: bool,
}

/// One group's members, primary first.
#[derive(Debug)]
pub(crate) struct GroupMembers<'a> {
    pub(crate) members: Vec<Member<'a>>,
    /// The member the group was counted by last round, if anyone remembers (the poll does).
    pub(crate) counted_before: Option<usize>,
}

/// One group's numbers.
#[derive(Debug, Clone, Default)]
pub(crate) struct GroupSummary {
    /// Each member's state as reported: `down` when it did not answer.
    pub(crate) states: Vec<MemberState>,
    /// The member whose holdings count for the group.
    pub(crate) counted: Option<usize>,
    /// That member's holdings, and every member's counters summed.
    pub(crate) keyspace: Keyspace,
    /// Every member's `instantaneous_ops_per_sec` summed.
    pub(crate) ops_per_sec: u64,
}

impl GroupSummary {
    /// Returns how many members are `up` and answered.
    pub(crate) fn members_up(&self) -> usize {
        self.states
            .iter()
            .filter(|s| **s == MemberState::Up)
            .count()
    }
}

/// The cluster's numbers: every group's, and their sums.
#[derive(Debug, Clone, Default)]
pub(crate) struct Summary {
    pub(crate) groups: Vec<GroupSummary>,
    /// Holdings and counters summed over the groups.
    pub(crate) keyspace: Keyspace,
    /// `maxmemory_policy` of the first group counted; `None` when no group was.
    pub(crate) maxmemory_policy: Option<Cow<'static, str>>,
    /// Every member's `# Persistence` merged (each keeps its own file); `None` when no
    /// member has figures.
    pub(crate) persistence: Option<SnapshotFigures>,
}

impl Summary {
    /// Returns how many groups have a member `up` that answered.
    pub(crate) fn groups_up(&self) -> usize {
        self.groups.iter().filter(|g| g.members_up() > 0).count()
    }

    /// Returns how many members are `up` and answered, over every group.
    pub(crate) fn members_up(&self) -> usize {
        self.groups.iter().map(GroupSummary::members_up).sum()
    }
}

/// Returns the groups' numbers and the cluster's sums.
pub(crate) fn summarise(groups: &[GroupMembers<'_>]) -> Summary {
    let mut summary = Summary::default();
    for group in groups {
        let g = summarise_group(group);
        add_holdings(&mut summary.keyspace, &g.keyspace);
        add_counters(&mut summary.keyspace, &g.keyspace);
        if summary.maxmemory_policy.is_none() {
            let counted = g.counted.and_then(|j| group.members[j].figures);
            summary.maxmemory_policy = counted.map(|f| f.maxmemory_policy.clone());
        }
        summary.groups.push(g);
    }
    let members = groups.iter().flat_map(|g| &g.members);
    summary.persistence =
        SnapshotFigures::merge(members.filter_map(|m| m.figures.map(|f| &f.persistence)));
    summary
}

fn summarise_group(group: &GroupMembers<'_>) -> GroupSummary {
    let members = &group.members;
    let states: Vec<MemberState> = members
        .iter()
        .map(|m| {
            if m.answered {
                m.state
            } else {
                MemberState::Down
            }
        })
        .collect();
    let counted = (0..members.len())
        .find(|&j| states[j] == MemberState::Up && members[j].answered)
        .or_else(|| (0..members.len()).find(|&j| members[j].answered))
        .or(group.counted_before)
        .filter(|&j| members.get(j).is_some_and(|m| m.figures.is_some()));
    let mut g = GroupSummary {
        states,
        counted,
        ..GroupSummary::default()
    };
    if let Some(f) = counted.and_then(|j| members[j].figures) {
        add_holdings(&mut g.keyspace, &f.keyspace);
    }
    for f in members.iter().filter_map(|m| m.figures) {
        add_counters(&mut g.keyspace, &f.keyspace);
        g.ops_per_sec = g.ops_per_sec.saturating_add(f.ops_per_sec);
    }
    g
}

/// Adds what `k` holds: counted once per group.
fn add_holdings(sum: &mut Keyspace, k: &Keyspace) {
    sum.keys = sum.keys.saturating_add(k.keys);
    sum.expires = sum.expires.saturating_add(k.expires);
    sum.used_memory = sum.used_memory.saturating_add(k.used_memory);
    sum.max_memory = sum.max_memory.saturating_add(k.max_memory);
}

/// Adds what `k` did: counted for every member.
fn add_counters(sum: &mut Keyspace, k: &Keyspace) {
    sum.hits = sum.hits.saturating_add(k.hits);
    sum.misses = sum.misses.saturating_add(k.misses);
    sum.expired = sum.expired.saturating_add(k.expired);
    sum.evicted = sum.evicted.saturating_add(k.evicted);
}

#[cfg(test)]
mod tests;
