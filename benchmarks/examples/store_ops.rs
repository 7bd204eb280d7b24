//! Runs one store operation many times, for an instruction count per operation under callgrind
//! (criterion's timings are noisy on a shared 2-core machine; instruction counts are not).
//!
//! ```text
//! cargo build --release -p jumpcache-benchmarks --example store_ops
//! valgrind --tool=callgrind --toggle-collect='*store_ops::run*' \
//!     target/release/examples/store_ops set 200000
//! ```
//! Ir collected / ops = instructions per operation. Ops: `get`, `set`, `update`, `miss`.

use std::sync::Arc;

use bytes::Bytes;
use server::clock::SystemClock;
use server::store::{Store, StoreConfig, Update, Value};

const KEYS: usize = 100_000;

fn main() {
    let mut args = std::env::args().skip(1);
    let op = args.next().unwrap_or_else(|| "get".into());
    let ops: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(200_000);
    let store = Store::new(StoreConfig::default(), Arc::new(SystemClock));
    let keys: Vec<Vec<u8>> = (0..KEYS)
        .map(|i| format!("key:{i:012}").into_bytes())
        .collect();
    let value = vec![b'v'; 64];
    for k in &keys {
        store
            .set(k, Value::persistent(Bytes::copy_from_slice(&value)))
            .unwrap();
    }
    let misses: Vec<Vec<u8>> = (0..KEYS)
        .map(|i| format!("nokey:{i:010}").into_bytes())
        .collect();
    let found = run(&store, &op, ops, &keys, &misses, &value);
    println!("{op} x {ops}: {found} found, {} keys", store.len());
}

/// The measured loop (callgrind collects only inside it).
#[inline(never)]
fn run(
    store: &Store,
    op: &str,
    ops: usize,
    keys: &[Vec<u8>],
    misses: &[Vec<u8>],
    value: &[u8],
) -> usize {
    let mut found = 0;
    for i in 0..ops {
        let key = &keys[(i * 7919) % keys.len()];
        match op {
            "get" => found += usize::from(matches!(store.get(key), Ok(Some(_)))),
            "miss" => {
                found += usize::from(matches!(store.get(&misses[i % misses.len()]), Ok(Some(_))))
            }
            "set" => store
                .set(key, Value::persistent(Bytes::copy_from_slice(value)))
                .unwrap(),
            "update" => {
                let v = Value::persistent(Bytes::copy_from_slice(value));
                store.update(key, |_| (Update::Put(v), ())).unwrap()
            }
            _ => panic!("unknown op {op}"),
        }
    }
    found
}
