//! Test only: `JUMPCACHE_TEST_TXN_PAUSE=point:ms` makes the router stop a cross-group
//! transaction at `point` for `ms` milliseconds, with a log line saying so, so that a test
//! can kill (SIGKILL) or outwait a router between the two phases. Points: `before-commit`
//! (every group prepared, no COMMIT sent) and `after-coordinator-commit` (the decision made,
//! the other groups not told). Only the first transaction to reach the point pauses.
//! Unset (always, outside tests) it costs one check of a `OnceLock` per two-phase EXEC.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Where a two-phase transaction may be paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Point {
    BeforeCommit,
    AfterCoordinatorCommit,
}

fn setting() -> Option<(Point, Duration)> {
    static SETTING: OnceLock<Option<(Point, Duration)>> = OnceLock::new();
    *SETTING.get_or_init(|| {
        let value = std::env::var("JUMPCACHE_TEST_TXN_PAUSE").ok()?;
        let (point, ms) = value.split_once(':')?;
        let point = match point {
            "before-commit" => Point::BeforeCommit,
            "after-coordinator-commit" => Point::AfterCoordinatorCommit,
            _ => return None,
        };
        Some((point, Duration::from_millis(ms.parse().ok()?)))
    })
}

/// Pauses here when the test setting names `point` and no transaction paused yet.
pub(super) async fn pause(point: Point) {
    static PAUSED: AtomicBool = AtomicBool::new(false);
    let Some((at, how_long)) = setting() else {
        return;
    };
    if at != point || PAUSED.swap(true, Ordering::Relaxed) {
        return;
    }
    tracing::warn!(
        ?point,
        ms = how_long.as_millis() as u64,
        "test hook: transaction paused"
    );
    tokio::time::sleep(how_long).await;
    tracing::warn!(?point, "test hook: transaction resumed");
}
