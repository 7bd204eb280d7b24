//! Cluster INFO: the shards' INFO summed field by field, plus a `# Cluster` section.
//!
//! Redis's section layout is kept, so every INFO parser (redis-cli, exporters, client
//! libraries) reads the result as if from one server. Integers are summed (`db0:keys=..`
//! subfields too), identities and settings are taken from the first shard that answered,
//! uptimes are the largest. A shard that does not answer is `state=down` and INFO still
//! answers, within the shard timeout.

use resp::info::Selector;
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

/// One member's INFO reply and state, for the `# Cluster` section.
#[derive(Debug)]
pub struct MemberInfo<'a> {
    /// The member's address.
    pub addr: &'a str,
    /// Its state as the router sees it (`up`, `down`, `stale`, `syncing`).
    pub state: &'static str,
    /// Its `INFO all` reply.
    pub reply: ShardReply,
}

/// One shard group's members, primary first.
#[derive(Debug)]
pub struct GroupInfo<'a> {
    /// The members, in the order `--shards` lists them.
    pub members: Vec<MemberInfo<'a>>,
    /// How many times a member was taken out of service.
    pub failovers: u64,
}

/// Returns the sections of a shard's INFO reply, or `None` when it did not answer one.
fn sections_of(reply: ShardReply) -> Option<Vec<Section>> {
    let raw = reply.ok()?;
    match resp::reply::parse(&raw) {
        Ok(Frame::Bulk(t) | Frame::Verbatim(t)) => Some(parse(&String::from_utf8_lossy(&t))),
        _ => None,
    }
}

/// Returns `keys=N,used_memory=B` of one shard's sections.
fn usage(sections: Option<&Vec<Section>>) -> String {
    let (keys, used) = sections.map_or((0, "0"), |s| {
        (
            shard_keys(s),
            field(s, "Memory", "used_memory").unwrap_or("0"),
        )
    });
    format!("keys={keys},used_memory={used}")
}

/// Merges the groups' INFO replies (in bucket order) into the router's.
///
/// Counters are summed over one member per group (the first `up` one that answered), so
/// replicas do not count twice. The `# Cluster` section has `shards:N` and a line per group
/// in the same format with or without replicas
/// (`shard0:addr=<primary>,state=up,keys=N,used_memory=B`); a replicated group's line adds
/// `members=2,members_up=1,failovers=F`, followed by one line per member
/// (`shard0_member1:addr=..,state=syncing,role=replica,keys=..,used_memory=..`).
/// `port` replaces `tcp_port` so clients see the port they connected to.
pub fn merge(groups: Vec<GroupInfo<'_>>, selector: &Selector, port: Option<u16>) -> Frame {
    let mut total: Vec<Section> = Vec::new();
    let members: usize = groups.iter().map(|g| g.members.len()).sum();
    let failovers: u64 = groups.iter().map(|g| g.failovers).sum();
    let mut cluster = vec![
        ("shards".to_string(), groups.len().to_string()),
        ("members".to_string(), members.to_string()),
        ("failovers".to_string(), failovers.to_string()),
    ];
    for (i, group) in groups.into_iter().enumerate() {
        let n = group.members.len();
        let (addrs, states): (Vec<&str>, Vec<&str>) =
            group.members.iter().map(|m| (m.addr, m.state)).unzip();
        let parsed: Vec<Option<Vec<Section>>> = group
            .members
            .into_iter()
            .map(|m| sections_of(m.reply))
            .collect();
        let shown = |j: usize| {
            if parsed[j].is_some() {
                states[j]
            } else {
                "down"
            }
        };
        let pick = (0..n)
            .find(|&j| shown(j) == "up")
            .or_else(|| (0..n).find(|&j| parsed[j].is_some()));
        let up = (0..n).filter(|&j| shown(j) == "up").count();
        let state = if n == 1 {
            shown(0)
        } else if up > 0 {
            "up"
        } else {
            "down"
        };
        let mut line = format!(
            "addr={},state={state},{}",
            addrs.first().copied().unwrap_or("?"),
            usage(pick.and_then(|j| parsed[j].as_ref()))
        );
        if n > 1 {
            line.push_str(&format!(
                ",members={n},members_up={up},failovers={}",
                group.failovers
            ));
        }
        cluster.push((format!("shard{i}"), line));
        if n > 1 {
            for j in 0..n {
                let role = if j == 0 { "primary" } else { "replica" };
                let line = format!(
                    "addr={},state={},role={role},{}",
                    addrs[j],
                    shown(j),
                    usage(parsed[j].as_ref())
                );
                cluster.push((format!("shard{i}_member{j}"), line));
            }
        }
        if let Some(sections) = pick.and_then(|j| parsed.into_iter().nth(j).flatten()) {
            fold(&mut total, sections);
        }
    }
    if let (Some(port), Some(server)) = (port, total.iter_mut().find(|s| s.name == "Server")) {
        if let Some((_, v)) = server.fields.iter_mut().find(|(k, _)| k == "tcp_port") {
            *v = port.to_string();
        }
    }
    match total.iter_mut().find(|s| s.name == "Cluster") {
        Some(section) => section.fields.extend(cluster),
        None => {
            let at = total
                .iter()
                .position(|s| s.name == "Keyspace")
                .unwrap_or(total.len());
            total.insert(
                at,
                Section {
                    name: "Cluster".into(),
                    fields: cluster,
                },
            );
        }
    }
    Frame::Verbatim(render(&total, selector).into())
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
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use std::sync::Arc;

    use crate::shard::{ShardError, ShardErrorKind};

    // Shaped as the handler hands replies to `merge`.
    #[allow(clippy::unnecessary_wraps)]
    fn info(keys: u64, mem: u64, up: u64) -> ShardReply {
        let text = format!(
            "# Server\r\nredis_version:7.0.15\r\ntcp_port:7001\r\nuptime_in_seconds:{up}\r\n\r\n\
             # Memory\r\nused_memory:{mem}\r\nused_memory_human:1K\r\n\r\n\
             # Stats\r\nkeyspace_hits:{keys}\r\n\r\n\
             # Keyspace\r\ndb0:keys={keys},expires=1,avg_ttl=0\r\n"
        );
        let mut out = BytesMut::new();
        resp::encode::bulk(&mut out, text.as_bytes());
        Ok(out.freeze())
    }

    fn text(frame: Frame) -> String {
        match frame {
            Frame::Verbatim(t) => String::from_utf8(t.to_vec()).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    const ADDRS: [&str; 4] = [
        "127.0.0.1:7001",
        "127.0.0.1:7002",
        "127.0.0.1:7003",
        "127.0.0.1:7004",
    ];

    /// One single-member group per reply, every member `up`.
    fn singles(replies: Vec<ShardReply>) -> Vec<GroupInfo<'static>> {
        replies
            .into_iter()
            .zip(ADDRS)
            .map(|(reply, addr)| GroupInfo {
                members: vec![MemberInfo {
                    addr,
                    state: "up",
                    reply,
                }],
                failovers: 0,
            })
            .collect()
    }

    #[test]
    fn fields_are_summed_and_the_cluster_section_lists_every_shard() {
        let all = Selector::from_args(&[]);
        let got = text(merge(
            singles(vec![info(3, 100, 5), info(4, 50, 9)]),
            &all,
            Some(6379),
        ));
        assert!(got.contains("redis_version:7.0.15\r\n"), "{got}");
        assert!(got.contains("tcp_port:6379\r\n"), "{got}");
        assert!(got.contains("uptime_in_seconds:9\r\n"), "{got}");
        assert!(got.contains("used_memory:150\r\n"), "{got}");
        assert!(got.contains("used_memory_human:1K\r\n"), "{got}");
        assert!(got.contains("keyspace_hits:7\r\n"), "{got}");
        assert!(got.contains("db0:keys=7,expires=2,avg_ttl=0\r\n"), "{got}");
        assert!(got.contains(
            "# Cluster\r\nshards:2\r\nmembers:2\r\nfailovers:0\r\nshard0:addr=127.0.0.1:7001,state=up,keys=3,used_memory=100\r\n\
             shard1:addr=127.0.0.1:7002,state=up,keys=4,used_memory=50\r\n\r\n# Keyspace"
        ), "{got}");
    }

    #[test]
    fn a_down_shard_is_listed_and_sections_filter() {
        let down = Err(ShardError {
            shard: 1,
            addr: Arc::from("127.0.0.1:7002"),
            kind: ShardErrorKind::Timeout,
            request_sent: true,
        });
        let garbage = Ok(Bytes::from_static(b":1\r\n"));
        let only = Selector::from_args(&[Bytes::from_static(b"CLUSTER")]);
        let got = text(merge(
            singles(vec![info(3, 100, 5), down, garbage]),
            &only,
            None,
        ));
        assert_eq!(
            got,
            "# Cluster\r\nshards:3\r\nmembers:3\r\nfailovers:0\r\nshard0:addr=127.0.0.1:7001,state=up,keys=3,used_memory=100\r\n\
             shard1:addr=127.0.0.1:7002,state=down,keys=0,used_memory=0\r\n\
             shard2:addr=127.0.0.1:7003,state=down,keys=0,used_memory=0\r\n"
        );
        let keyspace = Selector::from_args(&[Bytes::from_static(b"keyspace")]);
        let got = text(merge(singles(vec![info(3, 100, 5)]), &keyspace, None));
        assert_eq!(got, "# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\n");
    }

    #[test]
    fn replicated_groups_count_one_member_and_list_every_member() {
        let member = |addr, state, reply| MemberInfo { addr, state, reply };
        let groups = vec![
            GroupInfo {
                members: vec![
                    member(ADDRS[0], "down", info(9, 900, 1)),
                    member(ADDRS[1], "up", info(3, 100, 5)),
                ],
                failovers: 2,
            },
            GroupInfo {
                members: vec![
                    member(ADDRS[2], "up", info(4, 50, 9)),
                    member(ADDRS[3], "syncing", info(1, 10, 1)),
                ],
                failovers: 0,
            },
        ];
        let got = text(merge(groups, &Selector::from_args(&[]), None));
        assert!(got.contains("db0:keys=7,expires=2,avg_ttl=0\r\n"), "{got}");
        assert!(
            got.contains(
                "# Cluster\r\nshards:2\r\nmembers:4\r\nfailovers:2\r\n\
                 shard0:addr=127.0.0.1:7001,state=up,keys=3,used_memory=100,members=2,members_up=1,failovers=2\r\n\
                 shard0_member0:addr=127.0.0.1:7001,state=down,role=primary,keys=9,used_memory=900\r\n\
                 shard0_member1:addr=127.0.0.1:7002,state=up,role=replica,keys=3,used_memory=100\r\n\
                 shard1:addr=127.0.0.1:7003,state=up,keys=4,used_memory=50,members=2,members_up=1,failovers=0\r\n\
                 shard1_member0:addr=127.0.0.1:7003,state=up,role=primary,keys=4,used_memory=50\r\n\
                 shard1_member1:addr=127.0.0.1:7004,state=syncing,role=replica,keys=1,used_memory=10\r\n"
            ),
            "{got}"
        );
    }

    #[test]
    fn combine_keeps_what_cannot_be_summed() {
        assert_eq!(combine("tcp_port", "1", "2"), "1");
        assert_eq!(combine("role", "master", "slave"), "master");
        assert_eq!(
            combine("cmdstat_get", "calls=1,usec=2", "calls=3,usec=4"),
            "calls=4,usec=6"
        );
        assert_eq!(combine("x", "a=1", "b=2"), "a=1");
        assert_eq!(
            combine("n", "9223372036854775807", "1"),
            "9223372036854775807"
        );
    }
}
