//! The command table: one row per command, read by the shard, the router and the docs.
//!
//! A row says what a command is (name, arity, flags, keys) and where it runs (`route`). Adding a
//! command is one row here, one executor function in the shard and one test; the compiler then
//! names every dispatcher that must place the new [`Kind`] (docs/architecture.md).

use super::route::{Merge, Route, SetOp};

/// Where a command's keys are, as Redis's first-key/last-key/step triple says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySpec {
    /// No keys.
    None,
    /// One key, at argument 1.
    First,
    /// One key, at argument 2, after a container's subcommand (`MEMORY USAGE key`,
    /// `OBJECT ENCODING key`); a subcommand without one has no key.
    Second,
    /// Every argument from this index on is a key (`MGET`, `DEL`).
    AllFrom(usize),
    /// Key/value pairs from this index on (`MSET`).
    Pairs(usize),
    /// The arguments from the first index to the second, both included (`RENAME`, `SMOVE`).
    Range(usize, usize),
    /// A count of keys at this index, then that many keys (`EVAL script numkeys key...`,
    /// `SINTERCARD numkeys key...`).
    Counted(usize),
}

impl KeySpec {
    /// Returns Redis's `(first_key, last_key, step)` for `COMMAND INFO`.
    pub fn triple(self) -> (i64, i64, i64) {
        match self {
            KeySpec::None => (0, 0, 0),
            KeySpec::First => (1, 1, 1),
            // Redis 7 reports a container's keys on its subcommands, not on the container.
            KeySpec::Second => (0, 0, 0),
            KeySpec::AllFrom(i) => (i as i64, -1, 1),
            KeySpec::Pairs(i) => (i as i64, -1, 2),
            KeySpec::Range(first, last) => (first as i64, last as i64, 1),
            // Redis 7 reports movable keys as 0 0 0 (`COMMAND INFO eval`).
            KeySpec::Counted(_) => (0, 0, 0),
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
    /// A pub/sub command (SUBSCRIBE).
    pub const PUBSUB: Flags = Flags(1 << 10);

    const NAMES: [(Flags, &'static str); 11] = [
        (Flags::WRITE, "write"),
        (Flags::READONLY, "readonly"),
        (Flags::DENYOOM, "denyoom"),
        (Flags::ADMIN, "admin"),
        (Flags::PUBSUB, "pubsub"),
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
    /// Where it runs in a cluster, and how several groups' replies become one.
    pub route: Route,
    /// Subcommands, for container commands (`CLIENT`, `CONFIG`, `COMMAND`): (name, arity).
    pub subcommands: &'static [(&'static str, i32)],
    /// Redis's command group (`string`, `generic`, `server`, `connection`).
    pub group: &'static str,
    /// One line for `COMMAND DOCS` and docs/commands.md.
    pub summary: &'static str,
}

impl CommandSpec {
    /// Returns Redis's full name of this command, or of its subcommand `sub` (any case):
    /// `get`, `client|tracking` (ACL rules and errors, CLIENT LIST's `cmd=`).
    pub fn full_name(&self, sub: Option<&str>) -> String {
        match sub {
            Some(sub) => format!("{}|{}", self.lower, sub.to_ascii_lowercase()),
            None => self.lower.to_string(),
        }
    }

    /// Returns this row's position in [`COMMANDS`]: an index for per-command counters.
    ///
    /// `Kind` is declared from the rows, in table order, so this is a cast.
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
use Merge::{AllOk, AnyKey, Concat, Info, Min, Same, Sum};
use Route::{All, Cluster, Key, Keys, Local, SameGroup, Scan, Txn};

// Flag sets for the table's flags column: W write, D denyoom, F fast, R readonly, RND random,
// LS loading + stale, N noscript, CONN a connection command's, NA no_auth.
const FAST: Flags = F::FAST;
const W: Flags = F::WRITE;
const WD: Flags = F::WRITE.or(F::DENYOOM);
const WDF: Flags = WD.or(F::FAST);
const WF: Flags = F::WRITE.or(F::FAST);
const R: Flags = F::READONLY;
const RF: Flags = F::READONLY.or(F::FAST);
const RRND: Flags = F::READONLY.or(F::RANDOM);
const LS: Flags = F::LOADING.or(F::STALE);
const LSF: Flags = LS.or(F::FAST);
const NLS: Flags = F::NOSCRIPT.or(LS);
const CONN: Flags = NLS.or(F::FAST);
const CONN_NA: Flags = CONN.or(F::NO_AUTH);
const ADMIN: Flags = F::ADMIN.or(NLS);
const ADMIN_NS: Flags = F::ADMIN.or(F::NOSCRIPT);
const PUBSUB: Flags = F::PUBSUB.or(NLS);
// EVAL and friends: noscript + stale, as Redis 7 lists them (less skip_monitor, movablekeys).
const SCRIPTING: Flags = F::NOSCRIPT.or(F::STALE);

/// MGET's merge as a row writes it: `plan` sets `len` from the request.
const REORDER: Merge = Merge::Reorder { len: 0 };
// Set algebra across groups (`plan` sets SINTERCARD's limit from the request).
const INTER: Merge = Merge::Sets(SetOp::Inter);
const UNION: Merge = Merge::Sets(SetOp::Union);
const DIFF: Merge = Merge::Sets(SetOp::Diff);
const INTERCARD: Merge = Merge::Sets(SetOp::InterCard { limit: 0 });

// Subcommands of the container commands: (name, arity).
const CLIENT_SUBS: &[(&str, i32)] = &[
    ("LIST", -2),
    ("INFO", 2),
    ("KILL", -3),
    ("SETNAME", 3),
    ("GETNAME", 2),
    ("SETINFO", 4),
    ("ID", 2),
    ("TRACKING", -3),
    ("CACHING", 3),
    ("GETREDIR", 2),
    ("TRACKINGINFO", 2),
    ("HELP", 2),
];
const COMMAND_SUBS: &[(&str, i32)] = &[
    ("COUNT", 2),
    ("DOCS", -2),
    ("INFO", -2),
    ("LIST", -2),
    ("HELP", 2),
];
const CONFIG_SUBS: &[(&str, i32)] = &[("GET", -3), ("SET", -4), ("RESETSTAT", 2), ("HELP", 2)];
const MEMORY_SUBS: &[(&str, i32)] = &[("USAGE", -3), ("STATS", 2), ("HELP", 2)];
const OBJECT_SUBS: &[(&str, i32)] = &[
    ("ENCODING", 3),
    ("FREQ", 3),
    ("IDLETIME", 3),
    ("REFCOUNT", 3),
    ("HELP", 2),
];
const SLOWLOG_SUBS: &[(&str, i32)] = &[("GET", -2), ("LEN", 2), ("RESET", 2), ("HELP", 2)];
// RESIZE and TOPOLOGY are for people (on a router); the others are what routers send
// shards while the cluster changes size (docs/operations.md, "Growing and shrinking").
const JUMPCACHE_SUBS: &[(&str, i32)] = &[
    ("TOPOLOGY", 2),
    ("RESIZE", 3),
    ("EPOCH", -3),
    ("LEARN", -3),
    ("STATE", 2),
    ("DONE", 3),
    ("EXPORT", -3),
    ("IMPORT", -6),
    ("DROP", -3),
    ("SCANOUT", 6),
    ("TRACKING", 2),
    ("ACKED", 3),
    ("HELP", 2),
];
const ACL_SUBS: &[(&str, i32)] = &[
    ("WHOAMI", 2),
    ("LIST", 2),
    ("USERS", 2),
    ("CAT", -2),
    ("GETUSER", 3),
    ("SETUSER", -3),
    ("DELUSER", -3),
    ("GENPASS", -2),
    ("DRYRUN", -4),
    ("SAVE", 2),
    ("LOAD", 2),
    ("LOG", -2),
    ("HELP", 2),
];
const SCRIPT_SUBS: &[(&str, i32)] = &[
    ("LOAD", 3),
    ("EXISTS", -3),
    ("FLUSH", -2),
    ("KILL", 2),
    ("HELP", 2),
];
const LATENCY_SUBS: &[(&str, i32)] = &[("LATEST", 2), ("HISTORY", 3), ("RESET", -2), ("HELP", 2)];

/// Declares [`Kind`] and [`COMMANDS`] from one list of rows, so they cannot disagree.
macro_rules! commands {
    ($(($name:literal, $lower:literal, $kind:ident, $arity:literal, $flags:expr, $keys:expr,
        $route:expr, $group:literal, $subs:expr, $summary:literal),)*) => {
        /// Which command a row is, in table order. `serve::session::handle_local` and the
        /// shard's `exec::execute` match on it with no wildcard, so a new row does not compile
        /// until both place it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Kind {
            $(#[doc = concat!("`", $name, "`: ", $summary)] $kind,)*
        }

        /// Every command jumpcache knows, in the order docs/commands.md lists them.
        pub static COMMANDS: &[CommandSpec] = &[$(CommandSpec {
            name: $name,
            lower: $lower,
            kind: Kind::$kind,
            arity: $arity,
            flags: $flags,
            keys: $keys,
            route: $route,
            subcommands: $subs,
            group: $group,
            summary: $summary,
        },)*];
    };
}

// One row per command. `arity` is Redis's (N exactly, -N at least N, the name counted);
// `route`: `Local` answered where received, `Key` the key's group, `Keys(merge)` split by
// group then merged, `SameGroup` one group or CROSSSLOT, `All(merge)` every group, `Scan`
// one group at a time.
#[rustfmt::skip]
commands! {
    // name         lower          kind         arity flags    keys           route          group         subcommands   summary
    ("PING",        "ping",        Ping,        -1,   FAST,    K::None,       Local,         "connection", &[],          "Returns PONG, or the argument."),
    ("ECHO",        "echo",        Echo,        2,    FAST,    K::None,       Local,         "connection", &[],          "Returns the given string."),
    ("QUIT",        "quit",        Quit,        -1,   CONN_NA, K::None,       Local,         "connection", &[],          "Closes the connection after replying OK."),
    ("HELLO",       "hello",       Hello,       -1,   CONN_NA, K::None,       Local,         "connection", &[],          "Handshakes: protocol version (2 or 3), AUTH, SETNAME."),
    ("AUTH",        "auth",        Auth,        -2,   CONN_NA, K::None,       Local,         "connection", &[],          "Authenticates the connection."),
    ("CLIENT",      "client",      Client,      -2,   NLS,     K::None,       Local,         "connection", CLIENT_SUBS,  "Connections: SETNAME, GETNAME, SETINFO, ID; client-side caching: TRACKING, CACHING, GETREDIR, TRACKINGINFO; this process's clients: LIST, INFO, KILL."),
    ("SUBSCRIBE",   "subscribe",   Subscribe,   -2,   PUBSUB,  K::None,       Local,         "pubsub",     &[],          "Subscribes to channels: __redis__:invalidate carries CLIENT TRACKING ... REDIRECT's invalidations (no PUBLISH)."),
    ("UNSUBSCRIBE", "unsubscribe", Unsubscribe, -1,   PUBSUB,  K::None,       Local,         "pubsub",     &[],          "Unsubscribes from channels (all of them without arguments)."),
    ("SELECT",      "select",      Select,      2,    CONN,    K::None,       Local,         "connection", &[],          "Selects database 0 (the only one)."),
    ("COMMAND",     "command",     Command,     -1,   LS,      K::None,       Local,         "server",     COMMAND_SUBS, "Describes the command table: COUNT, DOCS, INFO."),
    ("CONFIG",      "config",      Config,      -2,   ADMIN,   K::None,       Local,         "server",     CONFIG_SUBS,  "Configuration: GET, SET (a router sends the store's settings to every shard), RESETSTAT."),
    ("SLOWLOG",     "slowlog",     SlowLog,     -2,   ADMIN,   K::None,       Local,         "server",     SLOWLOG_SUBS, "The process's slow commands: GET, LEN, RESET."),
    ("LATENCY",     "latency",     Latency,     -2,   ADMIN,   K::None,       Local,         "server",     LATENCY_SUBS, "Commands over latency-monitor-threshold: LATEST, HISTORY, RESET."),
    ("WAIT",        "wait",        Wait,        3,    NLS,     K::None,       Local,         "generic",    &[],          "Returns how many replicas acknowledged the client's last write."),
    ("ACL",         "acl",         Acl,         -2,   NLS,     K::None,       Local,         "server",     ACL_SUBS,     "Users: WHOAMI, LIST, USERS, CAT, GETUSER, SETUSER, DELUSER, GENPASS, DRYRUN, LOG."),
    ("JUMPCACHE",   "jumpcache",   Jumpcache,   -2,   ADMIN,   K::None,       Cluster,       "server",     JUMPCACHE_SUBS, "The cluster's own: TOPOLOGY, RESIZE (jumpcache cluster); what routers send shards during a resize."),
    ("MEMORY",      "memory",      Memory,      -2,   R,       K::Second,     Key,           "server",     MEMORY_SUBS,  "What a key costs in its shard (USAGE); the shard's figures (STATS)."),
    ("DUMP",        "dump",        Dump,        2,    R,       K::First,      Key,           "generic",    &[],          "Serializes a key in Redis's RDB format (strings), for RESTORE here or in redis-server."),
    ("RESTORE",     "restore",     Restore,     -4,   WD,      K::First,      Key,           "generic",    &[],          "Creates a key from a DUMP payload (from here or redis-server): REPLACE, ABSTTL, IDLETIME, FREQ."),
    ("OBJECT",      "object",      Object,      -2,   R,       K::Second,     Key,           "generic",    OBJECT_SUBS,  "A key's encoding, LFU frequency, idle time, reference count."),
    ("INFO",        "info",        Info,        -1,   LS,      K::None,       All(Info),     "server",     &[],          "Returns Redis-style INFO sections."),
    ("DBSIZE",      "dbsize",      DbSize,      1,    RF,      K::None,       All(Sum),      "server",     &[],          "Returns the number of keys."),
    ("FLUSHDB",     "flushdb",     FlushDb,     -1,   W,       K::None,       All(AllOk),    "server",     &[],          "Removes every key."),
    ("FLUSHALL",    "flushall",    FlushAll,    -1,   W,       K::None,       All(AllOk),    "server",     &[],          "Removes every key."),
    ("SAVE",        "save",        Save,        1,    ADMIN_NS, K::None,      All(AllOk),    "server",     &[],          "Writes an RDB snapshot of every shard now (--dir, --dbfilename; cluster: --dir)."),
    ("BGSAVE",      "bgsave",      BgSave,      -1,   ADMIN_NS, K::None,      All(Same),     "server",     &[],          "Writes an RDB snapshot of every shard in the background."),
    ("LASTSAVE",    "lastsave",    LastSave,    1,    LSF,     K::None,       All(Min),      "server",     &[],          "Returns the Unix time of the last successful snapshot (through a router, the oldest of the shards')."),
    ("TIME",        "time",        Time,        1,    LSF,     K::None,       Local,         "server",     &[],          "Returns the server time."),
    ("GET",         "get",         Get,         2,    RF,      K::First,      Key,           "string",     &[],          "Returns a key's value."),
    ("SET",         "set",         Set,         -3,   WD,      K::First,      Key,           "string",     &[],          "Sets a value: EX PX EXAT PXAT KEEPTTL NX XX GET."),
    ("SETNX",       "setnx",       SetNx,       3,    WDF,     K::First,      Key,           "string",     &[],          "Sets a value only if the key is absent."),
    ("SETEX",       "setex",       SetEx,       4,    WD,      K::First,      Key,           "string",     &[],          "Sets a value with a TTL in seconds."),
    ("PSETEX",      "psetex",      PSetEx,      4,    WD,      K::First,      Key,           "string",     &[],          "Sets a value with a TTL in milliseconds."),
    ("GETSET",      "getset",      GetSet,      3,    WDF,     K::First,      Key,           "string",     &[],          "Sets a value, returning the old one."),
    ("GETDEL",      "getdel",      GetDel,      2,    WF,      K::First,      Key,           "string",     &[],          "Returns a value and deletes the key."),
    ("GETEX",       "getex",       GetEx,       -2,   WF,      K::First,      Key,           "string",     &[],          "Returns a value and changes its TTL."),
    ("MGET",        "mget",        MGet,        -2,   RF,      K::AllFrom(1), Keys(REORDER), "string",     &[],          "Returns the values of several keys."),
    ("MSET",        "mset",        MSet,        -3,   WD,      K::Pairs(1),   Keys(AllOk),   "string",     &[],          "Sets several keys."),
    ("MSETNX",      "msetnx",      MSetNx,      -3,   WD,      K::Pairs(1),   SameGroup,     "string",     &[],          "Sets several keys only if none exists."),
    ("DEL",         "del",         Del,         -2,   W,       K::AllFrom(1), Keys(Sum),     "generic",    &[],          "Deletes keys."),
    ("UNLINK",      "unlink",      Unlink,      -2,   WF,      K::AllFrom(1), Keys(Sum),     "generic",    &[],          "Deletes keys."),
    ("EXISTS",      "exists",      Exists,      -2,   RF,      K::AllFrom(1), Keys(Sum),     "generic",    &[],          "Counts the keys that exist."),
    ("TOUCH",       "touch",       Touch,       -2,   RF,      K::AllFrom(1), Keys(Sum),     "generic",    &[],          "Counts the keys that exist, refreshing their recency."),
    ("INCR",        "incr",        Incr,        2,    WDF,     K::First,      Key,           "string",     &[],          "Adds 1 to an integer value."),
    ("DECR",        "decr",        Decr,        2,    WDF,     K::First,      Key,           "string",     &[],          "Subtracts 1 from an integer value."),
    ("INCRBY",      "incrby",      IncrBy,      3,    WDF,     K::First,      Key,           "string",     &[],          "Adds to an integer value."),
    ("DECRBY",      "decrby",      DecrBy,      3,    WDF,     K::First,      Key,           "string",     &[],          "Subtracts from an integer value."),
    ("INCRBYFLOAT", "incrbyfloat", IncrByFloat, 3,    WDF,     K::First,      Key,           "string",     &[],          "Adds to a float value."),
    ("APPEND",      "append",      Append,      3,    WDF,     K::First,      Key,           "string",     &[],          "Appends to a value."),
    ("STRLEN",      "strlen",      StrLen,      2,    RF,      K::First,      Key,           "string",     &[],          "Returns a value's length."),
    ("GETRANGE",    "getrange",    GetRange,    4,    R,       K::First,      Key,           "string",     &[],          "Returns a substring of a value."),
    ("SETRANGE",    "setrange",    SetRange,    4,    WD,      K::First,      Key,           "string",     &[],          "Overwrites part of a value."),
    ("EXPIRE",      "expire",      Expire,      -3,   WF,      K::First,      Key,           "generic",    &[],          "Sets a TTL in seconds: NX XX GT LT."),
    ("PEXPIRE",     "pexpire",     PExpire,     -3,   WF,      K::First,      Key,           "generic",    &[],          "Sets a TTL in milliseconds: NX XX GT LT."),
    ("EXPIREAT",    "expireat",    ExpireAt,    -3,   WF,      K::First,      Key,           "generic",    &[],          "Sets an expiry as a Unix time in seconds."),
    ("PEXPIREAT",   "pexpireat",   PExpireAt,   -3,   WF,      K::First,      Key,           "generic",    &[],          "Sets an expiry as a Unix time in milliseconds."),
    ("PERSIST",     "persist",     Persist,     2,    WF,      K::First,      Key,           "generic",    &[],          "Removes a key's TTL."),
    ("TTL",         "ttl",         Ttl,         2,    RF,      K::First,      Key,           "generic",    &[],          "Returns a key's TTL in seconds."),
    ("PTTL",        "pttl",        PTtl,        2,    RF,      K::First,      Key,           "generic",    &[],          "Returns a key's TTL in milliseconds."),
    ("EXPIRETIME",  "expiretime",  ExpireTime,  2,    RF,      K::First,      Key,           "generic",    &[],          "Returns a key's expiry as a Unix time in seconds."),
    ("PEXPIRETIME", "pexpiretime", PExpireTime, 2,    RF,      K::First,      Key,           "generic",    &[],          "Returns a key's expiry as a Unix time in milliseconds."),
    ("TYPE",        "type",        Type,        2,    RF,      K::First,      Key,           "generic",    &[],          "Returns a key's type: string, hash, set, zset, list or none."),
    ("KEYS",        "keys",        Keys,        2,    R,       K::None,       All(Concat),   "generic",    &[],          "Returns the keys matching a glob pattern."),
    ("SCAN",        "scan",        Scan,        -2,   R,       K::None,       Scan,          "generic",    &[],          "Iterates over keys: MATCH COUNT TYPE."),
    ("RANDOMKEY",   "randomkey",   RandomKey,   1,    RRND,    K::None,       All(AnyKey),   "generic",    &[],          "Returns a random key."),
    // hashes
    ("HSET",             "hset",             HSet,             -4,   WDF,     K::First,       Key,           "hash",       &[],          "Sets fields of a hash; returns how many were new."),
    ("HSETNX",           "hsetnx",           HSetNx,           4,    WDF,     K::First,       Key,           "hash",       &[],          "Sets a field only if it is absent."),
    ("HGET",             "hget",             HGet,             3,    RF,      K::First,       Key,           "hash",       &[],          "Returns a field's value."),
    ("HMGET",            "hmget",            HMGet,            -3,   RF,      K::First,       Key,           "hash",       &[],          "Returns the values of several fields."),
    ("HMSET",            "hmset",            HMSet,            -4,   WDF,     K::First,       Key,           "hash",       &[],          "Sets fields of a hash; returns OK."),
    ("HGETALL",          "hgetall",          HGetAll,          2,    R,       K::First,       Key,           "hash",       &[],          "Returns every field and value."),
    ("HDEL",             "hdel",             HDel,             -3,   WF,      K::First,       Key,           "hash",       &[],          "Deletes fields."),
    ("HLEN",             "hlen",             HLen,             2,    RF,      K::First,       Key,           "hash",       &[],          "Returns the number of fields."),
    ("HEXISTS",          "hexists",          HExists,          3,    RF,      K::First,       Key,           "hash",       &[],          "Returns whether a field exists."),
    ("HKEYS",            "hkeys",            HKeys,            2,    R,       K::First,       Key,           "hash",       &[],          "Returns every field."),
    ("HVALS",            "hvals",            HVals,            2,    R,       K::First,       Key,           "hash",       &[],          "Returns every value."),
    ("HINCRBY",          "hincrby",          HIncrBy,          4,    WDF,     K::First,       Key,           "hash",       &[],          "Adds to a field's integer value."),
    ("HINCRBYFLOAT",     "hincrbyfloat",     HIncrByFloat,     4,    WDF,     K::First,       Key,           "hash",       &[],          "Adds to a field's float value."),
    ("HSTRLEN",          "hstrlen",          HStrLen,          3,    RF,      K::First,       Key,           "hash",       &[],          "Returns the length of a field's value."),
    ("HSCAN",            "hscan",            HScan,            -3,   R,       K::First,       Key,           "hash",       &[],          "Iterates over fields and values: MATCH COUNT."),
    ("HRANDFIELD",       "hrandfield",       HRandField,       -2,   R,       K::First,       Key,           "hash",       &[],          "Returns random fields: count, WITHVALUES."),
    // sets
    ("SADD",             "sadd",             SAdd,             -3,   WDF,     K::First,       Key,           "set",        &[],          "Adds members to a set."),
    ("SREM",             "srem",             SRem,             -3,   WF,      K::First,       Key,           "set",        &[],          "Removes members from a set."),
    ("SMEMBERS",         "smembers",         SMembers,         2,    R,       K::First,       Key,           "set",        &[],          "Returns every member."),
    ("SISMEMBER",        "sismember",        SIsMember,        3,    RF,      K::First,       Key,           "set",        &[],          "Returns whether a member is in a set."),
    ("SMISMEMBER",       "smismember",       SMIsMember,       -3,   RF,      K::First,       Key,           "set",        &[],          "Returns whether each of several members is in a set."),
    ("SCARD",            "scard",            SCard,            2,    RF,      K::First,       Key,           "set",        &[],          "Returns the number of members."),
    ("SPOP",             "spop",             SPop,             -2,   WF,      K::First,       Key,           "set",        &[],          "Removes and returns random members."),
    ("SRANDMEMBER",      "srandmember",      SRandMember,      -2,   R,       K::First,       Key,           "set",        &[],          "Returns random members."),
    ("SSCAN",            "sscan",            SScan,            -3,   R,       K::First,       Key,           "set",        &[],          "Iterates over members: MATCH COUNT."),
    ("SMOVE",            "smove",            SMove,            4,    WF,      K::Range(1, 2), SameGroup,     "set",        &[],          "Moves a member from one set to another (one group)."),
    ("SINTER",           "sinter",           SInter,           -2,   R,       K::AllFrom(1),  Keys(INTER),   "set",        &[],          "Returns the intersection of sets (across groups: computed by the router)."),
    ("SUNION",           "sunion",           SUnion,           -2,   R,       K::AllFrom(1),  Keys(UNION),   "set",        &[],          "Returns the union of sets (across groups: computed by the router)."),
    ("SDIFF",            "sdiff",            SDiff,            -2,   R,       K::AllFrom(1),  Keys(DIFF),    "set",        &[],          "Returns the members of the first set not in the others (across groups: computed by the router)."),
    ("SINTERCARD",       "sintercard",       SInterCard,       -3,   R,       K::Counted(1),  Keys(INTERCARD), "set",       &[],          "Returns the size of the intersection of sets: LIMIT (across groups: computed by the router)."),
    ("SINTERSTORE",      "sinterstore",      SInterStore,      -3,   WD,      K::AllFrom(1),  SameGroup,     "set",        &[],          "Stores the intersection of sets (one group)."),
    ("SUNIONSTORE",      "sunionstore",      SUnionStore,      -3,   WD,      K::AllFrom(1),  SameGroup,     "set",        &[],          "Stores the union of sets (one group)."),
    ("SDIFFSTORE",       "sdiffstore",       SDiffStore,       -3,   WD,      K::AllFrom(1),  SameGroup,     "set",        &[],          "Stores the difference of sets (one group)."),
    // sorted sets
    ("ZADD",             "zadd",             ZAdd,             -4,   WDF,     K::First,       Key,           "sorted_set", &[],          "Adds members with scores: NX XX GT LT CH INCR."),
    ("ZREM",             "zrem",             ZRem,             -3,   WF,      K::First,       Key,           "sorted_set", &[],          "Removes members."),
    ("ZSCORE",           "zscore",           ZScore,           3,    RF,      K::First,       Key,           "sorted_set", &[],          "Returns a member's score."),
    ("ZMSCORE",          "zmscore",          ZMScore,          -3,   RF,      K::First,       Key,           "sorted_set", &[],          "Returns the scores of several members."),
    ("ZINCRBY",          "zincrby",          ZIncrBy,          4,    WDF,     K::First,       Key,           "sorted_set", &[],          "Adds to a member's score."),
    ("ZCARD",            "zcard",            ZCard,            2,    RF,      K::First,       Key,           "sorted_set", &[],          "Returns the number of members."),
    ("ZCOUNT",           "zcount",           ZCount,           4,    RF,      K::First,       Key,           "sorted_set", &[],          "Counts the members with scores in a range."),
    ("ZRANK",            "zrank",            ZRank,            3,    RF,      K::First,       Key,           "sorted_set", &[],          "Returns a member's rank, lowest score first."),
    ("ZREVRANK",         "zrevrank",         ZRevRank,         3,    RF,      K::First,       Key,           "sorted_set", &[],          "Returns a member's rank, highest score first."),
    ("ZRANGE",           "zrange",           ZRange,           -4,   R,       K::First,       Key,           "sorted_set", &[],          "Returns members by rank, score or name: BYSCORE BYLEX REV LIMIT WITHSCORES."),
    ("ZRANGEBYSCORE",    "zrangebyscore",    ZRangeByScore,    -4,   R,       K::First,       Key,           "sorted_set", &[],          "Returns members with scores in a range."),
    ("ZREVRANGEBYSCORE", "zrevrangebyscore", ZRevRangeByScore, -4,   R,       K::First,       Key,           "sorted_set", &[],          "Returns members with scores in a range, highest first."),
    ("ZREVRANGE",        "zrevrange",        ZRevRange,        -4,   R,       K::First,       Key,           "sorted_set", &[],          "Returns members by rank, highest score first."),
    ("ZRANGEBYLEX",      "zrangebylex",      ZRangeByLex,      -4,   R,       K::First,       Key,           "sorted_set", &[],          "Returns members in a lexical range."),
    ("ZREMRANGEBYSCORE", "zremrangebyscore", ZRemRangeByScore, 4,    W,       K::First,       Key,           "sorted_set", &[],          "Removes the members with scores in a range."),
    ("ZREMRANGEBYRANK",  "zremrangebyrank",  ZRemRangeByRank,  4,    W,       K::First,       Key,           "sorted_set", &[],          "Removes the members in a range of ranks."),
    ("ZPOPMIN",          "zpopmin",          ZPopMin,          -2,   WF,      K::First,       Key,           "sorted_set", &[],          "Removes and returns the lowest-scored members."),
    ("ZPOPMAX",          "zpopmax",          ZPopMax,          -2,   WF,      K::First,       Key,           "sorted_set", &[],          "Removes and returns the highest-scored members."),
    ("ZSCAN",            "zscan",            ZScan,            -3,   R,       K::First,       Key,           "sorted_set", &[],          "Iterates over members and scores: MATCH COUNT."),
    ("ZRANDMEMBER",      "zrandmember",      ZRandMember,      -2,   R,       K::First,       Key,           "sorted_set", &[],          "Returns random members: count, WITHSCORES."),
    // lists
    ("LPUSH",            "lpush",            LPush,            -3,   WDF,     K::First,       Key,           "list",       &[],          "Adds elements at the head of a list."),
    ("RPUSH",            "rpush",            RPush,            -3,   WDF,     K::First,       Key,           "list",       &[],          "Adds elements at the tail of a list."),
    ("LPUSHX",           "lpushx",           LPushX,           -3,   WDF,     K::First,       Key,           "list",       &[],          "Adds elements at the head of an existing list."),
    ("RPUSHX",           "rpushx",           RPushX,           -3,   WDF,     K::First,       Key,           "list",       &[],          "Adds elements at the tail of an existing list."),
    ("LPOP",             "lpop",             LPop,             -2,   WF,      K::First,       Key,           "list",       &[],          "Removes and returns elements from the head."),
    ("RPOP",             "rpop",             RPop,             -2,   WF,      K::First,       Key,           "list",       &[],          "Removes and returns elements from the tail."),
    ("LLEN",             "llen",             LLen,             2,    RF,      K::First,       Key,           "list",       &[],          "Returns a list's length."),
    ("LRANGE",           "lrange",           LRange,           4,    R,       K::First,       Key,           "list",       &[],          "Returns a range of elements."),
    ("LINDEX",           "lindex",           LIndex,           3,    R,       K::First,       Key,           "list",       &[],          "Returns the element at an index."),
    ("LSET",             "lset",             LSet,             4,    WD,      K::First,       Key,           "list",       &[],          "Sets the element at an index."),
    ("LREM",             "lrem",             LRem,             4,    W,       K::First,       Key,           "list",       &[],          "Removes elements equal to a value."),
    ("LTRIM",            "ltrim",            LTrim,            4,    W,       K::First,       Key,           "list",       &[],          "Keeps only a range of elements."),
    ("LINSERT",          "linsert",          LInsert,          5,    WD,      K::First,       Key,           "list",       &[],          "Inserts an element before or after another."),
    ("LPOS",             "lpos",             LPos,             -3,   R,       K::First,       Key,           "list",       &[],          "Returns the positions of matching elements: RANK COUNT MAXLEN."),
    ("LMOVE",            "lmove",            LMove,            5,    WD,      K::Range(1, 2), SameGroup,     "list",       &[],          "Moves an element from one list to another (one group)."),
    // keys of any type
    ("RENAME",           "rename",           Rename,           3,    W,       K::Range(1, 2), SameGroup,     "generic",    &[],          "Renames a key (one group)."),
    ("RENAMENX",         "renamenx",         RenameNx,         3,    WF,      K::Range(1, 2), SameGroup,     "generic",    &[],          "Renames a key if the new name is free (one group)."),
    ("COPY",             "copy",             Copy,             -3,   WD,      K::Range(1, 2), SameGroup,     "generic",    &[],          "Copies a key's value to another key (one group): REPLACE."),
    // Transactions and scripts (docs/architecture.md, "Transactions and scripts"). MULTI is
    // the session's; `Txn` rows run in `server::exec::multi` / `server::script` on a shard and
    // in `router::txn` on a router. TXN is what routers send shards.
    ("MULTI",       "multi",       Multi,       1,    CONN,    K::None,       Local,         "transactions", &[],        "Starts a transaction: later commands are queued until EXEC."),
    ("EXEC",        "exec",        Exec,        1,    NLS,     K::None,       Txn,           "transactions", &[],        "Runs the queued commands as one unit; nil when a WATCHed key changed."),
    ("DISCARD",     "discard",     Discard,     1,    CONN,    K::None,       Txn,           "transactions", &[],        "Drops the queued commands and the WATCHed keys."),
    ("WATCH",       "watch",       Watch,       -2,   CONN,    K::AllFrom(1), Txn,           "transactions", &[],        "Makes the next EXEC fail if one of these keys changes first."),
    ("UNWATCH",     "unwatch",     Unwatch,     1,    CONN,    K::None,       Txn,           "transactions", &[],        "Forgets the WATCHed keys."),
    ("RESET",       "reset",       Reset,       1,    CONN_NA, K::None,       Txn,           "connection", &[],          "Resets the connection: transaction, WATCH, protocol, name."),
    ("EVAL",        "eval",        Eval,        -3,   SCRIPTING, K::Counted(2), Txn,         "scripting",  &[],          "Runs a Lua 5.1 script on its keys' group, atomically."),
    ("EVALSHA",     "evalsha",     EvalSha,     -3,   SCRIPTING, K::Counted(2), Txn,         "scripting",  &[],          "Runs a cached script by its SHA1."),
    ("EVAL_RO",     "eval_ro",     EvalRo,      -3,   SCRIPTING.or(F::READONLY), K::Counted(2), Txn, "scripting", &[],   "Runs a Lua script that may only read."),
    ("EVALSHA_RO",  "evalsha_ro",  EvalShaRo,   -3,   SCRIPTING.or(F::READONLY), K::Counted(2), Txn, "scripting", &[],   "Runs a cached script that may only read."),
    ("SCRIPT",      "script",      Script,      -2,   F::NOSCRIPT, K::None,   Txn,           "scripting",  SCRIPT_SUBS,  "The script cache: LOAD, EXISTS, FLUSH; KILL stops a script past --lua-time-limit."),
    ("TXN",         "txn",         TxnPhase,    -2,   ADMIN,   K::None,       Txn,           "transactions", &[],        "What routers send shards: a one-group EXEC, the two phases of a cross-group one, WATCH leases."),
}

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
    // `Kind` and `COMMANDS` are declared from the same rows, in the same order.
    &COMMANDS[kind as usize]
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
    fn routes_agree_with_key_positions() {
        for s in COMMANDS {
            let fits = match s.route {
                Route::Key => matches!(s.keys, KeySpec::First | KeySpec::Second),
                Route::Keys(_) => matches!(
                    s.keys,
                    KeySpec::AllFrom(_) | KeySpec::Pairs(_) | KeySpec::Counted(_)
                ),
                Route::SameGroup => matches!(
                    s.keys,
                    KeySpec::AllFrom(_)
                        | KeySpec::Pairs(_)
                        | KeySpec::Range(..)
                        | KeySpec::Counted(_)
                ),
                Route::Local | Route::All(_) | Route::Scan | Route::Cluster => {
                    s.keys == KeySpec::None
                }
                Route::Txn => true,
            };
            assert!(fits, "{}: {:?} with {:?}", s.name, s.route, s.keys);
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
