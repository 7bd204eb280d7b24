#!/bin/bash
# Memory bound check: starts `BIN shard --max-memory MAXMEM`, loads N sequential keys of
# SIZE-byte values (default 1024) with redis-cli --pipe, then reports RSS against the bound
# and checks that eviction kept the newest keys (LRU). Needs python3 and redis-cli.
# Usage: SIZE=1024 memory_bound.sh target/release/jumpcache 64mb 1048576
BIN=$1; MEM=$2; N=$3
P=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
$BIN shard --port $P --max-memory $MEM > /tmp/measure-shard.log 2>&1 &
PID=$!
for i in $(seq 50); do redis-cli -p $P ping >/dev/null 2>&1 && break; sleep 0.1; done
base=$(grep VmRSS /proc/$PID/status | awk '{print $2}')
start=$(date +%s.%N)
python3 "$(dirname "$0")/load_sequential.py" $N ${SIZE:-1024} | redis-cli -p $P --pipe | tail -2
end=$(date +%s.%N)
sleep 1
echo "load seconds: $(echo "$end - $start" | bc)"
echo "baseline RSS kB: $base"
grep -E "VmRSS|VmHWM" /proc/$PID/status
redis-cli -p $P info memory | grep -E "^used_memory:|^maxmemory:|used_memory_rss:"
redis-cli -p $P info stats | grep -E "evicted_keys"
redis-cli -p $P dbsize
last=$((N-1)); echo "last key: $(redis-cli -p $P strlen key:$(printf %09d $last))"
missing=0; for i in $(seq $((N-2000)) $((N-1))); do [ "$(redis-cli -p $P exists key:$(printf %09d $i))" = "1" ] || missing=$((missing+1)); done; echo "missing of the last 2000 keys: $missing"
echo "first key exists: $(redis-cli -p $P exists key:000000000)"
K=$(redis-cli -p $P dbsize); old=0; for i in $(seq $((N-K-2000)) 97 $((N-K-1))); do [ "$(redis-cli -p $P exists key:$(printf %09d $i))" = "1" ] && old=$((old+1)); done; echo "present among 21 sampled keys older than the newest $K: $old"
new=0; for i in $(seq $((N-K+K/10)) 997 $((N-1))); do [ "$(redis-cli -p $P exists key:$(printf %09d $i))" = "1" ] || new=$((new+1)); done; echo "missing among sampled keys of the newest 90%: $new"
kill $PID; wait $PID 2>/dev/null
