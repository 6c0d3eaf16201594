"""What the domain and the control plane ask of storage, whatever the backend.

Two ways in:
- `transaction()` / `snapshot()`: blocking, on the calling thread's own connection. For the CLI,
  tests, and the control plane (whose handlers Connexion runs in its thread pool). Refused on
  a thread that runs an event loop: there it would stall every request in flight.
- `await write(fn)` / `await read(fn)`: the request path. `fn(queries)` runs in one
  transaction without blocking the event loop: SQLite runs it in this process's group commit
  (never waiting for another process's lock on the loop), PostgreSQL in a small pool of
  threads with a connection each.

Sandboxes (issue #13): one database holds many worlds, each query scoped by a sandbox id
(queries.py). `transaction()`/`snapshot()` give the implicit `local` sandbox's queries;
`sandbox_transaction(id)` another's; the request path rescopes with `q.within(caller.sandbox)`
once the bearer secret has named the sandbox (domain.py).
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from mock_server.storage.queries import LOCAL_SANDBOX, Queries
from mock_server.storage.schema import ALL_TABLES, INDEX_NAMES, MIGRATIONS, SCHEMA_VERSION, SchemaMismatch

# (wall time, frozen instant or None, offset) -> (the journal's timestamp text, the mock's epoch seconds)
Stamp = Callable[[float, float | None, float], tuple[str, float]]
# The journal's bound per sandbox when none is given (MockSettings.journal_limit is the setting).
DEFAULT_JOURNAL_LIMIT = 100_000
T = TypeVar("T")


class Conflict(Exception):
    """A write broke a uniqueness or reference rule (a duplicate id or secret); nothing was kept."""


def no_event_loop_here(what: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(f"{what} blocks; on the event loop use `await storage.write/read(fn)`")


class Storage(ABC):
    """One world's state. `url` names it without credentials (for banners and messages)."""

    url: str
    backend: str

    def __init__(self, stamp: Stamp | None = None, journal_limit: int = DEFAULT_JOURNAL_LIMIT) -> None:
        # How a journal entry's wall time becomes the mock's time (the core's clock decides;
        # storage only hands it the clock settings its write transaction read).
        self._stamp = stamp
        self._journal_lock = threading.Lock()
        self._journal_pending: list[tuple] = []
        # The journal keeps the newest `journal_limit` entries per sandbox (0: it records nothing).
        # Trimming is one DELETE per sandbox every tenth of the limit written (amortized, never a
        # statement per response), and exact whenever the control plane flushes before reading.
        self.journal_limit = journal_limit
        self._trim_every = max(1, journal_limit // 10)
        self._written_since_trim: dict[str, int] = {}

    # -- blocking, off the event loop ------------------------------------------------------
    @abstractmethod
    def transaction(self) -> AbstractContextManager[Queries]:
        """A write transaction: all of it commits, or (on any exception) none of it."""

    @abstractmethod
    def snapshot(self) -> AbstractContextManager[Queries]:
        """Reads that see one consistent state."""

    @contextmanager
    def sandbox_transaction(self, sandbox: str, *, write: bool = True) -> Iterator[Queries]:
        """`transaction()` (or, `write=False`, `snapshot()`) over one sandbox's world."""
        with self.transaction() if write else self.snapshot() as q:
            yield q.within(sandbox)

    # -- the request path ------------------------------------------------------------------
    @abstractmethod
    async def write(self, fn: Callable[[Queries], T]) -> T:
        """`fn` in a write transaction, committed before this returns; its exception rolls it back."""

    @abstractmethod
    async def read(self, fn: Callable[[Queries], T]) -> T:
        """`fn` over committed state."""

    async def read_or_write(self, read: Callable[[Queries], T | None], write: Callable[[Queries], T]) -> T:
        """`read`'s answer if it has one (not None), else `write`'s, committed. A backend whose reads
        cost a round trip does both in one transaction (PostgreSQL overrides this)."""
        answer = await self.read(read)
        return answer if answer is not None else await self.write(write)

    # -- schema and seeding ----------------------------------------------------------------
    @abstractmethod
    def prepare(self, seed: Callable[[Queries], Any] | None, *, reset: bool = False) -> bool:
        """Make the schema (or check its version) and run `seed` if the world is empty (or
        `reset`): once, however many processes start at the same moment. True if seeded."""

    # What `_build_world` needs from a backend: its DDL, and the names of the tables it holds.
    ddl: list[str]
    index_ddl: list[str]

    def _table_names(self, q: Queries) -> set[str]:
        raise NotImplementedError

    def _build_world(self, q: Queries, seed, reset: bool, where: str) -> bool:
        """`prepare`'s work, inside the backend's locked transaction."""
        tables = self._table_names(q)
        version = q.scalar("SELECT value FROM meta WHERE name='schema_version'") if "meta" in tables else None
        if reset:
            for table in ALL_TABLES:
                q.conn.execute(f"DROP TABLE IF EXISTS {table}")
        else:
            version = self._migrate(q, version)
            check_version(version, "organizations" in tables, where)
        for stmt in self.ddl:
            q.conn.execute(stmt)
        q.many(
            "INSERT INTO meta(name, value) VALUES (?, ?) ON CONFLICT(name) DO NOTHING",
            [("schema_version", str(SCHEMA_VERSION))],
        )
        # Seeded means the local world (hosted mode's sandboxes never count: `seed` makes the local one).
        seeding = seed is not None and not q.scalar(
            "SELECT COUNT(*) AS n FROM organizations WHERE sandbox=?", (LOCAL_SANDBOX,)
        )
        if seeding:
            for name in INDEX_NAMES:  # bulk loading: build the indexes once, after the rows
                q.conn.execute(f"DROP INDEX IF EXISTS {name}")
            seed(q)
        for stmt in self.index_ddl:
            q.conn.execute(stmt)
        return seeding

    real_type: str  # the backend's double, for MIGRATIONS' {REAL}

    def _migrate(self, q: Queries, version: str | None) -> str | None:
        """An older world brought to SCHEMA_VERSION in place, one step at a time (schema.MIGRATIONS),
        inside prepare's locked transaction; a version with no path stays as found (refused next)."""
        while version is not None and version.isdigit() and int(version) in MIGRATIONS:
            for stmt in MIGRATIONS[int(version)]:
                q.conn.execute(stmt.replace("{REAL}", self.real_type))
            version = str(int(version) + 1)
            q.conn.execute(f"UPDATE meta SET value='{version}' WHERE name='schema_version'")
        return version

    def close(self) -> None:  # noqa: B027 - a hook: a backend with nothing to release keeps the no-op
        pass

    # -- the request journal ---------------------------------------------------------------
    # Written after the response leaves, outside the revoke's transaction: many responses'
    # entries share one commit. `wall` is time.time() when the response left; the mock's
    # clock (offset or frozen) is applied when the entries are written.
    def journal(self, entry: tuple) -> None:
        """entry: (wall, request_id, method, path, status, key_id, key_hint, idempotency_key, code, sandbox,
        retry_after, kill_scope, has_body); the last three may be left off (None, None, False). An
        entry of no sandbox (None: an unknown caller in hosted mode) is dropped when written."""
        if not self.journal_limit:
            return
        with self._journal_lock:
            self._journal_pending.append(entry)
        self._journal_added()

    def _journal_added(self) -> None:  # noqa: B027 - a hook: each backend decides when entries are written
        """Schedule a flush (backends decide how)."""

    def _take_journal(self) -> list[tuple]:
        with self._journal_lock:
            pending, self._journal_pending = self._journal_pending, []
        return pending

    def _restore_journal(self, pending: list[tuple]) -> None:
        with self._journal_lock:
            self._journal_pending[:0] = pending

    def _write_journal(self, q: Queries, pending: list[tuple]) -> None:
        if self._stamp is None:
            raise RuntimeError("this storage was opened without a journal stamp (open_storage(stamp=...))")
        by_sandbox: dict[str, list[tuple]] = {}
        for e in pending:
            sandbox = e[9] if len(e) > 9 else LOCAL_SANDBOX
            if sandbox is not None:
                by_sandbox.setdefault(sandbox, []).append(e)
        for sandbox, entries in by_sandbox.items():
            sq = q.within(sandbox)  # each sandbox's entries at its own clock
            frozen, offset = sq.clock_settings()
            rows = []
            for e in entries:
                at, mock_seconds = self._stamp(e[0], frozen, offset)
                extra = tuple(e[10:13]) + (None, None, False)[len(e[10:13]) :]
                rows.append((at,) + tuple(e[1:9]) + (mock_seconds, e[0], extra[0], extra[1], int(bool(extra[2]))))
            sq.insert_journal(rows)
            written = self._written_since_trim.get(sandbox, 0) + len(rows)
            if written >= self._trim_every:
                sq.trim_journal(self.journal_limit)
                written = 0
            self._written_since_trim[sandbox] = written

    def trim_journal(self, q: Queries) -> None:
        """The sandbox of `q` held to the bound now (the control plane, before it reads the journal)."""
        q.trim_journal(self.journal_limit)
        self._written_since_trim[q.sandbox] = 0

    def flush_journal(self) -> None:
        """Write what is buffered now (blocking; the control plane does before reading it)."""
        pending = self._take_journal()
        if not pending:
            return
        try:
            with self.transaction() as q:
                self._write_journal(q, pending)
        except BaseException:
            self._restore_journal(pending)
            raise


def check_version(found: str | None, has_tables: bool, where: str) -> None:
    if found is None and not has_tables:
        return
    if found == str(SCHEMA_VERSION):
        return
    made_by = f"schema version {found}" if found else "an older layers-mock (no schema version)"
    raise SchemaMismatch(
        f"{where} holds a world made by {made_by}; this layers-mock uses schema version "
        f"{SCHEMA_VERSION}. Start it with --reset to rebuild that world, or use a new one."
    )


def redacted(url: str) -> str:
    """A database URL without its password, for banners and messages."""
    parts = urlsplit(url)
    if parts.scheme in ("", "sqlite") or parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@")))
