"""Fixtures of the reliability part: a multi-worker mock on one state file."""
from __future__ import annotations

import pytest

from mock_server.control_client import ControlClient
from mock_server.launcher import MockProcess


@pytest.fixture(scope="session")
def multi_mock(tmp_path_factory):
    """Two uvicorn workers sharing one SQLite state file (per xdist worker). Tests never reset
    it: each one makes its own organization, key and accounts."""
    state = tmp_path_factory.mktemp("reliability") / "state.sqlite3"
    with MockProcess(workers=2, state=str(state)) as proc:
        yield proc


@pytest.fixture
def multi_control(multi_mock):
    with ControlClient(multi_mock.base_url) as client:
        yield client
