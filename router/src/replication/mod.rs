//! Shard groups with replicas: member state, reads and writes to a group, health checks and
//! the re-sync of a member that comes back.
//!
//! ```text
//! health::run_checks (PING every member) ─▶ Group::on_check ─▶ sync::run_worker ─▶ Group::promote
//! Group::send_read / send_write ─▶ call::GroupCall::wait (retry a read, compare a write's replies)
//! ```

pub mod call;
pub mod group;
pub mod health;
pub mod sync;
