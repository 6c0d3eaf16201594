"""Start the real mock (`layers-mock`) in a child process on loopback, and stop it; and a
throwaway PostgreSQL server for the PostgreSQL backend.

Used by the project's tests, the pytest plugin and the benchmarks, so that all of them talk
HTTP to the same server partners run.

PostgreSQL: `initdb` + `pg_ctl` in a temporary directory on a free loopback port. Debian's
binaries live in /usr/lib/postgresql/<version>/bin (not always on PATH);
`scripts/setup-postgresql.sh` installs them where missing. initdb refuses to run as root, and
CI runs as root: then the server runs as the `postgres` user (`runuser -u postgres --`).
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import suppress
from pathlib import Path
from typing import IO

import httpx

from mock_server.settings import environment_for_child


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class MockProcess:
    """A `layers-mock` child process. Use as a context manager or call start()/stop()."""

    def __init__(self, *, port: int | None = None, workers: int = 1, state: str | None = None,
                 database: str | None = None, fixtures: str | None = None, extra_args: list[str] | None = None,
                 host: str = "127.0.0.1", env: dict | None = None):
        self.host = host
        self.port = port or free_port(host)
        self.workers = workers
        self.state = state
        self.database_url = database
        self.fixtures = fixtures
        self.extra_args = list(extra_args or [])
        self.env = env
        self.proc: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None

    @property
    def database(self) -> str | None:
        """Where its world lives (a SQLite path or a database URL), when one was given."""
        return self.database_url or self.state

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> "MockProcess":
        cmd = [sys.executable, "-m", "mock_server.cli", "--host", self.host, "--port", str(self.port),
               "--workers", str(self.workers), "--quiet"]
        if self.state:
            cmd += ["--state", self.state]
        if self.database_url:
            cmd += ["--database", self.database_url]
        if self.fixtures:
            cmd += ["--fixtures", self.fixtures]
        cmd += self.extra_args
        # Open for the process's life, not a block's: stop() closes and removes it.
        self._log = tempfile.NamedTemporaryFile(prefix="layers-mock-", suffix=".log", delete=False)  # noqa: SIM115
        env = environment_for_child(self.env)
        # The child must import this checkout's packages even when they are not installed.
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]),
                                                          env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        proc = self.proc
        if proc is None:
            raise RuntimeError("layers-mock was not started: start() starts it")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                message = f"layers-mock exited with {proc.returncode}:\n{self.log_text()}"
                self.stop()  # removes the log file: a failed start leaves nothing behind
                raise RuntimeError(message)
            try:
                # Any answer: the schema is made before uvicorn listens. (With --admin-token or
                # --operator-token, a call without a token answers 401.)
                if httpx.get(self.base_url + "/_mock/clock", timeout=1.0).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"layers-mock did not answer within {timeout}s:\n{self.log_text()}")

    def log_text(self) -> str:
        if self._log is None:
            return ""
        return Path(self._log.name).read_text(errors="replace")[-4000:]

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Signal the whole process group (uvicorn's workers too)."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log is not None:
            self._log.close()
            os.unlink(self._log.name)
            self._log = None

    def __enter__(self) -> "MockProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- a throwaway PostgreSQL server (tests and benchmarks of the PostgreSQL backend) ----------
def postgres_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


class PostgresServer:
    def __init__(self, *, durable: bool = True):
        self.durable = durable
        initdb, pg_ctl = postgres_binary("initdb"), postgres_binary("pg_ctl")
        if not (initdb and pg_ctl):
            raise RuntimeError("PostgreSQL's initdb/pg_ctl not found: run `bash scripts/setup-postgresql.sh`")
        self.initdb, self.pg_ctl = initdb, pg_ctl
        self.dir = Path(tempfile.mkdtemp(prefix="layers-pg-"))
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        self._started = False

    def _run(self, *cmd: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        proc = subprocess.run(prefix + list(cmd), capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            log = (self.dir / "log").read_text(errors="replace")[-2000:] if (self.dir / "log").exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr[-2000:]}\n{log}")

    def start(self) -> "PostgresServer":
        if self.as_root:
            shutil.chown(self.dir, "postgres")
        self._run(self.initdb, "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "--no-sync",
                  "-E", "UTF8")
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=300"
        if not self.durable:
            # For test data only: no test crashes the server itself (the crash tests kill
            # layers-mock processes, whose commits PostgreSQL already has). Benchmarks keep fsync.
            opts += " -c fsync=off -c full_page_writes=off"
        self._run(self.pg_ctl, "-D", str(self.dir / "data"), "-l", str(self.dir / "log"), "-w", "-t", "60",
                  "-o", opts, "start")
        self._started = True
        return self

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def new_database(self, prefix: str = "t") -> str:
        """A fresh empty database on this server; its URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        if self._started:
            with suppress(RuntimeError):
                self._run(self.pg_ctl, "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
            self._started = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "PostgresServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
