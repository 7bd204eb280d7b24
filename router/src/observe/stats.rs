//! The router's metric names, and the per-member series the poll exports. What a shard
//! connection counts as it sends (`ShardMetrics`) lives with the connections (`shards`).
//!
//! The process-wide names (`redis_up`, `redis_commands_total`, ...) live in `serve::stats`,
//! which the shard shares; the router exports them cluster-wide (its own clients, commands
//! and bytes; keys, memory, hits, misses, expiries and evictions summed over the shards).
//! The names below are the router's own: one series per member of a shard group, labelled
//! `shard` (the group's index), `member` (the member's index in its group, 0 for the
//! primary) and `addr` (from the topology), so label values come from the configuration
//! only; `state` takes the four values of [`MemberState`].

use std::sync::atomic::Ordering::Relaxed;

use metrics::{Counter, Gauge, Unit};
use serve::stats::Keyspace;

use crate::replication::group::MemberState;
use crate::shards::counters::ShardMetrics;
use crate::shards::ShardErrorKind;

/// Shard groups in the topology.
pub const SHARDS: &str = "jumpcache_shards";
/// Shard groups with at least one member up that answered the last poll.
pub const SHARDS_UP: &str = "jumpcache_shards_up";
/// Members of all groups.
pub const MEMBERS: &str = "jumpcache_members";
/// Members up that answered the last poll.
pub const MEMBERS_UP: &str = "jumpcache_members_up";
/// 1 when the member is up (health checks) and answered the last poll, else 0.
pub const SHARD_UP: &str = "jumpcache_shard_up";
/// 1 for the member's current state, 0 for the other three, by `state`.
pub const MEMBER_STATE: &str = "jumpcache_member_state";
/// Times the member was taken out of service after it had served.
pub const MEMBER_FAILOVERS: &str = "jumpcache_member_failovers_total";
/// Keys the shard holds.
pub const SHARD_KEYS: &str = "jumpcache_shard_keys";
/// Bytes of keys and values the shard holds.
pub const SHARD_MEMORY: &str = "jumpcache_shard_memory_used_bytes";
/// The shard's keyspace hits.
pub const SHARD_HITS: &str = "jumpcache_shard_keyspace_hits_total";
/// The shard's keyspace misses.
pub const SHARD_MISSES: &str = "jumpcache_shard_keyspace_misses_total";
/// The shard's evicted keys.
pub const SHARD_EVICTED: &str = "jumpcache_shard_evicted_keys_total";
/// Requests this router sent to the shard.
pub const SHARD_REQUESTS: &str = "jumpcache_shard_requests_total";
/// Requests to the shard that failed, by `kind` (unavailable, timeout, protocol, busy).
pub const SHARD_ERRORS: &str = "jumpcache_shard_errors_total";
/// Router to shard round trip: from the write to the reply (recorded by `ShardMetrics`).
pub use crate::shards::counters::SHARD_RTT;
/// Connections to the shard re-established after one failed.
pub const SHARD_RECONNECTS: &str = "jumpcache_shard_reconnects_total";
/// The topology epoch this router routes by.
pub const TOPOLOGY_EPOCH: &str = "jumpcache_topology_epoch";
/// 1 while a resize's keys are moving, else 0.
pub const MIGRATION_RUNNING: &str = "jumpcache_migration_running";
/// Keys this router moved between groups, over every resize.
pub const MIGRATION_KEYS_MOVED: &str = "jumpcache_migration_keys_moved_total";
/// Keys of the running resize still to move (an estimate; 0 when idle).
pub const MIGRATION_KEYS_REMAINING: &str = "jumpcache_migration_keys_remaining";
/// Topology files (or changes) refused: unreadable, unparsable, or not a successor.
pub const TOPOLOGY_RELOAD_ERRORS: &str = "jumpcache_topology_reload_errors_total";
/// GETs the near-cache answered.
pub const NEAR_HITS: &str = "jumpcache_near_cache_hits_total";
/// GETs sent to a shard while the near-cache was on.
pub const NEAR_MISSES: &str = "jumpcache_near_cache_misses_total";
/// Near-cache entries evicted to stay within `--near-cache`.
pub const NEAR_EVICTIONS: &str = "jumpcache_near_cache_evictions_total";
/// Times the whole near-cache was emptied.
pub const NEAR_FLUSHES: &str = "jumpcache_near_cache_flushes_total";
/// Keys dropped from the near-cache by invalidations.
pub const NEAR_INVALIDATIONS: &str = "jumpcache_near_cache_invalidations_total";
/// Bytes the near-cache holds.
pub const NEAR_BYTES: &str = "jumpcache_near_cache_bytes";

/// Every metric name this module declares.
pub const NAMES: &[&str] = &[
    SHARDS,
    SHARDS_UP,
    MEMBERS,
    MEMBERS_UP,
    SHARD_UP,
    MEMBER_STATE,
    MEMBER_FAILOVERS,
    SHARD_KEYS,
    SHARD_MEMORY,
    SHARD_HITS,
    SHARD_MISSES,
    SHARD_EVICTED,
    SHARD_REQUESTS,
    SHARD_ERRORS,
    SHARD_RTT,
    SHARD_RECONNECTS,
    TOPOLOGY_EPOCH,
    MIGRATION_RUNNING,
    MIGRATION_KEYS_MOVED,
    MIGRATION_KEYS_REMAINING,
    TOPOLOGY_RELOAD_ERRORS,
    NEAR_HITS,
    NEAR_MISSES,
    NEAR_EVICTIONS,
    NEAR_FLUSHES,
    NEAR_INVALIDATIONS,
    NEAR_BYTES,
];

/// Describes the router's metrics, and the shared ones, to the installed recorder.
pub fn describe() {
    use metrics::{describe_counter as c, describe_gauge as g};
    serve::stats::describe();
    g!(SHARDS, "Shard groups in the topology.");
    g!(
        SHARDS_UP,
        "Shard groups with a member up that answered the last poll."
    );
    g!(MEMBERS, "Members of all shard groups.");
    g!(MEMBERS_UP, "Members up that answered the last poll.");
    g!(
        SHARD_UP,
        "1 when the member is up and answered the last poll."
    );
    g!(
        MEMBER_STATE,
        "1 for the member's state (up, down, stale, syncing), 0 for the others."
    );
    c!(
        MEMBER_FAILOVERS,
        "Times the member was taken out of service after it had served."
    );
    g!(SHARD_KEYS, "Keys the shard holds.");
    g!(
        SHARD_MEMORY,
        Unit::Bytes,
        "Bytes of keys and values the shard holds."
    );
    c!(SHARD_HITS, "The shard's keyspace hits.");
    c!(SHARD_MISSES, "The shard's keyspace misses.");
    c!(SHARD_EVICTED, "The shard's evicted keys.");
    c!(SHARD_REQUESTS, "Requests sent to the shard.");
    c!(SHARD_ERRORS, "Requests to the shard that failed, by kind.");
    metrics::describe_histogram!(SHARD_RTT, Unit::Seconds, "Router to shard round trip.");
    c!(
        SHARD_RECONNECTS,
        "Shard connections re-established after a failure."
    );
    g!(TOPOLOGY_EPOCH, "The topology epoch this router routes by.");
    g!(MIGRATION_RUNNING, "1 while a resize's keys are moving.");
    c!(
        MIGRATION_KEYS_MOVED,
        "Keys this router moved between groups, over every resize."
    );
    g!(
        MIGRATION_KEYS_REMAINING,
        "Keys of the running resize still to move (an estimate)."
    );
    c!(
        TOPOLOGY_RELOAD_ERRORS,
        "Topology files or changes refused; the router kept its topology."
    );
    c!(NEAR_HITS, "GETs the near-cache answered.");
    c!(
        NEAR_MISSES,
        "GETs sent to a shard while the near-cache was on."
    );
    c!(
        NEAR_EVICTIONS,
        "Near-cache entries evicted to stay within --near-cache."
    );
    c!(NEAR_FLUSHES, "Times the whole near-cache was emptied.");
    c!(
        NEAR_INVALIDATIONS,
        "Keys dropped from the near-cache by invalidations."
    );
    g!(NEAR_BYTES, Unit::Bytes, "Bytes the near-cache holds.");
}

/// The error kinds, in the order of [`ShardMetrics`]' error counters; the `kind` label.
const KINDS: [(ShardErrorKind, &str); 4] = [
    (ShardErrorKind::Unavailable, "unavailable"),
    (ShardErrorKind::Timeout, "timeout"),
    (ShardErrorKind::Protocol, "protocol"),
    (ShardErrorKind::Busy, "busy"),
];

/// Every member state, in the order of [`MemberSeries::state`]; the `state` label.
pub(crate) const STATES: [MemberState; 4] = [
    MemberState::Up,
    MemberState::Down,
    MemberState::Stale,
    MemberState::Syncing,
];

/// Handles on one member's exported series, registered once by the poll task.
pub(crate) struct MemberSeries {
    pub(crate) up: Gauge,
    pub(crate) keys: Gauge,
    pub(crate) memory: Gauge,
    pub(crate) hits: Counter,
    pub(crate) misses: Counter,
    pub(crate) evicted: Counter,
    pub(crate) requests: Counter,
    pub(crate) errors: [Counter; 4],
    pub(crate) reconnects: Counter,
    /// One gauge per state, in the order of [`STATES`].
    pub(crate) state: [Gauge; 4],
    pub(crate) failovers: Counter,
}

impl MemberSeries {
    /// Registers the series of member `member` of group `id`.
    pub(crate) fn new(id: usize, member: usize, addr: &str) -> MemberSeries {
        let labels = [
            ("shard", id.to_string()),
            ("member", member.to_string()),
            ("addr", addr.to_string()),
        ];
        let with = |name: &'static str, value: &'static str| {
            let mut l = labels.to_vec();
            l.push((name, value.to_string()));
            l
        };
        let error = |kind: &'static str| metrics::counter!(SHARD_ERRORS, &with("kind", kind));
        let state = |s: MemberState| metrics::gauge!(MEMBER_STATE, &with("state", s.name()));
        MemberSeries {
            up: metrics::gauge!(SHARD_UP, &labels),
            keys: metrics::gauge!(SHARD_KEYS, &labels),
            memory: metrics::gauge!(SHARD_MEMORY, &labels),
            hits: metrics::counter!(SHARD_HITS, &labels),
            misses: metrics::counter!(SHARD_MISSES, &labels),
            evicted: metrics::counter!(SHARD_EVICTED, &labels),
            requests: metrics::counter!(SHARD_REQUESTS, &labels),
            errors: KINDS.map(|(_, name)| error(name)),
            reconnects: metrics::counter!(SHARD_RECONNECTS, &labels),
            state: STATES.map(state),
            failovers: metrics::counter!(MEMBER_FAILOVERS, &labels),
        }
    }

    /// Sets the state gauges: 1 for `now`, 0 for the others.
    pub(crate) fn set_state(&self, now: MemberState) {
        for (s, gauge) in STATES.iter().zip(&self.state) {
            gauge.set(if *s == now { 1.0 } else { 0.0 });
        }
    }

    /// Copies what the member holds and did, from its last figures.
    pub(crate) fn export_figures(&self, k: &Keyspace) {
        self.keys.set(k.keys as f64);
        self.memory.set(k.used_memory as f64);
        self.hits.absolute(k.hits);
        self.misses.absolute(k.misses);
        self.evicted.absolute(k.evicted);
    }

    /// Copies the router's own counters about the shard.
    pub(crate) fn export(&self, m: &ShardMetrics) {
        self.requests.absolute(m.requests.load(Relaxed));
        for ((kind, _), counter) in KINDS.iter().zip(&self.errors) {
            counter.absolute(m.errors(*kind));
        }
        self.reconnects.absolute(m.reconnects.load(Relaxed));
    }
}
