"""How fast the kit may send: a bound on the requests in flight (`--parallel`) and, when the
operator names the key's tier (`--key-tier`), that tier's per-minute budget (from the spec).

Scenarios run at the same time (conformance.schedule) so that a slow target costs waiting once,
not once per request; these two bounds keep that from becoming a load test of staging or from
spending the key's budget faster than the tier allows.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Callable, Iterator

from conformance.transport import Bounds, RunTimeExceeded

WINDOW = 60.0  # the budget is per minute (decision 7: fixed one-minute windows)


class Slots:
    """A counting semaphore whose limit can be widened for a while (the race scenario, run alone,
    needs --concurrency requests at one instant). `peak`: the most ever held at once."""

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0
        self.peak = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._cond:
            while self.used >= self.limit:
                self._cond.wait()
            self.used += 1
            self.peak = max(self.peak, self.used)
        try:
            yield
        finally:
            with self._cond:
                self.used -= 1
                self._cond.notify()

    def narrow(self, limit: int) -> None:
        """From now on at most `limit` at once (those in flight finish)."""
        with self._cond:
            self.limit = min(self.limit, limit)

    @contextlib.contextmanager
    def widened(self, limit: int) -> Iterator[None]:
        with self._cond:
            before, self.limit = self.limit, max(self.limit, limit)
            self._cond.notify_all()
        try:
            yield
        finally:
            with self._cond:
                self.limit = before


class Pacer:
    """At most `per_minute` requests in any 60 s (a sliding window: never more than a fixed
    window would allow either). `None`: no pacing; the kit then relies on 429 and Retry-After."""

    def __init__(
        self,
        per_minute: int | None,
        *,
        tier: str | None = None,
        bounds: Bounds | None = None,
        progress=None,
        window: float = WINDOW,
    ):
        self.per_minute = per_minute
        self.window = window
        self.tier = tier
        self.bounds = bounds
        self.progress: Callable[[str], None] = progress or (lambda msg: None)
        self.sent: collections.deque[float] = collections.deque()
        self.paused = 0.0  # seconds spent waiting for the budget, in all
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if self.per_minute is None:
            return
        while True:
            with self._lock:
                now = time.monotonic()
                while self.sent and now - self.sent[0] >= self.window:
                    self.sent.popleft()
                if len(self.sent) < self.per_minute:
                    self.sent.append(now)
                    return
                pause = self.sent[0] + self.window - now
            if self.bounds is not None and pause >= self.bounds.remaining():
                raise RunTimeExceeded(
                    f"the {self.tier} tier's budget ({self.per_minute} requests a minute) would make the run "
                    f"wait past --max-time {self.bounds.max_time:g}s"
                )
            if pause >= 5:
                self.progress(
                    f"  pacing: the {self.tier} tier allows {self.per_minute} requests a minute (--key-tier);"
                    f" waiting {pause:.0f}s for the window"
                )
            time.sleep(pause)
            self.paused += pause
