"""The kit's operational promises (issue 22): a verdict that never hides a violation, an early stop
on a target that is not this API, capped reports that name the kit and the contract.

The targets are small loopback servers (ops_servers.py, hostile_servers.py) in this process's
threads; the kit runs in-process through its real `main`."""

from __future__ import annotations

import json
import shlex
import sys
import time
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


# --- a target that is not this API -----------------------------------------------------------


def test_a_target_that_serves_html_stops_at_once_with_a_short_log(tmp_path, capsys):
    """Before: a 26 KB log of failures with 10 KB curl lines."""
    with HostileServer("html") as server:
        code, report, _, _ = run(tmp_path, server.base_url)
        sent = len(server.requests)
    out = capsys.readouterr()
    assert code == 2, report
    assert report["error"].startswith("this is not the Layers API: it answered 200 text/html")
    assert report["failedChecks"] == [] and sent == 1
    assert len(out.out) + len(out.err) < 4000, out.out + out.err


# --- parallel requests, within bounds -----------------------------------------------------------


@pytest.mark.parametrize("parallel", [1, 3])
def test_requests_in_flight_never_pass_parallel(parallel, tmp_path):
    with HostileServer("late-404", delay=0.2) as server:
        _, report, _, _ = run(tmp_path, server.base_url, "--parallel", str(parallel), "--examples", "3")
        peak = server.opts["peak"]
    assert report["requests"] > 20 and peak <= parallel, (peak, report["requests"])
    if parallel > 1:
        assert peak == parallel, "independent scenarios did not overlap"


def test_pacer_keeps_to_the_budget_of_its_window():
    from conformance.pacing import Pacer

    pacer = Pacer(3, tier="test", window=0.5)
    started = time.monotonic()
    for _ in range(3):
        pacer.acquire()
    assert time.monotonic() - started < 0.4
    pacer.acquire()  # the fourth waits for the first to leave the window
    assert time.monotonic() - started >= 0.45 and pacer.paused > 0


def test_a_burst_cut_short_names_the_tier_and_its_budget(tmp_path, capsys):
    with HostileServer("record") as server:
        _, report, _, _ = run(
            tmp_path,
            server.base_url,
            "--no-fuzz",
            "--burst",
            "--burst-limit",
            "120",
            "--key-tier",
            "partner",
            "--only",
            "rate_limit_retry_after_succeeds",
        )
    err = capsys.readouterr().err
    assert "[burst] 50 of at most 120 requests (--burst-limit), no 429 yet" in err
    assert "[burst] 100 of at most 120" in err
    skipped = next(c["skipped"] for c in report["checks"] if c["name"] == "rate_limit_retry_after_succeeds")
    assert "partner-tier (--key-tier): 3,000 requests a minute" in skipped and "--burst-limit 3001" in skipped


def test_a_key_tier_that_is_not_one_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--base-url", "http://127.0.0.1:9", "--api-key", KEY, "--key-tier", "gold"])
    assert exit_.value.code == 2 and "is not a key tier: standard, pilot, partner" in capsys.readouterr().err


# --- --accounts-command -----------------------------------------------------------------------


def _command(code: str) -> str:
    return shlex.join([sys.executable, "-c", code])


@pytest.mark.parametrize(
    "code, says",
    [
        ("import sys; print('token=lp_live_Zq8SecretFromTheVault', file=sys.stderr); sys.exit(3)", "exit status 3"),
        ("import time; time.sleep(30)", "did not finish within --accounts-command-timeout 1s"),
        ("import sys; sys.stdout.write('x' * 3_000_000)", "printed more than 1,048,576 bytes"),
        ("print('not json')", "not valid JSON"),
        ('print(\'{"accounts": [{"socialAccountId": "acct-1", "queuedPosts": 1}]}\')', "is not a"),
    ],
)
def test_an_accounts_command_that_fails_is_exit_2_with_its_stderr_and_no_secret(code, says, tmp_path, capsys):
    started = time.monotonic()
    status = cli.main(
        [
            "--base-url",
            "http://127.0.0.1:9",
            "--api-key",
            KEY,
            "--accounts-command",
            _command(code),
            "--accounts-command-timeout",
            "1",
        ]
    )
    out = capsys.readouterr()
    assert status == 2 and says in out.err, out.err
    assert "Zq8SecretFromTheVault" not in out.out + out.err
    if "exit status" in says:
        assert "its stderr:\n[redacted]" in out.err, "the stderr is shown, what looks like a credential is not"
    assert time.monotonic() - started < 20
    assert "time.sleep" not in out.err, "the command line is not echoed (it may carry a token)"


def test_accounts_and_accounts_command_exclude_each_other(tmp_path, capsys):
    code = cli.main(
        ["--base-url", "http://127.0.0.1:9", "--api-key", KEY, "--accounts", "a.json", "--accounts-command", "true"]
    )
    assert code == 2 and "exclude each other" in capsys.readouterr().err


# --- stale accounts, fresh accounts per run ---------------------------------------------------------


def _connected(control, accounts_file: str) -> set[str]:
    ids = [a["socialAccountId"] for a in json.loads(Path(accounts_file).read_text())["accounts"]]
    return {i for i in ids if control.account(i)["status"] == "connected"}


def test_a_rerun_with_used_accounts_is_stale_exit_2_and_revokes_nothing(kit, kit_mock, kit_control, staging_args):
    """Before: the second run was NOT CONFORMANT (the server blamed for the file's 404s)."""
    world = staging_args()
    args = ["--base-url", kit_mock.base_url, "--no-fuzz", *world]
    code, report = kit(*args)
    assert code == 0, report["failedChecks"]
    left = _connected(kit_control, world[world.index("--accounts") + 1])
    code, report = kit(*args)
    assert code == 2 and report["failedChecks"] == [], report
    assert report["error"].startswith("stale accounts: sa_") and "--accounts-command" in report["error"]
    assert _connected(kit_control, world[world.index("--accounts") + 1]) == left, "something else was revoked"


def test_accounts_command_gives_the_run_its_accounts(kit, kit_mock, staging_args):
    world = staging_args()
    at = world.index("--accounts")
    path = world[at + 1]
    command = _command(f"print(open({path!r}).read())")
    code, report = kit("--base-url", kit_mock.base_url, "--no-fuzz", *world[:at], "--accounts-command", command)
    assert code == 0, report["failedChecks"]
    outcome = {c["name"]: c["outcome"] for c in report["checks"]}
    assert outcome["revoke_answers_200"] == "passed" and outcome["canceled_posts_equal_queued"] == "passed"
