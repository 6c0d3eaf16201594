"""Id minting: request ids (`req_<ULID>`) and resource ids (`<prefix>_<uuid4>`)."""

from __future__ import annotations

import os
import random
import time
import uuid

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Two digits per lookup: 13 table lookups instead of 26 divisions in Python (a request id is
# minted for every request: bench/RESULTS.md's profile).
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]
_SHIFTS = tuple(range(120, -1, -10))

# The random bits of a request id (`ulid`). Request ids name requests, they grant nothing, so what
# they need is to be unique, not unguessable: a Mersenne Twister seeded from the OS's randomness
# (and seeded again in every forked worker, so two workers never share a sequence) gives that at
# a fifth of the cost of a getrandom() call per request. A private instance: tests and libraries
# that seed the `random` module (hypothesis does) cannot make ids repeat.
_RANDOM = random.Random()
os.register_at_fork(after_in_child=_RANDOM.seed)


def encode(value: int) -> str:
    """A number below 2**130 as 26 Crockford base32 digits, most significant first."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


_COUNTED = 1 << 20  # ids per millisecond the last 4 digits count (a worker answers ~10 per ms)


class _Minted:
    """What a request id is made of but its last 4 digits: the millisecond's 10 digits, and 12
    random digits (60 bits) drawn once per process. One instance (`_NOW`): setting a class's
    attribute per id would void Python's attribute caches for it."""

    __slots__ = ("count", "digits", "ms", "tail")

    def __init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        self.tail = encode(_RANDOM.getrandbits(60))[-12:]
        self.ms, self.digits, self.count = -1, "", 0


_NOW = _Minted()
# A forked worker draws digits of its own (its generator reseeded first, above): it would
# otherwise mint its parent's ids, counting on from the parent's in the same millisecond.
os.register_at_fork(after_in_child=_NOW.forget)


def ulid() -> str:
    """A 26-character ULID: 48 bits of milliseconds, then 80 bits: this process's 60 random bits
    and 20 that count its ids in the millisecond from 0 (ULID's monotonic form: ids of one
    millisecond sort in the order they were minted). Two processes' ids differ in the random
    bits. Drawing and encoding 80 bits per id (big-integer shifts, eight lookups) took 1.1 us,
    this 0.5 us (timeit, one core)."""
    ms = int(time.time() * 1000)
    now = _NOW
    if ms != now.ms or now.count >= _COUNTED:
        p = _PAIRS  # the 48 bits of milliseconds in 5 pairs of digits: `encode(ms << 80)[:10]`
        now.digits = (
            p[(ms >> 40) & 1023] + p[(ms >> 30) & 1023] + p[(ms >> 20) & 1023] + p[(ms >> 10) & 1023] + p[ms & 1023]
        ) + now.tail
        now.ms, now.count = ms, 0
    count = now.count
    now.count = count + 1
    return now.digits + _PAIRS[count >> 10] + _PAIRS[count & 1023]


def request_id() -> str:
    return "req_" + ulid()


def prefixed_uuid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4()}"
