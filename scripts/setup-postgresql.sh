#!/usr/bin/env bash
# A PostgreSQL server binary for the tests and benchmarks that run the mock on PostgreSQL
# (tests/postgres_server.py: pytest-postgresql's executor starts a throwaway server with
# `pg_ctl initdb` + `pg_ctl start`, as the `postgres` user when run as root; nothing is left running).
# Debian's `postgresql` package, installed only when initdb/pg_ctl are on neither PATH nor
# /usr/lib/postgresql/*/bin.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
  exit 0
fi
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi
bash scripts/apt-install.sh setup-postgresql postgresql
