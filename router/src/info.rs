//! Cluster INFO: the shards' INFO summed field by field, plus a `# Cluster` section.
//!
//! Redis's section layout is kept, so every INFO parser (redis-cli, exporters, client
//! libraries) reads the result as if from one server. Integers are summed (`db0:keys=..`
//! subfields too), identities and settings are taken from the first shard that answered,
//! uptimes are the largest. A shard that does not answer is `state=down` and INFO still
//! answers, within the shard timeout.

use std::sync::atomic::Ordering::Relaxed;

use resp::info::Selector;
use resp::stats::Stats;
use resp::Frame;

use crate::merge::ShardReply;

/// Fields describing one process or one setting: summing them would be meaningless.
const FIRST: &[&str] = &[
    "process_id",
    "tcp_port",
    "arch_bits",
    "hz",
    "configured_hz",
    "lru_clock",
    "server_time_usec",
    "redis_git_sha1",
    "redis_git_dirty",
    "redis_build_id",
    "io_threads_active",
    "cluster_enabled",
    "aof_enabled",
    "loading",
];

/// Fields where the cluster's value is the largest shard's.
const MAX: &[&str] = &["uptime_in_seconds", "uptime_in_days", "avg_ttl"];

/// One section as parsed from a shard: its name and `field:value` lines in order.
#[derive(Debug, Clone, Default, PartialEq)]
struct Section {
    name: String,
    fields: Vec<(String, String)>,
}

/// Parses INFO text into sections; lines outside a section or without `:` are dropped.
fn parse(text: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    for line in text.lines().map(str::trim_end) {
        if let Some(name) = line.strip_prefix("# ") {
            sections.push(Section {
                name: name.to_string(),
                fields: Vec::new(),
            });
        } else if let (Some((k, v)), Some(section)) = (line.split_once(':'), sections.last_mut()) {
            section.fields.push((k.to_string(), v.to_string()));
        }
    }
    sections
}

/// Combines one field's values from two shards.
fn combine(field: &str, a: &str, b: &str) -> String {
    if FIRST.contains(&field) {
        return a.to_string();
    }
    if let (Ok(x), Ok(y)) = (a.parse::<i64>(), b.parse::<i64>()) {
        return if MAX.contains(&field) {
            x.max(y)
        } else {
            x.saturating_add(y)
        }
        .to_string();
    }
    if a.contains('=') {
        // `keys=1,expires=0,avg_ttl=0` and `calls=3,usec=9,...`: sum subfield by subfield
        // when both shards list the same subfields in the same order.
        let (xs, ys): (Vec<_>, Vec<_>) = (a.split(',').collect(), b.split(',').collect());
        if xs.len() == ys.len() {
            let mut out = Vec::with_capacity(xs.len());
            for (x, y) in xs.iter().zip(&ys) {
                match (x.split_once('='), y.split_once('=')) {
                    (Some((kx, vx)), Some((ky, vy))) if kx == ky => {
                        out.push(format!("{kx}={}", combine(kx, vx, vy)));
                    }
                    _ => return a.to_string(),
                }
            }
            return out.join(",");
        }
    }
    a.to_string()
}

/// Folds one shard's sections into the running total, keeping the first-seen order.
fn fold(total: &mut Vec<Section>, shard: Vec<Section>) {
    for section in shard {
        let Some(into) = total.iter_mut().find(|s| s.name == section.name) else {
            total.push(section);
            continue;
        };
        for (k, v) in section.fields {
            match into.fields.iter_mut().find(|(name, _)| *name == k) {
                Some((_, old)) => *old = combine(&k, old, &v),
                None => into.fields.push((k, v)),
            }
        }
    }
}

fn field<'a>(sections: &'a [Section], section: &str, name: &str) -> Option<&'a str> {
    let s = sections.iter().find(|s| s.name == section)?;
    s.fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Returns the number in `keys=N,...` of a shard's `db0` line.
fn shard_keys(sections: &[Section]) -> u64 {
    field(sections, "Keyspace", "db0")
        .and_then(|v| v.split(',').find_map(|kv| kv.strip_prefix("keys=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// What the router answers for itself, alongside the shards' sums.
#[derive(Debug, Clone, Default)]
pub struct Local {
    /// The router's own sections. `Server`, `Clients`, `CPU` and `Commandstats` replace the
    /// shards'; the fields of any other section (`Stats`, `Memory`) replace theirs one by one.
    pub sections: Vec<resp::info::Section>,
    /// Per shard, in bucket order: the router's (p50, p99) round trip to it, in µs.
    pub latency_us: Vec<(u64, u64)>,
}

/// Sections the router answers for itself entirely.
const OWN: &[&str] = &["Server", "Clients", "CPU", "Commandstats"];

/// Redis's section order; sections not listed here follow, in the order shards sent them.
const ORDER: &[&str] = &[
    "Server",
    "Clients",
    "Memory",
    "Persistence",
    "Stats",
    "Replication",
    "CPU",
    "Commandstats",
    "Cluster",
    "Keyspace",
];

/// Returns one shard's `# Cluster` line from its INFO (or `None` when it did not answer).
fn shard_line(addr: &str, sections: Option<&[Section]>, (p50, p99): (u64, u64)) -> String {
    let (state, sections) = match sections {
        Some(s) => ("up", s),
        None => ("down", &[][..]),
    };
    let num = |section: &str, name: &str| field(sections, section, name).unwrap_or("0");
    format!(
        "addr={addr},state={state},keys={},used_memory={},hits={},misses={},evicted={},ops={},\
         latency_p50_us={p50},latency_p99_us={p99}",
        shard_keys(sections),
        num("Memory", "used_memory"),
        num("Stats", "keyspace_hits"),
        num("Stats", "keyspace_misses"),
        num("Stats", "evicted_keys"),
        num("Stats", "instantaneous_ops_per_sec"),
    )
}

/// Returns the numbers the health poll exports, from one shard's raw INFO reply.
pub(crate) fn keyspace(raw: &[u8]) -> Option<resp::stats::Keyspace> {
    let sections = parse(&reply_text(raw)?);
    let num = |section: &str, name: &str| {
        field(&sections, section, name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let expires = field(&sections, "Keyspace", "db0")
        .and_then(|v| v.split(',').find_map(|kv| kv.strip_prefix("expires=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    Some(resp::stats::Keyspace {
        keys: shard_keys(&sections),
        expires,
        used_memory: num("Memory", "used_memory"),
        max_memory: num("Memory", "maxmemory"),
        hits: num("Stats", "keyspace_hits"),
        misses: num("Stats", "keyspace_misses"),
        expired: num("Stats", "expired_keys"),
        evicted: num("Stats", "evicted_keys"),
    })
}

/// Returns the text of an INFO reply (a bulk or verbatim string), `None` for anything else.
fn reply_text(raw: &[u8]) -> Option<String> {
    match resp::reply::parse(raw) {
        Ok(Frame::Bulk(t) | Frame::Verbatim(t)) => Some(String::from_utf8_lossy(&t).into_owned()),
        _ => None,
    }
}

/// Merges the shards' INFO replies (one per address, in bucket order) with the router's
/// own sections into the router's INFO.
pub fn merge(
    addrs: &[String],
    replies: Vec<ShardReply>,
    selector: &Selector,
    local: Local,
) -> Frame {
    let mut total: Vec<Section> = Vec::new();
    let mut lines = Vec::with_capacity(addrs.len());
    let mut up = 0;
    for (i, (addr, reply)) in addrs.iter().zip(replies).enumerate() {
        let latency = local.latency_us.get(i).copied().unwrap_or_default();
        let sections = reply
            .ok()
            .and_then(|raw| reply_text(&raw))
            .map(|t| parse(&t));
        lines.push((
            format!("shard{i}"),
            shard_line(addr, sections.as_deref(), latency),
        ));
        if let Some(sections) = sections {
            up += 1;
            fold(&mut total, sections);
        }
    }
    if let Some(memory) = total.iter_mut().find(|s| s.name == "Memory") {
        humanize(memory, "used_memory");
        humanize(memory, "maxmemory");
    }
    let mut cluster = vec![
        ("shards".to_string(), addrs.len().to_string()),
        ("shards_up".to_string(), up.to_string()),
    ];
    cluster.extend(lines);
    total.retain(|s| s.name != "Cluster");
    total.push(Section {
        name: "Cluster".into(),
        fields: cluster,
    });
    let mut own: Vec<Section> = local
        .sections
        .into_iter()
        .map(|s| Section {
            name: s.name.to_string(),
            fields: s.fields,
        })
        .collect();
    let mut out = Vec::with_capacity(ORDER.len());
    for name in ORDER {
        let merged = take(&mut total, name);
        match (merged, take(&mut own, name)) {
            (_, Some(mine)) if OWN.contains(name) => out.push(mine),
            (Some(mut merged), Some(mine)) => {
                for (k, v) in mine.fields {
                    match merged.fields.iter_mut().find(|(name, _)| *name == k) {
                        Some((_, old)) => *old = v,
                        None => merged.fields.push((k, v)),
                    }
                }
                out.push(merged);
            }
            (Some(s), None) | (None, Some(s)) => out.push(s),
            (None, None) => {}
        }
    }
    // Sections a newer shard reports that the router does not know: after its own, before
    // the keyspace, which Redis always prints last.
    let at = out.len().saturating_sub(1);
    out.splice(at..at, total.into_iter().chain(own));
    Frame::Verbatim(render(&out, selector).into())
}

/// Returns the router's own sections: who it is, its clients and their traffic, its CPU
/// and resident memory, and the commands its clients sent. `Keyspace` is empty here: the
/// shards fill it.
pub(crate) fn own_sections(
    stats: &Stats,
    port: u16,
    maxclients: usize,
) -> Vec<resp::info::Section> {
    use resp::info::Section as S;
    let mut clients = S::new("Clients");
    clients
        .add("connected_clients", stats.connected_clients.load(Relaxed))
        .add("maxclients", maxclients)
        .add("blocked_clients", 0);
    let rss = resp::stats::rss_bytes();
    let mut memory = S::new("Memory");
    memory
        .add("used_memory_rss", rss)
        .add("used_memory_rss_human", resp::units::human_bytes(rss));
    let mut st = S::new("Stats");
    st.add(
        "total_connections_received",
        stats.connections_received.load(Relaxed),
    )
    .add(
        "total_commands_processed",
        stats.commands_processed.load(Relaxed),
    )
    .add("instantaneous_ops_per_sec", stats.ops_per_sec())
    .add("total_net_input_bytes", stats.net_input_bytes.load(Relaxed))
    .add(
        "total_net_output_bytes",
        stats.net_output_bytes.load(Relaxed),
    )
    .add(
        "rejected_connections",
        stats.rejected_connections.load(Relaxed),
    );
    vec![
        resp::info::server_section("cluster-proxy", "router", port, stats.started),
        clients,
        memory,
        st,
        resp::info::cpu_section(),
        stats.commands.section(),
        S::new("Keyspace"),
    ]
}

/// Removes and returns the section called `name`.
fn take(sections: &mut Vec<Section>, name: &str) -> Option<Section> {
    let i = sections.iter().position(|s| s.name == name)?;
    Some(sections.remove(i))
}

/// Rewrites `<field>_human` from the summed `<field>`.
fn humanize(memory: &mut Section, field: &str) {
    let Some(bytes) = memory
        .fields
        .iter()
        .find(|(k, _)| k == field)
        .and_then(|(_, v)| v.parse::<u64>().ok())
    else {
        return;
    };
    let human = format!("{field}_human");
    if let Some((_, v)) = memory.fields.iter_mut().find(|(k, _)| *k == human) {
        *v = resp::units::human_bytes(bytes);
    }
}

fn render(sections: &[Section], selector: &Selector) -> String {
    let mut out = String::new();
    for section in sections.iter().filter(|s| selector.wants(&s.name)) {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        out.push_str("# ");
        out.push_str(&section.name);
        out.push_str("\r\n");
        for (k, v) in &section.fields {
            out.push_str(k);
            out.push(':');
            out.push_str(v);
            out.push_str("\r\n");
        }
    }
    out
}

#[cfg(test)]
mod tests;
