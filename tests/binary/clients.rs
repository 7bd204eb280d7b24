//! Client libraries against `jumpcache cluster`, compared with redis-server: redis-py runs
//! the cache patterns of tests/python/cache_patterns.py (object caches in hashes, tag sets
//! across groups, sorted-set windows, capped lists, a pipeline of every type) against both,
//! in RESP2 and RESP3, and every reply must be the same.

#[path = "support.rs"]
mod support;

use std::process::Command;

use harness::RedisServer;
use support::{start, Spec};

/// Returns true when python3 can import redis-py; says so when it cannot.
fn redis_py() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import redis"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!(
            "NOTE: python3 with redis-py (pip install redis) not installed; skipped (not a pass)"
        );
    }
    ok
}

#[tokio::test]
async fn redis_py_cache_patterns_match_redis_server() {
    if !redis_py() {
        return;
    }
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let cluster = start(Spec::new(&["cluster", "--shards", "3"], "router listening")).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/cache_patterns.py"
    );
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .arg(cluster.addr.port().to_string())
        .arg(redis.socket())
        .output()
        .await
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("RESP3:"), "{stdout}");
}
