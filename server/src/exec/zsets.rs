//! Sorted-set commands (Redis's "sorted_set" group), with Redis 7.0's replies and errors.
//!
//! Scores leave as Redis 7.0's `addReplyDouble` writes them: `%.17g` (0.1 is
//! 0.10000000000000001), a bulk string in RESP2 and a double (`,`) in RESP3. The range
//! commands (ZRANGE and its older forms, ZCOUNT, ZREMRANGEBY*) are in `ranges`.

mod ranges;

use std::collections::HashSet;

use bytes::Bytes;
use protocol::encode::format_double;
use protocol::{CommandError, Frame, Protocol};

pub(super) use ranges::{
    zcount, zrange, zrangebylex, zrangebyscore, zremrangebyrank, zremrangebyscore, zrevrange,
    zrevrangebyscore,
};

use super::elements::{bulk, random, random_count, read, scan_args, scan_reply, write};
use crate::store::types::zset::range::parse_score;
use crate::store::types::ZSet;
use crate::store::Store;

const XX_AND_NX: &str = "ERR XX and NX options at the same time are not compatible";
const GT_LT_NX: &str = "ERR GT, LT, and/or NX options at the same time are not compatible";
const INCR_ONE_PAIR: &str = "ERR INCR option supports a single increment-element pair";
const SCORE_NAN: &str = "ERR resulting score is not a number (NaN)";
const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";

/// Returns a score as `addReplyDouble` sends it.
fn score(d: f64, protocol: Protocol) -> Frame {
    match protocol {
        Protocol::Resp2 => Frame::Bulk(Bytes::from(format_double(d))),
        Protocol::Resp3 => Frame::Double(d),
    }
}

/// Appends a member and, `with_scores`, its score: flat in RESP2, a pair in RESP3.
fn push_member(out: &mut Vec<Frame>, m: &[u8], s: f64, with_scores: bool, protocol: Protocol) {
    match (with_scores, protocol) {
        (false, _) => out.push(bulk(m)),
        (true, Protocol::Resp2) => out.extend([bulk(m), score(s, protocol)]),
        (true, Protocol::Resp3) => out.push(Frame::Array(vec![bulk(m), score(s, protocol)])),
    }
}

/// ZADD's options.
#[derive(Debug, Default, Clone, Copy)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// ```text
/// ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member ...]
/// ```
/// As Redis's `zaddGenericCommand`: options, then the pairs' shape, the options'
/// conflicts, every score, and only then the key's type.
pub(super) fn zadd(args: &[Bytes], store: &Store, protocol: Protocol) -> Frame {
    let mut flags = AddFlags::default();
    let mut i = 2;
    while i < args.len() {
        let f = match args[i].to_ascii_lowercase().as_slice() {
            b"nx" => &mut flags.nx,
            b"xx" => &mut flags.xx,
            b"gt" => &mut flags.gt,
            b"lt" => &mut flags.lt,
            b"ch" => &mut flags.ch,
            b"incr" => &mut flags.incr,
            _ => break,
        };
        *f = true;
        i += 1;
    }
    let pairs = &args[i..];
    if pairs.is_empty() || pairs.len() % 2 == 1 {
        return CommandError::Syntax.to_frame();
    }
    if flags.nx && flags.xx {
        return Frame::error(XX_AND_NX);
    }
    if (flags.nx && (flags.gt || flags.lt)) || (flags.gt && flags.lt) {
        return Frame::error(GT_LT_NX);
    }
    if flags.incr && pairs.len() > 2 {
        return Frame::error(INCR_ONE_PAIR);
    }
    add(args, pairs, flags, store, protocol)
}

/// ```text
/// ZINCRBY key increment member
/// ```
pub(super) fn zincrby(args: &[Bytes], store: &Store, protocol: Protocol) -> Frame {
    let flags = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    add(args, &args[2..], flags, store, protocol)
}

/// Adds the (score, member) `pairs` to the set at `args[1]` as `zsetAdd` does.
fn add(
    args: &[Bytes],
    pairs: &[Bytes],
    flags: AddFlags,
    store: &Store,
    protocol: Protocol,
) -> Frame {
    let mut scores = Vec::with_capacity(pairs.len() / 2);
    for pair in pairs.chunks_exact(2) {
        match parse_score(&pair[0]) {
            Some(s) => scores.push(s),
            None => return CommandError::NotFloat.to_frame(),
        }
    }
    let nothing = if flags.incr {
        Frame::Null
    } else {
        Frame::Integer(0)
    };
    write::<ZSet>(store, &args[1], !flags.xx, nothing, |z| {
        let (mut added, mut updated, mut processed, mut last) = (0, 0, 0, 0.0);
        for (pair, &given) in pairs.chunks_exact(2).zip(&scores) {
            let member = &pair[1];
            match z.score(member) {
                Some(_) if flags.nx => {}
                Some(current) => {
                    let new = if flags.incr { given + current } else { given };
                    if new.is_nan() {
                        return Frame::error(SCORE_NAN);
                    }
                    if (flags.lt && new >= current) || (flags.gt && new <= current) {
                        continue;
                    }
                    processed += 1;
                    last = new;
                    if new != current {
                        z.insert(member, new);
                        updated += 1;
                    }
                }
                None if flags.xx => {}
                None => {
                    z.insert(member, given);
                    added += 1;
                    processed += 1;
                    last = given;
                }
            }
        }
        match (flags.incr, processed) {
            (true, 0) => Frame::Null,
            (true, _) => score(last, protocol),
            (false, _) if flags.ch => Frame::Integer(added + updated),
            (false, _) => Frame::Integer(added),
        }
    })
}

/// ```text
/// ZREM key member [member ...]
/// ```
pub(super) fn zrem(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    write::<ZSet>(store, &args[1], false, Frame::Integer(0), |z| {
        Frame::Integer(args[2..].iter().filter(|m| z.remove(m)).count() as i64)
    })
}

/// ```text
/// ZSCORE key member
/// ```
pub(super) fn zscore(args: &[Bytes], store: &Store, protocol: Protocol) -> Frame {
    read::<ZSet>(store, &args[1], Frame::Null, |z| {
        z.score(&args[2])
            .map_or(Frame::Null, |s| score(s, protocol))
    })
}

/// ```text
/// ZMSCORE key member [member ...]
/// ```
pub(super) fn zmscore(args: &[Bytes], store: &Store, protocol: Protocol) -> Frame {
    let members = &args[2..];
    let missing = Frame::Array(vec![Frame::Null; members.len()]);
    read::<ZSet>(store, &args[1], missing, |z| {
        Frame::Array(
            members
                .iter()
                .map(|m| z.score(m).map_or(Frame::Null, |s| score(s, protocol)))
                .collect(),
        )
    })
}

/// ```text
/// ZCARD key
/// ```
pub(super) fn zcard(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    read::<ZSet>(store, &args[1], Frame::Integer(0), |z| {
        Frame::Integer(z.len() as i64)
    })
}

/// ```text
/// ZRANK key member
/// ```
pub(super) fn zrank(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    read::<ZSet>(store, &args[1], Frame::Null, |z| {
        z.rank(&args[2])
            .map_or(Frame::Null, |r| Frame::Integer(r as i64))
    })
}

/// ```text
/// ZREVRANK key member
/// ```
pub(super) fn zrevrank(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    read::<ZSet>(store, &args[1], Frame::Null, |z| {
        z.rank(&args[2])
            .map_or(Frame::Null, |r| Frame::Integer((z.len() - 1 - r) as i64))
    })
}

/// ```text
/// ZPOPMIN key [count]
/// ```
pub(super) fn zpopmin(args: &[Bytes], store: &Store, protocol: Protocol) -> Frame {
    pop(args, store, protocol, false)
}

/// ```text
/// ZPOPMAX key [count]
/// ```
pub(super) fn zpopmax(args: &[Bytes], store: &Store, protocol: Protocol) -> Frame {
    pop(args, store, protocol, true)
}

/// As Redis 7.0's `genericZpopCommand`: a flat array of member, score, ... in RESP2 and
/// without a count; in RESP3 with a count, an array of pairs.
fn pop(args: &[Bytes], store: &Store, protocol: Protocol, max: bool) -> Frame {
    if args.len() > 3 {
        return CommandError::Syntax.to_frame();
    }
    let count = match args.get(2).map(|a| protocol::command::parse_i64(a)) {
        None => None,
        Some(None) => return Frame::error(NOT_POSITIVE),
        Some(Some(n)) if n < 0 => return Frame::error(NOT_POSITIVE),
        Some(Some(n)) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
    };
    let nested = protocol == Protocol::Resp3 && count.is_some();
    write::<ZSet>(store, &args[1], false, Frame::Array(Vec::new()), |z| {
        let n = count.unwrap_or(1).min(z.len());
        let popped: Vec<(Bytes, f64)> = if max {
            z.iter_back_from(z.len() - 1)
                .take(n)
                .map(|(m, s)| (Bytes::copy_from_slice(m), s))
                .collect()
        } else {
            z.iter()
                .take(n)
                .map(|(m, s)| (Bytes::copy_from_slice(m), s))
                .collect()
        };
        let start = if max { z.len() - n } else { 0 };
        z.remove_ranks(start, n);
        let mut out = Vec::with_capacity(2 * n);
        for (m, s) in popped {
            if nested {
                out.push(Frame::Array(vec![Frame::Bulk(m), score(s, protocol)]));
            } else {
                out.extend([Frame::Bulk(m), score(s, protocol)]);
            }
        }
        Frame::Array(out)
    })
}

/// ```text
/// ZSCAN key cursor [MATCH pattern] [COUNT count]
/// ```
/// A small set is one page (cursor 0), as Redis's listpack; a large one pages by the
/// members' hashes. Scores are `%.17g` bulk strings in both protocols, as Redis's.
pub(super) fn zscan(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let scan = match scan_args(&args[2..]) {
        Ok(s) => s,
        Err(e) => return e,
    };
    read::<ZSet>(store, &args[1], scan_reply(0, Vec::new()), |z| {
        let packed = z.is_packed();
        let (next, page) = z.page(scan.cursor, scan.count);
        let items = page
            .into_iter()
            .filter(|(m, _)| scan.matches(m))
            .flat_map(|(m, s)| [bulk(m), Frame::Bulk(Bytes::from(scan_score(s, packed)))])
            .collect();
        scan_reply(next, items)
    })
}

/// Returns a score as ZSCAN shows it: a listpack keeps a whole score within ±2^62 as an
/// integer (Redis 7.0's `zzlInsertAt` and `double2ll`) and ZSCAN prints that integer; a
/// skiplist's score is printed `%.17g`.
fn scan_score(s: f64, packed: bool) -> String {
    const HALF_LLONG: f64 = (i64::MAX / 2) as f64;
    if packed && (-HALF_LLONG..=HALF_LLONG).contains(&s) && s == (s as i64) as f64 {
        (s as i64).to_string()
    } else {
        format_double(s)
    }
}

/// ```text
/// ZRANDMEMBER key [count [WITHSCORES]]
/// ```
/// A count at least the set's size returns every member, highest first, as Redis 7.0.
pub(super) fn zrandmember(args: &[Bytes], store: &Store, protocol: Protocol) -> Frame {
    if args.len() == 2 {
        return read::<ZSet>(store, &args[1], Frame::Null, |z| {
            z.random(random()).map_or(Frame::Null, |(m, _)| bulk(m))
        });
    }
    if args.len() > 4 || (args.len() == 4 && !args[3].eq_ignore_ascii_case(b"withscores")) {
        // The count is read first: a bad one is its own error.
        if let Err(e) = random_count(&args[2], false) {
            return e;
        }
        return CommandError::Syntax.to_frame();
    }
    let with_scores = args.len() == 4;
    let n = match random_count(&args[2], with_scores) {
        Ok(n) => n,
        Err(e) => return e,
    };
    read::<ZSet>(store, &args[1], Frame::Array(Vec::new()), |z| {
        let picked: Vec<(&[u8], f64)> = if n.count == 0 {
            Vec::new()
        } else if n.repeats || n.count == 1 {
            (0..n.count).filter_map(|_| z.random(random())).collect()
        } else if n.count >= z.len() {
            z.iter_back_from(z.len() - 1).collect()
        } else {
            distinct(z, n.count)
        };
        let mut out = Vec::with_capacity(picked.len() * 2);
        for (m, s) in picked {
            push_member(&mut out, m, s, with_scores, protocol);
        }
        Frame::Array(out)
    })
}

/// Returns `count` distinct random members (fewer than the set holds).
fn distinct(z: &ZSet, count: usize) -> Vec<(&[u8], f64)> {
    if count * 3 > z.len() {
        // Redis's CASE 3: most of the set; drop random ones from all of it.
        let mut all: Vec<(&[u8], f64)> = z.iter().collect();
        while all.len() > count {
            let i = (random() % all.len() as u64) as usize;
            all.swap_remove(i);
        }
        return all;
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        if let Some((m, s)) = z.random(random()) {
            if seen.insert(m) {
                out.push((m, s));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};
    use protocol::Protocol;

    use crate::exec::strings::tests::shard;

    /// Runs `line` (split at spaces) on `shard` and returns the RESP3 bytes of its reply.
    fn resp3(shard: &crate::ShardState, line: &str) -> String {
        let args = line
            .split(' ')
            .map(|a| Bytes::from(a.to_string()))
            .collect();
        let request = protocol::Request {
            args,
            raw: Bytes::new(),
            inline: false,
        };
        let cmd = protocol::Command::from_request(request).expect("a command");
        let frame = crate::exec::execute(&cmd, shard, Protocol::Resp3);
        let mut out = BytesMut::new();
        protocol::encode::encode(&frame, Protocol::Resp3, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The differential test speaks RESP2; these RESP3 replies were captured from
    /// redis-server 7.0.15 (`HELLO 3`, then each line).
    #[test]
    fn resp3_replies_match_redis_7_0() {
        let (s, _) = shard();
        let cases = [
            ("zadd z 0.1 a 1 b 2 c", ":3\r\n"),
            ("zscore z a", ",0.10000000000000001\r\n"),
            ("zscore z nosuch", "_\r\n"),
            ("zmscore z a x", "*2\r\n,0.10000000000000001\r\n_\r\n"),
            (
                "zrange z 0 -1 withscores",
                "*3\r\n*2\r\n$1\r\na\r\n,0.10000000000000001\r\n*2\r\n$1\r\nb\r\n,1\r\n*2\r\n$1\r\nc\r\n,2\r\n",
            ),
            (
                "zrange z +inf (0.1 byscore rev withscores",
                "*2\r\n*2\r\n$1\r\nc\r\n,2\r\n*2\r\n$1\r\nb\r\n,1\r\n",
            ),
            (
                "zrangebyscore z 1 2 withscores",
                "*2\r\n*2\r\n$1\r\nb\r\n,1\r\n*2\r\n$1\r\nc\r\n,2\r\n",
            ),
            ("zrevrange z 0 0 withscores", "*1\r\n*2\r\n$1\r\nc\r\n,2\r\n"),
            ("zrange z 0 -1", "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"),
            (
                "zrandmember z 5 withscores",
                "*3\r\n*2\r\n$1\r\nc\r\n,2\r\n*2\r\n$1\r\nb\r\n,1\r\n*2\r\n$1\r\na\r\n,0.10000000000000001\r\n",
            ),
            (
                "zscan z 0",
                "*2\r\n$1\r\n0\r\n*6\r\n$1\r\na\r\n$19\r\n0.10000000000000001\r\n$1\r\nb\r\n$1\r\n1\r\n$1\r\nc\r\n$1\r\n2\r\n",
            ),
            ("zincrby z 1 c", ",3\r\n"),
            ("zadd z incr 1 b", ",2\r\n"),
            ("zadd z nx incr 1 b", "_\r\n"),
            ("zpopmin z", "*2\r\n$1\r\na\r\n,0.10000000000000001\r\n"),
            (
                "zpopmax z 5",
                "*2\r\n*2\r\n$1\r\nc\r\n,3\r\n*2\r\n$1\r\nb\r\n,2\r\n",
            ),
            ("zpopmin z 1", "*0\r\n"),
            ("zpopmin nosuch 1", "*0\r\n"),
        ];
        for (line, want) in cases {
            assert_eq!(resp3(&s, line), want, "{line}");
        }
    }
}
