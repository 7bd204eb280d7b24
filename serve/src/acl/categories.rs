//! Redis's ACL command categories, and which categories each command of the table is in.
//!
//! The categories are Redis 7.0's, named and ordered as `ACL CAT` lists them. A command's
//! categories are Redis's own where Redis has the command (the list in [`REDIS_COMMANDS`], copied from
//! redis-server 7.0.15's `COMMAND`; a test compares it with a live redis-server), so a
//! rule copied from a Redis deployment means the same here. A command Redis does not have, or
//! one added to the table without a line here, gets categories derived from its row's flags
//! and group ([`derived`]): nobody adding a command has to come here first, and nobody can
//! forget to (a command is never in no category).

use protocol::command::{CommandSpec, Flags};

use super::redis_commands::REDIS_COMMANDS;

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

/// Categories of the commands and subcommands jumpcache has and Redis 7.0.15 has not.
/// `JUMPCACHE` is an administrator's command that changes the cluster: `@admin @slow
/// @dangerous`; TXN is what routers send shards in a cross-group transaction, for the
/// routers' user only; CLIENT SETINFO came in Redis 7.2.
const OURS: &[(&str, &[&str])] = &[
    ("jumpcache", &["admin", "slow", "dangerous"]),
    ("txn", &["admin", "slow", "dangerous"]),
    ("client|setinfo", &["slow", "connection"]),
];

/// Returns Redis 7.0.15's categories for `full` (`get`, `config|get`), or ours for the few
/// names Redis lacks; `None` for a name neither knows.
pub fn of_name(full: &str) -> Option<Categories> {
    if let Some((_, names)) = REDIS_COMMANDS.iter().find(|(n, _)| *n == full) {
        let names: Vec<&str> = names.split(' ').collect();
        return Some(Categories::of(&names));
    }
    OURS.iter()
        .find(|(n, _)| *n == full)
        .map(|(_, names)| Categories::of(names))
}

/// Returns the categories of `spec`, or of its subcommand `sub` (upper or lower case) where
/// Redis gives the subcommand its own.
pub fn categories(spec: &CommandSpec, sub: Option<&str>) -> Categories {
    if let Some(sub) = sub {
        if let Some(c) = of_name(&spec.full_name(Some(sub))) {
            return c;
        }
    }
    of_name(spec.lower).unwrap_or_else(|| derived(spec))
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
