"""A hosted sandbox's idle timer: pushed out whenever the sandbox is used, and expired sandboxes swept away."""

from __future__ import annotations

import asyncio
import logging
import threading
import time

from mock_server.storage.queries import LOCAL_SANDBOX
from mock_server.storage.schema import TABLES_TO_CLEAR
from mock_server.tenancy.limits import Limits

log = logging.getLogger("layers.mock")


class Lifecycle:
    """Touching (async, on the event loop) and sweeping (blocking, control-plane threads)."""

    def __init__(self, storage, limits: Limits):
        self.storage = storage
        self.limits = limits
        # Touch a sandbox's idle timer at most this often per process: one small write a
        # minute per busy sandbox, not one per request (tests use a TTL of seconds).
        self.touch_interval = min(60.0, limits.idle_ttl / 10)
        self.sweep_interval = min(60.0, limits.idle_ttl / 4)
        self._touched: dict[str, float] = {}
        self._tasks: set[asyncio.Task] = set()
        self._sweep_lock = threading.Lock()
        self._last_sweep = 0.0

    def seen(self, sandbox: str) -> None:
        """The sandbox was used now (API or control plane): push its expiry out, at most once per
        touch_interval per process, without making the request wait for the write."""
        if sandbox == LOCAL_SANDBOX:
            return
        now = time.monotonic()
        if now - self._touched.get(sandbox, -1e9) < self.touch_interval:
            return
        self._touched[sandbox] = now
        if len(self._touched) > 10 * max(1, self.limits.max_sandboxes):
            self._touched.clear()  # deleted sandboxes' entries: a bounded cache
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self.storage.write(lambda q: q.touch_sandbox(sandbox, time.time())))
        self._tasks.add(task)
        task.add_done_callback(self._touch_done)

    def _touch_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not touch a sandbox: %s", task.exception())

    def forget(self, sandbox: str) -> None:
        """A deleted sandbox: its timer's entry goes too."""
        self._touched.pop(sandbox, None)

    def sweep(self, *, force: bool = False, batch: int = 20) -> int:
        """Delete expired sandboxes (blocking; control-plane threads only), at most every
        sweep_interval per process unless forced. Their keys were refused from the moment they
        expired; this frees their rows."""
        now = time.time()
        with self._sweep_lock:
            if not force and now - self._last_sweep < self.sweep_interval:
                return 0
            self._last_sweep = now
        with self.storage.snapshot() as q:
            expired = q.expired_sandboxes(now, batch)
        deleted = 0
        for sandbox_id in expired:
            with self.storage.transaction() as q:
                row = q.sandbox_row(sandbox_id, lock=True)
                if row is not None and row["expires_at"] is not None and row["expires_at"] <= now:
                    deleted += q.delete_sandbox(sandbox_id, TABLES_TO_CLEAR)
        return deleted
