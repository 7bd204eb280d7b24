//! deploy/compose.yaml, brought up with Docker Compose around an image of this test's
//! `jumpcache` build: its two routers and three groups of two shards (Prometheus and Grafana,
//! upstream images that no registry here can give, are not started). Under a read/write
//! load through both routers, one shard container is stopped, another is cut off the network
//! (`docker network disconnect`), both come back, and one router is restarted: as in the
//! failover tests, no read of a key whose group kept a live member fails, none is stale, and
//! no write fails (a returning member is repaired key by key by each router, never flushed
//! under the other router's reads: this test found that bug).
//!
//! Uses `docker compose` (v2) where it exists, else `docker-compose` (v1). Where no Docker
//! engine answers or neither compose tool is installed, the test prints a NOTE and checks
//! nothing. Host ports are picked by Docker (every port variable of the compose file is set
//! to 0) and read back with `compose port`; the project name is unique to the run and the
//! project is taken down (`down -v`) when the test ends, pass or fail.

#[path = "support.rs"]
mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{client_for, within};
use redis::aio::MultiplexedConnection;
use tokio::process::Command;

/// Shard groups in deploy/compose.yaml, and their members' service names in bucket order.
const GROUPS: usize = 3;
const SHARDS: [[&str; 2]; GROUPS] = [
    ["shard-0a", "shard-0b"],
    ["shard-1a", "shard-1b"],
    ["shard-2a", "shard-2b"],
];

/// Runs `program args` and returns its stdout; panics with its stderr when it fails.
async fn run(program: &[String], args: &[&str], env: &[(String, String)]) -> String {
    let out = Command::new(&program[0])
        .args(&program[1..])
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run docker");
    assert!(
        out.status.success(),
        "{program:?} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Seconds since the test started, for the log lines of faults and what the clients saw.
fn stamp() -> String {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(Instant::now);
    format!("[{:7.3}s]", start.elapsed().as_secs_f64())
}

/// Logs a step of the test with its time.
fn step(what: &str) {
    eprintln!("{} {what}", stamp());
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

async fn docker(args: &[&str]) -> String {
    run(&["docker".to_string()], args, &[]).await
}

/// Returns true when `program args` runs and exits 0.
fn succeeds(program: &str, args: &[&str]) -> bool {
    std::process::Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// One compose project of deploy/compose.yaml; `down -v` and the image removed when dropped.
struct Project {
    /// `docker compose` or `docker-compose`, with `-p NAME -f FILE`.
    compose: Vec<String>,
    /// The compose file's variables: the image and every host port 0.
    env: Vec<(String, String)>,
    image: String,
}

impl Project {
    async fn compose(&self, args: &[&str]) -> String {
        run(&self.compose, args, &self.env).await
    }

    /// Returns the container id of `service`.
    async fn container(&self, service: &str) -> String {
        self.compose(&["ps", "-q", service]).await
    }

    /// Returns the host address Docker published `port` of `service` on.
    async fn port(&self, service: &str, port: u16) -> SocketAddr {
        let out = self.compose(&["port", service, &port.to_string()]).await;
        out.lines()
            .next()
            .and_then(|l| l.parse().ok())
            .unwrap_or_else(|| panic!("{service}:{port} published: {out:?}"))
    }

    /// Returns a router's RESP and admin addresses once its `/readyz` says every group has a
    /// member up.
    async fn ready_router(&self, service: &str) -> (SocketAddr, SocketAddr) {
        let resp = self.port(service, 6379).await;
        let admin = self.port(service, 9121).await;
        within(support::until_status(admin, "/readyz", 200)).await;
        (resp, admin)
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let quiet = |program: &[String], args: &[&str]| {
            let _ = std::process::Command::new(&program[0])
                .args(&program[1..])
                .args(args)
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        if std::thread::panicking() {
            // What the containers said, for the failure's report.
            let _ = std::process::Command::new(&self.compose[0])
                .args(&self.compose[1..])
                .args(["logs", "--no-color", "--tail", "30"])
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .status();
        }
        quiet(
            &self.compose,
            &["down", "-v", "--remove-orphans", "--timeout", "5"],
        );
        quiet(&["docker".to_string()], &["rmi", "-f", &self.image]);
    }
}

/// Returns the `# Cluster` line of `field` (`shard0_member1`) as `router` reports it.
async fn cluster_line(router: SocketAddr, field: &str) -> String {
    let mut con = client_for(router).await;
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query_async(&mut con)
        .await
        .expect("INFO cluster");
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_default()
        .to_string()
}

/// Waits until every router reports member `m` of group `g` with `state`.
async fn wait_state(routers: &[SocketAddr], g: usize, m: usize, state: &str) {
    let field = format!("shard{g}_member{m}");
    for &router in routers {
        within(async {
            while !cluster_line(router, &field)
                .await
                .contains(&format!("state={state},"))
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
}

/// What the load clients saw.
#[derive(Debug, Default)]
struct Seen {
    reads: u64,
    writes: u64,
    failed_reads: u64,
    failed_writes: u64,
    stale_reads: u64,
    /// When each stale read that found no value (a miss) happened, and its key's group.
    misses: Vec<(Instant, usize)>,
}

impl Seen {
    fn add(&mut self, other: &Seen) {
        self.reads += other.reads;
        self.writes += other.writes;
        self.failed_reads += other.failed_reads;
        self.failed_writes += other.failed_writes;
        self.stale_reads += other.stale_reads;
        self.misses.extend(&other.misses);
    }
}

/// Load clients on some routers: each writes its own keys and reads them back (the value
/// just acknowledged), and reads the preloaded keys (`pre:i` is `v:i`).
struct Load {
    stop: Arc<AtomicBool>,
    handles: Vec<tokio::task::JoinHandle<Seen>>,
}

impl Load {
    /// Starts one client per router in `routers`, numbered from `first`.
    fn start(routers: &[SocketAddr], first: usize, pre: usize, reads: &Arc<AtomicU64>) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let handles = routers
            .iter()
            .enumerate()
            .map(|(i, &router)| {
                let stop = stop.clone();
                let reads = reads.clone();
                tokio::spawn(client(router, first + i, pre, stop, reads))
            })
            .collect();
        Load { stop, handles }
    }

    async fn stop(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Seen::default();
        for h in self.handles {
            all.add(&within(h).await.expect("load client"));
        }
        all
    }
}

async fn client(
    router: SocketAddr,
    c: usize,
    pre: usize,
    stop: Arc<AtomicBool>,
    reads: Arc<AtomicU64>,
) -> Seen {
    let mut con = client_for(router).await;
    let mut seen = Seen::default();
    let mut mine: HashMap<String, String> = HashMap::new();
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let key = format!("own:{c}:{}", i % 64);
        let value = format!("{c}:{i}");
        seen.writes += 1;
        let set: redis::RedisResult<()> = redis::cmd("SET")
            .arg(&key)
            .arg(&value)
            .query_async(&mut con)
            .await;
        match set {
            Ok(()) => {
                mine.insert(key.clone(), value);
            }
            Err(e) => {
                seen.failed_writes += 1;
                eprintln!("{} failed write of {key} through {router}: {e}", stamp());
                mine.remove(&key); // unknown now: may or may not have been applied
            }
        }
        if let Some(want) = mine.get(&key) {
            check(&mut con, router, &key, want, &mut seen).await;
        }
        let n = (i * 7919 + c * 104_729) % pre;
        check(
            &mut con,
            router,
            &format!("pre:{n}"),
            &format!("v:{n}"),
            &mut seen,
        )
        .await;
        reads.fetch_add(2, Ordering::Relaxed);
    }
    seen
}

async fn check(
    con: &mut MultiplexedConnection,
    router: SocketAddr,
    key: &str,
    want: &str,
    seen: &mut Seen,
) {
    seen.reads += 1;
    let got: redis::RedisResult<Option<String>> = redis::cmd("GET").arg(key).query_async(con).await;
    match got {
        Ok(Some(v)) if v == want => {}
        Ok(other) => {
            seen.stale_reads += 1;
            let group = router::path::ring::bucket(key.as_bytes(), GROUPS);
            if other.is_none() {
                seen.misses.push((Instant::now(), group));
            }
            if seen.stale_reads <= 3 {
                eprintln!(
                    "{} stale read of {key} (group {}) through {router}: {other:?}, want {want}",
                    stamp(),
                    router::path::ring::bucket(key.as_bytes(), GROUPS)
                );
            }
        }
        Err(e) => {
            seen.failed_reads += 1;
            if seen.failed_reads <= 3 {
                eprintln!(
                    "{} failed read of {key} (group {}) through {router}: {e}",
                    stamp(),
                    router::path::ring::bucket(key.as_bytes(), GROUPS)
                );
            }
        }
    }
}

/// Waits until the load clients have done `more` reads (the load keeps running meanwhile).
async fn until_reads(reads: &AtomicU64, more: u64) {
    let target = reads.load(Ordering::Relaxed) + more;
    within(async {
        while reads.load(Ordering::Relaxed) < target {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

/// Asserts that `router` answers every preloaded key with its value, in one MGET.
async fn assert_all_keys(router: SocketAddr, pre: usize) {
    let keys: Vec<String> = (0..pre).map(|i| format!("pre:{i}")).collect();
    let mut con = client_for(router).await;
    let got: Vec<Option<String>> = within(redis::cmd("MGET").arg(&keys).query_async(&mut con))
        .await
        .expect("MGET");
    let wrong: Vec<usize> = (0..pre)
        .filter(|&i| got[i].as_deref() != Some(format!("v:{i}").as_str()))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {pre} keys wrong through {router}, first pre:{}",
        wrong.len(),
        wrong[0]
    );
}

/// Returns the compose command on this machine: `docker compose`, else `docker-compose`.
fn compose_tool() -> Option<Vec<String>> {
    if succeeds("docker", &["compose", "version"]) {
        Some(vec!["docker".into(), "compose".into()])
    } else if succeeds("docker-compose", &["version"]) {
        Some(vec!["docker-compose".into()])
    } else {
        None
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_topology_survives_a_stopped_shard_a_cut_off_shard_and_a_router_restart() {
    if !succeeds("docker", &["info"]) {
        println!("NOTE: no Docker engine answers (`docker info` failed); compose test skipped");
        return;
    }
    let Some(mut compose) = compose_tool() else {
        println!("NOTE: neither `docker compose` nor `docker-compose` runs; compose test skipped");
        return;
    };
    let root = env!("CARGO_MANIFEST_DIR");
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_nanos();
    let name = format!("jumpcache-compose-{}-{nanos}", std::process::id());
    let image = format!("{name}:test");
    let file = format!("{root}/deploy/compose.yaml");
    compose.extend(["-p".into(), name.clone(), "-f".into(), file]);
    let mut env = vec![("JUMPCACHE_IMAGE".to_string(), image.clone())];
    for port in [
        "ROUTER_A_PORT",
        "ROUTER_A_METRICS_PORT",
        "ROUTER_B_PORT",
        "ROUTER_B_METRICS_PORT",
        "PROMETHEUS_PORT",
        "GRAFANA_PORT",
    ] {
        env.push((port.to_string(), "0".to_string()));
    }
    let project = Project {
        compose,
        env,
        image: image.clone(),
    };

    let built = Command::new(format!("{root}/deploy/build-image.sh"))
        .arg(&image)
        .env("JUMPCACHE_BINARY", env!("CARGO_BIN_EXE_jumpcache"))
        .output()
        .await
        .expect("run deploy/build-image.sh");
    assert!(
        built.status.success(),
        "build-image.sh: {}{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
    // The file as compose reads it (variables filled in), before anything starts.
    let config = project.compose(&["config"]).await;
    for service in ["router-a", "router-b", "prometheus", "grafana"] {
        assert!(config.contains(&format!("  {service}:")), "{config}");
    }

    // The Prometheus it would run scrapes both routers: its config passes promtool.
    let prometheus = format!("{root}/deploy/compose/prometheus.yml");
    match std::process::Command::new("promtool")
        .args(["check", "config", &prometheus])
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "promtool check config: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        ),
        Err(_) => println!("NOTE: no promtool; deploy/compose/prometheus.yml not checked"),
    }
    let scraped = std::fs::read_to_string(&prometheus).expect("prometheus.yml");
    assert!(scraped.contains("\"router-a:9121\", \"router-b:9121\""));

    // Only jumpcache's own services: the routers bring their shards (depends_on).
    project
        .compose(&["up", "-d", "--no-color", "router-a", "router-b"])
        .await;
    let (a, _) = project.ready_router("router-a").await;
    let (b, _) = project.ready_router("router-b").await;
    for g in 0..GROUPS {
        for m in 0..2 {
            wait_state(&[a, b], g, m, "up").await;
        }
    }

    // Written through one router, read through the other.
    const PRE: usize = 2000;
    let mut con = client_for(a).await;
    let mut pipe = redis::pipe();
    for i in 0..PRE {
        pipe.cmd("SET")
            .arg(format!("pre:{i}"))
            .arg(format!("v:{i}"))
            .ignore();
    }
    let () = within(pipe.query_async(&mut con)).await.expect("preload");
    assert_all_keys(b, PRE).await;

    step("preloaded");
    let reads = Arc::new(AtomicU64::new(0));
    let load_a = Load::start(&[a, a], 0, PRE, &reads);
    let load_b = Load::start(&[b, b], 2, PRE, &reads);
    until_reads(&reads, 500).await;

    // Group 0 loses its primary: `docker stop` (SIGTERM; it drains and exits).
    step("stopping shard-0a");
    let stopped = project.container(SHARDS[0][0]).await;
    docker(&["stop", "--time", "10", &stopped]).await;
    wait_state(&[a, b], 0, 0, "down").await;
    step("shard-0a is down on both routers");
    until_reads(&reads, 300).await;

    // Group 1's primary is cut off the network while running: its packets go nowhere.
    let cut = project.container(SHARDS[1][0]).await;
    let networks = docker(&[
        "inspect",
        "--format",
        "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}",
        &cut,
    ])
    .await;
    let network = networks.split_whitespace().next().expect("a network");
    step("cutting shard-1a off the network");
    docker(&["network", "disconnect", network, &cut]).await;
    wait_state(&[a, b], 1, 0, "down").await;
    step("shard-1a is down on both routers");
    until_reads(&reads, 300).await;

    // Both come back: the stopped one empty, the cut-off one with what it held before the
    // cut (writes it missed included); the routers re-sync each before it serves.
    step("starting shard-0a, reconnecting shard-1a");
    docker(&["start", &stopped]).await;
    docker(&["network", "connect", "--alias", SHARDS[1][0], network, &cut]).await;
    wait_state(&[a, b], 0, 0, "up").await;
    wait_state(&[a, b], 1, 0, "up").await;
    step("shard-0a and shard-1a are up on both routers");
    until_reads(&reads, 500).await;

    // Router b restarts (SIGTERM, drain, start): its clients stop first, router a's load
    // goes on meanwhile; the new router b answers every key.
    let mut seen = load_b.stop().await;
    step("restarting router-b");
    project
        .compose(&["restart", "--timeout", "10", "router-b"])
        .await;
    let (b, _) = project.ready_router("router-b").await;
    assert_all_keys(b, PRE).await;
    step("router-b answers every key");
    let load_b = Load::start(&[b, b], 4, PRE, &reads);
    until_reads(&reads, 500).await;
    seen.add(&load_b.stop().await);
    seen.add(&load_a.stop().await);

    let misses: Vec<usize> = std::mem::take(&mut seen.misses)
        .into_iter()
        .map(|(_, group)| group)
        .collect();
    eprintln!("compose failover: {seen:?}");
    assert!(seen.reads > 2000, "the load ran: {seen:?}");
    assert_eq!(
        (seen.failed_reads, seen.stale_reads, seen.failed_writes),
        (0, 0, 0),
        "{seen:?}; the groups of the keys that missed: {misses:?}"
    );
    // Read with the primary first: the members that came back serve their groups' keys again,
    // all of them, through both routers.
    assert_all_keys(a, PRE).await;
    assert_all_keys(b, PRE).await;
    for g in 0..GROUPS {
        let line = cluster_line(a, &format!("shard{g}")).await;
        assert!(line.contains("members_up=2,"), "shard{g}: {line}");
    }
}
