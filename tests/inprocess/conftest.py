"""The in-process layer's shared mocks: the real ASGI app (built by `make_mock`, tests/conftest.py)
on both backends (a SQLite file in a temporary directory, and a database on the session's
throwaway PostgreSQL server) and through both edges (the fast path, and everything through
Connexion). Tests talk HTTP to the app (`api`, `control`) and take what they expect from the
contract (`contract.CONTRACT`), so they hold whatever the mock's internals become.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from mock_control import ControlClient

BACKENDS = ["sqlite", "postgresql"]
EDGES = ["fast-path", "connexion-only"]


@pytest.fixture(scope="session", params=[(b, e) for b in BACKENDS for e in EDGES], ids="-".join)
def mock(request, make_mock):
    """The local mock on each backend, through each edge: both edges must give the same answers."""
    backend, edge = request.param
    return make_mock(backend, fast_path=edge == "fast-path")


@pytest.fixture(scope="session", params=BACKENDS)
def hosted_mock(request, make_mock):
    """Hosted mode (many sandboxes, `--operator-token`) on each backend: no local world; the
    operator token makes sandboxes, each sandbox's own admin token drives its world."""
    operator_token = "operator-token-of-the-in-process-tests"
    mock = make_mock(request.param, operator_token=operator_token)
    mock.operator_token = operator_token
    return mock


@pytest.fixture
def api(mock) -> Iterator[httpx.Client]:
    with mock.client() as client:
        yield client


@pytest.fixture
def control(mock) -> Iterator[ControlClient]:
    """The control plane of a freshly reset default world."""
    with mock.control() as client:
        client.reset()
        yield client
