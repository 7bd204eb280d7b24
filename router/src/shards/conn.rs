//! One shard connection's task: connect (TLS with `--tls-shards`, then AUTH), then a writer
//! and a reader polled together over the shared in-flight queue, until the connection fails;
//! then back off.
//!
//! The connection's code is generic over the stream ([`Link`]): a plain socket is split into
//! its owned halves as before TLS existed; a TLS stream into tokio's locked halves.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use protocol::reply::ReplyDecoder;
use serve::sync::lock;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout_at, Instant};
use tokio_rustls::client::TlsStream;

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
        let outcome = match open(&shared).await {
            Ok(Opened::Plain(stream)) => {
                let mut ctx = (&mut connected_before, &mut backoff);
                live(&shared, stream, &up, &progress, &mut rx, &mut ctx).await
            }
            Ok(Opened::Tls(stream)) => {
                let mut ctx = (&mut connected_before, &mut backoff);
                live(&shared, *stream, &up, &progress, &mut rx, &mut ctx).await
            }
            Err(kind) => Some(kind),
        };
        match outcome {
            None => return, // every ShardClient is gone: the router is shutting down
            Some(kind) => {
                up.store(false, Ordering::Relaxed);
                note_down(&shared, kind);
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

/// A connection just opened, before AUTH.
enum Opened {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

/// Connects (and with `--tls-shards` completes the TLS handshake), within the shard timeout.
async fn open(shared: &Shared) -> Result<Opened, ShardErrorKind> {
    let connect = TcpStream::connect(&*shared.addr);
    let stream = match timeout_at(Instant::now() + shared.timeout, connect).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(_)) | Err(_) => return Err(ShardErrorKind::Unavailable),
    };
    let _ = stream.set_nodelay(true);
    let Some(tls) = &shared.tls else {
        return Ok(Opened::Plain(stream));
    };
    // The name the shard's certificate must hold: the host of `host:port`.
    let host = shared
        .addr
        .rsplit_once(':')
        .map_or(&*shared.addr, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    match tls.connect(host, stream).await {
        Ok(stream) => Ok(Opened::Tls(Box::new(stream))),
        Err(e) => {
            if !shared.logged_tls.swap(true, Ordering::Relaxed) {
                tracing::warn!(shard = shared.id, addr = %shared.addr, error = %e, "TLS handshake with the shard failed");
            }
            Err(ShardErrorKind::Unavailable)
        }
    }
}

/// A shard connection's stream, split into a reader and a writer for the two loops.
trait Link: AsyncRead + AsyncWrite + Unpin + Send {
    type Reader: AsyncRead + Unpin + Send;
    type Writer: AsyncWrite + Unpin + Send;
    fn halves(self) -> (Self::Reader, Self::Writer);
}

impl Link for TcpStream {
    type Reader = OwnedReadHalf;
    type Writer = OwnedWriteHalf;
    fn halves(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        self.into_split()
    }
}

impl Link for TlsStream<TcpStream> {
    type Reader = ReadHalf<TlsStream<TcpStream>>;
    type Writer = WriteHalf<TlsStream<TcpStream>>;
    fn halves(self) -> (Self::Reader, Self::Writer) {
        tokio::io::split(self)
    }
}

/// Authenticates and greets on `stream`, then serves it until it fails (`Some(why)`) or
/// every `ShardClient` is gone (`None`). `ctx`: whether a connection was up before (for the
/// reconnect count) and the backoff, reset once the shard answered.
async fn live<S: Link>(
    shared: &Shared,
    mut stream: S,
    up: &AtomicBool,
    progress: &Progress,
    rx: &mut mpsc::UnboundedReceiver<Job>,
    ctx: &mut (&mut bool, &mut Duration),
) -> Option<ShardErrorKind> {
    if let Err(kind) = authenticate(shared, &mut stream).await {
        return Some(kind);
    }
    if let Err(kind) = greet(shared, &mut stream).await {
        return Some(kind);
    }
    if let Err(kind) = track(shared, &mut stream).await {
        return Some(kind);
    }
    up.store(true, Ordering::Relaxed);
    if *ctx.0 {
        shared.metrics.reconnects.fetch_add(1, Ordering::Relaxed);
    }
    *ctx.0 = true;
    if shared.live.fetch_add(1, Ordering::Relaxed) == 0
        && shared.logged_down.swap(false, Ordering::Relaxed)
    {
        // Debug only: the group logs the member's state transitions, once each.
        tracing::debug!(shard = shared.id, addr = %shared.addr, "shard connected");
    }
    shared.logged_tls.store(false, Ordering::Relaxed);
    let answered = AtomicBool::new(false);
    progress.mark();
    let (rd, wr) = stream.halves();
    let end = serve(shared, rd, wr, rx, &answered, progress).await;
    up.store(false, Ordering::Relaxed);
    // Invalidations may be lost with the connection: the near-cache forgets everything.
    if let Some(near) = &shared.tracked {
        near.all();
    }
    shared.live.fetch_sub(1, Ordering::Relaxed);
    // A shard that accepts connections but never answers keeps its backoff growing, so its
    // keys fail fast between attempts instead of each waiting.
    if answered.load(Ordering::Relaxed) {
        *ctx.1 = MIN_BACKOFF;
    }
    end
}

/// Sends `AUTH <password>` and waits for `+OK`, within the shard timeout. The password is
/// never logged; a refusal is.
async fn authenticate<S: Link>(shared: &Shared, stream: &mut S) -> Result<(), ShardErrorKind> {
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
async fn greet<S: Link>(shared: &Shared, stream: &mut S) -> Result<(), ShardErrorKind> {
    let hello = lock(&shared.hello).clone();
    match hello {
        Some(request) => exchange(shared, stream, &request).await.map(drop),
        None => Ok(()),
    }
}

/// With a near-cache: asks the shard to track this connection's reads and push their
/// invalidations on it (`JUMPCACHE TRACKING`), then empties the near-cache, which may hold
/// values whose invalidations went to the connection before this one. A shard that refuses
/// (an older jumpcache) fails the connection: the near-cache would never hear of its writes.
async fn track<S: Link>(shared: &Shared, stream: &mut S) -> Result<(), ShardErrorKind> {
    let Some(near) = &shared.tracked else {
        return Ok(());
    };
    let request = b"*2\r\n$9\r\nJUMPCACHE\r\n$8\r\nTRACKING\r\n";
    let reply = exchange(shared, stream, request).await?;
    if &reply[..] != b"+OK\r\n" {
        let text = String::from_utf8_lossy(&reply[..reply.len().min(120)]);
        tracing::warn!(shard = shared.id, addr = %shared.addr, reply = %text.trim_end(), "shard refused JUMPCACHE TRACKING, which --near-cache needs");
        return Err(ShardErrorKind::Unavailable);
    }
    near.all();
    Ok(())
}

/// Hands a shard's push to the near-cache: `>2 invalidate [keys]`, or a null for a flush.
/// Anything else pushed is ignored.
///
/// Then acknowledges it (`JUMPCACHE ACKED n`) once this router's own tracking clients have
/// it on their sockets: the shard holds the reply of the write that caused it until then, so
/// whoever hears of the write finds the invalidation wherever it had to go.
fn pushed(shared: &Shared, push: &[u8], n: u64, acks: &mpsc::UnboundedSender<u64>) {
    let ((), mut sent) = serve::tracking::collect(|| relay(shared, push));
    if sent.is_empty() {
        let _ = acks.send(n);
        return;
    }
    let acks = acks.clone();
    tokio::spawn(async move {
        serve::tracking::settle(&mut sent).await;
        let _ = acks.send(n);
    });
}

/// Hands one push to the near-cache (and through it to this router's tracking clients).
fn relay(shared: &Shared, push: &[u8]) {
    let Some(near) = &shared.tracked else {
        return;
    };
    let Ok(protocol::Frame::Push(items)) = protocol::reply::parse(push) else {
        // Not understood: whatever it said may be lost.
        return near.all();
    };
    match items.as_slice() {
        [protocol::Frame::Bulk(kind), keys] if &kind[..] == b"invalidate" => match keys {
            protocol::Frame::Array(keys) => {
                let keys: Vec<bytes::Bytes> = keys
                    .iter()
                    .filter_map(|k| match k {
                        protocol::Frame::Bulk(k) => Some(k.clone()),
                        _ => None,
                    })
                    .collect();
                near.keys(&keys);
            }
            _ => near.all(),
        },
        _ => {}
    }
}

/// Writes one request and reads its one reply, within the shard timeout.
async fn exchange<S: Link>(
    shared: &Shared,
    stream: &mut S,
    request: &[u8],
) -> Result<bytes::Bytes, ShardErrorKind> {
    let exchange = async {
        stream.write_all(request).await.ok()?;
        stream.flush().await.ok()?;
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
async fn serve<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    shared: &Shared,
    rd: R,
    wr: W,
    rx: &mut mpsc::UnboundedReceiver<Job>,
    answered: &AtomicBool,
    progress: &Progress,
) -> Option<ShardErrorKind> {
    let in_flight = Mutex::new(VecDeque::<InFlight>::new());
    // Acknowledgements of the shard's invalidations, from the reader to the writer.
    let (acks_tx, mut acks_rx) = mpsc::unbounded_channel::<u64>();
    let end = tokio::select! {
        end = write_loop(shared, wr, rx, &mut acks_rx, &in_flight, progress) => end,
        end = read_loop(rd, &in_flight, shared, answered, progress, &acks_tx) => Some(end),
    };
    let kind = end.unwrap_or(ShardErrorKind::Unavailable);
    for p in lock(&in_flight).drain(..) {
        let _ = p.reply.send(Err(shared.error(kind, true)));
    }
    end
}

/// Drains the queue into one buffer per wake-up and writes it with one `write_all`.
async fn write_loop<W: AsyncWrite + Unpin>(
    shared: &Shared,
    mut wr: W,
    rx: &mut mpsc::UnboundedReceiver<Job>,
    acks: &mut mpsc::UnboundedReceiver<u64>,
    in_flight: &Mutex<VecDeque<InFlight>>,
    progress: &Progress,
) -> Option<ShardErrorKind> {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    // An acknowledgement is a request whose reply nobody waits for.
    let ack = |n: u64, buf: &mut BytesMut, queued: &mut VecDeque<InFlight>, now: Instant| {
        let n = n.to_string();
        protocol::encode::request(buf, [&b"JUMPCACHE"[..], b"ACKED", n.as_bytes()].into_iter());
        queued.push_back(InFlight {
            reply: tokio::sync::oneshot::channel().0,
            deadline: now + shared.timeout,
            sent: now,
            _permit: None,
        });
    };
    // On a multi-thread runtime the task a client wakes runs next (tokio's LIFO slot), so
    // it yields once to let the other ready clients queue their requests into the same
    // write. A current-thread runtime runs them first anyway: a yield would only cost a turn.
    let yield_first = tokio::runtime::Handle::current().runtime_flavor()
        != tokio::runtime::RuntimeFlavor::CurrentThread;
    loop {
        let job = tokio::select! {
            job = rx.recv() => Some(job?),
            Some(n) = acks.recv() => {
                let now = Instant::now();
                ack(n, &mut buf, &mut lock(in_flight), now);
                None
            }
        };
        let Some(job) = job else {
            if wr.write_all(&buf).await.is_err() || wr.flush().await.is_err() {
                return Some(ShardErrorKind::Unavailable);
            }
            buf.clear();
            continue;
        };
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
                    _permit: Some(job.permit),
                });
            };
            queue(job, &mut buf);
            while buf.len() < MAX_WRITE_BATCH {
                match rx.try_recv() {
                    Ok(job) => queue(job, &mut buf),
                    Err(_) => break,
                }
            }
            while let Ok(n) = acks.try_recv() {
                ack(n, &mut buf, &mut queued, now);
            }
        }
        // A socket's flush is a no-op; TLS's pushes out the records of what was written.
        if wr.write_all(&buf).await.is_err() || wr.flush().await.is_err() {
            return Some(ShardErrorKind::Unavailable);
        }
        buf.clear();
    }
}

/// Reads replies and completes the oldest in-flight request with each; watches deadlines.
async fn read_loop<R: AsyncRead + Unpin>(
    mut rd: R,
    in_flight: &Mutex<VecDeque<InFlight>>,
    shared: &Shared,
    answered: &AtomicBool,
    progress: &Progress,
    acks: &mpsc::UnboundedSender<u64>,
) -> ShardErrorKind {
    let timeout = shared.timeout;
    // Pushes received on this connection: the shard numbers its messages the same way.
    let mut buf = BytesMut::with_capacity(64 * 1024);
    // One clock read per socket read serves every reply it carried.
    let mut received = Instant::now();
    let mut decoder = ReplyDecoder::default();
    let mut pushes = 0u64;
    // Deadlines are checked on a tick, not with a timer per request (re-arming a timer at
    // every read costs more than the read): a stalled request fails at most one tick late.
    let tick = deadline_tick(timeout);
    let sleep = sleep_until(Instant::now() + tick);
    tokio::pin!(sleep);
    loop {
        let mut got_reply = false;
        loop {
            match decoder.decode(&mut buf) {
                // A push (an invalidation) answers no request.
                Ok(Some(reply)) if reply.first() == Some(&b'>') => {
                    pushes += 1;
                    pushed(shared, &reply, pushes, acks);
                }
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
