"""What the domain and the control plane ask of storage, whatever the backend.

Two ways in:
- `transaction()` / `snapshot()`: blocking, on the calling thread's own connection. For the CLI,
  tests, and the control plane (whose handlers Connexion runs in its thread pool). Refused on
  a thread that runs an event loop: there it would stall every request in flight.
- `await decide(ask, decide)`: a revoke (gathered.py). ONE read gathers its snapshot, the
  domain decides on it (a pure function), ONE batch applies the decision with guards; a guard
  broken by a concurrent writer rolls the batch back and the decision is made again from a fresh
  read (`_run_decision`, bounded). `await gather(ask)`: the read alone (the Connexion edge's
  security step). Neither blocks the event loop: SQLite reads on the loop's connection and
  writes in this process's group commit, PostgreSQL uses async psycopg on a pool.
- `await write(fn)` / `await read(fn)`: any other work of the request path (hosted mode's
  sandbox bookkeeping), `fn(queries)` in one transaction, off the event loop.

Sandboxes (issue #13): one database holds many worlds, each query scoped by a sandbox id
(queries.py). `transaction()`/`snapshot()` give the implicit `local` sandbox's queries;
`sandbox_transaction(id)` another's; the request path rescopes with `q.within(caller.sandbox)`
once the bearer secret has named the sandbox (domain.py).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from mock_server.storage.gathered import Ask, LostRace, Writes
from mock_server.storage.queries import LOCAL_SANDBOX, Queries, clock_settings_of
from mock_server.storage.schema import ALL_TABLES, INDEX_NAMES, MIGRATIONS, SCHEMA_VERSION, SchemaMismatch

# (wall time, frozen instant or None, offset) -> (the journal's timestamp text, the mock's epoch seconds)
Stamp = Callable[[float, float | None, float], tuple[str, float]]
# The journal's bound per sandbox when none is given (MockSettings.journal_limit is the setting).
DEFAULT_JOURNAL_LIMIT = 100_000
T = TypeVar("T")
# The domain's decision on a snapshot (None: no key has the secret): the answer and its writes
# (None: nothing to write), or another Ask to read first.
Decide = Callable[[dict | None, Ask], "tuple[T, Writes | None] | Ask"]
# How many times one revoke is read and decided before giving up: each retry follows a
# concurrent writer's commit (a lost race) or a rate window the clock moved into.
MAX_DECISIONS = 10
# How long the clock a request read is the one its journal entry is stamped with (base.py
# `_journal_rows`); older, the journal reads the clock itself.
CLOCK_SEEN_S = 1.0
# A worker's journal entries are written in batches after their responses, by each backend its
# own way (SQLite: the housekeeping thread; PostgreSQL: a task on the event loop). While the
# worker is busy (its last batch held JOURNAL_BUSY_BATCH entries or more: thousands of requests a
# second) the batch waits JOURNAL_BUSY_DELAY_S to gather more, since a write costs mostly per
# batch: SQLite's transaction (its lock, the journal's last WAL frames, the thread's wake-up and
# GIL hand-overs: 20 ms instead of 2 cut its CPU per served 401 from ~8.5 to ~6 us, 50 ms no
# less; bench/served_401.py), PostgreSQL's checkout, statement and commit. Not while quiet:
# another worker's control plane reads the database, not this worker's memory, and a client that
# asks for the state or the journal right after a few requests expects them there (20 ms is more
# than a control-plane round trip). The control plane flushes its own worker's entries first.
JOURNAL_BUSY_DELAY_S = 0.02
JOURNAL_BUSY_BATCH = 8


def journal_delay(last_batch: int, quiet: float) -> float:
    """How long a worker lets journal entries gather, after a batch of `last_batch`: the backend's
    `quiet` delay while it is quiet, JOURNAL_BUSY_DELAY_S while it is busy."""
    return JOURNAL_BUSY_DELAY_S if last_batch >= JOURNAL_BUSY_BATCH else quiet


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
        # sandbox -> (frozen, offset, when): the clock the latest request of the sandbox read
        self._clocks_seen: dict[str, tuple[float | None, float, float]] = {}
        # The journal keeps the newest `journal_limit` entries per sandbox (0: it records nothing).
        # Trimming is one DELETE per sandbox every tenth of the limit written (amortized, never a
        # statement per response; SQLite's request path hands it to a thread: `_trim_later`), and
        # exact where the control plane trims before reading (the client report).
        self.journal_limit = journal_limit
        self._trim_every = max(1, journal_limit // 10)
        self._written_since_trim: dict[str, int] = {}

    # -- blocking, off the event loop ------------------------------------------------------
    @abstractmethod
    def transaction(self) -> AbstractContextManager[Queries]:
        """A write transaction: all of it commits, or (on any exception) none of it. What its
        reads see is the backend's: SQLite holds the write lock (nothing else commits meanwhile);
        PostgreSQL runs READ COMMITTED (each statement sees what committed before it)."""

    @abstractmethod
    def snapshot(self) -> AbstractContextManager[Queries]:
        """Reads that see one consistent state (SQLite: one WAL read transaction; PostgreSQL:
        REPEATABLE READ, READ ONLY)."""

    @contextmanager
    def sandbox_transaction(self, sandbox: str, *, write: bool = True) -> Iterator[Queries]:
        """`transaction()` (or, `write=False`, `snapshot()`) over one sandbox's world."""
        with self.transaction() if write else self.snapshot() as q:
            yield q.within(sandbox)

    # -- the request path ------------------------------------------------------------------
    @abstractmethod
    async def gather(self, ask: Ask) -> dict | None:
        """A revoke's snapshot (queries.py `gather`), in one read."""

    @abstractmethod
    async def decide(self, ask: Ask, decide: Decide[T]) -> T:
        """A revoke: read `ask`, `decide(row, ask)`, write what it decided, committed before this
        returns (see the module docstring). A refusal `decide` raises is raised as it is."""

    @abstractmethod
    async def write(self, fn: Callable[[Queries], T]) -> T:
        """`fn` in a write transaction, committed before this returns; its exception rolls it back.
        `fn` may be run again after a rollback (SQLite's group commit): it changes nothing but
        the database."""

    @abstractmethod
    async def read(self, fn: Callable[[Queries], T]) -> T:
        """`fn` over committed state."""

    async def _run_decision(
        self,
        ask: Ask,
        decide: Decide,
        gather: Callable[[Ask], Awaitable[dict | None]],
        apply: Callable[[Writes], Awaitable[None]],
    ):
        """Read, decide, write; again from the read when the write lost a race (bounded)."""
        for _ in range(MAX_DECISIONS):
            row = await gather(ask)
            if row is not None:
                self._saw_clock(row)
            decided = decide(row, ask)
            if isinstance(decided, Ask):
                ask = decided
                continue
            answer, writes = decided
            if writes is None:
                return answer
            try:
                await apply(writes)
            except LostRace:
                continue
            return answer
        raise LostRace(f"decided {MAX_DECISIONS} times, each time overtaken by a concurrent writer")

    # -- schema and seeding ----------------------------------------------------------------
    @abstractmethod
    def prepare(self, seed: Callable[[Queries], Any] | None, *, reset: bool = False) -> bool:
        """Make the schema (or check its version) and run `seed` if the world is empty (or
        `reset`): once, however many processes start at the same moment. True if seeded."""

    # What `_build_world` needs from a backend: its DDL, and the names of the tables it holds.
    ddl: list[str]
    index_ddl: list[str]
    # Indexes a seed leaves in place (the others are dropped and built once after the rows).
    kept_while_seeding: tuple[str, ...] = ()

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
                if name not in self.kept_while_seeding:
                    q.conn.execute(f"DROP INDEX IF EXISTS {name}")
            for stmt in self.index_ddl:  # and the kept ones there before the rows (a new file has none yet)
                if _index_name(stmt) in self.kept_while_seeding:
                    q.conn.execute(stmt)
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
        # The clock the request read, taken now, as its response leaves: a flush comes later
        # (a batch, another thread), when the clock may have been moved by the control plane,
        # and the client report grades a request's timing on the clock it was answered at.
        entry = entry + (LOCAL_SANDBOX, None, None, False)[len(entry) - 9 :]  # all 13 fields
        seen = None if entry[9] is None else self._seen_clock(str(entry[9]))
        entry += (seen,)
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

    def _saw_clock(self, row: dict) -> None:
        frozen, offset = clock_settings_of(row["clock_frozen"], row["clock_offset"])
        self._clocks_seen[row["sandbox"]] = (frozen, offset, time.monotonic())

    def _seen_clock(self, sandbox: str) -> tuple[float | None, float] | None:
        """The clock a request of `sandbox` read within CLOCK_SEEN_S: the one its response was
        decided at, so the one its journal entry is stamped with (no read of its own)."""
        seen = self._clocks_seen.get(sandbox)
        if seen is None or time.monotonic() - seen[2] > CLOCK_SEEN_S:
            return None
        return seen[0], seen[1]

    def _journal_rows(self, pending: list[tuple], clock_of: Callable[[str], tuple[float | None, float]]) -> list:
        """(sandbox, at, request_id, ...) rows of the entries of a sandbox (the others are dropped)."""
        if self._stamp is None:
            raise RuntimeError("this storage was opened without a journal stamp (open_storage(stamp=...))")
        rows = []
        for e in pending:  # every entry has its 13 fields and the clock seen (`journal`)
            sandbox = e[9]
            if sandbox is not None:
                # The clock its request read, else the sandbox's clock now.
                frozen, offset = e[13] if e[13] is not None else clock_of(sandbox)
                at, mock_seconds = self._stamp(e[0], frozen, offset)
                rows.append((sandbox, at) + tuple(e[1:9]) + (mock_seconds, e[0], e[10], e[11], int(bool(e[12]))))
        return rows

    def _trims_due(self, rows: list[tuple]) -> list[str]:
        """The sandboxes whose written entries since their last trim reach a tenth of the bound."""
        due = []
        with self._journal_lock:  # SQLite writes the journal on the loop and on a thread
            for row in rows:
                written = self._written_since_trim.get(row[0], 0) + 1
                self._written_since_trim[row[0]] = written
                if written >= self._trim_every and row[0] not in due:
                    due.append(row[0])
        return due

    def _write_journal(self, q: Queries, pending: list[tuple], *, trim_later: bool = False) -> None:
        """`pending` written in `q`'s transaction; a sandbox whose trim is due is trimmed in it,
        or, `trim_later` (the request path of a backend that trims off it), handed to `_trim_later`."""
        clocks: dict[str, tuple[float | None, float]] = {}

        def clock_of(sandbox: str) -> tuple[float | None, float]:
            if sandbox not in clocks:
                clocks[sandbox] = self._seen_clock(sandbox) or q.within(sandbox).clock_settings()
            return clocks[sandbox]

        rows = self._journal_rows(pending, clock_of)
        q.insert_journal_rows(rows)
        for sandbox in self._trims_due(rows):
            if trim_later:
                self._written_since_trim[sandbox] = 0
                self._trim_later(sandbox)
            else:
                self.trim_journal(q.within(sandbox))

    def _trim_later(self, sandbox: str) -> None:
        """Trim `sandbox`'s journal soon, off the request path (backends that can: SQLite)."""
        raise NotImplementedError

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

    # -- readiness (GET /_mock/ready) --------------------------------------------------------
    def schema_version(self) -> str | None:
        """The schema version the database holds (None: no schema), read in one snapshot; a
        database that does not answer in time raises (StorageFault, or the driver's error)."""
        with self.snapshot() as q:
            if "meta" not in self._table_names(q):
                return None
            return q.scalar("SELECT value FROM meta WHERE name='schema_version'")


def _index_name(ddl: str) -> str | None:
    """The index a statement of schema.INDEXES makes."""
    found = re.search(r"INDEX IF NOT EXISTS (\w+)", ddl)
    return found and found.group(1)


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
