//! `plan` as a table of commands and topologies, like redis-rs's `tests_routing`.

use super::*;
use protocol::Request;

fn topo(n: usize) -> Topology {
    Topology::new(
        (0..n)
            .map(|i| vec![format!("127.0.0.1:{}", 7001 + i)])
            .collect(),
    )
}

fn cmd(parts: &[&str]) -> Command {
    let mut raw = BytesMut::new();
    protocol::encode::request(&mut raw, parts.iter().map(|p| p.as_bytes()));
    let args = parts
        .iter()
        .map(|p| Bytes::copy_from_slice(p.as_bytes()))
        .collect();
    Command::from_request(Request {
        args,
        raw: raw.freeze(),
        inline: false,
    })
    .unwrap()
}

/// Returns one key per shard of `t`, so tests do not depend on golden values.
fn key_on(t: &Topology, shard: ShardId) -> String {
    (0..)
        .map(|i| format!("k{i}"))
        .find(|k| t.shard_for(k.as_bytes()) == shard)
        .unwrap()
}

#[test]
fn connection_and_server_commands_are_local() {
    let t = topo(3);
    for parts in [
        &["PING"][..],
        &["echo", "x"],
        &["QUIT"],
        &["HELLO", "3"],
        &["CLIENT", "SETNAME", "x"],
        &["SELECT", "0"],
        &["COMMAND", "DOCS"],
        &["CONFIG", "GET", "save"],
        &["TIME"],
        &["AUTH", "pw"],
    ] {
        assert_eq!(plan(&cmd(parts), &t), Plan::Local, "{parts:?}");
    }
}

#[test]
fn single_key_commands_go_to_the_keys_shard() {
    let t = topo(3);
    for s in 0..3 {
        let k = key_on(&t, s);
        for parts in [
            vec!["GET", &k],
            vec!["SET", &k, "v", "EX", "10"],
            vec!["INCR", &k],
            vec!["TTL", &k],
            vec!["MGET", &k, &k],
            vec!["DEL", &k],
            vec!["MSETNX", &k, "1"],
        ] {
            assert_eq!(
                plan(&cmd(&parts), &t),
                Plan::Forward { shard: s },
                "{parts:?}"
            );
        }
    }
    let tagged = plan(&cmd(&["MSET", "{u1}:a", "1", "{u1}:b", "2"]), &t);
    assert!(
        matches!(tagged, Plan::Forward { .. }),
        "hash tags keep keys together"
    );
}

#[test]
fn multi_key_commands_split_by_shard_in_key_order() {
    let t = topo(3);
    let (a, b, c) = (key_on(&t, 0), key_on(&t, 1), key_on(&t, 2));
    let p = plan(&cmd(&["MGET", &b, &a, &b, &c]), &t);
    assert_eq!(
        p,
        Plan::Split {
            parts: vec![
                Part {
                    shard: 1,
                    positions: vec![0, 2]
                },
                Part {
                    shard: 0,
                    positions: vec![1]
                },
                Part {
                    shard: 2,
                    positions: vec![3]
                },
            ],
            merge: Merge::Reorder { len: 4 },
        }
    );
    for (name, merge) in [
        ("DEL", Merge::Sum),
        ("UNLINK", Merge::Sum),
        ("EXISTS", Merge::Sum),
        ("TOUCH", Merge::Sum),
    ] {
        let Plan::Split { merge: m, parts } = plan(&cmd(&[name, &a, &c]), &t) else {
            panic!("{name} should split");
        };
        assert_eq!((m, parts.len()), (merge, 2), "{name}");
    }
    let Plan::Split { merge, parts } = plan(&cmd(&["MSET", &a, "1", &b, "2", &a, "3"]), &t) else {
        panic!("MSET should split");
    };
    assert_eq!(merge, Merge::AllOk);
    assert_eq!(parts[0].positions, [0, 2]);
    assert_eq!(
        plan(&cmd(&["MSETNX", &a, "1", &b, "2"]), &t),
        Plan::Reply(Frame::error(text::CROSSSLOT))
    );
}

#[test]
fn part_requests_carry_the_right_keys_and_values() {
    let t = topo(2);
    let (a, b) = (key_on(&t, 0), key_on(&t, 1));
    let mset = cmd(&["MSET", &a, "1", &b, "2", &a, "3"]);
    let want = format!(
        "*5\r\n$4\r\nMSET\r\n${}\r\n{a}\r\n$1\r\n1\r\n${}\r\n{a}\r\n$1\r\n3\r\n",
        a.len(),
        a.len()
    );
    assert_eq!(part_request(&mset, &[0, 2]), want.as_bytes());
    let mget = cmd(&["mget", &a, &b]);
    let want = format!("*2\r\n$4\r\nmget\r\n${}\r\n{b}\r\n", b.len());
    assert_eq!(part_request(&mget, &[1]), want.as_bytes());
}

#[test]
fn cluster_wide_commands_broadcast() {
    let t = topo(2);
    for (parts, merge) in [
        (&["DBSIZE"][..], Merge::Sum),
        (&["FLUSHALL"], Merge::AllOk),
        (&["FLUSHDB", "ASYNC"], Merge::AllOk),
        (&["KEYS", "*"], Merge::Concat),
        (&["RANDOMKEY"], Merge::AnyKey),
        (&["INFO", "keyspace"], Merge::Info),
    ] {
        assert_eq!(
            plan(&cmd(parts), &t),
            Plan::Broadcast { merge },
            "{parts:?}"
        );
    }
}

#[test]
fn scan_cursors_pack_shard_and_shard_cursor() {
    let t = topo(3);
    assert_eq!(
        plan(&cmd(&["SCAN", "0"]), &t),
        Plan::Scan {
            shard: 0,
            cursor: 0
        }
    );
    let c = ((2u64 << SCAN_CURSOR_BITS) | 17).to_string();
    assert_eq!(
        plan(&cmd(&["SCAN", &c, "COUNT", "5"]), &t),
        Plan::Scan {
            shard: 2,
            cursor: 17
        }
    );
    let past = (3u64 << SCAN_CURSOR_BITS).to_string();
    assert_eq!(
        plan(&cmd(&["SCAN", &past]), &t),
        Plan::Reply(scan_reply(0, vec![]))
    );
    assert_eq!(
        plan(&cmd(&["SCAN", "x"]), &t),
        Plan::Reply(Frame::error(text::INVALID_CURSOR))
    );
    // As Redis's strtoul: a negative cursor wraps (past every shard: done), "" is 0.
    assert_eq!(
        plan(&cmd(&["SCAN", "-1"]), &t),
        Plan::Reply(scan_reply(0, vec![]))
    );
    assert_eq!(
        plan(&cmd(&["SCAN", ""]), &t),
        Plan::Scan {
            shard: 0,
            cursor: 0
        }
    );
    assert_eq!(
        plan(&cmd(&["SCAN", "+17"]), &t),
        Plan::Scan {
            shard: 0,
            cursor: 17
        }
    );
    for bad in [" 1", "1 ", "1x", "-", "+", "18446744073709551616"] {
        assert_eq!(
            plan(&cmd(&["SCAN", bad]), &t),
            Plan::Reply(Frame::error(text::INVALID_CURSOR)),
            "{bad:?}"
        );
    }
    let req = scan_request(&cmd(&["SCAN", &c, "MATCH", "a*"]), 17);
    assert_eq!(
        req,
        &b"*4\r\n$4\r\nSCAN\r\n$2\r\n17\r\n$5\r\nMATCH\r\n$2\r\na*\r\n"[..]
    );
}

#[test]
fn inline_commands_are_re_encoded_to_forward() {
    let c = Command::from_request(Request {
        args: vec![Bytes::from_static(b"GET"), Bytes::from_static(b"k")],
        raw: Bytes::from_static(b"GET k\r\n"),
        inline: true,
    })
    .unwrap();
    assert_eq!(forward_request(&c), &b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"[..]);
    let c = cmd(&["GET", "k"]);
    assert_eq!(forward_request(&c), c.raw());
}

#[test]
fn set_algebra_splits_by_group_and_asks_each_for_its_part() {
    let t = topo(3);
    let (a, b) = (key_on(&t, 0), key_on(&t, 1));
    let Plan::Split { parts, merge } = plan(&cmd(&["SDIFF", &b, &a, &b]), &t) else {
        panic!("split");
    };
    assert_eq!(merge, Merge::Sets(SetOp::Diff));
    let names: Vec<_> = parts
        .iter()
        .map(|p| {
            let c = part_command(&cmd(&["SDIFF", &b, &a, &b]), merge, &p.positions);
            (c.kind(), c.args().len())
        })
        .collect();
    assert_eq!(names, [(Kind::SDiff, 3), (Kind::SUnion, 2)]);
    let intercard = cmd(&["SINTERCARD", "2", &a, &b, "LIMIT", "5"]);
    let Plan::Split { parts, merge } = plan(&intercard, &t) else {
        panic!("split");
    };
    assert_eq!(merge, Merge::Sets(SetOp::InterCard { limit: 5 }));
    assert_eq!(
        part_command(&intercard, merge, &parts[0].positions).kind(),
        Kind::SInter
    );
    // A count or option Redis refuses goes to one group, which answers the error.
    for bad in [
        &["SINTERCARD", "0", &a, &b][..],
        &["SINTERCARD", "3", &a, &b],
        &["SINTERCARD", "2", &a, &b, "LIMIT", "-1"],
        &["SINTERCARD", "2", &a, &b, "BOGUS"],
    ] {
        assert!(
            matches!(plan(&cmd(bad), &t), Plan::Forward { .. }),
            "{bad:?}"
        );
    }
}
