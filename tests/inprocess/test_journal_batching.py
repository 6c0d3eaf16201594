"""SQLite's housekeeping thread lets journal entries gather before it writes them (storage/sqlite.py
`journal_delay`): briefly while its worker is quiet, so that a client asking another worker's
control plane for the state or the journal right after a few requests finds them there (the
many-sandboxes e2e test does), and longer while the worker answers thousands of requests a
second, when each write's per-transaction cost is what the served 401 pays for."""

from __future__ import annotations

from mock_server.storage.sqlite import JOURNAL_BUSY_BATCH, JOURNAL_BUSY_DELAY_S, JOURNAL_DELAY_S, journal_delay


def test_a_quiet_worker_writes_its_entries_within_a_control_plane_round_trip():
    for last_batch in (0, 1, JOURNAL_BUSY_BATCH - 1):
        assert journal_delay(last_batch) == JOURNAL_DELAY_S
    assert JOURNAL_DELAY_S <= 0.002


def test_a_busy_worker_gathers_longer_batches():
    for last_batch in (JOURNAL_BUSY_BATCH, 10 * JOURNAL_BUSY_BATCH):
        assert journal_delay(last_batch) == JOURNAL_BUSY_DELAY_S
    assert JOURNAL_BUSY_DELAY_S > JOURNAL_DELAY_S
