//! Live resizing (issue 14), checked on the whole history: real `jumpcache shard` and
//! `jumpcache router` processes, clients through two routers doing SET, GET, DEL, INCR,
//! EXPIRE and short PEXPIREs while the cluster grows 2 → 3 → 4 groups and shrinks 4 → 3,
//! router B learning each epoch late and killed and restarted mid-migration.
//!
//! Each key has one writer task, which sends each of its operations through router A or B at
//! random, so a key's mutations form one sequence and the model is exact; reader tasks read
//! any key through either router. Every operation is recorded with its reply and times, and
//! `history::check` judges the whole history at the end (see there for the rules). Then the
//! shards are asked directly (SCAN on their own ports): every key must be on the group
//! `router::path::ring::bucket` predicts, after every step and at the end; and every key's
//! PTTL must match the model (a long TTL survives the moves).
//!
//! The same run with a fixed topology (router B still killed and restarted) proves the
//! harness itself: it must find nothing against today's binary. A third run writes behind
//! the routers' backs, on the shards directly, and must be caught.
//!
//! `cargo test --test elastic -- --nocapture` prints the counts.

mod history;
mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::{within, ShardProcess};
use history::{Client, Event, Op, Outcome, Val};
use redis::aio::MultiplexedConnection;
use support::{Jumpcache, Spec};

const BIN: &str = env!("CARGO_BIN_EXE_jumpcache");

/// A reply later than this is an unknown outcome.
const OP_TIMEOUT: Duration = Duration::from_secs(2);
/// A short TTL may end this much before its deadline (clock granularity)...
const TTL_EARLY: Duration = Duration::from_millis(20);
/// ...and must be over this much after it (the checker's "small slack").
const TTL_SLACK: Duration = Duration::from_millis(300);
/// The long TTL: such a key must never vanish during the test.
const LONG_TTL_SECS: u64 = 3600;
/// How long a router may take to reach a state the test waits for (polling INFO).
const SETTLE: Duration = Duration::from_secs(30);

/// The two end-to-end runs share 2 cores with each other's processes: one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// xorshift64*: enough randomness for choosing keys, ops and routers, without a dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A versioned string: SET, GET, DEL, EXPIRE (long), PEXPIRE (short).
    Plain,
    /// INCR, GET, DEL, EXPIRE (long).
    Counter,
    /// Written once before the load, then only read: bulk for the migrations to move.
    Filler,
}

/// The keys; a key is its index in `names`.
struct Keyspace {
    names: Vec<String>,
    kinds: Vec<Kind>,
}

impl Keyspace {
    fn new(plain: usize, counters: usize, fillers: usize) -> Keyspace {
        let mut ks = Keyspace {
            names: Vec::new(),
            kinds: Vec::new(),
        };
        for i in 0..plain {
            // Every tenth key has a hash tag shared with others: moved by its tag.
            ks.names.push(if i % 10 == 0 {
                format!("{{tag{}}}:k{i}", i / 10 % 16)
            } else {
                format!("k{i}")
            });
            ks.kinds.push(Kind::Plain);
        }
        for i in 0..counters {
            ks.names.push(format!("c{i}"));
            ks.kinds.push(Kind::Counter);
        }
        for i in 0..fillers {
            ks.names.push(format!("f{i}"));
            ks.kinds.push(Kind::Filler);
        }
        ks
    }

    fn len(&self) -> usize {
        self.names.len()
    }

    fn name(&self, key: u32) -> &str {
        &self.names[key as usize]
    }

    /// The value of version `ver`: the key's own name, so a value read under another key
    /// is never taken for one of its own.
    fn value(&self, key: u32, ver: u64) -> String {
        format!("{}:v{ver}", self.name(key))
    }

    /// Reads a GET reply; a reply that is no value this key could hold becomes one that
    /// was never written.
    fn parse(&self, key: u32, reply: Option<String>) -> Val {
        let Some(s) = reply else { return Val::Absent };
        if self.kinds[key as usize] == Kind::Counter {
            return s.parse().map_or(Val::Int(i64::MIN), Val::Int);
        }
        s.strip_prefix(self.name(key))
            .and_then(|r| r.strip_prefix(":v"))
            .and_then(|v| v.parse().ok())
            .map_or(Val::Ver(u64::MAX), Val::Ver)
    }
}

/// Microseconds since the run started: the history's clock.
#[derive(Clone, Copy)]
struct Clock(Instant);

impl Clock {
    fn us(self) -> u64 {
        self.0.elapsed().as_micros() as u64
    }
}

async fn connect(addr: SocketAddr) -> Option<MultiplexedConnection> {
    let client = redis::Client::open(format!("redis://{addr}/")).ok()?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(OP_TIMEOUT))
        .set_response_timeout(Some(OP_TIMEOUT));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .ok()
}

/// One reply, timed.
struct Call<T> {
    send: u64,
    ack: u64,
    reply: Result<T, String>,
}

/// A task's connections to routers A (0) and B (1): one that failed is dropped and made
/// again on next use, so a task follows router B through its restart.
struct Conns {
    addrs: [SocketAddr; 2],
    cons: [Option<MultiplexedConnection>; 2],
    clock: Clock,
    /// A few of the errors seen, for the report.
    samples: Vec<String>,
}

impl Conns {
    fn new(addrs: [SocketAddr; 2], clock: Clock) -> Conns {
        Conns {
            addrs,
            cons: [None, None],
            clock,
            samples: Vec::new(),
        }
    }

    /// Sends `cmd` through router `r`, or the other one while `r` cannot be reached;
    /// `None` when neither could be (nothing was sent).
    async fn call<T: redis::FromRedisValue>(
        &mut self,
        r: usize,
        cmd: &redis::Cmd,
    ) -> Option<Call<T>> {
        let r = self.reachable(r).await?;
        let con = self.cons[r].as_mut().expect("connected");
        let send = self.clock.us();
        let reply = cmd.query_async::<T>(con).await;
        let ack = self.clock.us();
        Some(Call {
            send,
            ack,
            reply: reply.map_err(|e| self.failed(r, e)),
        })
    }

    /// As [`call`](Self::call) for a pipeline.
    async fn pipe<T: redis::FromRedisValue>(
        &mut self,
        r: usize,
        pipe: &redis::Pipeline,
    ) -> Option<Call<T>> {
        let r = self.reachable(r).await?;
        let con = self.cons[r].as_mut().expect("connected");
        let send = self.clock.us();
        let reply = pipe.query_async::<T>(con).await;
        let ack = self.clock.us();
        Some(Call {
            send,
            ack,
            reply: reply.map_err(|e| self.failed(r, e)),
        })
    }

    async fn reachable(&mut self, r: usize) -> Option<usize> {
        for i in [r, 1 - r] {
            if self.cons[i].is_none() {
                self.cons[i] = connect(self.addrs[i]).await;
            }
            if self.cons[i].is_some() {
                return Some(i);
            }
        }
        None
    }

    fn failed(&mut self, r: usize, e: redis::RedisError) -> String {
        let text = format!("router {}: {e}", ["A", "B"][r]);
        if self.samples.len() < 5 && !self.samples.contains(&text) {
            self.samples.push(text.clone());
        }
        // A dead or timed-out connection is made again; an error reply keeps it.
        if e.is_io_error()
            || e.is_timeout()
            || e.is_connection_dropped()
            || e.is_unrecoverable_error()
        {
            self.cons[r] = None;
        }
        text
    }
}

/// What the load shares.
struct Ctx {
    ks: Keyspace,
    clock: Clock,
    addrs: [SocketAddr; 2],
    stop: AtomicBool,
}

/// What one load task did.
#[derive(Default)]
struct Done {
    events: Vec<Event>,
    samples: Vec<String>,
    /// Whether each key it wrote has the long TTL now (`None`: unknown after an error).
    ttls: HashMap<u32, Option<bool>>,
}

fn event(key: u32, client: Client, op: Op, send: u64, ack: u64, outcome: Outcome) -> Event {
    Event {
        key,
        client,
        op,
        send,
        ack,
        outcome,
    }
}

fn outcome<T>(call: &Call<T>, val: impl FnOnce(&T) -> Val) -> Outcome {
    match &call.reply {
        Ok(t) => Outcome::Ok(val(t)),
        Err(_) => Outcome::Unknown,
    }
}

/// The writer of `keys` (plain keys and counters), until told to stop.
async fn writer(ctx: Arc<Ctx>, w: u32, keys: Vec<u32>, seed: u64) -> Done {
    let mut rng = Rng::new(seed);
    let mut conns = Conns::new(ctx.addrs, ctx.clock);
    let mut events = Vec::new();
    // Preloaded keys hold version 1.
    let mut next_ver: HashMap<u32, u64> = HashMap::new();
    // A key whose short TTL is running is only read until it is surely over.
    let mut busy_until: HashMap<u32, u64> = HashMap::new();
    let mut ttls = HashMap::new();
    let me = Client::Writer(w);
    while !ctx.stop.load(Ordering::Relaxed) {
        let key = keys[rng.below(keys.len())];
        let name = ctx.ks.name(key);
        let busy = busy_until.get(&key).is_some_and(|&t| t > ctx.clock.us());
        let roll = if busy { 0 } else { rng.below(100) };
        let r = rng.below(2);
        let counter = ctx.ks.kinds[key as usize] == Kind::Counter;
        let op = match (counter, roll) {
            (_, 0..=34) => Op::Get,
            (false, 35..=69) => {
                let ver = next_ver.entry(key).or_insert(1);
                *ver += 1;
                Op::Set { ver: *ver }
            }
            (true, 35..=84) => Op::Incr,
            (false, 70..=79) | (true, 85..=89) => Op::Del,
            (_, 80..=89) | (true, 90..) => Op::Expire,
            (false, _) => Op::Pexpire,
        };
        let ms = 1000 + rng.below(2000) as u64;
        let ex = rng.below(4) == 0;
        let cmd = match op {
            Op::Get => redis::cmd("GET").arg(name).clone(),
            Op::Set { ver } => {
                let mut cmd = redis::cmd("SET");
                cmd.arg(name).arg(ctx.ks.value(key, ver));
                if ex {
                    cmd.arg("EX").arg(LONG_TTL_SECS);
                }
                cmd
            }
            Op::Incr => redis::cmd("INCR").arg(name).clone(),
            Op::Del => redis::cmd("DEL").arg(name).clone(),
            Op::Expire => redis::cmd("EXPIRE").arg(name).arg(LONG_TTL_SECS).clone(),
            Op::Pexpire | Op::Expiry => redis::cmd("PEXPIRE").arg(name).arg(ms).clone(),
        };
        let call = match op {
            Op::Get => conns.call::<Option<String>>(r, &cmd).await.map(|c| {
                let out = outcome(&c, |v| ctx.ks.parse(key, v.clone()));
                (c.send, c.ack, out)
            }),
            Op::Set { .. } => conns
                .call::<()>(r, &cmd)
                .await
                .map(|c| (c.send, c.ack, outcome(&c, |()| Val::Absent))),
            _ => conns
                .call::<i64>(r, &cmd)
                .await
                .map(|c| (c.send, c.ack, outcome(&c, |n| Val::Int(*n)))),
        };
        // Neither router could be reached: nothing was sent.
        let Some((send, ack, out)) = call else {
            continue;
        };
        events.push(event(key, me, op, send, ack, out));
        // What TTL the key has now: SET sets or clears it, DEL clears it, EXPIRE sets it on
        // a key that exists, INCR keeps it.
        let known = matches!(out, Outcome::Ok(_));
        match op {
            Op::Set { .. } => {
                ttls.insert(key, known.then_some(ex));
            }
            Op::Del => {
                ttls.insert(key, known.then_some(false));
            }
            // Its short TTL may still run at the end: PTTL says nothing then.
            Op::Pexpire if out != Outcome::Ok(Val::Int(0)) => {
                ttls.insert(key, None);
            }
            Op::Expire if out == Outcome::Ok(Val::Int(1)) => {
                ttls.insert(key, Some(true));
            }
            Op::Expire if !known => {
                ttls.insert(key, None);
            }
            _ => {}
        }
        if op == Op::Pexpire && out != Outcome::Ok(Val::Int(0)) {
            // The key vanishes between its earliest and latest possible deadline.
            let ttl = ms * 1000;
            let expiry = event(
                key,
                me,
                Op::Expiry,
                send + ttl - TTL_EARLY.as_micros() as u64,
                ack + ttl + TTL_SLACK.as_micros() as u64,
                match out {
                    Outcome::Ok(_) => Outcome::Ok(Val::Absent),
                    Outcome::Unknown => Outcome::Unknown,
                },
            );
            busy_until.insert(key, expiry.ack);
            events.push(expiry);
        }
    }
    Done {
        events,
        samples: conns.samples,
        ttls,
    }
}

/// A reader of any key through either router, until told to stop.
async fn reader(ctx: Arc<Ctx>, n: u32, seed: u64) -> Done {
    let mut rng = Rng::new(seed);
    let mut conns = Conns::new(ctx.addrs, ctx.clock);
    let mut events = Vec::new();
    let written = ctx.ks.kinds.iter().filter(|k| **k != Kind::Filler).count();
    while !ctx.stop.load(Ordering::Relaxed) {
        // Half the reads on keys being written, half on any key.
        let key = if rng.below(2) == 0 {
            rng.below(written)
        } else {
            rng.below(ctx.ks.len())
        } as u32;
        let cmd = redis::cmd("GET").arg(ctx.ks.name(key)).clone();
        let Some(c) = conns.call::<Option<String>>(rng.below(2), &cmd).await else {
            continue;
        };
        let out = outcome(&c, |v| ctx.ks.parse(key, v.clone()));
        events.push(event(key, Client::Reader(n), Op::Get, c.send, c.ack, out));
    }
    Done {
        events,
        samples: conns.samples,
        ttls: HashMap::new(),
    }
}

/// The writers and readers while they run.
struct Load {
    ctx: Arc<Ctx>,
    tasks: Vec<tokio::task::JoinHandle<Done>>,
}

impl Load {
    /// Starts `writers` writers (key i belongs to writer i % writers) and `readers` readers.
    fn start(ctx: &Arc<Ctx>, writers: u32, readers: u32, seed: u64) -> Load {
        let mut tasks = Vec::new();
        for w in 0..writers {
            let keys: Vec<u32> = (0..ctx.ks.len() as u32)
                .filter(|&k| ctx.ks.kinds[k as usize] != Kind::Filler && k % writers == w)
                .collect();
            let seed = seed ^ u64::from(w + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            tasks.push(tokio::spawn(writer(ctx.clone(), w, keys, seed)));
        }
        for n in 0..readers {
            let seed = seed ^ u64::from(n + 101).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            tasks.push(tokio::spawn(reader(ctx.clone(), n, seed)));
        }
        Load {
            ctx: ctx.clone(),
            tasks,
        }
    }

    /// Stops every task and returns what they did.
    async fn stop(self) -> Done {
        self.ctx.stop.store(true, Ordering::Relaxed);
        let mut all = Done::default();
        for task in self.tasks {
            let done = within(task).await.expect("a load task");
            all.events.extend(done.events);
            all.samples.extend(done.samples);
            all.ttls.extend(done.ttls);
        }
        all
    }
}

/// Writes every key through router A in pipelines: plain keys and fillers get version 1
/// (a fifth of them with the long TTL), counters are INCRed once.
async fn preload(ctx: &Ctx) -> Done {
    let mut conns = Conns::new(ctx.addrs, ctx.clock);
    let mut events = Vec::new();
    let mut ttls = HashMap::new();
    let keys: Vec<u32> = (0..ctx.ks.len() as u32).collect();
    for chunk in keys.chunks(500) {
        let mut pipe = redis::pipe();
        for &key in chunk {
            let name = ctx.ks.name(key);
            let long = ctx.ks.kinds[key as usize] != Kind::Counter && key % 5 == 0;
            ttls.insert(key, Some(long));
            if ctx.ks.kinds[key as usize] == Kind::Counter {
                pipe.cmd("INCR").arg(name);
            } else if long {
                pipe.cmd("SET")
                    .arg(name)
                    .arg(ctx.ks.value(key, 1))
                    .arg("EX")
                    .arg(LONG_TTL_SECS);
            } else {
                pipe.cmd("SET").arg(name).arg(ctx.ks.value(key, 1));
            }
        }
        let c = conns
            .pipe::<Vec<redis::Value>>(0, &pipe)
            .await
            .expect("a router to preload through");
        let replies = c.reply.expect("the preload");
        for (&key, reply) in chunk.iter().zip(replies) {
            let (op, out) = if ctx.ks.kinds[key as usize] == Kind::Counter {
                let n: Option<i64> = redis::from_redis_value(reply).ok();
                (
                    Op::Incr,
                    n.map_or(Outcome::Unknown, |n| Outcome::Ok(Val::Int(n))),
                )
            } else {
                let ok = matches!(reply, redis::Value::Okay);
                let out = if ok {
                    Outcome::Ok(Val::Absent)
                } else {
                    Outcome::Unknown
                };
                (Op::Set { ver: 1 }, out)
            };
            events.push(event(key, Client::Loader, op, c.send, c.ack, out));
        }
    }
    Done {
        events,
        samples: conns.samples,
        ttls,
    }
}

/// Asks every key's PTTL through router A: a key that must have the long TTL must still
/// have it (a move keeps TTLs), one that must have none must have none. Returns the keys
/// that break this.
async fn ttls_kept(ctx: &Ctx, want: &HashMap<u32, Option<bool>>) -> Vec<String> {
    let mut conns = Conns::new(ctx.addrs, ctx.clock);
    let mut bad = Vec::new();
    let keys: Vec<u32> = (0..ctx.ks.len() as u32).collect();
    for chunk in keys.chunks(1000) {
        let mut pipe = redis::pipe();
        for &key in chunk {
            pipe.cmd("PTTL").arg(ctx.ks.name(key));
        }
        let c = conns
            .pipe::<Vec<i64>>(0, &pipe)
            .await
            .expect("a router to ask through");
        let pttls = c.reply.expect("PTTL");
        for (&key, pttl) in chunk.iter().zip(pttls) {
            let ok = match want.get(&key).copied().flatten() {
                // Gone (the history judges whether it may be).
                _ if pttl == -2 => true,
                Some(true) => pttl > 0 && pttl <= LONG_TTL_SECS as i64 * 1000,
                Some(false) => pttl == -1,
                None => true,
            };
            if !ok {
                bad.push(format!(
                    "{} PTTL {pttl}, long TTL expected: {:?}",
                    ctx.ks.name(key),
                    want.get(&key).copied().flatten()
                ));
            }
        }
    }
    println!("TTLs not kept: {}", bad.len());
    for b in bad.iter().take(10) {
        println!("  {b}");
    }
    bad
}

/// Reads every key through each router in turn, after everything settled.
async fn final_reads(ctx: &Ctx) -> Vec<Event> {
    let mut conns = Conns::new(ctx.addrs, ctx.clock);
    let mut events = Vec::new();
    let keys: Vec<u32> = (0..ctx.ks.len() as u32).collect();
    for r in 0..2 {
        for chunk in keys.chunks(1000) {
            let mut pipe = redis::pipe();
            for &key in chunk {
                pipe.cmd("GET").arg(ctx.ks.name(key));
            }
            let c = conns
                .pipe::<Vec<Option<String>>>(r, &pipe)
                .await
                .expect("a router to read through");
            let replies = c.reply.expect("the final reads");
            for (&key, reply) in chunk.iter().zip(replies) {
                let out = Outcome::Ok(ctx.ks.parse(key, reply));
                events.push(event(key, Client::Final(0), Op::Get, c.send, c.ack, out));
            }
        }
    }
    events
}

/// Returns every key a shard holds (SCAN, asked directly on its port).
async fn shard_keys(addr: SocketAddr) -> Vec<String> {
    let mut con = harness::client_for(addr).await;
    let mut keys = Vec::new();
    let mut cursor = "0".to_string();
    loop {
        let (next, page): (String, Vec<String>) = redis::cmd("SCAN")
            .arg(&cursor)
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut con)
            .await
            .expect("SCAN a shard");
        keys.extend(page);
        if next == "0" {
            return keys;
        }
        cursor = next;
    }
}

/// Asks every shard directly which keys it holds: each must be on the group
/// `router::path::ring::bucket` predicts among `groups`, and a shard in no group must be
/// empty. Returns the misplaced keys; prints DBSIZE per shard.
async fn misplaced(groups: &[Vec<SocketAddr>], all: &[SocketAddr]) -> Vec<String> {
    let mut bad = Vec::new();
    let mut sizes = Vec::new();
    for &addr in all {
        let group = groups.iter().position(|g| g.contains(&addr));
        let keys = shard_keys(addr).await;
        let mut con = harness::client_for(addr).await;
        let dbsize: u64 = redis::cmd("DBSIZE")
            .query_async(&mut con)
            .await
            .expect("DBSIZE");
        sizes.push(format!(
            "{addr} (group {group:?}): DBSIZE {dbsize}, SCAN {}",
            keys.len()
        ));
        for key in keys {
            let want = router::path::ring::bucket(key.as_bytes(), groups.len());
            if group != Some(want) {
                bad.push(format!(
                    "{key} on {addr} (group {group:?}), belongs to group {want}"
                ));
            }
        }
    }
    println!("shards: {}", sizes.join("; "));
    bad
}

/// Five shard processes: group 0 is a primary and its replica, groups 1 to 3 one shard each.
struct Shards {
    procs: Vec<ShardProcess>,
}

impl Shards {
    async fn start() -> Shards {
        let mut procs = Vec::new();
        for _ in 0..5 {
            procs.push(ShardProcess::start(BIN).await);
        }
        Shards { procs }
    }

    /// The first `n` groups' members.
    fn groups(&self, n: usize) -> Vec<Vec<SocketAddr>> {
        let a = |i: usize| self.procs[i].addr();
        let all = [vec![a(0), a(1)], vec![a(2)], vec![a(3)], vec![a(4)]];
        all[..n].to_vec()
    }

    /// The first `n` groups as the router takes them: `primary|replica` per group.
    fn specs(&self, n: usize) -> Vec<String> {
        self.groups(n)
            .iter()
            .map(|g| {
                g.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect()
    }

    fn addrs(&self) -> Vec<SocketAddr> {
        self.procs.iter().map(ShardProcess::addr).collect()
    }
}

/// Starts `jumpcache router` with `args` on `port` (0: a free one).
async fn start_router(args: &[String], port: u16) -> Jumpcache {
    let mut spec = Spec::new(&["router"], "metrics listening");
    spec.args.extend(args.iter().cloned());
    spec.port = port;
    support::start(spec).await
}

/// SIGKILLs a router and starts it again with the same arguments on the same port.
async fn restart_router(router: &mut Jumpcache, args: &[String]) {
    let _ = router.child.start_kill();
    let _ = within(router.child.wait()).await;
    *router = start_router(args, router.addr.port()).await;
}

/// Returns the router's INFO fields, or `None` when it does not answer.
async fn info(addr: SocketAddr) -> Option<HashMap<String, String>> {
    let mut con = connect(addr).await?;
    let text: String = redis::cmd("INFO").query_async(&mut con).await.ok()?;
    Some(
        text.lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect(),
    )
}

fn field(info: &HashMap<String, String>, name: &str) -> String {
    info.get(name).cloned().unwrap_or_default()
}

fn number(info: &HashMap<String, String>, name: &str) -> u64 {
    field(info, name).parse().unwrap_or(0)
}

/// The `# Topology` fields, for messages.
fn topology(info: &HashMap<String, String>) -> String {
    [
        "topology_epoch",
        "topology_groups",
        "migration_status",
        "migration_keys_moved",
        "migration_keys_remaining",
        "topology_reload_errors",
    ]
    .iter()
    .map(|f| format!("{f}:{}", field(info, f)))
    .collect::<Vec<_>>()
    .join(" ")
}

/// Polls the router's INFO (every 50 ms, for at most [`SETTLE`]) until `done` holds.
async fn wait_info(
    addr: SocketAddr,
    what: &str,
    done: impl Fn(&HashMap<String, String>) -> bool,
) -> HashMap<String, String> {
    let deadline = Instant::now() + SETTLE;
    let mut last = None;
    while Instant::now() < deadline {
        if let Some(i) = info(addr).await {
            if done(&i) {
                return i;
            }
            last = Some(i);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "router {addr} never reached {what}; last INFO: {}",
        last.as_ref().map_or("none".into(), topology)
    );
}

/// Waits until the router runs epoch `epoch` over `groups` groups with no migration left.
async fn settled(addr: SocketAddr, epoch: u64, groups: usize) -> HashMap<String, String> {
    wait_info(
        addr,
        &format!("epoch {epoch}, {groups} groups, idle"),
        |i| {
            number(i, "topology_epoch") == epoch
                && number(i, "topology_groups") == groups as u64
                && field(i, "migration_status") == "idle"
                && number(i, "migration_keys_remaining") == 0
        },
    )
    .await
}

/// Replaces `path` as a ConfigMap update does: a new file renamed over the old one.
fn write_topology(path: &Path, epoch: u64, groups: &[String]) {
    let list: Vec<String> = groups.iter().map(|g| format!("{g:?}")).collect();
    write_file(
        path,
        &format!("epoch = {epoch}\ngroups = [{}]\n", list.join(", ")),
    );
}

/// Writes `text` to a temporary name in `path`'s directory and renames it over `path`.
fn write_file(path: &Path, text: &str) {
    let tmp = path.with_extension("toml.tmp");
    std::fs::write(&tmp, text).expect("write the new topology");
    std::fs::rename(&tmp, path).expect("rename it over the old one");
}

/// A directory of its own under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("jumpcache-elastic-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Checks the whole history and where the keys are; prints the counts.
async fn evaluate(
    ks: &Keyspace,
    events: &[Event],
    samples: &[String],
    groups: &[Vec<SocketAddr>],
    shards: &[SocketAddr],
) -> (history::Report, Vec<String>) {
    let report = history::check(events);
    println!("{report}");
    let mut named: Vec<u32> = report
        .examples
        .iter()
        .filter_map(|e| e.split("key #").nth(1)?.split(' ').next()?.parse().ok())
        .collect();
    named.sort_unstable();
    named.dedup();
    for key in named {
        println!("  key #{key} is {:?}", ks.name(key));
    }
    let mut samples = samples.to_vec();
    samples.sort();
    samples.dedup();
    if !samples.is_empty() {
        println!("error samples: {}", samples.join(" | "));
    }
    let bad = misplaced(groups, shards).await;
    println!("misplaced keys: {}", bad.len());
    for b in bad.iter().take(10) {
        println!("  {b}");
    }
    (report, bad)
}

/// As [`evaluate`], and asks every key's TTL; asserts that the load ran and that nothing
/// was found.
async fn judge(
    ctx: &Ctx,
    events: &[Event],
    samples: &[String],
    ttls: &HashMap<u32, Option<bool>>,
    groups: &[Vec<SocketAddr>],
    shards: &[SocketAddr],
) {
    let (report, bad) = evaluate(&ctx.ks, events, samples, groups, shards).await;
    let ttl_bad = ttls_kept(ctx, ttls).await;
    let load = |c: fn(&Event) -> bool| events.iter().filter(|e| c(e)).count();
    let writes =
        load(|e| matches!(e.client, Client::Writer(_)) && !matches!(e.op, Op::Get | Op::Expiry));
    let reads =
        load(|e| matches!(e.client, Client::Writer(_) | Client::Reader(_)) && e.op == Op::Get);
    println!("load: {writes} writes, {reads} reads");
    assert!(
        writes > 500 && reads > 500,
        "the load ran: {writes} writes, {reads} reads"
    );
    assert_eq!(report.total_violations(), 0, "{report}");
    assert!(
        bad.is_empty(),
        "{} keys are not where the jump hash puts them",
        bad.len()
    );
    assert!(
        ttl_bad.is_empty(),
        "{} keys lost or gained a TTL",
        ttl_bad.len()
    );
}

fn seed() -> u64 {
    let seed = std::env::var("ELASTIC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    println!("seed {seed} (ELASTIC_SEED={seed} repeats the random choices; timing still varies)");
    seed
}

/// The harness against today's binary: two routers over a fixed topology of two groups,
/// router B killed and restarted under the load. Nothing may be found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_topology_history_has_no_violations() {
    let _serial = SERIAL.lock().await;
    let seed = seed();
    let shards = Shards::start().await;
    let args = vec!["--shards".to_string(), shards.specs(2).join(",")];
    let a = start_router(&args, 0).await;
    let mut b = start_router(&args, 0).await;
    let ctx = Arc::new(Ctx {
        ks: Keyspace::new(1000, 200, 3000),
        clock: Clock(Instant::now()),
        addrs: [a.addr, b.addr],
        stop: AtomicBool::new(false),
    });
    let loaded = preload(&ctx).await;
    let mut events = loaded.events;
    let mut ttls = loaded.ttls;
    let load = Load::start(&ctx, 4, 2, seed);
    // Scenario delays, not readiness waits: let the load run before and after the restart.
    tokio::time::sleep(Duration::from_secs(3)).await;
    restart_router(&mut b, &args).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let done = load.stop().await;
    events.extend(done.events);
    ttls.extend(done.ttls);
    events.extend(final_reads(&ctx).await);
    judge(
        &ctx,
        &events,
        &done.samples,
        &ttls,
        &shards.groups(2),
        &shards.addrs(),
    )
    .await;
}

/// The harness finds what it must, on real processes: writes made directly on the shards,
/// behind the routers' backs, are reported as the violations they look like.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_behind_the_routers_backs_are_flagged() {
    let _serial = SERIAL.lock().await;
    let seed = seed();
    let shards = Shards::start().await;
    let groups = shards.groups(2);
    let args = vec!["--shards".to_string(), shards.specs(2).join(",")];
    let a = start_router(&args, 0).await;
    let b = start_router(&args, 0).await;
    let ctx = Arc::new(Ctx {
        ks: Keyspace::new(200, 50, 200),
        clock: Clock(Instant::now()),
        addrs: [a.addr, b.addr],
        stop: AtomicBool::new(false),
    });
    let loaded = preload(&ctx).await;
    let mut events = loaded.events;
    let load = Load::start(&ctx, 2, 1, seed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let done = load.stop().await;
    events.extend(done.events);

    // Three fillers (no writer touches them), written now through the routers...
    let n = ctx.ks.len() as u32;
    let (lost, undone, gone) = (n - 1, n - 2, n - 3);
    // And one preloaded with the long TTL, to lose it.
    let persisted = (0..n - 3)
        .rev()
        .find(|k| k % 5 == 0)
        .expect("a filler with a TTL");
    let mut conns = Conns::new(ctx.addrs, ctx.clock);
    let me = Client::Writer(u32::MAX);
    for (r, ver) in [(0, 2), (1, 3)] {
        let cmd = redis::cmd("SET")
            .arg(ctx.ks.name(lost))
            .arg(ctx.ks.value(lost, ver))
            .clone();
        let c = conns.call::<()>(r, &cmd).await.expect("a router");
        assert!(c.reply.is_ok(), "SET through a router");
        let out = Outcome::Ok(Val::Absent);
        events.push(event(lost, me, Op::Set { ver }, c.send, c.ack, out));
    }
    let cmd = redis::cmd("DEL").arg(ctx.ks.name(undone)).clone();
    let c = conns.call::<i64>(0, &cmd).await.expect("a router");
    assert_eq!(c.reply, Ok(1), "DEL through a router");
    events.push(event(
        undone,
        me,
        Op::Del,
        c.send,
        c.ack,
        Outcome::Ok(Val::Int(1)),
    ));
    // ...then behind their backs, on every member of each key's group: the overwritten
    // version comes back, the deleted value comes back, a value vanishes, a TTL is lost.
    for (key, value) in [
        (lost, Some(ctx.ks.value(lost, 2))),
        (undone, Some(ctx.ks.value(undone, 1))),
        (gone, None),
        (persisted, None),
    ] {
        let name = ctx.ks.name(key);
        for &member in &groups[router::path::ring::bucket(name.as_bytes(), 2)] {
            let mut con = harness::client_for(member).await;
            let cmd = match &value {
                Some(v) => redis::cmd("SET").arg(name).arg(v).clone(),
                None if key == persisted => redis::cmd("PERSIST").arg(name).clone(),
                None => redis::cmd("DEL").arg(name).clone(),
            };
            let () = cmd
                .query_async(&mut con)
                .await
                .map(|_: redis::Value| ())
                .expect("direct write");
        }
    }
    // And a key on a group the jump hash does not give it.
    let stray = (0..)
        .map(|i| format!("stray{i}"))
        .find(|k| router::path::ring::bucket(k.as_bytes(), 2) == 0)
        .expect("a key of group 0");
    let mut con = harness::client_for(groups[1][0]).await;
    let () = redis::cmd("SET")
        .arg(&stray)
        .arg("x")
        .query_async(&mut con)
        .await
        .expect("direct SET");

    events.extend(final_reads(&ctx).await);
    let (report, bad) = evaluate(&ctx.ks, &events, &done.samples, &groups, &shards.addrs()).await;
    // Each is read once through each router in the final pass.
    assert_eq!(report.count(history::Violation::LostWrite), 2, "{report}");
    assert_eq!(
        report.count(history::Violation::UndoneDelete),
        2,
        "{report}"
    );
    assert_eq!(report.count(history::Violation::Missing), 2, "{report}");
    assert_eq!(report.total_violations(), 6, "{report}");
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].starts_with(&stray), "{bad:?}");
    // The keys written through the routers have no TTL now.
    let mut ttls = loaded.ttls;
    ttls.extend(done.ttls);
    ttls.insert(lost, Some(false));
    ttls.insert(undone, Some(false));
    let ttl_bad = ttls_kept(&ctx, &ttls).await;
    assert_eq!(ttl_bad.len(), 1, "{ttl_bad:?}");
    assert!(
        ttl_bad[0].starts_with(&format!("{} ", ctx.ks.name(persisted))),
        "{ttl_bad:?}"
    );
}

/// Issue 14: the cluster grows 2 → 3 → 4 groups and shrinks 4 → 3 under the load; router A
/// gets each epoch first, router B a second later (the shards fence it meanwhile); B is
/// SIGKILLed and restarted with its stale file while the 3 → 4 migration runs; a file with
/// an older epoch is refused as a whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resizing_2_3_4_3_under_load_keeps_every_property() {
    let _serial = SERIAL.lock().await;
    let seed = seed();
    let shards = Shards::start().await;
    let dir = TempDir::new();
    let (file_a, file_b) = (dir.0.join("a.toml"), dir.0.join("b.toml"));
    write_topology(&file_a, 1, &shards.specs(2));
    write_topology(&file_b, 1, &shards.specs(2));
    let args_a = vec!["--topology".to_string(), file_a.display().to_string()];
    let args_b = vec!["--topology".to_string(), file_b.display().to_string()];
    let a = start_router(&args_a, 0).await;
    let mut b = start_router(&args_b, 0).await;
    settled(a.addr, 1, 2).await;
    settled(b.addr, 1, 2).await;
    let ctx = Arc::new(Ctx {
        ks: Keyspace::new(1200, 300, 12_000),
        clock: Clock(Instant::now()),
        addrs: [a.addr, b.addr],
        stop: AtomicBool::new(false),
    });
    let loaded = preload(&ctx).await;
    let mut events = loaded.events;
    let mut ttls = loaded.ttls;
    let load = Load::start(&ctx, 4, 2, seed);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut reported_moved = 0;
    let mut from = 2;
    for (epoch, groups) in [(2u64, 3usize), (3, 4), (4, 3)] {
        let must_move = (0..ctx.ks.len() as u32)
            .filter(|&k| {
                let key = ctx.ks.name(k).as_bytes();
                router::path::ring::bucket(key, from) != router::path::ring::bucket(key, groups)
            })
            .count();
        from = groups;
        let started = Instant::now();
        write_topology(&file_a, epoch, &shards.specs(groups));
        let accepted = wait_info(a.addr, &format!("epoch {epoch}"), |i| {
            number(i, "topology_epoch") == epoch
        })
        .await;
        if epoch == 3 {
            // Router B dies mid-migration (as soon as A took the epoch) and comes back with
            // its file of epoch 2.
            restart_router(&mut b, &args_b).await;
            let when = match field(&accepted, "migration_status").as_str() {
                "running" => "mid-migration",
                _ => "after the migration (it was over before INFO showed the epoch)",
            };
            println!(
                "epoch 3: router B SIGKILLed and restarted {when}; A: {}",
                topology(&accepted)
            );
        }
        // Router B learns the epoch late: a second later, from its own file (the shards
        // fence it meanwhile).
        tokio::time::sleep(Duration::from_secs(1)).await;
        write_topology(&file_b, epoch, &shards.specs(groups));
        let info_b = settled(b.addr, epoch, groups).await;
        let info_a = settled(a.addr, epoch, groups).await;
        println!(
            "epoch {epoch} ({groups} groups) settled {:?} after A's file changed; {must_move} \
             keys had to move; A {}; B {}",
            started.elapsed(),
            topology(&info_a),
            topology(&info_b)
        );
        reported_moved = reported_moved
            .max(number(&info_a, "migration_keys_moved"))
            .max(number(&info_b, "migration_keys_moved"));
        // Once both routers settled, every key is on its group of this epoch.
        let bad = misplaced(&shards.groups(groups), &shards.addrs()).await;
        assert!(
            bad.is_empty(),
            "epoch {epoch}: {} misplaced, e.g. {:?}",
            bad.len(),
            &bad[..bad.len().min(5)]
        );

        if epoch == 2 {
            // A file that goes back in epoch, and one that is not TOML, are refused as a
            // whole; the topology stays.
            for text in [None, Some("epoch = \ngroups = [")] {
                let now = wait_info(a.addr, "INFO", |_| true).await;
                let errors = number(&now, "topology_reload_errors");
                match text {
                    None => write_topology(&file_a, 1, &shards.specs(3)),
                    Some(t) => write_file(&file_a, t),
                }
                let refused = wait_info(a.addr, "a refused reload", |i| {
                    number(i, "topology_reload_errors") > errors
                })
                .await;
                assert_eq!(
                    (
                        number(&refused, "topology_epoch"),
                        number(&refused, "topology_groups")
                    ),
                    (2, 3),
                    "{}",
                    topology(&refused)
                );
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let done = load.stop().await;
    events.extend(done.events);
    ttls.extend(done.ttls);
    events.extend(final_reads(&ctx).await);
    judge(
        &ctx,
        &events,
        &done.samples,
        &ttls,
        &shards.groups(3),
        &shards.addrs(),
    )
    .await;
    assert!(reported_moved > 0, "INFO reported no key moved");
    let end = settled(a.addr, 4, 3).await;
    // Two refused files, each refused once.
    assert_eq!(
        number(&end, "topology_reload_errors"),
        2,
        "{}",
        topology(&end)
    );
}

/// The topology file is the TOML of the interface: an epoch and the groups as
/// `primary|replica` strings; it replaces the old file by a rename.
#[test]
fn a_topology_file_holds_the_epoch_and_the_groups() {
    let dir = TempDir::new();
    let path = dir.0.join("t.toml");
    let groups = [
        "127.0.0.1:7001|127.0.0.1:7002".to_string(),
        "127.0.0.1:7003".to_string(),
    ];
    write_topology(&path, 7, &groups[..1]);
    write_topology(&path, 8, &groups);
    let table: toml::Table = std::fs::read_to_string(&path).unwrap().parse().unwrap();
    assert_eq!(table["epoch"].as_integer(), Some(8));
    let got: Vec<&str> = table["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_str().unwrap())
        .collect();
    assert_eq!(got, groups);
    let left: Vec<_> = std::fs::read_dir(&dir.0).unwrap().collect();
    assert_eq!(left.len(), 1, "no temporary file left behind");
}

/// A reply is read as the version it names, for its own key only.
#[test]
fn replies_are_read_as_versions_of_their_own_key() {
    let ks = Keyspace::new(11, 1, 1);
    assert_eq!(ks.name(10), "{tag1}:k10");
    assert_eq!(ks.parse(3, None), Val::Absent);
    assert_eq!(ks.parse(3, Some(ks.value(3, 42))), Val::Ver(42));
    assert_eq!(ks.parse(3, Some(ks.value(4, 42))), Val::Ver(u64::MAX));
    assert_eq!(ks.parse(3, Some("k3:vx".into())), Val::Ver(u64::MAX));
    assert_eq!(ks.parse(11, Some("17".into())), Val::Int(17));
    assert_eq!(ks.parse(11, Some("k11:v1".into())), Val::Int(i64::MIN));
}

/// Issue 14's overlapping changes: a grow (2 → 3 groups) is still moving keys, slowly, when
/// its shrink back (3 → 2) arrives, and group 0's replica is SIGKILLed and restarted empty
/// meanwhile. The shrink waits for the grow; the replica is re-synced; nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shrink_during_a_grow_and_a_replica_killed_mid_move_keep_every_property() {
    let _serial = SERIAL.lock().await;
    let seed = seed();
    let mut shards = Shards::start().await;
    let dir = TempDir::new();
    let (file_a, file_b) = (dir.0.join("a.toml"), dir.0.join("b.toml"));
    write_topology(&file_a, 1, &shards.specs(2));
    write_topology(&file_b, 1, &shards.specs(2));
    // A slow mover, so the grow is still running when the shrink comes.
    let slow = ["--migration-rate".to_string(), "2000".to_string()];
    let mut args_a = vec!["--topology".to_string(), file_a.display().to_string()];
    let mut args_b = vec!["--topology".to_string(), file_b.display().to_string()];
    args_a.extend(slow.iter().cloned());
    args_b.extend(slow.iter().cloned());
    let a = start_router(&args_a, 0).await;
    let b = start_router(&args_b, 0).await;
    settled(a.addr, 1, 2).await;
    settled(b.addr, 1, 2).await;
    let ctx = Arc::new(Ctx {
        ks: Keyspace::new(1200, 300, 12_000),
        clock: Clock(Instant::now()),
        addrs: [a.addr, b.addr],
        stop: AtomicBool::new(false),
    });
    let loaded = preload(&ctx).await;
    let mut events = loaded.events;
    let mut ttls = loaded.ttls;
    let load = Load::start(&ctx, 4, 2, seed);
    write_topology(&file_a, 2, &shards.specs(3));
    write_topology(&file_b, 2, &shards.specs(3));
    let running = wait_info(a.addr, "epoch 2 running", |i| {
        number(i, "topology_epoch") == 2 && field(i, "migration_status") == "running"
    })
    .await;
    println!("grow running: {}", topology(&running));
    // Group 0's replica dies mid-move and comes back empty; the routers re-sync it.
    shards.procs[1].restart().await;
    write_topology(&file_a, 3, &shards.specs(2));
    write_topology(&file_b, 3, &shards.specs(2));
    let end_a = settled(a.addr, 3, 2).await;
    let end_b = settled(b.addr, 3, 2).await;
    println!("A {}; B {}", topology(&end_a), topology(&end_b));
    tokio::time::sleep(Duration::from_secs(1)).await;
    let done = load.stop().await;
    events.extend(done.events);
    ttls.extend(done.ttls);
    events.extend(final_reads(&ctx).await);
    judge(
        &ctx,
        &events,
        &done.samples,
        &ttls,
        &shards.groups(2),
        &shards.addrs(),
    )
    .await;
    assert_eq!(number(&end_a, "topology_reload_errors"), 0);
}

/// Issue 14, point 1: a ConfigMap update (the mounted file is a symlink into a `..data`
/// directory that Kubernetes swaps for a new one) is seen, SIGHUP rereads the file, and a
/// file that moves a group from the middle is refused as a whole while the old topology
/// keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configmap_symlink_swap_and_sighup_are_followed_and_a_bad_file_is_refused() {
    let _serial = SERIAL.lock().await;
    let shards = Shards::start().await;
    let dir = TempDir::new();
    let (v1, v2) = (dir.0.join("v1"), dir.0.join("v2"));
    std::fs::create_dir_all(&v1).unwrap();
    std::fs::create_dir_all(&v2).unwrap();
    write_topology(&v1.join("topology.toml"), 1, &shards.specs(2));
    write_topology(&v2.join("topology.toml"), 2, &shards.specs(3));
    // As Kubernetes mounts a ConfigMap: topology.toml -> ..data/topology.toml, ..data -> v1.
    let data = dir.0.join("..data");
    std::os::unix::fs::symlink(&v1, &data).unwrap();
    let file = dir.0.join("topology.toml");
    std::os::unix::fs::symlink(data.join("topology.toml"), &file).unwrap();
    let args = vec!["--topology".to_string(), file.display().to_string()];
    let router = start_router(&args, 0).await;
    settled(router.addr, 1, 2).await;
    let mut con = harness::client_for(router.addr).await;
    for i in 0..500 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query_async(&mut con)
            .await
            .unwrap();
    }
    // The swap: a new link to v2, renamed over `..data`.
    let next = dir.0.join("..data_tmp");
    std::os::unix::fs::symlink(&v2, &next).unwrap();
    std::fs::rename(&next, &data).unwrap();
    settled(router.addr, 2, 3).await;
    // Group 1 removed from the middle: refused, epoch 2 keeps serving.
    let specs = shards.specs(3);
    write_topology(
        &v2.join("topology.toml"),
        3,
        &[specs[0].clone(), specs[2].clone()],
    );
    let refused = wait_info(router.addr, "one refused file", |i| {
        number(i, "topology_reload_errors") == 1
    })
    .await;
    assert_eq!(
        (
            number(&refused, "topology_epoch"),
            number(&refused, "topology_groups")
        ),
        (2, 3),
        "{}",
        topology(&refused)
    );
    // SIGHUP rereads the same (still refused) file: one more error, nothing else.
    let pid = router.child.id().expect("router pid");
    std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    let again = wait_info(router.addr, "a second refusal after SIGHUP", |i| {
        number(i, "topology_reload_errors") == 2
    })
    .await;
    assert_eq!(number(&again, "topology_epoch"), 2);
    for i in 0..500 {
        let v: Option<i64> = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(v, Some(i), "k{i}");
    }
}

/// Issue 14, point 2: `jumpcache cluster` grows and shrinks from redis-cli, behind its
/// password; `jumpcache topology ... wait` follows the move to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jumpcache_resize_grows_and_shrinks_a_one_process_cluster() {
    let _serial = SERIAL.lock().await;
    let mut spec = Spec::new(
        &["cluster", "--shards", "2", "--requirepass", "pw"],
        "router listening",
    );
    spec.log_level = "warn";
    let cluster = support::start(spec).await;
    let mut con = harness::client_for(cluster.addr).await;
    let refused: redis::RedisResult<()> = redis::cmd("JUMPCACHE")
        .arg(&["RESIZE", "3"][..])
        .query_async(&mut con)
        .await;
    assert_eq!(refused.unwrap_err().code(), Some("NOAUTH"));
    let _: () = redis::cmd("AUTH")
        .arg("pw")
        .query_async(&mut con)
        .await
        .unwrap();
    let keys = 20_000;
    let mut pipe = redis::pipe();
    for i in 0..keys {
        pipe.cmd("SET").arg(format!("k{i}")).arg(i).ignore();
    }
    let _: () = pipe.query_async(&mut con).await.unwrap();
    let addr = cluster.addr.to_string();
    for (groups, epoch) in [(3usize, 1u64), (2, 2)] {
        let _: () = redis::cmd("JUMPCACHE")
            .arg("RESIZE")
            .arg(groups)
            .query_async(&mut con)
            .await
            .unwrap();
        let wait = tokio::process::Command::new(BIN)
            .args(["topology", "--router", &addr, "--password", "pw", "wait"])
            .output();
        let out = within(wait).await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        assert!(
            stdout.contains(&format!("epoch {epoch}: {groups} groups, idle")),
            "{stdout}"
        );
        let text: String = redis::cmd("JUMPCACHE")
            .arg("TOPOLOGY")
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(
            text.contains(&format!("topology_groups:{groups}")),
            "{text}"
        );
        assert!(text.contains("migration_status:idle"), "{text}");
        let size: usize = redis::cmd("DBSIZE").query_async(&mut con).await.unwrap();
        assert_eq!(size, keys);
        let values: Vec<Option<usize>> = redis::cmd("MGET")
            .arg((0..keys).map(|i| format!("k{i}")).collect::<Vec<_>>())
            .query_async(&mut con)
            .await
            .unwrap();
        assert!(values.iter().enumerate().all(|(i, v)| *v == Some(i)));
    }
    // A plain router follows its file: RESIZE is refused there (checked on the shard side
    // too: shards answer only their own subcommands).
    let bad: redis::RedisResult<()> = redis::cmd("JUMPCACHE")
        .arg(&["RESIZE", "0"][..])
        .query_async(&mut con)
        .await;
    assert!(bad.is_err());
}

/// Issue 14, point 1: members replaced or added inside a group move no key, and a new member
/// serves reads only once it holds its peers' keys: the old member can die right after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_added_by_the_file_is_synced_before_it_serves() {
    let _serial = SERIAL.lock().await;
    let mut shards = Shards::start().await;
    let a = |i: usize| shards.procs[i].addr().to_string();
    let dir = TempDir::new();
    let file = dir.0.join("topology.toml");
    write_topology(&file, 1, &[a(0), a(2)]);
    let args = vec!["--topology".to_string(), file.display().to_string()];
    let router = start_router(&args, 0).await;
    settled(router.addr, 1, 2).await;
    let mut con = harness::client_for(router.addr).await;
    for i in 0..2000 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query_async(&mut con)
            .await
            .unwrap();
    }
    write_topology(&file, 2, &[format!("{}|{}", a(0), a(1)), a(2)]);
    settled(router.addr, 2, 2).await;
    wait_info(router.addr, "the new member up", |i| {
        field(i, "shard0_member1").contains("state=up")
    })
    .await;
    // The member the group had dies: every key of the group is still read, from the new one.
    shards.procs[0].kill().await;
    for i in 0..2000 {
        let v: Option<i64> = redis::cmd("GET")
            .arg(format!("k{i}"))
            .query_async(&mut con)
            .await
            .unwrap();
        assert_eq!(v, Some(i), "k{i}");
    }
}

/// Hashes, sets, sorted sets and lists, small and large, some with a long TTL, and strings
/// beside them: `(key, value, ttl_ms)`, 0 for none.
fn collections() -> Vec<(String, server::store::Object, u64)> {
    use server::store::types::{Collection, Hash, List, Set, ZSet};
    use server::store::Object;
    let mut out = Vec::new();
    for i in 0..240u32 {
        let n = if i % 8 == 0 { 200 } else { 1 + i % 7 };
        let c = match i % 4 {
            0 => {
                let mut h = Hash::default();
                for j in 0..n {
                    h.set(format!("f{j}").as_bytes(), format!("v{i}-{j}").as_bytes());
                }
                Collection::Hash(h)
            }
            1 => {
                let mut s = Set::default();
                for j in 0..n {
                    s.insert(
                        if j % 2 == 0 {
                            format!("{j}")
                        } else {
                            format!("m{j}")
                        }
                        .as_bytes(),
                    );
                }
                Collection::Set(s)
            }
            2 => {
                let mut z = ZSet::default();
                for j in 0..n {
                    z.insert(format!("m{j}").as_bytes(), f64::from(j) * 0.5 - 3.0);
                }
                Collection::ZSet(z)
            }
            _ => {
                let mut l = List::default();
                for j in 0..n {
                    l.push_back(format!("e{}", j % 3).as_bytes());
                }
                Collection::List(l)
            }
        };
        let ttl = if i % 5 == 0 { LONG_TTL_SECS * 1000 } else { 0 };
        out.push((format!("c{i}"), Object::Coll(c), ttl));
    }
    for i in 0..100 {
        out.push((format!("s{i}"), Object::Str(format!("v{i}").into()), 0));
    }
    out
}

/// A value's type and elements in one order whatever its form: a hash's pairs and a set's
/// members sorted, a sorted set's and a list's as they are.
fn canonical(o: &server::store::Object) -> (&'static str, Vec<Vec<u8>>) {
    use server::store::types::Collection;
    use server::store::Object;
    match o {
        Object::Str(s) => ("string", vec![s.to_vec()]),
        Object::Coll(c) => {
            let mut items: Vec<Vec<u8>> = match c {
                Collection::Hash(h) => h.iter().map(|(f, v)| [f, b"=", v].concat()).collect(),
                Collection::Set(s) => s.iter().map(<[u8]>::to_vec).collect(),
                Collection::ZSet(z) => z
                    .iter()
                    .map(|(m, s)| [m, &s.to_le_bytes()[..]].concat())
                    .collect(),
                Collection::List(l) => l.iter().map(<[u8]>::to_vec).collect(),
            };
            if matches!(c, Collection::Hash(_) | Collection::Set(_)) {
                items.sort();
            }
            (c.obj_type().name(), items)
        }
    }
}

/// Reads every key of `want` through the router (DUMP, PTTL) and returns what differs.
async fn collections_differ(
    con: &mut MultiplexedConnection,
    want: &[(String, server::store::Object, u64)],
) -> Vec<String> {
    let mut bad = Vec::new();
    for (key, value, ttl) in want {
        let payload: Option<Vec<u8>> = within(redis::cmd("DUMP").arg(key).query_async(con))
            .await
            .unwrap_or_else(|e| panic!("DUMP {key}: {e}"));
        let Some(payload) = payload else {
            bad.push(format!("{key}: missing"));
            continue;
        };
        match server::rdb::dump::restore_object(&payload, u64::MAX) {
            Ok(got) if canonical(&got) == canonical(value) => {}
            Ok(got) => bad.push(format!(
                "{key}: {:?} is not {:?}",
                canonical(&got),
                canonical(value)
            )),
            Err(e) => bad.push(format!("{key}: payload {e:?}")),
        }
        let pttl: i64 = within(redis::cmd("PTTL").arg(key).query_async(con))
            .await
            .unwrap();
        let kept = match *ttl {
            0 => pttl == -1,
            t => pttl > 0 && (pttl as u64) <= t && t - (pttl as u64) < 120_000,
        };
        if !kept {
            bad.push(format!("{key}: PTTL {pttl}, set with {ttl}"));
        }
    }
    bad
}

/// Issue 14 with issue 21's types: growing 2 → 3 groups and shrinking back moves hashes,
/// sets, sorted sets and lists whole, with their TTLs, both ways a key moves: touched by a
/// client while it moves (the data path) and by the mover.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resize_moves_every_collection_intact() {
    let _serial = SERIAL.lock().await;
    let shards = Shards::start().await;
    let dir = TempDir::new();
    let file = dir.0.join("topology.toml");
    write_topology(&file, 1, &shards.specs(2));
    // A slow mover while clients read, so reads meet keys still moving.
    let args = vec![
        "--topology".to_string(),
        file.display().to_string(),
        "--migration-rate".to_string(),
        "200".to_string(),
    ];
    let router = start_router(&args, 0).await;
    settled(router.addr, 1, 2).await;
    let mut con = harness::client_for(router.addr).await;
    let want = collections();
    for (key, value, ttl) in &want {
        let payload = server::rdb::dump::dump_object(value);
        let _: () = within(
            redis::cmd("RESTORE")
                .arg(key)
                .arg(*ttl)
                .arg(payload)
                .query_async(&mut con),
        )
        .await
        .unwrap_or_else(|e| panic!("RESTORE {key}: {e}"));
    }
    assert!(collections_differ(&mut con, &want).await.is_empty());
    for (epoch, groups) in [(2u64, 3usize), (3, 2)] {
        write_topology(&file, epoch, &shards.specs(groups));
        wait_info(router.addr, &format!("epoch {epoch}"), |i| {
            number(i, "topology_epoch") == epoch
        })
        .await;
        let during = collections_differ(&mut con, &want).await;
        assert!(during.is_empty(), "epoch {epoch}, while moving: {during:?}");
        let end = settled(router.addr, epoch, groups).await;
        println!("{}", topology(&end));
        let after = collections_differ(&mut con, &want).await;
        assert!(after.is_empty(), "epoch {epoch}, moved: {after:?}");
        let size: usize = within(redis::cmd("DBSIZE").query_async(&mut con))
            .await
            .unwrap();
        assert_eq!(size, want.len(), "epoch {epoch}");
        let bad = misplaced(&shards.groups(groups), &shards.addrs()).await;
        assert!(bad.is_empty(), "epoch {epoch}: {bad:?}");
    }
}
