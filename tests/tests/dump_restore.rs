//! DUMP and RESTORE against a real redis-server: a payload made by either restores in the
//! other, through a router too, with Redis 7's replies and errors.

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
