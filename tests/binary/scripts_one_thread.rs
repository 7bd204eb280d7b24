//! SCRIPT KILL on a one-thread shard process (`--threads 1`, a current-thread runtime, the
//! default for `jumpcache shard` on 2 cores): the script runs on a helper thread
//! (server/src/script/aside.rs), so the process's one thread still reads SCRIPT KILL and
//! answers the other clients `-BUSY` past `--lua-time-limit`.

use harness::{request, within, RawClient, ShardProcess};

const BIN: &str = env!("CARGO_BIN_EXE_jumpcache");

const BUSY: &[u8] =
    b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n";

/// Sends GET until the reply is `-BUSY` (the script passed the time limit).
async fn until_busy(client: &mut RawClient) {
    within(async { while client.call(&[b"GET", b"k"]).await != BUSY {} }).await;
}

#[tokio::test]
async fn script_kill_reaches_a_script_on_a_one_thread_shard() {
    let shard = ShardProcess::start_with(BIN, &["--threads", "1", "--lua-time-limit", "100"]).await;
    let mut runner = RawClient::connect(shard.addr()).await;
    runner
        .send(&request(&[b"EVAL", b"while true do end", b"0"]))
        .await;
    let mut other = RawClient::connect(shard.addr()).await;
    until_busy(&mut other).await;
    assert_eq!(other.call(&[b"EVAL", b"return 1", b"0"]).await, BUSY);
    assert_eq!(other.call(&[b"SCRIPT", b"KILL"]).await, b"+OK\r\n");
    let killed = within(runner.reply()).await.expect("the script's reply");
    assert!(
        killed.starts_with(b"-ERR Script killed by user with SCRIPT KILL..."),
        "{}",
        String::from_utf8_lossy(&killed)
    );
    // The process serves as before, scripts included, on the same connections.
    assert_eq!(other.call(&[b"SET", b"k", b"v"]).await, b"+OK\r\n");
    assert_eq!(
        runner
            .call(&[b"EVAL", b"return redis.call('get', KEYS[1])", b"1", b"k"])
            .await,
        b"$1\r\nv\r\n"
    );
    assert_eq!(
        other.call(&[b"SCRIPT", b"KILL"]).await,
        b"-NOTBUSY No scripts in execution right now.\r\n"
    );
    // A script that wrote cannot be killed (Redis's UNKILLABLE); the process is then
    // killed by the test, as Redis's SHUTDOWN NOSAVE would end it.
    runner
        .send(&request(&[
            b"EVAL",
            b"redis.call('set', KEYS[1], '1') while true do end",
            b"1",
            b"w",
        ]))
        .await;
    until_busy(&mut other).await;
    let unkillable = other.call(&[b"SCRIPT", b"KILL"]).await;
    assert!(
        unkillable.starts_with(b"-UNKILLABLE Sorry the script already executed write commands"),
        "{}",
        String::from_utf8_lossy(&unkillable)
    );
}
