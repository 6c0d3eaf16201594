"""What recording a request's metrics costs on the hot path (issue 20): `RequestMetrics.record`
(one route lookup, one counter increment, one histogram observation), per call, in both of
prometheus_client's modes: in-process values (one worker) and the multiprocess mode the CLI
turns on for several workers (memory-mapped files). Each mode runs in a child process, because
the library chooses its mode when it is first imported.

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
m = RequestMetrics(app=None)
api = {"path": CONTRACT.path_for(CONTRACT.example_account_id), "method": "DELETE"}
control = {"path": "/_mock/accounts/" + CONTRACT.example_account_id, "method": "GET"}
calls = int(sys.argv[1])
out = {"multiprocess": metrics.multiprocess_ready()}
for name, scope in (("revoke route", api), ("control route", control)):
    m.record(scope, 404, 0.001)  # label children made once, as on a serving worker
    best = min(timeit.repeat(lambda: m.record(scope, 404, 0.001), number=calls, repeat=5))
    out[name] = best / calls * 1e6
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
    print(f"| mode | revoke route, µs per request | control route, µs per request |  ({CALLS:,} calls, best of 5)")
    print("|---|---|---|")
    for name, r in rows:
        print(f"| {name} | {r['revoke route']:.2f} | {r['control route']:.2f} |")


if __name__ == "__main__":
    main()
