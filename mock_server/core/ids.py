"""Id minting: request ids (`req_<ULID>`) and resource ids (`<prefix>_<uuid4>`)."""

from __future__ import annotations

import os
import time
import uuid

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid() -> str:
    """A 26-character ULID: 48 bits of milliseconds, then 80 random bits."""
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    chars = []
    for _ in range(26):
        value, rem = divmod(value, 32)
        chars.append(_CROCKFORD[rem])
    return "".join(reversed(chars))


def request_id() -> str:
    return "req_" + ulid()


def prefixed_uuid(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4()}"
