//! The process's connected clients, for CLIENT LIST, CLIENT INFO and CLIENT KILL.
//!
//! ```text
//! handler ─▶ ClientRegistry::register (at accept: one lock) ─▶ Registration (its Drop unregisters)
//! session::handle_local ─▶ ClientInfo::touch (per command: one relaxed store, no lock)
//! handler ─▶ ClientInfo::active (per batch read: a clock read and a relaxed store)
//! CLIENT KILL ─▶ ClientRegistry::kill ─▶ ClientInfo::kill ─▶ the connection's loop wakes and closes
//! ```
//! The map's lock is taken only to register, unregister, list and kill: never per command.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use protocol::command::{spec, CommandSpec, COMMANDS};
use protocol::frame::Protocol;

use crate::shutdown::{Shutdown, Wait};

use crate::sync::lock;

/// One connected client, shared by its connection (which updates it) and the registry.
#[derive(Debug)]
pub struct ClientInfo {
    id: u64,
    addr: String,
    laddr: String,
    fd: i64,
    created: Instant,
    /// Milliseconds after `created` of the last command.
    last_ms: AtomicU64,
    /// The last command: its row's index + 1 in the low 16 bits (0 = none yet), its
    /// subcommand's index + 1 above them (0 = none).
    last_cmd: AtomicU32,
    resp3: AtomicBool,
    name: Mutex<Option<Bytes>>,
    /// The ACL user logged in (`default` until AUTH names another).
    user: Mutex<Option<Bytes>>,
    killed: AtomicBool,
    kill: Shutdown,
    /// Invalidations and pub/sub messages waiting for the connection.
    outbox: crate::tracking::Outbox,
}

impl ClientInfo {
    /// Returns the connection's queue of out-of-band messages.
    pub fn outbox(&self) -> &crate::tracking::Outbox {
        &self.outbox
    }

    /// Returns true once HELLO 3 was answered.
    pub fn resp3(&self) -> bool {
        self.resp3.load(Relaxed)
    }

    /// Returns the client id.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Returns the peer's address, `ip:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Returns the local address the client connected to, `ip:port`.
    pub fn laddr(&self) -> &str {
        &self.laddr
    }

    /// Records that the client runs `cmd` (its row, and its subcommand as `args[1]` names it).
    pub fn touch(&self, row: &CommandSpec, args: &[Bytes]) {
        let sub = match (row.subcommands.is_empty(), args.get(1)) {
            (false, Some(name)) => row
                .subcommands
                .iter()
                .position(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
                .map_or(0, |i| i as u32 + 1),
            _ => 0,
        };
        self.last_cmd
            .store((sub << 16) | (row.index() as u32 + 1), Relaxed);
    }

    /// Records that the client sent requests at `at` (CLIENT LIST's `idle`): once per batch,
    /// so a pipeline costs one clock read, not one per command.
    pub fn active(&self, at: Instant) {
        let ms = at.saturating_duration_since(self.created).as_millis() as u64;
        self.last_ms.store(ms, Relaxed);
    }

    /// Records the name set by CLIENT SETNAME or HELLO.
    pub fn set_name(&self, name: Option<Bytes>) {
        *lock(&self.name) = name;
    }

    /// Records the user the client logged in as (AUTH, HELLO AUTH).
    pub fn set_user(&self, user: Bytes) {
        *lock(&self.user) = Some(user);
    }

    /// Returns true when the client logged in as `name` (ACL DELUSER closes such clients).
    pub fn logged_in_as(&self, name: &[u8]) -> bool {
        lock(&self.user).as_deref() == Some(name)
    }

    /// Records the protocol chosen by HELLO.
    pub fn set_protocol(&self, protocol: Protocol) {
        self.resp3.store(protocol == Protocol::Resp3, Relaxed);
    }

    /// Asks the client's connection to close (after the reply it is writing, if any).
    pub fn kill(&self) {
        self.killed.store(true, Relaxed);
        self.kill.trigger();
    }

    /// Returns true once the client was killed.
    pub fn is_killed(&self) -> bool {
        self.killed.load(Relaxed)
    }

    /// Returns a future that completes once the client is killed: made once per connection
    /// and polled at every wake-up, it costs an atomic load (as the shutdown waiter does).
    pub fn killed(&self) -> Wait {
        self.kill.wait()
    }

    /// Returns the client's line of CLIENT LIST, as Redis 7.0 writes it (without the newline).
    /// Buffer and memory figures the connection does not track are 0.
    pub fn line(&self) -> String {
        let now = self.created.elapsed();
        let age = now.as_secs();
        let idle = now.as_millis() as u64 - self.last_ms.load(Relaxed).min(now.as_millis() as u64);
        let name = lock(&self.name)
            .as_ref()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .unwrap_or_default();
        let cmd = self.last_cmd.load(Relaxed);
        let cmd = match (cmd & 0xFFFF) as usize {
            0 => "NULL".to_string(),
            row => {
                let row = COMMANDS
                    .get(row - 1)
                    .map_or(spec(protocol::Kind::Ping), |r| r);
                let sub = row.subcommands.get(((cmd >> 16) as usize).wrapping_sub(1));
                row.full_name(sub.map(|(sub, _)| *sub))
            }
        };
        let user = lock(&self.user).as_ref().map_or_else(
            || "default".into(),
            |u| String::from_utf8_lossy(u).into_owned(),
        );
        let resp = if self.resp3.load(Relaxed) { 3 } else { 2 };
        format!(
            "id={} addr={} laddr={} fd={} name={name} age={age} idle={} flags=N db=0 sub=0 \
             psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 \
             oll=0 omem=0 tot-mem=0 events=r cmd={cmd} user={user} redir=-1 resp={resp}",
            self.id,
            self.addr,
            self.laddr,
            self.fd,
            idle / 1000,
        )
    }
}

/// Every connected client of one process, by id.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    clients: Mutex<BTreeMap<u64, Arc<ClientInfo>>>,
}

/// A client's place in the registry; dropping it (the connection ended) removes the client.
#[derive(Debug)]
pub struct Registration {
    registry: Arc<ClientRegistry>,
    info: Arc<ClientInfo>,
}

impl Registration {
    /// Returns the client's shared record.
    pub fn info(&self) -> &Arc<ClientInfo> {
        &self.info
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        lock(&self.registry.clients).remove(&self.info.id);
    }
}

impl ClientRegistry {
    /// Registers client `id`, connected from `addr` to `laddr` on descriptor `fd`.
    pub fn register(
        self: &Arc<Self>,
        id: u64,
        addr: String,
        laddr: String,
        fd: i64,
    ) -> Registration {
        let info = Arc::new(ClientInfo {
            id,
            addr,
            laddr,
            fd,
            created: Instant::now(),
            last_ms: AtomicU64::new(0),
            last_cmd: AtomicU32::new(0),
            resp3: AtomicBool::new(false),
            name: Mutex::new(None),
            user: Mutex::new(None),
            killed: AtomicBool::new(false),
            kill: Shutdown::new(),
            outbox: Default::default(),
        });
        lock(&self.clients).insert(id, info.clone());
        Registration {
            registry: self.clone(),
            info,
        }
    }

    /// Returns every client, by id.
    pub fn list(&self) -> Vec<Arc<ClientInfo>> {
        lock(&self.clients).values().cloned().collect()
    }

    /// Returns client `id`.
    pub fn get(&self, id: u64) -> Option<Arc<ClientInfo>> {
        lock(&self.clients).get(&id).cloned()
    }
}

/// Registers the client on `stream` as `id` in `registry`: its peer and local addresses and
/// descriptor, as CLIENT LIST shows them.
pub fn register(
    registry: &Arc<ClientRegistry>,
    id: u64,
    stream: &tokio::net::TcpStream,
) -> Registration {
    use std::os::fd::AsRawFd;
    let text =
        |a: std::io::Result<std::net::SocketAddr>| a.map(|a| a.to_string()).unwrap_or_default();
    registry.register(
        id,
        text(stream.peer_addr()),
        text(stream.local_addr()),
        i64::from(stream.as_raw_fd()),
    )
}
