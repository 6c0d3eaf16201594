"""What bench/run.py's table measures: the mock as each kind of install ships it, Prism, and a bare
ASGI app on each HTTP server (the ceiling the server sets), each started and stopped the same way.

- `sqlite`: the development install (this checkout's .venv, `pip install -e ".[test,...]"`), a
  SQLite file, the default HTTP server; `sqlite-uvicorn`: the same with `--server uvicorn`;
- `mock-only`: `pip install -c constraints.txt .` without extras, in its own venv (bench/out/);
- `container`: the image ./Dockerfile builds (podman, as tests/container/ builds it), the
  SQLite file on a volume, `--network host` (no port-forwarding proxy in the measurement);
- `pg1`, `pg2`: the development install on one local PostgreSQL server (fsync on), one instance
  or two instances (two processes, two ports) on one database; `pg2-split`: two instances of one
  worker each, so the same number of worker processes as `pg1` (on a 2-core machine `pg2` runs
  four workers on two cores: it measures oversubscription as much as the second instance);
  `pg2-pinned`: two instances each given its own core (CPU affinity, as `taskset` or a
  container's cpuset gives it; the CLI's default workers then follow: one each), as two instances
  are deployed on one machine;
  `pg1-socket`: `pg1` connected over the server's Unix socket instead of TCP loopback (a
  database on the mock's own machine; the targets are read on `pg1`, the network's path);
- `bare-granian`, `bare-uvicorn`: bench/bare_app.py, the 401 path only;
- `prism`: `prism mock openapi.yaml -v warn`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import common as c

IMAGE = "localhost/layers-mock:bench"


@dataclass(frozen=True)
class Target:
    key: str
    name: str
    kind: str  # "mock", "prism" or "bare"
    install: str = "dev"  # mock: "dev", "mock-only" or "container"
    backend: str = "sqlite"  # mock: "sqlite" or "postgres"
    instances: int = 1
    server: str | None = None  # mock: --server (None: the CLI's default); bare: granian or uvicorn
    workers: int | None = None  # mock: --workers per instance (None: the CLI's default)
    socket: bool = False  # mock on PostgreSQL: over the server's Unix socket, not TCP loopback
    pinned: bool = False  # mock: instance n runs on core n only (of the cores bench/run.py may use)


CATALOG = {
    t.key: t
    for t in (
        Target("sqlite", "ours, SQLite, dev install", "mock"),
        Target("sqlite-uvicorn", "ours, SQLite, dev install, `--server uvicorn`", "mock", server="uvicorn"),
        Target("mock-only", "ours, SQLite, mock-only install", "mock", install="mock-only"),
        Target("container", "ours, SQLite, container image", "mock", install="container"),
        Target("pg1", "ours, PostgreSQL x1", "mock", backend="postgres"),
        Target("pg1-socket", "ours, PostgreSQL x1, Unix socket", "mock", backend="postgres", socket=True),
        Target("pg2", "ours, PostgreSQL x2 (one database)", "mock", backend="postgres", instances=2),
        Target(
            "pg2-split",
            "ours, PostgreSQL x2 of one worker each (one database)",
            "mock",
            backend="postgres",
            instances=2,
            workers=1,
        ),
        Target(
            "pg2-pinned",
            "ours, PostgreSQL x2, each instance on its own core (one database)",
            "mock",
            backend="postgres",
            instances=2,
            pinned=True,
        ),
        Target("bare-granian", "bare ASGI app, granian", "bare", server="granian"),
        Target("bare-uvicorn", "bare ASGI app, uvicorn", "bare", server="uvicorn"),
        Target("prism", "Prism 5.14.2", "prism"),
    )
}


# -- installs ------------------------------------------------------------------------------------
def mock_only_venv() -> Path:
    """A venv with `pip install -c constraints.txt .` (no extras) of this checkout, made once and
    refreshed with this checkout's code on every run (the package itself reinstalled, not its
    dependencies: those come from constraints.txt and change only with it)."""
    venv = c.OUT / "install-mock-only"
    py = venv / "bin" / "python"
    if not py.exists():
        c.run_quiet([sys.executable, "-m", "venv", str(venv)])
    pip = [str(py), "-m", "pip", "install", "-q", "-c", str(c.ROOT / "constraints.txt")]
    c.run_quiet(pip + [str(c.ROOT)], timeout=1800)  # the dependencies (new ones too)
    c.run_quiet(pip + ["--no-deps", "--force-reinstall", str(c.ROOT)], timeout=600)  # this checkout's code
    return venv


def build_image() -> str:
    """./Dockerfile built from this checkout, as the container tests build it (tests/container/
    podman.py `build_image`: wheels built on the host, a Debian base image made by
    scripts/setup-containers.sh)."""
    import tempfile

    sys.path.insert(0, str(c.ROOT / "tests"))
    from container import podman as pm

    with tempfile.TemporaryDirectory(prefix="layers-bench-image-") as tmp:
        pm.build_image(IMAGE, Path(tmp))
    return IMAGE


def podman_env() -> dict:
    sys.path.insert(0, str(c.ROOT / "tests"))
    from container import podman as pm

    return pm.env()


# -- commands --------------------------------------------------------------------------------
def layers_mock(target: Target) -> str:
    if target.install == "mock-only":
        return str(c.OUT / "install-mock-only" / "bin" / "layers-mock")
    return str(c.ROOT / ".venv" / "bin" / "layers-mock")


def mock_args(target: Target, port: int, database: str | None, extra: list[str]) -> list[str]:
    args = ["--host", c.HOST, "--port", str(port), "--quiet"]
    if database is not None:
        args += ["--database", database]
    if target.server:
        args += ["--server", target.server]
    if target.workers:
        args += ["--workers", str(target.workers)]
    return args + list(extra)


class ContainerServer(c.Server):
    """`podman run` in the foreground; stopped with `podman stop` (SIGTERM to the mock inside)."""

    def __init__(self, name: str, cmd: list[str], port: int, log: Path, container: str):
        super().__init__(name, cmd, port, log, env=podman_env())
        self.container = container

    def stop(self) -> None:
        subprocess.run(
            ["podman", "--runtime", "runc", "stop", "-t", "10", self.container],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        super().stop()


def server(
    target: Target, port: int, database: str | None, *, extra: list[str] = (), log: Path, instance: int = 0
) -> c.Server:
    """An unstarted server for `target` on `port` (database None: the mock's default fresh world);
    `instance`: which of the target's instances (a pinned one's core)."""
    if target.kind == "prism":
        return c.Server(target.name, c.prism_cmd(port), port, log)
    if target.kind == "bare":
        venv = c.ROOT / ".venv" / "bin"
        if target.server == "granian":
            cmd = [str(venv / "granian"), "--interface", "asginl", "--http", "1", "--no-ws", "--workers"]
            cmd += [str(c.DEFAULT_WORKERS), "--log-level", "warning", "--working-dir", str(c.BENCH)]
            cmd += ["--host", c.HOST, "--port", str(port), "bare_app:app"]
        else:
            cmd = [str(venv / "uvicorn"), "--app-dir", str(c.BENCH), "--host", c.HOST, "--port", str(port)]
            cmd += ["--workers", str(c.DEFAULT_WORKERS), "--no-access-log", "--log-level", "warning", "bare_app:app"]
        return c.Server(target.name, cmd, port, log, ready_status=None)
    if target.install == "container":
        name = f"layers-bench-{os.getpid()}-{port}"
        volume = []
        if database is not None:  # a SQLite file on the host: its directory as a volume
            volume = ["-v", f"{Path(database).parent}:/data"]
            database = "/data/" + Path(database).name
        cmd = ["podman", "--runtime", "runc", "run", "--rm", "--name", name, "--network", "host", *volume, IMAGE]
        return ContainerServer(target.name, cmd + mock_args(target, port, database, list(extra)), port, log, name)
    cores = None
    if target.pinned:
        usable = sorted(os.sched_getaffinity(0))
        cores = {usable[instance % len(usable)]}
    cmd = [layers_mock(target), *mock_args(target, port, database, list(extra))]
    return c.Server(target.name, cmd, port, log, cores=cores)


def share_with_container(path: Path) -> None:
    """The image runs as uid 10001: the SQLite file, its WAL and its directory must be its."""
    for p in [path.parent, *path.parent.glob(path.name + "*")]:
        os.chown(p, 10001, 10001)


def timed_start(target: Target, database: str | None, log: Path, extra: list[str] = ()) -> float:
    """Process start to the first 200 (the mock, Prism) on a fresh port; the server is stopped after."""
    port = c.free_port()
    s = server(target, port, database, extra=list(extra), log=log)
    try:
        s.start(timeout=120)
        return s.ready_s or float("nan")
    finally:
        s.stop()
        time.sleep(0.2)  # let the port and the processes go before the next start
