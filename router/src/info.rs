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

/// Merges the shards' INFO replies (one per address, in bucket order) into the router's.
///
/// `local` replaces fields that describe the router rather than the shards (`tcp_port`,
/// `connected_clients`, ...), so clients see the port and the clients they share.
pub fn merge(
    addrs: &[String],
    replies: Vec<ShardReply>,
    selector: &Selector,
    local: &[(&str, String)],
) -> Frame {
    let mut total: Vec<Section> = Vec::new();
    let mut cluster = vec![("shards".to_string(), addrs.len().to_string())];
    for (i, (addr, reply)) in addrs.iter().zip(replies).enumerate() {
        let text = reply.ok().and_then(|raw| match resp::reply::parse(&raw) {
            Ok(Frame::Bulk(t) | Frame::Verbatim(t)) => {
                Some(String::from_utf8_lossy(&t).into_owned())
            }
            _ => None,
        });
        let line = match text {
            Some(text) => {
                let sections = parse(&text);
                let used = field(&sections, "Memory", "used_memory")
                    .unwrap_or("0")
                    .to_string();
                let line = format!(
                    "addr={addr},state=up,keys={},used_memory={used}",
                    shard_keys(&sections)
                );
                fold(&mut total, sections);
                line
            }
            None => format!("addr={addr},state=down,keys=0,used_memory=0"),
        };
        cluster.push((format!("shard{i}"), line));
    }
    for (name, value) in local {
        let field = total
            .iter_mut()
            .flat_map(|s| s.fields.iter_mut())
            .find(|(k, _)| k == name);
        if let Some((_, v)) = field {
            v.clone_from(value);
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

    fn addrs(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("127.0.0.1:{}", 7001 + i)).collect()
    }

    #[test]
    fn fields_are_summed_and_the_cluster_section_lists_every_shard() {
        let all = Selector::from_args(&[]);
        let got = text(merge(
            &addrs(2),
            vec![info(3, 100, 5), info(4, 50, 9)],
            &all,
            &[("tcp_port", "6379".into())],
        ));
        assert!(got.contains("redis_version:7.0.15\r\n"), "{got}");
        assert!(got.contains("tcp_port:6379\r\n"), "{got}");
        assert!(got.contains("uptime_in_seconds:9\r\n"), "{got}");
        assert!(got.contains("used_memory:150\r\n"), "{got}");
        assert!(got.contains("used_memory_human:1K\r\n"), "{got}");
        assert!(got.contains("keyspace_hits:7\r\n"), "{got}");
        assert!(got.contains("db0:keys=7,expires=2,avg_ttl=0\r\n"), "{got}");
        assert!(got.contains(
            "# Cluster\r\nshards:2\r\nshard0:addr=127.0.0.1:7001,state=up,keys=3,used_memory=100\r\n\
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
            &addrs(3),
            vec![info(3, 100, 5), down, garbage],
            &only,
            &[],
        ));
        assert_eq!(
            got,
            "# Cluster\r\nshards:3\r\nshard0:addr=127.0.0.1:7001,state=up,keys=3,used_memory=100\r\n\
             shard1:addr=127.0.0.1:7002,state=down,keys=0,used_memory=0\r\n\
             shard2:addr=127.0.0.1:7003,state=down,keys=0,used_memory=0\r\n"
        );
        let keyspace = Selector::from_args(&[Bytes::from_static(b"keyspace")]);
        let got = text(merge(&addrs(1), vec![info(3, 100, 5)], &keyspace, &[]));
        assert_eq!(got, "# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\n");
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
