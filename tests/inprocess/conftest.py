"""The in-process layer: the real ASGI app driven through `httpx.ASGITransport`, no server process
and no socket, on both backends (a SQLite file in a temporary directory, and a database on the
session's throwaway PostgreSQL server) and through both edges (the fast path, and everything
through Connexion).

`make_mock` is the ONE place this layer builds the app: when `create_app`'s signature or the
mock's module layout changes, this file changes and the tests do not. Tests talk HTTP to the app
(`api`, `control`) and take what they expect from the contract (`contract.CONTRACT`), so they
hold whatever the mock's internals become.

The app runs on an event loop of its own (an anyio blocking portal, one per session), and a
small transport hands each request of a plain `httpx.Client` to `httpx.ASGITransport` on that
loop: tests and the `ControlClient` stay synchronous, and the tests moved here from the
process-based layer kept their assertions word for word. Connexion's AsyncApp needs no lifespan
run (it builds its middleware stack on the first request), so none is started.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

import anyio.from_thread
import httpx
import pytest

from mock_server.app import create_app
from mock_server.cli import seed_state
from mock_server.control_client import ControlClient

BACKENDS = ["sqlite", "postgresql"]
EDGES = ["fast-path", "connexion-only"]


class PortalTransport(httpx.BaseTransport):
    """A synchronous httpx transport that runs each request through `httpx.ASGITransport` on the
    portal's event loop and hands back the whole response."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, app) -> None:
        self.portal = portal
        self.asgi = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def send() -> tuple[int, httpx.Headers, bytes]:
            response = await self.asgi.handle_async_request(request)
            return response.status_code, response.headers, await response.aread()

        status, headers, content = self.portal.call(send)
        return httpx.Response(status, headers=headers, content=content, request=request)


class InProcessMock:
    """One app over one database, and clients that reach it without a socket."""

    # A loopback address, as for `layers-mock` on 127.0.0.1: the control plane answers only
    # loopback callers without an admin token (ASGITransport reports the client as 127.0.0.1).
    base_url = "http://127.0.0.1"

    def __init__(self, app, portal: anyio.from_thread.BlockingPortal, backend: str) -> None:
        self.app = app
        self.backend = backend
        self.transport = PortalTransport(portal, app)

    def client(self, **kwargs) -> httpx.Client:
        """An httpx.Client on the app (`base_url` this mock's unless given)."""
        return httpx.Client(transport=self.transport, **{"base_url": self.base_url, **kwargs})

    def control(self, admin_token: str | None = None) -> ControlClient:
        return ControlClient(self.base_url, admin_token=admin_token, transport=self.transport)


@pytest.fixture(scope="session")
def portal() -> Iterator[anyio.from_thread.BlockingPortal]:
    with anyio.from_thread.start_blocking_portal() as portal:
        yield portal


@pytest.fixture(scope="session")
def make_mock(portal, tmp_path_factory, request, default_world) -> Iterator[Callable[..., InProcessMock]]:
    """`make_mock(backend, **create_app options)`: a seeded world on a fresh database of the
    backend, served in-process. The local world is the shipped default one, as `layers-mock`
    seeds it; hosted mode (`operator_token=`) seeds none, as the CLI does."""
    made: list[InProcessMock] = []

    def make(backend: str = "sqlite", **options) -> InProcessMock:
        if backend == "sqlite":
            database = str(tmp_path_factory.mktemp("inprocess") / "state.sqlite3")
        else:
            database = request.getfixturevalue("postgres").new_database("inprocess")
        seed_state(database, default_world, False, hosted=options.get("operator_token") is not None)
        mock = InProcessMock(create_app(database, **options), portal, backend)
        made.append(mock)
        return mock

    yield make
    for mock in made:
        mock.app.storage.close()


@pytest.fixture(scope="session", params=[(b, e) for b in BACKENDS for e in EDGES], ids="-".join)
def mock(request, make_mock) -> InProcessMock:
    """The local mock on each backend, through each edge: both edges must give the same answers."""
    backend, edge = request.param
    return make_mock(backend, fast_path=edge == "fast-path")


@pytest.fixture(scope="session", params=BACKENDS)
def hosted_mock(request, make_mock) -> InProcessMock:
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
