"""A worker's journal entries are written in batches (storage/base.py `journal_delay`): at once, or
after SQLite's short wait, while its worker is quiet, so that a client asking another worker's
control plane for the state or the journal right after a few requests finds them there (the
many-sandboxes e2e test does); JOURNAL_BUSY_DELAY_S later while the worker answers thousands of
requests a second, when each write's per-batch cost is what every request pays for. Either
way the control plane's own read waits for them."""

from __future__ import annotations

import asyncio

import pytest

from mock_server.storage.base import JOURNAL_BUSY_BATCH, JOURNAL_BUSY_DELAY_S, journal_delay
from mock_server.storage.sqlite import JOURNAL_DELAY_S


def test_a_quiet_worker_writes_its_entries_within_a_control_plane_round_trip():
    for last_batch in (0, 1, JOURNAL_BUSY_BATCH - 1):
        assert journal_delay(last_batch, JOURNAL_DELAY_S) == JOURNAL_DELAY_S
    assert JOURNAL_DELAY_S <= 0.002


def test_a_busy_worker_gathers_longer_batches():
    for last_batch in (JOURNAL_BUSY_BATCH, 10 * JOURNAL_BUSY_BATCH):
        assert journal_delay(last_batch, JOURNAL_DELAY_S) == JOURNAL_BUSY_DELAY_S
    assert JOURNAL_BUSY_DELAY_S > JOURNAL_DELAY_S


@pytest.fixture(scope="module")
def pg_mock(make_mock):
    return make_mock("postgresql")


def _entries(prefix: str, n: int) -> list[tuple]:
    # (wall, request_id, method, path, status, key_id, key_hint, idempotency_key, code): the local sandbox's
    return [
        (1.0e9 + i, f"{prefix}{i}", "DELETE", "/v1/social-accounts/x", 404, None, None, None, "NOT_FOUND")
        for i in range(n)
    ]


def _written(storage, prefix: str) -> int:
    with storage.snapshot() as q:
        return q.scalar("SELECT COUNT(*) FROM journal WHERE request_id LIKE %s", (prefix + "%",))


@pytest.mark.parametrize("busy", [False, True], ids=["quiet", "busy"])
def test_postgres_starts_a_quiet_workers_flush_at_once_and_lets_a_busy_ones_gather(pg_mock, busy):
    storage = pg_mock.app.storage
    prefix = f"req_batch_{'busy' if busy else 'quiet'}_"

    async def add_and_look() -> tuple[int, int]:
        storage._journal_last_batch = JOURNAL_BUSY_BATCH if busy else 0
        for entry in _entries(prefix, 3):
            storage.journal(entry)
        await asyncio.sleep(0)  # a loop turn: a flush started at once has taken the entries
        return len(storage._journal_pending), storage._journal_flushing

    waiting, flushing = pg_mock.transport.portal.call(add_and_look)
    assert flushing
    # Quiet: the first entry's flush started at once, the others wait for it to end. Busy: all
    # three are still gathering, for JOURNAL_BUSY_DELAY_S.
    assert waiting == (3 if busy else 2)
    # The control plane (a thread) waits for the flush under way and writes whatever is left.
    storage.flush_journal()
    assert _written(storage, prefix) == 3
    assert not storage._journal_flushing and not storage._journal_pending
    if busy:
        assert storage._journal_last_batch == 3  # a batch of 3: the next flush starts at once again
