//! The commands operators type, where redis-server cannot be the reference (the replies name
//! this process's own clients and timings): SLOWLOG entries and its settings.

use harness::{spawn_with, within, Target};
use redis::Value;

/// With `--slowlog-log-slower-than 0` every command is logged, with Redis's entry shape: id,
/// Unix time, µs, arguments, the client's address, its name; CONFIG SET turns it off again.
async fn slowlog_logs_every_command_when_the_threshold_is_zero(target: Target) {
    let clients = serve::ClientConfig {
        slowlog_log_slower_than: 0,
        ..serve::ClientConfig::default()
    };
    let server = spawn_with(target, clients).await;
    let mut con = server.client().await;
    let _: () = redis::cmd("CLIENT")
        .arg("SETNAME")
        .arg("ops")
        .query_async(&mut con)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut con)
        .await
        .unwrap();
    let entries: Vec<Value> = redis::cmd("SLOWLOG")
        .arg("GET")
        .arg(1)
        .query_async(&mut con)
        .await
        .unwrap();
    let [Value::Array(entry)] = &entries[..] else {
        panic!("{entries:?}")
    };
    let [Value::Int(_id), Value::Int(time), Value::Int(_us), Value::Array(args), Value::BulkString(addr), Value::BulkString(name)] =
        &entry[..]
    else {
        panic!("{entry:?}")
    };
    assert!(*time > 1_700_000_000, "{time}");
    let args: Vec<&Value> = args.iter().collect();
    assert_eq!(
        args,
        [
            &Value::BulkString(b"SET".to_vec()),
            &Value::BulkString(b"k".to_vec()),
            &Value::BulkString(b"v".to_vec())
        ]
    );
    assert!(
        String::from_utf8_lossy(addr).starts_with("127.0.0.1:"),
        "{addr:?}"
    );
    assert_eq!(name, b"ops");

    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("slowlog-log-slower-than")
        .arg(-1)
        .query_async(&mut con)
        .await
        .unwrap();
    let _: () = redis::cmd("SLOWLOG")
        .arg("RESET")
        .query_async(&mut con)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("k")
        .arg("v")
        .query_async(&mut con)
        .await
        .unwrap();
    let len: i64 = redis::cmd("SLOWLOG")
        .arg("LEN")
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(len, 0);
    server.stop().await;
}

#[tokio::test]
async fn a_shard_logs_slow_commands() {
    within(slowlog_logs_every_command_when_the_threshold_is_zero(
        Target::Shard,
    ))
    .await;
}

#[tokio::test]
async fn a_router_logs_slow_commands() {
    within(slowlog_logs_every_command_when_the_threshold_is_zero(
        Target::Cluster,
    ))
    .await;
}

#[tokio::test]
async fn the_cluster_router_logs_slow_commands() {
    within(slowlog_logs_every_command_when_the_threshold_is_zero(
        Target::Embedded,
    ))
    .await;
}
