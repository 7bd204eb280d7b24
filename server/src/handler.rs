//! One client connection: read every buffered request, answer each, flush once.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use protocol::command::Route;
use protocol::{Command, Frame, FrameError, Kind, Request};
use serve::registry::ClientInfo;
use serve::session::{handle_local, Session};
use serve::shutdown::Wait;
use serve::{ClientSlot, ClientStream, Connection, Shutdown};

use crate::state::ShardState;
use crate::{cluster, exec};

/// Serves one client until it closes, sends QUIT, breaks the protocol or a limit, or
/// shutdown. `slot` is its place under `maxclients`, freed when this returns.
///
/// Generic over the stream: a plain socket and a TLS one each get their own copy.
pub async fn handle<S: ClientStream>(
    socket: S,
    slot: ClientSlot,
    shard: Arc<ShardState>,
    stop: Shutdown,
) {
    let mut session = Session::new(shard.stats.next_client_id(), &shard.server_config);
    let registration =
        serve::registry::register(&shard.server_config.clients, session.id(), socket.tcp());
    session.set_client(registration.info().clone());
    let mut conn = Connection::new(socket, shard.config.clients.limits());
    conn.set_authenticated(session.authenticated());
    let result = serve(&mut conn, &mut session, &shard, &stop).await;
    if S::TLS {
        // Boxed: a plain connection's state machine holds no room for the TLS close.
        Box::pin(serve::tls::close(conn.stream())).await;
    }
    if let Err(e) = result {
        tracing::debug!(error = %e, "client connection ended");
    }
    conn.count_io(&shard.stats);
    exec::multi::unwatch(&mut session, &shard);
    serve::tracking::disconnect(&mut session, &shard.server_config);
    drop(registration);
    drop(slot);
}

async fn serve<S: ClientStream>(
    conn: &mut Connection<S>,
    session: &mut Session,
    shard: &Arc<ShardState>,
    stop: &Shutdown,
) -> Result<(), FrameError> {
    // One thread in the process: scripts run on a helper thread (script::aside).
    let one_thread = crate::script::aside::one_thread();
    // One waiter for the whole connection: polled at every wake-up, it costs an atomic load.
    let mut stop = stop.wait();
    let mut kill = session.client().map(|client| client.killed());
    // Invalidations and pub/sub messages for this connection (serve::tracking).
    let info = session.client().cloned();
    // After shutdown: answer what the client had already sent, then close.
    let mut draining = false;
    loop {
        conn.set_idle_timeout(shard.server_config.idle_timeout());
        let first = if draining {
            match conn.read_sent_request().await {
                Ok(None) => return Ok(()),
                sent => sent,
            }
        } else {
            let pushes = info
                .as_deref()
                .is_some_and(|c| session.may_get_pushes(c.outbox()));
            tokio::select! {
                biased;
                _ = &mut stop => {
                    draining = true;
                    continue;
                }
                _ = killed(&mut kill) => return Ok(()),
                () = pushed(info.as_deref()), if pushes => {
                    if let Some((pushes, n)) = info.as_ref().and_then(|c| c.outbox().take()) {
                        conn.write_raw(&pushes);
                        conn.flush().await?;
                        written(info.as_deref(), n);
                    }
                    continue;
                }
                request = conn.read_request() => request,
            }
        };
        if let Some(client) = session.client() {
            client.active(Instant::now());
        }
        let mut next = first;
        // Invalidations this batch's writes queued for other connections, and the last of
        // this connection's own messages written with the batch.
        let mut sent: serve::tracking::Delivered = Vec::new();
        let mut own = 0;
        loop {
            match next {
                Ok(Some(request)) => {
                    // Invalidations queued before this command go ahead of its reply; those
                    // its run queues, after (serve::tracking's ordering).
                    if let Some((pushes, n)) = info.as_ref().and_then(|c| c.outbox().take()) {
                        conn.write_raw(&pushes);
                        own = n;
                    }
                    let reply = if one_thread && crate::script::aside::wanted(&request) {
                        Box::pin(crate::script::aside::reply(request, session, shard)).await
                    } else if shard.server_config.tracking.active() {
                        let (reply, delivered) =
                            serve::tracking::collect(|| reply(request, session, shard));
                        // Not this connection's own (they follow its reply).
                        let own =
                            |c: &Arc<ClientInfo>| info.as_ref().is_some_and(|i| Arc::ptr_eq(i, c));
                        sent.extend(delivered.into_iter().filter(|(c, _)| !own(c)));
                        reply
                    } else {
                        reply(request, session, shard)
                    };
                    conn.set_protocol(session.protocol());
                    conn.set_authenticated(session.authenticated());
                    conn.write_frame(&reply);
                }
                Ok(None) => {
                    conn.flush().await?;
                    return Ok(());
                }
                Err(e) => {
                    // Redis answers what came before, then the protocol error, then closes.
                    if let Some(frame) = e.to_frame() {
                        conn.write_frame(&frame);
                    }
                    let _ = conn.flush().await;
                    return Err(e);
                }
            }
            if session.should_close() {
                serve::tracking::settle(&mut sent).await;
                conn.flush().await?;
                return Ok(());
            }
            // Past 1 MiB queued: write what the client takes; past its output limit: close.
            conn.relieve().await?;
            next = match conn.try_read_request() {
                Ok(None) => break,
                other => other,
            };
        }
        serve::tracking::settle(&mut sent).await;
        conn.flush().await?;
        written(info.as_deref(), own);
        conn.count_io(&shard.stats);
    }
}

/// Records that this connection's messages up to `n` are on its socket.
fn written(info: Option<&ClientInfo>, n: u64) {
    if let (Some(info), true) = (info, n > 0) {
        info.outbox().written_up_to(n);
    }
}

/// Waits until CLIENT KILL names this client (`killed`, made once per connection); never for
/// a session outside the registry.
async fn killed(killed: &mut Option<Wait>) {
    match killed {
        Some(wait) => wait.await,
        None => std::future::pending().await,
    }
}

/// Waits until something is queued for the connection; never for one outside the registry.
async fn pushed(info: Option<&ClientInfo>) {
    match info {
        Some(info) => info.outbox().ready().await,
        None => std::future::pending().await,
    }
}

/// Returns the reply to one request; a bad command becomes an error reply, never `Err`.
pub(crate) fn reply(request: Request, session: &mut Session, shard: &ShardState) -> Frame {
    match Command::from_request(request) {
        Ok(cmd) => execute(&cmd, session, shard),
        Err(e) => {
            shard.stats.commands.reject_error(&e);
            // Inside MULTI a refused command makes EXEC answer EXECABORT.
            session.refuse_in_multi();
            e.to_frame()
        }
    }
}

/// Runs one command on `shard` and returns its reply: the one entry point of both the
/// shard's connections and the in-process seam (`Embedded::execute`), counted and timed
/// in Commandstats alike.
pub fn execute(cmd: &Command, session: &mut Session, shard: &ShardState) -> Frame {
    shard.stats.commands_processed.fetch_add(1, Relaxed);
    // One clock read on each side of the command: Commandstats' usec, as Redis keeps it.
    let started = Instant::now();
    // A command queued in MULTI counts in Commandstats when EXEC runs it (as in Redis).
    let queued = session.in_multi() && !serve::multi::runs_inside_multi(cmd.kind());
    serve::tracking::before_command(session, cmd, &shard.server_config);
    let frame = crate::tracking::as_client(session.id(), || dispatch(cmd, session, shard));
    // Answered OK (not queued in a MULTI, not refused): INFO's counters start from here.
    if serve::baseline::is_resetstat(cmd) && frame == Frame::ok() {
        shard
            .stats
            .baseline
            .reset(&crate::info::raw_sections(shard));
    }
    let elapsed = started.elapsed();
    if !queued {
        shard
            .stats
            .commands
            .record(cmd.spec(), elapsed, failed(cmd, &frame));
    }
    session.log_if_slow(&shard.server_config, cmd.args(), elapsed);
    let fast = cmd.spec().flags.contains(protocol::command::Flags::FAST);
    shard.server_config.latency.record(fast, elapsed);
    frame
}

/// Whether `frame` counts as a failed call of `cmd` in Commandstats: an error reply, or
/// for a script an error anywhere in its reply (Redis counts every error reply a command
/// sent; EXEC's own count leaves out its commands', which count for themselves).
pub(crate) fn failed(cmd: &Command, frame: &Frame) -> bool {
    fn holds_error(frame: &Frame) -> bool {
        match frame {
            Frame::Error(_) => true,
            Frame::Array(items) => items.iter().any(holds_error),
            _ => false,
        }
    }
    match cmd.kind() {
        Kind::Eval | Kind::EvalSha | Kind::EvalRo | Kind::EvalShaRo => holds_error(frame),
        _ => frame.is_error(),
    }
}

/// Runs a command: the session's own, `JUMPCACHE`, a transaction's or script's, or the
/// store's behind the epoch fence.
fn dispatch(cmd: &Command, session: &mut Session, shard: &ShardState) -> Frame {
    // As Redis: while the snapshot loads, commands without the `loading` flag are refused
    // (after the AUTH gate, which `handle_local` keeps for clients not yet logged in).
    if shard.persistence.is_loading()
        && session.authenticated()
        && !cmd.spec().flags.contains(protocol::command::Flags::LOADING)
    {
        session.refuse_in_multi();
        return Frame::error(crate::rdb::save::LOADING);
    }
    match handle_local(cmd, session, &shard.server_config) {
        Some(frame) => frame,
        None if cmd.kind() == Kind::Jumpcache => cluster::execute(cmd, session, shard),
        None if cmd.spec().route == Route::Txn => exec::multi::execute(cmd, session, shard),
        None => match shard.cluster.fence(session) {
            Some(stale) => stale,
            None => {
                // Shared: EXEC and EVAL hold it exclusive, so they run alone; a script
                // past --lua-time-limit makes the others answer -BUSY.
                match shard.txn.shared_unless(|| shard.scripts.busy()) {
                    Some(_gate) => {
                        // A write to a key a cross-group transaction holds between its
                        // phases waits (the router retries): it would land inside the
                        // transaction, after its WATCH check. One relaxed load otherwise.
                        if let Some(holder) = shard.txn.write_blocked(cmd) {
                            return holder.reply();
                        }
                        exec::execute(cmd, shard, session.protocol())
                    }
                    None => Frame::error(protocol::text::BUSY),
                }
            }
        },
    }
}
