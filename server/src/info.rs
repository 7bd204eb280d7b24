//! The shard's INFO: Redis's sections and field names, for this one process. Every number a
//! router reads comes from the shard's figures (`ShardState::figures`), written by the
//! functions that `serve::figures` reads them back with.

use serve::figures::{add_keyspace_stats, add_run_id, keyspace_section, memory_section};
use serve::info::{cpu_section, replication_section, server_section, stats_section, Section};

use crate::state::ShardState;
use crate::stats::rss_bytes;

/// Returns every section the shard reports, in Redis's order, its counters since the last
/// CONFIG RESETSTAT.
pub fn sections(shard: &ShardState) -> Vec<Section> {
    let mut sections = raw_sections(shard);
    shard.stats.baseline.apply(&mut sections);
    sections
}

/// Returns [`sections`] with the counters since the start.
pub(crate) fn raw_sections(shard: &ShardState) -> Vec<Section> {
    let stats = &shard.stats;
    let figures = shard.figures();
    let mut server = server_section("standalone", "shard", shard.port, stats.started);
    // Routers tell a restarted, empty shard from one that was only unreachable by it.
    add_run_id(&mut server, &figures.run_id);

    let mut clients = Section::new("Clients");
    clients
        .add("connected_clients", shard.clients.connected())
        .add("maxclients", shard.clients.max())
        .add("blocked_clients", 0);

    let mut st = stats_section(stats, figures.ops_per_sec);
    add_keyspace_stats(&mut st, &figures.keyspace);

    vec![
        server,
        clients,
        memory_section(&figures.keyspace, &figures.maxmemory_policy, rss_bytes()),
        shard.persistence.section(),
        st,
        replication_section(),
        cpu_section(),
        stats.commands.section(),
        keyspace_section(&figures.keyspace),
    ]
}
