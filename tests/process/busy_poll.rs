//! `jumpcache router --busy-poll-us`: the router polls for a moment after work, and never
//! while idle: after a burst of requests its CPU time stops growing, whatever the setting.

use std::time::Duration;

use harness::{free_port, start_logged, ShardProcess};
use redis::AsyncCommands;
use tokio::process::Child;

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    let rest = stat.rsplit_once(')').expect("command name").1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Starts a router over `shard` with `flags`; returns it once it logs that it listens.
async fn router(shard: &ShardProcess, flags: &[&str]) -> (Child, u16) {
    for _ in 0..3 {
        let port = free_port().to_string();
        let addr = shard.addr().to_string();
        let mut args = vec![
            "router",
            "--port",
            &port,
            "--metrics-port",
            "0",
            "--shards",
            &addr,
        ];
        args.extend_from_slice(flags);
        let bin = env!("CARGO_BIN_EXE_jumpcache");
        if let Some(child) = start_logged(bin, &args, "router listening").await {
            return (child, port.parse().unwrap());
        }
    }
    panic!("jumpcache router exited three times before listening");
}

async fn burst_then_idle(flags: &[&str]) {
    let shard = ShardProcess::start(env!("CARGO_BIN_EXE_jumpcache")).await;
    let (router, port) = router(&shard, flags).await;
    let pid = router.id().expect("running");
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for i in 0..300 {
        let _: () = conn.set(format!("k{i}"), i).await.unwrap();
        let v: i64 = conn.get(format!("k{i}")).await.unwrap();
        assert_eq!(v, i);
    }
    let before = cpu_ticks(pid);
    // Not a wait for readiness: the time over which an idle router must use no CPU.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let used = cpu_ticks(pid) - before;
    // A poller that never stopped would use ~50 ticks (100 per second); health checks and
    // the INFO poll use well under one.
    assert!(
        used <= 10,
        "{flags:?}: an idle router used {used} ticks in 500 ms"
    );
}

#[tokio::test]
async fn an_idle_router_stops_polling_with_a_short_window() {
    burst_then_idle(&["--busy-poll-us", "50"]).await;
}

#[tokio::test]
async fn an_idle_router_stops_polling_with_a_long_window_and_none() {
    burst_then_idle(&["--busy-poll-us", "20000"]).await;
    burst_then_idle(&["--busy-poll-us", "0"]).await;
    // The default polls not at all.
    burst_then_idle(&[]).await;
}
