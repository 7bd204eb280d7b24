//! The shard's INFO: Redis's sections and field names, for this one process.

use serve::info::{cpu_section, server_section, Section};
use serve::units::human_bytes;

use crate::state::ShardState;
use crate::stats::rss_bytes;

/// Returns every section the shard reports, in Redis's order.
pub fn sections(shard: &ShardState) -> Vec<Section> {
    let stats = &shard.stats;
    let store = shard.store.stats();
    let mut server = server_section("standalone", "shard", shard.port, stats.started);
    // Redis's `run_id`, after `process_id` as Redis prints it: routers tell a restarted,
    // empty shard from one that was only unreachable.
    let at = server
        .fields
        .iter()
        .position(|(k, _)| k == "process_id")
        .map_or(server.fields.len(), |i| i + 1);
    server
        .fields
        .insert(at, ("run_id".to_string(), shard.run_id.clone()));

    let mut clients = Section::new("Clients");
    clients
        .add("connected_clients", shard.clients.connected())
        .add("maxclients", shard.config.clients.maxclients)
        .add("blocked_clients", 0);

    let rss = rss_bytes();
    let mut memory = Section::new("Memory");
    memory
        .add("used_memory", store.used_memory)
        .add("used_memory_human", human_bytes(store.used_memory))
        .add("used_memory_rss", rss)
        .add("used_memory_rss_human", human_bytes(rss))
        .add("maxmemory", store.max_memory)
        .add("maxmemory_human", human_bytes(store.max_memory))
        .add("maxmemory_policy", shard.config.eviction.redis_name());

    let mut persistence = Section::new("Persistence");
    persistence
        .add("loading", 0)
        .add("async_loading", 0)
        .add("rdb_bgsave_in_progress", 0)
        .add("aof_enabled", 0);

    let mut st = serve::info::stats_section(stats);
    st.add("expired_keys", store.expired)
        .add("evicted_keys", store.evicted)
        .add("keyspace_hits", store.hits)
        .add("keyspace_misses", store.misses);

    let mut replication = Section::new("Replication");
    replication.add("role", "master").add("connected_slaves", 0);

    let cpu = cpu_section();

    let commandstats = stats.commands.section();

    let mut keyspace = Section::new("Keyspace");
    if store.keys > 0 {
        keyspace.add(
            "db0",
            format!("keys={},expires={},avg_ttl=0", store.keys, store.expires),
        );
    }
    vec![
        server,
        clients,
        memory,
        persistence,
        st,
        replication,
        cpu,
        commandstats,
        keyspace,
    ]
}
