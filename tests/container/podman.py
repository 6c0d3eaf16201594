"""Build and run ./Dockerfile with podman, the way scripts/setup-containers.sh prepared it.

No container daemon runs on CI machines and no registry is reachable: podman (as root) with
runc, a Debian base image made by mmdebstrap, and wheels built on the host (stack-notes.md,
"Containers"). The Dockerfile itself is the ordinary one partners build with `docker build -t layers-mock .`;
CI proves that same file with podman and a locally built base (`--build-arg BASE=...`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(
    os.environ.get("LAYERS_CONTAINER_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "layers-kit" / "containers"
)
BASE_IMAGE = os.environ.get("LAYERS_BASE_IMAGE", "localhost/layers-py-base:bookworm")
SETUP_HINT = "run `bash scripts/setup-containers.sh` (as root, or with sudo)"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def unavailable(reason: str):
    """Skip loudly on a developer machine; fail in CI, where the image must be built and run."""
    message = f"container test cannot run: {reason}; {SETUP_HINT}"
    if in_ci():
        pytest.fail(message)
    print(f"\n*** SKIPPED: {message} ***", file=sys.stderr)
    pytest.skip(message)


def env() -> dict[str, str]:
    # crun/runc cannot set rlimits or a pids limit here (written by setup-containers.sh).
    return {**os.environ, "CONTAINERS_CONF": str(CACHE / "containers.conf")}


def podman(*args: str, check: bool = True, timeout: float = 300, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        ["podman", "--runtime", "runc", *args], capture_output=True, text=True, env=env(), timeout=timeout, **kw
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def check_ready() -> None:
    if shutil.which("podman") is None or shutil.which("runc") is None:
        unavailable("podman or runc is not installed")
    if not (CACHE / "containers.conf").exists():
        unavailable(f"{CACHE / 'containers.conf'} is missing")
    if podman("image", "exists", BASE_IMAGE, check=False).returncode != 0:
        unavailable(f"the base image {BASE_IMAGE} is missing")


def build_context(dest: Path) -> Path:
    """The checkout's files (tracked and new, not ignored) plus a wheelhouse built on the host."""
    files = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name, follow_symlinks=False)
    # The image's Python (Debian bookworm: 3.11) must match the host's for the binary wheels.
    image_python = podman(
        "run",
        "--rm",
        "--network",
        "host",
        BASE_IMAGE,
        "python3",
        "-c",
        "import sys; print('%d.%d' % sys.version_info[:2])",
    ).stdout.strip()
    host_python = "{}.{}".format(*sys.version_info[:2])
    assert image_python == host_python, (
        f"the base image has Python {image_python}, this host {host_python}: wheels built here would not install "
        f"there; run the tests with a Python {image_python} venv (PYTHON=python{image_python} scripts/setup.sh)"
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "-w",
            str(dest / "wheelhouse"),
            "-c",
            str(dest / "constraints.txt"),
            str(dest),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return dest


def build_image(tag: str, workdir: Path) -> None:
    """./Dockerfile built from this checkout as `tag`: the context (`build_context`) in `workdir`,
    the local base image through `--build-arg BASE`, Docker format (for HEALTHCHECK), no layer
    cache (each build is of this checkout). The container tests and bench/targets.py build this way."""
    context = build_context(workdir)
    podman(
        "build",
        "--quiet",
        "--format",
        "docker",
        "--layers=false",
        "--network",
        "host",
        "--build-arg",
        f"BASE={BASE_IMAGE}",
        "-t",
        tag,
        "-f",
        str(context / "Dockerfile"),
        str(context),
        timeout=900,
    )
