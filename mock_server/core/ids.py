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

# The 80 random bits of a request id. Request ids name requests, they grant nothing, so what
# they need is to be unique, not unguessable: a Mersenne Twister seeded from the OS's randomness
# (and seeded again in every forked worker, so two workers never share a sequence) gives that at
# a fifth of the cost of a getrandom() call per request. A private instance: tests and libraries
# that seed the `random` module (hypothesis does) cannot make ids repeat.
_RANDOM = random.Random()
os.register_at_fork(after_in_child=_RANDOM.seed)


def encode(value: int) -> str:
    """A number below 2**130 as 26 Crockford base32 digits, most significant first."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


class _Millisecond:
    """The ULID's first 10 digits (its 48 bits of milliseconds), encoded once per millisecond."""

    ms = -1
    digits = ""


def ulid() -> str:
    """A 26-character ULID: 48 bits of milliseconds, then 80 random bits."""
    ms = int(time.time() * 1000)
    if ms != _Millisecond.ms:
        _Millisecond.digits, _Millisecond.ms = encode(ms << 80)[:10], ms
    r = _RANDOM.getrandbits(80)  # 16 digits, 8 pairs: the same digits `encode` would write
    p = _PAIRS
    return (
        _Millisecond.digits
        + p[r >> 70]
        + p[(r >> 60) & 1023]
        + p[(r >> 50) & 1023]
        + p[(r >> 40) & 1023]
        + p[(r >> 30) & 1023]
        + p[(r >> 20) & 1023]
        + p[(r >> 10) & 1023]
        + p[r & 1023]
    )


def request_id() -> str:
    return "req_" + ulid()


def prefixed_uuid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4()}"
