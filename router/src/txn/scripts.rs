//! EVAL* and SCRIPT through a router, and the scripts it has seen: EVALSHA keeps working
//! after a shard restarts or a replica takes over (NOSCRIPT: the router loads the script
//! from its cache and runs it again, unseen by the client).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use bytes::Bytes;
use protocol::error::text;
use protocol::{Command, Frame, Kind};
use serve::sync::lock;

use super::{b, call, call_unlocked, num};
use crate::elastic::View;
use crate::path::handler::Router;

/// The bodies of every script this router sent or loaded, by SHA1 (lower-case hex).
#[derive(Debug, Default)]
pub(crate) struct ScriptCache {
    bodies: Mutex<HashMap<String, Bytes>>,
}

impl ScriptCache {
    fn remember(&self, body: &Bytes) -> String {
        let sha = sha1_hex(body);
        lock(&self.bodies)
            .entry(sha.clone())
            .or_insert_with(|| body.clone());
        sha
    }

    fn body(&self, sha: &[u8]) -> Option<Bytes> {
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        lock(&self.bodies).get(&sha).cloned()
    }
}

fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// Runs a script on its declared keys' group (group 0 without keys).
pub(super) async fn eval(cmd: &Command, router: &Router, view: &View, lane: u64) -> Frame {
    let groups: BTreeSet<usize> = cmd.keys().map(|k| view.topology.shard_for(k)).collect();
    if groups.len() > 1 {
        return Frame::error(text::CROSSSLOT);
    }
    // During a resize, the declared keys still on the move are moved first.
    if view.moving.is_some() {
        if let Err(frame) = crate::elastic::settle_keys(view, cmd.keys(), lane).await {
            return frame;
        }
    }
    let group = groups.first().copied().unwrap_or(0);
    let by_sha = matches!(cmd.kind(), Kind::EvalSha | Kind::EvalShaRo);
    if !by_sha {
        router.scripts.remember(&cmd.args()[1]);
    }
    let mut args = vec![b("TXN"), b("EVAL"), num(group), num(view.topology.len())];
    args.extend(cmd.args().iter().cloned());
    let reply = call_unlocked(view, lane, group, args.clone()).await;
    let noscript = matches!(&reply, Frame::Error(e) if e.starts_with(b"NOSCRIPT"));
    if !(by_sha && noscript) {
        return reply;
    }
    let Some(body) = router.scripts.body(&cmd.args()[1]) else {
        return reply;
    };
    let loaded = call(view, lane, group, vec![b("SCRIPT"), b("LOAD"), body]).await;
    if loaded.is_error() {
        return reply;
    }
    call_unlocked(view, lane, group, args).await
}

/// SCRIPT on every group: LOAD and FLUSH everywhere, EXISTS from the router's cache or
/// every group, KILL wherever a script runs.
pub(super) async fn script(cmd: &Command, router: &Router, view: &View, lane: u64) -> Frame {
    let args = cmd.args();
    let sub = args[1].to_ascii_uppercase();
    let groups = 0..view.topology.len();
    match &sub[..] {
        b"LOAD" => {
            router.scripts.remember(&args[2]);
            let mut first = None;
            for group in groups {
                let reply = call(view, lane, group, args.to_vec()).await;
                if reply.is_error() {
                    return reply;
                }
                first.get_or_insert(reply);
            }
            first.unwrap_or_else(|| Frame::error(text::UNEXPECTED_REPLY))
        }
        b"EXISTS" => {
            let mut known: Vec<bool> = args[2..]
                .iter()
                .map(|sha| router.scripts.body(sha).is_some())
                .collect();
            let mut everywhere = vec![true; known.len()];
            for group in groups {
                match call(view, lane, group, args.to_vec()).await {
                    Frame::Array(items) if items.len() == known.len() => {
                        for (all, item) in everywhere.iter_mut().zip(items) {
                            *all &= item == Frame::Integer(1);
                        }
                    }
                    other => return other,
                }
            }
            for (k, all) in known.iter_mut().zip(everywhere) {
                *k |= all;
            }
            Frame::Array(
                known
                    .into_iter()
                    .map(|k| Frame::Integer(k as i64))
                    .collect(),
            )
        }
        b"FLUSH" => {
            let mut reply = Frame::ok();
            for group in groups {
                let r = call(view, lane, group, args.to_vec()).await;
                if r.is_error() {
                    reply = r;
                }
            }
            if !reply.is_error() {
                lock(&router.scripts.bodies).clear();
            }
            reply
        }
        b"KILL" => {
            let mut replies = Vec::new();
            for group in groups {
                replies.push(call(view, lane, group, args.to_vec()).await);
            }
            if let Some(ok) = replies.iter().find(|r| !r.is_error()) {
                return ok.clone();
            }
            replies
                .iter()
                .find(|r| !matches!(r, Frame::Error(e) if e.starts_with(b"NOTBUSY")))
                .or(replies.first())
                .cloned()
                .unwrap_or_else(|| Frame::error(text::NOTBUSY))
        }
        // HELP: the first group's.
        _ => call(view, lane, 0, args.to_vec()).await,
    }
}
