//! Several shard replies become one: the only place that does it.
//!
//! Every input is checked: a reply of the wrong shape or count becomes `-ERR`, never a guess
//! and never a panic. A shard's own error reply wins over everything after it, as it would
//! with one Redis; a shard that could not be reached gives its `ShardError` text.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use std::collections::HashSet;

use bytes::Bytes;
use protocol::command::{Merge, SetOp, SCAN_CURSOR_BITS, SCAN_CURSOR_MASK};
use protocol::Frame;

use crate::path::plan::{scan_reply, Part};

pub use crate::shards::ShardReply;

const UNEXPECTED: &str = protocol::text::UNEXPECTED_REPLY;

/// Parses one shard reply; a shard error, a transport error or garbage become `Err(frame)`.
fn frame(reply: ShardReply) -> Result<Frame, Frame> {
    match reply.map_err(|e| e.to_frame())?.into_frame() {
        Ok(Frame::Error(e)) => Err(Frame::Error(e)),
        Ok(frame) => Ok(frame),
        Err(_) => Err(Frame::error(UNEXPECTED)),
    }
}

/// Merges the replies of a split or broadcast command.
///
/// `parts` is the split's parts (one reply each, same order); empty for a broadcast.
/// `Merge::Info` is not handled here: the handler answers INFO from the shards' figures.
pub fn merge(merge: Merge, parts: &[Part], replies: Vec<ShardReply>) -> Frame {
    let result = match merge {
        Merge::Reorder { len } => reorder(len, parts, replies),
        Merge::Sum => sum(replies),
        Merge::AllOk => all_ok(replies),
        Merge::Concat => concat(replies),
        Merge::AnyKey => any_key(replies),
        Merge::Info => Err(Frame::error(UNEXPECTED)),
        Merge::MemoryStats => Ok(memory_stats(replies)),
        Merge::Sets(op) => sets(op, parts, replies),
        Merge::Same => same(replies),
        Merge::Min => min(replies),
    };
    result.unwrap_or_else(|e| e)
}

/// MEMORY STATS: every group's figures added up, field by field in the first group's
/// order (nested maps too); a field that is not an integer keeps the first group's value;
/// `keys.bytes-per-key` is computed again from the sums. A shard sends a map (in-process) or
/// its RESP2 form, a flat array of pairs.
pub fn memory_stats(replies: Vec<ShardReply>) -> Frame {
    let mut total: Option<Vec<(Frame, Frame)>> = None;
    for reply in replies {
        let pairs = match frame(reply).and_then(pairs) {
            Ok(pairs) => pairs,
            Err(e) => return e,
        };
        total = Some(match total {
            None => pairs,
            Some(sum) => add_pairs(sum, pairs),
        });
    }
    let mut total = total.unwrap_or_default();
    let field = |pairs: &[(Frame, Frame)], name: &[u8]| {
        pairs.iter().find_map(|(k, v)| match (k, v) {
            (Frame::Bulk(k), Frame::Integer(n)) if &k[..] == name => Some(*n),
            _ => None,
        })
    };
    let keys = field(&total, b"keys.count").unwrap_or(0);
    let bytes = field(&total, b"dataset.bytes").unwrap_or(0);
    for (k, v) in &mut total {
        if matches!(k, Frame::Bulk(k) if &k[..] == b"keys.bytes-per-key") {
            *v = Frame::Integer(bytes.checked_div(keys).unwrap_or(0));
        }
    }
    Frame::Map(total)
}

/// Returns a map reply's pairs, from a map or from RESP2's flat array.
fn pairs(frame: Frame) -> Result<Vec<(Frame, Frame)>, Frame> {
    match frame {
        Frame::Map(pairs) => Ok(pairs),
        Frame::Array(items) if items.len() % 2 == 0 => {
            let mut items = items.into_iter();
            let mut out = Vec::new();
            while let (Some(k), Some(v)) = (items.next(), items.next()) {
                out.push((k, v));
            }
            Ok(out)
        }
        _ => Err(Frame::error(UNEXPECTED)),
    }
}

/// Adds `more`'s integers to `sum`'s, by field name (nested maps field by field).
fn add_pairs(mut sum: Vec<(Frame, Frame)>, more: Vec<(Frame, Frame)>) -> Vec<(Frame, Frame)> {
    for (k, v) in more {
        let Some((_, into)) = sum.iter_mut().find(|(name, _)| *name == k) else {
            continue;
        };
        match (into, v) {
            (Frame::Integer(a), Frame::Integer(b)) => *a = a.saturating_add(b),
            (into @ (Frame::Map(_) | Frame::Array(_)), v @ (Frame::Map(_) | Frame::Array(_))) => {
                if let (Ok(a), Ok(b)) = (pairs(std::mem::replace(into, Frame::Null)), pairs(v)) {
                    *into = Frame::Map(add_pairs(a, b));
                }
            }
            _ => {}
        }
    }
    sum
}

fn reorder(len: usize, parts: &[Part], replies: Vec<ShardReply>) -> Result<Frame, Frame> {
    if parts.len() != replies.len() {
        return Err(Frame::error(UNEXPECTED));
    }
    let mut out: Vec<Option<Frame>> = vec![None; len];
    for (part, reply) in parts.iter().zip(replies) {
        let Frame::Array(values) = frame(reply)? else {
            return Err(Frame::error(UNEXPECTED));
        };
        if values.len() != part.positions.len() {
            return Err(Frame::error(UNEXPECTED));
        }
        for (&pos, value) in part.positions.iter().zip(values) {
            let slot = out.get_mut(pos).ok_or_else(|| Frame::error(UNEXPECTED))?;
            *slot = Some(value);
        }
    }
    let values: Option<Vec<Frame>> = out.into_iter().collect();
    values
        .map(Frame::Array)
        .ok_or_else(|| Frame::error(UNEXPECTED))
}

/// Returns the members a set reply holds (an array in RESP2, a set in RESP3).
fn members(reply: ShardReply) -> Result<Vec<Bytes>, Frame> {
    let (Frame::Array(items) | Frame::Set(items)) = frame(reply)? else {
        return Err(Frame::error(UNEXPECTED));
    };
    items
        .into_iter()
        .map(|f| match f {
            Frame::Bulk(b) => Ok(b),
            _ => Err(Frame::error(UNEXPECTED)),
        })
        .collect()
}

/// SINTER SUNION SDIFF SINTERCARD across groups (see `SetOp`). Every part's reply is read
/// first, so a wrong type in any group is reported, as Redis checks every key's type.
fn sets(op: SetOp, parts: &[Part], replies: Vec<ShardReply>) -> Result<Frame, Frame> {
    if parts.len() != replies.len() {
        return Err(Frame::error(UNEXPECTED));
    }
    let mut all = Vec::with_capacity(replies.len());
    let mut first_err = None;
    for reply in replies {
        match members(reply) {
            Ok(m) => all.push(m),
            Err(e) => first_err = first_err.or(Some(e)),
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let bulks = |v: Vec<Bytes>| Frame::Set(v.into_iter().map(Frame::Bulk).collect());
    let set_of = |v: &Vec<Bytes>| v.iter().cloned().collect::<HashSet<Bytes>>();
    Ok(match op {
        SetOp::Inter | SetOp::InterCard { .. } => {
            let others: Vec<HashSet<Bytes>> = all.iter().skip(1).map(set_of).collect();
            let first = all.into_iter().next().unwrap_or_default();
            let both = first
                .into_iter()
                .filter(|m| others.iter().all(|o| o.contains(m)));
            match op {
                SetOp::InterCard { limit } if limit > 0 => {
                    Frame::Integer(both.take(limit).count() as i64)
                }
                SetOp::InterCard { .. } => Frame::Integer(both.count() as i64),
                _ => bulks(both.collect()),
            }
        }
        SetOp::Union => {
            let mut seen = HashSet::new();
            bulks(
                all.into_iter()
                    .flatten()
                    .filter(|m| seen.insert(m.clone()))
                    .collect(),
            )
        }
        SetOp::Diff => {
            let base = parts.iter().position(|p| p.positions.first() == Some(&0));
            let Some(base) = base else {
                return Err(Frame::error(UNEXPECTED));
            };
            let minus: HashSet<Bytes> = all
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != base)
                .flat_map(|(_, m)| m.iter().cloned())
                .collect();
            let first = std::mem::take(&mut all[base]);
            bulks(first.into_iter().filter(|m| !minus.contains(m)).collect())
        }
    })
}

/// BGSAVE: the reply every group gave; the first error, or `UNEXPECTED` if they differ.
fn same(replies: Vec<ShardReply>) -> Result<Frame, Frame> {
    let mut first: Option<Frame> = None;
    for reply in replies {
        let f = frame(reply)?;
        match &first {
            None => first = Some(f),
            Some(x) if *x == f => {}
            Some(_) => return Err(Frame::error(UNEXPECTED)),
        }
    }
    first.ok_or_else(|| Frame::error(UNEXPECTED))
}

/// LASTSAVE: the smallest of the groups' integers.
fn min(replies: Vec<ShardReply>) -> Result<Frame, Frame> {
    let mut least: Option<i64> = None;
    for reply in replies {
        let Frame::Integer(n) = frame(reply)? else {
            return Err(Frame::error(UNEXPECTED));
        };
        least = Some(least.map_or(n, |l| l.min(n)));
    }
    least
        .map(Frame::Integer)
        .ok_or_else(|| Frame::error(UNEXPECTED))
}

fn sum(replies: Vec<ShardReply>) -> Result<Frame, Frame> {
    let mut total: i64 = 0;
    for reply in replies {
        let Frame::Integer(n) = frame(reply)? else {
            return Err(Frame::error(UNEXPECTED));
        };
        total = total
            .checked_add(n)
            .ok_or_else(|| Frame::error(UNEXPECTED))?;
    }
    Ok(Frame::Integer(total))
}

fn all_ok(replies: Vec<ShardReply>) -> Result<Frame, Frame> {
    // Every reply is looked at, so a later error is not hidden behind an earlier oddity.
    let mut first_err = None;
    for reply in replies {
        let bad = match frame(reply) {
            Ok(Frame::Simple(s)) if s.as_ref() == b"OK" => None,
            Ok(_) => Some(Frame::error(UNEXPECTED)),
            Err(e) => Some(e),
        };
        if first_err.is_none() {
            first_err = bad;
        }
    }
    first_err.map_or(Ok(Frame::ok()), Err)
}

fn concat(replies: Vec<ShardReply>) -> Result<Frame, Frame> {
    let mut all = Vec::new();
    for reply in replies {
        let Frame::Array(items) = frame(reply)? else {
            return Err(Frame::error(UNEXPECTED));
        };
        all.extend(items);
    }
    Ok(Frame::Array(all))
}

/// RANDOMKEY: a random shard that has a key; unreachable shards are skipped unless no
/// shard had a key, so one shard down does not make RANDOMKEY fail.
fn any_key(replies: Vec<ShardReply>) -> Result<Frame, Frame> {
    let mut keys = Vec::new();
    let mut first_err = None;
    for reply in replies {
        match frame(reply) {
            Ok(Frame::Bulk(k)) => keys.push(k),
            Ok(Frame::Null) => {}
            Ok(_) => first_err = first_err.or(Some(Frame::error(UNEXPECTED))),
            Err(e) => first_err = first_err.or(Some(e)),
        }
    }
    if keys.is_empty() {
        return first_err.map_or(Ok(Frame::Null), Err);
    }
    let pick = RandomState::new().build_hasher().finish() as usize % keys.len();
    Ok(Frame::Bulk(keys.swap_remove(pick)))
}

/// Turns shard `shard`'s SCAN reply into the router's: the cursor gains the shard index,
/// and a finished shard hands over to the next one (`n_shards` in all).
pub fn scan(shard: usize, n_shards: usize, reply: ShardReply) -> Frame {
    scan_inner(shard, n_shards, reply).unwrap_or_else(|e| e)
}

fn scan_inner(shard: usize, n_shards: usize, reply: ShardReply) -> Result<Frame, Frame> {
    let Frame::Array(mut pair) = frame(reply)? else {
        return Err(Frame::error(UNEXPECTED));
    };
    let (Some(Frame::Array(keys)), Some(Frame::Bulk(cursor)), None) =
        (pair.pop(), pair.pop(), pair.pop())
    else {
        return Err(Frame::error(UNEXPECTED));
    };
    let cursor: u64 = std::str::from_utf8(&cursor)
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|&c| c <= SCAN_CURSOR_MASK)
        .ok_or_else(|| Frame::error("ERR shard cursor does not fit the router's cursor"))?;
    let next = match cursor {
        0 if shard + 1 < n_shards => ((shard + 1) as u64) << SCAN_CURSOR_BITS,
        0 => 0,
        c => ((shard as u64) << SCAN_CURSOR_BITS) | c,
    };
    Ok(scan_reply(next, keys))
}

#[cfg(test)]
mod tests;
