//! Users (Redis 6 ACL): `--user` rules, AUTH and HELLO AUTH as a user, categories, key
//! patterns and Redis 7.0's exact refusals, on a shard and through a router; and the same
//! script against redis-server with the same rules, reply for reply.

use harness::RedisServer;
use harness::{on_shard_and_cluster, spawn_with};
use serve::{ClientConfig, Password};

/// `password`'s SHA-256, in Redis's `#<hex>` form.
const PASSWORD_HASH: &str = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8";

/// The users every test here runs with, as `--user` flags would give them.
fn users() -> Vec<String> {
    vec![
        "alice on >pass ~cache:* +@read".into(),
        "bob off >x +@all ~*".into(),
        format!("carol on #{PASSWORD_HASH} +@all -flushall -@admin ~*"),
        "dave on >d allkeys +@write -@dangerous +get".into(),
    ]
}

fn with_users() -> ClientConfig {
    ClientConfig {
        users: users(),
        ..ClientConfig::default()
    }
}

const WRONGPASS: &[u8] = b"-WRONGPASS invalid username-password pair or user is disabled.\r\n";
const NOPERM_KEY: &[u8] =
    b"-NOPERM this user has no permissions to access one of the keys used as arguments\r\n";

fn noperm(command: &str) -> Vec<u8> {
    format!("-NOPERM this user has no permissions to run the '{command}' command\r\n").into_bytes()
}

/// Each step: a request and the exact reply Redis 7.0 gives (checked against redis-server
/// by `the_acl_script_gets_redis_server_s_replies`).
fn script() -> Vec<(Vec<&'static str>, Vec<u8>)> {
    let ok = b"+OK\r\n".to_vec();
    vec![
        (vec!["ACL", "WHOAMI"], b"$7\r\ndefault\r\n".to_vec()),
        (vec!["SET", "cache:a", "1"], ok.clone()),
        (vec!["SET", "other", "2"], ok.clone()),
        // alice: reads under cache:* only.
        (vec!["AUTH", "alice", "nope"], WRONGPASS.to_vec()),
        (vec!["AUTH", "alice", "pass"], ok.clone()),
        (vec!["ACL", "WHOAMI"], noperm("acl|whoami")),
        (vec!["GET", "cache:a"], b"$1\r\n1\r\n".to_vec()),
        (vec!["SET", "cache:a", "2"], noperm("set")),
        (vec!["GET", "other"], NOPERM_KEY.to_vec()),
        (vec!["MGET", "cache:a", "other"], NOPERM_KEY.to_vec()),
        (vec!["FLUSHALL"], noperm("flushall")),
        (vec!["CONFIG", "GET", "maxmemory"], noperm("config|get")),
        (vec!["ACL", "LIST"], noperm("acl|list")),
        (vec!["EXISTS", "cache:a"], b":1\r\n".to_vec()),
        // bob is off: his right password is refused as a wrong one.
        (vec!["AUTH", "bob", "x"], WRONGPASS.to_vec()),
        (vec!["AUTH", "nobody", "x"], WRONGPASS.to_vec()),
        (vec!["ACL", "WHOAMI"], noperm("acl|whoami")),
        // carol: everything but FLUSHALL and @admin, password given as its SHA-256.
        (vec!["AUTH", "carol", "password"], ok.clone()),
        (vec!["SET", "other", "3"], ok.clone()),
        (vec!["FLUSHALL"], noperm("flushall")),
        (vec!["CONFIG", "SET", "maxmemory", "1"], noperm("config|set")),
        (vec!["CLIENT", "ID"], b":".to_vec()),
        (vec!["ACL", "USERS"], noperm("acl|users")),
        (vec!["COMMAND", "COUNT"], b":".to_vec()),
        // dave: @write but not @dangerous, and GET by name.
        (vec!["AUTH", "dave", "d"], ok.clone()),
        (vec!["SET", "x", "1"], ok.clone()),
        (vec!["GET", "x"], b"$1\r\n1\r\n".to_vec()),
        (vec!["STRLEN", "x"], noperm("strlen")),
        (vec!["FLUSHDB"], noperm("flushdb")),
        (vec!["DEL", "x"], b":1\r\n".to_vec()),
        // back to default, with `AUTH default <any>` (nopass).
        (vec!["AUTH", "default", "whatever"], ok.clone()),
        (vec!["ACL", "WHOAMI"], b"$7\r\ndefault\r\n".to_vec()),
        (vec!["ACL", "USERS"], b"*5\r\n$5\r\nalice\r\n$3\r\nbob\r\n$5\r\ncarol\r\n$4\r\ndave\r\n$7\r\ndefault\r\n".to_vec()),
        (vec!["ACL", "CAT", "nosuch"], b"-ERR Unknown category 'nosuch'\r\n".to_vec()),
        (vec!["ACL", "WHOAMI", "x"], b"-ERR wrong number of arguments for 'acl|whoami' command\r\n".to_vec()),
        (vec!["ACL"], b"-ERR wrong number of arguments for 'acl' command\r\n".to_vec()),
        (vec!["ACL", "nosuch"], b"-ERR unknown subcommand 'nosuch'. Try ACL HELP.\r\n".to_vec()),
        (vec!["AUTH", "x"], b"-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n".to_vec()),
    ]
}

/// `CLIENT ID`'s number differs between servers: the step checks the reply's type only.
fn matches(got: &[u8], want: &[u8]) -> bool {
    if want == b":" {
        return got.starts_with(b":");
    }
    got == want
}

on_shard_and_cluster! {
    async fn users_run_only_what_their_rules_allow_with_redis_s_refusals(target: Target) {
        let server = spawn_with(target, with_users()).await;
        let mut raw = server.raw().await;
        for (args, want) in script() {
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            let got = raw.call(&args).await;
            assert!(
                matches(&got, &want),
                "{:?}: got {:?}, want {:?}",
                args.iter().map(|a| String::from_utf8_lossy(a)).collect::<Vec<_>>(),
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(&want)
            );
        }
    }

    async fn hello_3_auth_logs_in_as_a_user_and_client_list_names_it(target: Target) {
        let server = spawn_with(target, with_users()).await;
        let mut raw = server.raw().await;
        assert_eq!(raw.call(&[b"HELLO", b"3", b"AUTH", b"alice", b"bad"]).await, WRONGPASS);
        let hello = raw.call(&[b"HELLO", b"3", b"AUTH", b"alice", b"pass"]).await;
        assert!(hello.starts_with(b"%7\r\n"), "{hello:?}");
        assert_eq!(raw.call(&[b"ACL", b"WHOAMI"]).await, noperm("acl|whoami"));
        assert_eq!(raw.call(&[b"SET", b"cache:1", b"v"]).await, noperm("set"));
        let mut admin = server.raw().await;
        let list = admin.call(&[b"CLIENT", b"LIST"]).await;
        assert!(
            String::from_utf8_lossy(&list).contains("user=alice"),
            "{}",
            String::from_utf8_lossy(&list)
        );
    }

    async fn requirepass_is_the_default_user_s_password_beside_other_users(target: Target) {
        let server = spawn_with(
            target,
            ClientConfig {
                requirepass: Some(Password::new("pw")),
                ..with_users()
            },
        )
        .await;
        let mut raw = server.raw().await;
        assert_eq!(raw.call(&[b"GET", b"k"]).await, b"-NOAUTH Authentication required.\r\n");
        assert_eq!(raw.call(&[b"AUTH", b"alice", b"pass"]).await, b"+OK\r\n");
        assert_eq!(raw.call(&[b"GET", b"k"]).await, NOPERM_KEY);
        assert_eq!(raw.call(&[b"AUTH", b"pw"]).await, b"+OK\r\n");
        assert_eq!(raw.call(&[b"ACL", b"WHOAMI"]).await, b"$7\r\ndefault\r\n");
        let list = raw.call(&[b"ACL", b"LIST"]).await;
        let list = String::from_utf8_lossy(&list);
        assert!(list.contains("user default on #"), "{list}");
        assert!(
            list.contains("user alice on #d74ff0ee8da3b9806b18c877dbf29bbde50b5bd8e4dad7a3a725000feb82e8f1 ~cache:* resetchannels -@all +@read"),
            "{list}"
        );
    }

    async fn a_restricted_default_user_follows_acl_setuser_on_open_connections(target: Target) {
        let config = ClientConfig {
            users: vec!["default -flushall".into()],
            ..ClientConfig::default()
        };
        let server = spawn_with(target, config).await;
        let mut first = server.raw().await;
        assert_eq!(first.call(&[b"SET", b"k", b"v"]).await, b"+OK\r\n");
        assert_eq!(first.call(&[b"FLUSHALL"]).await, noperm("flushall"));
        let mut second = server.raw().await;
        assert_eq!(
            second.call(&[b"ACL", b"SETUSER", b"default", b"+flushall", b"-get"]).await,
            b"+OK\r\n"
        );
        assert_eq!(first.call(&[b"GET", b"k"]).await, noperm("get"));
        assert_eq!(first.call(&[b"FLUSHALL"]).await, b"+OK\r\n");
        assert_eq!(
            second.call(&[b"ACL", b"LIST"]).await,
            b"*1\r\n$39\r\nuser default on nopass ~* &* +@all -get\r\n"
        );
    }

    async fn a_default_user_that_is_off_leaves_every_client_unauthenticated(target: Target) {
        let mut config = with_users();
        config.users.push("default off".into());
        let server = spawn_with(target, config).await;
        let mut raw = server.raw().await;
        assert_eq!(raw.call(&[b"GET", b"k"]).await, b"-NOAUTH Authentication required.\r\n");
        assert_eq!(raw.call(&[b"AUTH", b"default", b""]).await, WRONGPASS);
        assert_eq!(raw.call(&[b"AUTH", b"carol", b"password"]).await, b"+OK\r\n");
        assert_eq!(raw.call(&[b"GET", b"k"]).await, b"$-1\r\n");
    }
}

fn redis_user_args() -> Vec<String> {
    let mut out = Vec::new();
    for line in users() {
        out.push("--user".to_string());
        out.extend(line.split_whitespace().map(String::from));
    }
    out
}

#[tokio::test]
async fn the_acl_script_gets_redis_server_s_replies() {
    let args = redis_user_args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let Some(redis) = RedisServer::start_with(&args).await else {
        return;
    };
    let mut raw = redis.raw().await;
    for (args, want) in script() {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let got = raw.call(&args).await;
        assert!(
            matches(&got, &want),
            "redis-server: {:?}: got {:?}, want {:?}",
            args.iter()
                .map(|a| String::from_utf8_lossy(a))
                .collect::<Vec<_>>(),
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&want)
        );
    }
}

/// Returns the bulk strings of a flat RESP array reply.
fn bulks(reply: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(reply);
    let lines: Vec<&str> = text.split("\r\n").collect();
    let mut out = Vec::new();
    let mut i = 1;
    while i + 1 < lines.len() {
        if lines[i].starts_with('$') {
            out.push(lines[i + 1].to_string());
            i += 2;
        } else {
            i += 1;
        }
    }
    out
}

/// For every category, the commands jumpcache has that redis-server 7.0 puts in it are the
/// ones jumpcache puts in it: a rule copied from a Redis deployment allows the same commands.
#[tokio::test]
async fn acl_cat_agrees_with_redis_server_on_the_commands_both_have() {
    let Some(redis) = RedisServer::start().await else {
        return;
    };
    let server = spawn_with(harness::Target::Shard, ClientConfig::default()).await;
    let mut ours = server.raw().await;
    let mut theirs = redis.raw().await;
    let cats = bulks(&ours.call(&[b"ACL", b"CAT"]).await);
    assert_eq!(cats, bulks(&theirs.call(&[b"ACL", b"CAT"]).await));
    // Every name jumpcache knows, container subcommands as `container|sub`.
    let mut known = std::collections::BTreeSet::new();
    for spec in protocol::command::COMMANDS {
        known.insert(spec.lower.to_string());
        for (sub, _) in spec.subcommands {
            known.insert(format!("{}|{}", spec.lower, sub.to_ascii_lowercase()));
        }
    }
    for cat in &cats {
        let ours: std::collections::BTreeSet<String> =
            bulks(&ours.call(&[b"ACL", b"CAT", cat.as_bytes()]).await)
                .into_iter()
                .collect();
        let theirs: std::collections::BTreeSet<String> =
            bulks(&theirs.call(&[b"ACL", b"CAT", cat.as_bytes()]).await)
                .into_iter()
                .filter(|n| known.contains(n))
                .collect();
        // JUMPCACHE and TXN are ours alone (@admin @slow @dangerous), CLIENT SETINFO came in
        // Redis 7.2.
        let ours_comparable: std::collections::BTreeSet<String> = ours
            .into_iter()
            .filter(|n| !n.starts_with("jumpcache") && n != "txn" && n != "client|setinfo")
            .collect();
        assert_eq!(ours_comparable, theirs, "category {cat}");
    }
}
