"""The example tests must catch the mistakes the issue names: a job that ignores `Retry-After`,
or retries a 404 (and one that changes its Idempotency-Key between retries).

Each case copies examples/ into a scratch project, breaks `offboarding.py` in one place, runs the
example tests there, and checks that the tests meant to catch that mistake fail. The unbroken
copy is run the same way (all its watchers pass), so a failure can only come from the mistake.
"""
from __future__ import annotations

import pytest

RETRY_AFTER_TEST = "test_rate_limited_revoke_waits_exactly_retry_after_then_succeeds"
NOT_FOUND_TESTS = {"test_already_revoked_account_is_reported_and_not_retried",
                   "test_other_organizations_account_is_reported_and_not_retried"}
RETRY_500_TEST = "test_failed_transaction_is_retried_with_the_same_idempotency_key"

# name -> (text in offboarding.py, what a careless version writes instead, tests that must fail)
MISTAKES = {
    "original": (None, None, set()),
    "fixed backoff instead of Retry-After": (
        "wait = error.retry_after if error.retry_after is not None else backoff_seconds",
        "wait = backoff_seconds",
        {RETRY_AFTER_TEST}),
    "retries immediately": (
        "        sleep(wait)\n",
        "        pass\n",
        {RETRY_AFTER_TEST}),
    "retries a 404": (
        "SAFE_TO_RETRY = (INTERNAL,)",
        "SAFE_TO_RETRY = (INTERNAL, NOT_FOUND)",
        NOT_FOUND_TESTS),
    "new Idempotency-Key on each retry": (
        "idempotency_key=idempotency_key)",
        'idempotency_key=f"{idempotency_key}-{attempt}")',
        {RETRY_500_TEST}),
}


WATCHERS = set().union(*(tests for _, _, tests in MISTAKES.values()))


@pytest.mark.parametrize("mistake", list(MISTAKES))
def test_example_tests_fail_on_the_mistake(copy_examples, run_pytest, mistake):
    original, careless, must_fail = MISTAKES[mistake]
    project = copy_examples()
    if original is not None:
        source = (project / "offboarding.py").read_text()
        # If the example is rewritten, this case must be rewritten too, not pass vacuously.
        assert source.count(original) == 1, f"offboarding.py no longer contains {original!r}"
        (project / "offboarding.py").write_text(source.replace(original, careless))

    # Only the tests that watch for these mistakes: each nested run starts its own mock.
    run = run_pytest("test_offboard_customer.py", "-k", " or ".join(sorted(WATCHERS)))

    assert set(run.outcomes) == WATCHERS, run.output
    assert run.named("failed") >= must_fail, run.output
    if must_fail:
        assert "layers-mock journal" in run.output  # a failure shows what the mock answered
    else:
        assert run.named("failed") == set() and run.returncode == 0, run.output
