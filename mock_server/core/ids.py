"""Id minting: request ids (`req_<ULID>`) and resource ids (`<prefix>_<uuid4>`)."""

from __future__ import annotations

import os
import time
import uuid

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Two digits per lookup: 13 table lookups instead of 26 divisions in Python (a request id is
# minted for every request: bench/RESULTS.md's profile).
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]
_SHIFTS = tuple(range(120, -1, -10))


def encode(value: int) -> str:
    """A number below 2**130 as 26 Crockford base32 digits, most significant first."""
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])


def ulid() -> str:
    """A 26-character ULID: 48 bits of milliseconds, then 80 random bits."""
    return encode((int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big"))


def request_id() -> str:
    return "req_" + ulid()


def prefixed_uuid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4()}"
