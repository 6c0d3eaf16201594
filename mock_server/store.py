"""All of the mock's state, in one SQLite file.

Every worker process opens the same file. WAL mode lets readers run beside the one writer, and
every state change runs inside `BEGIN IMMEDIATE`, so two workers never interleave a revoke.
Nothing here knows HTTP or the documented rules: it stores and fetches (the rules are in
`domain.py`).
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import hashlib
import hmac
import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS organizations (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    killed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS api_keys (
    id TEXT PRIMARY KEY,
    secret_sha256 TEXT NOT NULL UNIQUE,  -- the secret itself is never stored
    secret_hint TEXT NOT NULL,           -- first characters, for the journal and listings
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    scopes TEXT NOT NULL,                -- JSON list
    tier TEXT NOT NULL,
    killed INTEGER NOT NULL DEFAULT 0,
    label TEXT
);
CREATE TABLE IF NOT EXISTS accounts (
    id TEXT PRIMARY KEY,
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    platform TEXT NOT NULL,
    handle TEXT NOT NULL,
    status TEXT NOT NULL,
    disconnected_reason TEXT,
    disconnected_at TEXT,
    leased INTEGER NOT NULL DEFAULT 0,
    lease_status TEXT,                   -- 'active' or 'released' for leased accounts
    token TEXT,                          -- the stored platform token; revoke drops it
    connected_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS posts (
    id TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    status TEXT NOT NULL,
    scheduled_for TEXT,
    canceled_at TEXT,                    -- set for posts canceled some other way (fixtures)
    cancel_reason TEXT,
    -- 1 when a revoke canceled the post. Its canceledAt and reason are then the account's
    -- disconnectedAt and disconnectedReason (same transaction, same values), so a revoke
    -- writes one small integer per post instead of two strings: 100,000 posts in one go.
    by_revoke INTEGER NOT NULL DEFAULT 0
);
-- Indexed by account only: a revoke changes the status of every queued post, and with status
-- in no index the UPDATE rewrites rows but no index entries (100,000 posts: ~85 ms, against
-- ~280 ms with an (account_id, status) index; bench/revoke_cost.py).
CREATE INDEX IF NOT EXISTS posts_by_account ON posts(account_id);
CREATE TABLE IF NOT EXISTS test_accounts (
    id TEXT PRIMARY KEY,
    status INTEGER NOT NULL,
    note TEXT
);
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT
);
CREATE TABLE IF NOT EXISTS rate_windows (
    key_id TEXT NOT NULL,
    window TEXT NOT NULL,                -- 'm:<minute since epoch>' or 'd:<day since epoch>'
    count INTEGER NOT NULL,
    PRIMARY KEY (key_id, window)
);
CREATE TABLE IF NOT EXISTS idempotency (
    key_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    account_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (key_id, idempotency_key)
);
CREATE TABLE IF NOT EXISTS faults (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    step TEXT NOT NULL,
    remaining INTEGER NOT NULL,
    account_id TEXT
);
CREATE TABLE IF NOT EXISTS revocations (
    account_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    at TEXT NOT NULL,
    canceled_posts INTEGER NOT NULL
);
-- GET /_mock/integrity joins accounts to revocations: without this index that is quadratic
-- (it timed out after a benchmark's 75,000 revokes).
CREATE INDEX IF NOT EXISTS revocations_by_account ON revocations(account_id);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    request_id TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    key_id TEXT,
    key_hint TEXT,
    idempotency_key TEXT,
    code TEXT
);
"""

BUSY_TIMEOUT_MS = 30000

# Checkpoints: a background thread (see `start_checkpointer`) copies the WAL into the main file
# every CHECKPOINT_INTERVAL_S, on its own connection, so request connections no longer pay the
# checkpoint's fsyncs inside COMMIT while they hold the write lock (about a third of a revoke,
# bench/RESULTS.md). Request connections still checkpoint by themselves past
# FALLBACK_AUTOCHECKPOINT_PAGES (~80 MiB of WAL), which bounds the WAL if the thread falls behind.
CHECKPOINT_INTERVAL_S = 0.05
FALLBACK_AUTOCHECKPOINT_PAGES = 20000

TABLES_TO_CLEAR = (
    "journal", "revocations", "faults", "idempotency", "rate_windows", "settings",
    "test_accounts", "posts", "accounts", "api_keys", "organizations",
)


class _WriteLockBusy(Exception):
    """`group_write` found the write lock held by another process; nothing was done."""


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def secret_hint(secret: str) -> str:
    """What may be shown of a key: its first 12 characters, never the rest."""
    return secret[:12] + "…"


class Store:
    """A connection to the state file, with the queries the domain and control plane need."""

    def __init__(self, path: str):
        self.path = path
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a write transaction spans
        # exactly the statements we choose.
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process (only an OS crash can lose the newest
        # commits), at a fraction of FULL's cost per commit.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self.db.execute("PRAGMA foreign_keys=ON")
        self._journal_pending: list[dict[str, Any]] = []  # see journal_buffer
        # Group commit (see `run_grouped`): the revokes queued in this event-loop turn, with the
        # futures their requests await; `_batch_open` while `_run_batch` runs them.
        self._batch_queue: list[tuple[Callable[[], Any], asyncio.Future]] = []
        self._batch_scheduled = False
        self._batch_attempts = 0
        self._batch_open = False
        self._batch_began = False  # the running batch holds the write lock (BEGIN IMMEDIATE done)
        self._checkpointer: threading.Thread | None = None
        self._checkpointer_stop = threading.Event()

    def create_schema(self) -> None:
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.stop_checkpointer()
        self.db.close()

    # -- checkpoints off the request path -------------------------------------------------
    def start_checkpointer(self, interval: float = CHECKPOINT_INTERVAL_S) -> None:
        """Move WAL checkpoints to a daemon thread with its own connection (a server's store only).

        PASSIVE never takes the write lock nor waits for readers: it copies what it can and fsyncs,
        while writers keep committing (their COMMIT, with synchronous=NORMAL in WAL mode, then
        does no fsync at all). Durability is unchanged: a commit is in the WAL either way."""
        if self._checkpointer is not None:
            return
        self.db.execute(f"PRAGMA wal_autocheckpoint={FALLBACK_AUTOCHECKPOINT_PAGES}")
        self._checkpointer_stop.clear()
        self._checkpointer = threading.Thread(target=self._checkpoint_loop, args=(interval,),
                                              name="wal-checkpoint", daemon=True)
        self._checkpointer.start()

    def stop_checkpointer(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer_stop.set()
            self._checkpointer.join(timeout=5)
            self._checkpointer = None

    def _checkpoint_loop(self, interval: float) -> None:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        try:
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=0")  # another process's checkpoint running: skip a beat
            while not self._checkpointer_stop.wait(interval):
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    pass  # busy (another worker is checkpointing) or transient: try again next beat
        finally:
            db.close()

    # -- transactions ---------------------------------------------------------------------
    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken up front so that concurrent workers serialize."""
        self._begin_immediate()
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _begin_immediate(self) -> None:
        """BEGIN IMMEDIATE. While another worker holds the write lock, retry after sleeps of 50 us
        and up: SQLite's own busy handler sleeps 1 ms and more, several revokes' worth."""
        self.db.execute("PRAGMA busy_timeout=0")
        try:
            self._begin_retrying()
        finally:
            self.db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    def _begin_retrying(self) -> None:
        try:
            self.db.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        delay, waited = 0.00005, 0.0
        while True:
            time.sleep(delay)
            waited += delay
            try:
                self.db.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or waited > 30:
                    raise
            delay = min(delay * 2, 0.002)

    # -- group commit -------------------------------------------------------------------
    # Under load a worker has many revokes ready in one event-loop turn; each one taking the
    # write lock and committing on its own made the lock, not the CPU, the limit
    # (bench/RESULTS.md). `run_grouped` queues them; at the end of the turn `_run_batch` takes the
    # lock once (without blocking the event loop while another worker holds it), runs every
    # queued revoke in its own SAVEPOINT (an error or a fault rolls back that revoke only),
    # COMMITs, and only then hands each request its outcome. So an acknowledged revoke is as
    # durable as with one transaction per revoke, the lock is held only for the SQL itself, and
    # no other request ever reads a batch's uncommitted state.
    async def run_grouped(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` (a revoke using `group_write`) in this turn's batch; its result once committed."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        # Run in the request's own context (its request id, for anything rendered meanwhile).
        self._batch_queue.append((functools.partial(contextvars.copy_context().run, fn), fut))
        if not self._batch_scheduled:
            self._batch_scheduled = True
            loop.call_soon(self._run_batch)
        return await fut

    def _run_batch(self) -> None:
        self._batch_scheduled = False
        if not self._batch_queue:
            return
        queue, self._batch_queue = self._batch_queue, []
        done: list[tuple[asyncio.Future, BaseException | None, Any]] = []
        left: list[tuple[Callable[[], Any], asyncio.Future]] = []
        # The write lock is taken by the first revoke that writes (`group_write`): a batch of
        # lock-free answers (a 404 with no budget to spend) takes no lock and commits nothing.
        self._batch_open = True
        try:
            for i, (fn, fut) in enumerate(queue):
                if fut.done():  # the request went away before its turn: nothing was done for it
                    continue
                try:
                    done.append((fut, None, fn()))
                except _WriteLockBusy:  # nothing done for it yet: it and the rest wait for the lock
                    left = queue[i:]
                    break
                except Exception as exc:  # noqa: BLE001 - that request's answer (e.g. a 429)
                    done.append((fut, exc, None))
                if self._batch_began and not self.db.in_transaction:
                    raise sqlite3.OperationalError("the batch's transaction was rolled back")
            if self._batch_began:
                if self._journal_pending:  # entries buffered meanwhile ride along
                    self._insert_journal(self._take_journal())
                self.db.execute("COMMIT")
        except BaseException as exc:  # noqa: BLE001 - nothing of the batch was kept: every request fails
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            for _, fut in queue:
                if not fut.done():
                    fut.set_exception(exc)
            return
        finally:
            self._batch_open = self._batch_began = False
        for fut, exc, result in done:
            if not fut.done():
                if exc is None:
                    fut.set_result(result)
                else:
                    fut.set_exception(exc)
        if left:
            # Another worker is writing: try again on the next loop turns (which keep reading
            # requests into this batch), then every 1 ms, the loop's timer resolution; never by
            # blocking the event loop.
            self._batch_queue = left + self._batch_queue
            self._batch_attempts += 1
            self._batch_scheduled = True
            loop = asyncio.get_running_loop()
            if self._batch_attempts < 4:
                loop.call_soon(self._run_batch)
            else:
                loop.call_later(0.001, self._run_batch)
        else:
            self._batch_attempts = 0

    @contextmanager
    def group_write(self) -> Iterator[sqlite3.Connection]:
        """One revoke's part of the running batch (only inside `run_grouped`); the batch's first
        writer takes the write lock, without waiting for it."""
        if not self._batch_open:
            raise RuntimeError("group_write outside a run_grouped batch")
        if not self._batch_began:
            if not self._try_begin_immediate():
                raise _WriteLockBusy()
            self._batch_began = True
        self.db.execute("SAVEPOINT batch_item")
        try:
            yield self.db
        except BaseException:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK TO batch_item")
                self.db.execute("RELEASE batch_item")
            raise
        self.db.execute("RELEASE batch_item")

    def _try_begin_immediate(self) -> bool:
        """BEGIN IMMEDIATE once, without waiting: False if another connection holds the lock."""
        self.db.execute("PRAGMA busy_timeout=0")
        try:
            self.db.execute("BEGIN IMMEDIATE")
            return True
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            return False
        finally:
            self.db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")

    @contextmanager
    def savepoint(self, name: str) -> Iterator[None]:
        """A nested all-or-nothing step inside a write transaction."""
        self.db.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.db.execute(f"ROLLBACK TO {name}")
            self.db.execute(f"RELEASE {name}")
            raise
        self.db.execute(f"RELEASE {name}")

    # -- world loading --------------------------------------------------------------------
    def clear(self) -> None:
        with self.write() as db:
            for table in TABLES_TO_CLEAR:
                db.execute(f"DELETE FROM {table}")

    def insert_organization(self, org: dict) -> None:
        self.db.execute(
            "INSERT INTO organizations(id, name, killed) VALUES (?, ?, ?)",
            (org["id"], org["name"], int(org.get("killed", False))),
        )

    def insert_key(self, key: dict) -> None:
        self.db.execute(
            "INSERT INTO api_keys(id, secret_sha256, secret_hint, organization_id, scopes, tier, killed, label)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key["id"], hash_secret(key["secret"]), secret_hint(key["secret"]), key["organizationId"],
             json.dumps(key["scopes"]), key["tier"], int(key.get("killed", False)), key.get("label")),
        )

    def insert_account(self, acc: dict) -> None:
        self.db.execute(
            "INSERT INTO accounts(id, organization_id, platform, handle, status, disconnected_reason,"
            " disconnected_at, leased, lease_status, token, connected_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (acc["id"], acc["organizationId"], acc["platform"], acc["handle"], acc["status"],
             acc.get("disconnectedReason"), acc.get("disconnectedAt"), int(acc["leased"]),
             acc.get("leaseStatus"), acc.get("token"), acc["connectedAt"]),
        )

    def insert_posts(self, rows: list[tuple]) -> None:
        """rows: (id, account_id, status, scheduled_for, canceled_at, cancel_reason)."""
        self.db.executemany(
            "INSERT INTO posts(id, account_id, status, scheduled_for, canceled_at, cancel_reason)"
            " VALUES (?,?,?,?,?,?)", rows,
        )

    def insert_test_account(self, account_id: str, status: int, note: str | None) -> None:
        self.db.execute(
            "INSERT INTO test_accounts(id, status, note) VALUES (?,?,?)", (account_id, status, note))

    # -- settings (global kill switch, clock) ---------------------------------------------
    def get_setting(self, name: str) -> str | None:
        row = self.db.execute("SELECT value FROM settings WHERE name=?", (name,)).fetchone()
        return None if row is None else row[0]

    def set_setting(self, name: str, value: str | None) -> None:
        with self.write() as db:
            db.execute("INSERT INTO settings(name, value) VALUES (?, ?)"
                       " ON CONFLICT(name) DO UPDATE SET value=excluded.value", (name, value))

    def clock_settings(self) -> tuple[float | None, float]:
        rows = dict(self.db.execute(
            "SELECT name, value FROM settings WHERE name IN ('clock_frozen', 'clock_offset')").fetchall())
        frozen = rows.get("clock_frozen")
        return (float(frozen) if frozen not in (None, "") else None, float(rows.get("clock_offset") or 0.0))

    def set_clock(self, *, frozen: float | None, offset: float) -> None:
        with self.write() as db:
            for name, value in (("clock_frozen", "" if frozen is None else repr(frozen)),
                                ("clock_offset", repr(offset))):
                db.execute("INSERT INTO settings(name, value) VALUES (?, ?)"
                           " ON CONFLICT(name) DO UPDATE SET value=excluded.value", (name, value))

    # -- callers --------------------------------------------------------------------------
    def caller_by_secret(self, secret: str) -> dict | None:
        """The key behind a bearer secret, with its organization's and the global kill switch."""
        digest = hash_secret(secret)
        row = self.db.execute(
            "SELECT k.id, k.secret_sha256, k.secret_hint, k.organization_id, k.scopes, k.tier,"
            " k.killed AS key_killed, o.killed AS org_killed,"
            " (SELECT value FROM settings WHERE name='global_kill') AS global_killed"
            " FROM api_keys k JOIN organizations o ON o.id = k.organization_id WHERE k.secret_sha256=?",
            (digest,),
        ).fetchone()
        # The index lookup finds the row; the constant-time compare is the actual check.
        if row is None or not hmac.compare_digest(row["secret_sha256"], digest):
            return None
        return {
            "keyId": row["id"], "keyHint": row["secret_hint"], "organizationId": row["organization_id"],
            "scopes": json.loads(row["scopes"]), "tier": row["tier"],
            "killed": {"key": bool(row["key_killed"]), "organization": bool(row["org_killed"]),
                       "global": row["global_killed"] == "1"},
        }

    def set_key_killed(self, key_id: str, killed: bool) -> bool:
        with self.write() as db:
            return db.execute("UPDATE api_keys SET killed=? WHERE id=?", (int(killed), key_id)).rowcount == 1

    def set_org_killed(self, org_id: str, killed: bool) -> bool:
        with self.write() as db:
            return db.execute("UPDATE organizations SET killed=? WHERE id=?", (int(killed), org_id)).rowcount == 1

    def key_row(self, key_id: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM api_keys WHERE id=?", (key_id,)).fetchone()

    def list_keys(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM api_keys ORDER BY rowid").fetchall()

    def list_organizations(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM organizations ORDER BY rowid").fetchall()

    def organization(self, org_id: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM organizations WHERE id=?", (org_id,)).fetchone()

    # -- rate windows (inside a write transaction) ----------------------------------------
    def window_count(self, key_id: str, window: str) -> int:
        row = self.db.execute(
            "SELECT count FROM rate_windows WHERE key_id=? AND window=?", (key_id, window)).fetchone()
        return 0 if row is None else row[0]

    def spend(self, key_id: str, windows: list[str]) -> None:
        self.db.executemany(
            "INSERT INTO rate_windows(key_id, window, count) VALUES (?, ?, 1)"
            " ON CONFLICT(key_id, window) DO UPDATE SET count = count + 1",
            [(key_id, w) for w in windows],
        )

    def set_window_count(self, key_id: str, window: str, count: int) -> None:
        self.db.execute(
            "INSERT INTO rate_windows(key_id, window, count) VALUES (?, ?, ?)"
            " ON CONFLICT(key_id, window) DO UPDATE SET count = excluded.count", (key_id, window, count))

    # -- idempotency (inside a write transaction) -----------------------------------------
    def idempotency_entry(self, key_id: str, idem_key: str) -> sqlite3.Row | None:
        return self.db.execute(
            "SELECT * FROM idempotency WHERE key_id=? AND idempotency_key=?", (key_id, idem_key)).fetchone()

    def forget_idempotency(self, key_id: str, idem_key: str) -> None:
        self.db.execute("DELETE FROM idempotency WHERE key_id=? AND idempotency_key=?", (key_id, idem_key))

    def remember_idempotency(self, key_id: str, idem_key: str, account_id: str, status: int,
                             body: dict, request_id: str, at: float) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO idempotency(key_id, idempotency_key, account_id, status, body, request_id,"
            " created_at) VALUES (?,?,?,?,?,?,?)",
            (key_id, idem_key, account_id, status, json.dumps(body, separators=(",", ":")), request_id, at))

    # -- faults (inside a write transaction) ----------------------------------------------
    def take_fault(self, account_id: str) -> str | None:
        """Consume one armed fault that applies to this account; return its step."""
        row = self.db.execute(
            "SELECT id, step, remaining FROM faults WHERE remaining > 0 AND (account_id IS NULL OR account_id=?)"
            " ORDER BY id LIMIT 1", (account_id,)).fetchone()
        if row is None:
            return None
        self.db.execute("UPDATE faults SET remaining = remaining - 1 WHERE id=?", (row["id"],))
        return row["step"]

    def fault_armed_for(self, account_id: str) -> bool:
        """Whether `take_fault` would consume a fault for this account (consumes nothing)."""
        return self.db.execute(
            "SELECT 1 FROM faults WHERE remaining > 0 AND (account_id IS NULL OR account_id=?) LIMIT 1",
            (account_id,)).fetchone() is not None

    def arm_fault(self, step: str, count: int, account_id: str | None) -> int:
        with self.write() as db:
            return db.execute("INSERT INTO faults(step, remaining, account_id) VALUES (?,?,?)",
                              (step, count, account_id)).lastrowid

    def list_faults(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM faults WHERE remaining > 0 ORDER BY id").fetchall()

    def clear_faults(self) -> None:
        with self.write() as db:
            db.execute("DELETE FROM faults")

    # -- accounts and posts ---------------------------------------------------------------
    def test_account_status(self, account_id: str) -> int | None:
        row = self.db.execute("SELECT status FROM test_accounts WHERE id=?", (account_id,)).fetchone()
        return None if row is None else row[0]

    def list_test_accounts(self) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM test_accounts ORDER BY status").fetchall()

    def account(self, account_id: str) -> sqlite3.Row | None:
        return self.db.execute("SELECT * FROM accounts WHERE id=?", (account_id,)).fetchone()

    _POST_COLUMNS = (
        "p.id, p.account_id, p.status, p.scheduled_for,"
        " CASE WHEN p.by_revoke THEN a.disconnected_at ELSE p.canceled_at END AS canceled_at,"
        " CASE WHEN p.by_revoke THEN a.disconnected_reason ELSE p.cancel_reason END AS cancel_reason"
        " FROM posts p JOIN accounts a ON a.id = p.account_id")

    def posts_of(self, account_id: str, limit: int | None = None) -> list[sqlite3.Row]:
        sql = f"SELECT {self._POST_COLUMNS} WHERE p.account_id=? ORDER BY p.rowid"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return self.db.execute(sql, (account_id,)).fetchall()

    def post_counts(self, account_id: str) -> dict[str, int]:
        return dict(self.db.execute(
            "SELECT status, COUNT(*) FROM posts WHERE account_id=? GROUP BY status", (account_id,)).fetchall())

    def post(self, post_id: str) -> sqlite3.Row | None:
        return self.db.execute(f"SELECT {self._POST_COLUMNS} WHERE p.id=?", (post_id,)).fetchone()

    def list_accounts(self, organization_id: str | None = None, limit: int = 100) -> list[sqlite3.Row]:
        if organization_id:
            return self.db.execute("SELECT * FROM accounts WHERE organization_id=? ORDER BY rowid LIMIT ?",
                                   (organization_id, limit)).fetchall()
        return self.db.execute("SELECT * FROM accounts ORDER BY rowid LIMIT ?", (limit,)).fetchall()

    def revocable_account(self, account_id: str, organization_id: str) -> sqlite3.Row | None:
        return self.db.execute(
            "SELECT id FROM accounts WHERE id=? AND organization_id=? AND status != 'disconnected'",
            (account_id, organization_id)).fetchone()

    def mark_disconnected(self, account_id: str, reason: str, at: str) -> None:
        self.db.execute(
            "UPDATE accounts SET status='disconnected', disconnected_reason=?, disconnected_at=? WHERE id=?",
            (reason, at, account_id))

    def disconnect_revocable(self, account_id: str, organization_id: str, reason: str, at: str) -> bool:
        """`revocable_account`, `mark_disconnected` and `drop_token` in one statement: True if the
        account was revocable (and is now disconnected, token dropped)."""
        return self.db.execute(
            "UPDATE accounts SET status='disconnected', disconnected_reason=?, disconnected_at=?, token=NULL"
            " WHERE id=? AND organization_id=? AND status != 'disconnected'",
            (reason, at, account_id, organization_id)).rowcount == 1

    def drop_token(self, account_id: str) -> None:
        self.db.execute("UPDATE accounts SET token=NULL WHERE id=?", (account_id,))

    def cancel_posts_by_revoke(self, account_id: str, from_status: str) -> int:
        """Cancel the account's posts in `from_status`; their time and reason are the account's."""
        return self.db.execute(
            "UPDATE posts SET status='canceled', by_revoke=1 WHERE account_id=? AND status=?",
            (account_id, from_status)).rowcount

    def record_revocation(self, account_id: str, request_id: str, key_id: str, at: str, canceled: int) -> None:
        self.db.execute(
            "INSERT INTO revocations(account_id, request_id, key_id, at, canceled_posts) VALUES (?,?,?,?,?)",
            (account_id, request_id, key_id, at, canceled))

    def revocations(self, limit: int = 1000) -> list[sqlite3.Row]:
        return self.db.execute("SELECT * FROM revocations ORDER BY rowid LIMIT ?", (limit,)).fetchall()

    # -- journal --------------------------------------------------------------------------
    def journal_append(self, entry: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO journal(at, request_id, method, path, status, key_id, key_hint, idempotency_key, code)"
            " VALUES (:at, :requestId, :method, :path, :status, :keyId, :keyHint, :idempotencyKey, :code)", entry)

    def journal_buffer(self, entry: dict[str, Any]) -> None:
        """Queue an entry for `flush_journal`, which writes the queue in one transaction: under load,
        one commit for many requests instead of one commit each (bench/RESULTS.md)."""
        self._journal_pending.append(entry)

    def _take_journal(self) -> list[dict[str, Any]]:
        pending, self._journal_pending = self._journal_pending, []
        return pending

    def _insert_journal(self, pending: list[dict[str, Any]]) -> None:
        self.db.executemany(
            "INSERT INTO journal(at, request_id, method, path, status, key_id, key_hint, idempotency_key, code)"
            " VALUES (:at, :requestId, :method, :path, :status, :keyId, :keyHint, :idempotencyKey, :code)",
            pending)

    def try_flush_journal(self) -> bool:
        """`flush_journal` unless another process holds the write lock: False then (nothing lost)."""
        if not self._journal_pending or self.db.in_transaction:
            self.flush_journal()
            return True
        if not self._try_begin_immediate():
            return False
        try:
            self._insert_journal(self._take_journal())
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")
        return True

    def flush_journal(self) -> None:
        """Write the buffered entries: into the open transaction if there is one, else in a
        transaction of their own."""
        if not self._journal_pending:
            return
        if self.db.in_transaction:
            self._insert_journal(self._take_journal())
        else:
            pending = self._take_journal()
            with self.write():
                self._insert_journal(pending)

    def journal(self, limit: int, after_id: int = 0) -> list[sqlite3.Row]:
        self.flush_journal()
        return self.db.execute("SELECT * FROM journal WHERE id > ? ORDER BY id LIMIT ?",
                               (after_id, limit)).fetchall()

    # -- integrity ------------------------------------------------------------------------
    def integrity_violations(self) -> list[dict]:
        """States the documented atomicity forbids."""
        out = []
        for row in self.db.execute(
                "SELECT a.id, COUNT(p.id) AS n FROM accounts a JOIN posts p ON p.account_id=a.id"
                " WHERE a.status='disconnected' AND a.disconnected_reason='revoked_by_partner'"
                " AND p.status='queued' GROUP BY a.id"):
            out.append({"accountId": row["id"], "problem": f"revoked but {row['n']} posts still queued"})
        for row in self.db.execute(
                "SELECT a.id, COUNT(p.id) AS n FROM accounts a JOIN posts p ON p.account_id=a.id"
                " WHERE a.status != 'disconnected' AND p.by_revoke=1 GROUP BY a.id"):
            out.append({"accountId": row["id"], "problem": f"not revoked but {row['n']} posts canceled by a revoke"})
        for row in self.db.execute(
                "SELECT a.id FROM accounts a WHERE a.status='disconnected'"
                " AND a.disconnected_reason='revoked_by_partner' AND a.token IS NOT NULL"):
            out.append({"accountId": row["id"], "problem": "revoked but the token is still stored"})
        for row in self.db.execute(
                "SELECT a.id FROM accounts a WHERE a.disconnected_reason='revoked_by_partner'"
                " AND NOT EXISTS (SELECT 1 FROM revocations r WHERE r.account_id=a.id)"):
            out.append({"accountId": row["id"], "problem": "revoked with no revocation record"})
        for row in self.db.execute(
                "SELECT r.account_id, COUNT(*) AS n FROM revocations r GROUP BY r.account_id HAVING n > 1"):
            out.append({"accountId": row["account_id"], "problem": f"revoked {row['n']} times"})
        for row in self.db.execute(
                "SELECT r.account_id, r.canceled_posts, (SELECT COUNT(*) FROM posts p WHERE p.account_id=r.account_id"
                " AND p.by_revoke=1) AS actual FROM revocations r"):
            if row["canceled_posts"] != row["actual"]:
                out.append({"accountId": row["account_id"],
                            "problem": f"recorded {row['canceled_posts']} canceled posts, found {row['actual']}"})
        return out

    def counts(self) -> dict[str, int]:
        self.flush_journal()
        return {t: self.db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("organizations", "api_keys", "accounts", "posts", "revocations", "journal")}
