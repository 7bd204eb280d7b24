//! Server commands that read or clear the whole store: INFO DBSIZE FLUSHDB FLUSHALL.

use protocol::{Command, CommandError, Frame, Kind, Protocol};
use serve::info::{render, Selector};

use crate::info::sections;
use crate::state::ShardState;

/// Runs INFO, DBSIZE, FLUSHDB or FLUSHALL.
pub(crate) fn execute(cmd: &Command, shard: &ShardState, protocol: Protocol) -> Frame {
    match cmd.kind() {
        Kind::Info => info(cmd, shard, protocol),
        Kind::DbSize => Frame::Integer(shard.store.len() as i64),
        Kind::FlushDb | Kind::FlushAll => flush(cmd, shard),
        _ => Frame::error("ERR unsupported"),
    }
}

/// ```text
/// INFO [section [section ...]]
/// ```
/// A RESP3 client gets a verbatim string, as Redis 7 sends.
fn info(cmd: &Command, shard: &ShardState, protocol: Protocol) -> Frame {
    let text = render(&sections(shard), &Selector::from_args(&cmd.args()[1..]));
    match protocol {
        Protocol::Resp3 => Frame::Verbatim(text.into()),
        Protocol::Resp2 => Frame::Bulk(text.into()),
    }
}

/// ```text
/// FLUSHDB [ASYNC | SYNC]
/// FLUSHALL [ASYNC | SYNC]
/// ```
fn flush(cmd: &Command, shard: &ShardState) -> Frame {
    match cmd.args() {
        [_] => {}
        [_, mode] if mode.eq_ignore_ascii_case(b"ASYNC") || mode.eq_ignore_ascii_case(b"SYNC") => {}
        _ => return CommandError::Syntax.to_frame(),
    }
    shard.store.flush();
    Frame::ok()
}
