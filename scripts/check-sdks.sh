#!/usr/bin/env bash
# Generated SDKs can read every documented error: generate a TypeScript client (openapi-typescript)
# and a Python client (openapi-python-client) from openapi.yaml, then type-check a small consumer
# of each that reads every error's details: `tsc --strict` with no type assertion and no `any`,
# `mypy --strict` with no cast. The tools are pinned (tools/sdk/package.json, package-lock.json,
# requirements.txt) and installed once under tools/sdk (node_modules/, .venv/).
set -euo pipefail
cd "$(dirname "$0")/.."
sdk=tools/sdk
if [ ! -x "$sdk/node_modules/.bin/openapi-typescript" ] || [ ! -x "$sdk/node_modules/.bin/tsc" ]; then
  npm ci --prefix "$sdk" --no-audit --no-fund --loglevel=error
fi
if [ ! -x "$sdk/.venv/bin/openapi-python-client" ] || [ ! -x "$sdk/.venv/bin/mypy" ]; then
  python3 -m venv "$sdk/.venv"
  "$sdk/.venv/bin/pip" install -q -r "$sdk/requirements.txt"
fi

out="$sdk/generated"
rm -rf "$out"
mkdir -p "$out/typescript" "$out/python"
"$sdk/node_modules/.bin/openapi-typescript" openapi.yaml -o "$out/typescript/layers.ts" --silent
# --meta none: the package alone; generation must be clean (no warnings about skipped schemas).
# (It would run ruff on the output if ruff were on PATH; formatting plays no part here.)
"$sdk/.venv/bin/openapi-python-client" generate --path openapi.yaml --output-path "$out/python/layers_client" \
  --meta none > "$out/python-generate.log" 2>&1 || { cat "$out/python-generate.log"; exit 1; }
if grep -v -e 'ruff is not in PATH' -e 'Skipping Integration' "$out/python-generate.log" | grep -q -i -e 'unable' -e 'could not' -e 'cannot'; then
  cat "$out/python-generate.log"; exit 1
fi

if grep -n -w -E 'as|any|unknown' "$sdk/consumer/revoke_errors.ts"; then
  echo "check-sdks: the TypeScript consumer must read the errors with no type assertion and no any/unknown" >&2
  exit 1
fi
if grep -n -w -E 'cast|Any|ignore' "$sdk/consumer/revoke_errors.py"; then
  echo "check-sdks: the Python consumer must read the errors with no cast, Any or ignore" >&2
  exit 1
fi
"$sdk/node_modules/.bin/tsc" -p "$sdk/tsconfig.json"
(cd "$sdk" && MYPYPATH=generated/python .venv/bin/mypy --strict --no-incremental --cache-dir=/dev/null \
  consumer/revoke_errors.py)
echo "check-sdks: the TypeScript and the Python client read every documented error's details"
