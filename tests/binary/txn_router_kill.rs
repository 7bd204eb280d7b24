//! Cross-group transactions whose router dies or stalls between the two phases, with real
//! processes: three `jumpcache shard`s and two `jumpcache router`s. Router A is started with
//! the test-only `JUMPCACHE_TEST_TXN_PAUSE` (router/src/txn/test_hook.rs), which stops its
//! first cross-group transaction at a point between the phases and logs it; the test then
//! SIGKILLs router A (or lets it go on, late), and checks through router B that the keys are
//! usable again and the transaction applied wholly or not at all, while bank transfers
//! through router B keep a constant total.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use harness::{client_for, within, ShardProcess};
use redis::aio::MultiplexedConnection;
use redis::AsyncCommands;

mod support;

use support::{start, Jumpcache, Spec};

const BIN: &str = env!("CARGO_BIN_EXE_jumpcache");
const GROUPS: usize = 3;
const ACCOUNTS: usize = 6;
const START: i64 = 1000;

struct Setup {
    _shards: Vec<ShardProcess>,
    a: Jumpcache,
    b: Jumpcache,
    /// Two keys, on groups 0 and 2: group 0 is the coordinator of a transaction on both.
    x: String,
    y: String,
    accounts: Vec<String>,
}

fn key_on(group: usize, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| router::path::ring::bucket(k.as_bytes(), GROUPS) == group)
        .expect("a key")
}

/// Shards, router A paused at `pause` (`point:ms`), router B; accounts set through B.
async fn setup(pause: &str) -> Setup {
    let mut shards = Vec::new();
    for _ in 0..GROUPS {
        shards.push(ShardProcess::start(BIN).await);
    }
    let list: Vec<String> = shards.iter().map(|s| s.addr().to_string()).collect();
    let router = |env: Option<String>| {
        let mut spec = Spec::new(
            &["router", "--shards", &list.join(",")],
            "metrics listening",
        );
        spec.env
            .extend(env.map(|v| ("JUMPCACHE_TEST_TXN_PAUSE", v)));
        start(spec)
    };
    let a = router(Some(pause.to_string())).await;
    let b = router(None).await;
    let accounts: Vec<String> = (0..ACCOUNTS)
        .map(|i| key_on(i % GROUPS, &format!("acct{i}-")))
        .collect();
    let mut con = client_for(b.addr).await;
    for acct in &accounts {
        let _: () = con.set(acct, START).await.unwrap();
    }
    Setup {
        _shards: shards,
        a,
        b,
        x: key_on(0, "x"),
        y: key_on(2, "y"),
        accounts,
    }
}

/// Sends `MULTI; INCRBY x 1; INCRBY y 1; DECRBY a 100; INCRBY b 100; EXEC` through
/// `router` on a task, with a and b the accounts on x's and y's groups: returns x and y.
fn marker(
    router: SocketAddr,
    s: &Setup,
) -> tokio::task::JoinHandle<redis::RedisResult<(i64, i64)>> {
    let (x, y) = (s.x.clone(), s.y.clone());
    let (a, b) = (s.accounts[0].clone(), s.accounts[2].clone());
    tokio::spawn(async move {
        let mut con = client_for(router).await;
        let (x, y, _, _): (i64, i64, i64, i64) = redis::pipe()
            .atomic()
            .incr(&x, 1)
            .incr(&y, 1)
            .decr(&a, 100)
            .incr(&b, 100)
            .query_async(&mut con)
            .await?;
        Ok((x, y))
    })
}

/// Waits until router A logged that its hook paused a transaction.
async fn paused(a: &Jumpcache) {
    within(async {
        while !a
            .log()
            .iter()
            .any(|l| l.contains("test hook: transaction paused"))
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

async fn sigkill(router: &mut Jumpcache) {
    router.child.start_kill().expect("SIGKILL router A");
    within(router.child.wait()).await.expect("reap router A");
}

/// Reads x and y in one transaction through `router`: waits for a lock left behind, if
/// any, until its lease ends, then resolves it.
async fn read_both(router: SocketAddr, x: &str, y: &str) -> (Option<i64>, Option<i64>) {
    let mut con = client_for(router).await;
    within(redis::pipe().atomic().get(x).get(y).query_async(&mut con))
        .await
        .expect("EXEC through router B")
}

async fn total(con: &mut MultiplexedConnection, accounts: &[String]) -> i64 {
    let mut pipe = redis::pipe();
    pipe.atomic();
    for a in accounts {
        pipe.get(a);
    }
    let values: Vec<i64> = pipe.query_async(con).await.expect("reader EXEC");
    values.into_iter().sum()
}

/// Bank transfers and total-checking reads through router B until `stop`; returns how many
/// transfers ran.
fn bank(
    router: SocketAddr,
    accounts: Vec<String>,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut con = client_for(router).await;
        let expected = START * ACCOUNTS as i64;
        let mut done = 0usize;
        while !stop.load(Ordering::Relaxed) {
            let (from, to) = (
                &accounts[done % ACCOUNTS],
                &accounts[(done * 5 + 1) % ACCOUNTS],
            );
            let n = (done % 7 + 1) as i64;
            let _: (i64, i64) = redis::pipe()
                .atomic()
                .decr(from, n)
                .incr(to, n)
                .query_async(&mut con)
                .await
                .expect("transfer EXEC");
            assert_eq!(total(&mut con, &accounts).await, expected);
            done += 1;
        }
        done
    })
}

/// Router A killed once the coordinator committed, before the other group heard: the
/// transaction is decided, so whoever next needs the locked key commits the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_router_killed_after_the_coordinator_committed_leaves_the_whole_transaction() {
    let mut s = setup("after-coordinator-commit:600000").await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = bank(s.b.addr, s.accounts.clone(), stop.clone());
    let lost = marker(s.a.addr, &s);
    paused(&s.a).await;
    sigkill(&mut s.a).await;
    assert!(
        within(lost).await.unwrap().is_err(),
        "its client lost router A"
    );
    // The participant (y's group) still holds y: plain reads see the state before it.
    let mut con = client_for(s.b.addr).await;
    let y: Option<i64> = con.get(&s.y).await.unwrap();
    assert_eq!(y, None);
    assert_eq!(read_both(s.b.addr, &s.x, &s.y).await, (Some(1), Some(1)));
    // The keys are free again: a transaction on them runs at once.
    let (x, y): (i64, i64) = within(
        redis::pipe()
            .atomic()
            .incr(&s.x, 1)
            .incr(&s.y, 1)
            .query_async(&mut con),
    )
    .await
    .unwrap();
    assert_eq!((x, y), (2, 2));
    stop.store(true, Ordering::Relaxed);
    assert!(within(load).await.unwrap() > 0);
    assert_eq!(total(&mut con, &s.accounts).await, START * ACCOUNTS as i64);
}

/// Router A killed with every group prepared and no COMMIT sent: nothing of it applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_router_killed_before_any_commit_leaves_nothing_of_the_transaction() {
    let mut s = setup("before-commit:600000").await;
    let stop = Arc::new(AtomicBool::new(false));
    let load = bank(s.b.addr, s.accounts.clone(), stop.clone());
    let lost = marker(s.a.addr, &s);
    paused(&s.a).await;
    sigkill(&mut s.a).await;
    assert!(
        within(lost).await.unwrap().is_err(),
        "its client lost router A"
    );
    assert_eq!(read_both(s.b.addr, &s.x, &s.y).await, (None, None));
    let mut con = client_for(s.b.addr).await;
    let (x, y): (i64, i64) = within(
        redis::pipe()
            .atomic()
            .incr(&s.x, 1)
            .incr(&s.y, 1)
            .query_async(&mut con),
    )
    .await
    .unwrap();
    assert_eq!((x, y), (1, 1));
    stop.store(true, Ordering::Relaxed);
    assert!(within(load).await.unwrap() > 0);
    assert_eq!(total(&mut con, &s.accounts).await, START * ACCOUNTS as i64);
}

/// Router A stalls past the lease before its COMMIT (a slow router, alive): router B's
/// reader resolves the transaction as aborted; A's late COMMIT is refused at the
/// coordinator, so A aborts the rest and runs the transaction again, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_router_and_a_resolver_never_split_a_transaction() {
    let s = setup("before-commit:7000").await;
    let late = marker(s.a.addr, &s);
    paused(&s.a).await;
    assert_eq!(read_both(s.b.addr, &s.x, &s.y).await, (None, None));
    assert_eq!(within(late).await.unwrap().unwrap(), (1, 1));
    assert_eq!(read_both(s.b.addr, &s.x, &s.y).await, (Some(1), Some(1)));
    assert!(s
        .a
        .log()
        .iter()
        .any(|l| l.contains("test hook: transaction resumed")));
}

/// Router A stalls past the lease after the coordinator's COMMIT: router B's reader
/// resolves it as committed and runs y's part; A's own late COMMIT of y runs nothing
/// twice and still gets y's reply for its client.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slow_router_after_its_decision_and_a_resolver_commit_once() {
    let s = setup("after-coordinator-commit:7000").await;
    let late = marker(s.a.addr, &s);
    paused(&s.a).await;
    assert_eq!(read_both(s.b.addr, &s.x, &s.y).await, (Some(1), Some(1)));
    assert_eq!(within(late).await.unwrap().unwrap(), (1, 1));
    assert_eq!(read_both(s.b.addr, &s.x, &s.y).await, (Some(1), Some(1)));
}
