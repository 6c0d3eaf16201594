"""A partner's tests of `offboard_customer()`, written against the `layers_mock` fixture.

No conftest and no set-up script: installing the kit registers the fixture. Each test gets the
mock reset to its default world, so the tests pass alone, together, in any order and under
`pytest -n auto`. `layers_mock.sleep` stands in for `time.sleep`: it records each wait and moves the
mock's clock by that much, so "waiting Retry-After seconds" takes no real time.
"""

from __future__ import annotations

import httpx
import pytest
import requests
from layers_client import (
    IDEMPOTENCY_HEADER,
    INTERNAL,
    KILL_SWITCH,
    NOT_FOUND,
    RATE_LIMITED,
    RETRY_AFTER_HEADER,
    REVOKE_PATH,
    Layers,
)
from offboarding import offboard_customer

from contract import CONTRACT


@pytest.fixture
def layers(layers_mock) -> Layers:
    """Our client, pointed at the mock with a key that may revoke."""
    return Layers(base_url=layers_mock.base_url, api_key=layers_mock.write_key)


def codes(entries: list[dict]) -> list[str | None]:
    """The error code of each journal entry (None for a success)."""
    return [e["code"] for e in entries]


# -- our client speaks the published contract ----------------------------------------------


def test_client_constants_match_the_contract():
    assert CONTRACT.route == REVOKE_PATH
    assert CONTRACT.retry_after_header == RETRY_AFTER_HEADER
    assert CONTRACT.idempotency_header == IDEMPOTENCY_HEADER
    assert {NOT_FOUND, RATE_LIMITED, INTERNAL, KILL_SWITCH} <= set(CONTRACT.codes)


# -- the happy path ---------------------------------------------------------------------------


def test_revokes_every_account_and_reports_canceled_posts(layers_mock, layers):
    plain = layers_mock.create_account(queued=2, published=1)
    leased = layers_mock.create_account(queued=1, leased=True)

    report = offboard_customer(layers, [layers_mock.example_account_id, plain, leased], sleep=layers_mock.sleep)

    assert report.complete
    assert report.revoked == {layers_mock.example_account_id: 4, plain: 2, leased: 1}
    assert layers_mock.sleep.calls == []
    state = layers_mock.account(plain)
    assert state["status"] == CONTRACT.success_enum("status")
    assert state["postCounts"].get("queued", 0) == 0
    assert state["postCounts"]["published"] == 1  # published posts stay on the platform
    assert layers_mock.integrity()["ok"]


# -- 404: nothing to do, never retried --------------------------------------------------------


def test_already_revoked_account_is_reported_and_not_retried(layers_mock, layers):
    account = layers_mock.create_account(queued=1)
    assert layers_mock.revoke(account).is_success  # someone revoked it before the job ran

    report = offboard_customer(layers, [account], sleep=layers_mock.sleep)

    assert report.already_gone == [account] and report.complete
    assert codes(layers_mock.requests_for(account)) == [None, NOT_FOUND]  # exactly one request from the job
    assert layers_mock.sleep.calls == []


def test_other_organizations_account_is_reported_and_not_retried(layers_mock, layers):
    foreign = layers_mock.create_account(queued=2, other_organization=True)

    report = offboard_customer(layers, [foreign], sleep=layers_mock.sleep)

    assert report.already_gone == [foreign]
    assert codes(layers_mock.requests_for(foreign)) == [NOT_FOUND]
    assert layers_mock.account(foreign)["postCounts"]["queued"] == 2


# -- 429: honour Retry-After ------------------------------------------------------------------


def test_rate_limited_revoke_waits_exactly_retry_after_then_succeeds(layers_mock, layers):
    account = layers_mock.create_account(queued=3)
    # A frozen clock mid-minute: the window does not reset by itself while the job runs.
    layers_mock.freeze_clock(at="2026-04-18T19:15:02Z")
    retry_after = layers_mock.exhaust_budget()

    report = offboard_customer(layers, [account], sleep=layers_mock.sleep)

    assert layers_mock.sleep.calls == [retry_after]
    assert codes(layers_mock.requests_for(account)) == [RATE_LIMITED, None]
    assert report.revoked == {account: 3}


# -- 500: safe to retry, with the same Idempotency-Key ----------------------------------------


def test_failed_transaction_is_retried_with_the_same_idempotency_key(layers_mock, layers):
    account = layers_mock.create_account(queued=3)
    layers_mock.fail_next_revoke()

    report = offboard_customer(layers, [account], sleep=layers_mock.sleep)

    entries = layers_mock.requests_for(account)
    assert codes(entries) == [INTERNAL, None]
    assert entries[0]["idempotencyKey"] and entries[0]["idempotencyKey"] == entries[1]["idempotencyKey"]
    assert len(layers_mock.sleep.calls) == 1
    assert report.revoked == {account: 3}
    assert layers_mock.integrity()["ok"]


def test_persistent_failure_is_reported_and_the_job_goes_on(layers_mock, layers):
    broken, fine = layers_mock.create_account(queued=3), layers_mock.create_account(queued=1)
    layers_mock.fail_next_revoke(count=100, account_id=broken)

    report = offboard_customer(layers, [broken, fine], sleep=layers_mock.sleep, max_attempts=3)

    assert report.failed == {broken: INTERNAL} and not report.complete
    assert report.revoked == {fine: 1}
    assert codes(layers_mock.requests_for(broken)) == [INTERNAL] * 3
    state = layers_mock.account(broken)  # atomic: the failed attempts changed nothing
    assert state["hasToken"] and state["postCounts"] == {"queued": 3}


# -- 503: a kill switch stops the job ---------------------------------------------------------


@pytest.mark.parametrize("scope", CONTRACT.kill_switch_scopes)
def test_kill_switch_halts_the_job_without_hammering(layers_mock, layers, scope):
    first, second = layers_mock.create_account(queued=1), layers_mock.create_account(queued=1)
    layers_mock.kill_switch(scope)

    report = offboard_customer(layers, [first, second], sleep=layers_mock.sleep)

    assert report.halted_by == scope
    assert report.not_attempted == [first, second] and not report.revoked
    assert codes(layers_mock.journal()) == [KILL_SWITCH]
    assert layers_mock.account(first)["hasToken"]


# -- the fixture resets the world: these revoke the same account, in any order ----------------


def test_same_account_revoked_with_requests(layers_mock):
    response = requests.delete(layers_mock.url_for(layers_mock.example_account_id), headers=layers_mock.auth())
    assert response.ok, response.text
    assert response.json()["canceledScheduledPosts"] == 4


def test_same_account_revoked_with_httpx(layers_mock):
    response = httpx.delete(layers_mock.url_for(layers_mock.example_account_id), headers=layers_mock.auth())
    assert response.is_success, response.text
    assert response.json()["canceledScheduledPosts"] == 4


def test_same_account_revoked_in_the_pages_call_style(layers_mock):
    layers = Layers(base_url=layers_mock.base_url, api_key=layers_mock.write_key)
    result = layers.social.revoke(social_account_id=layers_mock.example_account_id)
    assert result["canceledScheduledPosts"] == 4
