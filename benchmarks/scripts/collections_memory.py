#!/usr/bin/env python3
"""Bytes per element of collections: a jumpcache shard against redis-server, same data.

Each workload runs in a fresh process of each server; the figure is the growth of the
process's RSS (VmRSS) from before the load to after it, divided by the elements loaded,
plus the server's own count (INFO used_memory) for reference.

    python3 benchmarks/scripts/collections_memory.py [--only hash1m,small_hashes,zset1m,set1m,list1m]

Uses target/release/jumpcache (or $JC) and redis-server; needs redis-py. Stops what it
started, by pid.
"""
import argparse
import os
import sys
import tempfile

import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as C  # noqa: E402

JC = os.environ.get("JC", C.JUMPCACHE)


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def batches(commands, client, size=500):
    pipe = client.pipeline(transaction=False)
    for i, cmd in enumerate(commands, 1):
        pipe.execute_command(*cmd)
        if i % size == 0:
            pipe.execute()
    pipe.execute()


def hash1m():
    n, per = 1_000_000, 100
    for start in range(0, n, per):
        args = []
        for i in range(start, start + per):
            args += [f"field:{i}", f"value:{i}"]
        yield ["HSET", "big"] + args


def small_hashes():
    for k in range(100_000):
        args = []
        for i in range(10):
            args += [f"field:{i}", f"value:{k}:{i}"]
        yield ["HSET", f"user:{k}"] + args


def zset1m():
    n, per = 1_000_000, 100
    for start in range(0, n, per):
        args = []
        for i in range(start, start + per):
            args += [str(i * 7 % 1_000_003), f"member:{i}"]
        yield ["ZADD", "board"] + args


def list1m():
    n, per = 1_000_000, 100
    for start in range(0, n, per):
        yield ["RPUSH", "recent"] + [f"item:{i}" for i in range(start, start + per)]


def set1m():
    n, per = 1_000_000, 100
    for start in range(0, n, per):
        yield ["SADD", "tags"] + [f"member:{i}" for i in range(start, start + per)]


WORKLOADS = {
    "hash1m": (hash1m, 1_000_000, "fields"),
    "small_hashes": (small_hashes, 1_000_000, "fields (100k hashes of 10)"),
    "zset1m": (zset1m, 1_000_000, "members"),
    "set1m": (set1m, 1_000_000, "members"),
    "list1m": (list1m, 1_000_000, "elements"),
}


def measure(name, server, tmp):
    make, elements, _ = WORKLOADS[name]
    t = C.Target(server, tmp)
    port = C.free_port()
    if server == "redis":
        t.spawn(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                 "--dir", tmp])
    else:
        t.spawn([JC, "shard", "--port", str(port), "--max-memory", "8gb",
                 "--metrics-port", str(C.free_port())])
    try:
        C.wait_ready(port, server)
        pid = t.pids()[0]
        client = redis.Redis(port=port)
        before = rss(pid)
        batches(make(), client)
        after = rss(pid)
        used = int(client.info("memory")["used_memory"])
        return (after - before) / elements, used / elements
    finally:
        t.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default=",".join(WORKLOADS))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"{'workload':<14} {'server':<10} {'RSS B/elem':>11} {'used_memory B/elem':>19}")
        for name in args.only.split(","):
            for server in ["redis", "jumpcache"]:
                r, u = measure(name, server, tmp)
                print(f"{name:<14} {server:<10} {r:>11.1f} {u:>19.1f}", flush=True)


if __name__ == "__main__":
    main()
