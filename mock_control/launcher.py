"""Start the real mock (`layers-mock`) in a child process on loopback, and stop it.

Used by the project's tests, the pytest plugin and the benchmarks, so that all of them talk
HTTP to the same server partners run. (The throwaway PostgreSQL server of the tests and
benchmarks is test support, not product: tests/postgres_server.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

import httpx


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class MockProcess:
    """A `layers-mock` child process. Use as a context manager or call start()/stop()."""

    def __init__(
        self,
        *,
        port: int | None = None,
        workers: int = 1,
        state: str | None = None,
        database: str | None = None,
        fixtures: str | None = None,
        extra_args: list[str] | None = None,
        host: str = "127.0.0.1",
        env: dict | None = None,
    ):
        self.host = host
        # port=0: the mock picks a free port as it binds, and says which in its ready file (no
        # window between choosing a port here and the child binding it); None: one chosen here.
        self.port = free_port(host) if port is None else port
        self.announces = port == 0  # started with --ready-file (a restart keeps the port it found)
        self._ready_dir: str | None = None
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

    def start(self, timeout: float = 30.0) -> MockProcess:
        cmd = [
            sys.executable,
            "-m",
            "mock_server.cli",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
            "--quiet",
        ]
        if self.state:
            cmd += ["--state", self.state]
        if self.database_url:
            cmd += ["--database", self.database_url]
        if self.fixtures:
            cmd += ["--fixtures", self.fixtures]
        cmd += self.extra_args
        if self.announces:
            self._ready_dir = tempfile.mkdtemp(prefix="layers-mock-")
            cmd += ["--ready-file", self.ready_file]
        # Open for the process's life, not a block's: stop() closes and removes it.
        self._log = tempfile.NamedTemporaryFile(prefix="layers-mock-", suffix=".log", delete=False)  # noqa: SIM115
        # The child inherits this process's environment (it reads its own settings from it) plus
        # what the caller adds; nothing here reads a setting.
        env = {**os.environ, **(self.env or {})}  # noqa: TID251
        # The child must import this checkout's packages even when they are not installed.
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH")])
        )
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.wait_ready(timeout)
        return self

    @property
    def ready_file(self) -> str:
        """Where a mock started with port=0 writes its ready file (while it runs)."""
        if self._ready_dir is None:
            raise RuntimeError("no ready file: only a running MockProcess(port=0) has one")
        return os.path.join(self._ready_dir, "ready.json")

    def ready(self) -> dict:
        """The mock's ready file (port=0 only): where it listens, its keys, its spec's sha256."""
        return json.loads(Path(self.ready_file).read_text(encoding="utf-8"))

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
            if self.announces:
                # Written once the mock answers (mock_server/ready.py): the port it really took.
                if os.path.exists(self.ready_file):
                    self.port = self.ready()["port"]
                    return
                time.sleep(0.05)
                continue
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
        if self._ready_dir is not None:  # the mock removed its file on exit; a killed one did not
            shutil.rmtree(self._ready_dir, ignore_errors=True)
            self._ready_dir = None
        if self._log is not None:
            self._log.close()
            os.unlink(self._log.name)
            self._log = None

    def __enter__(self) -> MockProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
