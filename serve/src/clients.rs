//! What a server owes its clients, whatever it serves: the client-facing limits and
//! `requirepass` ([`ClientConfig`]), the `maxclients` count ([`ClientSlots`]), the accept
//! loop that enforces it and survives running out of file descriptors ([`Acceptor`]), and
//! the serving loop that runs a task per client and drains them at shutdown
//! ([`serve_clients`]).
//!
//! The shard and the router both use these, so each limit is written once.
//!
//! ```text
//! serve_clients ─▶ Acceptor::accept ─▶ ClientSlots::try_acquire ─┬─▶ (stream, ClientSlot) ─▶ handler task
//!                                                                └─▶ "-ERR max number of clients reached", close
//! shutdown ─▶ stop accepting ─▶ Shutdown::trigger ─▶ handler tasks finish (up to --shutdown-grace-ms) ─▶ rest dropped
//! ```

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::auth::Password;
use crate::shutdown::Shutdown;
use crate::stats::Stats;
use crate::tls::Tls;
use crate::units::parse_memory;
use protocol::codec::Limits;
use protocol::error::text;

/// How long the accept loop waits after a failed `accept` (out of file descriptors): long
/// enough not to spin, short enough to resume quickly once descriptors are free.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Client-facing limits and the password, each with Redis's directive name and default, and
/// how long clients get to finish at shutdown.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct ClientConfig {
    /// Longest bulk string a client may send (Redis: `proto-max-bulk-len`): 512mb, bytes.
    #[arg(long, default_value = "512mb", value_parser = parse_memory)]
    pub proto_max_bulk_len: u64,

    /// Most bytes of one incomplete request a client may have buffered; past it the client is
    /// closed without a reply (Redis: `client-query-buffer-limit`).
    #[arg(long, default_value = "1gb", value_parser = parse_memory)]
    pub client_query_buffer_limit: u64,

    /// Most clients connected at once; the next gets `-ERR max number of clients reached`
    /// (Redis: `maxclients`).
    #[arg(long, default_value_t = 10_000)]
    pub maxclients: usize,

    /// Close a client idle for this many seconds; 0 = never (Redis: `timeout`).
    #[arg(long, default_value_t = 0)]
    pub timeout: u64,

    /// Hard limit on replies a client has not read; past it the client is closed (Redis:
    /// `client-output-buffer-limit normal <hard>`).
    #[arg(long, default_value = "256mb", value_parser = parse_memory)]
    pub client_output_buffer_limit: u64,

    /// Password clients must send with AUTH or HELLO before other commands (Redis:
    /// `requirepass`); empty or absent = none.
    #[arg(long, value_parser = Password::parse)]
    pub requirepass: Option<Password>,

    /// A user, in Redis's ACL rule syntax, as the config file's `user` directive:
    /// `--user "alice on >password ~cache:* +@read"`; repeat for more users. Without any,
    /// the one user is `default`, `on nopass ~* +@all` (or with `requirepass` as its password).
    #[arg(long = "user", value_name = "RULES")]
    pub users: Vec<String>,

    /// Log commands that take at least this many microseconds in SLOWLOG; -1 = off, 0 = every
    /// command (Redis: `slowlog-log-slower-than`).
    #[arg(long, default_value_t = 10_000, allow_negative_numbers = true)]
    pub slowlog_log_slower_than: i64,

    /// Most SLOWLOG entries kept; the oldest go first (Redis: `slowlog-max-len`).
    #[arg(long, default_value_t = 128)]
    pub slowlog_max_len: usize,

    /// LATENCY keeps commands that take at least this many milliseconds; 0 = off (Redis:
    /// `latency-monitor-threshold`).
    #[arg(long, default_value_t = 0)]
    pub latency_monitor_threshold: u64,

    /// Milliseconds connections get at shutdown (SIGINT, SIGTERM) to finish the requests they
    /// are answering; connections still busy after that are closed. 0 closes them at once.
    #[arg(long, default_value_t = 5000)]
    pub shutdown_grace_ms: u64,
}

#[derive(clap::Parser)]
struct Standalone {
    #[command(flatten)]
    clients: ClientConfig,
}

impl Default for ClientConfig {
    fn default() -> Self {
        <Standalone as clap::Parser>::parse_from(["server"]).clients
    }
}

impl ClientConfig {
    /// Rejects impossible settings, with Redis's minimums.
    ///
    /// # Errors
    /// A sentence naming the bad setting.
    pub fn validate(&self) -> Result<(), String> {
        const MIB: u64 = 1024 * 1024;
        if self.proto_max_bulk_len < MIB {
            return Err("proto-max-bulk-len must be at least 1mb".into());
        }
        if self.client_query_buffer_limit < MIB {
            return Err("client-query-buffer-limit must be at least 1mb".into());
        }
        if self.slowlog_log_slower_than < -1 {
            return Err("slowlog-log-slower-than must be -1 or more".into());
        }
        if self.maxclients == 0 {
            return Err("maxclients must be at least 1".into());
        }
        if self.client_output_buffer_limit == 0 {
            return Err("client-output-buffer-limit must be above 0".into());
        }
        self.acl()?;
        Ok(())
    }

    /// Returns the users: `--user` lines, and `requirepass` as the default user's password.
    ///
    /// # Errors
    /// The first rule Redis would refuse, and why.
    pub fn acl(&self) -> Result<crate::acl::Acl, String> {
        crate::acl::Acl::new(self.password(), &self.users)
    }

    /// Returns the users as [`acl`](Self::acl) does; for settings `validate` did not check
    /// and that are refused, logs why and returns users that let no one in (fail closed).
    pub fn acl_or_locked(&self) -> crate::acl::Acl {
        self.acl().unwrap_or_else(|e| {
            tracing::error!(error = %e, "invalid --user rules: every login is refused");
            crate::acl::Acl::new(None, &["default off resetpass -@all".into()]).unwrap_or_default()
        })
    }

    /// Returns the password, unless none is set (absent or empty).
    pub fn password(&self) -> Option<&Password> {
        self.requirepass.as_ref().filter(|p| !p.is_empty())
    }

    /// Returns the per-connection limits these settings give.
    pub fn limits(&self) -> Limits {
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Limits {
            max_bulk_len: size(self.proto_max_bulk_len),
            max_query_buffer: size(self.client_query_buffer_limit),
            max_output_buffer: size(self.client_output_buffer_limit),
            idle_timeout: (self.timeout > 0).then(|| Duration::from_secs(self.timeout)),
            ..Limits::default()
        }
    }

    /// Returns an empty SLOWLOG with these settings.
    pub fn slowlog(&self) -> std::sync::Arc<crate::slowlog::SlowLog> {
        std::sync::Arc::new(crate::slowlog::SlowLog::new(
            self.slowlog_log_slower_than,
            self.slowlog_max_len,
        ))
    }

    /// Returns an empty latency monitor with this threshold.
    pub fn latency_monitor(&self) -> std::sync::Arc<crate::latency_events::LatencyMonitor> {
        std::sync::Arc::new(crate::latency_events::LatencyMonitor::new(
            self.latency_monitor_threshold,
        ))
    }

    /// Returns how long connections may finish their requests after shutdown.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }
}

/// Serves clients from `acceptor` until `shutdown` resolves, each in a task of its own
/// running `handle(stream, slot)`. Then it stops accepting, triggers `stop`, which the
/// handlers watch, and gives them up to `grace` to finish the requests they are answering;
/// those still running after that are dropped, closing their connections.
///
/// Finished connections are reaped as they end, so the task set holds only live clients.
///
/// Cancel-safe in the sense that dropping the future stops accepting and drops every
/// connection task.
pub async fn serve_clients<H, F>(
    mut acceptor: Acceptor,
    shutdown: impl Future<Output = ()>,
    stop: &Shutdown,
    grace: Duration,
    mut handle: H,
) where
    H: FnMut(Incoming, ClientSlot) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            (incoming, slot) = acceptor.accept() => {
                tasks.spawn(handle(incoming, slot));
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(acceptor);
    stop.trigger();
    let drained =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tasks.abort_all();
    }
}

/// Counts connected clients against `maxclients`, in the process's [`Stats`] (INFO:
/// `connected_clients`, `total_connections_received`, `rejected_connections`; the metrics
/// of the same names), so each count is kept once.
#[derive(Debug)]
pub struct ClientSlots {
    /// `maxclients`: an atomic, as CONFIG SET changes it.
    max: AtomicU64,
    stats: Arc<Stats>,
}

/// One connected client's place in [`ClientSlots`]; dropping it frees the place.
#[derive(Debug)]
pub struct ClientSlot(Arc<ClientSlots>);

impl Drop for ClientSlot {
    fn drop(&mut self) {
        self.0.stats.connected_clients.fetch_sub(1, Relaxed);
    }
}

impl ClientSlots {
    /// Returns slots for at most `max` clients at once, counted in `stats`.
    pub fn new(max: usize, stats: Arc<Stats>) -> Arc<ClientSlots> {
        Arc::new(ClientSlots {
            max: AtomicU64::new(max as u64),
            stats,
        })
    }

    /// Takes a place for a new client; `None` when `maxclients` are already connected.
    ///
    /// As in Redis, a refused connection counts in `rejected_connections` only, not in
    /// `total_connections_received`.
    pub fn try_acquire(self: &Arc<Self>) -> Option<ClientSlot> {
        let stats = &self.stats;
        if stats.connected_clients.fetch_add(1, Relaxed) >= self.max.load(Relaxed) {
            stats.connected_clients.fetch_sub(1, Relaxed);
            stats.rejected_connections.fetch_add(1, Relaxed);
            return None;
        }
        stats.connections_received.fetch_add(1, Relaxed);
        Some(ClientSlot(self.clone()))
    }

    /// Returns `maxclients`.
    pub fn max(&self) -> usize {
        usize::try_from(self.max.load(Relaxed)).unwrap_or(usize::MAX)
    }

    /// Changes `maxclients` (CONFIG SET): clients past it stay, new ones are refused.
    pub fn set_max(&self, max: u64) {
        self.max.store(max, Relaxed);
    }

    /// Returns how many clients are connected (`connected_clients`).
    pub fn connected(&self) -> u64 {
        self.stats.connected_clients.load(Relaxed)
    }

    /// Returns how many connections were accepted (`total_connections_received`).
    pub fn received(&self) -> u64 {
        self.stats.connections_received.load(Relaxed)
    }

    /// Returns how many connections were refused for `maxclients` (`rejected_connections`).
    pub fn rejected(&self) -> u64 {
        self.stats.rejected_connections.load(Relaxed)
    }
}

/// The ports a process serves clients on: a plain one, a TLS one, or both (Redis's `port`
/// and `tls-port`; `port 0` with a TLS port serves TLS alone).
#[derive(Debug)]
pub struct Listeners {
    plain: Option<TcpListener>,
    tls: Option<(TcpListener, Arc<Tls>)>,
}

impl From<TcpListener> for Listeners {
    fn from(plain: TcpListener) -> Listeners {
        Listeners {
            plain: Some(plain),
            tls: None,
        }
    }
}

impl Listeners {
    /// Returns the listeners; at least one must be given.
    ///
    /// # Errors
    /// `InvalidInput` when there is neither.
    pub fn new(
        plain: Option<TcpListener>,
        tls: Option<(TcpListener, Arc<Tls>)>,
    ) -> io::Result<Listeners> {
        if plain.is_none() && tls.is_none() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no port to listen on: --port 0 needs a --tls-port",
            ));
        }
        Ok(Listeners { plain, tls })
    }

    /// Returns the plain port's address, or the TLS port's when there is no plain one.
    ///
    /// # Errors
    /// The socket's error.
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        match (&self.plain, &self.tls) {
            (Some(plain), _) => plain.local_addr(),
            (None, Some((tls, _))) => tls.local_addr(),
            (None, None) => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Returns the TLS port's address, when there is one.
    pub fn tls_addr(&self) -> Option<std::net::SocketAddr> {
        self.tls.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// Returns the TLS side, when there is a TLS port.
    pub fn tls(&self) -> Option<&Arc<Tls>> {
        self.tls.as_ref().map(|(_, tls)| tls)
    }
}

/// A client connection's task, as [`serve_clients`] spawns it: plain and TLS connections
/// are different futures, each boxed on its own.
pub type ClientTask = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// A connection just accepted: plain, or TLS still to be handshaken (in the client's own
/// task, so a slow handshake never holds up the accept loop).
#[derive(Debug)]
pub enum Incoming {
    /// From the plain port.
    Plain(TcpStream),
    /// From the TLS port: [`Tls::accept`] makes it a TLS stream.
    Tls(TcpStream, Arc<Tls>),
}

/// A listener that hands out connections within `maxclients`.
#[derive(Debug)]
pub struct Acceptor {
    listener: Option<TcpListener>,
    tls: Option<(TcpListener, Arc<Tls>)>,
    slots: Arc<ClientSlots>,
    /// True while `accept` keeps failing, so the failure is logged once, not ten times a second.
    failing: bool,
}

impl Acceptor {
    /// Returns an acceptor on `listener`, counting clients in `slots`.
    pub fn new(listeners: impl Into<Listeners>, slots: Arc<ClientSlots>) -> Acceptor {
        let listeners = listeners.into();
        Acceptor {
            listener: listeners.plain,
            tls: listeners.tls,
            slots,
            failing: false,
        }
    }

    /// Returns the listener's address.
    ///
    /// # Errors
    /// The socket's error.
    pub fn local_addr(&self) -> io::Result<std::net::SocketAddr> {
        match (&self.listener, &self.tls) {
            (Some(plain), _) => plain.local_addr(),
            (None, Some((tls, _))) => tls.local_addr(),
            (None, None) => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Waits for the next client that fits under `maxclients`.
    ///
    /// A client past the limit gets `-ERR max number of clients reached` and is closed, as in
    /// Redis. When `accept` fails for want of resources (EMFILE, ENFILE, ENOBUFS) the loop
    /// sleeps 100 ms and tries again: never exits, never spins.
    ///
    /// Cancel-safe: no connection is taken off the listener by an await that can be cancelled.
    pub async fn accept(&mut self) -> (Incoming, ClientSlot) {
        loop {
            // Both `accept`s are cancel-safe: the one not chosen takes no connection.
            let (accepted, tls) = tokio::select! {
                a = accept_on(self.listener.as_ref()) => (a, None),
                a = accept_on(self.tls.as_ref().map(|(l, _)| l)) => {
                    (a, self.tls.as_ref().map(|(_, t)| t.clone()))
                }
            };
            match accepted {
                Ok((stream, _peer)) => {
                    if std::mem::take(&mut self.failing) {
                        tracing::info!("accepting connections again");
                    }
                    let _ = stream.set_nodelay(true);
                    match (self.slots.try_acquire(), tls) {
                        (Some(slot), None) => return (Incoming::Plain(stream), slot),
                        (Some(slot), Some(tls)) => return (Incoming::Tls(stream, tls), slot),
                        // A TLS client cannot read a plaintext refusal: it is just closed.
                        (None, None) => reject(&stream),
                        (None, Some(_)) => {}
                    }
                }
                // A connection that died in the backlog: nothing to wait for.
                Err(e) if is_per_connection(&e) => {}
                Err(e) => {
                    if !std::mem::replace(&mut self.failing, true) {
                        tracing::warn!(error = %e, "accept failed; retrying every 100 ms");
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            }
        }
    }
}

/// Accepts on `listener`; never completes without one.
async fn accept_on(
    listener: Option<&TcpListener>,
) -> io::Result<(TcpStream, std::net::SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// Tells a client past `maxclients` why it is closed. A best-effort write that never waits,
/// as Redis's: the socket's buffer is empty, so the short reply goes out whole.
fn reject(stream: &TcpStream) {
    let mut reply = Vec::with_capacity(text::MAX_CLIENTS.len() + 3);
    reply.push(b'-');
    reply.extend_from_slice(text::MAX_CLIENTS.as_bytes());
    reply.extend_from_slice(b"\r\n");
    let _ = stream.try_write(&reply);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_redis_defaults() {
        let c = ClientConfig::default();
        assert_eq!(c.proto_max_bulk_len, 512 << 20);
        assert_eq!(c.client_query_buffer_limit, 1 << 30);
        assert_eq!(c.maxclients, 10_000);
        assert_eq!(c.timeout, 0);
        assert_eq!(c.client_output_buffer_limit, 256 << 20);
        assert_eq!(c.password(), None);
        assert!(c.validate().is_ok());
        let l = c.limits();
        assert_eq!(l.max_bulk_len, 512 << 20);
        assert_eq!(l.idle_timeout, None);
    }

    #[test]
    fn connections_get_five_seconds_to_finish_at_shutdown_by_default() {
        assert_eq!(
            ClientConfig::default().shutdown_grace(),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn an_empty_password_is_no_password_and_debug_redacts() {
        let c = ClientConfig {
            requirepass: Some(Password::new("")),
            ..ClientConfig::default()
        };
        assert_eq!(c.password(), None);
        let c = ClientConfig {
            requirepass: Some(Password::new("s3cr3t")),
            ..ClientConfig::default()
        };
        assert!(c.password().is_some());
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn slots_refuse_past_the_limit_and_free_on_drop() {
        let stats = Arc::new(Stats::default());
        let slots = ClientSlots::new(2, stats.clone());
        let a = slots.try_acquire().unwrap();
        let _b = slots.try_acquire().unwrap();
        assert!(slots.try_acquire().is_none());
        assert_eq!((slots.connected(), slots.rejected()), (2, 1));
        drop(a);
        let _c = slots.try_acquire().expect("a freed place is taken again");
        assert_eq!(slots.received(), 3);
        // The counts are the process's own, which INFO and /metrics read.
        assert_eq!(stats.connections_received.load(Relaxed), 3);
        assert_eq!(stats.rejected_connections.load(Relaxed), 1);
        assert_eq!(stats.connected_clients.load(Relaxed), 2);
    }
}
