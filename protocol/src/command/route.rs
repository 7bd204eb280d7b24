//! Where a command runs in a cluster, and how several groups' replies become one: a column of
//! the command table, read by the router's `plan` and `merge`.

use super::table::Kind;

/// Where a command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Answered by the process that received it, router or shard (`serve::session`).
    Local,
    /// One key, at argument 1: forwarded to the key's group.
    Key,
    /// Several keys: split by group, one sub-request per group, the replies merged.
    Keys(Merge),
    /// Several keys that must share a group (`MSETNX`: atomic across its keys); keys in
    /// different groups are refused with `CROSSSLOT`, as Redis Cluster does.
    SameGroup,
    /// Every group, the replies merged.
    All(Merge),
    /// `SCAN`: one group at a time, the router's cursor says which (see [`SCAN_CURSOR_BITS`]).
    Scan,
    /// `JUMPCACHE`: the cluster's own commands, answered by the process that received them
    /// (a router from its topology, a shard from its part in a resize); never forwarded.
    Cluster,
    /// Transactions and scripts (EXEC, WATCH, UNWATCH, EVAL*, SCRIPT, TXN): a shard runs them
    /// with the connection's session (`server::txn`), a router through `router::txn`, which
    /// places their keys itself.
    Txn,
}

/// How the replies of several groups become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Merge {
    /// MGET: arrays put back in the client's key order; `len` keys in all.
    ///
    /// `len` belongs to the request, not the command: a table row writes 0 and the router's
    /// `plan` sets it to the request's key count.
    Reorder {
        /// How many keys the client asked for.
        len: usize,
    },
    /// DEL UNLINK EXISTS TOUCH DBSIZE: integers summed.
    Sum,
    /// MSET FLUSHDB FLUSHALL: `+OK` when every part said `+OK`, else the first error.
    AllOk,
    /// KEYS: arrays concatenated in group order.
    Concat,
    /// RANDOMKEY: one key from a group that had one, nil when none did.
    AnyKey,
    /// INFO: fields summed, plus the `# Cluster` section.
    Info,
    /// MEMORY STATS: maps of integers added field by field.
    MemoryStats,
    /// BGSAVE: every group's reply the same (`+Background saving started`), which it is;
    /// else the first error.
    Same,
    /// LASTSAVE: the smallest integer (the oldest of the groups' last snapshots).
    Min,
    /// SINTER SUNION SDIFF SINTERCARD across groups: each group's members, combined by the
    /// router (read-only set algebra needs no atomicity across groups beyond what each
    /// group's own reply gives).
    Sets(SetOp),
}

/// How [`Merge::Sets`] combines the groups' members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    /// SINTER: each group answers SINTER of its keys; the router intersects.
    Inter,
    /// SUNION: each group answers SUNION of its keys; the router unites.
    Union,
    /// SDIFF: the first key's group answers SDIFF of its keys (the first one first), the
    /// others SUNION of theirs; the router takes the latter from the former.
    Diff,
    /// SINTERCARD: each group answers SINTER of its keys; the router counts the
    /// intersection up to `limit` (0: no limit). As `Merge::Reorder`'s `len`, `limit`
    /// belongs to the request: `plan` sets it.
    InterCard {
        /// LIMIT's argument.
        limit: usize,
    },
}

/// Subcommands that route otherwise than their row: (command, subcommand, route). A row's
/// route is its usual subcommands' (MEMORY USAGE goes to its key's group); these go elsewhere.
pub const SUBCOMMAND_ROUTES: &[(Kind, &str, Route)] =
    &[(Kind::Memory, "STATS", Route::All(Merge::MemoryStats))];

/// A shard's SCAN cursor fits in this many bits; the router's cursor puts the group index
/// above them. The shard's store orders keys by this many bits of their hash.
pub const SCAN_CURSOR_BITS: u32 = 48;

/// The mask of a shard's own cursor inside a router cursor.
pub const SCAN_CURSOR_MASK: u64 = (1 << SCAN_CURSOR_BITS) - 1;
