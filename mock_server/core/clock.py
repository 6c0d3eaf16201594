"""The one clock of the mock.

Rules never call datetime.now(): they ask the Clock, whose offset (or frozen instant) lives in
the shared state (a settings row) so that every worker process, and every instance on a shared
PostgreSQL database, sees the same time, and the control plane can move it (to expire
idempotency keys or refill a rate-limit window without waiting). Its methods read the settings
through the transaction they are given, so the time a revoke uses is the one its transaction saw.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import lru_cache

from contract.control import CONTROL

# [CLOCK_MIN, CLOCK_MAX): where the clock may be set, from control.yaml's Clock.epochSeconds
# (which says why: nothing computed from it, dates up to ~114 years ahead, may leave the years
# `datetime` represents). A `PUT /clock` states an instant or a move, not the result: checked here.
CLOCK_MIN, CLOCK_MAX = CONTROL.clock_range


def to_iso(ts: float) -> str:
    """The API's timestamp form: UTC, seconds precision, trailing Z."""
    return _iso_seconds(int(ts))


@lru_cache(maxsize=64)  # under load most requests fall in the same few seconds
def _iso_seconds(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def mock_time(wall: float, frozen: float | None, offset: float) -> float:
    """The mock's time at wall-clock `wall`: the frozen instant, or wall time plus the offset."""
    return frozen if frozen is not None else wall + offset


def journal_stamp(wall: float, frozen: float | None, offset: float) -> tuple[str, float]:
    """A journal entry's time: the mock's time when its response left, as the API writes it, and
    as epoch seconds (the client report measures waits on it)."""
    now = mock_time(wall, frozen, offset)
    return to_iso(now), now


def clock_problem(instant: float) -> str | None:
    """Why the clock must not be set to `instant` (epoch seconds), or None."""
    if not CLOCK_MIN <= instant < CLOCK_MAX:
        return (
            f"the clock must stay between {to_iso(CLOCK_MIN)} and {to_iso(CLOCK_MAX)}"
            f" (this would set it to {instant:.0f} epoch seconds)"
        )
    return None


class Clock:
    """Wall time plus an offset, or a frozen instant; both read from the settings (`q`)."""

    @staticmethod
    def now(q) -> float:
        frozen, offset = q.clock_settings()
        return mock_time(time.time(), frozen, offset)

    def describe(self, q) -> dict:
        frozen, _ = q.clock_settings()
        now = self.now(q)
        return {
            "now": to_iso(now),
            "epochSeconds": now,
            "frozen": frozen is not None,
            "offsetSeconds": q.clock_settings()[1],
        }

    def set(self, q, *, now: float | None = None, advance: float | None = None, frozen: bool | None = None) -> dict:
        cur_frozen, _ = q.clock_settings()
        target = self.now(q) if now is None else now
        if advance:
            target += advance
        problem = clock_problem(target)
        if problem is not None:  # refused before anything is stored
            raise ValueError(problem)
        keep_frozen = (cur_frozen is not None) if frozen is None else frozen
        if keep_frozen:
            q.set_clock(frozen=target, offset=0.0)
        else:
            q.set_clock(frozen=None, offset=target - time.time())
        return self.describe(q)
