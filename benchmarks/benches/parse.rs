//! Request parsing and reply encoding: one request, a 100-command pipeline, command lookup.

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use protocol::{Command, Decoder, Frame, Protocol};

fn set_request() -> Vec<u8> {
    b"*3\r\n$3\r\nSET\r\n$16\r\nkey:000000012345\r\n$64\r\n"
        .iter()
        .copied()
        .chain([b'v'; 64])
        .chain(*b"\r\n")
        .collect()
}

fn decode(c: &mut Criterion) {
    let one = set_request();
    let pipeline: Vec<u8> = one.repeat(100);
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("set_1", |b| {
        let mut decoder = Decoder::default();
        b.iter(|| {
            let mut buf = BytesMut::from(&one[..]);
            black_box(decoder.decode(&mut buf).unwrap())
        })
    });
    g.throughput(Throughput::Elements(100));
    g.bench_function("set_pipeline_100", |b| {
        let mut decoder = Decoder::default();
        b.iter(|| {
            let mut buf = BytesMut::from(&pipeline[..]);
            while let Some(req) = decoder.decode(&mut buf).unwrap() {
                black_box(req);
            }
        })
    });
    g.finish();
}

fn lookup(c: &mut Criterion) {
    let one = set_request();
    c.bench_function("command_from_request", |b| {
        let mut decoder = Decoder::default();
        b.iter(|| {
            let mut buf = BytesMut::from(&one[..]);
            let req = decoder.decode(&mut buf).unwrap().unwrap();
            black_box(Command::from_request(req).unwrap())
        })
    });
    c.bench_function("lookup_name", |b| {
        b.iter(|| black_box(protocol::command::lookup(black_box(b"incrbyfloat"))))
    });
}

fn encode(c: &mut Criterion) {
    let frames: Vec<Frame> = (0..10)
        .map(|i| Frame::bulk(format!("value-{i:058}").as_bytes()))
        .collect();
    let array = Frame::Array(frames);
    let mut g = c.benchmark_group("encode");
    g.bench_function("ours_mget_10", |b| {
        let mut out = BytesMut::with_capacity(4096);
        b.iter(|| {
            out.clear();
            protocol::encode::encode(black_box(&array), Protocol::Resp2, &mut out);
        })
    });
    let theirs = redis_protocol::resp2::types::BytesFrame::Array(
        (0..10)
            .map(|i| {
                redis_protocol::resp2::types::BytesFrame::BulkString(
                    format!("value-{i:058}").into_bytes().into(),
                )
            })
            .collect(),
    );
    g.bench_function("redis_protocol_mget_10", |b| {
        let mut out = BytesMut::with_capacity(4096);
        b.iter(|| {
            out.clear();
            redis_protocol::resp2::encode::extend_encode(&mut out, black_box(&theirs), false)
                .unwrap();
        })
    });
    g.finish();
}

criterion_group!(benches, decode, lookup, encode);
criterion_main!(benches);
