//! The commands operators type that any jumpcache process answers by itself: SLOWLOG,
//! LATENCY, WAIT, CONFIG SET and CONFIG RESETSTAT, CLIENT LIST and CLIENT KILL, with Redis 7's replies and error texts.

use std::sync::Arc;

use bytes::Bytes;
use protocol::command::{parse_i64, Command};
use protocol::error::CommandError;
use protocol::frame::Frame;

use crate::registry::{ClientInfo, ClientRegistry};
use crate::session::ServerConfig;

/// What every setting `CONFIG SET` knows: Redis's name.
const SETTABLE: [&str; 9] = [
    "tracking-table-max-keys",
    "latency-monitor-threshold",
    "slowlog-log-slower-than",
    "slowlog-max-len",
    "maxmemory",
    "maxmemory-policy",
    "timeout",
    "maxclients",
    "requirepass",
];

/// SLOWLOG: the slow commands of this process.
///
/// ```text
/// SLOWLOG GET [count] | SLOWLOG LEN | SLOWLOG RESET | SLOWLOG HELP
/// ```
pub(crate) fn slowlog(cmd: &Command, config: &ServerConfig) -> Result<Frame, CommandError> {
    let args = cmd.args();
    match &args[1].to_ascii_uppercase()[..] {
        b"GET" => {
            let count = match args.get(2) {
                None => Some(10),
                Some(n) => match parse_i64(n) {
                    Some(-1) => None,
                    Some(n) if n >= 0 => Some(n as usize),
                    _ => {
                        return Err(CommandError::Static(
                            "ERR count should be greater than or equal to -1",
                        ))
                    }
                },
            };
            if args.len() > 3 {
                return Err(CommandError::Message(format!(
                    "ERR unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
                    String::from_utf8_lossy(&args[1])
                )));
            }
            Ok(config.slowlog.get(count))
        }
        b"LEN" => Ok(Frame::Integer(config.slowlog.len() as i64)),
        b"RESET" => {
            config.slowlog.reset();
            Ok(Frame::ok())
        }
        _ => Ok(help(&[
            "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
            "HELP",
            "    Prints this help.",
        ])),
    }
}

/// LATENCY: the `command` and `fast-command` events of this process, kept once
/// `latency-monitor-threshold` is set (0 by default, as in Redis: empty replies).
///
/// ```text
/// LATENCY LATEST | LATENCY HISTORY event | LATENCY RESET [event ...] | LATENCY HELP
/// ```
pub(crate) fn latency(cmd: &Command, config: &ServerConfig) -> Frame {
    let args = cmd.args();
    match &args[1].to_ascii_uppercase()[..] {
        b"LATEST" => config.latency.latest(),
        b"HISTORY" => config.latency.history(&args[2]),
        b"RESET" => Frame::Integer(config.latency.reset(&args[2..]) as i64),
        _ => help(&[
            "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
            "HELP",
            "    Prints this help.",
        ]),
    }
}

/// WAIT: how many replicas acknowledged this client's writes. A process answering by itself
/// has none: 0 at once, as Redis without replicas answers.
///
/// ```text
/// WAIT numreplicas timeout
/// ```
pub(crate) fn wait(cmd: &Command) -> Result<Frame, CommandError> {
    check_wait(cmd).map(|()| Frame::Integer(0))
}

/// Checks WAIT's arguments as Redis does. A router, whose groups may have replicas, answers
/// a valid WAIT with the acknowledgements of the client's last write.
///
/// # Errors
/// Redis's reply for a bad count or timeout.
pub fn check_wait(cmd: &Command) -> Result<(), CommandError> {
    let args = cmd.args();
    parse_i64(&args[1]).ok_or(CommandError::NotInteger)?;
    match parse_i64(&args[2]) {
        None => Err(CommandError::Static(
            "ERR timeout is not an integer or out of range",
        )),
        Some(t) if t < 0 => Err(CommandError::Static("ERR timeout is negative")),
        Some(_) => Ok(()),
    }
}

/// CONFIG SET: checks every pair as Redis does (known name, no duplicate, a valid value), then
/// applies them all or none.
///
/// ```text
/// CONFIG SET parameter value [parameter value ...]
/// ```
/// The slowlog's two settings, `timeout` and `maxclients` apply to this process;
/// `maxmemory` and `maxmemory-policy` to a shard's store (a router sends them to its shards,
/// `router::path::config`). jumpcache's store needs a bound above 0 and evicts by
/// `allkeys-lru` or `allkeys-lfu` only: Redis's other values are refused.
pub(crate) fn config_set(cmd: &Command, config: &ServerConfig) -> Result<Frame, CommandError> {
    let changes = check_config_set(cmd, config.store.is_some())?;
    for (name, value, text) in changes {
        apply(name, value, text, config);
    }
    Ok(Frame::ok())
}

/// One checked CONFIG SET pair: Redis's name, the value as a number (0 for the policy), the
/// value as sent.
pub type Change<'a> = (&'static str, i64, &'a [u8]);

/// Returns the true when `name` is a shard's store setting (`maxmemory`, `maxmemory-policy`),
/// which a router sends to its shards.
pub fn is_store_setting(name: &str) -> bool {
    name == "maxmemory" || name == "maxmemory-policy"
}

/// Checks a CONFIG SET as Redis does (pairs, known names, no duplicate, valid values) and as
/// jumpcache can apply it (`with_store`: the store's two settings are accepted), without
/// applying anything. A router calls it before it sends the store's settings to its shards.
///
/// # Errors
/// Redis's reply for the first bad pair.
pub fn check_config_set(cmd: &Command, with_store: bool) -> Result<Vec<Change<'_>>, CommandError> {
    let args = &cmd.args()[2..];
    if !args.len().is_multiple_of(2) {
        return Err(CommandError::Syntax);
    }
    let mut changes: Vec<Change<'_>> = Vec::new();
    for pair in args.chunks(2) {
        let lower = pair[0].to_ascii_lowercase();
        let Some(&name) = SETTABLE.iter().find(|n| n.as_bytes() == &lower[..]) else {
            return Err(CommandError::Message(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                String::from_utf8_lossy(&pair[0])
            )));
        };
        let failed = |why: String| {
            CommandError::Message(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
            ))
        };
        if changes.iter().any(|(n, _, _)| *n == name) {
            return Err(failed("duplicate parameter".into()));
        }
        let value = check_value(name, &pair[1]).map_err(failed)?;
        check_supported(name, value, &pair[1], with_store).map_err(failed)?;
        changes.push((name, value, &pair[1]));
    }
    Ok(changes)
}

/// Refuses what is a valid Redis value but not one this process can apply.
fn check_supported(name: &str, value: i64, text: &[u8], with_store: bool) -> Result<(), String> {
    match name {
        "maxmemory" | "maxmemory-policy" if !with_store => Err("not changeable here".into()),
        "maxmemory" if value == 0 => Err("jumpcache needs a memory bound above 0".into()),
        "maxmemory-policy" => {
            let lower = text.to_ascii_lowercase();
            if lower == b"allkeys-lru" || lower == b"allkeys-lfu" {
                Ok(())
            } else {
                Err("jumpcache evicts by allkeys-lru or allkeys-lfu only".into())
            }
        }
        _ => Ok(()),
    }
}

/// Applies one checked setting.
fn apply(name: &str, value: i64, text: &[u8], config: &ServerConfig) {
    use std::sync::atomic::Ordering::Relaxed;
    match name {
        "slowlog-log-slower-than" => config.slowlog.set_slower_than_us(value),
        "slowlog-max-len" => config.slowlog.set_max_len(value as usize),
        "latency-monitor-threshold" => config.latency.set_threshold_ms(value as u64),
        "timeout" => config.timeout_seconds.store(value as u64, Relaxed),
        "tracking-table-max-keys" => config.tracking.set_max_keys(value as u64),
        "maxclients" => {
            if let Some(slots) = &config.slots {
                slots.set_max(value as u64);
            }
        }
        // Redis's `ACLUpdateDefaultUserPassword`: the default user's one password, or none.
        "requirepass" => {
            let password = match text {
                [] => bytes::Bytes::from_static(b"nopass"),
                pw => bytes::Bytes::from([&b">"[..], pw].concat()),
            };
            let rules = [bytes::Bytes::from_static(b"resetpass"), password];
            let _ = config.acl.set_user(b"default", &rules);
        }
        "maxmemory" => {
            if let Some(store) = &config.store {
                store.set_max_memory(value as u64);
                config.maxmemory.set(value as u64);
            }
        }
        _ => {
            if let Some(store) = &config.store {
                let policy = String::from_utf8_lossy(text).to_ascii_lowercase();
                store.set_lfu(policy == "allkeys-lfu");
                config.maxmemory_policy.set(policy);
            }
        }
    }
}

/// Returns `value` as a number within the setting's range, or Redis's reason it is not.
fn check_value(name: &str, value: &[u8]) -> Result<i64, String> {
    let range = |lo: i64, hi: i64| match parse_i64(value) {
        None => Err("argument couldn't be parsed into an integer".to_string()),
        Some(n) if (lo..=hi).contains(&n) => Ok(n),
        Some(_) => Err(format!("argument must be between {lo} and {hi} inclusive")),
    };
    match name {
        "slowlog-log-slower-than" => range(-1, i64::MAX),
        "latency-monitor-threshold" => range(0, i64::MAX),
        "slowlog-max-len" => range(0, i64::MAX),
        "timeout" => range(0, i32::MAX as i64),
        "maxclients" => range(1, u32::MAX as i64),
        "tracking-table-max-keys" => range(0, i64::MAX),
        "maxmemory" => crate::units::parse_memory(&String::from_utf8_lossy(value))
            .map(|n| n as i64)
            .map_err(|_| "argument must be a memory value".to_string()),
        "requirepass" => Ok(0),
        _ => {
            const POLICIES: [&str; 8] = [
                "volatile-lru",
                "volatile-lfu",
                "volatile-random",
                "volatile-ttl",
                "allkeys-lru",
                "allkeys-lfu",
                "allkeys-random",
                "noeviction",
            ];
            let lower = value.to_ascii_lowercase();
            if POLICIES.iter().any(|p| p.as_bytes() == &lower[..]) {
                Ok(0)
            } else {
                Err(format!(
                    "argument(s) must be one of the following: {}",
                    POLICIES.join(", ")
                ))
            }
        }
    }
}

fn help(lines: &[&'static str]) -> Frame {
    Frame::Array(lines.iter().map(|l| Frame::simple(l)).collect())
}

/// CLIENT LIST: one line per connected client, by id.
///
/// ```text
/// CLIENT LIST [TYPE NORMAL|MASTER|REPLICA|PUBSUB] [ID client-id [client-id ...]]
/// ```
/// Every client is `normal`: the other types list none.
pub(crate) fn client_list(
    args: &[Bytes],
    registry: &ClientRegistry,
) -> Result<Frame, CommandError> {
    let clients = registry.list();
    let picked: Vec<_> = match args.get(2) {
        None => clients,
        Some(opt) if opt.eq_ignore_ascii_case(b"TYPE") && args.len() == 4 => {
            if client_type_is_normal(&args[3])? {
                clients
            } else {
                Vec::new()
            }
        }
        Some(opt) if opt.eq_ignore_ascii_case(b"ID") && args.len() >= 4 => {
            let mut ids = Vec::with_capacity(args.len() - 3);
            for id in &args[3..] {
                // Any integer, as Redis takes it; none matches an id below 1.
                match parse_i64(id) {
                    Some(id) => ids.push(id.max(0) as u64),
                    None => return Err(CommandError::Static("ERR Invalid client ID")),
                }
            }
            clients
                .into_iter()
                .filter(|c| ids.contains(&c.id()))
                .collect()
        }
        Some(_) => return Err(CommandError::Syntax),
    };
    let mut text = String::new();
    for client in picked {
        text.push_str(&client.line());
        text.push('\n');
    }
    Ok(Frame::Verbatim(text.into()))
}

/// Returns true for `normal`, false for Redis's other client types, Redis's error otherwise.
fn client_type_is_normal(name: &[u8]) -> Result<bool, CommandError> {
    let lower = name.to_ascii_lowercase();
    match &lower[..] {
        b"normal" => Ok(true),
        b"master" | b"replica" | b"slave" | b"pubsub" => Ok(false),
        _ => Err(CommandError::Message(format!(
            "ERR Unknown client type '{}'",
            String::from_utf8_lossy(name)
        ))),
    }
}

/// CLIENT KILL: closes other connections of this process (after the reply they are writing).
///
/// ```text
/// CLIENT KILL ip:port
/// CLIENT KILL [ID id] [ADDR ip:port] [LADDR ip:port] [TYPE type] [USER name] [SKIPME yes|no]
/// ```
/// The old form replies OK or `No such client`; the new one the number killed. A client that
/// kills itself (`SKIPME no`) gets the reply, then is closed.
pub(crate) fn client_kill(
    args: &[Bytes],
    me: Option<&Arc<ClientInfo>>,
    registry: &ClientRegistry,
) -> Result<Frame, CommandError> {
    if args.len() == 3 {
        let target = registry
            .list()
            .into_iter()
            .find(|c| c.addr().as_bytes() == &args[2][..]);
        return match target {
            Some(client) => {
                client.kill();
                Ok(Frame::ok())
            }
            None => Err(CommandError::Static("ERR No such client")),
        };
    }
    if !args.len().is_multiple_of(2) {
        return Err(CommandError::Syntax);
    }
    let mut id = None;
    let mut addr = None;
    let mut laddr = None;
    let mut normal = true;
    let mut skip_me = true;
    for pair in args[2..].chunks(2) {
        let (opt, value) = (pair[0].to_ascii_uppercase(), &pair[1]);
        match &opt[..] {
            b"ID" => match parse_i64(value) {
                Some(n) if n > 0 => id = Some(n as u64),
                _ => {
                    return Err(CommandError::Static(
                        "ERR client-id should be greater than 0",
                    ))
                }
            },
            b"ADDR" => addr = Some(value),
            b"LADDR" => laddr = Some(value),
            b"TYPE" => normal &= client_type_is_normal(value)?,
            b"USER" if value[..] != b"default"[..] => {
                return Err(CommandError::Message(format!(
                    "ERR No such user '{}'",
                    String::from_utf8_lossy(value)
                )))
            }
            b"USER" => {}
            b"SKIPME" if value.eq_ignore_ascii_case(b"yes") => skip_me = true,
            b"SKIPME" if value.eq_ignore_ascii_case(b"no") => skip_me = false,
            _ => return Err(CommandError::Syntax),
        }
    }
    let mut killed = 0;
    for client in registry.list() {
        let matches = normal
            && id.is_none_or(|id| client.id() == id)
            && addr.is_none_or(|a| client.addr().as_bytes() == &a[..])
            && laddr.is_none_or(|a| client.laddr().as_bytes() == &a[..])
            && !(skip_me && me.is_some_and(|m| m.id() == client.id()));
        if matches {
            client.kill();
            killed += 1;
        }
    }
    Ok(Frame::Integer(killed))
}
