//! Routing: key -> bucket, planning a multi-key command, merging replies.

use bytes::{Bytes, BytesMut};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use protocol::{Command, Decoder};
use router::path::merge::merge;
use router::path::plan::{plan, Plan};
use router::path::topology::Topology;

fn command(args: &[&[u8]]) -> Command {
    let mut buf = BytesMut::new();
    protocol::encode::request(&mut buf, args.iter().copied());
    let req = Decoder::default().decode(&mut buf).unwrap().unwrap();
    Command::from_request(req).unwrap()
}

fn bucket(c: &mut Criterion) {
    c.bench_function("key_to_bucket_16", |b| {
        b.iter(|| router::path::ring::bucket(black_box(b"user:1000:profile"), black_box(16)))
    });
    c.bench_function("key_to_bucket_hash_tag", |b| {
        b.iter(|| router::path::ring::bucket(black_box(b"user:{1000}:profile"), black_box(16)))
    });
}

fn plan_and_merge(c: &mut Criterion) {
    let topology = Topology::new(
        (0..3)
            .map(|i| vec![format!("127.0.0.1:{}", 7001 + i)])
            .collect(),
    );
    let keys: Vec<Vec<u8>> = (0..10).map(|i| format!("key:{i}").into_bytes()).collect();
    let mut args: Vec<&[u8]> = vec![b"MGET"];
    args.extend(keys.iter().map(|k| k.as_slice()));
    let mget = command(&args);
    c.bench_function("plan_mget_10", |b| {
        b.iter(|| black_box(plan(black_box(&mget), &topology)))
    });
    let Plan::Split { parts, merge: how } = plan(&mget, &topology) else {
        panic!("MGET splits")
    };
    let replies: Vec<Bytes> = parts
        .iter()
        .map(|p| {
            let mut out = BytesMut::new();
            protocol::encode::int_line(&mut out, b'*', p.positions.len() as i64);
            for _ in &p.positions {
                protocol::encode::bulk(&mut out, &[b'v'; 64]);
            }
            out.freeze()
        })
        .collect();
    c.bench_function("merge_mget_10", |b| {
        b.iter(|| {
            black_box(merge(
                how,
                &parts,
                replies
                    .iter()
                    .cloned()
                    .map(|r| Ok(router::shards::Reply::Raw(r)))
                    .collect(),
            ))
        })
    });
}

criterion_group!(benches, bucket, plan_and_merge);
criterion_main!(benches);
