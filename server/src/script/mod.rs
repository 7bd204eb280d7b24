//! Lua scripts on a shard: EVAL EVALSHA EVAL_RO EVALSHA_RO and SCRIPT, as Redis 7.0 runs
//! them (Lua 5.1 through `mlua`, built from source).
//!
//! ```text
//! EVAL ─▶ script::execute ─▶ Txn::exclusive (the gate) ─▶ Engine::run ─▶ xpcall(f, handler)
//!                                           redis.call ─▶ exec::multi::run_queued ─▶ Store
//! ```
//! - A script runs alone on its shard (the transaction gate, exclusive), so it is atomic.
//! - Its keys are the ones it declared; through a router (`TXN EVAL group groups ...`) a
//!   `redis.call` on a key of another group is refused instead of answered wrongly.
//! - Past `--lua-time-limit` other commands get `-BUSY` and SCRIPT KILL stops the script
//!   (at its next 10,000 instructions), unless it already wrote (`-UNKILLABLE`).
//! - One Lua state per shard, bounded by `--lua-memory-limit`; SCRIPT FLUSH replaces it.

pub mod aside;
mod lua;

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::SeqCst;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use mlua::{Function, MultiValue, Value};
use protocol::command::{parse_i64, Flags};
use protocol::error::text;
use protocol::{Command, Frame, Kind, Request};
use serve::session::Session;
use serve::sync::lock;

use crate::state::ShardState;

/// The script cache, the Lua state and the script running now.
pub struct Scripts {
    engine: Mutex<Option<Engine>>,
    running: Arc<Running>,
    memory: usize,
}

impl std::fmt::Debug for Scripts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scripts").finish_non_exhaustive()
    }
}

/// The Lua state and its compiled scripts, by SHA1.
struct Engine {
    state: lua::State,
    scripts: HashMap<String, Function>,
}

/// What SCRIPT KILL and the other clients see of the script running now.
#[derive(Debug)]
pub(crate) struct Running {
    limit: Duration,
    started: Mutex<Option<Instant>>,
    busy: AtomicBool,
    kill: AtomicBool,
    wrote: AtomicBool,
    /// In a single-threaded runtime (or none): nothing else can run while the script does.
    alone: AtomicBool,
    /// Stopped at the time limit because it was alone.
    timed_out: AtomicBool,
}

impl Running {
    /// The hook's check: marks the script busy past the limit; true when it must stop.
    fn check(&self) -> bool {
        if !self.busy.load(SeqCst) {
            let started = *lock(&self.started);
            let elapsed = started.map(|s| s.elapsed()).unwrap_or_default();
            if elapsed >= self.limit {
                self.busy.store(true, SeqCst);
                // No other thread can take SCRIPT KILL (a single-threaded runtime): stop it
                // here rather than stall every client of the process.
                if self.alone.load(SeqCst) {
                    self.timed_out.store(true, SeqCst);
                    return true;
                }
            }
        }
        self.kill.load(SeqCst)
    }

    fn start(&self) {
        *lock(&self.started) = Some(Instant::now());
        self.busy.store(false, SeqCst);
        self.kill.store(false, SeqCst);
        self.wrote.store(false, SeqCst);
        self.timed_out.store(false, SeqCst);
        use tokio::runtime::{Handle, RuntimeFlavor};
        let shared =
            Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
        self.alone.store(!shared && !aside::on_helper(), SeqCst);
    }

    fn stop(&self) {
        *lock(&self.started) = None;
        self.busy.store(false, SeqCst);
    }
}

impl Scripts {
    /// Returns an empty cache; scripts past `time_limit` may be killed.
    pub fn new(time_limit: Duration, memory: u64) -> Scripts {
        Scripts {
            engine: Mutex::new(None),
            running: Arc::new(Running {
                limit: time_limit,
                started: Mutex::new(None),
                busy: AtomicBool::new(false),
                kill: AtomicBool::new(false),
                wrote: AtomicBool::new(false),
                alone: AtomicBool::new(false),
                timed_out: AtomicBool::new(false),
            }),
            memory: usize::try_from(memory).unwrap_or(usize::MAX),
        }
    }

    /// Returns true while a script runs past `--lua-time-limit`: other commands get `-BUSY`.
    pub fn busy(&self) -> bool {
        self.running.busy.load(SeqCst)
    }

    /// Returns the engine once no script holds it; `None` (`-BUSY`) once the one running is
    /// past its time limit.
    fn engine_unless_busy(&self) -> Option<std::sync::MutexGuard<'_, Option<Engine>>> {
        let started = Instant::now();
        loop {
            let mut guard = match self.engine.try_lock() {
                Ok(guard) => guard,
                Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => {
                    if self.busy() {
                        return None;
                    }
                    let nap = || std::thread::sleep(Duration::from_micros(50));
                    if started.elapsed() >= crate::txn::HAND_OFF_AFTER {
                        crate::txn::blocking(nap);
                    } else {
                        nap();
                    }
                    continue;
                }
            };
            self.start_engine(&mut guard);
            return Some(guard);
        }
    }

    fn engine(&self) -> std::sync::MutexGuard<'_, Option<Engine>> {
        let mut engine = lock(&self.engine);
        self.start_engine(&mut engine);
        engine
    }

    /// Starts a Lua state where there is none (first use, after SCRIPT FLUSH).
    fn start_engine(&self, engine: &mut Option<Engine>) {
        if engine.is_none() {
            match lua::State::new(self.memory, self.running.clone()) {
                Ok(state) => {
                    *engine = Some(Engine {
                        state,
                        scripts: HashMap::new(),
                    })
                }
                Err(e) => tracing::error!(error = %e, "cannot start Lua"),
            }
        }
    }
}

/// Returns the lower-case hex SHA1 of `body`, as Redis names scripts.
pub fn sha1_hex(body: &[u8]) -> String {
    sha1_smol::Sha1::from(body).digest().to_string()
}

/// Where a router placed a script: its group, of how many. A key of another group is refused.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    /// The group this shard serves.
    pub group: usize,
    /// How many groups the topology has.
    pub groups: usize,
}

/// Runs EVAL* or SCRIPT for a client of this shard: the gate taken exclusive for EVAL.
pub fn execute(cmd: &Command, session: &mut Session, shard: &ShardState) -> Frame {
    if cmd.kind() == Kind::Script {
        return script(cmd, shard);
    }
    let keys: Vec<Bytes> = cmd.keys().cloned().collect();
    let started = Instant::now();
    let _gate = loop {
        let Some(gate) = shard.txn.exclusive_unless(|| shard.scripts.busy()) else {
            return Frame::error(text::BUSY);
        };
        match shard.txn.holder(0, &keys) {
            None => break gate,
            Some(holder) if started.elapsed() > crate::exec::multi::LOCK_WAIT => {
                return holder.reply();
            }
            Some(_) => drop(gate),
        }
        crate::txn::blocking(|| std::thread::sleep(Duration::from_millis(1)));
    };
    eval(cmd, session, shard, None)
}

/// Runs EVAL* or SCRIPT with the gate already held (inside EXEC; `placement` when a
/// router's transaction runs on one group of several).
pub(crate) fn execute_locked(
    cmd: &Command,
    session: &mut Session,
    shard: &ShardState,
    placement: Option<Placement>,
) -> Frame {
    match cmd.kind() {
        Kind::Script => script(cmd, shard),
        _ => eval(cmd, session, shard, placement),
    }
}

/// `TXN EVAL group groups EVAL|EVALSHA|... args`: a router's script, on its declared keys'
/// group; `-TXNLOCKED` when a cross-group transaction holds one of them.
pub(crate) fn execute_placed(cmd: &Command, shard: &ShardState, placement: Placement) -> Frame {
    let keys: Vec<Bytes> = cmd.keys().cloned().collect();
    let Some(_gate) = shard.txn.exclusive_unless(|| shard.scripts.busy()) else {
        return Frame::error(text::BUSY);
    };
    if let Some(holder) = shard.txn.holder(0, &keys) {
        return holder.reply();
    }
    let mut session = Session::new(0, &shard.server_config);
    session.authenticate();
    eval(cmd, &mut session, shard, Some(placement))
}

fn eval(
    cmd: &Command,
    session: &mut Session,
    shard: &ShardState,
    placement: Option<Placement>,
) -> Frame {
    let args = cmd.args();
    let numkeys = match parse_i64(&args[2]) {
        None => return Frame::error(text::NOT_INTEGER),
        Some(n) if n < 0 => return Frame::error(text::NUMKEYS_NEGATIVE),
        Some(n) if n as u64 > (args.len() - 3) as u64 => {
            return Frame::error(text::NUMKEYS_TOO_BIG)
        }
        Some(n) => n as usize,
    };
    let by_sha = matches!(cmd.kind(), Kind::EvalSha | Kind::EvalShaRo);
    let read_only = matches!(cmd.kind(), Kind::EvalRo | Kind::EvalShaRo);
    let mut guard = shard.scripts.engine();
    let Some(engine) = guard.as_mut() else {
        return Frame::error("ERR Lua is not available on this shard");
    };
    let sha = if by_sha {
        String::from_utf8_lossy(&args[1]).to_ascii_lowercase()
    } else {
        sha1_hex(&args[1])
    };
    let function = match engine.scripts.get(&sha) {
        Some(f) => f.clone(),
        None if by_sha => return Frame::error(text::NOSCRIPT),
        None => match compile(engine, &args[1]) {
            Ok((_, f)) => f,
            Err(e) => return e,
        },
    };
    let keys = &args[3..3 + numkeys];
    let argv = &args[3 + numkeys..];
    let run = Run {
        session,
        shard,
        placement,
        read_only,
        sha: &sha,
    };
    run.go(&engine.state, function, keys, argv)
}

/// Compiles `body` into the cache, returning its SHA1.
fn compile(engine: &mut Engine, body: &[u8]) -> Result<(String, Function), Frame> {
    let sha = sha1_hex(body);
    if let Some(f) = engine.scripts.get(&sha) {
        return Ok((sha, f.clone()));
    }
    let loaded = engine
        .state
        .lua
        .load(body)
        .set_name(lua::CHUNK)
        .into_function();
    match loaded {
        Ok(f) => {
            engine.scripts.insert(sha.clone(), f.clone());
            Ok((sha, f))
        }
        Err(e) => {
            let message = match &e {
                mlua::Error::SyntaxError { message, .. } => message.clone(),
                other => lua::rust_error_text(other),
            };
            Err(Frame::error_owned(format!(
                "ERR Error compiling script (new function): {message}"
            )))
        }
    }
}

/// One script run: what `redis.call` needs.
struct Run<'a> {
    session: &'a mut Session,
    shard: &'a ShardState,
    placement: Option<Placement>,
    read_only: bool,
    sha: &'a str,
}

impl Run<'_> {
    fn go(self, state: &lua::State, function: Function, keys: &[Bytes], argv: &[Bytes]) -> Frame {
        let lua = &state.lua;
        let globals = lua.globals();
        let set = |name: &str, items: &[Bytes]| -> mlua::Result<()> {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, lua.create_string(item)?)?;
            }
            globals.raw_set(name, t)
        };
        if let Err(e) = set("KEYS", keys).and_then(|()| set("ARGV", argv)) {
            return Frame::error_owned(format!("ERR {}", lua::rust_error_text(&e)));
        }
        let running = self.shard.scripts.running.clone();
        running.start();
        let sha = self.sha;
        let Run {
            session,
            shard,
            placement,
            read_only,
            ..
        } = self;
        let session = std::cell::RefCell::new(session);
        let run_call = |args: &MultiValue| {
            let mut session = session.borrow_mut();
            let (frame, failed) = call(&mut session, shard, placement, read_only, args);
            if !failed && frame_writes(args) {
                shard.scripts.running.wrote.store(true, SeqCst);
            }
            (frame, failed)
        };
        let run_call = &run_call;
        // The whole run in `blocking`: a script may run for seconds, and this worker's other
        // tasks (SCRIPT KILL among them) must not wait for it.
        let result = crate::txn::blocking(|| {
            lua.scope(|scope| {
                // redis.pcall: the error comes back as a table.
                let pcall = scope.create_function(move |lua, args: MultiValue| {
                    let (frame, failed) = run_call(&args);
                    Ok((lua::frame_to_lua(lua, frame)?, failed))
                })?;
                // redis.call: the error is raised, and the handler makes it `{err=...}`.
                let raise =
                    scope.create_function(move |lua, args: MultiValue| match run_call(&args) {
                        (Frame::Error(e), true) => Err(mlua::Error::RuntimeError(
                            String::from_utf8_lossy(&e).into_owned(),
                        )),
                        (frame, _) => lua::frame_to_lua(lua, frame),
                    })?;
                let redis: mlua::Table = globals.raw_get("redis")?;
                redis.raw_set("call", raise)?;
                state.jc.raw_set("call", pcall)?;
                let (ok, value): (bool, Value) =
                    state.xpcall.call((function, state.handler.clone()))?;
                Ok(if ok {
                    lua::lua_to_frame(&value)
                } else {
                    error_reply(&value, sha)
                })
            })
        });
        let killed = running.kill.load(SeqCst);
        let timed_out = running.timed_out.load(SeqCst);
        running.stop();
        let _ = state.jc.raw_set("call", Value::Nil);
        if let Ok(redis) = globals.raw_get::<mlua::Table>("redis") {
            let _ = redis.raw_set("call", Value::Nil);
        }
        match result {
            _ if timed_out => Frame::error_owned(format!(
                "ERR script stopped at --lua-time-limit: this process runs one thread, where SCRIPT KILL cannot reach it (its writes so far stay) script: {sha}, on {}:1.",
                lua::CHUNK
            )),
            _ if killed => Frame::error_owned(format!(
                "ERR {} script: {sha}, on {}:1.",
                lua::KILLED,
                lua::CHUNK
            )),
            Ok(frame) => frame,
            Err(e) => Frame::error_owned(format!("ERR {}", lua::rust_error_text(&e))),
        }
    }
}

/// True for a write command's name (the script can no longer be killed).
fn frame_writes(args: &MultiValue) -> bool {
    let Some(Value::String(name)) = args.iter().next() else {
        return false;
    };
    protocol::command::lookup(&name.as_bytes()).is_some_and(|s| s.flags.contains(Flags::WRITE))
}

/// A script's uncaught error: `err`, then where, as Redis 7.0 writes it.
fn error_reply(value: &Value, sha: &str) -> Frame {
    let t = match value {
        Value::Table(t) => t,
        // Lua 5.1 calls no handler for a memory error: its message comes as it is.
        Value::String(s) => {
            return Frame::error_owned(format!("ERR {} (--lua-memory-limit)", s.to_string_lossy()))
        }
        _ => return Frame::error("ERR unknown error running script"),
    };
    let err = match t.raw_get::<Value>("err") {
        Ok(Value::String(s)) => String::from_utf8_lossy(&s.as_bytes()).into_owned(),
        _ => "ERR unknown error".into(),
    };
    match (t.raw_get::<Value>("source"), t.raw_get::<Value>("line")) {
        (Ok(Value::String(source)), Ok(line)) => {
            let line = match line {
                Value::Integer(n) => n.to_string(),
                Value::Number(n) => (n as i64).to_string(),
                _ => "?".into(),
            };
            Frame::error_owned(format!(
                "{err} script: {sha}, on {}:{line}.",
                source.to_string_lossy()
            ))
        }
        _ => Frame::error_owned(err),
    }
}

/// `redis.call` / `redis.pcall`: the reply, and whether it is an error to raise.
fn call(
    session: &mut Session,
    shard: &ShardState,
    placement: Option<Placement>,
    read_only: bool,
    args: &MultiValue,
) -> (Frame, bool) {
    let fail = |t: &'static str| (Frame::error(t), true);
    if args.is_empty() {
        return fail("ERR Please specify at least one argument for this redis lib call");
    }
    let Some(parts) = lua::call_args(args) else {
        return fail("ERR Lua redis lib command arguments must be strings or integers");
    };
    let request = Request {
        args: parts,
        raw: Bytes::new(),
        inline: true,
    };
    let cmd = match Command::from_request(request) {
        Ok(cmd) => cmd,
        Err(protocol::error::CommandError::Unknown { .. }) => {
            return fail("ERR Unknown Redis command called from script")
        }
        Err(_) => return fail("ERR Wrong number of args calling Redis command from script"),
    };
    let flags = cmd.spec().flags;
    if flags.contains(Flags::NOSCRIPT) || cmd.kind() == Kind::TxnPhase {
        return fail("ERR This Redis command is not allowed from script");
    }
    if read_only && flags.contains(Flags::WRITE) {
        return fail("ERR Write commands are not allowed from read-only scripts.");
    }
    if let Some(p) = placement {
        if cmd
            .keys()
            .any(|k| protocol::ring::bucket(k, p.groups) != p.group)
        {
            return fail("ERR Script attempted to access a non local key in a cluster node");
        }
    }
    // The caller's rules apply to what the script runs, with Redis's script texts.
    if let Err(denied) = session.check(&cmd, &shard.server_config) {
        let context = serve::acl::log::Context::Lua;
        session.note_denied(&shard.server_config, &denied, context);
        return fail(match denied {
            serve::acl::Denied::Command(_) => {
                "ERR The user executing the script can't run this command or subcommand"
            }
            serve::acl::Denied::Key(_) => "ERR The user executing the script can't access at least one of the keys mentioned in the command arguments",
        });
    }
    let frame = crate::exec::multi::run_queued(&cmd, session, shard);
    let failed = frame.is_error();
    (frame, failed)
}

/// ```text
/// SCRIPT LOAD script | EXISTS sha1 [sha1 ...] | FLUSH [ASYNC|SYNC] | KILL | HELP
/// ```
fn script(cmd: &Command, shard: &ShardState) -> Frame {
    let args = cmd.args();
    let sub = args[1].to_ascii_uppercase();
    match &sub[..] {
        b"KILL" => {
            let running = &shard.scripts.running;
            if lock(&running.started).is_none() {
                Frame::error(text::NOTBUSY)
            } else if running.wrote.load(SeqCst) {
                Frame::error("UNKILLABLE Sorry the script already executed write commands against the dataset. You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command.")
            } else {
                running.kill.store(true, SeqCst);
                Frame::ok()
            }
        }
        b"LOAD" => {
            let Some(mut guard) = shard.scripts.engine_unless_busy() else {
                return Frame::error(text::BUSY);
            };
            let Some(engine) = guard.as_mut() else {
                return Frame::error("ERR Lua is not available on this shard");
            };
            match compile(engine, &args[2]) {
                Ok((sha, _)) => Frame::Bulk(Bytes::from(sha)),
                Err(e) => e,
            }
        }
        b"EXISTS" => {
            let Some(guard) = shard.scripts.engine_unless_busy() else {
                return Frame::error(text::BUSY);
            };
            let known = |sha: &Bytes| {
                let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
                guard.as_ref().is_some_and(|e| e.scripts.contains_key(&sha))
            };
            Frame::Array(
                args[2..]
                    .iter()
                    .map(|s| Frame::Integer(known(s) as i64))
                    .collect(),
            )
        }
        b"FLUSH" => {
            let mode_ok = match args.get(2) {
                None => args.len() == 2,
                Some(m) => {
                    args.len() == 3
                        && (m.eq_ignore_ascii_case(b"SYNC") || m.eq_ignore_ascii_case(b"ASYNC"))
                }
            };
            if !mode_ok {
                return Frame::error("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
            }
            // A new state frees the old one's memory at once.
            let Some(mut guard) = shard.scripts.engine_unless_busy() else {
                return Frame::error(text::BUSY);
            };
            *guard = None;
            Frame::ok()
        }
        _ => Frame::Array(
            [
                "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                "EXISTS <sha1> [<sha1> ...]",
                "    Return information about the existence of the scripts in the script cache.",
                "FLUSH [ASYNC|SYNC]",
                "    Flush the Lua scripts cache. Very dangerous on replicas.",
                "    When called without the optional mode argument, the behavior is determined by the",
                "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
                "    * ASYNC: Asynchronously flush the scripts cache.",
                "    * SYNC: Synchronously flush the scripts cache.",
                "KILL",
                "    Kill the currently executing Lua script.",
                "LOAD <script>",
                "    Load a script into the scripts cache without executing it.",
                "HELP",
                "    Prints this help.",
            ]
            .iter()
            .map(|l| Frame::simple(l))
            .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use crate::exec::strings::tests::shard;
    use bytes::Bytes;
    use protocol::{Command, Frame, Request};
    use serve::session::Session;

    fn eval(shard: &crate::state::ShardState, args: &[&str]) -> Frame {
        let request = Request {
            args: args
                .iter()
                .map(|a| Bytes::copy_from_slice(a.as_bytes()))
                .collect(),
            raw: Bytes::new(),
            inline: false,
        };
        let cmd = Command::from_request(request).unwrap();
        let mut session = Session::new(1, &shard.server_config);
        crate::handler::execute(&cmd, &mut session, shard)
    }

    #[test]
    fn runaway_replies_and_allocations_are_errors_not_crashes() {
        let config = crate::config::Config {
            lua_memory_limit: 4 << 20,
            ..crate::config::Config::default()
        };
        let s = crate::state::ShardState::new(config, 0);
        let selfish = eval(&s, &["EVAL", "local t = {} t[1] = t return t", "0"]);
        let mut depth = 0;
        let mut at = &selfish;
        while let Frame::Array(items) = at {
            depth += 1;
            at = &items[0];
        }
        assert_eq!(
            (depth, at),
            (256, &Frame::error("ERR reached lua stack limit"))
        );
        let hungry = eval(
            &s,
            &["EVAL", "local t = {} for i = 1, 1e8 do t[i] = i end", "0"],
        );
        assert!(
            matches!(&hungry, Frame::Error(e) if e.starts_with(b"ERR not enough memory")),
            "{hungry:?}"
        );
        // The state still works after running out.
        assert_eq!(eval(&s, &["EVAL", "return 1", "0"]), Frame::Integer(1));
        assert_eq!(
            eval(
                &s,
                &[
                    "TXN",
                    "PREPARE",
                    "1",
                    "0",
                    "99999999999999999",
                    "0",
                    "0",
                    "1",
                    "1",
                    "2",
                    "GET",
                    "k"
                ]
            ),
            Frame::ok()
        );
    }

    #[test]
    fn a_script_alone_in_its_process_is_stopped_at_the_time_limit() {
        let config = crate::config::Config {
            lua_time_limit_ms: 50,
            ..crate::config::Config::default()
        };
        let s = crate::state::ShardState::new(config, 0);
        let got = eval(&s, &["EVAL", "while true do end", "0"]);
        assert!(
            matches!(&got, Frame::Error(e) if e.starts_with(b"ERR script stopped at --lua-time-limit")),
            "{got:?}"
        );
        assert_eq!(eval(&s, &["EVAL", "return 2", "0"]), Frame::Integer(2));
    }

    #[test]
    fn a_failed_call_names_the_scripts_line() {
        let (s, _) = shard();
        let got = eval(
            &s,
            &["EVAL", "local x = 1\nreturn redis.call('nosuch')", "0"],
        );
        assert_eq!(
            got,
            Frame::error_owned(format!(
                "ERR Unknown Redis command called from script script: {}, on @user_script:2.",
                super::sha1_hex(b"local x = 1\nreturn redis.call('nosuch')")
            ))
        );
    }
}
