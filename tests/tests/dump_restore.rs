//! DUMP and RESTORE against a real redis-server: a payload made by either restores in the
//! other, through a router too, with Redis 7's replies and errors, for strings and every
//! collection type in each encoding redis-server 7.0 dumps.

use harness::{spawn_cluster, RedisServer};

/// Returns a RESP bulk reply's bytes (`None` for nil).
fn bulk(reply: &[u8]) -> Option<Vec<u8>> {
    if reply.starts_with(b"$-1") {
        return None;
    }
    let end = reply
        .iter()
        .position(|&b| b == b'\r')
        .expect("a bulk header");
    let len: usize = std::str::from_utf8(&reply[1..end])
        .unwrap()
        .parse()
        .unwrap();
    Some(reply[end + 2..end + 2 + len].to_vec())
}

async fn dump(con: &mut redis::aio::MultiplexedConnection, key: &str) -> Option<Vec<u8>> {
    redis::cmd("DUMP").arg(key).query_async(con).await.unwrap()
}

#[tokio::test]
async fn payloads_restore_both_ways_between_redis_server_and_the_cluster() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let cluster = spawn_cluster(2).await;
    let mut con = cluster.client().await;
    let mut rc = redis.raw().await;
    // Made by redis-server: raw, int-encoded and LZF-compressed strings, one with a TTL.
    let long = "abc".repeat(2000);
    for (k, v) in [
        ("plain", "value"),
        ("n", "123"),
        ("big", "-2000000000"),
        ("long", &long),
    ] {
        rc.call(&[b"SET", k.as_bytes(), v.as_bytes()]).await;
        let payload = bulk(&rc.call(&[b"DUMP", k.as_bytes()]).await).unwrap();
        let ok: String = redis::cmd("RESTORE")
            .arg(k)
            .arg(0)
            .arg(&payload)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(ok, "OK");
        let got: String = redis::cmd("GET")
            .arg(k)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(got, v, "{k}");
    }
    // Made here, restored in redis-server, with a TTL.
    let _: () = redis::cmd("SET")
        .arg("mine")
        .arg("hello")
        .query_async(&mut con)
        .await
        .unwrap();
    let payload = dump(&mut con, "mine").await.unwrap();
    let reply = rc.call(&[b"RESTORE", b"mine", b"60000", &payload]).await;
    assert_eq!(reply, b"+OK\r\n");
    assert_eq!(bulk(&rc.call(&[b"GET", b"mine"]).await).unwrap(), b"hello");
    let pttl = String::from_utf8(rc.call(&[b"PTTL", b"mine"]).await).unwrap();
    let pttl: i64 = pttl.trim_start_matches(':').trim().parse().unwrap();
    assert!((59_000..=60_000).contains(&pttl), "{pttl}");
    assert_eq!(dump(&mut con, "nosuchkey").await, None);
    // BUSYKEY, REPLACE, ABSTTL in the past (OK, and the key is gone), as redis-server says.
    let busy: redis::RedisResult<()> = redis::cmd("RESTORE")
        .arg("mine")
        .arg(0)
        .arg(&payload)
        .query_async(&mut con)
        .await;
    assert_eq!(busy.unwrap_err().code(), Some("BUSYKEY"));
    let redis_busy = rc.call(&[b"RESTORE", b"mine", b"0", &payload]).await;
    assert_eq!(redis_busy, b"-BUSYKEY Target key name already exists.\r\n");
    for target in ["jumpcache", "redis"] {
        let args: [&[u8]; 6] = [b"RESTORE", b"mine", b"1", &payload, b"REPLACE", b"ABSTTL"];
        let reply = match target {
            "redis" => rc.call(&args).await,
            _ => {
                let ok: String = redis::cmd("RESTORE")
                    .arg(&args[1..])
                    .query_async(&mut con)
                    .await
                    .unwrap();
                format!("+{ok}\r\n").into_bytes()
            }
        };
        assert_eq!(reply, b"+OK\r\n", "{target}");
    }
    let gone: Option<String> = redis::cmd("GET")
        .arg("mine")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(gone, None);
    assert_eq!(rc.call(&[b"EXISTS", b"mine"]).await, b":0\r\n");
}

/// The bulks of a flat RESP array reply.
fn bulks(reply: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut pos = reply.iter().position(|&b| b == b'\n').unwrap() + 1;
    while pos < reply.len() {
        let item = bulk(&reply[pos..]).unwrap_or_default();
        pos += reply[pos..].iter().position(|&b| b == b'\n').unwrap() + 1 + item.len() + 2;
        out.push(item);
    }
    out
}

/// A collection of redis-server's (`$rc`, a raw client) as `(type, elements)`, in one order
/// whatever its encoding: a hash's pairs and a set's members sorted.
macro_rules! contents {
    ($rc:expr, $key:expr) => {{
        let key: &[u8] = $key;
        let t = $rc.call(&[b"TYPE", key]).await;
        let t = t[1..t.len() - 2].to_vec();
        let args: Vec<&[u8]> = match &t[..] {
            b"hash" => vec![b"HGETALL", key],
            b"set" => vec![b"SMEMBERS", key],
            b"zset" => vec![b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"],
            _ => vec![b"LRANGE", key, b"0", b"-1"],
        };
        let mut items = bulks(&$rc.call(&args).await);
        if t == b"hash" {
            items = items.chunks(2).map(|p| p.concat()).collect();
        }
        if t == b"hash" || t == b"set" {
            items.sort();
        }
        (String::from_utf8(t).unwrap(), items)
    }};
}

#[tokio::test]
async fn collections_restore_both_ways_between_redis_server_and_the_cluster() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let cluster = spawn_cluster(2).await;
    let mut con = cluster.client().await;
    let mut rc = redis.raw().await;
    let many: Vec<String> = (0..300).map(|i| i.to_string()).collect();
    let mut writes: Vec<Vec<&[u8]>> = vec![
        vec![b"HSET", b"h", b"f", b"v", b"n", b"12"],
        vec![b"SADD", b"si", b"1", b"-2", b"70000"],
        vec![b"SADD", b"ss", b"a", b"b"],
        vec![b"ZADD", b"z", b"1.5", b"a", b"-inf", b"b"],
        vec![b"RPUSH", b"l", b"x", b"7", b"y"],
    ];
    for (cmd, key) in [
        ("HSET", "hbig"),
        ("SADD", "sbig"),
        ("ZADD", "zbig"),
        ("RPUSH", "lbig"),
    ] {
        let mut args: Vec<&[u8]> = vec![cmd.as_bytes(), key.as_bytes()];
        for m in &many {
            args.push(m.as_bytes());
            if cmd != "SADD" && cmd != "RPUSH" {
                args.push(m.as_bytes());
            }
        }
        writes.push(args);
    }
    for w in &writes {
        let reply = rc.call(w).await;
        assert!(
            reply.starts_with(b":"),
            "{:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    for w in &writes {
        let key = w[1];
        let name = String::from_utf8_lossy(key).into_owned();
        let theirs = contents!(rc, key);
        // redis-server's payload (listpack, intset, skiplist, quicklist) restores here...
        let payload = bulk(&rc.call(&[b"DUMP", key]).await).unwrap();
        let ok: String = redis::cmd("RESTORE")
            .arg(key)
            .arg(0)
            .arg(&payload)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(ok, "OK", "{name}");
        let t: String = redis::cmd("TYPE")
            .arg(key)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(t, theirs.0, "{name}");
        if t == "hash" {
            let pairs: Vec<(Vec<u8>, Vec<u8>)> = redis::cmd("HGETALL")
                .arg(key)
                .query_async(&mut con)
                .await
                .unwrap();
            let mut flat: Vec<Vec<u8>> = pairs.into_iter().map(|(f, v)| [f, v].concat()).collect();
            flat.sort();
            assert_eq!(flat, theirs.1, "{name}");
        }
        // ...and the cluster's payload of it restores in redis-server as the same value.
        let ours = dump(&mut con, &name).await.unwrap();
        let copy = [b"copy:", key].concat();
        assert_eq!(
            rc.call(&[b"RESTORE", &copy, b"0", &ours]).await,
            b"+OK\r\n",
            "{name}"
        );
        assert_eq!(contents!(rc, &copy), theirs, "{name}");
        // Without REPLACE an existing key is refused, as for a string.
        let busy: redis::RedisResult<()> = redis::cmd("RESTORE")
            .arg(key)
            .arg(0)
            .arg(&payload)
            .query_async(&mut con)
            .await;
        assert_eq!(busy.unwrap_err().code(), Some("BUSYKEY"), "{name}");
    }
    // REPLACE puts a value of another type in place, both ways.
    let hash_payload = dump(&mut con, "h").await.unwrap();
    let string_payload = bulk(&rc.call(&[b"DUMP", b"plainkey"]).await);
    assert_eq!(string_payload, None);
    assert_eq!(rc.call(&[b"SET", b"plainkey", b"text"]).await, b"+OK\r\n");
    let string_payload = bulk(&rc.call(&[b"DUMP", b"plainkey"]).await).unwrap();
    for (key, payload, want) in [
        ("h", &string_payload, "string"),
        ("l", &hash_payload, "hash"),
    ] {
        let ok: String = redis::cmd("RESTORE")
            .arg(key)
            .arg(0)
            .arg(payload)
            .arg("REPLACE")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(ok, "OK");
        let t: String = redis::cmd("TYPE")
            .arg(key)
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(t, want, "{key}");
    }
    // A payload with a changed byte is refused as redis-server refuses it.
    let mut bad = bulk(&rc.call(&[b"DUMP", b"zbig"]).await).unwrap();
    bad[20] ^= 1;
    let ours: redis::RedisResult<()> = redis::cmd("RESTORE")
        .arg("bad")
        .arg(0)
        .arg(&bad)
        .query_async(&mut con)
        .await;
    let theirs = rc.call(&[b"RESTORE", b"bad", b"0", &bad]).await;
    assert_eq!(
        theirs,
        b"-ERR DUMP payload version or checksum are wrong\r\n"
    );
    assert!(ours.unwrap_err().to_string().contains("checksum are wrong"));
}
