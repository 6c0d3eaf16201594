#!/usr/bin/env bash
# The code checks, one command: ruff's lint, ruff's format check, mypy on the product packages and,
# once pyproject.toml declares the layering ([tool.importlinter]), import-linter's contracts.
# Configuration: pyproject.toml. scripts/test.sh (so .ci/run) runs this before the tests.
#
#   bash scripts/check.sh          check; every check runs, and the exit is 1 if any failed
#   bash scripts/check.sh --fix    first apply ruff's safe fixes and format the tree, then check
#
# Needs the venv of scripts/setup.sh (the `test` extra brings ruff, mypy and import-linter).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin

case "${1:-}" in
  "") ;;
  --fix)
    "$BIN/ruff" check --fix --quiet . || true  # what it cannot fix, the check below reports
    "$BIN/ruff" format --quiet .
    ;;
  *) echo "usage: bash scripts/check.sh [--fix]" >&2; exit 2 ;;
esac

failed=()
check() {
  local name=$1
  shift
  echo "== $name: $*"
  if ! "$@"; then
    failed+=("$name")
  fi
}

check lint "$BIN/ruff" check .
check format "$BIN/ruff" format --check --output-format concise .
check types "$BIN/mypy"
if grep -q '^\[tool\.importlinter\]' pyproject.toml; then
  check layers "$BIN/lint-imports"
fi

if ((${#failed[@]})); then
  echo "scripts/check.sh: failed: ${failed[*]}" >&2
  exit 1
fi
echo "scripts/check.sh: all checks passed"
