//! The shard as a small Redis for strings, driven by the redis crate.

use std::time::Duration;

use harness::{spawn_shard, spawn_shard_with};
use redis::AsyncCommands;

fn info_field(info: &str, field: &str) -> u64 {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO has no {field}"))
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("{field} is a number"))
}

async fn info(con: &mut redis::aio::MultiplexedConnection) -> String {
    redis::cmd("INFO").query_async(con).await.unwrap()
}

#[tokio::test]
async fn binary_keys_and_values_are_stored_byte_exact() {
    let shard = spawn_shard().await;
    let mut con = shard.client().await;
    let key: &[u8] = b"k\x00\xff\r\nk";
    let value: &[u8] = b"\r\n\x00\xffv\r\n";
    let _: () = con.set(key, value).await.unwrap();
    let got: Vec<u8> = con.get(key).await.unwrap();
    assert_eq!(got, value);
    let _: () = con.set(b"", b"empty key").await.unwrap();
    let got: Vec<u8> = con.get(b"").await.unwrap();
    assert_eq!(got, b"empty key");
    let _: () = con.set("empty value", b"").await.unwrap();
    let got: Vec<u8> = con.get("empty value").await.unwrap();
    assert!(got.is_empty());
}

#[tokio::test]
async fn a_16_mib_value_round_trips() {
    let shard = spawn_shard().await;
    let mut con = shard.client().await;
    let value: Vec<u8> = (0..16 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let _: () = con.set("big", &value).await.unwrap();
    let got: Vec<u8> = con.get("big").await.unwrap();
    assert_eq!(got.len(), value.len());
    assert!(got == value);
    let len: usize = con.strlen("big").await.unwrap();
    assert_eq!(len, value.len());
}

#[tokio::test]
async fn a_key_set_with_px_is_gone_after_its_ttl() {
    let shard = spawn_shard().await;
    let mut con = shard.client().await;
    let _: () = redis::cmd("SET")
        .arg("short")
        .arg("v")
        .arg("PX")
        .arg(50)
        .query_async(&mut con)
        .await
        .unwrap();
    let _: () = con.set("long", "v").await.unwrap();
    let ttl: i64 = con.pttl("short").await.unwrap();
    assert!((1..=50).contains(&ttl), "pttl {ttl}");
    // Waiting out the TTL is the behaviour under test, not a readiness wait.
    tokio::time::sleep(Duration::from_millis(120)).await;
    let got: Option<String> = con.get("short").await.unwrap();
    assert_eq!(got, None);
    let exists: i64 = con.exists("short").await.unwrap();
    assert_eq!(exists, 0);
    let got: Option<String> = con.get("long").await.unwrap();
    assert_eq!(got.as_deref(), Some("v"));
    let expired = info_field(&info(&mut con).await, "expired_keys");
    assert_eq!(expired, 1);
}

#[tokio::test]
async fn a_value_larger_than_max_memory_gets_oom() {
    let shard = spawn_shard_with(server::Config {
        max_memory: 1 << 20,
        ..server::Config::default()
    })
    .await;
    let mut con = shard.client().await;
    let err = con
        .set::<_, _, ()>("huge", vec![b'x'; 2 << 20])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("OOM"));
    assert!(
        err.to_string()
            .contains("command not allowed when used memory > 'maxmemory'."),
        "{err}"
    );
    let got: Option<String> = con.get("huge").await.unwrap();
    assert_eq!(got, None);
}

#[tokio::test]
async fn a_full_shard_evicts_old_keys_and_keeps_recent_ones() {
    let shard = spawn_shard_with(server::Config {
        max_memory: 1 << 20,
        ..server::Config::default()
    })
    .await;
    let mut con = shard.client().await;
    let value = vec![b'v'; 1024];
    for i in 0..4000 {
        let _: () = con.set(format!("key:{i}"), &value).await.unwrap();
    }
    for i in 3990..4000 {
        let got: Option<Vec<u8>> = con.get(format!("key:{i}")).await.unwrap();
        assert_eq!(
            got.as_deref(),
            Some(&value[..]),
            "recent key {i} is readable"
        );
    }
    let text = info(&mut con).await;
    assert!(info_field(&text, "evicted_keys") > 0);
    assert!(info_field(&text, "used_memory") <= 1 << 20);
    let size: u64 = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
    assert!(size < 4000, "dbsize {size}");
}

#[tokio::test]
async fn info_counters_move_as_commands_run() {
    let shard = spawn_shard().await;
    let mut con = shard.client().await;
    let before = info(&mut con).await;
    let _: () = con.set("a", "1").await.unwrap();
    let _: Option<String> = con.get("a").await.unwrap();
    let _: Option<String> = con.get("missing").await.unwrap();
    let after = info(&mut con).await;
    assert_eq!(
        info_field(&after, "keyspace_hits"),
        info_field(&before, "keyspace_hits") + 1
    );
    assert_eq!(
        info_field(&after, "keyspace_misses"),
        info_field(&before, "keyspace_misses") + 1
    );
    assert_eq!(
        info_field(&after, "total_commands_processed"),
        info_field(&before, "total_commands_processed") + 4
    );
    assert!(after.contains("db0:keys=1,expires=0,avg_ttl=0"), "{after}");
    assert!(after.contains("redis_version:7.4.0"));
    assert!(info_field(&after, "connected_clients") >= 1);
    let memory: String = redis::cmd("INFO")
        .arg("memory")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(
        memory.starts_with("# Memory\r\n") && !memory.contains("# Server"),
        "{memory}"
    );
}

#[tokio::test]
async fn concurrent_incr_from_many_connections_is_exact() {
    let shard = spawn_shard().await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let mut con = shard.client().await;
        tasks.push(tokio::spawn(async move {
            for _ in 0..250 {
                let _: i64 = con.incr("counter", 1).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut con = shard.client().await;
    let total: i64 = con.get("counter").await.unwrap();
    assert_eq!(total, 16 * 250);
}

#[tokio::test]
async fn scan_returns_every_key_once() {
    let shard = spawn_shard().await;
    let mut con = shard.client().await;
    for i in 0..5000 {
        let _: () = con.set(format!("s:{i}"), i).await.unwrap();
    }
    let mut seen = std::collections::HashSet::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("COUNT")
            .arg(100)
            .query_async(&mut con)
            .await
            .unwrap();
        for key in keys {
            assert!(seen.insert(key.clone()), "{key} returned twice");
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    assert_eq!(seen.len(), 5000);
}

#[tokio::test]
async fn shutdown_lets_the_server_finish_and_release_its_port() {
    let shard = spawn_shard().await;
    let addr = shard.addr();
    let mut con = shard.client().await;
    let _: () = con.set("k", "v").await.unwrap();
    shard.stop().await;
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens after shutdown"
    );
}
