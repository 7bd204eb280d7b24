//! The shard's counters and metrics.
//!
//! The process counters and the metric names live in `serve::stats`, shared with the router:
//! a shard and a router export the same redis_exporter names, each for itself. A shard
//! exports only when it has its own `/metrics` (`Config::export_metrics`); the shards
//! embedded in `jumpcache cluster` do not, since their router answers for the cluster.

use serve::stats::{export_keyspace, export_persistence, export_process};
pub use serve::stats::{rss_bytes, Stats};

use crate::state::ShardState;

/// Metric names the shard declares beyond `serve::stats::NAMES`: none.
pub const NAMES: &[&str] = &[];

/// Describes the shard's metrics to the installed recorder.
pub fn describe() {
    serve::stats::describe();
}

/// Copies the shard's counters into the metrics recorder; called at each `/metrics` scrape.
pub fn export(shard: &ShardState) {
    export_process(&shard.stats);
    export_keyspace(&shard.store.stats());
    export_persistence(&shard.persistence.figures());
}
