//! A shard loading its snapshot at start-up, through real sockets: `-LOADING` to data
//! commands (as Redis), INFO `loading:1` with its progress, a router's merged `# Persistence`
//! saying so too, then the keys, and what was loaded in INFO; `CONFIG GET dir`, `dbfilename`
//! and `save` on a shard and a router.

use std::path::{Path, PathBuf};

use harness::{spawn_shard_loading, spawn_shard_with, within, RawClient};
use server::rdb::writer::RdbWriter;
use server::rdb::RdbConfig;

const LOADING: &[u8] = b"-LOADING Redis is loading the dataset in memory\r\n";

/// A fresh directory of its own, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "jumpcache-rdb-loading-{tag}-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).expect("create the temp dir");
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
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

/// Writes `n` string keys (and one already expired) straight into `dir`'s dump.rdb; returns
/// the file's size. Big enough that loading takes far longer than one round trip.
fn write_file(dir: &TempDir, n: u64) -> u64 {
    let path = dir.path().join("dump.rdb");
    let file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut w = RdbWriter::start(file, now, 0).unwrap();
    w.select_db(n + 1, 1).unwrap();
    for i in 0..n {
        w.string(format!("key:{i}").as_bytes(), b"value-value-value", 0)
            .unwrap();
    }
    w.string(b"gone", b"v", now - 1000).unwrap();
    w.finish().unwrap();
    std::fs::metadata(&path).unwrap().len()
}

/// Returns `name`'s value in INFO text.
fn field<'a>(info: &'a str, name: &str) -> Option<&'a str> {
    info.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
}

async fn info(raw: &mut RawClient, section: &[u8]) -> String {
    let reply = raw.call(&[b"INFO", section]).await;
    String::from_utf8(reply).unwrap()
}

#[tokio::test]
async fn a_loading_shard_answers_loading_to_data_commands_then_serves_what_it_loaded() {
    let dir = TempDir::new("shard");
    const KEYS: u64 = 300_000;
    let size = write_file(&dir, KEYS);
    let (shard, state) = spawn_shard_loading(config_in(&dir)).await;
    let mut raw = RawClient::connect(shard.addr()).await;
    // The listener claims the load before it accepts: the first command sees it loading.
    assert_eq!(raw.call(&[b"GET", b"key:1"]).await, LOADING);
    assert_eq!(raw.call(&[b"PING"]).await, LOADING);
    assert_eq!(raw.call(&[b"SET", b"k", b"v"]).await, LOADING);
    assert_eq!(raw.call(&[b"SAVE"]).await, LOADING);
    // Commands Redis flags `loading` still run: INFO, CONFIG, CLIENT, COMMAND, SELECT.
    let text = info(&mut raw, b"persistence").await;
    assert_eq!(field(&text, "loading"), Some("1"), "{text}");
    assert_eq!(
        field(&text, "loading_total_bytes"),
        Some(size.to_string().as_str())
    );
    assert!(field(&text, "loading_loaded_perc").is_some(), "{text}");
    assert!(raw
        .call(&[b"CONFIG", b"GET", b"dbfilename"])
        .await
        .starts_with(b"*2"));
    assert_eq!(raw.call(&[b"SELECT", b"0"]).await, b"+OK\r\n");
    // Inside MULTI a refused command fails the transaction, as Redis's rejectCommand does.
    assert_eq!(raw.call(&[b"MULTI"]).await, b"+OK\r\n");
    assert_eq!(raw.call(&[b"GET", b"key:1"]).await, LOADING);
    let exec = raw.call(&[b"EXEC"]).await;
    assert!(
        exec.starts_with(b"-EXECABORT"),
        "{:?}",
        String::from_utf8_lossy(&exec)
    );
    assert!(
        state.persistence.is_loading(),
        "the file loads for longer than this test's steps"
    );

    within(state.persistence.wait_load_over()).await;
    assert_eq!(raw.call(&[b"PING"]).await, b"+PONG\r\n");
    assert_eq!(
        raw.call(&[b"DBSIZE"]).await,
        format!(":{KEYS}\r\n").into_bytes()
    );
    assert_eq!(
        raw.call(&[b"GET", b"key:7"]).await,
        b"$17\r\nvalue-value-value\r\n"
    );
    let text = info(&mut raw, b"persistence").await;
    assert_eq!(field(&text, "loading"), Some("0"));
    assert_eq!(field(&text, "loading_total_bytes"), None);
    assert_eq!(
        field(&text, "rdb_last_load_keys_loaded"),
        Some(KEYS.to_string().as_str())
    );
    assert_eq!(field(&text, "rdb_last_load_keys_expired"), Some("1"));
    assert_eq!(field(&text, "rdb_last_load_keys_skipped"), Some("0"));
}

#[tokio::test]
async fn a_router_reports_its_shards_loading_and_their_snapshots_merged() {
    let dir = TempDir::new("router");
    write_file(&dir, 300_000);
    let (loading, state) = spawn_shard_loading(config_in(&dir)).await;
    let other_dir = TempDir::new("router-other");
    let other = spawn_shard_with(config_in(&other_dir)).await;
    let router = harness::spawn_router(router::Config {
        shards: vec![loading.addr().to_string(), other.addr().to_string()],
        // SAVE answers when the file is written: 300,000 keys in a debug build on a busy
        // machine outlast the default 1 s shard timeout (operations.md, "Snapshots").
        shard_timeout_ms: 30_000,
        ..router::Config::default()
    })
    .await;
    let mut raw = RawClient::connect(router.addr()).await;
    let text = info(&mut raw, b"persistence").await;
    assert_eq!(field(&text, "loading"), Some("1"), "{text}");
    assert!(
        state.persistence.is_loading(),
        "the file loads for longer than this test's steps"
    );

    within(state.persistence.wait_load_over()).await;
    let text = info(&mut raw, b"persistence").await;
    assert_eq!(field(&text, "loading"), Some("0"), "{text}");
    assert_eq!(field(&text, "rdb_last_load_keys_loaded"), Some("300000"));
    assert_eq!(field(&text, "rdb_last_bgsave_status"), Some("ok"));
    assert_eq!(field(&text, "rdb_saves"), Some("0"));

    // SAVE through the router: both shards save; the merge counts both.
    let mut shard = RawClient::connect(other.addr()).await;
    assert_eq!(shard.call(&[b"SET", b"a", b"1"]).await, b"+OK\r\n");
    let text = info(&mut raw, b"persistence").await;
    assert_eq!(field(&text, "rdb_changes_since_last_save"), Some("1"));
    assert_eq!(raw.call(&[b"SAVE"]).await, b"+OK\r\n");
    let text = info(&mut raw, b"persistence").await;
    assert_eq!(field(&text, "rdb_saves"), Some("2"), "{text}");
    assert_eq!(field(&text, "rdb_changes_since_last_save"), Some("0"));
    assert_eq!(field(&text, "rdb_bgsave_in_progress"), Some("0"));
}

/// The bulks of a raw `CONFIG GET` reply (a RESP2 array), as text.
fn pairs(reply: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(reply);
    let mut lines = text.split("\r\n").skip(1);
    let mut out = Vec::new();
    while let Some(line) = lines.next() {
        if line.starts_with('$') {
            out.push(lines.next().unwrap_or_default().to_string());
        }
    }
    out
}

#[tokio::test]
async fn config_get_reports_dir_dbfilename_and_save_as_redis_does() {
    let dir = TempDir::new("config");
    let mut config = config_in(&dir);
    if let Some(rdb) = &mut config.rdb {
        rdb.dbfilename = "snap.rdb".into();
        rdb.save = server::rdb::config::parse_save("3600 1  300 100").unwrap();
    }
    let shard = spawn_shard_with(config).await;
    let mut raw = RawClient::connect(shard.addr()).await;
    let abs = dir.path().canonicalize().unwrap();
    let abs = abs.to_str().unwrap();
    assert_eq!(
        pairs(&raw.call(&[b"CONFIG", b"GET", b"dir"]).await),
        ["dir", abs]
    );
    assert_eq!(
        pairs(&raw.call(&[b"CONFIG", b"GET", b"dbfilename"]).await),
        ["dbfilename", "snap.rdb"]
    );
    assert_eq!(
        pairs(&raw.call(&[b"CONFIG", b"GET", b"save"]).await),
        ["save", "3600 1 300 100"]
    );
    // A shard without snapshot settings, and a router: the working directory, Redis's
    // default file name, no save points (redis-server with `save ""` answers the same).
    let cwd = std::env::current_dir().unwrap().canonicalize().unwrap();
    let cwd = cwd.to_str().unwrap();
    let cluster = harness::spawn_cluster(1).await;
    let plain = harness::spawn_shard().await;
    for addr in [cluster.addr(), plain.addr()] {
        let mut raw = RawClient::connect(addr).await;
        let reply = raw.call(&[b"CONFIG", b"GET", b"d*"]).await;
        let got = pairs(&reply);
        assert!(got.windows(2).any(|w| w == ["dir", cwd]), "{got:?}");
        assert!(
            got.windows(2).any(|w| w == ["dbfilename", "dump.rdb"]),
            "{got:?}"
        );
        assert_eq!(
            pairs(&raw.call(&[b"CONFIG", b"GET", b"save"]).await),
            ["save", ""]
        );
    }
}
