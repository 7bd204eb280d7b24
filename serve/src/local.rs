//! The in-process seam: a shard that runs in the router's own process (`jumpcache cluster`)
//! is called through this trait, with the command the router already parsed, and answers
//! with a reply value. No bytes cross it: nothing is encoded, copied or parsed again.

use protocol::{Command, Frame};

use crate::figures::ShardFigures;

/// A shard the router calls without a socket (`server::Embedded`).
pub trait LocalShard: Send + Sync + 'static {
    /// Runs `cmd` as the shard's own connections would, and returns its reply.
    fn execute(&self, cmd: &Command) -> Frame;

    /// Returns the shard's figures as they are now: no INFO text is written or read.
    fn figures(&self) -> ShardFigures;

    /// Tracks the keys the calls read from now on, and calls `sink` with their
    /// invalidations, synchronously from the change (a router's near-cache). Does nothing
    /// where the shard cannot.
    fn track(&self, sink: std::sync::Arc<dyn Fn(crate::tracking::Invalidation<'_>) + Send + Sync>) {
        let _ = sink;
    }
}
