"""The conformance kit's full run against a slow target (issue 22): wall time, exit, requests.

    .venv/bin/python bench/kit_latency.py                     # this kit: local mock, and 0.4 s behind a proxy
    .venv/bin/python bench/kit_latency.py --before 9ca8a2c    # and the kit of that commit, side by side
    .venv/bin/python bench/kit_latency.py --delay 0.4 --runs 3 --targets proxy

One mock process (`layers-mock` on a free port) and, in front of it, a small latency proxy of this
script's own (an ASGI app on uvicorn: every request waits `--delay` seconds, then goes to the mock
and its answer comes back unchanged). Each run is staging-style, as the catalog runs: the bench
prepares the world through the mock's control plane (directly, never through the proxy) and the
kit gets `--api-key --read-only-key --foreign-account-id --accounts`, no `--mock-control`.

The keys are of the `partner` tier: 3,000 requests a minute (decision 7), against the ~350 a run
sends, so the budget never binds and no Retry-After wait is in any number; `--burst` is not given
(its requests and waits are the rate limit's, not the kit's). Every run is in one working
directory after a warm-up run (hypothesis builds ./.hypothesis once). Results: printed, and
written to bench/out/kit_latency.json.
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

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from kit_hostile import kit_tree  # noqa: E402

from contract import CONTRACT  # noqa: E402
from mock_control import ControlClient  # noqa: E402
from mock_control.launcher import MockProcess, free_port  # noqa: E402

KIT = [sys.executable, "-c", "import sys; from conformance.cli import main; sys.exit(main())"]
QUEUED = [4, 3, 0, 5, 2, 6, 1]  # as tests/conformance/conftest.py's staging world
HOP = {"content-length", "transfer-encoding", "connection", "keep-alive", "date", "server"}


def latency_app(upstream: str, delay: float):
    """An ASGI app: wait `delay`, forward the request to `upstream`, answer what it answered."""
    client = httpx.AsyncClient(base_url=upstream, timeout=60.0)

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        if scope.get("query_string"):
            path += "?" + scope["query_string"].decode("latin-1")
        headers = [(k, v) for k, v in scope["headers"] if k.decode("latin-1").lower() not in {"host", "content-length"}]
        await asyncio.sleep(delay)
        r = await client.request(scope["method"], path, content=body, headers=headers)
        out = [(k.encode(), v.encode()) for k, v in r.headers.items() if k.lower() not in HOP]
        await send({"type": "http.response.start", "status": r.status_code, "headers": out})
        await send({"type": "http.response.body", "body": r.content})

    return app


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


def staging_world(control: ControlClient, workdir: Path) -> list[str]:
    """Keys (partner tier), accounts with queued posts, another organization's account."""
    org = control.create_organization("bench staging-like")
    write = control.create_key(org["id"], [CONTRACT.required_scope], tier="partner")
    read_only = control.create_key(org["id"], ["social:read"], tier="partner")
    accounts = [control.create_account(org["id"], posts={"queued": n, "published": 2, "draft": 1}) for n in QUEUED]
    foreign = control.create_account(control.create_organization("bench other")["id"], posts={"queued": 3})
    path = workdir / f"accounts-{org['id']}.json"
    path.write_text(
        json.dumps(
            {
                "accounts": [
                    {"socialAccountId": a["socialAccountId"], "queuedPosts": n}
                    for a, n in zip(accounts, QUEUED, strict=True)
                ]
            }
        )
    )
    return [
        "--api-key",
        write["secret"],
        "--read-only-key",
        read_only["secret"],
        "--foreign-account-id",
        foreign["socialAccountId"],
        "--accounts",
        str(path),
    ]


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
    return {
        "exit": proc.returncode,
        "wall_s": round(wall, 2),
        # The kit's own CPU time (user + system): on a shared machine the wall time of a CPU-bound
        # run (the local mock) is this stretched by the load; the load average is in the meta.
        "cpu_s": round(cpu, 2),
        "requests": data.get("requests"),
        "failed_checks": data.get("failedChecks"),
        "error": data.get("error"),
        "waited": [n for n in data.get("notes", []) if "Retry-After" in n],
    }


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
            warm = run_kit(mock.base_url, staging_world(control, tmp), REPO, cwd, tmp, extra)
            print(f"warm-up run (not in the table): exit {warm['exit']}, {warm['wall_s']} s", file=sys.stderr)
            for target in targets:
                for label, path in kits:
                    runs = []
                    for i in range(args.runs):
                        row = run_kit(bases[target], staging_world(control, tmp), path, cwd, tmp, extra)
                        runs.append(row)
                        print(
                            f"[{label}] {target} run {i + 1}: exit {row['exit']}, {row['wall_s']} s "
                            f"({row['cpu_s']} s CPU, load {os.getloadavg()[0]:.1f}), "
                            f"{row['requests']} requests {row['failed_checks'] or ''} {row['error'] or ''}",
                            file=sys.stderr,
                            flush=True,
                        )
                    rows.append(
                        {
                            "target": target,
                            "kit": label,
                            "median_s": round(statistics.median(r["wall_s"] for r in runs), 2),
                            "median_cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 2),
                            "load_1min": round(os.getloadavg()[0], 1),
                            "runs": runs,
                        }
                    )
    where = {"mock": "local mock", "proxy": f"behind a {args.delay:g} s latency proxy"}
    print(f"\n| target | kit | median wall ({args.runs} run(s)) | kit CPU | load (1 min) | exits | requests |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        exits = ",".join(str(x["exit"]) for x in r["runs"])
        print(
            f"| {where[r['target']]} | {r['kit']} | {r['median_s']} s | {r['median_cpu_s']} s | {r['load_1min']} |"
            f" {exits} | {r['runs'][0]['requests']} |"
        )
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "machine": os.uname().nodename,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "delay_s": args.delay,
        "key_tier": "partner",
        "kit_args": extra,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (out / "kit_latency.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"\nwritten to {out / 'kit_latency.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
