//! Replicated shard groups through the router, with in-process shards: writes reach every
//! member, reads and cluster-wide commands count each key once, divergence is repaired.
//! (Killing and restarting real shard processes is in `tests/process/failover.rs`.)

use std::time::Duration;

use harness::{client_for, spawn_router, spawn_shard, within, RouterHandle, ShardHandle};
use redis::AsyncCommands;

/// Starts `groups` groups of `members` in-process shards and a router over them.
async fn replicated(
    groups: usize,
    members: usize,
    config: router::Config,
) -> (RouterHandle, Vec<Vec<ShardHandle>>) {
    let mut shards = Vec::new();
    for _ in 0..groups {
        let mut group = Vec::new();
        for _ in 0..members {
            group.push(spawn_shard().await);
        }
        shards.push(group);
    }
    let list = shards
        .iter()
        .map(|g| {
            let addrs: Vec<String> = g.iter().map(|s| s.addr().to_string()).collect();
            addrs.join("|")
        })
        .collect();
    let router = spawn_router(router::Config {
        shards: list,
        health_interval_ms: 50,
        ..config
    })
    .await;
    (router, shards)
}

#[tokio::test]
async fn a_replica_that_diverges_on_incr_is_marked_stale_and_repaired() {
    let config = router::Config {
        read_policy: router::ReadPolicy::RoundRobin,
        ..router::Config::default()
    };
    let (router, shards) = replicated(1, 2, config).await;
    let mut con = client_for(router.addr()).await;
    let () = con.set("n", 5).await.unwrap();
    // Corrupt the replica behind the router's back.
    let mut replica = shards[0][1].client().await;
    let () = replica.set("n", 100).await.unwrap();
    let n: i64 = con.incr("n", 1).await.unwrap();
    assert_eq!(n, 6, "the client gets the primary's reply");
    within(async {
        loop {
            let got: Option<i64> = replica.get("n").await.unwrap();
            if got == Some(6) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    for _ in 0..20 {
        let got: i64 = con.get("n").await.unwrap();
        assert_eq!(got, 6);
    }
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(info.contains("shard0_member1:"), "{info}");
}

#[tokio::test]
async fn every_member_gets_every_write_under_either_write_policy() {
    for (write, read) in [
        (router::WritePolicy::All, router::ReadPolicy::Primary),
        (router::WritePolicy::One, router::ReadPolicy::LeastLoaded),
    ] {
        let config = router::Config {
            write_policy: write,
            read_policy: read,
            ..router::Config::default()
        };
        let (router, shards) = replicated(2, 2, config).await;
        let mut con = client_for(router.addr()).await;
        for i in 0..200 {
            let key = format!("k{i}");
            let () = con.set(&key, i).await.unwrap();
            let got: i64 = con.get(&key).await.unwrap();
            assert_eq!(got, i, "{write:?} {read:?}");
        }
        let () = con.mset(&[("a", 1), ("b", 2), ("c", 3)]).await.unwrap();
        let deleted: i64 = con.del(&["k0", "k1", "absent"]).await.unwrap();
        assert_eq!(deleted, 2);
        // Counted once per group, not once per member.
        let n: i64 = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
        assert_eq!(n, 201);
        let mut keys: Vec<String> = con.keys("*").await.unwrap();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 201);
        let mut scanned: Vec<String> = Vec::new();
        let mut iter: redis::AsyncIter<String> = con.scan().await.unwrap();
        while let Some(key) = iter.next_item().await {
            scanned.push(key.unwrap());
        }
        drop(iter);
        assert_eq!(scanned.len(), 201, "SCAN returns each key once");
        // The write policy `one` checks the other members in the background.
        within(async {
            for (g, group) in shards.iter().enumerate() {
                let owns_a = router::path::ring::bucket(b"a", 2) == g;
                for member in group {
                    let mut direct = member.client().await;
                    loop {
                        let a: Option<i64> = direct.get("a").await.unwrap();
                        let size: i64 =
                            redis::cmd("DBSIZE").query_async(&mut direct).await.unwrap();
                        if (!owns_a || a == Some(1)) && size > 0 {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        })
        .await;
        let () = redis::cmd("FLUSHALL").query_async(&mut con).await.unwrap();
        for member in shards.iter().flatten() {
            let mut direct = member.client().await;
            within(async {
                loop {
                    let size: i64 = redis::cmd("DBSIZE").query_async(&mut direct).await.unwrap();
                    if size == 0 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await;
        }
    }
}

#[tokio::test]
async fn info_lists_every_member_and_keeps_the_shard_lines() {
    let (router, _shards) = replicated(2, 2, router::Config::default()).await;
    let mut con = client_for(router.addr()).await;
    let () = con.set("x", 1).await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query_async(&mut con)
        .await
        .unwrap();
    let lines: Vec<&str> = info.lines().collect();
    assert!(lines.contains(&"shards:2"), "{info}");
    assert!(lines.contains(&"members:4"), "{info}");
    assert!(lines.contains(&"failovers:0"), "{info}");
    for g in 0..2 {
        let line = lines
            .iter()
            .find(|l| l.starts_with(&format!("shard{g}:addr=")))
            .unwrap();
        assert!(
            line.contains(",state=up,") && line.contains(",members=2,members_up=2,"),
            "{line}"
        );
        for m in 0..2 {
            let prefix = format!("shard{g}_member{m}:addr=");
            assert!(lines.iter().any(|l| l.starts_with(&prefix)), "{info}");
        }
    }
}

/// WAIT answers with the replicas that acknowledged the client's last write: every other
/// member of its group; across groups (MSET), the fewest of any group; a read in between
/// changes nothing; a WAIT before any write is 0.
#[tokio::test]
async fn wait_counts_the_replicas_that_acknowledged_the_last_write() {
    let (router, _shards) = replicated(2, 3, router::Config::default()).await;
    let mut con = client_for(router.addr()).await;
    let wait = || redis::cmd("WAIT").arg(2).arg(0).clone();
    let before: i64 = wait().query_async(&mut con).await.unwrap();
    assert_eq!(before, 0);
    let () = con.set("k", "v").await.unwrap();
    let _: Option<String> = con.get("k").await.unwrap();
    let after: i64 = wait().query_async(&mut con).await.unwrap();
    assert_eq!(after, 2);
    let () = redis::cmd("MSET")
        .arg(&["a", "1", "b", "2", "c", "3", "d", "4"])
        .query_async(&mut con)
        .await
        .unwrap();
    let after: i64 = wait().query_async(&mut con).await.unwrap();
    assert_eq!(after, 2);
    let err = redis::cmd("WAIT")
        .arg(0)
        .arg(-1)
        .query_async::<i64>(&mut con)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("timeout is negative"), "{err}");
}
