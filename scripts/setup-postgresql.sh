#!/usr/bin/env bash
# A PostgreSQL server binary for the tests that run the mock on PostgreSQL (tests/conftest.py's
# `postgres` fixture starts its own throwaway server with initdb + pg_ctl; nothing is left running).
# Debian's `postgresql` package, installed only when initdb/pg_ctl are on neither PATH nor
# /usr/lib/postgresql/*/bin. CI runs as root on a fresh machine.
set -euo pipefail
if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
  exit 0
fi
if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup-postgresql: not root and no sudo; install Debian's postgresql package, or the PostgreSQL tests fail" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends postgresql
