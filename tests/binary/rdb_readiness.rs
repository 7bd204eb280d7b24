//! A `jumpcache shard` process started on a large snapshot file: its admin port's `/readyz`
//! says not ready and data commands answer `-LOADING` until the file is in; then it is
//! ready, its log says what it loaded, and the keys are there.

#[path = "support.rs"]
mod support;

use harness::{within, RawClient};
use server::rdb::writer::RdbWriter;
use support::{http_get, start, until_status, Spec};

const KEYS: u64 = 300_000;

#[tokio::test]
async fn a_shard_is_not_ready_until_its_snapshot_is_loaded() {
    let dir = std::env::temp_dir().join(format!(
        "jumpcache-rdb-ready-{}-{}",
        std::process::id(),
        support::free_port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::io::BufWriter::new(std::fs::File::create(dir.join("dump.rdb")).unwrap());
    let mut w = RdbWriter::start(file, 0, 0).unwrap();
    w.select_db(KEYS, 0).unwrap();
    for i in 0..KEYS {
        w.string(format!("key:{i}").as_bytes(), b"value", 0)
            .unwrap();
    }
    w.finish().unwrap();

    let dir_arg = dir.to_string_lossy().into_owned();
    let shard = start(Spec::new(
        &["shard", "--dir", &dir_arg],
        "metrics listening",
    ))
    .await;
    let (status, _) = within(http_get(shard.metrics, "/readyz")).await.unwrap();
    assert_eq!(status, 503, "not ready while the file loads");
    let mut raw = RawClient::connect(shard.addr).await;
    assert_eq!(
        raw.call(&[b"PING"]).await,
        b"-LOADING Redis is loading the dataset in memory\r\n"
    );
    within(until_status(shard.metrics, "/readyz", 200)).await;
    assert_eq!(raw.call(&[b"PING"]).await, b"+PONG\r\n");
    assert_eq!(
        raw.call(&[b"DBSIZE"]).await,
        format!(":{KEYS}\r\n").into_bytes()
    );
    let log = shard.stderr.lock().unwrap().join("\n");
    assert!(
        log.contains("snapshot loaded") && log.contains(&format!("keys={KEYS}")),
        "{log}"
    );
    drop(shard);
    let _ = std::fs::remove_dir_all(&dir);
}
