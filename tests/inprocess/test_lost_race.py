"""The write batch's guards (storage/gathered.py) on both backends: a decision whose assumption
no longer holds (here: the account was already disconnected) is never written, not even in part
(its rate-window count is rolled back with it), it is decided again from a fresh read, a bounded
number of times; and the connection serves the next revoke as before (on PostgreSQL, a pipeline
aborted by a guard leaves no half-prepared statement behind)."""

from __future__ import annotations

import pytest

from contract import CONTRACT
from mock_server.storage.base import MAX_DECISIONS
from mock_server.storage.gathered import Ask, LostRace, Revoke, Writes

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
