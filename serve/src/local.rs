//! The in-process seam: a shard that runs in the router's own process (`jumpcache cluster`)
//! is called through this trait, without a socket.

use bytes::Bytes;

use crate::figures::ShardFigures;

/// A shard the router calls without a socket (`server::Embedded`).
pub trait LocalShard: Send + Sync + 'static {
    /// Runs one complete RESP request; returns its reply in RESP2, as the shard's socket would.
    fn call(&self, request: &[u8]) -> Bytes;

    /// Returns the shard's figures as they are now: no INFO text is written or read.
    fn figures(&self) -> ShardFigures;
}
