//! The races a resize is designed against (issue 14), each played step by step on real shards
//! through real connections: the `JUMPCACHE` commands routers send while keys move, in the
//! interleavings that would lose or revive a key if the shards did not stop them.

use harness::{client_for, spawn_shard, ShardHandle};
use redis::aio::MultiplexedConnection;
use redis::Value;

/// Sends `JUMPCACHE <args>`.
async fn jc(con: &mut MultiplexedConnection, args: &[&str]) -> redis::RedisResult<Value> {
    redis::cmd("JUMPCACHE").arg(args).query_async(con).await
}

/// Tells `shard` that epoch 2 moves keys from groups `a` to `a,b` (a router's LEARN).
async fn moving_in(shard: &ShardHandle) -> MultiplexedConnection {
    let mut con = shard.client().await;
    jc(&mut con, &["LEARN", "2", "a:1,b:1", "a:1"])
        .await
        .unwrap();
    con
}

/// `EXPORT key` on `con`: the value and deadline, or `None`.
async fn export(con: &mut MultiplexedConnection, key: &str) -> Option<(Vec<u8>, i64)> {
    match jc(con, &["EXPORT", key]).await.unwrap() {
        Value::Array(mut items) => match items.pop() {
            Some(Value::Array(pair)) => match pair.as_slice() {
                [Value::BulkString(v), Value::Int(d)] => Some((v.clone(), *d)),
                other => panic!("EXPORT pair {other:?}"),
            },
            Some(Value::Nil) => None,
            other => panic!("EXPORT {other:?}"),
        },
        other => panic!("EXPORT {other:?}"),
    }
}

/// `IMPORT 2 key value deadline`: how many were stored.
async fn import(con: &mut MultiplexedConnection, key: &str, value: &[u8], deadline: i64) -> i64 {
    redis::cmd("JUMPCACHE")
        .arg("IMPORT")
        .arg(2)
        .arg(key)
        .arg(value)
        .arg(deadline)
        .query_async(con)
        .await
        .unwrap()
}

async fn get(con: &mut MultiplexedConnection, key: &str) -> Option<String> {
    redis::cmd("GET").arg(key).query_async(con).await.unwrap()
}

#[tokio::test]
async fn a_copy_in_flight_never_overwrites_a_newer_write() {
    let (old, new) = (spawn_shard().await, spawn_shard().await);
    let mut src = old.client().await;
    let mut dst = moving_in(&new).await;
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v1")
        .query_async(&mut src)
        .await
        .unwrap();
    // A router reads the old copy; before its copy lands, a client writes the key anew.
    let (value, deadline) = export(&mut src, "k").await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v2")
        .query_async(&mut dst)
        .await
        .unwrap();
    assert_eq!(import(&mut dst, "k", &value, deadline).await, 0);
    assert_eq!(get(&mut dst, "k").await.as_deref(), Some("v2"));
}

#[tokio::test]
async fn a_delete_between_a_copys_read_and_write_is_not_undone() {
    let (old, new) = (spawn_shard().await, spawn_shard().await);
    let mut src = old.client().await;
    let mut dst = moving_in(&new).await;
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v1")
        .query_async(&mut src)
        .await
        .unwrap();
    // Two routers read the old copy; one moves it and a client deletes it; the other's late
    // copy arrives.
    let (value, deadline) = export(&mut src, "k").await.unwrap();
    assert_eq!(import(&mut dst, "k", &value, deadline).await, 1);
    let deleted: i64 = redis::cmd("DEL")
        .arg("k")
        .query_async(&mut dst)
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(import(&mut dst, "k", &value, deadline).await, 0);
    assert_eq!(get(&mut dst, "k").await, None);
    // Also when it expired at its new owner: the older copy stays out.
    let _: () = redis::cmd("SET")
        .arg("t")
        .arg("short")
        .arg("PX")
        .arg(1)
        .query_async(&mut dst)
        .await
        .unwrap();
    harness::within(async {
        while get(&mut dst, "t").await.is_some() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(import(&mut dst, "t", b"older", 0).await, 0);
    assert_eq!(get(&mut dst, "t").await, None);
}

#[tokio::test]
async fn two_routers_moving_the_same_key_store_it_once() {
    let (old, new) = (spawn_shard().await, spawn_shard().await);
    let (mut src_a, mut src_b) = (old.client().await, client_for(old.addr()).await);
    let mut dst_a = moving_in(&new).await;
    let mut dst_b = client_for(new.addr()).await;
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v1")
        .arg("EX")
        .arg(3600)
        .query_async(&mut src_a)
        .await
        .unwrap();
    let a = export(&mut src_a, "k").await.unwrap();
    let b = export(&mut src_b, "k").await.unwrap();
    assert_eq!(a, b);
    let stored =
        import(&mut dst_a, "k", &a.0, a.1).await + import(&mut dst_b, "k", &b.0, b.1).await;
    assert_eq!(stored, 1);
    let dropped: i64 = redis::cmd("JUMPCACHE")
        .arg("DROP")
        .arg("k")
        .query_async(&mut src_a)
        .await
        .unwrap();
    let again: i64 = redis::cmd("JUMPCACHE")
        .arg("DROP")
        .arg("k")
        .query_async(&mut src_b)
        .await
        .unwrap();
    assert_eq!((dropped, again), (1, 0));
    assert_eq!(get(&mut dst_b, "k").await.as_deref(), Some("v1"));
    // The deadline moved as an absolute time: the TTL is still about an hour.
    let ttl: i64 = redis::cmd("TTL")
        .arg("k")
        .query_async(&mut dst_b)
        .await
        .unwrap();
    assert!((3590..=3600).contains(&ttl), "{ttl}");
}

#[tokio::test]
async fn a_router_on_the_old_epoch_is_fenced_once_the_shard_knows_the_new_one() {
    let shard = spawn_shard().await;
    let mut stale = shard.client().await;
    jc(&mut stale, &["EPOCH", "1", "a:1"]).await.unwrap();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut stale)
        .await
        .unwrap();
    // Another router tells the shard about epoch 2.
    let mut other = client_for(shard.addr()).await;
    jc(&mut other, &["LEARN", "2", "a:1,b:1", "a:1"])
        .await
        .unwrap();
    let fenced: redis::RedisResult<()> = redis::cmd("SET")
        .arg("k")
        .arg("late")
        .query_async(&mut stale)
        .await;
    let err = fenced.unwrap_err();
    assert_eq!(err.code(), Some("STALEEPOCH"), "{err}");
    let read: redis::RedisResult<Option<String>> =
        redis::cmd("GET").arg("k").query_async(&mut stale).await;
    assert_eq!(read.unwrap_err().code(), Some("STALEEPOCH"));
    // Connection commands still work, and a stale EPOCH is refused but keeps the stamp.
    let pong: String = redis::cmd("PING").query_async(&mut stale).await.unwrap();
    assert_eq!(pong, "PONG");
    assert_eq!(
        jc(&mut stale, &["EPOCH", "1"]).await.unwrap_err().code(),
        Some("STALEEPOCH")
    );
    let still: redis::RedisResult<()> = redis::cmd("SET")
        .arg("k")
        .arg("late")
        .query_async(&mut stale)
        .await;
    assert!(still.is_err());
    // Clients that are not routers (redis-cli on the shard's port) are never fenced.
    let mut plain = client_for(shard.addr()).await;
    assert_eq!(get(&mut plain, "k").await.as_deref(), Some("v"));
    // Stamped with the new epoch, the router goes on.
    jc(&mut stale, &["EPOCH", "2"]).await.unwrap();
    assert_eq!(get(&mut stale, "k").await.as_deref(), Some("v"));
}

#[tokio::test]
async fn a_copy_after_the_resize_ended_is_refused() {
    let new = spawn_shard().await;
    let mut dst = moving_in(&new).await;
    assert_eq!(import(&mut dst, "a", b"x", 0).await, 1);
    let deleted: i64 = redis::cmd("DEL")
        .arg("a")
        .query_async(&mut dst)
        .await
        .unwrap();
    assert_eq!(deleted, 1);
    jc(&mut dst, &["DONE", "2"]).await.unwrap();
    // The tombstones are gone with the resize: a copy now could revive `a`, so it is refused.
    let late: redis::RedisResult<i64> = redis::cmd("JUMPCACHE")
        .arg(&["IMPORT", "2", "a", "x", "0"][..])
        .query_async(&mut dst)
        .await;
    assert_eq!(late.unwrap_err().code(), Some("NOTMIGRATING"));
    assert_eq!(get(&mut dst, "a").await, None);
}

#[tokio::test]
async fn scanout_hands_over_exactly_the_keys_of_the_new_group() {
    let shard = spawn_shard().await;
    let mut con = shard.client().await;
    let keys: Vec<String> = (0..2000).map(|i| format!("key:{i}")).collect();
    for k in &keys {
        let _: () = redis::cmd("SET")
            .arg(k)
            .arg("v")
            .query_async(&mut con)
            .await
            .unwrap();
    }
    // This shard is group 1 of 2 growing to 3: the keys leaving are those of bucket 2.
    let mut cursor = "0".to_string();
    let mut leaving = Vec::new();
    loop {
        let (next, flat): (String, Vec<Value>) = redis::cmd("JUMPCACHE")
            .arg(&["SCANOUT", &cursor, "100", "3", "1"][..])
            .query_async(&mut con)
            .await
            .unwrap();
        for t in flat.chunks(3) {
            if let Value::BulkString(k) = &t[0] {
                leaving.push(String::from_utf8(k.clone()).unwrap());
            }
        }
        if next == "0" {
            break;
        }
        cursor = next;
    }
    leaving.sort();
    let mut want: Vec<String> = keys
        .iter()
        .filter(|k| protocol::ring::bucket(k.as_bytes(), 3) != 1)
        .cloned()
        .collect();
    want.sort();
    assert_eq!(leaving, want);
}
