//! Set commands (Redis's "set" group), with Redis 7.0's replies and errors.
//!
//! Replies listing members are RESP3 sets (`~`), as Redis 7.0's (SRANDMEMBER's are arrays:
//! with a negative count a member may come back twice). A small set lists its members in
//! the order they were added; Redis 7.0 keeps small sets of strings in a hashtable and lists
//! them in its hash order, small sets of integers sorted, so only the members agree.

use std::collections::HashSet;

use bytes::Bytes;
use protocol::command::parse_i64;
use protocol::{CommandError, Frame, Protocol};

use super::elements::{random, random_count, reply, scan_args, scan_reply};
use crate::store::types::{Collection, ObjType, Set};
use crate::store::{Store, StoreError};

/// Runs `f` on the set at `key` as a read; `missing` when there is none.
fn read(store: &Store, key: &[u8], missing: Frame, f: impl FnOnce(&Set) -> Frame) -> Frame {
    reply(
        store
            .read_collection(key, ObjType::Set, |c| f(set_of(c)))
            .map(|r| r.unwrap_or(missing)),
    )
}

/// Runs `f` on the set at `key` to change it, creating it when `create`; `missing` when
/// there is none and `create` is false.
fn write(
    store: &Store,
    key: &[u8],
    create: bool,
    missing: Frame,
    f: impl FnOnce(&mut Set) -> Frame,
) -> Frame {
    reply(
        store
            .write_collection(key, ObjType::Set, create, |c| f(set_of_mut(c)))
            .map(|r| r.unwrap_or(missing)),
    )
}

fn set_of(c: &Collection) -> &Set {
    match c {
        Collection::Set(s) => s,
        _ => unreachable!("typed by the store"),
    }
}

fn set_of_mut(c: &mut Collection) -> &mut Set {
    match c {
        Collection::Set(s) => s,
        _ => unreachable!("typed by the store"),
    }
}

fn bulk(b: &[u8]) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(b))
}

fn members<'a>(m: impl IntoIterator<Item = &'a [u8]>) -> Frame {
    Frame::Set(m.into_iter().map(bulk).collect())
}

/// ```text
/// SADD key member [member ...]
/// ```
pub(super) fn sadd(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    write(store, &args[1], true, Frame::Null, |s| {
        Frame::Integer(args[2..].iter().filter(|m| s.insert(m)).count() as i64)
    })
}

/// ```text
/// SREM key member [member ...]
/// ```
pub(super) fn srem(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    write(store, &args[1], false, Frame::Integer(0), |s| {
        Frame::Integer(args[2..].iter().filter(|m| s.remove(m)).count() as i64)
    })
}

/// ```text
/// SMEMBERS key
/// ```
pub(super) fn smembers(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    read(store, &args[1], Frame::Set(Vec::new()), |s| {
        members(s.iter())
    })
}

/// ```text
/// SISMEMBER key member
/// ```
pub(super) fn sismember(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    read(store, &args[1], Frame::Integer(0), |s| {
        Frame::Integer(i64::from(s.contains(&args[2])))
    })
}

/// ```text
/// SMISMEMBER key member [member ...]
/// ```
pub(super) fn smismember(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let missing = Frame::Array(vec![Frame::Integer(0); args.len() - 2]);
    read(store, &args[1], missing, |s| {
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
    read(store, &args[1], Frame::Integer(0), |s| {
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
            return write(store, &args[1], false, Frame::Null, |s| {
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
    write(store, &args[1], false, Frame::Set(Vec::new()), |s| {
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
            return read(store, &args[1], Frame::Null, |s| {
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
    read(store, &args[1], Frame::Array(Vec::new()), |s| {
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
    read(store, &args[1], scan_reply(0, Vec::new()), |s| {
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
            let there = l.write(src, ObjType::Set, false, |c| set_of(c).contains(member))?;
            return Ok(Frame::Integer(i64::from(there == Some(true))));
        }
        let removed = l.write(src, ObjType::Set, false, |c| set_of_mut(c).remove(member))?;
        if removed != Some(true) {
            return Ok(Frame::Integer(0));
        }
        l.write(dst, ObjType::Set, true, |c| set_of_mut(c).insert(member))?;
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

fn sets_of<'a>(found: &[Option<&'a Collection>]) -> Vec<Option<&'a Set>> {
    found.iter().map(|c| c.map(set_of)).collect()
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
