"""PostgreSQL: one database shared by any number of `layers-mock` processes, on any hosts.

Isolation, as the interface promises it (base.py): `transaction()` is READ COMMITTED, PostgreSQL's
default (all or nothing; each statement sees what committed before it; row locks order writers);
`snapshot()` is REPEATABLE READ, READ ONLY (one state for all its statements). The request path:
- a revoke is read in ONE statement (queries.py `gather_sql`: one snapshot of the key, its kill
  switches, the clock, the account, its posts' count, an armed fault, the rate windows and the
  idempotency entry), decided by the domain on that snapshot, and written in ONE statement (a call
  of `layers_apply`, made with the schema: a statement is its own transaction): two network round
  trips for any revoke, one for an unknown key or any answer that changes nothing. Both are
  prepared once per pooled connection and sent through psycopg's libpq layer, not a cursor
  (`Statement`), and the function's inner statements keep their plans for the session: no
  parsing or planning per request. (A revoke with an armed fault runs its steps
  one statement each, as one pipeline: BEGIN .. COMMIT, one Sync, `batch`);
- concurrent requests of a worker share those round trips (`_batches`, storage/batches.py): the
  reads waiting at once go as one pipeline, the writes as one transaction (a group commit, each
  write still its own `layers_apply` call with its guards); should one write fail, the batch is
  rolled back and each runs again alone. A quiet worker's request goes alone;
- the writes carry guards: a rate window counts up only below its limit, an
  idempotency entry is inserted only where the snapshot saw none (or replaces only the expired
  one it saw), the account is disconnected only if still revocable, exactly the posts counted are
  canceled, a fault is consumed only if still armed. A guard that fails raises
  serialization_failure inside the transaction (`layers_check`, made with the schema), so the
  whole batch rolls back, and the revoke is decided again from a fresh read
  (storage/base.py `_run_decision`, bounded). Row locks taken by the UPDATEs and upserts order
  concurrent writers of one row; the guard sees the row as the winner left it;
- kill switches, keys and the clock are rows every instance reads on each request: nothing is
  cached per instance (no invalidation across instances to get wrong). The journal stamps its
  entries with the clock the request itself read (base.py).
Seeding an empty database takes a transaction-scoped advisory lock, so many instances starting at
once seed it exactly once. Durability is PostgreSQL's default (fsync, synchronous_commit on).

Connections: the request path uses async psycopg on a pool (psycopg_pool.AsyncConnectionPool);
the blocking path (control plane, CLI, tests) a small synchronous pool. A connection is checked
as it is taken from either, without a round trip (`_idle_check_sync`: an idle connection has
nothing to read; a server that restarted has sent it its goodbye); a dead one is closed and handed
back, the pool replaces it in the background, and the next is taken at once. So no request fails
because a pooled connection died while idle; a read that still finds its connection broken is
retried once on another (a read changes nothing). The pools reconnect by themselves
(psycopg_pool's reconnect with backoff) once the server is back.

Bounds, all from `timeout` (the `storage_timeout` setting, seconds) on the request path: a
connection from the pool within it, connect_timeout its ceiling (libpq counts whole seconds, at
least 2), lock_timeout half of it, statement_timeout 0.8 of it, and the whole of a request's
storage work within it (a shared batch within the earliest of its requests'). Past a bound the
request fails with `StorageFault` naming the cause (storage/errors.py): the transaction was
rolled back, or never began. (Only a server that stops
answering in the middle of a COMMIT leaves the outcome unknown, as for any client.)
"""

from __future__ import annotations

import asyncio
import logging
import math
import select
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import Any

import psycopg
from psycopg.abc import Transformer as TransformerType
from psycopg.adapt import Transformer
from psycopg.generators import execute, fetch_many, send
from psycopg.pq.abc import PGresult
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, ConnectionPool, PoolTimeout

from mock_server.storage.base import (
    DEFAULT_JOURNAL_LIMIT,
    Conflict,
    Stamp,
    Storage,
    T,
    journal_delay,
    no_event_loop_here,
    redacted,
)
from mock_server.storage.batches import Batches, Item, settle
from mock_server.storage.errors import DISK_FULL, LOCK_HELD, TIMED_OUT, UNREACHABLE, StorageFault
from mock_server.storage.gathered import Ask, LostRace, Writes
from mock_server.storage.queries import (
    CANCEL_BY_SEQ,
    DISCONNECT,
    FIRST_FAULT_STEP,
    JOURNAL_COLUMNS,
    POSTGRES,
    RECORD,
    REMEMBER,
    REMEMBER_ROW,
    SPEND,
    SPEND_ROW,
    TAKE_FAULT,
    UNDER_LIMIT,
    Queries,
    clock_settings_of,
    fault_steps,
    gather_sql,
    remember_params,
)
from mock_server.storage.schema import INDEXES, TABLES, statements

# A guard's failure, inside the transaction: serialization_failure, so that the rest of the
# batch is skipped and COMMIT becomes a rollback. VOLATILE (plpgsql's default): never folded
# into a constant by the planner, so it runs for each row it is asked about.
LAYERS_CHECK = """CREATE OR REPLACE FUNCTION layers_check(ok boolean, what text) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION 'a concurrent write changed the %', what USING ERRCODE = 'serialization_failure';
    END IF;
    RETURN true;
END
$$"""


def _named(sql: str, *names: str) -> str:
    """`sql` (queries.py, `?` placeholders) with its parameters named in order: a statement of
    the plpgsql function below, written once for both backends."""
    parts = sql.split("?")
    if len(parts) != len(names) + 1:
        raise ValueError(f"{len(parts) - 1} placeholders, {len(names)} names: {sql}")
    return "".join(part + name for part, name in zip(parts, names + ("",), strict=True))


_TEXT = psycopg.adapt.PyFormat.TEXT


class Statement:
    """One of the request path's two statements (the gathered read, `layers_apply`), sent through
    psycopg's libpq layer instead of a cursor: named and prepared once per connection (Parse),
    then each run is one Bind/Execute (one Sync per round trip: a lone run's, or a batch's,
    `_RequestConnection.pipelined`) with its parameters in text format, whose types the
    server inferred when it prepared the statement, and its row loaded by psycopg's own
    Transformer (the cursor's loaders). A cursor's execute costs ~45 us of the mock's CPU, this
    ~22 us (a prepared 8-parameter, 20-column statement on uvloop, this machine): query
    conversion, the prepared-statement cache, the connection lock and the result's bookkeeping,
    per statement, twice a revoke, were the largest share of the mock's Python on PostgreSQL."""

    def __init__(self, name: str, sql: str):
        n = sql.count("?")  # queries.py's placeholders, numbered as the server's $1.. (`_named`)
        self.name = name.encode()
        self.text = _named(sql, *(f"${i}" for i in range(1, n + 1))).encode()
        self.formats = [_TEXT] * n  # every parameter in text: its type is the one the server inferred
        self.sql = POSTGRES.sql(sql)  # psycopg's form, for a cursor (bench/pg_profile.py's EXPLAIN)
        self.columns: tuple[str, ...] | None = None  # its result's names, read from the first result


# A decided revoke's common writes (gathered.py `Writes`, in its order) as ONE statement: the
# batch is a single round trip with no BEGIN/COMMIT (a statement is its own transaction), its
# text is prepared once per connection (`Statement`), and plpgsql keeps each
# inner statement's plan for the session: no parsing or planning per revoke. Each guard fails
# the statement (`layers_check`), so nothing of it is kept. Absent parts are NULL. An armed
# fault's step-by-step revoke is not here (`batch`).
# Cheap by construction, since it runs on every revoke: the rate windows (a revoke spends at
# most the minute and the day, core/domain.py) come as scalars, not arrays (dumping two arrays
# was ~5 % of the mock's Python time per revoke), and a guard that held costs a plpgsql IF, not
# a statement (`PERFORM layers_check(...)` ran a query and a function call per guard, ~4 per
# revoke): `layers_check` is called only to fail.
_WINDOWS = 2
# A revoke's windows spent in one UPDATE of their existing rows (the common case: a window's
# row is made by its first request) instead of an upsert each: ~50k fewer instructions of the
# server per partner-tier request (bench/pg_server_instructions.py). When it counted fewer rows
# than windows, each window is then upserted as SQLite spends it, except a row this UPDATE
# already counted (its version is this transaction's): a window's first request makes its row,
# a row made by a concurrent revoke since this UPDATE began is counted, and a row at its limit
# fails the guard. The guard is the one of every spend, queries.py `UNDER_LIMIT`.
_SPEND_EXISTING = (
    "UPDATE rate_windows SET count = count + 1 WHERE sandbox = p_sandbox AND key_id = p_key_id"
    " AND window_key IN (p_window_0, p_window_1) AND "
    + _named(UNDER_LIMIT, "CASE window_key WHEN p_window_0 THEN p_limit_0 ELSE p_limit_1 END")
)
_SPEND_UNCOUNTED = SPEND_ROW + " AND rate_windows.xmin <> pg_current_xact_id()::xid"


def _count_uncounted(window: str, limit: str) -> str:
    """`layers_apply`'s fallback for one window: its upsert, the rows it counted added to `n`."""
    return f"""{_named(_SPEND_UNCOUNTED, "p_sandbox", "p_key_id", window, limit)};
            GET DIAGNOSTICS m = ROW_COUNT;
            n := n + m;"""


LAYERS_APPLY = f"""CREATE OR REPLACE FUNCTION layers_apply(
    p_sandbox text, p_key_id text, p_window_0 text, p_limit_0 integer, p_window_1 text, p_limit_1 integer,
    p_idem_key text, p_idem_account text, p_idem_status integer, p_idem_body text, p_idem_request text,
    p_idem_created double precision, p_idem_replaces double precision, p_take bigint,
    p_account text, p_org text, p_reason text, p_at text, p_request text, p_cancelable text, p_canceled integer
) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    m bigint;
    v_windows integer := CASE WHEN p_window_1 IS NULL THEN 1 ELSE 2 END;  -- windows to spend (when any)
    v_seq bigint;  -- the disconnected account's: its posts name it by this (schema.py)
BEGIN
    IF p_window_0 IS NOT NULL THEN
        -- the windows' rows counted up in one statement (_SPEND_EXISTING)
        {_SPEND_EXISTING};
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n < v_windows THEN
            {_count_uncounted("p_window_0", "p_limit_0")}
            IF p_window_1 IS NOT NULL THEN
            {_count_uncounted("p_window_1", "p_limit_1")}
            END IF;
            IF n < v_windows THEN PERFORM layers_check(false, 'rate window'); END IF;
        END IF;
    END IF;
    IF p_idem_key IS NOT NULL THEN
        {
    _named(
        REMEMBER_ROW,
        "p_sandbox",
        "p_key_id",
        "p_idem_key",
        "p_idem_account",
        "p_idem_status",
        "p_idem_body",
        "p_idem_request",
        "p_idem_created",
        "p_idem_replaces",
    )
};
        IF NOT FOUND THEN PERFORM layers_check(false, 'idempotency key'); END IF;
    END IF;
    IF p_take IS NOT NULL THEN
        {_named(TAKE_FAULT, "p_take")};
        IF NOT FOUND THEN PERFORM layers_check(false, 'scripted answer'); END IF;
    END IF;
    IF p_account IS NOT NULL THEN
        {_named(DISCONNECT + " RETURNING seq", "p_reason", "p_at", "p_sandbox", "p_account", "p_org")} INTO v_seq;
        IF NOT FOUND THEN PERFORM layers_check(false, 'account'); END IF;
        {_named(CANCEL_BY_SEQ, "p_sandbox", "v_seq", "p_cancelable")};
        GET DIAGNOSTICS n = ROW_COUNT;
        IF n IS DISTINCT FROM p_canceled THEN PERFORM layers_check(false, 'account'); END IF;
        {_named(RECORD, "p_sandbox", "p_account", "p_request", "p_key_id", "p_at", "p_canceled")};
    END IF;
    RETURN true;
END
$$"""
# 21 parameters: an instance of an older version (19, the windows as arrays) calls its own
# overload, made by its own start-up, so both run on one database during an upgrade.
_APPLY = Statement("layers_apply", "SELECT layers_apply(" + ", ".join(["?"] * 21) + ")")
# The tables a revoke UPDATEs (accounts, posts, rate_windows) leave 15 % of each page free: a
# row's new version then fits on its own page, a HOT update (no index entry written, the old
# version pruned in place). Full pages (a bulk load's) sent ~1 update in 3 to another page, with an
# entry in each of the table's indexes (3 for accounts, 2 for posts): bench/pg_profile.py counts
# them per table. No column of theirs that a revoke changes is in an index (schema.py), as HOT needs.
_DDL = statements(
    TABLES,
    seq="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    real="DOUBLE PRECISION",
    updated_in_place=" WITH (fillfactor = 85)",
)
_DDL += [LAYERS_CHECK, LAYERS_APPLY]
_INDEXES = statements(INDEXES, seq="", real="")
# The request path's batches (`_batches`): under way at once per worker, of each kind (reads,
# writes), and requests per batch (a write batch holds its rows' locks until its COMMIT; its text
# stays a few kilobytes: `_pipelined`).
BATCHES_AT_ONCE = 2
BATCH_MOST = 16
# Any fixed number: the advisory lock every instance takes while it makes or seeds the schema.
SEED_LOCK = 0x6C61_7965_7273  # "layers"
# The request path's pool, per process: a connection per round trip under way (a lone request's
# read or write, or a batch's), and the journal's flush.
REQUEST_POOL = (2, 16)
BLOCKING_POOL = (1, 8)  # the control plane's threads, the CLI
UNSERVED_TIMEOUT_S = 30.0  # no `timeout` given (the CLI seeding a world, tools, tests)


class _QuietAbortedPipeline(logging.Filter):
    """A guard that fails mid-pipeline is a lost race, handled (LostRace): psycopg would also log
    a warning per lost race that it ignored the aborted pipeline's second error. Only that one."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not (record.msg == "error ignored terminating %r: %s" and args and "Pipeline" in type(args[0]).__name__)


logging.getLogger("psycopg").addFilter(_QuietAbortedPipeline())
log = logging.getLogger("layers.mock")


def _guarded(sql: str, what: str) -> str:
    """`sql` (returning a row when its assumption held), failing the transaction when it did not."""
    return f"WITH s AS ({sql}) SELECT layers_check(EXISTS (SELECT 1 FROM s), '{what}')"


_sql = POSTGRES.sql
_SPEND = _sql(_guarded(SPEND, "rate window"))
_REMEMBER = _sql(_guarded(REMEMBER, "idempotency key"))
_TAKE_FAULT = _sql(_guarded(TAKE_FAULT + " RETURNING 1", "fault"))
_GATHER = Statement("layers_gather", gather_sql(POSTGRES))
# Whether a batch whose connection broke as it committed landed (`_landed`): by its request id.
_LANDED_REVOKE = _sql("SELECT 1 FROM revocations WHERE sandbox=? AND account_id=? AND request_id=?")
_LANDED_REMEMBER = _sql("SELECT 1 FROM idempotency WHERE sandbox=? AND key_id=? AND idempotency_key=? AND request_id=?")
# The journal entries of one flush as ONE statement (prepared, its own transaction): a column
# per array, the rows numbered in the order the responses left (so their ids are too). The arrays
# go in binary (`%b`): psycopg's text format quotes each element after a regular-expression test,
# ~12 % of the mock's instructions per revoke (bench/revoke_instructions.py --postgres: 200
# partner 847k -> 742k).
_JOURNAL_TYPES = {"status": "integer", "retry_after": "integer", "has_body": "integer"}
_JOURNAL_TYPES |= {"mock_seconds": "double precision", "wall_seconds": "double precision"}
_JOURNAL_NAMES = ("sandbox", *JOURNAL_COLUMNS)
_JOURNAL = (
    f"INSERT INTO journal({', '.join(_JOURNAL_NAMES)}) SELECT {', '.join(_JOURNAL_NAMES)} FROM unnest("
    + ", ".join(f"%b::{_JOURNAL_TYPES.get(name, 'text')}[]" for name in _JOURNAL_NAMES)
    + f") WITH ORDINALITY AS e({', '.join(_JOURNAL_NAMES)}, n) ORDER BY n"
)
_CLOCK = _sql("SELECT name, value FROM settings WHERE sandbox=? AND name IN ('clock_frozen', 'clock_offset')")


def _account_of(w: Writes) -> str:
    """The account whose row a write locks ("" for a write that revokes nothing)."""
    return "" if w.revoke is None else w.revoke.account_id


def apply_params(w: Writes) -> tuple:
    """`_APPLY`'s parameters: `layers_apply`'s, in its order."""
    m, r = w.remember, w.revoke
    if len(w.spend) > _WINDOWS:
        raise ValueError(f"layers_apply spends at most {_WINDOWS} rate windows, not {len(w.spend)}")
    windows = [x for window in w.spend for x in window] + [None] * (2 * (_WINDOWS - len(w.spend)))
    remember = (None,) * 7 if m is None else remember_params(w.sandbox, w.key_id, m)[2:]
    revoke = (
        (None,) * 7
        if r is None
        else (r.account_id, r.organization_id, r.reason, r.at, r.request_id, r.cancelable, r.canceled)
    )
    return (w.sandbox, w.key_id, *windows, *remember, w.take, *revoke)


def batch(w: Writes) -> list[tuple[str, tuple]]:
    """The statements of a decided revoke with an armed fault (the others: `layers_apply`), guards
    included, in their order (gathered.py): the fault's steps one statement each, so that the
    failure really comes between them, up to the failing one, undone."""
    r = w.revoke
    if r is None or r.fault_id is None:
        raise ValueError("only an armed fault's revoke is sent statement by statement")
    out: list[tuple[str, tuple]] = [(_SPEND, (w.sandbox, w.key_id, window, limit)) for window, limit in w.spend]
    if w.remember is not None:
        out.append((_REMEMBER, remember_params(w.sandbox, w.key_id, w.remember)))
    if w.take is not None:
        out.append((_TAKE_FAULT, (w.take,)))
    out.append((_TAKE_FAULT, (r.fault_id,)))
    out.append(("SAVEPOINT revoke", ()))
    for step, sql, params in fault_steps(w.sandbox, w.key_id, r):
        text = _guarded(sql + " RETURNING 1", "account") if step == FIRST_FAULT_STEP else sql
        out.append((_sql(text), params))
        if step == r.fail_after:
            break
    out.append(("ROLLBACK TO SAVEPOINT revoke", ()))
    out.append(("RELEASE SAVEPOINT revoke", ()))
    return out


def _deadline(bound: asyncio.Timeout) -> float:
    """When `bound` ends, on the loop's clock (never unset on the request path: inf if it were)."""
    when = bound.when()
    return math.inf if when is None else when


def _idle_check_sync(conn: psycopg.Connection) -> None:
    """The pools' check before handing out a connection, without a round trip: an idle
    connection has nothing to read. Readable means the server said goodbye (a restart, an
    administrator's terminate) or closed it: the pool discards it and hands out another."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("connection closed")
    try:
        readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    except (OSError, ValueError, psycopg.Error) as exc:
        raise psycopg.OperationalError("connection unusable") from exc
    if readable:
        raise psycopg.OperationalError("the server closed this idle connection")


def fault_of(exc: BaseException, *, connect_failing: bool = False) -> StorageFault | None:
    """The StorageFault a database error means (storage/errors.py), else None."""
    if isinstance(exc, StorageFault):
        return exc
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        return StorageFault(LOCK_HELD, "another session held a row lock past lock_timeout")
    if isinstance(exc, psycopg.errors.QueryCanceled):
        return StorageFault(TIMED_OUT, "a statement ran past statement_timeout")
    if isinstance(exc, psycopg.errors.DiskFull):
        return StorageFault(DISK_FULL, "PostgreSQL could not write (disk full)")
    if isinstance(exc, PoolTimeout):
        if connect_failing:
            return StorageFault(UNREACHABLE, "no connection to PostgreSQL within the storage timeout")
        return StorageFault(TIMED_OUT, "every pooled connection stayed busy past the storage timeout")
    if isinstance(exc, TimeoutError):
        return StorageFault(TIMED_OUT, "PostgreSQL did not answer within the storage timeout")
    if isinstance(exc, psycopg.OperationalError):
        return StorageFault(UNREACHABLE, "the connection to PostgreSQL failed")
    return None


_SQLSTATE = psycopg.pq.DiagnosticField.SQLSTATE
_NO_SUCH_STATEMENT = b"26000"  # invalid_sql_statement_name
_ALREADY_PREPARED = b"42P05"  # duplicate_prepared_statement


class _RequestConnection(psycopg.AsyncConnection):
    """A connection of the request pool, knowing which `Statement`s it has prepared."""

    _layers_prepared: set[bytes] | None = None  # (psycopg has a `_prepared` of its own)
    _layers_tx: TransformerType | None = None

    def _layers(self) -> tuple[TransformerType, set[bytes]]:
        if self._layers_tx is None or self._layers_prepared is None:
            self._layers_prepared = set()
            self._layers_tx = Transformer(self)
        return self._layers_tx, self._layers_prepared

    async def one(self, statement: Statement, params: tuple) -> dict | None:
        """`statement` run with `params`: its first row (a dict by column name), or None. A
        failure raises what a cursor would (psycopg.errors by SQLSTATE; OperationalError when
        the connection failed); a cancellation (the storage bound) cancels it in the server
        (psycopg's `wait`). A statement the session no longer holds (a DEALLOCATE ALL or
        DISCARD ALL on it: a pooler's reset) ran nothing: prepared again and run once more."""
        tx, prepared = self._layers()
        dumped = tx.dump_sequence(params, statement.formats)
        await self._prepare(statement, prepared)
        pg = self.pgconn
        pg.send_query_prepared(statement.name, dumped)
        result = (await self.wait(execute(pg)))[-1]
        if result.error_field(_SQLSTATE) == _NO_SUCH_STATEMENT:
            prepared.clear()
            await self._prepare(statement, prepared)
            pg.send_query_prepared(statement.name, dumped)
            result = (await self.wait(execute(pg)))[-1]
        self._check(result)
        return self.row_of(statement, result)

    async def pipelined(self, statement: Statement, rows: list[tuple], *, transaction: bool = False) -> list[PGresult]:
        """`statement` run once with each of `rows`, all sent as one pipeline with one Sync: one
        round trip (`_pipelined`); `transaction`: between BEGIN and COMMIT. Its results, in order;
        or the first error, raised: the statements after it were skipped and the transaction
        (the implicit one, or the caller's to roll back) kept nothing. A statement the session
        no longer holds fails the batch and is prepared again by the next run."""
        tx, prepared = self._layers()
        dumped = [tx.dump_sequence(params, statement.formats) for params in rows]
        await self._prepare(statement, prepared)  # outside the pipeline
        pg = self.pgconn
        pg.enter_pipeline_mode()
        try:
            results = await self.wait(_pipelined(pg, statement.name, dumped, transaction))
        finally:
            try:
                pg.exit_pipeline_mode()
            except psycopg.Error:  # results left unread (a cancelled wait): never reused, the pool drops it
                pg.finish()
        for result in results:
            if result.status == psycopg.pq.ExecStatus.FATAL_ERROR:
                if result.error_field(_SQLSTATE) == _NO_SUCH_STATEMENT:
                    prepared.clear()
                self._check(result)
        return results[1:-1] if transaction else results

    def row_of(self, statement: Statement, result: PGresult) -> dict | None:
        """The first row of `result` (one of `statement`'s), a dict by column name; or None."""
        if not result.ntuples:
            return None
        if statement.columns is None:
            statement.columns = tuple((result.fname(i) or b"").decode() for i in range(result.nfields))
        tx = self._layers()[0]
        tx.set_pgresult(result)
        return dict(zip(statement.columns, tx.load_row(0, tuple), strict=True))

    async def _prepare(self, statement: Statement, prepared: set[bytes]) -> None:
        if statement.name in prepared:
            return
        pg = self.pgconn
        pg.send_prepare(statement.name, statement.text)
        done = (await self.wait(execute(pg)))[-1]
        # Already there: a Parse whose wait was cancelled (the storage bound) may have landed.
        if done.error_field(_SQLSTATE) != _ALREADY_PREPARED:
            self._check(done)
        prepared.add(statement.name)

    def _check(self, result: PGresult) -> None:
        if result.status == psycopg.pq.ExecStatus.FATAL_ERROR:
            raise psycopg.errors.error_from_result(result, encoding=self.info.encoding)


_BEGIN, _COMMIT = b"BEGIN", b"COMMIT"
_PIPELINE_SYNC = psycopg.pq.ExecStatus.PIPELINE_SYNC


def _pipelined(pg: Any, name: bytes, rows: list, transaction: bool) -> Any:
    """The generator of `pipelined`'s round trip (psycopg's own `send` and `fetch_many` do the
    I/O): every message queued, one Sync, the output flushed, then each statement's results up
    to the Sync's. A batch is a few kilobytes each way, far below the sockets' buffers, so
    sending it all before reading cannot block on the server's replies."""
    if transaction:
        pg.send_query_params(_BEGIN, None)
    for params in rows:
        pg.send_query_prepared(name, params)
    if transaction:
        pg.send_query_params(_COMMIT, None)
    pg.pipeline_sync()
    yield from send(pg)
    out: list[PGresult] = []
    while True:
        results = yield from fetch_many(pg)
        if results and results[0].status == _PIPELINE_SYNC:
            return out
        out.extend(results)


class PgQueries(Queries):
    def bulk_insert(self, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
        with self.conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


class _StaleRead(Exception):
    """A read found its pooled connection broken (or a batch sent on one did not land): nothing
    was written, another connection may do it again."""


def _connection_lost(conn: psycopg.AsyncConnection, exc: psycopg.OperationalError) -> bool:
    """The connection itself failed (not one statement: a lock or statement timeout, SQLSTATE
    55P03/57014, aborts the transaction and leaves nothing in doubt): closed, broken, no SQLSTATE
    (libpq lost the socket), a shutdown (57P..) or a connection exception (08...)."""
    state = exc.sqlstate
    return conn.closed or conn.broken or state is None or state.startswith(("57P", "08"))


class PostgresStorage(Storage):
    backend = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        serving: bool = False,
        stamp: Stamp | None = None,
        timeout: float | None = None,
        journal_limit: int = DEFAULT_JOURNAL_LIMIT,
    ):
        super().__init__(stamp, journal_limit)
        self.timeout = timeout  # the storage_timeout setting (seconds): connect, statement and lock bounds
        self._bound = UNSERVED_TIMEOUT_S if timeout is None else timeout
        self._dsn = url
        self.url = redacted(url)
        self._pool_lock = threading.Lock()
        self._spool: ConnectionPool | None = None
        self._apool: AsyncConnectionPool | None = None
        self._apool_loop: asyncio.AbstractEventLoop | None = None
        self._connect_errors: dict[int, int] = {}  # pool -> its failed connection attempts, last seen
        self._journal_flushing = False  # a flush is under way (see _flush_soon)
        self._journal_settled = threading.Condition()
        self._journal_loop: asyncio.AbstractEventLoop | None = None
        self._journal_last_batch = 0  # entries in the last flush (`journal_delay`)
        self._reads: Batches[Ask] | None = None  # the request path's batches (`_batches`)
        self._writes: Batches[Writes] | None = None

    # -- connections ------------------------------------------------------------------------
    def _kwargs(self, *, request_path: bool) -> dict[str, Any]:
        # autocommit: transactions are opened explicitly (BEGIN in a pipeline, conn.transaction()).
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "row_factory": dict_row,
            "application_name": "layers-mock",
            "connect_timeout": max(2, math.ceil(self._bound)),
        }
        if request_path:
            # The request path's statements are prepared (GATHER and `_APPLY`: `Statement`;
            # `_JOURNAL`: psycopg's prepare_threshold) and every one finds its rows by key: the generic plan is the
            # plan. PostgreSQL's default (a custom plan for each run while its estimate looks
            # cheaper) planned GATHER again on every request (~0.1 ms of the server's CPU,
            # pg_stat_statements). (A prepare_threshold of 0 is not safe here: psycopg deallocates
            # all after an armed fault's ROLLBACK TO SAVEPOINT only once the next statement was
            # prepared, and that statement is then gone.) A connection plans once, often while a
            # table is nearly empty (rate_windows fills as keys are used), and keeps the plan: with
            # sequential scans allowed that plan scanned the whole table on every request, 65
            # heap blocks of rate_windows per partner-tier revoke instead of 7 once it held a few
            # thousand rows (bench/pg_profile.py: PostgreSQL's CPU per revoke 0.80 -> 0.58 ms). So
            # these connections plan by key whatever the statistics say: no statement of theirs
            # needs a scan (test_pg_statements.py reads GATHER's generic plan).
            options = ["-c plan_cache_mode=force_generic_plan", "-c enable_seqscan=off"]
            if self.timeout is not None:
                ms = self.timeout * 1000
                options += [f"-c statement_timeout={int(ms * 0.8)}", f"-c lock_timeout={int(ms * 0.5)}"]
            kwargs["options"] = " ".join(options)
        return kwargs

    def _connect_failing(self, pool: ConnectionPool | AsyncConnectionPool | None) -> bool:
        """Whether the pool failed to connect since the last time it was asked (its own counter)."""
        if pool is None:
            return False
        errors = pool.get_stats().get("connections_errors", 0)
        seen, self._connect_errors[id(pool)] = self._connect_errors.get(id(pool), 0), errors
        return errors > seen

    def _blocking_pool(self) -> ConnectionPool:
        with self._pool_lock:
            if self._spool is None:
                self._spool = ConnectionPool(
                    self._dsn,
                    kwargs=self._kwargs(request_path=False),
                    min_size=BLOCKING_POOL[0],
                    max_size=BLOCKING_POOL[1],
                    timeout=self._bound,
                    name="layers-mock-blocking",
                    open=True,
                )
            return self._spool

    async def _request_pool(self) -> AsyncConnectionPool:
        pool = self._apool
        if pool is None:
            pool = self._apool = AsyncConnectionPool(
                self._dsn,
                connection_class=_RequestConnection,
                kwargs=self._kwargs(request_path=True),
                min_size=REQUEST_POOL[0],
                max_size=REQUEST_POOL[1],
                timeout=self._bound,
                name="layers-mock-requests",
                open=False,
            )
            self._apool_loop = asyncio.get_running_loop()
            await pool.open(wait=False)
        return pool

    def close(self) -> None:
        pool, loop, self._apool = self._apool, self._apool_loop, None
        if pool is not None and loop is not None and not loop.is_closed():
            with suppress(Exception):  # the loop may be gone or stopping: its connections go with the process
                if loop.is_running():
                    asyncio.run_coroutine_threadsafe(pool.close(), loop).result(timeout=10)
                else:
                    loop.run_until_complete(pool.close())
        with self._pool_lock:
            spool, self._spool = self._spool, None
        if spool is not None:
            spool.close()

    # -- blocking transactions --------------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[Queries]:
        try:
            with self._checked_connection() as conn, conn.transaction():
                yield PgQueries(conn, POSTGRES)
        except psycopg.errors.IntegrityError as exc:
            raise Conflict(str(exc).splitlines()[0]) from None
        except (psycopg.OperationalError, PoolTimeout) as exc:
            fault = fault_of(exc, connect_failing=self._connect_failing(self._spool))
            if fault is None:
                raise
            raise fault from exc

    @contextmanager
    def _checked_connection(self) -> Iterator[psycopg.Connection]:
        """The blocking pool's `_connection` (see there: closed and replaced, without backoff)."""
        pool = self._blocking_pool()
        for _ in range(BLOCKING_POOL[1] + 1):
            conn = pool.getconn()
            try:
                _idle_check_sync(conn)
            except psycopg.OperationalError:
                conn.close()
                pool.putconn(conn)
                continue
            try:
                yield conn
            finally:
                pool.putconn(conn)
            return
        raise StorageFault(UNREACHABLE, "every pooled connection was closed by the server")

    @contextmanager
    def transaction(self) -> Iterator[Queries]:
        no_event_loop_here("storage.transaction()")
        with self._tx() as q:
            yield q

    @contextmanager
    def snapshot(self) -> Iterator[Queries]:
        """REPEATABLE READ, READ ONLY: every statement of it sees the same committed state (READ
        COMMITTED, the default, would give each statement its own)."""
        no_event_loop_here("storage.snapshot()")
        with self._tx() as q:
            q.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield q

    def _run(self, fn: Callable[[Queries], T]) -> T:
        with self._tx() as q:
            return fn(q)

    # -- the request path -------------------------------------------------------------------
    async def write(self, fn: Callable[[Queries], T]) -> T:
        """`fn` over the blocking pool, on a thread (hosted mode's sandbox bookkeeping; the
        revoke itself never comes here: `decide`)."""
        return await asyncio.to_thread(self._run, fn)

    read = write

    @asynccontextmanager
    async def _connection(self):
        """A pooled connection that passed `_idle_check`. One that failed is closed and handed
        back (the pool replaces a closed connection in the background) and the next one is
        taken at once: the pool's own `check=` loop backs off a second or more between
        failures, past a short storage bound when a restart killed several idle connections."""
        pool = await self._request_pool()
        for _ in range(REQUEST_POOL[1] + 1):
            conn = await pool.getconn()
            try:
                _idle_check_sync(conn)  # type: ignore[arg-type]  # the same socket test
            except psycopg.OperationalError:
                await conn.close()
                await pool.putconn(conn)
                continue
            try:
                yield conn
            finally:
                await pool.putconn(conn)
            return
        raise StorageFault(UNREACHABLE, "every pooled connection was closed by the server")

    async def gather(self, ask: Ask) -> dict | None:
        try:
            async with asyncio.timeout(self._bound) as bound:
                return await self._batches()[0].run(ask, _deadline(bound))
        except Exception as exc:
            raise self._fault(exc) from exc

    async def decide(self, ask: Ask, decide):
        """Read, decide, write: each step with other requests' same step (`_batches`)."""
        try:
            async with asyncio.timeout(self._bound) as bound:
                reads, writes = self._batches()

                async def gather(a: Ask) -> dict | None:
                    return await reads.run(a, _deadline(bound))

                async def apply(w: Writes) -> None:
                    # The writes are bounded by this request's deadline (a batch by the earliest
                    # of its requests'), and once sent are answered as they ended: this
                    # request's own timer must not answer 500 over writes that may still land.
                    deadline = _deadline(bound)
                    bound.reschedule(None)
                    try:
                        await writes.run(w, deadline)
                    except LostRace:
                        bound.reschedule(deadline)  # decided again, within what is left
                        raise

                return await self._run_decision(ask, decide, gather, apply)
        except Exception as exc:
            raise self._fault(exc) from exc

    def _fault(self, exc: Exception) -> Exception:
        """What the request path raises for `exc`: its StorageFault (storage/errors.py), or itself."""
        fault = fault_of(exc, connect_failing=self._connect_failing(self._apool))
        return exc if fault is None else fault

    # Under load a worker has many requests at one step at once, and each alone paid its own
    # round trip, pool checkout and the server's per-message work, and for a write its own
    # transaction and WAL flush (~0.11 ms of the server's CPU per revoke, measured apart). So the
    # gathered reads, and the writes, of concurrent requests go together (batches.py): up to
    # BATCHES_AT_ONCE batches of each under way per worker, each of up to BATCH_MOST, one
    # pipeline each (`_RequestConnection.pipelined`). A quiet worker's request goes alone, as before.
    # Writes are a group commit, as SQLite's (sqlite.py `write`): ONE transaction per batch,
    # each write the same `layers_apply` call with its guards, so no rule is written twice.
    # Optimistic first: should one write fail (a lost race, a lock or statement timeout), the
    # batch is rolled back whole and each write runs again alone, at once, on a connection of its
    # own (`_commit_alone`), so that only the failed one is left out; a read batch that fails is
    # read again the same way. A batch is bounded by the earliest deadline of its requests, a
    # lone write by its own; a request is answered once its writes committed or were rolled back.
    def _batches(self) -> tuple[Batches[Ask], Batches[Writes]]:
        if self._reads is None or self._writes is None:
            self._reads = Batches(self._read_batch, at_once=BATCHES_AT_ONCE, most=BATCH_MOST)
            self._writes = Batches(self._commit_batch, at_once=BATCHES_AT_ONCE, most=BATCH_MOST)
        return self._reads, self._writes

    async def _read_batch(self, group: list[Item[Ask]]) -> None:
        if len(group) > 1:
            try:
                async with asyncio.timeout_at(min(item.deadline for item in group)):
                    async with self._connection() as conn:
                        results = await conn.pipelined(_GATHER, [Queries.gather_params(i.value) for i in group])
                        rows = [conn.row_of(_GATHER, result) for result in results]
            except Exception:  # noqa: BLE001 - read again one by one (each its own error, if any)
                pass
            else:
                for item, row in zip(group, rows, strict=True):
                    settle(item.fut, result=Queries.gathered(row, item.value))
                return
        await asyncio.gather(*(self._read_alone(item) for item in group))

    async def _read_alone(self, item: Item[Ask]) -> None:
        """The gathered read on a pooled connection; once more on another if that connection was
        found broken (a read changes nothing)."""
        try:
            async with asyncio.timeout_at(item.deadline):
                for attempt in (1, 2):
                    try:
                        async with self._connection() as conn:
                            settle(item.fut, result=await self._gather(conn, item.value))
                            return
                    except _StaleRead as stale:
                        pool = self._apool
                        if pool is not None:  # its idle siblings likely died with it: check them all
                            asyncio.get_running_loop().create_task(pool.check())
                        if attempt == 2:
                            raise stale.__cause__ or stale from None
        except Exception as exc:  # noqa: BLE001 - its request's answer
            settle(item.fut, exc)

    async def _commit_batch(self, group: list[Item[Writes]]) -> None:
        alone = [i for i in group if i.value.revoke is not None and i.value.revoke.fault_id is not None]
        together = [i for i in group if i not in alone]  # an armed fault's steps run alone (`_apply`)
        # In key order, and a key's writes in account order: every batch then takes its rate
        # windows' row locks in one order (a lone write takes its own two in index order), and
        # the same key's account rows too, so two batches (two workers', two instances') never
        # wait on each other in a cycle over them (a deadlock costs deadlock_timeout, 1 s, before
        # one gives way). Left possible: one account revoked through two keys in two batches.
        together.sort(key=lambda item: (item.value.sandbox, item.value.key_id, _account_of(item.value)))
        if len(together) > 1 and await self._commit_together(together):
            together = []
        await asyncio.gather(*(self._commit_alone(item) for item in alone + together))

    async def _commit_together(self, group: list[Item[Writes]]) -> bool:
        """The writes of `group` in one transaction; False if they are to run again one by one."""
        in_doubt = False
        try:
            async with asyncio.timeout_at(min(item.deadline for item in group)):
                async with self._connection() as conn:
                    try:
                        await conn.pipelined(_APPLY, [apply_params(i.value) for i in group], transaction=True)
                    except psycopg.Error as exc:
                        if not (isinstance(exc, psycopg.OperationalError) and _connection_lost(conn, exc)):
                            await self._rollback(conn)
                            raise
                        in_doubt = True
            if in_doubt:
                await self._settle_in_doubt(group)
                return True
        except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as exc:
            log.debug("a batch of writes lost a race (%s): each runs again alone", exc)
            return False
        except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled):
            return False  # one write waited too long (a stalled peer holds its row): the others need not
        except Exception as exc:  # noqa: BLE001 - the database itself failed (unreachable, full): every write
            for item in group:
                settle(item.fut, exc)
            return True
        for item in group:
            settle(item.fut)
        return True

    async def _commit_alone(self, item: Item[Writes]) -> None:
        """One write in its own transaction (`_apply`), within its request's deadline."""
        if item.fut.done():  # its request is gone: nothing written
            return
        in_doubt = False
        try:
            async with asyncio.timeout_at(item.deadline):
                async with self._connection() as conn:
                    try:
                        await self._apply(conn, item.value)
                    except psycopg.OperationalError as exc:
                        if not _connection_lost(conn, exc):
                            raise
                        in_doubt = True
            if in_doubt:
                await self._settle_in_doubt([item])
                return
        except Exception as exc:  # noqa: BLE001 - its request's answer
            settle(item.fut, exc)
            return
        settle(item.fut)

    async def _settle_in_doubt(self, group: list[Item[Writes]]) -> None:
        """Writes sent on a connection that broke as they committed: their COMMIT may have been
        carried out. The page's 500 promises "nothing changed", so a 500 must not be answered over
        a revoke that landed: the database is asked (`_landed`), with one storage bound of its own
        to come back (a restart), and each request answered what it holds: as decided if its
        writes landed, decided again from a fresh read if not (LostRace)."""
        async with asyncio.timeout(self._bound):
            kept = [await self._landed(item.value) for item in group]
        for item, landed in zip(group, kept, strict=True):
            if landed:
                log.warning("a revoke's connection broke as it committed; it had landed: answered as decided")
                settle(item.fut)
            else:
                settle(item.fut, LostRace("the connection broke before the revoke committed"))

    async def _landed(self, w: Writes) -> bool:
        """Whether `w`, sent on a connection that broke, was committed: its revocation (or its
        idempotency entry) is there under its request id. A batch with neither (a budget unit, a
        consumed script or fault) decides no answer: the decided one stands either way. Asked on a
        connection of its own, made again every 0.1 s until the database answers or the bound ends."""
        r, m = w.revoke, w.remember
        params: tuple[str, ...]
        if r is not None and r.fault_id is None:
            sql, params = _LANDED_REVOKE, (w.sandbox, r.account_id, r.request_id)
        elif m is not None:
            sql, params = _LANDED_REMEMBER, (w.sandbox, w.key_id, m.idempotency_key, m.request_id)
        else:
            return True
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(self._dsn, **self._kwargs(request_path=True)) as conn:
                    cur = await conn.execute(sql, params)
                    return await cur.fetchone() is not None
            except psycopg.OperationalError:
                await asyncio.sleep(0.1)  # refused or starting up: the bound (rescheduled above) ends it

    async def _gather(self, conn: _RequestConnection, ask: Ask) -> dict | None:
        try:
            row = await conn.one(_GATHER, Queries.gather_params(ask))
        except psycopg.OperationalError as exc:
            if conn.broken:
                raise _StaleRead from exc
            raise
        return Queries.gathered(row, ask)

    async def _apply(self, conn: _RequestConnection, w: Writes) -> None:
        """The writes in one round trip: `layers_apply`, one statement (its own transaction); an
        armed fault's revoke as ONE pipeline instead (BEGIN, the guarded statements, COMMIT, one
        Sync). A failed guard (or a deadlock) aborts the transaction: LostRace, rolled back.
        Nothing in a pipeline is prepared (prepare=False): psycopg counts a statement prepared
        once it has sent its Parse, even when an earlier error in the pipeline made the server
        skip it, and the next use then fails ("prepared statement _pg3_N does not exist")."""
        try:
            if w.revoke is None or w.revoke.fault_id is None:
                await conn.one(_APPLY, apply_params(w))
                return
            async with conn.pipeline():
                await conn.execute("BEGIN", prepare=False)
                for sql, params in batch(w):
                    await conn.execute(sql, params, prepare=False)
                await conn.execute("COMMIT", prepare=False)
        except (psycopg.errors.SerializationFailure, psycopg.errors.DeadlockDetected) as exc:
            await self._rollback(conn)
            raise LostRace(str(exc).splitlines()[0]) from None
        except psycopg.Error:
            await self._rollback(conn)
            raise

    @staticmethod
    async def _rollback(conn: psycopg.AsyncConnection) -> None:
        if not conn.broken and conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            with suppress(psycopg.Error):
                await conn.execute("ROLLBACK")

    # -- journal ----------------------------------------------------------------------------
    # Written after the response, in ONE round trip (`_JOURNAL`: one statement for all entries),
    # stamped with the clock their requests read (base.py). One flush at a time, so entries are
    # written (and numbered) in the order the responses left; a flush that ends with entries
    # waiting starts the next. A quiet worker's flush starts at once; a busy one's gathers entries
    # for JOURNAL_BUSY_DELAY_S first (base.py `journal_delay`), counted as under way meanwhile.
    # `flush_journal` (the control plane, on a thread, before it reads the journal or resets)
    # takes its turn the same way, so a read right after a response sees its entry.
    def _journal_added(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._journal_loop = loop
        self._flush_soon(loop)

    def _flush_soon(self, loop: asyncio.AbstractEventLoop) -> None:
        with self._journal_settled:
            if self._journal_flushing or not self._journal_pending:  # the flush under way starts the next
                return
            self._journal_flushing = True
        delay = journal_delay(self._journal_last_batch, 0.0)
        if delay:
            loop.call_later(delay, self._flush_now, loop)
        else:
            self._flush_now(loop)

    def _flush_now(self, loop: asyncio.AbstractEventLoop) -> None:
        pending = self._take_journal()
        self._journal_last_batch = len(pending)
        if pending:
            loop.create_task(self._flush_pending(pending))
        else:  # nothing to write (whatever takes entries waits for this flush: defensive)
            self._flush_done(True)

    async def _flush_pending(self, pending: list[tuple]) -> None:
        written = False
        try:
            async with asyncio.timeout(self._bound), self._connection() as conn:
                clocks: dict[str, tuple[float | None, float]] = {}
                for sandbox in {e[9] for e in pending} - {None}:
                    seen = self._seen_clock(str(sandbox))
                    if seen is None:  # no request of it read the clock lately: read it
                        cur = await conn.execute(_CLOCK, (sandbox,))
                        found = {r["name"]: r["value"] for r in await cur.fetchall()}
                        seen = clock_settings_of(found.get("clock_frozen"), found.get("clock_offset"))
                    clocks[str(sandbox)] = seen
                rows = self._journal_rows(pending, clocks.__getitem__)
                if rows:
                    await conn.execute(_JOURNAL, [list(column) for column in zip(*rows, strict=True)])
            due = self._trims_due(rows)
            if due:  # once every tenth of the bound: off the loop, on the blocking pool
                await asyncio.to_thread(self._trim_sandboxes, due)
            written = True
        except Exception:  # noqa: BLE001 - kept for the next flush; the journal never breaks a response
            self._restore_journal(pending)
        finally:
            self._flush_done(written)

    def _trim_sandboxes(self, sandboxes: list[str]) -> None:
        with self.transaction() as q:
            for sandbox in sandboxes:
                self.trim_journal(q.within(sandbox))

    def _flush_done(self, written: bool) -> None:
        with self._journal_settled:
            self._journal_flushing = False
            self._journal_settled.notify_all()
            waiting = bool(self._journal_pending)
        loop = self._journal_loop
        # Entries that arrived meanwhile; after a failed write they wait for the next response
        # rather than retrying in a loop against a database that just refused.
        if written and waiting and loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._flush_soon, loop)

    def flush_journal(self) -> None:
        with self._journal_settled:  # bounded: a flush is one short transaction
            self._journal_settled.wait_for(lambda: not self._journal_flushing, timeout=30)
            pending = self._take_journal()
            if not pending:
                return
            self._journal_flushing = True
        written = False
        try:
            with self.transaction() as q:
                self._write_journal(q, pending)
            written = True
        except BaseException:
            self._restore_journal(pending)
            raise
        finally:
            self._flush_done(written)

    # -- schema and seeding -----------------------------------------------------------------
    ddl, index_ddl, real_type = _DDL, _INDEXES, "DOUBLE PRECISION"

    def _table_names(self, q: Queries) -> set[str]:
        return {
            r["table_name"]
            for r in q.rows("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        }

    def prepare(self, seed, *, reset: bool = False) -> bool:
        no_event_loop_here("storage.prepare()")
        with self._tx() as q:
            q.conn.execute("SELECT pg_advisory_xact_lock(%s)", (SEED_LOCK,))
            seeded = self._build_world(q, seed, reset, self.url)
            if seeded:
                q.conn.execute("ANALYZE")  # fresh statistics for the planner after a bulk load
            return seeded
