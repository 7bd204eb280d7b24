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

/// What INFO's `# Topology` section and the metrics show, read once.
struct Figures {
    epoch: u64,
    groups: usize,
    running: bool,
    moved: u64,
    remaining: u64,
    moved_total: u64,
    reload_errors: u64,
}

impl Figures {
    fn of(elastic: &Elastic) -> Figures {
        let view = elastic.view();
        let (running, moved, remaining) = match &view.moving {
            Some(m) => {
                let moved = m.moved.load(Relaxed);
                (true, moved, m.expected.load(Relaxed).saturating_sub(moved))
            }
            None => (false, elastic.counters.last_moved.load(Relaxed), 0),
        };
        Figures {
            epoch: view.topology.epoch(),
            groups: view.topology.len(),
            running,
            moved,
            remaining,
            moved_total: elastic.counters.moved.load(Relaxed),
            reload_errors: elastic.counters.reload_errors.load(Relaxed),
        }
    }
}

/// Copies the `# Topology` figures into the metrics recorder (the poll calls it).
pub(crate) fn export(elastic: &Elastic) {
    use crate::observe::stats as names;
    let f = Figures::of(elastic);
    metrics::gauge!(names::TOPOLOGY_EPOCH).set(f.epoch as f64);
    metrics::gauge!(names::MIGRATION_RUNNING).set(if f.running { 1.0 } else { 0.0 });
    metrics::gauge!(names::MIGRATION_KEYS_REMAINING).set(f.remaining as f64);
    metrics::counter!(names::MIGRATION_KEYS_MOVED).absolute(f.moved_total);
    metrics::counter!(names::TOPOLOGY_RELOAD_ERRORS).absolute(f.reload_errors);
}

/// INFO's `# Topology` section.
pub(crate) fn section(elastic: &Elastic) -> Section {
    let f = Figures::of(elastic);
    let mut s = Section::new("Topology");
    s.add("topology_epoch", f.epoch)
        .add("topology_groups", f.groups)
        .add(
            "migration_status",
            if f.running { "running" } else { "idle" },
        )
        .add("migration_keys_moved", f.moved)
        .add("migration_keys_remaining", f.remaining)
        .add("migration_keys_moved_total", f.moved_total)
        .add("topology_reload_errors", f.reload_errors);
    s
}
