"""The mock's state, behind one interface (`Storage`) with two backends.

- `schema.py`: the tables and their version; `queries.py`: every query, one text for both
  backends; `base.py`: the interface, transactions and the journal buffer;
- `sqlite.py`: the embedded default (a file; group commit on the event loop);
- `postgres.py`: one database shared by many `layers-mock` processes (psycopg 3, row locks).

`open_storage` takes `sqlite:///path`, a plain path, or `postgresql://user@host:port/dbname`.
"""

from __future__ import annotations

from mock_server.storage.base import DEFAULT_JOURNAL_LIMIT, Conflict, Stamp, Storage, redacted
from mock_server.storage.errors import StorageFault
from mock_server.storage.queries import Queries, hash_secret, secret_hint
from mock_server.storage.schema import SCHEMA_VERSION, SchemaMismatch

__all__ = [
    "DEFAULT_JOURNAL_LIMIT",
    "SCHEMA_VERSION",
    "Conflict",
    "Queries",
    "SchemaMismatch",
    "Storage",
    "StorageFault",
    "hash_secret",
    "is_postgres",
    "open_storage",
    "redacted",
    "secret_hint",
]


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


def sqlite_path(url: str) -> str:
    """SQLAlchemy's spelling: `sqlite:///relative.db`, `sqlite:////absolute/path.db`; or a plain path."""
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///") :]
    if url.startswith("sqlite:"):
        raise ValueError(f"a SQLite database is sqlite:///relative/file or sqlite:////absolute/file, not {url!r}")
    scheme, sep, _ = url.partition("://")
    if sep and scheme.isidentifier():
        # Another database's URL would otherwise be taken for a file path. Only the scheme is
        # named: the rest may hold a password.
        raise ValueError(f"the database is postgresql://... or sqlite:///... (or a file path), not a {scheme}:// URL")
    return url


def open_storage(
    url: str,
    *,
    serving: bool = False,
    stamp: Stamp | None = None,
    timeout: float | None = None,
    journal_limit: int = DEFAULT_JOURNAL_LIMIT,
) -> Storage:
    """The storage at `url`. `serving`: a server's storage (background checkpoints for SQLite).
    `stamp`: how the journal's entries are dated (the core's clock); needed to write the journal.
    `timeout`: the bound on every wait for storage (the `storage_timeout` setting, seconds); past
    it a call fails with `StorageFault` (storage/errors.py). None: the backend's own, longer wait
    (the CLI's seeding, tools, tests). `journal_limit`: the newest entries kept per sandbox (0: no
    journal)."""
    if is_postgres(url):
        from mock_server.storage.postgres import PostgresStorage

        return PostgresStorage(url, serving=serving, stamp=stamp, timeout=timeout, journal_limit=journal_limit)
    from mock_server.storage.sqlite import SqliteStorage

    return SqliteStorage(sqlite_path(url), serving=serving, stamp=stamp, timeout=timeout, journal_limit=journal_limit)
