//! The router's settings: flags (flattened into `jumpcache router` by the binary) or TOML.

use std::time::Duration;

use clap::Parser;
use resp::{ClientConfig, Password};
use serde::Deserialize;

/// Everything the router needs to run; `Default` is the flags' defaults.
///
/// Tests write `Config { shards: addrs, ..Config::default() }`.
#[derive(Debug, Clone, PartialEq, Eq, Parser, Deserialize)]
#[serde(default)]
// A group id of its own: `jumpcache cluster` flattens both crates' `Config`s.
#[group(id = "router-settings")]
pub struct Config {
    /// Shard addresses (`host:port`), comma-separated, in bucket order: the order is the
    /// routing, so never reorder it; replace a failed shard's address in place.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub shards: Vec<String>,

    /// Long-lived connections per shard, shared by all clients (round-robin).
    #[arg(long, default_value_t = 2)]
    pub shard_connections: usize,

    /// Per-request shard timeout in milliseconds; a stalled shard connection is reconnected.
    #[arg(long, default_value_t = 1000)]
    pub shard_timeout_ms: u64,

    /// Requests queued or in flight per shard connection; past it, requests for that shard
    /// fail at once (`-ERR shard <addr> busy`) instead of waiting on a stalled shard.
    #[arg(long, default_value_t = 10_000)]
    pub shard_queue: usize,

    /// Password the router sends (AUTH) on every shard connection: the shards' `requirepass`.
    #[arg(long, value_parser = Password::parse)]
    #[serde(skip)]
    pub shard_password: Option<Password>,

    /// Client-facing limits and `requirepass`; the binary flattens [`ClientConfig`] once per
    /// subcommand and copies it in (see `server::Config::clients`).
    #[arg(skip)]
    #[serde(skip)]
    pub clients: ClientConfig,

    /// What `CONFIG GET maxmemory` reports (the binary sets it in `cluster` mode).
    #[arg(skip)]
    #[serde(skip)]
    pub maxmemory: u64,
}

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
        if self.shards.is_empty() {
            return Err("--shards needs at least one host:port".into());
        }
        if let Some(bad) = self
            .shards
            .iter()
            .find(|s| !s.contains(':') || s.trim() != *s)
        {
            return Err(format!("--shards: {bad:?} is not host:port"));
        }
        if self.shards.len() > u32::MAX as usize {
            return Err("--shards: too many shards".into());
        }
        if self.shard_connections == 0 || self.shard_connections > 64 {
            return Err("--shard-connections must be between 1 and 64".into());
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_flags_agree() {
        let c = Config::default();
        assert_eq!(c.shard_connections, 2);
        assert_eq!(c.shard_timeout_ms, 1000);
        assert!(c.validate().is_err(), "no shards");
        let c = Config::parse_from(["router", "--shards", "127.0.0.1:1,127.0.0.1:2"]);
        assert_eq!(c.shards, ["127.0.0.1:1", "127.0.0.1:2"]);
        assert!(c.validate().is_ok());
        let c = Config {
            shard_connections: 0,
            ..c
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn toml_fields_match_the_flags() {
        let c: Config = toml::from_str("shards = [\"a:1\"]\nshard_timeout_ms = 5\n").unwrap();
        assert_eq!(c.shards, ["a:1"]);
        assert_eq!(c.shard_timeout_ms, 5);
        assert_eq!(c.shard_queue, 10_000);
    }
}
