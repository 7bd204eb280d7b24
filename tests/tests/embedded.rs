//! A router calling its shards in-process (`jumpcache cluster`): the same commands work as
//! over sockets, each shard's own listener sees the same keys, a shard password guards only
//! the listener, and many clients at once on a multi-thread runtime get their own replies.

use harness::{client_for, spawn_embedded_cluster_with, Cluster, RawClient};
use redis::AsyncCommands;

async fn embedded(n: usize, shard: server::Config) -> Cluster {
    spawn_embedded_cluster_with(n, shard, router::Config::default()).await
}

#[tokio::test]
async fn keys_set_through_the_router_are_the_shards_own_keys() {
    let cluster = embedded(3, server::Config::default()).await;
    let mut router = cluster.client().await;
    let keys = cluster.keys_on_distinct_shards(3);
    for (i, key) in keys.iter().enumerate() {
        let _: () = router.set(key, i).await.unwrap();
    }
    for (i, key) in keys.iter().enumerate() {
        let mut shard = client_for(cluster.shard_addrs()[i]).await;
        let direct: Option<i64> = shard.get(key).await.unwrap();
        assert_eq!(direct, Some(i as i64), "{key} on shard {i}'s listener");
        let size: i64 = redis::cmd("DBSIZE").query_async(&mut shard).await.unwrap();
        assert_eq!(size, 1, "shard {i} holds only its own key");
        // Written on the shard's listener, read through the router.
        let _: () = shard.set(key, "direct").await.unwrap();
        let via: String = router.get(key).await.unwrap();
        assert_eq!(via, "direct");
    }
    cluster.stop().await;
}

#[tokio::test]
async fn split_and_cluster_wide_commands_merge_as_over_sockets() {
    let cluster = embedded(3, server::Config::default()).await;
    let mut c = cluster.client().await;
    let pairs: Vec<(String, String)> = (0..30)
        .map(|i| (format!("k{i}"), format!("v{i}")))
        .collect();
    let _: () = c.mset(&pairs).await.unwrap();
    let names: Vec<&String> = pairs.iter().map(|(k, _)| k).collect();
    let got: Vec<Option<String>> = c.mget(&names).await.unwrap();
    let want: Vec<Option<String>> = pairs.iter().map(|(_, v)| Some(v.clone())).collect();
    assert_eq!(got, want);
    let size: i64 = redis::cmd("DBSIZE").query_async(&mut c).await.unwrap();
    assert_eq!(size, 30);
    let mut seen: Vec<String> = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, page): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .query_async(&mut c)
            .await
            .unwrap();
        seen.extend(page);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    seen.sort();
    let mut all: Vec<String> = names.iter().map(|k| (*k).clone()).collect();
    all.sort();
    assert_eq!(seen, all, "SCAN walks every shard once");
    let deleted: i64 = c.del(&names[..10]).await.unwrap();
    assert_eq!(deleted, 10);
    let incr: redis::RedisResult<i64> = c.incr("k10", 5).await;
    let e = incr.expect_err("v10 is not an integer");
    assert!(e.to_string().contains("value is not an integer"), "{e}");
    let _: () = redis::cmd("FLUSHALL").query_async(&mut c).await.unwrap();
    let size: i64 = redis::cmd("DBSIZE").query_async(&mut c).await.unwrap();
    assert_eq!(size, 0);
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(info.contains("members_up:3"), "{info}");
    cluster.stop().await;
}

#[tokio::test]
async fn a_shard_password_guards_the_listener_not_the_router() {
    let shard = server::Config {
        clients: serve::ClientConfig {
            requirepass: Some(serve::Password::new("spw")),
            ..serve::ClientConfig::default()
        },
        ..server::Config::default()
    };
    let cluster = embedded(2, shard).await;
    let mut router = cluster.raw().await;
    assert_eq!(router.call(&[b"SET", b"a", b"1"]).await, b"+OK\r\n");
    assert_eq!(router.call(&[b"GET", b"a"]).await, b"$1\r\n1\r\n");
    let mut direct = RawClient::connect(cluster.shard_addrs()[0]).await;
    let reply = direct.call(&[b"GET", b"a"]).await;
    assert!(
        reply.starts_with(b"-NOAUTH"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_pipelining_clients_on_two_threads_each_get_their_own_replies() {
    let cluster = embedded(3, server::Config::default()).await;
    let mut tasks = Vec::new();
    for c in 0..16 {
        let addr = cluster.addr();
        tasks.push(tokio::spawn(async move {
            let mut conn = client_for(addr).await;
            let mut pipe = redis::pipe();
            for i in 0..200 {
                pipe.set(format!("c{c}:k{i}"), format!("{c}:{i}")).ignore();
                pipe.get(format!("c{c}:k{i}"));
            }
            let got: Vec<String> = pipe.query_async(&mut conn).await.unwrap();
            let want: Vec<String> = (0..200).map(|i| format!("{c}:{i}")).collect();
            assert_eq!(got, want, "client {c}");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let mut c = cluster.client().await;
    let size: i64 = redis::cmd("DBSIZE").query_async(&mut c).await.unwrap();
    assert_eq!(size, 16 * 200);
    cluster.stop().await;
}
