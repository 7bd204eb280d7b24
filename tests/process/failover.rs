//! Failover with real shard processes: `jumpcache shard` started on free ports, killed with
//! SIGKILL (or frozen with SIGSTOP), restarted on the same port, under a continuous
//! read/write load from several clients through an in-process router.
//!
//! Lives in the root package for `CARGO_BIN_EXE_jumpcache` (see `tests/src/process.rs`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{client_for, spawn_router, within, RouterHandle, ShardProcess};
use redis::aio::MultiplexedConnection;

const BIN: &str = env!("CARGO_BIN_EXE_jumpcache");

/// Health checks every 100 ms: the tests' detection window is 300 ms, not 1.5 s.
fn router_config(groups: &[Vec<&ShardProcess>]) -> router::Config {
    router::Config {
        shards: groups
            .iter()
            .map(|g| {
                let addrs: Vec<String> = g.iter().map(|s| s.addr().to_string()).collect();
                addrs.join("|")
            })
            .collect(),
        health_interval_ms: 100,
        shard_timeout_ms: 300,
        ..router::Config::default()
    }
}

async fn shards(n: usize) -> Vec<ShardProcess> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(ShardProcess::start(BIN).await);
    }
    out
}

/// Returns the `# Cluster` line of `field` (`shard0_member1`), as the router reports it.
async fn cluster_line(router: SocketAddr, field: &str) -> String {
    let mut con = client_for(router).await;
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query_async(&mut con)
        .await
        .expect("INFO");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_default()
        .to_string()
}

/// Waits until the router reports `field` with `state`; returns how long it took.
async fn wait_state(router: SocketAddr, field: &str, state: &str) -> Duration {
    let start = Instant::now();
    within(async {
        while !cluster_line(router, field)
            .await
            .contains(&format!("state={state},"))
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    start.elapsed()
}

/// What one load client saw.
#[derive(Debug, Default)]
struct Seen {
    reads: u64,
    writes: u64,
    failed_reads: u64,
    failed_writes: u64,
    stale_reads: u64,
    /// Errors by group, with when they happened.
    errors: Vec<(usize, Instant)>,
    /// The group of each stale (or lost) read.
    stale_groups: Vec<usize>,
}

impl Seen {
    fn summary(&self) -> String {
        format!(
            "reads {} (failed {}, stale or lost {}), writes {} (failed {})",
            self.reads, self.failed_reads, self.stale_reads, self.writes, self.failed_writes
        )
    }
}

/// Known keys `pre:i = v:i`, written before the faults; one client's own keys it rewrites.
struct Load {
    router: SocketAddr,
    pre: Arc<Vec<String>>,
    groups: usize,
    stop: Arc<AtomicBool>,
}

impl Load {
    /// Runs client `c` until stopped: write an own key, read it back (must be the value just
    /// acknowledged), read a known key (must be its known value).
    async fn run(&self, c: usize) -> Seen {
        let mut con = client_for(self.router).await;
        let mut seen = Seen::default();
        let mut mine: HashMap<String, String> = HashMap::new();
        let mut i = 0usize;
        while !self.stop.load(Ordering::Relaxed) {
            i += 1;
            let key = format!("own:{c}:{}", i % 64);
            let value = format!("{c}:{i}");
            let group = router::path::ring::bucket(key.as_bytes(), self.groups);
            seen.writes += 1;
            let set: redis::RedisResult<()> = redis::cmd("SET")
                .arg(&key)
                .arg(&value)
                .query_async(&mut con)
                .await;
            match set {
                Ok(()) => {
                    mine.insert(key.clone(), value);
                }
                Err(_) => {
                    seen.failed_writes += 1;
                    seen.errors.push((group, Instant::now()));
                    mine.remove(&key); // unknown now: may or may not have been applied
                }
            }
            if let Some(want) = mine.get(&key) {
                self.check(&mut con, &key, want, group, &mut seen).await;
            }
            let n = (i * 7919 + c * 104_729) % self.pre.len();
            let key = &self.pre[n];
            let group = router::path::ring::bucket(key.as_bytes(), self.groups);
            self.check(&mut con, key, &format!("v:{n}"), group, &mut seen)
                .await;
        }
        seen
    }

    async fn check(
        &self,
        con: &mut MultiplexedConnection,
        key: &str,
        want: &str,
        group: usize,
        seen: &mut Seen,
    ) {
        seen.reads += 1;
        let got: redis::RedisResult<Option<String>> =
            redis::cmd("GET").arg(key).query_async(con).await;
        match got {
            Ok(Some(v)) if v == want => {}
            Ok(other) => {
                seen.stale_reads += 1;
                seen.stale_groups.push(group);
                if seen.stale_reads <= 3 {
                    eprintln!("stale read of {key}: {other:?}, want {want}");
                }
            }
            Err(e) => {
                seen.failed_reads += 1;
                seen.errors.push((group, Instant::now()));
                if seen.failed_reads <= 3 {
                    eprintln!("failed read of {key}: {e}");
                }
            }
        }
    }
}

/// Starts `clients` load clients; returns the stop flag and their join handles.
fn start_load(
    router: SocketAddr,
    pre: &Arc<Vec<String>>,
    groups: usize,
    clients: usize,
) -> (Arc<AtomicBool>, Vec<tokio::task::JoinHandle<Seen>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let handles = (0..clients)
        .map(|c| {
            let load = Load {
                router,
                pre: pre.clone(),
                groups,
                stop: stop.clone(),
            };
            tokio::spawn(async move { load.run(c).await })
        })
        .collect();
    (stop, handles)
}

async fn stop_load(stop: Arc<AtomicBool>, handles: Vec<tokio::task::JoinHandle<Seen>>) -> Seen {
    stop.store(true, Ordering::Relaxed);
    let mut all = Seen::default();
    for h in handles {
        let s = within(h).await.expect("load client");
        all.reads += s.reads;
        all.writes += s.writes;
        all.failed_reads += s.failed_reads;
        all.failed_writes += s.failed_writes;
        all.stale_reads += s.stale_reads;
        all.errors.extend(s.errors);
        all.stale_groups.extend(s.stale_groups);
    }
    all
}

/// Writes `pre:0..n = v:0..n` through the router.
async fn preload(router: SocketAddr, n: usize) -> Arc<Vec<String>> {
    let mut con = client_for(router).await;
    let keys: Vec<String> = (0..n).map(|i| format!("pre:{i}")).collect();
    let mut pipe = redis::pipe();
    for (i, key) in keys.iter().enumerate() {
        pipe.cmd("SET").arg(key).arg(format!("v:{i}")).ignore();
    }
    let () = pipe.query_async(&mut con).await.expect("preload");
    Arc::new(keys)
}

/// Asserts that `shard`, asked directly, holds exactly the known keys of its group.
async fn assert_holds(shard: &ShardProcess, pre: &[String], group: usize, groups: usize) {
    let mut con = client_for(shard.addr()).await;
    for (i, key) in pre.iter().enumerate() {
        if router::path::ring::bucket(key.as_bytes(), groups) == group {
            let got: Option<String> = redis::cmd("GET")
                .arg(key)
                .query_async(&mut con)
                .await
                .unwrap();
            assert_eq!(got.as_deref(), Some(format!("v:{i}").as_str()), "{key}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_one_member_of_a_pair_fails_no_read_and_serves_no_stale_value() {
    let mut shards = shards(4).await;
    let config = router_config(&[vec![&shards[0], &shards[1]], vec![&shards[2], &shards[3]]]);
    let router = spawn_router(config).await;
    let pre = preload(router.addr(), 2000).await;
    let (stop, handles) = start_load(router.addr(), &pre, 2, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The primary of group 0 dies, then comes back empty on the same port.
    shards[0].kill().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    shards[0].restart().await;
    let back = wait_state(router.addr(), "shard0_member0", "up").await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The replica of group 1 dies, then comes back.
    shards[3].kill().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    shards[3].restart().await;
    wait_state(router.addr(), "shard1_member1", "up").await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let seen = stop_load(stop, handles).await;
    eprintln!(
        "pair failover: {}; member up {back:?} after its restart",
        seen.summary()
    );
    assert!(seen.reads > 1000, "the load ran: {}", seen.summary());
    assert_eq!(
        (seen.failed_reads, seen.stale_reads, seen.failed_writes),
        (0, 0, 0),
        "{}",
        seen.summary()
    );
    // Both returning members were re-synced: asked directly, they hold every known key.
    assert_holds(&shards[0], &pre, 0, 2).await;
    assert_holds(&shards[3], &pre, 1, 2).await;
    let line = cluster_line(router.addr(), "shard0").await;
    assert!(line.contains("members_up=2,failovers=1"), "{line}");
    router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_groups_only_member_fails_only_its_keys_within_the_detection_window() {
    let mut shards = shards(3).await;
    let groups: Vec<Vec<&ShardProcess>> = shards.iter().map(|s| vec![s]).collect();
    // Default health settings: the detection window is 3 x 500 ms.
    let config = router::Config {
        health_interval_ms: 500,
        ..router_config(&groups)
    };
    let window = Duration::from_millis(config.health_interval_ms * u64::from(config.fail_after));
    let router = spawn_router(config).await;
    let pre = preload(router.addr(), 600).await;
    let (stop, handles) = start_load(router.addr(), &pre, 3, 4);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let killed = Instant::now();
    shards[1].kill().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    shards[1].restart().await;
    let restarted = Instant::now();
    tokio::time::sleep(window).await;
    let seen = stop_load(stop, handles).await;

    let others = seen.errors.iter().filter(|(g, _)| *g != 1).count();
    assert_eq!(others, 0, "other groups' keys failed: {}", seen.summary());
    // Its known keys died with it (no replica to copy from): only group 1 reads miss.
    assert!(
        seen.stale_groups.iter().all(|&g| g == 1),
        "{}",
        seen.summary()
    );
    let last = seen.errors.iter().map(|(_, t)| *t).max();
    let first = seen.errors.iter().map(|(_, t)| *t).min();
    if let (Some(first), Some(last)) = (first, last) {
        eprintln!(
            "only member killed: {} errors on its keys, from {:?} after the kill to {:?} after \
             the restart (down {:?}); {}",
            seen.errors.len(),
            first.duration_since(killed),
            last.saturating_duration_since(restarted),
            restarted.duration_since(killed),
            seen.summary()
        );
        assert!(
            last.saturating_duration_since(restarted) <= window,
            "errors went on {:?} after the restart",
            last.duration_since(restarted)
        );
    }
    router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_member_is_repaired_key_by_key_before_it_serves_again() {
    let shards = shards(2).await;
    let config = router::Config {
        read_policy: router::ReadPolicy::RoundRobin,
        ..router_config(&[vec![&shards[0], &shards[1]]])
    };
    let router = spawn_router(config).await;
    let mut con = client_for(router.addr()).await;
    for i in 0..100 {
        let () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg("old")
            .query_async(&mut con)
            .await
            .unwrap();
    }
    // SIGSTOP: the replica keeps its data and its run_id, as across a partition.
    shards[1].pause();
    wait_state(router.addr(), "shard0_member1", "down").await;
    for i in 0..100 {
        let key = format!("k{i}");
        let () = if i < 50 {
            redis::cmd("SET")
                .arg(&key)
                .arg("new")
                .query_async(&mut con)
                .await
        } else {
            redis::cmd("DEL").arg(&key).query_async(&mut con).await
        }
        .unwrap();
    }
    shards[1].resume();
    wait_state(router.addr(), "shard0_member1", "up").await;
    // Asked directly, the replica has neither the overwritten nor the deleted values.
    let mut direct = client_for(shards[1].addr()).await;
    for i in 0..100 {
        let got: Option<String> = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query_async(&mut direct)
            .await
            .unwrap();
        assert_eq!(got.as_deref(), (i < 50).then_some("new"), "k{i}");
    }
    router.stop().await;
}

/// Loads `n` collections of every type (some large, some with a TTL) through `router`.
async fn load_collections(router: SocketAddr, n: usize) -> Vec<String> {
    let mut con = client_for(router).await;
    let mut keys = Vec::new();
    let mut pipe = redis::pipe();
    for i in 0..n {
        let size = if i % 10 == 0 { 300 } else { 5 };
        let key = format!("c{i}");
        match i % 4 {
            0 => {
                let fields: Vec<(String, String)> = (0..size)
                    .map(|j| (format!("f{j}"), format!("v{i}:{j}")))
                    .collect();
                pipe.hset_multiple(&key, &fields).ignore();
            }
            1 => {
                let members: Vec<String> = (0..size).map(|j| format!("m{j}")).collect();
                pipe.sadd(&key, members).ignore();
            }
            2 => {
                let members: Vec<(f64, String)> = (0..size)
                    .map(|j| (j as f64 / 3.0, format!("m{j}")))
                    .collect();
                pipe.zadd_multiple(&key, &members).ignore();
            }
            _ => {
                let items: Vec<String> = (0..size).map(|j| format!("e{j}")).collect();
                pipe.rpush(&key, items).ignore();
            }
        }
        if i % 3 == 0 {
            pipe.expire(&key, 1000).ignore();
        }
        keys.push(key);
    }
    let () = within(pipe.query_async(&mut con)).await.expect("load");
    keys
}

/// Asserts that both shards, asked directly, hold the same value (DUMP) under every key.
async fn assert_same(a: &ShardProcess, b: &ShardProcess, keys: &[String]) {
    let (mut a, mut b) = (client_for(a.addr()).await, client_for(b.addr()).await);
    for key in keys {
        let x: Option<Vec<u8>> = redis::cmd("DUMP")
            .arg(key)
            .query_async(&mut a)
            .await
            .unwrap();
        let y: Option<Vec<u8>> = redis::cmd("DUMP")
            .arg(key)
            .query_async(&mut b)
            .await
            .unwrap();
        assert!(x.is_some(), "{key} missing");
        assert_eq!(x, y, "{key}");
        let ttl: i64 = redis::cmd("TTL")
            .arg(key)
            .query_async(&mut a)
            .await
            .unwrap();
        let want = key[1..].parse::<usize>().unwrap() % 3 == 0;
        assert_eq!(ttl > 0, want, "{key}: TTL {ttl}");
    }
}

/// Collections come back to a member restarted empty (the full copy) and to one frozen
/// while they changed (the key-by-key repair), with their TTLs: the copy moves a
/// collection as its DUMP payload.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_gets_every_collection_back_by_copy_and_by_repair() {
    let mut shards = shards(2).await;
    let router = spawn_router(router_config(&[vec![&shards[0], &shards[1]]])).await;
    let keys = load_collections(router.addr(), 120).await;

    // Restarted empty at once, within the health checks' window: the poll sees a new
    // run_id and has it copied again before it serves.
    shards[0].kill().await;
    shards[0].restart().await;
    wait_state(router.addr(), "shard0_member0", "down").await;
    wait_state(router.addr(), "shard0_member0", "up").await;
    assert_same(&shards[0], &shards[1], &keys).await;

    shards[1].pause();
    wait_state(router.addr(), "shard0_member1", "down").await;
    let mut con = client_for(router.addr()).await;
    for key in keys.iter().take(40) {
        // Replaced by a value of another type, keeping the TTL pattern of its index.
        let () = redis::pipe()
            .del(key)
            .ignore()
            .hset(key, "new", "value")
            .ignore()
            .query_async(&mut con)
            .await
            .unwrap();
        if key[1..].parse::<usize>().unwrap() % 3 == 0 {
            let () = redis::cmd("EXPIRE")
                .arg(key)
                .arg(1000)
                .query_async(&mut con)
                .await
                .map(|_: i64| ())
                .unwrap();
        }
    }
    shards[1].resume();
    wait_state(router.addr(), "shard0_member1", "up").await;
    assert_same(&shards[1], &shards[0], &keys).await;
    router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_router_restart_loses_nothing() {
    let shards = shards(4).await;
    let groups = [vec![&shards[0], &shards[1]], vec![&shards[2], &shards[3]]];
    let first: RouterHandle = spawn_router(router_config(&groups)).await;
    let pre = preload(first.addr(), 1000).await;
    first.stop().await;
    // A new router (stateless) and a second one beside it see every key.
    let second = spawn_router(router_config(&groups)).await;
    let third = spawn_router(router_config(&groups)).await;
    for router in [&second, &third] {
        let mut con = client_for(router.addr()).await;
        let got: Vec<Option<String>> = redis::cmd("MGET")
            .arg(pre.as_slice())
            .query_async(&mut con)
            .await
            .unwrap();
        let want: Vec<Option<String>> = (0..pre.len()).map(|i| Some(format!("v:{i}"))).collect();
        assert_eq!(got, want);
        let n: i64 = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
        assert_eq!(n, 1000, "one member per group counted");
    }
}
