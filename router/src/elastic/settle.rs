//! Moving one key on the data path: before a command touches a key that is moving, the key
//! is brought to its new owner, so the command finds it there.
//!
//! ```text
//! EXPORT key (old owner) ─▶ nil: nothing to move (moved already, deleted, expired)
//!                        └▶ value, deadline ─▶ IMPORT (new owner: stored only if it never
//!                           had the key in this resize) ─▶ DROP key (old owner)
//! ```
//! Every step is safe to repeat and to interleave with another router's: the new owner's
//! copy, once it has one (or has deleted it), always wins, and the old owner's copy cannot
//! change (routers on an older epoch are fenced). The old copy is dropped only after the new
//! owner answered, so a key is never nowhere.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use bytes::Bytes;
use protocol::Frame;

use super::{encode, View};
use crate::replication::group::Group;

/// What a client gets when a key it names is moving and a group it moves between did not
/// answer as it should.
fn unreachable(which: &str, reply: Result<Frame, String>) -> Frame {
    let why = match reply {
        Ok(Frame::Error(e)) => String::from_utf8_lossy(&e).into_owned(),
        Ok(other) => format!("unexpected reply {other:?}"),
        Err(e) => e,
    };
    Frame::error_owned(format!(
        "TRYAGAIN a key of this command is moving and its {which} group did not answer: {why}"
    ))
}

/// Moves each of `keys` that is moving to its new group before the command runs.
///
/// # Errors
/// The reply for the client when a key's old or new group did not answer.
pub(crate) async fn settle_keys<'a>(
    view: &View,
    keys: impl Iterator<Item = &'a Bytes>,
    lane: u64,
) -> Result<(), Frame> {
    for key in keys {
        let Some((moving, from, to)) = view.moving_key(key) else {
            continue;
        };
        let (Some(src), Some(dst)) = (moving.from_groups.get(from), view.groups.get(to)) else {
            continue;
        };
        if settle(view.topology.epoch(), src, dst, key, lane).await? {
            moving.moved.fetch_add(1, Relaxed);
        }
    }
    Ok(())
}

/// Moves `key` from `src` to `dst`; returns whether this call stored it there.
async fn settle(
    epoch: u64,
    src: &Arc<Group>,
    dst: &Arc<Group>,
    key: &Bytes,
    lane: u64,
) -> Result<bool, Frame> {
    let export = encode(&[b("JUMPCACHE"), b("EXPORT"), key.clone()]);
    let found = match ask(src, lane, export, None).await {
        Ok(Frame::Array(mut items)) if items.len() == 1 => items.pop(),
        other => return Err(unreachable("old", other)),
    };
    let Some(Frame::Array(pair)) = found else {
        return Ok(false); // not there: moved already, deleted or expired
    };
    let (Some(Frame::Bulk(value)), Some(deadline)) = (pair.first(), pair.get(1)) else {
        return Err(unreachable("old", Ok(Frame::Array(pair))));
    };
    let Some(deadline) = wire_deadline(deadline).filter(|_| pair.len() == 2) else {
        return Err(unreachable("old", Ok(Frame::Array(pair))));
    };
    let import = encode(&[
        b("JUMPCACHE"),
        b("IMPORT"),
        Bytes::from(epoch.to_string()),
        key.clone(),
        value.clone(),
        deadline,
    ]);
    let stored = match ask(dst, lane, import, Some(vec![key.clone()])).await {
        Ok(Frame::Integer(n)) => n > 0,
        // The resize ended meanwhile: every key is where it belongs.
        Ok(Frame::Error(e)) if e.starts_with(b"NOTMIGRATING") => return Ok(false),
        other => return Err(unreachable("new", other)),
    };
    let drop = encode(&[b("JUMPCACHE"), b("DROP"), key.clone()]);
    // A failed drop leaves a copy the new owner will never take again: harmless, and the
    // mover drops it.
    let _ = ask(src, lane, drop, Some(vec![key.clone()])).await;
    Ok(stored)
}

/// Returns a moving key's deadline as IMPORT takes it: a string's (an integer from the
/// shard), or a collection's, which the shard marks (`D<ms>`, its value a DUMP payload).
pub(super) fn wire_deadline(d: &Frame) -> Option<Bytes> {
    match d {
        Frame::Integer(d) => Some(Bytes::from(d.to_string())),
        Frame::Bulk(d) if d.first() == Some(&b'D') => Some(d.clone()),
        _ => None,
    }
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

/// Sends `request` to `group` (to every member when `write_keys` is given, as a write of
/// those keys) and returns the reply as a value; `Err` when no member answered.
pub(super) async fn ask(
    group: &Arc<Group>,
    lane: u64,
    request: Bytes,
    write_keys: Option<Vec<Bytes>>,
) -> Result<Frame, String> {
    let call = match write_keys {
        Some(keys) => group.send_write(lane, request, keys, false).await,
        None => group.send_read(lane, request, false).await,
    };
    match call.wait().await {
        Ok(reply) => reply.into_frame().map_err(|e| format!("{e:?}")),
        Err(e) => Err(match e.to_frame() {
            Frame::Error(text) => String::from_utf8_lossy(&text).into_owned(),
            _ => "no reply".into(),
        }),
    }
}
