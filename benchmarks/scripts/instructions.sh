#!/usr/bin/env bash
# Instructions per request through `jumpcache cluster --shards 2` (callgrind: repeatable whatever the
# machine's load). Counters are zeroed after start-up and a preload, so only the measured requests count.
#   benchmarks/scripts/instructions.sh [BINARY] [TESTS] [REQUESTS]
#   benchmarks/scripts/instructions.sh target/release/jumpcache set,get 50000
#   PIPELINE=16 benchmarks/scripts/instructions.sh   # -P 16 instead of -P 1
#   STORE=moka benchmarks/scripts/instructions.sh     # the shards on --store moka
set -euo pipefail
bin=${1:-target/release/jumpcache}
tests=${2:-set,get}
n=${3:-50000}
pipeline=${PIPELINE:-1}
out=${CG_OUT:-$(mktemp -d)}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p" "$bin" cluster --shards 2 --port "$port" \
  --metrics-port 0 --store "${STORE:-compact}" >"$out/log" 2>&1 &
pid=$!
trap 'kill -INT $pid 2>/dev/null || true' EXIT
until redis-cli -p "$port" ping >/dev/null 2>&1; do
  kill -0 $pid 2>/dev/null || { cat "$out/log"; exit 1; }
  sleep 0.2
done
# Preload the keys GET reads, so GETs are hits.
redis-benchmark -p "$port" -c 50 -d 64 -r 100000 -P 16 -t set -n 200000 -q >/dev/null
for t in ${tests//,/ }; do
  callgrind_control -z "$pid" >/dev/null
  redis-benchmark -p "$port" -c 50 -d 64 -r 100000 -P "$pipeline" -t "$t" -n "$n" -q >/dev/null
  callgrind_control -d "$pid" >/dev/null
  f=$(ls -t "$out"/cg.$pid.* | head -1)
  total=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1; exit}')
  echo "$t: $((total / n)) instructions per request ($total over $n)"
done
