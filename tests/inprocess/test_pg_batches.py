"""PostgreSQL's request path shares its round trips among concurrent requests (postgres.py
`_batches`, storage/batches.py): the gathered reads of requests that wait at once go as one
pipeline, their writes as one transaction (a group commit). What each request is answered, and
what the database keeps, is what it would be alone: every acknowledged revoke is there once, a
write whose guard fails in a batch is left out alone and decided again, and a write held up by a
row lock holds up only itself, within the storage bound."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psycopg
import pytest

from contract import CONTRACT
from mock_server.core import world
from mock_server.storage import postgres

BOUND = 1.0  # storage_timeout: lock_timeout is half of it (postgres.py `_kwargs`)


@pytest.fixture(scope="module")
def pg(make_mock):
    return make_mock("postgresql", storage_timeout=BOUND)


@dataclass
class Sent:
    """What the request path sent as pipelines: (statement, how many runs, how it ended) each, and
    the key ids of each batch of writes in the order they were sent."""

    pipelines: list[tuple[str, int, str]] = field(default_factory=list)
    applied: list[list[str]] = field(default_factory=list)
    applied_params: list[list[tuple]] = field(default_factory=list)  # each batch's layers_apply parameters


@pytest.fixture
def batches(monkeypatch) -> Sent:
    sent = Sent()
    real = postgres._RequestConnection.pipelined

    async def pipelined(self, statement, rows, **kwargs):
        if statement.name == b"layers_apply":
            sent.applied.append([params[1] for params in rows])  # layers_apply's p_key_id
            sent.applied_params.append([tuple(params) for params in rows])
        try:
            out = await real(self, statement, rows, **kwargs)
        except Exception as exc:
            sent.pipelines.append((statement.name.decode(), len(rows), type(exc).__name__))
            raise
        sent.pipelines.append((statement.name.decode(), len(rows), "ok"))
        return out

    monkeypatch.setattr(postgres._RequestConnection, "pipelined", pipelined)
    return sent


def _revocations(mock, account_ids: list[str]) -> dict[str, list[str]]:
    with psycopg.connect(mock.app.storage._dsn) as db:
        rows = db.execute(
            "SELECT account_id, request_id FROM revocations WHERE account_id = ANY(%s)", (account_ids,)
        ).fetchall()
    out: dict[str, list[str]] = {}
    for account_id, request_id in rows:
        out.setdefault(account_id, []).append(request_id)
    return out


def test_concurrent_revokes_share_their_round_trips_and_each_lands_once(pg, keys, batches):
    key = keys["write"]
    accounts = pg.add_accounts(key["organizationId"], 12)
    answers = pg.revoke_at_once([(a, key["secret"]) for a in accounts])
    assert [r.status_code for r in answers] == [CONTRACT.success_status] * len(accounts)
    assert {r.json()["canceledScheduledPosts"] for r in answers} == {2}
    # Shared: the reads in one pipeline of several, the writes in one transaction of several.
    assert any(name == "layers_gather" and n > 1 and end == "ok" for name, n, end in batches.pipelines), (
        batches.pipelines
    )
    assert any(name == "layers_apply" and n > 1 and end == "ok" for name, n, end in batches.pipelines), (
        batches.pipelines
    )
    # Each revoke once, under the request id it was answered with.
    assert _revocations(pg, accounts) == {
        a: [r.headers[CONTRACT.request_id_header]] for a, r in zip(accounts, answers, strict=True)
    }
    with pg.control() as control:
        assert control.integrity()["ok"]


def test_a_write_whose_guard_fails_in_a_batch_is_left_out_alone_and_decided_again(pg, keys, batches):
    """Two revokes of one account in one batch: both were decided on the same snapshot, so the
    second's guard (the account still connected) fails inside the batch's transaction. The batch
    is rolled back, each write runs again alone: the others and one of the two land, the other
    is decided again from a fresh read and answered as a revoke of a disconnected account."""
    key = keys["write"]
    accounts = pg.add_accounts(key["organizationId"], 8)
    twice = accounts + [accounts[0]]
    answers = pg.revoke_at_once([(a, key["secret"]) for a in twice])
    statuses = sorted(r.status_code for r in answers)
    assert statuses == sorted([CONTRACT.success_status] * len(accounts) + [404]), statuses
    assert ("layers_apply", len(twice), "SerializationFailure") in batches.pipelines, batches.pipelines
    landed = _revocations(pg, accounts)
    assert sorted(landed) == sorted(accounts) and all(len(ids) == 1 for ids in landed.values())
    with pg.control() as control:
        assert control.integrity()["ok"]


def test_a_write_held_up_by_a_row_lock_holds_up_only_itself_within_the_bound(pg, keys, batches):
    # An internal-tier key spends no rate window: a partner key's held-up write would hold its
    # windows' rows too, and that key's other writes would rightly wait behind it.
    with pg.app.storage.transaction() as q:
        key = world.add_key(q, {"organizationId": keys["write"]["organizationId"], "tier": "internal"})
    accounts = pg.add_accounts(key["organizationId"], 6)
    held = accounts[-1]
    with psycopg.connect(pg.app.storage._dsn) as peer:  # a stalled peer, holding the account's row
        peer.execute("SELECT 1 FROM accounts WHERE id = %s FOR UPDATE", (held,))
        started = time.perf_counter()
        answers = pg.revoke_at_once([(a, key["secret"]) for a in accounts])
        took = time.perf_counter() - started
        peer.rollback()
    by_account = dict(zip(accounts, answers, strict=True))
    assert by_account[held].status_code == 500, by_account[held].text
    assert by_account[held].json()["error"]["code"] == CONTRACT.code_for_status(500)
    assert all(by_account[a].status_code == CONTRACT.success_status for a in accounts[:-1])
    assert took < BOUND + 0.5, took  # the 500 within the bound (and a loop turn or two)
    assert ("layers_apply", len(accounts), "LockNotAvailable") in batches.pipelines, batches.pipelines
    assert sorted(_revocations(pg, accounts)) == sorted(accounts[:-1])  # nothing of the held one
    with pg.control() as control:
        assert control.integrity()["ok"]


def test_a_batch_of_writes_takes_its_row_locks_in_key_order(pg, keys, batches):
    """Two workers' (or instances') batches that took the same keys' rate-window rows in opposite
    orders could each wait for the other (a deadlock, 1 s before PostgreSQL ends one): every
    batch is sent in key order."""
    other = keys["other organization"]
    mine, theirs = pg.add_accounts(keys["write"]["organizationId"], 4), pg.add_accounts(other["organizationId"], 4)
    warm = pg.revoke_at_once(
        [(a, keys["write"]["secret"]) for a in mine[:2]] + [(b, other["secret"]) for b in theirs[:2]]
    )
    assert all(r.status_code == CONTRACT.success_status for r in warm)
    # The other key first each time.
    interleaved = [
        pair
        for a, b in zip(mine[2:], theirs[2:], strict=True)
        for pair in ((b, other["secret"]), (a, keys["write"]["secret"]))
    ]
    assert all(r.status_code == CONTRACT.success_status for r in pg.revoke_at_once(interleaved))
    shared = [ids for ids in batches.applied if len(set(ids)) > 1]
    assert shared, batches.applied
    assert all(ids == sorted(ids) for ids in shared), shared


def test_a_batch_takes_one_keys_account_rows_in_account_order(pg, keys, batches):
    """Two instances' batches of one key's revokes, over the same accounts in different orders,
    could each hold an account row the other wants (the two-instance SIGKILL test's load: one
    internal-tier key, no rate-window row to queue them first): a key's writes are sent in
    account order."""
    write = keys["write"]
    accounts = pg.add_accounts(write["organizationId"], 12)
    known = set(accounts)
    answers = pg.revoke_at_once([(a, write["secret"]) for a in sorted(accounts, reverse=True)])
    assert all(r.status_code == CONTRACT.success_status for r in answers)
    sent = [[next(p for p in params if p in known) for params in batch] for batch in batches.applied_params]
    shared = [ids for ids in sent if len(ids) > 1]
    assert shared, batches.applied
    assert all(ids == sorted(ids) for ids in shared), shared
