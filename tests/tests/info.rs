//! INFO through real sockets: the router's own sections and the cluster's sums move as
//! commands run, section selection works as Redis's does, and a down shard is reported
//! quickly.

use std::time::{Duration, Instant};

use harness::{
    spawn_cluster, spawn_cluster_with, spawn_embedded_cluster_with, spawn_shard, within,
};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;

async fn info(con: &mut MultiplexedConnection, sections: &[&str]) -> String {
    let mut cmd = redis::cmd("INFO");
    for s in sections {
        cmd.arg(*s);
    }
    within(cmd.query_async(con)).await.unwrap()
}

/// Returns the value of `field`, panicking when INFO lacks it.
fn field<'a>(info: &'a str, name: &str) -> &'a str {
    info.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .unwrap_or_else(|| panic!("INFO has no {name}:\n{info}"))
}

fn num(info: &str, name: &str) -> u64 {
    field(info, name).parse().unwrap()
}

/// Returns `sub` of a `k=v,...` value (`calls` of `cmdstat_set`).
fn sub(value: &str, sub: &str) -> u64 {
    value
        .split(',')
        .find_map(|kv| kv.strip_prefix(sub).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("{value} has no {sub}"))
        .parse()
        .unwrap()
}

fn section_names(info: &str) -> Vec<&str> {
    info.lines().filter_map(|l| l.strip_prefix("# ")).collect()
}

#[tokio::test]
async fn a_hit_through_the_router_moves_keyspace_hits_and_a_set_moves_cmdstat_set() {
    let cluster = spawn_cluster(3).await;
    let mut con = cluster.client().await;
    let before = info(&mut con, &["everything"]).await;
    let _: () = within(con.set("k", "v")).await.unwrap();
    let got: Option<String> = within(con.get("k")).await.unwrap();
    assert_eq!(got.as_deref(), Some("v"));
    let _: Option<String> = within(con.get("absent")).await.unwrap();
    let after = info(&mut con, &["everything"]).await;

    assert_eq!(
        num(&after, "keyspace_hits"),
        num(&before, "keyspace_hits") + 1
    );
    assert_eq!(
        num(&after, "keyspace_misses"),
        num(&before, "keyspace_misses") + 1
    );
    let calls = |info: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix("cmdstat_set:"))
            .map_or(0, |v| sub(v, "calls"))
    };
    assert_eq!(calls(&after), calls(&before) + 1);
    assert_eq!(sub(field(&after, "cmdstat_get"), "calls"), 2);
    // The router counts its own clients' commands: the first INFO, SET, GET, GET.
    assert_eq!(
        num(&after, "total_commands_processed"),
        num(&before, "total_commands_processed") + 4
    );
    assert!(num(&after, "total_net_input_bytes") > num(&before, "total_net_input_bytes"));
    assert!(num(&after, "total_net_output_bytes") > num(&before, "total_net_output_bytes"));
    assert!(num(&after, "connected_clients") >= 1);
    assert!(num(&after, "used_memory_rss") > 0);
    assert_eq!(field(&after, "redis_mode"), "cluster-proxy");
    assert_eq!(num(&after, "tcp_port"), u64::from(cluster.addr().port()));
    assert_eq!(field(&after, "db0"), "keys=1,expires=0,avg_ttl=0");
    assert_eq!(num(&after, "shards"), 3);
    assert_eq!(num(&after, "shards_up"), 3);
    // The key's shard reports it, with a round trip the router measured.
    let shard = cluster.bucket_of(b"k");
    let line = field(&after, &format!("shard{shard}"));
    assert!(line.contains(",state=up,keys=1,"), "{line}");
    assert_eq!(sub(line, "hits"), 1, "{line}");
    assert!(sub(line, "latency_p99_us") > 0, "{line}");
    assert!(sub(line, "latency_p99_us") >= sub(line, "latency_p50_us"));
}

#[tokio::test]
async fn a_shard_answers_commandstats_and_counts_rejected_and_failed_calls() {
    let shard = spawn_shard().await;
    let mut con = shard.client().await;
    let _: () = within(con.set("n", "x")).await.unwrap();
    let incr: redis::RedisResult<i64> = within(con.incr("n", 1)).await;
    assert!(incr.is_err());
    let mut raw = shard.raw().await;
    let reply = raw.call(&[b"GET"]).await;
    assert!(reply.starts_with(b"-ERR wrong number of arguments"));
    let stats = info(&mut con, &["commandstats"]).await;
    assert_eq!(section_names(&stats), ["Commandstats"]);
    // redis-rs sends INCR n 1 as INCRBY.
    let incr = field(&stats, "cmdstat_incrby");
    assert_eq!((sub(incr, "calls"), sub(incr, "failed_calls")), (1, 1));
    assert_eq!(sub(field(&stats, "cmdstat_get"), "rejected_calls"), 1);
    assert_eq!(sub(field(&stats, "cmdstat_set"), "calls"), 1);
}

#[tokio::test]
async fn sections_are_selected_as_redis_selects_them() {
    let cluster = spawn_cluster(2).await;
    let mut con = cluster.client().await;
    let _: () = within(con.set("k", "v")).await.unwrap();
    let default = info(&mut con, &[]).await;
    assert_eq!(
        section_names(&default),
        [
            "Server",
            "Clients",
            "Memory",
            "Persistence",
            "Stats",
            "Replication",
            "CPU",
            "Cluster",
            "Topology",
            "Keyspace"
        ]
    );
    for all in ["all", "everything", "ALL"] {
        let text = info(&mut con, &[all]).await;
        let names = section_names(&text);
        assert_eq!(
            names[7..],
            [
                "Commandstats",
                "Cluster",
                "Topology",
                "Nearcache",
                "Keyspace"
            ],
            "{all}"
        );
    }
    let two = info(&mut con, &["server", "KEYSPACE"]).await;
    assert_eq!(section_names(&two), ["Server", "Keyspace"]);
    let cluster_only = info(&mut con, &["cluster"]).await;
    assert!(cluster_only.starts_with("# Cluster\r\nshards:2\r\nshards_up:2\r\n"));
    assert_eq!(info(&mut con, &["nosuchsection"]).await, "");
}

#[tokio::test]
async fn a_down_shard_shows_state_down_and_info_answers_within_the_timeout() {
    let router = router::Config {
        shard_timeout_ms: 300,
        ..router::Config::default()
    };
    let mut cluster = spawn_cluster_with(3, server::Config::default(), router).await;
    let mut con = cluster.client().await;
    let _: () = within(con.set("k", "v")).await.unwrap();
    cluster.stop_shard(1).await;
    let started = Instant::now();
    let text = info(&mut con, &["cluster", "server"]).await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(num(&text, "shards_up"), 2);
    assert!(field(&text, "shard1").contains(",state=down,"), "{text}");
    assert!(field(&text, "shard0").contains(",state=up,"), "{text}");
    assert_eq!(field(&text, "redis_mode"), "cluster-proxy");
}

/// Returns `CONFIG GET name`'s value.
async fn config_get(con: &mut MultiplexedConnection, name: &str) -> String {
    let mut pairs: std::collections::HashMap<String, String> =
        within(redis::cmd("CONFIG").arg("GET").arg(name).query_async(con))
            .await
            .unwrap();
    pairs.remove(name).unwrap_or_default()
}

#[tokio::test]
async fn a_router_reports_its_shards_eviction_policy_and_memory_bound_in_config_get() {
    let shard = server::Config {
        eviction: server::EvictionPolicy::Lfu,
        max_memory: 10 << 20,
        ..server::Config::default()
    };
    let router = router::Config::default;
    // Over sockets (INFO text) and in-process (figures handed over): the same answer.
    for cluster in [
        spawn_cluster_with(2, shard.clone(), router()).await,
        spawn_embedded_cluster_with(2, shard.clone(), router()).await,
    ] {
        let mut con = cluster.client().await;
        // The router learns both from its once-a-second poll of the shards.
        within(async {
            while config_get(&mut con, "maxmemory-policy").await != "allkeys-lfu" {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert_eq!(
            config_get(&mut con, "maxmemory").await,
            (20u64 << 20).to_string()
        );
        let memory = info(&mut con, &["memory"]).await;
        assert_eq!(field(&memory, "maxmemory_policy"), "allkeys-lfu");
        assert_eq!(num(&memory, "maxmemory"), 20 << 20);
    }
}

/// CONFIG RESETSTAT zeroes INFO's counters, through a router (for the whole cluster) and on a
/// shard (/metrics exports the counters themselves, which never go back).
#[tokio::test]
async fn config_resetstat_zeroes_info_counters() {
    let cluster = harness::spawn_cluster(2).await;
    let mut con = cluster.client().await;
    for i in 0..20 {
        let _: Option<String> = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query_async(&mut con)
            .await
            .unwrap();
    }
    let field = |info: &str, name: &str| -> String {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or_else(|| panic!("no {name}"))
            .trim()
            .to_string()
    };
    let info: String = redis::cmd("INFO")
        .arg("everything")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(field(&info, "keyspace_misses"), "20");
    assert!(info.contains("cmdstat_get:calls=20,"), "{info}");
    let () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut con)
        .await
        .unwrap();
    let _: Option<String> = redis::cmd("GET")
        .arg("x")
        .query_async(&mut con)
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("everything")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(field(&info, "keyspace_misses"), "1");
    assert!(info.contains("cmdstat_get:calls=1,"), "{info}");
    assert!(!info.contains("cmdstat_info:"), "not called since: {info}");

    // A shard on its own port.
    let mut shard = harness::client_for(cluster.shard_addrs()[0]).await;
    let () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut shard)
        .await
        .unwrap();
    let info: String = redis::cmd("INFO")
        .arg("stats")
        .query_async(&mut shard)
        .await
        .unwrap();
    assert_eq!(field(&info, "keyspace_misses"), "0");
    assert_eq!(
        field(&info, "total_commands_processed"),
        "1",
        "the RESETSTAT itself"
    );
}
