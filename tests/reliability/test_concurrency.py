"""64 concurrent clients against a two-worker mock on one shared state (SQLite file, then PostgreSQL).

The promises: each account is revoked exactly once (one 200, every other attempt 404), the
canceled posts add up to exactly what was queued, nothing stays queued on a disconnected
account, and one Idempotency-Key sent by many clients at once executes the revoke once.
"""

from __future__ import annotations

import pytest

from contract import CONTRACT

from .support import CONFLICT, NOT_FOUND, OK, LoadRun, account_is_whole, make_tenant, revocation_rows, shuffled_plans

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

CLIENTS = 64
ACCOUNTS = 24


def test_overlapping_concurrent_revokes_count_exactly(backend_mock, backend_control):
    tenant = make_tenant(backend_control, ACCOUNTS, queued_for=lambda i: (i * 5) % 9)
    before = len(revocation_rows(backend_mock.database))
    load = LoadRun(backend_mock.base_url, tenant.secret, shuffled_plans(tenant.accounts, CLIENTS, seed=8)).run()

    assert load.transport_errors == []
    revokes = len(load.results)
    oks = [r for r in load.results if r.status == OK]
    not_found = [r for r in load.results if r.status == NOT_FOUND]
    canceled = sum(r.body["canceledScheduledPosts"] for r in oks)
    print(
        f"\nconcurrency: clients={CLIENTS} accounts={ACCOUNTS} revokes={revokes} 200s={len(oks)} "
        f"404s={len(not_found)} other={revokes - len(oks) - len(not_found)} canceled={canceled} "
        f"queued_seeded={sum(tenant.queued.values())}"
    )

    assert revokes == CLIENTS * ACCOUNTS
    assert sorted(r.account for r in oks) == sorted(tenant.accounts)  # exactly one 200 each
    assert len(not_found) == revokes - ACCOUNTS  # every other try: 404
    assert all(r.body["error"]["code"] == CONTRACT.code_for_status(NOT_FOUND) for r in not_found)
    assert canceled == sum(tenant.queued.values())
    for r in oks:
        assert r.body["canceledScheduledPosts"] == tenant.queued[r.account], r

    for account, seeded in tenant.queued.items():
        view = backend_control.account(account)
        assert view["status"] == CONTRACT.success_enum("status")
        assert account_is_whole(view, seeded) is None, (account, view["postCounts"])
    integrity = backend_control.integrity()
    assert integrity["ok"], integrity["violations"]
    rows = revocation_rows(backend_mock.database)[before:]
    mine = {r["account_id"]: r for r in rows if r["account_id"] in tenant.queued}
    assert len(mine) == ACCOUNTS == len([r for r in rows if r["account_id"] in tenant.queued])
    assert {r.account: r.request_id for r in oks} == {a: r["request_id"] for a, r in mine.items()}


def _same_key_everywhere(backend_mock, tenant, targets: list[str], key: str):
    plans = [[(targets[c % len(targets)], key)] for c in range(CLIENTS)]
    return LoadRun(backend_mock.base_url, tenant.secret, plans).run()


def test_same_idempotency_key_sent_concurrently_executes_once(backend_mock, backend_control):
    tenant = make_tenant(backend_control, 1, queued_for=lambda i: 5)
    (account,) = tenant.accounts
    load = _same_key_everywhere(backend_mock, tenant, [account], "same-key-64")

    assert load.transport_errors == [] and len(load.results) == CLIENTS
    assert {r.status for r in load.results} == {OK}
    fresh = [r for r in load.results if not r.replayed]
    assert len(fresh) == 1, f"{len(fresh)} clients executed the revoke"
    assert {r.request_id for r in load.results} == {fresh[0].request_id}  # replays are verbatim
    assert all(r.body == fresh[0].body for r in load.results)
    assert fresh[0].body["canceledScheduledPosts"] == 5
    rows = [r for r in revocation_rows(backend_mock.database) if r["account_id"] == account]
    assert len(rows) == 1 and rows[0]["request_id"] == fresh[0].request_id
    assert backend_control.integrity()["ok"]


def test_same_idempotency_key_on_two_accounts_concurrently(backend_mock, backend_control):
    """Half the clients aim the key at A, half at B: whichever runs first wins, the other
    account gets only 409s and stays untouched."""
    tenant = make_tenant(backend_control, 2, queued_for=lambda i: 3 + i)
    a, b = tenant.accounts
    load = _same_key_everywhere(backend_mock, tenant, [a, b], "split-key-64")

    assert load.transport_errors == [] and len(load.results) == CLIENTS
    winners = {r.account for r in load.results if r.status == OK}
    assert len(winners) == 1
    (winner,) = winners
    loser = b if winner == a else a
    for r in load.results:
        assert r.status == (OK if r.account == winner else CONFLICT), r
    assert len([r for r in load.results if r.status == OK and not r.replayed]) == 1
    assert backend_control.account(loser)["status"] != CONTRACT.success_enum("status")
    assert account_is_whole(backend_control.account(loser), tenant.queued[loser]) is None
    assert account_is_whole(backend_control.account(winner), tenant.queued[winner]) is None
