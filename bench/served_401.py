"""The 401 path served, against the bare ASGI app on the same HTTP server: issue 20's target
(the mock's 401 at >= 50 % of bench/bare_app.py's throughput), measured alone and often.

bench/run.py measures the 401 once or twice per target among many columns; on the shared 2-core
machine one run moves by 10-20 %. This runs only the 401 column, the targets alternating round
by round (mock, bare, bare, mock, ...), and prints each run's req/s and the server's CPU per
request (its process group's user + system time over its requests: less sensitive to what else
the machine runs than req/s), with the medians and the ratio of the medians. `--threads`: that
CPU per request split by thread, summed over the workers (thread 0 runs the event loop and the
app, `tokio-rt-worker` is granian's I/O; the mock's thread 1 is the storage's housekeeping
thread: the journal's writes, trims and checkpoints).

    .venv/bin/python bench/served_401.py                        # this checkout's mock vs bare granian
    .venv/bin/python bench/served_401.py --tree /tmp/old        # and another checkout's mock (`git worktree add`)
    .venv/bin/python bench/served_401.py --granian-args "--backpressure 64" --mock-args "..."

Both are served as bench/run.py serves them (bench/targets.py: `layers-mock --quiet`, the CLI's
default workers and server; bare_app on granian's CLI with the same workers)."""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c
import targets as T
from run import load_env


def tree_server(tree: str, port: int, database: str, extra: list[str], log: Path) -> c.Server:
    """Another checkout's mock, run by this venv's Python with that checkout first on the path
    (granian's workers are forked: they import the same checkout)."""
    code = f"import sys; sys.path.insert(0, {tree!r}); from mock_server.cli import main; sys.exit(main())"
    cmd = [sys.executable, "-c", code, *T.mock_args(T.CATALOG["sqlite"], port, database, extra)]
    return c.Server(f"mock@{tree}", cmd, port, log)


def thread_cpu(server: c.Server) -> dict[str, float]:
    """CPU seconds so far of each thread of the server's worker processes, by role: its place in
    its process's threads (in creation order), or `tokio-rt-worker`."""
    tick = os.sysconf("SC_CLK_TCK")
    out: collections.Counter[str] = collections.Counter()
    for pid in os.listdir("/proc"):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            continue
        if int(fields[2]) != server.proc.pid or int(pid) == server.proc.pid:  # a worker of its group
            continue
        try:
            tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
            for n, tid in enumerate(tids):
                raw = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
                comm, rest = raw[raw.index("(") + 1 : raw.rindex(")")], raw.rsplit(")", 1)[1].split()
                out["tokio-rt-worker" if comm.startswith("tokio") else f"thread {n}"] += (
                    int(rest[11]) + int(rest[12])
                ) / tick
        except (OSError, ValueError):
            continue
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--seconds", type=int, default=4)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--tree", help="also serve another checkout's mock (its mock_server, this venv)")
    p.add_argument("--mock-args", default="", help="extra layers-mock arguments")
    p.add_argument("--granian-args", default="", help="extra granian arguments for the bare app")
    p.add_argument("--threads", action="store_true", help="also the server's CPU per request by thread")
    p.add_argument("--quiet-wait", type=float, default=3.0, help="seconds to wait for an idle machine before a run")
    args = p.parse_args()
    c.ensure_wrk()
    c.OUT.mkdir(exist_ok=True)
    folder = c.OUT / "db-served401"
    folder.mkdir(exist_ok=True)
    servers: dict[str, c.Server] = {}
    try:
        database = str(folder / "bench.sqlite3")
        c.seed_world(database, accounts=10)
        extra = args.mock_args.split()
        servers["mock"] = T.server(
            T.CATALOG["sqlite"], c.free_port(), database, extra=extra, log=c.OUT / "s401-mock.log"
        )
        if args.tree:
            old = str(folder / "old.sqlite3")
            c.seed_world(old, accounts=10)
            servers["old"] = tree_server(args.tree, c.free_port(), old, extra, c.OUT / "s401-old.log")
        bare = T.server(T.CATALOG["bare-granian"], c.free_port(), None, log=c.OUT / "s401-bare.log")
        bare.cmd[-1:-1] = args.granian_args.split()  # before the app's name
        servers["bare"] = bare
        for s in servers.values():
            s.start(timeout=120)
        env = load_env("401", "mock", None, 0)
        order = list(servers)
        for key in order:
            c.wrk(servers[key].base, seconds=args.warmup, env=env)
        runs: dict[str, list[tuple[float, float]]] = {k: [] for k in order}
        for rnd in range(args.rounds):
            for key in order if rnd % 2 == 0 else order[::-1]:
                c.wait_for_quiet(args.quiet_wait)
                before = thread_cpu(servers[key]) if args.threads else {}
                with c.CpuMeter(servers[key].proc.pid) as cpu:
                    r = c.wrk(servers[key].base, seconds=args.seconds, env=env)
                after = thread_cpu(servers[key]) if args.threads else {}
                bad = r["requests"] - r["s401"]
                us = cpu.server_cores * 1e6 / r["rps"]
                runs[key].append((r["rps"], us))
                print(
                    f"round {rnd} {key:5} {r['rps']:9,.0f} req/s  server {us:5.1f} us/req  "
                    f"wrk {cpu.wrk_cores * 1e6 / r['rps']:5.1f} us/req  other {cpu.other_cores:.2f} cores"
                    + (f"  NOT 401: {bad}" if bad else ""),
                    flush=True,
                )
                if args.threads:
                    per = {t: (after[t] - before.get(t, 0.0)) * 1e6 / r["requests"] for t in sorted(after)}
                    print("    by thread, us/req: " + ", ".join(f"{t} {v:.1f}" for t, v in per.items() if v >= 0.05))
        med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v)) for k, v in runs.items()}
        for key, (rps, us) in med.items():
            print(f"median {key:5} {rps:9,.0f} req/s  server {us:5.1f} us/req  ({rps / med['bare'][0]:.0%} of bare)")
    finally:
        for s in servers.values():
            if s.proc is not None:
                s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
