//! RDB snapshots through real sockets: SAVE, BGSAVE, LASTSAVE and `--save` on a shard, the
//! files checked by `redis-check-rdb` and loaded by `redis-server`, a shard started on
//! `redis-server`'s own dump, and files that cannot be read.
//!
//! Tests that need `redis-server` or `redis-check-rdb` print a note and pass without them.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use harness::{spawn_shard_with, within, RedisServer};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;
use server::rdb::{CorruptPolicy, RdbConfig};

/// A fresh directory of its own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "jumpcache-rdb-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).expect("create the temp dir");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn file(&self) -> PathBuf {
        self.0.join("dump.rdb")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config_in(dir: &TempDir) -> server::Config {
    server::Config {
        rdb: Some(RdbConfig::at(dir.path(), "dump.rdb")),
        ..server::Config::default()
    }
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn info_field(con: &mut MultiplexedConnection, name: &str) -> String {
    let info: String = within(redis::cmd("INFO").arg("persistence").query_async(con))
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(':')))
        .unwrap_or_else(|| panic!("INFO has no {name}:\n{info}"))
        .to_string()
}

/// Polls INFO until `name` reads `want`, for up to 10 s.
async fn wait_for_field(con: &mut MultiplexedConnection, name: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = info_field(con, name).await;
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{name} is {got}, not {want}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs `redis-check-rdb` on `file`; `None` (with a note) when it is not installed.
fn check_rdb(file: &Path) -> Option<(bool, String)> {
    match std::process::Command::new("redis-check-rdb")
        .arg(file)
        .output()
    {
        Ok(out) => Some((
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )),
        Err(_) => {
            eprintln!("NOTE: redis-check-rdb is not installed; file check skipped (not a pass)");
            None
        }
    }
}

/// Writes the sample keys: plain, integer, long (compressible), binary, with TTLs.
async fn write_sample(con: &mut MultiplexedConnection) {
    let _: () = within(con.set("plain", "value")).await.unwrap();
    let _: () = within(con.set("int", "12345")).await.unwrap();
    let _: () = within(con.set("neg", "-7")).await.unwrap();
    let _: () = within(con.set("long", "ab".repeat(5000))).await.unwrap();
    let _: () = within(con.set(b"bin\x00\xff", b"\x00\x01\xfe\xff".to_vec()))
        .await
        .unwrap();
    let _: () = within(con.set_ex("ttl", "soon", 1000)).await.unwrap();
    let _: () = within(con.pset_ex("pttl", "later", 500_000)).await.unwrap();
    for i in 0..2000 {
        let _: () = within(con.set(format!("k{i}"), format!("v{i}")))
            .await
            .unwrap();
    }
}

/// The sample keys, as a map of key -> (value, TTL in ms or -1).
async fn sample_of(con: &mut MultiplexedConnection) -> Vec<(Vec<u8>, Vec<u8>, i64)> {
    let mut keys: Vec<Vec<u8>> = within(con.keys("*")).await.unwrap();
    keys.sort();
    let mut out = Vec::new();
    for k in keys {
        let v: Vec<u8> = within(con.get(&k)).await.unwrap();
        let ttl: i64 = within(con.pttl(&k)).await.unwrap();
        out.push((k, v, ttl));
    }
    out
}

/// Asserts that two samples hold the same keys and values, and TTLs within 1 s.
fn assert_same(a: &[(Vec<u8>, Vec<u8>, i64)], b: &[(Vec<u8>, Vec<u8>, i64)]) {
    assert_eq!(a.len(), b.len(), "key counts");
    for (x, y) in a.iter().zip(b) {
        assert_eq!((&x.0, &x.1), (&y.0, &y.1));
        if x.2 < 0 || y.2 < 0 {
            assert_eq!(x.2, y.2, "TTL of {:?}", String::from_utf8_lossy(&x.0));
        } else {
            assert!(
                (x.2 - y.2).abs() <= 1000,
                "TTL of {:?}: {} vs {}",
                String::from_utf8_lossy(&x.0),
                x.2,
                y.2
            );
        }
    }
}

#[tokio::test]
async fn save_bgsave_and_lastsave_reply_as_redis_and_info_follows() {
    let dir = TempDir::new("save");
    let shard = spawn_shard_with(config_in(&dir)).await;
    let mut con = shard.client().await;
    let before: i64 = within(redis::cmd("LASTSAVE").query_async(&mut con))
        .await
        .unwrap();
    assert!(
        (before - now_secs()).abs() <= 2,
        "LASTSAVE starts at the start time"
    );
    assert_eq!(
        info_field(&mut con, "rdb_changes_since_last_save").await,
        "0"
    );
    let _: () = within(con.set("a", "1")).await.unwrap();
    let _: () = within(con.set("b", "2")).await.unwrap();
    assert_eq!(
        info_field(&mut con, "rdb_changes_since_last_save").await,
        "2"
    );

    let mut raw = shard.raw().await;
    assert_eq!(raw.call(&[b"SAVE"]).await, b"+OK\r\n");
    assert!(dir.file().exists());
    assert_eq!(
        info_field(&mut con, "rdb_changes_since_last_save").await,
        "0"
    );
    assert_eq!(info_field(&mut con, "rdb_last_bgsave_status").await, "ok");
    assert_eq!(info_field(&mut con, "rdb_saves").await, "1");

    let _: () = within(con.set("c", "3")).await.unwrap();
    assert_eq!(
        raw.call(&[b"BGSAVE"]).await,
        b"+Background saving started\r\n"
    );
    wait_for_field(&mut con, "rdb_saves", "2").await;
    assert_eq!(info_field(&mut con, "rdb_bgsave_in_progress").await, "0");
    assert_eq!(
        info_field(&mut con, "rdb_changes_since_last_save").await,
        "0"
    );
    let last: i64 = within(redis::cmd("LASTSAVE").query_async(&mut con))
        .await
        .unwrap();
    assert!(last >= before && (last - now_secs()).abs() <= 2);
    assert_eq!(
        raw.call(&[b"BGSAVE", b"NOW"]).await,
        b"-ERR syntax error\r\n"
    );
    assert_eq!(
        raw.call(&[b"LASTSAVE", b"x"]).await,
        b"-ERR wrong number of arguments for 'lastsave' command\r\n"
    );
    if let Some((ok, out)) = check_rdb(&dir.file()) {
        assert!(ok, "redis-check-rdb refused the file:\n{out}");
    }
    shard.stop().await;

    // A shard started on the file has the keys.
    let again = spawn_shard_with(config_in(&dir)).await;
    let mut con = again.client().await;
    let got: Vec<Option<String>> = within(con.mget(&["a", "b", "c", "d"])).await.unwrap();
    assert_eq!(
        got,
        [Some("1".into()), Some("2".into()), Some("3".into()), None]
    );
    assert_eq!(info_field(&mut con, "rdb_last_load_keys_loaded").await, "3");
    assert_eq!(info_field(&mut con, "loading").await, "0");
}

#[tokio::test]
async fn a_failed_save_is_an_error_in_info_and_leaves_what_was_there() {
    let dir = TempDir::new("fail");
    let shard = spawn_shard_with(config_in(&dir)).await;
    let mut con = shard.client().await;
    let _: () = within(con.set("kept", "1")).await.unwrap();
    let mut raw = shard.raw().await;
    assert_eq!(raw.call(&[b"SAVE"]).await, b"+OK\r\n");
    let before = std::fs::read(dir.file()).unwrap();
    // The file name made a non-empty directory: the rename over it fails, whoever runs the
    // test (root too).
    std::fs::remove_file(dir.file()).unwrap();
    std::fs::create_dir_all(dir.file().join("inside")).unwrap();
    let _: () = within(con.set("new", "2")).await.unwrap();
    assert_eq!(raw.call(&[b"SAVE"]).await, b"-ERR\r\n");
    assert_eq!(info_field(&mut con, "rdb_last_bgsave_status").await, "err");
    assert_eq!(
        info_field(&mut con, "rdb_changes_since_last_save").await,
        "1"
    );
    assert_eq!(
        raw.call(&[b"BGSAVE"]).await,
        b"+Background saving started\r\n"
    );
    wait_for_field(&mut con, "rdb_bgsave_in_progress", "0").await;
    assert_eq!(info_field(&mut con, "rdb_last_bgsave_status").await, "err");
    assert_eq!(info_field(&mut con, "rdb_saves").await, "1");
    let mut left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    left.sort();
    assert_eq!(left.len(), 1, "no temp file left behind: {left:?}");
    assert!(dir.file().join("inside").is_dir());
    // Written once the way is clear again.
    std::fs::remove_dir_all(dir.file()).unwrap();
    assert_eq!(raw.call(&[b"SAVE"]).await, b"+OK\r\n");
    assert_eq!(info_field(&mut con, "rdb_last_bgsave_status").await, "ok");
    assert_ne!(std::fs::read(dir.file()).unwrap(), before);
}

#[tokio::test]
async fn periodic_save_writes_a_snapshot_after_enough_changes() {
    let dir = TempDir::new("periodic");
    let mut config = config_in(&dir);
    config.maintenance_interval_ms = 20;
    if let Some(rdb) = &mut config.rdb {
        rdb.save = server::rdb::config::parse_save("1 2").unwrap();
    }
    let shard = spawn_shard_with(config).await;
    let mut con = shard.client().await;
    let _: () = within(con.set("one", "1")).await.unwrap();
    // One change is not enough.
    assert_eq!(info_field(&mut con, "rdb_saves").await, "0");
    let _: () = within(con.set("two", "2")).await.unwrap();
    wait_for_field(&mut con, "rdb_saves", "1").await;
    assert!(dir.file().exists());
    assert_eq!(
        info_field(&mut con, "rdb_changes_since_last_save").await,
        "0"
    );
}

#[tokio::test]
async fn a_truncated_or_corrupt_file_is_refused_or_skipped_by_policy() {
    let dir = TempDir::new("corrupt");
    let shard = spawn_shard_with(config_in(&dir)).await;
    let mut con = shard.client().await;
    write_sample(&mut con).await;
    let mut raw = shard.raw().await;
    assert_eq!(raw.call(&[b"SAVE"]).await, b"+OK\r\n");
    shard.stop().await;
    let good = std::fs::read(dir.file()).unwrap();
    std::fs::write(dir.file(), &good[..good.len() / 2]).unwrap();

    // --rdb-corrupt fail (the default): the shard does not start, and says why.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = within(server::run(
        listener,
        config_in(&dir),
        std::future::pending(),
    ))
    .await
    .expect_err("a truncated file is refused");
    let text = err.to_string();
    assert!(
        text.contains("dump.rdb") && text.contains("truncated"),
        "{text}"
    );

    // A flipped byte: the checksum.
    let mut flipped = good.clone();
    let at = flipped.len() / 3;
    flipped[at] ^= 0x10;
    std::fs::write(dir.file(), &flipped).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = within(server::run(
        listener,
        config_in(&dir),
        std::future::pending(),
    ))
    .await
    .expect_err("a corrupt file is refused");
    assert!(err.to_string().contains("corrupt RDB file"), "{err}");

    // --rdb-corrupt empty: starts, empty.
    let mut config = config_in(&dir);
    if let Some(rdb) = &mut config.rdb {
        rdb.rdb_corrupt = CorruptPolicy::Empty;
    }
    let shard = spawn_shard_with(config).await;
    let mut con = shard.client().await;
    let n: u64 = within(redis::cmd("DBSIZE").query_async(&mut con))
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn loading_honours_the_memory_bound_and_skips_expired_keys() {
    let dir = TempDir::new("bound");
    let shard = spawn_shard_with(config_in(&dir)).await;
    let mut con = shard.client().await;
    for i in 0..3000 {
        let _: () = within(con.set(format!("key{i}"), "x".repeat(1000)))
            .await
            .unwrap();
    }
    let _: () = within(con.pset_ex("brief", "v", 300)).await.unwrap();
    let mut raw = shard.raw().await;
    assert_eq!(raw.call(&[b"SAVE"]).await, b"+OK\r\n");
    shard.stop().await;
    // Past the brief key's deadline: poll the clock, not a fixed sleep.
    let deadline = Instant::now() + Duration::from_millis(400);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut config = config_in(&dir);
    config.max_memory = 1 << 20;
    let shard = spawn_shard_with(config).await;
    let mut con = shard.client().await;
    let info: String = within(redis::cmd("INFO").arg("memory").query_async(&mut con))
        .await
        .unwrap();
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(used <= 1 << 20, "used_memory {used} over the bound");
    let n: u64 = within(redis::cmd("DBSIZE").query_async(&mut con))
        .await
        .unwrap();
    assert!(n > 0 && n < 3000, "{n} keys");
    assert_eq!(
        info_field(&mut con, "rdb_last_load_keys_expired").await,
        "1"
    );
    let brief: Option<String> = within(con.get("brief")).await.unwrap();
    assert_eq!(brief, None);
}

#[tokio::test]
async fn redis_server_started_on_a_jumpcache_snapshot_has_the_same_data() {
    let dir = TempDir::new("to-redis");
    let shard = spawn_shard_with(config_in(&dir)).await;
    let mut con = shard.client().await;
    write_sample(&mut con).await;
    let ours = sample_of(&mut con).await;
    let mut raw = shard.raw().await;
    assert_eq!(raw.call(&[b"SAVE"]).await, b"+OK\r\n");
    if let Some((ok, out)) = check_rdb(&dir.file()) {
        assert!(ok, "redis-check-rdb refused the file:\n{out}");
    }
    let dir_arg = dir.path().to_str().unwrap();
    let Some(redis) =
        RedisServer::start_with(&["--dir", dir_arg, "--dbfilename", "dump.rdb"]).await
    else {
        return;
    };
    let mut theirs = Vec::new();
    let mut rc = redis.raw().await;
    for (k, _, _) in &ours {
        let v = rc.call(&[b"GET", k]).await;
        let ttl = rc.call(&[b"PTTL", k]).await;
        theirs.push((k.clone(), bulk(&v), int(&ttl)));
    }
    assert_same(&ours, &theirs);
    assert_eq!(int(&rc.call(&[b"DBSIZE"]).await), ours.len() as i64);
}

#[tokio::test]
async fn a_shard_started_on_redis_servers_dump_has_the_same_data() {
    let dir = TempDir::new("from-redis");
    let dir_arg = dir.path().to_str().unwrap();
    let Some(redis) =
        RedisServer::start_with(&["--dir", dir_arg, "--dbfilename", "dump.rdb"]).await
    else {
        return;
    };
    let mut rc = redis.raw().await;
    let mut expected = Vec::new();
    let mut set = |k: &[u8], v: &[u8]| {
        expected.push((k.to_vec(), v.to_vec()));
        harness::request(&[b"SET", k, v])
    };
    let long = "abc".repeat(2000); // LZF-compressed by redis-server
    let writes = [
        set(b"plain", b"value"),
        set(b"int8", b"-100"),
        set(b"int16", b"30000"),
        set(b"int32", b"2000000000"),
        set(b"big-int", b"123456789012345"),
        set(b"long", long.as_bytes()),
        set(b"bin\x00", b"\x00\xff"),
        set(b"empty", b""),
    ];
    for w in writes {
        rc.send(&w).await;
        assert_eq!(rc.reply().await.unwrap(), b"+OK\r\n");
    }
    assert_eq!(
        rc.call(&[b"SET", b"ttl", b"v", b"EX", b"1000"]).await,
        b"+OK\r\n"
    );
    assert_eq!(
        rc.call(&[b"SET", b"pttl", b"v", b"PX", b"500000"]).await,
        b"+OK\r\n"
    );
    assert_eq!(
        rc.call(&[b"SET", b"gone", b"v", b"PX", b"1"]).await,
        b"+OK\r\n"
    );
    // Collections, loaded (every encoding: `every_collection_of_a_redis_dump_...`); a stream
    // and a key of database 1, skipped with a count.
    assert_eq!(rc.call(&[b"RPUSH", b"list", b"a", b"b"]).await, b":2\r\n");
    assert_eq!(rc.call(&[b"HSET", b"hash", b"f", b"v"]).await, b":1\r\n");
    assert_eq!(rc.call(&[b"SADD", b"set", b"1", b"2"]).await, b":2\r\n");
    assert_eq!(rc.call(&[b"ZADD", b"zset", b"1.5", b"m"]).await, b":1\r\n");
    rc.call(&[b"XADD", b"stream", b"*", b"f", b"v"]).await;
    assert_eq!(rc.call(&[b"SELECT", b"1"]).await, b"+OK\r\n");
    assert_eq!(rc.call(&[b"SET", b"db1", b"v"]).await, b"+OK\r\n");
    assert_eq!(rc.call(&[b"SELECT", b"0"]).await, b"+OK\r\n");
    let ttl_redis = int(&rc.call(&[b"PTTL", b"pttl"]).await);
    assert_eq!(rc.call(&[b"SAVE"]).await, b"+OK\r\n");
    drop(redis);

    let shard = spawn_shard_with(config_in(&dir)).await;
    let mut con = shard.client().await;
    for (k, v) in &expected {
        let got: Vec<u8> = within(con.get(k)).await.unwrap();
        assert_eq!(&got, v, "{:?}", String::from_utf8_lossy(k));
    }
    let ttl: i64 = within(con.pttl("pttl")).await.unwrap();
    assert!((ttl - ttl_redis).abs() <= 1000, "{ttl} vs {ttl_redis}");
    let ttl: i64 = within(con.ttl("ttl")).await.unwrap();
    assert!((999..=1000).contains(&ttl), "{ttl}");
    let n: u64 = within(redis::cmd("DBSIZE").query_async(&mut con))
        .await
        .unwrap();
    assert_eq!(
        n,
        expected.len() as u64 + 2 + 4,
        "strings and collections of db 0, the expired one left out"
    );
    let hash: Vec<String> = within(con.hgetall("hash")).await.unwrap();
    assert_eq!(hash, ["f", "v"]);
    assert_eq!(
        info_field(&mut con, "rdb_last_load_keys_skipped").await,
        "2"
    );
}

/// The value of a RESP bulk reply (empty for nil).
fn bulk(reply: &[u8]) -> Vec<u8> {
    if reply.starts_with(b"$-1") {
        return Vec::new();
    }
    let start = reply.iter().position(|&b| b == b'\n').unwrap() + 1;
    reply[start..reply.len() - 2].to_vec()
}

/// The value of a RESP integer reply.
fn int(reply: &[u8]) -> i64 {
    std::str::from_utf8(&reply[1..reply.len() - 2])
        .unwrap()
        .parse()
        .unwrap()
}

/// SAVE, BGSAVE and LASTSAVE through a router: every shard (here both in one directory,
/// one file: each writes its own temporary file and renames it into place).
#[tokio::test]
async fn a_router_forwards_save_bgsave_and_lastsave_to_every_shard() {
    let dir = TempDir::new("router");
    let cluster = harness::spawn_cluster_with(2, config_in(&dir), router::Config::default()).await;
    let mut raw = cluster.raw().await;
    assert_eq!(raw.call(&[b"SAVE"]).await, b"+OK\r\n");
    assert!(dir.file().exists());
    assert_eq!(
        raw.call(&[b"BGSAVE"]).await,
        b"+Background saving started\r\n"
    );
    let lastsave = raw.call(&[b"LASTSAVE"]).await;
    assert!(
        lastsave.starts_with(b":17"),
        "{}",
        String::from_utf8_lossy(&lastsave)
    );
}

#[tokio::test]
async fn with_save_points_a_shard_saves_on_the_way_out() {
    let dir = TempDir::new("shutdown");
    let mut config = config_in(&dir);
    if let Some(rdb) = &mut config.rdb {
        rdb.save = server::rdb::config::parse_save("3600 1").unwrap();
    }
    let shard = spawn_shard_with(config.clone()).await;
    let mut con = shard.client().await;
    let _: () = within(con.set("last", "word")).await.unwrap();
    assert!(!dir.file().exists());
    shard.stop().await;
    assert!(dir.file().exists());
    let again = spawn_shard_with(config).await;
    let mut con = again.client().await;
    let got: Option<String> = within(con.get("last")).await.unwrap();
    assert_eq!(got.as_deref(), Some("word"));
}

/// The bulks of a flat RESP array reply (nil elements as empty).
fn bulks(reply: &[u8]) -> Vec<Vec<u8>> {
    assert!(
        reply.starts_with(b"*"),
        "not an array: {:?}",
        String::from_utf8_lossy(reply)
    );
    let mut out = Vec::new();
    let mut pos = reply.iter().position(|&b| b == b'\n').unwrap() + 1;
    while pos < reply.len() {
        let end = pos + reply[pos..].iter().position(|&b| b == b'\r').unwrap();
        let len: i64 = std::str::from_utf8(&reply[pos + 1..end])
            .unwrap()
            .parse()
            .unwrap();
        pos = end + 2;
        if len < 0 {
            out.push(Vec::new());
            continue;
        }
        out.push(reply[pos..pos + len as usize].to_vec());
        pos += len as usize + 2;
    }
    out
}

/// The command that reads a whole collection of type `t` (as TYPE names it).
fn read_all(t: &[u8], key: &[u8]) -> Vec<Vec<u8>> {
    let args: Vec<&[u8]> = match t {
        b"hash" => vec![b"HGETALL", key],
        b"set" => vec![b"SMEMBERS", key],
        b"zset" => vec![b"ZRANGE", key, b"0", b"-1", b"WITHSCORES"],
        b"list" => vec![b"LRANGE", key, b"0", b"-1"],
        _ => vec![b"GET", key],
    };
    args.into_iter().map(<[u8]>::to_vec).collect()
}

/// Puts a collection's elements in one order whatever its encoding: a hash's pairs and a
/// set's members sorted, a sorted set's and a list's as they are.
fn canonical(t: &[u8], mut items: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    match t {
        b"hash" => {
            let mut pairs: Vec<Vec<u8>> = items.chunks(2).map(|p| p.concat()).collect();
            pairs.sort();
            pairs
        }
        b"set" => {
            items.sort();
            items
        }
        _ => items,
    }
}

/// `(type, canonical elements)` of `key` on a raw client (redis-server's or a shard's).
macro_rules! contents {
    ($client:expr, $key:expr) => {{
        let key: &[u8] = $key;
        let t = $client.call(&[b"TYPE", key]).await;
        let t = t[1..t.len() - 2].to_vec();
        let args = read_all(&t, key);
        let args: Vec<&[u8]> = args.iter().map(|a| &a[..]).collect();
        let reply = $client.call(&args).await;
        let items = if t == b"string" {
            vec![bulk(&reply)]
        } else {
            bulks(&reply)
        };
        (String::from_utf8(t.clone()).unwrap(), canonical(&t, items))
    }};
}

/// Writes collections of every type into redis-server 7.0, in each encoding it has: hashes
/// as listpack and hashtable, sets as intset (16- and 64-bit) and hashtable, sorted sets as
/// listpack and skiplist, lists as quicklists of packed, compressed and plain nodes.
fn collection_writes() -> Vec<Vec<Vec<u8>>> {
    let mut cmds: Vec<Vec<String>> = Vec::new();
    let mut cmd = |parts: &[&str]| cmds.push(parts.iter().map(|s| s.to_string()).collect());
    cmd(&[
        "HSET", "hsmall", "f1", "v1", "f2", "123", "f3", "-5", "", "empty",
    ]);
    cmd(&["HSET", "hlongval", "f", &"v".repeat(100)]);
    cmd(&["HSET", "httl", "a", "b"]);
    cmd(&["PEXPIRE", "httl", "500000"]);
    cmd(&["SADD", "sint16", "1", "2", "3", "-100", "3000"]);
    cmd(&["SADD", "sint64", "1", "5000000000", "-9223372036854775808"]);
    cmd(&["SADD", "sstr", "a", "b", "c"]);
    cmd(&[
        "ZADD", "zsmall", "1", "a", "2.5", "b", "-inf", "c", "1e300", "d", "7", "12",
    ]);
    cmd(&["RPUSH", "lsmall", "a", "b", "1", "-2", ""]);
    let mut hbig = vec!["HSET".to_string(), "hbig".to_string()];
    let mut sbig = vec!["SADD".to_string(), "sbig".to_string()];
    let mut zbig = vec!["ZADD".to_string(), "zbig".to_string()];
    let mut lbig = vec!["RPUSH".to_string(), "lbig".to_string()];
    for i in 0..700 {
        hbig.extend([format!("field{i}"), format!("value{i}")]);
        sbig.push(i.to_string());
        zbig.extend([format!("{}", f64::from(i) * 0.1 - 3.0), format!("m{i}")]);
        lbig.push(format!("element-{i}-padding-padding-padding"));
    }
    cmd(&["DEBUG", "QUICKLIST-PACKED-THRESHOLD", "100"]);
    cmd(&["RPUSH", "lplain", "small", &"x".repeat(300), "small2"]);
    cmd(&["SET", "plain", "string"]);
    cmds.extend([hbig, sbig, zbig, lbig]);
    cmds.into_iter()
        .map(|c| c.into_iter().map(String::into_bytes).collect())
        .collect()
}

#[tokio::test]
async fn every_collection_of_a_redis_dump_loads_and_saves_back_for_redis() {
    let dir = TempDir::new("collections");
    let dir_arg = dir.path().to_str().unwrap();
    let redis_args = [
        "--dir",
        dir_arg,
        "--dbfilename",
        "dump.rdb",
        "--enable-debug-command",
        "yes",
        "--list-max-listpack-size",
        "4",
        "--list-compress-depth",
        "1",
    ];
    let Some(redis) = RedisServer::start_with(&redis_args).await else {
        return;
    };
    let mut rc = redis.raw().await;
    for c in collection_writes() {
        let args: Vec<&[u8]> = c.iter().map(|a| &a[..]).collect();
        let reply = rc.call(&args).await;
        assert!(
            !reply.starts_with(b"-"),
            "{:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    let mut keys = bulks(&rc.call(&[b"KEYS", b"*"]).await);
    keys.sort();
    let mut encodings = Vec::new();
    for k in &keys {
        encodings.push(bulk(&rc.call(&[b"OBJECT", b"ENCODING", k]).await));
    }
    encodings.sort();
    encodings.dedup();
    let encodings: Vec<String> = encodings
        .into_iter()
        .map(|e| String::from_utf8(e).unwrap())
        .collect();
    assert_eq!(
        encodings,
        [
            "embstr",
            "hashtable",
            "intset",
            "listpack",
            "quicklist",
            "skiplist"
        ]
    );
    assert_eq!(rc.call(&[b"SAVE"]).await, b"+OK\r\n");

    // The shard loads every key, and each, DUMPed here, restores in redis-server as it was.
    let shard = spawn_shard_with(config_in(&dir)).await;
    let mut sc = shard.raw().await;
    assert_eq!(int(&sc.call(&[b"DBSIZE"]).await), keys.len() as i64);
    let mut want = Vec::new();
    for k in &keys {
        let theirs = contents!(rc, k);
        let payload = bulk(&sc.call(&[b"DUMP", k]).await);
        let copy = [b"copy:", &k[..]].concat();
        let restored = rc.call(&[b"RESTORE", &copy, b"0", &payload]).await;
        assert_eq!(restored, b"+OK\r\n", "{:?}", String::from_utf8_lossy(k));
        assert_eq!(
            contents!(rc, &copy),
            theirs,
            "{:?}",
            String::from_utf8_lossy(k)
        );
        let t = sc.call(&[b"TYPE", k]).await;
        assert_eq!(t[1..t.len() - 2], *theirs.0.as_bytes());
        if theirs.0 == "hash" || theirs.0 == "string" {
            assert_eq!(contents!(sc, k), theirs, "{:?}", String::from_utf8_lossy(k));
        }
        want.push((k.clone(), theirs));
    }
    let ttl = int(&sc.call(&[b"PTTL", b"httl"]).await);
    assert!((499_000..=500_000).contains(&ttl), "{ttl}");
    assert_eq!(
        info_field(&mut shard.client().await, "rdb_last_load_keys_skipped").await,
        "0"
    );

    // Saved by the shard: redis-check-rdb accepts it, redis-server loads the same data.
    assert_eq!(sc.call(&[b"SAVE"]).await, b"+OK\r\n");
    drop(rc);
    drop(redis);
    if let Some((ok, out)) = check_rdb(&dir.file()) {
        assert!(ok, "redis-check-rdb refused the file:\n{out}");
    }
    let redis = RedisServer::start_with(&["--dir", dir_arg, "--dbfilename", "dump.rdb"])
        .await
        .expect("started above");
    let mut rc = redis.raw().await;
    assert_eq!(int(&rc.call(&[b"DBSIZE"]).await), keys.len() as i64);
    for (k, theirs) in &want {
        assert_eq!(
            &contents!(rc, k),
            theirs,
            "{:?}",
            String::from_utf8_lossy(k)
        );
    }
    let ttl = int(&rc.call(&[b"PTTL", b"httl"]).await);
    assert!((498_000..=500_000).contains(&ttl), "{ttl}");
}

#[tokio::test]
async fn loading_collections_honours_the_memory_bound() {
    let dir = TempDir::new("bound-collections");
    let shard = spawn_shard_with(config_in(&dir)).await;
    let mut con = shard.client().await;
    let mut pipe = redis::pipe();
    for i in 0..3000 {
        pipe.cmd("HSET")
            .arg(format!("h{i}"))
            .arg("a")
            .arg("x".repeat(500))
            .arg("b")
            .arg("y".repeat(500))
            .ignore();
    }
    // One hash heavier than the bound on its own.
    for j in 0..2000 {
        pipe.cmd("HSET")
            .arg("huge")
            .arg(format!("f{j}"))
            .arg("z".repeat(600))
            .ignore();
    }
    let _: () = within(pipe.query_async(&mut con)).await.unwrap();
    let mut raw = shard.raw().await;
    assert_eq!(raw.call(&[b"SAVE"]).await, b"+OK\r\n");
    shard.stop().await;

    let mut config = config_in(&dir);
    config.max_memory = 1 << 20;
    let shard = spawn_shard_with(config).await;
    let mut con = shard.client().await;
    let info: String = within(redis::cmd("INFO").arg("memory").query_async(&mut con))
        .await
        .unwrap();
    let used: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap()
        .parse()
        .unwrap();
    assert!(used <= 1 << 20, "used_memory {used} over the bound");
    let n: u64 = within(redis::cmd("DBSIZE").query_async(&mut con))
        .await
        .unwrap();
    assert!(n > 0 && n < 3000, "{n} keys");
    let huge: u64 = within(con.exists("huge")).await.unwrap();
    assert_eq!(huge, 0);
    assert_eq!(
        info_field(&mut con, "rdb_last_load_keys_skipped").await,
        "1"
    );
}

/// Every type jumpcache holds, small and large, each with and without a TTL: the shard's
/// file passes `redis-check-rdb`, and redis-server started on it has the same keys, values
/// and TTLs (within 1 s).
#[tokio::test]
async fn every_type_with_ttls_saved_by_a_shard_checks_and_loads_in_redis_server() {
    let dir = TempDir::new("types-ttl");
    let shard = spawn_shard_with(config_in(&dir)).await;
    let mut sc = shard.raw().await;
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for (i, ttl) in [None, Some(b"400000".as_slice())].into_iter().enumerate() {
        let mut writes: Vec<Vec<Vec<u8>>> = Vec::new();
        let k = |name: &str| format!("{name}{i}").into_bytes();
        let mut w = |parts: Vec<Vec<u8>>| writes.push(parts);
        w(vec![b"SET".to_vec(), k("s"), b"value".to_vec()]);
        w(vec![b"SET".to_vec(), k("n"), b"-42".to_vec()]);
        w(vec![b"HSET".to_vec(), k("h"), b"f".to_vec(), b"v".to_vec()]);
        w(vec![
            b"SADD".to_vec(),
            k("set"),
            b"1".to_vec(),
            b"x".to_vec(),
        ]);
        w(vec![
            b"ZADD".to_vec(),
            k("z"),
            b"2.5".to_vec(),
            b"m".to_vec(),
        ]);
        w(vec![
            b"RPUSH".to_vec(),
            k("l"),
            b"a".to_vec(),
            b"b".to_vec(),
        ]);
        let mut big = |cmd: &str, name: &str, each: &dyn Fn(usize) -> Vec<Vec<u8>>| {
            let mut parts = vec![cmd.as_bytes().to_vec(), k(name)];
            for j in 0..600 {
                parts.extend(each(j));
            }
            w(parts);
        };
        big("HSET", "bh", &|j| {
            vec![format!("f{j}").into(), format!("v{j}").into()]
        });
        big("SADD", "bs", &|j| vec![format!("{j}").into()]);
        big("ZADD", "bz", &|j| {
            vec![format!("{j}").into(), format!("m{j}").into()]
        });
        big("RPUSH", "bl", &|j| vec![format!("element-{j}").into()]);
        for parts in writes {
            let args: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
            let reply = sc.call(&args).await;
            assert!(
                !reply.starts_with(b"-"),
                "{:?}",
                String::from_utf8_lossy(&reply)
            );
            if let Some(ttl) = ttl {
                assert_eq!(sc.call(&[b"PEXPIRE", &parts[1], ttl]).await, b":1\r\n");
            }
            keys.push(parts[1].clone());
        }
    }
    let mut ours = Vec::new();
    for key in &keys {
        let ttl = int(&sc.call(&[b"PTTL", key]).await);
        ours.push((key.clone(), contents!(sc, key), ttl));
    }
    assert_eq!(sc.call(&[b"SAVE"]).await, b"+OK\r\n");
    if let Some((ok, out)) = check_rdb(&dir.file()) {
        assert!(ok, "redis-check-rdb refused the file:\n{out}");
    }
    let dir_arg = dir.path().to_str().unwrap();
    let Some(redis) =
        RedisServer::start_with(&["--dir", dir_arg, "--dbfilename", "dump.rdb"]).await
    else {
        return;
    };
    let mut rc = redis.raw().await;
    assert_eq!(int(&rc.call(&[b"DBSIZE"]).await), keys.len() as i64);
    for (key, value, ttl) in &ours {
        let name = String::from_utf8_lossy(key);
        assert_eq!(&contents!(rc, key), value, "{name}");
        let theirs = int(&rc.call(&[b"PTTL", key]).await);
        if *ttl < 0 {
            assert_eq!(theirs, -1, "{name}");
        } else {
            assert!((ttl - theirs).abs() <= 1000, "{name}: {ttl} vs {theirs}");
        }
    }
}

/// Keys written while a BGSAVE runs: each key is saved as it was at one moment, never torn.
/// Every hash always has its two fields equal (one HSET sets both); a writer keeps bumping
/// them during the save, and every hash in the file still has them equal.
#[tokio::test]
async fn a_key_written_during_bgsave_is_saved_whole() {
    let dir = TempDir::new("torn");
    let shard = spawn_shard_with(config_in(&dir)).await;
    let mut con = shard.client().await;
    const HASHES: usize = 50_000;
    let mut pipe = redis::pipe();
    for i in 0..HASHES {
        pipe.hset_multiple(format!("h{i}"), &[("a", 0), ("b", 0)])
            .ignore();
    }
    let () = within(pipe.query_async(&mut con)).await.unwrap();
    let mut raw = shard.raw().await;
    assert_eq!(
        raw.call(&[b"BGSAVE"]).await,
        b"+Background saving started\r\n"
    );
    // Rounds of writes until the save is done (at least one round).
    let mut round = 0;
    loop {
        round += 1;
        let mut pipe = redis::pipe();
        for i in (round as usize % 31..HASHES).step_by(31) {
            pipe.hset_multiple(format!("h{i}"), &[("a", round), ("b", round)])
                .ignore();
        }
        let () = within(pipe.query_async(&mut con)).await.unwrap();
        if info_field(&mut con, "rdb_bgsave_in_progress").await == "0" {
            break;
        }
    }
    assert_eq!(info_field(&mut con, "rdb_last_bgsave_status").await, "ok");
    shard.stop().await;

    let again = spawn_shard_with(config_in(&dir)).await;
    let mut con = again.client().await;
    let mut pipe = redis::pipe();
    for i in 0..HASHES {
        pipe.cmd("HMGET").arg(format!("h{i}")).arg("a").arg("b");
    }
    let got: Vec<(i64, i64)> = within(pipe.query_async(&mut con)).await.unwrap();
    assert_eq!(got.len(), HASHES);
    let torn: Vec<_> = got.iter().filter(|(a, b)| a != b).collect();
    assert!(
        torn.is_empty(),
        "{} torn hashes, e.g. {:?}",
        torn.len(),
        torn[0]
    );
    eprintln!("{round} rounds of writes during the save");
}
