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

/// Returns the text of a bulk reply.
fn bulk_text(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply).into_owned();
    let body = text.split_once("\r\n").map_or("", |(_, b)| b);
    body.trim_end_matches("\r\n").to_string()
}

/// Returns the digits of an integer reply.
fn int_text(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply);
    text.trim_start_matches(':').trim_end().to_string()
}

/// CLIENT LIST names every connection of the process with Redis's fields; CLIENT INFO is the
/// caller's own line; CLIENT KILL by ID, by ADDR and in the old `ip:port` form closes the
/// other connection, whose reads then end.
async fn client_list_info_and_kill(target: Target) {
    let server = spawn_with(target, serve::ClientConfig::default()).await;
    let mut me = server.raw().await;
    let mut other = server.raw().await;
    assert_eq!(
        other.call(&[b"CLIENT", b"SETNAME", b"victim"]).await,
        b"+OK\r\n"
    );
    let other_id = int_text(&other.call(&[b"CLIENT", b"ID"]).await);
    let info = bulk_text(&me.call(&[b"CLIENT", b"INFO"]).await);
    for field in [
        "id=",
        " addr=127.0.0.1:",
        " laddr=127.0.0.1:",
        " fd=",
        " name= ",
        " age=",
        " idle=",
        " flags=N",
        " db=0",
        " cmd=client|info",
        " user=default",
        " resp=2",
    ] {
        assert!(info.contains(field), "{field} in {info}");
    }
    let list = bulk_text(&me.call(&[b"CLIENT", b"LIST"]).await);
    let victim = list
        .lines()
        .find(|l| l.contains(" name=victim "))
        .unwrap_or_else(|| panic!("{list}"));
    assert!(victim.starts_with(&format!("id={other_id} ")), "{victim}");
    assert!(victim.contains(" cmd=client|id "), "{victim}");
    let addr = victim
        .split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .unwrap()
        .to_string();

    // SKIPME yes (the default): the caller survives its own kill.
    let mine = int_text(&me.call(&[b"CLIENT", b"ID"]).await);
    assert_eq!(
        me.call(&[b"CLIENT", b"KILL", b"ID", mine.as_bytes()]).await,
        b":0\r\n"
    );
    assert_eq!(
        me.call(&[
            b"CLIENT",
            b"KILL",
            b"ADDR",
            addr.as_bytes(),
            b"ID",
            other_id.as_bytes()
        ])
        .await,
        b":1\r\n"
    );
    assert_eq!(other.read_to_end().await, b"");
    assert_eq!(me.call(&[b"PING"]).await, b"+PONG\r\n");

    // The old form: OK, then `No such client` once it is gone.
    let mut third = server.raw().await;
    assert_eq!(third.call(&[b"PING"]).await, b"+PONG\r\n");
    let list = bulk_text(&me.call(&[b"CLIENT", b"LIST"]).await);
    let third_addr = list
        .lines()
        .filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("addr=")))
        .find(|a| *a != addr && !info.contains(&format!("addr={a} ")))
        .unwrap_or_else(|| panic!("{list}"))
        .to_string();
    assert_eq!(
        me.call(&[b"CLIENT", b"KILL", third_addr.as_bytes()]).await,
        b"+OK\r\n"
    );
    assert_eq!(third.read_to_end().await, b"");
    server.stop().await;
}

#[tokio::test]
async fn a_shard_lists_and_kills_its_clients() {
    within(client_list_info_and_kill(Target::Shard)).await;
}

#[tokio::test]
async fn a_router_lists_and_kills_its_clients() {
    within(client_list_info_and_kill(Target::Cluster)).await;
}

#[tokio::test]
async fn the_cluster_router_lists_and_kills_its_clients() {
    within(client_list_info_and_kill(Target::Embedded)).await;
}

/// Sends one command on a fresh raw connection and returns the raw reply.
async fn call(addr: std::net::SocketAddr, args: &[&[u8]]) -> String {
    let mut raw = harness::RawClient::connect(addr).await;
    String::from_utf8_lossy(&raw.call(args).await).into_owned()
}

/// CONFIG SET maxmemory and maxmemory-policy change the store: a value over the new bound is
/// refused, LFU counters appear; through a router every shard gets an equal share and the
/// router reads back the sum.
async fn config_set_changes_the_store(target: Target) {
    let server = spawn_with(target, serve::ClientConfig::default()).await;
    let addr = server.addr();
    let set = |name: &'static str, value: &'static str| async move {
        call(
            addr,
            &[b"CONFIG", b"SET", name.as_bytes(), value.as_bytes()],
        )
        .await
    };
    assert_eq!(set("maxmemory", "3000").await, "+OK\r\n");
    assert_eq!(
        call(addr, &[b"CONFIG", b"GET", b"maxmemory"]).await,
        "*2\r\n$9\r\nmaxmemory\r\n$4\r\n3000\r\n"
    );
    let big = vec![b'x'; 5000];
    assert_eq!(
        call(addr, &[b"SET", b"big", &big]).await,
        "-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
    if let harness::Server::Cluster(cluster) = &server {
        for shard in cluster.shard_addrs() {
            assert_eq!(
                call(*shard, &[b"CONFIG", b"GET", b"maxmemory"]).await,
                "*2\r\n$9\r\nmaxmemory\r\n$4\r\n1000\r\n"
            );
        }
    }
    assert_eq!(
        set("maxmemory-policy", "noeviction").await,
        "-ERR CONFIG SET failed (possibly related to argument 'maxmemory-policy') - jumpcache evicts by allkeys-lru or allkeys-lfu only\r\n"
    );
    assert_eq!(set("maxmemory-policy", "allkeys-lfu").await, "+OK\r\n");
    assert_eq!(call(addr, &[b"SET", b"k", b"v"]).await, "+OK\r\n");
    assert_eq!(call(addr, &[b"OBJECT", b"FREQ", b"k"]).await, ":5\r\n");
    assert_eq!(
        call(addr, &[b"CONFIG", b"GET", b"maxmemory-policy"]).await,
        "*2\r\n$16\r\nmaxmemory-policy\r\n$11\r\nallkeys-lfu\r\n"
    );
    server.stop().await;
}

/// CONFIG SET maxclients refuses the next client past it; CONFIG SET timeout closes a client
/// idle that long, one already connected included.
async fn config_set_changes_client_limits(target: Target) {
    let server = spawn_with(target, serve::ClientConfig::default()).await;
    let mut me = server.raw().await;
    assert_eq!(
        me.call(&[b"CONFIG", b"SET", b"maxclients", b"1"]).await,
        b"+OK\r\n"
    );
    let mut refused = server.raw().await;
    assert_eq!(
        refused.read_to_end().await,
        b"-ERR max number of clients reached\r\n"
    );
    assert_eq!(
        me.call(&[b"CONFIG", b"SET", b"maxclients", b"100"]).await,
        b"+OK\r\n"
    );
    let info = String::from_utf8_lossy(&me.call(&[b"INFO", b"clients"]).await).into_owned();
    assert!(info.contains("maxclients:100\r\n"), "{info}");
    assert_eq!(
        me.call(&[b"CONFIG", b"SET", b"timeout", b"1"]).await,
        b"+OK\r\n"
    );
    let started = std::time::Instant::now();
    assert_eq!(me.read_to_end().await, b"");
    assert!(started.elapsed() >= std::time::Duration::from_millis(900));
    server.stop().await;
}

harness::on_shard_and_cluster! {
    async fn config_set_maxmemory_and_policy(target: Target) {
        within(config_set_changes_the_store(target)).await;
    }
    async fn config_set_maxclients_and_timeout(target: Target) {
        within(config_set_changes_client_limits(target)).await;
    }
}

/// MEMORY STATS counts every key of the cluster once, and its `dataset.bytes` is the sum of
/// the keys' MEMORY USAGE.
async fn memory_stats_adds_up_every_group(target: Target) {
    let server = spawn_with(target, serve::ClientConfig::default()).await;
    let mut con = server.client().await;
    let mut usage = 0;
    for i in 0..30 {
        let key = format!("key:{i}");
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg("x".repeat(i))
            .query_async(&mut con)
            .await
            .unwrap();
        let n: i64 = redis::cmd("MEMORY")
            .arg("USAGE")
            .arg(&key)
            .query_async(&mut con)
            .await
            .unwrap();
        usage += n;
    }
    let stats: Vec<Value> = redis::cmd("MEMORY")
        .arg("STATS")
        .query_async(&mut con)
        .await
        .unwrap();
    let field = |name: &str| {
        stats
            .chunks(2)
            .find_map(|kv| match kv {
                [Value::BulkString(k), Value::Int(v)] if k == name.as_bytes() => Some(*v),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no {name} in {stats:?}"))
    };
    assert_eq!(field("keys.count"), 30);
    assert_eq!(field("dataset.bytes"), usage);
    assert_eq!(field("total.allocated"), usage);
    assert_eq!(field("keys.bytes-per-key"), usage / 30);
    server.stop().await;
}

harness::on_shard_and_cluster! {
    async fn memory_stats(target: Target) {
        within(memory_stats_adds_up_every_group(target)).await;
    }
}
