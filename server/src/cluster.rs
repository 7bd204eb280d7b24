//! The shard's part in a resize: the topology epoch it has seen, the connections it fences,
//! and the `JUMPCACHE` commands routers send it while keys move (docs/operations.md).
//!
//! A shard knows nothing of the cluster until a router stamps a connection with an epoch
//! (`JUMPCACHE EPOCH`). From then on a connection stamped with an older epoch than the
//! newest one seen gets `-STALEEPOCH <n>` for every data command: a router that has not yet
//! seen a resize cannot write to a key's old owner after the new owner took it over. Other
//! clients (redis-cli on the shard's port) are never fenced.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bytes::Bytes;
use protocol::command::parse_i64;
use protocol::{ring, Command, Frame};
use serve::session::Session;
use serve::sync::lock;

use crate::rdb::dump::{dump_object, restore_object, DumpError};
use crate::state::ShardState;
use crate::store::{Object, StoreError, Value};

/// What this shard knows of the cluster's topology.
#[derive(Debug, Default)]
pub struct ClusterState {
    /// The newest epoch a router announced (0: none).
    epoch: AtomicU64,
    part: Mutex<Part>,
}

/// The topology of the newest epoch, as routers announced it.
#[derive(Debug, Default, Clone)]
struct Part {
    /// The groups, in `--shards` form (`a:1|a:2,b:1`).
    groups: String,
    /// The groups before the resize still moving keys; `None` when no keys move.
    previous: Option<String>,
}

impl ClusterState {
    /// Returns the newest epoch seen (0: none).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Returns `-STALEEPOCH <n>` when `session` was stamped with an epoch older than the
    /// newest seen.
    pub fn fence(&self, session: &Session) -> Option<Frame> {
        let stamp = session.epoch();
        if stamp == 0 {
            return None;
        }
        let epoch = self.epoch();
        (stamp < epoch).then(|| Frame::error_owned(format!("STALEEPOCH {epoch}")))
    }
}

/// Runs one `JUMPCACHE` subcommand for `session`'s connection.
pub fn execute(cmd: &Command, session: &mut Session, shard: &ShardState) -> Frame {
    let args = cmd.args();
    let sub = args[1].to_ascii_uppercase();
    let result = match &sub[..] {
        b"EPOCH" => epoch(args, Some(session), shard),
        b"LEARN" => epoch(args, None, shard),
        b"STATE" => Ok(state(shard)),
        b"DONE" => done(args, shard),
        b"EXPORT" => Ok(export(&args[2..], shard)),
        b"IMPORT" => import(args, shard),
        // A router's near-cache: this connection's reads are tracked, their invalidations
        // pushed on it as RESP3 pushes among its RESP2 replies.
        // The router relayed this connection's invalidations up to n to its own clients.
        b"ACKED" => match (parse_i64(&args[2]), session.client()) {
            (Some(n), Some(client)) if n >= 0 => {
                client.outbox().acknowledged(n as u64);
                Ok(Frame::ok())
            }
            _ => Err("ERR value is not an integer or out of range"),
        },
        b"TRACKING" => {
            serve::tracking::enable_pushes(session, &shard.server_config).map(|()| Frame::ok())
        }
        b"DROP" => {
            // The keys moved to their new group: a client that read them here is told.
            let dropped: Vec<&Bytes> = args[2..].iter().filter(|k| shard.store.remove(k)).collect();
            crate::tracking::invalidate(shard, &dropped);
            Ok(Frame::Integer(dropped.len() as i64))
        }
        b"SCANOUT" => scan_out(args, shard),
        b"TOPOLOGY" | b"RESIZE" => Err("ERR JUMPCACHE TOPOLOGY and RESIZE are a router's commands"),
        b"HELP" => Ok(Frame::Array(
            HELP.iter().map(|l| Frame::simple(l)).collect(),
        )),
        _ => Err("ERR unknown subcommand. Try JUMPCACHE HELP."),
    };
    result.unwrap_or_else(Frame::error)
}

const HELP: &[&str] = &[
    "JUMPCACHE <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "TOPOLOGY",
    "    (router) The groups, their members, the epoch and the migration state.",
    "RESIZE <groups>",
    "    (jumpcache cluster) Grow or shrink to <groups> shard groups, moving keys live.",
    "EPOCH <epoch> [<groups> [<previous-groups>]]",
    "    (router to shard) Stamp this connection; learn a newer topology.",
    "LEARN <epoch> [<groups> [<previous-groups>]]",
    "    (router to shard) Learn a newer topology without stamping this connection.",
    "STATE | DONE <epoch> | EXPORT <key>... | IMPORT <epoch> <key> <value> <deadline-ms>...",
    "    (a collection's value is its DUMP payload, its deadline D<deadline-ms>)",
    "DROP <key>... | SCANOUT <cursor> <count> <groups> <index>",
    "    (router to shard) The steps of moving keys between groups.",
    "TRACKING | ACKED <n>",
    "    (router to shard) Track this connection's reads; push invalidations on it (RESP3);",
    "    the router relayed the first <n> (a write's reply waits for that).",
    "HELP",
    "    Print this help.",
];

fn number(arg: &Bytes) -> Result<i64, &'static str> {
    parse_i64(arg).ok_or("ERR value is not an integer or out of range")
}

/// `EPOCH <e> [<groups> [<previous>]]`: stamps the connection with `e` (an older epoch than
/// the newest known too: the connection is then fenced) and learns a newer epoch (with its
/// groups, and the groups keys are still leaving when it brings a resize). `LEARN` learns
/// without stamping: a router tells the shards first, then switches its own routing, then
/// stamps its connections, so no request routed the old way carries the new stamp.
fn epoch(
    args: &[Bytes],
    session: Option<&mut Session>,
    shard: &ShardState,
) -> Result<Frame, &'static str> {
    let e = u64::try_from(number(&args[2])?).map_err(|_| "ERR bad epoch")?;
    if let Some(session) = session {
        session.set_epoch(e);
    }
    let cluster = &shard.cluster;
    {
        let mut part = lock(&cluster.part);
        let current = cluster.epoch();
        if e < current {
            drop(part);
            return Ok(Frame::error_owned(format!("STALEEPOCH {current}")));
        }
        if e > current {
            let text = |i: usize| args.get(i).map(|a| String::from_utf8_lossy(a).into_owned());
            *part = Part {
                groups: text(3).unwrap_or_default(),
                previous: text(4),
            };
            shard.store.set_migrating(part.previous.is_some());
            cluster.epoch.store(e, Ordering::Release);
        }
    }
    Ok(state(shard))
}

/// `STATE`: `[epoch, groups, previous groups or nil]`.
fn state(shard: &ShardState) -> Frame {
    let part = lock(&shard.cluster.part).clone();
    Frame::Array(vec![
        Frame::Integer(shard.cluster.epoch() as i64),
        Frame::bulk(part.groups.as_bytes()),
        Frame::bulk_or_null(part.previous.map(Bytes::from)),
    ])
}

/// `DONE <e>`: every key of epoch `e`'s resize has moved; forget the previous groups.
fn done(args: &[Bytes], shard: &ShardState) -> Result<Frame, &'static str> {
    let e = number(&args[2])?;
    let mut part = lock(&shard.cluster.part);
    if e == shard.cluster.epoch() as i64 && part.previous.is_some() {
        part.previous = None;
        shard.store.set_migrating(false);
    }
    Ok(Frame::ok())
}

/// `EXPORT <key>...`: for each key, `[value, deadline-ms]` or nil; a collection's value is
/// its DUMP payload and its deadline [`marked`](COLLECTION).
fn export(keys: &[Bytes], shard: &ShardState) -> Frame {
    Frame::Array(
        keys.iter()
            .map(|k| match shard.store.peek(k) {
                Ok(Some(v)) => Frame::Array(vec![
                    Frame::Bulk(v.data),
                    Frame::Integer(v.deadline_ms as i64),
                ]),
                Ok(None) => Frame::Null,
                // Not a string.
                Err(_) => match shard.store.object(k) {
                    Some((value, deadline_ms)) => {
                        let (value, deadline) = wire_value(value, deadline_ms);
                        Frame::Array(vec![value, deadline])
                    }
                    None => Frame::Null,
                },
            })
            .collect(),
    )
}

/// Marks a moving key's deadline when its value is a collection's DUMP payload: on the wire
/// (EXPORT, SCANOUT, IMPORT) `<deadline-ms>` stays a string's, `D<deadline-ms>` is a
/// collection's. A router that predates collections skips what it cannot read as a string,
/// which leaves the key at its old owner, as before.
const COLLECTION: u8 = b'D';

/// Returns a moving key's value and deadline as EXPORT and SCANOUT send them.
fn wire_value(value: Object, deadline_ms: u64) -> (Frame, Frame) {
    match value {
        Object::Str(data) => (Frame::Bulk(data), Frame::Integer(deadline_ms as i64)),
        Object::Coll(c) => (
            Frame::Bulk(Bytes::from(dump_object(&Object::Coll(c)))),
            Frame::Bulk(Bytes::from(format!("D{deadline_ms}"))),
        ),
    }
}

/// `IMPORT <e> (<key> <value> <deadline-ms>)...`: stores each copy this shard has not had
/// during epoch `e`'s resize; refused outside it (a copy that arrives after the resize
/// ended is older than what this shard holds). A deadline marked `D` carries a collection's
/// DUMP payload. Returns how many were stored.
fn import(args: &[Bytes], shard: &ShardState) -> Result<Frame, &'static str> {
    let e = number(&args[2])?;
    let triples = &args[3..];
    if !triples.len().is_multiple_of(3) {
        return Err("ERR wrong number of arguments for 'jumpcache|import' command");
    }
    {
        let part = lock(&shard.cluster.part);
        if e != shard.cluster.epoch() as i64 || part.previous.is_none() {
            return Err("NOTMIGRATING no resize of that epoch is moving keys here");
        }
    }
    let mut stored = 0;
    for t in triples.chunks_exact(3) {
        let done = if t[2].first() == Some(&COLLECTION) {
            import_collection(&t[0], &t[1], &t[2][1..], shard)?
        } else {
            let deadline_ms = u64::try_from(number(&t[2])?).map_err(|_| "ERR bad deadline")?;
            let value = Value {
                data: t[1].clone(),
                deadline_ms,
            };
            shard.store.import(&t[0], &value)
        };
        match done {
            Ok(true) => stored += 1,
            Ok(false) => {}
            Err(_) => return Err("OOM command not allowed when used memory > 'maxmemory'."),
        }
    }
    Ok(Frame::Integer(stored))
}

/// Imports one collection from its DUMP payload.
fn import_collection(
    key: &[u8],
    payload: &[u8],
    deadline: &[u8],
    shard: &ShardState,
) -> Result<Result<bool, StoreError>, &'static str> {
    let deadline_ms = std::str::from_utf8(deadline)
        .ok()
        .and_then(|d| d.parse::<u64>().ok())
        .ok_or("ERR bad deadline")?;
    match restore_object(payload, shard.store.max_memory()) {
        Ok(Object::Coll(c)) => Ok(shard.store.import_collection(key, c, deadline_ms)),
        Ok(Object::Str(_)) | Err(DumpError::BadFormat | DumpError::VersionOrChecksum) => {
            Err("ERR Bad data format")
        }
        Err(DumpError::TooBig) => Ok(Err(StoreError::OutOfMemory)),
    }
}

/// `SCANOUT <cursor> <count> <groups> <index>`: `[next-cursor, [key, value, deadline-ms]...]`
/// of the keys that do not belong to group `index` of `groups` (every key when `index` is
/// past the last group: this group is being removed); collections as EXPORT sends them.
fn scan_out(args: &[Bytes], shard: &ShardState) -> Result<Frame, &'static str> {
    let cursor = usize::try_from(number(&args[2])?).map_err(|_| "ERR invalid cursor")?;
    let count = usize::try_from(number(&args[3])?).map_err(|_| "ERR bad count")?;
    let groups = usize::try_from(number(&args[4])?).map_err(|_| "ERR bad groups")?;
    let index = number(&args[5])?;
    let leaving = |k: &[u8]| ring::bucket(k, groups) as i64 != index;
    let (next, keys) = shard.store.export_leaving(cursor, count.max(1), leaving);
    let mut flat = Vec::with_capacity(keys.len() * 3);
    for (k, value, deadline_ms) in keys {
        let (value, deadline) = wire_value(value, deadline_ms);
        flat.extend([Frame::Bulk(k), value, deadline]);
    }
    Ok(Frame::Array(vec![
        Frame::Bulk(Bytes::from(next.to_string())),
        Frame::Array(flat),
    ]))
}
