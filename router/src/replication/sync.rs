//! Bringing a member back: a returning member is copied from a healthy peer (after a flush
//! when it may hold values overwritten or deleted while it was away), and a stale member
//! has the keys it missed copied again, before either serves a read.
//!
//! ```text
//! run_worker ─▶ sync_member ─▶ begin (log on, FLUSHALL?) ─▶ copy_all (SCAN source) ─┐
//!                                  finish (log off, barrier, up) ◀─ repair_keys ◀─────┘
//!                      copy_batch: barrier(source) ─▶ MGET+PTTL (+DUMP of a collection)
//!                                  ─▶ SET [NX] / RESTORE [REPLACE] / DEL on target
//! ```
//! The race to beat is a client write landing between the copier's read from the source
//! and its write to the target. While a sync runs, the group logs every write (key and
//! sequence number) and queues it under the log's lock, on the target's `SYNC_LANE`
//! connection. The copier notes the sequence number, waits until the source has applied
//! every write queued so far (`ShardClient::barrier`), reads, then under the same lock
//! skips every key written since and queues its own writes on the same connection. So a
//! key is either copied before any later write reaches the target, or left to that write.
//! A non-idempotent write (INCR) applied to a target that lacked the key answers
//! differently from the source: that marks the key for repair, done before the target is up.
//!
//! A member back with the same `run_id` was alive but unreachable, and may hold values
//! overwritten or deleted meanwhile (twemproxy issue #604): the keys this router wrote while
//! it was away (kept in its repair set, `Group::missed`) are copied again from a peer, or
//! deleted where the peer has none. It is not flushed: with several routers, each repairs
//! the keys it wrote, and a flush by the second would wipe what the first had already
//! copied back and was reading. Only when the repair set overflowed, or the router never
//! knew the member, is it flushed and copied whole. A new `run_id` is a restarted, empty
//! process: it is only copied into, so other routers' copies and writes are not wiped.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use protocol::Frame;
use serve::sync::lock;
use serve::Shutdown;

use crate::replication::group::{Group, MemberState, WriteLog, SYNC_LANE};
use crate::shards::ShardClient;

/// Keys asked of the source per SCAN step and copied per batch: each batch costs three
/// round trips behind the clients' own traffic, so batches are large.
const BATCH: usize = 1024;

/// Which side of a copy failed.
#[derive(Debug)]
enum Failed {
    Source,
    Target,
}

/// Runs the group's syncs and repairs until `shutdown`; wakes on `Group::wake` and on a
/// timer (a member may have become ready while a sync was running).
pub(crate) async fn run_worker(group: Arc<Group>, every: Duration, shutdown: Shutdown) {
    let mut stop = shutdown.wait();
    loop {
        tokio::select! {
            () = group.wake.notified() => {}
            () = tokio::time::sleep(every) => {}
            () = &mut stop => return,
        }
        for m in 0..group.members.len() {
            let full = match group.state(m) {
                MemberState::Down if group.ready_to_rise(m) => true,
                MemberState::Syncing => true, // an earlier sync was cut short
                MemberState::Stale => false,
                MemberState::Down | MemberState::Up => continue,
            };
            tokio::select! {
                () = sync_member(&group, m, full) => {}
                () = &mut stop => return,
            }
        }
    }
}

fn request(args: &[&[u8]]) -> Bytes {
    let mut out = BytesMut::new();
    protocol::encode::request(&mut out, args.iter().copied());
    out.freeze()
}

/// Returns the member's `run_id`, from its figures; `None` when it does not answer.
async fn run_id(client: &ShardClient) -> Option<String> {
    // Any connection will do: nothing orders this read against the copier's writes.
    let figures = client.send_figures(0).await.wait().await?;
    Some(figures.run_id).filter(|id| !id.is_empty())
}

/// Records member `m`'s `run_id` if none is known yet (called on its first good check).
pub(crate) async fn learn_run_id(group: &Group, m: usize) {
    if lock(&group.members[m].run_id).is_some() {
        return;
    }
    if let Some(id) = run_id(&group.members[m].client).await {
        lock(&group.members[m].run_id).get_or_insert(id);
    }
}

async fn dbsize(client: &ShardClient) -> Option<i64> {
    let raw = client.call(request(&[b"DBSIZE"])).await.ok()?;
    match protocol::reply::parse(&raw) {
        Ok(Frame::Integer(n)) => Some(n),
        _ => None,
    }
}

/// Brings member `m` up: a full copy (`full`) or the repair of the keys it missed.
async fn sync_member(group: &Arc<Group>, m: usize, full: bool) {
    let target = &group.members[m].client;
    let mut flush = false;
    let new_id = run_id(target).await;
    if full {
        // Known and answering: either the same process (its missed keys are repaired) or a
        // restarted, empty one. Never known: what it missed is unknown, so it is flushed.
        let known = lock(&group.members[m].run_id).is_some();
        flush = !(known && new_id.is_some()) && dbsize(target).await.unwrap_or(1) > 0;
    }
    {
        let mut repair = lock(&group.members[m].repair);
        if repair.all {
            flush = true;
            repair.all = false;
            repair.keys.clear();
        }
    }
    let full = full || flush;
    let source = group
        .reader(1 << m, crate::config::ReadPolicy::Primary)
        .map(|s| group.members[s].client.clone());
    if let Err(side) = begin(group, m, full, flush).await {
        return abort(group, m, side).await;
    }
    let copied = async {
        if let Some(source) = &source {
            if full {
                copy_all(group, source, target).await?;
            }
        }
        repair_keys(group, source.as_ref(), target).await
    };
    if let Err(side) = copied.await {
        return abort(group, m, side).await;
    }
    if target.barrier().await.is_err() {
        return abort(group, m, Failed::Target).await;
    }
    // Not if it went down while we copied: it will be synced again.
    if group.promote(m) {
        *lock(&group.members[m].run_id) = new_id;
    }
}

/// Turns the write log on for `m` and, for a full sync, marks it syncing (and flushes it,
/// first thing on its sync lane, so no logged write is wiped).
async fn begin(group: &Group, m: usize, full: bool, flush: bool) -> Result<(), Failed> {
    let target = &group.members[m].client;
    let flushed = {
        let mut log = group.log.lock().await;
        *log = WriteLog {
            target: Some(m),
            ..WriteLog::default()
        };
        group.logging.store(true, Ordering::SeqCst);
        if full {
            group.set_state(m, MemberState::Syncing);
        }
        if flush {
            tracing::info!(group = group.id, member = m, addr = %target.addr(), "flushing a returning member");
            Some(target.send(SYNC_LANE, request(&[b"FLUSHALL"])).await)
        } else {
            None
        }
    };
    if let Some(call) = flushed {
        call.wait().await.map_err(|_| Failed::Target)?;
    }
    // Writes queued before the log was on, on any connection, land before the copy.
    target.barrier().await.map_err(|_| Failed::Target)
}

/// Turns the write log off and leaves `m` to be tried again (down when it failed).
async fn abort(group: &Group, m: usize, side: Failed) {
    end_log(group).await;
    tracing::warn!(group = group.id, member = m, failed = ?side, "member sync cut short");
    if matches!(side, Failed::Target) {
        group.mark_down(m);
    }
}

async fn end_log(group: &Group) {
    let mut log = group.log.lock().await;
    *log = WriteLog::default();
    group.logging.store(false, Ordering::SeqCst);
}

/// Copies every key of `source` that the target lacks.
async fn copy_all(group: &Group, source: &ShardClient, target: &ShardClient) -> Result<(), Failed> {
    let mut cursor = String::from("0");
    loop {
        let count = BATCH.to_string();
        let req = request(&[b"SCAN", cursor.as_bytes(), b"COUNT", count.as_bytes()]);
        let raw = source.call(req).await.map_err(|_| Failed::Source)?;
        let Ok(Frame::Array(mut page)) = protocol::reply::parse(&raw) else {
            return Err(Failed::Source);
        };
        let (Some(Frame::Array(keys)), Some(Frame::Bulk(next))) = (page.pop(), page.pop()) else {
            return Err(Failed::Source);
        };
        let keys: Vec<Bytes> = keys
            .into_iter()
            .filter_map(|k| match k {
                Frame::Bulk(k) => Some(k),
                _ => None,
            })
            .collect();
        copy_batch(group, source, target, &keys, true).await?;
        if next.as_ref() == b"0" {
            return Ok(());
        }
        cursor = String::from_utf8_lossy(&next).into_owned();
    }
}

/// Copies the keys the target missed, until none is left, then turns the log off.
async fn repair_keys(
    group: &Group,
    source: Option<&ShardClient>,
    target: &ShardClient,
) -> Result<(), Failed> {
    let m = group.log.lock().await.target;
    let Some(m) = m else { return Ok(()) };
    loop {
        let keys: Vec<Bytes> = lock(&group.members[m].repair).keys.drain().collect();
        if keys.is_empty() {
            // Checked under the log's lock: no write can mark a key between check and end.
            let mut log = group.log.lock().await;
            if lock(&group.members[m].repair).keys.is_empty() {
                *log = WriteLog::default();
                group.logging.store(false, Ordering::SeqCst);
                return Ok(());
            }
            continue;
        }
        for chunk in keys.chunks(BATCH) {
            match source {
                Some(source) => copy_batch(group, source, target, chunk, false).await?,
                // No healthy peer knows better: a miss is better than a wrong value.
                None => delete(target, chunk).await?,
            }
        }
    }
}

async fn delete(target: &ShardClient, keys: &[Bytes]) -> Result<(), Failed> {
    let mut args: Vec<&[u8]> = vec![b"DEL"];
    args.extend(keys.iter().map(|k| k.as_ref()));
    let call = target.send(SYNC_LANE, request(&args)).await;
    call.wait().await.map(|_| ()).map_err(|_| Failed::Target)
}

/// What `copy_batch` read of one key.
enum Read {
    /// A string and its PTTL.
    Str(Bytes, i64),
    /// A collection (MGET says nil, PTTL says it exists): its DUMP payload, and its PTTL.
    Dumped(Bytes, i64),
    Gone,
}

/// Copies `keys` from `source` to `target`: `SET k v [PX ttl] [NX]` for a string,
/// `RESTORE k ttl payload [REPLACE]` for a collection (`nx` for a full copy, which must not
/// overwrite what writes put there), or `DEL k` when a repaired key is gone.
async fn copy_batch(
    group: &Group,
    source: &ShardClient,
    target: &ShardClient,
    keys: &[Bytes],
    nx: bool,
) -> Result<(), Failed> {
    if keys.is_empty() {
        return Ok(()); // an empty source page: MGET with no key would be an error
    }
    let (seq, flushes) = {
        let log = group.log.lock().await;
        (log.seq, log.flushes)
    };
    source.barrier().await.map_err(|_| Failed::Source)?;
    let mut mget: Vec<&[u8]> = vec![b"MGET"];
    mget.extend(keys.iter().map(|k| k.as_ref()));
    let get = source.send(SYNC_LANE, request(&mget)).await;
    let mut ttls = Vec::with_capacity(keys.len());
    for key in keys {
        ttls.push(source.send(SYNC_LANE, request(&[b"PTTL", key])).await);
    }
    let got = get.wait().await.map_err(|_| Failed::Source)?;
    let Ok(Frame::Array(got)) = protocol::reply::parse(&got) else {
        return Err(Failed::Source);
    };
    if got.len() != keys.len() {
        return Err(Failed::Source);
    }
    let mut values = Vec::with_capacity(keys.len());
    let mut dumps = Vec::new();
    for ((key, value), ttl) in keys.iter().zip(got).zip(ttls) {
        let ttl = ttl.wait().await.map_err(|_| Failed::Source)?;
        values.push(match (value, protocol::reply::parse(&ttl)) {
            (Frame::Bulk(v), Ok(Frame::Integer(ttl))) if ttl != -2 => Read::Str(v, ttl),
            (Frame::Null, Ok(Frame::Integer(ttl))) if ttl != -2 => {
                // Read after the MGET on the same connection: a write since the barrier
                // marks the key in the log either way.
                dumps.push(source.send(SYNC_LANE, request(&[b"DUMP", key])).await);
                Read::Dumped(Bytes::new(), ttl)
            }
            _ => Read::Gone,
        });
    }
    let mut dumps = dumps.into_iter();
    for value in &mut values {
        if let Read::Dumped(_, ttl) = *value {
            let dump = dumps.next().ok_or(Failed::Source)?;
            let dump = dump.wait().await.map_err(|_| Failed::Source)?;
            *value = match protocol::reply::parse(&dump) {
                Ok(Frame::Bulk(payload)) => Read::Dumped(payload, ttl),
                // Gone since the PTTL.
                _ => Read::Gone,
            };
        }
    }
    let mut writes = Vec::with_capacity(keys.len());
    {
        let log = group.log.lock().await;
        if log.flushes != flushes {
            return Ok(()); // the source was flushed since: nothing read is worth copying
        }
        for (key, value) in keys.iter().zip(values) {
            if log.touched.get(key).is_some_and(|&s| s > seq) {
                continue; // written since the read: that write decides the value
            }
            let req = match value {
                Read::Str(v, ttl) => {
                    // PTTL: -1 is no expiry; 0 would be refused by SET, so round it up.
                    let px = (ttl >= 0).then(|| ttl.max(1).to_string());
                    let mut args: Vec<&[u8]> = vec![b"SET", key, &v];
                    if let Some(px) = &px {
                        args.extend([b"PX".as_slice(), px.as_bytes()]);
                    }
                    if nx {
                        args.push(b"NX");
                    }
                    request(&args)
                }
                Read::Dumped(payload, ttl) => {
                    // PTTL -1 is no expiry, RESTORE's 0; a TTL of 0 ms left is 1 (as for SET).
                    let ttl = if ttl < 0 { 0 } else { ttl.max(1) }.to_string();
                    let mut args: Vec<&[u8]> = vec![b"RESTORE", key, ttl.as_bytes(), &payload];
                    if !nx {
                        args.push(b"REPLACE");
                    }
                    request(&args)
                }
                Read::Gone if nx => continue,
                Read::Gone => request(&[b"DEL", key]),
            };
            writes.push(target.send(SYNC_LANE, req).await);
        }
    }
    for write in writes {
        write.wait().await.map_err(|_| Failed::Target)?;
    }
    Ok(())
}
