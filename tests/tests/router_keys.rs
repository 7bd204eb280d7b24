//! Keys through the router: multi-key commands split over shards and merged in the client's
//! key order, hash tags, and single-key commands answered exactly as one shard answers them.

use harness::{spawn_cluster, spawn_shard, within, RawClient};
use redis::AsyncCommands;

const CROSSSLOT: &[u8] = b"-CROSSSLOT Keys in request don't hash to the same slot\r\n";

#[tokio::test]
async fn mget_returns_values_in_key_order_across_shards() {
    within(async {
        let cluster = spawn_cluster(3).await;
        let mut con = cluster.client().await;
        let keys = cluster.keys_on_distinct_shards(6);
        for (i, key) in keys.iter().enumerate() {
            let _: () = con.set(key, i).await.unwrap();
        }
        let asked = [&keys[2], "absent", &keys[0], &keys[4], &keys[1], &keys[2]];
        let got: Vec<Option<usize>> = con.mget(&asked).await.unwrap();
        assert_eq!(got, [Some(2), None, Some(0), Some(4), Some(1), Some(2)]);
    })
    .await;
}

#[tokio::test]
async fn mset_across_shards_is_read_back_by_mget_in_any_order() {
    within(async {
        let cluster = spawn_cluster(3).await;
        let mut con = cluster.client().await;
        let pairs: Vec<(String, String)> = (0..30)
            .map(|i| (format!("mset:{i}"), format!("value {i}")))
            .collect();
        let buckets: std::collections::HashSet<usize> = pairs
            .iter()
            .map(|(k, _)| cluster.bucket_of(k.as_bytes()))
            .collect();
        assert_eq!(buckets.len(), 3, "the keys span every shard");
        let _: () = con.mset(&pairs).await.unwrap();
        let reversed: Vec<&str> = pairs.iter().rev().map(|(k, _)| k.as_str()).collect();
        let got: Vec<String> = con.mget(&reversed).await.unwrap();
        let want: Vec<String> = pairs.iter().rev().map(|(_, v)| v.clone()).collect();
        assert_eq!(got, want);
    })
    .await;
}

#[tokio::test]
async fn del_exists_unlink_and_touch_count_keys_over_every_shard() {
    within(async {
        let cluster = spawn_cluster(3).await;
        let mut con = cluster.client().await;
        let k = cluster.keys_on_distinct_shards(6);
        for key in &k[..5] {
            let _: () = con.set(key, "v").await.unwrap();
        }
        // Repeated keys count twice for EXISTS and TOUCH, as in Redis; k[5] was never set.
        let exists: usize = con
            .exists(&[&k[0], &k[1], &k[2], &k[5], &k[0]])
            .await
            .unwrap();
        assert_eq!(exists, 4);
        let touched: usize = redis::cmd("TOUCH")
            .arg(&k[..])
            .arg(&k[1])
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(touched, 6);
        let unlinked: usize = redis::cmd("UNLINK")
            .arg(&k[0])
            .arg(&k[1])
            .arg("absent")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(unlinked, 2);
        // DEL of a repeated key deletes it once.
        let deleted: usize = con
            .del(&[&k[0], &k[2], &k[3], &k[4], &k[5], &k[2]])
            .await
            .unwrap();
        assert_eq!(deleted, 3);
        let exists: usize = con.exists(&k[..]).await.unwrap();
        assert_eq!(exists, 0);
    })
    .await;
}

#[tokio::test]
async fn msetnx_across_shards_is_refused_with_crossslot_and_sets_nothing() {
    within(async {
        let cluster = spawn_cluster(3).await;
        let k = cluster.keys_on_distinct_shards(2);
        let mut raw = cluster.raw().await;
        let reply = raw
            .call(&[b"MSETNX", k[0].as_bytes(), b"1", k[1].as_bytes(), b"2"])
            .await;
        assert_eq!(reply, CROSSSLOT);
        let reply = raw
            .call(&[b"EXISTS", k[0].as_bytes(), k[1].as_bytes()])
            .await;
        assert_eq!(reply, b":0\r\n");
    })
    .await;
}

#[tokio::test]
async fn msetnx_with_a_shared_hash_tag_sets_all_or_nothing() {
    within(async {
        let cluster = spawn_cluster(3).await;
        let mut raw = cluster.raw().await;
        let reply = raw.call(&[b"MSETNX", b"{t}a", b"1", b"{t}b", b"2"]).await;
        assert_eq!(reply, b":1\r\n");
        let reply = raw.call(&[b"MSETNX", b"{t}a", b"x", b"{t}c", b"y"]).await;
        assert_eq!(reply, b":0\r\n");
        let reply = raw.call(&[b"MGET", b"{t}a", b"{t}b", b"{t}c"]).await;
        assert_eq!(reply, b"*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n");
    })
    .await;
}

#[tokio::test]
async fn hash_tags_keep_keys_on_one_shard_even_when_the_others_are_down() {
    within(async {
        let mut cluster = spawn_cluster(3).await;
        let home = cluster.bucket_of(b"user:{42}:a");
        assert_eq!(cluster.bucket_of(b"user:{42}:b"), home);
        assert_eq!(cluster.bucket_of(b"42"), home, "only the tag is hashed");
        for i in 0..200 {
            let (a, b) = (format!("{{tag{i}}}:x"), format!("z{{tag{i}}}{{other}}"));
            assert_eq!(
                cluster.bucket_of(a.as_bytes()),
                cluster.bucket_of(b.as_bytes()),
                "{a} and {b}"
            );
        }
        let mut con = cluster.client().await;
        let _: () = con
            .mset(&[("user:{42}:a", "alice"), ("user:{42}:b", "bob")])
            .await
            .unwrap();
        for other in (0..3).filter(|&i| i != home) {
            cluster.stop_shard(other).await;
        }
        let got: Vec<String> = con.mget(&["user:{42}:b", "user:{42}:a"]).await.unwrap();
        assert_eq!(got, ["bob", "alice"]);
        let got: String = con.get("user:{42}:a").await.unwrap();
        assert_eq!(got, "alice");
        let deleted: usize = con.del(&["user:{42}:a", "user:{42}:b"]).await.unwrap();
        assert_eq!(deleted, 2);
    })
    .await;
}

/// Commands, one per line, split on spaces. Every reply must be byte for byte what a lone
/// shard replies: single-key commands, multi-key commands and their arity errors, and
/// cluster-wide commands whose merged reply cannot differ (SCAN on an empty cluster is
/// cursor 0, as on one shard; SCAN cursors of a non-empty cluster differ by design).
const SCRIPT: &str = "
SET k v
GET k
GET missing
SET k v2 NX
SET k v3 XX
SET k v4 GET
SET k v EX 0
SET k v EX abc
SET k v EX 100
TTL k
PTTL missing
PERSIST k
TTL k
SETNX k v
SETNX fresh v
SETEX k 100 v
PSETEX k 100000 v
GETSET k w
GETDEL k
GETDEL k
GETEX fresh EX 100
GETEX fresh PERSIST
INCR n
INCRBY n 10
DECR n
DECRBY n 3
INCRBYFLOAT f 1.5
INCRBYFLOAT f -0.25
INCR k
SET s hello
INCR s
APPEND s _world
STRLEN s
GETRANGE s 0 4
GETRANGE s -5 -1
SETRANGE s 6 WORLD
GET s
SETRANGE pad 3 x
GET pad
EXPIRE s 100
PEXPIRE s 100000
EXPIRE s 100 NX
EXPIRE s 200 GT
EXPIREAT s 32503680000
EXPIRETIME s
PEXPIREAT s 32503680000123
PEXPIRETIME s
TYPE s
TYPE missing
EXPIRE s -1
EXISTS s
GET
SET k
INCRBY n x
MSET a 1 b 2 c 3 d 4 e 5 f 6
MGET a b c d e f g
MSET a 1 b
DEL a b c x
EXISTS a b c d e f
UNLINK d e
TOUCH f f g
MSETNX solo 1
MSETNX solo 2
GET solo
NOSUCHCOMMAND x
DBSIZE
SCAN abc
SCAN -1
SCAN 0 COUNT 0
SCAN 0 COUNT abc
SCAN 0 MATCH
SCAN 0 BOGUS x
SCAN 18446744073709551616
KEYS
DBSIZE extra
RANDOMKEY extra
FLUSHALL BOGUS
FLUSHDB SYNC
DBSIZE
RANDOMKEY
KEYS *
SCAN 0
SET only 1
RANDOMKEY
KEYS *
KEYS o*
FLUSHALL ASYNC
EXISTS only
MGET
DEL
EXISTS
TOUCH
UNLINK
MSET
MSETNX a
";

#[tokio::test]
async fn commands_answer_through_the_router_byte_for_byte_as_one_shard_answers() {
    within(async {
        let shard = spawn_shard().await;
        let cluster = spawn_cluster(3).await;
        let mut direct = shard.raw().await;
        let mut routed: RawClient = cluster.raw().await;
        for line in SCRIPT.lines().filter(|l| !l.is_empty()) {
            let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
            let want = direct.call(&args).await;
            let got = routed.call(&args).await;
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want),
                "{line}"
            );
        }
    })
    .await;
}
