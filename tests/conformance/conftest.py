"""Fixtures of the conformance kit's tests: a private mock, and the broken implementations.

The kit moves the mock's clock and flips kill switches (the global one too), so its runs get a
mock process of their own instead of the session-wide one other tests share.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from mock_server.control_client import ControlClient
from mock_server.launcher import MockProcess, free_port
from conformance import cli

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def kit_mock():
    with MockProcess() as proc:
        yield proc


@pytest.fixture
def kit_control(kit_mock):
    with ControlClient(kit_mock.base_url) as client:
        client.reset()
        yield client


@pytest.fixture(scope="session")
def broken_base(kit_mock):
    """One proxy process serving every broken implementation under /bug/<name>."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(HERE / "broken_impls.py"), "--upstream", kit_mock.base_url,
                             "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            if proc.poll() is not None:
                raise RuntimeError(f"broken_impls.py exited: {proc.stderr.read().decode()}")
            try:
                if httpx.get(f"{base}/bug/none/_mock/clock", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            import time
            time.sleep(0.05)
        else:
            raise RuntimeError("broken_impls.py did not answer")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


def run_kit(args: list[str], tmp_path: Path) -> tuple[int, dict]:
    """Run the kit in-process (its real main) and return the exit code and the JSON report."""
    report = tmp_path / f"report-{len(list(tmp_path.iterdir()))}.json"
    code = cli.main([*args, "--report-json", str(report)])
    return code, json.loads(report.read_text())


@pytest.fixture
def kit(tmp_path):
    return lambda *args: run_kit(list(args), tmp_path)
