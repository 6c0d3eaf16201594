"""The long reliability soak (not in CI): the same checks as tests/reliability/, run longer.

    .venv/bin/python bench/soak_reliability.py                      # everything, defaults below
    .venv/bin/python bench/soak_reliability.py --only crash --crash-iterations 20

Parts (each bounded in count; every request has a timeout; loops end by themselves):
  crash        SIGKILL a two-worker mock under load, restart on the same state file, check
               integrity, acknowledged revokes and every account (N iterations in a row).
  concurrency  64 clients revoking overlapping accounts on a two-worker mock (R rounds):
               exact counts of revokes, 200s, 404s and canceled posts.
  fuzz         schemathesis `--checks all -m all` with several seeds.
  hostile      the hostile-input set of tests/reliability, R rounds, the server checked alive
               after every case.
Results are printed and written to bench/out/soak_reliability.json. Exit code 1 on any failure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mock_control import ControlClient  # noqa: E402
from mock_control.launcher import MockProcess  # noqa: E402
from tests.reliability.support import (  # noqa: E402
    NOT_FOUND,
    OK,
    LoadRun,
    account_is_whole,
    assert_alive,
    classify_hostile,
    crash_iteration,
    make_tenant,
    raw_exchange,
    revocation_rows,
    run_schemathesis,
    shuffled_plans,
)
from tests.reliability.test_hostile_input import HALF_CLOSED, hostile_cases  # noqa: E402


def soak_crash(workdir: Path, iterations: int) -> dict:
    rows, failures = [], []
    for i in range(1, iterations + 1):
        try:
            summary = crash_iteration(workdir, seed=1000 + i)
            rows.append(summary)
            print(f"crash {i:>3}/{iterations}: {summary}", flush=True)
        except AssertionError as exc:
            failures.append({"iteration": i, "error": str(exc)[:2000]})
            print(f"crash {i:>3}/{iterations}: FAILED {exc}", flush=True)
    violations = sum(r["integrity_violations"] for r in rows)
    print(
        f"crash: {len(rows)}/{iterations} iterations passed in a row, integrity violations: {violations}, "
        f"acknowledged revokes checked: {sum(r['oks_before_kill'] for r in rows)}, "
        f"committed but unacknowledged: {sum(r['committed_unacknowledged'] for r in rows)}",
        flush=True,
    )
    return {
        "iterations": iterations,
        "passed": len(rows),
        "integrity_violations": violations,
        "runs": rows,
        "failures": failures,
    }


def soak_concurrency(workdir: Path, rounds: int, clients: int = 64, accounts: int = 64) -> dict:
    out, failures = [], []
    with (
        MockProcess(workers=2, state=str(workdir / "concurrency.sqlite3")) as mock,
        ControlClient(mock.base_url) as control,
    ):
        for r in range(1, rounds + 1):
            tenant = make_tenant(control, accounts, queued_for=lambda i, r=r: (i * 5 + r) % 9, name=f"soak {r}")
            load = LoadRun(
                mock.base_url, tenant.secret, shuffled_plans(tenant.accounts, clients, seed=r, idem_every=8, tag="soak")
            ).run(600)
            oks = [x for x in load.results if x.status == OK]
            counts = {
                "round": r,
                "clients": clients,
                "accounts": accounts,
                "revokes": len(load.results),
                "200": len(oks),
                "404": sum(1 for x in load.results if x.status == NOT_FOUND),
                "other": sum(1 for x in load.results if x.status not in (OK, NOT_FOUND)),
                "transport_errors": len(load.transport_errors),
                "canceled": sum(x.body["canceledScheduledPosts"] for x in oks),
                "queued_seeded": sum(tenant.queued.values()),
            }
            problems = []
            if counts["revokes"] != clients * accounts or counts["transport_errors"]:
                problems.append("missing responses")
            if sorted(x.account for x in oks) != sorted(tenant.accounts):
                problems.append("not exactly one 200 per account")
            if counts["404"] != counts["revokes"] - accounts or counts["other"]:
                problems.append("unexpected statuses")
            if counts["canceled"] != counts["queued_seeded"]:
                problems.append("canceled != queued")
            for account, seeded in tenant.queued.items():
                p = account_is_whole(control.account(account), seeded)
                if p:
                    problems.append(f"{account}: {p}")
            rows = [x for x in revocation_rows(mock.state) if x["account_id"] in tenant.queued]
            if len(rows) != accounts:
                problems.append(f"{len(rows)} revocation records")
            integrity = control.integrity()
            if not integrity["ok"]:
                problems.append(f"integrity: {integrity['violations'][:3]}")
            counts["problems"] = problems
            print(f"concurrency round {r}/{rounds}: {counts}", flush=True)
            out.append(counts)
            if problems:
                failures.append(counts)
    return {"rounds": out, "failures": failures}


def soak_fuzz(workdir: Path, seeds: list[int], examples: int) -> dict:
    runs, failures = [], []
    with MockProcess(workers=2, state=str(workdir / "fuzz.sqlite3")) as mock, ControlClient(mock.base_url) as control:
        for seed in seeds:
            tenant = make_tenant(control, 20, queued_for=lambda i: i % 4, name=f"fuzz {seed}")
            run = run_schemathesis(
                mock.base_url,
                tenant.secret,
                tenant.accounts,
                seed=seed,
                max_examples=examples,
                workdir=workdir / "fuzz",
            )
            five = {s: n for s, n in run["statuses"].items() if s is None or s >= 500}
            ok = run["exit_code"] == 0 and not run["failures"] and not run["errors"] and not five
            print(
                f"fuzz seed {seed}: cases={run['cases']} modes={run['modes']} statuses={run['statuses']} "
                f"exit={run['exit_code']} failures={len(run['failures'])}",
                flush=True,
            )
            runs.append({k: v for k, v in run.items() if k != "output_tail"})
            if not ok:
                failures.append({"seed": seed, "tail": run["output_tail"]})
        integrity = control.integrity()
    total = sum(r["cases"] for r in runs)
    negative = sum(r["modes"].get("negative", 0) for r in runs)
    statuses = Counter()
    for r in runs:
        statuses.update({str(k): v for k, v in r["statuses"].items()})
    print(
        f"fuzz: {total} cases ({negative} negative) over seeds {seeds}; statuses {dict(statuses)}; "
        f"5xx: {sum(v for k, v in statuses.items() if k == 'None' or int(k) >= 500)}; "
        f"integrity ok: {integrity['ok']}",
        flush=True,
    )
    if not integrity["ok"]:
        failures.append({"integrity": integrity["violations"][:5]})
    return {"runs": runs, "cases": total, "negative": negative, "statuses": dict(statuses), "failures": failures}


def soak_hostile(workdir: Path, rounds: int) -> dict:
    outcomes, failures = Counter(), []
    with (
        MockProcess(workers=2, state=str(workdir / "hostile.sqlite3")) as mock,
        ControlClient(mock.base_url) as control,
    ):
        tenant = make_tenant(control, 1, queued_for=lambda i: 2, name="hostile soak")
        (account,) = tenant.accounts
        for _ in range(rounds):
            for name, (data, _) in hostile_cases(tenant.secret, account).items():
                try:
                    raw = raw_exchange(mock.port, data, half_close=name in HALF_CLOSED)
                    kind = classify_hostile(raw)
                    outcomes[kind] += 1
                    assert_alive(mock.base_url, tenant.secret)
                except Exception as exc:  # noqa: BLE001 - recorded and reported
                    failures.append({"case": name, "error": f"{type(exc).__name__}: {exc}"[:500]})
        view = control.account(account)
        if account_is_whole(view, 2) or view["status"] == "disconnected":
            failures.append({"case": "state", "error": f"account changed: {view['status']} {view['postCounts']}"})
    print(
        f"hostile: {sum(outcomes.values())} cases over {rounds} rounds: {dict(outcomes)}; failures: {len(failures)}",
        flush=True,
    )
    return {"rounds": rounds, "cases": sum(outcomes.values()), "outcomes": dict(outcomes), "failures": failures}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=["crash", "concurrency", "fuzz", "hostile"], action="append")
    p.add_argument("--crash-iterations", type=int, default=20)
    p.add_argument("--concurrency-rounds", type=int, default=3)
    p.add_argument("--fuzz-seeds", type=int, nargs="+", default=[11, 12, 13])
    p.add_argument("--fuzz-examples", type=int, default=1000)
    p.add_argument("--hostile-rounds", type=int, default=5)
    p.add_argument("--out", default=str(REPO / "bench" / "out" / "soak_reliability.json"))
    args = p.parse_args(argv)
    parts = args.only or ["crash", "concurrency", "fuzz", "hostile"]
    results: dict = {"started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    failed = False
    with tempfile.TemporaryDirectory(prefix="soak-reliability-") as tmp:
        workdir = Path(tmp)
        for part in parts:
            t0 = time.monotonic()
            try:
                if part == "crash":
                    results[part] = soak_crash(workdir, args.crash_iterations)
                elif part == "concurrency":
                    results[part] = soak_concurrency(workdir, args.concurrency_rounds)
                elif part == "fuzz":
                    results[part] = soak_fuzz(workdir, args.fuzz_seeds, args.fuzz_examples)
                else:
                    results[part] = soak_hostile(workdir, args.hostile_rounds)
            except Exception:  # noqa: BLE001 - a part that crashes is a failed part
                results[part] = {"failures": [traceback.format_exc()]}
            results[part]["seconds"] = round(time.monotonic() - t0, 1)
            failed |= bool(results[part]["failures"])
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    existing = json.loads(out.read_text()) if out.exists() else {}
    existing.update(results)
    out.write_text(json.dumps(existing, indent=1, default=str) + "\n")
    print(f"{'FAILED' if failed else 'OK'}; results in {out}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
