//! The data path: a client's command to the groups that own its keys and back.
//!
//! ```text
//! handler::handle ─▶ plan::plan (topology ─▶ ring::bucket) ─▶ Group / ShardClient ─▶ merge::merge ─▶ client
//! ```
//! `busy_poll` keeps a client task polling at low load instead of sleeping.

pub mod busy_poll;
pub mod handler;
pub mod merge;
pub mod plan;
/// Keys to buckets: the wire contract lives in `protocol::ring`, shared with the shards.
pub use protocol::ring;
pub mod topology;
