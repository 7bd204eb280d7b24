//! redis-py's client-side cache (`protocol=3, cache_config=CacheConfig()`, which needs the
//! server to report Redis 7.4 or later in HELLO) against a shard and through routers with a
//! near-cache: a key read, written by another client through another router, and the next
//! read returns the new value, every round. The checks are in tests/python/client_cache.py.
//! Skipped, with a note, where python3 lacks `redis`.

use std::net::SocketAddr;
use std::path::PathBuf;

use harness::{spawn_embedded_cluster_with, spawn_router, spawn_shard, within};

fn has_redis_py() -> bool {
    std::process::Command::new("python3")
        .args(["-c", "from redis.cache import CacheConfig"])
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn run(reader: SocketAddr, writer: SocketAddr) {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/client_cache.py");
    let output = within(
        tokio::process::Command::new("python3")
            .arg(script)
            .arg(reader.to_string())
            .arg(writer.to_string())
            .arg("300")
            .output(),
    )
    .await
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.trim() == "ok",
        "stdout: {stdout}\nstderr: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_py_client_cache_against_a_shard() {
    if !has_redis_py() {
        eprintln!("note: python3 with redis (5.1+) not found; skipped");
        return;
    }
    let shard = spawn_shard().await;
    run(shard.addr(), shard.addr()).await;
    shard.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_py_client_cache_through_two_routers() {
    if !has_redis_py() {
        eprintln!("note: python3 with redis (5.1+) not found; skipped");
        return;
    }
    let shards = [spawn_shard().await, spawn_shard().await];
    let config = router::Config {
        shards: shards.iter().map(|s| s.addr().to_string()).collect(),
        near_cache: 64 << 20,
        ..router::Config::default()
    };
    let a = spawn_router(config.clone()).await;
    let b = spawn_router(config).await;
    run(b.addr(), a.addr()).await;
    run(a.addr(), a.addr()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_py_client_cache_through_the_embedded_cluster() {
    if !has_redis_py() {
        eprintln!("note: python3 with redis (5.1+) not found; skipped");
        return;
    }
    let cluster = spawn_embedded_cluster_with(
        2,
        server::Config::default(),
        router::Config {
            near_cache: 64 << 20,
            ..router::Config::default()
        },
    )
    .await;
    // Written through a second router over the cluster's shard listeners.
    let other = spawn_router(router::Config {
        shards: cluster
            .shard_addrs()
            .iter()
            .map(|a| a.to_string())
            .collect(),
        near_cache: 64 << 20,
        ..router::Config::default()
    })
    .await;
    run(cluster.addr(), other.addr()).await;
    run(other.addr(), cluster.addr()).await;
}
