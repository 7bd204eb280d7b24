//! One client connection: read a batch, dispatch each request, answer in request order.
//!
//! Every request already buffered is dispatched before any reply is awaited, so a pipeline
//! reaches the shards as a pipeline; the pending replies sit in a queue in request order and
//! are awaited front to back, whatever order the shards answer in. One flush per batch.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use protocol::command::{Flags, Shape};
use protocol::{Command, CommandSpec, Frame, FrameError, Limits, Protocol, Request};
use serve::info::Selector;
use serve::session::{handle_local, ServerConfig, Session};
use serve::stats::Stats;
use serve::{ClientSlot, Connection, Shutdown};

use crate::elastic::{self, Elastic, View};
use crate::observe::info;
use crate::path::busy_poll::BusyPoll;
use crate::path::merge::{self, ShardReply};
use crate::path::plan::{self, Merge, Part, Plan};
use crate::replication::call::GroupCall;
use crate::replication::group::Group;
use crate::shards::{Call, FiguresCall, Reply};

mod config;

/// Requests dispatched before their replies are awaited: enough to keep shards busy,
/// few enough that one client's pipeline cannot hold unbounded memory.
const MAX_BATCH: usize = 1024;

/// What every connection shares: where keys go and how to reach the shards.
#[derive(Debug)]
pub(crate) struct Router {
    /// The topology, its groups, and a resize's keys on the move.
    pub(crate) elastic: Arc<Elastic>,
    pub(crate) server_config: ServerConfig,
    /// The port clients connect to, reported as INFO's `tcp_port`.
    pub(crate) port: u16,
    /// Each client connection's limits.
    pub(crate) limits: Limits,
    /// `maxclients`, for INFO.
    pub(crate) maxclients: usize,
    /// The router's own counters: its clients (counted by the accept loop's `ClientSlots`),
    /// their commands and bytes.
    pub(crate) stats: Arc<Stats>,
    /// `--busy-poll-us`, when not 0: told of every request batch read and reply flushed.
    pub(crate) busy_poll: Option<Arc<BusyPoll>>,
    /// Every script this router has seen, for EVALSHA after a shard lost its cache.
    pub(crate) scripts: crate::txn::ScriptCache,
    /// `--near-cache`: GET replies of hot keys, emptied by the shards' invalidations.
    pub(crate) near: Option<Arc<crate::near::NearCache>>,
}

/// A request in the making: its reply, the protocol it is written in, the command it counts
/// for in Commandstats (`None` when it was not a command), and the request's bytes, parsed
/// again only when SLOWLOG takes it (a reference count here, no copy on the hot path).
type Queued = (Pending, Out, Option<&'static CommandSpec>, Bytes);

/// The protocol a reply goes out in, and for RESP3 the shape Redis gives it there.
type Out = (Protocol, Shape);

/// A write through a router with a near-cache: its keys are dropped again once it is
/// answered (GETs sent meanwhile may carry the old value).
struct Written {
    pending: Pending,
    /// Its keys; `None` for a flush.
    keys: Option<Vec<Bytes>>,
    /// The writer's client id.
    writer: u64,
    /// The invalidations an in-process shard queued as it ran.
    delivered: serve::tracking::Delivered,
}

/// A reply in the making, queued in request order.
enum Pending {
    Ready(Frame),
    /// A GET answered by the near-cache: the shard's reply as it was cached.
    Cached(Bytes),
    /// A GET the near-cache missed: its reply fills the near-cache under its key, unless an
    /// invalidation came after the stamp (taken before it was sent). Boxed, as `Written`:
    /// the variants a router without a near-cache never makes keep `Pending` small.
    Fill(Box<(Pending, Bytes, u64)>),
    /// A write through a router with a near-cache.
    Written(Box<Written>),
    Forward(GroupCall),
    Split {
        calls: Vec<GroupCall>,
        parts: Vec<Part>,
        merge: Merge,
    },
    Broadcast {
        calls: Vec<GroupCall>,
        merge: Merge,
    },
    /// INFO: every member's figures, of every group, in bucket then member order.
    Info {
        calls: Vec<Vec<FiguresCall>>,
        selector: Selector,
        groups: Vec<Arc<Group>>,
        /// CONFIG RESETSTAT: the INFO made of these is recorded as the zero, not sent.
        reset: bool,
    },
    /// WAIT: answered, in request order, with the last write's acknowledgements.
    Wait,
    Scan {
        call: GroupCall,
        shard: usize,
        lane: u64,
        cmd: Command,
    },
}

/// Serves one client until it closes, errs, sends QUIT, passes a limit, or the router shuts
/// down. `_slot` is its place under `maxclients` (and in `connected_clients`), freed when
/// this returns.
///
/// Never returns an error: a client's failure is its own and ends only its connection.
/// Back-pressure: nothing more is read from the client until the replies of its last batch
/// are written out; a client that does not read them is closed at its output limit, and the
/// replies still pending are dropped with it.
pub(crate) async fn handle<S: serve::ClientStream>(
    stream: S,
    _slot: ClientSlot,
    router: Arc<Router>,
    id: u64,
    shutdown: Shutdown,
) {
    let mut session = Session::new(id, &router.server_config);
    let registration = serve::registry::register(&router.server_config.clients, id, stream.tcp());
    session.set_client(registration.info().clone());
    let client = registration.info().clone();
    let mut killed = client.killed();
    let mut conn = Connection::new(stream, router.limits);
    conn.set_authenticated(session.authenticated());
    let mut pending: VecDeque<Queued> = VecDeque::new();
    // Replicas that acknowledged the client's last write (WAIT), and the request's own.
    let mut last_write_acks = 0;
    let mut acks;
    // One waiter for the whole connection: polled at every wake-up, it costs an atomic load.
    let mut shutdown = shutdown.wait();
    // After shutdown: answer what the client had already sent, then close.
    let mut draining = false;
    loop {
        conn.set_idle_timeout(router.server_config.idle_timeout());
        let first = if draining {
            match conn.read_sent_request().await {
                Ok(None) => break,
                sent => sent,
            }
        } else {
            let pushes = session.may_get_pushes(client.outbox());
            tokio::select! {
                biased;
                _ = &mut shutdown => {
                    draining = true;
                    continue;
                }
                _ = &mut killed => break,
                () = client.outbox().ready(), if pushes => {
                    // Invalidations for a tracking client (or its REDIRECT target).
                    if let Some((pushes, n)) = client.outbox().take() {
                        conn.write_raw(&pushes);
                        if conn.flush().await.is_err() {
                            break;
                        }
                        client.outbox().written_up_to(n);
                    }
                    continue;
                }
                read = conn.read_request() => read,
            }
        };
        // Every request of a batch was read now: one clock read starts all their timings.
        let started = Instant::now();
        client.active(started);
        if let Some(busy_poll) = &router.busy_poll {
            busy_poll.activity();
        }
        // The client closed between requests: nothing is left to answer.
        if matches!(first, Ok(None)) {
            break;
        }
        let mut fatal: Option<FrameError> = None;
        let mut read = first;
        loop {
            match read {
                Ok(Some(request)) => {
                    let queued = dispatch::<S>(request, &mut session, &router, id).await;
                    conn.set_authenticated(session.authenticated());
                    pending.push_back(queued);
                }
                Ok(None) => break,
                Err(e) => {
                    fatal = Some(e);
                    break;
                }
            }
            if session.should_close() || pending.len() >= MAX_BATCH {
                break;
            }
            read = conn.try_read_request();
        }
        while let Some((p, protocol, spec, raw)) = pending.pop_front() {
            // WAIT reads it as it is: the last write's.
            acks = last_write_acks;
            let mut reply = resolve::<S>(p, &router, &mut acks).await;
            // Errors that mean "ask again": a resize not yet seen, a key a transaction holds.
            if reply.is_error() {
                reply = Box::pin(retry_refused(reply, &raw, &router, id, &mut acks)).await;
            }
            if let Some(spec) = spec {
                if spec.flags.contains(Flags::WRITE) {
                    last_write_acks = acks;
                }
                let error = reply.is_error();
                let elapsed = started.elapsed();
                router.stats.commands.record(spec, elapsed, error);
                let fast = spec.flags.contains(Flags::FAST);
                router.server_config.latency.record(fast, elapsed);
                if router.server_config.slowlog.is_slow(elapsed) {
                    log_slow(&session, &router.server_config, raw, elapsed);
                }
            }
            write(&mut conn, reply, protocol);
            // Past 1 MiB queued: write what the client takes; past its output limit: close,
            // without the replies still pending (they are dropped with the connection).
            if let Err(e) = conn.relieve().await {
                tracing::debug!(error = %e, "client connection closed");
                conn.count_io(&router.stats);
                return;
            }
        }
        // Invalidations after every reply of the batch: one that arrived while a reply was
        // on its way may concern the value that reply carries, so it must not overtake it.
        let pushed = client.outbox().take().map(|(pushes, n)| {
            conn.write_raw(&pushes);
            n
        });
        // As Redis does: the replies to everything before the bad bytes, then the error.
        if let Some(frame) = fatal.as_ref().and_then(FrameError::to_frame) {
            conn.write_frame(&frame);
        }
        let failed = conn.flush().await.is_err();
        if let (Some(n), false) = (pushed, failed) {
            client.outbox().written_up_to(n);
        }
        if let Some(busy_poll) = &router.busy_poll {
            busy_poll.activity();
        }
        conn.count_io(&router.stats);
        if failed || fatal.is_some() || session.should_close() {
            break;
        }
    }
    if S::TLS {
        // Boxed: a plain connection's state machine holds no room for the TLS close.
        Box::pin(serve::tls::close(conn.stream())).await;
    }
    conn.count_io(&router.stats);
    serve::tracking::disconnect(&mut session, &router.server_config);
    // WATCHed keys the client left registered on the shards.
    if session.watched().is_some() {
        let view = router.elastic.view().clone();
        crate::txn::unwatch(&mut session, &view, id).await;
    }
}

/// Starts one request on its way and counts it; awaits only a full shard queue, never a reply.
///
/// Generic over the client's stream type `S` though it never touches the stream: each
/// `handle::<S>` then calls its own copy once, and the compiler inlines it into the handler's
/// state machine as it did when there was one stream type (a shared copy measured ~120
/// instructions more per request under callgrind).
#[allow(clippy::extra_unused_type_parameters)] // reason: one copy per stream type, for inlining (above)
async fn dispatch<S>(
    request: Request,
    session: &mut Session,
    router: &Router,
    lane: u64,
) -> Queued {
    let cmd = match Command::from_request(request) {
        Ok(cmd) => cmd,
        Err(e) => {
            router.stats.commands.reject_error(&e);
            // Inside MULTI a refused command makes EXEC answer EXECABORT.
            session.refuse_in_multi();
            return (
                Pending::Ready(e.to_frame()),
                (session.protocol(), Shape::Same),
                None,
                Bytes::new(),
            );
        }
    };
    router.stats.commands_processed.fetch_add(1, Relaxed);
    // CLIENT TRACKING: the keys of a read are remembered before it is sent.
    serve::tracking::before_command(session, &cmd, &router.server_config);
    let spec = cmd.spec();
    let raw = cmd.raw().clone();
    // Inside MULTI everything but EXEC DISCARD MULTI WATCH QUIT RESET is queued by the
    // session, WAIT, JUMPCACHE and CONFIG SET included.
    // Not counted in Commandstats until EXEC runs it (txn::exec), as in Redis.
    if session.in_multi() && !serve::multi::runs_inside_multi(cmd.kind()) {
        let frame = handle_local(&cmd, session, &router.server_config)
            .unwrap_or_else(|| Frame::error(protocol::text::UNEXPECTED_REPLY));
        return (
            Pending::Ready(frame),
            (session.protocol(), Shape::Same),
            None,
            raw,
        );
    }
    if cmd.kind() == protocol::Kind::Wait && session.may_run(&cmd, &router.server_config) {
        let pending = match serve::operator::check_wait(&cmd) {
            Ok(()) => Pending::Wait,
            Err(e) => Pending::Ready(e.to_frame()),
        };
        return (pending, (session.protocol(), Shape::Same), Some(spec), raw);
    }
    if cmd.kind() == protocol::Kind::Jumpcache {
        let pending = match handle_local(&cmd, session, &router.server_config) {
            Some(refused) => Pending::Ready(refused),
            None => Pending::Ready(Box::pin(elastic::command(&cmd, &router.elastic)).await),
        };
        return (pending, (session.protocol(), Shape::Same), Some(spec), raw);
    }
    if session.authenticated() && !session.in_multi() && serve::baseline::is_resetstat(&cmd) {
        let groups = router.elastic.view().all_groups();
        let calls = info::send(&groups, lane).await;
        let pending = Pending::Info {
            calls,
            selector: Selector::from_args(&[]),
            groups,
            reset: true,
        };
        return (pending, (session.protocol(), Shape::Same), Some(spec), raw);
    }
    if cmd.spec().route == protocol::command::Route::Txn {
        // EXEC's and EVAL's writes leave the near-cache before they run, and again after.
        let written = router
            .near
            .as_ref()
            .map(|near| (near, crate::near::txn_keys(&cmd, session)));
        if let Some((near, keys)) = &written {
            crate::near::drop_keys(near, keys.as_deref());
        }
        let pending = match handle_local(&cmd, session, &router.server_config) {
            Some(frame) => Pending::Ready(frame),
            None => {
                Pending::Ready(Box::pin(crate::txn::command(&cmd, session, router, lane)).await)
            }
        };
        if let Some((near, keys)) = &written {
            crate::near::drop_keys(near, keys.as_deref());
        }
        return (pending, (session.protocol(), Shape::Same), Some(spec), raw);
    }
    if config::sets_store(&cmd, session, &router.server_config) {
        let pending = Box::pin(config::start(cmd, session, router, lane)).await;
        return (pending, (session.protocol(), Shape::Same), Some(spec), raw);
    }
    let shape = match session.protocol() {
        Protocol::Resp2 => Shape::Same,
        Protocol::Resp3 => protocol::command::resp3_shape(&cmd),
    };
    if let Some(near) = &router.near {
        if session.may_run(&cmd, &router.server_config) {
            let pending = Box::pin(through_near(near, cmd, session, router, lane)).await;
            return (pending, (session.protocol(), shape), Some(spec), raw);
        }
    }
    let pending = match start_now(cmd, session, router, lane) {
        Ok(pending) => pending,
        // Boxed: the common path's future stays small.
        Err((cmd, plan)) => Box::pin(start(cmd, plan, router, lane)).await,
    };
    // Read after the command ran: HELLO 3 is answered in RESP3.
    (pending, (session.protocol(), shape), Some(spec), raw)
}

/// A command through a router with a near-cache (kept off the path of a router without one,
/// whose requests then move less): a GET it holds is answered from it, a GET it misses fills
/// it once answered, a write drops its keys before it is sent and again once answered.
async fn through_near(
    near: &crate::near::NearCache,
    cmd: Command,
    session: &mut Session,
    router: &Router,
    lane: u64,
) -> Pending {
    let before = match crate::near::before(near, &cmd) {
        crate::near::Before::Hit(reply) => return Pending::Cached(reply),
        other => other,
    };
    // A write an in-process shard runs at once queues its invalidations here, to be written
    // before its reply is.
    let (started, delivered) = match before {
        crate::near::Before::Written(_) => {
            serve::tracking::collect(|| start_now(cmd, session, router, lane))
        }
        _ => (start_now(cmd, session, router, lane), Vec::new()),
    };
    let pending = match started {
        Ok(pending) => pending,
        Err((cmd, plan)) => Box::pin(start(cmd, plan, router, lane)).await,
    };
    match before {
        crate::near::Before::Nothing | crate::near::Before::Hit(_) => pending,
        crate::near::Before::Fill(key, stamp) => Pending::Fill(Box::new((pending, key, stamp))),
        crate::near::Before::Written(keys) => Pending::Written(Box::new(Written {
            pending,
            keys,
            writer: session.id(),
            delivered,
        })),
    }
}

/// INFO as the router answers it, for an INFO queued in a transaction (`txn::exec`).
pub(crate) async fn info_reply(router: &Router, cmd: &Command, lane: u64) -> Frame {
    let selector = Selector::from_args(cmd.args().get(1..).unwrap_or_default());
    let groups = router.elastic.view().all_groups();
    let calls = info::send(&groups, lane).await;
    let pending = Pending::Info {
        calls,
        selector,
        groups,
        reset: false,
    };
    match Box::pin(resolve_other(pending, router, &mut 0)).await {
        Reply::Frame(frame) => frame,
        Reply::Raw(_) => Frame::error(protocol::text::UNEXPECTED_REPLY),
    }
}

/// Runs a request again when its error reply says to (`-STALEEPOCH`, `-TXNLOCKED`), or
/// returns the reply as it is.
async fn retry_refused(
    reply: Reply,
    raw: &Bytes,
    router: &Router,
    lane: u64,
    acks: &mut usize,
) -> Reply {
    if let Some(epoch) = elastic::stale_epoch(&reply) {
        return retry(raw, epoch, router, lane, acks).await.unwrap_or(reply);
    }
    if let Some(holder) = crate::txn::Holder::of_reply(&reply) {
        return retry_locked(raw, holder, router, lane, acks)
            .await
            .unwrap_or(reply);
    }
    reply
}

/// Runs a write again after a shard refused it because a cross-group transaction holds its
/// key between the phases (`-TXNLOCKED`), once the holder let go or was resolved (its lease
/// over). Only a one-group command is sent again (a split one's other parts ran already);
/// `None` leaves the client the error.
async fn retry_locked(
    raw: &Bytes,
    mut holder: crate::txn::Holder,
    router: &Router,
    lane: u64,
    acks: &mut usize,
) -> Option<Reply> {
    let mut buf = bytes::BytesMut::from(&raw[..]);
    let request = protocol::Decoder::new(Limits::default())
        .decode(&mut buf)
        .ok()??;
    let cmd = Command::from_request(request).ok()?;
    let started = tokio::time::Instant::now();
    let mut wait = std::time::Duration::from_micros(200);
    loop {
        let view = router.elastic.view().clone();
        let plan = plan::plan(&cmd, &view.topology);
        let Plan::Forward { shard } = plan else {
            return None;
        };
        if !crate::txn::wait_for(&view, lane, shard, holder, started, &mut wait).await {
            return None;
        }
        let pending = start(cmd.clone(), plan, router, lane).await;
        let reply = resolve::<()>(pending, router, acks).await;
        match crate::txn::Holder::of_reply(&reply) {
            Some(again) => holder = again,
            None => return Some(reply),
        }
    }
}

/// Runs a request again after a shard fenced it (`-STALEEPOCH`: the cluster was resized
/// and this router had not seen it): learns the topology from the shards, then sends the
/// request where it goes now. `None` when the request cannot be made again.
async fn retry(
    raw: &Bytes,
    epoch: u64,
    router: &Router,
    lane: u64,
    acks: &mut usize,
) -> Option<Reply> {
    router.elastic.resync(epoch).await;
    router.elastic.stamped(epoch).await;
    let mut buf = bytes::BytesMut::from(&raw[..]);
    let request = protocol::Decoder::new(Limits::default())
        .decode(&mut buf)
        .ok()??;
    let cmd = Command::from_request(request).ok()?;
    let plan = plan::plan(&cmd, &router.elastic.view().topology);
    let pending = start(cmd, plan, router, lane).await;
    Some(resolve::<()>(pending, router, acks).await)
}

/// Logs a slow request in SLOWLOG: its time from the batch's read to its reply, shard round
/// trips included. Its arguments are parsed again from its bytes, on this rare path only.
fn log_slow(session: &Session, config: &ServerConfig, raw: Bytes, elapsed: std::time::Duration) {
    let mut buf = bytes::BytesMut::from(&raw[..]);
    let mut decoder = protocol::Decoder::new(Limits::default());
    if let Ok(Some(request)) = decoder.decode(&mut buf) {
        session.log_if_slow(config, &request.args, elapsed);
    }
}

/// Answers a local command, or plans a data command and sends it when that needs no await
/// (one key's command to a group without replicas whose queue has room). `Err` hands the
/// command and its plan to [`start`].
fn start_now(
    cmd: Command,
    session: &mut Session,
    router: &Router,
    lane: u64,
) -> Result<Pending, (Command, Plan)> {
    if let Some(frame) = handle_local(&cmd, session, &router.server_config) {
        return Ok(Pending::Ready(frame));
    }
    let view = router.elastic.view();
    let plan = plan::plan(&cmd, &view.topology);
    if view.moving.is_some() {
        return Err((cmd, plan));
    }
    if let Plan::Forward { shard } = plan {
        if let Some(client) = view.groups.get(shard).and_then(|g| g.single()) {
            if let Some(call) = client.try_send_command(lane, &cmd) {
                return Ok(Pending::Forward(GroupCall::One(call)));
            }
        }
    }
    Err((cmd, plan))
}

/// Sends a planned data command to its shards, waiting for room in a full queue. During a
/// resize, its keys that are moving are moved first (and the plan made again on the
/// topology of that moment).
async fn start(cmd: Command, plan: Plan, router: &Router, lane: u64) -> Pending {
    let view = router.elastic.view().clone();
    let plan = match view.moving {
        None => plan,
        Some(_) => {
            if let Err(frame) = elastic::settle_keys(&view, cmd.keys(), lane).await {
                return Pending::Ready(frame);
            }
            plan::plan(&cmd, &view.topology)
        }
    };
    let write = cmd.spec().flags.contains(Flags::WRITE);
    match plan {
        // `handle_local` answers every `Route::Local` row before a plan is made (a session test
        // pins it); this arm only keeps the match total.
        Plan::Local => Pending::Ready(Frame::error("ERR command not supported by the router")),
        Plan::Reply(frame) => Pending::Ready(frame),
        Plan::Forward { shard } => {
            let keys = || cmd.keys().cloned().collect();
            Pending::Forward(send(&view, lane, shard, &cmd, write, keys).await)
        }
        Plan::Split { parts, merge } => {
            let all: Vec<&Bytes> = cmd.keys().collect();
            let mut calls = Vec::with_capacity(parts.len());
            for part in &parts {
                let sub = plan::part_command(&cmd, merge, &part.positions);
                let keys = || {
                    let at = |&p: &usize| all.get(p).map(|k| (*k).clone());
                    part.positions.iter().filter_map(at).collect()
                };
                calls.push(send(&view, lane, part.shard, &sub, write, keys).await);
            }
            Pending::Split {
                calls,
                parts,
                merge,
            }
        }
        Plan::Broadcast { merge: Merge::Info } => {
            let selector = Selector::from_args(cmd.args().get(1..).unwrap_or_default());
            let groups = view.all_groups();
            let calls = info::send(&groups, lane).await;
            Pending::Info {
                calls,
                selector,
                groups,
                reset: false,
            }
        }
        Plan::Broadcast { merge } => {
            // Reads (DBSIZE KEYS RANDOMKEY): one member per group. Writes (the FLUSH
            // commands, the only writes sent to every group): every member, as a flush.
            let request = plan::forward_request(&cmd);
            let groups = view.all_groups();
            let mut calls = Vec::with_capacity(groups.len());
            for group in &groups {
                calls.push(if write {
                    group
                        .send_write(lane, request.clone(), Vec::new(), true)
                        .await
                } else {
                    group.send_read(lane, request.clone(), false).await
                });
            }
            Pending::Broadcast { calls, merge }
        }
        Plan::Scan { shard, cursor } => Pending::Scan {
            call: scan_step(&view, lane, shard, &cmd, cursor).await,
            shard,
            lane,
            cmd,
        },
    }
}

/// Sends `cmd` to group `shard` for a transaction or script (`txn`): [`send`].
pub(crate) async fn send_to_group(
    view: &View,
    lane: u64,
    shard: usize,
    cmd: &Command,
    write: bool,
    keys: impl FnOnce() -> Vec<Bytes>,
) -> GroupCall {
    send(view, lane, shard, cmd, write, keys).await
}

/// Sends a keyed command to group `shard`. A group without replicas takes it straight to
/// its one member (as it is, to an in-process shard); `keys` is only called for a
/// replicated write.
async fn send(
    view: &View,
    lane: u64,
    shard: usize,
    cmd: &Command,
    write: bool,
    keys: impl FnOnce() -> Vec<Bytes>,
) -> GroupCall {
    let Some(group) = view.groups.get(shard) else {
        return GroupCall::One(Call::Failed(missing(shard)));
    };
    match group.single() {
        Some(client) => GroupCall::One(client.send_command(lane, cmd).await),
        None if write => {
            group
                .send_write(lane, cmd.request_bytes(), keys(), false)
                .await
        }
        None => group.send_read(lane, cmd.request_bytes(), false).await,
    }
}

/// Sends one SCAN step to group `shard`, always to its first `up` member: a cursor is
/// only meaningful to the member that made it.
async fn scan_step(view: &View, lane: u64, shard: usize, cmd: &Command, cursor: u64) -> GroupCall {
    let request = plan::scan_request(cmd, cursor);
    match view.groups.get(shard) {
        Some(group) => group.send_read(lane, request, true).await,
        None => GroupCall::One(Call::Failed(missing(shard))),
    }
}

fn missing(shard: usize) -> crate::shards::ShardError {
    crate::shards::ShardError {
        shard,
        addr: Arc::from("?"),
        kind: crate::shards::ShardErrorKind::Unavailable,
        request_sent: false,
    }
}

/// Waits for every call; `acks` becomes the fewest acknowledgements of any group (WAIT).
async fn wait_all(calls: Vec<GroupCall>, acks: &mut usize) -> Vec<ShardReply> {
    // The calls are already in flight together; awaiting in turn costs only the slowest.
    let mut replies = Vec::with_capacity(calls.len());
    let mut fewest = usize::MAX;
    for call in calls {
        let (reply, acked) = call.wait_acked().await;
        fewest = fewest.min(acked);
        replies.push(reply);
    }
    *acks = if fewest == usize::MAX { 0 } else { fewest };
    replies
}

/// Waits for a reply. The common cases are awaited here; the others are boxed, so that the
/// future every request awaits stays small.
///
/// `acks` is set to how many replicas acknowledged the request (see [`GroupCall::wait_acked`]);
/// WAIT answers with the last write's. `Pending::Wait` reads it.
///
/// Generic over the client's stream type for the reason [`dispatch`] is.
#[allow(clippy::extra_unused_type_parameters)] // reason: one copy per stream type, for inlining (above)
async fn resolve<S>(pending: Pending, router: &Router, acks: &mut usize) -> Reply {
    match pending {
        Pending::Ready(frame) => Reply::Frame(frame),
        Pending::Forward(GroupCall::One(call)) => {
            *acks = 0;
            match call.reply().await {
                Ok(reply) => reply,
                Err(e) => Reply::Frame(e.to_frame()),
            }
        }
        other => Box::pin(resolve_other(other, router, acks)).await,
    }
}

async fn resolve_other(pending: Pending, router: &Router, acks: &mut usize) -> Reply {
    match pending {
        Pending::Ready(frame) => Reply::Frame(frame),
        Pending::Cached(reply) => Reply::Raw(reply),
        Pending::Fill(fill) => {
            let (inner, key, stamp) = *fill;
            let reply = Box::pin(resolve::<()>(inner, router, acks)).await;
            if let Some(near) = &router.near {
                crate::near::fill(near, key, &reply, stamp);
            }
            reply
        }
        Pending::Written(written) => {
            let Written {
                pending: inner,
                keys,
                writer,
                delivered,
            } = *written;
            let reply = Box::pin(resolve::<()>(inner, router, acks)).await;
            if let Some(near) = &router.near {
                crate::near::drop_keys(near, keys.as_deref());
            }
            // This router's tracking clients hear of its own clients' writes before the
            // writer does (the shard's push for them follows the reply on the connection),
            // and so do the connections an in-process shard queued invalidations for.
            let config = &router.server_config;
            let mut sent = Vec::new();
            if config.tracking.active() && !reply.is_error() {
                let ((), mine) = serve::tracking::collect(|| match &keys {
                    Some(keys) => {
                        let keys: Vec<&Bytes> = keys.iter().collect();
                        config.tracking.invalidate(&config.clients, writer, &keys);
                    }
                    None => config.tracking.flushed(&config.clients),
                });
                sent.extend(mine);
                // And the shards' invalidations this router relayed but has not written yet
                // (that of this very write may have come in ahead of its reply).
                sent.extend(config.tracking.unsettled());
            }
            // Not the writer's own (they follow its reply); `delivered` are the shards'
            // connections, numbered apart.
            sent.retain(|(c, _)| c.id() != writer);
            sent.extend(delivered);
            serve::tracking::settle(&mut sent).await;
            reply
        }
        // The last write's acknowledgements: every write before it has been resolved.
        Pending::Wait => Reply::Frame(Frame::Integer(*acks as i64)),
        Pending::Forward(call) => {
            let (reply, acked) = call.wait_acked().await;
            *acks = acked;
            match reply {
                Ok(reply) => reply,
                Err(e) => Reply::Frame(e.to_frame()),
            }
        }
        Pending::Split {
            calls,
            parts,
            merge,
        } => Reply::Frame(merge::merge(merge, &parts, wait_all(calls, acks).await)),
        Pending::Info {
            calls,
            selector,
            groups,
            reset,
        } => {
            let groups = info::collect(&groups, calls).await;
            // CONFIG SET may have changed `maxclients` since the router started.
            let maxclients = router
                .server_config
                .slots
                .as_ref()
                .map_or(router.maxclients, |slots| slots.max());
            let mut own = info::own_sections(&router.stats, router.port, maxclients);
            own.push(elastic::section(&router.elastic));
            own.push(crate::near::section(router.near.as_deref()));
            let mut sections = info::sections(&groups, own);
            if reset {
                router.stats.baseline.reset(&sections);
                return Reply::Frame(Frame::ok());
            }
            router.stats.baseline.apply(&mut sections);
            Reply::Frame(info::render(&sections, &selector))
        }
        Pending::Broadcast { calls, merge } => {
            Reply::Frame(merge::merge(merge, &[], wait_all(calls, acks).await))
        }
        Pending::Scan {
            mut call,
            mut shard,
            lane,
            cmd,
        } => loop {
            let view = router.elastic.view().clone();
            let page = merge::scan(shard, view.topology.len(), call.wait().await);
            // An empty page that only moves on to the next shard is not worth a round trip to
            // the client: ask that shard now, so an empty cluster answers cursor 0 as Redis does.
            match empty_page_next_shard(&page) {
                Some(next) if next > shard => {
                    shard = next;
                    call = scan_step(&view, lane, shard, &cmd, 0).await;
                }
                _ => break Reply::Frame(page),
            }
        },
    }
}

/// Returns the shard a SCAN page's cursor points at when the page holds no keys and the
/// cursor starts that shard afresh.
fn empty_page_next_shard(page: &Frame) -> Option<usize> {
    let Frame::Array(parts) = page else {
        return None;
    };
    let [Frame::Bulk(cursor), Frame::Array(keys)] = parts.as_slice() else {
        return None;
    };
    let cursor: u64 = std::str::from_utf8(cursor).ok()?.parse().ok()?;
    (keys.is_empty() && cursor != 0 && cursor & plan::SCAN_CURSOR_MASK == 0)
        .then_some((cursor >> plan::SCAN_CURSOR_BITS) as usize)
}

/// Queues a reply in the protocol that was in force when its request was read.
///
/// Shards speak RESP2. For a RESP2 client their bytes go out untouched (the hot path); for
/// a RESP3 client only replies that differ (nulls, aggregates) are parsed and re-encoded,
/// in the shape Redis gives them in RESP3 (maps, sets, doubles: `Shape`). An in-process
/// shard's `Frame` has its RESP2 shape too (it runs every command as for a RESP2 client);
/// a frame the router made is in its final shape already, which `Shape::apply` leaves.
fn write<S: serve::ClientStream>(conn: &mut Connection<S>, reply: Reply, (protocol, shape): Out) {
    conn.set_protocol(protocol);
    match reply {
        Reply::Frame(frame) if protocol == Protocol::Resp3 && shape != Shape::Same => {
            conn.write_frame(&shape.apply(frame));
        }
        Reply::Frame(frame) => conn.write_frame(&frame),
        Reply::Raw(raw)
            if protocol == Protocol::Resp2 || (shape == Shape::Same && same_in_resp3(&raw)) =>
        {
            conn.write_raw(&raw)
        }
        Reply::Raw(raw) => match Reply::Raw(raw).into_frame() {
            Ok(frame) => conn.write_frame(&shape.apply(frame)),
            Err(_) => conn.write_frame(&Frame::error(protocol::text::UNEXPECTED_REPLY)),
        },
    }
}

/// Returns true when RESP2 bytes mean the same in RESP3: simple types other than nulls.
fn same_in_resp3(raw: &[u8]) -> bool {
    match raw.first() {
        Some(b'+' | b'-' | b':') => true,
        Some(b'$') => !raw.starts_with(b"$-1\r\n"),
        _ => false,
    }
}
