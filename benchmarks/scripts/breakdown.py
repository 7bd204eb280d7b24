#!/usr/bin/env python3
"""Where a request's CPU goes: per server process user / system µs, voluntary and involuntary
context switches per request, and the machine's user / system / idle / softirq / steal per
request, for one redis-benchmark run against each target in turn (2 rounds).

    python3 benchmarks/scripts/breakdown.py twemproxy,jumpcache -c 50 -d 64 -r 100000 -P 1 -t get -n 100000

Targets are compare.py's (redis, twemproxy, jumpcache, jumpcache-cluster); it uses
target/release/jumpcache and stops what it started.
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as C  # noqa: E402

HZ = C.HZ


def pstat(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    ctx = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if "ctxt_switches" in line:
                k, v = line.split(":")
                ctx[k.strip()] = int(v)
    return (int(rest[11]), int(rest[12]), ctx.get("voluntary_ctxt_switches", 0),
            ctx.get("nonvoluntary_ctxt_switches", 0))


def cpu():
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:]]


def main():
    names = sys.argv[1].split(",")
    args = sys.argv[2:]
    n = int(args[args.index("-n") + 1])
    tmp = tempfile.mkdtemp()
    targets = {}
    try:
        for name in names:
            targets[name] = C.start(name, tmp)
        for _ in range(2):
            for name in names:
                t = targets[name]
                before = {p: pstat(p) for p in t.pids()}
                c0 = cpu()
                r = subprocess.run(["redis-benchmark", "-p", str(t.port), "--csv", "-q"] + args,
                                   capture_output=True, text=True)
                d = [x - y for x, y in zip(cpu(), c0)]
                after = {p: pstat(p) for p in t.pids()}
                rps = r.stdout.strip().splitlines()[-1].split(",")[1].strip('"')
                us = lambda j: j / HZ / n * 1e6  # noqa: E731
                print(f"{name:18s} rps={rps}  machine per request (µs): user={us(d[0]):.1f} "
                      f"sys={us(d[2]):.1f} idle={us(d[3] + d[4]):.1f} softirq={us(d[6]):.1f} steal={us(d[7]):.1f}")
                for p in t.pids():
                    a, b = after[p], before[p]
                    print(f"    pid {p}: user {us(a[0] - b[0]):.2f} sys {us(a[1] - b[1]):.2f} "
                          f"voluntary cs/req {(a[2] - b[2]) / n:.3f} involuntary cs/req {(a[3] - b[3]) / n:.3f}")
    finally:
        for t in targets.values():
            t.stop()


if __name__ == "__main__":
    main()
