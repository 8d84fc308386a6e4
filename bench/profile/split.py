#!/usr/bin/env python3
"""Split a CPU profile of a `facepay bench pay` phase into where a payment's CPU goes.

Each sample goes to the first part its stack matches: the collector's background work,
the store (the writer that commits on SQLite, the pipeline and reader on PostgreSQL,
and any statement a request runs), the bench's own client, the server's HTTP, TLS and
v2 wire work, the payment logic, the scheduler. Give the phase's payment count to have
each part in microseconds a payment.

    facepay bench pay --duration 10s --rounds 2 --cpuprofile pay.pb
    bench/profile/split.py --payments 25684 ./facepay pay.pb

It reads the profile through `go tool pprof -traces`, so it needs the Go toolchain and
the binary that wrote the profile.
"""
import argparse
import re
import subprocess
from collections import defaultdict

SEPARATOR = "-----------+-------------------------------------------------------"
UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def traces(binary, profile):
    """Yields (seconds, frames leaf first) for each distinct stack in the profile."""
    out = subprocess.run(["go", "tool", "pprof", "-traces", binary, profile],
                         capture_output=True, text=True, check=True).stdout
    for block in out.split(SEPARATOR)[1:]:
        lines = [l for l in block.split("\n") if l.strip()]
        if not lines:
            continue
        m = re.match(r"\s*([\d.]+)(ns|us|ms|s)\s+(.*)", lines[0])
        if m:
            yield float(m.group(1)) * UNITS[m.group(2)], [m.group(3).strip()] + [l.strip() for l in lines[1:]]


def part(frames):
    def has(*names):
        return any(n in f for f in frames for n in names)

    if has("runtime.gcBgMarkWorker", "runtime.bgsweep", "runtime.bgscavenge"):
        return "runtime: collector, background"
    writer = has("sqlstore.(*committer)", "sqlstore.(*pipeline)", "sqlstore.(*DB).applyGuarded",
                 "sqlstore.(*readBatcher")
    if has("_sqlite3WalCheckpoint", "sqlite3_wal_checkpoint"):
        return "store: SQLite checkpoint"
    if writer or has("modernc.org/sqlite", "jackc/pgx", "jackc/pgconn"):
        if has("sqlite3Prepare", "_sqlite3RunParser", "sqlite3LockAndPrepare"):
            return "store: SQLite parsing SQL"
        if has("_sqlite3PagerCommitPhaseOne", "_sqlite3WalFrames", "_unixSync", "_sqlite3PagerSync"):
            return "store: SQLite commit (WAL writes, fsync)"
        if has("modernc.org/sqlite"):
            return "store: SQLite statements" + ("" if writer else " run by requests")
        if has("jackc/pg"):
            return "store: PostgreSQL driver and socket"
        return "store: Go code around the statements"
    if has("net/http.(*persistConn)", "net/http.(*Transport)", "net/http.(*Client)", "internal/bench."):
        return "bench client: HTTP, TLS, signing, its requests"
    if has("net/http.(*conn).serve", "net/http.(*Server)", "net/http.(*connReader)"):
        if has("v2wire."):
            return "server: v2 XML and HMAC signature"
        if has("crypto/tls", "internal/poll", "syscall."):
            return "server: TLS and socket"
        if has("internal/pay.", "internal/ledger", "internal/tenant", "internal/storage"):
            return "server: payment logic (Go)"
        return "server: HTTP (net/http) and the handler"
    if has("runtime.schedule", "runtime.findRunnable", "runtime.netpoll", "runtime.mcall",
           "runtime.park_m", "runtime.sysmon", "runtime.mstart"):
        return "runtime: scheduler, netpoll, timers"
    return "other"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary", help="the facepay binary that wrote the profile")
    ap.add_argument("profile", help="the CPU profile (--cpuprofile)")
    ap.add_argument("--payments", type=int, default=0, help="requests in the profiled phase, for µs a request")
    ap.add_argument("--verbose", action="store_true", help="also list the roots of what fell into 'other'")
    a = ap.parse_args()
    parts, other = defaultdict(float), defaultdict(float)
    for seconds, frames in traces(a.binary, a.profile):
        p = part(frames)
        parts[p] += seconds
        if p == "other":
            other[frames[-1]] += seconds
    total = sum(parts.values())
    per = (lambda v: f"{v / a.payments * 1e6:8.0f} µs") if a.payments else (lambda v: "")
    for p, v in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"{p:52s} {v:6.2f} s {100 * v / total:5.1f} % {per(v)}")
    print(f"{'total':52s} {total:6.2f} s {'':7s} {per(total)}")
    if a.verbose:
        for root, v in sorted(other.items(), key=lambda kv: -kv[1])[:15]:
            print(f"  other, from {root}: {v:.2f} s")


if __name__ == "__main__":
    main()
