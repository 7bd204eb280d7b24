//! DUMP and RESTORE: a key as Redis's serialized form, which redis-server reads too.

use bytes::Bytes;
use protocol::command::parse_i64;
use protocol::{text, Frame};

use crate::rdb::dump::{dump_object, dump_string, restore_object, DumpError};
use crate::store::types::Collection;
use crate::store::{Object, Store, Update, Value};

/// `DUMP key`: the payload of a key of any type, or nil for a missing key.
pub(crate) fn dump(store: &Store, key: &[u8]) -> Frame {
    match store.peek(key) {
        Ok(Some(v)) => Frame::Bulk(Bytes::from(dump_string(&v.data))),
        Ok(None) => Frame::Null,
        // Not a string: copied out whole, then encoded outside the segment's lock.
        Err(_) => match store.object(key) {
            Some((value, _)) => Frame::Bulk(Bytes::from(dump_object(&value))),
            None => Frame::Null,
        },
    }
}

/// ```text
/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]
/// ```
/// Checked in Redis 7's order: options, an existing key (`BUSYKEY`), the TTL, the payload.
/// IDLETIME and FREQ are checked and then left: this store keeps its own recency.
pub(crate) fn restore(store: &Store, args: &[Bytes]) -> Frame {
    let (mut replace, mut absttl) = (false, false);
    let (mut idle, mut freq) = (false, false);
    let mut j = 4;
    while j < args.len() {
        let more = j + 1 < args.len();
        match &args[j].to_ascii_lowercase()[..] {
            b"replace" => replace = true,
            b"absttl" => absttl = true,
            b"idletime" if more && !freq => {
                match parse_i64(&args[j + 1]) {
                    None => return Frame::error(text::NOT_INTEGER),
                    Some(n) if n < 0 => {
                        return Frame::error("ERR Invalid IDLETIME value, must be >= 0")
                    }
                    Some(_) => {}
                }
                idle = true;
                j += 1;
            }
            b"freq" if more && !idle => {
                match parse_i64(&args[j + 1]) {
                    None => return Frame::error(text::NOT_INTEGER),
                    Some(n) if !(0..=255).contains(&n) => {
                        return Frame::error("ERR Invalid FREQ value, must be >= 0 and <= 255")
                    }
                    Some(_) => {}
                }
                freq = true;
                j += 1;
            }
            _ => return Frame::error(text::SYNTAX),
        }
        j += 1;
    }
    let key = &args[1];
    if !replace && store.meta(key, false).is_some() {
        return Frame::error("BUSYKEY Target key name already exists.");
    }
    let ttl = match parse_i64(&args[2]) {
        None => return Frame::error(text::NOT_INTEGER),
        Some(t) if t < 0 => return Frame::error("ERR Invalid TTL value, must be >= 0"),
        Some(t) => t as u64,
    };
    let value = match restore_object(&args[3], store.max_memory()) {
        Ok(value) => value,
        Err(DumpError::VersionOrChecksum) => {
            return Frame::error("ERR DUMP payload version or checksum are wrong")
        }
        Err(DumpError::BadFormat) => return Frame::error("ERR Bad data format"),
        Err(DumpError::TooBig) => return Frame::error(text::OOM),
    };
    let deadline_ms = match ttl {
        0 => 0,
        t if absttl => t,
        t => store.now_ms().saturating_add(t),
    };
    let data = match value {
        Object::Str(data) => data,
        Object::Coll(c) => return restore_collection(store, key, c, deadline_ms, replace),
    };
    let value = Value { data, deadline_ms };
    // One step under the key's lock: an expired deadline removes a replaced key, as Redis.
    let done = store.update_any(key, |current| {
        if current.is_some() && !replace {
            return (Update::Keep, false);
        }
        (Update::Put(value), true)
    });
    match done {
        Ok(true) => Frame::ok(),
        Ok(false) => Frame::error("BUSYKEY Target key name already exists."),
        Err(_) => Frame::error(text::OOM),
    }
}

/// Stores a restored collection. Without REPLACE the key was checked absent above; a key
/// written between that check and this put is replaced (Redis runs RESTORE atomically; here
/// the window is one command's length on another connection).
fn restore_collection(
    store: &Store,
    key: &[u8],
    c: Collection,
    deadline_ms: u64,
    replace: bool,
) -> Frame {
    if !replace && store.meta(key, false).is_some() {
        return Frame::error("BUSYKEY Target key name already exists.");
    }
    match store.put_object(key, Object::Coll(c), deadline_ms) {
        Ok(()) => Frame::ok(),
        Err(_) => Frame::error(text::OOM),
    }
}
