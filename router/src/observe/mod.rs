//! What the router reports: per-member counters and latency, the once-a-second INFO poll of
//! every member, and the cluster's INFO.
//!
//! ```text
//! poll::run (INFO of every member) ─▶ stats::MemberSeries, cluster sums ─▶ /metrics
//! INFO from a client ─▶ info::merge (every member's INFO) ─▶ one INFO with a # Cluster section
//! ```

pub mod info;
pub mod poll;
pub mod stats;
