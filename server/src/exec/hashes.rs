//! Hash commands (Redis's "hash" group), with Redis 7.0's replies and errors.

use std::collections::HashSet;

use bytes::Bytes;
use protocol::command::parse_i64;
use protocol::{text, CommandError, Frame, Protocol};

use super::elements::{bulk, random, random_count, read, scan_args, scan_reply, write};
use super::strings::ldouble;
use crate::store::types::Hash;
use crate::store::Store;

/// HSET / HMSET: field-value pairs; the pairs must be whole.
fn set_pairs(args: &[Bytes], store: &Store, name: &str, ok: bool) -> Frame {
    if args.len() % 2 == 1 {
        return CommandError::WrongArity {
            name: name.to_string(),
        }
        .to_frame();
    }
    write::<Hash>(store, &args[1], true, Frame::Null, |h| {
        let new = args[2..]
            .chunks_exact(2)
            .filter(|p| h.set(&p[0], &p[1]))
            .count();
        if ok {
            Frame::ok()
        } else {
            Frame::Integer(new as i64)
        }
    })
}

/// ```text
/// HSET key field value [field value ...]
/// ```
pub(super) fn hset(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    set_pairs(args, store, "hset", false)
}

/// ```text
/// HMSET key field value [field value ...]
/// ```
pub(super) fn hmset(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    set_pairs(args, store, "hmset", true)
}

/// ```text
/// HSETNX key field value
/// ```
pub(super) fn hsetnx(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    write::<Hash>(store, &args[1], true, Frame::Null, |h| {
        if h.get(&args[2]).is_some() {
            Frame::Integer(0)
        } else {
            h.set(&args[2], &args[3]);
            Frame::Integer(1)
        }
    })
}

/// ```text
/// HGET key field
/// ```
pub(super) fn hget(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    read::<Hash>(store, &args[1], Frame::Null, |h| {
        h.get(&args[2]).map_or(Frame::Null, bulk)
    })
}

/// ```text
/// HMGET key field [field ...]
/// ```
pub(super) fn hmget(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let fields = &args[2..];
    let missing = Frame::Array(vec![Frame::Null; fields.len()]);
    read::<Hash>(store, &args[1], missing, |h| {
        Frame::Array(
            fields
                .iter()
                .map(|f| h.get(f).map_or(Frame::Null, bulk))
                .collect(),
        )
    })
}

/// ```text
/// HGETALL key
/// ```
/// RESP2: a flat array of fields and values; RESP3: a map.
pub(super) fn hgetall(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    read::<Hash>(store, &args[1], Frame::Map(Vec::new()), |h| {
        Frame::Map(h.iter().map(|(f, v)| (bulk(f), bulk(v))).collect())
    })
}

/// ```text
/// HDEL key field [field ...]
/// ```
pub(super) fn hdel(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    write::<Hash>(store, &args[1], false, Frame::Integer(0), |h| {
        Frame::Integer(args[2..].iter().filter(|f| h.remove(f)).count() as i64)
    })
}

/// ```text
/// HLEN key
/// ```
pub(super) fn hlen(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    read::<Hash>(store, &args[1], Frame::Integer(0), |h| {
        Frame::Integer(h.len() as i64)
    })
}

/// ```text
/// HEXISTS key field
/// ```
pub(super) fn hexists(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    read::<Hash>(store, &args[1], Frame::Integer(0), |h| {
        Frame::Integer(i64::from(h.get(&args[2]).is_some()))
    })
}

/// ```text
/// HKEYS key
/// ```
pub(super) fn hkeys(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    read::<Hash>(store, &args[1], Frame::Array(Vec::new()), |h| {
        Frame::Array(h.iter().map(|(f, _)| bulk(f)).collect())
    })
}

/// ```text
/// HVALS key
/// ```
pub(super) fn hvals(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    read::<Hash>(store, &args[1], Frame::Array(Vec::new()), |h| {
        Frame::Array(h.iter().map(|(_, v)| bulk(v)).collect())
    })
}

/// ```text
/// HSTRLEN key field
/// ```
pub(super) fn hstrlen(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    read::<Hash>(store, &args[1], Frame::Integer(0), |h| {
        Frame::Integer(h.get(&args[2]).map_or(0, |v| v.len() as i64))
    })
}

/// ```text
/// HINCRBY key field increment
/// ```
/// The increment is checked before the key's type, as Redis does.
pub(super) fn hincrby(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let Some(incr) = parse_i64(&args[3]) else {
        return CommandError::NotInteger.to_frame();
    };
    write::<Hash>(store, &args[1], true, Frame::Null, |h| {
        let current = match h.get(&args[2]) {
            None => 0,
            Some(v) => match parse_i64(v) {
                Some(n) => n,
                None => return Frame::error("ERR hash value is not an integer"),
            },
        };
        let Some(sum) = current.checked_add(incr) else {
            return Frame::error(text::OVERFLOW);
        };
        h.set(&args[2], sum.to_string().as_bytes());
        Frame::Integer(sum)
    })
}

/// ```text
/// HINCRBYFLOAT key field increment
/// ```
/// As INCRBYFLOAT: `long double` arithmetic, `%.17Lf` with trailing zeros stripped.
pub(super) fn hincrbyfloat(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let incr = match ldouble::parse(&args[3]) {
        None => return Frame::error(text::NOT_FLOAT),
        Some(None) => return Frame::error("ERR value is NaN or Infinity"),
        Some(Some(incr)) => incr,
    };
    write::<Hash>(store, &args[1], true, Frame::Null, |h| {
        let current = match h.get(&args[2]).map(ldouble::parse) {
            None => ldouble::parse(b"0").flatten(),
            Some(None) => return Frame::error("ERR hash value is not a float"),
            Some(Some(v)) => v,
        };
        let Some(sum) = current.and_then(|c| ldouble::add(c, incr)) else {
            return Frame::error(text::NAN_OR_INF);
        };
        let text = ldouble::format(sum);
        h.set(&args[2], text.as_bytes());
        Frame::Bulk(Bytes::from(text))
    })
}

/// ```text
/// HSCAN key cursor [MATCH pattern] [COUNT count]
/// ```
/// A small hash is one page (cursor 0), as Redis's listpack; a large one pages by the
/// fields' hashes.
pub(super) fn hscan(args: &[Bytes], store: &Store, _: Protocol) -> Frame {
    let scan = match scan_args(&args[2..]) {
        Ok(s) => s,
        Err(e) => return e,
    };
    read::<Hash>(store, &args[1], scan_reply(0, Vec::new()), |h| {
        let (next, page) = h.page(scan.cursor, scan.count);
        let items = page
            .into_iter()
            .filter(|(f, _)| scan.matches(f))
            .flat_map(|(f, v)| [bulk(f), bulk(v)])
            .collect();
        scan_reply(next, items)
    })
}

/// ```text
/// HRANDFIELD key [count [WITHVALUES]]
/// ```
pub(super) fn hrandfield(args: &[Bytes], store: &Store, protocol: Protocol) -> Frame {
    if args.len() == 2 {
        return read::<Hash>(store, &args[1], Frame::Null, |h| {
            h.random(random()).map_or(Frame::Null, |(f, _)| bulk(f))
        });
    }
    if args.len() > 4 || (args.len() == 4 && !args[3].eq_ignore_ascii_case(b"withvalues")) {
        // The count is read first: a bad one is its own error.
        if let Err(e) = random_count(&args[2], false) {
            return e;
        }
        return CommandError::Syntax.to_frame();
    }
    let with_values = args.len() == 4;
    let n = match random_count(&args[2], with_values) {
        Ok(n) => n,
        Err(e) => return e,
    };
    read::<Hash>(store, &args[1], Frame::Array(Vec::new()), |h| {
        let picked: Vec<(&[u8], &[u8])> = if n.count == 0 {
            Vec::new()
        } else if n.repeats || n.count == 1 {
            (0..n.count).filter_map(|_| h.random(random())).collect()
        } else if n.count >= h.len() {
            h.iter().collect()
        } else {
            distinct(h, n.count)
        };
        let items = picked
            .into_iter()
            .flat_map(|(f, v)| match (with_values, protocol) {
                (false, _) => vec![bulk(f)],
                (true, Protocol::Resp2) => vec![bulk(f), bulk(v)],
                (true, Protocol::Resp3) => vec![Frame::Array(vec![bulk(f), bulk(v)])],
            });
        Frame::Array(items.collect())
    })
}

/// Returns `count` distinct random fields (fewer than the hash holds).
fn distinct(h: &Hash, count: usize) -> Vec<(&[u8], &[u8])> {
    if count * 3 > h.len() {
        // Redis's CASE 3: most of the hash; drop random ones from all of it.
        let mut all: Vec<(&[u8], &[u8])> = h.iter().collect();
        while all.len() > count {
            let i = (random() % all.len() as u64) as usize;
            all.swap_remove(i);
        }
        return all;
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        if let Some((f, v)) = h.random(random()) {
            if seen.insert(f) {
                out.push((f, v));
            }
        }
    }
    out
}
