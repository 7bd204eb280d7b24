//! Real `jumpcache shard` processes and their snapshot files: killed (SIGKILL) while a BGSAVE
//! writes, the previous file is left whole, a fresh shard loads whichever file is in place
//! with every key of one snapshot, and `redis-check-rdb` accepts it; a save the disk refuses
//! leaves the previous file whole and says `err`; a corrupt file is refused.

use std::path::PathBuf;

use harness::{client_for, free_port, start_logged, within, ShardProcess};
use redis::aio::MultiplexedConnection;

const KEYS: usize = 20_000;

async fn fill(con: &mut MultiplexedConnection, round: &str) {
    for chunk in 0..KEYS / 1000 {
        let mut pipe = redis::pipe();
        for i in chunk * 1000..(chunk + 1) * 1000 {
            pipe.set(format!("key:{i}"), format!("{round}:{}", "x".repeat(1000)))
                .ignore();
        }
        let _: () = within(pipe.query_async(con)).await.unwrap();
    }
}

/// Counts the `temp-*.rdb` files in `dir`.
fn temp_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("temp-")
        })
        .count()
}

#[tokio::test]
async fn a_shard_killed_during_bgsave_restarts_on_a_whole_snapshot() {
    let dir = temp_dir("rdb-crash");
    let dir_arg = dir.to_str().unwrap().to_string();
    let bin = env!("CARGO_BIN_EXE_jumpcache");
    let mut shard = ShardProcess::start_with(bin, &["--dir", &dir_arg]).await;
    let mut con = client_for(shard.addr()).await;
    fill(&mut con, "old").await;
    let ok: String = within(redis::cmd("SAVE").query_async(&mut con))
        .await
        .unwrap();
    assert_eq!(ok, "OK");
    let file = dir.join("dump.rdb");
    let old = std::fs::read(&file).unwrap();

    fill(&mut con, "new").await;
    let started: String = within(redis::cmd("BGSAVE").query_async(&mut con))
        .await
        .unwrap();
    assert_eq!(started, "Background saving started");
    // Killed as soon as the temp file appears: while the save writes it, unless it is
    // already done (then the new file must be whole instead).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while temp_files(&dir) == 0 && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    shard.kill().await;
    let leftovers = temp_files(&dir);
    let now = std::fs::read(&file).unwrap();
    eprintln!(
        "killed {} the BGSAVE finished",
        if leftovers > 0 { "before" } else { "after" }
    );
    if leftovers > 0 {
        assert_eq!(now, old, "a killed save left the previous file as it was");
    }
    check_rdb(&file);

    // A fresh shard on the same --dir, once its log says the file is in (until then it
    // answers -LOADING): every key, all from one snapshot.
    drop(shard);
    let port = free_port().to_string();
    let args = [
        "shard",
        "--port",
        &port,
        "--max-memory",
        "64mb",
        "--dir",
        &dir_arg,
    ];
    let _fresh = start_logged(bin, &args, "snapshot loaded")
        .await
        .expect("a shard on the file left behind");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut con = client_for(addr).await;
    let n: usize = within(redis::cmd("DBSIZE").query_async(&mut con))
        .await
        .unwrap();
    assert_eq!(n, KEYS);
    let want = if now == old { "old:" } else { "new:" };
    for i in (0..KEYS).step_by(997) {
        let v: String = within(
            redis::cmd("GET")
                .arg(format!("key:{i}"))
                .query_async(&mut con),
        )
        .await
        .unwrap();
        assert!(v.starts_with(want), "key:{i} is {}", &v[..4]);
    }
    drop(_fresh);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A snapshot the disk cannot take (here the process's file size limit, `ulimit -f`, which
/// binds root too; a full disk fails the same write): SAVE answers `-ERR`, BGSAVE's failure
/// shows in INFO (`rdb_last_bgsave_status:err`), no temp file stays, and the previous file
/// is still there, whole, and loads.
#[tokio::test]
async fn a_save_the_disk_refuses_leaves_the_previous_file_whole() {
    let dir = temp_dir("rdb-full");
    let dir_arg = dir.to_str().unwrap().to_string();
    let port = free_port().to_string();
    // 256 KiB (in 1 KiB blocks); SIGXFSZ ignored, so the write fails with EFBIG instead of
    // killing the process (an ignored signal stays ignored across exec).
    let script = format!(
        "trap '' XFSZ; ulimit -f 256; exec {} shard --port {port} --dir {dir_arg}",
        env!("CARGO_BIN_EXE_jumpcache")
    );
    let _shard = start_logged("sh", &["-c", &script], "shard listening")
        .await
        .expect("shard under ulimit -f");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut con = client_for(addr).await;
    let _: () = within(
        redis::cmd("SET")
            .arg("small")
            .arg("1")
            .query_async(&mut con),
    )
    .await
    .unwrap();
    let ok: String = within(redis::cmd("SAVE").query_async(&mut con))
        .await
        .unwrap();
    assert_eq!(ok, "OK");
    let file = dir.join("dump.rdb");
    let before = std::fs::read(&file).unwrap();

    // Past the limit: 1,000 incompressible 1 KiB values.
    let mut pipe = redis::pipe();
    for i in 0..1000u32 {
        let value: Vec<u8> = (0..1024u32)
            .map(|j| {
                (i.wrapping_mul(2_654_435_761)
                    .wrapping_add(j.wrapping_mul(40_503))
                    >> 13) as u8
            })
            .collect();
        pipe.set(format!("big:{i}"), value).ignore();
    }
    let () = within(pipe.query_async(&mut con)).await.unwrap();
    let mut raw = harness::RawClient::connect(addr).await;
    assert_eq!(raw.call(&[b"SAVE"]).await, b"-ERR\r\n");
    assert_eq!(info_field(&mut raw, "rdb_last_bgsave_status").await, "err");
    assert_eq!(
        raw.call(&[b"BGSAVE"]).await,
        b"+Background saving started\r\n"
    );
    within(async {
        while info_field(&mut raw, "rdb_bgsave_in_progress").await != "0" {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(info_field(&mut raw, "rdb_last_bgsave_status").await, "err");
    assert_eq!(info_field(&mut raw, "rdb_saves").await, "1");
    assert_eq!(
        info_field(&mut raw, "rdb_changes_since_last_save").await,
        "1000"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "the previous file is untouched"
    );
    assert_eq!(temp_files(&dir), 0, "no temp file left behind");
    check_rdb(&file);

    // The previous file loads: a fresh shard (no limit) has its one key.
    let port = free_port().to_string();
    let args = ["shard", "--port", &port, "--dir", &dir_arg];
    let _fresh = start_logged(env!("CARGO_BIN_EXE_jumpcache"), &args, "snapshot loaded")
        .await
        .expect("a shard on the previous file");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut con = client_for(addr).await;
    let n: usize = within(redis::cmd("DBSIZE").query_async(&mut con))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Returns a field of the shard's `INFO persistence`.
async fn info_field(raw: &mut harness::RawClient, name: &str) -> String {
    let reply = raw.call(&[b"INFO", b"persistence"]).await;
    let text = String::from_utf8_lossy(&reply).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .to_string()
}

/// Runs `redis-check-rdb` on `file` and asserts it accepts it; a note when not installed.
fn check_rdb(file: &std::path::Path) {
    match std::process::Command::new("redis-check-rdb")
        .arg(file)
        .output()
    {
        Ok(out) => assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        ),
        Err(_) => eprintln!("NOTE: redis-check-rdb is not installed; file check skipped"),
    }
}

/// A fresh directory under the temp dir.
fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "jumpcache-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn the_binary_refuses_a_corrupt_file_and_says_why() {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "jumpcache-rdb-refuse-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("dump.rdb"), b"REDIS0010\xfe\x00\x00\x03key\x05val").unwrap();
    let out = within(
        tokio::process::Command::new(env!("CARGO_BIN_EXE_jumpcache"))
            .args(["shard", "--port", "0", "--dir"])
            .arg(&dir)
            .env("RUST_LOG", "info")
            .output(),
    )
    .await
    .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains("dump.rdb: corrupt RDB file: truncated file"),
        "{log}"
    );
    // `--rdb-corrupt empty` (here from the environment) starts anyway: shown by its log.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_jumpcache"))
        .args(["shard", "--port", "0", "--dir"])
        .arg(&dir)
        .env("JUMPCACHE_RDB_CORRUPT", "empty")
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stderr));
    let started = within(async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("starting empty") {
                return true;
            }
        }
        false
    })
    .await;
    assert!(started, "no 'starting empty' line");
    let _ = child.kill().await;
    let _ = std::fs::remove_dir_all(&dir);
}
