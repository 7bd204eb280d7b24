//! The stock Redis tools work against an in-process cluster and shard: redis-cli, and
//! redis-benchmark pipelined 16 deep with no error line. Skipped, with a printed note, where
//! the tools are not installed.

use std::net::SocketAddr;
use std::process::Output;

use harness::{spawn_cluster, spawn_embedded_cluster_with, spawn_shard, within};
use tokio::process::Command;

/// The tests redis-benchmark's `-t ping,set,get,incr,mset` runs, as it names them.
const BENCHMARKS: [&str; 6] = [
    "PING_INLINE",
    "PING_MBULK",
    "SET",
    "GET",
    "INCR",
    "MSET (10 keys)",
];

/// Returns true when `tool --version` runs; prints the skip note when it does not.
fn installed(tool: &str) -> bool {
    let ok = std::process::Command::new(tool)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        println!("NOTE: {tool} not installed; skipped (not a pass)");
    }
    ok
}

/// Runs `tool` against `addr` with `args` and returns its output; never outlives the test.
async fn run(tool: &str, addr: SocketAddr, args: &[&str]) -> Output {
    let port = addr.port().to_string();
    Command::new(tool)
        .args(["-h", "127.0.0.1", "-p", &port])
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{tool} runs: {e}"))
}

/// Runs redis-benchmark against `addr`, checks every test printed a rate and no line is an
/// error, and returns the final lines.
async fn benchmark(addr: SocketAddr) -> Vec<String> {
    let out = run(
        "redis-benchmark",
        addr,
        &[
            "-t",
            "ping,set,get,incr,mset",
            "-P",
            "16",
            "-q",
            "-n",
            "20000",
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    // -q rewrites a progress line with '\r' before printing the final one.
    let lines: Vec<&str> = stdout
        .split(['\r', '\n'])
        .chain(stderr.split(['\r', '\n']))
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let bad: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("ERR") || l.contains("error") || l.contains("WARN"))
        .collect();
    assert_eq!(bad, Vec::<&&str>::new(), "error lines");
    let results: Vec<String> = BENCHMARKS
        .iter()
        .map(|name| {
            let prefix = format!("{name}: ");
            let line = lines
                .iter()
                .find(|l| l.starts_with(&prefix) && l.contains(" requests per second"))
                .unwrap_or_else(|| panic!("no rate for {name}:\n{stdout}"));
            let rate: f64 = line[prefix.len()..]
                .split(' ')
                .next()
                .and_then(|r| r.parse().ok())
                .unwrap_or_else(|| panic!("no number in {line}"));
            assert!(rate > 0.0, "{line}");
            line.to_string()
        })
        .collect();
    results
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cli_sets_gets_and_counts_through_the_router() {
    if !installed("redis-cli") {
        return;
    }
    within(async {
        let cluster = spawn_cluster(3).await;
        let cases: [(&[&str], &str); 5] = [
            (&["SET", "greeting", "hello world"], "OK\n"),
            (&["GET", "greeting"], "hello world\n"),
            (&["MSET", "a", "1", "b", "2", "c", "3"], "OK\n"),
            (&["MGET", "c", "greeting", "a"], "3\nhello world\n1\n"),
            (&["DBSIZE"], "4\n"),
        ];
        for (args, want) in cases {
            let out = run("redis-cli", cluster.addr(), args).await;
            assert!(out.status.success(), "{args:?}: {}", out.status);
            assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{args:?}");
            assert_eq!(String::from_utf8_lossy(&out.stderr), "", "{args:?}");
        }
    })
    .await;
}

/// One test, so the two runs do not share the machine's cores with each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_benchmark_pipelined_runs_without_errors_through_the_router_and_on_one_shard() {
    if !installed("redis-benchmark") {
        return;
    }
    within(async {
        let cluster = spawn_cluster(3).await;
        for line in benchmark(cluster.addr()).await {
            println!("router over 3 shards, -P 16: {line}");
        }
        // Without -r the benchmark uses two fixed keys; every INCR counted, none lost.
        let mut con = cluster.client().await;
        let size: usize = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
        assert_eq!(size, 2);
        let incrs: u64 = redis::cmd("GET")
            .arg("counter:__rand_int__")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(incrs, 20_000);
        drop(cluster);

        let shard = spawn_shard().await;
        for line in benchmark(shard.addr()).await {
            println!("single shard, -P 16: {line}");
        }
    })
    .await;
}

/// `redis-cli --bigkeys` (STRLEN) and `--memkeys` (MEMORY USAGE, forwarded to each key's group)
/// find the largest key of `jumpcache cluster` and report its real size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cli_bigkeys_and_memkeys_report_real_sizes_through_the_cluster() {
    if !installed("redis-cli") {
        return;
    }
    within(async {
        let cluster =
            spawn_embedded_cluster_with(3, server::Config::default(), router::Config::default())
                .await;
        let mut con = cluster.client().await;
        for i in 0..20 {
            let _: () = redis::cmd("SET")
                .arg(format!("small:{i}"))
                .arg("v")
                .query_async(&mut con)
                .await
                .unwrap();
        }
        let _: () = redis::cmd("SET")
            .arg("big")
            .arg("x".repeat(1000))
            .query_async(&mut con)
            .await
            .unwrap();
        // One of each collection type, with a known element count.
        let _: () = redis::pipe()
            .cmd("HSET")
            .arg("h")
            .arg(
                (0..30)
                    .flat_map(|i| [format!("f{i}"), "v".into()])
                    .collect::<Vec<_>>(),
            )
            .ignore()
            .cmd("SADD")
            .arg("s")
            .arg((0..40).map(|i| format!("m{i}")).collect::<Vec<_>>())
            .ignore()
            .cmd("ZADD")
            .arg("z")
            .arg(
                (0..50)
                    .flat_map(|i| [i.to_string(), format!("m{i}")])
                    .collect::<Vec<_>>(),
            )
            .ignore()
            .cmd("RPUSH")
            .arg("l")
            .arg((0..60).map(|i| format!("e{i}")).collect::<Vec<_>>())
            .ignore()
            .query_async(&mut con)
            .await
            .unwrap();
        let bigkeys = run("redis-cli", cluster.addr(), &["--bigkeys"]).await;
        let text = String::from_utf8_lossy(&bigkeys.stdout);
        assert!(bigkeys.status.success(), "{text}");
        assert!(
            text.contains("Biggest string found '\"big\"' has 1000 bytes"),
            "{text}"
        );
        for (kind, key, n, unit) in [
            ("hash", "h", 30, "fields"),
            ("set", "s", 40, "members"),
            ("zset", "z", 50, "members"),
            ("list", "l", 60, "items"),
        ] {
            let line = format!("Biggest {kind:>6} found '\"{key}\"' has {n} {unit}");
            assert!(text.contains(&line), "{line}\n{text}");
        }
        let memkeys = run("redis-cli", cluster.addr(), &["--memkeys"]).await;
        let text = String::from_utf8_lossy(&memkeys.stdout);
        assert!(memkeys.status.success(), "{text}");
        // key + value + the store's 72 bytes per entry.
        assert!(
            text.contains("Biggest string found '\"big\"' has 1075 bytes"),
            "{text}"
        );
        // Every collection reports a plausible size: more than its elements' bytes.
        for (kind, key, least) in [
            ("hash", "h", 30 * 4),
            ("set", "s", 40 * 3),
            ("zset", "z", 50 * 11),
            ("list", "l", 60 * 3),
        ] {
            let prefix = format!("Biggest {kind:>6} found '\"{key}\"' has ");
            let line = text
                .lines()
                .find(|l| l.contains(&prefix))
                .unwrap_or_else(|| panic!("{prefix}\n{text}"));
            let bytes: u64 = line
                .split(&prefix)
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(bytes > least, "{line}");
        }
        // 20 keys of 7 or 8 bytes, 1 byte values; the big one.
        let total = 1075 + 10 * (7 + 1 + 72) + 10 * (8 + 1 + 72);
        assert!(
            text.contains(&format!("21 strings with {total} bytes")),
            "{text}"
        );
    })
    .await;
}

/// `redis-cli --latency` (PINGs for a second; raw output: min, max, average in ms, samples)
/// against `jumpcache cluster`: plausible figures, as redis-server gives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cli_latency_measures_the_cluster() {
    if !installed("redis-cli") {
        return;
    }
    within(async {
        let cluster =
            spawn_embedded_cluster_with(2, server::Config::default(), router::Config::default())
                .await;
        let out = run("redis-cli", cluster.addr(), &["--latency", "--raw"]).await;
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text}");
        let fields: Vec<f64> = text
            .split_whitespace()
            .map(|f| f.parse().unwrap_or_else(|_| panic!("{text}")))
            .collect();
        let [min, max, avg, samples] = fields[..] else {
            panic!("{text}");
        };
        assert!(samples >= 10.0, "{text}");
        assert!(min <= avg && avg <= max && max < 1000.0, "{text}");
    })
    .await;
}
