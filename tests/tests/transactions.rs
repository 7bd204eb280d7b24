//! Transactions and scripts through real sockets: cross-group isolation under concurrent
//! clients of two routers, a router lost between the two phases, WATCH under contention,
//! EVALSHA after a shard restart, SCRIPT KILL. Replies byte for byte are in differential.rs.

use std::time::Duration;

use harness::{client_for, spawn_cluster, spawn_router, spawn_shard_with, within, RawClient};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;

const ACCOUNTS: usize = 6;
const START: i64 = 1000;

/// Two routers over the same three shards; `accounts` keys spread over the three groups.
async fn two_routers() -> (harness::Cluster, harness::RouterHandle, Vec<String>) {
    let cluster = spawn_cluster(3).await;
    let config = router::Config {
        shards: cluster
            .shard_addrs()
            .iter()
            .map(ToString::to_string)
            .collect(),
        ..router::Config::default()
    };
    let second = spawn_router(config).await;
    let accounts = cluster.keys_on_distinct_shards(ACCOUNTS);
    (cluster, second, accounts)
}

async fn total(con: &mut MultiplexedConnection, accounts: &[String]) -> Option<i64> {
    let mut pipe = redis::pipe();
    pipe.atomic();
    for a in accounts {
        pipe.get(a);
    }
    let values: Vec<Option<i64>> = pipe.query_async(con).await.expect("reader EXEC");
    values.into_iter().sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bank_transfers_across_groups_keep_the_total_for_every_reader() {
    let (cluster, second, accounts) = two_routers().await;
    let routers = [cluster.addr(), second.addr()];
    let mut setup = cluster.client().await;
    for a in &accounts {
        let _: () = setup.set(a, START).await.unwrap();
    }
    let expected = START * ACCOUNTS as i64;
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..8usize {
        let accounts = accounts.clone();
        let addr = routers[w % 2];
        tasks.spawn(async move {
            let mut con = client_for(addr).await;
            for i in 0..60usize {
                let from = &accounts[(w + i) % ACCOUNTS];
                let to = &accounts[(w + 2 * i + 1) % ACCOUNTS];
                let n = (i % 7 + 1) as i64;
                let (_, _): (i64, i64) = redis::pipe()
                    .atomic()
                    .decr(from, n)
                    .incr(to, n)
                    .query_async(&mut con)
                    .await
                    .expect("transfer EXEC");
            }
            0
        });
    }
    for r in 0..4usize {
        let accounts = accounts.clone();
        let addr = routers[r % 2];
        tasks.spawn(async move {
            let mut con = client_for(addr).await;
            let mut reads = 0;
            for _ in 0..60 {
                assert_eq!(total(&mut con, &accounts).await, Some(expected));
                reads += 1;
            }
            reads
        });
    }
    let mut reads = 0;
    while let Some(done) = within(tasks.join_next()).await {
        reads += done.expect("client task");
    }
    assert_eq!(reads, 240);
    let mut con = cluster.client().await;
    assert_eq!(total(&mut con, &accounts).await, Some(expected));
    second.stop().await;
    cluster.stop().await;
}

/// A router that sent phase one and died (simulated here; tests/binary/txn_router_kill.rs
/// kills real router processes): its locks hold other transactions until their lease ends,
/// then the first to need a key resolves it at the coordinator (aborted: it never committed
/// there), and its phase two, should it ever arrive late, is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn locks_of_a_router_lost_between_phases_are_resolved_and_nothing_is_half_applied() {
    let (cluster, second, accounts) = two_routers().await;
    let (a, b) = (&accounts[0], &accounts[1]);
    let (ga, gb) = (
        cluster.bucket_of(a.as_bytes()),
        cluster.bucket_of(b.as_bytes()),
    );
    assert!(ga < gb, "a's group coordinates");
    let mut con = cluster.client().await;
    let _: () = con.set(a, 100).await.unwrap();
    let _: () = con.set(b, 100).await.unwrap();
    // The dead router's phase one on both groups (a 300 ms lease), and no phase two.
    let mut shard_a = RawClient::connect(cluster.shard_addrs()[ga]).await;
    let mut shard_b = RawClient::connect(cluster.shard_addrs()[gb]).await;
    let coordinator = ga.to_string();
    let prepare = |cmd: &str, key: &str| {
        let args: Vec<Vec<u8>> = [
            "TXN",
            "PREPARE",
            "4242",
            "0",
            "300",
            &coordinator,
            "0",
            "0",
            "1",
            "3",
            cmd,
            key,
            "50",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        args
    };
    for (shard, cmd, key) in [(&mut shard_a, "DECRBY", a), (&mut shard_b, "INCRBY", b)] {
        let args = prepare(cmd, key);
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        assert_eq!(shard.call(&args).await, b"+OK\r\n");
    }
    // Another router's transaction on the same keys waits for the lease, then resolves the
    // lost one (aborted) and runs whole.
    let started = std::time::Instant::now();
    let mut other = client_for(second.addr()).await;
    let (x, y): (i64, i64) = within(
        redis::pipe()
            .atomic()
            .decr(a, 10)
            .incr(b, 10)
            .query_async(&mut other),
    )
    .await
    .unwrap();
    assert_eq!((x, y), (90, 110));
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "waited for the lease"
    );
    // The lost router's phase two arrives late: refused on both, nothing applied.
    for shard in [&mut shard_a, &mut shard_b] {
        assert_eq!(
            shard.call(&[b"TXN", b"COMMIT", b"4242"]).await,
            b"-TXNABORTED the transaction was aborted before its commit\r\n"
        );
    }
    let got: Vec<i64> = con.mget(&[a, b]).await.unwrap();
    assert_eq!(got, [90, 110]);
    second.stop().await;
    cluster.stop().await;
}

/// A plain write to a key a cross-group transaction holds between its phases waits for the
/// transaction (the shard answers the router `-TXNLOCKED`, the router asks again): it cannot
/// land after the transaction's WATCH check and before its commands, where the transaction
/// would overwrite it though its WATCH said nothing changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plain_write_to_a_key_held_between_the_phases_waits_for_the_commit() {
    let (cluster, second, accounts) = two_routers().await;
    let w = &accounts[1];
    let g = cluster.bucket_of(w.as_bytes());
    // Phase one of a transaction that WATCHed w (checked clean) and sets it to "txn".
    let mut shard = RawClient::connect(cluster.shard_addrs()[g]).await;
    let coordinator = g.to_string();
    let prepare: Vec<&[u8]> = vec![
        b"TXN",
        b"PREPARE",
        b"99",
        b"0",
        b"60000",
        coordinator.as_bytes(),
        b"0",
        b"0",
        b"1",
        b"3",
        b"SET",
        w.as_bytes(),
        b"txn",
    ];
    assert_eq!(shard.call(&prepare).await, b"+OK\r\n");
    // A write through a router waits; a read does not (it orders before the transaction).
    let mut con = client_for(second.addr()).await;
    let writer = {
        let (w, addr) = (w.clone(), cluster.addr());
        tokio::spawn(async move {
            let mut con = client_for(addr).await;
            let _: () = con.set(&w, "plain").await.unwrap();
            let got: String = con.get(&w).await.unwrap();
            got
        })
    };
    let read: Option<String> = con.get(w).await.unwrap();
    assert_eq!(read, None);
    // A shard's own client is told, too (only routers can resolve a transaction).
    let mut direct = RawClient::connect(cluster.shard_addrs()[g]).await;
    assert_eq!(
        direct.call(&[b"SET", w.as_bytes(), b"x"]).await,
        b"-TXNLOCKED 99 "
            .iter()
            .copied()
            .chain(format!("{g} 0 a key is locked by another transaction\r\n").bytes())
            .collect::<Vec<u8>>()
    );
    // The router's SET reached the shard and was refused (the second failed SET there).
    within(async {
        loop {
            let info = direct.call(&[b"INFO", b"commandstats"]).await;
            if String::from_utf8_lossy(&info).contains("failed_calls=2") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(!writer.is_finished(), "the write waits for the transaction");
    assert_eq!(
        shard.call(&[b"TXN", b"COMMIT", b"99"]).await,
        b"*1\r\n+OK\r\n"
    );
    // After the commit the write runs: last, as it came last.
    assert_eq!(within(writer).await.unwrap(), "plain");
    let now: String = con.get(w).await.unwrap();
    assert_eq!(now, "plain");
    second.stop().await;
    cluster.stop().await;
}

/// WATCH GET MULTI SET EXEC, retried on nil, by clients of two routers on one counter.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn watch_retries_make_concurrent_increments_exact() {
    let (cluster, second, accounts) = two_routers().await;
    let routers = [cluster.addr(), second.addr()];
    let key = accounts[0].clone();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..6usize {
        let key = key.clone();
        let addr = routers[c % 2];
        tasks.spawn(async move {
            let mut con = client_for(addr).await;
            let mut retries = 0;
            for _ in 0..30 {
                loop {
                    let _: () = redis::cmd("WATCH")
                        .arg(&key)
                        .query_async(&mut con)
                        .await
                        .unwrap();
                    let now: Option<i64> = con.get(&key).await.unwrap();
                    let done: Option<((),)> = redis::pipe()
                        .atomic()
                        .set(&key, now.unwrap_or(0) + 1)
                        .query_async(&mut con)
                        .await
                        .unwrap();
                    if done.is_some() {
                        break;
                    }
                    retries += 1;
                }
            }
            retries
        });
    }
    let mut retries = 0;
    while let Some(done) = within(tasks.join_next()).await {
        retries += done.expect("client task");
    }
    let mut con = cluster.client().await;
    let got: i64 = con.get(&key).await.unwrap();
    assert_eq!(got, 180, "after {retries} retries");
    second.stop().await;
    cluster.stop().await;
}

#[tokio::test]
async fn evalsha_survives_a_shard_restart_and_scripts_stay_on_their_group() {
    let mut cluster = spawn_cluster(3).await;
    let keys = cluster.keys_on_distinct_shards(3);
    let mut con = cluster.client().await;
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg("return redis.call('incr', KEYS[1])")
        .query_async(&mut con)
        .await
        .unwrap();
    let one: i64 = redis::cmd("EVALSHA")
        .arg(&sha)
        .arg(1)
        .arg(&keys[1])
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(one, 1);
    cluster.restart_shard(1).await;
    // The router reconnects on its own backoff (at most a second): wait for the key's group
    // to answer, then EVALSHA finds the shard without the script and loads it unseen.
    let mut raw = cluster.raw().await;
    within(async {
        while raw.call(&[b"EXISTS", keys[1].as_bytes()]).await != b":0\r\n" {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let again: i64 = within(
        redis::cmd("EVALSHA")
            .arg(&sha)
            .arg(1)
            .arg(&keys[1])
            .query_async(&mut con),
    )
    .await
    .unwrap();
    assert_eq!(
        again, 1,
        "the restarted shard is empty, and has the script again"
    );
    let cross = raw
        .call(&[
            b"EVAL",
            b"return 1",
            b"2",
            keys[0].as_bytes(),
            keys[1].as_bytes(),
        ])
        .await;
    assert_eq!(
        cross,
        b"-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    );
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_script_past_the_time_limit_gets_busy_replies_and_script_kill_stops_it() {
    let config = server::Config {
        lua_time_limit_ms: 100,
        ..server::Config::default()
    };
    let shard = spawn_shard_with(config).await;
    let mut runner = shard.raw().await;
    runner
        .send(&harness::request(&[b"EVAL", b"while true do end", b"0"]))
        .await;
    let mut other = shard.raw().await;
    // The script holds the shard: a plain command waits, then gets BUSY past the limit.
    let busy = within(async {
        loop {
            let reply = other.call(&[b"GET", b"k"]).await;
            if reply.starts_with(b"-BUSY") {
                break reply;
            }
        }
    })
    .await;
    assert_eq!(
        busy,
        b"-BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.\r\n"
    );
    // Scripts, transactions and the script cache wait for it too, then get BUSY.
    assert_eq!(other.call(&[b"EVAL", b"return 1", b"0"]).await, busy);
    assert_eq!(other.call(&[b"SCRIPT", b"EXISTS", b"abc"]).await, busy);
    assert_eq!(other.call(&[b"MULTI"]).await, b"+OK\r\n");
    assert_eq!(other.call(&[b"GET", b"k"]).await, b"+QUEUED\r\n");
    assert_eq!(other.call(&[b"EXEC"]).await, busy);
    assert_eq!(other.call(&[b"SCRIPT", b"KILL"]).await, b"+OK\r\n");
    let killed = within(runner.reply()).await.expect("the script's reply");
    assert!(
        killed.starts_with(b"-ERR Script killed by user with SCRIPT KILL..."),
        "{}",
        String::from_utf8_lossy(&killed)
    );
    assert_eq!(other.call(&[b"SET", b"k", b"v"]).await, b"+OK\r\n");
    assert_eq!(
        other.call(&[b"SCRIPT", b"KILL"]).await,
        b"-NOTBUSY No scripts in execution right now.\r\n"
    );
    shard.stop().await;
}

/// Groups of two members: every member applies the same transactions and scripts, and a
/// WATCH is checked alike on each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_member_of_a_replicated_group_applies_the_same_transaction() {
    let mut shards = Vec::new();
    for _ in 0..2 {
        shards.push([harness::spawn_shard().await, harness::spawn_shard().await]);
    }
    let list = shards
        .iter()
        .map(|g| format!("{}|{}", g[0].addr(), g[1].addr()))
        .collect();
    let router = spawn_router(router::Config {
        shards: list,
        ..router::Config::default()
    })
    .await;
    // Keys on each of the two groups.
    let key = |group: usize| {
        (0..)
            .map(|i| format!("r{i}"))
            .find(|k| router::path::ring::bucket(k.as_bytes(), 2) == group)
            .expect("a key")
    };
    let (a, b) = (key(0), key(1));
    let mut con = client_for(router.addr()).await;
    let (x, y, z): (i64, i64, i64) = redis::pipe()
        .atomic()
        .incr(&a, 5)
        .incr(&b, 7)
        .incr(&a, 1)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!((x, y, z), (5, 7, 6));
    let scripted: i64 = redis::cmd("EVAL")
        .arg("return redis.call('incrby', KEYS[1], ARGV[1])")
        .arg(1)
        .arg(&b)
        .arg(3)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(scripted, 10);
    // WATCH, then a write from another client: nil, on both members alike.
    let _: () = redis::cmd("WATCH")
        .arg(&a)
        .query_async(&mut con)
        .await
        .unwrap();
    let mut other = client_for(router.addr()).await;
    let _: () = other.set(&a, 100).await.unwrap();
    let aborted: Option<(i64,)> = redis::pipe()
        .atomic()
        .incr(&a, 1)
        .query_async(&mut con)
        .await
        .unwrap();
    assert_eq!(aborted, None);
    for (group, (k, want)) in [(&a, 100), (&b, 10)].into_iter().enumerate() {
        for member in &shards[group] {
            let mut direct = member.client().await;
            let got: i64 = direct.get(k).await.unwrap();
            assert_eq!(got, want, "group {group} member {}", member.addr());
        }
    }
    router.stop().await;
}

/// A script queued in a router's MULTI stays on its declared keys' group as outside one: a
/// `redis.call` on a key of another group gets the same error in its slot of the EXEC array,
/// in a one-group transaction and in a two-phase one.
#[tokio::test]
async fn a_script_inside_a_router_multi_cannot_touch_another_groups_key() {
    let cluster = spawn_cluster(3).await;
    let keys = cluster.keys_on_distinct_shards(2);
    let (own, other) = (&keys[0], &keys[1]);
    let script = "return redis.call('get', ARGV[1])";
    let mut raw = cluster.raw().await;
    let eval: [&[u8]; 5] = [
        b"EVAL",
        script.as_bytes(),
        b"1",
        own.as_bytes(),
        other.as_bytes(),
    ];
    let alone = raw.call(&eval).await;
    assert!(
        alone.starts_with(b"-ERR Script attempted to access a non local key in a cluster node"),
        "{}",
        String::from_utf8_lossy(&alone)
    );
    let line = |reply: &[u8]| -> Vec<u8> { reply.strip_suffix(b"\r\n").unwrap_or(reply).to_vec() };
    // One group: the script's group only.
    assert_eq!(raw.call(&[b"MULTI"]).await, b"+OK\r\n");
    assert_eq!(raw.call(&eval).await, b"+QUEUED\r\n");
    let exec = raw.call(&[b"EXEC"]).await;
    assert_eq!(exec, [b"*1\r\n".as_slice(), &alone].concat());
    // Two groups: the script's part on its group, a SET on the other's.
    assert_eq!(raw.call(&[b"MULTI"]).await, b"+OK\r\n");
    assert_eq!(raw.call(&eval).await, b"+QUEUED\r\n");
    assert_eq!(
        raw.call(&[b"SET", other.as_bytes(), b"v"]).await,
        b"+QUEUED\r\n"
    );
    let exec = raw.call(&[b"EXEC"]).await;
    assert_eq!(
        exec,
        [b"*2\r\n".as_slice(), &line(&alone), b"\r\n+OK\r\n"].concat()
    );
    // A script on its own group's keys runs in both.
    let fine: [&[u8]; 5] = [
        b"EVAL",
        script.as_bytes(),
        b"1",
        own.as_bytes(),
        own.as_bytes(),
    ];
    assert_eq!(raw.call(&[b"MULTI"]).await, b"+OK\r\n");
    assert_eq!(raw.call(&fine).await, b"+QUEUED\r\n");
    assert_eq!(raw.call(&[b"GET", other.as_bytes()]).await, b"+QUEUED\r\n");
    assert_eq!(raw.call(&[b"EXEC"]).await, b"*2\r\n$-1\r\n$1\r\nv\r\n");
    cluster.stop().await;
}

/// A connection to redis-server or to jumpcache.
enum Conn {
    Redis(harness::RawUnixClient),
    Ours(RawClient),
}

impl Conn {
    async fn call(&mut self, line: &str) -> Vec<u8> {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        match self {
            Conn::Redis(c) => c.call(&args).await,
            Conn::Ours(c) => c.call(&args).await,
        }
    }

    /// Runs `lines` (space-separated words), then returns the Commandstats lines of
    /// `names` without their times (calls, rejected and failed calls only).
    async fn counted(&mut self, lines: &[&str], names: &[&str]) -> Vec<String> {
        for line in lines {
            self.call(line).await;
        }
        let info = String::from_utf8_lossy(&self.call("INFO commandstats").await).into_owned();
        names
            .iter()
            .map(|name| {
                let line = info
                    .lines()
                    .find(|l| l.starts_with(&format!("cmdstat_{name}:")))
                    .unwrap_or_default();
                line.split(',')
                    .filter(|f| !f.starts_with("usec"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect()
    }
}

/// Commands run by EXEC (and by a script) count in Commandstats when they run, with their
/// own failures; commands queued and discarded do not count: as redis-server counts them,
/// on a shard and through a router.
#[tokio::test]
async fn commands_inside_exec_count_in_commandstats_as_redis_counts_them() {
    let Some(redis) = harness::RedisServer::start().await else {
        return;
    };
    let transaction = [
        "MULTI",
        "SET a 1",
        "INCR a",
        "LPUSH a x",
        "GET a",
        "EXEC",
        "MULTI",
        "SET q 1",
        "DISCARD",
    ];
    // The body has no spaces: one split makes the words.
    let script = "EVAL return{redis.call('set','s','1'),redis.pcall('lpush','s','y')} 0";
    let names = [
        "set", "incr", "lpush", "get", "exec", "multi", "discard", "eval",
    ];
    let all: Vec<&str> = transaction.iter().copied().chain([script]).collect();
    let mut reference = Conn::Redis(redis.raw().await);
    let want = reference.counted(&all, &names).await;
    assert!(want[0].starts_with("cmdstat_set:calls=2,"), "{want:?}");
    let shard = harness::spawn_shard().await;
    let mut ours = Conn::Ours(shard.raw().await);
    assert_eq!(ours.counted(&all, &names).await, want, "a shard");
    // Through a router: the transaction's commands, counted by the router (a script's
    // commands run on a shard, and count there).
    reference.call("CONFIG RESETSTAT").await;
    let want = reference.counted(&transaction, &names[..7]).await;
    let cluster = spawn_cluster(3).await;
    let mut ours = Conn::Ours(cluster.raw().await);
    assert_eq!(
        ours.counted(&transaction, &names[..7]).await,
        want,
        "a router"
    );
    cluster.stop().await;
    shard.stop().await;
}

/// Commands for every group run inside a router's MULTI, in their place: DBSIZE, KEYS and
/// FLUSHDB merged over the groups as outside a transaction, and SCAN steps whose cursors,
/// followed in one transaction after another, visit every key once.
#[tokio::test]
async fn every_group_commands_and_scan_run_inside_a_router_multi() {
    let cluster = spawn_cluster(3).await;
    let keys = cluster.keys_on_distinct_shards(9);
    let mut con = cluster.client().await;
    for k in &keys {
        let _: () = con.set(k, 1).await.unwrap();
    }
    let (size, mut listed, flushed, after): (i64, Vec<String>, (), i64) = redis::pipe()
        .atomic()
        .cmd("DBSIZE")
        .cmd("KEYS")
        .arg("key:*")
        .cmd("FLUSHDB")
        .cmd("DBSIZE")
        .query_async(&mut con)
        .await
        .unwrap();
    listed.sort();
    let mut want = keys.clone();
    want.sort();
    assert_eq!((size, listed, flushed, after), (9, want.clone(), (), 0));
    for k in &keys {
        let _: () = con.set(k, 1).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut cursor = "0".to_string();
    let mut steps = 0;
    loop {
        let ((next, page),): ((String, Vec<String>),) = redis::pipe()
            .atomic()
            .cmd("SCAN")
            .arg(&cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut con)
            .await
            .unwrap();
        seen.extend(page);
        steps += 1;
        if next == "0" || steps > 10 {
            break;
        }
        cursor = next;
    }
    seen.sort();
    assert_eq!(seen, want);
    assert_eq!(steps, 3, "one step per group");
    cluster.stop().await;
}
