//! `merge` with good, bad and missing inputs: never a panic, never a guess.

use super::*;
use bytes::Bytes;
use std::sync::Arc;

use crate::shards::{Reply, ShardError, ShardErrorKind};

// Shaped as the handler hands replies to `merge`, so call sites read like shard answers.
#[allow(clippy::unnecessary_wraps)]
fn ok(raw: &'static [u8]) -> ShardReply {
    Ok(Reply::Raw(Bytes::from_static(raw)))
}

/// The same reply as an in-process shard returns it: a value, not bytes.
fn local(raw: &'static [u8]) -> ShardReply {
    Ok(Reply::Frame(protocol::reply::parse(raw).unwrap()))
}

fn down(shard: usize) -> ShardReply {
    Err(ShardError {
        shard,
        addr: Arc::from("127.0.0.1:7002"),
        kind: ShardErrorKind::Unavailable,
        request_sent: false,
    })
}

fn part(shard: usize, positions: &[usize]) -> Part {
    Part {
        shard,
        positions: positions.to_vec(),
    }
}

#[test]
fn mget_values_return_in_the_clients_key_order() {
    let parts = [part(1, &[0, 2]), part(0, &[1])];
    let got = merge(
        Merge::Reorder { len: 3 },
        &parts,
        vec![ok(b"*2\r\n$1\r\na\r\n$-1\r\n"), ok(b"*1\r\n$1\r\nb\r\n")],
    );
    assert_eq!(
        got,
        Frame::Array(vec![Frame::bulk(b"a"), Frame::bulk(b"b"), Frame::Null])
    );
}

#[test]
fn mget_with_a_wrong_shape_or_count_is_an_error() {
    let parts = [part(1, &[0, 2]), part(0, &[1])];
    let m = Merge::Reorder { len: 3 };
    for replies in [
        vec![ok(b"*1\r\n$1\r\na\r\n"), ok(b"*1\r\n$1\r\nb\r\n")],
        vec![ok(b":1\r\n"), ok(b"*1\r\n$1\r\nb\r\n")],
        vec![ok(b"*2\r\n$1\r\na\r\n$-1\r\n")],
        vec![ok(b"garbage"), ok(b"*1\r\n$1\r\nb\r\n")],
    ] {
        assert_eq!(merge(m, &parts, replies), Frame::error(UNEXPECTED));
    }
    let bad_positions = [part(1, &[0, 7]), part(0, &[1])];
    let replies = vec![ok(b"*2\r\n$1\r\na\r\n$-1\r\n"), ok(b"*1\r\n$1\r\nb\r\n")];
    assert_eq!(merge(m, &bad_positions, replies), Frame::error(UNEXPECTED));
    let got = merge(m, &parts, vec![ok(b"*2\r\n$1\r\na\r\n$-1\r\n"), down(0)]);
    assert_eq!(got, Frame::error("ERR shard 127.0.0.1:7002 unavailable"));
}

#[test]
fn counts_are_summed_and_errors_pass_through() {
    assert_eq!(
        merge(Merge::Sum, &[], vec![ok(b":2\r\n"), ok(b":3\r\n")]),
        Frame::Integer(5)
    );
    assert_eq!(
        merge(Merge::Sum, &[], vec![ok(b":2\r\n"), ok(b"-ERR boom\r\n")]),
        Frame::error("ERR boom")
    );
    assert_eq!(
        merge(Merge::Sum, &[], vec![ok(b"+OK\r\n")]),
        Frame::error(UNEXPECTED)
    );
    let max = ok(b":9223372036854775807\r\n");
    assert_eq!(
        merge(Merge::Sum, &[], vec![max, ok(b":1\r\n")]),
        Frame::error(UNEXPECTED)
    );
}

#[test]
fn mset_is_ok_only_when_every_part_is() {
    assert_eq!(
        merge(Merge::AllOk, &[], vec![ok(b"+OK\r\n"), ok(b"+OK\r\n")]),
        Frame::ok()
    );
    assert_eq!(
        merge(
            Merge::AllOk,
            &[],
            vec![ok(b"+OK\r\n"), ok(b"-OOM no room\r\n"), down(2)]
        ),
        Frame::error("OOM no room")
    );
    assert_eq!(
        merge(Merge::AllOk, &[], vec![ok(b":1\r\n")]),
        Frame::error(UNEXPECTED)
    );
}

#[test]
fn keys_concatenate_and_randomkey_skips_empty_shards() {
    let got = merge(
        Merge::Concat,
        &[],
        vec![ok(b"*1\r\n$1\r\na\r\n"), ok(b"*0\r\n")],
    );
    assert_eq!(got, Frame::Array(vec![Frame::bulk(b"a")]));
    assert_eq!(
        merge(Merge::AnyKey, &[], vec![ok(b"$-1\r\n"), ok(b"$-1\r\n")]),
        Frame::Null
    );
    assert_eq!(
        merge(
            Merge::AnyKey,
            &[],
            vec![ok(b"$-1\r\n"), down(1), ok(b"$1\r\nk\r\n")]
        ),
        Frame::bulk(b"k")
    );
    assert!(merge(Merge::AnyKey, &[], vec![down(1)]).is_error());
}

#[test]
fn scan_cursors_move_through_the_shards() {
    let reply = |raw: &'static [u8]| ok(raw);
    let keys = Frame::Array(vec![Frame::bulk(b"a")]);
    let got = scan(0, 3, reply(b"*2\r\n$2\r\n12\r\n*1\r\n$1\r\na\r\n"));
    assert_eq!(got, scan_reply(12, vec![Frame::bulk(b"a")]));
    let got = scan(1, 3, reply(b"*2\r\n$1\r\n0\r\n*1\r\n$1\r\na\r\n"));
    assert_eq!(
        got,
        Frame::Array(vec![
            Frame::Bulk(Bytes::from((2u64 << 48).to_string())),
            keys
        ])
    );
    assert_eq!(
        scan(2, 3, reply(b"*2\r\n$1\r\n0\r\n*0\r\n")),
        scan_reply(0, vec![])
    );
    assert_eq!(
        scan(2, 3, reply(b"*2\r\n$1\r\n5\r\n*0\r\n")),
        scan_reply((2 << 48) | 5, vec![])
    );
    assert!(
        scan(0, 3, reply(b"*2\r\n$15\r\n281474976710656\r\n*0\r\n")).is_error(),
        "2^48 is too big"
    );
    assert!(scan(0, 3, reply(b"*1\r\n$1\r\n0\r\n")).is_error());
    assert!(scan(0, 3, down(0)).is_error());
}

#[test]
fn in_process_replies_merge_as_socket_replies_do() {
    let parts = [
        Part {
            shard: 0,
            positions: vec![0, 2],
        },
        Part {
            shard: 1,
            positions: vec![1],
        },
    ];
    let a = b"*2\r\n$1\r\na\r\n$-1\r\n";
    let b = b"*1\r\n$1\r\nb\r\n";
    let reorder = Merge::Reorder { len: 3 };
    assert_eq!(
        merge(reorder, &parts, vec![local(a), local(b)]),
        merge(reorder, &parts, vec![ok(a), ok(b)])
    );
    assert_eq!(
        merge(Merge::Sum, &[], vec![local(b":2\r\n"), ok(b":3\r\n")]),
        Frame::Integer(5)
    );
    assert_eq!(
        merge(
            Merge::AllOk,
            &[],
            vec![local(b"-ERR no\r\n"), ok(b"+OK\r\n")]
        ),
        Frame::error("ERR no")
    );
}

#[test]
fn memory_stats_adds_every_groups_integers_by_name_and_recomputes_bytes_per_key() {
    let resp2 = ok(b"*8\r\n$10\r\nkeys.count\r\n:2\r\n$13\r\ndataset.bytes\r\n:200\r\n$18\r\nkeys.bytes-per-key\r\n:100\r\n$4\r\ndb.0\r\n*2\r\n$1\r\nx\r\n:1\r\n");
    let resp3 = local(b"%4\r\n$10\r\nkeys.count\r\n:1\r\n$13\r\ndataset.bytes\r\n:400\r\n$18\r\nkeys.bytes-per-key\r\n:400\r\n$4\r\ndb.0\r\n%1\r\n$1\r\nx\r\n:2\r\n");
    let bulk = |s: &str| Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()));
    assert_eq!(
        memory_stats(vec![resp2, resp3]),
        Frame::Map(vec![
            (bulk("keys.count"), Frame::Integer(3)),
            (bulk("dataset.bytes"), Frame::Integer(600)),
            (bulk("keys.bytes-per-key"), Frame::Integer(200)),
            (
                bulk("db.0"),
                Frame::Map(vec![(bulk("x"), Frame::Integer(3))])
            ),
        ])
    );
    assert_eq!(memory_stats(vec![ok(b":1\r\n")]), Frame::error(UNEXPECTED));
}

#[test]
fn set_algebra_across_groups_combines_the_members() {
    let parts = [part(0, &[0, 2]), part(1, &[1])];
    let inter = |op| {
        merge(
            Merge::Sets(op),
            &parts,
            vec![
                ok(b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"),
                local(b"*2\r\n$1\r\nc\r\n$1\r\na\r\n"),
            ],
        )
    };
    let set = |items: &[&'static [u8]]| {
        Frame::Set(
            items
                .iter()
                .map(|i| Frame::Bulk(Bytes::from_static(i)))
                .collect(),
        )
    };
    assert_eq!(inter(SetOp::Inter), set(&[b"a", b"c"]));
    assert_eq!(inter(SetOp::InterCard { limit: 0 }), Frame::Integer(2));
    assert_eq!(inter(SetOp::InterCard { limit: 1 }), Frame::Integer(1));
    assert_eq!(inter(SetOp::Union), set(&[b"a", b"b", b"c"]));
    assert_eq!(inter(SetOp::Diff), set(&[b"b"]));
    // The first key's part may come second.
    let swapped = [part(1, &[1]), part(0, &[0])];
    let diff = merge(
        Merge::Sets(SetOp::Diff),
        &swapped,
        vec![
            ok(b"*1\r\n$1\r\nc\r\n"),
            ok(b"*2\r\n$1\r\nc\r\n$1\r\nd\r\n"),
        ],
    );
    assert_eq!(diff, set(&[b"d"]));
    // A wrong type in any group is the reply; so is a group that is down.
    let wrong = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    let got = merge(
        Merge::Sets(SetOp::Inter),
        &parts,
        vec![ok(b"*0\r\n"), ok(wrong)],
    );
    assert_eq!(got, Frame::error(protocol::text::WRONGTYPE));
    let got = merge(
        Merge::Sets(SetOp::Union),
        &parts,
        vec![down(0), ok(b"*0\r\n")],
    );
    assert!(got.is_error());
    let got = merge(
        Merge::Sets(SetOp::Union),
        &parts,
        vec![ok(b":1\r\n"), ok(b"*0\r\n")],
    );
    assert_eq!(got, Frame::error(UNEXPECTED));
}
