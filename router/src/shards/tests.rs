//! ShardClient against a tiny in-process fake shard on 127.0.0.1:0.

use super::*;
use bytes::BytesMut;
use std::net::SocketAddr;
use std::time::Duration;

use protocol::{Decoder, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::timeout;

/// Serves `ECHO x` (bulk x), `STALL` (never answers) and anything else (`+OK`).
async fn fake_shard(listener: TcpListener) {
    let mut conns = JoinSet::new();
    while let Ok((mut stream, _)) = listener.accept().await {
        conns.spawn(async move {
            let mut dec = Decoder::new(Limits::default());
            let mut rbuf = BytesMut::new();
            loop {
                if stream.read_buf(&mut rbuf).await.unwrap_or(0) == 0 {
                    return;
                }
                let mut out = BytesMut::new();
                while let Ok(Some(req)) = dec.decode(&mut rbuf) {
                    match req.args[0].as_ref() {
                        b"ECHO" => protocol::encode::bulk(&mut out, &req.args[1]),
                        b"STALL" => {}
                        _ => out.extend_from_slice(b"+OK\r\n"),
                    }
                }
                if stream.write_all(&out).await.is_err() {
                    return;
                }
            }
        });
    }
}

async fn start_fake(addr: &str) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind(addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    (addr, tokio::spawn(fake_shard(listener)))
}

fn req(args: &[&[u8]]) -> Bytes {
    let mut out = BytesMut::new();
    protocol::encode::request(&mut out, args.iter().copied());
    out.freeze()
}

fn client(addr: SocketAddr, timeout_ms: u64) -> ShardClient {
    ShardClient::spawn_member(
        0,
        0,
        &addr.to_string(),
        2,
        1000,
        Duration::from_millis(timeout_ms),
        None,
        None,
        None,
    )
}

#[tokio::test]
async fn replies_match_requests_in_fifo_order_across_many_callers() {
    let (addr, _fake) = start_fake("127.0.0.1:0").await;
    let shard = client(addr, 2000);
    let mut tasks = JoinSet::new();
    for t in 0..20 {
        let shard = shard.clone();
        tasks.spawn(async move {
            let mut calls = Vec::new();
            for i in 0..250 {
                let v = format!("{t}-{i}");
                calls.push((
                    v.clone(),
                    shard.send(t, req(&[b"ECHO", v.as_bytes()])).await,
                ));
            }
            for (v, call) in calls {
                let reply = call.wait().await.unwrap();
                assert_eq!(reply, format!("${}\r\n{v}\r\n", v.len()).as_bytes());
            }
        });
    }
    timeout(Duration::from_secs(10), async {
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_stalled_request_times_out_and_the_connection_recovers() {
    let (addr, _fake) = start_fake("127.0.0.1:0").await;
    let shard = ShardClient::spawn_member(
        0,
        0,
        &addr.to_string(),
        1,
        100,
        Duration::from_millis(200),
        None,
        None,
        None,
    );
    assert_eq!(shard.call(req(&[b"PING"])).await.unwrap(), &b"+OK\r\n"[..]);
    let started = Instant::now();
    let err = shard.call(req(&[b"STALL"])).await.unwrap_err();
    assert_eq!(err.kind, ShardErrorKind::Timeout);
    assert!(started.elapsed() < Duration::from_millis(1000));
    assert_eq!(
        err.to_frame(),
        Frame::error_owned(format!("ERR shard {addr} timed out"))
    );
    // The stalled connection is torn down; a fresh one answers in order again.
    let ok = timeout(Duration::from_secs(5), async {
        loop {
            if let Ok(r) = shard.call(req(&[b"ECHO", b"x"])).await {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!(ok, &b"$1\r\nx\r\n"[..]);
}

#[tokio::test]
async fn a_dead_shard_fails_fast_and_is_reconnected_when_it_returns() {
    let (addr, fake) = start_fake("127.0.0.1:0").await;
    let shard = client(addr, 1000);
    assert!(shard.call(req(&[b"PING"])).await.is_ok());
    fake.abort();
    let _ = fake.await;
    let err = timeout(Duration::from_secs(5), async {
        loop {
            match shard.call(req(&[b"PING"])).await {
                Err(e) => return e,
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(err.kind, ShardErrorKind::Unavailable);
    assert_eq!(
        err.to_frame(),
        Frame::error_owned(format!("ERR shard {addr} unavailable"))
    );
    // While down, a request fails well inside the timeout.
    let started = Instant::now();
    let _ = shard.call(req(&[b"PING"])).await;
    assert!(started.elapsed() < Duration::from_millis(500));

    let (_, _fake) = start_fake(&addr.to_string()).await;
    timeout(Duration::from_secs(5), async {
        while shard.call(req(&[b"PING"])).await.is_err() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    assert!(shard.is_up());
}

#[tokio::test]
async fn a_shard_that_never_listened_fails_fast() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let shard = client(addr, 1000);
    let started = Instant::now();
    for _ in 0..3 {
        let err = shard.call(req(&[b"PING"])).await.unwrap_err();
        assert_eq!(err.kind, ShardErrorKind::Unavailable);
    }
    assert!(started.elapsed() < Duration::from_millis(900));
}

#[tokio::test]
async fn a_stalled_shard_fills_its_queue_then_fails_fast_with_busy() {
    // A shard that accepts and never answers: the queue (2) fills; once the connection has
    // shown no progress for a quarter of the timeout, further calls fail at once.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let shard = ShardClient::spawn_member(
        0,
        0,
        &addr.to_string(),
        1,
        2,
        Duration::from_millis(2000),
        None,
        None,
        None,
    );
    let _a = shard.send(0, req(&[b"GET", b"a"])).await;
    let _b = shard.send(0, req(&[b"GET", b"b"])).await;
    let started = Instant::now();
    let err = shard
        .send(0, req(&[b"GET", b"c"]))
        .await
        .wait()
        .await
        .unwrap_err();
    assert_eq!(err.kind, ShardErrorKind::Busy);
    assert!(started.elapsed() < Duration::from_millis(1500));
    assert_eq!(
        err.to_frame(),
        Frame::error_owned(format!("ERR shard {addr} busy (request queue full)"))
    );
    let started = Instant::now();
    let err = shard
        .send(0, req(&[b"GET", b"d"]))
        .await
        .wait()
        .await
        .unwrap_err();
    assert_eq!(err.kind, ShardErrorKind::Busy);
    assert!(started.elapsed() < Duration::from_millis(100));
}
