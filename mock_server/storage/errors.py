"""What a backend raises when it cannot do what was asked in time or at all: a `StorageFault`.

Every backend turns its own failures of this kind into one `StorageFault` naming the cause from
a short fixed list, so the answer (the documented 500, with nothing changed: the transaction was
rolled back or never began), the one log line and the metrics read the same on SQLite and
PostgreSQL. The message never carries the database's URL, a key or a row: only the cause and a
short, fixed explanation.
"""

from __future__ import annotations

LOCK_HELD = "lock held"  # another process (or a stalled peer) holds the lock we need past the bound
DISK_FULL = "disk full"  # SQLITE_FULL / ENOSPC / PostgreSQL's disk_full
UNREACHABLE = "database unreachable"  # no connection, or the connection broke
TIMED_OUT = "timed out"  # a statement ran past the bound (PostgreSQL's statement_timeout)

CAUSES: tuple[str, ...] = (LOCK_HELD, DISK_FULL, UNREACHABLE, TIMED_OUT)


class StorageFault(Exception):
    """Storage could not answer within its bound, or could not write: nothing was changed.

    `cause` is one of `CAUSES`; `detail` is a short fixed explanation for the log (never a secret)."""

    def __init__(self, cause: str, detail: str = ""):
        if cause not in CAUSES:
            raise ValueError(f"unknown storage fault cause {cause!r}")
        self.cause = cause
        self.detail = detail
        super().__init__(f"{cause}: {detail}" if detail else cause)
