"""A fault armed at each step of the revoke transaction: 500 INTERNAL, nothing changed, and
the retry (with or without the same Idempotency-Key) succeeds with the right count."""
from __future__ import annotations

import httpx
import pytest

from contract import CONTRACT
from mock_server.domain import FAULT_STEPS

from .support import INTERNAL, NOT_FOUND, OK, REQUEST_TIMEOUT, make_tenant, revocation_rows, revoke


def _snapshot(control, account):
    view = control.account(account)
    return {k: view[k] for k in ("status", "disconnectedReason", "disconnectedAt", "hasToken", "postCounts", "posts")}


@pytest.mark.parametrize("with_key", [False, True], ids=["no-key", "idempotency-key"])
@pytest.mark.parametrize("step", FAULT_STEPS)
def test_fault_at_each_step_rolls_back_and_retry_succeeds(multi_mock, multi_control, step, with_key):
    tenant = make_tenant(multi_control, 1, queued_for=lambda i: 4)
    (account,) = tenant.accounts
    key = f"fault-{step}" if with_key else None
    before = _snapshot(multi_control, account)
    multi_control.arm_fault(step, 1, account)

    with httpx.Client(base_url=multi_mock.base_url, timeout=REQUEST_TIMEOUT) as http:
        failed = revoke(http, tenant.secret, account, key)
        assert failed.status == INTERNAL, failed
        assert failed.body["error"]["code"] == CONTRACT.code_for_status(INTERNAL)
        assert failed.body["error"]["requestId"] == failed.request_id
        assert _snapshot(multi_control, account) == before          # nothing changed, at any step
        assert not [r for r in revocation_rows(multi_mock.state) if r["account_id"] == account]
        assert multi_control.integrity()["ok"]

        retry = revoke(http, tenant.secret, account, key)
        assert retry.status == OK and not retry.replayed, retry      # a 500 is not stored
        assert retry.body["canceledScheduledPosts"] == 4
        again = revoke(http, tenant.secret, account, key)
    if with_key:
        assert again.status == OK and again.replayed and again.body == retry.body
        assert again.request_id == retry.request_id
    else:
        assert again.status == NOT_FOUND
    rows = [r for r in revocation_rows(multi_mock.state) if r["account_id"] == account]
    assert [(r["request_id"], r["canceled_posts"]) for r in rows] == [(retry.request_id, 4)]
    after = multi_control.account(account)
    assert after["status"] == CONTRACT.success_enum("status") and not after["hasToken"]
    assert "queued" not in after["postCounts"]
    assert multi_control.integrity()["ok"]


def test_fault_for_another_account_does_not_touch_this_one(multi_mock, multi_control):
    tenant = make_tenant(multi_control, 2, queued_for=lambda i: 2)
    a, b = tenant.accounts
    multi_control.arm_fault(FAULT_STEPS[-1], 1, b)
    with httpx.Client(base_url=multi_mock.base_url, timeout=REQUEST_TIMEOUT) as http:
        assert revoke(http, tenant.secret, a).status == OK
        assert revoke(http, tenant.secret, b).status == INTERNAL
        assert revoke(http, tenant.secret, b).status == OK
