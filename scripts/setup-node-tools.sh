#!/usr/bin/env bash
# The independent OpenAPI linter (Redocly CLI), pinned, installed locally under tools/node.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x tools/node/node_modules/.bin/redocly ]; then
  npm install --prefix tools/node --no-audit --no-fund --loglevel=error
fi
