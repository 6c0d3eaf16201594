"""The state file's accidents, caught before serving: damage, a reset under a live mock, and
temporary worlds left behind.

- `integrity_problem`: SQLite's own `PRAGMA quick_check` at start. A file with one corrupt page
  used to start, print its banner and then answer 500 to revokes; now it is refused with a
  message that says what to do.
- `StateLock`: every serving `layers-mock` holds a *shared* `flock` on its state file for its
  whole life; `--reset` needs it *exclusive*, so it is refused while another mock serves the
  file (unless `--force`). `flock` locks are separate from the POSIX record locks SQLite takes
  on the same file, so they never interfere with it, and the kernel drops them with the
  process, even on SIGKILL: a crashed mock never leaves the file "in use".
- `temporary_world` / `exit_on_sigterm`: the fresh world of a start without `--state` lives in
  a temporary directory removed on every way out. Uvicorn re-raises the SIGTERM it caught
  after shutting down, which killed the process before `atexit` ran (one directory leaked per
  stop, one of them 192 MB); turned into SystemExit, it unwinds through our `finally`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import sqlite3
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

TEMP_PREFIX = "layers-mock-"
_PROBLEM_LINES = 5


def integrity_problem(path: str) -> str | None:
    """What SQLite's quick_check finds wrong with the file at `path`, or None (also for a new file)."""
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return None
    try:
        db = sqlite3.connect(path, timeout=30)
        try:
            rows = [r[0] for r in db.execute("PRAGMA quick_check")]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    if rows == ["ok"]:
        return None
    shown = rows[:_PROBLEM_LINES] + (
        [f"... and {len(rows) - _PROBLEM_LINES} more"] if len(rows) > _PROBLEM_LINES else []
    )
    return "; ".join(shown)


class StateFileInUse(RuntimeError):
    pass


class StateFileError(RuntimeError):
    """The state file cannot be served; the message says why and what to do."""


class StateLock:
    """A flock on the state file, held open for the life of the serving process."""

    def __init__(self, path: str):
        self.path = path
        # O_CLOEXEC (Python's default): the uvicorn workers do not inherit it; the supervisor,
        # which outlives them, holds it.
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def acquire(self, *, exclusive: bool) -> None:
        """Shared: wait for a reset in progress to finish. Exclusive: refuse at once if in use."""
        if exclusive:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StateFileInUse(self.path) from None
        else:
            fcntl.flock(self._fd, fcntl.LOCK_SH)

    def share(self) -> None:
        """From exclusive (the reset is done) to shared (serving, beside other mocks)."""
        fcntl.flock(self._fd, fcntl.LOCK_SH)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


@contextmanager
def temporary_world() -> Iterator[str]:
    """A state file path in a fresh temporary directory, removed when the block exits."""
    tmp = tempfile.mkdtemp(prefix=TEMP_PREFIX)
    try:
        yield os.path.join(tmp, "state.sqlite3")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def exit_on_sigterm() -> None:
    """SIGTERM raises SystemExit(143) in the main thread, so `finally` blocks and atexit run."""
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))


@contextmanager
def opened(path: str | None, *, reset: bool, force: bool = False) -> Iterator[tuple[str, StateLock]]:
    """The state file to serve (a temporary one when `path` is None), locked and checked.

    With `reset` the lock is exclusive: call `lock.share()` once the reset is done."""
    with ExitStack() as stack:
        if path is None:
            path = stack.enter_context(temporary_world())
        try:
            lock = StateLock(path)
        except OSError as exc:
            raise StateFileError(f"cannot use state file {path}: {exc.strerror}") from None
        stack.callback(lock.close)
        try:
            lock.acquire(exclusive=reset)
        except StateFileInUse:
            if not force:
                raise StateFileError(
                    f"state file {path} is in use: another layers-mock is serving it, and --reset would wipe"
                    " the world it serves. Stop that mock first, or add --force to reset it anyway."
                ) from None
            lock.acquire(exclusive=False)
        problem = integrity_problem(path)
        if problem is not None:
            raise StateFileError(
                f"state file {path} is damaged (SQLite quick_check: {problem}). Restore it from a copy,"
                " or move it aside and start again (a new file gets the fixture's world)."
            )
        yield path, lock
