#!/usr/bin/env bash
# Install Debian packages for the tests (CI runs as root on a fresh machine; elsewhere sudo).
#   bash scripts/apt-install.sh WHO PACKAGE...     (WHO names the caller in messages)
# Without root or sudo it says what is missing and exits 1: the caller decides whether that is fatal.
set -euo pipefail
who=$1; shift
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "$who: not root and no sudo; install these Debian packages yourself: $*" >&2
    exit 1
  fi
fi
echo "$who: installing $* (apt)" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "$@"
