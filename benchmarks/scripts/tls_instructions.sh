#!/usr/bin/env bash
# Instructions per request with and without TLS, for redis-server and for the jumpcache process
# that terminates the clients' TLS (callgrind: repeatable whatever the machine's load).
#   benchmarks/scripts/tls_instructions.sh TARGET [BINARY] [TESTS] [REQUESTS]
#   TARGET: redis | cluster | router   (router: over 2 `jumpcache shard` processes, not measured)
#   benchmarks/scripts/tls_instructions.sh router target/release/jumpcache set,get 20000
#   PIPELINE=16 ... for -P 16 instead of -P 1
# Prints, per test, the measured process's instructions per request over the plain port and
# over the TLS port (same process, same keys, counters zeroed before each run).
set -euo pipefail
target=$1
bin=${2:-target/release/jumpcache}
tests=${3:-set,get}
n=${4:-20000}
pipeline=${PIPELINE:-1}
out=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -keyout "$out/key.pem" -out "$out/cert.pem" 2>/dev/null
port=$(free_port)
tls_port=$(free_port)
tls=(--tls-port "$tls_port" --tls-cert-file "$out/cert.pem" --tls-key-file "$out/key.pem"
  --tls-ca-cert-file "$out/cert.pem" --tls-auth-clients no)
pids=()
trap 'for p in "${pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done' EXIT
wait_ready() {
  until redis-cli -p "$1" ping >/dev/null 2>&1; do
    kill -0 "$2" 2>/dev/null || { cat "$out/log"; exit 1; }
    sleep 0.2
  done
}
cg=(valgrind --tool=callgrind --callgrind-out-file="$out/cg.%p")
case $target in
  redis) "${cg[@]}" redis-server --port "$port" --save '' --appendonly no --dir "$out" \
    "${tls[@]}" >"$out/log" 2>&1 & ;;
  cluster) "${cg[@]}" "$bin" cluster --shards 2 --port "$port" --metrics-port 0 "${tls[@]}" \
    >"$out/log" 2>&1 & ;;
  router)
    shards=()
    for _ in 1 2; do
      p=$(free_port)
      "$bin" shard --port "$p" >/dev/null 2>&1 &
      pids+=($!)
      wait_ready "$p" $!
      shards+=("127.0.0.1:$p")
    done
    "${cg[@]}" "$bin" router --port "$port" --shards "$(IFS=,; echo "${shards[*]}")" \
      --metrics-port 0 "${tls[@]}" >"$out/log" 2>&1 & ;;
  *) echo "TARGET is redis, cluster or router" >&2; exit 2 ;;
esac
pid=$!
pids+=("$pid")
wait_ready "$port" "$pid"
redis-benchmark -p "$port" -c 50 -d 64 -r 100000 -P 16 -t set -n 200000 -q >/dev/null
measure() { # $1 test, rest: redis-benchmark's connection flags
  local t=$1
  shift
  callgrind_control -z "$pid" >/dev/null 2>&1
  redis-benchmark "$@" -c 50 -d 64 -r 100000 -P "$pipeline" -t "$t" -n "$n" -q >/dev/null
  callgrind_control -d "$pid" >/dev/null 2>&1
  local f total
  f=$(ls -t "$out"/cg."$pid".* | head -1)
  total=$(callgrind_annotate "$f" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1; exit}')
  echo $((total / n))
}
for t in ${tests//,/ }; do
  plain=$(measure "$t" -p "$port")
  with_tls=$(measure "$t" -p "$tls_port" --tls --cacert "$out/cert.pem")
  echo "$target $t P$pipeline: plain $plain, TLS $with_tls instructions per request (+$((with_tls - plain)))"
done
