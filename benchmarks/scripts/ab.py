#!/usr/bin/env python3
"""A/B runs of jumpcache variants (router + 2 shard processes) beside twemproxy and redis, in
interleaved turns: throughput medians, server CPU per request, machine idle per request, p50.

    python3 benchmarks/scripts/ab.py '[["twemproxy"], ["normal"], ["batch", [], ["--sched", "batch"]]]' \\
        6 -c 50 -d 64 -r 100000 -P 1 -t get -n 100000

Each variant is [name], or [name, router flags, shard flags, {router environment}]; "redis" and "twemproxy" are
compare.py's targets. A name starting with "cluster" runs `jumpcache cluster --shards 2` with the router
flags (and the environment) instead. The first variant is the base of the ratios. Uses target/release/jumpcache
(or $JC) and stops what it started.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as C  # noqa: E402

JC = os.environ.get("JC", C.JUMPCACHE)


def jiffies(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


def idle_jiffies():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return fields[3] + fields[4]


def start(variant, tmp):
    name = variant[0]
    if name in ("redis", "twemproxy"):
        return C.start(name, tmp)
    router_flags = variant[1] if len(variant) > 1 else []
    shard_flags = variant[2] if len(variant) > 2 else []
    env = dict(os.environ, **(variant[3] if len(variant) > 3 else {}))
    t = C.Target(name, tmp)
    if name.startswith("cluster"):
        t.port = C.free_port()
        t.spawn([JC, "cluster", "--shards", "2", "--port", str(t.port),
                 "--metrics-port", str(C.free_port())] + router_flags, env=env)
        C.wait_ready(t.port, name)
        return t
    shards = []
    for _ in range(2):
        port = C.free_port()
        t.spawn([JC, "shard", "--port", str(port)] + shard_flags)
        C.wait_ready(port, "shard")
        shards.append(f"127.0.0.1:{port}")
    t.port = C.free_port()
    t.spawn([JC, "router", "--port", str(t.port), "--shards", ",".join(shards),
             "--metrics-port", str(C.free_port())] + router_flags, env=env)
    C.wait_ready(t.port, name)
    return t


def main():
    variants = json.loads(sys.argv[1])
    reps = int(sys.argv[2])
    args = sys.argv[3:]
    n = int(args[args.index("-n") + 1])
    tmp = tempfile.mkdtemp()
    targets = {}
    results = {v[0]: [] for v in variants}
    try:
        for v in variants:
            targets[v[0]] = start(v, tmp)
        for _ in range(reps):
            for v in variants:
                t = targets[v[0]]
                cpu0, idle0 = sum(jiffies(p) for p in t.pids()), idle_jiffies()
                r = subprocess.run(["redis-benchmark", "-p", str(t.port), "--csv", "-q"] + args,
                                   capture_output=True, text=True)
                cpu1, idle1 = sum(jiffies(p) for p in t.pids()), idle_jiffies()
                row = r.stdout.strip().splitlines()[-1].replace('"', "").split(",")
                results[v[0]].append((float(row[1]), (cpu1 - cpu0) / C.HZ / n * 1e6,
                                      (idle1 - idle0) / C.HZ / n * 1e6, float(row[4]) * 1000))
    finally:
        for t in targets.values():
            t.stop()
    base = None
    for v in variants:
        rs = results[v[0]]
        m = statistics.median(x[0] for x in rs)
        base = base or m
        print(f"{v[0]:14s} rps median {m:9.0f} ({m / base:.2f}x) all {[int(x[0]) for x in rs]} "
              f"server CPU µs/req {statistics.median(x[1] for x in rs):.1f} "
              f"idle µs/req {statistics.median(x[2] for x in rs):.1f} "
              f"p50 µs {statistics.median(x[3] for x in rs):.0f}")


if __name__ == "__main__":
    main()
