"""Tests that revoke the same account pass in any order; a failed test shows the mock's journal.

`pytest examples/` runs the three `test_same_account_revoked_*` tests in file order; here a
nested run takes them in the reverse order. Each expects the first revoke of the page's example
account (4 canceled posts), so each passes only if the world was reset before it.
"""

from __future__ import annotations

import pytest

from contract import CONTRACT

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

SAME_ACCOUNT_TESTS = [
    "test_same_account_revoked_with_requests",
    "test_same_account_revoked_with_httpx",
    "test_same_account_revoked_in_the_pages_call_style",
]

FAILING_TEST = """
def test_fails_after_a_revoke(layers_mock):
    layers_mock.revoke(layers_mock.example_account_id)
    assert False, "deliberate failure"
"""


def test_same_account_tests_pass_in_reverse_order_and_failures_show_the_journal(copy_examples, run_pytest):
    project = copy_examples()
    (project / "test_deliberate_failure.py").write_text(FAILING_TEST)
    reversed_ids = [f"test_offboard_customer.py::{name}" for name in reversed(SAME_ACCOUNT_TESTS)]

    run = run_pytest(*reversed_ids, "test_deliberate_failure.py")

    assert {name: run.outcomes.get(name) for name in SAME_ACCOUNT_TESTS} == dict.fromkeys(
        SAME_ACCOUNT_TESTS, "passed"
    ), run.output
    assert run.outcomes["test_fails_after_a_revoke"] == "failed"
    assert "layers-mock journal" in run.output
    example_path = CONTRACT.path_for(CONTRACT.example_account_id)
    assert f"DELETE {example_path} -> {CONTRACT.success_status}" in run.output, run.output
