//! The sorted-set range commands: ZRANGE (by rank, score or name, either way, with LIMIT
//! and WITHSCORES) and its older forms, ZCOUNT, ZREMRANGEBYSCORE and ZREMRANGEBYRANK, as
//! Redis 7.0's `zrangeGenericCommand` and `zremrangeGenericCommand`.

use bytes::Bytes;
use protocol::command::parse_i64;
use protocol::{CommandError, Frame, Protocol};

use super::push_member;
use crate::exec::elements::{read, write};
use crate::store::types::zset::range::{LexRange, ScoreRange};
use crate::store::types::ZSet;
use crate::store::Store;

const LIMIT_NEEDS_BY: &str =
    "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX";
const WITHSCORES_BYLEX: &str =
    "ERR syntax error, WITHSCORES not supported in combination with BYLEX";
const NOT_FLOAT_RANGE: &str = "ERR min or max is not a float";
const NOT_LEX_RANGE: &str = "ERR min or max not valid string range item";

/// What a range is over; `Auto` until ZRANGE's options say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Auto,
    Rank,
    Score,
    Lex,
}

/// The range, parsed.
enum Range {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

fn long(arg: &[u8]) -> Result<i64, Frame> {
    parse_i64(arg).ok_or_else(|| CommandError::NotInteger.to_frame())
}

/// ```text
/// ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES]
/// ```
pub(in crate::exec) fn zrange(args: &[Bytes], store: &Store, protocol: Protocol) -> Frame {
    range(args, store, protocol, By::Auto, None)
}

/// ```text
/// ZRANGEBYSCORE key min max [WITHSCORES] [LIMIT offset count]
/// ```
pub(in crate::exec) fn zrangebyscore(args: &[Bytes], store: &Store, protocol: Protocol) -> Frame {
    range(args, store, protocol, By::Score, Some(false))
}

/// ```text
/// ZREVRANGEBYSCORE key max min [WITHSCORES] [LIMIT offset count]
/// ```
pub(in crate::exec) fn zrevrangebyscore(
    args: &[Bytes],
    store: &Store,
    protocol: Protocol,
) -> Frame {
    range(args, store, protocol, By::Score, Some(true))
}

/// ```text
/// ZREVRANGE key start stop [WITHSCORES]
/// ```
pub(in crate::exec) fn zrevrange(args: &[Bytes], store: &Store, protocol: Protocol) -> Frame {
    range(args, store, protocol, By::Rank, Some(true))
}

/// ```text
/// ZRANGEBYLEX key min max [LIMIT offset count]
/// ```
pub(in crate::exec) fn zrangebylex(args: &[Bytes], store: &Store, protocol: Protocol) -> Frame {
    range(args, store, protocol, By::Lex, Some(false))
}

/// Redis's `zrangeGenericCommand`: `by` and `rev` are fixed by the older commands, left
/// to the options by ZRANGE. Options are read in order (a bad LIMIT is an error where it
/// stands), then their conflicts, then the range, then the key.
fn range(
    args: &[Bytes],
    store: &Store,
    protocol: Protocol,
    mut by: By,
    mut rev: Option<bool>,
) -> Frame {
    let (mut with_scores, mut offset, mut limit) = (false, 0i64, -1i64);
    let mut j = 4;
    while j < args.len() {
        let left = args.len() - j - 1;
        let opt = args[j].to_ascii_lowercase();
        match opt.as_slice() {
            b"withscores" => with_scores = true,
            b"limit" if left >= 2 => {
                match (long(&args[j + 1]), long(&args[j + 2])) {
                    (Ok(o), Ok(l)) => (offset, limit) = (o, l),
                    (Err(e), _) | (_, Err(e)) => return e,
                }
                j += 2;
            }
            b"rev" if rev.is_none() => rev = Some(true),
            b"bylex" if by == By::Auto => by = By::Lex,
            b"byscore" if by == By::Auto => by = By::Score,
            _ => return CommandError::Syntax.to_frame(),
        }
        j += 1;
    }
    let rev = rev.unwrap_or(false);
    if by == By::Auto {
        by = By::Rank;
    }
    if limit != -1 && by == By::Rank {
        return Frame::error(LIMIT_NEEDS_BY);
    }
    if with_scores && by == By::Lex {
        return Frame::error(WITHSCORES_BYLEX);
    }
    // Reversed score and lex ranges are given as max, min.
    let (lo, hi) = if rev && by != By::Rank {
        (&args[3], &args[2])
    } else {
        (&args[2], &args[3])
    };
    let range = match by {
        By::Score => match ScoreRange::parse(lo, hi) {
            Some(r) => Range::Score(r),
            None => return Frame::error(NOT_FLOAT_RANGE),
        },
        By::Lex => match LexRange::parse(lo, hi) {
            Some(r) => Range::Lex(r),
            None => return Frame::error(NOT_LEX_RANGE),
        },
        _ => match (long(lo), long(hi)) {
            (Ok(s), Ok(e)) => Range::Rank(s, e),
            (Err(e), _) | (_, Err(e)) => return e,
        },
    };
    read::<ZSet>(store, &args[1], Frame::Array(Vec::new()), |z| {
        let picked = match &range {
            Range::Rank(start, end) => by_rank(z, *start, *end, rev),
            Range::Score(r) => {
                let (first, last) = score_bounds(z, r);
                window(z, first, last, rev, offset, limit)
            }
            Range::Lex(r) => {
                let first = z.partition_point(|_, m| r.below_min(m));
                let last = z.partition_point(|_, m| r.within_max(m));
                window(z, first, last, rev, offset, limit)
            }
        };
        let mut out = Vec::with_capacity(picked.len() * if with_scores { 2 } else { 1 });
        for (m, s) in picked {
            push_member(&mut out, m, s, with_scores, protocol);
        }
        Frame::Array(out)
    })
}

/// Returns the ranks `first .. last` of the members whose scores are in `r`.
fn score_bounds(z: &ZSet, r: &ScoreRange) -> (usize, usize) {
    let first = z.partition_point(|s, _| r.below_min(s));
    let last = z.partition_point(|s, _| r.within_max(s));
    (first, last.max(first))
}

/// Sanitizes `start` and `end` as Redis does for a set of `len`; `None` when empty.
fn rank_bounds(len: usize, mut start: i64, mut end: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    if start > end || start >= len {
        return None;
    }
    Some((start as usize, end.min(len - 1) as usize))
}

fn by_rank(z: &ZSet, start: i64, end: i64, rev: bool) -> Vec<(&[u8], f64)> {
    let Some((start, end)) = rank_bounds(z.len(), start, end) else {
        return Vec::new();
    };
    let n = end - start + 1;
    if rev {
        z.iter_back_from(z.len() - 1 - start).take(n).collect()
    } else {
        z.iter_from(start).take(n).collect()
    }
}

/// The members of ranks `first .. last`, from the far end when `rev`, after skipping
/// `offset` and at most `limit` (negative: no limit) of them. A negative offset skips
/// everything, as Redis's `while (offset--)` does.
fn window(
    z: &ZSet,
    first: usize,
    last: usize,
    rev: bool,
    offset: i64,
    limit: i64,
) -> Vec<(&[u8], f64)> {
    if offset < 0 || (offset > 0 && offset as u64 >= z.len() as u64) {
        return Vec::new();
    }
    let in_range = last.saturating_sub(first);
    let skip = (offset as u64).min(in_range as u64) as usize;
    let take = if limit < 0 {
        usize::MAX
    } else {
        usize::try_from(limit).unwrap_or(usize::MAX)
    };
    let n = (in_range - skip).min(take);
    if n == 0 {
        return Vec::new();
    }
    if rev {
        z.iter_back_from(last - 1 - skip).take(n).collect()
    } else {
        z.iter_from(first + skip).take(n).collect()
    }
}

/// ```text
/// ZCOUNT key min max
/// ```
pub(in crate::exec) fn zcount(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let Some(r) = ScoreRange::parse(&args[2], &args[3]) else {
        return Frame::error(NOT_FLOAT_RANGE);
    };
    read::<ZSet>(store, &args[1], Frame::Integer(0), |z| {
        let (first, last) = score_bounds(z, &r);
        Frame::Integer((last - first) as i64)
    })
}

/// ```text
/// ZREMRANGEBYSCORE key min max
/// ```
pub(in crate::exec) fn zremrangebyscore(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let Some(r) = ScoreRange::parse(&args[2], &args[3]) else {
        return Frame::error(NOT_FLOAT_RANGE);
    };
    write::<ZSet>(store, &args[1], false, Frame::Integer(0), |z| {
        let (first, last) = score_bounds(z, &r);
        Frame::Integer(z.remove_ranks(first, last - first) as i64)
    })
}

/// ```text
/// ZREMRANGEBYRANK key start stop
/// ```
pub(in crate::exec) fn zremrangebyrank(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let (start, end) = match (long(&args[2]), long(&args[3])) {
        (Ok(s), Ok(e)) => (s, e),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    write::<ZSet>(store, &args[1], false, Frame::Integer(0), |z| {
        let removed = rank_bounds(z.len(), start, end)
            .map_or(0, |(start, end)| z.remove_ranks(start, end - start + 1));
        Frame::Integer(removed as i64)
    })
}
