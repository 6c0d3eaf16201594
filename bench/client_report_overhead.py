"""What recording for the client report costs (issue 24): this tree's mock (every answer journaled
with what grading needs) against the code before it (`--baseline DIR`: a checkout of the commit
before issue 24, whose journal held less) and against this mock with `--journal-limit 0`
(nothing journaled at all), on the 401, 404 and 200 paths, SQLite and PostgreSQL, alternating within
each round; medians of throughput and of the server's CPU time per request (its process group's
CPU seconds over the requests answered: less sensitive than req/s to other work on a shared
machine). Writes its block of bench/RESULTS.md unless --no-write.

    .venv/bin/python bench/client_report_overhead.py --rounds 3 --seconds 5
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c
from run import load_env

BEGIN, END = "<!-- bench:client_report_overhead.py:begin -->", "<!-- bench:client_report_overhead.py:end -->"
CONFIGS = {"recording": [], "before": [], "off": ["--journal-limit", "0"]}


def _baseline_launcher(tree: Path):
    """MockProcess from the baseline tree (it puts its own tree first on the child's PYTHONPATH)."""
    spec = importlib.util.spec_from_file_location("baseline_launcher", tree / "mock_control" / "launcher.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MockProcess


def _seed_baseline(tree: Path, database: str, accounts: int) -> list[str]:
    """The same world, made by the baseline's own code (its schema version)."""
    code = (
        "import json, sys; sys.path[:0] = [sys.argv[1], sys.argv[1] + '/bench']; import common;"
        " print(json.dumps(common.seed_world(sys.argv[2], accounts=int(sys.argv[3]), queued_per_account=2)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tree), database, str(accounts)],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--backends", default="sqlite,postgresql")
    p.add_argument("--paths", default="401,404,200")
    p.add_argument("--accounts", type=int, default=60_000)
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--baseline", type=Path, help="a checkout of the code before issue 24 (git archive)")
    args = p.parse_args()
    configs = [n for n in CONFIGS if n != "before" or args.baseline is not None]
    c.OUT.mkdir(exist_ok=True)
    rows = []
    for backend in args.backends.split(","):
        pg = c.PostgresServer().start() if backend == "postgresql" else None
        servers, ids_files, used = {}, {}, {}
        try:
            for name in configs:
                database = c.OUT / f"overhead-{name}.sqlite3" if pg is None else pg.new_database(f"overhead_{name}")
                if name == "before":
                    ids = _seed_baseline(args.baseline, str(database), args.accounts)
                    launcher = _baseline_launcher(args.baseline)
                    servers[name] = launcher(
                        host=c.HOST, workers=c.DEFAULT_WORKERS, database=str(database), extra_args=[]
                    ).start()
                else:
                    ids = c.seed_world(database, accounts=args.accounts, queued_per_account=2)
                    servers[name] = c.mock_process(database, CONFIGS[name]).start()
                ids_files[name] = c.write_ids(c.OUT / f"overhead_ids_{backend}_{name}.txt", ids)
                used[name] = 0
            for path in args.paths.split(","):
                rps: dict[str, list[float]] = {n: [] for n in configs}
                cpu_us: dict[str, list[float]] = {n: [] for n in configs}
                for rnd in range(-1, args.rounds):  # round -1: warm-up, not kept
                    order = configs if rnd % 2 == 0 else list(reversed(configs))
                    for name in order:
                        c.wait_for_quiet(5)
                        env = load_env(path, "mock", ids_files[name], used[name])
                        with c.CpuMeter(servers[name].proc.pid) as meter:
                            r = c.wrk(servers[name].base_url, seconds=2 if rnd < 0 else args.seconds, env=env)
                        per_request = meter.server_cores * (r["duration_us"] / 1e6) / max(1, r["requests"]) * 1e6
                        if path == "200":
                            used[name] += r["requests"] + 200
                        unexpected = r["requests"] - r["s" + path]
                        if rnd >= 0:
                            rps[name].append(r["rps"])
                            cpu_us[name].append(per_request)
                        print(
                            f"{backend} {path} {name:<9} round {rnd + 1}: {r['rps']:8.0f} req/s"
                            f"  p99 {r['p99_us'] / 1000:6.2f} ms  server CPU {per_request:6.0f} us/request  unexpected {unexpected}"
                            f"  load {os.getloadavg()[0]:.1f}",
                            flush=True,
                        )
                for other in configs[1:]:
                    on, off = c.median(rps["recording"]), c.median(rps[other])
                    cpu_on, cpu_off = c.median(cpu_us["recording"]), c.median(cpu_us[other])
                    rows.append((backend, path, other, on, off, (off - on) / off * 100, cpu_on, cpu_off))
        finally:
            for s in servers.values():
                s.stop()
            if pg is not None:
                pg.stop()
    against = {"before": "before issue 24", "off": "no journal (--journal-limit 0)"}
    lines = [
        "| backend | path | against | recording (req/s) | against (req/s) | throughput cost |"
        " server CPU µs/request, recording / against | CPU cost |",
        "|---|---|---|---|---|---|---|---|",
        *[
            f"| {b} | {p} | {against[o]} | {on:,.0f} | {off:,.0f} | {cost:+.1f}% | {c_on:,.0f} / {c_off:,.0f} |"
            f" {(c_on - c_off) / c_off * 100:+.1f}% |"
            for b, p, o, on, off, cost, c_on, c_off in rows
        ],
    ]
    table = "\n".join(lines)
    print(table)
    machine = c.machine()
    note = (
        f"\nMedians of {args.rounds} rounds of {args.seconds} s (wrk -t1 -c32), alternating; load average at the end"
        f" {os.getloadavg()[0]:.1f} on {machine.get('cores', '?')} cores shared with other work: differences within a"
        " few percent are noise.\n"
    )
    if not args.no_write:
        block = f"{BEGIN}\n{table}\n{note}{END}"
        c.write_results_block(block, BEGIN, END, "Client report: recording's cost (issue 24)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
