"""The catalog's table: for each class of broken implementation, how many a kit catches, and how
many correct variants it flags (false alarms). Runs the kit of one or more source trees against
every entry of broken_impls.py, the way test_broken_catalog.py does (staging-style worlds made
through the mock's control plane; `--mock-control` for the few entries that need it).

    .venv/bin/python tests/conformance/catalog_table.py                         # this tree's kit
    git archive <commit> | tar -x -C /tmp/kit-before
    .venv/bin/python tests/conformance/catalog_table.py --kit before=/tmp/kit-before --kit after=.

Each kit runs as a process of its own (`PYTHONPATH=<tree>`); `--jobs` mocks and proxies serve the
runs side by side. A bug counts as caught when the kit exits 1 naming the check written for it
(`intended_check`); "caught (other)" when it exits 1 for another check only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path[:0] = [str(HERE), str(ROOT)]

from broken_impls import CATALOG, CLASSES, NEW_CLASSES, VARIANTS  # noqa: E402
from servers import serve_broken_impls  # noqa: E402
from staging import make_staging_world  # noqa: E402

from mock_control import ControlClient  # noqa: E402
from mock_control.launcher import MockProcess  # noqa: E402

FAST = ["--examples", "2"]
RUN_KIT = "import sys; from conformance import cli; sys.exit(cli.main(sys.argv[1:]))"


def run_entry(tree: Path, entry, base: str, control: ControlClient, tmp: Path) -> dict:
    control.reset()
    world = [] if entry.needs_control else make_staging_world(control, tmp)
    report = tmp / f"{entry.name}.json"
    args = ["--base-url", f"{base}/bug/{entry.name}", *FAST, *world, *entry.kit_args, "--report-json", str(report)]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env = {k: v for k, v in env.items() if not k.startswith("LAYERS_")}
    proc = subprocess.run(
        [sys.executable, "-c", RUN_KIT, *args], env=env, cwd=tmp, capture_output=True, text=True, timeout=600
    )
    try:
        data = json.loads(report.read_text())
    except (OSError, ValueError):
        data = {"failedChecks": [], "error": proc.stderr[-500:]}
    return {"code": proc.returncode, "failed": data.get("failedChecks", []), "error": data.get("error")}


def verdict(entry, outcome: dict) -> str:
    if entry.bug_class == "correct":
        return "passed" if outcome["code"] == 0 and not outcome["failed"] else "FALSE ALARM"
    if outcome["code"] == 1 and entry.intended_check in outcome["failed"]:
        return "caught"
    if outcome["code"] == 1:
        return "caught (other)"
    return "missed" if outcome["code"] == 0 else f"error (exit {outcome['code']})"


def run_all(
    trees: dict[str, Path], names: list[str], jobs: int, save: Path | None = None
) -> dict[str, dict[str, dict]]:
    """Every (kit, entry) outcome; with `save`, kept there after each one, and the ones already
    there are not run again (a long run that was stopped goes on where it was)."""
    entries = {**CATALOG, **VARIANTS}
    results: dict[str, dict[str, dict]] = defaultdict(dict)
    if save is not None and save.exists():
        for label, outcomes in json.loads(save.read_text()).items():
            results[label].update(outcomes)
    work = [(label, name) for label in trees for name in names if name not in results[label]]
    lock = threading.Lock()

    def worker() -> None:
        with MockProcess() as mock, tempfile.TemporaryDirectory() as tmpdir:
            proxy, base = serve_broken_impls(mock.base_url)
            try:
                with ControlClient(mock.base_url) as control:
                    while True:
                        with lock:
                            if not work:
                                return
                            label, name = work.pop(0)
                        entry = entries[name]
                        tmp = Path(tmpdir) / f"{label}-{name}"
                        tmp.mkdir()
                        outcome = run_entry(trees[label], entry, base, control, tmp)
                        outcome["verdict"] = verdict(entry, outcome)
                        with lock:
                            results[label][name] = outcome
                            if save is not None:
                                save.write_text(json.dumps(results, indent=2))
                        print(f"  {label:>8} {name}: {outcome['verdict']} {outcome['failed'][:4]}", file=sys.stderr)
            finally:
                proxy.terminate()
                proxy.wait(10)

    threads = [threading.Thread(target=worker) for _ in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def table(results: dict[str, dict[str, dict]], names: list[str]) -> str:
    labels = list(results)
    entries = {**CATALOG, **VARIANTS}
    classes = [*CLASSES, "correct"]
    head = "| class | new in issue 22 | entries | " + " | ".join(
        f"{label}: caught (intended) | {label}: caught (other) / missed" for label in labels
    )
    lines = [head + " |", "|" + "---|" * (3 + 2 * len(labels))]
    totals = {label: [0, 0, 0] for label in labels}
    for cls in classes:
        members = [n for n in names if entries[n].bug_class == cls]
        if not members:
            continue
        row = [cls, "**new**" if cls in NEW_CLASSES else "", str(len(members))]
        for label in labels:
            verdicts = [results[label][n]["verdict"] for n in members if n in results[label]]
            if cls == "correct":
                alarms = sum(v != "passed" for v in verdicts)
                row += [
                    f"{len(verdicts) - alarms} passed",
                    f"**{alarms} false alarm(s)**" if alarms else "0 false alarms",
                ]
                continue
            caught = sum(v == "caught" for v in verdicts)
            other = sum(v == "caught (other)" for v in verdicts)
            missed = len(verdicts) - caught - other
            totals[label][0] += caught
            totals[label][1] += other
            totals[label][2] += missed
            row += [f"{caught}/{len(verdicts)}", f"{other} / {missed}"]
        lines.append("| " + " | ".join(row) + " |")
    bugs = sum(1 for n in names if entries[n].bug_class != "correct")
    total_row = ["all broken", "", str(bugs)]
    for label in labels:
        caught, other, missed = totals[label]
        total_row += [f"{caught}/{bugs}", f"{other} / {missed}"]
    lines.append("| " + " | ".join(total_row) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kit", action="append", default=[], help="label=source tree (default: this tree)")
    parser.add_argument("--only", default="", help="comma-separated entry names")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--json", help="keep every outcome here (and skip the ones already there)")
    args = parser.parse_args()
    trees = dict(k.split("=", 1) for k in args.kit) if args.kit else {"this": str(ROOT)}
    names = [n for n in args.only.split(",") if n] or sorted(CATALOG) + sorted(VARIANTS)
    save = Path(args.json) if args.json else None
    results = run_all({k: Path(v).resolve() for k, v in trees.items()}, names, args.jobs, save)
    print(table({label: results[label] for label in trees}, names))
    for label, outcomes in results.items():
        for name in names:
            v = outcomes.get(name, {}).get("verdict")
            if v not in ("caught", "passed"):
                print(f"{label}: {name}: {v} {outcomes.get(name, {}).get('failed')}")


if __name__ == "__main__":
    main()
