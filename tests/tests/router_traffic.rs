//! Volume through the router: SCAN over the whole cluster, long pipelines, many clients.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use harness::{request, spawn_cluster, within, Cluster};
use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Stores `scan:0` .. `scan:{n-1}` with MSETs of 1,000 keys, pipelined.
async fn fill(con: &mut MultiplexedConnection, n: usize) -> HashSet<String> {
    let keys: Vec<String> = (0..n).map(|i| format!("scan:{i}")).collect();
    let mut pipe = redis::pipe();
    for chunk in keys.chunks(1000) {
        let pairs: Vec<(&str, &str)> = chunk.iter().map(|k| (k.as_str(), "v")).collect();
        pipe.mset(&pairs).ignore();
    }
    let () = pipe.query_async(con).await.unwrap();
    keys.into_iter().collect()
}

/// Runs a full SCAN with `options` and returns every key in the order returned, with the
/// number of calls it took.
async fn scan_all(con: &mut MultiplexedConnection, options: &[&str]) -> (Vec<String>, usize) {
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    let mut calls = 0;
    loop {
        let (next, page): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg(options)
            .query_async(con)
            .await
            .unwrap();
        calls += 1;
        keys.extend(page);
        cursor = next;
        if cursor == 0 {
            return (keys, calls);
        }
        assert!(calls < 100_000, "SCAN never finished");
    }
}

/// Asserts that `keys` holds no key twice and returns them as a set.
fn no_duplicates(keys: Vec<String>) -> HashSet<String> {
    let total = keys.len();
    let set: HashSet<String> = keys.into_iter().collect();
    assert_eq!(total - set.len(), 0, "duplicate keys returned");
    set
}

#[tokio::test]
async fn scan_returns_every_one_of_10000_keys_exactly_once() {
    within(async {
        let cluster = spawn_cluster(3).await;
        let mut con = cluster.client().await;
        let want = fill(&mut con, 10_000).await;
        // COUNT 100, not the default 10: each page costs a shard two passes over its keys,
        // so the default's 768 pages take seconds in a debug build.
        let (keys, small) = scan_all(&mut con, &["COUNT", "100"]).await;
        assert_eq!(no_duplicates(keys), want);
        let (keys, large) = scan_all(&mut con, &["COUNT", "5000"]).await;
        assert_eq!(no_duplicates(keys), want);
        assert!(
            small > large && large >= 3,
            "COUNT 100 took {small} calls, COUNT 5000 {large}"
        );
    })
    .await;
}

#[tokio::test]
async fn scan_with_match_returns_exactly_the_matching_keys() {
    within(async {
        let cluster = spawn_cluster(3).await;
        let mut con = cluster.client().await;
        let all = fill(&mut con, 10_000).await;
        let want: HashSet<String> = all
            .into_iter()
            .filter(|k| k.starts_with("scan:12"))
            .collect();
        assert_eq!(want.len(), 111);
        for count in ["100", "20000"] {
            let (keys, _) = scan_all(&mut con, &["MATCH", "scan:12*", "COUNT", count]).await;
            assert_eq!(no_duplicates(keys), want, "COUNT {count}");
        }
        let (keys, _) = scan_all(&mut con, &["MATCH", "nothing:*", "COUNT", "1000"]).await;
        assert_eq!(keys, Vec::<String>::new());
    })
    .await;
}

#[tokio::test]
async fn scan_while_keys_are_added_returns_every_key_that_existed_before() {
    within(async {
        let cluster = spawn_cluster(3).await;
        let mut con = cluster.client().await;
        let before = fill(&mut con, 10_000).await;

        let done = Arc::new(AtomicBool::new(false));
        let added = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let mut writer_con = cluster.client().await;
        let writer = tokio::spawn({
            let (done, added) = (done.clone(), added.clone());
            async move {
                let mut started = Some(started_tx);
                while !done.load(Ordering::Relaxed) {
                    let n = added.load(Ordering::Relaxed);
                    let _: () = writer_con.set(format!("new:{n}"), n).await.unwrap();
                    added.store(n + 1, Ordering::Relaxed);
                    if let Some(tx) = started.take() {
                        let _ = tx.send(());
                    }
                }
            }
        });
        started_rx.await.expect("the writer wrote its first key");
        let (keys, _) = scan_all(&mut con, &["COUNT", "50"]).await;
        done.store(true, Ordering::Relaxed);
        writer.await.unwrap();

        let seen = no_duplicates(keys);
        let missing: Vec<&String> = before.difference(&seen).collect();
        assert_eq!(missing, Vec::<&String>::new(), "keys present throughout");
        let added = added.load(Ordering::Relaxed);
        assert!(added > 1, "the writer ran during the scan ({added} keys)");
        let extra: Vec<&String> = seen
            .iter()
            .filter(|k| !before.contains(*k) && !k.starts_with("new:"))
            .collect();
        assert_eq!(
            extra,
            Vec::<&String>::new(),
            "no key that was never written"
        );
    })
    .await;
}

/// The request and the expected reply of command `i` of the mixed pipeline: forwarded
/// single-key commands, commands the router answers itself, and commands split over shards.
fn mixed(i: usize) -> (Vec<u8>, Vec<u8>) {
    let n = i.to_string();
    let bulk = |s: &str| format!("${}\r\n{s}\r\n", s.len()).into_bytes();
    match i % 5 {
        0 => (
            request(&[b"SET", format!("pipe:{i}").as_bytes(), n.as_bytes()]),
            b"+OK\r\n".to_vec(),
        ),
        1 => (
            request(&[b"GET", format!("pipe:{}", i - 1).as_bytes()]),
            bulk(&(i - 1).to_string()),
        ),
        2 => (request(&[b"ECHO", n.as_bytes()]), bulk(&n)),
        3 => (
            request(&[b"INCR", format!("counter:{}", i % 3).as_bytes()]),
            format!(":{}\r\n", i / 15 + 1).into_bytes(),
        ),
        _ => (
            // pipe:{i-4} was set; pipe:{i-2} never is.
            request(&[
                b"MGET",
                format!("pipe:{}", i - 4).as_bytes(),
                format!("pipe:{}", i - 2).as_bytes(),
            ]),
            [
                b"*2\r\n".to_vec(),
                bulk(&(i - 4).to_string()),
                b"$-1\r\n".to_vec(),
            ]
            .concat(),
        ),
    }
}

#[tokio::test]
async fn a_10000_command_raw_pipeline_comes_back_in_order() {
    within(async {
        let cluster = spawn_cluster(3).await;
        let (requests, replies): (Vec<Vec<u8>>, Vec<Vec<u8>>) = (0..10_000).map(mixed).unzip();
        let (requests, want) = (requests.concat(), replies.concat());
        let mut stream = tokio::net::TcpStream::connect(cluster.addr())
            .await
            .unwrap();
        let (mut rd, mut wr) = stream.split();
        // Write and read at once: neither side may wait on a full socket buffer.
        let write = async {
            wr.write_all(&requests).await.unwrap();
        };
        let read = async {
            let mut got = Vec::with_capacity(want.len());
            while got.len() < want.len() {
                if rd.read_buf(&mut got).await.unwrap() == 0 {
                    break;
                }
            }
            got
        };
        let ((), got) = tokio::join!(write, read);
        assert_eq!(got.len(), want.len());
        assert!(got == want, "replies differ from request order");
    })
    .await;
}

#[tokio::test]
async fn a_10000_command_redis_pipeline_comes_back_in_order() {
    within(async {
        let cluster = spawn_cluster(3).await;
        let mut con = cluster.client().await;
        let mut pipe = redis::pipe();
        let mut want = Vec::new();
        for i in 0..5_000 {
            pipe.set(format!("p:{i}"), i);
            want.push(Value::Okay);
            pipe.get(format!("p:{}", i / 2));
            want.push(Value::BulkString((i / 2).to_string().into_bytes()));
        }
        let got: Vec<Value> = pipe.query_async(&mut con).await.unwrap();
        assert_eq!(got.len(), 10_000);
        assert!(got == want, "replies differ from request order");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_incr_from_many_connections_is_exact() {
    within(async {
        const TASKS: usize = 20;
        const INCRS: usize = 500;
        let cluster: Cluster = spawn_cluster(3).await;
        let keys = cluster.keys_on_distinct_shards(4);
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let mut con = cluster.client().await;
            let keys = keys.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..INCRS {
                    let _: i64 = con.incr(&keys[(t + i) % keys.len()], 1).await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let mut con = cluster.client().await;
        let got: Vec<usize> = con.mget(&keys).await.unwrap();
        assert_eq!(got, vec![TASKS * INCRS / keys.len(); keys.len()]);
    })
    .await;
}

#[tokio::test]
async fn values_of_megabytes_cross_the_router_intact() {
    within(async {
        let cluster = spawn_cluster(3).await;
        let mut con = cluster.client().await;
        let keys = cluster.keys_on_distinct_shards(3);
        let values: Vec<Vec<u8>> = (0..3u8)
            .map(|i| {
                (0..3 * 1024 * 1024 + i as usize)
                    .map(|j| (j % 251) as u8 ^ i)
                    .collect()
            })
            .collect();
        for (key, value) in keys.iter().zip(&values) {
            let _: () = con.set(key, value).await.unwrap();
        }
        let got: Vec<Vec<u8>> = con.mget(&keys).await.unwrap();
        assert!(got == values, "MGET returned other bytes");
        let one: Vec<u8> = con.get(&keys[1]).await.unwrap();
        assert!(one == values[1], "GET returned other bytes");
    })
    .await;
}

#[tokio::test]
async fn clients_that_disconnect_mid_pipeline_harm_nobody_through_the_router() {
    within(async {
        let cluster = spawn_cluster(3).await;
        let mut bystander = cluster.client().await;
        let _: () = bystander.set("kept", "value").await.unwrap();
        for _ in 0..20 {
            let mut raw = cluster.raw().await;
            let mut pipeline = Vec::new();
            for i in 0..1000 {
                pipeline.extend(request(&[b"SET", format!("p{i}").as_bytes(), b"v"]));
                pipeline.extend(request(&[b"MGET", format!("p{i}").as_bytes(), b"kept"]));
            }
            pipeline.extend(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$100\r\nshort");
            raw.send(&pipeline).await;
            drop(raw);
        }
        let got: String = bystander.get("kept").await.unwrap();
        assert_eq!(got, "value");
        let mut fresh = cluster.client().await;
        let got: Vec<Option<String>> = fresh.mget(&["kept", "x"]).await.unwrap();
        assert_eq!(got, [Some("value".to_string()), None]);
    })
    .await;
}
