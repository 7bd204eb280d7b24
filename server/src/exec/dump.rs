//! DUMP and RESTORE: a key as Redis's serialized form, which redis-server reads too.

use bytes::Bytes;
use protocol::command::parse_i64;
use protocol::{text, Frame};

use crate::rdb::dump::{dump_string, restore_string, DumpError};
use crate::store::{Store, Update, Value};

/// `DUMP key`: the payload, or nil for a missing key.
pub(crate) fn dump(store: &Store, key: &[u8]) -> Frame {
    match store.peek(key) {
        Ok(Some(v)) => Frame::Bulk(Bytes::from(dump_string(&v.data))),
        Ok(None) => Frame::Null,
        // TODO(collections): DUMP of hashes, sets, sorted sets and lists.
        Err(e) => crate::exec::strings::store_error(e),
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
    let data = match restore_string(&args[3]) {
        Ok(data) => Bytes::from(data),
        Err(DumpError::VersionOrChecksum) => {
            return Frame::error("ERR DUMP payload version or checksum are wrong")
        }
        Err(DumpError::BadFormat) => return Frame::error("ERR Bad data format"),
    };
    let deadline_ms = match ttl {
        0 => 0,
        t if absttl => t,
        t => store.now_ms().saturating_add(t),
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
