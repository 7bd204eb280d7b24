//! Health checks: every router PINGs every member every `--health-interval-ms`, on its own,
//! with no coordinator. `--fail-after` failures in a row mark a member down (a connection
//! error on the data path does so at once); `--rise-after` successes bring it back, through
//! a re-sync when its group has other members (see `sync`).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serve::Shutdown;
use tokio::time::{interval, timeout, MissedTickBehavior};

use crate::replication::group::Group;
use crate::replication::sync::learn_run_id;
use crate::shards::PING;

/// Checks member `m` of `group` every `every` until `shutdown`; a check fails when PONG does
/// not come back within `every` or the shard timeout, whichever is shorter.
pub(crate) async fn run_checks(
    group: Arc<Group>,
    m: usize,
    every: Duration,
    shard_timeout: Duration,
    shutdown: Shutdown,
) {
    let mut tick = interval(every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let limit = every.min(shard_timeout);
    let client = group.members[m].client.clone();
    let mut stop = shutdown.wait();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = &mut stop => return,
        }
        let ok = matches!(
            timeout(limit, client.call(Bytes::from_static(PING))).await,
            Ok(Ok(reply)) if reply.as_ref() == b"+PONG\r\n"
        );
        group.on_check(m, ok);
        if ok
            && group.members.len() > 1
            && group.state(m) == crate::replication::group::MemberState::Up
        {
            // Known from the start, a new run_id later tells a restarted (empty) process.
            learn_run_id(&group, m).await;
        }
    }
}
