//! Generic key commands (Redis's "keyspace" group), with Redis 7.0's replies and errors.
//!
//! Reads that Redis counts as keyspace hits or misses (EXISTS, TOUCH, TTL, TYPE ...) use
//! [`Store::get`]; TTL changes go through [`Store::update`], atomic per key.

use bytes::Bytes;
use protocol::command::parse_cursor;
use protocol::command::parse_i64;
use protocol::{text, CommandError, Frame};

use crate::store::types::ObjType;
use crate::store::{Moved, Retime, Store, TwoKeys};

/// TYPE: returns the type of the value at a key, or `none`.
///
/// ```text
/// TYPE key
/// ```
pub(super) fn type_of(store: &Store, key: &[u8]) -> Frame {
    Frame::simple(match store.meta(key, true) {
        Some(m) => m.obj_type.name(),
        None => "none",
    })
}

/// KEYS: returns every key matching a glob pattern.
///
/// ```text
/// KEYS pattern
/// ```
pub(super) fn keys(store: &Store, pattern: &[u8]) -> Frame {
    Frame::Array(store.keys(pattern).into_iter().map(Frame::Bulk).collect())
}

/// RANDOMKEY: returns a random key, or nil when there is none.
///
/// ```text
/// RANDOMKEY
/// ```
pub(super) fn random_key(store: &Store) -> Frame {
    Frame::bulk_or_null(store.random_key())
}

/// Time unit of a command's argument or reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Unit {
    Seconds,
    Millis,
}

/// DEL / UNLINK / EXISTS / TOUCH: replies how many of `keys` `f` is true for (duplicates count).
///
/// ```text
/// DEL key [key ...]
/// UNLINK key [key ...]
/// EXISTS key [key ...]
/// TOUCH key [key ...]
/// ```
pub(super) fn count(keys: &[Bytes], f: impl Fn(&[u8]) -> bool) -> Frame {
    Frame::Integer(keys.iter().map(|k| i64::from(f(k))).sum())
}

/// The NX / XX / GT / LT options of EXPIRE and friends.
#[derive(Debug, Default, Clone, Copy)]
struct ExpireFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

/// Parses EXPIRE's options as Redis 7's `parseExtendedExpireArgumentsOrReply`.
fn expire_flags(options: &[Bytes]) -> Result<ExpireFlags, Frame> {
    let mut f = ExpireFlags::default();
    for opt in options {
        match opt.to_ascii_uppercase().as_slice() {
            b"NX" => f.nx = true,
            b"XX" => f.xx = true,
            b"GT" => f.gt = true,
            b"LT" => f.lt = true,
            _ => {
                // C's %s: the option up to its first NUL.
                let end = opt.iter().position(|&b| b == 0).unwrap_or(opt.len());
                let shown = String::from_utf8_lossy(&opt[..end]);
                return Err(Frame::error_owned(format!(
                    "ERR Unsupported option {shown}"
                )));
            }
        }
    }
    if f.nx && (f.xx || f.gt || f.lt) {
        return Err(Frame::error(text::EXPIRE_NX_CONFLICT));
    }
    if f.gt && f.lt {
        return Err(Frame::error(text::EXPIRE_GT_LT_CONFLICT));
    }
    Ok(f)
}

/// EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT: sets a key's TTL; 1 if set, 0 if not.
///
/// ```text
/// EXPIRE key seconds [NX | XX | GT | LT]
/// PEXPIRE key milliseconds [NX | XX | GT | LT]
/// EXPIREAT key unix-time-seconds [NX | XX | GT | LT]
/// PEXPIREAT key unix-time-milliseconds [NX | XX | GT | LT]
/// ```
/// A time already past deletes the key (and replies 1). GT treats "no TTL" as infinite.
pub(super) fn expire(
    store: &Store,
    args: &[Bytes],
    unit: Unit,
    absolute: bool,
    name: &'static str,
) -> Frame {
    let flags = match expire_flags(&args[3..]) {
        Ok(f) => f,
        Err(reply) => return reply,
    };
    let Some(mut when) = parse_i64(&args[2]) else {
        return CommandError::NotInteger.to_frame();
    };
    let invalid = || CommandError::InvalidExpireTime { command: name }.to_frame();
    if unit == Unit::Seconds {
        let Some(ms) = when.checked_mul(1000) else {
            return invalid();
        };
        when = ms;
    }
    let now = store.now_ms();
    let base = if absolute {
        0
    } else {
        i64::try_from(now).unwrap_or(i64::MAX)
    };
    let Some(when) = when.checked_add(base) else {
        return invalid();
    };
    Frame::Integer(store.retime(&args[1], |current| {
        let Some(current) = current else {
            return (Retime::Keep, 0);
        };
        let existing = match current {
            0 => None,
            d => Some(i64::try_from(d).unwrap_or(i64::MAX)),
        };
        let refused = (flags.nx && existing.is_some())
            || (flags.xx && existing.is_none())
            || (flags.gt && !matches!(existing, Some(e) if when > e))
            || (flags.lt && existing.is_some_and(|e| when >= e));
        if refused {
            return (Retime::Keep, 0);
        }
        // Redis's checkAlreadyExpired: `when <= now` deletes.
        match u64::try_from(when) {
            Ok(deadline_ms) if deadline_ms > now => (Retime::Set(deadline_ms), 1),
            _ => (Retime::Remove, 1),
        }
    }))
}

/// PERSIST: removes a key's TTL; 1 if it had one, 0 otherwise.
///
/// ```text
/// PERSIST key
/// ```
pub(super) fn persist(store: &Store, key: &[u8]) -> Frame {
    Frame::Integer(store.retime(key, |current| match current {
        Some(d) if d != 0 => (Retime::Set(0), 1),
        _ => (Retime::Keep, 0),
    }))
}

/// TTL / PTTL / EXPIRETIME / PEXPIRETIME: a key's remaining time or deadline;
/// -2 when the key does not exist, -1 when it has no TTL.
///
/// ```text
/// TTL key
/// PTTL key
/// EXPIRETIME key
/// PEXPIRETIME key
/// ```
/// Seconds are rounded to nearest, as Redis's `(ttl+500)/1000`.
pub(super) fn ttl(store: &Store, key: &[u8], unit: Unit, absolute: bool) -> Frame {
    let Some(value) = store.meta(key, true) else {
        return Frame::Integer(-2);
    };
    if value.deadline_ms == 0 {
        return Frame::Integer(-1);
    }
    let ms = if absolute {
        value.deadline_ms
    } else {
        value.deadline_ms.saturating_sub(store.now_ms())
    };
    let ms = i64::try_from(ms).unwrap_or(i64::MAX);
    Frame::Integer(match unit {
        Unit::Millis => ms,
        Unit::Seconds => ms.saturating_add(500) / 1000,
    })
}

/// SCAN: iterates the keyspace a page at a time.
///
/// ```text
/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
/// ```
/// Replies `[next-cursor, [key ...]]`; a full iteration from 0 back to 0 returns every key
/// present throughout exactly once (see [`Store::scan`]). `TYPE` keeps the keys of that
/// type (an unknown type name, none), checked after the page is read, as Redis does.
pub(super) fn scan(store: &Store, args: &[Bytes]) -> Frame {
    let Some(cursor) = parse_cursor(&args[0]) else {
        return Frame::error(text::INVALID_CURSOR);
    };
    let mut count: usize = 10;
    let mut pattern: Option<&[u8]> = None;
    let mut wanted: Option<Option<ObjType>> = None;
    let mut i = 1;
    while i < args.len() {
        let (opt, value) = match args.get(i + 1) {
            Some(value) => (args[i].to_ascii_uppercase(), value),
            None => return CommandError::Syntax.to_frame(),
        };
        match opt.as_slice() {
            b"COUNT" => match parse_i64(value) {
                Some(n) if n >= 1 => count = usize::try_from(n).unwrap_or(usize::MAX),
                Some(_) => return CommandError::Syntax.to_frame(),
                None => return CommandError::NotInteger.to_frame(),
            },
            b"MATCH" => pattern = Some(value).filter(|p| p.as_ref() != b"*").map(|p| &p[..]),
            b"TYPE" => wanted = Some(ObjType::from_name(value)),
            _ => return CommandError::Syntax.to_frame(),
        }
        i += 2;
    }
    let (next, keys) = store.scan(cursor, pattern, count);
    let keys = keys
        .into_iter()
        .filter(|k| match wanted {
            None => true,
            Some(t) => store.meta(k, false).map(|m| m.obj_type) == t,
        })
        .map(Frame::Bulk)
        .collect();
    Frame::Array(vec![
        Frame::Bulk(Bytes::from(next.to_string())),
        Frame::Array(keys),
    ])
}

/// RENAME / RENAMENX: moves a key's value and TTL to another name, replacing (RENAME) or
/// refusing (RENAMENX: 0) an existing one.
///
/// ```text
/// RENAME key newkey
/// RENAMENX key newkey
/// ```
pub(super) fn rename(args: &[Bytes], store: &Store) -> Frame {
    match rename_to(args, store, TwoKeys::Rename) {
        Ok(_) => Frame::ok(),
        Err(e) => e,
    }
}

/// See [`rename`].
pub(super) fn renamenx(args: &[Bytes], store: &Store) -> Frame {
    match rename_to(args, store, TwoKeys::RenameNx) {
        Ok(done) => Frame::Integer(i64::from(done)),
        Err(e) => e,
    }
}

fn rename_to(args: &[Bytes], store: &Store, what: TwoKeys) -> Result<bool, Frame> {
    let no_such_key = || Frame::error("ERR no such key");
    if args[1] == args[2] {
        // Redis: the same name is checked to exist, then nothing moves (RENAMENX: 0).
        return match store.meta(&args[1], false) {
            Some(_) => Ok(what == TwoKeys::Rename),
            None => Err(no_such_key()),
        };
    }
    match store.two_keys(&args[1], &args[2], what) {
        Moved::NoSource => Err(no_such_key()),
        Moved::Exists => Ok(false),
        Moved::Done => Ok(true),
    }
}

/// COPY: copies a key's value and TTL to another key; 1 if copied, 0 if the source is
/// missing or the destination exists without REPLACE. Only database 0 exists.
///
/// ```text
/// COPY source destination [DB destination-db] [REPLACE]
/// ```
pub(super) fn copy(args: &[Bytes], store: &Store) -> Frame {
    let mut replace = false;
    let mut j = 3;
    while j < args.len() {
        if args[j].eq_ignore_ascii_case(b"replace") {
            replace = true;
        } else if args[j].eq_ignore_ascii_case(b"db") && j + 1 < args.len() {
            match parse_i64(&args[j + 1]).and_then(|n| i32::try_from(n).ok()) {
                None => return CommandError::NotInteger.to_frame(),
                Some(0) => {}
                Some(_) => return Frame::error(text::DB_INDEX),
            }
            j += 1;
        } else {
            return CommandError::Syntax.to_frame();
        }
        j += 1;
    }
    if args[1] == args[2] {
        return Frame::error("ERR source and destination objects are the same");
    }
    Frame::Integer(i64::from(
        store.two_keys(&args[1], &args[2], TwoKeys::Copy { replace }) == Moved::Done,
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use bytes::Bytes;
    use protocol::Frame;

    use crate::exec::strings::tests::{run, shard};
    use protocol::command::parse_cursor;

    const T0: u64 = 1_700_000_000_000;

    fn err(s: &'static str) -> Frame {
        Frame::error(s)
    }

    fn bulk_text(f: &Frame) -> String {
        match f {
            Frame::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("not a bulk: {other:?}"),
        }
    }

    #[test]
    fn expire_options_and_errors_match_redis() {
        let (s, _) = shard();
        run(&s, "set k v");
        assert_eq!(
            run(&s, "expire k 100 foo"),
            err("ERR Unsupported option foo")
        );
        assert_eq!(
            run(&s, "expire k 100 nx xx"),
            err(protocol::text::EXPIRE_NX_CONFLICT)
        );
        assert_eq!(
            run(&s, "expire k 100 gt lt"),
            err(protocol::text::EXPIRE_GT_LT_CONFLICT)
        );
        assert_eq!(run(&s, "expire k abc"), err(protocol::text::NOT_INTEGER));
        assert_eq!(
            run(&s, "expire k 9223372036854775"),
            err("ERR invalid expire time in 'expire' command")
        );
        assert_eq!(
            run(&s, "pexpire k 9223372036854775807"),
            err("ERR invalid expire time in 'pexpire' command")
        );
        assert_eq!(run(&s, "expire missing 100"), Frame::Integer(0));
        assert_eq!(run(&s, "expire k 100 xx"), Frame::Integer(0));
        assert_eq!(
            run(&s, "expire k 100 gt"),
            Frame::Integer(0),
            "no TTL is infinite"
        );
        assert_eq!(run(&s, "expire k 100 lt"), Frame::Integer(1));
        assert_eq!(run(&s, "expire k 200 gt"), Frame::Integer(1));
        assert_eq!(run(&s, "expire k 300 lt"), Frame::Integer(0));
        assert_eq!(run(&s, "expire k 10 nx"), Frame::Integer(0));
        assert_eq!(run(&s, "ttl k"), Frame::Integer(200));
        assert_eq!(run(&s, "expire k -1"), Frame::Integer(1));
        assert_eq!(run(&s, "exists k"), Frame::Integer(0));
    }

    #[test]
    fn ttl_family_reports_missing_persistent_and_deadlines() {
        let (s, clock) = shard();
        assert_eq!(run(&s, "ttl nope"), Frame::Integer(-2));
        assert_eq!(run(&s, "expiretime nope"), Frame::Integer(-2));
        run(&s, "set k v");
        assert_eq!(run(&s, "pttl k"), Frame::Integer(-1));
        assert_eq!(run(&s, "pexpiretime k"), Frame::Integer(-1));
        assert_eq!(run(&s, "expireat k 4000000000"), Frame::Integer(1));
        assert_eq!(run(&s, "expiretime k"), Frame::Integer(4_000_000_000));
        assert_eq!(run(&s, "pexpiretime k"), Frame::Integer(4_000_000_000_000));
        assert_eq!(
            run(&s, &format!("pexpireat k {}", T0 + 2_000)),
            Frame::Integer(1)
        );
        clock.advance(1_499);
        assert_eq!(run(&s, "pttl k"), Frame::Integer(501));
        assert_eq!(run(&s, "ttl k"), Frame::Integer(1));
        assert_eq!(run(&s, "persist k"), Frame::Integer(1));
        assert_eq!(run(&s, "persist k"), Frame::Integer(0));
        assert_eq!(run(&s, "ttl k"), Frame::Integer(-1));
        assert_eq!(run(&s, "type k"), Frame::simple("string"));
        assert_eq!(run(&s, "type nope"), Frame::simple("none"));
    }

    #[test]
    fn del_exists_touch_count_like_redis() {
        let (s, _) = shard();
        run(&s, "mset a 1 b 2");
        assert_eq!(run(&s, "exists a a nope"), Frame::Integer(2));
        assert_eq!(run(&s, "touch a b c"), Frame::Integer(2));
        assert_eq!(run(&s, "del a a b"), Frame::Integer(2));
        assert_eq!(run(&s, "unlink b"), Frame::Integer(0));
        assert_eq!(run(&s, "randomkey"), Frame::Null);
    }

    #[test]
    fn keys_and_randomkey() {
        let (s, _) = shard();
        run(&s, "mset hello 1 hallo 2 other 3");
        let Frame::Array(keys) = run(&s, "keys h[ae]llo") else {
            panic!("not an array")
        };
        let keys: HashSet<_> = keys.iter().map(bulk_text).collect();
        assert_eq!(
            keys,
            HashSet::from(["hello".to_string(), "hallo".to_string()])
        );
        assert!(matches!(run(&s, "randomkey"), Frame::Bulk(_)));
    }

    #[test]
    fn scan_cursor_and_options_match_redis() {
        let (s, _) = shard();
        assert_eq!(run(&s, "scan abc"), err(protocol::text::INVALID_CURSOR));
        assert_eq!(
            run(&s, "scan 18446744073709551616"),
            err(protocol::text::INVALID_CURSOR)
        );
        assert_eq!(run(&s, "scan 0 count 0"), err(protocol::text::SYNTAX));
        assert_eq!(
            run(&s, "scan 0 count abc"),
            err(protocol::text::NOT_INTEGER)
        );
        assert_eq!(run(&s, "scan 0 match"), err(protocol::text::SYNTAX));
        assert_eq!(run(&s, "scan 0 foo bar"), err(protocol::text::SYNTAX));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"+007"), Some(7));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b" 1"), None);
        assert_eq!(parse_cursor(b"1 "), None);
        assert_eq!(parse_cursor(b"-"), None);
        run(&s, "mset a 1 b 2");
        let page = |line: &str| match run(&s, line) {
            Frame::Array(parts) => parts,
            other => panic!("{other:?}"),
        };
        assert_eq!(page("scan 0 type hash")[1], Frame::Array(vec![]));
        let all = page("scan 0 TYPE String COUNT 100");
        assert_eq!(all[0], Frame::bulk(b"0"));
        let Frame::Array(keys) = &all[1] else {
            panic!()
        };
        assert_eq!(keys.len(), 2);
        assert_eq!(
            page("scan 0 match a count 100")[1],
            Frame::Array(vec![Frame::Bulk(Bytes::from("a"))])
        );
    }

    #[test]
    fn full_scan_visits_each_key_once() {
        let (s, _) = shard();
        for i in 0..200 {
            run(&s, &format!("set key:{i} v"));
        }
        let mut cursor = "0".to_string();
        let mut seen = Vec::new();
        loop {
            let Frame::Array(parts) = run(&s, &format!("scan {cursor} count 5")) else {
                panic!()
            };
            let (Frame::Bulk(next), Frame::Array(keys)) = (&parts[0], &parts[1]) else {
                panic!()
            };
            seen.extend(keys.iter().map(bulk_text));
            cursor = String::from_utf8(next.to_vec()).unwrap();
            if cursor == "0" {
                break;
            }
        }
        assert_eq!(seen.len(), 200);
        assert_eq!(seen.into_iter().collect::<HashSet<_>>().len(), 200);
    }
}
