//! What the router reports: per-member counters, the once-a-second poll of every member's
//! figures, and the cluster's INFO. It reads the shard connections and the groups; nothing
//! outside it depends on it but the data path's INFO (`path::handler`).
//!
//! ```text
//! poll::run (every member's figures) ─▶ summary::summarise ─▶ stats::MemberSeries, cluster sums ─▶ /metrics
//!                                                        └▶ CONFIG GET maxmemory, maxmemory-policy
//! INFO from a client ─▶ info::send / collect (every member's figures) ─▶ summary::summarise
//!                    ─▶ info::render ─▶ one INFO with a # Cluster section
//! ```

pub mod info;
pub mod poll;
pub mod stats;
mod summary;
