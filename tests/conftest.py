"""Shared fixtures: the real mock, started as a child process on loopback, reset per test (the
e2e layer); the same app served in-process (`make_mock`); the session's PostgreSQL server, which
both layers use.

`make_mock` is the ONE place the tests build the app in-process: when `create_app`'s signature
or the mock's module layout changes, it changes and the tests do not. The app runs on an event
loop of its own (an anyio blocking portal, one per session), and a small transport hands each
request of a plain `httpx.Client` to `httpx.ASGITransport` on that loop: tests and the
`ControlClient` stay synchronous, so tests moved from the process-based layer kept their
assertions word for word. Connexion's AsyncApp needs no lifespan run (it builds its middleware
stack on the first request), so none is started.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable, Iterator

import anyio.from_thread
import httpx
import pytest

from contract import CONTRACT
from contract.world import DEFAULT_WORLD
from mock_control import ControlClient
from mock_control.launcher import MockProcess
from mock_server.app import create_app
from mock_server.cli import seed_state
from mock_server.core import world
from mock_server.core.clock import Clock


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
    from postgres_server import PostgresServer  # tests/postgres_server.py (pytest-postgresql)

    with PostgresServer(durable=False) as server:
        yield server


@pytest.fixture
def postgres_url(postgres) -> str:
    """A fresh empty database on the session's server."""
    return postgres.new_database()


class _AsyncChunks(httpx.AsyncByteStream):
    """A synchronous request body (a generator's chunks) as the async stream ASGITransport reads."""

    def __init__(self, stream: httpx.SyncByteStream) -> None:
        self.stream = stream

    async def __aiter__(self):
        for chunk in self.stream:
            yield chunk


class PortalTransport(httpx.BaseTransport):
    """A synchronous httpx transport that runs each request through `httpx.ASGITransport` on the
    portal's event loop and hands back the whole response."""

    def __init__(self, portal: anyio.from_thread.BlockingPortal, app) -> None:
        self.portal = portal
        self.asgi = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not isinstance(request.stream, httpx.AsyncByteStream):
            request.stream = _AsyncChunks(request.stream)  # a generator body: chunked, as sent

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

    def add_accounts(self, organization_id: str, n: int, queued: int = 2) -> list[str]:
        """`n` fresh connected accounts of the organization, `queued` queued posts each: their ids."""
        ids = [f"sa_{uuid.uuid4()}" for _ in range(n)]
        with self.app.storage.transaction() as q:
            rows = [{"id": a, "organizationId": organization_id, "posts": {"queued": queued}} for a in ids]
            world.add_accounts(q, rows, Clock.now(q))
        return ids

    def revoke_at_once(self, revokes: list[tuple[str, str]]) -> list[httpx.Response]:
        """Each (account id, bearer secret) revoked at the same moment through the real ASGI app,
        as many clients would send them (the storage sees them concurrently); the responses in order."""

        async def all_at_once() -> list[httpx.Response]:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=self.base_url) as client:
                return await asyncio.gather(
                    *(
                        client.delete(CONTRACT.path_for(account), headers={"Authorization": f"Bearer {secret}"})
                        for account, secret in revokes
                    )
                )

        return self.transport.portal.call(all_at_once)


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


@pytest.fixture(scope="session")
def site_hooks():
    """The documentation site's build hooks (tools/mkdocs/hooks.py: not a package, so loaded by
    path): tests check that the pages they generate hold what the settings objects say."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "tools" / "mkdocs" / "hooks.py"
    spec = importlib.util.spec_from_file_location("layers_site_hooks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
