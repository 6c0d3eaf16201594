"""What recording for the client report costs (issue 24): the mock with its journal (the default,
every answer recorded with what grading needs) against the same mock with `--journal-limit 0`
(nothing recorded), on the 401, 404 and 200 paths, SQLite and PostgreSQL, alternating within
each round; medians of throughput and of the server's CPU time per request (its process group's
CPU seconds over the requests answered: less sensitive than req/s to other work on a shared
machine). Writes its block of bench/RESULTS.md unless --no-write.

    .venv/bin/python bench/client_report_overhead.py --rounds 3 --seconds 5
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common as c
from run import load_env

BEGIN, END = "<!-- bench:client_report_overhead.py:begin -->", "<!-- bench:client_report_overhead.py:end -->"
CONFIGS = {"recording": [], "off": ["--journal-limit", "0"]}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=int, default=5)
    p.add_argument("--backends", default="sqlite,postgresql")
    p.add_argument("--paths", default="401,404,200")
    p.add_argument("--accounts", type=int, default=60_000)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    c.OUT.mkdir(exist_ok=True)
    rows = []
    for backend in args.backends.split(","):
        pg = c.PostgresServer().start() if backend == "postgresql" else None
        servers, ids_files, used = {}, {}, {}
        try:
            for name, extra in CONFIGS.items():
                database = c.OUT / f"overhead-{name}.sqlite3" if pg is None else pg.new_database(f"overhead_{name}")
                ids = c.seed_world(database, accounts=args.accounts, queued_per_account=2)
                ids_files[name] = c.write_ids(c.OUT / f"overhead_ids_{backend}_{name}.txt", ids)
                servers[name] = c.mock_process(database, extra).start()
                used[name] = 0
            for path in args.paths.split(","):
                rps: dict[str, list[float]] = {n: [] for n in CONFIGS}
                cpu_us: dict[str, list[float]] = {n: [] for n in CONFIGS}
                for rnd in range(-1, args.rounds):  # round -1: warm-up, not kept
                    order = list(CONFIGS) if rnd % 2 == 0 else list(reversed(CONFIGS))
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
                on, off = c.median(rps["recording"]), c.median(rps["off"])
                cpu_on, cpu_off = c.median(cpu_us["recording"]), c.median(cpu_us["off"])
                rows.append(
                    (
                        backend,
                        path,
                        on,
                        off,
                        (off - on) / off * 100,
                        cpu_on,
                        cpu_off,
                        (cpu_on - cpu_off) / cpu_off * 100,
                    )
                )
        finally:
            for s in servers.values():
                s.stop()
            if pg is not None:
                pg.stop()
    lines = [
        "| backend | path | recording (req/s) | no journal (req/s) | throughput cost |"
        " server CPU per request, recording / none (µs) | CPU cost |",
        "|---|---|---|---|---|---|---|",
        *[
            f"| {b} | {p} | {on:,.0f} | {off:,.0f} | {cost:+.1f}% | {c_on:,.0f} / {c_off:,.0f} | {c_cost:+.1f}% |"
            for b, p, on, off, cost, c_on, c_off, c_cost in rows
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
