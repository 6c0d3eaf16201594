"""The conformance kit against hostile targets (issue 14): exit code, wall time, peak memory.

    .venv/bin/python bench/kit_hostile.py                       # this kit, every case
    .venv/bin/python bench/kit_hostile.py --before 2b8b30c      # and the kit of that commit, side by side
    .venv/bin/python bench/kit_hostile.py --only dribble-headers,storm-120

Each case starts one server of tests/conformance/hostile_servers.py on 127.0.0.1 and runs
`layers-conformance --base-url <it> --api-key <key> [case args] --junit-xml … --report-json …`
as a separate process, under a wrapper whose only child it is: peak memory is that child's max
RSS (getrusage(RUSAGE_CHILDREN)), every run in one working directory after a warm-up run (see
below: hypothesis' first run in a directory costs ~200 MB more). A run still going at --kill-after seconds is killed and shown as
such (the kit of `--before` never ends against a dribbling server). Results: printed, and written
to bench/out/kit_hostile.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conformance.hostile_servers import MB, HostileServer, measured  # noqa: E402

KEY = "lp_test_bench_key_7Qm2xK9pL4vN8rT1"
KIT = [sys.executable, "-c", "import sys; from conformance.cli import main; sys.exit(main())"]

# name: (server behaviour, server options, kit arguments, what it is)
CASES = {
    "dribble-headers": (
        "dribble-headers",
        {"interval": 2.0},
        ["--timeout", "5"],
        "answer (headers first) 1 byte every 2 s",
    ),
    "dribble-body": ("dribble-body", {"interval": 2.0}, ["--timeout", "5"], "headers at once, body 1 byte every 2 s"),
    "storm-1": ("storm", {"retry_after": "1"}, [], "429 to everything, Retry-After: 1"),
    "storm-120": ("storm", {"retry_after": "120"}, [], "429 to everything, Retry-After: 120"),
    "huge-100mb": ("huge", {"size": 100 * MB}, [], "every answer 100 MB (Content-Length)"),
    "huge-100mb-chunked": ("huge", {"size": 100 * MB, "chunked": True}, [], "every answer 100 MB (chunked)"),
    "gzip-bomb": ("gzip-bomb", {"size": 100 * MB}, [], "100 KB gzip inflating to 100 MB"),
    "nested-100k": ("nested", {"depth": 100_000}, [], "JSON nested 100,000 levels"),
    "honest": ("record", {}, [], "small well-formed 404s (baseline)"),
}


def kit_tree(rev: str, into: Path) -> Path:
    """The kit as it was at `rev` (git archive of the packages it imports), for a side-by-side run."""
    paths = ["conformance", "contract", "mock_server", "openapi.yaml"]  # contract/openapi.yaml links to the last
    data = subprocess.run(["git", "-C", str(REPO), "archive", rev, *paths], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    return into


def run_case(name: str, pythonpath: Path, kill_after: float, workdir: Path, cwd: Path) -> dict:
    behaviour, opts, args, _ = CASES[name]
    with HostileServer(behaviour, **opts) as server:
        argv = [
            "--base-url",
            server.base_url,
            "--api-key",
            KEY,
            *args,
            "--junit-xml",
            str(workdir / "junit.xml"),
            "--report-json",
            str(workdir / "report.json"),
        ]
        for f in ("junit.xml", "report.json"):
            (workdir / f).unlink(missing_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAYERS_")}
        started = time.monotonic()
        proc = subprocess.run(
            measured(KIT + argv, kill_after),
            capture_output=True,
            text=True,
            cwd=cwd,
            env={**env, "PYTHONPATH": str(pythonpath)},
        )
        wall = time.monotonic() - started
        requests = len(server.requests)
    peak = re.search(r"PEAK_RSS_KB=(\d+) KILLED=(\d)", proc.stderr)
    killed = bool(peak and peak.group(2) == "1")
    report = json.loads((workdir / "report.json").read_text()) if (workdir / "report.json").exists() else None
    return {
        "case": name,
        "exit": None if killed else proc.returncode,
        "killed": killed,
        "wall_s": round(wall, 1),
        "peak_rss_mb": round(int(peak.group(1)) / 1024) if peak else None,
        "requests_received": requests,
        "reports_written": report is not None and (workdir / "junit.xml").exists(),
        "error": (report or {}).get("error"),
        "failed_checks": (report or {}).get("failedChecks"),
        "traceback": "Traceback" in proc.stderr,
        "command": " ".join(["layers-conformance", "--base-url", "http://127.0.0.1:PORT", "--api-key", KEY, *args]),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", default="", help="comma-separated case names: " + ", ".join(CASES))
    p.add_argument("--before", help="also run the kit of this git revision (e.g. 2b8b30c), side by side")
    p.add_argument("--kill-after", type=float, default=120.0, help="kill a kit run still going after this (s)")
    args = p.parse_args()
    names = [n for n in args.only.split(",") if n] or list(CASES)
    unknown = set(names) - set(CASES)
    if unknown:
        p.error(f"no such case: {', '.join(sorted(unknown))}")
    kits = [("now", REPO)]
    with tempfile.TemporaryDirectory(prefix="kit-hostile-") as tmp:
        tmp = Path(tmp)
        if args.before:
            kits.append((f"before ({args.before})", kit_tree(args.before, tmp / "before")))
        # One working directory for every run: hypothesis builds its unicode tables into
        # ./.hypothesis the first time it runs in a directory (~200 MB more, once); a warm-up run
        # pays that, so that each row measures the case and not a cold cache.
        cwd = tmp / "cwd"
        cwd.mkdir()
        (tmp / "warm-up").mkdir()
        warm = run_case("honest", REPO, args.kill_after, tmp / "warm-up", cwd)
        print(f"warm-up run (not in the table): peak {warm['peak_rss_mb']} MB", file=sys.stderr, flush=True)
        rows = []
        for name in names:
            for label, path in kits:
                work = tmp / f"{name}-{len(rows)}"
                work.mkdir()
                print(f"[{label}] {name}: {CASES[name][3]} …", file=sys.stderr, flush=True)
                row = {"kit": label, **run_case(name, path, args.kill_after, work, cwd)}
                rows.append(row)
                print(
                    f"    exit {row['exit'] if not row['killed'] else 'killed'}, {row['wall_s']} s, "
                    f"peak {row['peak_rss_mb']} MB, reports {'written' if row['reports_written'] else 'none'}",
                    file=sys.stderr,
                    flush=True,
                )
    print("\n| case | kit | exit | wall | peak RSS | reports | requests received |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        code = f"killed at {args.kill_after:g} s" if r["killed"] else str(r["exit"])
        print(
            f"| {r['case']} | {r['kit']} | {code} | {r['wall_s']} s | {r['peak_rss_mb']} MB | "
            f"{'yes' if r['reports_written'] else 'no'} | {r['requests_received']} |"
        )
    write_results("kit_hostile", {"kill_after_s": args.kill_after}, rows)
    return 0


def write_results(name: str, meta: dict, rows: list[dict]) -> None:
    """bench/out/<name>.json: the rows, with the machine, the Python and the time beside `meta`."""
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "machine": os.uname().nodename,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        **meta,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"\nwritten to {out / f'{name}.json'}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
