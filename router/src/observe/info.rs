//! Cluster INFO: the shard groups' INFO summed field by field, the router's own sections,
//! and a `# Cluster` section with a line per group and, for replicated groups, per member.
//!
//! Redis's section layout is kept, so every INFO parser (redis-cli, exporters, client
//! libraries) reads the result as if from one server. Integers are summed (`db0:keys=..`
//! subfields too) over one member per group (replicas hold copies), except the counters of
//! what members did ([`COUNTED`]), summed over every member that answered; identities and
//! settings are taken from the first shard that answered, uptimes are the largest. A member
//! that does not answer is `state=down` and INFO still answers, within the shard timeout.

use std::sync::atomic::Ordering::Relaxed;

use protocol::Frame;
use serve::info::{parse, render, Section, Selector};
use serve::stats::Stats;

/// A member's INFO reply as RESP2 bytes, or why there is none.
pub type ShardReply = Result<bytes::Bytes, crate::shards::ShardError>;

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

/// `# Stats` counters of what a member did: reads are spread over a group's members, so
/// these are summed over every member that answered, not taken from one.
const COUNTED: &[&str] = &[
    "keyspace_hits",
    "keyspace_misses",
    "expired_keys",
    "evicted_keys",
];

/// One member's INFO reply and state, for the `# Cluster` section.
#[derive(Debug)]
pub struct MemberInfo<'a> {
    /// The member's address.
    pub addr: &'a str,
    /// Its state as the router's health checks see it (`up`, `down`, `stale`, `syncing`).
    pub state: &'static str,
    /// Its `INFO all` reply.
    pub reply: ShardReply,
    /// The router's (p50, p99) round trip to it, in µs.
    pub latency_us: (u64, u64),
}

/// One shard group's members, primary first.
#[derive(Debug)]
pub struct GroupInfo<'a> {
    /// The members, in the order `--shards` lists them.
    pub members: Vec<MemberInfo<'a>>,
    /// How many times a member was taken out of service.
    pub failovers: u64,
}

/// One member's numbers for its `# Cluster` line, zeros when it did not answer.
#[derive(Debug, Clone, Copy, Default)]
struct Usage {
    keys: u64,
    used_memory: u64,
    hits: u64,
    misses: u64,
    evicted: u64,
    ops: u64,
}

impl Usage {
    fn of(sections: Option<&[Section]>) -> Usage {
        let Some(s) = sections else {
            return Usage::default();
        };
        let num = |section: &str, name: &str| {
            field(s, section, name)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Usage {
            keys: shard_keys(s),
            used_memory: num("Memory", "used_memory"),
            hits: num("Stats", "keyspace_hits"),
            misses: num("Stats", "keyspace_misses"),
            evicted: num("Stats", "evicted_keys"),
            ops: num("Stats", "instantaneous_ops_per_sec"),
        }
    }

    /// `keys=..,used_memory=..,hits=..,misses=..,evicted=..,ops=..,latency_p50_us=..,latency_p99_us=..`
    fn line(&self, (p50, p99): (u64, u64)) -> String {
        format!(
            "keys={},used_memory={},hits={},misses={},evicted={},ops={},\
             latency_p50_us={p50},latency_p99_us={p99}",
            self.keys, self.used_memory, self.hits, self.misses, self.evicted, self.ops,
        )
    }
}

/// Returns the numbers the health poll exports, from one shard's raw INFO reply.
pub(crate) fn keyspace(raw: &[u8]) -> Option<serve::stats::Keyspace> {
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
    Some(serve::stats::Keyspace {
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
    match protocol::reply::parse(raw) {
        Ok(Frame::Bulk(t) | Frame::Verbatim(t)) => Some(String::from_utf8_lossy(&t).into_owned()),
        _ => None,
    }
}

/// Merges the groups' INFO replies (in bucket order) with the router's own sections
/// (`own`: `Server`, `Clients`, `CPU` and `Commandstats` replace the shards'; the fields of
/// any other section, `Stats` and `Memory`, replace theirs one by one) into the router's INFO.
///
/// The `# Cluster` section has `shards:N`, `shards_up:N`, `members:M`, `members_up:M`,
/// `failovers:F` and a line per group in the same format with or without replicas:
/// `shard0:addr=<primary>,state=up,keys=N,used_memory=B,hits=H,misses=M,evicted=E,ops=O,
/// latency_p50_us=X,latency_p99_us=Y`. Keys, memory and latency are those of the member the
/// sums count (the first `up` one that answered); hits, misses, evictions and ops are
/// summed over the group's members. A replicated group's line adds
/// `members=2,members_up=1,failovers=F`, followed by one line per member
/// (`shard0_member1:addr=..,state=syncing,role=replica,keys=..,...,latency_p99_us=..`).
pub fn merge(
    groups: Vec<GroupInfo<'_>>,
    selector: &Selector,
    own: Vec<serve::info::Section>,
) -> Frame {
    let mut total: Vec<Section> = Vec::new();
    let members: usize = groups.iter().map(|g| g.members.len()).sum();
    let failovers: u64 = groups.iter().map(|g| g.failovers).sum();
    let mut lines = Vec::with_capacity(members + groups.len());
    let (mut groups_up, mut members_up) = (0, 0);
    let shards = groups.len();
    for (i, group) in groups.into_iter().enumerate() {
        let n = group.members.len();
        let mut addrs = Vec::with_capacity(n);
        let mut states = Vec::with_capacity(n);
        let mut latencies = Vec::with_capacity(n);
        let mut parsed: Vec<Option<Vec<Section>>> = Vec::with_capacity(n);
        for m in group.members {
            addrs.push(m.addr);
            latencies.push(m.latency_us);
            let sections = m
                .reply
                .ok()
                .and_then(|raw| reply_text(&raw))
                .map(|t| parse(&t));
            // A member that did not answer is down, whatever the health checks say.
            states.push(if sections.is_some() { m.state } else { "down" });
            parsed.push(sections);
        }
        let usage: Vec<Usage> = parsed.iter().map(|p| Usage::of(p.as_deref())).collect();
        let up = states.iter().filter(|s| **s == "up").count();
        members_up += up;
        let pick = (0..n)
            .find(|&j| states[j] == "up")
            .or_else(|| (0..n).find(|&j| parsed[j].is_some()));
        let state = if n == 1 {
            states[0]
        } else if up > 0 {
            "up"
        } else {
            "down"
        };
        if state == "up" {
            groups_up += 1;
        }
        let mut sum = pick.map(|j| usage[j]).unwrap_or_default();
        (sum.hits, sum.misses, sum.evicted, sum.ops) = usage.iter().fold((0, 0, 0, 0), |a, u| {
            (a.0 + u.hits, a.1 + u.misses, a.2 + u.evicted, a.3 + u.ops)
        });
        let latency = pick.map_or(latencies[0], |j| latencies[j]);
        let mut line = format!(
            "addr={},state={state},{}",
            addrs.first().copied().unwrap_or("?"),
            sum.line(latency)
        );
        if n > 1 {
            line.push_str(&format!(
                ",members={n},members_up={up},failovers={}",
                group.failovers
            ));
        }
        lines.push((format!("shard{i}"), line));
        if n > 1 {
            for j in 0..n {
                let role = if j == 0 { "primary" } else { "replica" };
                let line = format!(
                    "addr={},state={},role={role},{}",
                    addrs[j],
                    states[j],
                    usage[j].line(latencies[j])
                );
                lines.push((format!("shard{i}_member{j}"), line));
            }
        }
        let mut others = Vec::new();
        for (j, sections) in parsed.into_iter().enumerate() {
            match sections {
                Some(s) if Some(j) == pick => fold(&mut total, s),
                Some(s) => others.push(s),
                None => {}
            }
        }
        if pick.is_some() {
            for s in others {
                fold(&mut total, counted(s));
            }
        }
    }
    if let Some(memory) = total.iter_mut().find(|s| s.name == "Memory") {
        humanize(memory, "used_memory");
        humanize(memory, "maxmemory");
    }
    let mut cluster = vec![
        ("shards".to_string(), shards.to_string()),
        ("shards_up".to_string(), groups_up.to_string()),
        ("members".to_string(), members.to_string()),
        ("members_up".to_string(), members_up.to_string()),
        ("failovers".to_string(), failovers.to_string()),
    ];
    cluster.extend(lines);
    total.retain(|s| s.name != "Cluster");
    total.push(Section {
        name: "Cluster".into(),
        fields: cluster,
    });
    let mut own = own;
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

/// Keeps only the [`COUNTED`] fields of a member's `# Stats`: what another member of a
/// group adds to the sums.
fn counted(sections: Vec<Section>) -> Vec<Section> {
    sections
        .into_iter()
        .filter(|s| s.name == "Stats")
        .map(|mut s| {
            s.fields.retain(|(k, _)| COUNTED.contains(&k.as_str()));
            s
        })
        .collect()
}

/// Returns the router's own sections: who it is, its clients and their traffic, its CPU
/// and resident memory, and the commands its clients sent. `Keyspace` is empty here: the
/// shards fill it.
pub(crate) fn own_sections(
    stats: &Stats,
    port: u16,
    maxclients: usize,
) -> Vec<serve::info::Section> {
    use serve::info::Section as S;
    let mut clients = S::new("Clients");
    clients
        .add("connected_clients", stats.connected_clients.load(Relaxed))
        .add("maxclients", maxclients)
        .add("blocked_clients", 0);
    let rss = serve::stats::rss_bytes();
    let mut memory = S::new("Memory");
    memory
        .add("used_memory_rss", rss)
        .add("used_memory_rss_human", serve::units::human_bytes(rss));
    let st = serve::info::stats_section(stats);
    vec![
        serve::info::server_section("cluster-proxy", "router", port, stats.started),
        clients,
        memory,
        st,
        serve::info::cpu_section(),
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
        *v = serve::units::human_bytes(bytes);
    }
}

#[cfg(test)]
mod tests;
