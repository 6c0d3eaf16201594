"""Fixtures of the reliability part: multi-worker mocks on one shared state.

`multi_mock`: two uvicorn workers on one SQLite file (the fuzz, hostile-input and security
tests). `backend_mock`: the same on each backend in turn, SQLite and a real PostgreSQL server
(`postgres` in tests/conftest.py), for the concurrency, fault and idempotency promises.
Tests never reset these: each one makes its own organization, key and accounts.
"""

from __future__ import annotations

import pytest

from mock_control import ControlClient
from mock_control.launcher import MockProcess

BACKENDS = ["sqlite", "postgresql"]


def database_for(backend: str, request, tmp_path, name: str) -> str:
    """A fresh database of the backend: a SQLite file, or a new database on the session's server."""
    if backend == "sqlite":
        return str(tmp_path / f"{name}.sqlite3")
    return request.getfixturevalue("postgres").new_database(name)


@pytest.fixture(scope="session")
def multi_mock(tmp_path_factory):
    state = tmp_path_factory.mktemp("reliability") / "state.sqlite3"
    with MockProcess(workers=2, state=str(state)) as proc:
        yield proc


@pytest.fixture
def multi_control(multi_mock):
    with ControlClient(multi_mock.base_url) as client:
        yield client


@pytest.fixture(scope="session", params=BACKENDS)
def backend_mock(request, tmp_path_factory):
    database = database_for(request.param, request, tmp_path_factory.mktemp(request.param), "reliability")
    with MockProcess(workers=2, database=database) as proc:
        yield proc


@pytest.fixture
def backend_control(backend_mock):
    with ControlClient(backend_mock.base_url) as client:
        yield client
