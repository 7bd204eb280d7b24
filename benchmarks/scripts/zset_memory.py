#!/usr/bin/env python3
"""Bytes per member of one large sorted set: redis-server vs a jumpcache shard.

Loads MEMBERS members ("m:%012d", 14 bytes, as redis-benchmark's __rand_int__ names them; scores i*7919 mod 1,000,003 / 1000, so
members arrive in no score order) into one key with ZADD of 1,000 pairs per command
(redis-cli --pipe), then reports RSS growth and INFO used_memory growth per member.
With --ops, then runs redis-benchmark (-n 100000 -c 50 -r MEMBERS) on that key: ZSCORE, ZRANK,
ZADD (updates of random members), ZCOUNT and a 10-member ZRANGE from the middle.
Usage: python3 benchmarks/scripts/zset_memory.py [--members 1000000] [--ops]
Needs target/release/jumpcache (cargo build --release -p jumpcache).
"""

import argparse
import os
import signal
import socket
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JUMPCACHE = os.path.join(ROOT, "target", "release", "jumpcache")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True,
                          text=True).stdout


def wait_ready(port):
    for _ in range(400):
        if cli(port, "PING").strip() == "PONG":
            return
        time.sleep(0.05)
    raise SystemExit(f"nothing answered PING on port {port}")


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def used_memory(port):
    for line in cli(port, "INFO", "memory").splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":", 1)[1])
    return 0


def write_load(path, members):
    with open(path, "wb") as f:
        for start in range(0, members, 1000):
            pairs = []
            for i in range(start, min(start + 1000, members)):
                score = b"%.3f" % ((i * 7919 % 1_000_003) / 1000)
                pairs += [score, b"m:%012d" % i]
            args = [b"ZADD", b"z"] + pairs
            f.write(b"*%d\r\n" % len(args))
            for a in args:
                f.write(b"$%d\r\n%s\r\n" % (len(a), a))


OPS = [
    ["ZSCORE", "z", "m:__rand_int__"],
    ["ZRANK", "z", "m:__rand_int__"],
    ["ZADD", "z", "__rand_int__", "m:__rand_int__"],
    ["ZCOUNT", "z", "100", "(200"],
    ["ZRANGE", "z", "500000", "500009", "WITHSCORES"],
]


def ops(port, members):
    """Returns requests per second of each of OPS."""
    out = []
    for op in OPS:
        res = subprocess.run(["redis-benchmark", "-p", str(port), "-n", "100000", "-c", "50",
                              "-r", str(members), "--csv", *op], capture_output=True, text=True)
        line = res.stdout.strip().splitlines()[-1]
        out.append(float(line.split(",")[1].strip('"')))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", type=int, default=1_000_000)
    ap.add_argument("--ops", action="store_true", help="then requests per second of a few commands")
    opts = ap.parse_args()
    members = opts.members
    rates = []
    print("| server | members | encoding | RSS growth (B/member) | used_memory growth (B/member) "
          "| load (s) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        load = os.path.join(tmp, "load.resp")
        write_load(load, members)
        for name in ("redis-server", "jumpcache shard"):
            port = free_port()
            if name == "redis-server":
                args = ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                        "--dir", tmp]
            else:
                args = [JUMPCACHE, "shard", "--port", str(port), "--max-memory", "4gb"]
            p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_ready(port)
                rss0, used0 = rss_bytes(p.pid), used_memory(port)
                t0 = time.monotonic()
                with open(load, "rb") as f:
                    subprocess.run(["redis-cli", "-p", str(port), "--pipe"], stdin=f, check=True,
                                   stdout=subprocess.DEVNULL)
                load_s = time.monotonic() - t0
                n = int(cli(port, "ZCARD", "z").strip())
                encoding = cli(port, "OBJECT", "ENCODING", "z").strip()
                time.sleep(1)
                rss1, used1 = rss_bytes(p.pid), used_memory(port)
                print(f"| {name} | {n:,} | {encoding} | {(rss1 - rss0) / n:.0f} | "
                      f"{(used1 - used0) / n:.0f} | {load_s:.1f} |")
                if opts.ops:
                    rates.append((name, ops(port, members)))
            finally:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=10)
    if rates:
        print()
        print("| server | " + " | ".join(" ".join(op[:1] + op[2:]) for op in OPS) + " |")
        print("|---|" + "---|" * len(OPS))
        for name, r in rates:
            print(f"| {name} | " + " | ".join(f"{x:,.0f}" for x in r) + " |")


if __name__ == "__main__":
    main()
