"""SQLite, the embedded default: one file, every worker process of one host.

WAL mode lets readers run beside the one writer; every write runs inside `BEGIN IMMEDIATE`, so
two workers never interleave a revoke. On the request path, writes join this process's group
commit (`write`) and never wait for another process's lock on the event loop; everything
blocking (`transaction`) runs on its own thread's connection, where SQLite's busy timeout may wait.

Every wait is bounded by `timeout` (the `storage_timeout` setting when serving): a write that
cannot get the write lock in time (a stalled peer process holds it) fails with
`StorageFault("lock held")` and is dropped from the group commit, so it never commits after
its request was answered; SQLITE_FULL (ENOSPC) fails with `StorageFault("disk full")`, its whole
transaction rolled back.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from mock_server.storage.base import (
    DEFAULT_JOURNAL_LIMIT,
    Conflict,
    Stamp,
    Storage,
    T,
    journal_delay,
    no_event_loop_here,
)
from mock_server.storage.batches import settle
from mock_server.storage.errors import DISK_FULL, LOCK_HELD, StorageFault
from mock_server.storage.gathered import Ask, Writes
from mock_server.storage.queries import SQLITE, Queries
from mock_server.storage.schema import INDEXES, TABLES, statements

# Outside a server (the CLI seeding a world, tests, tools): how long a blocking transaction
# waits for another process's write lock. Serving, the `storage_timeout` setting bounds it.
UNSERVED_TIMEOUT_S = 30.0
# Checkpoints: a background thread copies the WAL into the main file every CHECKPOINT_INTERVAL_S
# on its own connection, so request connections do not pay the checkpoint's fsyncs inside
# COMMIT while they hold the write lock (bench/RESULTS.md). Request connections still
# checkpoint by themselves past FALLBACK_AUTOCHECKPOINT_PAGES (~80 MiB of WAL).
CHECKPOINT_INTERVAL_S = 0.05
FALLBACK_AUTOCHECKPOINT_PAGES = 20000
# The request journal is written by the same thread (serving), as soon as entries are waiting:
# a COMMIT writes the WAL, and a write to the WAL waits while a checkpoint fsyncs (ext4: 10-40 ms
# at times on the benchmark machine); on the event loop that stalled every request of the worker.
# Requests only append entries. Woken, the thread first waits JOURNAL_DELAY_S: where revokes
# write (a group commit every loop turn) the entries ride along in the batch's transaction instead
# of taking the write lock once more (measured: 10-30 % fewer 404s a second with partner keys
# when the thread wrote at once). Where nothing else writes (401s: no key, no lookup) the thread
# writes them all, waiting longer while the worker is busy (base.py `journal_delay`). The write
# waits JOURNAL_LOCK_WAIT_MS for the write lock, then tries again later, keeping at most
# JOURNAL_BACKLOG entries meanwhile.
JOURNAL_DELAY_S = 0.002


JOURNAL_LOCK_WAIT_MS = 50
# Journal trims: the same thread deletes the entries past the bound, TRIM_CHUNK at a time, each
# chunk in its own short write transaction, pausing TRIM_PAUSE_S between chunks. Done on the event
# loop, in one statement, a tenth of the default bound (10,000 rows) held the loop and the write
# lock for 30-180 ms: every request of both workers waited (the 200 path's p99).
TRIM_CHUNK = 500
TRIM_PAUSE_S = 0.002

# Journal entries kept in memory while the journal cannot be written (a full disk); older ones go.
# Not the `journal_limit` setting again: that one bounds the rows the journal keeps per sandbox on
# disk (and may be set to millions); this one bounds this process's memory while nothing can be
# written, whatever the limit and however many sandboxes (docs/reliability.md promises 10,000).
JOURNAL_BACKLOG = 10_000
log = logging.getLogger("layers.mock")

# None is bound as NULL through an adapter found at once ({}.get(None) is None, a C call): without
# one, sqlite3 binds None by its slow path (two failed attribute lookups each time), about half of
# what binding a million accounts' rows (three NULLs each) cost. Nothing else changes: the same NULL.
sqlite3.register_adapter(type(None), {}.get)  # type: ignore[arg-type]  # dict.get: overloaded, one of them fits

_DDL = statements(TABLES, seq="INTEGER PRIMARY KEY", real="REAL")
_INDEXES = statements(INDEXES, seq="", real="")


def _busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


def _full(exc: sqlite3.Error) -> bool:
    # SQLITE_FULL: SQLite's unix VFS reports ENOSPC as it (a write of the WAL, the journal or the file).
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)


def storage_fault(exc: BaseException) -> StorageFault | None:
    """The StorageFault a SQLite error means (full disk, a lock held past the bound), else None."""
    if isinstance(exc, StorageFault):
        return exc
    if isinstance(exc, sqlite3.Error) and _full(exc):
        return StorageFault(DISK_FULL, "SQLite could not write the state file (SQLITE_FULL)")
    if isinstance(exc, sqlite3.OperationalError) and _busy(exc):
        return StorageFault(LOCK_HELD, "another process held SQLite's lock past the storage timeout")
    return None


def _answer(exc: Exception) -> Exception:
    """What a write that failed answers its request: a broken uniqueness or reference rule is a
    Conflict; anything else (a lost race) as raised."""
    return Conflict(str(exc)) if isinstance(exc, sqlite3.IntegrityError) else exc


def _translated(exc: BaseException) -> BaseException:
    fault = storage_fault(exc)
    return exc if fault is None else fault


class SqliteStorage(Storage):
    backend = "sqlite"

    def __init__(
        self,
        path: str,
        *,
        serving: bool = False,
        stamp: Stamp | None = None,
        timeout: float | None = None,
        journal_limit: int = DEFAULT_JOURNAL_LIMIT,
    ):
        super().__init__(stamp, journal_limit)
        self.path = path
        # The bound on every wait for a lock (seconds): the busy timeout of blocking transactions,
        # and how long a request's write stays queued for the write lock in the group commit.
        self.timeout = UNSERVED_TIMEOUT_S if timeout is None else timeout
        self._busy_ms = max(1, int(self.timeout * 1000))
        self.url = f"sqlite:///{path}"
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self._loop_q: Queries | None = None
        # Group commit: the writes queued in this event-loop turn, with the futures they await.
        # Each with the loop time past which it is answered "lock held" instead of waiting on.
        self._batch: list[tuple[Callable[[Queries], Any], asyncio.Future, float]] = []
        self._batch_scheduled = False
        self._batch_attempts = 0
        self._journal_failing = False
        self._journal_flushing = False  # the thread is writing entries it took (tests wait for it)
        self._journal_retry = False  # the last write failed: try again each beat, not only when woken
        self._wake = threading.Event()  # entries are waiting, or the storage closes
        # Held by the thread from taking entries to their COMMIT: `flush_journal` (the control
        # plane, before it reads the journal) waits for those too, not only for what is waiting.
        self._flush_lock = threading.Lock()
        self._checkpointer: threading.Thread | None = None
        self._stop = threading.Event()
        self._trims_wanted: set[str] = set()  # sandboxes whose journal the checkpoint thread trims next
        if serving:
            self._start_checkpointer()

    # -- connections ------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a transaction spans exactly
        # the statements we choose.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=self.timeout)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process (only an OS crash can lose the newest
        # commits), at a fraction of FULL's cost per commit.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA busy_timeout={self._busy_ms}")
        conn.execute("PRAGMA foreign_keys=ON")
        if self._checkpointer is not None:
            conn.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_AUTOCHECKPOINT_PAGES}")
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _thread_conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _loop_queries(self) -> Queries:
        """The event loop's own connection (one loop per process). It never waits for another
        process's lock (the loop would stall): its busy timeout is 0, set once here."""
        if self._loop_q is None:
            conn = self._connect()
            conn.execute("PRAGMA busy_timeout=0")
            self._loop_q = Queries(conn, SQLITE)
        return self._loop_q

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._checkpointer is not None:
            self._checkpointer.join(timeout=5)
            self._checkpointer = None
        with self._all_lock:
            for conn in self._all:
                with suppress(sqlite3.Error):
                    conn.close()
            self._all.clear()
        self._local = threading.local()
        self._loop_q = None

    # -- blocking transactions --------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[Queries]:
        no_event_loop_here("storage.transaction()")
        conn = self._thread_conn()
        try:
            conn.execute("BEGIN IMMEDIATE")  # waits (busy timeout: the bound) on this thread, never on the loop
        except sqlite3.OperationalError as exc:
            raise _translated(exc) from None
        try:
            yield Queries(conn, SQLITE)
            conn.execute("COMMIT")
        except sqlite3.IntegrityError as exc:
            conn.execute("ROLLBACK")
            raise Conflict(str(exc)) from None
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            fault = storage_fault(exc)
            if fault is not None and fault is not exc:
                raise fault from None
            raise

    @contextmanager
    def snapshot(self) -> Iterator[Queries]:
        no_event_loop_here("storage.snapshot()")
        conn = self._thread_conn()
        conn.execute("BEGIN")
        try:
            yield Queries(conn, SQLITE)
        finally:
            conn.execute("COMMIT")

    # -- the request path -------------------------------------------------------------------
    async def gather(self, ask: Ask) -> dict | None:
        return self._loop_queries().gather(ask)

    async def decide(self, ask: Ask, decide):
        """The snapshot read on the loop's connection (one statement: one read transaction of
        WAL, never waiting), the writes in the group commit below, each guard checked as its
        statement returns (queries.py `Queries.apply`)."""
        return await self._run_decision(ask, decide, self.gather, self._apply)

    async def _apply(self, writes: Writes) -> None:
        await self.write(lambda q: q.apply(writes))

    async def read(self, fn: Callable[[Queries], T]) -> T:
        # WAL readers never wait for the writer: a read on the loop's connection takes microseconds.
        try:
            return fn(self._loop_queries())
        except sqlite3.OperationalError as exc:
            raise _translated(exc) from None

    # Group commit. Under load a worker has many revokes ready in one event-loop turn; each
    # taking the write lock and committing on its own made the lock, not the CPU, the limit
    # (bench/RESULTS.md). `write` queues them; at the end of the turn `_run_batch` takes the
    # lock once (without waiting: if another worker holds it, it tries again on a later turn),
    # runs the queued writes (an error rolls back that write only: `_run_batch`), COMMITs, and
    # only then hands each request its outcome. An acknowledged revoke is as durable as with
    # one transaction each; no request ever reads a batch's uncommitted state. A write whose
    # batch had a failed write runs twice (the first pass undone): `fn` changes nothing but
    # the database.
    async def write(self, fn: Callable[[Queries], T]) -> T:
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._batch.append((fn, fut, loop.time() + self.timeout))
        if not self._batch_scheduled:
            self._batch_scheduled = True
            loop.call_soon(self._run_batch)
        return await fut

    def _try_begin(self, conn: sqlite3.Connection) -> bool:
        """BEGIN IMMEDIATE on the loop's connection (busy timeout 0: `_loop_queries`), or False."""
        try:
            conn.execute("BEGIN IMMEDIATE")
            return True
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
            return False

    def _run_batch(self) -> None:
        self._batch_scheduled = False
        queue = [item for item in self._batch if not item[1].done()]  # gone clients: nothing done
        self._batch = []
        if not queue:
            return
        q = self._loop_queries()
        conn = q.conn
        try:
            began = self._try_begin(conn)
        except sqlite3.Error as exc:
            self._fail(queue, _translated(exc))
            return
        if not began:
            # Another process is writing: try again on the next loop turns (which keep reading
            # requests into this batch), then every 1 ms; never by blocking the event loop.
            # A write that has waited its bound is answered "lock held" now and dropped, so it
            # never commits after its client was answered (or gave up).
            loop = asyncio.get_running_loop()
            now = loop.time()
            expired = [item for item in queue if item[2] <= now]
            if expired:
                self._fail(
                    expired,
                    StorageFault(LOCK_HELD, "another process held SQLite's write lock past the storage timeout"),
                )
                queue = [item for item in queue if item[2] > now]
            self._batch = queue + self._batch
            if not self._batch:
                self._batch_attempts = 0
                return
            self._batch_attempts += 1
            self._batch_scheduled = True
            if self._batch_attempts < 4:
                loop.call_soon(self._run_batch)
            else:
                loop.call_later(0.001, self._run_batch)
            return
        self._batch_attempts = 0
        try:
            # Optimistic first: the writes one after another, in one savepoint for the whole
            # batch. Should one fail (a lost race), that pass is undone and the batch runs again
            # with each write in a savepoint of its own, so that only the failed one is left out
            # (a savepoint per write on every batch was ~27,000 instructions a revoke:
            # bench/revoke_instructions.py). The same outcome, for two passes over the writes.
            # A lone write needs no savepoint: if it fails, the transaction is undone instead.
            alone = len(queue) == 1
            if not alone:
                conn.execute("SAVEPOINT batch")
            done, failed = self._try_writes(q, queue)
            if failed is not None and alone:
                conn.execute("ROLLBACK")  # nothing was written; the journal waits for the next write
                self._fail(queue, _answer(failed))
                return
            if failed is not None:
                conn.execute("ROLLBACK TO SAVEPOINT batch")
                done = self._writes_each_alone(q, queue)
            if not alone:
                conn.execute("RELEASE SAVEPOINT batch")
            pending = self._take_journal()  # entries buffered meanwhile ride along
            if pending:
                try:
                    self._write_journal(q, pending, trim_later=self._checkpointer is not None)
                except BaseException as exc:
                    if storage_fault(exc) is not None:  # kept for a later write (a full disk frees up)
                        self._restore_journal(pending)
                    raise
            conn.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - nothing of the batch was kept: every request fails
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._fail(queue, _translated(exc))
            return
        for fut, error, result in done:
            settle(fut, error, result)

    @staticmethod
    def _try_writes(q: Queries, queue) -> tuple[list, Exception | None]:
        """The batch's writes in the open transaction, one after another: (future, None, result)
        for each, and None; or, at the first that fails, its error (the caller undoes what ran)."""
        done: list[tuple[asyncio.Future, BaseException | None, Any]] = []
        for fn, fut, _ in queue:
            try:
                done.append((fut, None, fn(q)))
            except Exception as exc:
                if storage_fault(exc) is not None:
                    raise  # a full disk (SQLite may have rolled back the whole transaction): all fail
                return done, exc
        return done, None

    @staticmethod
    def _writes_each_alone(q: Queries, queue) -> list:
        """The batch's writes, each in a savepoint of its own: (future, error, result) for each,
        a failed one undone and answered with its error, the others kept."""
        conn = q.conn
        done: list[tuple[asyncio.Future, BaseException | None, Any]] = []
        for fn, fut, _ in queue:
            conn.execute("SAVEPOINT batch_item")
            try:
                result = fn(q)
            except Exception as exc:
                if storage_fault(exc) is not None:
                    raise  # a full disk (SQLite may have rolled back the whole transaction): all fail
                conn.execute("ROLLBACK TO SAVEPOINT batch_item")
                conn.execute("RELEASE SAVEPOINT batch_item")
                done.append((fut, _answer(exc), None))
                continue
            conn.execute("RELEASE SAVEPOINT batch_item")
            done.append((fut, None, result))
        return done

    @staticmethod
    def _fail(items, exc: BaseException) -> None:
        for item in items:
            settle(item[1], exc)

    # -- journal ----------------------------------------------------------------------------
    def _journal_added(self) -> None:
        """Serving: the housekeeping thread writes them (not serving: the next flush_journal)."""
        if self._checkpointer is not None and not self._wake.is_set():
            self._wake.set()

    def flush_journal(self) -> None:
        with self._flush_lock:
            super().flush_journal()

    def _flush_here(self, jc: sqlite3.Connection) -> None:
        with self._flush_lock:
            self._flush_taken(jc)

    def _flush_taken(self, jc: sqlite3.Connection) -> None:
        """The waiting entries, in one transaction on the housekeeping thread's connection."""
        self._journal_flushing = True
        pending = self._take_journal()
        try:
            if not pending:
                return
            jc.execute("BEGIN IMMEDIATE")  # waits JOURNAL_LOCK_WAIT_MS at most (this thread only)
            self._write_journal(Queries(jc, SQLITE), pending, trim_later=True)
            jc.execute("COMMIT")
            self._journal_failing = self._journal_retry = False
        except Exception as exc:
            if jc.in_transaction:
                jc.execute("ROLLBACK")
            self._restore_journal(pending)
            self._journal_retry = True
            if isinstance(exc, sqlite3.OperationalError) and _busy(exc):
                self._trim_journal()  # another process writes (or a stalled one holds the lock): later
            elif storage_fault(exc) is not None:
                self._journal_not_written(exc)
            else:
                log.exception("journal write failed; kept for later")
        finally:
            self._journal_flushing = False

    def _trim_journal(self) -> None:
        if len(self._journal_pending) > JOURNAL_BACKLOG:
            with self._journal_lock:
                del self._journal_pending[: max(0, len(self._journal_pending) - JOURNAL_BACKLOG)]

    def _journal_not_written(self, exc: BaseException) -> None:
        """The journal could not be written (a full disk): its entries wait for the next write, at
        most JOURNAL_BACKLOG of them (the oldest go first); one log line when it starts failing."""
        fault = storage_fault(exc)
        if fault is None:
            raise exc
        self._trim_journal()
        if not self._journal_failing:
            self._journal_failing = True
            log.error("storage fault (%s): the request journal is not being written; kept for later", fault.cause)

    # -- schema and seeding -----------------------------------------------------------------
    ddl, index_ddl, real_type = _DDL, _INDEXES, "REAL"
    # A load's posts arrive in posts_by_account's order (account by account, seqs rising), so
    # each entry goes at the end of the index: cheaper kept than sorted afterwards (3,000,000
    # posts: 0.3-0.5 CPU-s less; bench/fixture_cpu.py). The accounts come in random id order.
    kept_while_seeding = ("posts_by_account",)

    def _table_names(self, q: Queries) -> set[str]:
        return {r["name"] for r in q.rows("SELECT name FROM sqlite_master WHERE type='table'")}

    def prepare(self, seed, *, reset: bool = False) -> bool:
        no_event_loop_here("storage.prepare()")
        conn = self._thread_conn()
        # References are checked by the world loader before it writes (and re-enabled below):
        # row-by-row checks are most of what a million-account fixture would cost.
        conn.execute("PRAGMA foreign_keys=OFF")
        # The default page cache (2 MiB) while loading too, not a big one: SQLite sorts an index
        # build in runs of the cache's size, and a million random account ids' index took 1.3-1.5
        # CPU-s with a 256 MiB cache against 0.9 with 2 MiB (short runs sorted within the CPU's
        # caches, then merged); the load's peak memory is 256 MiB less (bench/fixture_cpu.py).
        # A rollback journal while seeding when no other connection has the file open: rows go
        # to the file once, instead of into the WAL and then again into the file by a checkpoint
        # (a million accounts' world is ~700 MiB). Still atomic; back to WAL before serving.
        try:
            conn.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
            # Another layers-mock serves this file (leaving WAL needs it alone): stay in WAL,
            # the world is there already, or `--reset --force` reseeds it through the WAL.
        try:
            with self.transaction() as q:
                return self._build_world(q, seed, reset, self.path)
        finally:
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA journal_mode=WAL")

    # -- checkpoints off the request path ---------------------------------------------------
    def _start_checkpointer(self) -> None:
        """A daemon thread for the housekeeping (`_checkpoint_loop`): PASSIVE checkpoints never
        take the write lock nor wait for readers; writers keep committing (their COMMIT,
        synchronous=NORMAL in WAL, does no fsync); the journal's writes and trims take it briefly."""
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, name="wal-checkpoint", daemon=True)
        self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        """Checkpoints every CHECKPOINT_INTERVAL_S (their own connection: a checkpoint is no
        statement of any request), the journal as soon as entries wait, trims when due (one
        connection of `_all`, for the journal's writes)."""
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=self.timeout)
        jc: sqlite3.Connection | None = None
        beat = time.monotonic() + CHECKPOINT_INTERVAL_S
        last_batch = 0  # entries in the journal's last batch (`journal_delay`)
        try:
            jc = self._connect()  # made now, before any request: its set-up is no request's statement
            jc.execute(f"PRAGMA busy_timeout={JOURNAL_LOCK_WAIT_MS}")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=0")  # another process's checkpoint running: skip a beat
            while not self._stop.is_set():
                woken = self._wake.wait(max(0.0, beat - time.monotonic()))
                self._wake.clear()  # before looking: an entry added from now on wakes it again
                if self._stop.is_set():
                    break
                try:
                    if woken and self._journal_pending:
                        self._stop.wait(journal_delay(last_batch, JOURNAL_DELAY_S))
                    if (woken or self._journal_retry) and self._journal_pending:
                        last_batch = len(self._journal_pending)
                        self._flush_here(jc)
                    if time.monotonic() < beat:
                        continue
                    beat = time.monotonic() + CHECKPOINT_INTERVAL_S
                    with suppress(sqlite3.Error):  # busy or transient: try again next beat
                        db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    with self._journal_lock:
                        wanted, self._trims_wanted = self._trims_wanted, set()
                    for sandbox in wanted:
                        self._trim_in_chunks(jc, sandbox)
                except Exception:
                    log.exception("storage housekeeping failed; trying again")
                    self._journal_retry = True
                    self._stop.wait(CHECKPOINT_INTERVAL_S)
        finally:
            db.close()

    def _trim_later(self, sandbox: str) -> None:
        with self._journal_lock:
            self._trims_wanted.add(sandbox)

    def _trim_in_chunks(self, db: sqlite3.Connection, sandbox: str) -> None:
        """`sandbox`'s journal held to its bound, TRIM_CHUNK entries per write transaction (on
        the checkpoint thread: no request waits for it, and the write lock is held briefly)."""
        q = Queries(db, SQLITE, sandbox)
        try:
            newest_dropped = q.journal_cutoff(self.journal_limit)
            while newest_dropped is not None and not self._stop.is_set():
                db.execute("BEGIN IMMEDIATE")  # waits JOURNAL_LOCK_WAIT_MS at most
                try:
                    dropped = q.drop_journal_through(newest_dropped, TRIM_CHUNK)
                    db.execute("COMMIT")
                except BaseException:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    raise
                if dropped < TRIM_CHUNK:
                    return
                self._stop.wait(TRIM_PAUSE_S)  # the request path's writers go between two chunks
        except sqlite3.Error as exc:
            if isinstance(exc, sqlite3.OperationalError) and _busy(exc):
                self._trim_later(sandbox)  # the write lock stayed busy: next beat
            else:  # a full disk: the next due trim tries again
                log.warning("journal trim of sandbox %s failed (%s); it is retried when due again", sandbox, exc)
