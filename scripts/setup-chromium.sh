#!/usr/bin/env bash
# Headless Chromium for the docs page's browser test (tests/docs/test_html_in_browser.py):
# Debian's `chromium` package, installed only when missing. CI runs as root on a fresh machine.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "setup-chromium: not root and no sudo; the browser test will skip (or fail in CI)" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core
