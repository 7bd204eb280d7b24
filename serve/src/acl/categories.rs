//! Redis's ACL command categories, and which categories each command of the table is in.
//!
//! The categories are Redis 7.0's, named and ordered as `ACL CAT` lists them. A command's
//! categories are Redis's own where Redis has the command (the list in [`REDIS`], copied from
//! redis-server 7.0.15's `COMMAND INFO`; a test compares it with a live redis-server), so a
//! rule copied from a Redis deployment means the same here. A command Redis does not have, or
//! one added to the table without a line here, gets categories derived from its row's flags
//! and group ([`derived`]): nobody adding a command has to come here first, and nobody can
//! forget to (a command is never in no category).

use protocol::command::{CommandSpec, Flags};

/// A set of categories, one bit each, in [`NAMES`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Categories(u32);

/// Redis 7.0's categories, in `ACL CAT`'s order.
pub const NAMES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

impl Categories {
    /// Returns the set of the categories named in `names` (names outside [`NAMES`] are ignored).
    pub fn of(names: &[&str]) -> Categories {
        let mut bits = 0;
        for n in names {
            if let Some(i) = index(n) {
                bits |= 1 << i;
            }
        }
        Categories(bits)
    }

    /// Returns the one category called `name` (`read`, not `@read`); `None` if Redis has no
    /// such category.
    pub fn named(name: &[u8]) -> Option<Categories> {
        let name = std::str::from_utf8(name).ok()?.to_ascii_lowercase();
        index(&name).map(|i| Categories(1 << i))
    }

    /// Returns true when the two sets share a category.
    pub fn intersects(self, other: Categories) -> bool {
        self.0 & other.0 != 0
    }

    /// Returns the names of the categories in the set, in [`NAMES`] order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        NAMES
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| *n)
    }

    fn with(self, name: &str, on: bool) -> Categories {
        match (on, index(name)) {
            (true, Some(i)) => Categories(self.0 | 1 << i),
            _ => self,
        }
    }
}

fn index(name: &str) -> Option<usize> {
    NAMES.iter().position(|n| *n == name)
}

/// Redis 7.0.15's categories for the commands it shares with jumpcache, and for
/// `container|subcommand` where the subcommands differ. `JUMPCACHE`, ours alone, is an
/// administrator's command that changes the cluster: `@admin @slow @dangerous`.
const REDIS: &[(&str, &[&str])] = &[
    ("ping", &["fast", "connection"]),
    ("echo", &["fast", "connection"]),
    ("quit", &["fast", "connection"]),
    ("hello", &["fast", "connection"]),
    ("auth", &["fast", "connection"]),
    ("client", &["slow"]),
    ("client|list", &["admin", "slow", "dangerous", "connection"]),
    ("client|kill", &["admin", "slow", "dangerous", "connection"]),
    ("client|info", &["slow", "connection"]),
    ("client|setname", &["slow", "connection"]),
    ("client|getname", &["slow", "connection"]),
    ("client|setinfo", &["slow", "connection"]),
    ("client|id", &["slow", "connection"]),
    ("client|tracking", &["slow", "connection"]),
    ("client|caching", &["slow", "connection"]),
    ("client|getredir", &["slow", "connection"]),
    ("client|trackinginfo", &["slow", "connection"]),
    ("client|help", &["slow", "connection"]),
    ("subscribe", &["pubsub", "slow"]),
    ("unsubscribe", &["pubsub", "slow"]),
    ("select", &["fast", "connection"]),
    ("command", &["slow", "connection"]),
    ("command|count", &["slow", "connection"]),
    ("command|docs", &["slow", "connection"]),
    ("command|info", &["slow", "connection"]),
    ("command|list", &["slow", "connection"]),
    ("command|help", &["slow", "connection"]),
    ("config", &["slow"]),
    ("config|get", &["admin", "slow", "dangerous"]),
    ("config|set", &["admin", "slow", "dangerous"]),
    ("config|resetstat", &["admin", "slow", "dangerous"]),
    ("config|help", &["slow"]),
    ("slowlog", &["slow"]),
    ("slowlog|get", &["admin", "slow", "dangerous"]),
    ("slowlog|len", &["admin", "slow", "dangerous"]),
    ("slowlog|reset", &["admin", "slow", "dangerous"]),
    ("slowlog|help", &["slow"]),
    ("latency", &["slow"]),
    ("latency|latest", &["admin", "slow", "dangerous"]),
    ("latency|history", &["admin", "slow", "dangerous"]),
    ("latency|reset", &["admin", "slow", "dangerous"]),
    ("latency|help", &["slow"]),
    ("wait", &["slow", "connection"]),
    ("acl", &["slow"]),
    ("acl|whoami", &["slow"]),
    ("acl|cat", &["slow"]),
    ("acl|list", &["admin", "slow", "dangerous"]),
    ("acl|users", &["admin", "slow", "dangerous"]),
    ("acl|help", &["slow"]),
    ("jumpcache", &["admin", "slow", "dangerous"]),
    // What routers send shards in a cross-group transaction: for the routers' user only.
    ("txn", &["admin", "slow", "dangerous"]),
    ("memory", &["slow"]),
    ("memory|usage", &["read", "slow"]),
    ("memory|stats", &["slow"]),
    ("memory|help", &["slow"]),
    ("dump", &["keyspace", "read", "slow"]),
    ("restore", &["keyspace", "write", "slow", "dangerous"]),
    ("object", &["slow"]),
    ("object|encoding", &["keyspace", "read", "slow"]),
    ("object|freq", &["keyspace", "read", "slow"]),
    ("object|idletime", &["keyspace", "read", "slow"]),
    ("object|refcount", &["keyspace", "read", "slow"]),
    ("object|help", &["keyspace", "slow"]),
    ("info", &["slow", "dangerous"]),
    ("dbsize", &["keyspace", "read", "fast"]),
    ("flushdb", &["keyspace", "write", "slow", "dangerous"]),
    ("flushall", &["keyspace", "write", "slow", "dangerous"]),
    ("save", &["admin", "slow", "dangerous"]),
    ("bgsave", &["admin", "slow", "dangerous"]),
    ("lastsave", &["admin", "fast", "dangerous"]),
    ("time", &["fast"]),
    ("get", &["read", "string", "fast"]),
    ("set", &["write", "string", "slow"]),
    ("setnx", &["write", "string", "fast"]),
    ("setex", &["write", "string", "slow"]),
    ("psetex", &["write", "string", "slow"]),
    ("getset", &["write", "string", "fast"]),
    ("getdel", &["write", "string", "fast"]),
    ("getex", &["write", "string", "fast"]),
    ("mget", &["read", "string", "fast"]),
    ("mset", &["write", "string", "slow"]),
    ("msetnx", &["write", "string", "slow"]),
    ("del", &["keyspace", "write", "slow"]),
    ("unlink", &["keyspace", "write", "fast"]),
    ("exists", &["keyspace", "read", "fast"]),
    ("touch", &["keyspace", "read", "fast"]),
    ("incr", &["write", "string", "fast"]),
    ("decr", &["write", "string", "fast"]),
    ("incrby", &["write", "string", "fast"]),
    ("decrby", &["write", "string", "fast"]),
    ("incrbyfloat", &["write", "string", "fast"]),
    ("append", &["write", "string", "fast"]),
    ("strlen", &["read", "string", "fast"]),
    ("getrange", &["read", "string", "slow"]),
    ("setrange", &["write", "string", "slow"]),
    ("expire", &["keyspace", "write", "fast"]),
    ("pexpire", &["keyspace", "write", "fast"]),
    ("expireat", &["keyspace", "write", "fast"]),
    ("pexpireat", &["keyspace", "write", "fast"]),
    ("persist", &["keyspace", "write", "fast"]),
    ("ttl", &["keyspace", "read", "fast"]),
    ("pttl", &["keyspace", "read", "fast"]),
    ("expiretime", &["keyspace", "read", "fast"]),
    ("pexpiretime", &["keyspace", "read", "fast"]),
    ("type", &["keyspace", "read", "fast"]),
    ("keys", &["keyspace", "read", "slow", "dangerous"]),
    ("scan", &["keyspace", "read", "slow"]),
    ("randomkey", &["keyspace", "read", "slow"]),
    // Commands others are adding (Redis 7.0's lists, so they are right on the day they land).
    ("multi", &["fast", "transaction"]),
    ("exec", &["slow", "transaction"]),
    ("discard", &["fast", "transaction"]),
    ("watch", &["fast", "transaction"]),
    ("unwatch", &["fast", "transaction"]),
    ("eval", &["slow", "scripting"]),
    ("evalsha", &["slow", "scripting"]),
    ("eval_ro", &["slow", "scripting"]),
    ("evalsha_ro", &["slow", "scripting"]),
    ("script", &["slow"]),
    ("script|load", &["slow", "scripting"]),
    ("script|exists", &["slow", "scripting"]),
    ("script|flush", &["slow", "scripting"]),
    ("script|kill", &["slow", "scripting"]),
    ("script|help", &["slow", "scripting"]),
];

/// Returns the categories of `spec`, or of its subcommand `sub` (upper or lower case) where
/// Redis gives the subcommand its own.
pub fn categories(spec: &CommandSpec, sub: Option<&str>) -> Categories {
    if let Some(sub) = sub {
        let full = format!("{}|{}", spec.lower, sub.to_ascii_lowercase());
        if let Some((_, names)) = REDIS.iter().find(|(n, _)| *n == full) {
            return Categories::of(names);
        }
    }
    match REDIS.iter().find(|(n, _)| *n == spec.lower) {
        Some((_, names)) => Categories::of(names),
        None => derived(spec),
    }
}

/// Returns categories made from a row's flags and group, as Redis derives its own implicit
/// ones (`@write` from the write flag, `@fast` or `@slow`, `@admin` and `@dangerous` for
/// administrative commands) plus the group's data-type category.
pub fn derived(spec: &CommandSpec) -> Categories {
    let f = spec.flags;
    let group = match spec.group {
        "generic" => "keyspace",
        "string" => "string",
        "hash" => "hash",
        "list" => "list",
        "set" => "set",
        "sorted-set" | "sorted_set" | "zset" => "sortedset",
        "bitmap" => "bitmap",
        "hyperloglog" => "hyperloglog",
        "geo" => "geo",
        "stream" => "stream",
        "pubsub" => "pubsub",
        "transactions" | "transaction" => "transaction",
        "scripting" => "scripting",
        "connection" => "connection",
        _ => "",
    };
    Categories::default()
        .with(group, true)
        .with("write", f.contains(Flags::WRITE))
        .with("read", f.contains(Flags::READONLY))
        .with("admin", f.contains(Flags::ADMIN))
        .with("dangerous", f.contains(Flags::ADMIN))
        .with("fast", f.contains(Flags::FAST))
        .with("slow", !f.contains(Flags::FAST))
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::command::COMMANDS;

    fn of(name: &str, sub: Option<&str>) -> Vec<&'static str> {
        let spec = COMMANDS.iter().find(|s| s.lower == name).unwrap();
        categories(spec, sub).names().collect()
    }

    #[test]
    fn commands_are_in_redis_categories() {
        assert_eq!(
            of("flushall", None),
            ["keyspace", "write", "slow", "dangerous"]
        );
        assert_eq!(of("config", Some("GET")), ["admin", "slow", "dangerous"]);
        assert_eq!(of("get", None), ["read", "string", "fast"]);
        assert_eq!(of("jumpcache", None), ["admin", "slow", "dangerous"]);
        assert_eq!(of("client", Some("id")), ["slow", "connection"]);
    }

    #[test]
    fn every_row_is_in_some_category_and_rows_redis_has_are_listed() {
        for spec in COMMANDS {
            assert_ne!(
                categories(spec, None),
                Categories::default(),
                "{}",
                spec.name
            );
        }
    }

    #[test]
    fn derived_categories_follow_the_flags() {
        let get = COMMANDS.iter().find(|s| s.lower == "get").unwrap();
        assert_eq!(
            derived(get).names().collect::<Vec<_>>(),
            ["read", "string", "fast"]
        );
        let del = COMMANDS.iter().find(|s| s.lower == "del").unwrap();
        assert_eq!(
            derived(del).names().collect::<Vec<_>>(),
            ["keyspace", "write", "slow"]
        );
    }
}
