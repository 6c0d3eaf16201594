"""Cost of one revoke as an account's queued posts grow: 0, 1,000, 10,000, 100,000.

For each size a fresh state file holds the default world, the benchmark organization, 20 other
accounts with 5,000 queued posts each (so the index, not luck, finds the target's posts), and the
target account with N queued posts. Then:

- directly: a child process opens the storage and runs `Domain.revoke_writing` once (one transaction,
  BEGIN IMMEDIATE .. COMMIT): wall time, growth of peak RSS (getrusage ru_maxrss, which includes
  SQLite's own memory) and tracemalloc's peak (Python objects only);
- over HTTP: `layers-mock --state` on an identical file, one warm-up request, then the timed DELETE.

    cd /work/main && .venv/bin/python bench/revoke_cost.py
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c

SIZES = (0, 1_000, 10_000, 100_000)
TARGET = "sa_7a7a7a7a-0000-4000-8000-000000000001"


def seed(path: Path, queued: int) -> None:
    c.seed_world(path, accounts=20, queued_per_account=5_000)
    storage = c.open_storage(str(path))
    try:
        with storage.transaction() as q:
            c.world.add_accounts(
                q,
                [{"id": TARGET, "organizationId": c.BENCH_ORG, "handle": "@target", "posts": {"queued": queued}}],
                c.Clock.now(q),
            )
    finally:
        storage.close()
    con = sqlite3.connect(str(path))
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak_rss() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:  # "5" resets VmHWM to the current RSS (Linux)
            f.write("5")
    except OSError:
        pass


def child(state: str) -> None:
    """Runs in its own process: measure one Domain.revoke."""
    from mock_server.core.domain import Domain

    storage = c.open_storage(state)
    domain = Domain(c.CONTRACT)
    with storage.snapshot() as q:
        caller = domain.authenticate(q, f"Bearer {c.BENCH_SECRET}")
    _reset_peak_rss()
    rss_before = _status_kib("VmRSS")
    tracemalloc.start()
    t0 = time.perf_counter()
    with storage.transaction() as q:  # the revoke's one transaction, BEGIN IMMEDIATE .. COMMIT
        outcome = domain.revoke_writing(q, caller, TARGET, None, "req_bench")
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_after = _status_kib("VmHWM")  # the peak since _reset_peak_rss (includes SQLite's own memory)
    print(
        json.dumps(
            {
                "status": outcome.status,
                "canceled": outcome.body.get("canceledScheduledPosts"),
                "domain_ms": elapsed * 1000,
                "peak_rss_mib": (rss_after - rss_before) / 1024,
                "tracemalloc_kib": peak / 1024,
            }
        )
    )


def over_http(state: Path, queued: int) -> float:
    with c.mock_process(state) as s:
        headers = {"Authorization": f"Bearer {c.BENCH_SECRET}"}
        with c.httpx.Client(base_url=s.base_url, headers=headers, timeout=60) as h:
            assert h.delete(c.CONTRACT.path_for(c.UNKNOWN_ID)).status_code == 404  # warm-up
            t0 = time.perf_counter()
            r = h.delete(c.CONTRACT.path_for(TARGET))
            elapsed = time.perf_counter() - t0
            assert r.status_code == 200 and r.json()["canceledScheduledPosts"] == queued, r.text
    return elapsed * 1000


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--child", metavar="STATE")
    p.add_argument("--json", action="store_true", help="print one JSON line at the end (for run.py)")
    args = p.parse_args()
    if args.child:
        child(args.child)
        return 0
    c.OUT.mkdir(exist_ok=True)
    rows = []
    for n in SIZES:
        a, b = c.OUT / f"revoke_{n}_a.sqlite3", c.OUT / f"revoke_{n}_b.sqlite3"
        seed(a, n)
        for suffix in ("", "-wal", "-shm"):
            Path(str(b) + suffix).unlink(missing_ok=True)
        shutil.copy(a, b)
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(a)], stdout=subprocess.PIPE, text=True, check=True, timeout=600
        ).stdout
        row = {"queued": n, **json.loads(out.strip().splitlines()[-1])}
        assert row["status"] == 200 and row["canceled"] == n, row
        row["http_ms"] = over_http(b, n)
        rows.append(row)
        print(
            f"{n:>7,} queued: domain.revoke {row['domain_ms']:7.1f} ms, peak RSS +{row['peak_rss_mib']:.1f} MiB,"
            f" tracemalloc peak {row['tracemalloc_kib']:.0f} KiB, over HTTP {row['http_ms']:.1f} ms",
            flush=True,
        )
    note = (
        "Each world also holds 20 other accounts with 5,000 queued posts each. The HTTP time is one "
        "`DELETE` from a client on loopback after one warm-up request (mock at its defaults)."
    )
    if args.json:
        print(json.dumps({"rows": rows, "note": note}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
