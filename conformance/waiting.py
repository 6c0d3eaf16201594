"""How the kit waits out a Retry-After: really (any target), or by moving the mock's clock.

The mock's Retry-After is truthful relative to its own clock, so against the mock the kit may
advance that clock instead of sleeping; a real target must really be waited for, bounded by
`--max-wait` so that a misconfigured staging cannot hang CI.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx

from conformance.transport import Bounds, RunStopped, RunTimeExceeded

# A wait longer than this says how far it is, every PROGRESS_EVERY seconds (a CI log that is silent
# for a minute looks hung).
PROGRESS_EVERY = 10.0


class _OneWaitAtATime:
    """Scenarios run on several threads, and a 429 usually reaches several of them in one window:
    they wait one at a time, and a thread whose 429 came before another thread's wait ended does
    not wait again (that wait was for the same window). So the run waits once per window, and the
    waits it counts (--max-total-wait) are the ones it really spent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_end = float("-inf")

    def once(self, asked: float, do: Callable[[], None]) -> bool:
        with self._lock:
            if self._last_end > asked:
                return False
            do()
            self._last_end = time.monotonic()
            return True


class WaitTooLong(RunStopped):
    pass


class RealWaiter:
    """Sleeps as told, within three bounds: each wait (--max-wait), all waits of the run
    (--max-total-wait) and the run itself (--max-time). A wait that would pass one is not begun."""

    def __init__(
        self,
        max_wait: float,
        *,
        max_total: float = float("inf"),
        bounds: Bounds | None = None,
        progress: Callable[[str], None] | None = None,
    ):
        self.max_wait = max_wait
        self.max_total = max_total
        self.bounds = bounds
        self.progress = progress
        self.waited = 0.0
        self.waits = 0
        self._one = _OneWaitAtATime()

    def wait(self, seconds: int) -> None:
        self._one.once(time.monotonic(), lambda: self._wait(seconds))

    def _wait(self, seconds: int) -> None:
        if seconds > self.max_wait:
            raise WaitTooLong(f"Retry-After {seconds}s exceeds --max-wait {self.max_wait:g}s")
        if self.waited + seconds > self.max_total:
            raise WaitTooLong(
                f"waiting Retry-After {seconds}s would bring the run's waiting to "
                f"{self.waited + seconds:g}s, beyond --max-total-wait {self.max_total:g}s "
                f"({self.waits} wait(s) so far): the target keeps answering 429"
            )
        if self.bounds is not None and seconds >= self.bounds.remaining():
            raise RunTimeExceeded(f"waiting Retry-After {seconds}s would pass --max-time {self.bounds.max_time:g}s")
        self._sleep(seconds)
        self.waited += seconds
        self.waits += 1

    def _sleep(self, seconds: float) -> None:
        """Sleep, with a progress line every PROGRESS_EVERY seconds of a long wait."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            time.sleep(min(left, PROGRESS_EVERY))
            left = end - time.monotonic()
            if self.progress is not None and left > 0.5:
                self.progress(f"  waiting Retry-After {seconds}s: {seconds - left:.0f}s waited, {left:.0f}s to go")


class MockClockWaiter:
    def __init__(self, control):
        self.control = control
        self.waited = 0.0
        self.waits = 0
        self._one = _OneWaitAtATime()

    def wait(self, seconds: int) -> None:
        self._one.once(time.monotonic(), lambda: self._advance(seconds))

    def _advance(self, seconds: int) -> None:
        try:
            self.control.set_clock(advanceSeconds=seconds)
        except (httpx.ReadError, httpx.RemoteProtocolError):
            # A kept-alive connection the mock closed while it sat idle (the run was busy
            # elsewhere): the request never reached it; once more on a new connection. (Were it
            # to have arrived, the clock moves twice as far: still past the window.)
            self.control.set_clock(advanceSeconds=seconds)
        self.waited += seconds
        self.waits += 1
