#!/usr/bin/env python3
"""TLS against plain, same run: redis-server, `jumpcache cluster --shards 2` and a router over
2 shard processes, each serving a plain port and a TLS port (`--tls-auth-clients no`), driven
by redis-benchmark with and without `--tls`, reps interleaved, medians reported, with each
jumpcache target's ratio to redis-server plain and with TLS.

Usage: python3 benchmarks/scripts/tls.py [BINARY] [REPS]   (default target/release/jumpcache, 3)
Also prints each target's CPU (user + system, all its processes) per request.
Needs redis-server and redis-benchmark built with TLS (Debian's are) and openssl for a
throwaway self-signed certificate. Stops everything it started, by pid.
"""

import csv
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

JUMPCACHE = sys.argv[1] if len(sys.argv) > 1 else "target/release/jumpcache"
REPS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
COMMON = ["-c", "50", "-d", "64", "-r", "100000"]
TESTS = [
    ("SET P1", COMMON + ["-P", "1", "-t", "set", "-n", "100000"]),
    ("GET P1", COMMON + ["-P", "1", "-t", "get", "-n", "100000"]),
    ("SET P16", COMMON + ["-P", "16", "-t", "set", "-n", "400000"]),
    ("GET P16", COMMON + ["-P", "16", "-t", "get", "-n", "400000"]),
]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Target:
    def __init__(self, name):
        self.name, self.procs, self.port, self.tls_port = name, [], None, None

    def spawn(self, args):
        self.procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


def wait_ready(port):
    for _ in range(200):
        out = subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True, text=True)
        if out.stdout.strip() == "PONG":
            return
        time.sleep(0.05)
    raise SystemExit(f"port {port} did not answer PING")


def start(name, certs, tmp):
    t = Target(name)
    t.port, t.tls_port = free_port(), free_port()
    crt, key = os.path.join(certs, "cert.pem"), os.path.join(certs, "key.pem")
    tls = ["--tls-port", str(t.tls_port), "--tls-cert-file", crt, "--tls-key-file", key,
           "--tls-ca-cert-file", crt, "--tls-auth-clients", "no"]
    if name == "redis":
        t.spawn(["redis-server", "--port", str(t.port), "--save", "", "--appendonly", "no",
                 "--dir", tmp] + tls)
    elif name == "cluster":
        t.spawn([JUMPCACHE, "cluster", "--shards", "2", "--port", str(t.port),
                 "--metrics-port", "0"] + tls)
    else:
        shards = []
        for _ in range(2):
            p = free_port()
            t.spawn([JUMPCACHE, "shard", "--port", str(p)])
            wait_ready(p)
            shards.append(f"127.0.0.1:{p}")
        t.spawn([JUMPCACHE, "router", "--port", str(t.port), "--shards", ",".join(shards),
                 "--metrics-port", "0"] + tls)
    wait_ready(t.port)
    return t


HZ = os.sysconf("SC_CLK_TCK")


def cpu_ticks(procs):
    """User + system CPU of the target's processes so far, in clock ticks (/proc/PID/stat)."""
    total = 0
    for p in procs:
        with open(f"/proc/{p.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total


def run_one(t, tls, args, ca, cpu=None):
    """Runs redis-benchmark against `t`; returns requests per second. With `cpu` (a list),
    appends the target's CPU µs per request."""
    port = t.tls_port if tls else t.port
    extra = ["--tls", "--cacert", ca] if tls else []
    before = cpu_ticks(t.procs)
    out = subprocess.run(["redis-benchmark", "-p", str(port), "--csv", "-q"] + extra + args,
                         capture_output=True, text=True)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    if out.returncode != 0 or not rows or "error" in (out.stdout + out.stderr).lower():
        raise SystemExit(f"redis-benchmark failed against {t.name}: {out.stderr or out.stdout}")
    if cpu is not None:
        n = int(args[args.index("-n") + 1])
        cpu.append((cpu_ticks(t.procs) - before) / HZ / n * 1e6)
    return float(rows[-1]["rps"])


def main():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", os.path.join(tmp, "key.pem"), "-out",
                        os.path.join(tmp, "cert.pem")], check=True, capture_output=True)
        ca = os.path.join(tmp, "cert.pem")
        names = ["redis", "cluster", "router"]
        targets = {n: start(n, tmp, tmp) for n in names}
        try:
            for t in targets.values():  # preload the keys GET reads
                run_one(t, False, COMMON + ["-P", "16", "-t", "set", "-n", "200000"], ca)
            got, cpu = {}, {}
            for rep in range(REPS):
                for test, args in TESTS:
                    for n in names:
                        for tls in (False, True):
                            got.setdefault((n, tls, test), []).append(
                                run_one(targets[n], tls, args, ca, cpu.setdefault((n, tls, test), [])))
                print(f"rep {rep + 1}/{REPS} done", file=sys.stderr)
        finally:
            for t in targets.values():
                t.stop()
    med = {k: statistics.median(v) for k, v in got.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    tests = [t for t, _ in TESTS]
    print("| target | " + " | ".join(tests) + " |")
    print("|---|" + "---|" * len(tests))
    for n in names:
        for tls in (False, True):
            label = f"{n} {'TLS' if tls else 'plain'}"
            print(f"| {label} | " + " | ".join(f"{med[(n, tls, t)]:,.0f}" for t in tests) + " |")
    print()
    print("| ratio to redis-server | " + " | ".join(tests) + " |")
    print("|---|" + "---|" * len(tests))
    for n in names[1:]:
        for tls in (False, True):
            label = f"{n} / redis, {'TLS' if tls else 'plain'}"
            print(f"| {label} | " + " | ".join(
                f"{med[(n, tls, t)] / med[('redis', tls, t)]:.2f}" for t in tests) + " |")
    print()
    print("| TLS / plain, same target | " + " | ".join(tests) + " |")
    print("|---|" + "---|" * len(tests))
    for n in names:
        print(f"| {n} | " + " | ".join(
            f"{med[(n, True, t)] / med[(n, False, t)]:.2f}" for t in tests) + " |")
    print()
    print("| server CPU µs per request (all its processes) | " + " | ".join(tests) + " |")
    print("|---|" + "---|" * len(tests))
    for n in names:
        for tls in (False, True):
            label = f"{n} {'TLS' if tls else 'plain'}"
            print(f"| {label} | " + " | ".join(f"{cpu_med[(n, tls, t)]:.1f}" for t in tests) + " |")


if __name__ == "__main__":
    main()
