//! The shard's settings, each named after the Redis directive it mirrors.

use clap::{Args, Parser, ValueEnum};
use serve::units::parse_memory;
use serve::ClientConfig;

use crate::rdb::RdbConfig;
pub use crate::store::Backend as StoreBackend;

/// How the store chooses what to evict when full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum EvictionPolicy {
    /// Least recently used (Redis `allkeys-lru`): a fresh SET is always kept.
    #[default]
    Lru,
    /// Approximated least frequently used (Redis `allkeys-lfu`): a logarithmic access counter
    /// that decays by one a minute; a fresh SET is kept too.
    Lfu,
}

impl EvictionPolicy {
    /// Returns the Redis `maxmemory-policy` name reported by INFO and CONFIG GET.
    pub fn redis_name(self) -> &'static str {
        match self {
            EvictionPolicy::Lru => "allkeys-lru",
            EvictionPolicy::Lfu => "allkeys-lfu",
        }
    }
}

/// Settings of one shard.
#[derive(Debug, Clone, Args)]
// A group id of its own: `jumpcache cluster` flattens both crates' `Config`s, and clap
// rejects two groups both called `Config` (a debug-build assertion).
#[group(id = "shard-settings")]
pub struct Config {
    /// Memory bound for keys, values and per-entry overhead (Redis: `maxmemory`): 100mb, 1gb, bytes.
    #[arg(long, default_value = "1gb", value_parser = parse_memory)]
    pub max_memory: u64,

    /// Eviction policy when the memory bound is reached (Redis: `maxmemory-policy`).
    #[arg(long, value_enum, default_value_t = EvictionPolicy::Lru)]
    pub eviction: EvictionPolicy,

    /// Which store holds the keys: `compact` (this crate's segmented store: the least memory
    /// and CPU per key) or `moka` (moka's concurrent cache; see docs/architecture.md).
    #[arg(long = "store", value_enum, default_value_t = StoreBackend::Compact)]
    pub store: StoreBackend,

    /// How often expired and evicted entries are reclaimed, in milliseconds.
    #[arg(long, default_value_t = 200)]
    pub maintenance_interval_ms: u64,

    /// How long a script runs before other commands get `-BUSY` and SCRIPT KILL may stop it,
    /// in milliseconds (Redis: `lua-time-limit`).
    #[arg(long = "lua-time-limit", default_value_t = 5000)]
    pub lua_time_limit_ms: u64,

    /// The most memory one Lua state (every script of this shard) may hold, in bytes; a
    /// script that needs more fails with an error.
    #[arg(long, default_value = "64mb", value_parser = parse_memory)]
    pub lua_memory_limit: u64,

    /// Client-facing limits and `requirepass`. Not flags of their own here: the binary
    /// flattens [`ClientConfig`] once per subcommand (in `cluster` the router and the shards
    /// would otherwise both claim `--maxclients`) and copies it in.
    #[arg(skip)]
    pub clients: ClientConfig,

    /// Whether this shard copies its counters into the process's metrics recorder. The
    /// binary sets it for a shard with its own `--metrics-port`; embedded shards leave it off.
    #[arg(skip)]
    pub export_metrics: bool,

    /// Snapshot settings (`--dir`, `--dbfilename`, `--save`, `--rdb-corrupt`): the binary
    /// flattens [`RdbConfig`] into `jumpcache shard` only and copies it in. `None` (shards
    /// inside `jumpcache cluster`, tests' shards): the shard neither loads nor saves.
    #[arg(skip)]
    pub rdb: Option<RdbConfig>,
}

#[derive(Parser)]
struct Standalone {
    #[command(flatten)]
    config: Config,
}

impl Default for Config {
    fn default() -> Self {
        Standalone::parse_from(["shard"]).config
    }
}

impl Config {
    /// Rejects impossible settings.
    ///
    /// # Errors
    /// A message naming the bad setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_memory == 0 {
            return Err("max-memory must be above 0".into());
        }
        if self.maintenance_interval_ms == 0 {
            return Err("maintenance-interval-ms must be above 0".into());
        }
        if let Some(rdb) = &self.rdb {
            rdb.validate()?;
        }
        self.clients.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_mirror_redis() {
        let c = Config::default();
        assert_eq!(c.max_memory, 1 << 30);
        assert_eq!(c.eviction, EvictionPolicy::Lru);
        assert_eq!(c.store, StoreBackend::Compact);
        assert!(c.validate().is_ok());
    }

    #[test]
    fn eviction_takes_lru_or_lfu_and_nothing_else() {
        let parsed = Standalone::try_parse_from(["shard", "--eviction", "lfu"]).unwrap();
        assert_eq!(parsed.config.eviction, EvictionPolicy::Lfu);
        assert_eq!(EvictionPolicy::Lfu.redis_name(), "allkeys-lfu");
        assert!(Standalone::try_parse_from(["shard", "--eviction", "tinylfu"]).is_err());
        let parsed = Standalone::try_parse_from(["shard", "--store", "moka"]).unwrap();
        assert_eq!(parsed.config.store, StoreBackend::Moka);
        assert!(Standalone::try_parse_from(["shard", "--store", "dashmap"]).is_err());
    }
}
