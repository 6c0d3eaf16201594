"""A fault armed at each step of the revoke transaction: 500 INTERNAL, nothing changed, and
the retry (with or without the same Idempotency-Key) succeeds with the right count."""

from __future__ import annotations

import httpx
import pytest

from contract import CONTRACT
from mock_server.core.domain import FAULT_STEPS

from .support import (
    INTERNAL,
    NOT_FOUND,
    OK,
    REQUEST_TIMEOUT,
    LoadRun,
    account_is_whole,
    make_tenant,
    revocation_rows,
    revoke,
    shuffled_plans,
)

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers


def _snapshot(control, account):
    view = control.account(account)
    return {k: view[k] for k in ("status", "disconnectedReason", "disconnectedAt", "hasToken", "postCounts", "posts")}


@pytest.mark.parametrize("with_key", [False, True], ids=["no-key", "idempotency-key"])
@pytest.mark.parametrize("step", FAULT_STEPS)
def test_fault_at_each_step_rolls_back_and_retry_succeeds(backend_mock, backend_control, step, with_key):
    tenant = make_tenant(backend_control, 1, queued_for=lambda i: 4)
    (account,) = tenant.accounts
    key = f"fault-{step}" if with_key else None
    before = _snapshot(backend_control, account)
    backend_control.arm_fault(step, 1, account)

    with httpx.Client(base_url=backend_mock.base_url, timeout=REQUEST_TIMEOUT) as http:
        failed = revoke(http, tenant.secret, account, key)
        assert failed.status == INTERNAL, failed
        assert failed.body["error"]["code"] == CONTRACT.code_for_status(INTERNAL)
        assert failed.body["error"]["requestId"] == failed.request_id
        assert _snapshot(backend_control, account) == before  # nothing changed, at any step
        assert not [r for r in revocation_rows(backend_mock.database) if r["account_id"] == account]
        assert backend_control.integrity()["ok"]

        retry = revoke(http, tenant.secret, account, key)
        assert retry.status == OK and not retry.replayed, retry  # a 500 is not stored
        assert retry.body["canceledScheduledPosts"] == 4
        again = revoke(http, tenant.secret, account, key)
    if with_key:
        assert again.status == OK and again.replayed and again.body == retry.body
        assert again.request_id == retry.request_id
    else:
        assert again.status == NOT_FOUND
    rows = [r for r in revocation_rows(backend_mock.database) if r["account_id"] == account]
    assert [(r["request_id"], r["canceled_posts"]) for r in rows] == [(retry.request_id, 4)]
    after = backend_control.account(account)
    assert after["status"] == CONTRACT.success_enum("status") and not after["hasToken"]
    assert "queued" not in after["postCounts"]
    assert backend_control.integrity()["ok"]


def test_fault_for_another_account_does_not_touch_this_one(backend_mock, backend_control):
    tenant = make_tenant(backend_control, 2, queued_for=lambda i: 2)
    a, b = tenant.accounts
    backend_control.arm_fault(FAULT_STEPS[-1], 1, b)
    with httpx.Client(base_url=backend_mock.base_url, timeout=REQUEST_TIMEOUT) as http:
        assert revoke(http, tenant.secret, a).status == OK
        assert revoke(http, tenant.secret, b).status == INTERNAL
        assert revoke(http, tenant.secret, b).status == OK


def test_faults_under_concurrent_load_roll_back_exactly(backend_mock, backend_control):
    """Eight faults armed on eight of the accounts (one each, steps in turn), 32 clients revoking 16 accounts on two workers: exactly
    eight 500s (each fault fires once, in some worker), still exactly one 200 per account, the
    counts add up, and no account is left half-revoked."""
    tenant = make_tenant(backend_control, 16, queued_for=lambda i: 1 + i % 3)
    faults = 8
    # One per account, each at a different step; bound to this tenant's accounts so that no
    # other test's revoke (the mock is shared) can take them.
    armed = [backend_control.arm_fault(FAULT_STEPS[i % len(FAULT_STEPS)], 1, tenant.accounts[i]) for i in range(faults)]
    assert len(armed) == faults
    load = LoadRun(backend_mock.base_url, tenant.secret, shuffled_plans(tenant.accounts, 32, seed=5)).run()

    assert load.transport_errors == [] and len(load.results) == 32 * 16
    internal = [r for r in load.results if r.status == INTERNAL]
    oks = [r for r in load.results if r.status == OK]
    # The mock's log with the failure: a 500 past the armed ones (seen once in CI, on
    # PostgreSQL) names its storage fault's cause there, and nowhere else.
    assert len(internal) == faults, ([r.request_id for r in internal], backend_mock.log_text())
    assert all(r.body["error"]["code"] == CONTRACT.code_for_status(INTERNAL) for r in internal)
    assert sorted(r.account for r in oks) == sorted(tenant.accounts)
    assert len(load.results) - len(oks) - len(internal) == load.count(NOT_FOUND)
    assert sum(r.body["canceledScheduledPosts"] for r in oks) == sum(tenant.queued.values())
    for account, seeded in tenant.queued.items():
        assert account_is_whole(backend_control.account(account), seeded) is None
    assert backend_control.integrity()["ok"]
