//! String commands, with Redis 7.0's replies and error texts.
//!
//! Reads go through [`Store::get`] (keyspace hits and misses), every write through
//! [`Store::update`] (atomic per key). Values go to the store as the request's own `Bytes`
//! (slices of the connection's read buffer): the store copies what it keeps into an entry of
//! its own, so copying here too would only add a short-lived allocation per write, which
//! also fragments the heap between the long-lived entries.
//!
//! Multi-key writes (MSET, MSETNX) are atomic per key, not across keys: the store has no
//! multi-key transaction, and in a cluster the router splits them across shards anyway.

mod bigint;
pub(crate) mod ldouble;
pub(super) mod set;

use bytes::{Bytes, BytesMut};
use protocol::command::parse_i64;
use protocol::{text, CommandError, Frame};

use crate::store::{Store, StoreError, Update, Value};

/// Redis's `proto-max-bulk-len` default: the largest string APPEND and SETRANGE may build.
const MAX_STRING_LEN: u64 = 512 * 1024 * 1024;

/// Returns the reply, or Redis's error when the store refused the command.
fn or_oom(result: Result<Frame, StoreError>) -> Frame {
    result.unwrap_or_else(store_error)
}

/// Returns Redis's reply to a refusal of the store.
pub(crate) fn store_error(e: StoreError) -> Frame {
    Frame::error(match e {
        StoreError::OutOfMemory => text::OOM,
        StoreError::WrongType => text::WRONGTYPE,
    })
}

fn len_i64(data: &[u8]) -> i64 {
    i64::try_from(data.len()).unwrap_or(i64::MAX)
}

/// GET: returns the value of a key, or nil.
///
/// ```text
/// GET key
/// ```
pub(super) fn get(store: &Store, key: &[u8]) -> Frame {
    match store.get(key) {
        Ok(v) => Frame::bulk_or_null(v.map(|v| v.data)),
        Err(e) => store_error(e),
    }
}

/// MGET: returns the values of several keys, nil for each one missing or not a string.
///
/// ```text
/// MGET key [key ...]
/// ```
pub(super) fn mget(store: &Store, keys: &[Bytes]) -> Frame {
    let value = |k: &Bytes| Frame::bulk_or_null(store.get(k).ok().flatten().map(|v| v.data));
    Frame::Array(keys.iter().map(value).collect())
}

/// STRLEN: returns the length of a key's value, 0 when missing.
///
/// ```text
/// STRLEN key
/// ```
pub(super) fn str_len(store: &Store, key: &[u8]) -> Frame {
    match store.get(key) {
        Ok(v) => Frame::Integer(v.map_or(0, |v| len_i64(&v.data))),
        Err(e) => store_error(e),
    }
}

/// SETNX: sets a key only if it does not exist; replies 1 if set, 0 if not.
///
/// ```text
/// SETNX key value
/// ```
pub(super) fn set_nx(store: &Store, key: &[u8], value: Bytes) -> Frame {
    let value = Value::persistent(value);
    or_oom(store.update(key, |current| match current {
        Some(_) => (Update::Keep, Frame::Integer(0)),
        None => (Update::Put(value), Frame::Integer(1)),
    }))
}

/// GETSET: sets a key (dropping its TTL) and returns the old value, or nil.
///
/// ```text
/// GETSET key value
/// ```
pub(super) fn get_set(store: &Store, key: &[u8], value: Bytes) -> Frame {
    let value = Value::persistent(value);
    or_oom(store.update(key, |current| {
        let old = Frame::bulk_or_null(current.map(|v| v.data.clone()));
        (Update::Put(value), old)
    }))
}

/// GETDEL: returns the value of a key and deletes it, or nil.
///
/// ```text
/// GETDEL key
/// ```
pub(super) fn get_del(store: &Store, key: &[u8]) -> Frame {
    or_oom(store.update(key, |current| match current {
        Some(v) => (Update::Remove, Frame::Bulk(v.data.clone())),
        None => (Update::Keep, Frame::Null),
    }))
}

/// MSET / MSETNX: sets several keys (dropping their TTLs); MSETNX only if none exists.
///
/// ```text
/// MSET key value [key value ...]
/// MSETNX key value [key value ...]
/// ```
/// MSET replies `OK`; MSETNX 1 if it set every key, 0 if it set none.
pub(super) fn mset(store: &Store, args: &[Bytes], name: &str) -> Frame {
    if args.len() & 1 == 0 {
        return CommandError::WrongArity {
            name: name.to_string(),
        }
        .to_frame();
    }
    let pairs = args[1..].chunks_exact(2);
    if name == "msetnx"
        && pairs
            .clone()
            .any(|pair| store.meta(&pair[0], false).is_some())
    {
        return Frame::Integer(0);
    }
    for pair in pairs {
        let value = Value::persistent(pair[1].clone());
        if let Err(e) = store.set(&pair[0], value) {
            return store_error(e);
        }
    }
    if name == "msetnx" {
        Frame::Integer(1)
    } else {
        Frame::ok()
    }
}

/// INCRBY: [`incr_by`] with the increment as sent.
///
/// ```text
/// INCRBY key increment
/// ```
pub(super) fn incr_by_arg(store: &Store, key: &[u8], delta: &[u8]) -> Frame {
    match parse_i64(delta) {
        Some(delta) => incr_by(store, key, delta),
        None => CommandError::NotInteger.to_frame(),
    }
}

/// DECRBY: [`incr_by`] with the decrement as sent, which must have a negation.
///
/// ```text
/// DECRBY key decrement
/// ```
pub(super) fn decr_by_arg(store: &Store, key: &[u8], delta: &[u8]) -> Frame {
    match parse_i64(delta) {
        Some(i64::MIN) => Frame::error(text::DECREMENT_OVERFLOW),
        Some(delta) => incr_by(store, key, -delta),
        None => CommandError::NotInteger.to_frame(),
    }
}

/// INCR / DECR / INCRBY / DECRBY: adds to the integer in a key (0 when missing), keeping its TTL.
///
/// ```text
/// INCR key
/// DECR key
/// INCRBY key increment
/// DECRBY key decrement
/// ```
pub(super) fn incr_by(store: &Store, key: &[u8], delta: i64) -> Frame {
    or_oom(store.update(key, |current| {
        let value = match current {
            None => 0,
            Some(v) => match parse_i64(&v.data) {
                Some(n) => n,
                None => return (Update::Keep, CommandError::NotInteger.to_frame()),
            },
        };
        let Some(sum) = value.checked_add(delta) else {
            return (Update::Keep, Frame::error(text::OVERFLOW));
        };
        let stored = Value {
            data: Bytes::from(sum.to_string()),
            deadline_ms: current.map_or(0, |v| v.deadline_ms),
        };
        (Update::Put(stored), Frame::Integer(sum))
    }))
}

/// INCRBYFLOAT: adds a float to the number in a key (0 when missing), keeping its TTL.
///
/// ```text
/// INCRBYFLOAT key increment
/// ```
/// Computed as Redis does, in 80-bit `long double`, and stored and replied as `%.17Lf`
/// without trailing zeros (see `ldouble`).
pub(super) fn incr_by_float(store: &Store, key: &[u8], increment: &[u8]) -> Frame {
    or_oom(store.update(key, |current| {
        let value = match current {
            None => ldouble::parse(b"0"),
            Some(v) => ldouble::parse(&v.data),
        };
        let (Some(value), Some(increment)) = (value, ldouble::parse(increment)) else {
            return (Update::Keep, Frame::error(text::NOT_FLOAT));
        };
        let sum = value.zip(increment).and_then(|(a, b)| ldouble::add(a, b));
        let Some(sum) = sum else {
            return (Update::Keep, Frame::error(text::NAN_OR_INF));
        };
        let data = Bytes::from(ldouble::format(sum));
        let stored = Value {
            data: data.clone(),
            deadline_ms: current.map_or(0, |v| v.deadline_ms),
        };
        (Update::Put(stored), Frame::Bulk(data))
    }))
}

/// APPEND: appends to a string (creating it), keeping its TTL; replies the new length.
///
/// ```text
/// APPEND key value
/// ```
pub(super) fn append(store: &Store, key: &[u8], suffix: &[u8]) -> Frame {
    or_oom(store.update(key, |current| {
        let Some(current) = current else {
            let len = len_i64(suffix);
            let value = Value::persistent(Bytes::copy_from_slice(suffix));
            return (Update::Put(value), Frame::Integer(len));
        };
        let total = current.data.len() as u64 + suffix.len() as u64;
        if total > MAX_STRING_LEN {
            return (Update::Keep, Frame::error(text::STRING_TOO_LONG));
        }
        let mut data = BytesMut::with_capacity(current.data.len() + suffix.len());
        data.extend_from_slice(&current.data);
        data.extend_from_slice(suffix);
        let len = len_i64(&data);
        let stored = Value {
            data: data.freeze(),
            deadline_ms: current.deadline_ms,
        };
        (Update::Put(stored), Frame::Integer(len))
    }))
}

/// GETRANGE: returns a substring; negative offsets count from the end, out-of-range clamps.
///
/// ```text
/// GETRANGE key start end
/// ```
pub(super) fn get_range(store: &Store, key: &[u8], start: &[u8], end: &[u8]) -> Frame {
    let (Some(mut start), Some(mut end)) = (parse_i64(start), parse_i64(end)) else {
        return CommandError::NotInteger.to_frame();
    };
    let value = match store.get(key) {
        Ok(Some(value)) => value,
        Ok(None) => return Frame::Bulk(Bytes::new()),
        Err(e) => return store_error(e),
    };
    let len = len_i64(&value.data);
    if start < 0 && end < 0 && start > end {
        return Frame::Bulk(Bytes::new());
    }
    if start < 0 {
        start = len.saturating_add(start).max(0);
    }
    if end < 0 {
        end = len.saturating_add(end).max(0);
    }
    end = end.min(len - 1);
    if start > end || len == 0 {
        return Frame::Bulk(Bytes::new());
    }
    // 0 <= start <= end < len here.
    let (start, end) = (start as usize, end as usize);
    Frame::Bulk(value.data.slice(start..=end))
}

/// SETRANGE: overwrites part of a string from an offset, zero-padding; replies the new length.
///
/// ```text
/// SETRANGE key offset value
/// ```
pub(super) fn set_range(store: &Store, key: &[u8], offset: &[u8], patch: &[u8]) -> Frame {
    let Some(offset) = parse_i64(offset) else {
        return CommandError::NotInteger.to_frame();
    };
    let Ok(offset) = u64::try_from(offset) else {
        return Frame::error(text::OFFSET_OUT_OF_RANGE);
    };
    or_oom(store.update(key, |current| {
        let old: &[u8] = current.map_or(&[], |v| &v.data);
        if patch.is_empty() {
            return (Update::Keep, Frame::Integer(len_i64(old)));
        }
        if offset + patch.len() as u64 > MAX_STRING_LEN {
            return (Update::Keep, Frame::error(text::STRING_TOO_LONG));
        }
        // Both below 512 MiB here.
        let (offset, end) = (offset as usize, offset as usize + patch.len());
        let mut data = BytesMut::zeroed(end.max(old.len()));
        data[..old.len()].copy_from_slice(old);
        data[offset..end].copy_from_slice(patch);
        let len = len_i64(&data);
        let stored = Value {
            data: data.freeze(),
            deadline_ms: current.map_or(0, |v| v.deadline_ms),
        };
        (Update::Put(stored), Frame::Integer(len))
    }))
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;

    use bytes::Bytes;
    use protocol::Frame;

    use crate::clock::ManualClock;
    use crate::config::Config;
    use crate::state::ShardState;

    const T0: u64 = 1_700_000_000_000;

    /// Runs one command line (space-separated) through `exec::execute`, or its parse error.
    pub(crate) fn run(shard: &ShardState, line: &str) -> Frame {
        let args = line
            .split(' ')
            .map(|a| Bytes::copy_from_slice(a.as_bytes()))
            .collect();
        let request = protocol::Request {
            args,
            raw: Bytes::new(),
            inline: false,
        };
        match protocol::Command::from_request(request) {
            Ok(cmd) => crate::exec::execute(&cmd, shard, protocol::Protocol::Resp2),
            Err(e) => e.to_frame(),
        }
    }

    /// Returns a shard with an empty store on a manual clock at `T0`.
    pub(crate) fn shard() -> (Arc<ShardState>, Arc<ManualClock>) {
        shard_with(Config::default())
    }

    fn shard_with(config: Config) -> (Arc<ShardState>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(T0));
        (ShardState::with_clock(config, 0, clock.clone()), clock)
    }

    fn bulk(s: &str) -> Frame {
        Frame::bulk(s.as_bytes())
    }

    fn err(s: &'static str) -> Frame {
        Frame::error(s)
    }

    #[test]
    fn set_options_and_errors_match_redis() {
        let (s, _) = shard();
        let invalid = err("ERR invalid expire time in 'set' command");
        assert_eq!(run(&s, "set k v EX 0"), invalid);
        assert_eq!(run(&s, "set k v EX -1"), invalid);
        assert_eq!(run(&s, "set k v EX 9223372036854775"), invalid);
        assert_eq!(run(&s, "set k v PX 9223372036854775807"), invalid);
        assert_eq!(run(&s, "set k v EX abc"), err(protocol::text::NOT_INTEGER));
        assert_eq!(run(&s, "set k v EX 10 PX 10"), err(protocol::text::SYNTAX));
        assert_eq!(run(&s, "set k v NX XX"), err(protocol::text::SYNTAX));
        assert_eq!(
            run(&s, "set k v KEEPTTL EX 10"),
            err(protocol::text::SYNTAX)
        );
        assert_eq!(run(&s, "set k v EX"), err(protocol::text::SYNTAX));
        assert_eq!(run(&s, "set k v GET"), Frame::Null);
        assert_eq!(run(&s, "set k v2 GET"), bulk("v"));
        assert_eq!(run(&s, "set k v3 NX GET"), bulk("v2"));
        assert_eq!(run(&s, "set k v3 NX"), Frame::Null);
        assert_eq!(run(&s, "set new v XX GET"), Frame::Null);
        assert_eq!(run(&s, "exists new"), Frame::Integer(0));
        assert_eq!(run(&s, "set k v ex abc ex 10"), Frame::ok(), "last EX wins");
        assert_eq!(run(&s, "ttl k"), Frame::Integer(10));
        assert_eq!(run(&s, "set k v KEEPTTL"), Frame::ok());
        assert_eq!(run(&s, "ttl k"), Frame::Integer(10));
        assert_eq!(run(&s, "set k v"), Frame::ok());
        assert_eq!(run(&s, "ttl k"), Frame::Integer(-1));
        assert_eq!(run(&s, "set k v PXAT 1"), Frame::ok());
        assert_eq!(run(&s, "get k"), Frame::Null);
    }

    #[test]
    fn set_with_a_ttl_expires_on_the_injected_clock() {
        let (s, clock) = shard();
        assert_eq!(run(&s, "set k v PX 1500"), Frame::ok());
        assert_eq!(run(&s, "pttl k"), Frame::Integer(1500));
        assert_eq!(run(&s, "ttl k"), Frame::Integer(2), "rounded as Redis does");
        clock.advance(1501);
        assert_eq!(run(&s, "get k"), Frame::Null);
        assert_eq!(run(&s, "ttl k"), Frame::Integer(-2));
    }

    #[test]
    fn getex_changes_the_ttl_after_checking_the_key() {
        let (s, _) = shard();
        assert_eq!(run(&s, "getex missing ex abc"), Frame::Null);
        assert_eq!(run(&s, "set k v"), Frame::ok());
        assert_eq!(run(&s, "getex k ex abc"), err(protocol::text::NOT_INTEGER));
        assert_eq!(
            run(&s, "getex k ex 0"),
            err("ERR invalid expire time in 'getex' command")
        );
        assert_eq!(
            run(&s, "getex k persist ex 10"),
            err(protocol::text::SYNTAX)
        );
        assert_eq!(run(&s, "getex k nx"), err(protocol::text::SYNTAX));
        assert_eq!(run(&s, "getex k ex 100 ex 200"), bulk("v"));
        assert_eq!(run(&s, "ttl k"), Frame::Integer(200));
        assert_eq!(run(&s, "getex k persist"), bulk("v"));
        assert_eq!(run(&s, "ttl k"), Frame::Integer(-1));
        assert_eq!(run(&s, "getex k exat 1"), bulk("v"));
        assert_eq!(run(&s, "exists k"), Frame::Integer(0));
    }

    #[test]
    fn setex_and_psetex_validate_their_ttl() {
        let (s, _) = shard();
        assert_eq!(
            run(&s, "setex k 0 v"),
            err("ERR invalid expire time in 'setex' command")
        );
        assert_eq!(
            run(&s, "psetex k 9223372036854775807 v"),
            err("ERR invalid expire time in 'psetex' command")
        );
        assert_eq!(run(&s, "setex k 100 v"), Frame::ok());
        assert_eq!(run(&s, "ttl k"), Frame::Integer(100));
    }

    #[test]
    fn incr_family_checks_integers_and_overflow() {
        let (s, _) = shard();
        assert_eq!(run(&s, "incr n"), Frame::Integer(1));
        assert_eq!(run(&s, "incrby n 10"), Frame::Integer(11));
        assert_eq!(run(&s, "decrby n 3"), Frame::Integer(8));
        assert_eq!(run(&s, "decr n"), Frame::Integer(7));
        assert_eq!(run(&s, "incrby n abc"), err(protocol::text::NOT_INTEGER));
        assert_eq!(
            run(&s, "decrby n -9223372036854775808"),
            err("ERR decrement would overflow")
        );
        assert_eq!(run(&s, "set n 9223372036854775807"), Frame::ok());
        assert_eq!(run(&s, "incr n"), err(protocol::text::OVERFLOW));
        for bad in ["007", "+1", "1.0", "12345678901234567890"] {
            run(&s, &format!("set n {bad}"));
            assert_eq!(run(&s, "incr n"), err(protocol::text::NOT_INTEGER), "{bad}");
        }
    }

    #[test]
    fn incr_keeps_the_ttl() {
        let (s, _) = shard();
        run(&s, "set n 1 EX 100");
        assert_eq!(run(&s, "incr n"), Frame::Integer(2));
        assert_eq!(run(&s, "ttl n"), Frame::Integer(100));
    }

    #[test]
    fn incrbyfloat_formats_like_redis() {
        let (s, _) = shard();
        run(&s, "set f 10.5");
        assert_eq!(run(&s, "incrbyfloat f 0.1"), bulk("10.6"));
        assert_eq!(run(&s, "get f"), bulk("10.6"));
        run(&s, "set f 1");
        assert_eq!(run(&s, "incrbyfloat f -1.1"), bulk("-0.1"));
        run(&s, "set f 1e17");
        assert_eq!(
            run(&s, "incrbyfloat f 0.1"),
            bulk("100000000000000000.1015625")
        );
        assert_eq!(
            run(&s, "incrbyfloat f 3.0e3"),
            bulk("100000000000003000.1015625")
        );
        assert_eq!(
            run(&s, "incrbyfloat f inf"),
            err(protocol::text::NAN_OR_INF)
        );
        assert_eq!(
            run(&s, "incrbyfloat f 1e5000"),
            err(protocol::text::NOT_FLOAT)
        );
        run(&s, "set f abc");
        assert_eq!(run(&s, "incrbyfloat f 1"), err(protocol::text::NOT_FLOAT));
        assert_eq!(run(&s, "incrbyfloat g 5.0e3"), bulk("5000"));
    }

    #[test]
    fn ranges_clamp_like_redis() {
        let (s, _) = shard();
        run(&s, "set s Hello");
        assert_eq!(run(&s, "getrange s 0 -1"), bulk("Hello"));
        assert_eq!(run(&s, "getrange s -3 -1"), bulk("llo"));
        assert_eq!(run(&s, "getrange s -100 100"), bulk("Hello"));
        assert_eq!(run(&s, "getrange s -1 -5"), bulk(""));
        assert_eq!(run(&s, "getrange missing 0 -1"), bulk(""));
        assert_eq!(
            run(&s, "getrange s 9223372036854775807 -9223372036854775808"),
            bulk("")
        );
        assert_eq!(
            run(&s, "setrange s -1 x"),
            err(protocol::text::OFFSET_OUT_OF_RANGE)
        );
        assert_eq!(
            run(&s, "setrange s 536870912 x"),
            err(protocol::text::STRING_TOO_LONG)
        );
        assert_eq!(run(&s, "setrange s 7 !"), Frame::Integer(8));
        assert_eq!(run(&s, "get s"), bulk("Hello\0\0!"));
        assert_eq!(run(&s, "setrange none 5 "), Frame::Integer(0));
        assert_eq!(run(&s, "exists none"), Frame::Integer(0));
        assert_eq!(run(&s, "append s ab"), Frame::Integer(10));
        assert_eq!(run(&s, "append t ab"), Frame::Integer(2));
        assert_eq!(run(&s, "strlen t"), Frame::Integer(2));
        assert_eq!(run(&s, "strlen none"), Frame::Integer(0));
    }

    #[test]
    fn multi_key_commands() {
        let (s, _) = shard();
        assert_eq!(
            run(&s, "mset a 1 b"),
            err("ERR wrong number of arguments for 'mset' command")
        );
        assert_eq!(run(&s, "mset a 1 b 2"), Frame::ok());
        assert_eq!(
            run(&s, "mget a nope b"),
            Frame::Array(vec![bulk("1"), Frame::Null, bulk("2")])
        );
        assert_eq!(run(&s, "msetnx a 1 z 2"), Frame::Integer(0));
        assert_eq!(run(&s, "exists z"), Frame::Integer(0));
        assert_eq!(run(&s, "msetnx y 1 z 2 y 3"), Frame::Integer(1));
        assert_eq!(run(&s, "get y"), bulk("3"));
        assert_eq!(run(&s, "getset y new"), bulk("3"));
        assert_eq!(run(&s, "getdel y"), bulk("new"));
        assert_eq!(run(&s, "getdel y"), Frame::Null);
        assert_eq!(run(&s, "setnx y 1"), Frame::Integer(1));
        assert_eq!(run(&s, "setnx y 2"), Frame::Integer(0));
    }

    #[test]
    fn oversized_values_get_the_oom_error() {
        let (s, _) = shard_with(Config {
            max_memory: 600,
            ..Config::default()
        });
        let big = "x".repeat(600);
        assert_eq!(run(&s, &format!("set k {big}")), err(protocol::text::OOM));
        assert_eq!(run(&s, "set k small"), Frame::ok());
        assert_eq!(
            run(&s, &format!("append k {big}")),
            err(protocol::text::OOM)
        );
        assert_eq!(run(&s, "get k"), bulk("small"));
    }
}
