//! Hostile traffic: random and mutated requests arriving in random pieces, and a shard that
//! stalls behind the router. The server keeps answering everyone else.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use harness::{
    client_for, on_shard_and_cluster, read_reply, request, spawn, spawn_router, spawn_shard, within,
};
use rand::{Rng, SeedableRng};
use redis::AsyncCommands;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// Returns well-formed requests with a few bytes flipped, inserted or removed.
fn mutated_requests(rng: &mut impl Rng) -> Vec<u8> {
    const COMMANDS: &[&[&[u8]]] = &[
        &[b"SET", b"fuzz", b"value"],
        &[b"GET", b"fuzz"],
        &[b"MSET", b"a", b"1", b"b", b"2"],
        &[b"MGET", b"a", b"b", b"fuzz"],
        &[b"INCR", b"n"],
        &[b"SET", b"t", b"v", b"EX", b"100"],
        &[b"PING"],
        &[b"SCAN", b"0"],
        &[b"DEL", b"a", b"b"],
        &[b"HELLO", b"3"],
        &[b"HELLO", b"2"],
    ];
    let mut input = Vec::new();
    for _ in 0..rng.gen_range(1..8) {
        if rng.gen_bool(0.2) {
            input.extend(b"SET inline 'quoted value'\r\n");
        } else {
            input.extend(request(COMMANDS[rng.gen_range(0..COMMANDS.len())]));
        }
    }
    for _ in 0..rng.gen_range(0..4) {
        let at = rng.gen_range(0..input.len());
        match rng.gen_range(0..4) {
            0 => input[at] ^= 1 << rng.gen_range(0..8),
            1 => input.insert(at, rng.gen()),
            2 => {
                input.remove(at);
            }
            _ => input.extend((0..rng.gen_range(1..64)).map(|_| rng.gen::<u8>())),
        }
    }
    input
}

/// Sends `input` in random pieces, then reads whatever comes back until the server closes or
/// goes quiet; returns the bytes received.
async fn send_in_pieces(addr: std::net::SocketAddr, input: &[u8], rng: &mut impl Rng) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut from = 0;
    while from < input.len() {
        let to = (from + rng.gen_range(1..=16)).min(input.len());
        if stream.write_all(&input[from..to]).await.is_err() {
            break; // closed on a protocol error: fine
        }
        from = to;
    }
    let _ = stream.shutdown().await;
    let mut out = Vec::new();
    let mut buf = BytesMut::new();
    // Until the server closes, or goes quiet (a request cut short by a mutation).
    while let Ok(Some(reply)) =
        tokio::time::timeout(Duration::from_secs(5), read_reply(&mut stream, &mut buf)).await
    {
        out.extend(reply);
    }
    out
}

on_shard_and_cluster! {
    async fn random_and_mutated_requests_in_random_pieces_never_break_the_server(target: Target) {
        let server = spawn(target).await;
        let mut bystander = server.client().await;
        let _: () = bystander.set("kept", "value").await.unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(6);
        for _ in 0..150 {
            let input = mutated_requests(&mut rng);
            let _ = within(send_in_pieces(server.addr(), &input, &mut rng)).await;
        }
        let got: String = bystander.get("kept").await.unwrap();
        assert_eq!(got, "value");
        let mut raw = server.raw().await;
        assert_eq!(raw.call(&[b"PING"]).await, b"+PONG\r\n");
    }
}

#[tokio::test]
async fn a_stalled_shard_fails_its_keys_fast_while_other_shards_keep_flowing() {
    let healthy = spawn_shard().await;
    // Accepts connections and never reads or answers.
    let stalled = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let stalled_addr = stalled.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = stalled.accept().await {
            held.push(s);
        }
    });
    let router = spawn_router(router::Config {
        shards: vec![healthy.addr().to_string(), stalled_addr.to_string()],
        shard_timeout_ms: 500,
        shard_queue: 16,
        ..router::Config::default()
    })
    .await;
    let keys_on = |bucket: usize| {
        (0..)
            .map(|i| format!("key:{i}"))
            .filter(move |k| router::path::ring::bucket(k.as_bytes(), 2) == bucket)
    };
    let stalled_keys: Vec<String> = keys_on(1).take(200).collect();

    let addr = router.addr();
    let stuck = tokio::spawn(async move {
        let mut raw = harness::RawClient::connect(addr).await;
        let mut pipeline = Vec::new();
        for key in &stalled_keys {
            pipeline.extend(request(&[b"GET", key.as_bytes()]));
        }
        let started = Instant::now();
        raw.send(&pipeline).await;
        let mut replies = Vec::new();
        for _ in 0..stalled_keys.len() {
            replies.push(String::from_utf8(raw.reply().await.unwrap()).unwrap());
        }
        (replies, started.elapsed())
    });

    let mut con = client_for(addr).await;
    for key in keys_on(0).take(50) {
        let started = Instant::now();
        let _: () = con.set(&key, "v").await.unwrap();
        let got: String = con.get(&key).await.unwrap();
        assert_eq!(got, "v");
        assert!(
            started.elapsed() < Duration::from_millis(250),
            "a healthy shard's key took {:?}",
            started.elapsed()
        );
    }

    let (replies, took) = within(stuck).await.unwrap();
    let prefix = format!("-ERR shard {stalled_addr} ");
    for reply in &replies {
        assert!(reply.starts_with(&prefix), "{reply}");
        assert!(
            reply.contains("timed out") || reply.contains("busy"),
            "{reply}"
        );
    }
    assert!(
        replies.iter().any(|r| r.contains("busy")),
        "the queue filled"
    );
    assert!(
        took < Duration::from_secs(3),
        "200 stalled keys took {took:?}"
    );
}

/// Sends `input` over a new TLS connection in random pieces, then closes its writing side
/// (`close_notify`) and reads until the server closes or goes quiet.
async fn send_in_pieces_over_tls(
    pki: &harness::tls::Pki,
    addr: std::net::SocketAddr,
    input: &[u8],
    rng: &mut impl Rng,
) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut tls = pki.connect(addr).await;
    let mut from = 0;
    while from < input.len() {
        let to = (from + rng.gen_range(1..=16)).min(input.len());
        if tls.write_all(&input[from..to]).await.is_err() || tls.flush().await.is_err() {
            break;
        }
        from = to;
    }
    let _ = tls.shutdown().await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut out)).await;
    out
}

/// The hostile list above (mutated requests in random pieces) replayed over TLS, on a shard's
/// and a router's TLS port: a bystander on TLS keeps its key and its answers.
async fn mutated_requests_over_tls(router: bool) {
    use harness::tls::{spawn_tls_cluster, spawn_tls_shard, Pki};
    use serve::tls::AuthClients;
    use tokio::io::AsyncReadExt;
    let pki = Pki::new();
    let server = match router {
        false => spawn_tls_shard(&pki, AuthClients::Yes, server::Config::default()).await,
        true => spawn_tls_cluster(&pki, AuthClients::Yes, 3, router::Config::default()).await,
    };
    let mut bystander = pki.connect(server.tls_addr).await;
    bystander
        .write_all(&request(&[b"SET", b"kept", b"value"]))
        .await
        .unwrap();
    let mut ok = [0u8; 5];
    within(bystander.read_exact(&mut ok)).await.unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(6);
    for _ in 0..150 {
        let input = mutated_requests(&mut rng);
        let _ = within(send_in_pieces_over_tls(
            &pki,
            server.tls_addr,
            &input,
            &mut rng,
        ))
        .await;
    }
    bystander
        .write_all(&request(&[b"GET", b"kept"]))
        .await
        .unwrap();
    let mut got = [0u8; 11];
    within(bystander.read_exact(&mut got)).await.unwrap();
    assert_eq!(&got, b"$5\r\nvalue\r\n");
    assert_eq!(server.tls.all_failures(), 0);
}

#[tokio::test]
async fn mutated_requests_over_tls_never_break_a_shard() {
    mutated_requests_over_tls(false).await;
}

#[tokio::test]
async fn mutated_requests_over_tls_never_break_a_router() {
    mutated_requests_over_tls(true).await;
}
