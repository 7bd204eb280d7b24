//! MEMORY STATS through a router: every group's figures, added up (`merge::memory_stats`).
//! MEMORY USAGE, with its key, goes to the key's group by the table's route.

use protocol::{Command, Kind};
use serve::session::Session;

use super::{Pending, Router};
use crate::path::plan;

/// Returns true for MEMORY STATS from a client that may run it.
pub(super) fn is_stats(cmd: &Command, session: &Session) -> bool {
    session.authenticated()
        && cmd.kind() == Kind::Memory
        && cmd.args()[1].eq_ignore_ascii_case(b"STATS")
}

/// Asks one member of every group for its MEMORY STATS.
pub(super) async fn start(cmd: &Command, router: &Router, lane: u64) -> Pending {
    let request = plan::forward_request(cmd);
    let mut calls = Vec::with_capacity(router.groups.len());
    for group in &router.groups {
        calls.push(group.send_read(lane, request.clone(), false).await);
    }
    Pending::MemoryStats { calls }
}
