"""The client report against real clients over real HTTP (issue 24): misbehaving Python clients
are each flagged by exactly the rule they break; clients built on urllib3's `Retry` and on
tenacity are flagged by nothing; `layers-mock report` prints it and writes JUnit XML; an outside
partner project's pytest run fails on a client violation with the rule, the request and the fix."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
import uuid
from xml.etree import ElementTree as ET

import httpx
import pytest
import tenacity
import urllib3

from contract import CONTRACT
from contract.world import default_world
from mock_control import ControlClient
from mock_control.launcher import MockProcess

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

WRITE = next(k for k in default_world()["keys"] if CONTRACT.required_scope in k["scopes"])
RETRY_AFTER = CONTRACT.retry_after_header
IDEMPOTENCY = CONTRACT.idempotency_header


@pytest.fixture(scope="module")
def mock():
    with MockProcess(port=0) as proc:
        yield proc.ready()["baseUrl"]


@pytest.fixture
def control(mock):
    with ControlClient(mock) as client:
        client.reset()
        yield client


def new_account(control) -> str:
    return control.create_account(WRITE["organizationId"], queued=2)["socialAccountId"]


def flags(report: dict) -> dict[str, int]:
    return {r["id"]: r["flags"] for r in report["rules"] if r["flags"]}


def headers(idempotency_key: str | None = None) -> dict:
    sent = {"Authorization": f"Bearer {WRITE['secret']}"}
    if idempotency_key:
        sent[IDEMPOTENCY] = idempotency_key
    return sent


def show(control, name: str) -> dict:
    """The report, its text printed (the run's output is the issue's "report for each client")."""
    print(f"\n===== client report: {name} =====\n{control.client_report_text()}")
    return control.client_report()


# -- misbehaving clients ------------------------------------------------------------------------
def test_a_tight_retry_loop_is_flagged_by_that_rule_alone(mock, control):
    account = new_account(control)
    control.arm_fault(count=6, account_id=account)
    key = str(uuid.uuid4())
    with httpx.Client(base_url=mock) as http:
        status = 0
        while status != CONTRACT.success_status:  # no sleep, no cap: the loop the rule is for
            status = http.delete(CONTRACT.path_for(account), headers=headers(key)).status_code
    assert flags(show(control, "tight retry loop")) == {"no-tight-retry-loop": 3}


def test_a_client_that_ignores_retry_after_is_flagged_by_that_rule_alone(mock, control):
    account = new_account(control)
    control.arm_scenario([{"status": 429, "retryAfter": 2}, {"status": 200}], account_id=account)
    with httpx.Client(base_url=mock) as http:
        for _ in range(3):
            r = http.delete(CONTRACT.path_for(account), headers=headers())
            if r.status_code != 429:
                break
            time.sleep(0.3)  # its own idea of a pause, not the answer's Retry-After
    assert r.status_code == CONTRACT.success_status
    assert flags(show(control, "ignores Retry-After")) == {"honor-retry-after": 1}


def test_a_client_that_regenerates_the_idempotency_key_is_flagged_by_that_rule_alone(mock, control):
    account = new_account(control)
    control.arm_scenario([{"status": 500}, {"status": 500}, {"status": 200}], account_id=account)
    with httpx.Client(base_url=mock) as http:
        for attempt in range(4):
            r = http.delete(CONTRACT.path_for(account), headers=headers(str(uuid.uuid4())))  # new key each time
            if r.status_code != 500:
                break
            time.sleep(0.2 * 2**attempt)
    assert r.status_code == CONTRACT.success_status
    assert flags(show(control, "regenerates the Idempotency-Key")) == {"retry-500-same-idempotency-key": 2}


# -- well-behaved clients on common retry libraries -------------------------------------------
def test_a_client_on_urllib3_retry_is_flagged_by_nothing(mock, control):
    account, gone = new_account(control), f"sa_{uuid.uuid4()}"
    control.arm_scenario([{"status": 500}, {"status": 429, "retryAfter": 1}, {"status": 200}], account_id=account)
    retry = urllib3.Retry(
        total=4,
        status_forcelist=[429, 500],
        allowed_methods={"DELETE"},
        backoff_factor=0.2,
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    pool = urllib3.PoolManager(retries=retry)
    revoked = pool.request("DELETE", mock + CONTRACT.path_for(account), headers=headers(str(uuid.uuid4())))
    missing = pool.request("DELETE", mock + CONTRACT.path_for(gone), headers=headers(str(uuid.uuid4())))
    assert (revoked.status, missing.status) == (200, 404)
    report = show(control, "urllib3 Retry")
    assert report["ok"] and flags(report) == {} and report["graded"] == 4


def test_a_client_on_tenacity_is_flagged_by_nothing(mock, control):
    account = new_account(control)
    control.arm_scenario([{"status": 429, "retryAfter": 1}, {"status": 500}, {"status": 200}], account_id=account)

    def wait_retry_after_or_backoff(state: tenacity.RetryCallState) -> float:
        answer = state.outcome.result()
        backoff = tenacity.wait_exponential(multiplier=0.2)(state)
        return max(float(answer.headers.get(RETRY_AFTER, 0)), backoff)

    key = str(uuid.uuid4())  # one key for every attempt of this revoke
    with httpx.Client(base_url=mock) as http:

        @tenacity.retry(
            retry=tenacity.retry_if_result(lambda r: r.status_code in (429, 500)),
            wait=wait_retry_after_or_backoff,
            stop=tenacity.stop_after_attempt(5),
        )
        def revoke() -> httpx.Response:
            return http.delete(CONTRACT.path_for(account), headers=headers(key))

        assert revoke().status_code == CONTRACT.success_status
    report = show(control, "tenacity")
    assert report["ok"] and flags(report) == {} and report["graded"] == 3


# -- where partners look: the CLI and an outside project ---------------------------------------
def test_layers_mock_report_prints_and_writes_junit(mock, control, tmp_path):
    missing = f"sa_{uuid.uuid4()}"
    with httpx.Client(base_url=mock) as http:
        for _ in range(2):
            http.delete(CONTRACT.path_for(missing), headers=headers())
    junit = tmp_path / "client-report.xml"
    run = subprocess.run(
        [sys.executable, "-m", "mock_server.cli", "report", "--url", mock, "--junit", str(junit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1, run.stderr
    assert "[advice] no-unchanged-repeat-after-4xx: 1 flagged" in run.stdout
    suite = ET.parse(junit).getroot()
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert failed == ["no-unchanged-repeat-after-4xx"] and suite.get("tests") == str(len(flags_all(control)))
    only_violations = subprocess.run(
        [sys.executable, "-m", "mock_server.cli", "report", "--url", mock, "--fail-on", "violation", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert only_violations.returncode == 0 and json.loads(only_violations.stdout)["advice"] == 1


def flags_all(control) -> list[str]:
    return [r["id"] for r in control.client_report()["rules"]]


def test_an_outside_project_fails_on_a_client_violation_naming_rule_request_and_fix(tmp_path):
    """A partner's own project: a temporary directory, a test using the installed plugin's
    `layers_mock`, a client that retries a 429 at once; `pytest` in a process of its own."""
    (tmp_path / "test_partner_client.py").write_text(
        textwrap.dedent(
            """
            import httpx

            def naive_revoke(base_url, key, account_id):
                # the partner's client: retries a 429 at once, Retry-After unread
                with httpx.Client(base_url=base_url) as http:
                    for _ in range(3):
                        r = http.delete(f"/v1/social-accounts/{account_id}", headers={"Authorization": f"Bearer {key}"})
                        if r.status_code != 429:
                            return r

            def test_offboarding_revokes_the_account(layers_mock):
                account = layers_mock.create_account(queued=2)
                layers_mock.arm_scenario([{"status": 429, "retryAfter": 2}, {"status": 200}], account_id=account)
                assert naive_revoke(layers_mock.base_url, layers_mock.write_key, account).status_code == 200
                layers_mock.assert_client_behaved()
            """
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    print(run.stdout)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "ClientMisbehaved" in run.stdout and "[violation] honor-retry-after" in run.stdout
    assert "request: req_" in run.stdout and "fix: Sleep for the 429's Retry-After seconds" in run.stdout
    assert "layers-mock client report" in run.stdout and "honor-retry-after x1" in run.stdout  # the summary
    assert WRITE["secret"] not in run.stdout
