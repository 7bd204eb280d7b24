//! Server commands on the whole store: INFO DBSIZE FLUSHDB FLUSHALL SAVE BGSAVE (LASTSAVE is
//! one line in `exec::execute`).

use protocol::{Command, CommandError, Frame, Protocol};
use serve::info::{render, Selector};

use crate::info::sections;
use crate::state::ShardState;

/// INFO: returns the shard's sections, those asked for or the default ones.
///
/// ```text
/// INFO [section [section ...]]
/// ```
/// A RESP3 client gets a verbatim string, as Redis 7 sends.
pub(super) fn info(cmd: &Command, shard: &ShardState, protocol: Protocol) -> Frame {
    let text = render(&sections(shard), &Selector::from_args(&cmd.args()[1..]));
    match protocol {
        Protocol::Resp3 => Frame::Verbatim(text.into()),
        Protocol::Resp2 => Frame::Bulk(text.into()),
    }
}

/// DBSIZE: returns the number of keys.
///
/// ```text
/// DBSIZE
/// ```
pub(super) fn db_size(shard: &ShardState) -> Frame {
    Frame::Integer(shard.store.len() as i64)
}

/// FLUSHDB / FLUSHALL: removes every key (there is one database); ASYNC and SYNC alike.
///
/// ```text
/// FLUSHDB [ASYNC | SYNC]
/// FLUSHALL [ASYNC | SYNC]
/// ```
pub(super) fn flush(cmd: &Command, shard: &ShardState) -> Frame {
    match cmd.args() {
        [_] => {}
        [_, mode] if mode.eq_ignore_ascii_case(b"ASYNC") || mode.eq_ignore_ascii_case(b"SYNC") => {}
        _ => return CommandError::Syntax.to_frame(),
    }
    shard.store.flush();
    Frame::ok()
}

/// SAVE: writes a snapshot now, replying when it is on disk.
///
/// ```text
/// SAVE
/// ```
/// Redis's replies: `+OK`, `-ERR` when writing failed (the previous file is untouched), or
/// `-ERR Background save already in progress`.
pub(super) fn save(shard: &ShardState) -> Frame {
    match shard.persistence.save(&shard.store) {
        Ok(Ok(_)) => Frame::ok(),
        Ok(Err(_)) => Frame::error("ERR"),
        Err(refused) => Frame::error(refused.text()),
    }
}

/// BGSAVE: starts a snapshot in the background (a thread of its own, no fork: segment by
/// segment, each locked only while its keys are copied).
///
/// ```text
/// BGSAVE [SCHEDULE]
/// ```
/// SCHEDULE is accepted as Redis does, but a save already running is refused all the same.
pub(super) fn bgsave(cmd: &Command, shard: &ShardState) -> Frame {
    match cmd.args() {
        [_] => {}
        [_, s] if s.eq_ignore_ascii_case(b"SCHEDULE") => {}
        _ => return CommandError::Syntax.to_frame(),
    }
    match shard.persistence.bgsave(&shard.store) {
        Ok(()) => Frame::Simple(bytes::Bytes::from_static(b"Background saving started")),
        Err(refused) => Frame::error(refused.text()),
    }
}
