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
//!
//! A shard that runs in the router's own process (`jumpcache cluster`) is a [`LocalShard`]
//! instead: [`ShardClient::try_send`] runs the request at once, in the caller's task, and the
//! call is ready before it is awaited. No connection, no queue, never down.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use protocol::{Command, Frame};
use serve::Password;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::{timeout_at, Instant};

use counters::ShardMetrics;
pub use figures::FiguresCall;
pub use serve::LocalShard;

/// What a shard tells the router's near-cache: keys changed, or everything may have.
///
/// With one set, each connection asks its shard to track what it reads (`JUMPCACHE
/// TRACKING`), hands the shard's `>invalidate` pushes here instead of matching them to
/// requests, and calls [`all`](Self::all) whenever it connects or drops (an invalidation may
/// have been lost in between). An in-process shard calls it from the write itself.
pub trait Invalidated: Send + Sync + std::fmt::Debug {
    /// These keys changed.
    fn keys(&self, keys: &[Bytes]);
    /// Anything may have changed (FLUSHALL, a connection lost or made).
    fn all(&self);
}

/// A shard group's index in the topology: its jump-hash bucket.
pub type ShardId = usize;

const MIN_BACKOFF: Duration = Duration::from_millis(10);
/// Short enough that a restarted shard is found well within the health checks' detection
/// window (3 x 500 ms by default); a refused connect costs next to nothing.
const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// `PING` in RESP, for health checks and barriers.
pub const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";
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
    /// When the request's bytes were handed to the socket: the round trip starts here.
    sent: Instant,
    /// `None` for the connection's own requests (acknowledgements of invalidations).
    _permit: Option<OwnedSemaphorePermit>,
}

/// State shared by a shard's connections: for fail-fast, round-robin and up/down logs.
struct Shared {
    id: ShardId,
    addr: Arc<str>,
    timeout: Duration,
    /// Each connection's bound on queued + in-flight requests.
    queue: usize,
    /// Connections currently up; the shard is "up" while any is.
    live: AtomicUsize,
    /// Whether the last logged transition was "down", so each transition logs once.
    logged_down: AtomicBool,
    /// Round-robin lane for [`ShardClient::call`].
    next: AtomicUsize,
    /// Sent as `AUTH` first on every connection (`--shard-password`).
    password: Option<Password>,
    /// TLS for every connection (`--tls-shards`).
    tls: Option<Arc<serve::Tls>>,
    /// Whether a failed TLS handshake was logged since the last good connection.
    logged_tls: AtomicBool,
    /// Sent next on every connection: `JUMPCACHE EPOCH ...`, the router's topology epoch
    /// (see `elastic`); `None` until the router has one.
    hello: Mutex<Option<Bytes>>,
    /// Requests, errors, reconnects and round trips.
    metrics: ShardMetrics,
    /// The near-cache, told of the shard's invalidations (`--near-cache`).
    tracked: Option<Arc<dyn Invalidated>>,
}

impl Shared {
    #[allow(clippy::too_many_arguments)] // reason: each is one of the connection's settings
    fn new(
        id: ShardId,
        member: usize,
        addr: &str,
        timeout: Duration,
        queue: usize,
        password: Option<Password>,
        tls: Option<Arc<serve::Tls>>,
        tracked: Option<Arc<dyn Invalidated>>,
    ) -> Arc<Shared> {
        Arc::new(Shared {
            id,
            addr: Arc::from(addr),
            timeout,
            queue: queue.max(1),
            live: AtomicUsize::new(0),
            logged_down: AtomicBool::new(false),
            next: AtomicUsize::new(0),
            password,
            tls,
            logged_tls: AtomicBool::new(false),
            hello: Mutex::new(None),
            metrics: ShardMetrics::new(id, member, addr),
            tracked,
        })
    }

    /// Returns the error of one failed request, and counts it: every failed request makes
    /// exactly one of these.
    fn error(&self, kind: ShardErrorKind, request_sent: bool) -> ShardError {
        self.metrics.error(kind);
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
    /// Empty for a local shard.
    conns: Arc<[Conn]>,
    local: Option<Arc<dyn LocalShard>>,
}

impl std::fmt::Debug for ShardClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ShardClient({})", self.shared.addr)
    }
}

/// A request handed to a shard connection; [`Call::wait`] gives its reply.
///
/// There is no timer per call: the connection's task fails every request still in flight
/// past its deadline (it tears the connection down), and fails what is queued while it is
/// down, so every call ends within about the timeout.
#[derive(Debug)]
pub enum Call {
    /// Queued: the reply (or its failure) arrives on `rx`.
    Sent {
        /// Where the connection task sends the reply.
        rx: oneshot::Receiver<Result<Bytes, ShardError>>,
        /// The shard, for the error when the connection task is gone.
        client: ShardClient,
    },
    /// Failed before it was sent.
    Failed(ShardError),
    /// Answered already: a local shard ran it when it was sent.
    Ready(Frame),
}

impl Call {
    /// Waits for the reply, in whichever form it comes: a socket's bytes or a local value.
    ///
    /// Cancel-safe: dropping the call only drops the reply when it comes.
    ///
    /// # Errors
    /// The `ShardError` of a failed send, a torn-down connection, or the timeout.
    pub async fn reply(self) -> Result<Reply, ShardError> {
        match self {
            Call::Failed(e) => Err(e),
            Call::Ready(frame) => Ok(Reply::Frame(frame)),
            Call::Sent { rx, client } => match rx.await {
                Ok(reply) => reply.map(Reply::Raw),
                // The connection task dropped the sender: it is gone, the shard with it.
                Err(_) => Err(client.shared.error(ShardErrorKind::Unavailable, true)),
            },
        }
    }

    /// Waits for the reply's RESP2 bytes (a local shard's value is encoded).
    ///
    /// # Errors
    /// As [`reply`](Self::reply).
    pub async fn wait(self) -> Result<Bytes, ShardError> {
        self.reply().await.map(Reply::into_raw)
    }
}

impl ShardClient {
    /// Starts `connections` connection tasks to `addr`, member `member` of group `id` (its
    /// metrics' labels); they connect in the background and authenticate with `password`
    /// when given, over TLS when `tls` is given; with `tracked`, each connection has the shard
    /// track its reads and hands the invalidations to it.
    ///
    /// Must be called inside a tokio runtime. The tasks end when every clone is dropped.
    #[allow(clippy::too_many_arguments)] // reason: one call site per kind of member; a struct would only rename them
    pub fn spawn_member(
        id: ShardId,
        member: usize,
        addr: &str,
        connections: usize,
        queue: usize,
        timeout: Duration,
        password: Option<Password>,
        tls: Option<Arc<serve::Tls>>,
        tracked: Option<Arc<dyn Invalidated>>,
    ) -> ShardClient {
        let shared = Shared::new(id, member, addr, timeout, queue, password, tls, tracked);
        let conns: Vec<Conn> = (0..connections.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::unbounded_channel();
                // Optimistic until the first connect fails, so the first requests after
                // start-up wait for the connection instead of failing.
                let up = Arc::new(AtomicBool::new(true));
                let progress = Arc::new(Progress::new());
                tokio::spawn(conn::run_connection(
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
            local: None,
        }
    }

    /// Returns the client of member `member` of group `id`, a shard this process runs:
    /// every request runs in the caller's task as it is sent. `addr` names it in INFO and
    /// errors (its listener's address). With `tracked`, the shard tracks what the calls read
    /// and tells it of each change as the change happens.
    pub fn local(
        id: ShardId,
        member: usize,
        addr: &str,
        shard: Arc<dyn LocalShard>,
        tracked: Option<Arc<dyn Invalidated>>,
    ) -> ShardClient {
        if let Some(near) = tracked {
            shard.track(Arc::new(move |what| match what {
                serve::tracking::Invalidation::Keys(keys) => near.keys(keys),
                serve::tracking::Invalidation::All => near.all(),
            }));
        }
        // No queue and no timeout apply: the request runs before this returns.
        let shared = Shared::new(
            id,
            member,
            addr,
            Duration::from_secs(3600),
            1,
            None,
            None,
            None,
        );
        shared.live.store(1, Ordering::Relaxed);
        ShardClient {
            shared,
            conns: Arc::from(Vec::new()),
            local: Some(shard),
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

    /// Returns what the router counts about this shard.
    pub fn metrics(&self) -> &ShardMetrics {
        &self.shared.metrics
    }

    /// Returns true while at least one connection is up (or not yet tried); a local shard
    /// is always up.
    #[cfg(test)]
    pub(crate) fn is_up(&self) -> bool {
        self.local.is_some() || self.conns.iter().any(|c| c.up.load(Ordering::Relaxed))
    }

    /// Returns how many requests are queued or in flight on all connections (for the
    /// least-loaded read policy): one atomic load per connection.
    pub fn in_flight(&self) -> usize {
        self.conns
            .iter()
            .map(|c| {
                self.shared
                    .queue
                    .saturating_sub(c.permits.available_permits())
            })
            .sum()
    }

    /// Waits until every request queued on any connection before this call has been
    /// answered, by sending a PING down each connection (each is FIFO).
    ///
    /// Cancel-safe: only PINGs are lost.
    ///
    /// # Errors
    /// The first connection's failure.
    pub async fn barrier(&self) -> Result<(), ShardError> {
        let mut calls = Vec::with_capacity(self.conns.len());
        for lane in 0..self.conns.len() {
            calls.push(self.send(lane as u64, Bytes::from_static(PING)).await);
        }
        for call in calls {
            call.wait().await?;
        }
        Ok(())
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
        match self.try_send(lane, request) {
            Ok(call) => call,
            Err(request) => Box::pin(self.send_waiting(lane, request)).await,
        }
    }

    /// [`send`](Self::send) without waiting: `Err` gives the request back when its
    /// connection's queue is full (then `send` waits for room, or fails it as `Busy`).
    pub fn try_send(&self, lane: u64, request: Bytes) -> Result<Call, Bytes> {
        if let Some(shard) = &self.local {
            return Ok(self.run_local(|| local::execute_raw(&**shard, &request)));
        }
        let call = match self.conn(lane) {
            Err(e) => Call::Failed(e),
            Ok(conn) => match conn.permits.clone().try_acquire_owned() {
                Ok(permit) => self.queue(conn, request, permit, Instant::now()),
                Err(tokio::sync::TryAcquireError::Closed) => {
                    Call::Failed(self.shared.error(ShardErrorKind::Unavailable, false))
                }
                Err(tokio::sync::TryAcquireError::NoPermits) => return Err(request),
            },
        };
        self.shared.metrics.requests.fetch_add(1, Ordering::Relaxed);
        Ok(call)
    }

    /// Sends a parsed command: a local shard runs it as it is (no bytes at all), a remote
    /// one gets its RESP bytes (the client's own when it sent RESP).
    pub async fn send_command(&self, lane: u64, cmd: &Command) -> Call {
        match &self.local {
            Some(shard) => self.run_local(|| shard.execute(cmd)),
            None => self.send(lane, cmd.request_bytes()).await,
        }
    }

    /// [`send_command`](Self::send_command) without waiting; `None` when a remote shard's
    /// queue is full.
    pub fn try_send_command(&self, lane: u64, cmd: &Command) -> Option<Call> {
        match &self.local {
            Some(shard) => Some(self.run_local(|| shard.execute(cmd))),
            None => self.try_send(lane, cmd.request_bytes()).ok(),
        }
    }

    /// Runs a request on a local shard, counted and timed as a round trip.
    fn run_local(&self, run: impl FnOnce() -> Frame) -> Call {
        let started = std::time::Instant::now();
        let reply = run();
        self.shared.metrics.round_trip(started.elapsed());
        self.shared.metrics.requests.fetch_add(1, Ordering::Relaxed);
        Call::Ready(reply)
    }

    /// The slow half of [`send`](Self::send): waits for room in a full queue.
    async fn send_waiting(&self, lane: u64, request: Bytes) -> Call {
        self.shared.metrics.requests.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let conn = match self.conn(lane) {
            Ok(conn) => conn,
            Err(e) => return Call::Failed(e),
        };
        match self.permit(conn, now + self.shared.timeout).await {
            Ok(permit) => self.queue(conn, request, permit, now),
            Err(kind) => Call::Failed(self.shared.error(kind, false)),
        }
    }

    /// Returns connection `lane % connections`, or the next one that is up.
    fn conn(&self, lane: u64) -> Result<&Conn, ShardError> {
        let n = self.conns.len();
        if n == 0 {
            return Err(self.shared.error(ShardErrorKind::Unavailable, false));
        }
        let start = (lane % n as u64) as usize;
        (0..n)
            .map(|i| &self.conns[(start + i) % n])
            .find(|c| c.up.load(Ordering::Relaxed))
            .ok_or_else(|| self.shared.error(ShardErrorKind::Unavailable, false))
    }

    /// Hands `request` to `conn`'s task.
    fn queue(
        &self,
        conn: &Conn,
        request: Bytes,
        permit: OwnedSemaphorePermit,
        now: Instant,
    ) -> Call {
        let (tx, rx) = oneshot::channel();
        let job = Job {
            request,
            reply: tx,
            deadline: now + self.shared.timeout,
            permit,
        };
        if conn.tx.send(job).is_err() {
            return Call::Failed(self.shared.error(ShardErrorKind::Unavailable, false));
        }
        Call::Sent {
            rx,
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

    /// Sets what every connection sends after AUTH (each new one, from now on).
    pub(crate) fn set_hello(&self, request: Bytes) {
        *serve::sync::lock(&self.shared.hello) = Some(request);
    }

    /// Sends `request` on every connection that is up and waits for each reply; a local
    /// shard runs it once. A connection that is down sends it when it connects, if it is
    /// the hello ([`set_hello`](Self::set_hello)).
    pub(crate) async fn broadcast(&self, request: Bytes) -> Vec<Result<Bytes, ShardError>> {
        if let Some(shard) = &self.local {
            let frame = local::execute_raw(&**shard, &request);
            return vec![Ok(Reply::Frame(frame).into_raw())];
        }
        let mut calls = Vec::with_capacity(self.conns.len());
        for conn in self.conns.iter().filter(|c| c.up.load(Ordering::Relaxed)) {
            let now = Instant::now();
            calls.push(match self.permit(conn, now + self.shared.timeout).await {
                Ok(permit) => self.queue(conn, request.clone(), permit, now),
                Err(kind) => Call::Failed(self.shared.error(kind, false)),
            });
        }
        let mut replies = Vec::with_capacity(calls.len());
        for call in calls {
            replies.push(call.wait().await);
        }
        replies
    }

    /// Sends `request` on a round-robin lane and waits for its reply.
    ///
    /// Cancel-safe, as [`send`](Self::send) and [`Call::wait`] are.
    ///
    /// # Errors
    /// See [`Call::wait`].
    pub async fn call(&self, request: Bytes) -> Result<Bytes, ShardError> {
        self.send_next(request).await.wait().await
    }

    /// Queues `request` on a round-robin lane, for requests no client ordering ties to a lane.
    ///
    /// Cancel-safe, as [`send`](Self::send) is.
    pub async fn send_next(&self, request: Bytes) -> Call {
        let lane = self.shared.next.fetch_add(1, Ordering::Relaxed) as u64;
        self.send(lane, request).await
    }
}

mod conn;
mod local;
mod reply;

pub use local::LocalShards;
pub use reply::{Reply, ShardReply};
pub mod counters;
mod figures;
pub mod latency;

#[cfg(test)]
mod tests;
