//! SIGTERM under load, on the real binary: every request a client had sent before the
//! signal gets its reply, the connection then closes, and the process exits 0.

#[path = "support.rs"]
mod support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use harness::within;
use support::{start, Jumpcache, Spec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

/// Clients whose last batch is checked.
const CLIENTS: usize = 8;
/// Requests per pipelined batch (a few KiB: the batch sits whole in the socket buffers).
const BATCH: usize = 100;
/// Batches each client sends and reads back before its last one.
const WARM_BATCHES: usize = 20;

/// Returns a batch of `BATCH` SETs of client `c`'s keys.
fn batch(c: usize, round: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..BATCH {
        let key = format!("c{c}:{i}");
        let value = format!("{round}");
        out.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
                key.len(),
                value.len()
            )
            .as_bytes(),
        );
    }
    out
}

/// Reads `n` replies of `+OK\r\n`; panics on anything else or an early close.
async fn read_oks(stream: &mut TcpStream, n: usize) {
    let mut want = b"+OK\r\n".repeat(n);
    let mut got = vec![0u8; want.len()];
    stream
        .read_exact(&mut got)
        .await
        .unwrap_or_else(|e| panic!("replies cut short: {e}"));
    if got != want {
        want.truncate(64);
        panic!("wrong replies: {}", String::from_utf8_lossy(&got[..64]));
    }
}

/// Runs the load against `target`: `CLIENTS` clients send batches and read their replies,
/// others keep sending without a check; once every checked client has written its last
/// batch, SIGTERM; then each reads that batch's replies and sees the connection close.
async fn sigterm_under_load(mut target: Jumpcache) {
    let sent = Arc::new(Barrier::new(CLIENTS + 1));
    let stop_noise = Arc::new(AtomicBool::new(false));
    let mut noise = Vec::new();
    for c in 0..4 {
        let addr = target.addr;
        let stop = stop_noise.clone();
        noise.push(tokio::spawn(async move {
            // Load only: what these see after the signal is not checked.
            let Ok(mut stream) = TcpStream::connect(addr).await else {
                return;
            };
            let mut round = 0;
            while !stop.load(Ordering::Relaxed) {
                round += 1;
                if stream.write_all(&batch(100 + c, round)).await.is_err() {
                    return;
                }
                let mut sink = vec![0u8; 5 * BATCH];
                if stream.read_exact(&mut sink).await.is_err() {
                    return;
                }
            }
        }));
    }
    let mut checked = Vec::new();
    for c in 0..CLIENTS {
        let addr = target.addr;
        let sent = sent.clone();
        checked.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            for round in 0..WARM_BATCHES {
                stream.write_all(&batch(c, round)).await.expect("write");
                read_oks(&mut stream, BATCH).await;
            }
            stream
                .write_all(&batch(c, WARM_BATCHES))
                .await
                .expect("write the last batch");
            sent.wait().await;
            read_oks(&mut stream, BATCH).await;
            // Then a clean close: end of stream, nothing more.
            let mut rest = Vec::new();
            let _ = stream.read_to_end(&mut rest).await;
            assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
        }));
    }
    within(sent.wait()).await;
    target.terminate();
    for client in checked {
        within(client).await.expect("a checked client");
    }
    let status = within(target.child.wait()).await.expect("wait");
    stop_noise.store(true, Ordering::Relaxed);
    for n in noise {
        let _ = within(n).await;
    }
    assert_eq!(status.code(), Some(0), "{:?}", target.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_answers_what_a_cluster_was_sent_and_exits_0() {
    let cluster = start(Spec::new(&["cluster", "--shards", "2"], "router listening")).await;
    sigterm_under_load(cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_answers_what_a_router_and_a_shard_were_sent_and_exit_0() {
    let shard = start(Spec::new(&["shard"], "metrics listening")).await;
    let shards = shard.addr.to_string();
    let router = start(Spec::new(
        &["router", "--shards", &shards],
        "metrics listening",
    ))
    .await;
    within(support::until_status(router.metrics, "/readyz", 200)).await;
    sigterm_under_load(router).await;
    sigterm_under_load(shard).await;
}
