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

/// On a shard, a script runs with its caller's rules, and `redis.call` refusals have
/// Redis's script texts. (Through a router the script's own calls run as the router's shard
/// user: docs/commands.md lists that difference.)
#[tokio::test]
async fn a_script_s_calls_are_checked_against_its_caller_on_a_shard() {
    let args = redis_acl_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some(redis) = RedisServer::start_with(&args).await else {
        return;
    };
    let server = spawn_with(
        harness::Target::Shard,
        serve::ClientConfig {
            users: acl_users(),
            ..serve::ClientConfig::default()
        },
    )
    .await;
    let steps: &[&[&str]] = &[
        &["AUTH", "erin", "x"],
        &["EVAL", "return 1", "1", "c:1"],
        &["EVAL", "return redis.call('set','a:1','v')", "1", "a:1"],
        &["EVAL", "return redis.call('get','c:1')", "0"],
        &["EVAL", "return redis.pcall('get','c:1')", "0"],
        &["EVAL", "return redis.call('flushall')", "0"],
        &["EVAL", "return redis.pcall('keys','*')", "0"],
        &["AUTH", "alice", "pass"],
        &["EVAL", "return 1", "0"],
        &["AUTH", "default", "x"],
        &["ACL", "LOG"],
    ];
    let mut theirs = redis.raw().await;
    let mut ours = server.raw().await;
    for step in steps {
        let args: Vec<&[u8]> = step.iter().map(|a| a.as_bytes()).collect();
        let (a, b) = (theirs.call(&args).await, ours.call(&args).await);
        // ACL LOG: the `lua` context; ages and client lines differ.
        assert_eq!(log_normalised(&a), log_normalised(&b), "{step:?}");
    }
}

/// Through a router a script's own calls would run as the router's shard user, past the
/// caller's rules: a user with restrictions is refused scripts there (an unrestricted one is
/// not), rather than let `redis.call('flushall')` through.
#[tokio::test]
async fn a_router_refuses_scripts_to_users_with_restrictions() {
    for target in [harness::Target::Cluster, harness::Target::Embedded] {
        let server = spawn_with(
            target,
            serve::ClientConfig {
                users: acl_users(),
                ..serve::ClientConfig::default()
            },
        )
        .await;
        let mut raw = server.raw().await;
        assert_eq!(raw.call(&[b"SET", b"a:1", b"v"]).await, b"+OK\r\n");
        assert_eq!(raw.call(&[b"AUTH", b"erin", b"x"]).await, b"+OK\r\n");
        let refused = format!("-{}\r\n", serve::session::ROUTER_SCRIPT_REFUSED);
        for script in [
            &[&b"EVAL"[..], b"return redis.call('flushall')", b"0"][..],
            &[
                b"EVALSHA",
                b"0000000000000000000000000000000000000000",
                b"0",
            ],
        ] {
            assert_eq!(String::from_utf8_lossy(&raw.call(script).await), refused);
        }
        assert_eq!(raw.call(&[b"GET", b"a:1"]).await, b"$1\r\nv\r\n");
        assert_eq!(raw.call(&[b"AUTH", b"default", b"x"]).await, b"+OK\r\n");
        assert_eq!(
            raw.call(&[b"EVAL", b"return redis.call('get', KEYS[1])", b"1", b"a:1"])
                .await,
            b"$1\r\nv\r\n"
        );
    }
}
