//! The shard's Lua 5.1 state: the `redis` library, read-only globals, and the conversions
//! between Lua values and replies, as Redis 7.0's `script_lua.c` does them.

use bytes::Bytes;
use mlua::{Function, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, VmState};
use protocol::Frame;

use super::Running;

/// The chunk name Redis gives scripts: errors read `user_script:LINE: ...`.
pub(super) const CHUNK: &str = "@user_script";

/// Sets up the `redis` table; `jc.call` and `redis.call` are set for each run (they borrow
/// the shard). `redis.call` is a Rust function, not a Lua wrapper: a Lua function called in
/// tail position (`return redis.call(...)`) would take the script's frame, and the line its
/// error names, with it.
const BOOTSTRAP: &str = r#"
local jc = ...
redis = {}
function redis.pcall(...)
  local r = jc.call(...)
  return r
end
function redis.error_reply(m)
  if type(m) ~= 'string' then
    error({err='ERR wrong number or type of arguments', source=false})
  end
  return {err=m}
end
function redis.status_reply(m)
  if type(m) ~= 'string' then
    error({err='ERR wrong number or type of arguments', source=false})
  end
  return {ok=m}
end
function redis.sha1hex(s)
  if type(s) ~= 'string' and type(s) ~= 'number' then
    error({err='ERR wrong number of arguments', source=false})
  end
  return jc.sha1hex(tostring(s))
end
function redis.log() end
redis.LOG_DEBUG = 0
redis.LOG_VERBOSE = 1
redis.LOG_NOTICE = 2
redis.LOG_WARNING = 3
function redis.setresp(v)
  if v ~= 2 then error({err='ERR RESP version must be 2 (jumpcache scripts speak RESP2)', source=false}) end
end
loadfile = nil
dofile = nil
"#;

/// Makes globals read-only, as Redis does after loading its libraries.
const PROTECT: &str = r#"
setmetatable(_G, {
  __newindex = function(t, n, v) error('Attempt to modify a readonly table', 2) end,
  __index = function(t, n)
    error("Script attempted to access nonexistent global variable '" .. tostring(n) .. "'", 2)
  end,
})
"#;

/// A Lua state with its `redis` library, and the pieces each run needs.
pub(super) struct State {
    pub(super) lua: Lua,
    /// The table the `redis` functions call into: `jc.call` is set per run.
    pub(super) jc: Table,
    /// `xpcall`, with the error handler that adds the script's line to errors.
    pub(super) xpcall: Function,
    pub(super) handler: Function,
}

impl State {
    /// Returns a fresh state bounded to `memory` bytes, its hook watching `running`.
    pub(super) fn new(memory: usize, running: std::sync::Arc<Running>) -> mlua::Result<State> {
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH;
        let lua = Lua::new_with(libs, LuaOptions::default())?;
        let jc = lua.create_table()?;
        jc.raw_set(
            "sha1hex",
            lua.create_function(|_, s: mlua::String| Ok(super::sha1_hex(&s.as_bytes())))?,
        )?;
        lua.load(BOOTSTRAP)
            .set_name("=bootstrap")
            .call::<()>(jc.clone())?;
        let handler = lua.create_function(error_handler)?;
        let xpcall: Function = lua.globals().raw_get("xpcall")?;
        lua.load(PROTECT).set_name("=protect").exec()?;
        lua.set_memory_limit(memory)?;
        lua.set_hook(
            HookTriggers::new().every_nth_instruction(10_000),
            move |_, _| {
                if running.check() {
                    Err(mlua::Error::runtime(KILLED))
                } else {
                    Ok(VmState::Continue)
                }
            },
        );
        Ok(State {
            lua,
            jc,
            xpcall,
            handler,
        })
    }
}

/// The error a killed script stops with.
pub(super) const KILLED: &str = "Script killed by user with SCRIPT KILL...";

/// The line of the innermost frame of the user's script.
pub(super) fn script_line(lua: &Lua) -> Option<i32> {
    (0..64)
        .map_while(|level| lua.inspect_stack(level))
        .find(|d| d.source().source.as_deref() == Some(CHUNK))
        .map(|d| d.curr_line())
}

/// xpcall's handler: errors become `{err=..., source=..., line=...}` as Redis 7.0's
/// `__redis__err__handler` makes them.
fn error_handler(lua: &Lua, err: Value) -> mlua::Result<Table> {
    let table = match err {
        Value::Table(t) => t,
        Value::String(s) => {
            let t = lua.create_table()?;
            let mut msg = b"ERR ".to_vec();
            msg.extend_from_slice(&s.as_bytes());
            t.raw_set("err", lua.create_string(&msg)?)?;
            t
        }
        other => {
            let t = lua.create_table()?;
            let text = match &other {
                // redis.call's error reply, as it came: `ERR ...`, `WRONGTYPE ...`.
                Value::Error(e) => rust_error_text(e),
                v => format!("ERR {v:?}"),
            };
            t.raw_set("err", text)?;
            t
        }
    };
    if table.raw_get::<Value>("source")? == Value::Nil {
        if let Some(line) = script_line(lua) {
            table.raw_set("source", CHUNK)?;
            table.raw_set("line", line)?;
        }
    }
    Ok(table)
}

/// The message of an error raised in Rust (the hook, a conversion), without mlua's wrapping.
pub(super) fn rust_error_text(e: &mlua::Error) -> String {
    match e {
        mlua::Error::RuntimeError(m) => m.clone(),
        mlua::Error::MemoryError(_) => "not enough memory".into(),
        mlua::Error::CallbackError { cause, .. } => rust_error_text(cause),
        other => other.to_string(),
    }
}

/// Converts a reply to a Lua value, as Redis's `redisProtocolToLuaType` (RESP2).
pub(super) fn frame_to_lua(lua: &Lua, frame: Frame) -> mlua::Result<Value> {
    Ok(match frame {
        Frame::Integer(n) => Value::Number(n as f64),
        Frame::Bulk(b) | Frame::Verbatim(b) => Value::String(lua.create_string(&b)?),
        Frame::Null | Frame::NullArray => Value::Boolean(false),
        Frame::Simple(s) => {
            let t = lua.create_table()?;
            t.raw_set("ok", lua.create_string(&s)?)?;
            Value::Table(t)
        }
        Frame::Error(e) => {
            let t = lua.create_table()?;
            t.raw_set("err", lua.create_string(&e)?)?;
            Value::Table(t)
        }
        // Push and Sequence come from pub/sub commands, which scripts may not run.
        Frame::Array(items) | Frame::Set(items) | Frame::Push(items) | Frame::Sequence(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.into_iter().enumerate() {
                t.raw_set(i + 1, frame_to_lua(lua, item)?)?;
            }
            Value::Table(t)
        }
        Frame::Map(pairs) => {
            let t = lua.create_table_with_capacity(pairs.len() * 2, 0)?;
            for (i, (k, v)) in pairs.into_iter().enumerate() {
                t.raw_set(2 * i + 1, frame_to_lua(lua, k)?)?;
                t.raw_set(2 * i + 2, frame_to_lua(lua, v)?)?;
            }
            Value::Table(t)
        }
        Frame::Double(d) => Value::String(lua.create_string(d.to_string())?),
        Frame::Boolean(b) => Value::Number(if b { 1.0 } else { 0.0 }),
    })
}

/// How deep a script's reply may nest: deeper (or a table that holds itself) is an error,
/// never a stack overflow.
const MAX_DEPTH: usize = 256;

/// Converts a script's value to a reply, as Redis's `luaReplyToRedisReply` (RESP2).
pub(super) fn lua_to_frame(value: &Value) -> Frame {
    to_frame(value, 0)
}

fn to_frame(value: &Value, depth: usize) -> Frame {
    match value {
        Value::Nil => Frame::Null,
        Value::Boolean(true) => Frame::Integer(1),
        Value::Boolean(false) => Frame::Null,
        Value::Integer(n) => Frame::Integer(*n),
        Value::Number(n) => Frame::Integer(number_to_i64(*n)),
        Value::String(s) => Frame::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Table(_) if depth >= MAX_DEPTH => Frame::error("ERR reached lua stack limit"),
        Value::Table(t) => table_to_frame(t, depth),
        _ => Frame::Null,
    }
}

/// C's `(long long)` cast on x86-64: out of range and NaN become i64::MIN.
fn number_to_i64(n: f64) -> i64 {
    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

fn table_to_frame(t: &Table, depth: usize) -> Frame {
    if let Ok(Value::String(e)) = t.raw_get::<Value>("err") {
        return Frame::Error(Bytes::copy_from_slice(&e.as_bytes()));
    }
    if let Ok(Value::String(s)) = t.raw_get::<Value>("ok") {
        return Frame::Simple(Bytes::copy_from_slice(&s.as_bytes()));
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i) {
            Ok(Value::Nil) | Err(_) => break,
            Ok(v) => items.push(to_frame(&v, depth + 1)),
        }
    }
    Frame::Array(items)
}

/// Converts redis.call's arguments: strings and numbers (formatted as Lua does), nothing else.
pub(super) fn call_args(args: &mlua::MultiValue) -> Option<Vec<Bytes>> {
    args.iter()
        .map(|v| match v {
            Value::String(s) => Some(Bytes::copy_from_slice(&s.as_bytes())),
            Value::Integer(n) => Some(Bytes::from(n.to_string())),
            Value::Number(n) => Some(Bytes::from(format_number(*n))),
            _ => None,
        })
        .collect()
}

/// Lua 5.1's `%.14g`.
fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        return format!("{}", n as i64);
    }
    let s = format!("{n:.13e}");
    // Shortest form that round-trips at 14 significant digits.
    let v: f64 = s.parse().unwrap_or(n);
    let plain = format!("{v}");
    if plain.len() <= 20 {
        plain
    } else {
        s
    }
}
