//! `jumpcache shard --sched`: the process's threads run under the policy asked for, read
//! back from /proc, and the shard serves either way.

use harness::ShardProcess;
use redis::AsyncCommands;

/// Returns the scheduling policy of every thread of `pid` (field 41 of /proc/PID/task/TID/stat).
fn thread_policies(pid: u32) -> Vec<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("read /proc/PID/task");
    tasks
        .map(|t| {
            let path = t.expect("task entry").path().join("stat");
            let stat = std::fs::read_to_string(path).expect("read stat");
            // Fields after the command name, which is in parentheses and may hold spaces.
            let rest = stat.rsplit_once(')').expect("stat has a command name").1;
            rest.split_whitespace()
                .nth(38)
                .expect("policy field")
                .parse()
                .expect("policy is a number")
        })
        .collect()
}

const SCHED_OTHER: u32 = 0;
const SCHED_BATCH: u32 = 3;

async fn set_and_get(shard: &ShardProcess) {
    let client = redis::Client::open(format!("redis://{}", shard.addr())).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = conn.set("k", "v").await.unwrap();
    let v: String = conn.get("k").await.unwrap();
    assert_eq!(v, "v");
}

#[tokio::test]
async fn a_shard_runs_under_sched_batch_when_asked_and_normal_by_default() {
    if !cfg!(target_os = "linux") {
        println!("NOTE: scheduling policies are Linux-only; nothing checked");
        return;
    }
    // A sandbox may refuse the call (seccomp): the shard then warns and runs as normal.
    let allowed = std::thread::spawn(|| sched::set_policy(sched::Policy::Batch).is_ok())
        .join()
        .unwrap();
    if !allowed {
        println!("NOTE: this system refuses SCHED_BATCH; nothing checked");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_jumpcache");
    let batch = ShardProcess::start_with(bin, &["--sched", "batch"]).await;
    let policies = thread_policies(batch.pid().expect("running"));
    assert!(!policies.is_empty());
    assert!(
        policies.iter().all(|&p| p == SCHED_BATCH),
        "--sched batch: every thread SCHED_BATCH, got {policies:?}"
    );
    set_and_get(&batch).await;

    for (flags, name) in [
        (&["--sched", "normal"][..], "--sched normal"),
        (&[], "default"),
    ] {
        let normal = ShardProcess::start_with(bin, flags).await;
        let policies = thread_policies(normal.pid().expect("running"));
        assert!(!policies.is_empty());
        assert!(
            policies.iter().all(|&p| p == SCHED_OTHER),
            "{name}: every thread SCHED_OTHER, got {policies:?}"
        );
        set_and_get(&normal).await;
    }
}
