//! CONFIG SET through a router: the store's settings (`maxmemory`, `maxmemory-policy`) go to
//! every member of every group; the router's own (`timeout`, `maxclients`, the slowlog's)
//! apply to the router.
//!
//! The whole command is checked first, with Redis's texts, so a bad pair changes nothing
//! anywhere. `maxmemory` is the cluster's: each group's members get an equal share (rounded
//! up), so the router's `CONFIG GET maxmemory`, the sum of its groups', reads back about what
//! was set. A member that fails or is down makes the reply its error; the others keep the
//! change (as a write to several groups).

use bytes::Bytes;
use protocol::{Command, Kind};
use serve::operator::{check_config_set, is_store_setting};
use serve::session::{handle_local, ServerConfig, Session};

use super::{Pending, Router};
use crate::path::plan::Merge;

/// Returns true for a CONFIG SET that names a store setting: the router sends it to its
/// shards instead of answering it alone.
pub(super) fn sets_store(cmd: &Command, session: &Session, config: &ServerConfig) -> bool {
    let args = cmd.args();
    cmd.kind() == Kind::Config
        && session.may_run(cmd, config)
        && args[1].eq_ignore_ascii_case(b"SET")
        && args[2..].chunks(2).any(|pair| {
            let name = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
            is_store_setting(&name)
        })
}

/// Checks the command, applies the router's pairs, and sends the store's to every member.
pub(super) async fn start(
    cmd: Command,
    session: &mut Session,
    router: &Router,
    lane: u64,
) -> Pending {
    let changes = match check_config_set(&cmd, true) {
        Ok(changes) => changes,
        Err(e) => return Pending::Ready(e.to_frame()),
    };
    let all = router.elastic.view().all_groups();
    let groups = router.elastic.view().groups.len().max(1) as i64;
    let head = || cmd.args()[..2].to_vec();
    let (mut own, mut store) = (head(), head());
    for (name, value, text) in changes {
        let (list, value) = match name {
            "maxmemory" => {
                let share = value / groups + i64::from(value % groups != 0);
                // What the next poll of the shards will report, readable at once.
                let total = share.saturating_mul(groups);
                router.server_config.maxmemory.set(total as u64);
                (&mut store, Bytes::from(share.to_string()))
            }
            _ if is_store_setting(name) => {
                let policy = String::from_utf8_lossy(text).to_ascii_lowercase();
                router.server_config.maxmemory_policy.set(policy);
                (&mut store, Bytes::copy_from_slice(text))
            }
            _ => (&mut own, Bytes::copy_from_slice(text)),
        };
        list.push(Bytes::from_static(name.as_bytes()));
        list.push(value);
    }
    if own.len() > 2 {
        // Checked above: the router's own pairs cannot fail now.
        handle_local(&cmd.with_args(own), session, &router.server_config);
    }
    let request = cmd.with_args(store).request_bytes();
    let mut calls = Vec::with_capacity(all.len());
    for group in &all {
        calls.push(
            group
                .send_write(lane, request.clone(), Vec::new(), false)
                .await,
        );
    }
    Pending::Broadcast {
        calls,
        merge: Merge::AllOk,
    }
}
