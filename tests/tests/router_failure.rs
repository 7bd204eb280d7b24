//! A shard that stops or stalls fails its own keys only, with a short clear error; the
//! router reconnects by itself when the shard returns.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use harness::{spawn_cluster, spawn_router, spawn_shard, within};
use redis::AsyncCommands;
use tokio::net::TcpListener;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_shard_fails_only_its_keys_and_recovers_when_it_restarts() {
    within(async {
        let mut cluster = spawn_cluster(3).await;
        // k[1] and k[4] live on shard 1.
        let k = cluster.keys_on_distinct_shards(6);
        let mut con = cluster.client().await;
        for key in &k {
            let _: () = con.set(key, key).await.unwrap();
        }

        // Traffic to the other shards runs all along and must never fail.
        let done = Arc::new(AtomicBool::new(false));
        let ops = Arc::new(AtomicUsize::new(0));
        let mut other = cluster.client().await;
        let healthy = [k[0].clone(), k[2].clone()];
        let traffic = tokio::spawn({
            let (done, ops) = (done.clone(), ops.clone());
            async move {
                while !done.load(Ordering::Relaxed) {
                    let n = ops.fetch_add(1, Ordering::Relaxed);
                    let key = &healthy[n % healthy.len()];
                    let _: () = other.set(key, n).await.unwrap();
                    let got: usize = other.get(key).await.unwrap();
                    assert_eq!(got, n);
                    let both: Vec<usize> = other.mget(&[key, key]).await.unwrap();
                    assert_eq!(both, [n, n]);
                }
            }
        });

        let mut raw = cluster.raw().await;
        cluster.stop_shard(1).await;
        let down = format!("-ERR shard {} unavailable\r\n", cluster.shard_addrs()[1]);
        let down = down.as_bytes();
        for key in [&k[1], &k[4], &k[1]] {
            assert_eq!(raw.call(&[b"GET", key.as_bytes()]).await, down);
        }
        assert_eq!(raw.call(&[b"SET", k[4].as_bytes(), b"x"]).await, down);
        // A multi-key command touching the shard fails as a whole; one that does not works.
        assert_eq!(
            raw.call(&[b"MGET", k[0].as_bytes(), k[1].as_bytes()]).await,
            down
        );
        assert_eq!(
            raw.call(&[b"EXISTS", k[0].as_bytes(), k[2].as_bytes(), k[3].as_bytes()])
                .await,
            b":3\r\n"
        );
        assert_eq!(raw.call(&[b"DBSIZE"]).await, down);
        let err = con.get::<_, Option<String>>(&k[1]).await.unwrap_err();
        assert!(err.to_string().contains("unavailable"), "{err}");
        let still: Vec<String> = con.mget(&[&k[3], &k[5]]).await.unwrap();
        assert_eq!(still, [k[3].clone(), k[5].clone()]);

        cluster.restart_shard(1).await;
        // The router reconnects on its own backoff (at most a second); give it 5.
        let mut reply = Vec::new();
        for _ in 0..500 {
            reply = raw.call(&[b"GET", k[1].as_bytes()]).await;
            if reply != down {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            reply, b"$-1\r\n",
            "the restarted shard is empty and reachable"
        );
        assert_eq!(
            raw.call(&[b"SET", k[4].as_bytes(), b"back"]).await,
            b"+OK\r\n"
        );
        assert_eq!(
            raw.call(&[b"MGET", k[4].as_bytes(), k[1].as_bytes()]).await,
            b"*2\r\n$4\r\nback\r\n$-1\r\n"
        );
        let got: Option<String> = con.get(&k[4]).await.unwrap();
        assert_eq!(got.as_deref(), Some("back"), "the old client recovers too");

        done.store(true, Ordering::Relaxed);
        traffic
            .await
            .expect("traffic to the other shards never failed");
        assert!(ops.load(Ordering::Relaxed) > 0);
    })
    .await;
}

#[tokio::test]
async fn a_stalled_shard_times_out_instead_of_stalling_the_client() {
    within(async {
        // A "shard" that accepts connections and never answers.
        let stalled = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stalled_addr = stalled.local_addr().unwrap();
        let holder = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = stalled.accept().await {
                held.push(socket);
            }
        });
        let good = spawn_shard().await;
        let router = spawn_router(router::Config {
            shards: vec![stalled_addr.to_string(), good.addr().to_string()],
            shard_timeout_ms: 200,
            ..router::Config::default()
        })
        .await;
        let key_on = |shard: usize| {
            (0..)
                .map(|i| format!("key:{i}"))
                .find(|k| router::path::ring::bucket(k.as_bytes(), 2) == shard)
                .unwrap()
        };
        let (stuck, fine) = (key_on(0), key_on(1));
        let mut raw = harness::RawClient::connect(router.addr()).await;

        let started = tokio::time::Instant::now();
        let reply = raw.call(&[b"GET", stuck.as_bytes()]).await;
        assert_eq!(
            String::from_utf8_lossy(&reply),
            format!("-ERR shard {stalled_addr} timed out\r\n")
        );
        let waited = started.elapsed();
        assert!(waited < Duration::from_secs(5), "waited {waited:?}");

        assert_eq!(raw.call(&[b"SET", fine.as_bytes(), b"v"]).await, b"+OK\r\n");
        assert_eq!(raw.call(&[b"GET", fine.as_bytes()]).await, b"$1\r\nv\r\n");
        let again =
            String::from_utf8_lossy(&raw.call(&[b"GET", stuck.as_bytes()]).await).into_owned();
        let timed_out = format!("-ERR shard {stalled_addr} timed out\r\n");
        let unavailable = format!("-ERR shard {stalled_addr} unavailable\r\n");
        assert!(again == timed_out || again == unavailable, "{again}");
        holder.abort();
    })
    .await;
}
