"""State file accidents (issue 14): a damaged file is refused at start, `--reset` is refused
while another mock serves the file, and temporary worlds never outlive their mock."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from contract import CONTRACT
from mock_control import ControlClient
from mock_control.launcher import MockProcess, free_port
from mock_server import cli, state_file
from mock_server.settings import SERVERS

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """`layers-mock ARGS` expected to exit by itself (a refusal): never left serving."""
    env = {
        **os.environ,
        **(env or {}),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-m", "mock_server.cli", "--port", str(free_port()), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def _seeded(tmp_path: Path, name: str = "state.sqlite3") -> Path:
    """A real state file written by a real mock: the default world plus 3,000 posts (many pages)."""
    state = tmp_path / name
    with MockProcess(state=str(state)) as mock, ControlClient(mock.base_url) as control:
        org = control.create_organization("pages")
        control.create_account(org["id"], queued=3000)
    return state


def _corrupt_one_page(state: Path) -> int:
    """Overwrite one page in the middle of the file with garbage; return its number."""
    db = sqlite3.connect(state)
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    victim = pages // 2
    with open(state, "r+b") as fh:
        fh.seek((victim - 1) * page_size)
        fh.write(bytes((i * 37 + 11) % 256 for i in range(page_size)))
    return victim


# -- a damaged file ---------------------------------------------------------------------------
def test_a_state_file_with_a_corrupt_page_is_refused_at_start(tmp_path):
    state = _seeded(tmp_path)
    assert state_file.integrity_problem(str(state)) is None
    _corrupt_one_page(state)
    problem = state_file.integrity_problem(str(state))
    assert problem, "quick_check found nothing: the test corrupted nothing"
    result = _cli("--state", str(state))
    assert result.returncode == 2, result
    assert "is damaged (SQLite quick_check" in result.stderr and "move it aside" in result.stderr
    assert "Layers mock on" not in result.stdout  # no banner: it never claimed to serve
    assert "Traceback" not in result.stderr


def test_a_file_that_is_not_sqlite_is_refused_cleanly(tmp_path):
    state = tmp_path / "notes.txt"
    state.write_text("not a database\n" * 500)
    result = _cli("--state", str(state))
    assert result.returncode == 2 and "not a database" in result.stderr and "Traceback" not in result.stderr


def test_a_sound_file_still_starts_and_keeps_its_world(tmp_path):
    state = _seeded(tmp_path)
    with MockProcess(state=str(state)) as mock, ControlClient(mock.base_url) as control:
        assert control.state()["counts"]["posts"] >= 3000


# -- --reset under a live mock ------------------------------------------------------------------
def test_reset_is_refused_while_another_mock_serves_the_file(tmp_path):
    state = tmp_path / "live.sqlite3"
    with MockProcess(state=str(state), workers=2) as live, ControlClient(live.base_url) as control:
        org = control.create_organization("live world")["id"]
        result = _cli("--state", str(state), "--reset")
        assert result.returncode == 2, result
        assert "is in use" in result.stderr and "--force" in result.stderr
        assert org in {o["id"] for o in control.state()["organizations"]}, "the live world was wiped"
        # Serving the same file beside it (no --reset) is still allowed.
        with MockProcess(state=str(state)) as second, ControlClient(second.base_url) as control2:
            assert org in {o["id"] for o in control2.state()["organizations"]}
        # --force does what it says.
        with MockProcess(state=str(state), extra_args=["--reset", "--force"]):
            assert org not in {o["id"] for o in control.state()["organizations"]}


def test_reset_works_once_the_other_mock_is_gone_even_after_sigkill(tmp_path):
    state = tmp_path / "crashed.sqlite3"
    live = MockProcess(state=str(state)).start()
    with ControlClient(live.base_url) as control:
        org = control.create_organization("before the crash")["id"]
    live.kill(signal.SIGKILL)  # the kernel drops its lock with it
    live.stop()
    with MockProcess(state=str(state), extra_args=["--reset"]) as fresh, ControlClient(fresh.base_url) as control:
        assert org not in {o["id"] for o in control.state()["organizations"]}


# -- temporary worlds ---------------------------------------------------------------------------
@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_removes_the_temporary_world(tmp_path, workers):
    """TMPDIR points at a directory of this test's own, so other tests' mocks cannot blur it."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    mock = MockProcess(workers=workers, env={"TMPDIR": str(tmp)}).start()
    try:
        during = [p.name for p in tmp.iterdir() if p.name.startswith(state_file.TEMP_PREFIX)]
        assert len(during) == 1, during  # the world is there while it serves
        # With several workers, their shared metrics directory too (removed as well, below).
        metrics = [p.name for p in tmp.iterdir() if p.name.startswith(cli.METRICS_DIR_PREFIX)]
        assert len(metrics) == (1 if workers > 1 else 0), metrics
    finally:
        mock.stop()  # SIGTERM to the process group
    assert list(tmp.iterdir()) == [], f"left behind: {list(tmp.iterdir())}"


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_each_server_shuts_down_gracefully_on_sigterm_and_sigint(tmp_path, server, sig):
    """Both HTTP servers (`--server`), two workers: the signal to the process group (as a process
    manager's stop or a terminal's Ctrl-C sends it) ends every process within 10 s, by the way out
    that removes the temporary world (a SIGKILL would leave it)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    mock = MockProcess(workers=2, env={"TMPDIR": str(tmp)}, extra_args=["--server", server]).start()
    try:
        r = httpx.delete(
            mock.base_url + CONTRACT.path_for(CONTRACT.example_account_id),
            headers={"Authorization": "Bearer lp_test_acme_write_7Qm2xK9pL4vN8rT1"},
        )
        assert r.status_code == 200, r.text
        os.killpg(mock.proc.pid, sig)
        assert mock.proc.wait(10) in (0, -sig, 128 + sig), "did not exit cleanly"
        assert list(tmp.iterdir()) == [], f"left behind: {list(tmp.iterdir())}"
    finally:
        mock.stop()


def test_mock_process_start_stop_leaks_nothing(tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    for _ in range(3):
        with MockProcess(env={"TMPDIR": str(tmp)}):
            pass
    assert list(tmp.iterdir()) == []
