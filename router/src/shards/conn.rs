//! One shard connection's task: connect (and AUTH), then a writer and a reader polled
//! together over the shared in-flight queue, until the connection fails; then back off.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use protocol::reply::ReplyDecoder;
use serve::sync::lock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout_at, Instant};

use super::{
    InFlight, Job, Progress, ShardErrorKind, Shared, MAX_BACKOFF, MAX_WRITE_BATCH, MIN_BACKOFF,
};

/// One connection's life: connect, serve until something fails, back off, again.
pub(super) async fn run_connection(
    shared: Arc<Shared>,
    up: Arc<AtomicBool>,
    progress: Arc<Progress>,
    mut rx: mpsc::UnboundedReceiver<Job>,
) {
    let mut backoff = MIN_BACKOFF;
    let mut connected_before = false;
    loop {
        let connect = TcpStream::connect(&*shared.addr);
        match timeout_at(Instant::now() + shared.timeout, connect).await {
            Ok(Ok(mut stream)) => {
                let _ = stream.set_nodelay(true);
                let greeted = match authenticate(&shared, &mut stream).await {
                    Ok(()) => greet(&shared, &mut stream).await,
                    Err(kind) => Err(kind),
                };
                if let Err(kind) = greeted {
                    up.store(false, Ordering::Relaxed);
                    note_down(&shared, kind);
                } else {
                    up.store(true, Ordering::Relaxed);
                    if connected_before {
                        shared.metrics.reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    connected_before = true;
                    if shared.live.fetch_add(1, Ordering::Relaxed) == 0
                        && shared.logged_down.swap(false, Ordering::Relaxed)
                    {
                        // Debug only: the group logs the member's state transitions, once each.
                        tracing::debug!(shard = shared.id, addr = %shared.addr, "shard connected");
                    }
                    let answered = AtomicBool::new(false);
                    progress.mark();
                    let end = serve(&shared, stream, &mut rx, &answered, &progress).await;
                    up.store(false, Ordering::Relaxed);
                    shared.live.fetch_sub(1, Ordering::Relaxed);
                    // A shard that accepts connections but never answers keeps its backoff
                    // growing, so its keys fail fast between attempts instead of each waiting.
                    if answered.load(Ordering::Relaxed) {
                        backoff = MIN_BACKOFF;
                    }
                    match end {
                        None => return, // every ShardClient is gone: the router is shutting down
                        Some(kind) => note_down(&shared, kind),
                    }
                }
            }
            Ok(Err(_)) | Err(_) => {
                up.store(false, Ordering::Relaxed);
                note_down(&shared, ShardErrorKind::Unavailable);
            }
        }
        // Down: whatever is queued or arrives fails at once until the next attempt.
        let wake = Instant::now() + backoff;
        backoff = (backoff * 2).min(MAX_BACKOFF);
        loop {
            tokio::select! {
                job = rx.recv() => match job {
                    Some(job) => {
                        let _ = job.reply.send(Err(shared.error(ShardErrorKind::Unavailable, false)));
                    }
                    None => return,
                },
                () = sleep_until(wake) => break,
            }
        }
    }
}

/// Sends `AUTH <password>` and waits for `+OK`, within the shard timeout. The password is
/// never logged; a refusal is.
async fn authenticate(shared: &Shared, stream: &mut TcpStream) -> Result<(), ShardErrorKind> {
    let Some(password) = &shared.password else {
        return Ok(());
    };
    let mut request = BytesMut::new();
    protocol::encode::request(&mut request, [&b"AUTH"[..], password.expose()].into_iter());
    match exchange(shared, stream, &request).await {
        Ok(reply) if &reply[..] == b"+OK\r\n" => Ok(()),
        Ok(reply) => {
            let text = String::from_utf8_lossy(&reply[..reply.len().min(120)]);
            tracing::warn!(shard = shared.id, addr = %shared.addr, reply = %text.trim_end(), "shard refused --shard-password");
            Err(ShardErrorKind::Unavailable)
        }
        Err(kind) => Err(kind),
    }
}

/// Sends the router's hello (its topology epoch), when it has one. A refusal is no failure:
/// a stale epoch is answered on the data path (`-STALEEPOCH`), where the router learns.
async fn greet(shared: &Shared, stream: &mut TcpStream) -> Result<(), ShardErrorKind> {
    let hello = lock(&shared.hello).clone();
    match hello {
        Some(request) => exchange(shared, stream, &request).await.map(drop),
        None => Ok(()),
    }
}

/// Writes one request and reads its one reply, within the shard timeout.
async fn exchange(
    shared: &Shared,
    stream: &mut TcpStream,
    request: &[u8],
) -> Result<bytes::Bytes, ShardErrorKind> {
    let exchange = async {
        stream.write_all(request).await.ok()?;
        let mut buf = BytesMut::with_capacity(512);
        let mut decoder = ReplyDecoder::default();
        loop {
            if let Some(reply) = decoder.decode(&mut buf).ok()? {
                return Some(reply);
            }
            if stream.read_buf(&mut buf).await.ok()? == 0 {
                return None;
            }
        }
    };
    match timeout_at(Instant::now() + shared.timeout, exchange).await {
        Ok(Some(reply)) => Ok(reply),
        Ok(None) => Err(ShardErrorKind::Unavailable),
        Err(_) => Err(ShardErrorKind::Timeout),
    }
}

fn note_down(shared: &Shared, kind: ShardErrorKind) {
    if shared.live.load(Ordering::Relaxed) == 0 && !shared.logged_down.swap(true, Ordering::Relaxed)
    {
        tracing::debug!(shard = shared.id, addr = %shared.addr, reason = ?kind, "shard disconnected");
    }
}

/// Serves one connected socket until it fails (`Some(why)`) or the queue closes (`None`).
async fn serve(
    shared: &Shared,
    stream: TcpStream,
    rx: &mut mpsc::UnboundedReceiver<Job>,
    answered: &AtomicBool,
    progress: &Progress,
) -> Option<ShardErrorKind> {
    let (rd, wr) = stream.into_split();
    let in_flight = Mutex::new(VecDeque::<InFlight>::new());
    let end = tokio::select! {
        end = write_loop(shared, wr, rx, &in_flight, progress) => end,
        end = read_loop(rd, &in_flight, shared, answered, progress) => Some(end),
    };
    let kind = end.unwrap_or(ShardErrorKind::Unavailable);
    for p in lock(&in_flight).drain(..) {
        let _ = p.reply.send(Err(shared.error(kind, true)));
    }
    end
}

/// Drains the queue into one buffer per wake-up and writes it with one `write_all`.
async fn write_loop(
    shared: &Shared,
    mut wr: OwnedWriteHalf,
    rx: &mut mpsc::UnboundedReceiver<Job>,
    in_flight: &Mutex<VecDeque<InFlight>>,
    progress: &Progress,
) -> Option<ShardErrorKind> {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    // On a multi-thread runtime the task a client wakes runs next (tokio's LIFO slot), so
    // it yields once to let the other ready clients queue their requests into the same
    // write. A current-thread runtime runs them first anyway: a yield would only cost a turn.
    let yield_first = tokio::runtime::Handle::current().runtime_flavor()
        != tokio::runtime::RuntimeFlavor::CurrentThread;
    loop {
        let job = rx.recv().await?;
        if yield_first {
            tokio::task::yield_now().await;
        }
        let now = Instant::now();
        // One lock for the whole batch; queued before the bytes are written, so the reader
        // always finds each request's entry.
        {
            let mut queued = lock(in_flight);
            if queued.is_empty() {
                // Work on an idle connection: the clock for "no progress" starts now.
                progress.mark();
            }
            let mut queue = |job: Job, buf: &mut BytesMut| {
                if job.reply.is_closed() {
                    return; // the caller gave up: no round trip; its slot is freed here
                }
                if job.deadline <= now {
                    let _ = job
                        .reply
                        .send(Err(shared.error(ShardErrorKind::Timeout, false)));
                    return;
                }
                buf.extend_from_slice(&job.request);
                queued.push_back(InFlight {
                    reply: job.reply,
                    deadline: job.deadline,
                    sent: now,
                    _permit: job.permit,
                });
            };
            queue(job, &mut buf);
            while buf.len() < MAX_WRITE_BATCH {
                match rx.try_recv() {
                    Ok(job) => queue(job, &mut buf),
                    Err(_) => break,
                }
            }
        }
        if wr.write_all(&buf).await.is_err() {
            return Some(ShardErrorKind::Unavailable);
        }
        buf.clear();
    }
}

/// Reads replies and completes the oldest in-flight request with each; watches deadlines.
async fn read_loop(
    mut rd: OwnedReadHalf,
    in_flight: &Mutex<VecDeque<InFlight>>,
    shared: &Shared,
    answered: &AtomicBool,
    progress: &Progress,
) -> ShardErrorKind {
    let timeout = shared.timeout;
    let mut buf = BytesMut::with_capacity(64 * 1024);
    // One clock read per socket read serves every reply it carried.
    let mut received = Instant::now();
    let mut decoder = ReplyDecoder::default();
    // Deadlines are checked on a tick, not with a timer per request (re-arming a timer at
    // every read costs more than the read): a stalled request fails at most one tick late.
    let tick = deadline_tick(timeout);
    let sleep = sleep_until(Instant::now() + tick);
    tokio::pin!(sleep);
    loop {
        let mut got_reply = false;
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(reply)) => {
                    let Some(p) = lock(in_flight).pop_front() else {
                        return ShardErrorKind::Protocol;
                    };
                    shared
                        .metrics
                        .round_trip(received.saturating_duration_since(p.sent));
                    let _ = p.reply.send(Ok(reply));
                    got_reply = true;
                }
                Ok(None) => {
                    if got_reply {
                        progress.mark();
                        answered.store(true, Ordering::Relaxed);
                    }
                    break;
                }
                Err(_) => return ShardErrorKind::Protocol,
            }
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 * 1024);
        }
        tokio::select! {
            read = rd.read_buf(&mut buf) => match read {
                Ok(0) | Err(_) => return ShardErrorKind::Unavailable,
                Ok(_) => received = Instant::now(),
            },
            () = &mut sleep => {
                let now = Instant::now();
                let stalled = lock(in_flight).front().is_some_and(|p| p.deadline <= now);
                if stalled {
                    return ShardErrorKind::Timeout;
                }
                sleep.as_mut().reset(now + tick);
            }
        }
    }
}

/// How often a connection looks for requests past their deadline: an eighth of the
/// timeout, at least 1 ms, so a stalled shard is noticed within 1.125 timeouts.
fn deadline_tick(timeout: Duration) -> Duration {
    (timeout / 8).max(Duration::from_millis(1))
}
