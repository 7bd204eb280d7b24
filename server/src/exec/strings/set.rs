//! SET and its relatives that take TTL options: SET, SETEX, PSETEX, GETEX.
//!
//! Options are parsed as Redis 7.0's `parseExtendedStringArgumentsOrReply` does: the same
//! option may repeat (the last value wins), conflicting ones are a syntax error, and the
//! expire value is checked only after every option parsed.

use bytes::Bytes;
use protocol::command::{parse_i64, Args};
use protocol::{CommandError, Frame};

use crate::store::{Store, Update, Value};

/// Which TTL option was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TtlKind {
    Ex,
    Px,
    ExAt,
    PxAt,
}

impl TtlKind {
    fn from_name(name: &[u8]) -> Option<TtlKind> {
        [
            (&b"EX"[..], TtlKind::Ex),
            (b"PX", TtlKind::Px),
            (b"EXAT", TtlKind::ExAt),
            (b"PXAT", TtlKind::PxAt),
        ]
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, k)| k)
    }

    fn is_absolute(self) -> bool {
        matches!(self, TtlKind::ExAt | TtlKind::PxAt)
    }
}

/// Whether options are parsed for SET or for GETEX (which allows only TTLs and PERSIST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Set,
    GetEx,
}

/// The options of SET / GETEX, before the expire value is checked.
#[derive(Debug, Default)]
struct Options<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    keep_ttl: bool,
    persist: bool,
    ttl: Option<(TtlKind, &'a Bytes)>,
}

fn parse_options<'a>(mut args: Args<'a>, mode: Mode) -> Result<Options<'a>, CommandError> {
    let mut o = Options::default();
    let set = mode == Mode::Set;
    while let Some(opt) = args.try_next() {
        let is = |name: &str| opt.eq_ignore_ascii_case(name.as_bytes());
        let kind = TtlKind::from_name(opt);
        if is("NX") && !o.xx && set {
            o.nx = true;
        } else if is("XX") && !o.nx && set {
            o.xx = true;
        } else if is("GET") && set {
            o.get = true;
        } else if is("KEEPTTL") && !o.persist && o.ttl.is_none() && set {
            o.keep_ttl = true;
        } else if is("PERSIST") && !set && o.ttl.is_none() && !o.keep_ttl {
            o.persist = true;
        } else if let Some(kind) = kind.filter(|&k| {
            !o.keep_ttl
                && !o.persist
                && !matches!(o.ttl, Some((prev, _)) if prev != k)
                && args.remaining() > 0
        }) {
            o.ttl = Some((kind, args.next_bytes()?));
        } else {
            return Err(CommandError::Syntax);
        }
    }
    Ok(o)
}

/// Returns Redis's `invalid expire time in '<command>' command` error.
fn invalid_expire(command: &'static str) -> Frame {
    CommandError::InvalidExpireTime { command }.to_frame()
}

/// Turns an EX/PX/EXAT/PXAT argument into a Unix-ms deadline, as Redis's
/// `getExpireMillisecondsOrReply`: positive, no overflow in the unit change or the addition.
fn deadline_ms(
    kind: TtlKind,
    arg: &[u8],
    now_ms: u64,
    command: &'static str,
) -> Result<u64, Frame> {
    let n = parse_i64(arg).ok_or_else(|| CommandError::NotInteger.to_frame())?;
    let seconds = matches!(kind, TtlKind::Ex | TtlKind::ExAt);
    if n <= 0 || (seconds && n > i64::MAX / 1000) {
        return Err(invalid_expire(command));
    }
    let ms = if seconds { n * 1000 } else { n };
    let ms = if kind.is_absolute() {
        ms
    } else {
        ms.checked_add(i64::try_from(now_ms).unwrap_or(i64::MAX))
            .ok_or_else(|| invalid_expire(command))?
    };
    // ms > 0 here, so the conversion cannot fail.
    Ok(u64::try_from(ms).unwrap_or(0))
}

/// SET: stores a string, with Redis 7.0's options.
///
/// ```text
/// SET key value [NX | XX] [GET] [EX seconds | PX milliseconds |
///     EXAT unix-time-seconds | PXAT unix-time-milliseconds | KEEPTTL]
/// ```
/// Replies `OK`, or nil when NX/XX stopped it; with GET, the old value (or nil) either way.
pub(in crate::exec) fn set(cmd: &protocol::Command, store: &Store) -> Frame {
    let args = cmd.args();
    let opts = match parse_options(Args::new(&args[3..]), Mode::Set) {
        Ok(o) => o,
        Err(e) => return e.to_frame(),
    };
    let now = store.now_ms();
    let deadline = match opts.ttl {
        Some((kind, arg)) => match deadline_ms(kind, arg, now, "set") {
            Ok(d) => Some(d),
            Err(reply) => return reply,
        },
        None => None,
    };
    let data = args[2].clone();
    if !(opts.nx || opts.xx || opts.get || opts.keep_ttl) {
        // The common SET: a blind write needs no read of the old value.
        let value = Value {
            data,
            deadline_ms: deadline.unwrap_or(0),
        };
        return super::or_oom(store.set(&args[1], value).map(|()| Frame::ok()));
    }
    // Without GET, the old value is not read: a key of any type is replaced (as Redis).
    let update = if opts.get {
        Store::update
    } else {
        Store::update_any
    };
    let result = update(store, &args[1], |current: Option<&Value>| {
        let old = || Frame::bulk_or_null(current.map(|v| v.data.clone()));
        if (opts.nx && current.is_some()) || (opts.xx && current.is_none()) {
            return (Update::Keep, if opts.get { old() } else { Frame::Null });
        }
        let deadline_ms = match deadline {
            Some(d) => d,
            None if opts.keep_ttl => current.map_or(0, |v| v.deadline_ms),
            None => 0,
        };
        let reply = if opts.get { old() } else { Frame::ok() };
        (Update::Put(Value { data, deadline_ms }), reply)
    });
    super::or_oom(result)
}

/// SETEX / PSETEX: SET with a relative TTL in seconds or milliseconds.
///
/// ```text
/// SETEX key seconds value
/// PSETEX key milliseconds value
/// ```
pub(in crate::exec) fn set_ex(cmd: &protocol::Command, store: &Store, millis: bool) -> Frame {
    let args = cmd.args();
    let (kind, name) = if millis {
        (TtlKind::Px, "psetex")
    } else {
        (TtlKind::Ex, "setex")
    };
    let deadline_ms = match deadline_ms(kind, &args[2], store.now_ms(), name) {
        Ok(d) => d,
        Err(reply) => return reply,
    };
    let data = args[3].clone();
    let result = store.set(&args[1], Value { data, deadline_ms });
    super::or_oom(result.map(|()| Frame::ok()))
}

/// GETEX: returns a value and changes or removes its TTL.
///
/// ```text
/// GETEX key [EX seconds | PX milliseconds | EXAT unix-time-seconds |
///     PXAT unix-time-milliseconds | PERSIST]
/// ```
/// A missing key replies nil before the expire value is checked, as Redis does; an
/// EXAT/PXAT already past deletes the key after replying its value.
pub(in crate::exec) fn get_ex(cmd: &protocol::Command, store: &Store) -> Frame {
    let args = cmd.args();
    let opts = match parse_options(Args::new(&args[2..]), Mode::GetEx) {
        Ok(o) => o,
        Err(e) => return e.to_frame(),
    };
    let now = store.now_ms();
    let result = store.update(&args[1], |current| {
        let Some(current) = current else {
            return (Update::Keep, Frame::Null);
        };
        let deadline = match opts.ttl {
            Some((kind, arg)) => match deadline_ms(kind, arg, now, "getex") {
                Ok(d) => Some((kind, d)),
                Err(reply) => return (Update::Keep, reply),
            },
            None => None,
        };
        let with_deadline = |deadline_ms| {
            Update::Put(Value {
                data: current.data.clone(),
                deadline_ms,
            })
        };
        let update = match deadline {
            Some((kind, d)) if kind.is_absolute() && d <= now => Update::Remove,
            Some((_, d)) => with_deadline(d),
            None if opts.persist && current.deadline_ms != 0 => with_deadline(0),
            None => Update::Keep,
        };
        (update, Frame::Bulk(current.data.clone()))
    });
    super::or_oom(result)
}
