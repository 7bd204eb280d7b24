//! Learning the topology from the shards: at start-up (a router restarted mid-resize resumes
//! it; one started with a newer file than the shards resizes them) and when a shard fences
//! this router (`-STALEEPOCH`: another router applied a newer epoch first).

use std::sync::Arc;

use bytes::Bytes;
use protocol::Frame;
use serve::sync::lock;

use super::{encode, Elastic, View};
use crate::path::topology::Topology;
use crate::shards::Reply;

impl Elastic {
    /// Brings this router and the shards to the same epoch at start-up.
    pub(super) async fn join(self: &Arc<Self>) {
        let file = self.view().topology.clone();
        if file.epoch() == 0 {
            return; // --shards: a fixed topology, no epochs, nothing fenced
        }
        let current = self.view.load_full();
        match self.shard_state(&current).await {
            Some((e, _, previous)) if e > file.epoch() || previous.is_some() => {
                self.resync(u64::MAX).await;
                if e < file.epoch() {
                    *lock(&self.pending) = Some(file);
                }
            }
            Some((e, groups, None)) if e < file.epoch() => {
                // The shards are on an older topology: resize from theirs to the file's.
                let Ok(theirs) = Topology::from_spec(e, &groups) else {
                    return;
                };
                let _one = self.change.lock().await;
                let base = View {
                    groups: self.build_groups(&current, &theirs),
                    topology: theirs,
                    moving: None,
                };
                self.install(base, &current);
                drop(_one);
                if let Err(e) = self.propose(file, "file").await {
                    tracing::warn!(reason = %e, "topology file at start");
                }
            }
            // Fresh shards (or the same epoch): announce it, nothing moves.
            _ => {
                let _one = self.change.lock().await;
                if let Err(e) = self.apply(&current, file, false).await {
                    tracing::warn!(reason = %e, "topology at start");
                }
            }
        }
    }

    /// Learns the topology from the shards when they know a newer epoch than this router
    /// (`seen`: the epoch a `-STALEEPOCH` named; `u64::MAX`: ask anyway), or resumes a
    /// resize the shards say is still moving keys.
    pub(crate) async fn resync(self: &Arc<Self>, seen: u64) {
        if seen != u64::MAX && self.view().topology.epoch() >= seen {
            return;
        }
        let _one = self.change.lock().await;
        let current = self.view.load_full();
        if seen != u64::MAX && current.topology.epoch() >= seen {
            return;
        }
        let Some(state) = self.shard_state(&current).await else {
            return;
        };
        let (epoch, groups, previous) = state;
        let behind = epoch > current.topology.epoch();
        let resumes =
            epoch == current.topology.epoch() && previous.is_some() && current.moving.is_none();
        if !behind && !resumes {
            return;
        }
        let Ok(next) = Topology::from_spec(epoch, &groups) else {
            return;
        };
        let from = previous.and_then(|p| Topology::from_spec(epoch.saturating_sub(1), &p).ok());
        // The view the shards are leaving: the previous topology's groups.
        let base = match &from {
            Some(from) => View {
                groups: self.build_groups(&current, from),
                topology: from.clone(),
                moving: None,
            },
            None => View {
                topology: current.topology.clone(),
                groups: current.groups.clone(),
                moving: None,
            },
        };
        tracing::info!(
            epoch,
            moving = from.is_some(),
            "topology learned from the shards"
        );
        let result = self.apply(&base, next, from.is_some()).await;
        if let Err(e) = result {
            tracing::warn!(reason = %e, "could not take the shards' topology");
        }
    }

    /// Asks one member of each group for its `JUMPCACHE STATE`; returns the newest:
    /// (epoch, groups, previous groups).
    async fn shard_state(&self, view: &View) -> Option<(u64, String, Option<String>)> {
        let request = encode(&[
            Bytes::from_static(b"JUMPCACHE"),
            Bytes::from_static(b"STATE"),
        ]);
        let mut best: Option<(u64, String, Option<String>)> = None;
        for g in view.all_groups() {
            for member in g.members.iter() {
                let Ok(raw) = member.client.call(request.clone()).await else {
                    continue;
                };
                let Ok(Frame::Array(parts)) = Reply::Raw(raw).into_frame() else {
                    continue;
                };
                let (Some(Frame::Integer(e)), Some(Frame::Bulk(groups))) =
                    (parts.first(), parts.get(1))
                else {
                    continue;
                };
                let previous = match parts.get(2) {
                    Some(Frame::Bulk(p)) => Some(String::from_utf8_lossy(p).into_owned()),
                    _ => None,
                };
                let e = u64::try_from(*e).unwrap_or(0);
                if e > 0
                    && best.as_ref().is_none_or(|b| {
                        e > b.0 || (e == b.0 && previous.is_some() && b.2.is_none())
                    })
                {
                    best = Some((e, String::from_utf8_lossy(groups).into_owned(), previous));
                }
                break;
            }
        }
        best
    }
}
