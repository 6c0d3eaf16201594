"""The tables of the mock's world, written once for both backends, and their version.

`{SEQ}` is each backend's auto-numbered key (SQLite's rowid alias, PostgreSQL's identity
column): listings come back in insertion order on both. `{REAL}` is a double. Everything else is
the SQL both understand. A later `sandbox` scope (issue #13) becomes one more column in the
keys of the world's tables and one more parameter of every query; nothing here assumes one world.
"""
from __future__ import annotations

# Bump when a table changes shape: a state made by another version is refused with a clear
# message (start with --reset, or a new file / database), never read wrongly.
SCHEMA_VERSION = 2

TABLES = """
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS organizations (
    seq {SEQ},
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    killed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS api_keys (
    seq {SEQ},
    id TEXT NOT NULL UNIQUE,
    secret_sha256 TEXT NOT NULL UNIQUE,  -- the secret itself is never stored
    secret_hint TEXT NOT NULL,           -- first characters, for the journal and listings
    organization_id TEXT NOT NULL REFERENCES organizations(id),
    scopes TEXT NOT NULL,                -- JSON list
    tier TEXT NOT NULL,
    killed INTEGER NOT NULL DEFAULT 0,
    label TEXT
);
CREATE TABLE IF NOT EXISTS accounts (
    seq {SEQ},
    id TEXT NOT NULL UNIQUE,
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
-- posts.id is minted by the mock (sp_<uuid4>), never chosen by a caller, and never looked up
-- alone: no unique index to maintain, which is most of what loading 3,000,000 posts costs.
CREATE TABLE IF NOT EXISTS posts (
    seq {SEQ},
    id TEXT NOT NULL,
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
    window_key TEXT NOT NULL,            -- 'm:<minute since epoch>' or 'd:<day since epoch>'
    count INTEGER NOT NULL,
    PRIMARY KEY (key_id, window_key)
);
CREATE TABLE IF NOT EXISTS idempotency (
    key_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    account_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created_at {REAL} NOT NULL,
    PRIMARY KEY (key_id, idempotency_key)
);
CREATE TABLE IF NOT EXISTS faults (
    id {SEQ},
    step TEXT NOT NULL,
    remaining INTEGER NOT NULL,
    account_id TEXT
);
CREATE TABLE IF NOT EXISTS revocations (
    seq {SEQ},
    account_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    at TEXT NOT NULL,
    canceled_posts INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    id {SEQ},
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

# Made after a bulk load rather than maintained row by row during it.
INDEXES = """
-- Indexed by account only: a revoke changes the status of every queued post, and with status
-- in no index the UPDATE rewrites rows but no index entries (100,000 posts: ~85 ms, against
-- ~280 ms with an (account_id, status) index; bench/revoke_cost.py).
CREATE INDEX IF NOT EXISTS posts_by_account ON posts(account_id);
-- GET /_mock/integrity joins accounts to revocations: without this index that is quadratic.
CREATE INDEX IF NOT EXISTS revocations_by_account ON revocations(account_id);
"""
INDEX_NAMES = ("posts_by_account", "revocations_by_account")

# Children first, so that clearing in this order never breaks a reference.
TABLES_TO_CLEAR = (
    "journal", "revocations", "faults", "idempotency", "rate_windows", "settings",
    "test_accounts", "posts", "accounts", "api_keys", "organizations",
)
ALL_TABLES = TABLES_TO_CLEAR + ("meta",)


def statements(text: str, *, seq: str, real: str) -> list[str]:
    """The DDL as single statements for one backend."""
    sql = text.replace("{SEQ}", seq).replace("{REAL}", real)
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


class SchemaMismatch(RuntimeError):
    """The database holds a world of another schema version (or something else entirely)."""
