//! Connections to one shard, shaped like redis-rs's `MultiplexedConnection`.
//!
//! ```text
//! ShardClient::send ─▶ mpsc ─▶ write_loop (drain queue, one write) ─▶ shard
//!   Call::wait ◀─ oneshot ◀─ read_loop (ReplyDecoder, FIFO in-flight queue) ◀─ shard
//! ```
//! Each of the shard's connections is one task that owns its socket: a writer half and a
//! reader half polled together, sharing the in-flight queue. Replies are matched in FIFO
//! order, which holds only while every request written gets exactly one reply: so any doubt
//! (a stalled request, an unexpected reply, a socket error) tears the connection down, fails
//! what was in flight, and reconnects with backoff. While a connection is down, requests fail
//! fast rather than queue; when its bounded queue is full (a stalled shard), they fail fast
//! too (`busy`), so a stalled shard costs its own keys an error, never the others a wait.
//! With `--shard-password`, each connection sends AUTH before anything else.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use resp::reply::ReplyDecoder;
use resp::{Frame, Password};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep_until, timeout_at, Instant};

use crate::topology::ShardId;

const MIN_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Bytes gathered from the queue into one write: enough for hundreds of small requests.
const MAX_WRITE_BATCH: usize = 256 * 1024;

/// Why a shard round trip failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardErrorKind {
    /// Not connected (refused, reset, reconnecting).
    Unavailable,
    /// No reply within `--shard-timeout-ms`.
    Timeout,
    /// The shard sent bytes that are not a reply, or a reply nobody asked for.
    Protocol,
    /// `--shard-queue` requests are already queued or in flight on that connection.
    Busy,
}

/// A shard round trip failed; says where, and whether the shard may have run the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardError {
    /// The shard's index.
    pub shard: ShardId,
    /// The shard's address, for the client's error text.
    pub addr: Arc<str>,
    /// What went wrong.
    pub kind: ShardErrorKind,
    /// True when the request may have reached the shard (a retry might apply it twice).
    pub request_sent: bool,
}

impl ShardError {
    /// Returns the error reply a client sees: `-ERR shard 127.0.0.1:7002 unavailable`.
    pub fn to_frame(&self) -> Frame {
        let what = match self.kind {
            ShardErrorKind::Unavailable => "unavailable",
            ShardErrorKind::Timeout => "timed out",
            ShardErrorKind::Protocol => "protocol error",
            ShardErrorKind::Busy => "busy (request queue full)",
        };
        Frame::error_owned(format!("ERR shard {} {what}", self.addr))
    }
}

type ReplyTx = oneshot::Sender<Result<Bytes, ShardError>>;

/// A request waiting to be written.
struct Job {
    request: Bytes,
    reply: ReplyTx,
    deadline: Instant,
    permit: OwnedSemaphorePermit,
}

/// A request written, waiting for its reply. The permit bounds queued + in flight.
struct InFlight {
    reply: ReplyTx,
    deadline: Instant,
    _permit: OwnedSemaphorePermit,
}

/// State shared by a shard's connections: for fail-fast, round-robin and up/down logs.
struct Shared {
    id: ShardId,
    addr: Arc<str>,
    timeout: Duration,
    /// Connections currently up; the shard is "up" while any is.
    live: AtomicUsize,
    /// Whether the last logged transition was "down", so each transition logs once.
    logged_down: AtomicBool,
    /// Round-robin lane for [`ShardClient::call`].
    next: AtomicUsize,
    /// Sent as `AUTH` first on every connection (`--shard-password`).
    password: Option<Password>,
}

impl Shared {
    fn error(&self, kind: ShardErrorKind, request_sent: bool) -> ShardError {
        ShardError {
            shard: self.id,
            addr: self.addr.clone(),
            kind,
            request_sent,
        }
    }
}

/// One connection's handle: its queue, its bound, and whether it is connected.
struct Conn {
    tx: mpsc::UnboundedSender<Job>,
    permits: Arc<Semaphore>,
    up: Arc<AtomicBool>,
    progress: Arc<Progress>,
}

/// When a connection last showed it is alive: replies read, or work started on an idle
/// connection. A full queue on a connection that shows no progress is a stalled shard.
struct Progress {
    epoch: Instant,
    at_ms: AtomicU64,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            epoch: Instant::now(),
            at_ms: AtomicU64::new(0),
        }
    }

    fn mark(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.at_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.epoch + Duration::from_millis(self.at_ms.load(Ordering::Relaxed))
    }
}

/// A cheap-to-clone handle on a shard's pipelined connections.
#[derive(Clone)]
pub struct ShardClient {
    shared: Arc<Shared>,
    conns: Arc<[Conn]>,
}

impl std::fmt::Debug for ShardClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ShardClient({})", self.shared.addr)
    }
}

/// A request handed to a shard connection; [`Call::wait`] gives its reply.
#[derive(Debug)]
pub enum Call {
    /// Queued: the reply arrives on `rx` before `deadline`, or the call times out.
    Sent {
        /// Where the reader task sends the reply.
        rx: oneshot::Receiver<Result<Bytes, ShardError>>,
        /// When the caller stops waiting.
        deadline: Instant,
        /// The shard, for the timeout error.
        client: ShardClient,
    },
    /// Failed before it was sent.
    Failed(ShardError),
}

impl Call {
    /// Waits for the reply's raw bytes.
    ///
    /// Cancel-safe: dropping the call only drops the reply when it comes.
    ///
    /// # Errors
    /// The `ShardError` of a failed send, a torn-down connection, or the timeout.
    pub async fn wait(self) -> Result<Bytes, ShardError> {
        match self {
            Call::Failed(e) => Err(e),
            Call::Sent {
                rx,
                deadline,
                client,
            } => match timeout_at(deadline, rx).await {
                Ok(Ok(reply)) => reply,
                // The connection task dropped the sender: it is gone, the shard with it.
                Ok(Err(_)) => Err(client.shared.error(ShardErrorKind::Unavailable, true)),
                Err(_) => Err(client.shared.error(ShardErrorKind::Timeout, true)),
            },
        }
    }
}

impl ShardClient {
    /// Starts `connections` connection tasks to `addr`; they connect in the background and
    /// authenticate with `password` when given.
    ///
    /// Must be called inside a tokio runtime. The tasks end when every clone is dropped.
    pub fn spawn(
        id: ShardId,
        addr: &str,
        connections: usize,
        queue: usize,
        timeout: Duration,
        password: Option<Password>,
    ) -> ShardClient {
        let shared = Arc::new(Shared {
            id,
            addr: Arc::from(addr),
            timeout,
            live: AtomicUsize::new(0),
            logged_down: AtomicBool::new(false),
            next: AtomicUsize::new(0),
            password,
        });
        let conns: Vec<Conn> = (0..connections.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::unbounded_channel();
                // Optimistic until the first connect fails, so the first requests after
                // start-up wait for the connection instead of failing.
                let up = Arc::new(AtomicBool::new(true));
                let progress = Arc::new(Progress::new());
                tokio::spawn(run_connection(
                    shared.clone(),
                    up.clone(),
                    progress.clone(),
                    rx,
                ));
                Conn {
                    progress,
                    tx,
                    permits: Arc::new(Semaphore::new(queue.max(1))),
                    up,
                }
            })
            .collect();
        ShardClient {
            shared,
            conns: conns.into(),
        }
    }

    /// Returns the shard's index.
    pub fn id(&self) -> ShardId {
        self.shared.id
    }

    /// Returns the shard's address.
    pub fn addr(&self) -> &str {
        &self.shared.addr
    }

    /// Returns true while at least one connection is up (or not yet tried).
    pub fn is_up(&self) -> bool {
        self.conns.iter().any(|c| c.up.load(Ordering::Relaxed))
    }

    /// Queues `request` (complete RESP bytes) on connection `lane % connections`, or on the
    /// next one that is up.
    ///
    /// One client must always use the same lane: requests on two connections may overtake
    /// each other, and a client's `SET k` must reach the shard before its next `GET k`.
    /// When that connection's queue is full, waits for room only while the shard keeps
    /// answering; once it has shown no progress for a quarter of the timeout (a stalled
    /// shard) the call fails at once (`Busy`), so a stalled shard's keys fail fast.
    /// Cancel-safe: nothing is queued until the last await has finished.
    pub async fn send(&self, lane: u64, request: Bytes) -> Call {
        let deadline = Instant::now() + self.shared.timeout;
        let n = self.conns.len();
        let start = (lane % n as u64) as usize;
        let Some(conn) = (0..n)
            .map(|i| &self.conns[(start + i) % n])
            .find(|c| c.up.load(Ordering::Relaxed))
        else {
            return Call::Failed(self.shared.error(ShardErrorKind::Unavailable, false));
        };
        let permit = match self.permit(conn, deadline).await {
            Ok(permit) => permit,
            Err(kind) => return Call::Failed(self.shared.error(kind, false)),
        };
        let (tx, rx) = oneshot::channel();
        let job = Job {
            request,
            reply: tx,
            deadline,
            permit,
        };
        if conn.tx.send(job).is_err() {
            return Call::Failed(self.shared.error(ShardErrorKind::Unavailable, false));
        }
        Call::Sent {
            rx,
            deadline,
            client: self.clone(),
        }
    }

    /// Takes a place in `conn`'s queue: at once when there is room, else waiting while the
    /// shard shows progress, never past `deadline`.
    async fn permit(
        &self,
        conn: &Conn,
        deadline: Instant,
    ) -> Result<OwnedSemaphorePermit, ShardErrorKind> {
        let stall_after = self.shared.timeout / 4;
        loop {
            match conn.permits.clone().try_acquire_owned() {
                Ok(permit) => return Ok(permit),
                Err(tokio::sync::TryAcquireError::Closed) => {
                    return Err(ShardErrorKind::Unavailable)
                }
                Err(tokio::sync::TryAcquireError::NoPermits) => {}
            }
            let stalled_at = conn.progress.last() + stall_after;
            if stalled_at <= Instant::now() {
                return Err(ShardErrorKind::Busy);
            }
            match timeout_at(
                stalled_at.min(deadline),
                conn.permits.clone().acquire_owned(),
            )
            .await
            {
                Ok(Ok(permit)) => return Ok(permit),
                Ok(Err(_)) => return Err(ShardErrorKind::Unavailable),
                Err(_) if Instant::now() >= deadline => return Err(ShardErrorKind::Timeout),
                Err(_) => {} // look at the progress again
            }
        }
    }

    /// Sends `request` on a round-robin lane and waits for its reply.
    ///
    /// Cancel-safe, as [`send`](Self::send) and [`Call::wait`] are.
    ///
    /// # Errors
    /// See [`Call::wait`].
    pub async fn call(&self, request: Bytes) -> Result<Bytes, ShardError> {
        let lane = self.shared.next.fetch_add(1, Ordering::Relaxed) as u64;
        self.send(lane, request).await.wait().await
    }
}

/// One connection's life: connect, serve until something fails, back off, again.
async fn run_connection(
    shared: Arc<Shared>,
    up: Arc<AtomicBool>,
    progress: Arc<Progress>,
    mut rx: mpsc::UnboundedReceiver<Job>,
) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let connect = TcpStream::connect(&*shared.addr);
        match timeout_at(Instant::now() + shared.timeout, connect).await {
            Ok(Ok(mut stream)) => {
                let _ = stream.set_nodelay(true);
                if let Err(kind) = authenticate(&shared, &mut stream).await {
                    up.store(false, Ordering::Relaxed);
                    note_down(&shared, kind);
                } else {
                    up.store(true, Ordering::Relaxed);
                    if shared.live.fetch_add(1, Ordering::Relaxed) == 0
                        && shared.logged_down.swap(false, Ordering::Relaxed)
                    {
                        tracing::info!(shard = shared.id, addr = %shared.addr, "shard up");
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
    resp::encode::request(&mut request, [&b"AUTH"[..], password.expose()].into_iter());
    let exchange = async {
        stream.write_all(&request).await.ok()?;
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
        Ok(Some(reply)) if &reply[..] == b"+OK\r\n" => Ok(()),
        Ok(Some(reply)) => {
            let text = String::from_utf8_lossy(&reply[..reply.len().min(120)]);
            tracing::warn!(shard = shared.id, addr = %shared.addr, reply = %text.trim_end(), "shard refused --shard-password");
            Err(ShardErrorKind::Unavailable)
        }
        Ok(None) => Err(ShardErrorKind::Unavailable),
        Err(_) => Err(ShardErrorKind::Timeout),
    }
}

fn note_down(shared: &Shared, kind: ShardErrorKind) {
    if shared.live.load(Ordering::Relaxed) == 0 && !shared.logged_down.swap(true, Ordering::Relaxed)
    {
        tracing::warn!(shard = shared.id, addr = %shared.addr, reason = ?kind, "shard down");
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
        end = write_loop(wr, rx, &in_flight, progress) => end,
        end = read_loop(rd, &in_flight, shared.timeout, answered, progress) => Some(end),
    };
    let kind = end.unwrap_or(ShardErrorKind::Unavailable);
    for p in lock(&in_flight).drain(..) {
        let _ = p.reply.send(Err(shared.error(kind, true)));
    }
    end
}

/// Locks the in-flight queue; a poisoned lock (a panic elsewhere) still holds a valid queue.
fn lock(q: &Mutex<VecDeque<InFlight>>) -> std::sync::MutexGuard<'_, VecDeque<InFlight>> {
    q.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Drains the queue into one buffer per wake-up and writes it with one `write_all`.
async fn write_loop(
    mut wr: OwnedWriteHalf,
    rx: &mut mpsc::UnboundedReceiver<Job>,
    in_flight: &Mutex<VecDeque<InFlight>>,
    progress: &Progress,
) -> Option<ShardErrorKind> {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    loop {
        let job = rx.recv().await?;
        let now = Instant::now();
        if lock(in_flight).is_empty() {
            // Work on an idle connection: the clock for "no progress" starts now.
            progress.mark();
        }
        let queue = |job: Job, buf: &mut BytesMut| {
            // A caller that gave up needs no round trip; its slot is freed here.
            if job.reply.is_closed() || job.deadline <= now {
                return;
            }
            buf.extend_from_slice(&job.request);
            // Queued before the bytes are written, so the reader always finds its entry.
            lock(in_flight).push_back(InFlight {
                reply: job.reply,
                deadline: job.deadline,
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
    timeout: Duration,
    answered: &AtomicBool,
    progress: &Progress,
) -> ShardErrorKind {
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut decoder = ReplyDecoder::default();
    let sleep = sleep_until(Instant::now() + timeout);
    tokio::pin!(sleep);
    loop {
        let mut got_reply = false;
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(reply)) => {
                    let Some(p) = lock(in_flight).pop_front() else {
                        return ShardErrorKind::Protocol;
                    };
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
        // With nothing in flight, still wake once per timeout: the writer may have queued
        // a request since, and a stalled shard must not go unnoticed.
        let oldest = lock(in_flight).front().map(|p| p.deadline);
        let wake = oldest.unwrap_or_else(|| Instant::now() + timeout);
        if sleep.deadline() != wake {
            sleep.as_mut().reset(wake);
        }
        if buf.capacity() - buf.len() < 4096 {
            buf.reserve(64 * 1024);
        }
        tokio::select! {
            read = rd.read_buf(&mut buf) => match read {
                Ok(0) | Err(_) => return ShardErrorKind::Unavailable,
                Ok(_) => {}
            },
            () = &mut sleep => {
                let stalled = lock(in_flight).front().is_some_and(|p| p.deadline <= Instant::now());
                if stalled {
                    return ShardErrorKind::Timeout;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
