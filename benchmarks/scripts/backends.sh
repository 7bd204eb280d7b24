#!/usr/bin/env bash
# redis-benchmark SET and GET at -P 1 and -P 16 against redis-server and `jumpcache cluster
# --shards 2` on each store backend (--store compact, --store moka), in turns, REPS times;
# prints requests per second as CSV rows: target,test,pipeline,rps.
#   benchmarks/scripts/backends.sh [BINARY] [REQUESTS] [REPS]
set -euo pipefail
bin=${1:-target/release/jumpcache}
n=${2:-200000}
reps=${3:-3}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
wait_ready() { until redis-cli -p "$1" ping >/dev/null 2>&1; do sleep 0.1; done; }
declare -A port
port[redis]=$(free_port)
redis-server --port "${port[redis]}" --save "" --appendonly no >/dev/null 2>&1 &
pids+=($!)
for store in compact moka; do
  port[$store]=$(free_port)
  "$bin" cluster --shards 2 --port "${port[$store]}" --metrics-port 0 --store "$store" >/dev/null 2>&1 &
  pids+=($!)
done
for t in redis compact moka; do wait_ready "${port[$t]}"; done
echo "target,test,pipeline,rps"
for _ in $(seq "$reps"); do
  for p in 1 16; do
    for t in redis compact moka; do
      redis-benchmark -p "${port[$t]}" -c 50 -d 64 -r 100000 -P "$p" -t set,get -n "$n" --csv \
        | tail -n +2 | tr -d '"' | awk -F, -v t="$t" -v p="$p" '{print t "," $1 "," p "," $2}'
    done
  done
done
