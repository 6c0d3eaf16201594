"""The write batch's guards (storage/gathered.py) on both backends: a decision whose assumption
no longer holds (here: the account was already disconnected) is never written, not even in part
(its rate-window count is rolled back with it), it is decided again from a fresh read, a bounded
number of times; and the connection serves the next revoke as before (on PostgreSQL, a pipeline
aborted by a guard leaves no half-prepared statement behind)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from contract import CONTRACT
from mock_server.storage.base import MAX_DECISIONS
from mock_server.storage.gathered import Ask, LostRace, Remember, Revoke, Writes

DISCONNECTED = "sa_f1da6e09-46d3-4f52-834c-fa81badc5bfd"  # Acme's, already disconnected


def _window_count(storage, key_id: str, window: str):
    with storage.snapshot() as q:
        return q.scalar("SELECT count FROM rate_windows WHERE key_id=? AND window_key=?", (key_id, window))


def test_a_broken_guard_rolls_the_whole_batch_back_and_is_decided_again(mock, control, keys):
    storage = mock.app.storage
    key_id = keys["write"]["id"]
    window = "m:1"  # a window of its own: no request of the tests spends in it
    decisions: list[int] = []

    def stale(row, ask):
        decisions.append(1)
        stale_revoke = Revoke(
            DISCONNECTED, row["organization_id"], "revoked", "2026-01-01T00:00:00Z", "req_x", "queued", 0
        )
        return "stale", Writes(row["sandbox"], key_id, spend=((window, 10**6),), revoke=stale_revoke)

    from mock_server.storage import hash_secret

    ask = Ask(hash_secret(keys["write"]["secret"]), DISCONNECTED, None, (), "queued")

    async def run(decide):
        return await storage.decide(ask, decide)

    for _ in range(3):  # the same connections, again and again
        with pytest.raises(LostRace):
            mock.transport.portal.call(run, stale)
    assert len(decisions) == 3 * MAX_DECISIONS
    assert _window_count(storage, key_id, window) is None  # the spend went with the rest

    def fine(row, ask):
        return "ok", Writes(row["sandbox"], key_id, spend=((window, 10**6),))

    assert mock.transport.portal.call(run, fine) == "ok"
    assert _window_count(storage, key_id, window) == 1
    with mock.client() as api:  # and revokes go on as before
        r = api.delete(
            CONTRACT.path_for(CONTRACT.example_account_id),
            headers={"Authorization": f"Bearer {keys['write']['secret']}"},
        )
    assert r.status_code == CONTRACT.success_status


@pytest.mark.parametrize("broken", ["second rate window", "idempotency entry", "scripted answer", "canceled count"])
def test_each_guard_fails_the_whole_batch(mock, control, keys, broken):
    """Every guard of the write batch (postgres.py `layers_apply`, sqlite.py), one at a time: the
    batch whose one assumption broke keeps nothing, not the rate window it spent first."""
    from mock_server.storage import hash_secret

    storage = mock.app.storage
    key_id, account = keys["write"]["id"], CONTRACT.example_account_id
    fresh, full = "m:2", "m:3"  # windows of their own: no other request spends in them
    ask = Ask(hash_secret(keys["write"]["secret"]), account, None, (), "queued")

    def apply(writes_of):
        async def run():
            return await storage.decide(ask, lambda row, _ask: ("ok", writes_of(row)))

        return mock.transport.portal.call(run)

    def remember(row):
        return Remember("guard-key", account, 200, "{}", "req_guard", 1.0)

    if broken == "second rate window":  # its count already at its limit
        apply(lambda row: Writes(row["sandbox"], key_id, spend=((full, 1),)))
        stale = lambda row: Writes(row["sandbox"], key_id, spend=((fresh, 10**6), (full, 1)))  # noqa: E731
    elif broken == "idempotency entry":  # an entry the decision did not see
        apply(lambda row: Writes(row["sandbox"], key_id, remember=remember(row)))
        stale = lambda row: Writes(row["sandbox"], key_id, spend=((fresh, 10**6),), remember=remember(row))  # noqa: E731
    elif broken == "scripted answer":  # taken by another request (no such row armed)
        stale = lambda row: Writes(row["sandbox"], key_id, spend=((fresh, 10**6),), take=10**9)  # noqa: E731
    else:  # the posts counted are not the posts there
        revoke = Revoke(account, "", "revoked", "2026-01-01T00:00:00Z", "req_guard", "queued", 10**6)
        stale = lambda row: Writes(  # noqa: E731
            row["sandbox"],
            key_id,
            spend=((fresh, 10**6),),
            revoke=replace(revoke, organization_id=row["organization_id"]),
        )
    with pytest.raises(LostRace):
        apply(stale)
    assert _window_count(storage, key_id, fresh) is None
    with mock.client() as api:  # the account is still revocable: its disconnect was undone too
        r = api.delete(CONTRACT.path_for(account), headers={"Authorization": f"Bearer {keys['write']['secret']}"})
    assert r.status_code == CONTRACT.success_status


def test_a_broken_guard_in_a_shared_commit_leaves_the_others_writes(mock, control, keys):
    """Revokes decided at once share one commit on SQLite (its group commit: every write of the
    batch, then again each alone when one failed). The one whose guard broke keeps nothing and
    is decided again; the others' writes are kept, each once."""
    import asyncio

    from mock_server.storage import hash_secret

    storage = mock.app.storage
    key_id = keys["write"]["id"]
    window = "m:4"  # a window of its own: no other request spends in it
    ask = Ask(hash_secret(keys["write"]["secret"]), DISCONNECTED, None, (), "queued")
    decisions: list[str] = []

    def fine(row, _ask):
        decisions.append("fine")
        return "ok", Writes(row["sandbox"], key_id, spend=((window, 10**6),))

    def stale_once(row, _ask):
        if "stale" in decisions:  # decided again on a fresh read: nothing to write
            decisions.append("again")
            return "decided again", None
        decisions.append("stale")
        revoke = Revoke(DISCONNECTED, row["organization_id"], "revoked", "2026-01-01T00:00:00Z", "req_x", "queued", 0)
        return "stale", Writes(row["sandbox"], key_id, spend=((window, 10**6),), revoke=revoke)

    async def run():  # one event-loop turn: SQLite queues the three writes in one batch
        return await asyncio.gather(
            storage.decide(ask, fine), storage.decide(ask, stale_once), storage.decide(ask, fine)
        )

    assert mock.transport.portal.call(run) == ["ok", "decided again", "ok"]
    assert sorted(decisions) == ["again", "fine", "fine", "stale"]
    assert _window_count(storage, key_id, window) == 2  # the two kept, once each; the stale spend undone


def test_a_spend_counts_each_window_once_made_or_counted(mock, control, keys):
    """A revoke's rate windows, whichever of them already have a row (postgres.py counts the
    existing rows in one UPDATE and then makes the missing ones; sqlite.py upserts each): every
    window counted exactly once, and one at its limit fails the batch with the other's count
    undone."""
    from mock_server.storage import hash_secret

    storage = mock.app.storage
    key_id = keys["write"]["id"]
    ask = Ask(hash_secret(keys["write"]["secret"]), CONTRACT.example_account_id, None, (), "queued")
    made, new, other, full = "m:10", "m:11", "m:12", "m:13"  # windows of their own

    def spend(*windows):
        async def run():
            return await storage.decide(ask, lambda row, _ask: ("ok", Writes(row["sandbox"], key_id, spend=windows)))

        return mock.transport.portal.call(run)

    def counts():
        return [_window_count(storage, key_id, w) for w in (made, new, other, full)]

    spend((made, 10**6))
    spend((made, 10**6), (new, 10**6))  # the first has its row, the second is made
    assert counts() == [2, 1, None, None]
    spend((other, 10**6), (made, 10**6))  # the other way round
    assert counts() == [3, 1, 1, None]
    spend((made, 10**6), (new, 10**6))  # both have their rows
    assert counts() == [4, 2, 1, None]
    spend((full, 1))
    with pytest.raises(LostRace):  # both have rows, one at its limit
        spend((made, 10**6), (full, 1))
    with pytest.raises(LostRace):
        spend((full, 1), (made, 10**6))
    assert counts() == [4, 2, 1, 1]
