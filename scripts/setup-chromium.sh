#!/usr/bin/env bash
# Headless Chromium for the browser tests (tests/docs/, tests/reliability/test_browser_control_plane.py)
# and `layers-docs --screenshot`, driven by Playwright (docs_gen/browser.py) through executable_path:
# Debian's `chromium` package, installed only when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
bash scripts/apt-install.sh setup-chromium chromium fonts-dejavu-core \
  || echo "setup-chromium: the browser tests will skip (or fail in CI)" >&2
