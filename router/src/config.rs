//! The router's settings: flags (flattened into `jumpcache router` by the binary) or TOML.

use std::time::Duration;

use clap::{Parser, ValueEnum};
use serve::{ClientConfig, Password};

/// When a write to a replicated group is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum WritePolicy {
    /// Once every member written to has answered (the reply is the primary's).
    #[default]
    All,
    /// Once the first member has answered; the others are checked in the background.
    One,
}

/// Which member of a replicated group serves a read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ReadPolicy {
    /// The first healthy member in the group's list.
    #[default]
    Primary,
    /// Healthy members in turn.
    RoundRobin,
    /// The healthy member with the fewest requests in flight.
    LeastLoaded,
}

/// Everything the router needs to run; `Default` is the flags' defaults.
///
/// Tests write `Config { shards: addrs, ..Config::default() }`.
#[derive(Debug, Clone, PartialEq, Eq, Parser)]
// A group id of its own: `jumpcache cluster` flattens both crates' `Config`s.
#[group(id = "router-settings")]
pub struct Config {
    /// Shard groups, comma-separated, in bucket order; a group's members (`host:port`) are
    /// separated by `|`, primary first: `a:7001|a:7101,b:7002|b:7102`. The order of groups is
    /// the routing, so never reorder it; replace a failed member's address in place.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub shards: Vec<String>,

    /// When a write to a replicated group is answered: `all` members or the first `one`.
    #[arg(long, value_enum, default_value_t = WritePolicy::All)]
    pub write_policy: WritePolicy,

    /// Which healthy member serves a read: `primary`, `round-robin` or `least-loaded`.
    #[arg(long, value_enum, default_value_t = ReadPolicy::Primary)]
    pub read_policy: ReadPolicy,

    /// Milliseconds between health checks (PING) of every member.
    #[arg(long, default_value_t = 500)]
    pub health_interval_ms: u64,

    /// Failed health checks in a row before a member is marked down.
    #[arg(long, default_value_t = 3)]
    pub fail_after: u32,

    /// Good health checks in a row before a down member is brought back (re-synced first).
    #[arg(long, default_value_t = 2)]
    pub rise_after: u32,

    /// Long-lived connections per shard, shared by all clients (each client keeps to one).
    /// One, the default, gathers the most requests into each write to the shard.
    #[arg(long, default_value_t = 1)]
    pub shard_connections: usize,

    /// Per-request shard timeout in milliseconds; a stalled shard connection is reconnected.
    #[arg(long, default_value_t = 1000)]
    pub shard_timeout_ms: u64,

    /// Requests queued or in flight per shard connection; past it, requests for that shard
    /// fail at once (`-ERR shard <addr> busy`) instead of waiting on a stalled shard.
    #[arg(long, default_value_t = 10_000)]
    pub shard_queue: usize,

    /// Microseconds the router keeps polling its sockets instead of sleeping after it last
    /// read a request or wrote a reply, while at most one request is in flight to the shards
    /// (a lightly loaded router): the next request or the shard's reply then finds it running
    /// instead of waking it. Lower latency at low load for more CPU (up to this long per
    /// request); 0 (the default) never polls. Not used by `cluster`, whose shards run in the
    /// router's process.
    #[arg(long, default_value_t = 0)]
    pub busy_poll_us: u64,

    /// A topology file (`epoch = N`, `groups = ["host:port|host:port", ...]`), read at start,
    /// again within a second of it changing, and on SIGHUP; replaces `--shards` and lets the
    /// cluster grow and shrink live (docs/operations.md).
    #[arg(long, value_name = "FILE")]
    pub topology: Option<std::path::PathBuf>,

    /// Keys a second this router's mover moves at most during a resize while clients are
    /// sending commands (0: no cap); with no client traffic it moves as fast as it can. The
    /// data path moves the keys clients touch whatever this is.
    #[arg(long, default_value_t = 50_000)]
    pub migration_rate: u64,

    /// Password the router sends (AUTH) on every shard connection: the shards' `requirepass`.
    #[arg(long, value_parser = Password::parse)]
    pub shard_password: Option<Password>,

    /// Connect to the shards over TLS (Redis: `tls-replication`, for the router's links to
    /// its shards): their certificates must chain to `--tls-ca-cert-file`, and the router
    /// shows its `--tls-cert-file` to shards that ask for a client certificate.
    #[arg(long)]
    pub tls_shards: bool,

    /// The TLS client side for `--tls-shards` (the binary makes it from the `--tls-*` files).
    #[arg(skip)]
    pub shard_tls: ShardTls,

    /// Client-facing limits and `requirepass`; the binary flattens [`ClientConfig`] once per
    /// subcommand and copies it in (see `server::Config::clients`).
    #[arg(skip)]
    pub clients: ClientConfig,

    /// What `CONFIG GET maxmemory` reports (the binary sets it in `cluster` mode).
    #[arg(skip)]
    pub maxmemory: u64,

    /// What `CONFIG GET dir`, `dbfilename` and `save` report: the cluster's `--dir` and
    /// `--save` in `cluster` mode (set by the binary), else the working directory.
    #[arg(skip)]
    pub snapshots: serve::persistence::SnapshotSettings,
    /// Bytes of GET replies the router keeps for hot keys (e.g. `64mb`; 0, the default, keeps
    /// none): a near-cache with TinyLFU admission, emptied by the shards' invalidations
    /// (docs/operations.md, "Near-cache").
    #[arg(long, default_value = "0", value_parser = serve::units::parse_memory)]
    pub near_cache: u64,

    /// The near-cache itself, made by `run` when `--near-cache` is not 0.
    #[arg(skip)]
    pub near: NearSlot,
}

/// The router's near-cache, shared by its shard connections and its clients.
#[derive(Debug, Clone, Default)]
pub struct NearSlot(pub Option<std::sync::Arc<crate::near::NearCache>>);

impl PartialEq for NearSlot {
    fn eq(&self, other: &NearSlot) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Eq for NearSlot {}

/// The TLS a router's shard connections use, when `--tls-shards` is on.
#[derive(Debug, Clone, Default)]
pub struct ShardTls(pub Option<std::sync::Arc<serve::Tls>>);

impl PartialEq for ShardTls {
    fn eq(&self, other: &ShardTls) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }
}

impl Eq for ShardTls {}

impl Default for Config {
    fn default() -> Self {
        Self::parse_from(["router"])
    }
}

impl Config {
    /// Rejects settings the router cannot run with.
    ///
    /// # Errors
    /// A sentence naming the bad setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.shards.is_empty() && self.topology.is_none() {
            return Err("--shards needs at least one host:port (or give --topology FILE)".into());
        }
        if !self.shards.is_empty() && self.topology.is_some() {
            return Err("--shards and --topology are two ways to say the same: give one".into());
        }
        let members = || self.shards.iter().flat_map(|g| g.split('|'));
        if let Some(bad) = members().find(|s| !s.contains(':') || s.trim() != *s) {
            return Err(format!("--shards: {bad:?} is not host:port"));
        }
        let mut seen: Vec<&str> = members().collect();
        seen.sort_unstable();
        if let Some(w) = seen.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("--shards: {} is listed twice", w[0]));
        }
        if self.shards.iter().any(|g| g.split('|').count() > 32) {
            return Err("--shards: at most 32 members per group".into());
        }
        if self.tls_shards && self.shard_tls.0.is_none() {
            return Err("--tls-shards needs the TLS files (--tls-ca-cert-file at least)".into());
        }
        if self.health_interval_ms == 0 || self.fail_after == 0 || self.rise_after == 0 {
            return Err(
                "--health-interval-ms, --fail-after and --rise-after must be positive".into(),
            );
        }
        if self.shards.len() > u32::MAX as usize {
            return Err("--shards: too many shards".into());
        }
        if self.shard_connections == 0 || self.shard_connections > 64 {
            return Err("--shard-connections must be between 1 and 64".into());
        }
        if self.busy_poll_us > 1_000_000 {
            return Err("--busy-poll-us must be at most 1000000".into());
        }
        if self.shard_timeout_ms == 0 {
            return Err("--shard-timeout-ms must be positive".into());
        }
        if self.shard_queue == 0 || self.shard_queue > (u32::MAX >> 3) as usize {
            return Err("--shard-queue must be between 1 and 536870911".into());
        }
        self.clients.validate()
    }

    /// Returns the per-request shard timeout.
    pub fn shard_timeout(&self) -> Duration {
        Duration::from_millis(self.shard_timeout_ms)
    }

    /// Returns the time between two health checks of a member.
    pub fn health_interval(&self) -> Duration {
        Duration::from_millis(self.health_interval_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_flags_agree() {
        let c = Config::default();
        assert_eq!(c.shard_connections, 1);
        assert_eq!(c.shard_timeout_ms, 1000);
        assert_eq!(c.busy_poll_us, 0);
        assert!(c.validate().is_err(), "no shards");
        let c = Config::parse_from(["router", "--shards", "127.0.0.1:1,127.0.0.1:2"]);
        assert_eq!(c.shards, ["127.0.0.1:1", "127.0.0.1:2"]);
        assert!(c.validate().is_ok());
        assert_eq!(c.write_policy, WritePolicy::All);
        assert_eq!(c.read_policy, ReadPolicy::Primary);
        assert_eq!(
            (c.health_interval_ms, c.fail_after, c.rise_after),
            (500, 3, 2)
        );
        let g = Config::parse_from([
            "router",
            "--shards",
            "a:1|a:2,b:1|b:2",
            "--read-policy",
            "least-loaded",
        ]);
        assert_eq!(g.shards, ["a:1|a:2", "b:1|b:2"]);
        assert_eq!(g.read_policy, ReadPolicy::LeastLoaded);
        assert!(g.validate().is_ok());
        let dup = Config::parse_from(["router", "--shards", "a:1|a:1"]);
        assert!(dup.validate().unwrap_err().contains("twice"));
        let long = Config {
            busy_poll_us: 1_000_001,
            ..c.clone()
        };
        assert!(long.validate().unwrap_err().contains("--busy-poll-us"));
        let c = Config {
            shard_connections: 0,
            ..c
        };
        assert!(c.validate().is_err());
    }
}
