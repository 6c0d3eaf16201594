"""The one clock of the mock.

Rules never call datetime.now(): they ask the Clock, whose offset (or frozen instant) lives in
the shared SQLite state so that every worker process sees the same time, and the control plane
can move it (to expire idempotency keys or refill a rate-limit window without waiting).
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from functools import lru_cache

from mock_server.control_bounds import clock_problem


def to_iso(ts: float) -> str:
    """The API's timestamp form: UTC, seconds precision, trailing Z."""
    return _iso_seconds(int(ts))


@lru_cache(maxsize=64)  # under load most requests fall in the same few seconds
def _iso_seconds(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Clock:
    """Wall time plus an offset, or a frozen instant; both read from the store's settings."""

    def __init__(self, store):
        self._store = store

    def now(self) -> float:
        frozen, offset = self._store.clock_settings()
        if frozen is not None:
            return frozen
        return time.time() + offset

    def describe(self) -> dict:
        frozen, offset = self._store.clock_settings()
        now = self.now()
        return {"now": to_iso(now), "epochSeconds": now, "frozen": frozen is not None, "offsetSeconds": offset}

    def set(self, *, now: float | None = None, advance: float | None = None, frozen: bool | None = None) -> dict:
        cur_frozen, offset = self._store.clock_settings()
        current = self.now()
        target = current if now is None else now
        if advance:
            target += advance
        problem = clock_problem(target)
        if problem is not None:  # refused before anything is stored (control_bounds.py says why)
            raise ValueError(problem)
        keep_frozen = (cur_frozen is not None) if frozen is None else frozen
        if keep_frozen:
            self._store.set_clock(frozen=target, offset=0.0)
        else:
            self._store.set_clock(frozen=None, offset=target - time.time())
        return self.describe()
