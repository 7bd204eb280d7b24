//! TLS for clients (router and shard ports) and for a router's connections to its shards:
//! rustls on the `ring` provider, through tokio-rustls.
//!
//! ```text
//! Acceptor::accept (TLS port) ─▶ Incoming::Tls ─▶ Tls::accept (handshake, timeout, counted) ─▶ handler::<TlsStream>
//! Acceptor::accept (plain port) ─▶ Incoming::Plain ─────────────────────────────────────────▶ handler::<TcpStream>
//! SIGHUP, or a certificate file's bytes changed (Tls::watch) ─▶ Tls::reload ─▶ new handshakes use the new files
//! ```
//!
//! Handlers are generic over the stream ([`ClientStream`]), so a plain connection does no TLS
//! work and no dynamic call per request (docs/benchmarks.md, "TLS", measures what the
//! change cost it: 0.5-2% more instructions per request). A reload swaps the
//! configurations behind a lock taken once per handshake; connections already open keep
//! the certificate they were opened with (as Redis's do). A reload that fails (a half-
//! written file, a key that does not match) keeps the old files' configuration and says so.

mod config;
mod stream;

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::{client, server, TlsAcceptor, TlsConnector};

pub use config::{AuthClients, TlsConfig};
pub use stream::{close, ClientStream};

use crate::shutdown::Shutdown;

use crate::stats::{TLS_HANDSHAKE_FAILURES as HANDSHAKE_FAILURES, TLS_RELOADS as RELOADS};

/// The process's handshake failures by reason, and reloads (ok, error): every `Tls` of the
/// process counts here too, and each scrape copies them out ([`export`]), so the metrics
/// exist (at 0) in a process without TLS as well.
static PROCESS_FAILURES: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];
static PROCESS_RELOADS: [AtomicU64; 2] = [const { AtomicU64::new(0) }; 2];

/// Copies the process's TLS counters into the metrics recorder (at each `/metrics` scrape).
pub fn export() {
    for f in Failure::ALL {
        let n = PROCESS_FAILURES[f as usize].load(Relaxed);
        metrics::counter!(HANDSHAKE_FAILURES, "reason" => f.label()).absolute(n);
    }
    for (i, result) in ["ok", "error"].into_iter().enumerate() {
        metrics::counter!(RELOADS, "result" => result).absolute(PROCESS_RELOADS[i].load(Relaxed));
    }
}

/// Why a handshake failed: a closed set, for the metric's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// No handshake within `--tls-handshake-timeout-ms` (a silent or stalled client).
    Timeout,
    /// Bytes that are not TLS (a plaintext client on the TLS port) or a broken handshake.
    Protocol,
    /// A certificate missing, untrusted, expired or otherwise refused.
    Certificate,
    /// The peer closed or reset the connection mid-handshake.
    Closed,
}

impl Failure {
    const ALL: [Failure; 4] = [
        Failure::Timeout,
        Failure::Protocol,
        Failure::Certificate,
        Failure::Closed,
    ];

    /// Returns the metric label.
    pub fn label(self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::Protocol => "protocol",
            Failure::Certificate => "certificate",
            Failure::Closed => "closed",
        }
    }

    fn of(e: &io::Error) -> Failure {
        if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            return match tls {
                rustls::Error::InvalidCertificate(_)
                | rustls::Error::NoCertificatesPresented
                | rustls::Error::AlertReceived(
                    rustls::AlertDescription::BadCertificate
                    | rustls::AlertDescription::UnknownCA
                    | rustls::AlertDescription::CertificateExpired
                    | rustls::AlertDescription::CertificateRequired
                    | rustls::AlertDescription::CertificateUnknown,
                ) => Failure::Certificate,
                _ => Failure::Protocol,
            };
        }
        match e.kind() {
            io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe => Failure::Closed,
            _ => Failure::Protocol,
        }
    }
}

/// The TLS side of a process: the configurations made from `--tls-*` files, swapped on
/// reload, and the count of failed handshakes.
#[derive(Debug)]
pub struct Tls {
    config: TlsConfig,
    /// For clients of this process; `None` for a router whose only TLS is to its shards.
    server: RwLock<Option<Arc<rustls::ServerConfig>>>,
    /// For a router's connections to its shards (`--tls-shards`).
    client: RwLock<Option<Arc<rustls::ClientConfig>>>,
    failures: [AtomicU64; 4],
    reloads: AtomicU64,
    /// The files' bytes when last loaded, to notice a change.
    loaded: std::sync::Mutex<Vec<Option<Vec<u8>>>>,
}

impl Tls {
    /// Reads `config`'s files: a server side when `serve` (a TLS port), a client side when
    /// `connect` (`--tls-shards`).
    ///
    /// # Errors
    /// A file cannot be read, or the certificate and key do not make a configuration.
    pub fn new(config: TlsConfig, serve: bool, connect: bool) -> Result<Arc<Tls>, String> {
        let tls = Tls {
            server: RwLock::new(None),
            client: RwLock::new(None),
            failures: Default::default(),
            reloads: AtomicU64::new(0),
            loaded: std::sync::Mutex::new(Vec::new()),
            config,
        };
        tls.load(serve, connect)?;
        Ok(Arc::new(tls))
    }

    fn load(&self, serve: bool, connect: bool) -> Result<(), String> {
        let snapshot = self.snapshot();
        let server = match serve {
            true => Some(self.config.server_config()?),
            false => None,
        };
        let client = match connect {
            true => Some(self.config.client_config()?),
            false => None,
        };
        *crate::sync::write(&self.server) = server;
        *crate::sync::write(&self.client) = client;
        *crate::sync::lock(&self.loaded) = snapshot;
        Ok(())
    }

    /// Reads the files again; new handshakes use them. On failure the configuration in use
    /// stays, and the error says why. Logged and counted either way.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn reload(&self) -> Result<(), String> {
        let serve = crate::sync::read(&self.server).is_some();
        let connect = crate::sync::read(&self.client).is_some();
        let result = self.load(serve, connect);
        self.reloads.fetch_add(1, Relaxed);
        match &result {
            Ok(()) => {
                tracing::info!(files = ?self.config.files(), "TLS certificates reloaded");
                PROCESS_RELOADS[0].fetch_add(1, Relaxed);
            }
            Err(e) => {
                tracing::error!(error = %e, "TLS certificates not reloaded; the previous ones stay in use");
                PROCESS_RELOADS[1].fetch_add(1, Relaxed);
            }
        }
        result
    }

    /// Returns how many reloads were tried (SIGHUP or a file change).
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Relaxed)
    }

    fn snapshot(&self) -> Vec<Option<Vec<u8>>> {
        self.config
            .files()
            .iter()
            .map(|f| std::fs::read(f).ok())
            .collect()
    }

    /// Returns the files this TLS configuration reads.
    pub fn files(&self) -> Vec<PathBuf> {
        self.config.files()
    }

    /// Reloads whenever a file's bytes change (checked every `every`), until `stop`: a
    /// Kubernetes secret or cert-manager rotation needs no signal. A file caught half
    /// written fails to load and is tried again at the next check.
    ///
    /// Cancel-safe.
    pub async fn watch(self: Arc<Self>, every: Duration, stop: Shutdown) {
        let mut stop = stop.wait();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = &mut stop => return,
            }
            let now = self.snapshot();
            if now != *crate::sync::lock(&self.loaded) {
                // A failed reload leaves `loaded` as it was, so the next check tries again.
                let _ = self.reload();
            }
        }
    }

    /// Completes the server side of a handshake within the timeout; `None` (logged and
    /// counted) when the client fails it.
    ///
    /// Cancel-safe: dropping it drops the connection.
    pub async fn accept(&self, stream: TcpStream) -> Option<server::TlsStream<TcpStream>> {
        let acceptor = TlsAcceptor::from(crate::sync::read(&self.server).clone()?);
        let peer = stream.peer_addr().ok();
        let failure = match tokio::time::timeout(
            self.config.handshake_timeout(),
            acceptor.accept(stream),
        )
        .await
        {
            Ok(Ok(tls)) => return Some(tls),
            Ok(Err(e)) => {
                let failure = Failure::of(&e);
                tracing::info!(?peer, reason = failure.label(), error = %e, "TLS handshake failed; connection closed");
                failure
            }
            Err(_) => {
                tracing::info!(
                    ?peer,
                    reason = "timeout",
                    "TLS handshake timed out; connection closed"
                );
                Failure::Timeout
            }
        };
        self.count(failure);
        None
    }

    /// Opens the client side of a handshake with a shard at `host` (a name or an IP address
    /// its certificate must hold), within the handshake timeout.
    ///
    /// # Errors
    /// No client side configured, a bad host name, or the handshake failed (counted).
    pub async fn connect(
        &self,
        host: &str,
        stream: TcpStream,
    ) -> io::Result<client::TlsStream<TcpStream>> {
        let connector = crate::sync::read(&self.client)
            .clone()
            .map(TlsConnector::from)
            .ok_or_else(|| io::Error::other("no TLS client configuration"))?;
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let result = tokio::time::timeout(
            self.config.handshake_timeout(),
            connector.connect(name, stream),
        )
        .await;
        let error = match result {
            Ok(Ok(tls)) => return Ok(tls),
            Ok(Err(e)) => {
                self.count(Failure::of(&e));
                e
            }
            Err(_) => {
                self.count(Failure::Timeout);
                io::ErrorKind::TimedOut.into()
            }
        };
        Err(error)
    }

    fn count(&self, failure: Failure) {
        self.failures[failure as usize].fetch_add(1, Relaxed);
        PROCESS_FAILURES[failure as usize].fetch_add(1, Relaxed);
    }

    /// Returns how many handshakes failed for `reason`.
    pub fn failures(&self, reason: Failure) -> u64 {
        self.failures[reason as usize].load(Relaxed)
    }

    /// Returns how many handshakes failed, for every reason.
    pub fn all_failures(&self) -> u64 {
        Failure::ALL.iter().map(|f| self.failures(*f)).sum()
    }
}
