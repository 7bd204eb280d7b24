#!/usr/bin/env python3
"""Side-by-side load run: redis-server, twemproxy over 2 redis-servers, jumpcache over 2 shards
(separate processes) and the one-process `jumpcache cluster`, driven by redis-benchmark in
interleaved turns (A B C D A B C D ...), medians of the kept reps.

Prints a markdown table (throughput, latency at -c 1, server CPU per request, ratios) and
writes it to benchmarks/results/compare-latest.md. Stops everything it started, by pid.
With --memory, instead loads 1,000,000 distinct keys with 100-byte values (redis-cli --pipe)
into redis-server and into one jumpcache shard of each store backend (`--store compact`,
`--store moka`) and reports bytes per key, from RSS and from INFO used_memory.
Usage: benchmarks/compare.sh [--reps 3] [--quick] [--memory]
"""
import argparse
import csv
import io
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JUMPCACHE = os.path.join(ROOT, "target", "release", "jumpcache")
HZ = os.sysconf("SC_CLK_TCK")
NOISE_LIMIT = 0.15  # other processes may use at most this many cores during a run


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_jiffies(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError):
        return 0


def machine_jiffies():
    """Returns (all, process, steal) jiffies of the machine: `process` is user + nice + system,
    the time processes ran; irq and softirq (the loopback traffic's own receive path, charged
    to no process) and idle are neither; `steal` is time the hypervisor gave to other guests."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]] + [0] * 8
    user, nice, system, idle, iowait, irq, softirq, steal = fields[:8]
    return user + nice + system + idle + iowait + irq + softirq + steal, user + nice + system, steal


class Target:
    def __init__(self, name, tmp):
        self.name, self.tmp, self.procs, self.port = name, tmp, [], None

    def spawn(self, args, **kw):
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
        self.procs.append(p)
        return p

    def redis(self):
        port = free_port()
        self.spawn(["redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                    "--dir", self.tmp])
        return port

    def pids(self):
        return [p.pid for p in self.procs]

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


def wait_ready(port, what):
    for _ in range(200):
        out = subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True, text=True)
        if out.stdout.strip() == "PONG":
            return
        time.sleep(0.05)
    raise SystemExit(f"{what} on port {port} did not answer PING")


def start(name, tmp):
    t = Target(name, tmp)
    if name == "redis":
        t.port = t.redis()
    elif name == "twemproxy":
        backends = [t.redis() for _ in range(2)]
        for b in backends:
            wait_ready(b, "redis-server")
        t.port = free_port()
        conf = os.path.join(tmp, f"nutcracker-{t.port}.yml")
        with open(conf, "w") as f:
            f.write("pool:\n"
                    f"  listen: 127.0.0.1:{t.port}\n"
                    "  hash: fnv1a_64\n  distribution: ketama\n  redis: true\n"
                    "  auto_eject_hosts: false\n  preconnect: true\n  server_connections: 1\n"
                    "  servers:\n" + "".join(f"   - 127.0.0.1:{b}:1\n" for b in backends))
        t.spawn(["nutcracker", "-c", conf, "-s", str(free_port()), "-a", "127.0.0.1",
                 "-o", os.path.join(tmp, f"nutcracker-{t.port}.log")])
    elif name == "jumpcache":
        shards = []
        for _ in range(2):
            p = free_port()
            t.spawn([JUMPCACHE, "shard", "--port", str(p)])
            wait_ready(p, "jumpcache shard")
            shards.append(f"127.0.0.1:{p}")
        t.port = free_port()
        t.spawn([JUMPCACHE, "router", "--port", str(t.port), "--shards", ",".join(shards),
                 "--metrics-port", str(free_port())])
    elif name == "jumpcache-cluster":
        t.port = free_port()
        t.spawn([JUMPCACHE, "cluster", "--port", str(t.port), "--shards", "2",
                 "--metrics-port", str(free_port())])
    wait_ready(t.port, name)
    return t


def tests(quick):
    scale = 0.2 if quick else 1.0
    common = ["-c", "50", "-d", "64", "-r", "100000"]
    mget = ["MGET"] + ["key:__rand_int__"] * 10
    return [
        ("SET P1", common + ["-P", "1", "-t", "set", "-n", str(int(150000 * scale))]),
        ("GET P1", common + ["-P", "1", "-t", "get", "-n", str(int(150000 * scale))]),
        ("SET P16", common + ["-P", "16", "-t", "set", "-n", str(int(600000 * scale))]),
        ("GET P16", common + ["-P", "16", "-t", "get", "-n", str(int(600000 * scale))]),
        ("MSET10 P1", common + ["-P", "1", "-t", "mset", "-n", str(int(80000 * scale))]),
        ("MGET10 P1", common + ["-P", "1", "-n", str(int(80000 * scale))] + mget),
        ("GET c=1", ["-c", "1", "-P", "1", "-d", "64", "-r", "100000", "-t", "get",
                     "-n", str(int(20000 * scale))]),
    ]


def run_one(target, args):
    """Runs one redis-benchmark; returns rps, p50 µs, p99 µs, server CPU µs/request, noise."""
    n = int(args[args.index("-n") + 1])
    before = [proc_jiffies(p) for p in target.pids()]
    total0, proc0, steal0 = machine_jiffies()
    bench = subprocess.Popen(["redis-benchmark", "-p", str(target.port), "--csv", "-q"] + args,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = bench.communicate()
    total1, proc1, steal1 = machine_jiffies()
    after = [proc_jiffies(p) for p in target.pids()]
    server = sum(after) - sum(before)
    rows = list(csv.DictReader(io.StringIO(out)))
    if bench.returncode != 0 or not rows or "error" in (out + err).lower():
        raise SystemExit(f"redis-benchmark failed against {target.name}: {err or out}")
    row = rows[-1]
    busy = proc1 - proc0  # every process's CPU: ours, the client's, anyone else's
    steal = steal1 - steal0
    wall = (total1 - total0) / os.cpu_count()  # jiffies of wall time
    return {
        "rps": float(row["rps"]),
        "p50": float(row["p50_latency_ms"]) * 1000,
        "avg": float(row["avg_latency_ms"]) * 1000,
        "p99": float(row["p99_latency_ms"]) * 1000,
        "cpu_us": server / HZ / n * 1e6,
        "server": server, "busy": busy, "steal": steal, "wall": wall,
    }


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def info_field(port, field):
    out = subprocess.run(["redis-cli", "-p", str(port), "INFO", "memory"], capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith(field + ":"):
            return int(line.split(":", 1)[1])
    return 0


def memory_mode(keys):
    """Bytes per key for `keys` keys with 100-byte values, redis-server vs a jumpcache shard."""
    lines = ["| server | keys | RSS growth (bytes/key) | INFO used_memory (bytes/key) |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        load = os.path.join(tmp, "load.resp")
        value = b"v" * 100
        with open(load, "wb") as f:
            for i in range(keys):
                key = b"key:%012d" % i
                f.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$100\r\n%s\r\n" % (len(key), key, value))
        for name in ("redis", "jumpcache-shard", "jumpcache-shard-moka"):
            t = Target(name, tmp)
            if name == "redis":
                t.port = t.redis()
            else:
                t.port = free_port()
                store = "moka" if name.endswith("moka") else "compact"
                t.spawn([JUMPCACHE, "shard", "--port", str(t.port), "--max-memory", "4gb",
                         "--store", store])
            try:
                wait_ready(t.port, name)
                pid = t.pids()[0]
                rss0, used0 = rss_bytes(pid), info_field(t.port, "used_memory")
                with open(load, "rb") as f:
                    subprocess.run(["redis-cli", "-p", str(t.port), "--pipe"], stdin=f, check=True,
                                   stdout=subprocess.DEVNULL)
                n = int(subprocess.run(["redis-cli", "-p", str(t.port), "DBSIZE"], capture_output=True,
                                       text=True).stdout.strip())
                time.sleep(1)  # let the shard's maintenance timer run once (active expiry, eviction)
                rss1, used1 = rss_bytes(pid), info_field(t.port, "used_memory")
                lines.append(f"| {name} | {n:,} | {(rss1 - rss0) / n:.0f} | {(used1 - used0) / n:.0f} |")
            finally:
                t.stop()
    publish(lines, "memory-latest.md")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--memory", action="store_true", help="bytes per key instead of throughput")
    ap.add_argument("--keys", type=int, default=1_000_000, help="keys loaded in --memory mode")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="fewer requests, for a smoke run")
    opts = ap.parse_args()
    if opts.memory:
        return memory_mode(opts.keys)
    for tool in ("redis-server", "redis-benchmark", "redis-cli", "nutcracker"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is missing (benchmarks/compare.sh installs it)")
    names = ["redis", "twemproxy", "jumpcache", "jumpcache-cluster"]
    plan = tests(opts.quick)
    results = {(n, t): [] for n in names for t, _ in plan}
    noisy = 0
    started = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        targets = {}
        try:
            for n in names:
                targets[n] = start(n, tmp)
            for rep in range(opts.reps):
                for n in names:  # interleaved: A B C D, A B C D, ...
                    for test, args in plan:
                        c0 = os.times().children_user + os.times().children_system
                        r = run_one(targets[n], args)
                        client = (os.times().children_user + os.times().children_system - c0) * HZ
                        # Other processes' CPU, and CPU the hypervisor gave other guests.
                        other = r["busy"] - r["server"] - client + r["steal"]
                        r["noise_cores"] = max(0.0, other / max(r["wall"], 1))
                        if r["noise_cores"] > NOISE_LIMIT:
                            noisy += 1
                            print(f"  rep {rep + 1} {n} {test}: dropped, other load {r['noise_cores']:.2f} cores",
                                  file=sys.stderr)
                            continue
                        results[(n, test)].append(r)
                print(f"rep {rep + 1}/{opts.reps} done ({time.time() - started:.0f} s)", file=sys.stderr)
        finally:
            for t in targets.values():
                t.stop()
    report(names, plan, results, noisy, opts)


def publish(lines, name):
    """Prints the report and keeps it in benchmarks/results/NAME."""
    text = "\n".join(lines)
    print(text)
    out_dir = os.path.join(ROOT, "benchmarks", "results")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, name), "w") as f:
        f.write(text + "\n")


def med(rs, key):
    return statistics.median(r[key] for r in rs) if rs else float("nan")


def report(names, plan, results, noisy, opts):
    lines = []
    cols = [t for t, _ in plan if t != "GET c=1"]
    lines.append("| target | " + " | ".join(f"{c} (req/s)" for c in cols)
                 + " | GET c=1 p50 / p99 / mean (µs) | server CPU µs/req (SET P1, GET P1) |")
    lines.append("|---" * (len(cols) + 3) + "|")
    for n in names:
        cells = [f"{med(results[(n, c)], 'rps'):,.0f}" for c in cols]
        lat = results[(n, "GET c=1")]
        cpu = (med(results[(n, 'SET P1')], 'cpu_us') + med(results[(n, 'GET P1')], 'cpu_us')) / 2
        lines.append(f"| {n} | " + " | ".join(cells)
                     + f" | {med(lat, 'p50'):.0f} / {med(lat, 'p99'):.0f} / {med(lat, 'avg'):.0f} | {cpu:.1f} |")
    lines.append("")
    lines.append("Ratios (median throughput; CPU and latency: lower is better):")
    lines.append("")
    lines.append("| target | vs | " + " | ".join(cols) + " | c=1 p50 | c=1 mean | CPU/req |")
    lines.append("|---" * (len(cols) + 5) + "|")
    for n in ("jumpcache", "jumpcache-cluster", "redis"):
        for base in ("twemproxy", "redis"):
            if n == base:
                continue
            ratio = [med(results[(n, c)], "rps") / med(results[(base, c)], "rps") for c in cols]
            p50 = med(results[(n, "GET c=1")], "p50") / med(results[(base, "GET c=1")], "p50")
            avg = med(results[(n, "GET c=1")], "avg") / med(results[(base, "GET c=1")], "avg")
            cpu_n = med(results[(n, "SET P1")], "cpu_us") + med(results[(n, "GET P1")], "cpu_us")
            cpu_b = med(results[(base, "SET P1")], "cpu_us") + med(results[(base, "GET P1")], "cpu_us")
            lines.append(f"| {n} | {base} | " + " | ".join(f"{x:.2f}x" for x in ratio)
                         + f" | {p50:.2f}x | {avg:.2f}x | {cpu_n / cpu_b:.2f}x |")
    kept = sum(len(v) for v in results.values())
    lines.append("")
    lines.append(f"{opts.reps} interleaved reps, medians of {kept} kept runs; {noisy} runs dropped as noisy "
                 f"(other processes plus hypervisor steal above {NOISE_LIMIT} cores). CPU/req is utime+stime of the target's "
                 "server processes (router + shards, proxy + backends) from /proc, per request.")
    publish(lines, "compare-latest.md")


if __name__ == "__main__":
    main()
