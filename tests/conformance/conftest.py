"""Fixtures of the conformance kit's tests: a private mock, and the broken implementations.

The kit moves the mock's clock and flips kill switches (the global one too), so its runs get a
mock process of their own instead of the session-wide one other tests share.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from servers import serve_broken_impls
from staging import QUEUED, make_staging_world

from conformance import cli
from mock_control import ControlClient
from mock_control.launcher import MockProcess

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
    proc, base = serve_broken_impls(kit_mock.base_url)
    try:
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


@pytest.fixture
def staging_args(kit_control, tmp_path):
    return lambda queued=QUEUED: make_staging_world(kit_control, tmp_path, queued)
