//! Protocol edges through raw sockets: every bad input gets Redis's error, closes only that
//! connection, and leaves other clients and stored keys untouched.

use harness::{send_raw, spawn_shard, RawClient, ShardHandle};
use redis::AsyncCommands;

/// Stores a key through one client, runs `attack`, then checks the key and a fresh client.
async fn survives<F, Fut>(attack: F)
where
    F: FnOnce(ShardHandle) -> Fut,
    Fut: std::future::Future<Output = ShardHandle>,
{
    let shard = spawn_shard().await;
    let mut bystander = shard.client().await;
    let _: () = bystander.set("kept", "value").await.unwrap();
    let shard = attack(shard).await;
    let got: String = bystander.get("kept").await.unwrap();
    assert_eq!(got, "value", "the bystander's key survives");
    let mut fresh = shard.client().await;
    let pong: String = redis::cmd("PING").query_async(&mut fresh).await.unwrap();
    assert_eq!(pong, "PONG", "the server still answers");
}

async fn protocol_error_closes(input: &'static [u8], message: &'static str) {
    survives(|shard| async move {
        let got = send_raw(shard.addr(), input).await;
        assert_eq!(
            String::from_utf8_lossy(&got),
            format!("-ERR Protocol error: {message}\r\n"),
            "input {:?}",
            String::from_utf8_lossy(&input[..input.len().min(40)])
        );
        shard
    })
    .await;
}

#[tokio::test]
async fn invalid_multibulk_lengths_close_the_connection() {
    protocol_error_closes(b"*3000000000\r\n", "invalid multibulk length").await;
    protocol_error_closes(b"*abc\r\n", "invalid multibulk length").await;
}

#[tokio::test]
async fn invalid_bulk_lengths_close_the_connection() {
    protocol_error_closes(b"*1\r\n$-10\r\n", "invalid bulk length").await;
    protocol_error_closes(b"*1\r\n$blabla\r\n", "invalid bulk length").await;
    protocol_error_closes(b"*2\r\n$3\r\nSET\r\n$536870913\r\n", "invalid bulk length").await;
}

#[tokio::test]
async fn an_element_that_is_not_a_bulk_closes_the_connection() {
    protocol_error_closes(b"*2\r\n$3\r\nGET\r\n:1\r\n", "expected '$', got ':'").await;
}

#[tokio::test]
async fn deep_nesting_is_rejected_without_recursion() {
    let input: &'static [u8] = Box::leak(b"*1\r\n".repeat(100_000).into_boxed_slice());
    protocol_error_closes(input, "expected '$', got '*'").await;
}

#[tokio::test]
async fn an_inline_line_over_64_kib_is_rejected() {
    let input: &'static [u8] = Box::leak(vec![b'a'; 70 * 1024].into_boxed_slice());
    protocol_error_closes(input, "too big inline request").await;
}

#[tokio::test]
async fn unbalanced_quotes_are_rejected() {
    protocol_error_closes(b"SET \"a b\r\n", "unbalanced quotes in request").await;
}

#[tokio::test]
async fn garbage_bytes_get_an_error_reply_and_the_server_lives() {
    survives(|shard| async move {
        let mut raw = RawClient::connect(shard.addr()).await;
        raw.send(b"\xff\xfe garbage \x01\x7f\r\n").await;
        let reply = raw.reply().await.unwrap();
        assert!(
            reply.starts_with(b"-ERR unknown command"),
            "{}",
            String::from_utf8_lossy(&reply)
        );
        shard
    })
    .await;
}

#[tokio::test]
async fn empty_requests_and_blank_lines_are_ignored() {
    let shard = spawn_shard().await;
    let mut raw = shard.raw().await;
    raw.send(b"*-1\r\n*0\r\n\r\n\r\n   \r\n*1\r\n$4\r\nPING\r\n")
        .await;
    assert_eq!(raw.reply().await.unwrap(), b"+PONG\r\n");
}

#[tokio::test]
async fn replies_before_a_protocol_error_are_sent_first() {
    let shard = spawn_shard().await;
    let got = send_raw(shard.addr(), b"PING\r\n*1\r\n$4\r\nPING\r\n*x\r\nPING\r\n").await;
    assert_eq!(
        got,
        b"+PONG\r\n+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n"
    );
}

#[tokio::test]
async fn inline_commands_work_with_quotes() {
    let shard = spawn_shard().await;
    let mut raw = shard.raw().await;
    raw.send(b"SET \"a key\" 'a value'\r\n").await;
    assert_eq!(raw.reply().await.unwrap(), b"+OK\r\n");
    raw.send(b"GET \"a key\"\n").await;
    assert_eq!(raw.reply().await.unwrap(), b"$7\r\na value\r\n");
}

#[tokio::test]
async fn unknown_commands_keep_the_connection_open() {
    let shard = spawn_shard().await;
    let mut raw = shard.raw().await;
    let reply = raw.call(&[b"FOO", b"bar", b"baz"]).await;
    assert_eq!(
        reply,
        b"-ERR unknown command 'FOO', with args beginning with: 'bar' 'baz' \r\n"
    );
    assert_eq!(
        raw.call(&[b"GET"]).await,
        b"-ERR wrong number of arguments for 'get' command\r\n"
    );
    assert_eq!(raw.call(&[b"PING"]).await, b"+PONG\r\n");
}

#[tokio::test]
async fn a_client_that_disconnects_mid_pipeline_harms_nobody() {
    survives(|shard| async move {
        for _ in 0..20 {
            let mut raw = RawClient::connect(shard.addr()).await;
            let mut pipeline = Vec::new();
            for i in 0..1000 {
                pipeline.extend(harness::request(&[
                    b"SET",
                    format!("p{i}").as_bytes(),
                    b"v",
                ]));
            }
            pipeline.extend(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$100\r\nshort");
            raw.send(&pipeline).await;
            drop(raw);
        }
        shard
    })
    .await;
}

#[tokio::test]
async fn a_pipeline_is_answered_in_order() {
    let shard = spawn_shard().await;
    let mut raw = shard.raw().await;
    let mut pipeline = Vec::new();
    for i in 0..10_000 {
        pipeline.extend(harness::request(&[b"ECHO", format!("{i}").as_bytes()]));
    }
    raw.send(&pipeline).await;
    for i in 0..10_000 {
        let expected = format!("${}\r\n{i}\r\n", i.to_string().len());
        assert_eq!(raw.reply().await.unwrap(), expected.as_bytes());
    }
}
