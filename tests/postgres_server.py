"""A throwaway PostgreSQL server for the tests and benchmarks of the PostgreSQL backend.

Test support, not product: `layers-mock` never starts a database (partners bring theirs), so
this lives beside the tests (tests/conftest.py's `postgres` fixture) and bench/ imports it.

The work is pytest-postgresql's: its `PostgreSQLExecutor` runs `pg_ctl initdb` and
`pg_ctl start`, waits for the port, stops the server and removes the data directory; its
`DatabaseJanitor` creates the databases. We do not use its `postgresql_proc` fixture factory
because (1) the benchmarks need the server outside pytest and (2) CI runs as root: `pg_ctl`
refuses root ("pg_ctl: cannot be run as root"), and the factory puts the data directory under
pytest's base temp directory (/tmp/pytest-of-root, mode 0700), which the `postgres` user cannot
enter. So, as root, the executor is given a `pg_ctl` that runs the real one as `postgres`
(`runuser -u postgres --`) and a data directory that `postgres` owns.

Debian's binaries live in /usr/lib/postgresql/<version>/bin (not always on PATH);
`scripts/setup-postgresql.sh` installs them where missing.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from pytest_postgresql.executors import PostgreSQLExecutor
from pytest_postgresql.janitor import DatabaseJanitor

from mock_control.launcher import free_port

HOST = "127.0.0.1"
USER = "postgres"


def pg_ctl_path() -> str | None:
    found = shutil.which("pg_ctl")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    return candidates[0] if candidates else None


class PostgresServer:
    """`durable=False` (the tests): fsync off. The benchmarks keep fsync on. `options`: more
    `-c name=value` server settings (bench/pg_profile.py loads pg_stat_statements)."""

    def __init__(self, *, durable: bool = True, options: str = ""):
        pg_ctl = pg_ctl_path()
        if pg_ctl is None:
            raise RuntimeError("PostgreSQL's pg_ctl not found: run `bash scripts/setup-postgresql.sh`")
        self.dir = Path(tempfile.mkdtemp(prefix="layers-pg-"))
        self.port = free_port(HOST)
        if os.geteuid() == 0:
            shutil.chown(self.dir, USER)
            wrapper = self.dir / "pg_ctl"
            wrapper.write_text(f'#!/bin/sh\nexec runuser -u {USER} -- "{pg_ctl}" "$@"\n')
            wrapper.chmod(0o755)
            pg_ctl = str(wrapper)
        options = f"-c listen_addresses=127.0.0.1 -c max_connections=300 {options}".strip()
        if durable:
            # pytest-postgresql starts every server with `postgres -F` (fsync off) ahead of these
            # options; a later `-c` wins, so durability is asked for explicitly. Without this
            # line the benchmarks ran with fsync off while saying it was on (test_postgres_server.py).
            options += " -c fsync=on"
        else:
            # For test data only: no test crashes the server itself (the crash tests kill
            # layers-mock processes, whose commits PostgreSQL already has).
            options += " -c fsync=off -c full_page_writes=off"
        self.executor = PostgreSQLExecutor(
            executable=pg_ctl,
            host=HOST,
            port=self.port,
            datadir=str(self.dir / "data"),
            unixsocketdir=str(self.dir),
            logfile=str(self.dir / "log"),
            startparams="-w -t 60",
            dbname=USER,
            user=USER,
            postgres_options=options,
            timeout=120,
        )

    def start(self) -> PostgresServer:
        self.executor.start()
        return self

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{USER}@{HOST}:{self.port}/{dbname}"

    def new_database(self, prefix: str = "t") -> str:
        """A fresh empty database on this server; its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        DatabaseJanitor(user=USER, host=HOST, port=self.port, dbname=name).init()
        return self.url(name)

    def over_socket(self, url: str) -> str:
        """`url` (one of `new_database`'s) over this server's Unix socket instead of TCP loopback."""
        return url.replace(f"@{HOST}:{self.port}/", "@/", 1) + f"?host={self.dir}&port={self.port}"

    def stop(self) -> None:
        if self.executor.running():
            self.executor.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
