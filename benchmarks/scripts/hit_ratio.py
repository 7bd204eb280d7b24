#!/usr/bin/env python3
"""Eviction quality: the hit ratio of a cache-aside client replaying one Zipf-distributed key
trace against a memory bound that holds a tenth of the keys, for a jumpcache shard on each
store backend and policy (compact lru/lfu, moka lru/lfu) and redis-server (allkeys-lru,
allkeys-lfu).

Each server first loads probe keys to learn what one key costs it (INFO used_memory), so every
server's bound holds the same number of keys (CONFIG SET maxmemory): the figure compares which
keys a policy keeps, not how many bytes a key costs. The trace: GET each key; on a miss, SET it
(100-byte values). Requests go in pipelined batches (the GETs of a batch, then its misses' SETs),
the same for every server. The first fifth of the trace warms the cache and is not counted.
Stops everything it started, by pid.
Usage: benchmarks/scripts/hit_ratio.py [--keys 200000] [--accesses 2000000] [--skew 0.99]
"""
import argparse
import bisect
import os
import random
import socket
import subprocess
import sys
import time

import redis

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JUMPCACHE = os.path.join(ROOT, "target", "release", "jumpcache")
VALUE = b"v" * 100
BATCH = 200
PROBES = 20_000


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def trace(keys, accesses, skew, seed=7):
    """Returns `accesses` key names drawn from a Zipf(`skew`) law over `keys` keys; ranks are
    shuffled over names, so popularity has nothing to do with a key's hash."""
    rng = random.Random(seed)
    cdf, total = [], 0.0
    for rank in range(1, keys + 1):
        total += 1.0 / rank**skew
        cdf.append(total)
    names = [b"key:%d" % i for i in range(keys)]
    rng.shuffle(names)
    return [names[bisect.bisect_left(cdf, rng.random() * total)] for _ in range(accesses)]


def start(target):
    port = free_port()
    if target[0] == "redis":
        cmd = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"]
    else:
        cmd = [JUMPCACHE, "shard", "--port", str(port), "--store", target[0]]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            return proc, client
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{target} did not start")


def used(client):
    return int(client.info("memory")["used_memory"])


def run(target, keys, accesses_list):
    proc, c = start(target)
    try:
        c.flushall()
        base = used(c)
        pipe = c.pipeline(transaction=False)
        for i in range(PROBES):
            pipe.set(b"key:%d" % i, VALUE)
        pipe.execute()
        per_key = (used(c) - base) / PROBES
        c.flushall()
        policy = {"lru": "allkeys-lru", "lfu": "allkeys-lfu"}[target[1]]
        c.config_set("maxmemory-policy", policy)
        c.config_set("maxmemory", int(base + per_key * keys // 10))
        warm = len(accesses_list) // 5
        hits = counted = 0
        for start_at in range(0, len(accesses_list), BATCH):
            batch = accesses_list[start_at:start_at + BATCH]
            pipe = c.pipeline(transaction=False)
            for k in batch:
                pipe.get(k)
            got = pipe.execute()
            pipe = c.pipeline(transaction=False)
            for k, v in zip(batch, got):
                if v is None:
                    pipe.set(k, VALUE)
            pipe.execute()
            if start_at >= warm:
                counted += len(batch)
                hits += sum(v is not None for v in got)
        return per_key, int(c.dbsize()), hits / counted
    finally:
        proc.terminate()
        proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=200_000)
    ap.add_argument("--accesses", type=int, default=2_000_000)
    ap.add_argument("--skew", type=float, default=0.99)
    opts = ap.parse_args()
    accesses = trace(opts.keys, opts.accesses, opts.skew)
    print(f"Zipf {opts.skew} over {opts.keys:,} keys, {opts.accesses:,} accesses, "
          f"bound = {opts.keys // 10:,} keys' worth\n")
    print("| server | policy | charge per key (B) | keys held at the end | hit ratio |")
    print("|---|---|---|---|---|")
    for target in [("redis", "lru"), ("redis", "lfu"), ("compact", "lru"), ("compact", "lfu"),
                   ("moka", "lru"), ("moka", "lfu")]:
        per_key, held, ratio = run(target, opts.keys, accesses)
        name = "redis-server" if target[0] == "redis" else f"jumpcache --store {target[0]}"
        print(f"| {name} | {target[1]} | {per_key:.0f} | {held:,} | {ratio:.3f} |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
