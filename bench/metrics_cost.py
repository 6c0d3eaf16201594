"""What recording a request's metrics costs on the hot path (issue 20): `RequestMetrics.record`
(one route lookup, one counter increment, one histogram observation), per call, in both of
prometheus_client's modes: in-process values (one worker) and the multiprocess mode the CLI
turns on for several workers (memory-mapped files). Each mode runs in a child process, because
the library chooses its mode when it is first imported. Beside it, measured in the same process
at the same moment (so that a busy machine slows both alike): the cheapest whole request, a
revoke without a key (401) through the real app, recording included; the share is record's.

    cd /work/main && .venv/bin/python bench/metrics_cost.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

CALLS = 200_000

CHILD = r"""
import json, sys, timeit
from contract import CONTRACT
from mock_server.edge.request_metrics import RequestMetrics
from mock_server.core import metrics
m = RequestMetrics()
api = {"path": CONTRACT.path_for(CONTRACT.example_account_id), "method": "DELETE"}
control = {"path": "/_mock/accounts/" + CONTRACT.example_account_id, "method": "GET"}
calls = int(sys.argv[1])
out = {"multiprocess": metrics.multiprocess_ready()}
for name, scope in (("revoke route", api), ("control route", control)):
    m.record(scope, 404, 0.001)  # label children made once, as on a serving worker
    best = min(timeit.repeat(lambda: m.record(scope, 404, 0.001), number=calls, repeat=5))
    out[name] = best / calls * 1e6

# The yardstick, in the same process at the same moment: the cheapest whole request, a revoke
# without a key (401, no storage), through the real app on the fast path, metrics included.
import asyncio, os, tempfile
from contract.world import DEFAULT_WORLD
from mock_server.app import create_app
from mock_server.cli import seed_state
from mock_server.core import world
db = os.path.join(tempfile.mkdtemp(prefix="layers-metrics-bench-world-"), "state.sqlite3")
seed_state(db, world.read_fixture(DEFAULT_WORLD), False)
app = create_app(db)
scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "DELETE",
         "scheme": "http", "path": api["path"], "raw_path": api["path"].encode(), "query_string": b"",
         "headers": [(b"host", b"127.0.0.1:4010")], "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 4010)}
async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}
async def send(message):
    pass
async def many(n):
    for _ in range(n):
        await app(dict(scope), receive, send)
loop = asyncio.new_event_loop()
loop.run_until_complete(many(200))  # Connexion's lazy set-up, the label children
n = max(2000, calls // 50)
best = min(timeit.repeat(lambda: loop.run_until_complete(many(n)), number=1, repeat=5))
out["401 request"] = best / n * 1e6
app.storage.close()
import shutil
shutil.rmtree(os.path.dirname(db), ignore_errors=True)
print(json.dumps(out))
"""


def run(env: dict) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(CALLS)], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def main() -> None:
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    base = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    base["PYTHONPATH"] = root
    rows = [("in-process (1 worker)", run(base))]
    with tempfile.TemporaryDirectory(prefix="layers-metrics-bench-") as d:
        rows.append(("multiprocess (2+ workers)", run({**base, "PROMETHEUS_MULTIPROC_DIR": d})))
    print(
        "| mode | record(), revoke route | record(), control route | a whole 401 request, in-process |"
        f" record's share |  (µs; {CALLS:,} calls, best of 5; load average {os.getloadavg()[0]:.1f})"
    )
    print("|---|---|---|---|---|")
    for name, r in rows:
        share = r["revoke route"] / r["401 request"] * 100
        print(
            f"| {name} | {r['revoke route']:.2f} | {r['control route']:.2f} | {r['401 request']:.1f} | {share:.0f} % |"
        )


if __name__ == "__main__":
    main()
