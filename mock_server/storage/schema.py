"""The tables of the mock's world, written once for both backends, and their version.

`{SEQ}` is each backend's auto-numbered key (SQLite's rowid alias, PostgreSQL's identity
column): listings come back in insertion order on both. `{REAL}` is a double. Everything else is
the SQL both understand.

Many worlds in one database (hosted sandboxes, mock_server/sandboxes.py): every world table has
a `sandbox` column, first in its keys, and every query names it (storage/queries.py). Ids are
unique within a sandbox (each sandbox may hold the default world's ids); a key's secret hash is
unique across all of them, since a bearer secret alone must name its sandbox. Local mode is the
one implicit sandbox `local`.
"""

from __future__ import annotations

# Bump when a table changes shape: a state made by another version is refused with a clear
# message (start with --reset, or a new file / database), never read wrongly.
SCHEMA_VERSION = 5  # 3: the sandbox column (issue #13); 4: posts name their account by its seq;
# 5: what grading needs in the journal, scripted answers in faults (issue 24; MIGRATIONS below)

TABLES = """
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sandboxes (
    id TEXT PRIMARY KEY,
    label TEXT,
    admin_token_sha256 TEXT UNIQUE,      -- the token itself is never stored
    created_at {REAL} NOT NULL,          -- wall-clock seconds (never the sandbox's own clock)
    last_used_at {REAL} NOT NULL,
    idle_ttl {REAL},                     -- NULL: never expires (the implicit `local` sandbox)
    expires_at {REAL},                   -- last_used_at + idle_ttl
    world TEXT                           -- the fixture it was made from (JSON); NULL: the default world
);
CREATE TABLE IF NOT EXISTS organizations (
    seq {SEQ},
    sandbox TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    killed INTEGER NOT NULL DEFAULT 0,
    UNIQUE (sandbox, id)
);
CREATE TABLE IF NOT EXISTS api_keys (
    seq {SEQ},
    sandbox TEXT NOT NULL,
    id TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL UNIQUE,  -- the secret itself is never stored
    secret_hint TEXT NOT NULL,           -- first characters, for the journal and listings
    organization_id TEXT NOT NULL,
    scopes TEXT NOT NULL,                -- JSON list
    tier TEXT NOT NULL,
    killed INTEGER NOT NULL DEFAULT 0,
    label TEXT,
    UNIQUE (sandbox, id),
    FOREIGN KEY (sandbox, organization_id) REFERENCES organizations(sandbox, id)
);
CREATE TABLE IF NOT EXISTS accounts (
    seq {SEQ},
    sandbox TEXT NOT NULL,
    id TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    platform TEXT NOT NULL,
    handle TEXT NOT NULL,
    status TEXT NOT NULL,
    disconnected_reason TEXT,
    disconnected_at TEXT,
    leased INTEGER NOT NULL DEFAULT 0,
    lease_status TEXT,                   -- 'active' or 'released' for leased accounts
    token TEXT,                          -- the stored platform token; revoke drops it
    connected_at TEXT NOT NULL,
    -- what posts refer to (an integer: their rows and index are a third smaller than with the
    -- 39-character id). Unique by id too: accounts_by_id below, built after a bulk load.
    UNIQUE (sandbox, seq),
    FOREIGN KEY (sandbox, organization_id) REFERENCES organizations(sandbox, id)
){UPDATED_IN_PLACE};
-- posts.id is minted by the mock (sp_<uuid4>), never chosen by a caller, and never looked up
-- alone: no unique index to maintain, which is most of what loading 3,000,000 posts costs.
CREATE TABLE IF NOT EXISTS posts (
    seq {SEQ},
    sandbox TEXT NOT NULL,
    id TEXT NOT NULL,
    account_seq BIGINT NOT NULL,         -- the account's seq (queries join accounts for its id)
    status TEXT NOT NULL,
    scheduled_for TEXT,
    canceled_at TEXT,                    -- set for posts canceled some other way (fixtures)
    cancel_reason TEXT,
    -- 1 when a revoke canceled the post. Its canceledAt and reason are then the account's
    -- disconnectedAt and disconnectedReason (same transaction, same values), so a revoke
    -- writes one small integer per post instead of two strings: 100,000 posts in one go.
    by_revoke INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (sandbox, account_seq) REFERENCES accounts(sandbox, seq)
){UPDATED_IN_PLACE};
CREATE TABLE IF NOT EXISTS test_accounts (
    sandbox TEXT NOT NULL,
    id TEXT NOT NULL,
    status INTEGER NOT NULL,
    note TEXT,
    PRIMARY KEY (sandbox, id)
);
CREATE TABLE IF NOT EXISTS settings (
    sandbox TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT,
    PRIMARY KEY (sandbox, name)
);
CREATE TABLE IF NOT EXISTS rate_windows (
    sandbox TEXT NOT NULL,
    key_id TEXT NOT NULL,
    window_key TEXT NOT NULL,            -- 'm:<minute since epoch>' or 'd:<day since epoch>'
    count INTEGER NOT NULL,
    PRIMARY KEY (sandbox, key_id, window_key)
){UPDATED_IN_PLACE};
CREATE TABLE IF NOT EXISTS idempotency (
    sandbox TEXT NOT NULL,
    key_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    account_id TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    request_id TEXT NOT NULL,
    created_at {REAL} NOT NULL,
    PRIMARY KEY (sandbox, key_id, idempotency_key)
);
CREATE TABLE IF NOT EXISTS faults (
    id {SEQ},
    sandbox TEXT NOT NULL,
    step TEXT NOT NULL,
    remaining INTEGER NOT NULL,
    account_id TEXT,
    key_id TEXT,                         -- a scripted answer may be armed for a key (any account)
    answer TEXT                          -- a scripted answer (JSON {status, retryAfter, scope}); NULL: a fault
);
CREATE TABLE IF NOT EXISTS revocations (
    seq {SEQ},
    sandbox TEXT NOT NULL,
    account_id TEXT NOT NULL,
    request_id TEXT NOT NULL,
    key_id TEXT NOT NULL,
    at TEXT NOT NULL,
    canceled_posts INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS journal (
    id {SEQ},
    sandbox TEXT NOT NULL,
    at TEXT NOT NULL,
    request_id TEXT NOT NULL,
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    status INTEGER NOT NULL,
    key_id TEXT,
    key_hint TEXT,
    idempotency_key TEXT,
    code TEXT,
    -- What the client report grades (issue 24), written with the entry (no round trip of its own):
    mock_seconds {REAL},                 -- the mock's clock when the response left (epoch seconds)
    wall_seconds {REAL},                 -- the real clock then (a client's real sleeps under a frozen clock)
    retry_after INTEGER,                 -- the Retry-After answered (429)
    kill_scope TEXT,                     -- details.scope of a 503 KILL_SWITCH
    has_body INTEGER NOT NULL DEFAULT 0  -- the request carried a body
);
"""

# Made after a bulk load rather than maintained row by row during it.
ACCOUNTS_BY_ID = "CREATE UNIQUE INDEX IF NOT EXISTS accounts_by_id ON accounts(sandbox, id)"
INDEXES = """
-- An account's id is unique in its sandbox. Not a constraint of the table so that a bulk load
-- builds it once after the rows (a million random ids inserted into a maintained index was
-- the largest part of loading a million accounts); a duplicate id still fails the load.
{ACCOUNTS_BY_ID};
-- Indexed by account only: a revoke changes the status of every queued post, and with status
-- in no index the UPDATE rewrites rows but no index entries (100,000 posts: ~85 ms, against
-- ~280 ms with an (account_id, status) index; bench/revoke_cost.py).
-- The sandbox comes first: the same index counts a sandbox's posts (its limit) and clears them.
CREATE INDEX IF NOT EXISTS posts_by_account ON posts(sandbox, account_seq);
-- GET /_mock/integrity joins accounts to revocations: without this index that is quadratic.
CREATE INDEX IF NOT EXISTS revocations_by_account ON revocations(sandbox, account_id);
-- A sandbox's journal, read and cleared by sandbox.
CREATE INDEX IF NOT EXISTS journal_by_sandbox ON journal(sandbox, id);
"""
INDEXES = INDEXES.replace("{ACCOUNTS_BY_ID}", ACCOUNTS_BY_ID)
INDEX_NAMES = ("accounts_by_id", "posts_by_account", "revocations_by_account", "journal_by_sandbox")

# Children first, so that clearing in this order never breaks a reference.
TABLES_TO_CLEAR = (
    "journal",
    "revocations",
    "faults",
    "idempotency",
    "rate_windows",
    "settings",
    "test_accounts",
    "posts",
    "accounts",
    "api_keys",
    "organizations",
)
ALL_TABLES = TABLES_TO_CLEAR + ("sandboxes", "meta")


# Upgrades in place: an older world gains the new columns (NULL in its old rows) instead of being
# refused. version -> the statements that bring it to version + 1.
MIGRATIONS: dict[int, list[str]] = {
    4: [
        "ALTER TABLE journal ADD COLUMN mock_seconds {REAL}",
        "ALTER TABLE journal ADD COLUMN wall_seconds {REAL}",
        "ALTER TABLE journal ADD COLUMN retry_after INTEGER",
        "ALTER TABLE journal ADD COLUMN kill_scope TEXT",
        "ALTER TABLE journal ADD COLUMN has_body INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE faults ADD COLUMN key_id TEXT",
        "ALTER TABLE faults ADD COLUMN answer TEXT",
    ],
}


def statements(text: str, *, seq: str, real: str, updated_in_place: str = "") -> list[str]:
    """The DDL as single statements for one backend."""
    sql = text.replace("{SEQ}", seq).replace("{REAL}", real).replace("{UPDATED_IN_PLACE}", updated_in_place)
    lines = [line.split("--", 1)[0] for line in sql.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


class SchemaMismatch(RuntimeError):
    """The database holds a world of another schema version (or something else entirely)."""
