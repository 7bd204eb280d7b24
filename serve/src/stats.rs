//! Process counters and the metric names both the shard and the router export.
//!
//! Counting is plain atomics on the hot path: one row of counters per command, indexed by
//! its position in the command table ([`CommandSpec::index`]), so no map lookup, no label
//! hashing and no call into the metrics recorder per request. Durations go into a log-scale
//! histogram of atomics ([`LogHistogram`]). An upkeep task copies everything into the
//! `metrics` recorder when `/metrics` is scraped (`admin`; [`export_process`], [`CommandStats::export`]).
//!
//! Names follow the standard Redis exporter (redis_exporter) where the meaning matches, so
//! its Grafana dashboard reads them. Every name here is listed in docs/metrics.md (a test
//! checks it).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use metrics::{counter, gauge, Histogram, Unit};

use crate::info::Section;
use crate::latency::{LogHistogram, BUCKETS};
use protocol::command::{lookup, CommandSpec, COMMANDS};
use protocol::error::CommandError;

/// 1 while the process answers (redis_exporter: the exporter reached Redis).
pub const UP: &str = "redis_up";
/// Seconds since the process started.
pub const UPTIME: &str = "redis_uptime_in_seconds";
/// Client connections open now.
pub const CONNECTED_CLIENTS: &str = "redis_connected_clients";
/// Client connections accepted since start.
pub const CONNECTIONS_RECEIVED: &str = "redis_connections_received_total";
/// Client connections refused since start.
pub const REJECTED_CONNECTIONS: &str = "redis_rejected_connections_total";
/// Commands processed since start.
pub const COMMANDS_PROCESSED: &str = "redis_commands_processed_total";
/// Commands per second, averaged as Redis does (redis_exporter writes `..._per_sec`, which
/// `promtool check metrics` rejects as an abbreviated unit).
pub const OPS_PER_SEC: &str = "redis_instantaneous_ops_per_second";
/// Bytes read from clients.
pub const NET_INPUT: &str = "redis_net_input_bytes_total";
/// Bytes written to clients.
pub const NET_OUTPUT: &str = "redis_net_output_bytes_total";
/// Bytes of keys and values held (summed over shards on the router).
pub const MEMORY_USED: &str = "redis_memory_used_bytes";
/// The memory bound (summed over shards on the router).
pub const MEMORY_MAX: &str = "redis_memory_max_bytes";
/// Resident memory of this process.
pub const MEMORY_RSS: &str = "redis_memory_used_rss_bytes";
/// Reads that found their key.
pub const KEYSPACE_HITS: &str = "redis_keyspace_hits_total";
/// Reads that found no key.
pub const KEYSPACE_MISSES: &str = "redis_keyspace_misses_total";
/// Keys removed because their TTL passed.
pub const EXPIRED_KEYS: &str = "redis_expired_keys_total";
/// Keys removed to stay under the memory bound.
pub const EVICTED_KEYS: &str = "redis_evicted_keys_total";
/// Keys held, by database (`db="db0"`).
pub const DB_KEYS: &str = "redis_db_keys";
/// Keys with a TTL, by database (`db="db0"`).
pub const DB_KEYS_EXPIRING: &str = "redis_db_keys_expiring";
/// Commands processed, by command (`cmd="get"`).
pub const COMMANDS_TOTAL: &str = "redis_commands_total";
/// Time to answer a command, by command: a histogram (`_sum` is redis_exporter's
/// `redis_commands_duration_seconds_total`).
pub const COMMANDS_DURATION: &str = "redis_commands_duration_seconds";
/// Commands refused before running (wrong arity), by command.
pub const COMMANDS_REJECTED: &str = "redis_commands_rejected_calls_total";
/// Commands that ran and answered an error, by command.
pub const COMMANDS_FAILED: &str = "redis_commands_failed_calls_total";
/// TLS handshakes that failed, by `reason` (`timeout`, `protocol`, `certificate`, `closed`).
pub const TLS_HANDSHAKE_FAILURES: &str = "jumpcache_tls_handshake_failures_total";
/// TLS certificate reloads (SIGHUP, a file change), by `result` (`ok`, `error`).
pub const TLS_RELOADS: &str = "jumpcache_tls_reloads_total";

/// 1 while the snapshot file loads at start-up (redis_exporter's name).
pub const LOADING: &str = "redis_loading_dump_file";
/// Writes since the last successful snapshot.
pub const RDB_CHANGES: &str = "redis_rdb_changes_since_last_save";
/// 1 while a BGSAVE runs.
pub const RDB_BGSAVE_IN_PROGRESS: &str = "redis_rdb_bgsave_in_progress";
/// Unix time of the last successful snapshot.
pub const RDB_LAST_SAVE: &str = "redis_rdb_last_save_timestamp_seconds";
/// 1 when the last snapshot succeeded, 0 when it failed.
pub const RDB_LAST_STATUS: &str = "redis_rdb_last_bgsave_status";
/// Seconds the last BGSAVE took (-1 before the first); redis_exporter's
/// `redis_rdb_last_bgsave_duration_sec`, renamed because promtool rejects the abbreviation.
pub const RDB_LAST_DURATION: &str = "redis_rdb_last_bgsave_duration_seconds";
/// Seconds the running BGSAVE has taken (-1 when none runs); redis_exporter's `..._sec`.
pub const RDB_CURRENT_DURATION: &str = "redis_rdb_current_bgsave_duration_seconds";
/// Snapshots written successfully.
pub const RDB_SAVES: &str = "redis_rdb_saves_total";
/// Keys loaded from the snapshot file at start-up.
pub const RDB_LOADED_KEYS: &str = "redis_rdb_last_load_loaded_keys";
/// Keys of the snapshot file left out at start-up because they had expired.
pub const RDB_EXPIRED_KEYS: &str = "redis_rdb_last_load_expired_keys";

/// Every metric name this module declares.
pub const NAMES: &[&str] = &[
    LOADING,
    RDB_CHANGES,
    RDB_BGSAVE_IN_PROGRESS,
    RDB_LAST_SAVE,
    RDB_LAST_STATUS,
    RDB_LAST_DURATION,
    RDB_CURRENT_DURATION,
    RDB_SAVES,
    RDB_LOADED_KEYS,
    RDB_EXPIRED_KEYS,
    UP,
    UPTIME,
    CONNECTED_CLIENTS,
    CONNECTIONS_RECEIVED,
    REJECTED_CONNECTIONS,
    COMMANDS_PROCESSED,
    OPS_PER_SEC,
    NET_INPUT,
    NET_OUTPUT,
    MEMORY_USED,
    MEMORY_MAX,
    MEMORY_RSS,
    KEYSPACE_HITS,
    KEYSPACE_MISSES,
    EXPIRED_KEYS,
    EVICTED_KEYS,
    DB_KEYS,
    DB_KEYS_EXPIRING,
    COMMANDS_TOTAL,
    COMMANDS_DURATION,
    COMMANDS_REJECTED,
    COMMANDS_FAILED,
    TLS_HANDSHAKE_FAILURES,
    TLS_RELOADS,
];

/// Histogram buckets for every latency histogram, in seconds: 10 µs to 1 s.
pub const LATENCY_BUCKETS_SECONDS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0,
];

/// Describes this module's metrics to the installed recorder (a no-op without one).
pub fn describe() {
    use metrics::{describe_counter as c, describe_gauge as g};
    g!(UP, "1 while the process answers.");
    c!(
        TLS_HANDSHAKE_FAILURES,
        "TLS handshakes that failed, by reason; each connection was closed."
    );
    c!(TLS_RELOADS, "TLS certificate reloads, by result.");
    g!(UPTIME, Unit::Seconds, "Seconds since the process started.");
    g!(CONNECTED_CLIENTS, "Client connections open now.");
    c!(CONNECTIONS_RECEIVED, "Client connections accepted.");
    c!(REJECTED_CONNECTIONS, "Client connections refused.");
    c!(COMMANDS_PROCESSED, "Commands processed.");
    g!(
        OPS_PER_SEC,
        "Commands per second (Redis's instantaneous_ops_per_sec)."
    );
    c!(NET_INPUT, Unit::Bytes, "Bytes read from clients.");
    c!(NET_OUTPUT, Unit::Bytes, "Bytes written to clients.");
    g!(MEMORY_USED, Unit::Bytes, "Bytes of keys and values held.");
    g!(MEMORY_MAX, Unit::Bytes, "Memory bound (maxmemory).");
    g!(MEMORY_RSS, Unit::Bytes, "Resident memory of this process.");
    c!(KEYSPACE_HITS, "Reads that found their key.");
    c!(KEYSPACE_MISSES, "Reads that found no key.");
    c!(EXPIRED_KEYS, "Keys removed because their TTL passed.");
    c!(EVICTED_KEYS, "Keys removed to stay under maxmemory.");
    g!(DB_KEYS, "Keys held, by database.");
    g!(DB_KEYS_EXPIRING, "Keys with a TTL, by database.");
    g!(LOADING, "1 while the snapshot file loads at start-up.");
    g!(RDB_CHANGES, "Writes since the last successful snapshot.");
    g!(RDB_BGSAVE_IN_PROGRESS, "1 while a BGSAVE runs.");
    g!(
        RDB_LAST_SAVE,
        Unit::Seconds,
        "Unix time of the last successful snapshot."
    );
    g!(
        RDB_LAST_STATUS,
        "1 when the last snapshot succeeded, 0 when it failed."
    );
    g!(
        RDB_LAST_DURATION,
        "Seconds the last BGSAVE took (-1 before the first)."
    );
    g!(
        RDB_CURRENT_DURATION,
        "Seconds the running BGSAVE has taken (-1 when none runs)."
    );
    c!(RDB_SAVES, "Snapshots written successfully.");
    g!(
        RDB_LOADED_KEYS,
        "Keys loaded from the snapshot file at start-up."
    );
    g!(
        RDB_EXPIRED_KEYS,
        "Keys of the snapshot file left out at start-up as expired."
    );
    c!(COMMANDS_TOTAL, "Commands processed, by command.");
    metrics::describe_histogram!(
        COMMANDS_DURATION,
        Unit::Seconds,
        "Time to answer a command, by command."
    );
    c!(
        COMMANDS_REJECTED,
        "Commands refused before running, by command."
    );
    c!(
        COMMANDS_FAILED,
        "Commands that answered an error, by command."
    );
}

/// One command's counters, on its own cache line so two commands never share one.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Row {
    calls: AtomicU64,
    usec: AtomicU64,
    rejected: AtomicU64,
    failed: AtomicU64,
    /// Durations, kept only when exporting.
    durations: LogHistogram,
}

/// A command's exported duration histogram and the counts it has been given so far.
#[derive(Debug)]
struct Exported {
    histogram: Histogram,
    seen: Box<[u64]>,
}

/// Redis's `# Commandstats`: calls, time, rejections and failures per command.
#[derive(Debug)]
pub struct CommandStats {
    rows: Box<[Row]>,
    export: bool,
    /// Per command, registered on its first export so commands never run export no series.
    exported: Mutex<Vec<Option<Exported>>>,
}

impl CommandStats {
    /// Returns zeroed counters; with `export`, durations also go to the metrics recorder.
    pub fn new(export: bool) -> CommandStats {
        CommandStats {
            rows: COMMANDS.iter().map(|_| Row::default()).collect(),
            export,
            exported: Mutex::new(COMMANDS.iter().map(|_| None).collect()),
        }
    }

    /// Counts one call of `spec` that took `elapsed`; `failed` when it answered an error.
    #[inline]
    pub fn record(&self, spec: &CommandSpec, elapsed: Duration, failed: bool) {
        let Some(row) = self.rows.get(spec.index()) else {
            return;
        };
        row.calls.fetch_add(1, Relaxed);
        row.usec.fetch_add(elapsed.as_micros() as u64, Relaxed);
        if failed {
            row.failed.fetch_add(1, Relaxed);
        }
        if self.export {
            row.durations.record(elapsed);
        }
    }

    /// Counts one call of `spec` refused before it ran (Redis's `rejected_calls`).
    pub fn reject(&self, spec: &CommandSpec) {
        if let Some(row) = self.rows.get(spec.index()) {
            row.rejected.fetch_add(1, Relaxed);
        }
    }

    /// Counts a request that failed its arity check against the command it named; other
    /// errors (an unknown name) belong to no command and are not counted, as in Redis.
    pub fn reject_error(&self, error: &CommandError) {
        let name = match error {
            CommandError::WrongArity { name } => name.split('|').next().unwrap_or(name),
            CommandError::UnknownSubcommand { command, .. } => command,
            _ => return,
        };
        if let Some(spec) = lookup(name.as_bytes()) {
            self.reject(spec);
        }
    }

    /// Returns `(calls, usec, rejected, failed)` of `spec`.
    pub fn get(&self, spec: &CommandSpec) -> (u64, u64, u64, u64) {
        self.rows.get(spec.index()).map_or((0, 0, 0, 0), |r| {
            (
                r.calls.load(Relaxed),
                r.usec.load(Relaxed),
                r.rejected.load(Relaxed),
                r.failed.load(Relaxed),
            )
        })
    }

    /// Returns the `# Commandstats` section: one line per command called or rejected.
    pub fn section(&self) -> Section {
        let mut section = Section::new("Commandstats");
        for spec in COMMANDS {
            let (calls, usec, rejected, failed) = self.get(spec);
            if calls == 0 && rejected == 0 {
                continue;
            }
            let per_call = if calls == 0 {
                0.0
            } else {
                usec as f64 / calls as f64
            };
            section.add(
                format!("cmdstat_{}", spec.lower),
                format!(
                    "calls={calls},usec={usec},usec_per_call={per_call:.2},\
                     rejected_calls={rejected},failed_calls={failed}"
                ),
            );
        }
        section
    }

    /// Copies the per-command totals and new durations into the recorder; called by an
    /// upkeep task.
    pub fn export(&self) {
        let mut exported = self.exported.lock().unwrap_or_else(|p| p.into_inner());
        for (spec, (row, slot)) in COMMANDS
            .iter()
            .zip(self.rows.iter().zip(exported.iter_mut()))
        {
            let (calls, _, rejected, failed) = self.get(spec);
            if calls == 0 && rejected == 0 {
                continue;
            }
            counter!(COMMANDS_TOTAL, "cmd" => spec.lower).absolute(calls);
            counter!(COMMANDS_REJECTED, "cmd" => spec.lower).absolute(rejected);
            counter!(COMMANDS_FAILED, "cmd" => spec.lower).absolute(failed);
            if self.export {
                let e = slot.get_or_insert_with(|| Exported {
                    histogram: metrics::histogram!(COMMANDS_DURATION, "cmd" => spec.lower),
                    seen: vec![0; BUCKETS].into(),
                });
                row.durations.export_since(&mut e.seen, &e.histogram);
            }
        }
    }
}

/// Counters shared by every connection of one process (a shard or a router).
#[derive(Debug)]
pub struct Stats {
    /// When the process started (`uptime_in_seconds`).
    pub started: Instant,
    /// `connected_clients`.
    pub connected_clients: AtomicU64,
    /// `total_connections_received`.
    pub connections_received: AtomicU64,
    /// `rejected_connections`.
    pub rejected_connections: AtomicU64,
    /// `total_commands_processed`.
    pub commands_processed: AtomicU64,
    /// `total_net_input_bytes`.
    pub net_input_bytes: AtomicU64,
    /// `total_net_output_bytes`.
    pub net_output_bytes: AtomicU64,
    /// `# Commandstats`.
    pub commands: CommandStats,
    /// INFO's zero since the last CONFIG RESETSTAT.
    pub baseline: crate::baseline::Baseline,
    /// The next client id (`CLIENT ID`).
    next_client_id: AtomicU64,
    ops: Mutex<OpsSampler>,
}

/// Redis's `instantaneous_ops_per_sec`: the mean of the last 16 samples.
#[derive(Debug)]
struct OpsSampler {
    last_at: Instant,
    last_count: u64,
    samples: [f64; 16],
    next: usize,
}

impl Default for Stats {
    fn default() -> Self {
        Stats::new(false)
    }
}

impl Stats {
    /// Returns zeroed counters; `export` as in [`CommandStats::new`].
    pub fn new(export: bool) -> Stats {
        let now = Instant::now();
        Stats {
            started: now,
            connected_clients: AtomicU64::new(0),
            connections_received: AtomicU64::new(0),
            rejected_connections: AtomicU64::new(0),
            commands_processed: AtomicU64::new(0),
            net_input_bytes: AtomicU64::new(0),
            net_output_bytes: AtomicU64::new(0),
            commands: CommandStats::new(export),
            baseline: crate::baseline::Baseline::default(),
            next_client_id: AtomicU64::new(1),
            ops: Mutex::new(OpsSampler {
                last_at: now,
                last_count: 0,
                samples: [0.0; 16],
                next: 0,
            }),
        }
    }

    /// Returns a fresh client id.
    pub fn next_client_id(&self) -> u64 {
        self.next_client_id.fetch_add(1, Relaxed)
    }

    /// Takes one ops/sec sample; called by a maintenance timer.
    pub fn sample_ops(&self) {
        let now = Instant::now();
        let count = self.commands_processed.load(Relaxed);
        let mut s = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        let secs = now.duration_since(s.last_at).as_secs_f64();
        if secs > 0.0 {
            let i = s.next;
            s.samples[i] = count.saturating_sub(s.last_count) as f64 / secs;
            s.next = (i + 1) % s.samples.len();
        }
        s.last_at = now;
        s.last_count = count;
    }

    /// Returns `instantaneous_ops_per_sec`.
    pub fn ops_per_sec(&self) -> u64 {
        let s = self.ops.lock().unwrap_or_else(|p| p.into_inner());
        (s.samples.iter().sum::<f64>() / s.samples.len() as f64).round() as u64
    }
}

/// What a keyspace holds and has done: one shard's store, or the sum over a cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keyspace {
    /// `db0:keys`.
    pub keys: u64,
    /// `db0:expires`.
    pub expires: u64,
    /// `used_memory`.
    pub used_memory: u64,
    /// `maxmemory`.
    pub max_memory: u64,
    /// `keyspace_hits`.
    pub hits: u64,
    /// `keyspace_misses`.
    pub misses: u64,
    /// `expired_keys`.
    pub expired: u64,
    /// `evicted_keys`.
    pub evicted: u64,
}

/// Copies a process's own counters into the recorder (`redis_up`, clients, commands, bytes).
pub fn export_process(stats: &Stats) {
    gauge!(UP).set(1.0);
    gauge!(UPTIME).set(stats.started.elapsed().as_secs_f64().floor());
    gauge!(CONNECTED_CLIENTS).set(stats.connected_clients.load(Relaxed) as f64);
    counter!(CONNECTIONS_RECEIVED).absolute(stats.connections_received.load(Relaxed));
    counter!(REJECTED_CONNECTIONS).absolute(stats.rejected_connections.load(Relaxed));
    counter!(COMMANDS_PROCESSED).absolute(stats.commands_processed.load(Relaxed));
    gauge!(OPS_PER_SEC).set(stats.ops_per_sec() as f64);
    counter!(NET_INPUT).absolute(stats.net_input_bytes.load(Relaxed));
    counter!(NET_OUTPUT).absolute(stats.net_output_bytes.load(Relaxed));
    gauge!(MEMORY_RSS).set(rss_bytes() as f64);
    stats.commands.export();
    crate::tls::export();
}

/// Copies keyspace totals into the recorder (memory, keys, hits, misses, expiries, evictions).
pub fn export_keyspace(k: &Keyspace) {
    gauge!(MEMORY_USED).set(k.used_memory as f64);
    gauge!(MEMORY_MAX).set(k.max_memory as f64);
    counter!(KEYSPACE_HITS).absolute(k.hits);
    counter!(KEYSPACE_MISSES).absolute(k.misses);
    counter!(EXPIRED_KEYS).absolute(k.expired);
    counter!(EVICTED_KEYS).absolute(k.evicted);
    gauge!(DB_KEYS, "db" => "db0").set(k.keys as f64);
    gauge!(DB_KEYS_EXPIRING, "db" => "db0").set(k.expires as f64);
}

/// Copies snapshot figures into the recorder (a shard's own, or a router's merge).
pub fn export_persistence(p: &crate::persistence::SnapshotFigures) {
    gauge!(LOADING).set(f64::from(u8::from(p.loading)));
    gauge!(RDB_CHANGES).set(p.changes_since_last_save as f64);
    gauge!(RDB_BGSAVE_IN_PROGRESS).set(f64::from(u8::from(p.bgsave_in_progress)));
    gauge!(RDB_LAST_SAVE).set(p.last_save_time as f64);
    gauge!(RDB_LAST_STATUS).set(f64::from(u8::from(p.last_bgsave_ok)));
    gauge!(RDB_LAST_DURATION).set(p.last_bgsave_time_sec as f64);
    gauge!(RDB_CURRENT_DURATION).set(p.current_bgsave_time_sec as f64);
    counter!(RDB_SAVES).absolute(p.saves);
    gauge!(RDB_LOADED_KEYS).set(p.last_load_keys_loaded as f64);
    gauge!(RDB_EXPIRED_KEYS).set(p.last_load_keys_expired as f64);
}

/// Returns this process's resident memory in bytes (`used_memory_rss`), 0 where unknown.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::command::{spec, Kind};

    #[test]
    fn commandstats_lists_only_commands_that_ran_in_table_order() {
        let stats = CommandStats::new(false);
        stats.record(spec(Kind::Set), Duration::from_micros(4), false);
        stats.record(spec(Kind::Get), Duration::from_micros(3), false);
        stats.record(spec(Kind::Get), Duration::from_micros(2), true);
        stats.reject(spec(Kind::Get));
        let section = stats.section();
        assert_eq!(
            section.fields,
            [
                (
                    "cmdstat_get".to_string(),
                    "calls=2,usec=5,usec_per_call=2.50,rejected_calls=1,failed_calls=1".to_string()
                ),
                (
                    "cmdstat_set".to_string(),
                    "calls=1,usec=4,usec_per_call=4.00,rejected_calls=0,failed_calls=0".to_string()
                ),
            ]
        );
    }

    #[test]
    fn latency_buckets_are_increasing() {
        assert!(LATENCY_BUCKETS_SECONDS.windows(2).all(|w| w[0] < w[1]));
    }
}
