"""Round trips shared by concurrent requests (PostgreSQL's request path, postgres.py).

Under load a worker has many requests at the same step at once: each sending its own statement
paid a round trip, a pool checkout, the server's per-message work and, for a write, its own
transaction and WAL flush. `Batches` queues one kind of step (the gathered reads, the writes) and
sends what queued together: at most `at_once` batches under way, each of at most `most` items. An
item that comes while fewer are under way goes at once, so a quiet worker's request is sent alone,
as before; a busy worker's wait for a free slot is what gathers the next batch.

`send(group)` does the work and settles every item's future (`settle`): a result or an error for
each, never none. The queue belongs to the event loop it was filled on (tests run several loops in
turn, one after another): a new loop starts with none under way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

V = TypeVar("V")


class Item(Generic[V]):
    """One request's part: what it sends, its future, its deadline (the loop's clock)."""

    __slots__ = ("deadline", "fut", "value")

    def __init__(self, value: V, fut: asyncio.Future, deadline: float):
        self.value, self.fut, self.deadline = value, fut, deadline


def settle(fut: asyncio.Future, error: BaseException | None = None, result: Any = None) -> None:
    """An outcome to the request awaiting `fut`, unless the request is gone (cancelled). Both
    backends' batches answer their requests with it (sqlite.py's group commit too)."""
    if not fut.done():
        if error is None:
            fut.set_result(result)
        else:
            fut.set_exception(error)


class Batches(Generic[V]):
    def __init__(self, send: Callable[[list[Item[V]]], Awaitable[None]], *, at_once: int, most: int):
        self._send, self._at_once, self._most = send, at_once, most
        self._queued: list[Item[V]] = []
        self._under_way = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task] = set()  # the loop keeps only a weak reference to a task

    async def run(self, value: V, deadline: float) -> Any:
        """`value` sent with others queued meanwhile; its own outcome."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop, self._queued, self._under_way = loop, [], 0
        fut = loop.create_future()
        self._queued.append(Item(value, fut, deadline))
        if self._under_way < self._at_once:
            self._under_way += 1
            task = loop.create_task(self._drain(loop))  # takes what queued by the time it runs
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await fut

    async def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while self._queued:
                group = [item for item in self._queued[: self._most] if not item.fut.done()]
                del self._queued[: self._most]
                if not group:
                    continue
                try:
                    await self._send(group)
                except BaseException as exc:  # `send` settles each item; should it fail, none is left waiting
                    for item in group:
                        settle(item.fut, exc)
                    if not isinstance(exc, Exception):
                        raise
        finally:
            if self._loop is loop:  # (a loop's successor counts its own)
                self._under_way -= 1
