//! Transactions and scripts through a router (docs/architecture.md, "Transactions and
//! scripts"): EXEC DISCARD WATCH UNWATCH RESET, EVAL* and SCRIPT.
//!
//! ```text
//! MULTI, queued commands ─▶ session::handle_local (+QUEUED, in the session)
//! EXEC ─▶ exec::run ─▶ one group:  TXN EXEC watch-token cmds            ─▶ shard, one unit
//!                  └▶ groups:      TXN PREPARE per group in group order ─▶ TXN COMMIT each
//! WATCH ─▶ TXN WATCH token keys (each key's group) ; UNWATCH / DISCARD / RESET ─▶ TXN UNWATCH
//! EVAL ─▶ TXN EVAL group groups EVAL ... (the declared keys' group; CROSSSLOT across groups)
//!       ◀─ NOSCRIPT: SCRIPT LOAD from the router's cache, then again
//! ```
//! A shard that answers `TXNLOCKED` (another transaction's phase one holds a key) is asked
//! again after a short wait: the holder finishes or its lease runs out.

mod exec;
mod scripts;
mod test_hook;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use bytes::Bytes;
use protocol::error::text;
use protocol::{Command, Frame, Kind, Request};
use serve::session::Session;

use crate::elastic::View;
use crate::path::handler::{send_to_group, Router};

pub(crate) use scripts::ScriptCache;

/// How long phase one's locks last if the router never sends phase two (it died).
pub const LEASE_MS: u64 = 5_000;

/// How long a router keeps asking a shard whose keys another transaction holds.
const LOCKED_FOR: Duration = Duration::from_millis(2 * LEASE_MS);

/// Runs a `Txn`-route command for a router's client.
pub(crate) async fn command(
    cmd: &Command,
    session: &mut Session,
    router: &Router,
    lane: u64,
) -> Frame {
    let view = router.elastic.view().clone();
    match cmd.kind() {
        Kind::Exec => exec::exec(session, router, &view, lane).await,
        Kind::Discard => match session.take_multi() {
            Some(_) => {
                unwatch(session, &view, lane).await;
                Frame::ok()
            }
            None => Frame::error(text::DISCARD_WITHOUT_MULTI),
        },
        Kind::Watch => {
            if session.in_multi() {
                return Frame::error(text::WATCH_IN_MULTI);
            }
            let (token, fresh) = session.watch(new_token, &cmd.args()[1..]);
            for (group, keys) in by_group(&view, fresh.iter()) {
                let mut args = vec![b("TXN"), b("WATCH"), num(token)];
                args.extend(keys.into_iter().cloned());
                let reply = call(&view, lane, group, args).await;
                if reply.is_error() {
                    return reply;
                }
            }
            Frame::ok()
        }
        Kind::Unwatch => {
            unwatch(session, &view, lane).await;
            Frame::ok()
        }
        Kind::Reset => {
            unwatch(session, &view, lane).await;
            session.reset(&router.server_config);
            Frame::simple("RESET")
        }
        Kind::Script => scripts::script(cmd, router, &view, lane).await,
        Kind::Eval | Kind::EvalSha | Kind::EvalRo | Kind::EvalShaRo => {
            scripts::eval(cmd, router, &view, lane).await
        }
        _ => Frame::error("ERR TXN is what routers send shards"),
    }
}

/// Releases the session's WATCH on every group that holds some of its keys.
pub(crate) async fn unwatch(session: &mut Session, view: &View, lane: u64) {
    let Some(watched) = session.take_watched() else {
        return;
    };
    for (group, _) in by_group(view, watched.keys.iter()) {
        let args = vec![b("TXN"), b("UNWATCH"), num(watched.token)];
        call(view, lane, group, args).await;
    }
}

/// Returns a token no other transaction of any router uses (64 random bits, then a count).
pub(crate) fn new_token() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static SEED: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let seed = *SEED.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(std::process::id() as u64);
        h.finish()
    });
    // An odd multiplier is a bijection: distinct counts give distinct tokens.
    let token = seed.wrapping_add(
        NEXT.fetch_add(1, Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15),
    );
    // Tokens are sent as signed integers; 0 means "none" and the top bit is a shard's own.
    (token & (u64::MAX >> 2)).max(1)
}

/// Groups keys by their group, in group order.
fn by_group<'a>(
    view: &View,
    keys: impl Iterator<Item = &'a Bytes>,
) -> BTreeMap<usize, Vec<&'a Bytes>> {
    let mut out: BTreeMap<usize, Vec<&Bytes>> = BTreeMap::new();
    for key in keys {
        out.entry(view.topology.shard_for(key))
            .or_default()
            .push(key);
    }
    out
}

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn num(n: impl ToString) -> Bytes {
    Bytes::from(n.to_string())
}

/// Sends `args` to every member of `group` (a write: replicas apply it too) and returns the
/// reply the client would see.
async fn call(view: &View, lane: u64, group: usize, args: Vec<Bytes>) -> Frame {
    let request = Request {
        args,
        raw: Bytes::new(),
        inline: true,
    };
    let cmd = match Command::from_request(request) {
        Ok(cmd) => cmd,
        Err(e) => return e.to_frame(),
    };
    let call = send_to_group(view, lane, group, &cmd, true, Vec::new).await;
    match call.wait().await {
        Ok(reply) => reply
            .into_frame()
            .unwrap_or_else(|_| Frame::error(text::UNEXPECTED_REPLY)),
        Err(e) => e.to_frame(),
    }
}

/// [`call`], asked again while the shard answers `TXNLOCKED`, for up to [`LOCKED_FOR`]. A
/// holder whose lease ended is resolved first ([`resolve`]): its router died or stalled.
async fn call_unlocked(view: &View, lane: u64, group: usize, args: Vec<Bytes>) -> Frame {
    let started = tokio::time::Instant::now();
    let mut wait = Duration::from_micros(200);
    loop {
        let reply = call(view, lane, group, args.clone()).await;
        let Some(holder) = Holder::parse(&reply) else {
            return reply;
        };
        if started.elapsed() > LOCKED_FOR {
            return reply;
        }
        if holder.expired && resolve(view, lane, group, holder).await {
            continue;
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_millis(20));
    }
}

/// A transaction holding a key, as a shard's `-TXNLOCKED token coordinator expired ...`
/// names it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Holder {
    token: u64,
    coordinator: usize,
    expired: bool,
}

impl Holder {
    pub(crate) fn parse(reply: &Frame) -> Option<Holder> {
        let Frame::Error(e) = reply else {
            return None;
        };
        Holder::parse_text(e)
    }

    /// The holder a plain command's reply names (a write to a locked key), if it does.
    pub(crate) fn of_reply(reply: &crate::shards::Reply) -> Option<Holder> {
        match reply {
            crate::shards::Reply::Raw(raw) => {
                let text = raw.strip_prefix(b"-")?;
                let end = text.iter().position(|&b| b == b'\r').unwrap_or(text.len());
                Holder::parse_text(&text[..end])
            }
            crate::shards::Reply::Frame(frame) => Holder::parse(frame),
        }
    }

    /// Reads `TXNLOCKED token coordinator expired ...`, an error's text without its `-`.
    fn parse_text(e: &[u8]) -> Option<Holder> {
        let rest = e.strip_prefix(b"TXNLOCKED ")?;
        let mut words = rest.split(|&c| c == b' ');
        let mut next = || -> Option<u64> { std::str::from_utf8(words.next()?).ok()?.parse().ok() };
        Some(Holder {
            token: next()?,
            coordinator: usize::try_from(next()?).ok()?,
            expired: next()? == 1,
        })
    }
}

/// Waits for `holder` to let go of a key of `group` before a command is sent again: resolves
/// it when its lease ended, else sleeps `wait` (doubled, up to 20 ms). Returns false once
/// [`LOCKED_FOR`] passed since `started`: give up, answer the client the error.
pub(crate) async fn wait_for(
    view: &View,
    lane: u64,
    group: usize,
    holder: Holder,
    started: tokio::time::Instant,
    wait: &mut Duration,
) -> bool {
    if started.elapsed() > LOCKED_FOR {
        return false;
    }
    if !(holder.expired && resolve(view, lane, group, holder).await) {
        tokio::time::sleep(*wait).await;
        *wait = (*wait * 2).min(Duration::from_millis(20));
    }
    true
}

/// Ends a transaction whose router died or stalled between its phases, found holding a
/// key of `group` past its lease: the coordinator group says whether it committed (and
/// if it had not, records it aborted, so the late router's COMMIT is refused there); then
/// `group` runs or drops its part. Returns true when asking again may succeed.
pub(crate) async fn resolve(view: &View, lane: u64, group: usize, holder: Holder) -> bool {
    let Some(committed) = resolve_at(view, lane, holder.coordinator, holder.token).await else {
        return false;
    };
    if holder.coordinator == group {
        // RESOLVE itself released the coordinator's keys (aborted), or they were (committed).
        return true;
    }
    let step = if committed { "COMMIT" } else { "ABORT" };
    let args = vec![
        b("TXN"),
        Bytes::from_static(step.as_bytes()),
        num(holder.token),
    ];
    tracing::info!(
        token = holder.token,
        group,
        step,
        "resolved a transaction left between its phases"
    );
    !call(view, lane, group, args).await.is_error()
}

/// `TXN RESOLVE token` on the coordinator group: `Some(true)` committed, `Some(false)`
/// aborted (now for good), `None` no answer.
async fn resolve_at(view: &View, lane: u64, coordinator: usize, token: u64) -> Option<bool> {
    if coordinator >= view.groups.len() {
        return None;
    }
    let args = vec![b("TXN"), b("RESOLVE"), num(token)];
    match call(view, lane, coordinator, args).await {
        Frame::Simple(s) if &s[..] == b"COMMITTED" => Some(true),
        Frame::Simple(s) if &s[..] == b"ABORTED" => Some(false),
        _ => None,
    }
}
