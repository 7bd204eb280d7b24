//! The command table: one row per command, read by the shard, the router and the docs.

/// Which command a row is; `server::exec` and `router::plan` match on it exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)] // one variant per Redis command, named as Redis names it
pub enum Kind {
    Ping,
    Echo,
    Quit,
    Hello,
    Auth,
    Client,
    Select,
    Command,
    Config,
    Info,
    DbSize,
    FlushDb,
    FlushAll,
    Time,
    Get,
    Set,
    SetNx,
    SetEx,
    PSetEx,
    GetSet,
    GetDel,
    GetEx,
    MGet,
    MSet,
    MSetNx,
    Del,
    Unlink,
    Exists,
    Touch,
    Incr,
    Decr,
    IncrBy,
    DecrBy,
    IncrByFloat,
    Append,
    StrLen,
    GetRange,
    SetRange,
    Expire,
    PExpire,
    ExpireAt,
    PExpireAt,
    Persist,
    Ttl,
    PTtl,
    ExpireTime,
    PExpireTime,
    Type,
    Keys,
    Scan,
    RandomKey,
}

/// Where a command's keys are, as Redis's first-key/last-key/step triple says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    /// No keys.
    None,
    /// One key, at argument 1.
    First,
    /// Every argument from this index on is a key (`MGET`, `DEL`).
    AllFrom(usize),
    /// Key/value pairs from this index on (`MSET`).
    Pairs(usize),
}

impl KeySpec {
    /// Returns Redis's `(first_key, last_key, step)` for `COMMAND INFO`.
    pub fn triple(self) -> (i64, i64, i64) {
        match self {
            KeySpec::None => (0, 0, 0),
            KeySpec::First => (1, 1, 1),
            KeySpec::AllFrom(i) => (i as i64, -1, 1),
            KeySpec::Pairs(i) => (i as i64, -1, 2),
        }
    }
}

/// Command flags, as `COMMAND INFO` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags(u16);

impl Flags {
    /// Changes data.
    pub const WRITE: Flags = Flags(1);
    /// Only reads data.
    pub const READONLY: Flags = Flags(1 << 1);
    /// May grow memory: refused when over `maxmemory`.
    pub const DENYOOM: Flags = Flags(1 << 2);
    /// Administrative.
    pub const ADMIN: Flags = Flags(1 << 3);
    /// O(1) or O(log N).
    pub const FAST: Flags = Flags(1 << 4);
    /// Allowed while loading.
    pub const LOADING: Flags = Flags(1 << 5);
    /// Allowed on a stale replica.
    pub const STALE: Flags = Flags(1 << 6);
    /// Allowed before authentication.
    pub const NO_AUTH: Flags = Flags(1 << 7);
    /// Not allowed in scripts.
    pub const NOSCRIPT: Flags = Flags(1 << 8);
    /// Output order is random.
    pub const RANDOM: Flags = Flags(1 << 9);

    const NAMES: [(Flags, &'static str); 10] = [
        (Flags::WRITE, "write"),
        (Flags::READONLY, "readonly"),
        (Flags::DENYOOM, "denyoom"),
        (Flags::ADMIN, "admin"),
        (Flags::NOSCRIPT, "noscript"),
        (Flags::RANDOM, "random"),
        (Flags::LOADING, "loading"),
        (Flags::STALE, "stale"),
        (Flags::NO_AUTH, "no_auth"),
        (Flags::FAST, "fast"),
    ];

    /// Returns the union of two flag sets.
    pub const fn or(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// Returns true when every flag of `other` is set.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Returns the flag names Redis prints, in Redis's order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Flags::NAMES
            .into_iter()
            .filter(move |(f, _)| self.contains(*f))
            .map(|(_, n)| n)
    }
}

/// One row of the table.
#[derive(Debug)]
pub struct CommandSpec {
    /// Upper-case name.
    pub name: &'static str,
    /// Lower-case name, as Redis writes it in errors and `cmdstat_`.
    pub lower: &'static str,
    /// Which command this is.
    pub kind: Kind,
    /// Redis's arity: N means exactly N arguments (name included), -N at least N.
    pub arity: i32,
    /// Flags.
    pub flags: Flags,
    /// Key positions.
    pub keys: KeySpec,
    /// Subcommands, for container commands (`CLIENT`, `CONFIG`, `COMMAND`): (name, arity).
    pub subcommands: &'static [(&'static str, i32)],
    /// Redis's command group (`string`, `generic`, `server`, `connection`).
    pub group: &'static str,
    /// One line for `COMMAND DOCS` and docs/commands.md.
    pub summary: &'static str,
}

impl CommandSpec {
    /// Returns this row's position in [`COMMANDS`]: an index for per-command counters.
    ///
    /// `Kind` lists the commands in table order (a test checks it), so this is a cast.
    pub fn index(&self) -> usize {
        self.kind as usize
    }

    /// Returns true when `argc` (name included) fits `arity`.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let arity = self.arity as i64;
        let argc = argc as i64;
        if arity >= 0 {
            argc == arity
        } else {
            argc >= -arity
        }
    }
}

use Flags as F;
use KeySpec as K;

const W: Flags = F::WRITE;
const WD: Flags = F::WRITE.or(F::DENYOOM);
const WDF: Flags = F::WRITE.or(F::DENYOOM).or(F::FAST);
const WF: Flags = F::WRITE.or(F::FAST);
const R: Flags = F::READONLY;
const RF: Flags = F::READONLY.or(F::FAST);
const CONN: Flags = F::NOSCRIPT.or(F::LOADING).or(F::STALE).or(F::FAST);

macro_rules! row {
    ($name:literal, $lower:literal, $kind:ident, $arity:expr, $flags:expr, $keys:expr, $group:literal, $summary:literal) => {
        row!(
            $name,
            $lower,
            $kind,
            $arity,
            $flags,
            $keys,
            $group,
            $summary,
            &[]
        )
    };
    ($name:literal, $lower:literal, $kind:ident, $arity:expr, $flags:expr, $keys:expr, $group:literal, $summary:literal, $subs:expr) => {
        CommandSpec {
            name: $name,
            lower: $lower,
            kind: Kind::$kind,
            arity: $arity,
            flags: $flags,
            keys: $keys,
            subcommands: $subs,
            group: $group,
            summary: $summary,
        }
    };
}

/// Every command jumpcache knows, in the order docs/commands.md lists them.
pub static COMMANDS: &[CommandSpec] = &[
    row!(
        "PING",
        "ping",
        Ping,
        -1,
        F::FAST,
        K::None,
        "connection",
        "Returns PONG, or the argument."
    ),
    row!(
        "ECHO",
        "echo",
        Echo,
        2,
        F::FAST,
        K::None,
        "connection",
        "Returns the given string."
    ),
    row!(
        "QUIT",
        "quit",
        Quit,
        -1,
        CONN.or(F::NO_AUTH),
        K::None,
        "connection",
        "Closes the connection after replying OK."
    ),
    row!(
        "HELLO",
        "hello",
        Hello,
        -1,
        CONN.or(F::NO_AUTH),
        K::None,
        "connection",
        "Handshakes: protocol version (2 or 3), AUTH, SETNAME."
    ),
    row!(
        "AUTH",
        "auth",
        Auth,
        -2,
        CONN.or(F::NO_AUTH),
        K::None,
        "connection",
        "Authenticates the connection."
    ),
    row!(
        "CLIENT",
        "client",
        Client,
        -2,
        F::NOSCRIPT.or(F::LOADING).or(F::STALE),
        K::None,
        "connection",
        "Connection management: SETNAME, GETNAME, SETINFO, ID.",
        &[
            ("SETNAME", 3),
            ("GETNAME", 2),
            ("SETINFO", 4),
            ("ID", 2),
            ("HELP", 2)
        ]
    ),
    row!(
        "SELECT",
        "select",
        Select,
        2,
        CONN,
        K::None,
        "connection",
        "Selects database 0 (the only one)."
    ),
    row!(
        "COMMAND",
        "command",
        Command,
        -1,
        F::LOADING.or(F::STALE),
        K::None,
        "server",
        "Describes the command table: COUNT, DOCS, INFO.",
        &[
            ("COUNT", 2),
            ("DOCS", -2),
            ("INFO", -2),
            ("LIST", -2),
            ("HELP", 2)
        ]
    ),
    row!(
        "CONFIG",
        "config",
        Config,
        -2,
        F::ADMIN.or(F::NOSCRIPT).or(F::LOADING).or(F::STALE),
        K::None,
        "server",
        "Reads configuration: CONFIG GET.",
        &[("GET", -3), ("HELP", 2)]
    ),
    row!(
        "INFO",
        "info",
        Info,
        -1,
        F::LOADING.or(F::STALE),
        K::None,
        "server",
        "Returns Redis-style INFO sections."
    ),
    row!(
        "DBSIZE",
        "dbsize",
        DbSize,
        1,
        RF,
        K::None,
        "server",
        "Returns the number of keys."
    ),
    row!(
        "FLUSHDB",
        "flushdb",
        FlushDb,
        -1,
        W,
        K::None,
        "server",
        "Removes every key."
    ),
    row!(
        "FLUSHALL",
        "flushall",
        FlushAll,
        -1,
        W,
        K::None,
        "server",
        "Removes every key."
    ),
    row!(
        "TIME",
        "time",
        Time,
        1,
        F::LOADING.or(F::STALE).or(F::FAST),
        K::None,
        "server",
        "Returns the server time."
    ),
    row!(
        "GET",
        "get",
        Get,
        2,
        RF,
        K::First,
        "string",
        "Returns a key's value."
    ),
    row!(
        "SET",
        "set",
        Set,
        -3,
        WD,
        K::First,
        "string",
        "Sets a value: EX PX EXAT PXAT KEEPTTL NX XX GET."
    ),
    row!(
        "SETNX",
        "setnx",
        SetNx,
        3,
        WDF,
        K::First,
        "string",
        "Sets a value only if the key is absent."
    ),
    row!(
        "SETEX",
        "setex",
        SetEx,
        4,
        WD,
        K::First,
        "string",
        "Sets a value with a TTL in seconds."
    ),
    row!(
        "PSETEX",
        "psetex",
        PSetEx,
        4,
        WD,
        K::First,
        "string",
        "Sets a value with a TTL in milliseconds."
    ),
    row!(
        "GETSET",
        "getset",
        GetSet,
        3,
        WDF,
        K::First,
        "string",
        "Sets a value, returning the old one."
    ),
    row!(
        "GETDEL",
        "getdel",
        GetDel,
        2,
        WF,
        K::First,
        "string",
        "Returns a value and deletes the key."
    ),
    row!(
        "GETEX",
        "getex",
        GetEx,
        -2,
        WF,
        K::First,
        "string",
        "Returns a value and changes its TTL."
    ),
    row!(
        "MGET",
        "mget",
        MGet,
        -2,
        RF,
        K::AllFrom(1),
        "string",
        "Returns the values of several keys."
    ),
    row!(
        "MSET",
        "mset",
        MSet,
        -3,
        WD,
        K::Pairs(1),
        "string",
        "Sets several keys."
    ),
    row!(
        "MSETNX",
        "msetnx",
        MSetNx,
        -3,
        WD,
        K::Pairs(1),
        "string",
        "Sets several keys only if none exists."
    ),
    row!(
        "DEL",
        "del",
        Del,
        -2,
        W,
        K::AllFrom(1),
        "generic",
        "Deletes keys."
    ),
    row!(
        "UNLINK",
        "unlink",
        Unlink,
        -2,
        WF,
        K::AllFrom(1),
        "generic",
        "Deletes keys."
    ),
    row!(
        "EXISTS",
        "exists",
        Exists,
        -2,
        RF,
        K::AllFrom(1),
        "generic",
        "Counts the keys that exist."
    ),
    row!(
        "TOUCH",
        "touch",
        Touch,
        -2,
        RF,
        K::AllFrom(1),
        "generic",
        "Counts the keys that exist, refreshing their recency."
    ),
    row!(
        "INCR",
        "incr",
        Incr,
        2,
        WDF,
        K::First,
        "string",
        "Adds 1 to an integer value."
    ),
    row!(
        "DECR",
        "decr",
        Decr,
        2,
        WDF,
        K::First,
        "string",
        "Subtracts 1 from an integer value."
    ),
    row!(
        "INCRBY",
        "incrby",
        IncrBy,
        3,
        WDF,
        K::First,
        "string",
        "Adds to an integer value."
    ),
    row!(
        "DECRBY",
        "decrby",
        DecrBy,
        3,
        WDF,
        K::First,
        "string",
        "Subtracts from an integer value."
    ),
    row!(
        "INCRBYFLOAT",
        "incrbyfloat",
        IncrByFloat,
        3,
        WDF,
        K::First,
        "string",
        "Adds to a float value."
    ),
    row!(
        "APPEND",
        "append",
        Append,
        3,
        WDF,
        K::First,
        "string",
        "Appends to a value."
    ),
    row!(
        "STRLEN",
        "strlen",
        StrLen,
        2,
        RF,
        K::First,
        "string",
        "Returns a value's length."
    ),
    row!(
        "GETRANGE",
        "getrange",
        GetRange,
        4,
        R,
        K::First,
        "string",
        "Returns a substring of a value."
    ),
    row!(
        "SETRANGE",
        "setrange",
        SetRange,
        4,
        WD,
        K::First,
        "string",
        "Overwrites part of a value."
    ),
    row!(
        "EXPIRE",
        "expire",
        Expire,
        -3,
        WF,
        K::First,
        "generic",
        "Sets a TTL in seconds: NX XX GT LT."
    ),
    row!(
        "PEXPIRE",
        "pexpire",
        PExpire,
        -3,
        WF,
        K::First,
        "generic",
        "Sets a TTL in milliseconds: NX XX GT LT."
    ),
    row!(
        "EXPIREAT",
        "expireat",
        ExpireAt,
        -3,
        WF,
        K::First,
        "generic",
        "Sets an expiry as a Unix time in seconds."
    ),
    row!(
        "PEXPIREAT",
        "pexpireat",
        PExpireAt,
        -3,
        WF,
        K::First,
        "generic",
        "Sets an expiry as a Unix time in milliseconds."
    ),
    row!(
        "PERSIST",
        "persist",
        Persist,
        2,
        WF,
        K::First,
        "generic",
        "Removes a key's TTL."
    ),
    row!(
        "TTL",
        "ttl",
        Ttl,
        2,
        RF,
        K::First,
        "generic",
        "Returns a key's TTL in seconds."
    ),
    row!(
        "PTTL",
        "pttl",
        PTtl,
        2,
        RF,
        K::First,
        "generic",
        "Returns a key's TTL in milliseconds."
    ),
    row!(
        "EXPIRETIME",
        "expiretime",
        ExpireTime,
        2,
        RF,
        K::First,
        "generic",
        "Returns a key's expiry as a Unix time in seconds."
    ),
    row!(
        "PEXPIRETIME",
        "pexpiretime",
        PExpireTime,
        2,
        RF,
        K::First,
        "generic",
        "Returns a key's expiry as a Unix time in milliseconds."
    ),
    row!(
        "TYPE",
        "type",
        Type,
        2,
        RF,
        K::First,
        "generic",
        "Returns a key's type (string or none)."
    ),
    row!(
        "KEYS",
        "keys",
        Keys,
        2,
        R,
        K::None,
        "generic",
        "Returns the keys matching a glob pattern."
    ),
    row!(
        "SCAN",
        "scan",
        Scan,
        -2,
        R,
        K::None,
        "generic",
        "Iterates over keys: MATCH COUNT TYPE."
    ),
    row!(
        "RANDOMKEY",
        "randomkey",
        RandomKey,
        1,
        R.or(F::RANDOM),
        K::None,
        "generic",
        "Returns a random key."
    ),
];

/// Returns the row for `name`, compared case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    // Names are at most 11 bytes; anything longer cannot match, so no allocation is needed.
    let mut upper = [0u8; 16];
    if name.len() > upper.len() {
        return None;
    }
    for (dst, src) in upper.iter_mut().zip(name) {
        *dst = src.to_ascii_uppercase();
    }
    let upper = &upper[..name.len()];
    COMMANDS.iter().find(|spec| spec.name.as_bytes() == upper)
}

/// Returns the row for `kind`.
pub fn spec(kind: Kind) -> &'static CommandSpec {
    // invariant: every Kind has a row; the table test checks it.
    COMMANDS
        .iter()
        .find(|s| s.kind == kind)
        .expect("every Kind has a row")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_is_case_insensitive_and_rejects_unknown_names() {
        assert_eq!(lookup(b"get").map(|s| s.kind), Some(Kind::Get));
        assert_eq!(lookup(b"GeT").map(|s| s.kind), Some(Kind::Get));
        assert_eq!(
            lookup(b"incrbyfloat").map(|s| s.kind),
            Some(Kind::IncrByFloat)
        );
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup(b"getxxxxxxxxxxxxxxxxxxxxxxxxxx").is_none());
        assert!(lookup(b"").is_none());
    }

    #[test]
    fn index_is_the_position_in_the_table() {
        for (i, spec) in COMMANDS.iter().enumerate() {
            assert_eq!(spec.index(), i, "{}", spec.name);
        }
    }

    #[test]
    fn names_are_unique_and_lower_names_match() {
        for (i, a) in COMMANDS.iter().enumerate() {
            assert_eq!(a.name.to_ascii_lowercase(), a.lower);
            assert_eq!(spec(a.kind).name, a.name);
            for b in &COMMANDS[i + 1..] {
                assert_ne!(a.name, b.name);
                assert_ne!(a.kind, b.kind);
            }
        }
    }
}
