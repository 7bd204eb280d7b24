//! Where a command goes: `plan` reads the command table's `route` column and applies it to
//! the topology (which group, split how, merged how). Pure and unit-tested.

use bytes::{Bytes, BytesMut};
use protocol::command::{parse_cursor, parse_i64, KeySpec, Kind, Route, SetOp};
use protocol::{text, Command, Frame};

use crate::path::topology::{ShardId, Topology};

// `Plan` carries a `Merge`, and the handler reads the SCAN cursor split: both are the
// command table's (`protocol::command`), re-exported where the plan is read.
pub use protocol::command::{Merge, SCAN_CURSOR_BITS, SCAN_CURSOR_MASK};

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

/// Decides where `cmd` goes in `topology`, by its route in the command table.
pub fn plan(cmd: &Command, topology: &Topology) -> Plan {
    match cmd.route() {
        Route::Local => Plan::Local,
        Route::Key => {
            // A `First` key is argument 1: read it directly, the hot path's one-key commands.
            let key = match cmd.spec().keys {
                KeySpec::First => cmd.args().get(1),
                _ => cmd.keys().next(),
            };
            match key {
                Some(key) => Plan::Forward {
                    shard: topology.shard_for(key),
                },
                // A container's subcommand without a key (`OBJECT HELP`, `MEMORY HELP`): the
                // first group answers it, as docs/commands.md says.
                None if cmd.spec().keys == KeySpec::Second => Plan::Forward { shard: 0 },
                // Arity was checked when the command was built; be total anyway.
                None => Plan::Reply(Frame::error(text::SYNTAX)),
            }
        }
        Route::Keys(Merge::Sets(SetOp::InterCard { .. })) => match intercard_limit(cmd) {
            Some(limit) => split(cmd, topology, Merge::Sets(SetOp::InterCard { limit })),
            // A bad count or LIMIT: the first key's group answers Redis's error.
            None => Plan::Forward {
                shard: cmd.keys().next().map_or(0, |k| topology.shard_for(k)),
            },
        },
        Route::Keys(merge) => split(cmd, topology, merge),
        Route::SameGroup => same_group(cmd, topology),
        Route::All(merge) => Plan::Broadcast { merge },
        Route::Scan => scan(cmd, topology),
        // The handler answers `JUMPCACHE` before a plan is made, and hands transactions and
        // scripts to `txn`.
        Route::Cluster | Route::Txn => Plan::Local,
    }
}

/// Returns SINTERCARD's LIMIT (0 when absent), or `None` when the key count or an option is
/// one Redis refuses.
fn intercard_limit(cmd: &Command) -> Option<usize> {
    let args = cmd.args();
    let n = usize::try_from(parse_i64(args.get(1)?)?).ok()?;
    if n == 0 || n > args.len() - 2 {
        return None;
    }
    match &args[2 + n..] {
        [] => Some(0),
        [opt, limit] if opt.eq_ignore_ascii_case(b"limit") => {
            usize::try_from(parse_i64(limit)?).ok()
        }
        _ => None,
    }
}

/// Groups the keys by shard; one group is a plain forward.
fn split(cmd: &Command, topology: &Topology, merge: Merge) -> Plan {
    let mut parts: Vec<Part> = Vec::new();
    let mut len = 0;
    for (i, key) in cmd.keys().enumerate() {
        let shard = topology.shard_for(key);
        match parts.iter_mut().find(|p| p.shard == shard) {
            Some(part) => part.positions.push(i),
            None => parts.push(Part {
                shard,
                positions: vec![i],
            }),
        }
        len = i + 1;
    }
    let merge = match merge {
        Merge::Reorder { .. } => Merge::Reorder { len },
        other => other,
    };
    match parts.as_slice() {
        [] => Plan::Reply(Frame::error(text::SYNTAX)),
        [one] => Plan::Forward { shard: one.shard },
        _ => Plan::Split { parts, merge },
    }
}

/// Forwards a command whose keys must share a group (MSETNX), or refuses it with CROSSSLOT.
fn same_group(cmd: &Command, topology: &Topology) -> Plan {
    let mut shards = cmd.keys().map(|key| topology.shard_for(key));
    let Some(shard) = shards.next() else {
        return Plan::Reply(Frame::error(text::SYNTAX));
    };
    if shards.all(|s| s == shard) {
        Plan::Forward { shard }
    } else {
        Plan::Reply(Frame::error(text::CROSSSLOT))
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
        // Never split: their rows route to one key or one group.
        KeySpec::First
        | KeySpec::Second
        | KeySpec::None
        | KeySpec::Range(..)
        | KeySpec::Counted(_) => (1, 1),
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

/// Returns the part of a split command for the keys at `positions`: the command itself on
/// those keys, or the command that computes that part of it (set algebra).
pub fn part_command(cmd: &Command, merge: Merge, positions: &[usize]) -> Command {
    let keys = || {
        let all: Vec<&Bytes> = cmd.keys().collect();
        positions
            .iter()
            .filter_map(|&p| all.get(p).map(|k| (*k).clone()))
            .collect::<Vec<_>>()
    };
    match merge {
        Merge::Sets(SetOp::InterCard { .. }) => Command::of(Kind::SInter, keys()),
        Merge::Sets(SetOp::Diff) if positions.first() != Some(&0) => {
            Command::of(Kind::SUnion, keys())
        }
        _ => cmd.with_args(part_args(cmd, positions)),
    }
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
