"""Every query the domain, the world builders and the control plane run: one text for both
backends, over one open transaction.

The SQL is written once with `?` placeholders; `Dialect` turns it into what the backend
speaks (`%s` for psycopg, `FOR UPDATE` row locks where PostgreSQL needs them and SQLite, whose
write lock already serializes writers, does not). Nothing here knows HTTP or the documented
rules: it stores and fetches (the rules are in `domain.py`, the world's invariants in
`invariants.py`).

Every world query is scoped by `self.sandbox` (schema.py): a `Queries` belongs to one sandbox,
and `within(other)` gives the same transaction's queries for another. Only the lookup of a
bearer secret (`caller_by_secret`) and the sandboxes' own bookkeeping look across sandboxes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, lru_cache
from itertools import chain, islice
from typing import Any

from mock_server.storage.gathered import Ask, LostRace, Remember, Revoke, Writes
from mock_server.storage.schema import ACCOUNTS_BY_ID

LOCAL_SANDBOX = "local"  # the one implicit world of local (single-user) mode
# Posts name their account by its seq (schema.py); a query given the account's id (sandbox, id
# as parameters) finds the seq with this.
_SEQ_OF = "(SELECT seq FROM accounts WHERE sandbox = ? AND id = ?)"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def secret_hint(secret: str) -> str:
    """What may be shown of a key: its first 12 characters, never the rest."""
    return secret[:12] + "…"


@dataclass(frozen=True)
class Dialect:
    name: str
    placeholder: str  # what `?` becomes
    for_update: str  # a row lock on what a write transaction read, where needed
    lock_idempotency: str | None  # a transaction-scoped lock on one (key, Idempotency-Key)
    new_post_id: str  # an expression minting a post id (`sp_<uuid>`) inside the database
    # SQLite: a bulk load builds the accounts' id index right after their rows (storage/base.py
    # drops it first), so that their posts can find them; PostgreSQL joins by hash without it.
    index_accounts_after_insert: bool = False
    # PostgreSQL: a lookup of several columns (the armed fault's) is one LATERAL subquery, set
    # up once per execution, instead of a scalar subquery per column, each a subplan of its own
    # that the executor sets up on every run of the prepared GATHER (with `_ASK_ROW`: 535k ->
    # 482k of the server's instructions per internal-tier 404, 854k -> 800k per partner 404,
    # bench/pg_server_instructions.py). SQLite has no LATERAL.
    lateral: bool = False
    # `sql(text)`: the text in this dialect, translated once per distinct text (set below).
    sql: Callable[[str], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "sql", lru_cache(maxsize=None)(self._translate))

    def _translate(self, text: str) -> str:
        text = text.replace("{FOR_UPDATE}", self.for_update)
        return text if self.placeholder == "?" else text.replace("?", self.placeholder)


# SQLite has no UUID function, and formatting six randomblob() calls per row was most of the
# cost of generating three million posts. Its post ids are UUID-shaped instead: 60 random bits
# drawn once per load ({salt}), then a 48-bit number unique within the load.
SQLITE = Dialect("sqlite", "?", "", None, "'sp_{salt}' || printf('%012x', (s.ord + k.j) * 1048576 + p.i)", True)
# Two transactions on one idempotency key would both see no entry and both revoke; the
# transaction-scoped advisory lock makes the second wait for the first's COMMIT and then see it.
POSTGRES = Dialect(
    "postgresql",
    "%s",
    " FOR UPDATE",
    "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
    "'sp_' || gen_random_uuid()",
    lateral=True,
)


# The most values one statement of `bulk_insert` binds (SQLite's limit before 3.32 was 999).
BULK_PARAMETERS = 999
# The most accounts one staged row of `generate_posts` stands for.
SPAN_ROWS = 1024


class _RollBack(Exception):
    """Undo a savepoint's steps and go on (an armed fault's revoke)."""


# -- the revoke's read and writes (their order and guards: storage/gathered.py) ---------------
_CALLER_COLUMNS = (
    "k.sandbox, k.id, k.secret_sha256, k.secret_hint, k.organization_id, k.scopes, k.tier,"
    " k.killed AS key_killed, o.killed AS org_killed,"
    " (SELECT value FROM settings g WHERE g.sandbox=k.sandbox AND g.name='global_kill') AS global_killed,"
    " (SELECT expires_at FROM sandboxes s WHERE s.id=k.sandbox) AS expires_at"
)
_CALLER_FROM = "api_keys k JOIN organizations o ON o.sandbox = k.sandbox AND o.id = k.organization_id"
# Faults and scripted answers share one table (issue 24): the first armed row for this account
# (or any account) and this key (or any key) decides.
_ARMED_FAULT = (
    "FROM faults f WHERE f.sandbox=k.sandbox AND f.remaining > 0"
    " AND (f.account_id IS NULL OR f.account_id=ask.account_id)"
    " AND (f.key_id IS NULL OR f.key_id=k.id) ORDER BY f.id LIMIT 1"
)
_FAULT_COLUMNS = ("id", "step", "answer")  # GATHER's fault_id, fault_step, fault_answer
# The request's own values, bound once each, as the one row every part of GATHER reads them
# from: a part may move between the select list and FROM (`Dialect.lateral`) and the parameters
# keep their order (`Queries.gather_params`).
_ASK_ROW = (
    "(SELECT ? AS account_id, ? AS cancelable, ? AS window_0, ? AS window_1, ? AS idempotency_key, ? AS digest) ask"
)


@cache
def gather_sql(dialect: Dialect) -> str:
    """GATHER (`?` placeholders): everything a revoke is decided on, in ONE statement
    (`Queries.gather`). Scalar subqueries and LEFT JOINs off the key's row: every lookup is by
    primary key or index, and an unknown secret finds no row (a 401 costs this one statement).
    The armed fault's three columns are one LATERAL subquery where the dialect has it, three
    scalar subqueries where not: the same lookup, `_ARMED_FAULT`, either way. A change of this
    text needs no schema version: each connection prepares its own (postgres.py `Statement`)."""
    if dialect.lateral:
        fault_columns = ", ".join(f"af.fault_{c}" for c in _FAULT_COLUMNS)
        fault_columns_of = ", ".join(f"f.{c} AS fault_{c}" for c in _FAULT_COLUMNS)
        fault_join = f" LEFT JOIN LATERAL (SELECT {fault_columns_of} {_ARMED_FAULT}) af ON true"
    else:
        fault_columns = ", ".join(f"(SELECT f.{c} {_ARMED_FAULT}) AS fault_{c}" for c in _FAULT_COLUMNS)
        fault_join = ""
    return (
        f"SELECT {_CALLER_COLUMNS},"
        " (SELECT value FROM settings g WHERE g.sandbox=k.sandbox AND g.name='clock_frozen') AS clock_frozen,"
        " (SELECT value FROM settings g WHERE g.sandbox=k.sandbox AND g.name='clock_offset') AS clock_offset,"
        " (SELECT t.status FROM test_accounts t WHERE t.sandbox=k.sandbox AND t.id=ask.account_id) AS test_status,"
        " a.seq AS account_seq,"
        " (SELECT COUNT(*) FROM posts p WHERE p.sandbox=k.sandbox AND p.account_seq=a.seq"
        " AND p.status=ask.cancelable) AS cancelable,"
        f" {fault_columns},"
        " (SELECT w.count FROM rate_windows w WHERE w.sandbox=k.sandbox AND w.key_id=k.id"
        " AND w.window_key=ask.window_0) AS count_0,"
        " (SELECT w.count FROM rate_windows w WHERE w.sandbox=k.sandbox AND w.key_id=k.id"
        " AND w.window_key=ask.window_1) AS count_1,"
        " i.account_id AS idem_account_id, i.status AS idem_status, i.body AS idem_body,"
        " i.request_id AS idem_request_id, i.created_at AS idem_created_at"
        f" FROM {_ASK_ROW} CROSS JOIN {_CALLER_FROM}"
        f"{fault_join}"
        " LEFT JOIN accounts a ON a.sandbox=k.sandbox AND a.id=ask.account_id AND a.organization_id=k.organization_id"
        " AND a.status != 'disconnected'"
        " LEFT JOIN idempotency i ON i.sandbox=k.sandbox AND i.key_id=k.id AND i.idempotency_key=ask.idempotency_key"
        " WHERE k.secret_sha256=ask.digest"
    )


# Guarded writes: each changes a row only if what the decision assumed still holds. A window's
# count goes up only while it is below the limit; an idempotency entry is inserted only where
# there was none, or replaces only the expired one the snapshot saw. `Queries.apply` checks a
# guard by the number of rows the statement changed: with a RETURNING clause SQLite builds a
# temporary table for every statement (~60,000 instructions of a partner-tier revoke, measured
# by bench/revoke_instructions.py). PostgreSQL's layers_apply runs the same statements (but
# spends the rate windows in one UPDATE with the same guard: postgres.py `_SPEND_EXISTING`) and reads
# FOUND (a RETURNING clause read INTO a variable cost ~8,000 of PostgreSQL's instructions a
# revoke, bench/pg_server_instructions.py); its pipeline of guarded statements (an armed
# fault's revoke, postgres.py `_guarded`) needs a row from each: SPEND and REMEMBER return one.
UNDER_LIMIT = "rate_windows.count < ?"  # the guard of every spend of a window (its limit)
SPEND_ROW = (
    "INSERT INTO rate_windows(sandbox, key_id, window_key, count) VALUES (?, ?, ?, 1)"
    f" ON CONFLICT(sandbox, key_id, window_key) DO UPDATE SET count = rate_windows.count + 1 WHERE {UNDER_LIMIT}"
)
SPEND = SPEND_ROW + " RETURNING count"

REMEMBER_ROW = (
    "INSERT INTO idempotency(sandbox, key_id, idempotency_key, account_id, status, body, request_id, created_at)"
    " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(sandbox, key_id, idempotency_key) DO UPDATE SET"
    " account_id=excluded.account_id, status=excluded.status, body=excluded.body,"
    " request_id=excluded.request_id, created_at=excluded.created_at"
    " WHERE idempotency.created_at = ?"
)
REMEMBER = REMEMBER_ROW + " RETURNING status"
# The journal's columns after `sandbox`, in the order base.py `_journal_rows` builds them.
JOURNAL_COLUMNS = (
    "at",
    "request_id",
    "method",
    "path",
    "status",
    "key_id",
    "key_hint",
    "idempotency_key",
    "code",
    "mock_seconds",
    "wall_seconds",
    "retry_after",
    "kill_scope",
    "has_body",
)
JOURNAL_INSERT = (
    f"INSERT INTO journal(sandbox, {', '.join(JOURNAL_COLUMNS)}) VALUES ({','.join('?' * (len(JOURNAL_COLUMNS) + 1))})"
)
# Journal rows go in as statements of this many rows (`insert_journal_rows`): the most one
# statement binds (BULK_PARAMETERS values).
JOURNAL_ROWS_PER_INSERT = BULK_PARAMETERS // (len(JOURNAL_COLUMNS) + 1)
JOURNAL_INSERT_MANY = JOURNAL_INSERT + ("," + JOURNAL_INSERT.rsplit(" VALUES ", 1)[1]) * (JOURNAL_ROWS_PER_INSERT - 1)
TAKE_FAULT = "UPDATE faults SET remaining = remaining - 1 WHERE id=? AND remaining > 0"
DISCONNECT = (
    "UPDATE accounts SET status='disconnected', disconnected_reason=?, disconnected_at=?, token=NULL"
    " WHERE sandbox=? AND id=? AND organization_id=? AND status != 'disconnected'"
)
# The account's posts by its seq. PostgreSQL's layers_apply takes the seq from the account row
# DISCONNECT just changed (RETURNING seq: no second lookup of the account by id); SQLite's writes
# and an armed fault's steps name the account by its id (`CANCEL`).
CANCEL_BY_SEQ = "UPDATE posts SET status='canceled', by_revoke=1 WHERE sandbox=? AND account_seq=? AND status=?"
CANCEL = CANCEL_BY_SEQ.replace("account_seq=?", f"account_seq={_SEQ_OF}")
RECORD = "INSERT INTO revocations(sandbox, account_id, request_id, key_id, at, canceled_posts) VALUES (?,?,?,?,?,?)"


def remember_params(sandbox: str, key_id: str, m: Remember) -> tuple:
    return (sandbox, key_id, m.idempotency_key, m.account_id, m.status, m.body, m.request_id, m.created_at, m.replaces)


def disconnect_params(sandbox: str, r: Revoke) -> tuple:
    return (r.reason, r.at, sandbox, r.account_id, r.organization_id)


def cancel_params(sandbox: str, r: Revoke) -> tuple:
    return (sandbox, sandbox, r.account_id, r.cancelable)


def record_params(sandbox: str, key_id: str, r: Revoke) -> tuple:
    return (sandbox, r.account_id, r.request_id, key_id, r.at, r.canceled)


# An armed fault breaks the revoke after one of its steps (control.yaml's FaultStep, in order):
# the steps run one statement each, so that the failure really comes between them.
FIRST_FAULT_STEP = "disconnect_account"


def fault_steps(sandbox: str, key_id: str, r: Revoke) -> list[tuple[str, str, tuple]]:
    return [
        (
            "disconnect_account",
            "UPDATE accounts SET status='disconnected', disconnected_reason=?, disconnected_at=?"
            " WHERE sandbox=? AND id=? AND organization_id=? AND status != 'disconnected'",
            disconnect_params(sandbox, r),
        ),
        ("drop_token", "UPDATE accounts SET token=NULL WHERE sandbox=? AND id=?", (sandbox, r.account_id)),
        ("cancel_posts", CANCEL, cancel_params(sandbox, r)),
        ("record_revocation", RECORD, record_params(sandbox, key_id, r)),
    ]


@lru_cache(maxsize=256)  # read on every revoke (three times), and the clock is rarely moved
def clock_settings_of(frozen: str | None, offset: str | None) -> tuple[float | None, float]:
    """(frozen instant or None, offset) from the clock's two settings rows (their text)."""
    return (float(frozen) if frozen not in (None, "") else None, float(offset or 0.0))


@lru_cache(maxsize=256)  # a key's scopes, read on every revoke: a handful of distinct texts
def _scopes(text: str) -> tuple[str, ...]:
    return tuple(json.loads(text))


def caller_of(row, digest: str) -> dict | None:
    """The caller's facts from a row of `_CALLER_COLUMNS` (None: no key, or not this secret's)."""
    # The index lookup finds the row; the constant-time compare is the actual check.
    if row is None or not hmac.compare_digest(row["secret_sha256"], digest):
        return None
    return {
        "sandbox": row["sandbox"],
        "expiresAt": row["expires_at"],
        "keyId": row["id"],
        "keyHint": row["secret_hint"],
        "organizationId": row["organization_id"],
        "scopes": _scopes(row["scopes"]),
        "tier": row["tier"],
        "killed": {
            "key": bool(row["key_killed"]),
            "organization": bool(row["org_killed"]),
            "global": row["global_killed"] == "1",
        },
    }


# GATHER's column names by their number (one text: one entry), for `Queries.gathered`.
_GATHERED_NAMES: dict[int, tuple[str, ...]] = {}


class Queries:
    """The queries, bound to one connection whose transaction the storage opened."""

    def __init__(self, conn, dialect: Dialect, sandbox: str = LOCAL_SANDBOX):
        self.conn = conn
        self.dialect = dialect
        self.sandbox = sandbox
        self._sql = dialect.sql  # translated once per distinct text (lru_cache), not per call

    def within(self, sandbox: str) -> Queries:
        """This transaction's queries for another sandbox."""
        if sandbox == self.sandbox:
            return self
        return type(self)(self.conn, self.dialect, sandbox)

    # -- plumbing -------------------------------------------------------------------------
    def _x(self, sql: str, params: tuple | list = ()):
        return self.conn.execute(self._sql(sql), params)

    def one(self, sql: str, params: tuple | list = ()) -> Any:
        return self._x(sql, params).fetchone()

    def rows(self, sql: str, params: tuple | list = ()) -> list:
        return self._x(sql, params).fetchall()

    def scalar(self, sql: str, params: tuple | list = ()) -> Any:
        row = self.one(sql, params)
        return None if row is None else next(iter(_values(row)))

    def many(self, sql: str, rows: Iterable[tuple]) -> None:
        cur = self.conn.cursor()
        cur.executemany(self._sql(sql), rows)

    @contextmanager
    def savepoint(self, name: str) -> Iterator[None]:
        """A nested all-or-nothing step inside the transaction."""
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException as exc:
            self.conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self.conn.execute(f"RELEASE SAVEPOINT {name}")
            if isinstance(exc, _RollBack):
                return  # asked for: the steps are undone, the transaction goes on
            raise
        self.conn.execute(f"RELEASE SAVEPOINT {name}")

    # -- world loading --------------------------------------------------------------------
    def clear(self, tables: Iterable[str]) -> None:
        """Delete this sandbox's rows of `tables` (children first: schema.TABLES_TO_CLEAR)."""
        for table in tables:
            self._x(f"DELETE FROM {table} WHERE sandbox=?", (self.sandbox,))

    def insert_organization(self, org: dict) -> None:
        self._x(
            "INSERT INTO organizations(sandbox, id, name, killed) VALUES (?, ?, ?, ?)",
            (self.sandbox, org["id"], org["name"], int(org.get("killed", False))),
        )

    def insert_key(self, key: dict) -> None:
        self._x(
            "INSERT INTO api_keys(sandbox, id, secret_sha256, secret_hint, organization_id, scopes, tier, killed,"
            " label) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                self.sandbox,
                key["id"],
                hash_secret(key["secret"]),
                secret_hint(key["secret"]),
                key["organizationId"],
                json.dumps(key["scopes"]),
                key["tier"],
                int(key.get("killed", False)),
                key.get("label"),
            ),
        )

    # Row tuples in these orders (without the sandbox, which insert_accounts/insert_posts add).
    ACCOUNT_COLUMNS = (
        "id",
        "organization_id",
        "platform",
        "handle",
        "status",
        "disconnected_reason",
        "disconnected_at",
        "leased",
        "lease_status",
        "token",
        "connected_at",
    )

    def bulk_insert(self, table: str, columns: tuple[str, ...], rows: Iterable[tuple]) -> None:
        """Many rows at once (PostgreSQL overrides this with COPY): as statements of many rows
        each, which SQLite runs with far less work per row than one statement per row (a
        million accounts: ~0.75 CPU-s less; bench/fixture_cpu.py). A statement binds at most
        BULK_PARAMETERS values (SQLite before 3.32 took no more than 999); the last, shorter
        chunk is a statement of its own."""
        width = len(columns)
        per = max(1, BULK_PARAMETERS // width)
        into = f"INSERT INTO {table}({', '.join(columns)}) VALUES "
        one = f"({','.join('?' * width)})"
        left = iter(rows)
        rest: list[tuple] = []

        def full_chunks() -> Iterator[tuple]:
            while True:
                flat = tuple(chain.from_iterable(islice(left, per)))
                if len(flat) < per * width:
                    rest.append(flat)
                    return
                yield flat

        self.many(into + ",".join([one] * per), full_chunks())
        if rest[0]:
            self._x(into + ",".join([one] * (len(rest[0]) // width)), rest[0])

    def insert_accounts(self, rows: Iterable[tuple]) -> int | None:
        """rows: tuples in ACCOUNT_COLUMNS order (taken one by one). Returns the seq of the first
        when the rows got consecutive seqs (then row i's is that + i; always so on SQLite, whose
        write lock this transaction holds), else None."""
        sandbox = (self.sandbox,)
        before = self.scalar("SELECT COALESCE(MAX(seq), 0) AS n FROM accounts")
        taken = [0]

        def with_sandbox():
            for taken[0], r in enumerate(rows, 1):  # counted as they go by
                yield sandbox + r

        self.bulk_insert("accounts", ("sandbox",) + self.ACCOUNT_COLUMNS, with_sandbox())
        if self.dialect.index_accounts_after_insert:
            self._x(ACCOUNTS_BY_ID)  # a no-op unless a bulk load dropped it
        # n new seqs, all above `before`, the largest before + n: exactly before+1 .. before+n.
        after = self.scalar("SELECT COALESCE(MAX(seq), 0) AS n FROM accounts")
        return int(before) + 1 if taken[0] and int(after) - int(before) == taken[0] else None

    def generate_posts(
        self,
        counts: Iterable[tuple[int | None, str | None, str, int, int]],
        schedule: list[str],
        canceled_at: str,
        cancel_reason: str,
    ) -> int:
        """Posts made inside the database from (account seq, account id, status, how many, span)
        rows, the account named by its seq (a bulk load knows it: `insert_accounts`) or else by its
        id (the other None). A row stands for `span` accounts of consecutive seqs with the same
        counts (an id-named row: span 1): a million accounts of 3 queued posts each are one row,
        not a million rows bound one by one (most of what staging them cost). The i-th post of a
        row's account is scheduled at schedule[i-1]; canceled ones carry `canceled_at` and
        `cancel_reason`. Ids are minted by the database (`Dialect.new_post_id`): three million
        posts never pass through Python one by one. Returns the `seq` before the first new post."""
        self._x(
            "CREATE TEMP TABLE IF NOT EXISTS staged_posts"
            " (ord INTEGER PRIMARY KEY, account_seq BIGINT, account_id TEXT, status TEXT NOT NULL,"
            " n INTEGER NOT NULL, span INTEGER NOT NULL)"
        )
        self._x("CREATE TEMP TABLE IF NOT EXISTS post_slots (i INTEGER PRIMARY KEY, scheduled_for TEXT NOT NULL)")
        self._x("CREATE TEMP TABLE IF NOT EXISTS account_slots (j INTEGER PRIMARY KEY)")
        for table in ("staged_posts", "post_slots", "account_slots"):
            self._x(f"DELETE FROM {table}")
        # A row's ord: where its first account's posts come in the load (the next row's ord is
        # past all of this row's accounts), so that (ord + j, i) numbers every post of the load.
        # Runs longer than SPAN_ROWS are cut (account_slots stays small).
        rows, ord_ = [], 0
        for seq, a, s, n, span in counts:
            while span > 0:
                part = min(span, SPAN_ROWS)
                rows.append((ord_, seq, a, s, n, part))
                ord_, span = ord_ + part, span - part
                seq = None if seq is None else seq + part
        self.bulk_insert("staged_posts", ("ord", "account_seq", "account_id", "status", "n", "span"), rows)
        # Every row named by its seq (a bulk load): no join with accounts at all. PostgreSQL, knowing
        # nothing of a just-loaded table (its id index is built after the rows), otherwise planned
        # a nested loop over the accounts for each staged row: minutes for 150,000 accounts.
        by_seq = all(r[1] is not None for r in rows)
        self.bulk_insert("post_slots", ("i", "scheduled_for"), enumerate(schedule, 1))
        # The j-th account of a row (0 .. its span - 1), counted by the database.
        self._x(
            "INSERT INTO account_slots(j) WITH RECURSIVE k(j) AS"
            " (SELECT 0 UNION ALL SELECT j + 1 FROM k WHERE j + 1 < ?) SELECT j FROM k",
            (max((r[5] for r in rows), default=1),),
        )
        before = self.scalar("SELECT COALESCE(MAX(seq), 0) AS n FROM posts")  # over all sandboxes: seq is global
        h = secrets.token_hex(10)  # the load's salt, shaped "xxxxxxxx-xxxx-4xxx-[89ab]xxx-"
        salt = f"{h[:8]}-{h[8:12]}-4{h[12:15]}-{'89ab'[int(h[15], 16) & 3]}{h[16:19]}-"
        new_id = self.dialect.new_post_id.replace("{salt}", salt)
        self._x(
            f"INSERT INTO posts(sandbox, id, account_seq, status, scheduled_for, canceled_at, cancel_reason)"
            f" SELECT ?, {new_id}, {'s.account_seq + k.j' if by_seq else 'COALESCE(s.account_seq + k.j, a.seq)'},"
            f" s.status, p.scheduled_for,"
            f" CASE WHEN s.status = 'canceled' THEN ? END, CASE WHEN s.status = 'canceled' THEN ? END"
            # A row named by its seq looks nothing up (a NULL id matches no account): a
            # million index probes were ~2 s of a million-account load. LEFT JOIN: SQLite
            # then keeps the staged rows outermost, in order (with a plain JOIN its planner,
            # knowing nothing of the temp tables' sizes, looped over the accounts instead: 10 s
            # for a million). An account not found gives a NULL seq, which NOT NULL refuses.
            # CROSS JOIN: SQLite keeps this loop order too (rows, their accounts, their posts), which
            # is the ORDER BY's: no sort.
            + (
                " FROM staged_posts s"
                if by_seq
                else " FROM staged_posts s LEFT JOIN accounts a ON a.sandbox = ? AND a.id = s.account_id"
            )
            + " CROSS JOIN account_slots k CROSS JOIN post_slots p WHERE k.j < s.span AND p.i <= s.n"
            " ORDER BY s.ord, k.j, p.i",
            (self.sandbox, canceled_at, cancel_reason) + (() if by_seq else (self.sandbox,)),
        )
        return int(before)

    def post_ids_after(self, seq: int, account_id: str, limit: int) -> list[str]:
        return [
            r["id"]
            for r in self.rows(
                f"SELECT id FROM posts WHERE seq > ? AND sandbox = ? AND account_seq = {_SEQ_OF} ORDER BY seq LIMIT ?",
                (seq, self.sandbox, self.sandbox, account_id, limit),
            )
        ]

    def insert_test_account(self, account_id: str, status: int, note: str | None) -> None:
        self._x(
            "INSERT INTO test_accounts(sandbox, id, status, note) VALUES (?,?,?,?)",
            (self.sandbox, account_id, status, note),
        )

    def organization_ids(self, ids: Iterable[str]) -> set[str]:
        ids = list(set(ids))
        found: set[str] = set()
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            found |= {
                r["id"]
                for r in self.rows(
                    f"SELECT id FROM organizations WHERE sandbox=? AND id IN ({','.join('?' * len(chunk))})",
                    [self.sandbox, *chunk],
                )
            }
        return found

    # -- settings (global kill switch, clock) ---------------------------------------------
    def get_setting(self, name: str) -> str | None:
        return self.scalar("SELECT value FROM settings WHERE sandbox=? AND name=?", (self.sandbox, name))

    def set_setting(self, name: str, value: str | None) -> None:
        self._x(
            "INSERT INTO settings(sandbox, name, value) VALUES (?, ?, ?)"
            " ON CONFLICT(sandbox, name) DO UPDATE SET value=excluded.value",
            (self.sandbox, name, value),
        )

    def clock_settings(self) -> tuple[float | None, float]:
        found = {
            r["name"]: r["value"]
            for r in self.rows(
                "SELECT name, value FROM settings WHERE sandbox=? AND name IN ('clock_frozen', 'clock_offset')",
                (self.sandbox,),
            )
        }
        return clock_settings_of(found.get("clock_frozen"), found.get("clock_offset"))

    def set_clock(self, *, frozen: float | None, offset: float) -> None:
        self.set_setting("clock_frozen", "" if frozen is None else repr(frozen))
        self.set_setting("clock_offset", repr(offset))

    # -- callers --------------------------------------------------------------------------
    def caller_by_secret(self, secret: str) -> dict | None:
        """The key behind a bearer secret, in whichever sandbox holds it (secrets are unique
        across sandboxes), with its organization's and its sandbox's global kill switch and the
        sandbox's expiry (None: never)."""
        digest = hash_secret(secret)
        return caller_of(
            self.one(f"SELECT {_CALLER_COLUMNS} FROM {_CALLER_FROM} WHERE k.secret_sha256=?", (digest,)), digest
        )

    # -- the revoke's gathered read (storage/gathered.py) ---------------------------------
    def gather(self, ask: Ask) -> dict | None:
        """Everything a revoke is decided on, in ONE statement (one snapshot on both backends):
        the key with its kill switches, the sandbox's clock, the reserved test account, the
        account if it is revocable (with its posts' count to cancel), an armed fault for it, the
        rate windows' counts and the idempotency entry. None: no key has this secret."""
        return self.gathered(self.one(gather_sql(self.dialect), self.gather_params(ask)), ask)

    @staticmethod
    def gather_params(ask: Ask) -> tuple:
        """GATHER's parameters: its `_ASK_ROW`, in order."""
        windows = (*ask.windows, None, None)
        return (ask.account_id, ask.cancelable, windows[0], windows[1], ask.idempotency_key, ask.digest)

    @staticmethod
    def gathered(row, ask: Ask) -> dict | None:
        """GATHER's row as a dict with the caller's facts under "caller" (None: no such key)."""
        if row is None:
            return None
        # A sqlite3.Row finds each column by name with a scan of all ~30: made a dict first, by
        # position (dict(row) would look every name up that way: most of a 404's time in Python),
        # with GATHER's column names read once (row.keys() makes a new list on every call).
        if isinstance(row, dict):
            row = dict(row)
        else:
            names = _GATHERED_NAMES.get(len(row))
            if names is None:
                names = _GATHERED_NAMES[len(row)] = tuple(row.keys())
            row = dict(zip(names, row, strict=True))
        caller = caller_of(row, ask.digest)
        if caller is None:
            return None
        row["caller"] = caller
        return row

    # -- the revoke's writes, one statement at a time (SQLite; any blocking transaction) ----
    def apply(self, w: Writes) -> None:
        """`w` in the open transaction, each guard checked as its statement returns: a broken
        one raises LostRace (the caller rolls back). PostgreSQL's request path sends the same
        writes as one pipeline instead (postgres.py)."""
        if w.sandbox != self.sandbox:
            self.within(w.sandbox).apply(w)
            return
        for window, limit in w.spend:
            if self._x(SPEND_ROW, (w.sandbox, w.key_id, window, limit)).rowcount != 1:
                raise LostRace("rate window")
        if (
            w.remember is not None
            and self._x(REMEMBER_ROW, remember_params(w.sandbox, w.key_id, w.remember)).rowcount != 1
        ):
            raise LostRace("idempotency key")
        if w.take is not None and self._x(TAKE_FAULT, (w.take,)).rowcount != 1:
            raise LostRace("scripted answer")
        r = w.revoke
        if r is None:
            return
        if r.fault_id is not None:
            if self._x(TAKE_FAULT, (r.fault_id,)).rowcount != 1:
                raise LostRace("fault")
            with self.savepoint("revoke"):
                for step, sql, params in fault_steps(w.sandbox, w.key_id, r):
                    cur = self._x(sql, params)
                    if step == FIRST_FAULT_STEP and cur.rowcount != 1:
                        raise LostRace("account")
                    if step == r.fail_after:
                        raise _RollBack
            return
        if self._x(DISCONNECT, disconnect_params(w.sandbox, r)).rowcount != 1:
            raise LostRace("account")
        if self._x(CANCEL, cancel_params(w.sandbox, r)).rowcount != r.canceled:
            raise LostRace("posts")
        self._x(RECORD, record_params(w.sandbox, w.key_id, r))

    def set_key_killed(self, key_id: str, killed: bool) -> bool:
        return (
            self._x(
                "UPDATE api_keys SET killed=? WHERE sandbox=? AND id=?", (int(killed), self.sandbox, key_id)
            ).rowcount
            == 1
        )

    def set_org_killed(self, org_id: str, killed: bool) -> bool:
        return (
            self._x(
                "UPDATE organizations SET killed=? WHERE sandbox=? AND id=?", (int(killed), self.sandbox, org_id)
            ).rowcount
            == 1
        )

    def key_row(self, key_id: str):
        return self.one("SELECT * FROM api_keys WHERE sandbox=? AND id=?", (self.sandbox, key_id))

    def list_keys(self) -> list:
        return self.rows("SELECT * FROM api_keys WHERE sandbox=? ORDER BY seq", (self.sandbox,))

    def list_organizations(self) -> list:
        return self.rows("SELECT * FROM organizations WHERE sandbox=? ORDER BY seq", (self.sandbox,))

    def organization(self, org_id: str):
        return self.one("SELECT * FROM organizations WHERE sandbox=? AND id=?", (self.sandbox, org_id))

    # -- rate windows ---------------------------------------------------------------------
    def spend(self, key_id: str, windows: list[str]) -> list[int]:
        """Count one request in each window; the counts after it. The upsert locks each
        window's row until COMMIT, so two transactions never both spend the last unit."""
        return [
            self.scalar(
                "INSERT INTO rate_windows(sandbox, key_id, window_key, count) VALUES (?, ?, ?, 1)"
                " ON CONFLICT(sandbox, key_id, window_key) DO UPDATE SET count = rate_windows.count + 1"
                " RETURNING count",
                (self.sandbox, key_id, w),
            )
            for w in windows
        ]

    def set_window_count(self, key_id: str, window: str, count: int) -> None:
        self._x(
            "INSERT INTO rate_windows(sandbox, key_id, window_key, count) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(sandbox, key_id, window_key) DO UPDATE SET count = excluded.count",
            (self.sandbox, key_id, window, count),
        )

    # -- idempotency ----------------------------------------------------------------------
    def lock_idempotency_key(self, key_id: str, idem_key: str) -> None:
        if self.dialect.lock_idempotency:
            # one lock per (key, Idempotency-Key); a hash collision only serializes two more
            self.conn.execute(self.dialect.lock_idempotency, (f"{self.sandbox} {key_id} {idem_key}",))

    def idempotency_entry(self, key_id: str, idem_key: str):
        return self.one(
            "SELECT * FROM idempotency WHERE sandbox=? AND key_id=? AND idempotency_key=?",
            (self.sandbox, key_id, idem_key),
        )

    def forget_idempotency(self, key_id: str, idem_key: str) -> None:
        self._x(
            "DELETE FROM idempotency WHERE sandbox=? AND key_id=? AND idempotency_key=?",
            (self.sandbox, key_id, idem_key),
        )

    def remember_idempotency(
        self, key_id: str, idem_key: str, account_id: str, status: int, body: dict, request_id: str, at: float
    ) -> None:
        self._x(
            "INSERT INTO idempotency(sandbox, key_id, idempotency_key, account_id, status, body, request_id,"
            " created_at) VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(sandbox, key_id, idempotency_key) DO UPDATE SET"
            " account_id=excluded.account_id, status=excluded.status, body=excluded.body,"
            " request_id=excluded.request_id, created_at=excluded.created_at",
            (
                self.sandbox,
                key_id,
                idem_key,
                account_id,
                status,
                json.dumps(body, separators=(",", ":")),
                request_id,
                at,
            ),
        )

    # -- faults and scripted answers (one table: the gathered read's `_ARMED_FAULT` covers both) --
    def arm_fault(self, step: str, count: int, account_id: str | None) -> int:
        return self.scalar(
            "INSERT INTO faults(sandbox, step, remaining, account_id) VALUES (?,?,?,?) RETURNING id",
            (self.sandbox, step, count, account_id),
        )

    def arm_answers(self, answers: list[str], account_id: str | None, key_id: str | None) -> list[int]:
        """A scripted sequence: one row per answer (JSON text), taken in id order, once each."""
        return [
            self.scalar(
                "INSERT INTO faults(sandbox, step, remaining, account_id, key_id, answer)"
                " VALUES (?, 'answer', 1, ?, ?, ?) RETURNING id",
                (self.sandbox, account_id, key_id, answer),
            )
            for answer in answers
        ]

    def list_faults(self) -> list:
        return self.rows(
            "SELECT * FROM faults WHERE sandbox=? AND remaining > 0 AND answer IS NULL ORDER BY id", (self.sandbox,)
        )

    def list_answers(self) -> list:
        return self.rows(
            "SELECT * FROM faults WHERE sandbox=? AND remaining > 0 AND answer IS NOT NULL ORDER BY id", (self.sandbox,)
        )

    def clear_faults(self, *, answers: bool | None = None) -> None:
        only = "" if answers is None else (" AND answer IS NOT NULL" if answers else " AND answer IS NULL")
        self._x("DELETE FROM faults WHERE sandbox=?" + only, (self.sandbox,))

    # -- accounts and posts ---------------------------------------------------------------
    def test_account_status(self, account_id: str) -> int | None:
        return self.scalar("SELECT status FROM test_accounts WHERE sandbox=? AND id=?", (self.sandbox, account_id))

    def list_test_accounts(self) -> list:
        return self.rows("SELECT * FROM test_accounts WHERE sandbox=? ORDER BY status", (self.sandbox,))

    def account(self, account_id: str):
        return self.one("SELECT * FROM accounts WHERE sandbox=? AND id=?", (self.sandbox, account_id))

    _POST_VIEW = (
        "p.id, a.id AS account_id, p.status, p.scheduled_for,"
        " CASE WHEN p.by_revoke = 1 THEN a.disconnected_at ELSE p.canceled_at END AS canceled_at,"
        " CASE WHEN p.by_revoke = 1 THEN a.disconnected_reason ELSE p.cancel_reason END AS cancel_reason"
        " FROM posts p JOIN accounts a ON a.sandbox = p.sandbox AND a.seq = p.account_seq"
    )

    def posts_of(self, account_id: str, limit: int | None = None) -> list:
        sql = f"SELECT {self._POST_VIEW} WHERE a.sandbox=? AND a.id=? ORDER BY p.seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.rows(sql, (self.sandbox, account_id))

    def post_counts(self, account_id: str) -> dict[str, int]:
        return {
            r["status"]: int(r["n"])
            for r in self.rows(
                f"SELECT status, COUNT(*) AS n FROM posts WHERE sandbox=? AND account_seq={_SEQ_OF} GROUP BY status",
                (self.sandbox, self.sandbox, account_id),
            )
        }

    def list_accounts(self, organization_id: str | None = None, limit: int = 100) -> list:
        if organization_id:
            return self.rows(
                "SELECT * FROM accounts WHERE sandbox=? AND organization_id=? ORDER BY seq LIMIT ?",
                (self.sandbox, organization_id, limit),
            )
        return self.rows("SELECT * FROM accounts WHERE sandbox=? ORDER BY seq LIMIT ?", (self.sandbox, limit))

    def revocable_account(self, account_id: str, organization_id: str, *, lock: bool = False):
        return self.one(
            "SELECT id FROM accounts WHERE sandbox=? AND id=? AND organization_id=?"
            " AND status != 'disconnected'" + ("{FOR_UPDATE}" if lock else ""),
            (self.sandbox, account_id, organization_id),
        )

    def first_revocable_account(self, organization_id: str) -> str | None:
        """The first-made account of the organization a revoke would disconnect (the start-up
        banner's example when the published one is gone); walks accounts in seq order, so it
        stops at the first match in a world of a million."""
        return self.scalar(
            "SELECT id FROM accounts WHERE sandbox=? AND organization_id=? AND status != 'disconnected'"
            " ORDER BY seq LIMIT 1",
            (self.sandbox, organization_id),
        )

    def mark_disconnected(self, account_id: str, reason: str, at: str) -> None:
        self._x(
            "UPDATE accounts SET status='disconnected', disconnected_reason=?, disconnected_at=?"
            " WHERE sandbox=? AND id=?",
            (reason, at, self.sandbox, account_id),
        )

    def disconnect_revocable(self, account_id: str, organization_id: str, reason: str, at: str) -> bool:
        """`revocable_account`, `mark_disconnected` and `drop_token` in one statement: True if the
        account was revocable (and is now disconnected, token dropped). A concurrent revoke of
        the same account waits for this row and then finds it disconnected."""
        return (
            self._x(
                "UPDATE accounts SET status='disconnected', disconnected_reason=?, disconnected_at=?, token=NULL"
                " WHERE sandbox=? AND id=? AND organization_id=? AND status != 'disconnected'",
                (reason, at, self.sandbox, account_id, organization_id),
            ).rowcount
            == 1
        )

    def drop_token(self, account_id: str) -> None:
        self._x("UPDATE accounts SET token=NULL WHERE sandbox=? AND id=?", (self.sandbox, account_id))

    def cancel_posts_by_revoke(self, account_id: str, from_status: str) -> int:
        """Cancel the account's posts in `from_status`; their time and reason are the account's."""
        return self._x(
            f"UPDATE posts SET status='canceled', by_revoke=1 WHERE sandbox=? AND account_seq={_SEQ_OF} AND status=?",
            (self.sandbox, self.sandbox, account_id, from_status),
        ).rowcount

    def record_revocation(self, account_id: str, request_id: str, key_id: str, at: str, canceled: int) -> None:
        self._x(
            "INSERT INTO revocations(sandbox, account_id, request_id, key_id, at, canceled_posts) VALUES (?,?,?,?,?,?)",
            (self.sandbox, account_id, request_id, key_id, at, canceled),
        )

    def revocations(self, limit: int = 1000) -> list:
        return self.rows("SELECT * FROM revocations WHERE sandbox=? ORDER BY seq LIMIT ?", (self.sandbox, limit))

    def revocation_count(self) -> int:
        return int(self.scalar("SELECT COUNT(*) AS n FROM revocations WHERE sandbox=?", (self.sandbox,)))

    # -- journal ---------------------------------------------------------------------------

    def insert_journal_rows(self, rows: list[tuple]) -> None:
        """rows: (sandbox, *JOURNAL_COLUMNS) tuples, of any sandboxes, written in their order.

        As statements of JOURNAL_ROWS_PER_INSERT rows, the rest one by one: SQLite's driver
        hands the GIL over around every statement it steps, and SQLite's housekeeping thread
        writes a served 401's entries in batches of hundreds while the event loop wants the GIL
        (its CPU per 401: -0.5 to -0.9 us; bench/served_401.py --threads). Two statement texts
        only: one per remainder's length would crowd the connection's statement cache."""
        whole = len(rows) - len(rows) % JOURNAL_ROWS_PER_INSERT
        if whole:
            per = JOURNAL_ROWS_PER_INSERT
            chunks = (tuple(chain.from_iterable(rows[i : i + per])) for i in range(0, whole, per))
            self.many(JOURNAL_INSERT_MANY, chunks)
        if whole < len(rows):
            self.many(JOURNAL_INSERT, rows[whole:])

    def journal(self, limit: int, after_id: int = 0) -> list:
        return self.rows(
            "SELECT * FROM journal WHERE sandbox=? AND id > ? ORDER BY id LIMIT ?", (self.sandbox, after_id, limit)
        )

    def journal_since(self, wall_seconds: float, limit: int) -> list:
        """The entries whose response left at or after `wall_seconds`, in the order they left."""
        return self.rows(
            "SELECT * FROM journal WHERE sandbox=? AND (wall_seconds IS NULL OR wall_seconds >= ?)"
            " ORDER BY wall_seconds, id LIMIT ?",
            (self.sandbox, wall_seconds, limit),
        )

    def trim_journal(self, keep: int) -> int:
        """Drop all but the newest `keep` entries of this sandbox; count the dropped ones in its
        `journal_dropped` setting (one upsert, so instances sharing a database add up)."""
        newest_dropped = self.journal_cutoff(keep)
        return 0 if newest_dropped is None else self.drop_journal_through(newest_dropped)

    def journal_cutoff(self, keep: int) -> int | None:
        """The id of the newest entry of this sandbox beyond its newest `keep` (None: none is).
        Entries written later are newer: dropping up to it never drops one of the newest `keep`."""
        return self.scalar(
            "SELECT id FROM journal WHERE sandbox=? ORDER BY id DESC LIMIT 1 OFFSET ?", (self.sandbox, keep)
        )

    def drop_journal_through(self, newest_dropped: int, at_most: int | None = None) -> int:
        """Drop this sandbox's entries up to id `newest_dropped` (the oldest `at_most` of them, if
        given: a trim in short transactions), counted in its `journal_dropped` setting."""
        if at_most is None:
            cur = self._x("DELETE FROM journal WHERE sandbox=? AND id <= ?", (self.sandbox, newest_dropped))
        else:
            cur = self._x(
                "DELETE FROM journal WHERE id IN"
                " (SELECT id FROM journal WHERE sandbox=? AND id <= ? ORDER BY id LIMIT ?)",
                (self.sandbox, newest_dropped, at_most),
            )
        dropped = cur.rowcount
        if dropped:
            self._x(
                "INSERT INTO settings(sandbox, name, value) VALUES (?, 'journal_dropped', ?)"
                " ON CONFLICT(sandbox, name) DO UPDATE SET"
                " value = CAST(CAST(settings.value AS BIGINT) + CAST(excluded.value AS BIGINT) AS TEXT)",
                (self.sandbox, str(dropped)),
            )
        return dropped

    def key_organizations(self) -> dict[str, str]:
        """key id -> its organization id (grading: which keys an organization's kill switch covers)."""
        return {
            r["id"]: r["organization_id"]
            for r in self.rows("SELECT id, organization_id FROM api_keys WHERE sandbox=?", (self.sandbox,))
        }

    COUNTED = ("organizations", "api_keys", "accounts", "posts", "revocations", "journal")

    def counts(self, tables: Iterable[str] = COUNTED) -> dict[str, int]:
        return {t: int(self.scalar(f"SELECT COUNT(*) AS n FROM {t} WHERE sandbox=?", (self.sandbox,))) for t in tables}

    # -- the world's invariants (their rules and words: core/invariants.py) ----------------
    def revoked_with_posts_in(self, reason: str, status: str) -> list:
        """(id, n): accounts revoked for `reason` with n posts still in `status`."""
        return self.rows(
            "SELECT a.id, COUNT(p.id) AS n FROM accounts a JOIN posts p ON p.sandbox=a.sandbox AND p.account_seq=a.seq"
            " WHERE a.sandbox=? AND a.status='disconnected' AND a.disconnected_reason=? AND p.status=? GROUP BY a.id",
            (self.sandbox, reason, status),
        )

    def unrevoked_with_posts_canceled_by_revoke(self) -> list:
        """(id, n): accounts not disconnected with n posts marked as canceled by a revoke."""
        return self.rows(
            "SELECT a.id, COUNT(p.id) AS n FROM accounts a JOIN posts p ON p.sandbox=a.sandbox AND p.account_seq=a.seq"
            " WHERE a.sandbox=? AND a.status != 'disconnected' AND p.by_revoke=1 GROUP BY a.id",
            (self.sandbox,),
        )

    def revoked_with_token(self, reason: str) -> list[str]:
        return [
            r["id"]
            for r in self.rows(
                "SELECT a.id FROM accounts a WHERE a.sandbox=? AND a.status='disconnected' AND a.disconnected_reason=?"
                " AND a.token IS NOT NULL",
                (self.sandbox, reason),
            )
        ]

    def revoked_without_record(self, reason: str) -> list[str]:
        return [
            r["id"]
            for r in self.rows(
                "SELECT a.id FROM accounts a WHERE a.sandbox=? AND a.disconnected_reason=?"
                " AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.sandbox=a.sandbox AND r.account_id=a.id)",
                (self.sandbox, reason),
            )
        ]

    def revoked_more_than_once(self) -> list:
        """(account_id, n): accounts with n > 1 revocation records."""
        return self.rows(
            "SELECT account_id, COUNT(*) AS n FROM revocations WHERE sandbox=? GROUP BY account_id HAVING COUNT(*) > 1",
            (self.sandbox,),
        )

    def revocation_cancel_counts(self) -> list:
        """(account_id, canceled_posts, actual): each revocation's recorded count of canceled
        posts beside the posts of its account canceled by a revoke."""
        return self.rows(
            "SELECT r.account_id, r.canceled_posts, (SELECT COUNT(*) FROM posts p JOIN accounts a ON a.sandbox=p.sandbox"
            " AND a.seq=p.account_seq WHERE a.sandbox=r.sandbox AND a.id=r.account_id AND p.by_revoke=1) AS actual"
            " FROM revocations r WHERE r.sandbox=?",
            (self.sandbox,),
        )

    # -- sandboxes (their own table; mock_server/tenancy/ holds the rules) ----------------
    def lock_sandbox_creation(self) -> None:
        """Hold the schema's meta row until COMMIT (PostgreSQL): one sandbox creation at a time
        across instances, so that counting the live sandboxes before adding one is exact."""
        self.one("SELECT value FROM meta WHERE name='schema_version'{FOR_UPDATE}")

    def insert_sandbox(
        self,
        sandbox_id: str,
        label: str | None,
        token_sha256: str | None,
        now: float,
        idle_ttl: float | None,
        world: str | None,
    ) -> None:
        self._x(
            "INSERT INTO sandboxes(id, label, admin_token_sha256, created_at, last_used_at, idle_ttl, expires_at,"
            " world) VALUES (?,?,?,?,?,?,?,?)",
            (sandbox_id, label, token_sha256, now, now, idle_ttl, None if idle_ttl is None else now + idle_ttl, world),
        )

    def sandbox_by_token(self, token_sha256: str):
        return self.one("SELECT * FROM sandboxes WHERE admin_token_sha256=?", (token_sha256,))

    def sandbox_row(self, sandbox_id: str, *, lock: bool = False):
        """`lock`: hold the row until COMMIT (PostgreSQL), so that two writers to one sandbox
        check its limits one after the other."""
        return self.one("SELECT * FROM sandboxes WHERE id=?" + ("{FOR_UPDATE}" if lock else ""), (sandbox_id,))

    def list_sandboxes(self, limit: int) -> list:
        return self.rows(
            "SELECT * FROM sandboxes WHERE admin_token_sha256 IS NOT NULL ORDER BY created_at LIMIT ?", (limit,)
        )

    def count_sandboxes(self, now: float) -> int:
        """Live ones: an expired sandbox no longer counts, even before its rows are deleted."""
        return int(
            self.scalar(
                "SELECT COUNT(*) AS n FROM sandboxes WHERE admin_token_sha256 IS NOT NULL"
                " AND (expires_at IS NULL OR expires_at > ?)",
                (now,),
            )
        )

    def touch_sandbox(self, sandbox_id: str, now: float) -> None:
        self._x(
            "UPDATE sandboxes SET last_used_at=?, expires_at=? + idle_ttl WHERE id=? AND idle_ttl IS NOT NULL",
            (now, now, sandbox_id),
        )

    def expired_sandboxes(self, now: float, limit: int) -> list[str]:
        return [
            r["id"]
            for r in self.rows(
                "SELECT id FROM sandboxes WHERE expires_at <= ? ORDER BY expires_at LIMIT ?", (now, limit)
            )
        ]

    def delete_sandbox(self, sandbox_id: str, tables: Iterable[str]) -> bool:
        """The sandbox's world (`tables`, children first) and its row."""
        self.within(sandbox_id).clear(tables)
        return self._x("DELETE FROM sandboxes WHERE id=?", (sandbox_id,)).rowcount == 1


def _values(row) -> Iterable:
    return row.values() if isinstance(row, dict) else row
