#!/usr/bin/env bash
# Coverage of the product packages (contract, mock_server, mock_control, conformance, docs_gen, layers_pytest)
# over the whole suite, child processes included (pyproject.toml's [tool.coverage.run] says how).
# Arguments go to pytest (e.g. `bash scripts/coverage.sh -m "not e2e"` for the fast layer alone).
# The data goes to $COVERAGE_DATA_DIR (default: a new temporary directory); an absolute path,
# because child processes run in other working directories.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${COVERAGE_DATA_DIR:-$(mktemp -d -t layers-coverage.XXXXXX)}"
mkdir -p "$data"
export COVERAGE_FILE="$data/.coverage"
status=0
.venv/bin/python -m coverage run -m pytest -q -n 2 "$@" || status=$?
.venv/bin/python -m coverage combine -q
.venv/bin/python -m coverage report
echo "coverage data: $COVERAGE_FILE (pytest exit status $status)"
exit "$status"
