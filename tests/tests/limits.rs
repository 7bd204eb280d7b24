//! Client limits, on a shard and through the router: maxclients, timeout,
//! client-query-buffer-limit, client-output-buffer-limit; half-close and resets.

use std::time::{Duration, Instant};

use harness::{on_shard_and_cluster, request, spawn, spawn_with, within, Server};
use redis::AsyncCommands;
use serve::ClientConfig;
use tokio::io::AsyncWriteExt;

const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";
const PONG: &[u8] = b"+PONG\r\n";

/// Returns this test process's resident memory: the servers run in it.
fn rss() -> u64 {
    server::stats::rss_bytes()
}

/// Waits until a fresh connection answers PING: a slot under maxclients is free again.
async fn wait_until_accepted(server: &Server) {
    within(async {
        loop {
            let mut c = server.raw().await;
            c.send(PING).await;
            if c.reply().await.as_deref() == Some(PONG) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

on_shard_and_cluster! {
    async fn the_client_past_maxclients_gets_redis_error_and_is_closed(target: Target) {
        let config = ClientConfig { maxclients: 5, ..ClientConfig::default() };
        let server = spawn_with(target, config).await;
        let mut clients = Vec::new();
        for _ in 0..5 {
            let mut c = server.raw().await;
            assert_eq!(c.call(&[b"PING"]).await, PONG);
            clients.push(c);
        }
        let mut sixth = server.raw().await;
        assert_eq!(sixth.read_to_end().await, b"-ERR max number of clients reached\r\n");
        for c in &mut clients {
            assert_eq!(c.call(&[b"PING"]).await, PONG, "the five keep working");
        }
        drop(clients.pop());
        wait_until_accepted(&server).await;
        // INFO shows the configured limit and counts the refusal (the process's own counter,
        // which /metrics exports as redis_rejected_connections_total); the wait above may have
        // been refused too.
        assert_eq!(server.info_field("maxclients").await, "5");
        let rejected: u64 = server.info_field("rejected_connections").await.parse().unwrap();
        assert!(rejected >= 1, "rejected_connections:{rejected}");
    }

    async fn an_idle_client_is_closed_after_timeout_and_a_busy_one_is_not(target: Target) {
        let config = ClientConfig { timeout: 1, ..ClientConfig::default() };
        let server = spawn_with(target, config).await;
        let mut idle = server.raw().await;
        let mut busy = server.raw().await;
        assert_eq!(idle.call(&[b"PING"]).await, PONG);
        let started = Instant::now();
        let keep_talking = async {
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(300)).await;
                assert_eq!(busy.call(&[b"PING"]).await, PONG);
            }
        };
        let (closed, ()) = tokio::join!(idle.read_to_end(), keep_talking);
        let waited = started.elapsed();
        assert_eq!(closed, b"", "closed without a reply, as Redis");
        assert!(waited >= Duration::from_millis(900), "closed after {waited:?}");
        assert!(waited < Duration::from_secs(5), "closed after {waited:?}");
    }

    async fn a_request_past_the_query_buffer_limit_closes_the_client(target: Target) {
        let config = ClientConfig {
            client_query_buffer_limit: 1 << 20,
            ..ClientConfig::default()
        };
        let server = spawn_with(target, config).await;
        let mut bystander = server.client().await;
        let under = vec![b'u'; 900 * 1024];
        let _: () = bystander.set("under", &under).await.unwrap();
        let mut raw = server.raw().await;
        let mut input = b"*3\r\n$3\r\nSET\r\n$4\r\nover\r\n$2000000\r\n".to_vec();
        input.extend(vec![b'x'; 1_200_000]);
        // The server may close while we still write: a reset here is the expected outcome.
        let _ = raw.stream().write_all(&input).await;
        assert_eq!(raw.read_to_end().await, b"", "closed without a reply, as Redis");
        let got: Vec<u8> = bystander.get("under").await.unwrap();
        assert!(got == under);
        let over: Option<Vec<u8>> = bystander.get("over").await.unwrap();
        assert_eq!(over, None);
    }

    async fn a_client_that_never_reads_is_closed_at_its_output_limit(target: Target) {
        let config = ClientConfig {
            client_output_buffer_limit: 1 << 20,
            ..ClientConfig::default()
        };
        let server = spawn_with(target, config).await;
        let mut bystander = server.client().await;
        let value = vec![b'v'; 32 * 1024];
        let _: () = bystander.set("big", &value).await.unwrap();
        server.wait_for_clients(1).await;
        let before = rss();
        let mut greedy = server.raw().await;
        // 20,000 GETs of 32 KiB: 640 MiB of replies it never reads.
        let pipeline = request(&[b"GET", b"big"]).repeat(20_000);
        let _ = greedy.stream().write_all(&pipeline).await;
        server.wait_for_clients(1).await;
        let grown = rss().saturating_sub(before);
        assert!(grown < 128 << 20, "memory grew by {} MiB", grown >> 20);
        let got: Vec<u8> = bystander.get("big").await.unwrap();
        assert!(got == value, "other clients are unaffected");
        let _ = greedy.read_to_end().await;
    }

    async fn a_half_closed_client_gets_its_replies_then_the_close(target: Target) {
        let server = spawn(target).await;
        let mut raw = server.raw().await;
        let mut pipeline = Vec::new();
        let mut expected = Vec::new();
        for i in 0..300 {
            let (key, value) = (format!("hc{i}"), format!("value {i}"));
            pipeline.extend(request(&[b"SET", key.as_bytes(), value.as_bytes()]));
            pipeline.extend(request(&[b"GET", key.as_bytes()]));
            expected.extend(b"+OK\r\n");
            expected.extend(format!("${}\r\n{value}\r\n", value.len()).into_bytes());
        }
        raw.send(&pipeline).await;
        raw.stream().shutdown().await.unwrap();
        assert_eq!(raw.read_to_end().await, expected);
    }

    async fn a_thousand_resets_mid_pipeline_release_every_connection(target: Target) {
        let server = spawn(target).await;
        let mut keeper = server.client().await;
        let _: () = keeper.set("kept", "yes").await.unwrap();
        server.wait_for_clients(1).await;
        let before = rss();
        let mut pipeline = Vec::new();
        for i in 0..50 {
            pipeline.extend(request(&[b"SET", format!("r{i}").as_bytes(), &[b'x'; 512]]));
            pipeline.extend(request(&[b"GET", format!("r{i}").as_bytes()]));
        }
        pipeline.extend(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$100000\r\nshort");
        for _ in 0..1000 {
            let mut raw = server.raw().await;
            raw.send(&pipeline).await;
            // Linger 0: close sends a reset, not a FIN.
            raw.stream().set_zero_linger().unwrap();
            drop(raw);
        }
        server.wait_for_clients(1).await;
        let grown = rss().saturating_sub(before);
        assert!(grown < 64 << 20, "memory grew by {} MiB", grown >> 20);
        let kept: String = keeper.get("kept").await.unwrap();
        assert_eq!(kept, "yes");
    }
}
