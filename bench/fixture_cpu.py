"""CPU time of loading a big fixture into a fresh SQLite world, in this process, by phase.

    .venv/bin/python bench/fixture_cpu.py                      # 1,000,000 accounts, 2 runs
    .venv/bin/python bench/fixture_cpu.py --accounts 100000 --runs 3
    .venv/bin/python bench/fixture_cpu.py --profile 30         # cProfile's top 30 of one load
    .venv/bin/python bench/fixture_cpu.py --server             # bench/run.py's fixture row, with CPU

The fixture row of bench/run.py times process start to the first 200 (wall clock), which on
this shared 2-core machine moves by seconds with the other suites' load; CPU time of the same
work moves far less, so before/after comparisons of the loading code are made with this. The
phases are those of `layers-mock --fixtures FILE --database NEW.sqlite3` (mock_server/cli.py's
seed_state) with collection off, as there. Peak memory: this process's maxrss (the fixture's
parsed JSON included, as in the server).

`--server`: the fixture row's own command (the mock-only install, refreshed with this checkout,
`--database NEW.sqlite3 --fixtures FILE`), process start to first 200, with the CPU time its
processes (the parent, granian's workers) had used by then, read from /proc.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import common as c

from mock_server.cli import seed_state


def fixture_path(accounts: int) -> Path:
    from run import fixture_file  # the same file bench/run.py's fixture row loads

    c.OUT.mkdir(exist_ok=True)
    path = c.OUT / f"fixture_{accounts}.json"
    if not path.exists():
        fixture_file(path, accounts)
    return path


def one_load(path: Path, profile: int) -> dict:
    gc.disable()  # as mock_server/cli.py's main
    t = (time.process_time(), time.perf_counter(), os.times())
    fixture = c.world.read_fixture(path)
    read = (time.process_time(), time.perf_counter())
    with tempfile.TemporaryDirectory(dir=c.OUT) as tmp:
        database = os.path.join(tmp, "state.sqlite3")
        if profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
        loaded, _ = seed_state(database, fixture, reset=False)
        if profile:
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(profile)
        done = (time.process_time(), time.perf_counter(), os.times())
        assert loaded
    del fixture
    gc.enable()
    gc.collect()
    return {
        "read_cpu": read[0] - t[0],
        "load_cpu": done[0] - read[0],
        "cpu": done[0] - t[0],
        "sys": done[2].system - t[2].system,
        "wall": done[1] - t[1],
    }


def tree_cpu(pgid: int) -> float:
    """CPU seconds (user + system) of the live processes of a process group, and of the
    children they waited for."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(fields[2]) == pgid:  # field 5: pgrp
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / tick


def one_server_start(path: Path, exe: str) -> dict:
    state = c.OUT / "fixture_cpu_state.sqlite3"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(str(state) + suffix).unlink(missing_ok=True)
    os.sync()  # as bench/run.py: no write-back of the last round's file during this one
    port = c.free_port()
    cmd = c.mock_cmd(port, state, ["--fixtures", str(path)], exe=exe)
    with c.Server("mock", cmd, port, c.OUT / "fixture_cpu.log").start(timeout=600) as s:
        assert s.proc is not None
        cpu = tree_cpu(s.proc.pid)
    return {"ready_s": s.ready_s, "cpu": cpu}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--profile", type=int, default=0, help="print cProfile's top N functions (one run)")
    ap.add_argument("--server", action="store_true", help="time bench/run.py's fixture command instead")
    ap.add_argument("--exe", help="with --server: this layers-mock (default: the mock-only install, refreshed)")
    args = ap.parse_args()
    path = fixture_path(args.accounts)
    if args.server:
        import targets

        exe = args.exe or str(targets.mock_only_venv() / "bin" / "layers-mock")
        for i in range(args.runs):
            load = os.getloadavg()[0]
            r = one_server_start(path, exe)
            print(
                f"run {i + 1}: first 200 after {r['ready_s']:.2f} s, {r['cpu']:.2f} CPU-s by then"
                f" (load avg before {load:.1f})",
                flush=True,
            )
        return 0
    for i in range(1 if args.profile else args.runs):
        load = os.getloadavg()[0]
        r = one_load(path, args.profile)
        print(
            f"run {i + 1}: read+validate {r['read_cpu']:.2f} CPU-s, load {r['load_cpu']:.2f} CPU-s,"
            f" total {r['cpu']:.2f} CPU-s (sys {r['sys']:.2f}), wall {r['wall']:.2f} s (load avg before {load:.1f})",
            flush=True,
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory (maxrss): {peak:,.0f} MiB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
