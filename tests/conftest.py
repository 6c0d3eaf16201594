"""Shared fixtures: the real mock, started as a child process on loopback, reset per test (the
e2e layer); the session's PostgreSQL server, which both layers use. tests/inprocess/conftest.py
serves the app in-process instead."""
from __future__ import annotations

import json
import os

import pytest

from mock_server.control_client import ControlClient
from mock_server.launcher import MockProcess
from mock_server.world import DEFAULT_WORLD


@pytest.fixture(scope="session")
def default_world() -> dict:
    return json.loads(DEFAULT_WORLD.read_text())


@pytest.fixture(scope="session")
def mock_server():
    """One real `layers-mock` per test session (per xdist worker)."""
    with MockProcess() as proc:
        yield proc


@pytest.fixture
def control(mock_server):
    """The control plane of a freshly reset default world."""
    with ControlClient(mock_server.base_url) as client:
        client.reset()
        yield client


@pytest.fixture
def base_url(mock_server) -> str:
    return mock_server.base_url


@pytest.fixture(scope="session")
def keys(default_world) -> dict:
    """Default-world key secrets by label ('write', 'read-only', ...)."""
    return {k["label"]: k for k in default_world["keys"]}


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server of our own for the session (per xdist worker, fsync off)."""
    from mock_server.launcher import PostgresServer

    with PostgresServer(durable=False) as server:
        yield server


@pytest.fixture
def postgres_url(postgres) -> str:
    """A fresh empty database on the session's server."""
    return postgres.new_database()


@pytest.fixture(scope="session")
def require_chromium() -> None:
    """Debian's chromium for the browser tests: skipped without it, but a failure in CI, where
    scripts/test.sh installs it."""
    from docs_gen.browser import chromium_path

    if chromium_path() is None:
        reason = "chromium is not installed: run scripts/setup-chromium.sh (scripts/test.sh does)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def pytest_collection_modifyitems(items) -> None:
    """A test of the plugin's `layers_mock` fixture (examples/: partners' own tests, kept free of
    this project's markers) starts a real layers-mock: it belongs to the e2e layer."""
    for item in items:
        if "layers_mock" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)
