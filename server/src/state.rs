//! What every connection of one shard shares.

use std::sync::Arc;

use std::sync::atomic::AtomicU64;

use serve::session::{ServerConfig, StoreSettings};
use serve::{ClientSlots, Setting};

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, EvictionPolicy};
use crate::rdb::{Persistence, RdbConfig};
use crate::stats::Stats;
use crate::store::{Eviction, Store, StoreConfig};

/// The shard: its store, counters and settings.
#[derive(Debug)]
pub struct ShardState {
    /// The keys.
    pub store: Store,
    /// Process counters, shared with `clients`.
    pub stats: Arc<Stats>,
    /// Settings.
    pub config: Config,
    /// What CONFIG GET reports.
    pub server_config: ServerConfig,
    /// The TCP port served (`tcp_port`).
    pub port: u16,
    /// 40 random hex digits, new for every process (Redis's `run_id`): a router tells a
    /// restarted, empty shard from one that was only unreachable by it.
    pub run_id: String,
    /// Connected clients, against `maxclients` (counted in `stats`).
    pub clients: Arc<ClientSlots>,
    /// The topology epoch routers announced, and this shard's part in a resize.
    pub cluster: crate::cluster::ClusterState,
    /// Snapshots: SAVE, BGSAVE, `--save`, loading at start-up.
    pub persistence: Arc<Persistence>,
    /// The transaction gate, the WATCH table, cross-group key locks.
    pub txn: crate::txn::Txn,
    /// The script cache and the running script (SCRIPT KILL).
    pub scripts: crate::script::Scripts,
}

impl ShardState {
    /// Returns a shard with an empty store, on the system clock.
    pub fn new(config: Config, port: u16) -> Arc<ShardState> {
        Self::with_clock(config, port, Arc::new(SystemClock))
    }

    /// Returns a shard whose TTLs follow `clock`.
    pub fn with_clock(config: Config, port: u16, clock: Arc<dyn Clock>) -> Arc<ShardState> {
        let eviction = match config.eviction {
            EvictionPolicy::Lru => Eviction::Lru,
            EvictionPolicy::Lfu => Eviction::Lfu,
        };
        let store = Store::new(
            StoreConfig {
                max_memory: config.max_memory,
                eviction,
                backend: config.store,
            },
            clock,
        );
        let stats = Arc::new(Stats::new(config.export_metrics));
        let clients = ClientSlots::new(config.clients.maxclients, stats.clone());
        let server_config = ServerConfig {
            maxmemory: Setting::new(config.max_memory),
            maxmemory_policy: Setting::new(config.eviction.redis_name().to_string()),
            acl: Arc::new(config.clients.acl_or_locked()),
            slowlog: config.clients.slowlog(),
            latency: config.clients.latency_monitor(),
            clients: Default::default(),
            timeout_seconds: Arc::new(AtomicU64::new(config.clients.timeout)),
            slots: Some(clients.clone()),
            store: Some(Arc::new(StoreHandle(store.clone()))),
            snapshots: Arc::new(
                config
                    .rdb
                    .as_ref()
                    .map(RdbConfig::settings)
                    .unwrap_or_default(),
            ),
            tracking: Default::default(),
        };
        let persistence = Persistence::new(config.rdb.clone());
        let lua_time_limit = std::time::Duration::from_millis(config.lua_time_limit_ms);
        let lua_memory_limit = config.lua_memory_limit;
        let shard = Arc::new(ShardState {
            persistence,
            store,
            clients,
            stats,
            config,
            server_config,
            port,
            run_id: new_run_id(),
            cluster: Default::default(),
            txn: Default::default(),
            scripts: crate::script::Scripts::new(lua_time_limit, lua_memory_limit),
        });
        shard.server_config.tracking.set_supported();
        // Expiry and eviction invalidate tracked keys and fail EXEC on WATCHed ones.
        let weak = Arc::downgrade(&shard);
        shard.store.on_removal(move |key| {
            if let Some(shard) = weak.upgrade() {
                crate::tracking::removed(&shard, key);
            }
        });
        shard
    }
}

/// The store, as CONFIG SET changes it.
#[derive(Debug)]
struct StoreHandle(Store);

impl StoreSettings for StoreHandle {
    fn set_max_memory(&self, bytes: u64) {
        self.0.set_max_memory(bytes);
    }

    fn set_lfu(&self, lfu: bool) {
        self.0
            .set_eviction(if lfu { Eviction::Lfu } else { Eviction::Lru });
    }
}

/// Returns 40 hex digits from the process's random hasher seeds (no RNG dependency).
fn new_run_id() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::with_capacity(48);
    for i in 0u64..3 {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        out.push_str(&format!("{:016x}", h.finish()));
    }
    out.truncate(40);
    out
}
