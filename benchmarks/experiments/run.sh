#!/usr/bin/env bash
# Regenerates docs/experiments/ (charts) and docs/experiments/data/ (CSV): every experiment of
# docs/experiments.md, run on this machine against real processes.
#   benchmarks/experiments/run.sh                      # the full run (about 5 minutes on 2 cores)
#   benchmarks/experiments/run.sh --short              # the CI-sized run (seconds), written
#                                                      # to target/experiments-short/
#   benchmarks/experiments/run.sh --only resize        # some of them
#   benchmarks/experiments/run.sh --short --out /tmp/x # elsewhere
# Experiments: distribution, scaling, failure, resize, grow.
#
# The `grow` experiment sends `JUMPCACHE RESIZE 4` to a 3-group `jumpcache cluster` under load
# and draws throughput, p99 and misses until INFO says `migration_status:idle`.
set -euo pipefail
cd "$(dirname "$0")/../.."

# twemproxy (nutcracker) and redis-server make the ketama and modulo bars measured; without
# them they are computed (twemproxy's algorithm, benchmarks/src/placement.rs) and labelled so.
if ! command -v nutcracker >/dev/null || ! command -v redis-server >/dev/null; then
  if command -v apt-get >/dev/null && [ -z "${JUMPCACHE_NO_INSTALL:-}" ]; then
    sudo=""
    if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
    $sudo apt-get update
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y nutcracker redis-server || true
  fi
fi

cargo build --release -p jumpcache --bin jumpcache
cargo build --release -p jumpcache-benchmarks --bin experiments --bin loadgen
target="${CARGO_TARGET_DIR:-target}/release"
exec "$target/experiments" --jumpcache "$target/jumpcache" "$@"
