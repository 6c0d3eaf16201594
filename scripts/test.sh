#!/usr/bin/env bash
# Set up, run the code checks (scripts/check.sh: ruff, mypy, import-linter), then run every test:
# spec validation and lint, the mock in-process and through a real server on loopback, the
# conformance kit and its broken-implementation catalog, docs drift, examples.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/check.sh  # before the slower setup steps: a lint or type error fails within a minute
bash scripts/setup-node-tools.sh
bash scripts/setup-chromium.sh
bash scripts/setup-postgresql.sh
bash scripts/setup-containers.sh
bash scripts/check-sdks.sh  # generated TypeScript and Python clients read every error's details
# Two layers, the fast one first so that a break shows in seconds: the in-process layer (the app
# through httpx.ASGITransport, the domain and storage called directly), then the e2e layer (real
# processes: workers, CLIs, crashes, container, browser, node). Exit status 5 (no test of that
# layer among the ones asked for) is not a failure.
layer() {
    local status=0
    .venv/bin/python -m pytest -q -n 2 -m "$@" || status=$?
    [ "$status" -eq 0 ] || [ "$status" -eq 5 ] || exit "$status"
}
layer "not e2e" "$@"
layer e2e "$@"
