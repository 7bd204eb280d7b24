//! A shard's figures: the numbers a router reads of its shards (what a shard holds, what it
//! did, how it evicts), typed.
//!
//! ```text
//! shard:  ShardState::figures ─▶ ShardFigures ─▶ memory_section, add_keyspace_stats, keyspace_section ─▶ INFO text
//! router: in-process shard ─▶ LocalShard::figures ─▶ ShardFigures
//!         shard over a socket ─▶ INFO text ─▶ ShardFigures::from_info ─▶ ShardFigures
//! ```
//! A shard's INFO fields for these numbers are written only by the functions here, and
//! [`ShardFigures::from_info`] reads exactly those fields back: the text and the struct
//! cannot disagree. The router renders its own INFO with the same functions, from the sums.

use std::borrow::Cow;

use crate::info::Section;
use crate::persistence::SnapshotFigures;
use crate::stats::Keyspace;
use crate::units::human_bytes;

/// What one shard reports to a router.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardFigures {
    /// `run_id`: new for every process, so a router tells a restarted (empty) shard from one
    /// it only could not reach.
    pub run_id: String,
    /// `db0`'s keys and expires, `used_memory`, `maxmemory`, hits, misses, expired and
    /// evicted keys.
    pub keyspace: Keyspace,
    /// `maxmemory_policy` (`allkeys-lru`, `allkeys-lfu`).
    pub maxmemory_policy: Cow<'static, str>,
    /// `instantaneous_ops_per_sec`.
    pub ops_per_sec: u64,
    /// `# Persistence`: its snapshots, and whether it is loading one.
    pub persistence: SnapshotFigures,
}

impl ShardFigures {
    /// Reads the figures out of a shard's INFO text, whichever sections it holds and in
    /// whatever order; a field the text lacks reads as 0 (or empty).
    pub fn from_info(text: &str) -> ShardFigures {
        let mut f = ShardFigures::default();
        for line in text.lines() {
            let Some((name, value)) = line.trim_end().split_once(':') else {
                continue;
            };
            let num = || value.parse().unwrap_or(0);
            let k = &mut f.keyspace;
            match name {
                "run_id" => f.run_id = value.to_string(),
                "used_memory" => k.used_memory = num(),
                "maxmemory" => k.max_memory = num(),
                "maxmemory_policy" => f.maxmemory_policy = Cow::Owned(value.to_string()),
                "instantaneous_ops_per_sec" => f.ops_per_sec = num(),
                "expired_keys" => k.expired = num(),
                "evicted_keys" => k.evicted = num(),
                "keyspace_hits" => k.hits = num(),
                "keyspace_misses" => k.misses = num(),
                "db0" => {
                    (k.keys, k.expires) = (subfield(value, "keys"), subfield(value, "expires"))
                }
                _ => {
                    f.persistence.read(name, value);
                }
            }
        }
        f
    }
}

/// Returns `name` of a `keys=1,expires=0,avg_ttl=0` value, 0 when absent.
fn subfield(value: &str, name: &str) -> u64 {
    value
        .split(',')
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Inserts `run_id` into a `# Server` section after `process_id`, where Redis prints it.
pub fn add_run_id(server: &mut Section, run_id: &str) {
    let at = server
        .fields
        .iter()
        .position(|(k, _)| k == "process_id")
        .map_or(server.fields.len(), |i| i + 1);
    server
        .fields
        .insert(at, ("run_id".to_string(), run_id.to_string()));
}

/// Returns `# Memory`: what `k` holds against its bound, and this process's resident memory.
pub fn memory_section(k: &Keyspace, maxmemory_policy: &str, rss: u64) -> Section {
    let mut memory = Section::new("Memory");
    memory
        .add("used_memory", k.used_memory)
        .add("used_memory_human", human_bytes(k.used_memory))
        .add("used_memory_rss", rss)
        .add("used_memory_rss_human", human_bytes(rss))
        .add("maxmemory", k.max_memory)
        .add("maxmemory_human", human_bytes(k.max_memory))
        .add("maxmemory_policy", maxmemory_policy);
    memory
}

/// Appends the keyspace counters to a `# Stats` section, after its traffic fields.
pub fn add_keyspace_stats(stats: &mut Section, k: &Keyspace) {
    stats
        .add("expired_keys", k.expired)
        .add("evicted_keys", k.evicted)
        .add("keyspace_hits", k.hits)
        .add("keyspace_misses", k.misses);
}

/// Returns `# Keyspace`: a `db0` line, absent when there are no keys, as in Redis.
pub fn keyspace_section(k: &Keyspace) -> Section {
    let mut keyspace = Section::new("Keyspace");
    if k.keys > 0 {
        keyspace.add(
            "db0",
            format!("keys={},expires={},avg_ttl=0", k.keys, k.expires),
        );
    }
    keyspace
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::info::{render, Selector};

    fn figures() -> ShardFigures {
        ShardFigures {
            run_id: "0123456789abcdef0123456789abcdef01234567".into(),
            keyspace: Keyspace {
                keys: 7,
                expires: 2,
                used_memory: 5100,
                max_memory: 1 << 30,
                hits: 11,
                misses: 3,
                expired: 4,
                evicted: 5,
            },
            maxmemory_policy: Cow::Borrowed("allkeys-lfu"),
            ops_per_sec: 0,
            persistence: SnapshotFigures::default(),
        }
    }

    #[test]
    fn the_figures_read_back_from_their_own_info_text_are_the_same() {
        let f = figures();
        let mut server = Section::new("Server");
        server.add("process_id", 1).add("tcp_port", 7001);
        add_run_id(&mut server, &f.run_id);
        let mut stats = Section::new("Stats");
        stats.add("instantaneous_ops_per_sec", f.ops_per_sec);
        add_keyspace_stats(&mut stats, &f.keyspace);
        let sections = [
            server,
            memory_section(&f.keyspace, &f.maxmemory_policy, 123),
            stats,
            keyspace_section(&f.keyspace),
        ];
        let text = render(&sections, &Selector::from_args(&[]));
        assert!(text.contains("process_id:1\r\nrun_id:0123"), "{text}");
        assert_eq!(ShardFigures::from_info(&text), f);
    }

    #[test]
    fn missing_fields_read_as_zero() {
        let f =
            ShardFigures::from_info("# Keyspace\r\ndb0:keys=3\r\n# Stats\r\nkeyspace_hits:x\r\n");
        assert_eq!(
            (f.keyspace.keys, f.keyspace.expires, f.keyspace.hits),
            (3, 0, 0)
        );
        assert_eq!(f.run_id, "");
    }

    #[test]
    fn an_empty_keyspace_has_no_db0_line() {
        assert!(keyspace_section(&Keyspace::default()).fields.is_empty());
    }
}
