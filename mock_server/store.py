"""All of the mock's state, in one SQLite file.

Every worker process opens the same file. WAL mode lets readers run beside the one writer, and
every state change runs inside `BEGIN IMMEDIATE`, so two workers never interleave a revoke.
Nothing here knows HTTP or the documented rules: it stores and fetches (the rules are in
`domain.py`).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import time
from contextlib import contextmanager
from typing import Any, Iterator

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

TABLES_TO_CLEAR = (
    "journal", "revocations", "faults", "idempotency", "rate_windows", "settings",
    "test_accounts", "posts", "accounts", "api_keys", "organizations",
)


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

    def create_schema(self) -> None:
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

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

    def flush_journal(self) -> None:
        pending, self._journal_pending = self._journal_pending, []
        if not pending:
            return
        sql = ("INSERT INTO journal(at, request_id, method, path, status, key_id, key_hint, idempotency_key, code)"
               " VALUES (:at, :requestId, :method, :path, :status, :keyId, :keyHint, :idempotencyKey, :code)")
        if self.db.in_transaction:
            self.db.executemany(sql, pending)
        else:
            with self.write() as db:
                db.executemany(sql, pending)

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
