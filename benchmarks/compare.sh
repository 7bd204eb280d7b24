#!/usr/bin/env bash
# Side-by-side benchmark: redis-server, twemproxy (nutcracker) and jumpcache, in one run.
# Installs what it needs, builds jumpcache in release mode, then runs scripts/compare.py.
#   benchmarks/compare.sh            # 3 interleaved reps (about 4 minutes on 2 cores)
#   benchmarks/compare.sh --quick    # a smoke run
set -euo pipefail
cd "$(dirname "$0")/.."
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-benchmark >/dev/null || need+=(redis-tools)
command -v nutcracker >/dev/null || need+=(nutcracker)
if [ ${#need[@]} -gt 0 ]; then
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y "${need[@]}"
fi
cargo build --release --bin jumpcache
exec python3 benchmarks/scripts/compare.py "$@"
