"""No 3xx from the API or the JSON control plane (mock_server/edge/strict_paths.py), in process:
every path that is not exactly a documented route gets the envelope, and a client that follows
redirects revokes nothing. Both edges (fast path and Connexion only)."""

from __future__ import annotations

import json

import httpx
import pytest

from contract import CONTRACT
from contract.world import DEFAULT_WORLD
from mock_server.app import create_app
from mock_server.cli import seed_state

WORLD = json.loads(DEFAULT_WORLD.read_text())
WRITE = next(k["secret"] for k in WORLD["keys"] if k["label"] == "write")
ACCOUNT = next(a["id"] for a in WORLD["accounts"] if a.get("status", "connected") == "connected")
ROUTE = f"/v1/social-accounts/{ACCOUNT}"

pytestmark = pytest.mark.anyio  # anyio's pytest plugin (anyio comes with httpx), on asyncio


@pytest.fixture(scope="module", params=["fast-path", "connexion-only"])
def app(request, tmp_path_factory):
    database = str(tmp_path_factory.mktemp("world") / "world.db")
    seed_state(database, WORLD, reset=True)  # blocking: outside the event loop
    app = create_app(database, fast_path=request.param == "fast-path")
    yield app
    app.storage.close()


@pytest.fixture
async def client(app):
    """A client on loopback (the control plane answers only there) that follows redirects."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:4010", follow_redirects=True) as c:
        assert (await c.post("/_mock/reset", json={})).status_code == 200
        yield c


async def _status_of(client) -> str:
    return (await client.get(f"/_mock/accounts/{ACCOUNT}")).json()["status"]


def _envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert not response.history, "a redirect was followed"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["requestId"] == response.headers[CONTRACT.request_id_header]
    return error


@pytest.mark.parametrize(
    "path",
    [
        ROUTE + "/",
        ROUTE + "//",
        "/v1/social-accounts/",
        "/v1/social-accounts",
        "/v1/nope",
        "/v1/social-accounts/x/y",
        "/v1/",
    ],
)
async def test_api_path_off_the_route_is_404_and_revokes_nothing(client, path):
    response = await client.delete(path, headers={"Authorization": f"Bearer {WRITE}"})
    _envelope(response, 404, "NOT_FOUND")
    assert await _status_of(client) == "connected"


@pytest.mark.parametrize(
    "suffix", ["%0A", "%0D", "%00", "%09", "%20", "%7F", "%2F", "%2Fx", "%2f", "%zz", "%E0", "%C2%A0", "%C2%85"]
)
async def test_malformed_id_is_400_validation_with_issues(client, suffix):
    response = await client.delete(httpx.URL(ROUTE + suffix), headers={"Authorization": f"Bearer {WRITE}"})
    error = _envelope(response, 400, "VALIDATION")
    assert error["details"]["issues"] and all(i["message"] for i in error["details"]["issues"])
    assert await _status_of(client) == "connected"


async def test_malformed_id_keeps_the_order_of_checks(client):
    """401 comes before 400 (docs/decisions.md, decision 1: order of checks), for an id that cannot even be routed too."""
    response = await client.delete(httpx.URL(ROUTE + "%0A"))
    _envelope(response, 401, "UNAUTHENTICATED")


async def test_well_formed_revoke_still_answers(client):
    response = await client.delete(ROUTE, headers={"Authorization": f"Bearer {WRITE}"})
    assert response.status_code == 200, response.text
    assert await _status_of(client) == "disconnected"


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/_mock/state/"),
        ("GET", "/_mock/"),
        ("GET", "/_mock"),
        ("PUT", "/_mock/keys/write/budget/"),
        ("POST", "/_mock/reset/"),
        ("GET", "/_mock/nope"),
    ],
)
async def test_control_path_off_a_route_is_404(client, method, path):
    response = await client.request(method, path, json={"remaining": 0} if method != "GET" else None)
    _envelope(response, 404, "NOT_FOUND")


@pytest.mark.parametrize("segment", ["x%0A", "a%2Fb", "%20write", "write%20", "write%09", "%zz", "%FF"])
async def test_control_malformed_id_is_400(client, segment):
    response = await client.put(httpx.URL(f"/_mock/keys/{segment}/budget"), json={"remaining": 0})
    error = _envelope(response, 400, "VALIDATION")
    assert error["details"]["issues"][0]["message"].startswith("keyId ")


async def test_control_routes_and_pages_still_answer(client):
    assert (await client.put("/_mock/keys/write/budget", json={"remaining": 0})).status_code == 200
    spaced = next(k for k in WORLD["keys"] if " " in (k.get("label") or ""))  # a label stands for its id
    by_label = await client.put(f"/_mock/keys/{spaced['label']}/budget", json={"remaining": 1})
    assert by_label.status_code == 200 and by_label.json()["keyId"] == spaced["id"]
    assert (await client.get("/_mock/state")).status_code == 200
    assert (await client.get("/_mock/openapi.json")).status_code == 200
    page = await client.get("/_mock/ui")  # an HTML page may redirect to its canonical slash
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert (await client.get("/ui")).status_code == 200
    assert (await client.get("/openapi.json")).status_code == 200
