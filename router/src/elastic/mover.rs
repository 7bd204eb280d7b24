//! The background half of a resize: every key that belongs elsewhere now is moved, in
//! batches, at `--migration-rate` keys a second at most, then the resize is declared done.
//!
//! ```text
//! SCANOUT cursor (old group: its leaving keys, values, deadlines) ─▶ IMPORT (each key's new
//! group) ─▶ DROP (old group) ─▶ next cursor ... ─▶ a pass that moved nothing ─▶ finish
//! ```
//! A collection travels as its DUMP payload, its deadline marked (`D<ms>`); the router
//! passes both on as they came.
//! Every router runs one; they do the same work (IMPORT keeps the first copy, DROP of a key
//! already gone does nothing), and whichever finishes first tells the shards. A mover that
//! dies with its router is replaced by the one the restarted router starts.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use protocol::Frame;
use serve::Shutdown;

use super::settle::{ask, wire_deadline};
use super::{encode, Elastic, Moving};

/// Keys asked for per SCANOUT.
const BATCH: usize = 256;

/// The connection lane the mover's requests take.
const LANE: u64 = 0x6d6f7665;

/// Moves every leaving key of `moving` while it is the router's resize, then finishes it.
pub(super) async fn run(elastic: Arc<Elastic>, moving: Arc<Moving>, stop: Shutdown) {
    let stopped = stop.wait();
    tokio::pin!(stopped);
    let work = async {
        estimate(&elastic, &moving).await;
        let mut pacer = Pacer::new(elastic.config.migration_rate);
        loop {
            let (mut pass, mut ended) = (0, false);
            let sources = sources(&elastic, &moving);
            for (j, index) in sources {
                match drain(&elastic, &moving, j, index, &mut pacer).await {
                    Some(n) => pass += n,
                    // Another router finished it (the shards said so), or it is not this
                    // router's resize any more: `finish` tells which.
                    None => {
                        ended = true;
                        break;
                    }
                }
            }
            if ended || pass == 0 || !elastic.is_moving(&moving) {
                break;
            }
        }
        elastic.finish(&moving).await;
    };
    tokio::select! {
        () = work => {}
        () = &mut stopped => {}
    }
}

/// Returns the old groups keys can leave, with their index in the new topology (-1: the
/// group is being removed). A grow moves keys out of every old group into the new ones; a
/// shrink only out of the removed groups.
fn sources(elastic: &Elastic, moving: &Moving) -> Vec<(usize, i64)> {
    let to = elastic.view().topology.len();
    (0..moving.from.len())
        .filter(|&j| to > moving.from.len() || j >= to)
        .map(|j| (j, if j < to { j as i64 } else { -1 }))
        .collect()
}

/// Sets `moving.expected` from the old groups' key counts: all of a removed group's keys,
/// and the share jump hash hands the new groups of a grow.
async fn estimate(elastic: &Elastic, moving: &Moving) {
    let to = elastic.view().topology.len();
    let from = moving.from.len();
    let mut expected = 0.0;
    for (j, index) in sources(elastic, moving) {
        let Some(group) = moving.from_groups.get(j) else {
            continue;
        };
        let request = encode(&[Bytes::from_static(b"DBSIZE")]);
        let Ok(Frame::Integer(n)) = ask(group, LANE, request, None).await else {
            continue;
        };
        expected += if index < 0 {
            n as f64
        } else {
            n as f64 * (1.0 - from as f64 / to as f64)
        };
    }
    moving.expected.store(expected as u64, Relaxed);
}

/// Moves every leaving key out of old group `j`; returns how many it moved, or `None` when
/// the resize is no longer this router's to finish.
async fn drain(
    elastic: &Elastic,
    moving: &Arc<Moving>,
    j: usize,
    index: i64,
    pacer: &mut Pacer,
) -> Option<u64> {
    let view = elastic.view.load_full();
    if !view.moving.as_ref().is_some_and(|m| Arc::ptr_eq(m, moving)) {
        return None;
    }
    let src = moving.from_groups.get(j)?.clone();
    let epoch = Bytes::from(view.topology.epoch().to_string());
    let groups = Bytes::from(view.topology.len().to_string());
    let index = Bytes::from(index.to_string());
    let mut cursor = Bytes::from_static(b"0");
    let mut moved = 0;
    loop {
        let scan = encode(&[
            Bytes::from_static(b"JUMPCACHE"),
            Bytes::from_static(b"SCANOUT"),
            cursor.clone(),
            Bytes::from(BATCH.to_string()),
            groups.clone(),
            index.clone(),
        ]);
        let page = match ask(&src, LANE, scan, None).await {
            Ok(Frame::Array(page)) => page,
            _ => {
                // The old group did not answer: try the same page again shortly.
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let [Frame::Bulk(next), Frame::Array(flat)] = page.as_slice() else {
            return None;
        };
        let mut by_group: BTreeMap<usize, Vec<Bytes>> = BTreeMap::new();
        let mut keys = Vec::new();
        for t in flat.chunks_exact(3) {
            let (Frame::Bulk(k), Frame::Bulk(v)) = (&t[0], &t[1]) else {
                continue;
            };
            let Some(d) = wire_deadline(&t[2]) else {
                continue;
            };
            let part = by_group.entry(view.topology.shard_for(k)).or_default();
            part.extend([k.clone(), v.clone(), d]);
            keys.push(k.clone());
        }
        for (g, triples) in by_group {
            let dst = view.groups.get(g)?;
            let mut args = vec![
                Bytes::from_static(b"JUMPCACHE"),
                Bytes::from_static(b"IMPORT"),
                epoch.clone(),
            ];
            let written: Vec<Bytes> = triples.iter().step_by(3).cloned().collect();
            args.extend(triples);
            match ask(dst, LANE, encode(&args), Some(written)).await {
                Ok(Frame::Integer(_)) => {}
                Ok(Frame::Error(e)) if e.starts_with(b"NOTMIGRATING") => return None,
                // Not stored: leave the old copies; this page is read again.
                _ => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    return Some(moved + 1);
                }
            }
        }
        if !keys.is_empty() {
            let n = keys.len() as u64;
            let mut args = vec![
                Bytes::from_static(b"JUMPCACHE"),
                Bytes::from_static(b"DROP"),
            ];
            args.extend(keys.iter().cloned());
            let _ = ask(&src, LANE, encode(&args), Some(keys)).await;
            moved += n;

            moving.moved.fetch_add(n, Relaxed);
            elastic.counters.moved.fetch_add(n, Relaxed);
            pacer.pace(n, elastic.client_commands()).await;
        }
        if &next[..] == b"0" {
            return Some(moved);
        }
        cursor = next.clone();
    }
}

/// Keeps the mover to `--migration-rate` keys a second while clients are being served, and
/// lets it run flat out while none are (no client command since its last batch): a resize
/// of an idle cluster is as fast as the machine allows, one under load costs its clients
/// little (docs/benchmarks.md, "Live resize").
struct Pacer {
    rate: u64,
    /// Client commands the router had answered at the last batch.
    seen: u64,
    /// When the last batch ended.
    last: Instant,
}

impl Pacer {
    fn new(rate: u64) -> Pacer {
        Pacer {
            rate,
            seen: u64::MAX,
            last: Instant::now(),
        }
    }

    /// Waits after a batch of `n` keys: long enough for `n` keys at the rate when clients
    /// sent commands since the last batch (`commands`, the router's count), else not at all.
    async fn pace(&mut self, n: u64, commands: u64) {
        let busy = commands != self.seen;
        self.seen = commands;
        if busy && self.rate > 0 {
            let due = self.last + Duration::from_secs_f64(n as f64 / self.rate as f64);
            if due > Instant::now() {
                tokio::time::sleep_until(due.into()).await;
            }
        } else {
            tokio::task::yield_now().await;
        }
        self.last = Instant::now();
    }
}
