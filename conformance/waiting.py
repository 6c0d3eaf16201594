"""How the kit waits out a Retry-After: really (any target), or by moving the mock's clock.

The mock's Retry-After is truthful relative to its own clock, so against the mock the kit may
advance that clock instead of sleeping; a real target must really be waited for, bounded by
`--max-wait` so that a misconfigured staging cannot hang CI.
"""

from __future__ import annotations

import time

from conformance.transport import Bounds, RunStopped, RunTimeExceeded


class WaitTooLong(RunStopped):
    pass


class RealWaiter:
    """Sleeps as told, within three bounds: each wait (--max-wait), all waits of the run
    (--max-total-wait) and the run itself (--max-time). A wait that would pass one is not begun."""

    def __init__(self, max_wait: float, *, max_total: float = float("inf"), bounds: Bounds | None = None):
        self.max_wait = max_wait
        self.max_total = max_total
        self.bounds = bounds
        self.waited = 0.0
        self.waits = 0

    def wait(self, seconds: int) -> None:
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
        time.sleep(seconds)
        self.waited += seconds
        self.waits += 1


class MockClockWaiter:
    def __init__(self, control):
        self.control = control
        self.waited = 0.0
        self.waits = 0

    def wait(self, seconds: int) -> None:
        self.control.set_clock(advanceSeconds=seconds)
        self.waited += seconds
        self.waits += 1
