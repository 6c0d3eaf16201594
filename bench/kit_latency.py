"""The conformance kit's full run against a slow target (issue 22): wall time, exit, requests.

    .venv/bin/python bench/kit_latency.py                     # this kit: local mock, and 0.4 s behind a proxy
    .venv/bin/python bench/kit_latency.py --before 9ca8a2c    # and the kit of that commit, side by side
    .venv/bin/python bench/kit_latency.py --delay 0.4 --runs 3 --targets proxy

One mock process (`layers-mock` on a free port) and, in front of it, a small latency proxy of this
script's own (an ASGI app on uvicorn: every request waits `--delay` seconds, then goes to the mock
and its answer comes back unchanged). Each run is staging-style, as the catalog runs: the bench
prepares the world through the mock's control plane (directly, never through the proxy) and the
kit gets `--api-key --read-only-key --foreign-account-id --accounts`, no `--mock-control`.

The world is the kit tests' staging world (tests/conformance/staging.py). Its keys are of the
`partner` tier: 3,000 requests a minute (decision 7), against the ~130 a run sends, so the budget
never binds and no Retry-After wait is in any number; `--burst` is not given (its requests and
waits are the rate limit's, not the kit's). Every run is in one working directory after a warm-up
run (hypothesis builds its unicode tables into ./.hypothesis once). With `--before`, the two kits
run in interleaved rounds (now, before, now, before, ...), so that a change in the machine's load
falls on both. The kit's own CPU time (user + system; its process and the generated phase's worker
process, also apart) is measured beside the wall time: on a
shared machine the wall time of a CPU-bound run (the local mock) is that stretched by the load.
Results: printed, and written to bench/out/kit_latency.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from kit_hostile import kit_tree, write_results  # noqa: E402

from mock_control import ControlClient  # noqa: E402
from mock_control.launcher import MockProcess, free_port  # noqa: E402
from tests.conformance.asgi_relay import relay_app  # noqa: E402
from tests.conformance.staging import make_staging_world  # noqa: E402

# The kit's main, and at its exit (after the kit's own atexit work: registered first, run last) its
# process's CPU time and that of the processes it waited for (the generated phase's worker).
KIT = [
    sys.executable,
    "-c",
    "import atexit, resource, sys\n"
    "def cpu():\n"
    "    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "    print(f'KIT-CPU {own.ru_utime + own.ru_stime:.3f} {kids.ru_utime + kids.ru_stime:.3f}', file=sys.stderr)\n"
    "atexit.register(cpu)\n"
    "from conformance.cli import main\n"
    "sys.exit(main())",
]
HOP = {"content-length", "transfer-encoding", "connection", "keep-alive", "date", "server"}


def latency_app(upstream: str, delay: float):
    """An ASGI app: wait `delay`, forward the request to `upstream`, answer what it answered."""

    async def handle(client, scope, body: bytes, path: str, query: str, headers: dict[str, str]):
        await asyncio.sleep(delay)
        raw = {k: v.encode("latin-1") for k, v in headers.items()}  # as received: a UTF-8 Idempotency-Key too
        r = await client.request(scope["method"], path + query, content=body, headers=raw)
        return r.status_code, [(k, v) for k, v in r.headers.items() if k.lower() not in HOP], r.content

    return relay_app(upstream, 60.0, handle)


class LatencyProxy:
    """The latency proxy on 127.0.0.1, in a thread of this process."""

    def __init__(self, upstream: str, delay: float):
        import uvicorn

        self.port = free_port()
        config = uvicorn.Config(
            latency_app(upstream, delay), host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.base_url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the latency proxy did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)


def run_kit(base_url: str, world: list[str], pythonpath: Path, cwd: Path, workdir: Path, extra: list[str]) -> dict:
    report = workdir / "report.json"
    report.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAYERS_")}
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.run(
        [*KIT, "--base-url", base_url, *world, *extra, "--report-json", str(report)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**env, "PYTHONPATH": str(pythonpath)},
        timeout=900,
    )
    wall = time.monotonic() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    data = json.loads(report.read_text()) if report.exists() else {}
    split = [line.split()[1:] for line in proc.stderr.splitlines() if line.startswith("KIT-CPU ")]
    own, worker = (float(x) for x in split[-1]) if split else (None, None)
    return {
        "exit": proc.returncode,
        "wall_s": round(wall, 2),
        # The kit's own CPU time (user + system): on a shared machine the wall time of a CPU-bound
        # run (the local mock) is this stretched by the load; the load average is in the meta.
        "cpu_s": round(cpu, 2),
        # Of which the kit's own process, and the generated phase's worker process (0 before it had one).
        "kit_process_cpu_s": own,
        "worker_cpu_s": worker,
        "requests": data.get("requests"),
        "failed_checks": data.get("failedChecks"),
        "error": data.get("error"),
        "waited": [n for n in data.get("notes", []) if "Retry-After" in n],
    }


def _median(values) -> float | None:
    known = [v for v in values if v is not None]
    return round(statistics.median(known), 2) if known else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--delay", type=float, default=0.4, help="seconds the proxy adds to every request")
    p.add_argument("--runs", type=int, default=1, help="runs per kit and target (the median is shown)")
    p.add_argument("--targets", default="mock,proxy", help="mock (the local mock), proxy (behind the latency proxy)")
    p.add_argument("--before", help="also run the kit of this git revision, side by side")
    p.add_argument("--kit-args", default="", help="extra arguments for every kit run (e.g. '--parallel 1')")
    args = p.parse_args()
    targets = [t for t in args.targets.split(",") if t]
    extra = args.kit_args.split()
    rows = []
    with tempfile.TemporaryDirectory(prefix="kit-latency-") as tmp_name:
        tmp = Path(tmp_name)
        kits = [("now", REPO)]
        if args.before:
            kits.append((f"before ({args.before})", kit_tree(args.before, tmp / "before")))
        cwd = tmp / "cwd"
        cwd.mkdir()
        with (
            MockProcess() as mock,
            ControlClient(mock.base_url) as control,
            LatencyProxy(mock.base_url, args.delay) as proxy,
        ):
            bases = {"mock": mock.base_url, "proxy": proxy.base_url}
            warm = run_kit(mock.base_url, make_staging_world(control, tmp), REPO, cwd, tmp, extra)
            print(f"warm-up run (not in the table): exit {warm['exit']}, {warm['wall_s']} s", file=sys.stderr)
            runs: dict[tuple[str, str], list[dict]] = {(t, label): [] for t in targets for label, _ in kits}
            for i in range(args.runs):  # rounds: every kit once per target in each
                for target in targets:
                    for label, path in kits:
                        row = run_kit(bases[target], make_staging_world(control, tmp), path, cwd, tmp, extra)
                        row["load_1min"] = round(os.getloadavg()[0], 1)
                        runs[(target, label)].append(row)
                        print(
                            f"[{label}] {target} round {i + 1}: exit {row['exit']}, {row['wall_s']} s "
                            f"({row['cpu_s']} s CPU: kit process {row['kit_process_cpu_s']}, worker"
                            f" {row['worker_cpu_s']}; load {row['load_1min']}), "
                            f"{row['requests']} requests {row['failed_checks'] or ''} {row['error'] or ''}",
                            file=sys.stderr,
                            flush=True,
                        )
            for (target, label), done in runs.items():
                rows.append(
                    {
                        "target": target,
                        "kit": label,
                        "median_s": round(statistics.median(r["wall_s"] for r in done), 2),
                        "median_cpu_s": round(statistics.median(r["cpu_s"] for r in done), 2),
                        "median_kit_process_cpu_s": _median(r["kit_process_cpu_s"] for r in done),
                        "median_worker_cpu_s": _median(r["worker_cpu_s"] for r in done),
                        "load_1min": round(statistics.median(r["load_1min"] for r in done), 1),
                        "runs": done,
                    }
                )
    where = {"mock": "local mock", "proxy": f"behind a {args.delay:g} s latency proxy"}
    print(
        f"\n| target | kit | median wall ({args.runs} run(s)) | CPU (kit + worker) | kit process | worker |"
        " load (1 min, median) | exits | requests |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        exits = ",".join(str(x["exit"]) for x in r["runs"])
        print(
            f"| {where[r['target']]} | {r['kit']} | {r['median_s']} s | {r['median_cpu_s']} s |"
            f" {r['median_kit_process_cpu_s']} s | {r['median_worker_cpu_s']} s | {r['load_1min']} |"
            f" {exits} | {r['runs'][0]['requests']} |"
        )
    write_results("kit_latency", {"delay_s": args.delay, "key_tier": "partner", "kit_args": extra}, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
