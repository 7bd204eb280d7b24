#!/usr/bin/env python3
"""Does active expiry keep pace with the writes? Side by side, in one run: redis-server and a
2-shard `jumpcache cluster` (and, with --before, a second jumpcache binary).

While `redis-benchmark -P 16 -n N -r 1000000 SETEX key:__rand_int__ 1 <82-byte value>` writes
keys that live 1 s as fast as it can, DBSIZE is sampled every 250 ms and divided by the SETEX
calls of the preceding second (INFO commandstats). A server that removed every key the moment
it expired would hold 1.0x (a little less: some writes overwrite a live key). Samples from the
first 2 s (nothing has expired yet) and after the benchmark ends are left out; the script
prints the median and the highest ratio of each target, in interleaved turns.

With --before BINARY it also runs redis-benchmark SET and GET at -P 16 (no TTLs) through
`cluster` on both binaries, interleaved, and prints the median requests per second of each:
the check that the adaptive expiry costs nothing when no key has a TTL.

    python3 benchmarks/scripts/expiry_pace.py [--n 4000000] [--reps 3] [--before OLD_BINARY] [--moka]

Uses target/release/jumpcache (or $JC); stops everything it started, by pid.
"""
import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as C  # noqa: E402

JC = os.environ.get("JC", C.JUMPCACHE)
SAMPLE_S = 0.25
WARMUP_S = 2.0
VALUE = "v" * 82


class Resp:
    """A minimal RESP client for the sampler: one socket, one command at a time."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def call(self, *args):
        req = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
        self.sock.sendall(req.encode())
        line = self._line()
        if line[:1] == b":":
            return int(line[1:])
        if line[:1] == b"+":
            return line[1:].decode()
        if line[:1] == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode()
        raise RuntimeError(f"unexpected reply {line!r}")

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed")
        self.buf += chunk

    def close(self):
        self.sock.close()


def setex_calls(info):
    for line in info.splitlines():
        if line.startswith("cmdstat_setex:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


def start(name, binary, tmp):
    if name == "redis":
        return C.start("redis", tmp)
    t = C.Target(name, tmp)
    t.port = C.free_port()
    store = ["--store", "moka"] if name.endswith("moka") else []
    t.spawn([binary, "cluster", "--shards", "2", "--port", str(t.port),
             "--metrics-port", "0"] + store)
    C.wait_ready(t.port, name)
    return t


def pace(t, n, clients):
    """Runs the SETEX load against `t` and returns (ratios, SETEX per second)."""
    r = Resp(t.port)
    r.call("FLUSHALL")
    bench = subprocess.Popen(
        ["redis-benchmark", "-p", str(t.port), "-P", "16", "-c", str(clients), "-n", str(n),
         "-r", "1000000", "-q", "SETEX", "key:__rand_int__", "1", VALUE],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    samples = []  # (seconds since start, dbsize, setex calls)
    t0 = time.monotonic()
    next_at = t0
    while bench.poll() is None:
        now = time.monotonic()
        samples.append((now - t0, r.call("DBSIZE"), setex_calls(r.call("INFO", "commandstats"))))
        next_at += SAMPLE_S
        time.sleep(max(0.0, next_at - time.monotonic()))
    end = time.monotonic() - t0
    r.close()
    ratios = []
    per = int(1 / SAMPLE_S)
    for i in range(per, len(samples)):
        at, dbsize, calls = samples[i]
        _, _, calls_before = samples[i - per]
        if at < WARMUP_S or at > end - SAMPLE_S or calls == calls_before:
            continue
        ratios.append(dbsize / (calls - calls_before))
    return ratios, n / end


def throughput(t, test, n):
    out = subprocess.run(
        ["redis-benchmark", "-p", str(t.port), "-P", "16", "-c", "50", "-d", "64",
         "-r", "100000", "-t", test, "-n", str(n), "--csv", "-q"],
        capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1].replace('"', "").split(",")[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=4_000_000, help="SETEX calls per run")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--before", help="another jumpcache binary to measure beside $JC")
    ap.add_argument("--moka", action="store_true",
                    help="also a cluster on --store moka (`cluster-moka`)")
    ap.add_argument("--throughput-n", type=int, default=1_000_000,
                    help="requests per SET/GET run without TTLs (with --before)")
    args = ap.parse_args()
    targets = [("redis", None), ("cluster", JC)]
    if args.before:
        targets.append(("cluster-before", args.before))
    if args.moka:
        targets.append(("cluster-moka", JC))
    tmp = tempfile.mkdtemp()
    running = {}
    ratios = {name: [] for name, _ in targets}
    rates = {name: [] for name, _ in targets}
    rps = {(name, test): [] for name, _ in targets[1:] for test in ("set", "get")}
    try:
        for name, binary in targets:
            running[name] = start(name, binary, tmp)
        for rep in range(args.reps):
            for name, _ in targets:
                got, rate = pace(running[name], args.n, args.clients)
                ratios[name] += got
                rates[name].append(rate)
                print(f"rep {rep + 1} {name:15s} median {statistics.median(got):.2f}x "
                      f"max {max(got):.2f}x at {rate:,.0f} SETEX/s", flush=True)
        if args.before:
            for _ in range(args.reps):
                for name, _ in targets[1:]:
                    r = Resp(running[name].port)
                    r.call("FLUSHALL")
                    r.close()
                    for test in ("set", "get"):
                        rps[(name, test)].append(
                            throughput(running[name], test, args.throughput_n))
    finally:
        for t in running.values():
            t.stop()
    print()
    print("| target | DBSIZE / SETEX of the last second: median | max | SETEX/s |")
    print("|---|---|---|---|")
    for name, _ in targets:
        print(f"| {name} | {statistics.median(ratios[name]):.2f}x | {max(ratios[name]):.2f}x | "
              f"{statistics.median(rates[name]):,.0f} |")
    if args.before:
        print()
        print("| no TTLs, -P 16 -c 50 | SET rps (median) | GET rps (median) |")
        print("|---|---|---|")
        for name, _ in targets[1:]:
            print(f"| {name} | {statistics.median(rps[(name, 'set')]):,.0f} "
                  f"{[int(x) for x in rps[(name, 'set')]]} | "
                  f"{statistics.median(rps[(name, 'get')]):,.0f} "
                  f"{[int(x) for x in rps[(name, 'get')]]} |")


if __name__ == "__main__":
    main()
