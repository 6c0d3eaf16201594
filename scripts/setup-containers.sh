#!/usr/bin/env bash
# Container tooling for tests/container/ (the image built from ./Dockerfile and run), and curl
# for the commands of README and the guides (tests/readme/):
# podman with runc (crun's setrlimit is refused on these machines), and a Python base image made
# with mmdebstrap from Debian, because no container registry is reachable here (stack-notes.md,
# "Containers"). Installs only what is missing; builds the base image only when podman does not
# have it, from a cached tar when there is one. CI runs this as root on a fresh machine.
#
# Prints nothing but progress; the test reads the same locations from tests/container/podman.py.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE=${LAYERS_CONTAINER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/layers-kit/containers}
BASE_IMAGE=${LAYERS_BASE_IMAGE:-localhost/layers-py-base:bookworm}
mkdir -p "$CACHE"

missing=()
for tool in podman runc mmdebstrap curl; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  if ! bash scripts/apt-install.sh setup-containers podman runc mmdebstrap uidmap ca-certificates curl; then
    echo "setup-containers: the container test will skip (or fail in CI)" >&2
    exit 0
  fi
fi

# crun/runc cannot set rlimits or a pids limit in these sandboxes: turn both off for our calls.
printf '[containers]\ndefault_ulimits = []\npids_limit = 0\n' > "$CACHE/containers.conf"
export CONTAINERS_CONF="$CACHE/containers.conf"

if podman --runtime runc image exists "$BASE_IMAGE"; then
  exit 0
fi
if [ ! -s "$CACHE/py-base-bookworm.tar" ]; then
  echo "setup-containers: building the base image with mmdebstrap (Debian bookworm minbase + python3; ~20 s)"
  mmdebstrap --quiet --format=tar --variant=minbase --include=python3,python3-venv bookworm "$CACHE/py-base-bookworm.tar.part"
  mv "$CACHE/py-base-bookworm.tar.part" "$CACHE/py-base-bookworm.tar"
fi
podman --runtime runc import --quiet "$CACHE/py-base-bookworm.tar" "$BASE_IMAGE" >/dev/null
echo "setup-containers: base image $BASE_IMAGE ready"
