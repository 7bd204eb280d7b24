//! What one key costs and how it is kept: MEMORY USAGE, MEMORY STATS, OBJECT.

use protocol::{Command, CommandError, Frame};

use crate::state::ShardState;
use crate::store::{EntryInfo, HEAD};

/// `OBJECT IDLETIME` under lru: recency is kept as a count of writes, which is no time.
const IDLETIME_UNTRACKED: &str =
    "ERR idle time not tracked: jumpcache keeps recency as a count of writes, not a time";
/// Redis's `OBJECT IDLETIME` error under an LFU policy.
const IDLETIME_UNDER_LFU: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
/// Redis's `OBJECT FREQ` error under an LRU policy.
const FREQ_UNDER_LRU: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

/// Redis 7's longest `embstr`: `OBJ_ENCODING_EMBSTR_SIZE_LIMIT`.
const EMBSTR_MAX: usize = 44;

/// MEMORY: what a key costs in this shard, or the shard's memory figures.
///
/// ```text
/// MEMORY USAGE key [SAMPLES count] | MEMORY STATS | MEMORY HELP
/// ```
/// USAGE is the entry's charge against `maxmemory` (key + value + the per-entry overhead),
/// the figure eviction works with; SAMPLES is checked as Redis checks it and otherwise
/// ignored (a string has nothing to sample).
pub(super) fn memory(cmd: &Command, shard: &ShardState) -> Frame {
    let args = cmd.args();
    let sub = args[1].to_ascii_uppercase();
    match &sub[..] {
        b"USAGE" => {
            let mut rest = args[3..].iter();
            while let Some(opt) = rest.next() {
                let (true, Some(n)) = (opt.eq_ignore_ascii_case(b"SAMPLES"), rest.next()) else {
                    return CommandError::Syntax.to_frame();
                };
                match protocol::command::parse_i64(n) {
                    None => return CommandError::NotInteger.to_frame(),
                    Some(n) if n < 0 => return CommandError::Syntax.to_frame(),
                    Some(_) => {}
                }
            }
            match shard.store.inspect(&args[2]) {
                Some(info) => Frame::Integer(info.weight as i64),
                None => Frame::Null,
            }
        }
        b"STATS" => memory_stats(shard),
        _ => help(&[
            "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
            "HELP",
            "    Prints this help.",
        ]),
    }
}

/// MEMORY STATS: Redis's field names, with the figures a shard has (its store's charge is
/// both `total.allocated` and `dataset.bytes`; what it does not track is 0).
fn memory_stats(shard: &ShardState) -> Frame {
    let stats = shard.store.stats();
    let keys = shard.store.len();
    let used = stats.used_memory;
    let per_key = used.checked_div(keys).unwrap_or(0);
    let int = |name: &str, v: u64| (Frame::bulk(name.as_bytes()), Frame::Integer(v as i64));
    Frame::Map(vec![
        int("peak.allocated", used),
        int("total.allocated", used),
        int("startup.allocated", 0),
        int("replication.backlog", 0),
        int("clients.slaves", 0),
        int("clients.normal", 0),
        int("cluster.links", 0),
        int("aof.buffer", 0),
        int("lua.caches", 0),
        int("functions.caches", 0),
        int("overhead.total", 0),
        int("keys.count", keys),
        int("keys.bytes-per-key", per_key),
        int("dataset.bytes", used),
        (Frame::bulk(b"dataset.percentage"), Frame::Double(100.0)),
        (Frame::bulk(b"peak.percentage"), Frame::Double(100.0)),
        (
            Frame::bulk(b"db.0"),
            Frame::Map(vec![
                int("overhead.hashtable.main", 0),
                int("overhead.hashtable.expires", 0),
            ]),
        ),
    ])
}

/// OBJECT: how a key's value is kept.
///
/// ```text
/// OBJECT ENCODING key | OBJECT FREQ key | OBJECT IDLETIME key | OBJECT REFCOUNT key | OBJECT HELP
/// ```
/// ENCODING names what Redis would pick for the value (`int`, `embstr`, `raw`); FREQ is the
/// store's LFU counter (lfu only); IDLETIME is refused under lru too: the store's recency is
/// a count of writes, not a time, so there is no idle time to report; REFCOUNT is 1 (nothing
/// is shared).
pub(super) fn object(cmd: &Command, shard: &ShardState) -> Frame {
    let args = cmd.args();
    let sub = args[1].to_ascii_uppercase();
    let lookup = || shard.store.inspect(&args[2]);
    match &sub[..] {
        b"ENCODING" => lookup().map_or(Frame::Null, |info| Frame::bulk(encoding(&info))),
        b"REFCOUNT" => lookup().map_or(Frame::Null, |_| Frame::Integer(1)),
        b"FREQ" => match lookup() {
            None => Frame::Null,
            Some(EntryInfo {
                freq: Some(freq), ..
            }) => Frame::Integer(i64::from(freq)),
            Some(_) => Frame::error(FREQ_UNDER_LRU),
        },
        b"IDLETIME" => match lookup() {
            None => Frame::Null,
            Some(EntryInfo { freq: Some(_), .. }) => Frame::error(IDLETIME_UNDER_LFU),
            Some(_) => Frame::error(IDLETIME_UNTRACKED),
        },
        _ => help(&[
            "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
            "HELP",
            "    Prints this help.",
        ]),
    }
}

/// Returns the encoding Redis's `tryObjectEncoding` picks for a string: `int` when it reads
/// back as the same 64-bit integer, `embstr` up to 44 bytes, `raw` beyond.
/// A collection's is its own (`EntryInfo::encoding`).
fn encoding(info: &EntryInfo) -> &'static [u8] {
    const { assert!(HEAD > EMBSTR_MAX) };
    if let Some(name) = info.encoding {
        name.as_bytes()
    } else if info.value_len <= 20 && is_canonical_i64(&info.head) {
        b"int"
    } else if info.value_len <= EMBSTR_MAX {
        b"embstr"
    } else {
        b"raw"
    }
}

/// Returns true when `s` is an i64 written as Redis writes one (`string2ll` round trip: no
/// sign on 0, no leading zeros or `+`).
fn is_canonical_i64(s: &[u8]) -> bool {
    std::str::from_utf8(s)
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
        .is_some_and(|n| n.to_string().as_bytes() == s)
}

fn help(lines: &[&'static str]) -> Frame {
    Frame::Array(lines.iter().map(|l| Frame::simple(l)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, EvictionPolicy};
    use crate::exec::strings::tests::{run, shard};
    use crate::store::ENTRY_OVERHEAD;

    #[test]
    fn memory_usage_is_the_entry_charge_and_nil_for_a_missing_key() {
        let (s, _) = shard();
        run(&s, "SET key value");
        let charge = 3 + 5 + i64::from(ENTRY_OVERHEAD);
        assert_eq!(run(&s, "MEMORY USAGE key"), Frame::Integer(charge));
        assert_eq!(
            run(&s, "MEMORY USAGE key SAMPLES 0"),
            Frame::Integer(charge)
        );
        assert_eq!(run(&s, "MEMORY USAGE missing"), Frame::Null);
    }

    #[test]
    fn under_lru_idletime_is_refused_for_a_key_and_nil_for_a_missing_one() {
        let (s, _) = shard();
        run(&s, "SET key value");
        assert_eq!(
            run(&s, "OBJECT IDLETIME key"),
            Frame::error(IDLETIME_UNTRACKED)
        );
        assert_eq!(run(&s, "OBJECT IDLETIME missing"), Frame::Null);
    }

    #[test]
    fn under_lfu_freq_is_the_counter_and_idletime_is_refused() {
        let config = Config {
            eviction: EvictionPolicy::Lfu,
            ..Config::default()
        };
        let s = ShardState::new(config, 0);
        run(&s, "SET key value");
        // Redis's LFU_INIT_VAL: a new key starts at 5.
        assert_eq!(run(&s, "OBJECT FREQ key"), Frame::Integer(5));
        assert_eq!(
            run(&s, "OBJECT IDLETIME key"),
            Frame::error(IDLETIME_UNDER_LFU)
        );
        assert_eq!(run(&s, "OBJECT FREQ missing"), Frame::Null);
    }

    fn info(value: &[u8]) -> EntryInfo {
        EntryInfo {
            weight: 0,
            value_len: value.len(),
            head: value[..value.len().min(HEAD)].to_vec(),
            encoding: None,
            freq: None,
        }
    }

    #[test]
    fn encoding_is_the_one_redis_picks_for_a_string() {
        assert_eq!(encoding(&info(b"123")), b"int");
        assert_eq!(encoding(&info(b"-9223372036854775808")), b"int");
        assert_eq!(encoding(&info(b"9223372036854775808")), b"embstr");
        assert_eq!(encoding(&info(b"0123")), b"embstr");
        assert_eq!(encoding(&info(b"+1")), b"embstr");
        assert_eq!(encoding(&info(b"-0")), b"embstr");
        assert_eq!(encoding(&info(&[b'x'; 44])), b"embstr");
        assert_eq!(encoding(&info(&[b'x'; 45])), b"raw");
        assert_eq!(encoding(&info(&[b'x'; 1000])), b"raw");
    }
}
