#!/usr/bin/env python3
"""How fast a live resize moves keys, how close to the jump-hash ideal, and what it costs the
clients: separate `jumpcache shard` processes and a `jumpcache router --topology FILE`.

N keys of 100-byte values are loaded through the router over 2 groups; a paced client GETs
random loaded keys (--fg-rate a second, one at a time) and times each; after --before seconds
the topology file grows to 3 groups (epoch 2), and once INFO says `migration_status:idle`
it shrinks back to 2 (epoch 3). For each change it prints the keys moved against the ideal
(1/3 of the keys), how long the move took, keys per second, and the foreground p50/p99 of
the GETs before the change and while keys moved, and the misses (a GET of a loaded key that
found nothing: must be 0). --fg-rate 0 sends no foreground traffic: the idle speed.

    python3 benchmarks/scripts/resize.py [--keys 1000000] [--migration-rate 50000]
                                         [--fg-rate 2000] [--before 5]

Uses target/release/jumpcache (or $JC); stops everything it started, by pid.
"""
import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as C  # noqa: E402
from expiry_pace import Resp  # noqa: E402

JC = os.environ.get("JC", C.JUMPCACHE)
VALUE = "v" * 100


def spawn(args, tmp, name):
    log = open(os.path.join(tmp, name + ".log"), "w")
    return subprocess.Popen([JC] + args, stdout=log, stderr=subprocess.STDOUT)


def write_topology(path, epoch, groups):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"epoch = {epoch}\ngroups = [{', '.join(repr(g).replace(chr(39), chr(34)) for g in groups)}]\n")
    os.rename(tmp, path)


def topology(r):
    info = r.call("INFO", "topology")
    return dict(l.split(":", 1) for l in info.splitlines() if ":" in l)


def load(port, keys):
    """Loads key:0 .. key:N-1 through redis-cli --pipe."""
    cli = subprocess.Popen(["redis-cli", "-p", str(port), "--pipe"], stdin=subprocess.PIPE,
                           stdout=subprocess.DEVNULL)
    chunk = []
    for i in range(keys):
        k = f"key:{i}"
        chunk.append(f"*3\r\n$3\r\nSET\r\n${len(k)}\r\n{k}\r\n$100\r\n{VALUE}\r\n")
        if len(chunk) == 10000:
            cli.stdin.write("".join(chunk).encode())
            chunk = []
    cli.stdin.write("".join(chunk).encode())
    cli.stdin.close()
    cli.wait()


class Foreground(threading.Thread):
    """GETs random loaded keys at `rate` a second; keeps (time, latency, hit)."""

    def __init__(self, port, keys, rate):
        super().__init__(daemon=True)
        self.r = Resp(port)
        self.keys, self.rate = keys, rate
        self.samples = []
        self.stop = False

    def run(self):
        step = 1.0 / self.rate
        at = time.monotonic()
        while not self.stop:
            k = f"key:{random.randrange(self.keys)}"
            t0 = time.monotonic()
            hit = self.r.call("GET", k) is not None
            t1 = time.monotonic()
            self.samples.append((t0, t1 - t0, hit))
            at += step
            time.sleep(max(0.0, at - time.monotonic()))

    def window(self, start, end):
        lat = sorted(l for t, l, _ in self.samples if start <= t < end)
        misses = sum(1 for t, _, h in self.samples if start <= t < end and not h)
        if not lat:
            return None
        pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e6
        return pct(0.5), pct(0.99), misses, len(lat)


def change(r, fg, path, epoch, groups, before):
    t_change = time.monotonic()
    write_topology(path, epoch, groups)
    while True:
        t = topology(r)
        if t.get("topology_epoch") == str(epoch) and t.get("migration_status") == "idle":
            break
        time.sleep(0.02)
    t_done = time.monotonic()
    moved = int(t.get("migration_keys_moved", 0))
    base = fg.window(t_change - before, t_change)
    during = fg.window(t_change, t_done)
    return moved, t_done - t_change, base, during


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--keys", type=int, default=1_000_000)
    p.add_argument("--migration-rate", type=int, default=50_000)
    p.add_argument("--fg-rate", type=int, default=2000)
    p.add_argument("--before", type=float, default=5.0)
    a = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="jc-resize-")
    procs = []
    try:
        ports = [C.free_port() for _ in range(3)]
        for i, port in enumerate(ports):
            procs.append(spawn(["shard", "--port", str(port), "--max-memory", "4gb"], tmp, f"shard{i}"))
        for port in ports:
            C.wait_ready(port, "shard")
        groups = [f"127.0.0.1:{p}" for p in ports]
        path = os.path.join(tmp, "topology.toml")
        write_topology(path, 1, groups[:2])
        rport = C.free_port()
        procs.append(spawn(["router", "--port", str(rport), "--topology", path,
                            "--migration-rate", str(a.migration_rate)], tmp, "router"))
        C.wait_ready(rport, "router")
        t0 = time.monotonic()
        load(rport, a.keys)
        r = Resp(rport)
        print(f"loaded {r.call('DBSIZE')} keys of 100 bytes in {time.monotonic() - t0:.1f} s; "
              f"--migration-rate {a.migration_rate}, foreground {a.fg_rate} GET/s")
        fg = Foreground(rport, a.keys, max(a.fg_rate, 1))
        if a.fg_rate > 0:
            fg.start()
        time.sleep(a.before)
        for epoch, n, what in [(2, 3, "grow 2->3"), (3, 2, "shrink 3->2")]:
            moved, secs, base, during = change(r, fg, path, epoch, groups[:n], a.before)
            ideal = a.keys / 3
            print(f"{what}: moved {moved} keys ({100 * (moved / ideal - 1):+.2f}% vs the ideal "
                  f"{ideal:.0f}) in {secs:.2f} s = {moved / secs:,.0f} keys/s")
            if base and during:
                print(f"  foreground GET before: p50 {base[0]:.0f} us, p99 {base[1]:.0f} us "
                      f"({base[3]} GETs, {base[2]} misses); while moving: p50 {during[0]:.0f} us, "
                      f"p99 {during[1]:.0f} us ({during[3]} GETs, {during[2]} misses); "
                      f"p99 ratio {during[1] / base[1]:.2f}x")
            time.sleep(a.before)
        fg.stop = True
        if a.fg_rate > 0:
            fg.join()
        misses = sum(1 for _, _, h in fg.samples if not h)
        print(f"misses over the whole run: {misses} of {len(fg.samples)} GETs")
        sizes = []
        for port in ports:
            sizes.append(Resp(port).call("DBSIZE"))
        print(f"keys per shard at the end: {sizes}")
    finally:
        for pr in procs:
            pr.terminate()
        for pr in procs:
            pr.wait()


if __name__ == "__main__":
    main()
