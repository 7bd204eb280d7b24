//! `JUMPCACHE` sent to a router, and the `# Topology` section of its INFO.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use protocol::{Command, Frame};
use serve::info::Section;

use super::Elastic;
use crate::path::topology::Topology;

/// Answers `JUMPCACHE TOPOLOGY` and `JUMPCACHE RESIZE <groups>`; the shard-only subcommands
/// are refused (a router never forwards them).
pub(crate) async fn command(cmd: &Command, elastic: &Arc<Elastic>) -> Frame {
    let args = cmd.args();
    match &args[1].to_ascii_uppercase()[..] {
        b"TOPOLOGY" => Frame::Bulk(topology_text(elastic).into()),
        b"RESIZE" => resize(&args[2], elastic).await,
        b"HELP" => Frame::Array(
            [
                "JUMPCACHE <subcommand>. Subcommands are:",
                "TOPOLOGY",
                "    The groups, their members, the epoch and the migration state.",
                "RESIZE <groups>",
                "    (jumpcache cluster) Grow or shrink to <groups> shard groups, moving keys live.",
                "HELP",
                "    Print this help.",
            ]
            .iter()
            .map(|l| Frame::simple(l))
            .collect(),
        ),
        _ => Frame::error("ERR this JUMPCACHE subcommand is for shards; a router answers TOPOLOGY, RESIZE and HELP"),
    }
}

/// `JUMPCACHE RESIZE <groups>`: in `jumpcache cluster`, starts in-process shards for new
/// groups (as many members as group 0 has) or drops the last groups, then resizes.
async fn resize(arg: &[u8], elastic: &Arc<Elastic>) -> Frame {
    let Some(want) = std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
    else {
        return Frame::error("ERR value is not an integer or out of range");
    };
    if !(1..=1024).contains(&want) {
        return Frame::error("ERR the number of groups must be between 1 and 1024");
    }
    let Some(factory) = elastic.factory.clone() else {
        return Frame::error(
            "ERR JUMPCACHE RESIZE needs jumpcache cluster; a router follows its --topology file",
        );
    };
    let view = elastic.view.load_full();
    if view.moving.is_some() {
        return Frame::error(
            "ERR a resize is still moving keys; try again when JUMPCACHE TOPOLOGY says idle",
        );
    }
    let mut groups: Vec<Vec<String>> = view.topology.groups().to_vec();
    let members = groups.first().map_or(1, Vec::len);
    while groups.len() < want {
        let mut group = Vec::with_capacity(members);
        for _ in 0..members {
            match factory().await {
                Ok((addr, shard)) => {
                    serve::sync::lock(&elastic.local).insert(addr.clone(), shard);
                    group.push(addr);
                }
                Err(e) => return Frame::error_owned(format!("ERR cannot start a shard: {e}")),
            }
        }
        groups.push(group);
    }
    groups.truncate(want);
    let epoch = view.topology.epoch() + 1;
    let next = Topology::new(groups).at_epoch(epoch);
    match elastic.propose(next, "resize").await {
        Ok(_) => Frame::ok(),
        Err(why) => Frame::error_owned(format!("ERR {why}")),
    }
}

/// The state of the topology as `field:value` lines, then one line per group.
fn topology_text(elastic: &Elastic) -> String {
    let mut out = String::new();
    for (k, v) in section(elastic).fields {
        out.push_str(&format!("{k}:{v}\r\n"));
    }
    let view = elastic.view();
    for (i, members) in view.topology.groups().iter().enumerate() {
        out.push_str(&format!("group{i}:{}\r\n", members.join(",")));
    }
    if let Some(m) = &view.moving {
        for (i, members) in m.from.groups().iter().enumerate().skip(view.topology.len()) {
            out.push_str(&format!("leaving_group{i}:{}\r\n", members.join(",")));
        }
    }
    out
}

/// Copies the `# Topology` figures into the metrics recorder (the poll calls it).
pub(crate) fn export(elastic: &Elastic) {
    use crate::observe::stats as names;
    let section = section(elastic);
    let field = |name: &str| {
        section
            .fields
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let running = elastic.view().moving.is_some();
    metrics::gauge!(names::TOPOLOGY_EPOCH).set(field("topology_epoch") as f64);
    metrics::gauge!(names::MIGRATION_RUNNING).set(if running { 1.0 } else { 0.0 });
    metrics::gauge!(names::MIGRATION_KEYS_REMAINING).set(field("migration_keys_remaining") as f64);
    metrics::counter!(names::MIGRATION_KEYS_MOVED).absolute(field("migration_keys_moved_total"));
    metrics::counter!(names::TOPOLOGY_RELOAD_ERRORS).absolute(field("topology_reload_errors"));
}

/// INFO's `# Topology` section.
pub(crate) fn section(elastic: &Elastic) -> Section {
    let view = elastic.view();
    let mut s = Section::new("Topology");
    let (status, moved, remaining) = match &view.moving {
        Some(m) => {
            let moved = m.moved.load(Relaxed);
            (
                "running",
                moved,
                m.expected.load(Relaxed).saturating_sub(moved),
            )
        }
        None => ("idle", elastic.counters.last_moved.load(Relaxed), 0),
    };
    s.add("topology_epoch", view.topology.epoch())
        .add("topology_groups", view.topology.len())
        .add("migration_status", status)
        .add("migration_keys_moved", moved)
        .add("migration_keys_remaining", remaining)
        .add(
            "migration_keys_moved_total",
            elastic.counters.moved.load(Relaxed),
        )
        .add(
            "topology_reload_errors",
            elastic.counters.reload_errors.load(Relaxed),
        );
    s
}
