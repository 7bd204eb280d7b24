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
    run_acl_differential(&redis, ([127, 0, 0, 1], router_port).into(), "router process").await;

    let redis = harness::RedisServer::start_with(&args).await.expect("started once");
    let mut cluster_args = vec!["cluster".to_string(), "--shards".into(), "2".into()];
    cluster_args.extend(tls_flags(&pki));
    cluster_args.extend(users);
    let (_cluster, cluster_port, _) = start(&cluster_args, "router listening", true).await;
    run_acl_differential(&redis, ([127, 0, 0, 1], cluster_port).into(), "cluster").await;
}
