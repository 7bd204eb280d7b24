//! `jumpcache cluster --dir D`: SAVE and BGSAVE through the router write one file per shard,
//! and a cluster restarted on the same directory (and shard count) has every key back.

#[path = "support.rs"]
mod support;

use std::path::PathBuf;

use harness::{client_for, within};
use support::{start, Spec};

#[tokio::test]
async fn a_cluster_restarts_on_its_snapshots() {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "jumpcache-cluster-dir-{}-{}",
        std::process::id(),
        support::free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let dir_arg = dir.to_string_lossy().into_owned();
    let args = ["cluster", "--shards", "2", "--dir", &dir_arg];
    let cluster = start(Spec::new(&args, "router listening")).await;
    let mut con = client_for(cluster.addr).await;
    let mut pipe = redis::pipe();
    for i in 0..200 {
        pipe.set(format!("s{i}"), i).ignore();
        pipe.hset(format!("h{i}"), "f", i).ignore();
    }
    pipe.set_ex("ttl", "v", 1000).ignore();
    let () = within(pipe.query_async(&mut con)).await.unwrap();
    let () = redis::cmd("SAVE").query_async(&mut con).await.unwrap();
    let started: String = redis::cmd("BGSAVE").query_async(&mut con).await.unwrap();
    assert_eq!(started, "Background saving started");
    let lastsave: i64 = redis::cmd("LASTSAVE").query_async(&mut con).await.unwrap();
    assert!(lastsave > 1_700_000_000, "{lastsave}");
    // A BGSAVE is done when the shards' LASTSAVE moves or their INFO says so: SAVE again
    // (refused while one runs) until it is accepted, which also leaves both files whole.
    within(async {
        loop {
            let r: redis::RedisResult<()> = redis::cmd("SAVE").query_async(&mut con).await;
            if r.is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
    for n in 0..2 {
        assert!(dir.join(format!("shard-{n}.rdb")).exists(), "shard-{n}.rdb");
    }
    cluster.terminate();
    drop(cluster);

    let cluster = start(Spec::new(&args, "router listening")).await;
    let mut con = client_for(cluster.addr).await;
    let size: i64 = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
    assert_eq!(size, 401);
    for i in [0, 57, 199] {
        let s: i64 = redis::cmd("GET")
            .arg(format!("s{i}"))
            .query_async(&mut con)
            .await
            .unwrap();
        let h: i64 = redis::cmd("HGET")
            .arg(format!("h{i}"))
            .arg("f")
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!((s, h), (i, i));
    }
    let ttl: i64 = redis::cmd("TTL")
        .arg("ttl")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(ttl > 900, "{ttl}");
    drop(cluster);
    let _ = std::fs::remove_dir_all(&dir);
}
