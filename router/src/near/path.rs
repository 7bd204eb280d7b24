//! What the data path asks of the near-cache, per command.

use bytes::{Bytes, BytesMut};
use protocol::command::Flags;
use protocol::{Command, Frame, Kind, Protocol};
use serve::session::Session;

use super::{cacheable, NearCache};
use crate::shards::Reply;

/// What a command does with the near-cache before it is sent.
#[derive(Debug)]
pub enum Before {
    /// Nothing (not a GET, not a write).
    Nothing,
    /// A GET answered from the near-cache.
    Hit(Bytes),
    /// A GET to send: its reply fills the key, stamped now.
    Fill(Bytes, u64),
    /// A write: its keys were dropped (`None`: a flush, everything was).
    Written(Option<Vec<Bytes>>),
}

/// Looks a GET up, or drops a write's keys before it is sent (read your own writes).
pub fn before(near: &NearCache, cmd: &Command) -> Before {
    if cmd.kind() == Kind::Get {
        let key = &cmd.args()[1];
        return match near.get(key) {
            Some(reply) => Before::Hit(reply),
            None => Before::Fill(key.clone(), near.stamp()),
        };
    }
    if !cmd.spec().flags.contains(Flags::WRITE) {
        return Before::Nothing;
    }
    let keys = written_keys(cmd);
    drop_keys(near, keys.as_deref());
    Before::Written(keys)
}

/// Returns the keys a write changes; `None` for FLUSHALL and FLUSHDB (everything).
fn written_keys(cmd: &Command) -> Option<Vec<Bytes>> {
    match cmd.kind() {
        Kind::FlushAll | Kind::FlushDb => None,
        _ => Some(cmd.keys().cloned().collect()),
    }
}

/// Returns the keys a transaction or script command may write: EXEC's queued writes,
/// EVAL's declared keys; `None` when it may write everything.
pub fn txn_keys(cmd: &Command, session: &Session) -> Option<Vec<Bytes>> {
    match cmd.kind() {
        Kind::Exec => {
            let mut keys = Vec::new();
            for queued in session.queued() {
                if queued.spec().flags.contains(Flags::WRITE) {
                    keys.extend(written_keys(queued)?);
                }
            }
            Some(keys)
        }
        Kind::Eval | Kind::EvalSha | Kind::EvalRo | Kind::EvalShaRo => {
            Some(cmd.keys().cloned().collect())
        }
        _ => Some(Vec::new()),
    }
}

/// Drops `keys` from the near-cache (`None`: everything).
pub fn drop_keys(near: &NearCache, keys: Option<&[Bytes]>) {
    match keys {
        Some(keys) => keys.iter().for_each(|k| near.invalidate(k)),
        None => near.flush(),
    }
}

/// Fills `key` with a GET's reply when it is a value (a socket's bytes, or an in-process
/// shard's bulk, encoded once).
pub fn fill(near: &NearCache, key: Bytes, reply: &Reply, stamp: u64) {
    match reply {
        Reply::Raw(raw) if cacheable(raw) => near.fill(key, raw.clone(), stamp),
        Reply::Frame(frame @ Frame::Bulk(_)) => {
            let mut out = BytesMut::new();
            protocol::encode::encode(frame, Protocol::Resp2, &mut out);
            near.fill(key, out.freeze(), stamp);
        }
        _ => {}
    }
}
