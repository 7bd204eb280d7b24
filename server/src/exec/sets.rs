//! Set commands (Redis's "set" group), with Redis 7.0's replies and errors.
//!
//! Replies listing members are RESP3 sets (`~`), as Redis 7.0's (SRANDMEMBER's are arrays:
//! with a negative count a member may come back twice). A small set lists its members in
//! the order they were added; Redis 7.0 keeps small sets of strings in a hashtable and lists
//! them in its hash order, small sets of integers sorted, so only the members agree.

use std::borrow::Cow;
use std::collections::HashSet;

use bytes::Bytes;
use protocol::command::parse_i64;
use protocol::{CommandError, Frame, Protocol};

use super::elements::{bulk, random, random_count, read, reply, scan_args, scan_reply, write};
use crate::store::types::{Collection, ObjType, Set, Typed};
use crate::store::{Store, StoreError};

fn members<'a>(m: impl IntoIterator<Item = &'a [u8]>) -> Frame {
    Frame::Set(m.into_iter().map(bulk).collect())
}

/// ```text
/// SADD key member [member ...]
/// ```
pub(super) fn sadd(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    write::<Set>(store, &args[1], true, Frame::Null, |s| {
        Frame::Integer(args[2..].iter().filter(|m| s.insert(m)).count() as i64)
    })
}

/// ```text
/// SREM key member [member ...]
/// ```
pub(super) fn srem(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    write::<Set>(store, &args[1], false, Frame::Integer(0), |s| {
        Frame::Integer(args[2..].iter().filter(|m| s.remove(m)).count() as i64)
    })
}

/// ```text
/// SMEMBERS key
/// ```
pub(super) fn smembers(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    read::<Set>(store, &args[1], Frame::Set(Vec::new()), |s| {
        members(s.iter())
    })
}

/// ```text
/// SISMEMBER key member
/// ```
pub(super) fn sismember(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    read::<Set>(store, &args[1], Frame::Integer(0), |s| {
        Frame::Integer(i64::from(s.contains(&args[2])))
    })
}

/// ```text
/// SMISMEMBER key member [member ...]
/// ```
pub(super) fn smismember(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let missing = Frame::Array(vec![Frame::Integer(0); args.len() - 2]);
    read::<Set>(store, &args[1], missing, |s| {
        Frame::Array(
            args[2..]
                .iter()
                .map(|m| Frame::Integer(i64::from(s.contains(m))))
                .collect(),
        )
    })
}

/// ```text
/// SCARD key
/// ```
pub(super) fn scard(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    read::<Set>(store, &args[1], Frame::Integer(0), |s| {
        Frame::Integer(s.len() as i64)
    })
}

/// ```text
/// SPOP key [count]
/// ```
/// The count is read before the key (`ERR value is out of range, must be positive`); a
/// count of at least the set's size takes the whole set and removes the key.
pub(super) fn spop(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    match args.len() {
        2 => {
            return write::<Set>(store, &args[1], false, Frame::Null, |s| {
                pop_random(s).map_or(Frame::Null, |m| Frame::Bulk(m.into()))
            })
        }
        3 => {}
        _ => return CommandError::Syntax.to_frame(),
    }
    let count = match parse_i64(&args[2]) {
        Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => return Frame::error("ERR value is out of range, must be positive"),
    };
    write::<Set>(store, &args[1], false, Frame::Set(Vec::new()), |s| {
        if count >= s.len() {
            let all = members(s.iter());
            *s = Set::default();
            return all;
        }
        let popped = (0..count).filter_map(|_| pop_random(s));
        Frame::Set(popped.map(|m| Frame::Bulk(m.into())).collect())
    })
}

/// Removes and returns a random member.
fn pop_random(s: &mut Set) -> Option<Vec<u8>> {
    let m = s.random(random())?.to_vec();
    s.remove(&m);
    Some(m)
}

/// ```text
/// SRANDMEMBER key [count]
/// ```
/// A negative count may return a member more than once; a count of at least the set's size
/// returns the whole set.
pub(super) fn srandmember(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    match args.len() {
        2 => {
            return read::<Set>(store, &args[1], Frame::Null, |s| {
                s.random(random()).map_or(Frame::Null, bulk)
            })
        }
        3 => {}
        _ => return CommandError::Syntax.to_frame(),
    }
    let n = match random_count(&args[2], false) {
        Ok(n) => n,
        Err(e) => return e,
    };
    read::<Set>(store, &args[1], Frame::Array(Vec::new()), |s| {
        let picked: Vec<&[u8]> = if n.count == 0 {
            Vec::new()
        } else if n.repeats {
            (0..n.count).filter_map(|_| s.random(random())).collect()
        } else if n.count >= s.len() {
            s.iter().collect()
        } else {
            distinct(s, n.count)
        };
        Frame::Array(picked.into_iter().map(bulk).collect())
    })
}

/// Returns `count` distinct random members (fewer than the set holds).
fn distinct(s: &Set, count: usize) -> Vec<&[u8]> {
    if count * 3 > s.len() {
        // Redis's CASE 3: most of the set; drop random ones from all of it.
        let mut all: Vec<&[u8]> = s.iter().collect();
        while all.len() > count {
            let i = (random() % all.len() as u64) as usize;
            all.swap_remove(i);
        }
        return all;
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        if let Some(m) = s.random(random()) {
            if seen.insert(m) {
                out.push(m);
            }
        }
    }
    out
}

/// ```text
/// SSCAN key cursor [MATCH pattern] [COUNT count]
/// ```
/// A small set is one page (cursor 0), as Redis's listpack and intset; a large one pages by
/// the members' hashes.
pub(super) fn sscan(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let scan = match scan_args(&args[2..]) {
        Ok(s) => s,
        Err(e) => return e,
    };
    read::<Set>(store, &args[1], scan_reply(0, Vec::new()), |s| {
        let (next, page) = s.page(scan.cursor, scan.count);
        let items = page
            .into_iter()
            .filter(|m| scan.matches(m))
            .map(bulk)
            .collect();
        scan_reply(next, items)
    })
}

/// ```text
/// SMOVE source destination member
/// ```
/// One step under both keys' locks. As Redis: an absent source is 0 whatever the
/// destination holds; a source or destination of another type is WRONGTYPE; the same key
/// twice only says whether the member is there.
pub(super) fn smove(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let (src, dst, member) = (&args[1][..], &args[2][..], &args[3][..]);
    reply(store.lock_keys(&[src, dst], |l| {
        let Some(src_type) = l.obj_type(src) else {
            return Ok(Frame::Integer(0));
        };
        let dst_type = l.obj_type(dst);
        if src_type != ObjType::Set || dst_type.is_some_and(|t| t != ObjType::Set) {
            return Err(StoreError::WrongType);
        }
        if src == dst {
            let there = l.write(src, ObjType::Set, false, |c| Set::of(c).contains(member))?;
            return Ok(Frame::Integer(i64::from(there == Some(true))));
        }
        let removed = l.write(src, ObjType::Set, false, |c| Set::of_mut(c).remove(member))?;
        if removed != Some(true) {
            return Ok(Frame::Integer(0));
        }
        l.write(dst, ObjType::Set, true, |c| Set::of_mut(c).insert(member))?;
        Ok(Frame::Integer(1))
    }))
}

/// What SINTER, SUNION and SDIFF (and their STORE forms) compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// Returns the members of `op` over `sets` (`None`: an absent key, an empty set), each once.
fn combine<'a>(op: Op, sets: &[Option<&'a Set>]) -> Vec<&'a [u8]> {
    match op {
        Op::Inter => {
            if sets.iter().any(Option::is_none) {
                return Vec::new();
            }
            let mut sets: Vec<&Set> = sets.iter().flatten().copied().collect();
            // The smallest set drives, as Redis's.
            sets.sort_by_key(|s| s.len());
            let Some((first, rest)) = sets.split_first() else {
                return Vec::new();
            };
            first
                .iter()
                .filter(|m| rest.iter().all(|s| s.contains(m)))
                .collect()
        }
        Op::Union => {
            let mut seen = HashSet::new();
            sets.iter()
                .flatten()
                .flat_map(|s| s.iter())
                .filter(|m| seen.insert(*m))
                .collect()
        }
        Op::Diff => {
            let Some(Some(first)) = sets.first() else {
                return Vec::new();
            };
            first
                .iter()
                .filter(|m| !sets[1..].iter().flatten().any(|s| s.contains(m)))
                .collect()
        }
    }
}

fn sets_of<'a>(found: &'a [Option<Cow<'_, Collection>>]) -> Vec<Option<&'a Set>> {
    found.iter().map(|c| c.as_deref().map(Set::of)).collect()
}

fn keys_of(args: &[Bytes]) -> Vec<&[u8]> {
    args.iter().map(|k| &k[..]).collect()
}

/// SINTER / SUNION / SDIFF: every key's type is checked, absent keys included.
fn combine_reply(args: &[Bytes], store: &Store, op: Op) -> Frame {
    let keys = keys_of(&args[1..]);
    reply(store.lock_keys(&keys, |l| {
        let found = l.read_many(&keys, ObjType::Set)?;
        Ok(members(combine(op, &sets_of(&found))))
    }))
}

/// SINTERSTORE / SUNIONSTORE / SDIFFSTORE: the destination is replaced whatever it held,
/// and removed when the result is empty.
fn combine_store(args: &[Bytes], store: &Store, op: Op) -> Frame {
    let dst = &args[1][..];
    let keys = keys_of(&args[2..]);
    let mut all = keys.clone();
    all.push(dst);
    reply(store.lock_keys(&all, |l| {
        let result = {
            let found = l.read_many(&keys, ObjType::Set)?;
            let mut result = Set::default();
            for m in combine(op, &sets_of(&found)) {
                result.insert(m);
            }
            result
        };
        let n = result.len();
        l.replace(dst, Collection::Set(result));
        Ok(Frame::Integer(n as i64))
    }))
}

/// ```text
/// SINTER key [key ...]
/// ```
pub(super) fn sinter(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    combine_reply(args, store, Op::Inter)
}

/// ```text
/// SUNION key [key ...]
/// ```
pub(super) fn sunion(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    combine_reply(args, store, Op::Union)
}

/// ```text
/// SDIFF key [key ...]
/// ```
pub(super) fn sdiff(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    combine_reply(args, store, Op::Diff)
}

/// ```text
/// SINTERSTORE destination key [key ...]
/// ```
pub(super) fn sinterstore(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    combine_store(args, store, Op::Inter)
}

/// ```text
/// SUNIONSTORE destination key [key ...]
/// ```
pub(super) fn sunionstore(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    combine_store(args, store, Op::Union)
}

/// ```text
/// SDIFFSTORE destination key [key ...]
/// ```
pub(super) fn sdiffstore(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    combine_store(args, store, Op::Diff)
}

/// ```text
/// SINTERCARD numkeys key [key ...] [LIMIT limit]
/// ```
/// Counts up to LIMIT (0: no limit). Arguments are checked before any key, in Redis's words.
pub(super) fn sintercard(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let numkeys = match parse_i64(&args[1]) {
        Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => return Frame::error("ERR numkeys should be greater than 0"),
    };
    if numkeys > args.len() - 2 {
        return Frame::error("ERR Number of keys can't be greater than number of args");
    }
    let mut limit = 0usize;
    let mut i = 2 + numkeys;
    while i < args.len() {
        if !args[i].eq_ignore_ascii_case(b"limit") || i + 1 >= args.len() {
            return CommandError::Syntax.to_frame();
        }
        limit = match parse_i64(&args[i + 1]) {
            Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => return Frame::error("ERR LIMIT can't be negative"),
        };
        i += 2;
    }
    let keys = keys_of(&args[2..2 + numkeys]);
    reply(store.lock_keys(&keys, |l| {
        let found = l.read_many(&keys, ObjType::Set)?;
        let sets = sets_of(&found);
        let mut n = 0;
        if sets.iter().all(Option::is_some) {
            let mut sets: Vec<&Set> = sets.into_iter().flatten().collect();
            sets.sort_by_key(|s| s.len());
            if let Some((first, rest)) = sets.split_first() {
                for m in first.iter() {
                    if rest.iter().all(|s| s.contains(m)) {
                        n += 1;
                        if n == limit {
                            break;
                        }
                    }
                }
            }
        }
        Ok(Frame::Integer(n as i64))
    }))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use protocol::Frame;

    use crate::exec::strings::tests::{run, shard};

    /// Returns the members of an array or set reply, sorted (small sets list members in
    /// insertion order, Redis 7.0 in its hash order: only the members can agree).
    fn sorted(f: Frame) -> Vec<String> {
        let (Frame::Array(items) | Frame::Set(items)) = f else {
            panic!("not a list of members: {f:?}");
        };
        let mut out: Vec<String> = items
            .into_iter()
            .map(|i| match i {
                Frame::Bulk(b) => String::from_utf8(b.to_vec()).expect("utf-8"),
                other => panic!("not a member: {other:?}"),
            })
            .collect();
        out.sort();
        out
    }

    fn strs(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Returns `SADD key` with `n` members `prefix0 ...`.
    fn sadd_many(key: &str, prefix: &str, range: std::ops::Range<usize>) -> String {
        let members: Vec<String> = range.map(|i| format!("{prefix}{i}")).collect();
        format!("sadd {key} {}", members.join(" "))
    }

    #[test]
    fn member_lists_are_resp3_sets_and_srandmember_an_array() {
        let (s, _) = shard();
        run(&s, "sadd k a b c");
        assert!(matches!(run(&s, "smembers k"), Frame::Set(m) if m.len() == 3));
        assert_eq!(run(&s, "smembers nosuch"), Frame::Set(Vec::new()));
        assert_eq!(run(&s, "sinter k nosuch"), Frame::Set(Vec::new()));
        assert!(matches!(run(&s, "sunion k nosuch"), Frame::Set(m) if m.len() == 3));
        assert_eq!(run(&s, "spop nosuch 2"), Frame::Set(Vec::new()));
        assert_eq!(run(&s, "spop k 0"), Frame::Set(Vec::new()));
        assert!(matches!(run(&s, "spop k 1"), Frame::Set(m) if m.len() == 1));
        assert!(matches!(run(&s, "srandmember k 5"), Frame::Array(m) if m.len() == 2));
        assert_eq!(run(&s, "srandmember nosuch 5"), Frame::Array(Vec::new()));
    }

    #[test]
    fn set_operations_agree_with_btreesets_in_both_forms() {
        let (s, _) = shard();
        // {k}big is past the packed limit, {k}small is packed.
        run(&s, &sadd_many("{k}big", "m", 0..300));
        run(&s, &sadd_many("{k}small", "m", 250..320));
        run(&s, "sadd {k}small x y");
        assert_eq!(run(&s, "sintercard 2 {k}big {k}small"), Frame::Integer(50));
        assert_eq!(
            run(&s, "sintercard 2 {k}big {k}small LIMIT 7"),
            Frame::Integer(7)
        );
        let want: Vec<String> = (250..300).map(|i| format!("m{i}")).collect();
        let mut want_sorted = want.clone();
        want_sorted.sort();
        assert_eq!(sorted(run(&s, "sinter {k}big {k}small")), want_sorted);
        let mut union: Vec<String> = (0..320).map(|i| format!("m{i}")).collect();
        union.extend(strs(&["x", "y"]));
        union.sort();
        assert_eq!(sorted(run(&s, "sunion {k}small {k}big")), union);
        let mut diff: Vec<String> = (300..320).map(|i| format!("m{i}")).collect();
        diff.extend(strs(&["x", "y"]));
        diff.sort();
        assert_eq!(sorted(run(&s, "sdiff {k}small {k}big nosuch")), diff);
        assert_eq!(
            run(&s, "sunionstore {k}d {k}small {k}big"),
            Frame::Integer(322)
        );
        assert_eq!(sorted(run(&s, "smembers {k}d")), union);
        assert_eq!(
            run(&s, "sdiffstore {k}d {k}small {k}big"),
            Frame::Integer(22)
        );
        assert_eq!(sorted(run(&s, "smembers {k}d")), diff);
        assert_eq!(
            run(&s, "sinterstore {k}small {k}small {k}big"),
            Frame::Integer(50),
            "a source may be the destination"
        );
        assert_eq!(sorted(run(&s, "smembers {k}small")), want_sorted);
        s.store.check_invariants();
    }

    #[test]
    fn spop_with_a_count_removes_distinct_members() {
        let (s, _) = shard();
        for n in [10, 200] {
            run(&s, "del k");
            run(&s, &sadd_many("k", "m", 0..n));
            let popped = sorted(run(&s, "spop k 7"));
            assert_eq!(popped.len(), 7);
            assert_eq!(popped.iter().collect::<BTreeSet<_>>().len(), 7, "distinct");
            assert_eq!(run(&s, "scard k"), Frame::Integer(n as i64 - 7));
            for m in &popped {
                assert_eq!(run(&s, &format!("sismember k {m}")), Frame::Integer(0));
            }
            let rest = sorted(run(&s, &format!("spop k {n}")));
            assert_eq!(rest.len(), n - 7);
            assert_eq!(run(&s, "exists k"), Frame::Integer(0));
        }
        run(&s, "sadd k only");
        assert_eq!(run(&s, "spop k"), Frame::bulk(b"only"));
        assert_eq!(run(&s, "exists k"), Frame::Integer(0));
        s.store.check_invariants();
    }

    #[test]
    fn srandmember_counts_give_distinct_or_repeated_members() {
        let (s, _) = shard();
        for n in [10usize, 200] {
            run(&s, "del k");
            run(&s, &sadd_many("k", "m", 0..n));
            let all: Vec<String> = sorted(run(&s, "smembers k"));
            // Both of Redis's distinct cases: most of the set, and a few of it.
            for count in [n - 1, n / 2, 2, 1] {
                let got = sorted(run(&s, &format!("srandmember k {count}")));
                assert_eq!(got.len(), count);
                assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), count);
                assert!(got.iter().all(|m| all.contains(m)));
            }
            assert_eq!(sorted(run(&s, &format!("srandmember k {}", n + 5))), all);
            let repeated = sorted(run(&s, "srandmember k -500"));
            assert_eq!(repeated.len(), 500);
            assert!(repeated.iter().all(|m| all.contains(m)));
            assert_eq!(run(&s, "scard k"), Frame::Integer(n as i64));
        }
    }

    #[test]
    fn sscan_of_a_large_set_returns_every_member() {
        let (s, _) = shard();
        run(&s, &sadd_many("k", "m", 0..500));
        let (mut cursor, mut seen) = ("0".to_string(), Vec::new());
        loop {
            let Frame::Array(mut reply) = run(&s, &format!("sscan k {cursor} COUNT 20")) else {
                panic!("not an array");
            };
            seen.extend(sorted(reply.pop().expect("members")));
            let Some(Frame::Bulk(next)) = reply.pop() else {
                panic!("no cursor");
            };
            cursor = String::from_utf8(next.to_vec()).expect("utf-8");
            if cursor == "0" {
                break;
            }
        }
        seen.sort();
        assert_eq!(seen, sorted(run(&s, "smembers k")));
        assert_eq!(seen.len(), 500);
    }

    #[test]
    fn smove_moves_between_segments_and_ignores_an_expired_source() {
        let (s, clock) = shard();
        // Keys without a shared tag: almost surely in two segments.
        run(&s, "sadd src a b");
        assert_eq!(run(&s, "smove src dst a"), Frame::Integer(1));
        assert_eq!(run(&s, "smove src dst a"), Frame::Integer(0));
        assert_eq!(run(&s, "smove src dst b"), Frame::Integer(1));
        assert_eq!(run(&s, "exists src"), Frame::Integer(0));
        assert_eq!(sorted(run(&s, "smembers dst")), strs(&["a", "b"]));
        run(&s, "sadd src c");
        run(&s, "pexpire src 10");
        clock.advance(11);
        assert_eq!(run(&s, "smove src dst c"), Frame::Integer(0));
        assert_eq!(run(&s, "scard dst"), Frame::Integer(2));
        s.store.check_invariants();
    }

    #[test]
    fn random_set_commands_agree_with_a_model() {
        let (s, _) = shard();
        let keys = ["{k}a", "{k}b", "{k}c"];
        let mut model: [BTreeSet<String>; 3] = Default::default();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for step in 0..3000 {
            let (i, j) = ((next() % 3) as usize, (next() % 3) as usize);
            let m = format!("m{}", next() % 180);
            match next() % 6 {
                0 | 1 => {
                    let n = (next() % 4 + 1) as usize;
                    let ms: Vec<String> = (0..n)
                        .map(|k| format!("m{}", (next() + k as u64) % 180))
                        .collect();
                    let new = ms.iter().filter(|m| model[i].insert(m.to_string())).count();
                    let line = format!("sadd {} {}", keys[i], ms.join(" "));
                    assert_eq!(run(&s, &line), Frame::Integer(new as i64));
                }
                2 => {
                    let line = format!("srem {} {m}", keys[i]);
                    let had = model[i].remove(&m);
                    assert_eq!(run(&s, &line), Frame::Integer(i64::from(had)));
                }
                3 => {
                    let line = format!("smove {} {} {m}", keys[i], keys[j]);
                    let had = model[i].contains(&m);
                    if had && i != j {
                        model[i].remove(&m);
                        model[j].insert(m);
                    }
                    assert_eq!(run(&s, &line), Frame::Integer(i64::from(had)));
                }
                4 => {
                    let popped = sorted(run(&s, &format!("spop {} 3", keys[i])));
                    assert_eq!(popped.len(), model[i].len().min(3));
                    for m in popped {
                        assert!(model[i].remove(&m), "popped {m}, not a member");
                    }
                }
                _ => {
                    let line = format!("sinterstore {} {} {}", keys[i], keys[j], keys[(i + 1) % 3]);
                    let both: BTreeSet<String> = model[j]
                        .intersection(&model[(i + 1) % 3])
                        .cloned()
                        .collect();
                    model[i] = both;
                    assert_eq!(run(&s, &line), Frame::Integer(model[i].len() as i64));
                }
            }
            if step % 100 == 0 {
                for (k, m) in keys.iter().zip(&model) {
                    let want: Vec<String> = m.iter().cloned().collect();
                    assert_eq!(sorted(run(&s, &format!("smembers {k}"))), want);
                }
                s.store.check_invariants();
            }
        }
    }
}
