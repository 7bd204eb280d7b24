//! The router's near-cache (`--near-cache`): hot GETs answered by the router, emptied by the
//! shards' invalidations; never a value older than one whose invalidation arrived, reads of a
//! client's own writes through the same router, and a whole flush on a member's failover and
//! on a new topology.
//!
//! `cargo test --test near_cache -- --nocapture` prints the checker's figures.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::{
    client_for, spawn_embedded_cluster_with, spawn_router, spawn_shard, within, ShardHandle,
};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;

fn near_router(shards: &[&ShardHandle]) -> router::Config {
    router::Config {
        shards: shards.iter().map(|s| s.addr().to_string()).collect(),
        near_cache: 64 << 20,
        ..router::Config::default()
    }
}

/// Returns a field of the router's `# Nearcache` INFO section.
async fn near_field(con: &mut MultiplexedConnection, field: &str) -> u64 {
    let info: String = within(redis::cmd("INFO").arg("nearcache").query_async(con))
        .await
        .expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .trim()
        .parse()
        .expect("a number")
}

/// Polls (every 10 ms, within the step timeout) until `field` passes `above`.
async fn until_above(con: &mut MultiplexedConnection, field: &str, above: u64) {
    within(async {
        while near_field(con, field).await <= above {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

async fn get(con: &mut MultiplexedConnection, key: &str) -> Option<String> {
    within(con.get(key)).await.expect("GET")
}

async fn set(con: &mut MultiplexedConnection, key: &str, value: &str) {
    let () = within(con.set(key, value)).await.expect("SET");
}

#[tokio::test]
async fn a_write_through_another_router_reaches_the_next_read() {
    let shards = [spawn_shard().await, spawn_shard().await];
    let a = spawn_router(near_router(&[&shards[0], &shards[1]])).await;
    let b = spawn_router(near_router(&[&shards[0], &shards[1]])).await;
    let mut writer = client_for(a.addr()).await;
    let mut reader = client_for(b.addr()).await;
    for round in 0..50 {
        let key = format!("k{}", round % 5);
        set(&mut writer, &key, &format!("v{round}")).await;
        // Twice: the second read is the near-cache's.
        assert_eq!(get(&mut reader, &key).await, Some(format!("v{round}")));
        assert_eq!(get(&mut reader, &key).await, Some(format!("v{round}")));
    }
    assert!(near_field(&mut reader, "near_cache_hits").await >= 50);
    // Deletes and flushes reach it too.
    set(&mut writer, "d", "1").await;
    assert_eq!(get(&mut reader, "d").await.as_deref(), Some("1"));
    let _: i64 = within(writer.del("d")).await.unwrap();
    assert_eq!(get(&mut reader, "d").await, None);
    set(&mut writer, "f", "1").await;
    assert_eq!(get(&mut reader, "f").await.as_deref(), Some("1"));
    let () = within(redis::cmd("FLUSHALL").query_async(&mut writer))
        .await
        .unwrap();
    assert_eq!(get(&mut reader, "f").await, None);
    // Read your own writes through one router.
    for i in 0..100 {
        set(&mut reader, "own", &i.to_string()).await;
        assert_eq!(get(&mut reader, "own").await, Some(i.to_string()));
    }
}

#[tokio::test]
async fn an_in_process_shard_invalidates_as_it_writes() {
    let cluster = spawn_embedded_cluster_with(
        2,
        server::Config::default(),
        router::Config {
            near_cache: 64 << 20,
            ..router::Config::default()
        },
    )
    .await;
    // A second router over the cluster's shard listeners writes behind its back.
    let other = spawn_router(router::Config {
        shards: cluster
            .shard_addrs()
            .iter()
            .map(|a| a.to_string())
            .collect(),
        ..router::Config::default()
    })
    .await;
    let mut reader = cluster.client().await;
    let mut writer = client_for(other.addr()).await;
    for round in 0..50 {
        set(&mut writer, "k", &format!("v{round}")).await;
        assert_eq!(get(&mut reader, "k").await, Some(format!("v{round}")));
        assert_eq!(get(&mut reader, "k").await, Some(format!("v{round}")));
    }
    assert!(near_field(&mut reader, "near_cache_hits").await >= 50);
}

#[tokio::test]
async fn a_failover_empties_the_near_cache() {
    let members = [spawn_shard().await, spawn_shard().await];
    let group = format!("{}|{}", members[0].addr(), members[1].addr());
    let config = router::Config {
        shards: vec![group],
        near_cache: 64 << 20,
        health_interval_ms: 50,
        fail_after: 1,
        ..router::Config::default()
    };
    let a = spawn_router(config.clone()).await;
    let b = spawn_router(config).await;
    let mut reader = client_for(a.addr()).await;
    let mut writer = client_for(b.addr()).await;
    set(&mut writer, "k", "old").await;
    assert_eq!(get(&mut reader, "k").await.as_deref(), Some("old"));
    assert_eq!(get(&mut reader, "k").await.as_deref(), Some("old"));
    let flushes = near_field(&mut reader, "near_cache_flushes").await;
    // The primary, which the cached value came from (and whose tracking it relied on), dies.
    let [primary, _replica] = members;
    primary.stop().await;
    until_above(&mut reader, "near_cache_flushes", flushes).await;
    // Router B's write lands on the replica alone, which never tracked router A's read.
    within(async {
        loop {
            if writer.set::<_, _, ()>("k", "new").await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(get(&mut reader, "k").await.as_deref(), Some("new"));
}

#[tokio::test]
async fn a_new_topology_empties_the_near_cache() {
    let shards = [spawn_shard().await, spawn_shard().await];
    let dir = std::env::temp_dir().join(format!("jumpcache-near-{}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("topology.toml");
    let write = |epoch: u64, groups: &[&ShardHandle]| {
        let groups: Vec<String> = groups.iter().map(|s| format!("\"{}\"", s.addr())).collect();
        let text = format!("epoch = {epoch}\ngroups = [{}]\n", groups.join(", "));
        std::fs::write(&file, text).unwrap();
    };
    write(1, &[&shards[0]]);
    let a = spawn_router(router::Config {
        topology: Some(file.clone()),
        near_cache: 64 << 20,
        ..router::Config::default()
    })
    .await;
    let mut con = client_for(a.addr()).await;
    set(&mut con, "k", "v").await;
    assert_eq!(get(&mut con, "k").await.as_deref(), Some("v"));
    assert_eq!(get(&mut con, "k").await.as_deref(), Some("v"));
    let flushes = near_field(&mut con, "near_cache_flushes").await;
    write(2, &[&shards[0], &shards[1]]);
    until_above(&mut con, "near_cache_flushes", flushes).await;
    // The next read is a miss, answered by the shard.
    let hits = near_field(&mut con, "near_cache_hits").await;
    assert_eq!(get(&mut con, "k").await.as_deref(), Some("v"));
    assert_eq!(near_field(&mut con, "near_cache_hits").await, hits);
    let _ = std::fs::remove_dir_all(&dir);
}

/// When each value of each key was acknowledged to its writer.
type Acks = Arc<Mutex<HashMap<String, Vec<(u64, Instant)>>>>;

/// Writers through router A, readers through router B, both with near-caches, for a few
/// seconds: no reader ever sees a key go backwards, and the longest a reader saw a value
/// after its overwrite was acknowledged (the staleness window) is printed and bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_through_another_router_never_go_back_and_lag_little() {
    const KEYS: usize = 4;
    const RUN: Duration = Duration::from_secs(3);
    let shards = [spawn_shard().await, spawn_shard().await];
    let a = spawn_router(near_router(&[&shards[0], &shards[1]])).await;
    let b = spawn_router(near_router(&[&shards[0], &shards[1]])).await;
    let acks: Acks = Arc::default();
    let until = Instant::now() + RUN;
    let mut tasks = Vec::new();
    for k in 0..KEYS {
        let (acks, addr) = (acks.clone(), a.addr());
        tasks.push(tokio::spawn(async move {
            let mut con = client_for(addr).await;
            let key = format!("hot{k}");
            let mut n = 0u64;
            while Instant::now() < until {
                n += 1;
                let () = con.set(&key, n).await.expect("SET");
                let at = Instant::now();
                acks.lock()
                    .unwrap()
                    .entry(key.clone())
                    .or_default()
                    .push((n, at));
            }
            (0u64, Duration::ZERO, n)
        }));
    }
    for r in 0..2 {
        let (acks, addr) = (acks.clone(), b.addr());
        tasks.push(tokio::spawn(read_and_check(addr, acks, until, r)));
    }
    let (mut reads, mut stalest, mut writes) = (0, Duration::ZERO, 0);
    for t in tasks {
        let (n, stale, wrote) = t.await.expect("task");
        reads += n;
        stalest = stalest.max(stale);
        writes += wrote;
    }
    let mut con = client_for(b.addr()).await;
    let hits = near_field(&mut con, "near_cache_hits").await;
    println!(
        "near-cache checker: {writes} writes via A, {reads} reads via B ({hits} near-cache hits), \
         no read went backwards, longest staleness window {stalest:?}"
    );
    assert!(reads > 0 && writes > 0);
    assert!(
        stalest < Duration::from_millis(500),
        "stale for {stalest:?}"
    );
}

/// One reader: GETs the hot keys in turn; returns (reads, longest staleness, 0).
async fn read_and_check(
    addr: SocketAddr,
    acks: Acks,
    until: Instant,
    seed: usize,
) -> (u64, Duration, u64) {
    let mut con = client_for(addr).await;
    let mut last: HashMap<String, u64> = HashMap::new();
    let (mut reads, mut stalest) = (0u64, Duration::ZERO);
    let mut i = seed;
    while Instant::now() < until {
        i += 1;
        let key = format!("hot{}", i % 4);
        let sent = Instant::now();
        let got: Option<u64> = con.get(&key).await.expect("GET");
        reads += 1;
        let Some(got) = got else { continue };
        let seen = last.entry(key.clone()).or_insert(0);
        assert!(got >= *seen, "{key} went back from {seen} to {got}");
        *seen = got;
        // The first value newer than the one read that was acknowledged before the read
        // was sent: the read is stale by the time since that acknowledgement.
        let acks = acks.lock().unwrap();
        // Values are 1, 2, 3... in order: value got + 1 is at index got.
        if let Some((n, at)) = acks.get(&key).and_then(|a| a.get(got as usize)) {
            if *n == got + 1 && *at < sent {
                stalest = stalest.max(sent - *at);
            }
        }
    }
    (reads, stalest, 0)
}
