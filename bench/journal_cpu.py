"""CPU time per answered request, in-process, with and without issue 24's recording: the ASGI app
called directly (no sockets, no client library), N requests in a row, `time.process_time()` of
the whole process (the app, the middleware, the journal's batched writes). CPU time, not wall
time, so that other work on a shared machine moves it little. Three codes: this tree, this tree
with `journal_limit=0` (no journal at all), and `--baseline DIR` (the code before issue 24).

    .venv/bin/python bench/journal_cpu.py --baseline /tmp/main-before-24 --requests 3000 --rounds 5

The 200 is the reserved test account's (answered without a write, like the 404 of an unknown
account with the default write key); the real revoke's 200 is in client_report_overhead.py.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import asyncio, json, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
from contract import CONTRACT
from contract.world import default_world
from mock_server.app import create_app
from mock_server.cli import seed_state

tree, path_kind, n, limit = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
world = default_world()
write = next(k for k in world["keys"] if CONTRACT.required_scope in k["scopes"])
# The benchmarks' key: the `internal` tier has no rate limit (bench/common.py's BENCH_SECRET).
key = {**write, "id": "key_0b0b0b0b-0000-4000-8000-000000000009", "secret": "lp_test_bench_internal_0000000000000009",
       "tier": "internal", "label": "bench"}
world = {**world, "keys": world["keys"] + [key]}
db = tempfile.mkdtemp() + "/w.sqlite3"
seed_state(db, world, False)
options = {} if limit == "default" else {"journal_limit": int(limit)}
app = create_app(db, **options)
account = {
    "401": "sa_ffffffff-ffff-4fff-8fff-ffffffffffff",
    "404": "sa_ffffffff-ffff-4fff-8fff-ffffffffffff",
    "200": next(t["id"] for t in world["testAccounts"] if t["status"] == 200),
}[path_kind]
headers = [(b"host", b"127.0.0.1")]
if path_kind != "401":
    headers.append((b"authorization", f"Bearer {key['secret']}".encode()))
scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "DELETE",
         "scheme": "http", "path": CONTRACT.path_for(account), "raw_path": CONTRACT.path_for(account).encode(),
         "query_string": b"", "headers": headers, "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
         "root_path": ""}
statuses = {}

async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}

async def main():
    async def send(message):
        if message["type"] == "http.response.start":
            statuses[message["status"]] = statuses.get(message["status"], 0) + 1
    async def client(count):  # 32 clients at once, as wrk -c32: the loop's turns interleave them
        for _ in range(count):
            await app(dict(scope), receive, send)
            await asyncio.sleep(0)

    await asyncio.gather(*(client(200 // 32) for _ in range(32)))  # warm-up
    statuses.clear()
    t0 = time.process_time()
    await asyncio.gather(*(client(n // 32) for _ in range(32)))
    await asyncio.sleep(0.01)  # the last journal flush runs on the loop
    used = time.process_time() - t0
    print(json.dumps({"us": used / sum(statuses.values()) * 1e6, "statuses": statuses}))

asyncio.run(main())
"""


def run(tree: Path, path_kind: str, n: int, limit: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", WORKER, str(tree), path_kind, str(n), limit],
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--baseline", type=Path, required=True)
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    configs = {"recording": (ROOT, "default"), "before": (args.baseline, "default"), "off": (ROOT, "0")}
    table = ["| path | recording (µs CPU/request) | before issue 24 | no journal | cost vs before | cost vs none |"]
    table.append("|---|---|---|---|---|---|")
    for path_kind in ("401", "404", "200"):
        samples: dict[str, list[float]] = {c: [] for c in configs}
        for rnd in range(args.rounds):
            for name in configs if rnd % 2 == 0 else list(reversed(configs)):
                tree, limit = configs[name]
                r = run(tree, path_kind, args.requests, limit)
                assert list(r["statuses"]) == [path_kind], r
                samples[name].append(r["us"])
                print(f"{path_kind} {name:<9} round {rnd + 1}: {r['us']:7.1f} us CPU/request", flush=True)
        med = {c: statistics.median(v) for c, v in samples.items()}
        table.append(
            f"| {path_kind} | {med['recording']:.1f} | {med['before']:.1f} | {med['off']:.1f} |"
            f" {(med['recording'] - med['before']) / med['before'] * 100:+.1f}% |"
            f" {(med['recording'] - med['off']) / med['off'] * 100:+.1f}% |"
        )
    print("\n".join(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
