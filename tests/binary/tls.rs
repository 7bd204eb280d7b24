//! The binary's TLS and user flags, as real processes: a TLS-only shard (`--port 0
//! --tls-port`), a router reaching it with `--tls-shards` and serving TLS itself, SIGHUP
//! reloading a rotated certificate, `--user` rules, and settings that cannot work refused at
//! start.

use std::process::Stdio;

use harness::tls::{peer_cert, Pki};
use harness::{free_port, request, start_logged, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Child;

const BIN: &str = env!("CARGO_BIN_EXE_jumpcache");

fn tls_flags(pki: &Pki) -> Vec<String> {
    vec![
        "--tls-cert-file".into(),
        pki.arg("server.crt"),
        "--tls-key-file".into(),
        pki.arg("server.key"),
        "--tls-ca-cert-file".into(),
        pki.arg("ca.crt"),
    ]
}

/// Starts `jumpcache args` on a fresh TLS port (and plain port, where `plain`), waiting for
/// its `ready` log line; tries three ports before giving up.
async fn start(args: &[String], ready: &str, plain: bool) -> (Child, u16, u16) {
    for _ in 0..3 {
        let (port, tls_port) = (if plain { free_port() } else { 0 }, free_port());
        let mut all: Vec<String> = args.to_vec();
        all.extend([
            "--port".into(),
            port.to_string(),
            "--tls-port".into(),
            tls_port.to_string(),
            "--metrics-port".into(),
            "0".into(),
        ]);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        if let Some(child) = start_logged(BIN, &all, ready).await {
            return (child, port, tls_port);
        }
    }
    panic!("jumpcache {args:?} did not start");
}

async fn call(
    stream: &mut (impl AsyncReadExt + AsyncWriteExt + Unpin),
    args: &[&[u8]],
    reply_len: usize,
) -> Vec<u8> {
    stream.write_all(&request(args)).await.unwrap();
    let mut reply = vec![0u8; reply_len];
    within(stream.read_exact(&mut reply)).await.unwrap();
    reply
}

#[tokio::test]
async fn a_tls_only_shard_behind_a_tls_router_serves_users_and_reloads_on_sighup() {
    let pki = Pki::new();
    let mut shard_args = vec!["shard".to_string()];
    shard_args.extend(tls_flags(&pki));
    let (shard, _, shard_tls) = start(&shard_args, "shard listening", false).await;
    let mut router_args = vec![
        "router".to_string(),
        "--shards".into(),
        format!("127.0.0.1:{shard_tls}"),
        "--tls-shards".into(),
        "--user".into(),
        "alice on >pw ~cache:* +@read +@write".into(),
    ];
    router_args.extend(tls_flags(&pki));
    let (_router, router_plain, router_tls) = start(&router_args, "router listening", true).await;
    let router_tls = std::net::SocketAddr::from(([127, 0, 0, 1], router_tls));
    let mut tls = pki.connect(router_tls).await;
    assert_eq!(
        call(&mut tls, &[b"AUTH", b"alice", b"pw"], 5).await,
        b"+OK\r\n"
    );
    assert_eq!(
        call(&mut tls, &[b"SET", b"cache:a", b"1"], 5).await,
        b"+OK\r\n"
    );
    assert_eq!(
        call(&mut tls, &[b"GET", b"cache:a"], 7).await,
        b"$1\r\n1\r\n"
    );
    let noperm =
        b"-NOPERM this user has no permissions to access one of the keys used as arguments\r\n";
    assert_eq!(
        call(&mut tls, &[b"GET", b"other"], noperm.len()).await,
        noperm
    );
    // The router's plain port serves the same keys.
    let mut plain = harness::RawClient::connect(([127, 0, 0, 1], router_plain).into()).await;
    assert_eq!(plain.call(&[b"GET", b"cache:a"]).await, b"$1\r\n1\r\n");
    // The shard has no plain port: its TLS port is the only way in, and it wants a certificate.
    let shard_addr = std::net::SocketAddr::from(([127, 0, 0, 1], shard_tls));
    let before = pki.connect(shard_addr).await;
    assert_eq!(peer_cert(&before), pki.cert_der("server"));
    // Rotation: new files, SIGHUP; the next handshake shows the new certificate.
    pki.issue("server", None);
    let status = std::process::Command::new("kill")
        .args(["-HUP", &shard.id().expect("running").to_string()])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    within(async {
        loop {
            let now = pki.connect(shard_addr).await;
            if peer_cert(&now) == pki.cert_der("server") {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    // The router, reconnecting or not, still reaches the shard.
    assert_eq!(
        call(&mut tls, &[b"GET", b"cache:a"], 7).await,
        b"$1\r\n1\r\n"
    );
}

#[tokio::test]
async fn settings_that_cannot_work_are_refused_at_start() {
    let pki = Pki::new();
    let port = free_port().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["shard".into(), "--tls-port".into(), port.clone()],
            "--tls-port needs --tls-cert-file and --tls-key-file",
        ),
        (
            vec![
                "shard".into(),
                "--tls-port".into(),
                port.clone(),
                "--tls-cert-file".into(),
                pki.arg("server.crt"),
                "--tls-key-file".into(),
                pki.arg("server.key"),
            ],
            "needs --tls-ca-cert-file",
        ),
        (
            vec!["shard".into(), "--user".into(), "bob on +nosuch".into()],
            "user bob: rule '+nosuch'",
        ),
        (
            vec![
                "router".into(),
                "--shards".into(),
                "127.0.0.1:1".into(),
                "--tls-shards".into(),
                "--metrics-port".into(),
                "0".into(),
            ],
            "--tls-shards needs --tls-ca-cert-file",
        ),
    ];
    for (args, message) in cases {
        let out = within(
            tokio::process::Command::new(BIN)
                .args(&args)
                .kill_on_drop(true)
                .output(),
        )
        .await
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} started");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}

include!("../tests/acl_differential/steps.rs");

/// The ACL differential script (tests/tests/acl_differential.rs) through real processes: a
/// router binary over two shard processes, and `jumpcache cluster`, each with the users as
/// `--user` flags (and a TLS port beside, as a deployment would have).
#[tokio::test]
async fn users_through_a_router_process_and_cluster_answer_as_redis_server() {
    let args = redis_acl_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some(redis) = harness::RedisServer::start_with(&args).await else {
        return;
    };
    let pki = Pki::new();
    let mut users = Vec::new();
    for line in acl_users() {
        users.extend(["--user".to_string(), line]);
    }
    let shards = [
        harness::ShardProcess::start(BIN).await,
        harness::ShardProcess::start(BIN).await,
    ];
    let mut router_args = vec![
        "router".to_string(),
        "--shards".into(),
        shards
            .iter()
            .map(|s| s.addr().to_string())
            .collect::<Vec<_>>()
            .join(","),
    ];
    router_args.extend(tls_flags(&pki));
    router_args.extend(users.iter().cloned());
    let (_router, router_port, _) = start(&router_args, "router listening", true).await;
    run_acl_differential(
        &redis,
        ([127, 0, 0, 1], router_port).into(),
        "router process",
    )
    .await;

    let redis = harness::RedisServer::start_with(&args)
        .await
        .expect("started once");
    let mut cluster_args = vec!["cluster".to_string(), "--shards".into(), "2".into()];
    cluster_args.extend(tls_flags(&pki));
    cluster_args.extend(users);
    let (_cluster, cluster_port, _) = start(&cluster_args, "router listening", true).await;
    run_acl_differential(&redis, ([127, 0, 0, 1], cluster_port).into(), "cluster").await;
}

/// A process whose log (stderr, at `info`) is kept, to wait for and look at its lines.
struct Logged {
    child: Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    seen: tokio::sync::watch::Receiver<usize>,
}

impl Logged {
    /// Waits (up to `STEP_TIMEOUT`) for a line holding `needle`; false if none came.
    async fn wait_for(&mut self, needle: &str) -> bool {
        let found = tokio::time::timeout(harness::STEP_TIMEOUT, async {
            loop {
                self.seen.borrow_and_update();
                if self.has(needle) {
                    return true;
                }
                if self.seen.changed().await.is_err() {
                    return self.has(needle);
                }
            }
        })
        .await;
        found == Ok(true)
    }

    fn has(&self, needle: &str) -> bool {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains(needle))
    }
}

/// Ports a process was started on: plain (0: none), TLS, metrics.
struct Ports {
    plain: u16,
    tls: u16,
    metrics: u16,
}

/// Starts `jumpcache args` on fresh ports (a plain one where `plain`), keeping its log, and
/// waits for its `ready` line; tries three sets of ports.
async fn start_logged_kept(args: &[String], ready: &str, plain: bool) -> (Logged, Ports) {
    use tokio::io::AsyncBufReadExt;
    for _ in 0..3 {
        let ports = Ports {
            plain: if plain { free_port() } else { 0 },
            tls: free_port(),
            metrics: free_port(),
        };
        let mut child = tokio::process::Command::new(BIN)
            .args(args)
            .args(["--port", &ports.plain.to_string()])
            .args(["--tls-port", &ports.tls.to_string()])
            .args(["--metrics-port", &ports.metrics.to_string()])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start jumpcache");
        let stderr = child.stderr.take().expect("piped");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, seen) = tokio::sync::watch::channel(0usize);
        let kept = lines.clone();
        tokio::spawn(async move {
            let mut reader = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let n = {
                    let mut all = kept.lock().unwrap();
                    all.push(line);
                    all.len()
                };
                let _ = tx.send(n);
            }
        });
        let mut logged = Logged { child, lines, seen };
        if logged.wait_for(ready).await {
            return (logged, ports);
        }
    }
    panic!("jumpcache {args:?} did not start");
}

/// Returns a counter from the process's /metrics (0 when absent).
async fn metric(port: u16, name_and_labels: &str) -> u64 {
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("metrics port");
    tcp.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut body = Vec::new();
    within(tcp.read_to_end(&mut body)).await.unwrap();
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix(name_and_labels))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// Waits until a counter reaches `at_least`: a failed handshake is counted as its connection
/// closes, so the client may see the close first.
async fn metric_reaches(port: u16, name: &str, at_least: u64) {
    within(async {
        while metric(port, name).await < at_least {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
}

async fn tool_output(cmd: &mut tokio::process::Command) -> (bool, String) {
    let out = within(cmd.kill_on_drop(true).output())
        .await
        .expect("the tool runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn installed(tool: &str, probe: &[&str], needle: &str) -> bool {
    let out = std::process::Command::new(tool).args(probe).output();
    let ok = out.is_ok_and(|o| {
        o.status.success()
            && String::from_utf8_lossy(&[o.stdout, o.stderr].concat()).contains(needle)
    });
    if !ok {
        println!("NOTE: {tool} missing or without TLS; its part skipped (not a pass)");
    }
    ok
}

/// `jumpcache cluster` with a TLS port and `--tls-auth-clients optional`: redis-cli,
/// redis-benchmark and redis-py with and without a client certificate; then the handshakes
/// that must fail (plain text, garbage, a truncated ClientHello, silence, an expired and an
/// untrusted certificate), all at once, while another client keeps being served: each
/// closed, logged and counted in /metrics.
#[tokio::test]
async fn a_tls_cluster_serves_the_tools_and_closes_bad_handshakes_without_stalling_others() {
    let pki = Pki::new();
    let mut args = vec!["cluster".to_string(), "--shards".into(), "2".into()];
    args.extend(tls_flags(&pki));
    args.extend([
        "--tls-auth-clients".into(),
        "optional".into(),
        "--tls-handshake-timeout-ms".into(),
        "1500".into(),
    ]);
    let (mut cluster, ports) = start_logged_kept(&args, "router listening", true).await;
    let tls_port = ports.tls.to_string();
    let cert_args = [
        "--cert".to_string(),
        pki.arg("client.crt"),
        "--key".into(),
        pki.arg("client.key"),
    ];
    if installed("redis-cli", &["--help"], "--tls") {
        for with_cert in [true, false] {
            let mut cmd = tokio::process::Command::new("redis-cli");
            cmd.args(["-h", "127.0.0.1", "-p", &tls_port, "--tls", "--cacert"])
                .arg(pki.arg("ca.crt"));
            if with_cert {
                cmd.args(&cert_args);
            }
            let key = format!("cli:{with_cert}");
            let (ok, out) = tool_output(cmd.args(["SET", &key, "v"])).await;
            assert!(ok && out.trim() == "OK", "{out}");
        }
        let (ok, out) = tool_output(
            tokio::process::Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", &tls_port, "--tls", "--cacert"])
                .arg(pki.arg("ca.crt"))
                .args(["MGET", "cli:true", "cli:false"]),
        )
        .await;
        assert!(ok && out.trim() == "v\nv", "{out}");
    }
    if installed("redis-benchmark", &["--help"], "--tls") {
        let (ok, out) = tool_output(
            tokio::process::Command::new("redis-benchmark")
                .args(["-h", "127.0.0.1", "-p", &tls_port, "--tls", "--cacert"])
                .arg(pki.arg("ca.crt"))
                .args(&cert_args)
                .args(["-n", "2000", "-c", "4", "-P", "16", "-t", "set,get", "-q"]),
        )
        .await;
        assert!(
            ok && out.matches("requests per second").count() == 2,
            "{out}"
        );
        assert!(!out.contains("rror"), "{out}");
    }
    if installed("python3", &["-c", "import redis; print('ok')"], "ok") {
        let script = r#"
import sys, redis
port, ca, cert, key = sys.argv[1:5]
for c, k in ((cert, key), (None, None)):
    r = redis.Redis(host="127.0.0.1", port=int(port), ssl=True, ssl_ca_certs=ca,
                    ssl_certfile=c, ssl_keyfile=k, ssl_check_hostname=False)
    assert r.set("py", "v") and r.get("py") == b"v" and r.incr("py:n") > 0
print("ok")
"#;
        let (ok, out) = tool_output(
            tokio::process::Command::new("python3")
                .args(["-c", script, &tls_port])
                .args([
                    pki.arg("ca.crt"),
                    pki.arg("client.crt"),
                    pki.arg("client.key"),
                ]),
        )
        .await;
        assert!(ok && out.contains("ok"), "{out}");
    }

    // The bad handshakes, all at once.
    let tls_addr = std::net::SocketAddr::from(([127, 0, 0, 1], ports.tls));
    let connect = || tokio::net::TcpStream::connect(tls_addr);
    let mut plaintext = connect().await.unwrap();
    plaintext.write_all(b"PING\r\n").await.unwrap();
    let mut garbage = connect().await.unwrap();
    garbage
        .write_all(b"\x16\x03\x01\x00\x05garbage that is no handshake at all")
        .await
        .unwrap();
    // A ClientHello's first bytes: a record of 512 bytes announced, 38 sent.
    let mut truncated = connect().await.unwrap();
    let mut hello = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec();
    hello.extend([7u8; 27]);
    truncated.write_all(&hello).await.unwrap();
    let mut silent = connect().await.unwrap();
    let expired = pki.connect_with(tls_addr, "ca.crt", Some("expired"));
    let untrusted = pki.connect_with(tls_addr, "ca.crt", Some("rogue"));
    let (expired, untrusted) = tokio::join!(expired, untrusted);
    // Meanwhile a good client is served, well before the pending ones time out.
    let mut good = pki.connect(tls_addr).await;
    for i in 0..50 {
        let value = i.to_string();
        good.write_all(&request(&[b"SET", b"good", value.as_bytes()]))
            .await
            .unwrap();
        let mut ok = [0u8; 5];
        within(good.read_exact(&mut ok)).await.unwrap();
        assert_eq!(&ok, b"+OK\r\n");
    }
    let mut probe = [0u8; 1];
    assert!(
        matches!(silent.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the silent client is still waiting for its handshake while the good one was served"
    );
    // Each bad one is closed, never answered.
    for (what, stream) in [
        ("plain text", &mut plaintext),
        ("garbage", &mut garbage),
        ("truncated ClientHello", &mut truncated),
        ("silent", &mut silent),
    ] {
        let mut got = Vec::new();
        let _ = within(stream.read_to_end(&mut got)).await;
        assert!(!got.windows(5).any(|w| w == b"+PONG"), "{what}: {got:?}");
    }
    for (what, result) in [("expired", expired), ("untrusted", untrusted)] {
        if let Ok(mut tls) = result {
            let mut got = Vec::new();
            let _ = tls.write_all(&request(&[b"PING"])).await;
            let _ = within(tls.read_to_end(&mut got)).await;
            assert!(!got.starts_with(b"+PONG"), "{what} served");
        }
    }
    let failures = "jumpcache_tls_handshake_failures_total{reason=";
    for reason in ["certificate", "protocol", "timeout"] {
        metric_reaches(ports.metrics, &format!("{failures}\"{reason}\"}}"), 2).await;
    }
    assert!(cluster.wait_for("TLS handshake failed").await);
    assert!(cluster.wait_for("TLS handshake timed out").await);
    good.write_all(&request(&[b"GET", b"good"])).await.unwrap();
    let mut reply = [0u8; 8];
    within(good.read_exact(&mut reply)).await.unwrap();
    assert_eq!(&reply, b"$2\r\n49\r\n");
    let _ = cluster.child.start_kill();
}

/// `--port 0` with a TLS port: the shard listens on its TLS port alone.
#[tokio::test]
async fn port_0_leaves_only_the_tls_port() {
    let pki = Pki::new();
    let mut args = vec!["shard".to_string()];
    args.extend(tls_flags(&pki));
    let (shard, ports) = start_logged_kept(&args, "shard listening", false).await;
    let line = shard
        .lines
        .lock()
        .unwrap()
        .iter()
        .find(|l| l.contains("shard listening"))
        .cloned()
        .unwrap();
    let tls = format!("127.0.0.1:{}", ports.tls);
    // The one address it reports is the TLS port's, for both.
    assert_eq!(line.matches(&tls).count(), 2, "{line}");
    let mut tls_client = pki.connect(([127, 0, 0, 1], ports.tls).into()).await;
    assert_eq!(call(&mut tls_client, &[b"PING"], 7).await, b"+PONG\r\n");
}

/// A redis-py load (a new TLS connection every 10 requests) through a `cluster` process while
/// its certificate is replaced twice, once followed by SIGHUP, once noticed by the file
/// watch: no request fails, and new connections see the new certificate.
#[tokio::test]
async fn certificates_rotate_under_redis_py_load_with_no_failed_request() {
    if !installed("python3", &["-c", "import redis; print('ok')"], "ok") {
        return;
    }
    let pki = Pki::new();
    let mut args = vec!["cluster".to_string(), "--shards".into(), "2".into()];
    args.extend(tls_flags(&pki));
    let (cluster, ports) = start_logged_kept(&args, "router listening", false).await;
    let stop = pki.path("stop-load");
    let script = r#"
import os, sys, redis
port, ca, cert, key, stop = sys.argv[1:6]
done = failed = 0
while not os.path.exists(stop) or done < 200:
    try:
        r = redis.Redis(host="127.0.0.1", port=int(port), ssl=True, ssl_ca_certs=ca,
                        ssl_certfile=cert, ssl_keyfile=key, ssl_check_hostname=False,
                        socket_timeout=10)
        for i in range(10):
            r.set("rot:%d" % i, done)
            assert r.get("rot:%d" % i) == str(done).encode()
            done += 1
        r.close()
    except Exception as e:
        failed += 1
        print("failure:", repr(e), flush=True)
print("done", done, "failed", failed)
"#;
    let load = tokio::process::Command::new("python3")
        .args(["-c", script, &ports.tls.to_string()])
        .args([
            pki.arg("ca.crt"),
            pki.arg("client.crt"),
            pki.arg("client.key"),
            pki.arg("stop-load"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], ports.tls));
    let first = peer_cert(&pki.connect(addr).await);
    let pid = cluster.child.id().expect("running").to_string();
    let sees_the_file = || async {
        within(async {
            loop {
                if peer_cert(&pki.connect(addr).await) == pki.cert_der("server") {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await
    };
    // Rotation 1: new files, then SIGHUP.
    pki.issue("server", None);
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap();
    assert!(status.success());
    sees_the_file().await;
    let second = pki.cert_der("server");
    assert_ne!(first, second);
    // Rotation 2: new files, no signal: the file watch notices.
    pki.issue("server", None);
    sees_the_file().await;
    assert_ne!(pki.cert_der("server"), second);
    std::fs::write(&stop, b"").unwrap();
    let out = within(load.wait_with_output()).await.unwrap();
    let text = String::from_utf8_lossy(&[out.stdout, out.stderr].concat()).into_owned();
    assert!(out.status.success() && text.contains("failed 0"), "{text}");
    let done: u64 = text
        .split_whitespace()
        .skip_while(|w| *w != "done")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(done >= 200, "{text}");
    metric_reaches(
        ports.metrics,
        "jumpcache_tls_reloads_total{result=\"ok\"}",
        2,
    )
    .await;
}

/// `--tls-auth-clients yes` (the default): redis-cli and redis-py without a client
/// certificate are refused at once (no hang), each logged and counted; with one they are
/// served.
#[tokio::test]
async fn mutual_tls_refuses_clients_without_a_certificate_logged_and_counted() {
    let pki = Pki::new();
    let mut args = vec!["shard".to_string()];
    args.extend(tls_flags(&pki));
    let (mut shard, ports) = start_logged_kept(&args, "shard listening", false).await;
    let port = ports.tls.to_string();
    let mut refused = 0;
    if installed("redis-cli", &["--help"], "--tls") {
        let (ok, out) = tool_output(
            tokio::process::Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", &port, "--tls", "--cacert"])
                .arg(pki.arg("ca.crt"))
                .arg("PING"),
        )
        .await;
        assert!(!out.contains("PONG"), "{ok} {out}");
        refused += 1;
        let (ok, out) = tool_output(
            tokio::process::Command::new("redis-cli")
                .args(["-h", "127.0.0.1", "-p", &port, "--tls", "--cacert"])
                .arg(pki.arg("ca.crt"))
                .args([
                    "--cert",
                    &pki.arg("client.crt"),
                    "--key",
                    &pki.arg("client.key"),
                ])
                .arg("PING"),
        )
        .await;
        assert!(ok && out.trim() == "PONG", "{out}");
    }
    if installed("python3", &["-c", "import redis; print('ok')"], "ok") {
        let script = r#"
import sys, redis
from redis.retry import Retry
from redis.backoff import NoBackoff
port, ca = sys.argv[1:3]
try:
    redis.Redis(host="127.0.0.1", port=int(port), ssl=True, ssl_ca_certs=ca,
                ssl_check_hostname=False, socket_timeout=5,
                retry=Retry(NoBackoff(), 0)).ping()
    print("served without a certificate")
except redis.ConnectionError as e:
    print("refused:", e)
"#;
        let (_, out) = tool_output(
            tokio::process::Command::new("python3")
                .args(["-c", script, &port])
                .arg(pki.arg("ca.crt")),
        )
        .await;
        assert!(out.contains("refused:"), "{out}");
        refused += 1;
    }
    let name = "jumpcache_tls_handshake_failures_total{reason=\"certificate\"}";
    metric_reaches(ports.metrics, name, refused).await;
    if refused > 0 {
        assert!(shard.wait_for("reason=\"certificate\"").await);
    }
}
