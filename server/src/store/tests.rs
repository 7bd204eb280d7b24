//! The store's behaviour against a manual clock.

use std::collections::HashSet;
use std::thread;

use super::*;
use crate::clock::ManualClock;
use protocol::command::SCAN_CURSOR_BITS;

const T0: u64 = 1_700_000_000_000;

fn store_with(backend: Backend, max_memory: u64, eviction: Eviction) -> (Store, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let config = StoreConfig {
        max_memory,
        eviction,
        backend,
    };
    (Store::new(config, clock.clone()), clock)
}

fn store(backend: Backend) -> (Store, Arc<ManualClock>) {
    store_with(backend, 1 << 30, Eviction::Lru)
}

/// Returns what the backend charges per entry on top of its key and value.
fn overhead(backend: Backend) -> u32 {
    Store::new(
        StoreConfig {
            backend,
            ..StoreConfig::default()
        },
        Arc::new(ManualClock::new(T0)),
    )
    .entry_overhead()
}

fn put(store: &Store, key: &str, data: &str, deadline_ms: u64) {
    let value = Value {
        data: Bytes::copy_from_slice(data.as_bytes()),
        deadline_ms,
    };
    store
        .update(key.as_bytes(), |_| (Update::Put(value), ()))
        .unwrap();
}

fn expired_keys_are_never_returned_after_their_deadline(b: Backend) {
    let (store, clock) = store(b);
    put(&store, "k", "v", T0 + 10_000);
    put(&store, "forever", "v", 0);
    assert_eq!(store.get_str(b"k").map(|v| v.data), Some(Bytes::from("v")));
    clock.advance(10_000);
    assert!(
        store.peek_str(b"k").is_some(),
        "live at its deadline's own ms"
    );
    clock.advance(1);
    assert_eq!(store.get_str(b"k"), None);
    assert_eq!(store.peek_str(b"k"), None);
    assert!(store.keys(b"*").iter().all(|k| k.as_ref() != b"k"));
    assert_eq!(store.scan(0, None, 100).1, vec![Bytes::from("forever")]);
    let seen = store.update(b"k", |v| (Update::Keep, v.is_some())).unwrap();
    assert!(!seen);
    let stats = store.stats();
    assert_eq!(stats.expired, 1, "counted once");
    assert_eq!(stats.keys, 1);
    assert_eq!(stats.expires, 0);
    assert_eq!((stats.hits, stats.misses), (1, 1));
}

fn update_sees_an_expired_key_as_absent_and_counts_it(b: Backend) {
    let (store, clock) = store(b);
    put(&store, "k", "old", T0 + 5);
    clock.advance(6);
    let saw = store
        .update(b"k", |v| {
            (
                Update::Put(Value::persistent(Bytes::from("new"))),
                v.cloned(),
            )
        })
        .unwrap();
    assert_eq!(saw, None);
    assert_eq!(
        store.get_str(b"k").map(|v| v.data),
        Some(Bytes::from("new"))
    );
    let stats = store.stats();
    assert_eq!((stats.expired, stats.expires, stats.keys), (1, 0, 1));
}

fn a_put_with_a_past_deadline_removes_the_key(b: Backend) {
    let (store, _clock) = store(b);
    put(&store, "k", "v", 0);
    put(&store, "k", "v", T0 - 1);
    assert_eq!(store.get_str(b"k"), None);
    assert_eq!(store.len(), 0);
    assert_eq!(store.stats().expired, 1);
}

fn expires_counter_follows_keys_with_deadlines(b: Backend) {
    let (store, _clock) = store(b);
    put(&store, "a", "v", T0 + 1_000);
    put(&store, "b", "v", T0 + 1_000);
    put(&store, "c", "v", 0);
    assert_eq!(store.stats().expires, 2);
    put(&store, "a", "v", 0);
    assert!(store.remove(b"b"));
    assert!(!store.remove(b"b"));
    assert_eq!(store.stats().expires, 0);
    put(&store, "d", "v", T0 + 1_000);
    store.flush();
    let stats = store.stats();
    assert_eq!((stats.keys, stats.expires, stats.used_memory), (0, 0, 0));
}

fn small_max_memory_evicts_oldest_first_with_lru(b: Backend) {
    // Exactly the weight of one key below: "k0000" + "v" + overhead.
    let per_entry = u64::from(overhead(b)) + 6;
    let (store, _clock) = store_with(b, per_entry * 100, Eviction::Lru);
    for i in 0..300 {
        put(&store, &format!("k{i:04}"), "v", 0);
        if i % 50 == 0 {
            store.run_pending_tasks();
        }
    }
    store.run_pending_tasks();
    let stats = store.stats();
    assert!(stats.used_memory <= stats.max_memory, "{stats:?}");
    assert!(stats.keys <= 100 && stats.keys >= 90, "{stats:?}");
    assert_eq!(stats.evicted, 300 - stats.keys);
    assert!(store.peek_str(b"k0000").is_none(), "oldest evicted");
    assert!(store.peek_str(b"k0299").is_some(), "newest kept");
}

fn a_value_larger_than_max_memory_is_refused_and_changes_nothing(b: Backend) {
    let (store, _clock) = store_with(b, 1_000, Eviction::Lru);
    put(&store, "k", "small", 0);
    let big = Value::persistent(Bytes::from(vec![b'x'; 1_000]));
    let result = store.update(b"k", |_| (Update::Put(big), ()));
    assert_eq!(result, Err(StoreError::OutOfMemory));
    assert_eq!(
        store.get_str(b"k").map(|v| v.data),
        Some(Bytes::from("small"))
    );
}

fn lfu_store_is_constructible_and_usable(b: Backend) {
    let (store, _clock) = store_with(b, 1 << 20, Eviction::Lfu);
    put(&store, "k", "v", 0);
    assert_eq!(store.get_str(b"k").map(|v| v.data), Some(Bytes::from("v")));
    assert_eq!(StoreConfig::default().eviction, Eviction::Lru);
}

fn concurrent_increments_are_exact(b: Backend) {
    let (store, _clock) = store(b);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            thread::spawn(move || {
                for _ in 0..500 {
                    store
                        .update(b"n", |v| {
                            let n: u64 = v
                                .map(|v| std::str::from_utf8(&v.data).unwrap().parse().unwrap())
                                .unwrap_or(0);
                            let next = Value::persistent(Bytes::from((n + 1).to_string()));
                            (Update::Put(next), ())
                        })
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        store.get_str(b"n").map(|v| v.data),
        Some(Bytes::from("4000"))
    );
}

fn full_scan(store: &Store, count: usize, mut during: impl FnMut(usize)) -> Vec<Bytes> {
    let mut cursor = 0;
    let mut seen = Vec::new();
    for call in 0.. {
        let (next, keys) = store.scan(cursor, None, count);
        assert!(next < 1 << SCAN_CURSOR_BITS);
        seen.extend(keys);
        during(call);
        if next == 0 {
            break;
        }
        assert!(next > cursor, "cursors only move forward");
        cursor = next;
    }
    seen
}

fn scan_returns_every_key_exactly_once(b: Backend) {
    let (store, _clock) = store(b);
    for i in 0..1_000 {
        put(&store, &format!("key:{i}"), "v", 0);
    }
    let seen = full_scan(&store, 7, |_| {});
    assert_eq!(seen.len(), 1_000);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 1_000);
}

fn scan_returns_every_lasting_key_while_keys_are_added(b: Backend) {
    let (store, _clock) = store(b);
    for i in 0..500 {
        put(&store, &format!("old:{i}"), "v", 0);
    }
    let mut added = 0;
    let seen = full_scan(&store, 10, |call| {
        for j in 0..20 {
            put(&store, &format!("new:{call}:{j}"), "v", 0);
            added += 1;
        }
    });
    let seen: HashSet<_> = seen.into_iter().collect();
    for i in 0..500 {
        assert!(seen.contains(format!("old:{i}").as_bytes()), "old:{i}");
    }
    assert!(added > 0);
}

fn scan_filters_by_pattern_after_selection(b: Backend) {
    let (store, _clock) = store(b);
    for i in 0..100 {
        put(&store, &format!("a{i}"), "v", 0);
        put(&store, &format!("b{i}"), "v", 0);
    }
    let mut cursor = 0;
    let mut seen = Vec::new();
    loop {
        let (next, keys) = store.scan(cursor, Some(b"a*"), 10);
        seen.extend(keys);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 100);
    assert!(seen.iter().all(|k| k.starts_with(b"a")));
    assert_eq!(store.scan(1 << SCAN_CURSOR_BITS, None, 10), (0, vec![]));
}

fn keys_and_random_key_see_only_live_keys(b: Backend) {
    let (store, clock) = store(b);
    assert_eq!(store.random_key(), None);
    put(&store, "hello", "v", 0);
    put(&store, "hallo", "v", 0);
    put(&store, "gone", "v", T0 + 1);
    clock.advance(2);
    let mut keys = store.keys(b"h?llo");
    keys.sort();
    assert_eq!(keys, vec![Bytes::from("hallo"), Bytes::from("hello")]);
    assert_eq!(store.keys(b"*").len(), 2);
    for _ in 0..20 {
        let k = store.random_key().unwrap();
        assert!(k.as_ref() == b"hello" || k.as_ref() == b"hallo");
    }
}

fn used_by(b: Backend, keys: usize, key_len: usize, value_len: usize) -> u64 {
    keys as u64 * (key_len + value_len) as u64 + keys as u64 * u64::from(overhead(b))
}

fn used_memory_is_the_exact_sum_of_weights_through_every_kind_of_write(b: Backend) {
    let (store, clock) = store(b);
    for i in 0..1_000 {
        put(
            &store,
            &format!("k{i:04}"),
            "12345",
            if i % 3 == 0 { T0 + 60_000 } else { 0 },
        );
    }
    assert_eq!(store.stats().used_memory, used_by(b, 1_000, 5, 5));
    for i in 0..100 {
        put(&store, &format!("k{i:04}"), "1234567890", 0); // grows 100 values by 5
    }
    for i in 100..200 {
        assert!(store.remove(format!("k{i:04}").as_bytes()));
    }
    assert_eq!(store.stats().used_memory, used_by(b, 900, 5, 5) + 500);
    clock.advance(60_001);
    if b == Backend::Moka {
        // moka expires keys nobody reads on its own clock, which the manual clock does not
        // move (see moka_reclaims_expired_keys_nobody_reads): here reads find them expired.
        for i in 0..1_000 {
            store.peek_str(format!("k{i:04}").as_bytes());
        }
    }
    store.run_pending_tasks();
    let stats = store.stats();
    // Keys 0..1000 step 3 expired, less those among 0..100 made persistent or 100..200 removed.
    let expired = (200..1_000).filter(|i| i % 3 == 0).count() as u64;
    assert_eq!(stats.expired, expired);
    assert_eq!(stats.keys, 900 - expired);
    assert_eq!(stats.expires, 0);
    assert_eq!(
        stats.used_memory,
        used_by(b, 900 - expired as usize, 5, 5) + 500
    );
    store.flush();
    assert_eq!(store.stats().used_memory, 0);
}

#[test]
fn active_expiry_removes_expired_keys_nobody_reads() {
    let (store, clock) = store(Backend::Compact);
    for i in 0..5_000 {
        put(&store, &format!("t{i}"), "v", T0 + 100);
        put(&store, &format!("p{i}"), "v", 0);
    }
    assert_eq!(store.stats().expires, 5_000);
    store.run_pending_tasks();
    assert_eq!(store.len(), 10_000, "nothing expired yet");
    clock.advance(101);
    // Each run has a time budget (and a debug build under parallel tests is slow): a few
    // runs, each resuming where the last stopped, get through every segment.
    for _ in 0..1_000 {
        store.run_pending_tasks();
        if store.stats().expires == 0 {
            break;
        }
    }
    let stats = store.stats();
    assert_eq!(
        (stats.keys, stats.expires, stats.expired),
        (5_000, 0, 5_000)
    );
    let persistent: u64 = (0..5_000)
        .map(|i| format!("p{i}").len() as u64 + 1 + u64::from(ENTRY_OVERHEAD))
        .sum();
    assert_eq!(stats.used_memory, persistent);
}

#[test]
fn active_expiry_reports_it_is_behind_until_expire_more_has_caught_up() {
    let (store, clock) = store(Backend::Compact);
    let expiring = 200_000;
    for i in 0..expiring {
        put(&store, &format!("t{i}"), "v", T0 + 100);
    }
    for i in 0..1_000 {
        put(&store, &format!("p{i}"), "v", 0);
    }
    assert!(!store.run_pending_tasks(), "nothing expired: not behind");
    clock.advance(101);
    // 200,000 removals take far more than one run's 5 ms, and every sample is expired.
    assert!(
        store.run_pending_tasks(),
        "out of time with every sample expired"
    );
    let mut slices = 0;
    while store.expire_more(std::time::Duration::from_millis(1)) {
        slices += 1;
        assert!(slices < 1_000_000, "never caught up");
    }
    let stats = store.stats();
    assert_eq!(
        (stats.keys, stats.expires, stats.expired),
        (1_000, 0, expiring as u64)
    );
    assert!(!store.run_pending_tasks(), "caught up");
}

fn a_fresh_set_is_kept_even_when_it_alone_fills_the_bound(b: Backend) {
    let max = u64::from(overhead(b)) * 3 + 3_000;
    let (store, _clock) = store_with(b, max, Eviction::Lru);
    for i in 0..50 {
        put(&store, &format!("small{i}"), "v", 0);
    }
    // "big" + its value + overhead is exactly the bound: every other key must go.
    let big = "x".repeat(usize::try_from(max - 3 - u64::from(overhead(b))).unwrap());
    put(&store, "big", &big, 0);
    assert_eq!(store.get_str(b"big").map(|v| v.data.len()), Some(big.len()));
    let stats = store.stats();
    assert_eq!((stats.keys, stats.evicted, stats.used_memory), (1, 50, max));
}

fn lru_keeps_a_key_that_is_read_while_others_are_written(b: Backend) {
    let per_entry = u64::from(overhead(b)) + 6;
    let (store, _clock) = store_with(b, per_entry * 1_000 * 8, Eviction::Lru);
    for i in 0..8_000 {
        put(&store, &format!("k{i:04}"), "v", 0);
    }
    for i in 0..4_000 {
        assert!(store.get_str(b"k0000").is_some(), "lost after {i} writes");
        put(&store, &format!("n{i:04}"), "v", 0);
    }
    let stats = store.stats();
    assert_eq!(stats.evicted, 4_000);
    let old_left = (1..8_000)
        .filter(|i| store.peek_str(format!("k{i:04}").as_bytes()).is_some())
        .count();
    let new_left = (0..4_000)
        .filter(|i| store.peek_str(format!("n{i:04}").as_bytes()).is_some())
        .count();
    assert!(
        new_left > 3_500 && old_left < 4_500,
        "new {new_left}, old {old_left}"
    );
}

fn lfu_evicts_keys_read_rarely_before_keys_read_often(b: Backend) {
    let per_entry = u64::from(overhead(b)) + 6;
    let (store, _clock) = store_with(b, per_entry * 8_000, Eviction::Lfu);
    for i in 0..8_000 {
        put(&store, &format!("k{i:04}"), "v", 0);
    }
    for _ in 0..20 {
        for i in 0..1_000 {
            store.get_str(format!("k{i:04}").as_bytes());
        }
    }
    for i in 0..4_000 {
        put(&store, &format!("n{i:04}"), "v", 0);
    }
    let hot_left = (0..1_000)
        .filter(|i| store.peek_str(format!("k{i:04}").as_bytes()).is_some())
        .count();
    assert!(hot_left > 950, "hot keys left: {hot_left}");
}

fn scan_pages_hold_count_keys_and_a_full_scan_is_one_pass(b: Backend) {
    let (store, _clock) = store(b);
    for i in 0..20_000 {
        put(&store, &format!("key:{i}"), "v", 0);
    }
    let mut pages = 0;
    let seen = full_scan(&store, 100, |_| pages += 1);
    assert_eq!(seen.len(), 20_000);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 20_000);
    // Pages are `count` keys (the last may be short; a page is never cut at a hash tie here).
    assert_eq!(pages, 200);
    let (_, first) = store.scan(0, None, 10);
    assert_eq!(first.len(), 10);
}

fn scan_from_a_cursor_in_a_segment_returns_only_keys_at_or_after_it(b: Backend) {
    let (store, _clock) = store(b);
    for i in 0..3_000 {
        put(&store, &format!("m{i}"), "v", 0);
    }
    let mid = (1u64 << (SCAN_CURSOR_BITS - 1)) + 12_345;
    let (next, page) = store.scan(mid, None, 5_000);
    let expected: HashSet<Bytes> = store
        .keys(b"*")
        .into_iter()
        .filter(|k| segment::key_hash(k) >> (64 - SCAN_CURSOR_BITS) >= mid)
        .collect();
    assert_eq!(next, 0);
    assert_eq!(page.into_iter().collect::<HashSet<_>>(), expected);
}

fn eviction_starts_only_when_the_bound_is_crossed(b: Backend) {
    let per_entry = u64::from(overhead(b)) + 6;
    let (store, _clock) = store_with(b, per_entry * 500, Eviction::Lru);
    for i in 0..500 {
        put(&store, &format!("k{i:04}"), "v", 0);
    }
    store.run_pending_tasks();
    assert_eq!((store.len(), store.stats().evicted), (500, 0));
    put(&store, "k0500", "v", 0);
    store.run_pending_tasks();
    assert_eq!((store.len(), store.stats().evicted), (500, 1));
}

#[test]
fn moka_reclaims_expired_keys_nobody_reads() {
    let config = StoreConfig {
        backend: Backend::Moka,
        ..StoreConfig::default()
    };
    let store = Store::new(config, Arc::new(crate::clock::SystemClock));
    let now = store.now_ms();
    for i in 0..2_000 {
        put(&store, &format!("t{i}"), "v", now + 500);
        put(&store, &format!("p{i}"), "v", 0);
    }
    assert!(store.stats().expires > 0);
    let started = std::time::Instant::now();
    // moka's timer wheel removes them once their deadline passes and its pending work runs.
    while store.stats().expires > 0 {
        assert!(started.elapsed().as_secs() < 10, "{:?}", store.stats());
        thread::sleep(std::time::Duration::from_millis(10));
        store.run_pending_tasks();
    }
    let stats = store.stats();
    assert_eq!((stats.keys, stats.expired), (2_000, 2_000), "{stats:?}");
    let persistent: u64 = (0..2_000)
        .map(|i| format!("p{i}").len() as u64 + 1 + u64::from(MOKA_ENTRY_OVERHEAD))
        .sum();
    assert_eq!(stats.used_memory, persistent);
    assert!(store.keys(b"t*").is_empty());
}

on_both_backends!(
    expired_keys_are_never_returned_after_their_deadline,
    update_sees_an_expired_key_as_absent_and_counts_it,
    a_put_with_a_past_deadline_removes_the_key,
    expires_counter_follows_keys_with_deadlines,
    small_max_memory_evicts_oldest_first_with_lru,
    a_value_larger_than_max_memory_is_refused_and_changes_nothing,
    lfu_store_is_constructible_and_usable,
    concurrent_increments_are_exact,
    scan_returns_every_key_exactly_once,
    scan_returns_every_lasting_key_while_keys_are_added,
    scan_filters_by_pattern_after_selection,
    keys_and_random_key_see_only_live_keys,
    used_memory_is_the_exact_sum_of_weights_through_every_kind_of_write,
    a_fresh_set_is_kept_even_when_it_alone_fills_the_bound,
    lru_keeps_a_key_that_is_read_while_others_are_written,
    lfu_evicts_keys_read_rarely_before_keys_read_often,
    scan_pages_hold_count_keys_and_a_full_scan_is_one_pass,
    scan_from_a_cursor_in_a_segment_returns_only_keys_at_or_after_it,
    eviction_starts_only_when_the_bound_is_crossed,
);
