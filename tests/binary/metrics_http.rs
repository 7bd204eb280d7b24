//! `/metrics` of the real `jumpcache` binary, scraped over HTTP: the families exist, they
//! move as commands run, `promtool check metrics` accepts them, and a real Prometheus
//! server scraping `jumpcache cluster` reads `redis_up` and a command counter back.
//!
//! These run the binary (only `main` installs a metrics recorder), so they belong to the
//! root package, which alone gets `CARGO_BIN_EXE_jumpcache`. Tests that need `promtool` or
//! `prometheus` print a NOTE and are not counted as passed when it is missing; CI installs
//! the `prometheus` package.

mod support;

use std::net::SocketAddr;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use support::{free_port, http_get, Jumpcache, Spec};

use harness::within;
use redis::AsyncCommands;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

/// Starts `jumpcache <sub> <args>` with a RESP port and a metrics port, and waits until it
/// prints that it listens (`ready`), which it does after binding both.
async fn start(sub: &str, args: &[&str], ready: &str) -> Jumpcache {
    let mut all = vec![sub];
    all.extend_from_slice(args);
    support::start(Spec::new(&all, ready)).await
}

/// Scrapes `/metrics` until `ok` accepts the body (bounded: the exporters refresh once a
/// second), and returns that body.
async fn scrape_until(addr: SocketAddr, ok: impl Fn(&str) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        if let Ok((200, body)) = http_get(addr, "/metrics").await {
            if ok(&body) {
                return body;
            }
            last = body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/metrics never matched; last scrape:\n{last}");
}

/// Returns the value of the sample whose line starts with `series ` (name plus labels).
fn sample(body: &str, series: &str) -> Option<f64> {
    body.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

async fn client(addr: SocketAddr) -> redis::aio::MultiplexedConnection {
    harness::client_for(addr).await
}

fn binary_exists(name: &str) -> bool {
    std::process::Command::new(name)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Starts a cluster, runs 3 SETs and 2 GETs (one hit) through its router, and returns the
/// first scrape that shows them.
async fn cluster_with_traffic() -> (Jumpcache, String) {
    let cluster = start("cluster", &["--shards", "2"], "router listening").await;
    let mut con = client(cluster.addr).await;
    for key in ["a", "b", "c"] {
        let _: () = within(con.set(key, "v")).await.unwrap();
    }
    let _: Option<String> = within(con.get("a")).await.unwrap();
    let _: Option<String> = within(con.get("absent")).await.unwrap();
    let body = scrape_until(cluster.metrics, |b| {
        sample(b, "redis_commands_total{cmd=\"get\"}") == Some(2.0)
            && sample(b, "redis_keyspace_hits_total") == Some(1.0)
    })
    .await;
    (cluster, body)
}

#[tokio::test]
async fn cluster_metrics_have_every_family_and_count_the_routers_commands_once() {
    let (_cluster, body) = cluster_with_traffic().await;
    for name in serve::stats::NAMES
        .iter()
        .chain(router::observe::stats::NAMES)
    {
        assert!(
            body.contains(&format!("# TYPE {name} ")),
            "no {name} in:\n{body}"
        );
    }
    // The embedded shards export nothing: SET is counted once, by the router.
    assert_eq!(
        sample(&body, "redis_commands_total{cmd=\"set\"}"),
        Some(3.0)
    );
    assert_eq!(sample(&body, "redis_keyspace_misses_total"), Some(1.0));
    assert_eq!(sample(&body, "redis_up"), Some(1.0));
    assert_eq!(sample(&body, "jumpcache_shards_up"), Some(2.0));
    assert_eq!(sample(&body, "redis_db_keys{db=\"db0\"}"), Some(3.0));
    // Histograms with explicit buckets, not summaries.
    assert!(body.contains("# TYPE redis_commands_duration_seconds histogram"));
    assert!(body.contains("redis_commands_duration_seconds_bucket{cmd=\"set\",le=\"0.001\"}"));
    assert!(body.contains("# TYPE jumpcache_shard_request_duration_seconds histogram"));
    // Per member: group `shard`, `member` 0 (a group without replicas has only its primary).
    assert!(body.contains("jumpcache_shard_up{shard=\"0\",member=\"0\",addr=\"127.0.0.1:"));
    assert_eq!(sample(&body, "jumpcache_members"), Some(2.0));
    assert_eq!(sample(&body, "jumpcache_members_up"), Some(2.0));
    assert!(
        body.contains("jumpcache_member_state{shard=\"1\",member=\"0\",addr=\"127.0.0.1:"),
        "{body}"
    );
}

/// A router over a replicated group exports each member's state (one series per state,
/// 1 for the current one) and counts a failover when a member that served is killed.
#[tokio::test]
async fn member_states_and_failovers_are_exported_per_member() {
    let primary = start("shard", &[], "metrics listening").await;
    let replica = start("shard", &[], "metrics listening").await;
    let (primary_addr, replica_addr) = (primary.addr, replica.addr);
    let group = format!("{primary_addr}|{replica_addr}");
    let router = start(
        "router",
        &["--shards", &group, "--health-interval-ms", "100"],
        "metrics listening",
    )
    .await;
    let labels = |m: usize, addr: SocketAddr| format!("shard=\"0\",member=\"{m}\",addr=\"{addr}\"");
    let state = |m: usize, addr: SocketAddr, s: &str| {
        format!(
            "jumpcache_member_state{{{},state=\"{s}\"}}",
            labels(m, addr)
        )
    };
    let failovers = |m: usize, addr: SocketAddr| {
        format!("jumpcache_member_failovers_total{{{}}}", labels(m, addr))
    };
    let body = scrape_until(router.metrics, |b| {
        sample(b, "jumpcache_members_up") == Some(2.0)
    })
    .await;
    assert_eq!(sample(&body, "jumpcache_shards"), Some(1.0));
    assert_eq!(sample(&body, "jumpcache_members"), Some(2.0));
    for (m, addr) in [(0, primary_addr), (1, replica_addr)] {
        assert_eq!(sample(&body, &state(m, addr, "up")), Some(1.0), "{body}");
        for other in ["down", "stale", "syncing"] {
            assert_eq!(sample(&body, &state(m, addr, other)), Some(0.0), "{body}");
        }
        assert_eq!(sample(&body, &failovers(m, addr)), Some(0.0), "{body}");
        let up = format!("jumpcache_shard_up{{{}}}", labels(m, addr));
        assert_eq!(sample(&body, &up), Some(1.0), "{body}");
    }
    // Let the replica pass health checks (a member that never served is no failover), then
    // kill it (SIGKILL on drop).
    tokio::time::sleep(Duration::from_millis(500)).await;
    drop(replica);
    let body = scrape_until(router.metrics, |b| {
        sample(b, &state(1, replica_addr, "down")) == Some(1.0)
            && sample(b, &failovers(1, replica_addr)) == Some(1.0)
    })
    .await;
    assert_eq!(sample(&body, &state(1, replica_addr, "up")), Some(0.0));
    let up = format!("jumpcache_shard_up{{{}}}", labels(1, replica_addr));
    assert_eq!(sample(&body, &up), Some(0.0));
    assert_eq!(sample(&body, &state(0, primary_addr, "up")), Some(1.0));
    assert_eq!(sample(&body, &failovers(0, primary_addr)), Some(0.0));
    assert_eq!(sample(&body, "jumpcache_members_up"), Some(1.0));
    assert_eq!(sample(&body, "jumpcache_shards_up"), Some(1.0));
    // The group still answers: reads and writes go to the primary.
    let mut con = client(router.addr).await;
    let _: () = within(con.set("k", "v")).await.unwrap();
    let got: Option<String> = within(con.get("k")).await.unwrap();
    assert_eq!(got.as_deref(), Some("v"));
}

#[tokio::test]
async fn promtool_accepts_the_live_metrics() {
    if !binary_exists("promtool") {
        println!("NOTE: promtool not installed; skipped (not a pass)");
        return;
    }
    let (_cluster, body) = cluster_with_traffic().await;
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn promtool");
    let mut stdin = promtool.stdin.take().expect("stdin");
    stdin.write_all(body.as_bytes()).await.unwrap();
    drop(stdin);
    let out = within(promtool.wait_with_output()).await.unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_shard_with_a_metrics_port_exports_itself() {
    let shard = start("shard", &[], "metrics listening").await;
    let mut con = client(shard.addr).await;
    let _: () = within(con.set("k", "v")).await.unwrap();
    let body = scrape_until(shard.metrics, |b| {
        sample(b, "redis_commands_total{cmd=\"set\"}") == Some(1.0)
    })
    .await;
    assert_eq!(sample(&body, "redis_up"), Some(1.0));
    assert_eq!(sample(&body, "redis_db_keys{db=\"db0\"}"), Some(1.0));
    assert!(!body.contains("jumpcache_shard_up"), "{body}");
}

/// A cluster with passwords and `--maxclients` reports the limit and its refusals in INFO and
/// /metrics, and neither password appears in INFO, /metrics or the log, even at debug level
/// and after a wrong AUTH.
#[tokio::test]
async fn limits_are_counted_and_passwords_never_appear_in_info_metrics_or_logs() {
    const CLIENT_PW: &str = "client-pw-7f3a9c";
    const SHARD_PW: &str = "shard-pw-51d2e8";
    const GUESS: &str = "guessed-pw-0b6c44";
    let mut spec = Spec::new(
        &[
            "cluster",
            "--shards",
            "2",
            "--maxclients",
            "2",
            "--requirepass",
            CLIENT_PW,
            "--shard-password",
            SHARD_PW,
        ],
        "router listening",
    );
    spec.log_level = "debug";
    let mut cluster = support::start(spec).await;
    let url = format!("redis://:{CLIENT_PW}@{}/", cluster.addr);
    let client = redis::Client::open(url).expect("client url");
    let mut con = within(client.get_multiplexed_async_connection())
        .await
        .expect("AUTH with the password");
    let _: () = within(con.set("k", "v")).await.unwrap();
    // A second client guesses wrong; it still holds the second of two places.
    let mut guess = TcpStream::connect(cluster.addr).await.unwrap();
    let auth = format!("*2\r\n$4\r\nAUTH\r\n${}\r\n{GUESS}\r\n", GUESS.len());
    guess.write_all(auth.as_bytes()).await.unwrap();
    let mut reply = [0u8; 64];
    let n = within(guess.read(&mut reply)).await.unwrap();
    assert!(reply[..n].starts_with(b"-WRONGPASS"), "{:?}", &reply[..n]);
    // The third is past maxclients.
    let mut third = TcpStream::connect(cluster.addr).await.unwrap();
    let mut refused = Vec::new();
    within(third.read_to_end(&mut refused)).await.unwrap();
    assert_eq!(refused, b"-ERR max number of clients reached\r\n");

    let info: String = within(redis::cmd("INFO").arg("everything").query_async(&mut con))
        .await
        .unwrap();
    assert!(info.contains("maxclients:2\r\n"), "{info}");
    assert!(info.contains("rejected_connections:1\r\n"), "{info}");
    assert!(info.contains("connected_clients:2\r\n"), "{info}");
    let body = scrape_until(cluster.metrics, |b| {
        sample(b, "redis_rejected_connections_total") == Some(1.0)
    })
    .await;
    assert_eq!(sample(&body, "redis_connected_clients"), Some(2.0));
    let config: Vec<String> = within(
        redis::cmd("CONFIG")
            .arg("GET")
            .arg("*")
            .query_async(&mut con),
    )
    .await
    .unwrap();
    drop((con, guess));
    // Stopped and waited for, so every line it wrote has been read.
    cluster.terminate();
    within(cluster.child.wait()).await.expect("cluster exits");
    let logs = cluster.log().join("\n");
    assert!(
        logs.contains("router listening"),
        "the log was captured: {logs}"
    );
    for (what, text) in [
        ("INFO everything", info.as_str()),
        ("/metrics", body.as_str()),
        ("CONFIG GET *", &config.join("\n")),
        ("the log", logs.as_str()),
    ] {
        for pw in [CLIENT_PW, SHARD_PW, GUESS] {
            assert!(!text.contains(pw), "{pw} appears in {what}:\n{text}");
        }
    }
}

/// A directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("jumpcache-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `url` on `addr` until `ok(status, body)`, at most 30 s; returns the body.
async fn poll_http(addr: SocketAddr, path: &str, ok: impl Fn(u16, &str) -> bool) -> String {
    let mut last = String::new();
    for _ in 0..300 {
        if let Ok((status, body)) = http_get(addr, path).await {
            if ok(status, &body) {
                return body;
            }
            last = format!("{status} {body}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never became ready; last answer: {last}");
}

#[tokio::test]
async fn a_prometheus_server_scrapes_the_cluster() {
    if !binary_exists("prometheus") {
        println!("NOTE: prometheus not installed; skipped (not a pass)");
        return;
    }
    let (cluster, _) = cluster_with_traffic().await;
    let dir = TempDir::new("prometheus");
    let config = dir.0.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: jumpcache\n    static_configs:\n      \
             - targets: ['{}']\n",
            cluster.metrics
        ),
    )
    .unwrap();
    let web = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.0.join("data").display()
        ))
        .arg(format!("--web.listen-address={web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn prometheus");
    poll_http(web, "/-/ready", |status, _| status == 200).await;
    let has_sample = |_: u16, body: &str| body.contains("\"result\":[{");
    let up = poll_http(web, "/api/v1/query?query=redis_up", has_sample).await;
    assert!(up.contains("\"job\":\"jumpcache\""), "{up}");
    assert!(up.contains(",\"1\"]"), "{up}");
    let query = "/api/v1/query?query=redis_commands_total%7Bcmd%3D%22set%22%7D";
    let set = poll_http(web, query, has_sample).await;
    assert!(set.contains(",\"3\"]"), "{set}");
    // Every query of the shipped dashboard is valid PromQL against live data.
    for expr in dashboard_queries() {
        let path = format!("/api/v1/query?query={}", url_encode(&expr));
        let (status, body) = http_get(web, &path).await.unwrap();
        assert!(
            status == 200 && body.contains("\"status\":\"success\""),
            "{expr}: {body}"
        );
    }
    // Killed by its id (this child only), then reaped.
    prometheus.kill().await.expect("kill prometheus");
    drop(cluster);
}

/// Returns the `expr` of every panel target of docs/grafana/jumpcache.json, with the
/// dashboard's variables matching everything.
fn dashboard_queries() -> Vec<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/grafana/jumpcache.json");
    let json = std::fs::read_to_string(path).expect("docs/grafana/jumpcache.json exists");
    let mut out = Vec::new();
    let mut rest = json.as_str();
    while let Some(at) = rest.find("\"expr\": \"") {
        rest = &rest[at + 9..];
        let mut expr = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => expr.extend(chars.next()),
                '"' => break,
                c => expr.push(c),
            }
        }
        out.push(expr.replace("$job", ".*").replace("$instance", ".*"));
    }
    assert!(out.len() >= 10, "found {} queries", out.len());
    out
}

/// Percent-encodes everything but unreserved characters.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn the_shipped_prometheus_config_is_valid() {
    if !binary_exists("promtool") {
        println!("NOTE: promtool not installed; skipped (not a pass)");
        return;
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/prometheus.yml");
    let out = std::process::Command::new("promtool")
        .arg("check")
        .arg("config")
        .arg(&path)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
