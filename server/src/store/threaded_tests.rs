//! The store under threads: randomised mixed workloads on several threads, with eviction and
//! active expiry running concurrently against an advancing clock, and every invariant checked
//! after each phase; and panics injected halfway through changing a segment.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use bytes::Bytes;
use protocol::command::SCAN_CURSOR_BITS;

use super::segment::key_hash;
use super::{hooks, segment_of, Backend, Eviction, Store, StoreConfig, Update, Value, SEGMENTS};
use crate::clock::{Clock, ManualClock};

const T0: u64 = 1_700_000_000_000;
const WORKERS: usize = 4;

/// xorshift64*: a generator per thread, seeded from the run's seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Returns the run's seed: `STORE_TEST_SEED` if set, else the time; printed so a failure
/// can be replayed (the interleaving of threads cannot).
fn seed() -> u64 {
    let seed = std::env::var("STORE_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| crate::clock::SystemClock.now_ms());
    eprintln!("STORE_TEST_SEED={seed}");
    seed
}

/// Returns a value that names its key, so a read can tell it got its own key's entry.
fn value_for(key: &[u8], rng: &mut Rng) -> Bytes {
    let mut v = key.to_vec();
    v.push(b'|');
    v.resize(v.len() + rng.below(48) as usize, b'x');
    Bytes::from(v)
}

/// Asserts that a value read for `key` was written for `key`.
fn assert_owned(key: &[u8], value: &Value) {
    let owner = value.data.split(|&b| b == b'|').next().unwrap();
    assert_eq!(owner, key, "a read of one key returned another's value");
}

/// INCR as `exec` runs it: one `update`; returns the new value.
fn incr(store: &Store, key: &[u8]) -> i64 {
    store
        .update(key, |current| {
            let n: i64 = current.map_or(0, |v| {
                std::str::from_utf8(&v.data).unwrap().parse().unwrap()
            });
            let deadline_ms = current.map_or(0, |v| v.deadline_ms);
            let data = Bytes::from((n + 1).to_string());
            (Update::Put(Value { data, deadline_ms }), n + 1)
        })
        .unwrap()
}

/// EXPIRE key ms as `exec` runs it: a new deadline on a live key.
fn expire(store: &Store, key: &[u8], ttl_ms: u64) {
    let now = store.now_ms();
    store
        .update(key, |current| match current {
            Some(v) => (
                Update::Put(Value {
                    data: v.data.clone(),
                    deadline_ms: now + ttl_ms,
                }),
                (),
            ),
            None => (Update::Keep, ()),
        })
        .unwrap();
}

/// Runs `work` on [`WORKERS`] threads while one more thread runs the store's maintenance and
/// advances the clock by 0-3 ms a round, until every worker is done.
fn run_phase<W>(store: &Store, clock: &Arc<ManualClock>, seed: u64, work: W) -> Vec<W::Output>
where
    W: Phase,
{
    let done = Arc::new(AtomicBool::new(false));
    let start = Arc::new(Barrier::new(WORKERS + 1));
    let maintenance = {
        let (store, clock, done, start) =
            (store.clone(), clock.clone(), done.clone(), start.clone());
        thread::spawn(move || {
            let mut rng = Rng::new(seed ^ 0xFFFF);
            start.wait();
            while !done.load(Ordering::Relaxed) {
                store.run_pending_tasks();
                clock.advance(rng.below(4));
                thread::yield_now();
            }
        })
    };
    let workers: Vec<_> = (0..WORKERS)
        .map(|t| {
            let (store, start, work) = (store.clone(), start.clone(), work.clone());
            thread::spawn(move || {
                start.wait();
                work.run(t, &store, &mut Rng::new(seed.wrapping_add(t as u64 + 1)))
            })
        })
        .collect();
    let outputs = workers.into_iter().map(|w| w.join().unwrap()).collect();
    done.store(true, Ordering::Relaxed);
    maintenance.join().unwrap();
    outputs
}

trait Phase: Clone + Send + 'static {
    type Output: Send + 'static;
    fn run(&self, thread: usize, store: &Store, rng: &mut Rng) -> Self::Output;
}

/// A store kept over its bound: SET (some with TTLs), GET, DEL, EXPIRE on keys all threads
/// share, SETs of keys only this thread writes (whose own evictions must never take them),
/// INCR on this thread's counters (a reply is the last one plus 1, or 1 after the counter
/// was evicted), and SCAN pages from random cursors.
#[derive(Clone)]
struct Storm {
    ops: usize,
}

impl Phase for Storm {
    type Output = ();
    fn run(&self, t: usize, store: &Store, rng: &mut Rng) {
        let mut counters = [0i64; 8];
        hooks::take_victims();
        for n in 0..self.ops {
            let r = rng.below(100);
            let shared = format!("k{}", rng.below(6_000)).into_bytes();
            match r {
                0..=29 => {
                    let deadline_ms = match rng.below(3) {
                        0 => store.now_ms() + 1 + rng.below(40),
                        _ => 0,
                    };
                    let data = value_for(&shared, rng);
                    store.set(&shared, Value { data, deadline_ms }).unwrap();
                    let victims = hooks::take_victims();
                    assert!(!victims.contains(&shared), "a SET evicted its own key");
                }
                30..=49 => {
                    let own = format!("t{t}:{n}").into_bytes();
                    let data = value_for(&own, rng);
                    store.set(&own, Value::persistent(data)).unwrap();
                    let victims = hooks::take_victims();
                    assert!(!victims.contains(&own), "a SET evicted its own key");
                }
                50..=69 => {
                    if let Some(v) = store.get_str(&shared) {
                        assert_owned(&shared, &v);
                        assert!(v.is_live(store.now_ms()) || v.deadline_ms != 0);
                    }
                }
                70..=77 => {
                    store.remove(&shared);
                }
                78..=85 => expire(store, &shared, 1 + rng.below(40)),
                86..=97 => {
                    let c = rng.below(counters.len() as u64) as usize;
                    let got = incr(store, format!("c{t}:{c}").as_bytes());
                    assert!(
                        got == counters[c] + 1 || got == 1,
                        "INCR {got} after {}",
                        counters[c]
                    );
                    counters[c] = got;
                    hooks::take_victims();
                }
                _ => {
                    let cursor = rng.next() >> (64 - SCAN_CURSOR_BITS);
                    let (next, page) = store.scan(cursor, None, 50);
                    let mut keys = page.clone();
                    keys.sort_unstable();
                    keys.dedup();
                    assert_eq!(keys.len(), page.len(), "a key twice in a SCAN page");
                    let at = |k: &Bytes| key_hash(k) >> (64 - SCAN_CURSOR_BITS);
                    assert!(
                        page.iter()
                            .all(|k| at(k) >= cursor && (next == 0 || at(k) < next)),
                        "a SCAN page key outside [cursor, next)"
                    );
                }
            }
        }
    }
}

/// A store kept well under its bound: INCR on counters every thread shares, beside SET /
/// GET / DEL / EXPIRE / SCAN on a small set of other keys. Returns, per counter, the replies
/// this thread was given.
#[derive(Clone)]
struct Counting {
    ops: usize,
}

const COUNTERS: u64 = 64;

impl Phase for Counting {
    type Output = HashMap<u64, Vec<i64>>;
    fn run(&self, _t: usize, store: &Store, rng: &mut Rng) -> Self::Output {
        let mut replies: HashMap<u64, Vec<i64>> = HashMap::new();
        for _ in 0..self.ops {
            let other = format!("s{}", rng.below(200)).into_bytes();
            match rng.below(100) {
                0..=59 => {
                    let c = rng.below(COUNTERS);
                    let got = incr(store, format!("n{c}").as_bytes());
                    replies.entry(c).or_default().push(got);
                }
                60..=74 => {
                    let deadline_ms = store.now_ms() + rng.below(20);
                    let data = value_for(&other, rng);
                    store.set(&other, Value { data, deadline_ms }).unwrap();
                }
                75..=84 => {
                    if let Some(v) = store.get_str(&other) {
                        assert_owned(&other, &v);
                    }
                }
                85..=89 => {
                    store.remove(&other);
                }
                90..=94 => expire(store, &other, rng.below(20)),
                _ => {
                    store.scan(rng.next() >> 16, None, 20);
                }
            }
        }
        replies
    }
}

#[test]
fn threads_with_lru_eviction_and_expiry_keep_every_invariant_and_every_increment() {
    storm_then_count(Eviction::Lru, Backend::Compact);
}

#[test]
fn moka_threads_with_lru_eviction_and_expiry_keep_every_invariant_and_every_increment() {
    storm_then_count(Eviction::Lru, Backend::Moka);
}

#[test]
fn moka_threads_with_lfu_eviction_and_expiry_keep_every_invariant_and_every_increment() {
    storm_then_count(Eviction::Lfu, Backend::Moka);
}

#[test]
fn threads_with_lfu_eviction_and_expiry_keep_every_invariant_and_every_increment() {
    // Under LFU a fresh key scores as low as every other key read once: only the rule that a
    // write never evicts its own key keeps it.
    storm_then_count(Eviction::Lfu, Backend::Compact);
}

/// Rounds of a [`Storm`] then a [`Counting`] phase, with every invariant checked after each.
fn storm_then_count(eviction: Eviction, backend: Backend) {
    let seed = seed();
    let clock = Arc::new(ManualClock::new(T0));
    // About 2,000 entries of ~100 B: most segments hold one to three, so eviction takes
    // the nearly-empty path (several other segments) as well as the usual one.
    let config = StoreConfig {
        max_memory: 200_000,
        eviction,
        backend,
    };
    let store = Store::new(config, clock.clone());
    for round in 0..3u64 {
        let seed = seed.wrapping_add(round * 1_000);
        let before = store.stats();
        run_phase(&store, &clock, seed, Storm { ops: 20_000 });
        store.check_invariants();
        let after = store.stats();
        assert!(
            after.evicted > before.evicted,
            "the storm evicted nothing: {after:?}"
        );
        assert!(
            after.expired > before.expired,
            "the storm expired nothing: {after:?}"
        );
        store.run_pending_tasks();
        assert!(store.stats().used_memory <= 200_000);
        store.check_invariants();

        store.flush();
        let evicted = store.stats().evicted;
        let replies = run_phase(&store, &clock, seed ^ 0xC0FFEE, Counting { ops: 8_000 });
        store.check_invariants();
        assert_eq!(
            store.stats().evicted,
            evicted,
            "counters must not be evicted"
        );
        let mut merged: HashMap<u64, Vec<i64>> = HashMap::new();
        for per_thread in replies {
            for (c, r) in per_thread {
                merged.entry(c).or_default().extend(r);
            }
        }
        for c in 0..COUNTERS {
            let mut got = merged.remove(&c).unwrap_or_default();
            got.sort_unstable();
            let acked = got.len() as i64;
            // Every INCR acknowledged, each reply given once: no increment lost or doubled.
            assert_eq!(got, (1..=acked).collect::<Vec<_>>(), "counter n{c}");
            let stored = store.peek_str(format!("n{c}").as_bytes()).map(|v| v.data);
            let want = (acked > 0).then(|| Bytes::from(acked.to_string()));
            assert_eq!(stored, want, "counter n{c}");
        }
        assert_eq!(store.repaired_segments(), 0);
    }
}

/// Fills a store with keys spread over every segment, some with deadlines.
fn filled() -> (Store, Vec<(Vec<u8>, Value)>) {
    let store = Store::new(StoreConfig::default(), Arc::new(ManualClock::new(T0)));
    let mut rng = Rng::new(5);
    let mut keys = Vec::new();
    for i in 0..SEGMENTS * 4 {
        let key = format!("key{i}").into_bytes();
        let deadline_ms = if i % 3 == 0 { T0 + 60_000 } else { 0 };
        let value = Value {
            data: value_for(&key, &mut rng),
            deadline_ms,
        };
        store.set(&key, value.clone()).unwrap();
        keys.push((key, value));
    }
    (store, keys)
}

/// Returns a persistent key written after another persistent key of its segment: it is not
/// the segment's first entry without a deadline, so EXPIRE on it swaps two entries.
fn swappable(keys: &[(Vec<u8>, Value)]) -> Vec<u8> {
    let mut persistent_in = vec![0; SEGMENTS];
    for (key, value) in keys {
        if value.deadline_ms == 0 {
            let s = segment_of(key_hash(key));
            persistent_in[s] += 1;
            if persistent_in[s] == 2 {
                return key.clone();
            }
        }
    }
    unreachable!("4 keys a segment on average")
}

#[test]
fn a_panic_halfway_through_a_segment_change_is_repaired_before_the_next_operation() {
    // Each point is inside a change that moves entries or the charge; the operation is one
    // that passes through it with the segment holding several entries.
    type Op = fn(&Store, &[u8]);
    let cases: [(&str, Op); 5] = [
        ("segment.remove", |s, k| {
            s.remove(k);
        }),
        ("segment.insert", |s, _| {
            let v = Value {
                data: Bytes::from_static(b"new|"),
                deadline_ms: T0 + 1_000,
            };
            s.set(b"new", v).unwrap();
        }),
        ("segment.swap", |s, k| expire(s, k, 1_000)),
        ("store.put", |s, _| {
            s.set(b"new", Value::persistent(Bytes::from_static(b"new|")))
                .unwrap();
        }),
        ("update closure", |s, k| {
            let _ = s.update(k, |_| -> (Update, ()) {
                panic!("injected fault in a closure")
            });
        }),
    ];
    for (point, op) in cases {
        let (store, keys) = filled();
        let victim = &swappable(&keys);
        hooks::arm(point);
        let result = catch_unwind(AssertUnwindSafe(|| op(&store, victim)));
        hooks::arm("");
        assert!(result.is_err(), "{point}: the fault did not fire");

        // The next operation on that segment rebuilds it; every other key is intact.
        store.check_invariants();
        assert_eq!(store.repaired_segments(), 1, "{point}");
        for (key, value) in &keys {
            if key == victim {
                continue;
            }
            assert_eq!(store.peek_str(key).as_ref(), Some(value), "{point}");
        }
        // The store keeps serving, that segment included.
        store.remove(victim);
        assert_eq!(
            (incr(&store, victim), incr(&store, victim)),
            (1, 2),
            "{point}"
        );
        store
            .set(b"new", Value::persistent(Bytes::from_static(b"new|")))
            .unwrap();
        assert_eq!(
            store.get_str(b"new").map(|v| v.data),
            Some(Bytes::from_static(b"new|"))
        );
        store.check_invariants();
        assert_eq!(store.repaired_segments(), 1, "{point}: repaired once");
    }
}
