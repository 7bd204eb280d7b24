//! Where a command goes: the only place that decides it. `plan` is pure and unit-tested.

use bytes::{Bytes, BytesMut};
use protocol::command::parse_cursor;
use protocol::command::KeySpec;
use protocol::{text, Command, Frame, Kind};

use crate::path::topology::{ShardId, Topology};

/// A shard's cursor fits in this many bits; the router's cursor puts the shard index above.
pub const SCAN_CURSOR_BITS: u32 = 48;

/// The mask of a shard's own cursor inside a router cursor.
pub const SCAN_CURSOR_MASK: u64 = (1 << SCAN_CURSOR_BITS) - 1;

/// Redis Cluster's text for a multi-key command whose keys live on different nodes.
pub const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";

/// What to do with one command.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Answered by the router itself (`serve::session::handle_local`).
    Local,
    /// One shard: the client's bytes, unchanged (inline commands re-encoded).
    Forward {
        /// The shard that owns every key.
        shard: ShardId,
    },
    /// Keys on several shards: one sub-request per part, sent in parallel, then merged.
    Split {
        /// One per shard, in order of the shard's first key.
        parts: Vec<Part>,
        /// How the parts' replies become one.
        merge: Merge,
    },
    /// The same request to every shard, then merged.
    Broadcast {
        /// How the shards' replies become one.
        merge: Merge,
    },
    /// One step of a cluster-wide SCAN: `shard`'s own cursor `cursor`.
    Scan {
        /// The shard being iterated.
        shard: ShardId,
        /// That shard's cursor.
        cursor: u64,
    },
    /// The router already knows the reply (CROSSSLOT, a finished SCAN, a bad cursor).
    Reply(Frame),
}

/// The keys of a split command that one shard serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The shard.
    pub shard: ShardId,
    /// Indices into the command's key list (0 = first key), in the client's order.
    pub positions: Vec<usize>,
}

/// How several shard replies become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// MGET: arrays put back in the client's key order; `len` keys in all.
    Reorder {
        /// How many keys the client asked for.
        len: usize,
    },
    /// DEL UNLINK EXISTS TOUCH DBSIZE: integers summed.
    Sum,
    /// MSET FLUSHDB FLUSHALL: `+OK` when every part said `+OK`, else the first error.
    AllOk,
    /// KEYS: arrays concatenated in shard order.
    Concat,
    /// RANDOMKEY: one key from a shard that had one, nil when none did.
    AnyKey,
    /// INFO: fields summed, plus the `# Cluster` section.
    Info,
}

/// Decides where `cmd` goes in `topology`.
pub fn plan(cmd: &Command, topology: &Topology) -> Plan {
    match cmd.kind() {
        Kind::Ping
        | Kind::Echo
        | Kind::Quit
        | Kind::Hello
        | Kind::Auth
        | Kind::Client
        | Kind::Select
        | Kind::Command
        | Kind::Config
        | Kind::Time => Plan::Local,
        Kind::Info => Plan::Broadcast { merge: Merge::Info },
        Kind::DbSize => Plan::Broadcast { merge: Merge::Sum },
        Kind::FlushDb | Kind::FlushAll => Plan::Broadcast {
            merge: Merge::AllOk,
        },
        Kind::Keys => Plan::Broadcast {
            merge: Merge::Concat,
        },
        Kind::RandomKey => Plan::Broadcast {
            merge: Merge::AnyKey,
        },
        Kind::Scan => scan(cmd, topology),
        Kind::MGet => {
            let len = cmd.keys().count();
            split(cmd, topology, Merge::Reorder { len })
        }
        Kind::MSet => split(cmd, topology, Merge::AllOk),
        Kind::Del | Kind::Unlink | Kind::Exists | Kind::Touch => split(cmd, topology, Merge::Sum),
        Kind::MSetNx => match split(cmd, topology, Merge::AllOk) {
            forward @ Plan::Forward { .. } => forward,
            _ => Plan::Reply(Frame::error(CROSSSLOT)),
        },
        Kind::Get
        | Kind::Set
        | Kind::SetNx
        | Kind::SetEx
        | Kind::PSetEx
        | Kind::GetSet
        | Kind::GetDel
        | Kind::GetEx
        | Kind::Incr
        | Kind::Decr
        | Kind::IncrBy
        | Kind::DecrBy
        | Kind::IncrByFloat
        | Kind::Append
        | Kind::StrLen
        | Kind::GetRange
        | Kind::SetRange
        | Kind::Expire
        | Kind::PExpire
        | Kind::ExpireAt
        | Kind::PExpireAt
        | Kind::Persist
        | Kind::Ttl
        | Kind::PTtl
        | Kind::ExpireTime
        | Kind::PExpireTime
        | Kind::Type => match cmd.args().get(1) {
            Some(key) => Plan::Forward {
                shard: topology.shard_for(key),
            },
            // Arity was checked when the command was built; be total anyway.
            None => Plan::Reply(Frame::error(text::SYNTAX)),
        },
    }
}

/// Groups the keys by shard; one group is a plain forward.
fn split(cmd: &Command, topology: &Topology, merge: Merge) -> Plan {
    let mut parts: Vec<Part> = Vec::new();
    for (i, key) in cmd.keys().enumerate() {
        let shard = topology.shard_for(key);
        match parts.iter_mut().find(|p| p.shard == shard) {
            Some(part) => part.positions.push(i),
            None => parts.push(Part {
                shard,
                positions: vec![i],
            }),
        }
    }
    match parts.as_slice() {
        [] => Plan::Reply(Frame::error(text::SYNTAX)),
        [one] => Plan::Forward { shard: one.shard },
        _ => Plan::Split { parts, merge },
    }
}

/// Reads the router cursor: shard index above bit 48, that shard's cursor below.
fn scan(cmd: &Command, topology: &Topology) -> Plan {
    let Some(cursor) = cmd.args().get(1).and_then(|c| parse_cursor(c)) else {
        return Plan::Reply(Frame::error(text::INVALID_CURSOR));
    };
    let shard = (cursor >> SCAN_CURSOR_BITS) as usize;
    if shard >= topology.len() {
        // A cursor from a larger topology, or made up: the iteration is over.
        return Plan::Reply(scan_reply(0, Vec::new()));
    }
    Plan::Scan {
        shard,
        cursor: cursor & SCAN_CURSOR_MASK,
    }
}

/// Returns a SCAN reply: `[cursor, [keys...]]`.
pub fn scan_reply(cursor: u64, keys: Vec<Frame>) -> Frame {
    Frame::Array(vec![
        Frame::Bulk(Bytes::from(cursor.to_string())),
        Frame::Array(keys),
    ])
}

/// Returns the bytes to forward for a single-shard command: the client's own, unless inline.
pub fn forward_request(cmd: &Command) -> Bytes {
    cmd.request_bytes()
}

/// Returns the arguments of a split command's part for the keys at `positions`: the name
/// (and anything before the first key), then those keys (with their values, for pairs).
pub fn part_args(cmd: &Command, positions: &[usize]) -> Vec<Bytes> {
    let args = cmd.args();
    let (first, per_key) = match cmd.spec().keys {
        KeySpec::Pairs(i) => (i, 2),
        KeySpec::AllFrom(i) => (i, 1),
        KeySpec::First | KeySpec::None => (1, 1),
    };
    let picked = positions
        .iter()
        .flat_map(|&p| (0..per_key).map(move |j| first + p * per_key + j))
        .filter_map(|i| args.get(i));
    let mut out = Vec::with_capacity(first + positions.len() * per_key);
    out.extend(args.iter().take(first).cloned());
    out.extend(picked.cloned());
    out
}

/// Returns the sub-request of a split command for the keys at `positions`.
pub fn part_request(cmd: &Command, positions: &[usize]) -> Bytes {
    cmd.with_args(part_args(cmd, positions)).request_bytes()
}

/// Returns a SCAN request for a shard: the client's options with the shard's own cursor.
pub fn scan_request(cmd: &Command, cursor: u64) -> Bytes {
    let cursor = cursor.to_string();
    let mut list: Vec<&[u8]> = cmd.args().iter().map(|a| a.as_ref()).collect();
    if let Some(slot) = list.get_mut(1) {
        *slot = cursor.as_bytes();
    }
    let mut out = BytesMut::new();
    protocol::encode::request(&mut out, list.into_iter());
    out.freeze()
}

#[cfg(test)]
mod tests;
