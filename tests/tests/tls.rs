//! TLS on a shard's and a router's client ports: redis-cli, redis-benchmark and redis-py
//! over TLS, mutual TLS, refused handshakes (closed, logged and counted, never a stall),
//! the hostile-input list over TLS, and certificate rotation under load.

use std::net::SocketAddr;
use std::process::Output;
use std::time::Duration;

use harness::tls::{spawn_tls_cluster, spawn_tls_shard, Pki, TlsServer};
use harness::{request, within};
use serve::tls::{AuthClients, Failure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

/// What a test runs against: a shard or a router, each with a TLS port.
#[derive(Clone, Copy, Debug)]
enum On {
    Shard,
    Router,
}

async fn start(pki: &Pki, auth: AuthClients, on: On) -> TlsServer {
    match on {
        On::Shard => spawn_tls_shard(pki, auth, server::Config::default()).await,
        On::Router => spawn_tls_cluster(pki, auth, 2, router::Config::default()).await,
    }
}

/// Returns true when `tool` was built with TLS; prints why the test is skipped otherwise.
fn has_tls(tool: &str) -> bool {
    let help = std::process::Command::new(tool).arg("--help").output();
    let ok = help
        .is_ok_and(|o| String::from_utf8_lossy(&[o.stdout, o.stderr].concat()).contains("--tls"));
    if !ok {
        println!("NOTE: {tool} is missing or built without TLS; skipped (not a pass)");
    }
    ok
}

async fn tool(pki: &Pki, tool: &str, addr: SocketAddr, cert: bool, args: &[&str]) -> Output {
    let mut cmd = Command::new(tool);
    cmd.args(["-h", "127.0.0.1", "-p", &addr.port().to_string()])
        .args(["--tls", "--cacert", &pki.arg("ca.crt")]);
    if cert {
        cmd.args([
            "--cert",
            &pki.arg("client.crt"),
            "--key",
            &pki.arg("client.key"),
        ]);
    }
    within(cmd.args(args).kill_on_drop(true).output())
        .await
        .unwrap_or_else(|e| panic!("{tool} runs: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn redis_cli_over_tls(on: On) {
    if !has_tls("redis-cli") {
        return;
    }
    let pki = Pki::new();
    let server = start(&pki, AuthClients::Yes, on).await;
    let set = tool(
        &pki,
        "redis-cli",
        server.tls_addr,
        true,
        &["SET", "tls:k", "v1"],
    )
    .await;
    assert_eq!(text(&set).trim(), "OK");
    let get = tool(&pki, "redis-cli", server.tls_addr, true, &["GET", "tls:k"]).await;
    assert_eq!(text(&get).trim(), "v1");
    // The plain port serves the same keys.
    let mut raw = harness::RawClient::connect(server.addr).await;
    assert_eq!(raw.call(&[b"GET", b"tls:k"]).await, b"$2\r\nv1\r\n");
    // Mutual TLS: without a client certificate redis-cli is refused, and it is counted.
    let refused = tool(&pki, "redis-cli", server.tls_addr, false, &["PING"]).await;
    assert!(!text(&refused).contains("PONG"), "{}", text(&refused));
    assert!(server.tls.failures(Failure::Certificate) >= 1);
}

#[tokio::test]
async fn redis_cli_sets_and_gets_over_tls_on_a_shard() {
    redis_cli_over_tls(On::Shard).await;
}

#[tokio::test]
async fn redis_cli_sets_and_gets_over_tls_through_a_router() {
    redis_cli_over_tls(On::Router).await;
}

async fn redis_benchmark_over_tls(on: On) {
    if !has_tls("redis-benchmark") {
        return;
    }
    let pki = Pki::new();
    let server = start(&pki, AuthClients::Yes, on).await;
    let out = tool(
        &pki,
        "redis-benchmark",
        server.tls_addr,
        true,
        &[
            "-t",
            "ping,set,get,incr,mset",
            "-P",
            "16",
            "-q",
            "-n",
            "5000",
            "-c",
            "10",
        ],
    )
    .await;
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    for name in ["PING_INLINE", "SET", "GET", "INCR", "MSET (10 keys)"] {
        assert!(all.contains(&format!("{name}: ")), "{name} missing: {all}");
    }
    assert!(!all.contains("ERR") && !all.contains("rror"), "{all}");
    assert_eq!(server.tls.all_failures(), 0);
}

#[tokio::test]
async fn redis_benchmark_runs_over_tls_against_a_shard() {
    redis_benchmark_over_tls(On::Shard).await;
}

#[tokio::test]
async fn redis_benchmark_runs_over_tls_through_a_router() {
    redis_benchmark_over_tls(On::Router).await;
}

/// redis-py with `ssl=True` (python3 and the `redis` package: `pip install redis`).
async fn redis_py_over_tls(on: On) {
    let check = std::process::Command::new("python3")
        .args(["-c", "import redis"])
        .output();
    if !check.is_ok_and(|o| o.status.success()) {
        println!("NOTE: python3 with the redis package (pip install redis) not found; skipped (not a pass)");
        return;
    }
    let pki = Pki::new();
    let server = start(&pki, AuthClients::Yes, on).await;
    let script = r#"
import sys, redis
port, ca, cert, key = sys.argv[1:5]
r = redis.Redis(host="127.0.0.1", port=int(port), ssl=True, ssl_ca_certs=ca,
                ssl_certfile=cert, ssl_keyfile=key, ssl_check_hostname=False)
assert r.ping()
r.set("py:k", "v")
assert r.get("py:k") == b"v"
p = r.pipeline(transaction=False)
for i in range(100):
    p.incr("py:n")
assert p.execute()[-1] == 100
r3 = redis.Redis(host="127.0.0.1", port=int(port), ssl=True, ssl_ca_certs=ca,
                 ssl_certfile=cert, ssl_keyfile=key, ssl_check_hostname=False, protocol=3)
assert r3.get("py:k") == b"v"
try:
    redis.Redis(host="127.0.0.1", port=int(port), ssl=True, ssl_ca_certs=ca,
                ssl_check_hostname=False, socket_timeout=5).ping()
    print("connected without a client certificate")
    sys.exit(1)
except (redis.ConnectionError, redis.exceptions.ConnectionError, OSError):
    pass
print("ok")
"#;
    let out = within(
        Command::new("python3")
            .args(["-c", script])
            .arg(server.tls_addr.port().to_string())
            .args([
                pki.arg("ca.crt"),
                pki.arg("client.crt"),
                pki.arg("client.key"),
            ])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("python3 runs");
    assert!(
        out.status.success() && text(&out).contains("ok"),
        "{}",
        text(&out)
    );
}

#[tokio::test]
async fn redis_py_with_ssl_works_against_a_shard() {
    redis_py_over_tls(On::Shard).await;
}

#[tokio::test]
async fn redis_py_with_ssl_works_through_a_router() {
    redis_py_over_tls(On::Router).await;
}

/// Sends `input` over `stream` and reads until the server closes (or `STEP_TIMEOUT`).
async fn exchange<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    stream: &mut S,
    input: &[u8],
) -> Vec<u8> {
    let _ = stream.write_all(input).await;
    let _ = stream.flush().await;
    let mut out = Vec::new();
    let _ = within(stream.read_to_end(&mut out)).await;
    out
}

/// The handshake either fails, or (TLS 1.3: the client finishes before the server has
/// checked its certificate) the first read finds the connection closed.
async fn refused(pki: &Pki, addr: SocketAddr, ca: &str, identity: Option<&str>) -> bool {
    match within(pki.connect_with(addr, ca, identity)).await {
        Err(_) => true,
        Ok(mut tls) => {
            let mut ping = request(&[b"PING"]);
            ping.extend(request(&[b"QUIT"]));
            let got = exchange(&mut tls, &ping).await;
            !got.starts_with(b"+PONG")
        }
    }
}

async fn refusals_are_closed_and_counted(on: On) {
    let pki = Pki::new();
    let server = start(&pki, AuthClients::Yes, on).await;
    assert!(
        refused(&pki, server.tls_addr, "ca.crt", None).await,
        "no certificate"
    );
    assert!(
        refused(&pki, server.tls_addr, "ca.crt", Some("expired")).await,
        "expired"
    );
    assert!(
        refused(&pki, server.tls_addr, "ca.crt", Some("rogue")).await,
        "untrusted"
    );
    assert_eq!(server.tls.failures(Failure::Certificate), 3);
    // A client that does not trust the server's CA gives up itself (counted as the server
    // sees it: the client's alert).
    assert!(refused(&pki, server.tls_addr, "rogue-ca.crt", Some("client")).await);
    // A plaintext client on the TLS port: closed, counted, no reply it could take for RESP.
    let mut plain = tokio::net::TcpStream::connect(server.tls_addr)
        .await
        .unwrap();
    let got = exchange(&mut plain, b"PING\r\n").await;
    assert!(!got.starts_with(b"+"), "{got:?}");
    assert_eq!(server.tls.failures(Failure::Protocol), 1);
    // A client that says nothing: closed when the handshake timeout (2 s here) passes.
    let started = std::time::Instant::now();
    let mut silent = tokio::net::TcpStream::connect(server.tls_addr)
        .await
        .unwrap();
    let mut buf = Vec::new();
    let _ = within(silent.read_to_end(&mut buf)).await;
    assert!(started.elapsed() >= Duration::from_millis(1_900));
    assert_eq!(server.tls.failures(Failure::Timeout), 1);
    // Meanwhile, and after, a good client is served.
    let mut good = pki.connect(server.tls_addr).await;
    good.write_all(&request(&[b"PING"])).await.unwrap();
    let mut reply = [0u8; 7];
    within(good.read_exact(&mut reply)).await.unwrap();
    assert_eq!(&reply, b"+PONG\r\n");
}

#[tokio::test]
async fn bad_handshakes_on_a_shard_are_closed_and_counted_never_stalled() {
    refusals_are_closed_and_counted(On::Shard).await;
}

#[tokio::test]
async fn bad_handshakes_on_a_router_are_closed_and_counted_never_stalled() {
    refusals_are_closed_and_counted(On::Router).await;
}

#[tokio::test]
async fn tls_auth_clients_optional_and_no_take_clients_without_a_certificate() {
    let pki = Pki::new();
    for auth in [AuthClients::Optional, AuthClients::No] {
        let server = start(&pki, auth, On::Shard).await;
        assert!(
            !refused(&pki, server.tls_addr, "ca.crt", None).await,
            "{auth:?}"
        );
        assert!(
            !refused(&pki, server.tls_addr, "ca.crt", Some("client")).await,
            "{auth:?}"
        );
        // Optional: a certificate shown must still be good.
        let rogue = refused(&pki, server.tls_addr, "ca.crt", Some("rogue")).await;
        assert_eq!(rogue, auth == AuthClients::Optional, "{auth:?}");
    }
}

/// Redis's protocol errors, each closing its connection after the error reply.
const HOSTILE: &[(&[u8], &str)] = &[
    (b"*3000000000\r\n", "invalid multibulk length"),
    (b"*abc\r\n", "invalid multibulk length"),
    (b"*1\r\n$-10\r\n", "invalid bulk length"),
    (b"*1\r\n$blabla\r\n", "invalid bulk length"),
    (b"*2\r\n$3\r\nSET\r\n$536870913\r\n", "invalid bulk length"),
    (b"*2\r\n$3\r\nGET\r\n:1\r\n", "expected '$', got ':'"),
    (b"SET \"a b\r\n", "unbalanced quotes in request"),
];

async fn hostile_input_over_tls(on: On) {
    let pki = Pki::new();
    let server = start(&pki, AuthClients::Yes, on).await;
    let nesting = b"*1\r\n".repeat(100_000);
    let inline = vec![b'a'; 70 * 1024];
    let mut cases: Vec<(&[u8], &str)> = HOSTILE.to_vec();
    cases.push((&nesting, "expected '$', got '*'"));
    cases.push((&inline, "too big inline request"));
    for (input, error) in cases {
        let mut tls = pki.connect(server.tls_addr).await;
        let got = exchange(&mut tls, input).await;
        let want = format!("-ERR Protocol error: {error}\r\n");
        assert_eq!(String::from_utf8_lossy(&got), want);
    }
    // Random bytes after a good handshake, in small pieces: answered or closed, never a hang.
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(20);
    for _ in 0..20 {
        let mut tls = pki.connect(server.tls_addr).await;
        let junk: Vec<u8> = (0..rng.gen_range(1..512)).map(|_| rng.gen()).collect();
        for piece in junk.chunks(rng.gen_range(1..32)) {
            if tls.write_all(piece).await.is_err() {
                break;
            }
        }
        let _ = tls.shutdown().await;
        let mut sink = Vec::new();
        let _ = within(tls.read_to_end(&mut sink)).await;
    }
    // Random bytes as the handshake itself.
    for _ in 0..20 {
        let mut tcp = tokio::net::TcpStream::connect(server.tls_addr)
            .await
            .unwrap();
        let mut junk: Vec<u8> = (0..rng.gen_range(1..512)).map(|_| rng.gen()).collect();
        junk[0] = 0x16; // a handshake record's type, so the bytes get past the first check
        let _ = exchange(&mut tcp, &junk).await;
    }
    let mut good = pki.connect(server.tls_addr).await;
    good.write_all(&request(&[b"PING"])).await.unwrap();
    let mut reply = [0u8; 7];
    within(good.read_exact(&mut reply)).await.unwrap();
    assert_eq!(&reply, b"+PONG\r\n");
}

#[tokio::test]
async fn the_hostile_input_list_over_tls_gets_redis_s_errors_on_a_shard() {
    hostile_input_over_tls(On::Shard).await;
}

#[tokio::test]
async fn the_hostile_input_list_over_tls_gets_redis_s_errors_through_a_router() {
    hostile_input_over_tls(On::Router).await;
}

/// Returns the DER of the certificate the server showed.
fn peer_cert(tls: &tokio_rustls::client::TlsStream<tokio::net::TcpStream>) -> Vec<u8> {
    tls.get_ref().1.peer_certificates().expect("a certificate")[0].to_vec()
}

fn file_cert(pki: &Pki) -> Vec<u8> {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::from_pem_file(pki.path("server.crt"))
        .expect("cert")
        .to_vec()
}

/// Clients keep sending over connections old and new while the certificate is replaced
/// (twice: once by a reload as SIGHUP does it, once noticed by the file watch): every request
/// is answered, and connections opened after a reload see the new certificate.
async fn rotation_under_load(on: On) {
    let pki = std::sync::Arc::new(Pki::new());
    let server = start(&pki, AuthClients::Yes, on).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = tokio::task::JoinSet::new();
    for c in 0..4u64 {
        let (stop, addr, pki) = (stop.clone(), server.tls_addr, pki.clone());
        load.spawn(async move {
            let mut done = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // A new connection (and handshake) every 20 requests.
                let mut tls = pki.connect(addr).await;
                for i in 0..20u64 {
                    let key = format!("rot:{c}:{i}");
                    let value = done.to_string();
                    tls.write_all(&request(&[b"SET", key.as_bytes(), value.as_bytes()]))
                        .await
                        .expect("write");
                    let mut ok = [0u8; 5];
                    within(tls.read_exact(&mut ok)).await.expect("reply");
                    assert_eq!(&ok, b"+OK\r\n");
                    done += 1;
                }
            }
            done
        });
    }
    let before = pki.connect(server.tls_addr).await;
    assert_eq!(peer_cert(&before), file_cert(&pki));
    // Rotation 1: new files, then a reload (what SIGHUP does).
    pki.issue("server", None);
    server.tls.reload().expect("reload");
    let after = pki.connect(server.tls_addr).await;
    assert_eq!(peer_cert(&after), file_cert(&pki));
    assert_ne!(peer_cert(&after), peer_cert(&before));
    // Rotation 2: new files, noticed by the watch.
    let watch = tokio::spawn(
        server
            .tls
            .clone()
            .watch(Duration::from_millis(50), serve::Shutdown::new()),
    );
    let reloads = server.tls.reloads();
    pki.issue("server", None);
    within(async {
        while server.tls.reloads() == reloads {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    watch.abort();
    let watched = pki.connect(server.tls_addr).await;
    assert_eq!(peer_cert(&watched), file_cert(&pki));
    // A connection opened before both rotations still works.
    let mut before = before;
    before.write_all(&request(&[b"PING"])).await.unwrap();
    let mut pong = [0u8; 7];
    within(before.read_exact(&mut pong)).await.unwrap();
    assert_eq!(&pong, b"+PONG\r\n");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    while let Some(done) = load.join_next().await {
        total += done.expect("no client saw a failure");
    }
    assert!(total >= 80, "{total}");
    assert_eq!(server.tls.all_failures(), 0);
    // A reload that fails (a key that is not a key) keeps the certificate in use.
    std::fs::write(pki.path("server.key"), "not a key").unwrap();
    assert!(server.tls.reload().is_err());
    let still = pki.connect(server.tls_addr).await;
    assert_eq!(peer_cert(&still), peer_cert(&watched));
}

#[tokio::test]
async fn certificates_rotate_under_load_on_a_shard_with_no_failed_request() {
    rotation_under_load(On::Shard).await;
}

#[tokio::test]
async fn certificates_rotate_under_load_on_a_router_with_no_failed_request() {
    rotation_under_load(On::Router).await;
}

#[tokio::test]
async fn users_log_in_and_are_refused_over_tls_as_over_tcp() {
    let pki = Pki::new();
    let config = server::Config {
        clients: serve::ClientConfig {
            users: vec!["alice on >pass ~cache:* +@read".into()],
            ..serve::ClientConfig::default()
        },
        ..server::Config::default()
    };
    let server = spawn_tls_shard(&pki, AuthClients::Yes, config).await;
    let mut tls = pki.connect(server.tls_addr).await;
    tls.write_all(&request(&[b"AUTH", b"alice", b"pass"]))
        .await
        .unwrap();
    tls.write_all(&request(&[b"SET", b"cache:a", b"1"]))
        .await
        .unwrap();
    tls.write_all(&request(&[b"QUIT"])).await.unwrap();
    let mut got = Vec::new();
    within(tls.read_to_end(&mut got)).await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&got),
        "+OK\r\n-NOPERM this user has no permissions to run the 'set' command\r\n+OK\r\n"
    );
}

#[tokio::test]
async fn a_router_reaches_tls_only_shards_over_tls_with_its_password() {
    let pki = Pki::new();
    let shard_config = server::Config {
        clients: serve::ClientConfig {
            requirepass: Some(serve::Password::new("shardpw")),
            ..serve::ClientConfig::default()
        },
        ..server::Config::default()
    };
    let config = router::Config {
        shard_password: Some(serve::Password::new("shardpw")),
        ..router::Config::default()
    };
    let (router, client_tls, shards) =
        harness::tls::spawn_cluster_over_tls(&pki, 3, "server", shard_config, config).await;
    let mut raw = harness::RawClient::connect(router.addr()).await;
    for i in 0..50 {
        let key = format!("k{i}");
        assert_eq!(raw.call(&[b"SET", key.as_bytes(), b"v"]).await, b"+OK\r\n");
    }
    assert_eq!(raw.call(&[b"DBSIZE"]).await, b":50\r\n");
    assert_eq!(
        raw.call(&[b"MGET", b"k1", b"k2", b"absent"]).await,
        b"*3\r\n$1\r\nv\r\n$1\r\nv\r\n$-1\r\n"
    );
    assert_eq!(client_tls.all_failures(), 0);
    for shard in &shards {
        assert_eq!(shard.tls.all_failures(), 0);
    }
}

#[tokio::test]
async fn a_router_refuses_a_shard_whose_certificate_it_does_not_trust() {
    let pki = Pki::new();
    let (router, client_tls, _shards) = harness::tls::spawn_cluster_over_tls(
        &pki,
        1,
        "rogue",
        server::Config::default(),
        router::Config::default(),
    )
    .await;
    let mut raw = harness::RawClient::connect(router.addr()).await;
    let reply = raw.call(&[b"SET", b"k", b"v"]).await;
    assert!(
        reply.starts_with(b"-"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    assert!(client_tls.failures(Failure::Certificate) >= 1);
}
