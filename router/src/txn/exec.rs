//! EXEC through a router: the queued commands placed by group, then one `TXN EXEC` (one
//! group) or two phases (several groups), and the replies put back in the client's order.
//!
//! Two phases, for a transaction on groups g1 < g2 < ... (group order, so two routers never
//! wait on each other in a cycle):
//! 1. `TXN PREPARE token watch-token lease coordinator group groups cmds watched-keys` on
//!    each group in turn: the shard checks the WATCHed keys it holds, locks the keys for
//!    `token` and keeps its commands. A group whose keys another transaction holds answers `TXNLOCKED`: asked
//!    again (or the holder resolved, once its lease ended), holding the groups before it. A
//!    changed WATCHed key: every group prepared is sent `TXN ABORT`, and EXEC answers nil.
//! 2. `TXN COMMIT token` on the coordinator (the first group): the decision. It runs its
//!    part and records the commit, or answers `TXNABORTED` when a resolver aborted the
//!    transaction first (then all is aborted, and a transaction without WATCH starts over).
//!    Then `TXN COMMIT token` on each other group, which runs the part it keeps.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use protocol::command::Route;
use protocol::error::text;
use protocol::{Command, Frame, Kind};

/// A transaction aborted by resolvers each time it tried (its router stalled past the lease).
const TXNABORTED: &str = "TXNABORTED the transaction was aborted before its commit";
use serve::multi::Multi;
use serve::session::{handle_local, Session};

use super::{b, call, call_unlocked, num, resolve_at, test_hook, LEASE_MS};
use crate::elastic::View;
use crate::path::handler::Router;
use crate::path::merge;
use crate::path::plan::{self, Part, Plan};

/// Where one queued command's reply comes from.
enum Slot {
    /// Answered by the router (a `Local` command) when the transaction runs.
    Local(Command),
    /// Known already (CROSSSLOT, not supported here).
    Ready(Frame),
    /// The reply at `index` of group `group`'s replies.
    One { group: usize, index: usize },
    /// A multi-key command split by group: each part's reply, merged.
    Split {
        parts: Vec<Part>,
        merge: plan::Merge,
        at: Vec<(usize, usize)>,
    },
    /// A command for every group (DBSIZE, KEYS, FLUSHALL, ...): their replies, merged.
    All {
        merge: plan::Merge,
        at: Vec<(usize, usize)>,
    },
    /// One step of a cluster-wide SCAN on `group`: its page, with the router's cursor.
    Scan { group: usize, index: usize },
    /// INFO: the router's, once the transaction ran.
    Info(Command),
}

/// Runs EXEC for `session`.
pub(super) async fn exec(session: &mut Session, router: &Router, view: &View, lane: u64) -> Frame {
    let Some(multi) = session.take_multi() else {
        return Frame::error(text::EXEC_WITHOUT_MULTI);
    };
    let watched = session.take_watched();
    if multi.failed {
        if let Some(w) = watched {
            session_unwatch(view, lane, w).await;
        }
        return Frame::error(text::EXECABORT);
    }
    // During a resize, the keys still on the move are moved first, as for any command.
    if view.moving.is_some() {
        let queued = multi.queued.iter().flat_map(|c| c.keys());
        let watched_keys = watched.iter().flat_map(|w| w.keys.iter());
        if let Err(frame) =
            crate::elastic::settle_keys(view, queued.chain(watched_keys), lane).await
        {
            return frame;
        }
    }
    let (slots, mut cmds) = place(&multi, view);
    let mut watch_groups: BTreeMap<usize, Vec<Bytes>> = BTreeMap::new();
    let token = watched.as_ref().map_or(0, |w| w.token);
    for key in watched.iter().flat_map(|w| w.keys.iter()) {
        let group = view.topology.shard_for(key);
        watch_groups.entry(group).or_default().push(key.clone());
        cmds.entry(group).or_default();
    }
    let replies = match cmds.len() {
        0 => BTreeMap::new(),
        1 => {
            let (&group, list) = cmds.iter().next().expect("one group"); // invariant: len 1
            let groups = view.topology.len();
            let mut args = vec![b("TXN"), b("EXEC"), num(token), num(group), num(groups)];
            encode(&mut args, list);
            match call_unlocked(view, lane, group, args).await {
                Frame::Array(replies) => BTreeMap::from([(group, Ok(replies))]),
                Frame::NullArray => return Frame::NullArray,
                other => return other,
            }
        }
        _ => match two_phase(router, view, lane, token, &cmds, &watch_groups).await {
            Ok(Some(replies)) => replies,
            Ok(None) => return Frame::NullArray,
            Err(error) => return error,
        },
    };
    // INFO in its place: the router's answer, after the transaction ran.
    let mut slots = slots;
    for slot in &mut slots {
        if let Slot::Info(cmd) = slot {
            *slot = Slot::Ready(crate::path::handler::info_reply(router, cmd, lane).await);
        }
    }
    let out = assemble(slots, replies, session, router);
    // Each command that ran counts in Commandstats as Redis counts it (when EXEC runs it,
    // not when it was queued), its failure by its own reply; its time is inside EXEC's.
    if let Frame::Array(list) = &out {
        for (cmd, reply) in multi.queued.iter().zip(list) {
            let spec = cmd.spec();
            let zero = std::time::Duration::ZERO;
            router.stats.commands.record(spec, zero, reply.is_error());
        }
    }
    out
}

/// Sorts the queued commands into the groups' lists, and notes where each reply comes from.
fn place(multi: &Multi, view: &View) -> (Vec<Slot>, BTreeMap<usize, Vec<Vec<Bytes>>>) {
    let mut cmds: BTreeMap<usize, Vec<Vec<Bytes>>> = BTreeMap::new();
    let mut push = |group: usize, args: Vec<Bytes>| {
        let list = cmds.entry(group).or_default();
        list.push(args);
        (group, list.len() - 1)
    };
    let mut slots = Vec::with_capacity(multi.queued.len());
    for cmd in &multi.queued {
        let slot = match cmd.route() {
            Route::Local => Slot::Local(cmd.clone()),
            Route::Key | Route::Keys(_) | Route::SameGroup => match plan::plan(cmd, &view.topology)
            {
                Plan::Forward { shard } => {
                    let (group, index) = push(shard, cmd.args().to_vec());
                    Slot::One { group, index }
                }
                Plan::Split { parts, merge } => {
                    let at = parts
                        .iter()
                        .map(|p| push(p.shard, plan::part_args(cmd, &p.positions)))
                        .collect();
                    Slot::Split { parts, merge, at }
                }
                Plan::Reply(frame) => Slot::Ready(frame),
                _ => Slot::Ready(not_here(cmd)),
            },
            Route::All(plan::Merge::Info) => Slot::Info(cmd.clone()),
            // Every group runs it in its place in the transaction (two phases when there
            // are several groups), and the replies are merged as outside a transaction.
            Route::All(merge) => {
                let at = (0..view.topology.len())
                    .map(|group| push(group, cmd.args().to_vec()))
                    .collect();
                Slot::All { merge, at }
            }
            Route::Scan => match plan::plan(cmd, &view.topology) {
                Plan::Scan { shard, cursor } => {
                    let mut args = cmd.args().to_vec();
                    args[1] = num(cursor);
                    let (group, index) = push(shard, args);
                    Slot::Scan { group, index }
                }
                Plan::Reply(frame) => Slot::Ready(frame),
                _ => Slot::Ready(not_here(cmd)),
            },
            Route::Txn
                if matches!(
                    cmd.kind(),
                    Kind::Eval | Kind::EvalSha | Kind::EvalRo | Kind::EvalShaRo
                ) =>
            {
                let groups: BTreeSet<usize> =
                    cmd.keys().map(|k| view.topology.shard_for(k)).collect();
                match groups.len() {
                    0 | 1 => {
                        let group = groups.first().copied().unwrap_or(0);
                        let (group, index) = push(group, cmd.args().to_vec());
                        Slot::One { group, index }
                    }
                    _ => Slot::Ready(Frame::error(text::CROSSSLOT)),
                }
            }
            Route::Txn if cmd.kind() == Kind::Unwatch => Slot::Ready(Frame::ok()),
            _ => Slot::Ready(not_here(cmd)),
        };
        slots.push(slot);
    }
    (slots, cmds)
}

fn not_here(cmd: &Command) -> Frame {
    Frame::error_owned(format!(
        "ERR {} is not supported inside a transaction through a router",
        cmd.spec().lower
    ))
}

/// Appends `n argc arg... ...` (what `TXN EXEC` and `TXN COMMIT` read).
fn encode(args: &mut Vec<Bytes>, cmds: &[Vec<Bytes>]) {
    args.push(num(cmds.len()));
    for cmd in cmds {
        args.push(num(cmd.len()));
        args.extend(cmd.iter().cloned());
    }
}

type GroupReplies = BTreeMap<usize, Result<Vec<Frame>, Frame>>;

/// How many times a transaction without WATCH starts over when a resolver aborted it
/// while its router was slow (a stall longer than the lease between the phases).
const ATTEMPTS: usize = 3;

/// Both phases; `None` when a WATCHed key changed, `Err` when nothing ran (a shard down,
/// locked for too long, aborted by a resolver too often).
async fn two_phase(
    router: &Router,
    view: &View,
    lane: u64,
    watch_token: u64,
    cmds: &BTreeMap<usize, Vec<Vec<Bytes>>>,
    watched: &BTreeMap<usize, Vec<Bytes>>,
) -> Result<Option<GroupReplies>, Frame> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match attempt_two_phase(router, view, lane, watch_token, cmds, watched).await {
            // Aborted by a resolver before it committed: nothing ran anywhere. The WATCH
            // was consumed by phase one, so a watching client gets nil (and retries).
            Outcome::Aborted if watch_token != 0 => return Ok(None),
            Outcome::Aborted if attempt < ATTEMPTS => continue,
            Outcome::Aborted => return Err(Frame::error(TXNABORTED)),
            Outcome::Done(done) => return done,
        }
    }
}

enum Outcome {
    Done(Result<Option<GroupReplies>, Frame>),
    Aborted,
}

/// One try at both phases (docs/architecture.md, "Several groups"): PREPARE carries each
/// group's commands; the first group is the coordinator, whose COMMIT is the decision.
async fn attempt_two_phase(
    router: &Router,
    view: &View,
    lane: u64,
    watch_token: u64,
    cmds: &BTreeMap<usize, Vec<Vec<Bytes>>>,
    watched: &BTreeMap<usize, Vec<Bytes>>,
) -> Outcome {
    let token = super::new_token();
    let coordinator = *cmds.keys().next().expect("two groups or more"); // invariant: caller
    let mut prepared = Vec::new();
    let mut failure = None;
    for (&group, list) in cmds {
        let wt = if watched.contains_key(&group) {
            watch_token
        } else {
            0
        };
        let mut args = vec![
            b("TXN"),
            b("PREPARE"),
            num(token),
            num(wt),
            num(LEASE_MS),
            num(coordinator),
            num(group),
            num(view.topology.len()),
        ];
        encode(&mut args, list);
        args.extend(watched.get(&group).into_iter().flatten().cloned());
        match call_unlocked(view, lane, group, args).await {
            Frame::Simple(_) => prepared.push(group),
            Frame::NullArray => {
                failure = Some(None);
                break;
            }
            other => {
                failure = Some(Some(other));
                break;
            }
        }
    }
    if let Some(failure) = failure {
        // The coordinator first: once it records the abort, no resolver can find a commit.
        abort(view, lane, token, &prepared).await;
        // Groups not reached still hold the WATCH.
        for &group in watched.keys().filter(|g| !prepared.contains(g)) {
            call(
                view,
                lane,
                group,
                vec![b("TXN"), b("UNWATCH"), num(watch_token)],
            )
            .await;
        }
        return match failure {
            None => Outcome::Done(Ok(None)),
            Some(error) if error_is(&error, "TXNABORTED") => Outcome::Aborted,
            Some(error) => Outcome::Done(Err(error)),
        };
    }
    test_hook::pause(test_hook::Point::BeforeCommit).await;
    // The decision: the coordinator runs its part and records the commit, unless a
    // resolver recorded the abort first (this router was slower than the lease).
    let commit = |group: usize| call(view, lane, group, vec![b("TXN"), b("COMMIT"), num(token)]);
    let mut replies = BTreeMap::new();
    match commit(coordinator).await {
        Frame::Array(list) => {
            replies.insert(coordinator, Ok(list));
        }
        error if error_is(&error, "TXNABORTED") => {
            abort(view, lane, token, &prepared).await;
            return Outcome::Aborted;
        }
        error => {
            // No answer (a link lost) or the coordinator restarted: ask what it decided.
            match resolve_at(view, lane, coordinator, token).await {
                Some(true) => {
                    replies.insert(coordinator, Err(error));
                }
                Some(false) => {
                    abort(view, lane, token, &prepared).await;
                    return Outcome::Done(Err(error));
                }
                // Unknown: the others stay prepared; whoever finds their lease over asks
                // the coordinator when it answers again.
                None => return Outcome::Done(Err(error)),
            }
        }
    }
    test_hook::pause(test_hook::Point::AfterCoordinatorCommit).await;
    let mut all_ran = true;
    for &group in cmds.keys().filter(|&&g| g != coordinator) {
        let reply = match commit(group).await {
            Frame::Array(list) => Ok(list),
            other => {
                all_ran = false;
                Err(other)
            }
        };
        replies.insert(group, reply);
    }
    // Every group ran its part: the coordinator may forget the decision (no RESOLVE can
    // come). Sent on its own task, so the client's reply does not wait for it; a group
    // that did not answer keeps it remembered (a part may still wait there).
    if all_ran {
        let view = router.elastic.view().clone();
        let args = vec![b("TXN"), b("FORGET"), num(token)];
        tokio::spawn(async move {
            call(&view, lane, coordinator, args).await;
        });
    }
    Outcome::Done(Ok(Some(replies)))
}

/// Sends `TXN ABORT` to `groups`, in order (the coordinator first).
async fn abort(view: &View, lane: u64, token: u64, groups: &[usize]) {
    for &group in groups {
        call(view, lane, group, vec![b("TXN"), b("ABORT"), num(token)]).await;
    }
}

fn error_is(frame: &Frame, code: &str) -> bool {
    matches!(frame, Frame::Error(e) if e.starts_with(code.as_bytes()))
}

/// Puts every reply in its command's place.
fn assemble(
    slots: Vec<Slot>,
    replies: GroupReplies,
    session: &mut Session,
    router: &Router,
) -> Frame {
    let reply_at = |group: usize, index: usize| -> Frame {
        match replies.get(&group) {
            Some(Ok(list)) => list
                .get(index)
                .cloned()
                .unwrap_or_else(|| Frame::error(text::UNEXPECTED_REPLY)),
            Some(Err(e)) => e.clone(),
            None => Frame::error(text::UNEXPECTED_REPLY),
        }
    };
    let mut out = Vec::with_capacity(slots.len());
    for slot in slots {
        out.push(match slot {
            Slot::Local(cmd) => handle_local(&cmd, session, &router.server_config)
                .unwrap_or_else(|| Frame::error(text::UNEXPECTED_REPLY)),
            Slot::Ready(frame) => frame,
            Slot::One { group, index } => reply_at(group, index),
            Slot::Split { parts, merge, at } => {
                let parts_replies = at
                    .iter()
                    .map(|&(g, i)| Ok(crate::shards::Reply::Frame(reply_at(g, i))))
                    .collect();
                merge::merge(merge, &parts, parts_replies)
            }
            Slot::All { merge, at } => {
                let replies = at
                    .iter()
                    .map(|&(g, i)| Ok(crate::shards::Reply::Frame(reply_at(g, i))))
                    .collect();
                merge::merge(merge, &[], replies)
            }
            Slot::Scan { group, index } => {
                let groups = router.elastic.view().topology.len();
                let page = Ok(crate::shards::Reply::Frame(reply_at(group, index)));
                merge::scan(group, groups, page)
            }
            Slot::Info(_) => Frame::error(text::UNEXPECTED_REPLY),
        });
    }
    Frame::Array(out)
}

async fn session_unwatch(view: &View, lane: u64, watched: serve::multi::Watched) {
    let groups: BTreeSet<usize> = watched
        .keys
        .iter()
        .map(|k| view.topology.shard_for(k))
        .collect();
    for group in groups {
        call(
            view,
            lane,
            group,
            vec![b("TXN"), b("UNWATCH"), num(watched.token)],
        )
        .await;
    }
}
