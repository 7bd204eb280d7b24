//! The shard's INFO: Redis's sections and field names, for this one process.

use resp::info::Section;
use resp::session::REDIS_VERSION;
use resp::units::human_bytes;

use crate::state::ShardState;
use crate::stats::rss_bytes;

/// Returns every section the shard reports, in Redis's order.
pub fn sections(shard: &ShardState) -> Vec<Section> {
    use std::sync::atomic::Ordering::Relaxed;
    let stats = &shard.stats;
    let store = shard.store.stats();
    let uptime = stats.started.elapsed().as_secs();
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_default();

    let mut server = Section::new("Server");
    server
        .add("redis_version", REDIS_VERSION)
        .add("redis_git_sha1", "00000000")
        .add("redis_git_dirty", 0)
        .add("redis_mode", "standalone")
        .add("jumpcache_version", env!("CARGO_PKG_VERSION"))
        .add("jumpcache_role", "shard")
        .add("os", std::env::consts::OS)
        .add("arch_bits", usize::BITS)
        .add("multiplexing_api", "tokio")
        .add("process_id", std::process::id())
        .add("tcp_port", shard.port)
        .add("server_time_usec", now_usec())
        .add("uptime_in_seconds", uptime)
        .add("uptime_in_days", uptime / 86400)
        .add("executable", exe)
        .add("config_file", "");

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

    let mut st = Section::new("Stats");
    st.add("total_connections_received", shard.clients.received())
        .add(
            "total_commands_processed",
            stats.commands_processed.load(Relaxed),
        )
        .add("instantaneous_ops_per_sec", stats.ops_per_sec())
        .add("total_net_input_bytes", stats.net_input_bytes.load(Relaxed))
        .add(
            "total_net_output_bytes",
            stats.net_output_bytes.load(Relaxed),
        )
        .add("rejected_connections", shard.clients.rejected())
        .add("expired_keys", store.expired)
        .add("evicted_keys", store.evicted)
        .add("keyspace_hits", store.hits)
        .add("keyspace_misses", store.misses);

    let mut replication = Section::new("Replication");
    replication.add("role", "master").add("connected_slaves", 0);

    let (user, sys) = cpu_seconds();
    let mut cpu = Section::new("CPU");
    cpu.add("used_cpu_sys", format!("{sys:.6}"))
        .add("used_cpu_user", format!("{user:.6}"));

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
        keyspace,
    ]
}

fn now_usec() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

/// Returns this process's (user, system) CPU seconds from /proc, zeros where unknown.
fn cpu_seconds() -> (f64, f64) {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return (0.0, 0.0);
    };
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return (0.0, 0.0);
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (ticks(11), ticks(12))
}
