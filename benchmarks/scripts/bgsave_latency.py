#!/usr/bin/env python3
"""Foreground latency while a BGSAVE runs: a `jumpcache shard` with 1M keys, redis-benchmark
GET and SET against it, quiet and with snapshots being written back to back, interleaved.

    python3 benchmarks/scripts/bgsave_latency.py [--keys 1000000] [--n 400000] [--clients 50]
                                                 [--pipeline 1] [--reps 3] [--bin PATH]

The shard (target/release/jumpcache, or $JC / --bin) gets its own temp --dir and
--max-memory 4gb; 1M keys `key:%012d` (redis-benchmark's `-r` names) with 64-byte values are
loaded with redis-cli --pipe. Each rep runs `redis-benchmark -t get,set -r KEYS -n N -c C
-P P -d 64 --csv` twice: once quiet, once while a thread keeps a BGSAVE running (a new one
as soon as the last ended, polled every 5 ms), and records p50/p99 of each test. Prints the
median p99s, their ratio (the bar: during/quiet within 3x), how many snapshots finished
during the loaded runs, and the fraction of that time a save was running.

Stops everything it started, by pid.
"""
import argparse
import csv
import io
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JC = os.environ.get("JC", os.path.join(ROOT, "target", "release", "jumpcache"))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Resp:
    """One socket, one command at a time: enough for INFO and BGSAVE."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.buf = b""

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._reply()

    def _line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        if line[:1] in (b"+", b"-", b":"):
            return line.decode()
        if line[:1] == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(65536)
            data, self.buf = self.buf[:n], self.buf[n + 2 :]
            return data.decode(errors="replace")
        raise RuntimeError("unexpected reply %r" % line)

    def info_field(self, section, name):
        for line in self.call("INFO", section).splitlines():
            if line.startswith(name + ":"):
                return line.split(":", 1)[1]
        return None


def wait_ready(port, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if Resp(port).call("PING") == "+PONG":
                return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit("shard on %d not ready" % port)


def preload(port, keys):
    """SET key:%012d <64 bytes> for every key, through redis-cli --pipe."""
    value = b"v" * 64
    pipe = subprocess.Popen(
        ["redis-cli", "-p", str(port), "--pipe"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    chunk = []
    for i in range(keys):
        k = b"key:%012d" % i
        chunk.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$64\r\n%s\r\n" % (len(k), k, value))
        if len(chunk) == 10000:
            pipe.stdin.write(b"".join(chunk))
            chunk = []
    pipe.stdin.write(b"".join(chunk))
    pipe.stdin.close()
    out = pipe.stdout.read().decode()
    pipe.wait()
    return out.strip().splitlines()[-1]


def bench(port, opts):
    """Returns {test: (rps, p50_ms, p99_ms)} of one redis-benchmark run."""
    cmd = [
        "redis-benchmark", "-p", str(port), "-t", "get,set", "-r", str(opts.keys),
        "-n", str(opts.n), "-c", str(opts.clients), "-P", str(opts.pipeline),
        "-d", "64", "--csv",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = {}
    for row in csv.DictReader(io.StringIO(out)):
        rows[row["test"]] = (
            float(row["rps"]),
            float(row["p50_latency_ms"]),
            float(row["p99_latency_ms"]),
        )
    return rows


class Saver(threading.Thread):
    """Keeps a BGSAVE running until stopped; counts saves and the time one was running."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.con = Resp(port)
        self.stop = threading.Event()
        self.started = 0
        self.finished = 0
        self.busy_s = 0.0
        self.total_s = 0.0

    def run(self):
        t0 = time.time()
        while not self.stop.is_set():
            reply = self.con.call("BGSAVE")
            if reply.startswith("+"):
                self.started += 1
                began = time.time()
                while self.con.info_field("persistence", "rdb_bgsave_in_progress") == "1":
                    time.sleep(0.005)
                self.busy_s += time.time() - began
                self.finished += 1
            else:
                time.sleep(0.005)
        self.total_s = time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--n", type=int, default=400_000)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--pipeline", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--bin", default=JC)
    opts = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="jc-bgsave-")
    port = free_port()
    log = open(os.path.join(tmp, "shard.log"), "w")
    shard = subprocess.Popen(
        [opts.bin, "shard", "--port", str(port), "--max-memory", "4gb", "--dir", tmp],
        stdout=log,
        stderr=log,
    )
    try:
        wait_ready(port)
        t = time.time()
        print("preload:", preload(port, opts.keys), "in %.1f s" % (time.time() - t))
        con = Resp(port)
        print("dbsize:", con.call("DBSIZE"))
        t = time.time()
        assert con.call("SAVE") == "+OK"
        size = os.path.getsize(os.path.join(tmp, "dump.rdb"))
        print("SAVE: %.2f s, %.1f MB" % (time.time() - t, size / 1e6))

        quiet, loaded, saves = {}, {}, []
        for rep in range(opts.reps):
            for mode in ("quiet", "saving"):
                saver = None
                if mode == "saving":
                    saver = Saver(port)
                    saver.start()
                    # The first snapshot is under way before the clients start.
                    while saver.started == 0:
                        time.sleep(0.001)
                rows = bench(port, opts)
                if saver:
                    saver.stop.set()
                    saver.join()
                    saves.append((saver.finished, saver.busy_s, saver.total_s))
                into = quiet if mode == "quiet" else loaded
                for test, r in rows.items():
                    into.setdefault(test, []).append(r)
                print(
                    "rep %d %-6s " % (rep, mode)
                    + "  ".join(
                        "%s %.0f rps p50 %.3f p99 %.3f ms" % (t, *r) for t, r in rows.items()
                    )
                    + (
                        "  (%d saves, saving %.0f%% of %.1f s)"
                        % (saves[-1][0], 100 * saves[-1][1] / saves[-1][2], saves[-1][2])
                        if saver
                        else ""
                    )
                )
        print()
        print("median of %d reps, %d keys, -c %d -P %d -n %d:" % (
            opts.reps, opts.keys, opts.clients, opts.pipeline, opts.n))
        print("| test | quiet rps | saving rps | quiet p50 | saving p50 | quiet p99 | saving p99 | p99 ratio |")
        print("|---|---|---|---|---|---|---|---|")
        for test in quiet:
            q = [statistics.median(x) for x in zip(*quiet[test])]
            s = [statistics.median(x) for x in zip(*loaded[test])]
            print("| %s | %.0f | %.0f | %.3f | %.3f | %.3f | %.3f | %.2fx |" % (
                test, q[0], s[0], q[1], s[1], q[2], s[2], s[2] / q[2]))
        done = sum(s[0] for s in saves)
        busy = sum(s[1] for s in saves) / sum(s[2] for s in saves)
        print("snapshots finished during the saving runs: %d; a save was running %.0f%% of the time"
              % (done, 100 * busy))
    finally:
        shard.terminate()
        shard.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
