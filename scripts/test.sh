#!/usr/bin/env bash
# Set up, run the code checks (scripts/check.sh: ruff, mypy, import-linter), then run every test:
# spec validation and lint, the mock through a real server on loopback, the conformance kit and its
# broken-implementation catalog, docs drift, examples.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/check.sh  # before the slower setup steps: a lint or type error fails within a minute
bash scripts/setup-node-tools.sh
bash scripts/setup-chromium.sh
bash scripts/setup-postgresql.sh
bash scripts/setup-containers.sh
bash scripts/check-sdks.sh  # generated TypeScript and Python clients read every error's details
.venv/bin/python -m pytest -q -n 2 "$@"
