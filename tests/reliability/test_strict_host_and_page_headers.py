"""The control plane's Host guard parses Host strictly (control/guard.py), and the pages carry
nosniff and a CSP (edge/page_headers.py): in process, through the app's whole middleware stack."""

from __future__ import annotations

import json

import httpx
import pytest

from contract.world import DEFAULT_WORLD
from mock_server.app import create_app
from mock_server.cli import seed_state
from mock_server.control import guard

pytestmark = pytest.mark.anyio  # anyio's pytest plugin, on asyncio


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    database = str(tmp_path_factory.mktemp("world") / "world.db")
    seed_state(database, json.loads(DEFAULT_WORLD.read_text()), reset=True)
    app = create_app(database)
    yield app
    app.storage.close()


@pytest.fixture
async def client(app):
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4010") as c:
        yield c


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:43517.evil.example",
        "127.0.0.1:4010:80",
        "127.0.0.1:65536",
        "127.0.0.1:-1",
        "127.0.0.1:",
        "127.0.0.1:+80",
        "127.0.0.1:0x50",
        "::1",
        "[::1",
        "[::1]x",
        "[evil.example]:80",
        "localhost:80@evil.example",
        "evil.example#.localhost",
        "user@localhost",
        "local host",
        "localhost/",
        "",
    ],
)
async def test_a_host_that_is_not_host_and_port_is_refused(client, host):
    answered = await client.post("/_mock/reset", json={}, headers={"Host": host})
    assert answered.status_code == 403, answered.text
    assert "DNS rebinding guard" in answered.json()["error"]["message"]


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1:43517",
        "127.0.0.1",
        "localhost:0",
        "localhost:65535",
        "LOCALHOST.",
        "[::1]:4010",
        "[::1]",
        "api.localhost:80",
    ],
)
async def test_host_and_an_optional_numeric_port_is_admitted(client, host):
    answered = await client.get("/_mock/state", headers={"Host": host})
    assert answered.status_code == 200, answered.text


@pytest.mark.parametrize("value", ["127.0.0.1:43517.evil.example", "::1", "[::1]:99999", "[not-ipv6]", "a:b:c"])
def test_split_host_refuses(value):
    with pytest.raises(ValueError):
        guard.split_host(value)


@pytest.mark.parametrize("path", ["/docs", "/ui/", "/_mock/ui/"])
async def test_pages_carry_nosniff_and_a_restrictive_csp(client, path):
    page = await client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["x-content-type-options"] == "nosniff"
    csp = {d.split()[0]: d.split()[1:] for d in page.headers["content-security-policy"].split("; ")}
    assert csp["default-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in csp["script-src"] + csp["style-src"]
    assert "'unsafe-eval'" not in csp["script-src"]


async def test_assets_carry_nosniff_and_the_api_is_untouched(client):
    asset = await client.get("/ui/swagger-ui-bundle.js")
    assert asset.headers["x-content-type-options"] == "nosniff"
    api = await client.delete("/v1/social-accounts/sa_00000000-0000-4000-8000-000000000404")
    assert "x-content-type-options" not in api.headers and "content-security-policy" not in api.headers
