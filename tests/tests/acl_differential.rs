//! Users against redis-server 7.0: the same users (every rule form: `>plain` and `#sha256`
//! passwords, on/off, categories in and out, single commands, subcommands, key patterns,
//! `allkeys`, `nopass`, `resetpass`) on redis-server and on jumpcache, the same requests (AUTH,
//! HELLO AUTH, every refusal, ACL WHOAMI LIST USERS CAT GETUSER SETUSER DELUSER DRYRUN
//! GENPASS), the replies compared byte for byte: on a shard, a router over shards and
//! `cluster`. Skipped, with a note, where redis-server is not installed.

use harness::{on_shard_and_cluster, spawn_with, RedisServer};

include!("acl_differential/steps.rs");

on_shard_and_cluster! {
    async fn every_acl_step_gets_redis_server_s_reply(target: Target) {
        let args = redis_acl_args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let Some(redis) = RedisServer::start_with(&args).await else {
            return;
        };
        let server = spawn_with(
            target,
            serve::ClientConfig {
                users: acl_users(),
                ..serve::ClientConfig::default()
            },
        )
        .await;
        run_acl_differential(&redis, server.addr(), &format!("{target:?}")).await;
    }
}

/// The topology commands are `@admin` and `@dangerous`: `-@admin` or `-@dangerous` takes
/// them away, as it takes CONFIG SET.
#[tokio::test]
async fn jumpcache_commands_are_admin_and_dangerous() {
    let server = spawn_with(harness::Target::Cluster, serve::ClientConfig::default()).await;
    let mut raw = server.raw().await;
    for category in ["admin", "dangerous"] {
        let names = acl_bulks(&raw.call(&[b"ACL", b"CAT", category.as_bytes()]).await);
        for sub in [
            "topology", "resize", "epoch", "learn", "state", "done", "export", "import", "drop",
            "scanout",
        ] {
            assert!(
                names.contains(&format!("jumpcache|{sub}")),
                "{category}: {names:?}"
            );
        }
        assert!(names.contains(&"jumpcache".to_string()), "{names:?}");
    }
    assert_eq!(
        raw.call(&[b"ACL", b"SETUSER", b"ops", b"on", b">o", b"~*", b"+@all", b"-@admin"])
            .await,
        b"+OK\r\n"
    );
    assert_eq!(raw.call(&[b"AUTH", b"ops", b"o"]).await, b"+OK\r\n");
    assert_eq!(
        raw.call(&[b"JUMPCACHE", b"TOPOLOGY"]).await,
        b"-NOPERM this user has no permissions to run the 'jumpcache|topology' command\r\n"
    );
    assert_eq!(
        raw.call(&[b"JUMPCACHE", b"RESIZE", b"4"]).await,
        b"-NOPERM this user has no permissions to run the 'jumpcache|resize' command\r\n"
    );
    assert_eq!(raw.call(&[b"SET", b"k", b"v"]).await, b"+OK\r\n");
}
