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
pub mod ring;
pub mod topology;
