//! Cluster-wide commands (DBSIZE, FLUSHALL, KEYS, RANDOMKEY, INFO), the commands the router
//! answers itself, and protocol errors through the router.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use harness::{client_for, send_raw, spawn_cluster, within, Cluster};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;

/// Stores `n` keys `cw:{i}` through the router and returns them.
async fn fill(con: &mut MultiplexedConnection, n: usize) -> Vec<String> {
    let keys: Vec<String> = (0..n).map(|i| format!("cw:{i}")).collect();
    let pairs: Vec<(&str, usize)> = keys.iter().map(String::as_str).zip(0..).collect();
    let _: () = con.mset(&pairs).await.unwrap();
    keys
}

async fn dbsize(con: &mut MultiplexedConnection) -> usize {
    redis::cmd("DBSIZE").query_async(con).await.unwrap()
}

/// Returns each shard's DBSIZE, asked of the shard directly.
async fn shard_sizes(cluster: &Cluster) -> Vec<usize> {
    let mut sizes = Vec::new();
    for &addr in cluster.shard_addrs() {
        let mut con = client_for(addr).await;
        sizes.push(dbsize(&mut con).await);
    }
    sizes
}

#[tokio::test]
async fn dbsize_is_the_sum_of_the_shards() {
    within(async {
        let cluster = spawn_cluster(3).await;
        let mut con = cluster.client().await;
        let size = dbsize(&mut con).await;
        assert_eq!(size, 0);
        let keys = fill(&mut con, 300).await;
        let mut want = vec![0; 3];
        for key in &keys {
            want[cluster.bucket_of(key.as_bytes())] += 1;
        }
        assert_eq!(shard_sizes(&cluster).await, want);
        assert!(
            want.iter().all(|&n| n > 0),
            "every shard holds keys: {want:?}"
        );
        let size = dbsize(&mut con).await;
        assert_eq!(size, 300);
    })
    .await;
}

#[tokio::test]
async fn flushall_and_flushdb_clear_every_shard() {
    within(async {
        let cluster = spawn_cluster(3).await;
        let mut con = cluster.client().await;
        fill(&mut con, 300).await;
        let ok: String = redis::cmd("FLUSHALL").query_async(&mut con).await.unwrap();
        assert_eq!(ok, "OK");
        assert_eq!(shard_sizes(&cluster).await, [0, 0, 0]);
        fill(&mut con, 300).await;
        let ok: String = redis::cmd("FLUSHDB").query_async(&mut con).await.unwrap();
        assert_eq!(ok, "OK");
        assert_eq!(shard_sizes(&cluster).await, [0, 0, 0]);
        let size = dbsize(&mut con).await;
        assert_eq!(size, 0);
    })
    .await;
}

#[tokio::test]
async fn keys_concatenates_every_shards_keys_in_shard_order() {
    within(async {
        let cluster = spawn_cluster(3).await;
        let mut con = cluster.client().await;
        let stored = fill(&mut con, 300).await;
        let got: Vec<String> = con.keys("*").await.unwrap();
        let buckets: Vec<usize> = got
            .iter()
            .map(|k| cluster.bucket_of(k.as_bytes()))
            .collect();
        assert!(
            buckets.windows(2).all(|w| w[0] <= w[1]),
            "shard 0's keys, then shard 1's, ..."
        );
        let mut sorted = got.clone();
        sorted.sort();
        let mut want = stored.clone();
        want.sort();
        assert_eq!(sorted, want);
        let got: HashSet<String> = con.keys("cw:2?").await.unwrap();
        let want: HashSet<String> = (20..30).map(|i| format!("cw:{i}")).collect();
        assert_eq!(got, want);
    })
    .await;
}

#[tokio::test]
async fn randomkey_returns_an_existing_key_and_nil_on_an_empty_cluster() {
    within(async {
        let cluster = spawn_cluster(3).await;
        let mut con = cluster.client().await;
        let none: Option<String> = redis::cmd("RANDOMKEY").query_async(&mut con).await.unwrap();
        assert_eq!(none, None);
        let keys: HashSet<String> = fill(&mut con, 30).await.into_iter().collect();
        for _ in 0..20 {
            let key: Option<String> = redis::cmd("RANDOMKEY").query_async(&mut con).await.unwrap();
            let key = key.expect("a key");
            assert!(keys.contains(&key), "{key} was never stored");
        }
        // One key in all, on whichever shard: RANDOMKEY finds it.
        let _: () = redis::cmd("FLUSHALL").query_async(&mut con).await.unwrap();
        let _: () = con.set("only", "1").await.unwrap();
        let key: Option<String> = redis::cmd("RANDOMKEY").query_async(&mut con).await.unwrap();
        assert_eq!(key.as_deref(), Some("only"));
    })
    .await;
}

/// Returns the `# Cluster` section's lines of an INFO reply.
fn cluster_section(info: &str) -> Vec<String> {
    info.split("\r\n")
        .skip_while(|l| *l != "# Cluster")
        .skip(1)
        .take_while(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Returns the `# Cluster` line of shard `i` as its `key=value` fields.
fn shard_fields(section: &[String], i: usize) -> std::collections::HashMap<String, String> {
    let prefix = format!("shard{i}:");
    let line = section
        .iter()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no shard{i} line in {section:?}"));
    line.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn info_has_a_cluster_section_with_every_shards_state() {
    within(async {
        let mut cluster = spawn_cluster(3).await;
        let mut con = cluster.client().await;
        let keys = fill(&mut con, 300).await;
        let mut per_shard = [0; 3];
        for key in &keys {
            per_shard[cluster.bucket_of(key.as_bytes())] += 1;
        }
        let addrs = cluster.shard_addrs().to_vec();
        let info: String = redis::cmd("INFO").query_async(&mut con).await.unwrap();
        let section = cluster_section(&info);
        assert_eq!(&section[..2], ["shards:3", "shards_up:3"], "{section:?}");
        for i in 0..3 {
            let f = shard_fields(&section, i);
            assert_eq!(f["addr"], addrs[i].to_string());
            assert_eq!(f["state"], "up");
            assert_eq!(f["keys"], per_shard[i].to_string());
            assert!(f["used_memory"].parse::<u64>().unwrap() > 0, "{f:?}");
        }
        assert!(
            info.contains("\r\ndb0:keys=300,"),
            "keyspace summed over shards:\n{info}"
        );

        cluster.stop_shard(1).await;
        let info: String = redis::cmd("INFO").query_async(&mut con).await.unwrap();
        let section = cluster_section(&info);
        assert!(section.contains(&"shards_up:2".to_string()), "{section:?}");
        let down = shard_fields(&section, 1);
        assert_eq!(down["addr"], addrs[1].to_string());
        assert_eq!(down["state"], "down");
        for i in [0, 2] {
            let f = shard_fields(&section, i);
            assert_eq!(
                (f["state"].as_str(), f["keys"].clone()),
                ("up", per_shard[i].to_string())
            );
        }
        let only: String = redis::cmd("INFO")
            .arg("cluster")
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(only.starts_with("# Cluster\r\nshards:3\r\n"), "{only}");
        assert!(!only.contains("# Server"), "{only}");
    })
    .await;
}

#[tokio::test]
async fn the_router_answers_connection_commands_itself() {
    within(async {
        let cluster = spawn_cluster(3).await;
        let mut con = cluster.client().await;
        let pong: String = redis::cmd("PING").query_async(&mut con).await.unwrap();
        assert_eq!(pong, "PONG");
        let echo: String = redis::cmd("PING")
            .arg("hi")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(echo, "hi");
        let echo: String = redis::cmd("ECHO")
            .arg("a b")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(echo, "a b");

        let ok: String = redis::cmd("CLIENT")
            .arg("SETNAME")
            .arg("tester")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(ok, "OK");
        let name: Option<String> = redis::cmd("CLIENT")
            .arg("GETNAME")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("tester"));

        let count: usize = redis::cmd("COMMAND")
            .arg("COUNT")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(count, protocol::command::COMMANDS.len());
        let save: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("save")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(save, ["save", ""]);

        let (secs, micros): (u64, u64) = redis::cmd("TIME").query_async(&mut con).await.unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(secs.abs_diff(now) <= 5, "TIME {secs}, clock {now}");
        assert!(micros < 1_000_000);

        let mut raw = cluster.raw().await;
        assert_eq!(raw.call(&[b"SELECT", b"0"]).await, b"+OK\r\n");
        assert_eq!(
            raw.call(&[b"SELECT", b"1"]).await,
            b"-ERR DB index is out of range\r\n"
        );
        // QUIT in a pipeline: what came before is answered, then +OK, then the close.
        let got = send_raw(cluster.addr(), b"PING\r\nECHO a\r\nQUIT\r\nPING\r\n").await;
        assert_eq!(got, b"+PONG\r\n$1\r\na\r\n+OK\r\n");
    })
    .await;
}

#[tokio::test]
async fn hello_3_switches_the_router_to_resp3_nulls_and_maps() {
    within(async {
        let cluster = spawn_cluster(3).await;
        let k = cluster.keys_on_distinct_shards(2);
        let mut raw = cluster.raw().await;
        assert_eq!(raw.call(&[b"SET", k[0].as_bytes(), b"v"]).await, b"+OK\r\n");
        let hello = raw.call(&[b"HELLO", b"3"]).await;
        let text = String::from_utf8_lossy(&hello);
        assert!(
            text.starts_with("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"),
            "{text}"
        );
        assert!(text.contains("$5\r\nproto\r\n:3\r\n"), "{text}");
        assert_eq!(raw.call(&[b"GET", b"absent"]).await, b"_\r\n");
        assert_eq!(
            raw.call(&[b"MGET", k[0].as_bytes(), k[1].as_bytes()]).await,
            b"*2\r\n$1\r\nv\r\n_\r\n"
        );
        assert_eq!(
            raw.call(&[b"RANDOMKEY"]).await,
            [
                b"$",
                k[0].len().to_string().as_bytes(),
                b"\r\n",
                k[0].as_bytes(),
                b"\r\n"
            ]
            .concat()
        );
        assert_eq!(
            raw.call(&[b"CONFIG", b"GET", b"save"]).await,
            b"%1\r\n$4\r\nsave\r\n$0\r\n\r\n"
        );
        let hello = raw.call(&[b"HELLO", b"2"]).await;
        assert!(
            hello.starts_with(b"*14\r\n"),
            "{}",
            String::from_utf8_lossy(&hello)
        );
        assert_eq!(raw.call(&[b"GET", b"absent"]).await, b"$-1\r\n");
        assert_eq!(
            raw.call(&[b"MGET", k[0].as_bytes(), k[1].as_bytes()]).await,
            b"*2\r\n$1\r\nv\r\n$-1\r\n"
        );
    })
    .await;
}

#[tokio::test]
async fn a_protocol_error_gets_earlier_replies_then_the_error_then_close() {
    within(async {
        let cluster = spawn_cluster(3).await;
        let k = cluster.keys_on_distinct_shards(2);
        let mut bystander = cluster.client().await;
        let _: () = bystander.set(&k[1], "kept").await.unwrap();

        let mut input = harness::request(&[b"SET", k[0].as_bytes(), b"1"]);
        input.extend(b"PING\r\n");
        input.extend(harness::request(&[
            b"MGET",
            k[0].as_bytes(),
            k[1].as_bytes(),
        ]));
        input.extend(b"*x\r\nPING\r\n");
        let got = send_raw(cluster.addr(), &input).await;
        assert_eq!(
            String::from_utf8_lossy(&got),
            "+OK\r\n+PONG\r\n*2\r\n$1\r\n1\r\n$4\r\nkept\r\n\
             -ERR Protocol error: invalid multibulk length\r\n"
        );

        let got = send_raw(cluster.addr(), b"*1\r\n$-10\r\n").await;
        assert_eq!(got, b"-ERR Protocol error: invalid bulk length\r\n");

        let got: String = bystander.get(&k[1]).await.unwrap();
        assert_eq!(got, "kept");
        let mut fresh = cluster.client().await;
        let got: Vec<String> = fresh.mget(&k).await.unwrap();
        assert_eq!(got, ["1", "kept"]);
    })
    .await;
}
