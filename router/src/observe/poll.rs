//! The router's metrics upkeep: once a second, ask every member of every shard group for
//! its INFO (within the shard timeout) and copy the cluster's numbers, and each member's
//! state as the health checks see it, into the metrics recorder.
//!
//! ```text
//! tick ─▶ ShardClient::send_next(INFO memory stats keyspace) ─▶ info::keyspace ─▶ MemberPoll
//!      ─▶ stats::MemberSeries (per member), serve::stats::export_keyspace (sums), export_process
//! ```
//! This poll decides nothing: members are taken out of service and brought back by the
//! PING health checks (`health`) and the sync worker (`sync`); the poll only reports.
//!
//! Sums: what a group holds (keys, expiring keys, memory, maxmemory) is counted once per
//! group, from its first member that is up and answered (replicas hold copies); what members
//! did (hits, misses, expiries, evictions) is summed over every member, since reads are
//! spread over them. A member that does not answer keeps its last numbers in the sums, so a
//! down member does not look like a counter reset; it shows as `jumpcache_shard_up 0`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serve::stats::{export_keyspace, export_process, Keyspace};
use serve::Shutdown;

use crate::observe::info;
use crate::observe::stats::{MemberSeries, MEMBERS, MEMBERS_UP, SHARDS, SHARDS_UP};
use crate::path::handler::Router;
use crate::replication::group::MemberState;

/// How often the members are polled and the metrics refreshed.
const INTERVAL: Duration = Duration::from_secs(1);

/// The poll: only the sections the numbers come from.
const REQUEST: &[u8] = b"*4\r\n$4\r\nINFO\r\n$6\r\nmemory\r\n$5\r\nstats\r\n$8\r\nkeyspace\r\n";

/// What the polls learned about one member.
struct MemberPoll {
    series: MemberSeries,
    /// Its numbers from the last poll it answered.
    last: Keyspace,
}

/// What the polls learned about one group.
struct GroupPoll {
    members: Vec<MemberPoll>,
    /// What the group held at the last poll one of its members answered.
    held: Keyspace,
}

/// Polls the members and exports metrics until shutdown.
pub(crate) async fn run(router: Arc<Router>, shutdown: Shutdown) {
    let mut stop = shutdown.wait();
    let mut groups: Vec<GroupPoll> = router
        .groups
        .iter()
        .map(|g| GroupPoll {
            members: g
                .members
                .iter()
                .enumerate()
                .map(|(m, member)| MemberPoll {
                    series: MemberSeries::new(g.id, m, member.client.addr()),
                    last: Keyspace::default(),
                })
                .collect(),
            held: Keyspace::default(),
        })
        .collect();
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => poll(&router, &mut groups).await,
            () = &mut stop => return,
        }
    }
}

/// Polls every member at once and waits at most the shard timeout for the slowest.
async fn poll(router: &Router, polls: &mut [GroupPoll]) {
    let mut calls = Vec::with_capacity(router.groups.len());
    for group in &router.groups {
        let mut members = Vec::with_capacity(group.members.len());
        for member in group.members.iter() {
            members.push(member.client.send_next(Bytes::from_static(REQUEST)).await);
        }
        calls.push(members);
    }
    let mut sum = Keyspace::default();
    let (mut groups_up, mut members, mut members_up) = (0u32, 0u32, 0u32);
    for ((group, calls), gp) in router.groups.iter().zip(calls).zip(polls.iter_mut()) {
        let mut picked: Option<Keyspace> = None;
        let mut answered_any: Option<Keyspace> = None;
        let mut up_here = false;
        for (m, call) in calls.into_iter().enumerate() {
            members += 1;
            let mp = &mut gp.members[m];
            let polled = call.wait().await.ok().and_then(|raw| info::keyspace(&raw));
            // As INFO shows it: a member that did not answer is down, whatever the checks say.
            let state = match polled {
                Some(_) => group.state(m),
                None => MemberState::Down,
            };
            if let Some(k) = polled {
                mp.last = k;
                answered_any.get_or_insert(k);
                if state == MemberState::Up {
                    picked.get_or_insert(k);
                }
            }
            let up = state == MemberState::Up;
            if up {
                members_up += 1;
                up_here = true;
            }
            let k = mp.last;
            sum.hits += k.hits;
            sum.misses += k.misses;
            sum.expired += k.expired;
            sum.evicted += k.evicted;
            let client = &group.members[m].client;
            client.metrics().latency.tick();
            client.metrics().export_round_trips();
            let s = &mp.series;
            s.up.set(if up { 1.0 } else { 0.0 });
            s.set_state(state);
            s.failovers.absolute(group.member_failovers(m));
            s.keys.set(k.keys as f64);
            s.memory.set(k.used_memory as f64);
            s.hits.absolute(k.hits);
            s.misses.absolute(k.misses);
            s.evicted.absolute(k.evicted);
            s.export(client.metrics());
        }
        if let Some(k) = picked.or(answered_any) {
            gp.held = k;
        }
        if up_here {
            groups_up += 1;
        }
        sum.keys += gp.held.keys;
        sum.expires += gp.held.expires;
        sum.used_memory += gp.held.used_memory;
        sum.max_memory += gp.held.max_memory;
    }
    router.stats.sample_ops();
    metrics::gauge!(SHARDS).set(router.groups.len() as f64);
    metrics::gauge!(SHARDS_UP).set(f64::from(groups_up));
    metrics::gauge!(MEMBERS).set(f64::from(members));
    metrics::gauge!(MEMBERS_UP).set(f64::from(members_up));
    export_keyspace(&sum);
    export_process(&router.stats);
}
