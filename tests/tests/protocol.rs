//! Protocol edges through raw sockets, on a shard and through the router (the same bad inputs
//! on both): every bad input gets Redis's error, closes only that connection, and leaves
//! other clients and stored keys untouched.

use harness::{on_shard_and_cluster, send_raw, spawn, RawClient, Server, Target};
use redis::AsyncCommands;

/// Stores keys through one client, runs `attack`, then checks the keys and a fresh client.
async fn survives<F, Fut>(target: Target, attack: F)
where
    F: FnOnce(Server) -> Fut,
    Fut: std::future::Future<Output = Server>,
{
    let shard = spawn(target).await;
    let mut bystander = shard.client().await;
    // On a cluster these land on several shards.
    for i in 0..8 {
        let _: () = bystander.set(format!("kept{i}"), i).await.unwrap();
    }
    let shard = attack(shard).await;
    for i in 0..8 {
        let got: i32 = bystander.get(format!("kept{i}")).await.unwrap();
        assert_eq!(got, i, "the bystander's keys survive");
    }
    let mut fresh = shard.client().await;
    let pong: String = redis::cmd("PING").query_async(&mut fresh).await.unwrap();
    assert_eq!(pong, "PONG", "the server still answers");
}

async fn protocol_error_closes(target: Target, input: &'static [u8], message: &'static str) {
    survives(target, |shard| async move {
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

on_shard_and_cluster! {
    async fn invalid_multibulk_lengths_close_the_connection(target: Target) {
        protocol_error_closes(target, b"*3000000000\r\n", "invalid multibulk length").await;
        protocol_error_closes(target, b"*abc\r\n", "invalid multibulk length").await;
    }

    async fn invalid_bulk_lengths_close_the_connection(target: Target) {
        protocol_error_closes(target, b"*1\r\n$-10\r\n", "invalid bulk length").await;
        protocol_error_closes(target, b"*1\r\n$blabla\r\n", "invalid bulk length").await;
        protocol_error_closes(target, b"*2\r\n$3\r\nSET\r\n$536870913\r\n", "invalid bulk length").await;
    }

    async fn an_element_that_is_not_a_bulk_closes_the_connection(target: Target) {
        protocol_error_closes(target, b"*2\r\n$3\r\nGET\r\n:1\r\n", "expected '$', got ':'").await;
    }

    async fn deep_nesting_is_rejected_without_recursion(target: Target) {
        let input: &'static [u8] = Box::leak(b"*1\r\n".repeat(100_000).into_boxed_slice());
        protocol_error_closes(target, input, "expected '$', got '*'").await;
    }

    async fn an_inline_line_over_64_kib_is_rejected(target: Target) {
        let input: &'static [u8] = Box::leak(vec![b'a'; 70 * 1024].into_boxed_slice());
        protocol_error_closes(target, input, "too big inline request").await;
    }

    async fn unbalanced_quotes_are_rejected(target: Target) {
        protocol_error_closes(target, b"SET \"a b\r\n", "unbalanced quotes in request").await;
    }

    async fn garbage_bytes_get_an_error_reply_and_the_server_lives(target: Target) {
        survives(target, |shard| async move {
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

    async fn empty_requests_and_blank_lines_are_ignored(target: Target) {
        let shard = spawn(target).await;
        let mut raw = shard.raw().await;
        raw.send(b"*-1\r\n*0\r\n\r\n\r\n   \r\n*1\r\n$4\r\nPING\r\n")
            .await;
        assert_eq!(raw.reply().await.unwrap(), b"+PONG\r\n");
    }

    async fn replies_before_a_protocol_error_are_sent_first(target: Target) {
        let shard = spawn(target).await;
        let got = send_raw(shard.addr(), b"PING\r\n*1\r\n$4\r\nPING\r\n*x\r\nPING\r\n").await;
        assert_eq!(
            got,
            b"+PONG\r\n+PONG\r\n-ERR Protocol error: invalid multibulk length\r\n"
        );
    }

    async fn inline_commands_work_with_quotes(target: Target) {
        let shard = spawn(target).await;
        let mut raw = shard.raw().await;
        raw.send(b"SET \"a key\" 'a value'\r\n").await;
        assert_eq!(raw.reply().await.unwrap(), b"+OK\r\n");
        raw.send(b"GET \"a key\"\n").await;
        assert_eq!(raw.reply().await.unwrap(), b"$7\r\na value\r\n");
    }

    async fn unknown_commands_keep_the_connection_open(target: Target) {
        let shard = spawn(target).await;
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

    async fn a_client_that_disconnects_mid_pipeline_harms_nobody(target: Target) {
        survives(target, |shard| async move {
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

    async fn a_pipeline_is_answered_in_order(target: Target) {
        let shard = spawn(target).await;
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
}

on_shard_and_cluster! {
    async fn binary_keys_and_values_and_the_empty_key_are_stored_byte_exact(target: Target) {
        let server = spawn(target).await;
        let mut raw = server.raw().await;
        let key: &[u8] = b"k\x00\xff\r\nk";
        let value: &[u8] = b"\r\n\x00\xffv\r\n";
        assert_eq!(raw.call(&[b"SET", key, value]).await, b"+OK\r\n");
        assert_eq!(raw.call(&[b"GET", key]).await, b"$7\r\n\r\n\x00\xffv\r\n\r\n");
        assert_eq!(raw.call(&[b"SET", b"", b"empty key"]).await, b"+OK\r\n");
        assert_eq!(raw.call(&[b"GET", b""]).await, b"$9\r\nempty key\r\n");
    }

    async fn bad_expire_times_and_bad_increments_get_redis_errors(target: Target) {
        let server = spawn(target).await;
        let mut raw = server.raw().await;
        let expire = b"-ERR invalid expire time in 'set' command\r\n";
        for ex in [&b"0"[..], b"-1", b"99999999999999999"] {
            assert_eq!(raw.call(&[b"SET", b"k", b"v", b"EX", ex]).await, expire);
        }
        assert_eq!(raw.call(&[b"SET", b"s", b"abc"]).await, b"+OK\r\n");
        assert_eq!(
            raw.call(&[b"INCR", b"s"]).await,
            b"-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(raw.call(&[b"SET", b"n", b"9223372036854775807"]).await, b"+OK\r\n");
        assert_eq!(
            raw.call(&[b"INCR", b"n"]).await,
            b"-ERR increment or decrement would overflow\r\n"
        );
        assert_eq!(raw.call(&[b"EXISTS", b"k"]).await, b":0\r\n");
    }
}
