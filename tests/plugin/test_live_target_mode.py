"""`--layers-base-url` (or LAYERS_BASE_URL) points the same tests at a live target.

The "live target" here is this test's own mock, reached only through its API, as a partner's
staging would be: the nested run's revoke must change this mock's state, and every helper that
needs the control plane must skip with a reason that names the target.
"""

from __future__ import annotations

import pytest

from contract import CONTRACT

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

LIVE_TESTS = """
import os

def test_revoke_reaches_the_target(layers_mock):
    assert layers_mock.live
    response = layers_mock.revoke(os.environ["ACCOUNT_TO_REVOKE"])
    assert response.is_success, response.text

def test_account_helpers_skip(layers_mock):
    layers_mock.create_account(queued=1)

def test_journal_skips(layers_mock):
    layers_mock.journal()

def test_clock_sleep_skips(layers_mock):
    layers_mock.sleep(1)

def test_missing_read_only_key_skips(layers_mock):
    layers_mock.read_only_key
"""


@pytest.mark.parametrize("given_by", ["options", "environment"])
def test_live_target_runs_api_tests_and_skips_control_plane_helpers(layers_mock, tmp_path, run_pytest, given_by):
    account = layers_mock.create_account(queued=2)
    (tmp_path / "test_live.py").write_text(LIVE_TESTS)
    env = {"ACCOUNT_TO_REVOKE": account}
    if given_by == "options":
        args = [f"--layers-base-url={layers_mock.base_url}", f"--layers-api-key={layers_mock.write_key}"]
    else:
        args = []
        env.update(LAYERS_BASE_URL=layers_mock.base_url, LAYERS_API_KEY=layers_mock.write_key)

    run = run_pytest("test_live.py", "-v", *args, env=env)  # -v undoes -q: show the report header

    assert run.outcomes["test_revoke_reaches_the_target"] == "passed", run.output
    state = layers_mock.account(account)  # the nested run's revoke really reached this server
    assert state["status"] == CONTRACT.success_enum("status") and state["postCounts"] == {"canceled": 2}
    control_reason = f"needs the mock's control plane; running against {layers_mock.base_url}"
    for name in ("test_account_helpers_skip", "test_journal_skips", "test_clock_sleep_skips"):
        assert run.outcomes[name] == "skipped", run.output
        assert control_reason in run.skip_reasons[name]
    assert "--layers-read-only-key" in run.skip_reasons["test_missing_read_only_key_skips"]
    assert f"live target {layers_mock.base_url}" in run.output  # the report header says where it ran
