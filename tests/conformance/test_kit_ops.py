"""The kit's operational promises (issue 22): a verdict that never hides a violation, an early stop
on a target that is not this API, capped reports that name the kit and the contract.

The targets are small loopback servers (ops_servers.py, hostile_servers.py) in this process's
threads; the kit runs in-process through its real `main`."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from ops_servers import HostileServer  # registers the ops behaviours too

from conformance import cli
from conformance.report import MAX_CURL_CHARS, cut, identity
from conformance.results import Results
from contract.spec import spec_sha256

pytestmark = pytest.mark.e2e  # loopback servers and whole runs of the kit

KEY = "lp_test_Zq8TopSecretKeyValue4711xYz"


def run(tmp_path: Path, base_url: str, *args: str) -> tuple[int, dict, str, str]:
    report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
    for f in (report, junit):
        f.unlink(missing_ok=True)
    code = cli.main(
        ["--base-url", base_url, "--api-key", KEY, *args, "--report-json", str(report), "--junit-xml", str(junit)]
    )
    return code, json.loads(report.read_text()), junit.read_text(), report.read_text()


def test_a_429_without_retry_after_is_exit_1_ten_runs_in_a_row(tmp_path, capsys):
    """Before: the failure was recorded, then the 429 storm stopped the run and it exited 2."""
    with HostileServer("bare-429") as server:
        for _ in range(10):
            code, report, _, _ = run(tmp_path, server.base_url, "--no-fuzz")
            assert code == 1, report
            assert "retry_after_is_integer_seconds" in report["failedChecks"]
            assert report["complete"] is False and "still answered 429" in report["error"]
    out = capsys.readouterr().out
    assert "NOT CONFORMANT: " in out and "RUN NOT COMPLETED: " in out
    assert "Result: ERROR" not in out


@pytest.mark.parametrize("args", [["--max-wait", "0"], ["--max-requests", "2"], ["--max-total-wait", "1"]])
def test_whatever_stops_the_run_after_a_violation_the_exit_is_1(args, tmp_path):
    with HostileServer("bare-429") as server:
        code, report, junit, _ = run(tmp_path, server.base_url, "--no-fuzz", *args)
    assert code == 1, report
    assert "retry_after_is_integer_seconds" in report["failedChecks"] and report["error"]
    suite = ET.fromstring(junit)
    assert suite.get("errors") == "1" and int(suite.get("failures")) >= 1  # the incomplete part, beside it


def test_a_stop_with_no_violation_seen_is_still_exit_2(tmp_path):
    with HostileServer("storm", retry_after="120") as server:
        code, report, _, _ = run(tmp_path, server.base_url)
    assert code == 2 and report["failedChecks"] == [] and "exceeds --max-wait" in report["error"]


def test_stopped_is_monotone():
    results = Results()
    assert cli.stopped(results, "x") == (2, "x")
    results.failed("some_check", "check", "it failed")
    assert cli.stopped(results, "x") == (1, "x")


def test_every_report_names_the_kit_version_and_the_spec_hash(tmp_path, capsys):
    with HostileServer("bare-429") as server:
        _, report, junit, _ = run(tmp_path, server.base_url, "--no-fuzz", "--max-wait", "0")
    out = capsys.readouterr().out
    assert report["specSha256"] == spec_sha256() and report["kitVersion"] == identity()["kitVersion"]
    assert spec_sha256() in out and f"layers-conformance {identity()['kitVersion']}" in out
    props = {p.get("name"): p.get("value") for p in ET.fromstring(junit).find("properties")}
    assert props == {"kitVersion": identity()["kitVersion"], "specSha256": spec_sha256()}


def test_cut_marks_what_it_left_out():
    assert cut("abc", 3) == "abc" and cut(None, 3) is None
    assert cut("abcdef", 3) == "abc…[cut: 3 more characters]"


def test_curl_lines_in_reports_are_capped(tmp_path, capsys):
    """The boundary ids (1 KB, 10 KB) made curl lines as long; every report now cuts them, and says so."""
    with HostileServer("record") as server:  # 404 to everything: the 1 KB id's 400 is missed
        _, report, junit, _ = run(tmp_path, server.base_url, "--no-fuzz", "--only", "boundary_ids_answer_400")
    out = capsys.readouterr().out
    curls = [f["curl"] for c in report["checks"] for f in c["failures"] if f["curl"]]
    assert curls and all(len(c) <= MAX_CURL_CHARS + 40 for c in curls)
    assert any("…[cut: " in c for c in curls)
    assert max(len(line) for line in out.splitlines()) <= MAX_CURL_CHARS + 100
    assert max(len(line) for line in junit.splitlines()) <= 4 * MAX_CURL_CHARS
