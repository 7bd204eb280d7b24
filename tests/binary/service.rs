//! The binary as an orchestrated service, through its real sockets: the probes on the admin
//! port, a scrape right after traffic, settings from flags, environment and file, and JSON
//! logs that hold no password and no value.

#[path = "support.rs"]
mod support;

use harness::within;
use redis::AsyncCommands;
use support::{http_get, sample, start, until_status, Spec};

async fn client(addr: std::net::SocketAddr) -> redis::aio::MultiplexedConnection {
    harness::client_for(addr).await
}

#[tokio::test]
async fn a_shard_is_alive_and_ready_once_serving() {
    let shard = start(Spec::new(&["shard"], "metrics listening")).await;
    assert_eq!(
        within(http_get(shard.metrics, "/healthz")).await.unwrap(),
        (200, "ok\n".into())
    );
    assert_eq!(
        within(http_get(shard.metrics, "/readyz")).await.unwrap(),
        (200, "ready\n".into())
    );
    assert_eq!(
        within(http_get(shard.metrics, "/nothing")).await.unwrap().0,
        404
    );
}

/// Ready needs an up, health-checked member in every group first: not before the shard
/// answers a check, and no longer once no group has one; alive all along.
#[tokio::test]
async fn a_router_is_ready_once_every_group_answered_and_not_once_none_does() {
    let shard = start(Spec::new(&["shard"], "metrics listening")).await;
    // A second group whose one member never listens: the router is alive, never ready.
    let nobody = support::free_port();
    let shards = format!("{},127.0.0.1:{nobody}", shard.addr);
    let checks = ["--health-interval-ms", "20", "--fail-after", "1"];
    let mut args = vec!["router", "--shards", &shards];
    args.extend(checks);
    let broken = start(Spec::new(&args, "metrics listening")).await;
    let shards = shard.addr.to_string();
    let mut args = vec!["router", "--shards", &shards];
    args.extend(checks);
    let router = start(Spec::new(&args, "metrics listening")).await;

    within(until_status(router.metrics, "/readyz", 200)).await;
    within(until_status(broken.metrics, "/readyz", 503)).await;
    assert_eq!(
        within(http_get(broken.metrics, "/healthz"))
            .await
            .unwrap()
            .0,
        200
    );

    drop(shard); // killed
    within(until_status(router.metrics, "/readyz", 503)).await;
    assert_eq!(
        within(http_get(router.metrics, "/healthz"))
            .await
            .unwrap()
            .0,
        200
    );
}

/// The counters are copied into the recorder by the scrape itself: one scrape, taken at
/// once, shows every command answered before it (the router's own, and the shards' hits).
#[tokio::test]
async fn a_scrape_right_after_n_commands_shows_all_n() {
    const N: usize = 500;
    let cluster = start(Spec::new(&["cluster", "--shards", "2"], "router listening")).await;
    let mut con = client(cluster.addr).await;
    let mut pipe = redis::pipe();
    for i in 0..N {
        pipe.set(format!("key:{i}"), i).ignore();
    }
    let () = within(pipe.query_async(&mut con)).await.unwrap();
    for i in 0..N {
        let _: Option<String> = within(con.get(format!("key:{i}"))).await.unwrap();
    }
    let (status, body) = within(http_get(cluster.metrics, "/metrics")).await.unwrap();
    assert_eq!(status, 200);
    let n = Some(N as f64);
    assert_eq!(sample(&body, "redis_commands_total{cmd=\"set\"}"), n);
    assert_eq!(sample(&body, "redis_commands_total{cmd=\"get\"}"), n);
    assert_eq!(sample(&body, "redis_keyspace_hits_total"), n);
    assert_eq!(sample(&body, "redis_db_keys{db=\"db0\"}"), n);

    // A standalone shard's own /metrics does the same.
    let shard = start(Spec::new(&["shard"], "metrics listening")).await;
    let mut con = client(shard.addr).await;
    for i in 0..N {
        let _: () = within(con.set(format!("key:{i}"), i)).await.unwrap();
    }
    let (_, body) = within(http_get(shard.metrics, "/metrics")).await.unwrap();
    assert_eq!(sample(&body, "redis_commands_total{cmd=\"set\"}"), n);
    assert_eq!(sample(&body, "redis_db_keys{db=\"db0\"}"), n);
}

/// Returns the shard's `CONFIG GET maxmemory`.
async fn maxmemory(addr: std::net::SocketAddr) -> String {
    let mut con = client(addr).await;
    let got: Vec<String> = within(
        redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory")
            .query_async(&mut con),
    )
    .await
    .unwrap();
    got[1].clone()
}

/// A flag wins over its `JUMPCACHE_*` variable, which wins over the config file; the file
/// itself can be named by `JUMPCACHE_CONFIG`, and the port set by `JUMPCACHE_PORT`.
#[tokio::test]
async fn settings_come_from_flags_then_the_environment_then_the_file() {
    let dir = std::env::temp_dir().join(format!("jumpcache-precedence-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("jumpcache.toml");
    std::fs::write(&file, "max-memory = \"1mb\"\neviction = \"lfu\"\n").unwrap();
    let file = file.to_str().unwrap().to_string();
    let config = || ("JUMPCACHE_CONFIG", file.clone());
    let env_memory = || ("JUMPCACHE_MAX_MEMORY", "2mb".to_string());

    let mut spec = Spec::new(&["shard", "--max-memory", "3mb"], "metrics listening");
    spec.env = vec![config(), env_memory()];
    let flag = start(spec).await;
    assert_eq!(maxmemory(flag.addr).await, (3 << 20).to_string());

    let mut spec = Spec::new(&["shard"], "metrics listening");
    let port = support::free_port();
    spec.env = vec![config(), env_memory(), ("JUMPCACHE_PORT", port.to_string())];
    spec.port_flag = false;
    spec.port = port;
    let env = start(spec).await;
    assert_eq!(maxmemory(env.addr).await, (2 << 20).to_string());

    let mut spec = Spec::new(&["shard"], "metrics listening");
    spec.env = vec![config()];
    let from_file = start(spec).await;
    assert_eq!(maxmemory(from_file.addr).await, (1 << 20).to_string());
    let mut con = client(from_file.addr).await;
    let policy: Vec<String> = within(
        redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query_async(&mut con),
    )
    .await
    .unwrap();
    assert_eq!(policy[1], "allkeys-lfu");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// With `--log-format json` every line is one JSON object, and at the most verbose level
/// no line holds a password (right or wrong) or a value, whatever the clients did.
#[tokio::test]
async fn json_logs_hold_no_password_and_no_value() {
    const PASSWORD: &str = "client-pw-1b7e";
    const SHARD_PASSWORD: &str = "shard-pw-9c2d";
    const WRONG: &str = "wrong-pw-44af";
    const VALUE: &str = "value-5e0a71";
    let args = [
        "cluster",
        "--log-format",
        "json",
        "--requirepass",
        PASSWORD,
        "--shard-password",
        SHARD_PASSWORD,
    ];
    let mut spec = Spec::new(&args, "router listening");
    spec.log_level = "trace";
    let mut cluster = start(spec).await;

    let mut raw = tokio::net::TcpStream::connect(cluster.addr).await.unwrap();
    let script = format!(
        "AUTH {WRONG}\r\nAUTH {PASSWORD}\r\nSET k {VALUE}\r\nGET k\r\nAPPEND k {VALUE}\r\n\
         INCR k\r\nHELLO 3 AUTH default {WRONG}\r\nCONFIG SET requirepass {VALUE}\r\nQUIT\r\n"
    );
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    within(raw.write_all(script.as_bytes())).await.unwrap();
    let mut replies = Vec::new();
    within(raw.read_to_end(&mut replies)).await.unwrap();
    let replies = String::from_utf8_lossy(&replies);
    assert!(
        replies.contains("WRONGPASS") && replies.contains(VALUE),
        "{replies}"
    );

    cluster.terminate();
    let status = within(cluster.child.wait()).await.unwrap();
    assert!(status.success(), "{status}");
    let mut log = cluster.log();
    assert!(log.len() >= 3, "{log:?}");

    // A router whose shard refuses its password logs that, without either password.
    let args = [
        "shard",
        "--log-format",
        "json",
        "--requirepass",
        SHARD_PASSWORD,
    ];
    let mut spec = Spec::new(&args, "metrics listening");
    spec.log_level = "trace";
    let shard = start(spec).await;
    let shards = shard.addr.to_string();
    let args = [
        "router",
        "--log-format",
        "json",
        "--shards",
        &shards,
        "--shard-password",
        WRONG,
    ];
    let mut spec = Spec::new(&args, "metrics listening");
    spec.log_level = "trace";
    let router = start(spec).await;
    let refused = |log: &[String]| log.iter().any(|l| l.contains("refused --shard-password"));
    for _ in 0..500 {
        if refused(&router.log()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(refused(&router.log()), "{:?}", router.log());
    log.extend(router.log());
    log.extend(shard.log());
    for line in &log {
        let json: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(json["level"].is_string(), "{line}");
        for secret in [PASSWORD, SHARD_PASSWORD, WRONG, VALUE] {
            assert!(!line.contains(secret), "{secret} logged: {line}");
        }
    }
}

/// Once ready, one dead group of two does not take the router out of service (its keys fail,
/// the other group's are served); with no group left, it is not ready.
#[tokio::test]
async fn a_router_stays_ready_while_any_group_has_a_reachable_member() {
    let a = start(Spec::new(&["shard"], "metrics listening")).await;
    let b = start(Spec::new(&["shard"], "metrics listening")).await;
    let shards = format!("{},{}", a.addr, b.addr);
    let args = [
        "router",
        "--shards",
        &shards,
        "--health-interval-ms",
        "20",
        "--fail-after",
        "1",
    ];
    let router = start(Spec::new(&args, "metrics listening")).await;
    within(until_status(router.metrics, "/readyz", 200)).await;

    drop(b); // killed
    let mut con = client(router.addr).await;
    within(async {
        loop {
            let info: String = redis::cmd("INFO")
                .arg("cluster")
                .query_async(&mut con)
                .await
                .unwrap();
            if info
                .lines()
                .any(|l| l.starts_with("shard1:") && l.contains("down"))
            {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(
        within(http_get(router.metrics, "/readyz")).await.unwrap().0,
        200
    );

    drop(a);
    within(until_status(router.metrics, "/readyz", 503)).await;
}
