"""How the kit waits out a Retry-After: really (any target), or by moving the mock's clock.

The mock's Retry-After is truthful relative to its own clock, so against the mock the kit may
advance that clock instead of sleeping; a real target must really be waited for, bounded by
`--max-wait` so that a misconfigured staging cannot hang CI.
"""
from __future__ import annotations

import time


class WaitTooLong(Exception):
    pass


class RealWaiter:
    def __init__(self, max_wait: float):
        self.max_wait = max_wait
        self.waited = 0.0

    def wait(self, seconds: int) -> None:
        if seconds > self.max_wait:
            raise WaitTooLong(f"Retry-After {seconds}s exceeds --max-wait {self.max_wait:g}s")
        time.sleep(seconds)
        self.waited += seconds


class MockClockWaiter:
    def __init__(self, control):
        self.control = control
        self.waited = 0.0

    def wait(self, seconds: int) -> None:
        self.control.set_clock(advanceSeconds=seconds)
        self.waited += seconds
