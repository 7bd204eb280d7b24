//! The shard's store: GET, SET and read-modify-write update through `Store`.

use std::sync::Arc;

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use server::clock::SystemClock;
use server::store::{Store, StoreConfig, Update, Value};

fn store(c: &mut Criterion) {
    let store = Store::new(StoreConfig::default(), Arc::new(SystemClock));
    let keys: Vec<Vec<u8>> = (0..100_000)
        .map(|i| format!("key:{i:012}").into_bytes())
        .collect();
    let value = Bytes::from(vec![b'v'; 64]);
    for k in &keys {
        store
            .update(k, |_| (Update::Put(Value::persistent(value.clone())), ()))
            .unwrap();
    }
    let mut i = 0;
    c.bench_function("store_get_hit", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            black_box(store.get(&keys[i]))
        })
    });
    c.bench_function("store_set_blind", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            store
                .set(&keys[i], Value::persistent(Bytes::copy_from_slice(&value)))
                .unwrap()
        })
    });
    c.bench_function("store_update_existing", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            let v = Value::persistent(Bytes::copy_from_slice(&value));
            store.update(&keys[i], |_| (Update::Put(v), ())).unwrap()
        })
    });
}

criterion_group!(benches, store);
criterion_main!(benches);
