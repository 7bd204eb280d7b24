//! Benchmarks live in benches/. This library holds the load generator (`loadgen` binary) and
//! the experiments (`experiments` binary, `benchmarks/experiments/run.sh`; see
//! docs/experiments.md).

pub mod chart;
pub mod keys;
pub mod loadgen;
pub mod placement;
pub mod procs;
pub mod resp;
