"""The kit against the real mock on loopback: the runs the issue asks to show, its exit codes,
its reports, and its manners (request bound, Retry-After, revoking only what it was given)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance import cli
from contract import CONTRACT
from mock_control.launcher import free_port

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

KIT = [sys.executable, "-c", "import sys; from conformance.cli import main; sys.exit(main())"]
ROOT = Path(__file__).resolve().parents[2]


def kit_process(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    """The kit as CI runs it: a separate process, arguments or LAYERS_* environment variables."""
    return subprocess.run(
        KIT + args,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
    )


def provision_accounts(control, queued: list[int]) -> dict:
    """What an operator prepares for a run against staging: keys, accounts, a foreign account."""
    org = control.create_organization("staging-like")
    write = control.create_key(org["id"], [CONTRACT.required_scope], tier="partner")
    read_only = control.create_key(org["id"], ["social:read"], tier="partner")
    accounts = [control.create_account(org["id"], posts={"queued": n, "published": 1, "draft": 1}) for n in queued]
    bystander = control.create_account(org["id"], queued=2)  # not handed to the kit
    foreign = control.create_account(control.create_organization("other")["id"], queued=1)
    return {
        "org": org,
        "write": write,
        "read_only": read_only,
        "accounts": accounts,
        "bystander": bystander,
        "foreign": foreign,
    }


def test_mock_control_run_sees_all_nine_statuses(kit_mock, keys, tmp_path):
    junit, report = tmp_path / "junit.xml", tmp_path / "report.json"
    proc = kit_process(
        [
            "--base-url",
            kit_mock.base_url,
            "--api-key",
            keys["write"]["secret"],
            "--mock-control",
            "--junit-xml",
            str(junit),
            "--report-json",
            str(report),
        ]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(report.read_text())
    assert [row["status"] for row in data["statuses"] if row["seen"]] == CONTRACT.documented_statuses
    assert "[fuzz] positive" in proc.stderr and "[scenario] revoke_succeeds: ok" in proc.stderr
    assert "== Documented statuses ==" in proc.stdout
    assert f"Result: CONFORMANT: {len(data['passedChecks'])} checks passed, 0 skipped (exit 0)" in proc.stdout
    suite = ET.parse(junit).getroot()
    names = {case.get("name") for case in suite.iter("testcase")}
    assert {
        "error_code_matches_status",
        "second_revoke_answers_404",
        "response_schema_conformance",
        "concurrent_revokes_one_succeeds",
        "foreign_404_indistinguishable",
        "no_unexpected_server_error",
    } <= names
    assert suite.get("failures") == "0" and len(names) == len(data["checks"])
    assert all(case.get("time") is not None for case in suite.iter("testcase"))
    assert not any(c["strict"] for c in data["checks"]), "strict checks run only under --strict"


def test_accounts_file_run_is_conformant_and_revokes_only_given_accounts(kit_control, kit_mock, tmp_path):
    # Six: the revoke, the replay, the bystander, the race and the two boundaries (0 and 1 queued).
    world = provision_accounts(kit_control, [3, 0, 5, 1, 2, 4])
    accounts_file = tmp_path / "accounts.json"
    accounts_file.write_text(
        json.dumps(
            {
                "accounts": [
                    {"socialAccountId": a["socialAccountId"], "queuedPosts": a["posts"].get("queued", 0)}
                    for a in world["accounts"]
                ]
            }
        )
    )
    report = tmp_path / "report.json"
    proc = kit_process(
        [
            "--base-url",
            kit_mock.base_url,
            "--api-key",
            world["write"]["secret"],
            "--read-only-key",
            world["read_only"]["secret"],
            "--foreign-account-id",
            world["foreign"]["socialAccountId"],
            "--accounts",
            str(accounts_file),
            "--report-json",
            str(report),
        ]
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(report.read_text())
    outcomes = {c["name"]: c["outcome"] for c in data["checks"]}
    for name in (
        "revoke_answers_200",
        "canceled_posts_equal_queued",
        "second_revoke_answers_404",
        "idempotent_replay_same_response",
        "idempotency_key_reuse_answers_409",
        "read_only_key_answers_403",
        "foreign_account_answers_404",
        "concurrent_revokes_one_succeeds",
        "foreign_404_indistinguishable",
        "boundary_ids_answer_400",
        "lenient_credentials_answer_401",
    ):
        assert outcomes[name] == "passed", (name, outcomes[name])
    seen = {row["status"]: row["seen"] for row in data["statuses"]}
    assert not seen[500] and not seen[503], "500 and 503 cannot be caused without the control plane"
    # Nothing it was not given: the bystander and the foreign account are untouched.
    assert kit_control.account(world["bystander"]["socialAccountId"])["status"] == "connected"
    assert kit_control.account(world["foreign"]["socialAccountId"])["status"] == "connected"
    revoked = [a for a in world["accounts"] if kit_control.account(a["socialAccountId"])["status"] == "disconnected"]
    assert 0 < len(revoked) <= len(world["accounts"])
    assert kit_control.integrity()["ok"]


def test_without_accounts_nothing_is_revoked(kit_control, kit_mock, keys, default_world):
    """Non-destructive run, configured the CI way: through LAYERS_* environment variables."""
    foreign = next(a for a in default_world["accounts"] if a["organizationId"] != keys["write"]["organizationId"])
    proc = kit_process(
        [],
        env={
            "LAYERS_BASE_URL": kit_mock.base_url,
            "LAYERS_API_KEY": keys["write"]["secret"],
            "LAYERS_READ_ONLY_KEY": keys["read-only"]["secret"],
            "LAYERS_FOREIGN_ACCOUNT_ID": foreign["id"],
        },
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert kit_control.state()["counts"]["revocations"] == 0
    assert "revoke_succeeds: skipped" in proc.stderr
    # Keys never reach the log: curl lines refer to the environment variables instead.
    assert keys["write"]["secret"] not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "args, says",
    [
        (["--api-key", "k"], "--base-url"),
        (["--base-url", "{mock}", "--api-key", "k", "--accounts", "{bad_json}"], "not valid JSON"),
        (["--base-url", "{mock}", "--api-key", "k", "--accounts", "{bad_shape}"], "socialAccountId"),
        (["--base-url", "{mock}", "--api-key", "lp_not_a_key"], "rejected with 401"),
        (["--base-url", "{mock}", "--api-key", "k", "--only", "no_such_scenario"], "no such scenario"),
        (["--base-url", "{mock}", "--max-requests", "many"], "bad arguments"),
    ],
)
def test_a_run_that_cannot_be_made_exits_2(args, says, kit_mock, tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "shape.json").write_text(json.dumps({"accounts": [{"socialAccountId": "acct-1", "queuedPosts": 1}]}))
    subs = {"mock": kit_mock.base_url, "bad_json": tmp_path / "bad.json", "bad_shape": tmp_path / "shape.json"}
    try:
        code = cli.main([a.format(**subs) for a in args])
    except SystemExit as exc:  # argparse's own exit
        code = exc.code
    out = capsys.readouterr()
    assert code == 2, out.out + out.err
    assert says in out.out + out.err


def test_unreachable_target_exits_2_and_says_so(tmp_path):
    junit = tmp_path / "junit.xml"
    proc = kit_process(["--base-url", f"http://127.0.0.1:{free_port()}", "--api-key", "k", "--junit-xml", str(junit)])
    assert proc.returncode == 2
    assert "target unreachable" in proc.stderr
    errors = list(ET.parse(junit).getroot().iter("error"))
    assert errors and "unreachable" in errors[0].get("message")


def test_request_bound_is_honoured(kit, kit_mock, keys):
    code, report = kit("--base-url", kit_mock.base_url, "--api-key", keys["write"]["secret"], "--max-requests", "12")
    assert code == 2 and "--max-requests 12" in report["error"]
    assert report["requests"] == 12


def test_a_429_during_the_run_is_waited_out_not_failed(kit, kit_control, kit_mock):
    """The kit's own key is out of budget when the run starts: it waits Retry-After and goes on."""
    org = kit_control.create_organization("busy")
    key = kit_control.create_key(org["id"], [CONTRACT.required_scope], tier="partner")
    kit_control.set_budget(key["id"], 0)
    code, report = kit("--base-url", kit_mock.base_url, "--api-key", key["secret"], "--mock-control")
    assert code == 0, report["failedChecks"]
    assert any("honoured a 429" in note for note in report["notes"])
    # Only the 405s of the probes of other methods (decision 12): the 429s were waited out.
    assert set(report["undocumentedStatuses"]) <= {"405"}


def test_retry_after_beyond_max_wait_stops_the_run(kit, kit_control, kit_mock):
    org = kit_control.create_organization("busy")
    key = kit_control.create_key(org["id"], [CONTRACT.required_scope], tier="partner")
    kit_control.set_budget(key["id"], 0)
    code, report = kit("--base-url", kit_mock.base_url, "--api-key", key["secret"], "--max-wait", "0")
    assert code == 2 and "exceeds --max-wait" in report["error"]
    assert report["requests"] == 1, "one 429 is enough to know; the kit does not hammer"


def test_burst_reaches_429_and_a_real_wait_succeeds(kit, kit_control, kit_mock, tmp_path):
    """The staging path of the rate-limit scenario: a burst, then a real sleep of Retry-After."""
    world = provision_accounts(kit_control, [1, 1, 1, 1, 1])
    accounts_file = tmp_path / "accounts.json"
    accounts_file.write_text(
        json.dumps(
            {"accounts": [{"socialAccountId": a["socialAccountId"], "queuedPosts": 1} for a in world["accounts"]]}
        )
    )
    # Three seconds before the mock's minute ends, with one request of budget left (the kit's
    # probe spends it): the burst meets 429 at once and Retry-After is short, so the real wait
    # stays short.
    now = dt.datetime.now(dt.UTC).replace(second=57, microsecond=0) + dt.timedelta(minutes=1)
    kit_control.set_clock(now=now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    kit_control.set_budget(world["write"]["id"], 1)
    code, report = kit(
        "--base-url",
        kit_mock.base_url,
        "--api-key",
        world["write"]["secret"],
        "--accounts",
        str(accounts_file),
        "--burst",
        "--no-fuzz",
        "--max-wait",
        "10",
        "--only",
        "rate_limit_retry_after_succeeds",
    )
    assert code == 0, report["failedChecks"]
    outcome = {c["name"]: c["outcome"] for c in report["checks"]}
    assert outcome["rate_limit_answers_429"] == "passed" and outcome["rate_limit_retry_after_succeeds"] == "passed"


def test_strict_run_labels_its_checks(kit, kit_mock, keys):
    code, report = kit(
        "--base-url", kit_mock.base_url, "--api-key", keys["write"]["secret"], "--mock-control", "--strict"
    )
    assert code == 0, report["failedChecks"]
    strict = {c["name"] for c in report["checks"] if c["strict"]}
    assert {"strict_id_shape_is_sa_uuid", "strict_order_of_checks", "strict_replay_is_verbatim"} <= strict
