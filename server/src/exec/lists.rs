//! List commands (Redis's "list" group), with Redis 7.0's replies and errors.
//!
//! Redis checks arguments and the key in an order that differs by command (LRANGE reads its
//! indexes first, LINDEX and LSET the key first); each executor keeps that order, so the
//! same bad request gets the same error.

use bytes::Bytes;
use protocol::command::parse_i64;
use protocol::{CommandError, Frame, Protocol};

use super::elements::{bulk, read, reply, write};
use crate::store::types::{List, ObjType, Typed};
use crate::store::{Store, StoreError};

fn len_frame(l: &List) -> Frame {
    Frame::Integer(l.len() as i64)
}

/// Which end of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

impl End {
    /// Reads LMOVE's `LEFT` / `RIGHT` (any case).
    fn parse(arg: &[u8]) -> Option<End> {
        if arg.eq_ignore_ascii_case(b"left") {
            Some(End::Left)
        } else if arg.eq_ignore_ascii_case(b"right") {
            Some(End::Right)
        } else {
            None
        }
    }

    fn push(self, l: &mut List, item: &[u8]) {
        match self {
            End::Left => l.push_front(item),
            End::Right => l.push_back(item),
        }
    }

    fn pop(self, l: &mut List) -> Option<Box<[u8]>> {
        match self {
            End::Left => l.pop_front(),
            End::Right => l.pop_back(),
        }
    }
}

/// LPUSH / RPUSH / LPUSHX / RPUSHX: the list's length after, or 0 when `create` is false
/// and there is no list.
fn push(args: &[Bytes], store: &Store, end: End, create: bool) -> Frame {
    write::<List>(store, &args[1], create, Frame::Integer(0), |l| {
        for item in &args[2..] {
            end.push(l, item);
        }
        len_frame(l)
    })
}

/// ```text
/// LPUSH key element [element ...]
/// ```
pub(super) fn lpush(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    push(args, store, End::Left, true)
}

/// ```text
/// RPUSH key element [element ...]
/// ```
pub(super) fn rpush(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    push(args, store, End::Right, true)
}

/// ```text
/// LPUSHX key element [element ...]
/// ```
pub(super) fn lpushx(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    push(args, store, End::Left, false)
}

/// ```text
/// RPUSHX key element [element ...]
/// ```
pub(super) fn rpushx(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    push(args, store, End::Right, false)
}

/// LPOP / RPOP: without a count, one element or nil; with one (read before the key), an
/// array, or the null array when there is no list (`*-1`, RESP3 `_`).
fn pop(args: &[Bytes], store: &Store, end: End, name: &str) -> Frame {
    match args.len() {
        2 => {
            return write::<List>(store, &args[1], false, Frame::Null, |l| {
                end.pop(l).map_or(Frame::Null, |e| Frame::Bulk(e.into()))
            })
        }
        3 => {}
        _ => {
            return CommandError::WrongArity {
                name: name.to_string(),
            }
            .to_frame()
        }
    }
    let count = match parse_i64(&args[2]) {
        Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => return Frame::error("ERR value is out of range, must be positive"),
    };
    write::<List>(store, &args[1], false, Frame::NullArray, |l| {
        let n = count.min(l.len());
        Frame::Array(
            (0..n)
                .filter_map(|_| end.pop(l))
                .map(|e| Frame::Bulk(e.into()))
                .collect(),
        )
    })
}

/// ```text
/// LPOP key [count]
/// ```
pub(super) fn lpop(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    pop(args, store, End::Left, "lpop")
}

/// ```text
/// RPOP key [count]
/// ```
pub(super) fn rpop(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    pop(args, store, End::Right, "rpop")
}

/// ```text
/// LLEN key
/// ```
pub(super) fn llen(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    read::<List>(store, &args[1], Frame::Integer(0), len_frame)
}

/// Returns the index `i` counts (negative from the tail) in a list of `len`, if inside it.
fn index(i: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if i < 0 { i + len } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

/// Returns Redis's range `start..=end` (negative from the tail, clamped) of a list of
/// `len` as `start..end`, empty when nothing is inside.
fn range(start: i64, end: i64, len: usize) -> (usize, usize) {
    let len = len as i64;
    let start = if start < 0 { start + len } else { start }.max(0);
    let end = if end < 0 { end + len } else { end };
    if start > end || start >= len {
        return (0, 0);
    }
    (start as usize, (end.min(len - 1) + 1) as usize)
}

/// Reads two integer arguments (LRANGE's and LTRIM's indexes).
fn two_ints(a: &[u8], b: &[u8]) -> Result<(i64, i64), Frame> {
    match (parse_i64(a), parse_i64(b)) {
        (Some(a), Some(b)) => Ok((a, b)),
        _ => Err(CommandError::NotInteger.to_frame()),
    }
}

/// ```text
/// LRANGE key start stop
/// ```
pub(super) fn lrange(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let (start, end) = match two_ints(&args[2], &args[3]) {
        Ok(r) => r,
        Err(e) => return e,
    };
    read::<List>(store, &args[1], Frame::Array(Vec::new()), |l| {
        let (s, e) = range(start, end, l.len());
        Frame::Array(l.range(s, e).map(bulk).collect())
    })
}

/// ```text
/// LINDEX key index
/// ```
/// The key is looked up before the index is read.
pub(super) fn lindex(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    read::<List>(store, &args[1], Frame::Null, |l| {
        match parse_i64(&args[2]) {
            None => CommandError::NotInteger.to_frame(),
            Some(i) => index(i, l.len())
                .and_then(|i| l.get(i))
                .map_or(Frame::Null, bulk),
        }
    })
}

/// ```text
/// LSET key index element
/// ```
/// The key is looked up before the index is read.
pub(super) fn lset(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let missing = Frame::error("ERR no such key");
    write::<List>(store, &args[1], false, missing, |l| {
        match parse_i64(&args[2]) {
            None => CommandError::NotInteger.to_frame(),
            Some(i) => match index(i, l.len()) {
                Some(i) => {
                    l.set(i, &args[3]);
                    Frame::ok()
                }
                None => Frame::error("ERR index out of range"),
            },
        }
    })
}

/// ```text
/// LREM key count element
/// ```
/// A positive count removes that many from the head, a negative one from the tail, 0 all.
pub(super) fn lrem(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let Some(count) = parse_i64(&args[2]) else {
        return CommandError::NotInteger.to_frame();
    };
    let element = &args[3][..];
    write::<List>(store, &args[1], false, Frame::Integer(0), |l| {
        let limit = match count {
            0 => usize::MAX,
            n => usize::try_from(n.unsigned_abs()).unwrap_or(usize::MAX),
        };
        Frame::Integer(l.remove_equal(element, limit, count < 0) as i64)
    })
}

/// ```text
/// LTRIM key start stop
/// ```
pub(super) fn ltrim(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let (start, end) = match two_ints(&args[2], &args[3]) {
        Ok(r) => r,
        Err(e) => return e,
    };
    write::<List>(store, &args[1], false, Frame::ok(), |l| {
        let (s, e) = range(start, end, l.len());
        l.keep(s, e);
        Frame::ok()
    })
}

/// ```text
/// LINSERT key BEFORE|AFTER pivot element
/// ```
/// The list's length after, -1 when the pivot is not there, 0 when there is no list.
pub(super) fn linsert(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let after = if args[2].eq_ignore_ascii_case(b"after") {
        true
    } else if args[2].eq_ignore_ascii_case(b"before") {
        false
    } else {
        return CommandError::Syntax.to_frame();
    };
    write::<List>(store, &args[1], false, Frame::Integer(0), |l| {
        let pivot = l.iter().position(|e| e == &args[3][..]);
        match pivot {
            Some(i) => {
                l.insert(i + usize::from(after), &args[4]);
                len_frame(l)
            }
            None => Frame::Integer(-1),
        }
    })
}

/// LPOS's options.
#[derive(Debug, Clone, Copy)]
struct LposArgs {
    /// Which match to start from (1 the first); negative from the tail.
    rank: i64,
    /// How many positions to return; `None` without COUNT (a single reply, not an array).
    count: Option<usize>,
    /// How many elements to compare (0: all).
    maxlen: usize,
}

/// Reads `[RANK rank] [COUNT num-matches] [MAXLEN len]` in Redis's words.
fn lpos_args(args: &[Bytes]) -> Result<LposArgs, Frame> {
    let mut out = LposArgs {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    for pair in args.chunks(2) {
        let [name, value] = pair else {
            return Err(CommandError::Syntax.to_frame());
        };
        let non_negative = |what: &'static str| match parse_i64(value) {
            Some(n) if n >= 0 => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            _ => Err(Frame::error(what)),
        };
        match name.to_ascii_uppercase().as_slice() {
            b"RANK" => {
                out.rank = parse_i64(value).ok_or_else(|| CommandError::NotInteger.to_frame())?;
                if out.rank == 0 {
                    return Err(Frame::error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
                }
            }
            b"COUNT" => out.count = Some(non_negative("ERR COUNT can't be negative")?),
            b"MAXLEN" => out.maxlen = non_negative("ERR MAXLEN can't be negative")?,
            _ => return Err(CommandError::Syntax.to_frame()),
        }
    }
    Ok(out)
}

/// ```text
/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len]
/// ```
/// Options are read before the key. As Redis 7.0, RANK -9223372036854775808 (whose
/// negation does not fit) starts from the first match from the tail and ignores COUNT.
pub(super) fn lpos(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let o = match lpos_args(&args[3..]) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let missing = match o.count {
        Some(_) => Frame::Array(Vec::new()),
        None => Frame::Null,
    };
    let element = &args[2][..];
    read::<List>(store, &args[1], missing, |l| {
        let len = l.len();
        let scanned = if o.maxlen == 0 {
            len
        } else {
            o.maxlen.min(len)
        };
        let skip = usize::try_from(o.rank.unsigned_abs() - 1).unwrap_or(usize::MAX);
        let skip = if o.rank == i64::MIN { 0 } else { skip };
        let take = match o.count {
            // Redis 7.0's count check (`matches - rank + 1 >= count`) wraps for this rank.
            Some(_) if o.rank == i64::MIN => usize::MAX,
            Some(0) => usize::MAX,
            Some(n) => n,
            None => 1,
        };
        let positions: Vec<usize> = if o.rank < 0 {
            l.iter()
                .rev()
                .take(scanned)
                .enumerate()
                .filter(|(_, e)| *e == element)
                .map(|(i, _)| len - 1 - i)
                .skip(skip)
                .take(take)
                .collect()
        } else {
            l.iter()
                .take(scanned)
                .enumerate()
                .filter(|(_, e)| *e == element)
                .map(|(i, _)| i)
                .skip(skip)
                .take(take)
                .collect()
        };
        let ints = positions.into_iter().map(|i| Frame::Integer(i as i64));
        match o.count {
            Some(_) => Frame::Array(ints.collect()),
            None => ints.into_iter().next().unwrap_or(Frame::Null),
        }
    })
}

/// ```text
/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT
/// ```
/// One step under both keys' locks. An absent source is nil whatever the destination
/// holds; the same key twice rotates the list.
pub(super) fn lmove(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let (Some(from), Some(to)) = (End::parse(&args[3]), End::parse(&args[4])) else {
        return CommandError::Syntax.to_frame();
    };
    let (src, dst) = (&args[1][..], &args[2][..]);
    reply(store.lock_keys(&[src, dst], |l| {
        match l.obj_type(src) {
            None => return Ok(Frame::Null),
            Some(ObjType::List) => {}
            Some(_) => return Err(StoreError::WrongType),
        }
        if l.obj_type(dst).is_some_and(|t| t != ObjType::List) {
            return Err(StoreError::WrongType);
        }
        if src == dst {
            let moved = l.write(src, ObjType::List, false, |c| {
                let list = List::of_mut(c);
                let e = from.pop(list)?;
                to.push(list, &e);
                Some(e)
            })?;
            return Ok(moved
                .flatten()
                .map_or(Frame::Null, |e| Frame::Bulk(e.into())));
        }
        let popped = l.write(src, ObjType::List, false, |c| from.pop(List::of_mut(c)))?;
        let Some(e) = popped.flatten() else {
            return Ok(Frame::Null);
        };
        l.write(dst, ObjType::List, true, |c| to.push(List::of_mut(c), &e))?;
        Ok(Frame::Bulk(e.into()))
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use protocol::Frame;

    use crate::exec::strings::tests::{run, shard};

    fn items(f: Frame) -> Vec<String> {
        let Frame::Array(items) = f else {
            panic!("not an array: {f:?}");
        };
        items
            .into_iter()
            .map(|i| match i {
                Frame::Bulk(b) => String::from_utf8(b.to_vec()).expect("utf-8"),
                other => panic!("not an element: {other:?}"),
            })
            .collect()
    }

    fn bulk(s: &str) -> Frame {
        Frame::bulk(s.as_bytes())
    }

    #[test]
    fn pop_with_a_count_on_no_list_is_the_null_array() {
        let (s, _) = shard();
        assert_eq!(run(&s, "lpop nosuch 2"), Frame::NullArray);
        assert_eq!(run(&s, "rpop nosuch 0"), Frame::NullArray);
        assert_eq!(run(&s, "lpop nosuch"), Frame::Null);
        run(&s, "rpush l a");
        assert_eq!(run(&s, "lpop l 0"), Frame::Array(Vec::new()));
        assert_eq!(run(&s, "rpop l 5"), Frame::Array(vec![bulk("a")]));
        assert_eq!(run(&s, "exists l"), Frame::Integer(0));
    }

    #[test]
    fn lmove_between_segments_keeps_the_store_whole() {
        let (s, clock) = shard();
        run(&s, "rpush src a b c");
        assert_eq!(run(&s, "lmove src dst RIGHT LEFT"), bulk("c"));
        assert_eq!(run(&s, "lmove src dst LEFT RIGHT"), bulk("a"));
        assert_eq!(run(&s, "lmove src dst LEFT LEFT"), bulk("b"));
        assert_eq!(run(&s, "exists src"), Frame::Integer(0));
        assert_eq!(items(run(&s, "lrange dst 0 -1")), ["b", "c", "a"]);
        run(&s, "rpush src x");
        run(&s, "pexpire src 5");
        clock.advance(6);
        assert_eq!(run(&s, "lmove src dst LEFT LEFT"), Frame::Null);
        assert_eq!(run(&s, "llen dst"), Frame::Integer(3));
        s.store.check_invariants();
    }

    /// Redis's range, computed another way: the indexes between the normalised ends.
    fn model_range(len: usize, start: i64, end: i64) -> Vec<usize> {
        let norm = |i: i64| if i < 0 { i + len as i64 } else { i };
        let (s, e) = (norm(start), norm(end));
        (0..len)
            .filter(|&i| s <= i as i64 && i as i64 <= e)
            .collect()
    }

    #[test]
    fn random_list_commands_agree_with_a_vecdeque() {
        let (s, _) = shard();
        let keys = ["{k}a", "{k}b"];
        let mut model: [VecDeque<String>; 2] = Default::default();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..4000 {
            let k = (next() % 2) as usize;
            let key = keys[k];
            let e = format!("e{}", next() % 6);
            let len = model[k].len() as i64;
            let idx = (next() % (2 * len.max(1) as u64 + 4)) as i64 - len - 2;
            let idx2 = (next() % (2 * len.max(1) as u64 + 4)) as i64 - len - 2;
            let m = &mut model[k];
            match next() % 12 {
                0 => {
                    run(&s, &format!("lpush {key} {e} x{e}"));
                    m.push_front(e.clone());
                    m.push_front(format!("x{e}"));
                }
                1 => {
                    assert_eq!(
                        run(&s, &format!("rpush {key} {e}")),
                        Frame::Integer(len + 1)
                    );
                    m.push_back(e);
                }
                2 => {
                    let n = (next() % 4) as usize;
                    let got = run(&s, &format!("lpop {key} {n}"));
                    let want: Vec<String> = (0..n).filter_map(|_| m.pop_front()).collect();
                    if len == 0 {
                        assert_eq!(got, Frame::NullArray);
                    } else {
                        assert_eq!(items(got), want);
                    }
                }
                3 => {
                    let got = run(&s, &format!("rpop {key}"));
                    assert_eq!(got, m.pop_back().map_or(Frame::Null, |v| bulk(&v)));
                }
                4 => {
                    let want: Vec<String> = model_range(m.len(), idx, idx2)
                        .into_iter()
                        .map(|i| m[i].clone())
                        .collect();
                    assert_eq!(items(run(&s, &format!("lrange {key} {idx} {idx2}"))), want);
                }
                5 => {
                    let got = run(&s, &format!("lset {key} {idx} {e}"));
                    match model_range(m.len(), idx, idx).first() {
                        Some(&i) => {
                            assert_eq!(got, Frame::ok());
                            m[i] = e;
                        }
                        None if len == 0 => assert_eq!(got, Frame::error("ERR no such key")),
                        None => assert_eq!(got, Frame::error("ERR index out of range")),
                    }
                }
                6 => {
                    let count = (next() % 5) as i64 - 2;
                    let limit = if count == 0 {
                        usize::MAX
                    } else {
                        count.unsigned_abs() as usize
                    };
                    let mut at: Vec<usize> = (0..m.len()).filter(|&i| m[i] == e).collect();
                    if count < 0 {
                        at.reverse();
                    }
                    at.truncate(limit);
                    at.sort_unstable();
                    for &i in at.iter().rev() {
                        m.remove(i);
                    }
                    assert_eq!(
                        run(&s, &format!("lrem {key} {count} {e}")),
                        Frame::Integer(at.len() as i64)
                    );
                }
                7 => {
                    let keep = model_range(m.len(), idx, idx2);
                    *m = keep.into_iter().map(|i| m[i].clone()).collect();
                    assert_eq!(run(&s, &format!("ltrim {key} {idx} {idx2}")), Frame::ok());
                }
                8 => {
                    let after = next().is_multiple_of(2);
                    let pivot = format!("e{}", next() % 6);
                    let line = format!(
                        "linsert {key} {} {pivot} {e}",
                        if after { "AFTER" } else { "BEFORE" }
                    );
                    let want = match m.iter().position(|v| *v == pivot) {
                        _ if len == 0 => 0,
                        Some(i) => {
                            m.insert(i + usize::from(after), e);
                            m.len() as i64
                        }
                        None => -1,
                    };
                    assert_eq!(run(&s, &line), Frame::Integer(want));
                }
                9 => {
                    let rank: i64 = [1, 2, -1, -2][(next() % 4) as usize];
                    let maxlen = next() % 4;
                    let scanned = if maxlen == 0 {
                        m.len()
                    } else {
                        (maxlen as usize).min(m.len())
                    };
                    let order: Vec<usize> = if rank < 0 {
                        (m.len() - scanned..m.len()).rev().collect()
                    } else {
                        (0..scanned).collect()
                    };
                    let hits: Vec<Frame> = order
                        .into_iter()
                        .filter(|&i| m[i] == e)
                        .skip(rank.unsigned_abs() as usize - 1)
                        .map(|i| Frame::Integer(i as i64))
                        .collect();
                    let line = format!("lpos {key} {e} RANK {rank} MAXLEN {maxlen} COUNT 0");
                    assert_eq!(run(&s, &line), Frame::Array(hits));
                }
                10 => {
                    let (from, to) = (next().is_multiple_of(2), next().is_multiple_of(2));
                    let dst = keys[(next() % 2) as usize];
                    let d = if dst == key { k } else { 1 - k };
                    let line = format!(
                        "lmove {key} {dst} {} {}",
                        if from { "LEFT" } else { "RIGHT" },
                        if to { "LEFT" } else { "RIGHT" }
                    );
                    let popped = if from {
                        model[k].pop_front()
                    } else {
                        model[k].pop_back()
                    };
                    if let Some(v) = &popped {
                        if to {
                            model[d].push_front(v.clone());
                        } else {
                            model[d].push_back(v.clone());
                        }
                    }
                    assert_eq!(run(&s, &line), popped.map_or(Frame::Null, |v| bulk(&v)));
                }
                _ => {
                    let want = model_range(m.len(), idx, idx)
                        .first()
                        .map(|&i| m[i].clone());
                    assert_eq!(
                        run(&s, &format!("lindex {key} {idx}")),
                        want.map_or(Frame::Null, |v| bulk(&v))
                    );
                }
            }
            for (key, m) in keys.iter().zip(&model) {
                assert_eq!(
                    run(&s, &format!("llen {key}")),
                    Frame::Integer(m.len() as i64)
                );
            }
        }
        for (key, m) in keys.iter().zip(&model) {
            assert_eq!(
                items(run(&s, &format!("lrange {key} 0 -1"))),
                Vec::from(m.clone())
            );
        }
        s.store.check_invariants();
    }
}
