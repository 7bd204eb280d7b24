//! Per-connection state, and the commands any jumpcache process answers by itself:
//! PING ECHO QUIT HELLO AUTH CLIENT SELECT COMMAND CONFIG TIME.
//!
//! The shard and the router both call [`handle_local`] first, so these replies, and the
//! `requirepass` gate (`-NOAUTH` for everything but AUTH, HELLO, QUIT and PING until the
//! client authenticates), are written once and match Redis 7 in both places.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use crate::acl::{Acl, Denied, User};
use crate::glob::glob_match;
use crate::multi::{self, Multi, TxnState, Watched};
use crate::operator;
use crate::registry::{ClientInfo, ClientRegistry};
use crate::setting::Setting;
use crate::slowlog::SlowLog;
use protocol::command::{parse_i64, Command, CommandSpec, Flags, Kind, COMMANDS};
use protocol::error::{text, CommandError};
use protocol::frame::{Frame, Protocol};

/// The Redis version jumpcache reports: 7.4, which redis-py requires before it turns
/// client-side caching on (CLIENT TRACKING is answered as Redis 7 does); the replies
/// otherwise match redis-server 7.0.15.
pub const REDIS_VERSION: &str = "7.4.0";

/// One client connection's state.
#[derive(Debug, Clone)]
pub struct Session {
    id: u64,
    protocol: Protocol,
    name: Option<Bytes>,
    closing: bool,
    authenticated: bool,
    /// The user the connection logged in as; `None`: the process's `default` user, read from
    /// the config (so a new session, one per in-process call in `cluster`, clones nothing),
    /// and unrestricted (a restricted `default` is held here, so checks take no lock).
    user: Option<Arc<User>>,
    /// True unless the user may run everything on every key: the per-command check is this
    /// one branch for a user without restrictions.
    restricted: bool,
    /// The users' generation `user` and `restricted` were read at: when `ACL SETUSER` or
    /// `DELUSER` changes it, the next command looks the user up again.
    acl_generation: u64,
    /// The topology epoch a router stamped this connection with (`JUMPCACHE EPOCH`); 0 for
    /// every other client, which a resize never fences.
    epoch: u64,
    addr: String,
    client: Option<Arc<ClientInfo>>,
    /// MULTI's queue and WATCH's keys; `None` for nearly every connection.
    txn: Option<Box<TxnState>>,
    /// CLIENT TRACKING's mode while tracking is on.
    pub(crate) tracking: Option<Box<crate::tracking::Mode>>,
    /// Channels subscribed to (SUBSCRIBE).
    pub(crate) channels: Vec<Bytes>,
}

/// What `CONFIG GET` reports.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// `maxmemory`, in bytes.
    pub maxmemory: Setting<u64>,
    /// `maxmemory-policy` (`allkeys-lru`, `allkeys-lfu`).
    pub maxmemory_policy: Setting<String>,
    /// The users (`--user`, and `requirepass` as the default user's password). Never reported
    /// by CONFIG GET.
    pub acl: Arc<Acl>,
    /// SLOWLOG, and its two settings.
    pub slowlog: Arc<SlowLog>,
    /// LATENCY, and `latency-monitor-threshold`.
    pub latency: Arc<crate::latency_events::LatencyMonitor>,
    /// The connected clients (CLIENT LIST, INFO, KILL).
    pub clients: Arc<ClientRegistry>,
    /// `timeout`, in seconds (0 = never), read by the connections before each wait for a
    /// request, so CONFIG SET reaches clients already connected.
    pub timeout_seconds: Arc<std::sync::atomic::AtomicU64>,
    /// `maxclients`, for CONFIG SET; `None` where no accept loop counts clients (tests).
    pub slots: Option<Arc<crate::ClientSlots>>,
    /// The shard's store, for CONFIG SET `maxmemory` and `maxmemory-policy`; `None` on a
    /// router, which sends those to its shards.
    pub store: Option<Arc<dyn StoreSettings>>,
    /// `dir`, `dbfilename` and `save` (a shard's snapshot settings; a router's cluster's).
    pub snapshots: Arc<crate::persistence::SnapshotSettings>,
    /// Client-side caching: the tracking clients and the keys they read.
    pub tracking: Arc<crate::tracking::Hub>,
}

/// What CONFIG SET changes in a shard's store.
pub trait StoreSettings: Send + Sync + std::fmt::Debug {
    /// Changes `maxmemory`, in bytes (above 0).
    fn set_max_memory(&self, bytes: u64);
    /// Changes the eviction policy: `allkeys-lfu` when `lfu`, else `allkeys-lru`.
    fn set_lfu(&self, lfu: bool);
}

impl ServerConfig {
    /// Returns `timeout` as a connection's idle limit.
    pub fn idle_timeout(&self) -> Option<std::time::Duration> {
        let seconds = self
            .timeout_seconds
            .load(std::sync::atomic::Ordering::Relaxed);
        (seconds > 0).then(|| std::time::Duration::from_secs(seconds))
    }
}

impl Session {
    /// Returns a fresh RESP2 session with client id `id`, logged in as the `default` user;
    /// it must authenticate first unless that user is on and `nopass` (as in Redis).
    pub fn new(id: u64, config: &ServerConfig) -> Session {
        let (open, unrestricted) = config.acl.default_flags();
        Session {
            id,
            protocol: Protocol::Resp2,
            name: None,
            closing: false,
            epoch: 0,
            authenticated: open,
            restricted: !unrestricted,
            acl_generation: config.acl.generation(),
            // A restricted `default` is held from the start, so checks take no lock.
            user: (!unrestricted).then(|| config.acl.default_user()),
            addr: String::new(),
            client: None,
            txn: None,
            tracking: None,
            channels: Vec::new(),
        }
    }

    /// Ties the session to its connection's entry in the registry (CLIENT LIST, KILL).
    pub fn set_client(&mut self, client: Arc<ClientInfo>) {
        self.addr = client.addr().to_string();
        self.client = Some(client);
    }

    /// Returns the connection's entry in the registry; `None` for the router's in-process
    /// calls to its shards.
    pub fn client(&self) -> Option<&Arc<ClientInfo>> {
        self.client.as_ref()
    }

    fn set_name(&mut self, name: Option<Bytes>) {
        if let Some(client) = &self.client {
            client.set_name(name.clone());
        }
        self.name = name;
    }

    /// Returns the client's address (`ip:port`); empty for the router's in-process calls.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Logs `args` in SLOWLOG when the command took long enough; AUTH and HELLO never, as in
    /// Redis (they carry passwords).
    pub fn log_if_slow(&self, config: &ServerConfig, args: &[Bytes], elapsed: std::time::Duration) {
        if !config.slowlog.is_slow(elapsed) {
            return;
        }
        let secret = args
            .first()
            .is_some_and(|n| n.eq_ignore_ascii_case(b"AUTH") || n.eq_ignore_ascii_case(b"HELLO"));
        if !secret {
            let name = self.name.as_deref().unwrap_or_default();
            config.slowlog.record(args, elapsed, &self.addr, name);
        }
    }

    /// Returns true once the client may run every command (always, without `requirepass`).
    pub fn authenticated(&self) -> bool {
        self.authenticated
    }

    /// Returns the user the connection is logged in as.
    pub fn user(&self, config: &ServerConfig) -> Arc<User> {
        match &self.user {
            Some(user) => user.clone(),
            None => config.acl.default_user(),
        }
    }

    /// Looks the user up again when `ACL SETUSER` or `DELUSER` changed the users since it
    /// was read (as a Redis client sees its user's new rules at once); false when the user
    /// was deleted (Redis closes such a client).
    fn follow_acl(&mut self, config: &ServerConfig) -> bool {
        let generation = config.acl.generation();
        if generation == self.acl_generation {
            return true;
        }
        self.acl_generation = generation;
        let user = match &self.user {
            Some(user) => config.acl.user(user.name()),
            None => Some(config.acl.default_user()),
        };
        let Some(user) = user else {
            return false;
        };
        self.restricted = !user.unrestricted();
        // Held when it is restricted (checks take no lock), or when it is not `default`.
        if self.restricted || self.user.is_some() {
            self.user = Some(user);
        }
        true
    }

    /// Returns true when the session may run `cmd`: it has authenticated and its user's
    /// rules allow the command on its keys. For the few commands a router handles before
    /// [`handle_local`]: when false, `handle_local` answers with the refusal.
    pub fn may_run(&self, cmd: &Command, config: &ServerConfig) -> bool {
        self.authenticated && self.check(cmd, config).is_ok()
    }

    /// Checks `cmd` against the user's rules (not the AUTH gate), for commands run on the
    /// session's behalf (a script's `redis.call`); one branch for a user allowed everything.
    ///
    /// # Errors
    /// What the user may not do; a deleted user may do nothing.
    pub fn check(&self, cmd: &Command, config: &ServerConfig) -> Result<(), Denied> {
        let current = self.acl_generation == config.acl.generation();
        if !self.restricted && current {
            return Ok(());
        }
        if let (Some(user), true) = (&self.user, current) {
            return user.check(cmd);
        }
        let user = match (&self.user, current) {
            (Some(user), false) => config.acl.user(user.name()),
            _ => Some(self.user(config)),
        };
        match user {
            Some(user) => user.check(cmd),
            None => Err(Denied::Command(cmd.spec().lower.to_string())),
        }
    }

    /// Records a refusal in `ACL LOG`.
    pub fn note_denied(
        &self,
        config: &ServerConfig,
        denied: &Denied,
        context: crate::acl::log::Context,
    ) {
        let info = self.client.as_ref().map(|c| c.line()).unwrap_or_default();
        config
            .acl
            .log()
            .denied(denied, context, self.user(config).name(), info);
    }

    /// Returns the protocol chosen with `HELLO`.
    pub fn protocol(&self) -> Protocol {
        self.protocol
    }

    /// Returns true once `QUIT` was answered: flush, then close.
    pub fn should_close(&self) -> bool {
        self.closing
    }

    /// Returns the topology epoch this connection was stamped with (0: none).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Stamps the connection with a router's topology epoch (`JUMPCACHE EPOCH`).
    pub fn set_epoch(&mut self, epoch: u64) {
        self.epoch = epoch;
    }

    /// Returns the client id (`CLIENT ID`).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Returns the name set with `CLIENT SETNAME` or `HELLO ... SETNAME`.
    pub fn name(&self) -> Option<&Bytes> {
        self.name.as_ref()
    }

    /// Marks the session authenticated: for the calls a shard makes for a router that is
    /// already past the password (the commands of a router's transaction).
    pub fn authenticate(&mut self) {
        self.authenticated = true;
    }

    /// Returns true between MULTI and EXEC / DISCARD.
    pub fn in_multi(&self) -> bool {
        self.txn.as_ref().is_some_and(|t| t.multi.is_some())
    }

    /// Notes that a command sent inside MULTI was refused before it could be queued (unknown
    /// name, arity): EXEC will answer EXECABORT, as Redis's `flagTransaction`.
    pub fn refuse_in_multi(&mut self) {
        if let Some(multi) = self.txn.as_mut().and_then(|t| t.multi.as_mut()) {
            multi.failed = true;
        }
    }

    /// Ends MULTI, returning what was queued; `None` outside MULTI.
    pub fn take_multi(&mut self) -> Option<Multi> {
        let txn = self.txn.as_mut()?;
        let multi = txn.multi.take();
        if txn.watched.is_none() {
            self.txn = None;
        }
        multi
    }

    /// Returns the commands queued since MULTI (none outside MULTI).
    pub fn queued(&self) -> &[Command] {
        self.txn
            .as_ref()
            .and_then(|t| t.multi.as_ref())
            .map_or(&[], |m| &m.queued[..])
    }

    /// Whether messages can reach this connection out of band (invalidations, pub/sub): in
    /// RESP3, while it tracks keys or while it is subscribed. A RESP2 connection that does
    /// neither gets none, so its loop need not wait for any (`Outbox::ready` is cheap, not
    /// free, on every pass).
    pub fn may_get_pushes(&self, outbox: &crate::tracking::Outbox) -> bool {
        self.protocol == Protocol::Resp3 || self.tracking.is_some() || outbox.subscribed()
    }

    /// Returns true while CLIENT TRACKING is on.
    pub fn tracking(&self) -> bool {
        self.tracking.is_some()
    }

    /// Returns the WATCHed keys and their token.
    pub fn watched(&self) -> Option<&Watched> {
        self.txn.as_ref()?.watched.as_ref()
    }

    /// Adds keys to WATCH, under `token` when nothing was watched yet; returns the token and
    /// the keys that were not watched already.
    pub fn watch(&mut self, token: impl FnOnce() -> u64, keys: &[Bytes]) -> (u64, Vec<Bytes>) {
        let txn = self.txn.get_or_insert_with(Default::default);
        let watched = txn.watched.get_or_insert_with(|| Watched {
            token: token(),
            keys: Vec::new(),
        });
        let mut fresh = Vec::new();
        for key in keys {
            if !watched.keys.contains(key) && !fresh.contains(key) {
                fresh.push(key.clone());
            }
        }
        watched.keys.extend(fresh.iter().cloned());
        (watched.token, fresh)
    }

    /// Forgets the WATCHed keys (UNWATCH, EXEC, DISCARD, RESET), returning them so the
    /// caller can release them where they are registered.
    pub fn take_watched(&mut self) -> Option<Watched> {
        let txn = self.txn.as_mut()?;
        let watched = txn.watched.take();
        if txn.multi.is_none() {
            self.txn = None;
        }
        watched
    }

    /// Resets the connection as Redis's RESET does, but for WATCH (see [`take_watched`]):
    /// MULTI dropped, RESP2, no name, back to the `default` user, authenticated only when
    /// that user is on and `nopass`.
    ///
    /// [`take_watched`]: Self::take_watched
    pub fn reset(&mut self, config: &ServerConfig) {
        if let Some(txn) = self.txn.as_mut() {
            txn.multi = None;
        }
        crate::tracking::disconnect(self, config);
        self.channels.clear();
        if let Some(client) = &self.client {
            client.outbox().set_channels(0);
            client.set_protocol(Protocol::Resp2);
        }
        self.protocol = Protocol::Resp2;
        self.set_name(None);
        let (open, unrestricted) = config.acl.default_flags();
        self.authenticated = open;
        self.restricted = !unrestricted;
        self.acl_generation = config.acl.generation();
        self.user = (!unrestricted).then(|| config.acl.default_user());
        if let Some(client) = &self.client {
            client.set_user(Bytes::from_static(b"default"));
        }
    }
}

/// Answers connection and server-local commands, and refuses every command a client may not
/// run yet (`-NOAUTH`); `None` for commands that need data.
///
/// After it, a handler tells its `Connection` whether the session is authenticated, which
/// lifts Redis's smaller limits for unauthenticated clients.
pub fn handle_local(cmd: &Command, session: &mut Session, config: &ServerConfig) -> Option<Frame> {
    // Redis checks the password after the command lookup and arity, as here. PING is let
    // through too (Redis 7.0 answers it with NOAUTH): health checks and load balancers
    // probe with a bare PING and cannot authenticate.
    if !session.authenticated
        && !cmd.spec().flags.contains(Flags::NO_AUTH)
        && cmd.kind() != Kind::Ping
    {
        if cmd.kind() == Kind::Exec {
            return Some(exec_abort(session, text::NOAUTH));
        }
        self::queue_refused(session);
        return Some(Frame::error(text::NOAUTH));
    }
    if !session.follow_acl(config) {
        session.closing = true;
        return Some(Frame::error(
            "ERR the user this connection logged in as was deleted (ACL DELUSER)",
        ));
    }
    // ACL: Redis 7.0's `ACLCheckAllPerm`, after the NOAUTH gate; the commands that run
    // before AUTH (AUTH, HELLO, QUIT) are never refused by it. Inside MULTI a refusal
    // aborts the transaction, as Redis's `rejectCommand` flags it.
    if session.restricted && !cmd.spec().flags.contains(Flags::NO_AUTH) {
        if let Err(denied) = session.check(cmd, config) {
            let context = match session.in_multi() {
                true => crate::acl::log::Context::Multi,
                false => crate::acl::log::Context::Toplevel,
            };
            session.note_denied(config, &denied, context);
            if cmd.kind() == Kind::Exec {
                return Some(exec_abort(session, &denied.text()));
            }
            self::queue_refused(session);
            return Some(Frame::error_owned(denied.text()));
        }
        // A router (no store of its own) sends a script to a shard, where its `redis.call`s
        // run as the router's shard user: the caller's rules could not hold there, so a user
        // with restrictions may not run scripts through a router.
        let script = matches!(
            cmd.kind(),
            Kind::Eval | Kind::EvalSha | Kind::EvalRo | Kind::EvalShaRo
        );
        if script && config.store.is_none() {
            self::queue_refused(session);
            return Some(Frame::error(ROUTER_SCRIPT_REFUSED));
        }
    }
    // A RESP2 connection that subscribed takes only the pub/sub commands, PING, QUIT, RESET.
    if !session.channels.is_empty()
        && session.protocol == Protocol::Resp2
        && !crate::tracking::allowed_while_subscribed(cmd.kind())
    {
        return Some(Frame::error_owned(format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            full_name(cmd)
        )));
    }
    // Inside MULTI every command but EXEC DISCARD MULTI WATCH QUIT RESET is queued.
    if let Some(txn) = session.txn.as_deref_mut() {
        if let Some(queue) = txn.multi.as_mut() {
            if !multi::runs_inside_multi(cmd.kind()) {
                queue.queued.push(cmd.clone());
                return Some(Frame::simple("QUEUED"));
            }
        }
    }
    if let Some(client) = &session.client {
        client.touch(cmd.spec(), cmd.args());
    }
    use Kind::*;
    // Exactly the rows whose route is `Local` are answered here (a test checks it); no
    // wildcard, so a new row does not compile until it is placed.
    let reply = match cmd.kind() {
        Ping if !session.channels.is_empty() && session.protocol == Protocol::Resp2 => {
            // Redis answers a subscribed RESP2 client's PING as a pub/sub message.
            let msg = cmd.args().get(1).cloned().unwrap_or_default();
            Ok(Frame::Array(vec![Frame::bulk(b"pong"), Frame::Bulk(msg)]))
        }
        Ping => ping(cmd),
        Subscribe => Ok(crate::tracking::subscribe(cmd, session)),
        Unsubscribe => Ok(crate::tracking::unsubscribe(cmd, session)),
        Echo => Ok(Frame::Bulk(cmd.args()[1].clone())),
        Quit => {
            session.closing = true;
            Ok(Frame::ok())
        }
        Hello => hello(cmd, session, config),
        Auth => auth_command(cmd, session, config),
        Client => client(cmd, session, config),
        Select => select(cmd),
        Command => command(cmd),
        Config => config_command(cmd, config),
        Time => Ok(time()),
        SlowLog => operator::slowlog(cmd, config),
        Latency => Ok(operator::latency(cmd, config)),
        Wait => operator::wait(cmd),
        Acl => crate::acl::command::acl(cmd, &session.user(config), config),
        Multi => multi_command(session),
        // The shard's `server::txn` and the router's `router::txn` run these.
        Exec | Discard | Watch | Unwatch | Reset | Eval | EvalSha | EvalRo | EvalShaRo | Script
        | TxnPhase => return None,
        Jumpcache | Dump | Restore | Memory | Object | Info | DbSize | FlushDb | FlushAll
        | Save | BgSave | LastSave | Get | Set | SetNx | SetEx | PSetEx | GetSet | GetDel
        | GetEx | MGet | MSet | MSetNx | Del | Unlink | Exists | Touch | Incr | Decr | IncrBy
        | DecrBy | IncrByFloat | Append | StrLen | GetRange | SetRange | Expire | PExpire
        | ExpireAt | PExpireAt | Persist | Ttl | PTtl | ExpireTime | PExpireTime | Type | Keys
        | Scan | RandomKey => return None,
        HSet | HSetNx | HGet | HMGet | HMSet | HGetAll | HDel | HLen | HExists | HKeys | HVals
        | HIncrBy | HIncrByFloat | HStrLen | HScan | HRandField => return None,
        SAdd | SRem | SMembers | SIsMember | SMIsMember | SCard | SPop | SRandMember | SScan
        | SMove | SInter | SUnion | SDiff | SInterCard | SInterStore | SUnionStore | SDiffStore => {
            return None
        }
        ZAdd | ZRem | ZScore | ZMScore | ZIncrBy | ZCard | ZCount | ZRank | ZRevRank | ZRange
        | ZRangeByScore | ZRevRangeByScore | ZRevRange | ZRangeByLex | ZRemRangeByScore
        | ZRemRangeByRank | ZPopMin | ZPopMax | ZScan | ZRandMember => return None,
        LPush | RPush | LPushX | RPushX | LPop | RPop | LLen | LRange | LIndex | LSet | LRem
        | LTrim | LInsert | LPos | LMove | Rename | RenameNx | Copy => return None,
    };
    Some(reply.unwrap_or_else(|e| e.to_frame()))
}

/// Redis's `rejectCommand` for EXEC (`execCommandAbort`): the refusal as `EXECABORT`, and
/// MULTI's queue, if any, dropped.
fn exec_abort(session: &mut Session, error: &str) -> Frame {
    session.take_multi();
    Frame::error_owned(format!(
        "EXECABORT Transaction discarded because of: {error}"
    ))
}

/// What a user with ACL restrictions gets for EVAL and EVALSHA through a router.
pub const ROUTER_SCRIPT_REFUSED: &str = "NOPERM scripts through a router run without the \
    caller's ACL rules, so they are refused to users with restrictions; connect to a shard, \
    or use a user allowed every command and key";

/// Returns Redis's full name of a command: `get`, `client|tracking`.
fn full_name(cmd: &Command) -> String {
    let spec = cmd.spec();
    let sub = (!spec.subcommands.is_empty())
        .then(|| cmd.args().get(1))
        .flatten()
        .map(|sub| String::from_utf8_lossy(sub));
    spec.full_name(sub.as_deref())
}

/// Marks the transaction failed when a command is refused inside MULTI.
fn queue_refused(session: &mut Session) {
    session.refuse_in_multi();
}

/// ```text
/// MULTI
/// ```
fn multi_command(session: &mut Session) -> Result<Frame, CommandError> {
    let txn = session.txn.get_or_insert_with(Default::default);
    if txn.multi.is_some() {
        return Err(CommandError::Static(text::MULTI_NESTED));
    }
    txn.multi = Some(Multi::default());
    Ok(Frame::ok())
}

fn ping(cmd: &Command) -> Result<Frame, CommandError> {
    match cmd.args() {
        [_] => Ok(Frame::simple("PONG")),
        [_, msg] => Ok(Frame::Bulk(msg.clone())),
        _ => Err(CommandError::WrongArity {
            name: "ping".into(),
        }),
    }
}

/// ```text
/// AUTH [username] password
/// ```
fn auth_command(
    cmd: &Command,
    session: &mut Session,
    config: &ServerConfig,
) -> Result<Frame, CommandError> {
    let (user, password) = match cmd.args() {
        [_, password] => (None, password),
        [_, user, password] => (Some(&user[..]), password),
        _ => return Err(CommandError::Syntax),
    };
    // Redis: a one-argument AUTH is an error while `default` takes no password.
    if user.is_none() && config.acl.default_user().nopass() {
        return Err(CommandError::Static(text::AUTH_NOT_SET));
    }
    login(session, config, &cmd.args()[0], user, password)?;
    Ok(Frame::ok())
}

/// Authenticates `session`, or fails with `WRONGPASS` leaving it as it was (as Redis does).
fn login(
    session: &mut Session,
    config: &ServerConfig,
    command: &Bytes,
    user: Option<&[u8]>,
    password: &[u8],
) -> Result<(), CommandError> {
    let name = user.unwrap_or(b"default");
    let generation = config.acl.generation();
    let Some(user) = config.acl.authenticate(name, password) else {
        let info = session
            .client
            .as_ref()
            .map(|c| c.line())
            .unwrap_or_default();
        config.acl.log().auth_failed(command, name, info);
        return Err(CommandError::Static(text::WRONGPASS));
    };
    session.authenticated = true;
    session.restricted = !user.unrestricted();
    session.acl_generation = generation;
    if let Some(client) = &session.client {
        client.set_user(user.name().clone());
    }
    session.user = Some(user);
    Ok(())
}

/// ```text
/// HELLO [protover [AUTH username password] [SETNAME clientname]]
/// ```
/// In Redis 7's order: version, options, AUTH, the NOAUTH check, then SETNAME.
fn hello(
    cmd: &Command,
    session: &mut Session,
    config: &ServerConfig,
) -> Result<Frame, CommandError> {
    let args = cmd.args();
    let mut protocol = session.protocol;
    if let Some(ver) = args.get(1) {
        let ver = parse_i64(ver).ok_or(CommandError::Static(
            "ERR Protocol version is not an integer or out of range",
        ))?;
        protocol = match ver {
            2 => Protocol::Resp2,
            3 => Protocol::Resp3,
            _ => return Err(CommandError::Static(text::NOPROTO)),
        };
    }
    let mut name = None;
    let mut credentials = None;
    let mut j = 2;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = &args[j];
        if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            credentials = Some((&args[j + 1], &args[j + 2]));
            j += 2;
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            name = Some(args[j + 1].clone());
            j += 1;
        } else {
            return Err(CommandError::Message(format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
        j += 1;
    }
    if let Some((user, password)) = credentials {
        login(session, config, &args[0], Some(user), password)?;
    }
    if !session.authenticated {
        return Err(CommandError::Static(text::NOAUTH_HELLO));
    }
    if let Some(name) = name {
        validate_name(&name)?;
        session.set_name((!name.is_empty()).then_some(name));
    }
    session.protocol = protocol;
    if let Some(client) = &session.client {
        client.set_protocol(protocol);
    }
    let proto = if protocol == Protocol::Resp3 { 3 } else { 2 };
    Ok(Frame::Map(vec![
        (Frame::bulk(b"server"), Frame::bulk(b"redis")),
        (
            Frame::bulk(b"version"),
            Frame::bulk(REDIS_VERSION.as_bytes()),
        ),
        (Frame::bulk(b"proto"), Frame::Integer(proto)),
        (Frame::bulk(b"id"), Frame::Integer(session.id as i64)),
        (Frame::bulk(b"mode"), Frame::bulk(b"standalone")),
        (Frame::bulk(b"role"), Frame::bulk(b"master")),
        (Frame::bulk(b"modules"), Frame::Array(vec![])),
    ]))
}

fn validate_name(name: &[u8]) -> Result<(), CommandError> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(CommandError::Static(
            "ERR Client names cannot contain spaces, newlines or special characters.",
        ));
    }
    Ok(())
}

/// ```text
/// CLIENT SETNAME name | GETNAME | SETINFO LIB-NAME|LIB-VER value | ID | HELP
/// ```
fn client(
    cmd: &Command,
    session: &mut Session,
    config: &ServerConfig,
) -> Result<Frame, CommandError> {
    let args = cmd.args();
    let sub = args[1].to_ascii_uppercase();
    if let Some(reply) = crate::tracking::client_subcommand(&sub, args, session, config) {
        return reply;
    }
    match &sub[..] {
        b"LIST" => operator::client_list(args, &config.clients),
        b"INFO" => Ok(Frame::Verbatim(
            session
                .client
                .as_ref()
                .map(|c| format!("{}\n", c.line()))
                .unwrap_or_default()
                .into(),
        )),
        b"KILL" => operator::client_kill(args, session.client.as_ref(), &config.clients),
        b"SETNAME" => {
            validate_name(&args[2])?;
            session.set_name((!args[2].is_empty()).then(|| args[2].clone()));
            Ok(Frame::ok())
        }
        b"GETNAME" => Ok(Frame::bulk_or_null(session.name.clone())),
        b"ID" => Ok(Frame::Integer(session.id as i64)),
        b"SETINFO" => {
            let attr = args[2].to_ascii_uppercase();
            if attr != b"LIB-NAME" && attr != b"LIB-VER" {
                return Err(CommandError::Message(format!(
                    "ERR Unrecognized option '{}'",
                    String::from_utf8_lossy(&args[2])
                )));
            }
            if args[3].iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
                return Err(CommandError::Message(format!(
                    "ERR {} cannot contain spaces, newlines or special characters.",
                    String::from_utf8_lossy(&args[2])
                )));
            }
            Ok(Frame::ok())
        }
        _ => Ok(help(&[
            "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "    * ID <client-id>",
            "      Kill connections by client id.",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "    * ID <client-id> [...]",
            "      Return clients with the given IDs.",
            "SETINFO <option> <value>",
            "    Set client meta attr. Options are LIB-NAME, LIB-VER.",
            "SETNAME <connection-name>",
            "    Assign the name <connection-name> to the current connection.",
            "HELP",
            "    Print this help.",
        ])),
    }
}

fn help(lines: &[&'static str]) -> Frame {
    Frame::Array(lines.iter().map(|l| Frame::simple(l)).collect())
}

fn select(cmd: &Command) -> Result<Frame, CommandError> {
    match parse_i64(&cmd.args()[1]) {
        None => Err(CommandError::NotInteger),
        Some(0) => Ok(Frame::ok()),
        Some(_) => Err(CommandError::Static(text::DB_INDEX)),
    }
}

/// ```text
/// COMMAND | COMMAND COUNT | COMMAND INFO [name ...] | COMMAND DOCS [name ...] | COMMAND LIST
/// ```
fn command(cmd: &Command) -> Result<Frame, CommandError> {
    let args = cmd.args();
    let Some(sub) = args.get(1) else {
        return Ok(Frame::Array(COMMANDS.iter().map(command_info).collect()));
    };
    let names = &args[2..];
    let find = |n: &Bytes| {
        COMMANDS
            .iter()
            .find(|s| s.name.as_bytes().eq_ignore_ascii_case(n))
    };
    match &sub.to_ascii_uppercase()[..] {
        b"COUNT" => Ok(Frame::Integer(COMMANDS.len() as i64)),
        b"LIST" => Ok(Frame::Array(
            COMMANDS
                .iter()
                .map(|s| Frame::bulk(s.lower.as_bytes()))
                .collect(),
        )),
        b"INFO" if names.is_empty() => {
            Ok(Frame::Array(COMMANDS.iter().map(command_info).collect()))
        }
        b"INFO" => Ok(Frame::Array(
            names
                .iter()
                .map(|n| find(n).map_or(Frame::NullArray, command_info))
                .collect(),
        )),
        b"DOCS" => {
            let specs: Vec<&CommandSpec> = if names.is_empty() {
                COMMANDS.iter().collect()
            } else {
                names.iter().filter_map(find).collect()
            };
            Ok(Frame::Map(
                specs
                    .into_iter()
                    .map(|s| (Frame::bulk(s.lower.as_bytes()), command_docs(s)))
                    .collect(),
            ))
        }
        _ => Ok(help(&[
            "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "(no subcommand)",
            "    Return details about all commands.",
            "COUNT",
            "    Return the total number of commands in this server.",
            "LIST",
            "    Return a list of all commands in this server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple commands.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple commands.",
            "HELP",
            "    Print this help.",
        ])),
    }
}

/// Returns Redis 7's `COMMAND INFO` entry for one row.
pub fn command_info(spec: &CommandSpec) -> Frame {
    let (first, last, step) = spec.keys.triple();
    let flags = spec.flags.names().map(Frame::simple).collect();
    // The ACL's categories, which are Redis's own (acl/categories.rs), in Redis's order.
    let categories_of = |sub: Option<&str>| {
        crate::acl::categories::categories(spec, sub)
            .names()
            .map(|n| Frame::Simple(Bytes::from(format!("@{n}"))))
            .collect::<Vec<_>>()
    };
    let categories = categories_of(None);
    let subcommands = spec
        .subcommands
        .iter()
        .map(|(name, arity)| {
            Frame::Array(vec![
                Frame::bulk(spec.full_name(Some(name)).as_bytes()),
                Frame::Integer(i64::from(*arity)),
                Frame::Set(vec![]),
                Frame::Integer(0),
                Frame::Integer(0),
                Frame::Integer(0),
                Frame::Set(categories_of(Some(name))),
                Frame::Array(vec![]),
                Frame::Array(vec![]),
                Frame::Array(vec![]),
            ])
        })
        .collect();
    Frame::Array(vec![
        Frame::bulk(spec.lower.as_bytes()),
        Frame::Integer(i64::from(spec.arity)),
        Frame::Set(flags),
        Frame::Integer(first),
        Frame::Integer(last),
        Frame::Integer(step),
        Frame::Set(categories),
        Frame::Array(vec![]),
        Frame::Array(vec![]),
        Frame::Array(subcommands),
    ])
}

fn command_docs(spec: &CommandSpec) -> Frame {
    Frame::Map(vec![
        (
            Frame::bulk(b"summary"),
            Frame::bulk(spec.summary.as_bytes()),
        ),
        (Frame::bulk(b"since"), Frame::bulk(b"1.0.0")),
        (Frame::bulk(b"group"), Frame::bulk(spec.group.as_bytes())),
    ])
}

/// ```text
/// CONFIG GET parameter [parameter ...]
/// ```
/// ```text
/// CONFIG GET pattern [pattern ...] | CONFIG SET parameter value [...] | CONFIG RESETSTAT | CONFIG HELP
/// ```
/// RESETSTAT is answered here once the process has recorded its INFO's zero (a shard's
/// `handler::execute`, a router's handler: `crate::baseline`), which needs its INFO.
fn config_command(cmd: &Command, config: &ServerConfig) -> Result<Frame, CommandError> {
    let args = cmd.args();
    match &args[1].to_ascii_uppercase()[..] {
        b"GET" => config_get(cmd, config),
        b"SET" => operator::config_set(cmd, config),
        b"RESETSTAT" => Ok(Frame::ok()),
        _ => Ok(help(&[
            "CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "HELP",
            "    Prints this help.",
        ])),
    }
}

fn config_get(cmd: &Command, config: &ServerConfig) -> Result<Frame, CommandError> {
    let args = cmd.args();
    let snapshots = &config.snapshots;
    let params: [(&str, String); 11] = [
        ("dbfilename", snapshots.dbfilename.clone()),
        ("save", snapshots.save.clone()),
        ("dir", snapshots.dir.clone()),
        ("appendonly", "no".into()),
        ("maxmemory", config.maxmemory.get().to_string()),
        ("maxmemory-policy", config.maxmemory_policy.get()),
        ("databases", "1".into()),
        // Redis 7.0 lists these two in this order.
        ("slowlog-max-len", config.slowlog.max_len().to_string()),
        (
            "latency-monitor-threshold",
            config.latency.threshold_ms().to_string(),
        ),
        (
            "slowlog-log-slower-than",
            config.slowlog.slower_than_us().to_string(),
        ),
        (
            "tracking-table-max-keys",
            config.tracking.max_keys().to_string(),
        ),
    ];
    let mut pairs = Vec::new();
    for (name, value) in &params {
        let wanted = args[2..]
            .iter()
            .any(|p| glob_match(&p.to_ascii_lowercase(), name.as_bytes()));
        if wanted {
            pairs.push((Frame::bulk(name.as_bytes()), Frame::bulk(value.as_bytes())));
        }
    }
    Ok(Frame::Map(pairs))
}

fn time() -> Frame {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Frame::Array(vec![
        Frame::bulk(now.as_secs().to_string().as_bytes()),
        Frame::bulk(now.subsec_micros().to_string().as_bytes()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::codec::Request;
    use protocol::command::Route;

    fn config() -> ServerConfig {
        ServerConfig {
            maxmemory: Setting::new(100),
            maxmemory_policy: Setting::new("allkeys-lru".into()),
            ..ServerConfig::default()
        }
    }

    fn run(session: &mut Session, parts: &[&str]) -> Frame {
        run_with(session, &config(), parts)
    }

    fn run_with(session: &mut Session, config: &ServerConfig, parts: &[&str]) -> Frame {
        run_local(session, config, parts).expect("local command")
    }

    fn run_local(session: &mut Session, config: &ServerConfig, parts: &[&str]) -> Option<Frame> {
        let req = Request {
            args: parts
                .iter()
                .map(|p| Bytes::copy_from_slice(p.as_bytes()))
                .collect(),
            raw: Bytes::new(),
            inline: false,
        };
        let cmd = Command::from_request(req).unwrap();
        handle_local(&cmd, session, config)
    }

    fn locked() -> (Session, ServerConfig) {
        let config = ServerConfig {
            acl: Arc::new(Acl::new(Some(&crate::Password::new("pw")), &[]).unwrap()),
            ..config()
        };
        (Session::new(1, &config), config)
    }

    #[test]
    fn only_auth_hello_quit_and_ping_run_before_auth() {
        let (mut s, c) = locked();
        let noauth = Frame::error(text::NOAUTH);
        assert_eq!(run_with(&mut s, &c, &["get", "k"]), noauth);
        assert_eq!(run_with(&mut s, &c, &["echo", "x"]), noauth);
        assert_eq!(run_with(&mut s, &c, &["client", "id"]), noauth);
        assert_eq!(run_with(&mut s, &c, &["ping"]), Frame::simple("PONG"));
        assert_eq!(
            run_with(&mut s, &c, &["hello", "3"]),
            Frame::error(text::NOAUTH_HELLO)
        );
        assert_eq!(s.protocol(), Protocol::Resp2);
        assert_eq!(
            run_with(&mut s, &c, &["auth", "nope"]),
            Frame::error(text::WRONGPASS)
        );
        assert_eq!(
            run_with(&mut s, &c, &["auth", "a", "b", "c"]),
            Frame::error(text::SYNTAX)
        );
        assert!(!s.authenticated());
        assert_eq!(run_with(&mut s, &c, &["auth", "pw"]), Frame::ok());
        assert!(s.authenticated());
        assert_eq!(run_with(&mut s, &c, &["echo", "x"]), Frame::bulk(b"x"));
        // A later wrong password does not log the client out, as in Redis.
        assert_eq!(
            run_with(&mut s, &c, &["auth", "default", "no"]),
            Frame::error(text::WRONGPASS)
        );
        assert!(s.authenticated());
    }

    #[test]
    fn hello_auth_authenticates_and_switches_protocol_at_once() {
        let (mut s, c) = locked();
        assert_eq!(
            run_with(&mut s, &c, &["hello", "3", "auth", "default", "no"]),
            Frame::error(text::WRONGPASS)
        );
        assert_eq!(
            run_with(&mut s, &c, &["hello", "3", "auth", "other", "pw"]),
            Frame::error(text::WRONGPASS)
        );
        let reply = run_with(&mut s, &c, &["hello", "3", "auth", "default", "pw"]);
        assert!(matches!(reply, Frame::Map(_)), "{reply:?}");
        assert!(s.authenticated());
        assert_eq!(s.protocol(), Protocol::Resp3);
    }

    #[test]
    fn without_a_password_auth_answers_as_redis_nopass() {
        let mut s = Session::new(1, &config());
        assert_eq!(
            run(&mut s, &["auth", "x"]),
            Frame::error(text::AUTH_NOT_SET)
        );
        assert_eq!(run(&mut s, &["auth", "default", "x"]), Frame::ok());
        assert_eq!(
            run(&mut s, &["auth", "bob", "x"]),
            Frame::error(text::WRONGPASS)
        );
    }

    #[test]
    fn hello_switches_protocol_and_rejects_unknown_versions() {
        let mut s = Session::new(7, &config());
        assert_eq!(run(&mut s, &["hello", "4"]), Frame::error(text::NOPROTO));
        assert_eq!(s.protocol(), Protocol::Resp2);
        let reply = run(&mut s, &["hello", "3", "setname", "me"]);
        assert!(matches!(reply, Frame::Map(ref m) if m.len() == 7));
        assert_eq!(s.protocol(), Protocol::Resp3);
        assert_eq!(s.name().map(|n| &n[..]), Some(&b"me"[..]));
        assert_eq!(
            run(&mut s, &["hello", "3", "bogus"]),
            Frame::error_owned("ERR Syntax error in HELLO option 'bogus'".into())
        );
    }

    #[test]
    fn client_name_round_trips_and_select_accepts_only_zero() {
        let mut s = Session::new(1, &config());
        assert_eq!(run(&mut s, &["client", "getname"]), Frame::Null);
        assert!(run(&mut s, &["client", "setname", "a b"]).is_error());
        assert_eq!(run(&mut s, &["client", "setname", "ab"]), Frame::ok());
        assert_eq!(run(&mut s, &["client", "getname"]), Frame::bulk(b"ab"));
        assert_eq!(run(&mut s, &["client", "id"]), Frame::Integer(1));
        assert_eq!(run(&mut s, &["select", "0"]), Frame::ok());
        assert_eq!(run(&mut s, &["select", "1"]), Frame::error(text::DB_INDEX));
        assert_eq!(
            run(&mut s, &["select", "x"]),
            Frame::error(text::NOT_INTEGER)
        );
    }

    #[test]
    fn config_get_matches_globs_and_ignores_unknown_parameters() {
        let mut s = Session::new(1, &config());
        assert_eq!(
            run(&mut s, &["config", "get", "save"]),
            Frame::Map(vec![(Frame::bulk(b"save"), Frame::bulk(b""))])
        );
        assert_eq!(
            run(&mut s, &["config", "get", "nosuch"]),
            Frame::Map(vec![])
        );
        let Frame::Map(all) = run(&mut s, &["config", "get", "maxmemory*"]) else {
            panic!()
        };
        assert_eq!(all.len(), 2);
    }

    #[test]
    fn exactly_the_local_rows_are_answered_here() {
        for spec in COMMANDS {
            // The fewest arguments the row's arity allows, through its first subcommand.
            let mut parts = vec![spec.name];
            let arity = match spec.subcommands.first() {
                Some((sub, arity)) if spec.arity.abs() > 1 => {
                    parts.push(sub);
                    *arity
                }
                _ => spec.arity,
            };
            parts.resize(arity.unsigned_abs() as usize, "0");
            let mut s = Session::new(1, &config());
            let answered = run_local(&mut s, &config(), &parts).is_some();
            assert_eq!(answered, spec.route == Route::Local, "{}", spec.name);
        }
    }

    #[test]
    fn quit_replies_ok_and_closes() {
        let mut s = Session::new(1, &config());
        assert_eq!(run(&mut s, &["quit"]), Frame::ok());
        assert!(s.should_close());
    }
}
