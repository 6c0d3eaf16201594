"""Instructions per request (callgrind), for one kind of revoke: a count that load on the machine
does not move, to compare two versions of the request path on a shared, noisy machine.

    .venv/bin/python bench/request_instructions.py --kind 401
    .venv/bin/python bench/request_instructions.py --kind 200 --tree /tmp/main-copy   # another checkout
    .venv/bin/python bench/request_instructions.py --kind 404 --annotate 25            # where they go

The app is the one granian serves (`mock_server.app:app_from_env`, settings handed over as the CLI
hands them: `--quiet` as bench/run.py starts the mock, and the metrics of several workers unless
`--one-worker`), called in-process with one ASGI scope per request (no sockets: the HTTP server's
own share is bench/run.py's to show), over a SQLite world seeded as bench/run.py seeds it. After
`--warmup` requests (Connexion's lazy set-up, label children, caches), callgrind counts the next
`--requests` ones: instrumentation is switched on and off around them by valgrind's client
requests (a 20-line C helper, compiled with the system's cc), so start-up is not counted. Every
thread is counted while it is on: the storage's housekeeping thread writes the journal entries of
these requests, and its last ones are flushed before the count stops. The event loop's thread
(`loop_thread`: the request path) is counted apart: it is the same count run to run, where the
other threads' share (`other_threads`: the journal's writes, WAL checkpoints) moves with their
timing, most on the 200 (about 5 %).

Kinds: `401` no key; `404` the internal-tier key on an account in no world; `200` one revoke per
fresh account, the partner-tier keys in rotation (`--tier internal` for the internal key), as
bench/run.py's columns.

Needs valgrind (callgrind) and a C compiler. Compare versions on the same `--requests`. Work
done once per millisecond or per batch is over-counted: under valgrind a request takes about a
millisecond, where a served one takes tens of microseconds (the request id's time digits, made
once per millisecond, are made for nearly every request here; the journal's batches are smaller).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Valgrind's client requests (callgrind.h): no-ops outside valgrind.
TOGGLE_C = r"""
#include <valgrind/callgrind.h>
void count_on(void) { CALLGRIND_ZERO_STATS; CALLGRIND_START_INSTRUMENTATION; }
void count_off(void) { CALLGRIND_STOP_INSTRUMENTATION; }
"""

SEED = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import common as c
database, accounts, partner_keys = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
ids = c.seed_world(database, accounts=accounts, partner_keys=partner_keys)
print(json.dumps({"ids": ids, "partner": c.partner_secrets(partner_keys), "internal": c.BENCH_SECRET,
                  "unknown": c.UNKNOWN_ID}))
"""

MEASURE = r"""
import asyncio, ctypes, gc, json, sys
tree, plan_file, toggle_lib = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, tree)
plan = json.loads(open(plan_file).read())
from contract import CONTRACT
from mock_server.settings import MockSettings
from mock_server import app as app_module

MockSettings(database=plan["database"], quiet=True).hand_to_workers(plan["metrics_dir"])
app = app_module.app_from_env()  # what granian is handed
toggle = ctypes.CDLL(toggle_lib)

def scope_for(account, secret):
    path = CONTRACT.path_for(account)
    headers = [(b"host", b"127.0.0.1:4010"), (b"user-agent", b"wrk")]
    if secret:
        headers.append((b"authorization", b"Bearer " + secret.encode()))
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": "DELETE", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 4010),
            "extensions": {}}

scopes = [scope_for(a, s) for a, s in plan["requests"]]
statuses = {}

async def receive():
    return {"type": "http.request", "body": b"", "more_body": False}

async def send(message):
    if message["type"] == "http.response.start":
        statuses[message["status"]] = statuses.get(message["status"], 0) + 1

async def serve(batch):
    for scope in batch:
        await app(scope, receive, send)

storage = app.storage
loop = asyncio.new_event_loop()
warm = plan["warmup"]
loop.run_until_complete(serve(scopes[:warm]))
storage.flush_journal()
statuses.clear()
gc.collect()
toggle.count_on()
loop.run_until_complete(serve(scopes[warm:]))
storage.flush_journal()  # what the housekeeping thread had not written yet: these requests' entries
toggle.count_off()
print(json.dumps({"statuses": statuses}))
storage.close()
"""


def build_toggle(workdir: Path) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        sys.exit("request_instructions: needs a C compiler (cc) for valgrind's client requests")
    source, lib = workdir / "toggle.c", workdir / "toggle.so"
    source.write_text(TOGGLE_C)
    subprocess.run([cc, "-O1", "-shared", "-fPIC", "-o", str(lib), str(source)], check=True)
    return lib


def plan_requests(kind: str, tier: str, seeded: dict, warmup: int, requests: int) -> list[tuple[str, str | None]]:
    n = warmup + requests
    if kind == "401":
        return [(seeded["unknown"], None)] * n
    if kind == "404":
        return [(seeded["unknown"], seeded["internal"])] * n
    keys = seeded["partner"] if tier == "partner" else [seeded["internal"]]
    return [(account, keys[i % len(keys)]) for i, account in enumerate(seeded["ids"][:n])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=("401", "404", "200"), required=True)
    parser.add_argument("--tier", choices=("partner", "internal"), default="partner", help="the 200's keys")
    parser.add_argument("--requests", type=int, default=400, help="requests counted")
    parser.add_argument("--warmup", type=int, default=200, help="requests before the count")
    parser.add_argument("--tree", default=str(ROOT), help="the checkout whose mock_server is measured")
    parser.add_argument("--one-worker", action="store_true", help="one worker's metrics (no shared directory)")
    parser.add_argument("--annotate", type=int, default=0, metavar="N", help="also print the N costliest functions")
    parser.add_argument("--keep", metavar="PREFIX", help="keep callgrind's files (PREFIX-01: the loop's thread)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("request_instructions: needs valgrind")

    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="layers-instructions-") as tmp:
        work = Path(tmp)
        toggle = build_toggle(work)
        database = work / "state.sqlite3"
        # 600 partner keys, as bench/run.py's partner columns; fresh accounts for every 200.
        accounts = args.warmup + args.requests if args.kind == "200" else 0
        seeded = json.loads(
            subprocess.run(
                [python, "-c", SEED, str(ROOT / "bench"), str(database), str(accounts), "600"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        metrics_dir = None
        if not args.one_worker:
            metrics_dir = work / "metrics"
            metrics_dir.mkdir()
        plan = {
            "database": str(database),
            "metrics_dir": None if metrics_dir is None else str(metrics_dir),
            "warmup": args.warmup,
            "requests": plan_requests(args.kind, args.tier, seeded, args.warmup, args.requests),
        }
        plan_file = work / "plan.json"
        plan_file.write_text(json.dumps(plan))
        out = work / "callgrind.out"
        env = {k: v for k, v in os.environ.items() if k not in ("PROMETHEUS_MULTIPROC_DIR", "LAYERS_MOCK_SETTINGS")}
        env["PYTHONHASHSEED"] = "0"  # the same dict layouts, run to run
        done = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                "--separate-threads=yes",  # the event loop's thread apart from the housekeeping's
                f"--callgrind-out-file={out}",
                python,
                "-c",
                MEASURE,
                args.tree,
                str(plan_file),
                str(toggle),
            ],
            env=env,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            sys.exit(f"request_instructions: the measured run failed:\n{done.stderr[-4000:]}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        # One file per thread (`out-01` the main thread: the event loop); callgrind writes a
        # `summary:` header (0: nothing counted at start) and the `totals:`.
        per_thread = {}
        for part in sorted(work.glob("callgrind.out-*")):
            match = re.search(r"^totals:\s*(\d+)", part.read_text(errors="replace"), re.M)
            per_thread[part.name.rsplit("-", 1)[1]] = int(match.group(1)) if match else 0
        loop_thread = per_thread.get("01", 0)
        total = sum(per_thread.values())
        report = {
            "kind": args.kind,
            "tier": args.tier if args.kind == "200" else None,
            "tree": args.tree,
            "requests": args.requests,
            "statuses": result["statuses"],
            "metrics": "one worker" if args.one_worker else "several workers (shared directory)",
            "instructions_per_request": round(total / args.requests),
            # The event loop's thread: the request path itself, the same count run to run; the
            # rest (the journal's writes, checkpoints) moves with their timing.
            "loop_thread": round(loop_thread / args.requests),
            "other_threads": round((total - loop_thread) / args.requests),
        }
        print(json.dumps(report, indent=1))
        if args.annotate:
            annotated = subprocess.run(
                [
                    "callgrind_annotate",
                    "--inclusive=no",
                    "--threshold=100",
                    *map(str, sorted(work.glob("callgrind.out-*"))),
                ],
                capture_output=True,
                text=True,
            ).stdout
            lines = [line for line in annotated.splitlines() if re.match(r"^\s*[\d,]+ \(", line)]
            print("\n".join(lines[: args.annotate]))
        if args.keep:
            for part in sorted(work.glob("callgrind.out-*")):
                shutil.copy(part, args.keep + part.name[len("callgrind.out") :])


if __name__ == "__main__":
    main()
