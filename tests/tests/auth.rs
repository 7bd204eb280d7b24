//! `requirepass` on a shard and on the router, `--shard-password` between them.

use harness::{client_for, on_shard_and_cluster, send_raw, spawn_cluster_with, spawn_with};
use redis::AsyncCommands;
use serve::{ClientConfig, Password};

const PASSWORD: &str = "s3cret-pw";
const NOAUTH: &[u8] = b"-NOAUTH Authentication required.\r\n";
const WRONGPASS: &[u8] = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
const NOAUTH_HELLO: &[u8] = b"-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n";

fn locked() -> ClientConfig {
    ClientConfig {
        requirepass: Some(Password::new(PASSWORD)),
        ..ClientConfig::default()
    }
}

async fn redis_client(url: String) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await
}

on_shard_and_cluster! {
    async fn commands_before_auth_get_noauth_and_a_wrong_password_wrongpass(target: Target) {
        let server = spawn_with(target, locked()).await;
        let mut raw = server.raw().await;
        assert_eq!(raw.call(&[b"GET", b"k"]).await, NOAUTH);
        assert_eq!(raw.call(&[b"INFO"]).await, NOAUTH);
        assert_eq!(raw.call(&[b"PING"]).await, b"+PONG\r\n");
        assert_eq!(raw.call(&[b"HELLO", b"3"]).await, NOAUTH_HELLO);
        assert_eq!(raw.call(&[b"AUTH", b"nope"]).await, WRONGPASS);
        assert_eq!(raw.call(&[b"AUTH", b"someone", PASSWORD.as_bytes()]).await, WRONGPASS);
        assert_eq!(raw.call(&[b"GET", b"k"]).await, NOAUTH);
        assert_eq!(raw.call(&[b"AUTH", PASSWORD.as_bytes()]).await, b"+OK\r\n");
        assert_eq!(raw.call(&[b"SET", b"k", b"v"]).await, b"+OK\r\n");
        assert_eq!(raw.call(&[b"GET", b"k"]).await, b"$1\r\nv\r\n");
        // QUIT is allowed before AUTH: OK, then the close.
        assert_eq!(send_raw(server.addr(), b"QUIT\r\n").await, b"+OK\r\n");
    }

    async fn hello_3_auth_default_logs_in_and_switches_to_resp3(target: Target) {
        let server = spawn_with(target, locked()).await;
        let mut raw = server.raw().await;
        let pw = PASSWORD.as_bytes();
        assert_eq!(raw.call(&[b"HELLO", b"3", b"AUTH", b"default", b"no"]).await, WRONGPASS);
        let hello = raw.call(&[b"HELLO", b"3", b"AUTH", b"default", pw]).await;
        assert!(hello.starts_with(b"%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n"), "{hello:?}");
        assert_eq!(raw.call(&[b"GET", b"absent"]).await, b"_\r\n", "RESP3 null");
    }

    async fn redis_rs_logs_in_with_a_password_url(target: Target) {
        let server = spawn_with(target, locked()).await;
        for url in [
            format!("redis://:{PASSWORD}@{}/", server.addr()),
            format!("redis://default:{PASSWORD}@{}/?protocol=resp3", server.addr()),
        ] {
            let mut con = redis_client(url).await.unwrap();
            for i in 0..10 {
                let _: () = con.set(format!("k{i}"), i).await.unwrap();
            }
            for i in 0..10 {
                let got: i32 = con.get(format!("k{i}")).await.unwrap();
                assert_eq!(got, i);
            }
        }
        let wrong = redis_client(format!("redis://:wrong@{}/", server.addr())).await;
        let Err(err) = wrong else { panic!("a wrong password fails") };
        assert_eq!(err.kind(), redis::ErrorKind::AuthenticationFailed, "{err}");
    }

    async fn unauthenticated_clients_get_redis_smaller_limits(target: Target) {
        let server = spawn_with(target, locked()).await;
        assert_eq!(
            send_raw(server.addr(), b"*11\r\n").await,
            b"-ERR Protocol error: unauthenticated multibulk length\r\n"
        );
        assert_eq!(
            send_raw(server.addr(), b"*2\r\n$3\r\nGET\r\n$16385\r\n").await,
            b"-ERR Protocol error: unauthenticated bulk length\r\n"
        );
        let mut raw = server.raw().await;
        assert_eq!(raw.call(&[b"AUTH", PASSWORD.as_bytes()]).await, b"+OK\r\n");
        let big = vec![b'x'; 20_000];
        let mut mset: Vec<&[u8]> = vec![b"MSET"];
        for _ in 0..5 {
            mset.extend([&b"k"[..], &big[..]]);
        }
        assert_eq!(raw.call(&mset).await, b"+OK\r\n", "11 arguments of 20 KB after AUTH");
    }

    async fn the_password_never_appears_in_info_or_config(target: Target) {
        let server = spawn_with(target, locked()).await;
        let mut raw = server.raw().await;
        assert_eq!(raw.call(&[b"AUTH", PASSWORD.as_bytes()]).await, b"+OK\r\n");
        for cmd in [
            &[&b"INFO"[..], b"all"][..],
            &[b"INFO", b"everything"],
            &[b"CONFIG", b"GET", b"*"],
        ] {
            let reply = raw.call(cmd).await;
            let text = String::from_utf8_lossy(&reply);
            assert!(!text.contains(PASSWORD), "{text}");
        }
    }
}

#[tokio::test]
async fn the_router_authenticates_to_its_shards_with_shard_password() {
    let shards = server::Config {
        clients: ClientConfig {
            requirepass: Some(Password::new("shard-pw")),
            ..ClientConfig::default()
        },
        ..server::Config::default()
    };
    let router = router::Config {
        shard_password: Some(Password::new("shard-pw")),
        clients: locked(),
        ..router::Config::default()
    };
    let cluster = spawn_cluster_with(3, shards.clone(), router).await;
    let url = format!("redis://:{PASSWORD}@{}/", cluster.addr());
    let mut con = redis_client(url).await.unwrap();
    let keys = cluster.keys_on_distinct_shards(6);
    for key in &keys {
        let _: () = con.set(key, key).await.unwrap();
    }
    let got: Vec<String> = con.mget(&keys).await.unwrap();
    assert_eq!(got, keys);

    // Shards need the password: a router without it gets their NOAUTH for every key.
    let bare = spawn_cluster_with(1, shards, router::Config::default()).await;
    let mut con = client_for(bare.addr()).await;
    let err = con.get::<_, Option<String>>("k").await.unwrap_err();
    assert!(err.to_string().contains("NOAUTH"), "{err}");
}
