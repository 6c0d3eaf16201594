"""An ASGI server may hand every request the same `scope["extensions"]` dict (granian does: one
object per worker), and Connexion stores each request's routing and its security step's
token_info there. Concurrent requests then crossed callers: a revoke decided with another
request's key (a provisioned key's account answered 404 as if asked by the default world's key).
Here every request of the app carries one shared dict, as under granian."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from contract import CONTRACT

REVOCABLE = CONTRACT.example_account_id


@pytest.fixture(params=["fast-path", "connexion-only"])
def shared_extensions_mock(request, make_mock):
    mock = make_mock("sqlite", fast_path=request.param == "fast-path")
    shared: dict = {"http.response.pathsend": {}}
    app = mock.app

    async def as_granian(scope, receive, send):
        scope["extensions"] = shared

        async def from_the_network():  # a server's receive suspends the request, as a socket read does
            await asyncio.sleep(0.002)
            return await receive()

        await app(scope, from_the_network, send)

    mock.transport = type(mock.transport)(mock.transport.portal, as_granian)
    return mock, shared


def _revoke(client, account, secret):
    return client.delete(CONTRACT.path_for(account), headers={"Authorization": f"Bearer {secret}"})


def test_nothing_of_one_request_stays_in_a_shared_extensions_dict(shared_extensions_mock, keys):
    mock, shared = shared_extensions_mock
    with mock.client() as c:
        assert _revoke(c, REVOCABLE, keys["read-only"]["secret"]).status_code == 403
        assert c.get("/_mock/state").status_code == 200  # the control plane: Connexion routes it too
        assert _revoke(c, "sa_not-an-id", keys["write"]["secret"]).status_code == 400  # through Connexion
    assert shared == {"http.response.pathsend": {}}  # before: connexion_context, connexion_routing


def test_concurrent_requests_are_each_decided_with_their_own_key(shared_extensions_mock, keys):
    """Two organizations' keys revoke an unknown account at once (404 for both, by design
    indistinguishable), so the journal tells which key each request was decided with: the
    domain's decision records its caller's key. Crossed, an entry names the other key."""
    mock, _ = shared_extensions_mock
    unknown = "sa_00000000-0000-4000-8000-000000000000"
    labels = ["write", "other organization"]
    asks = [keys[labels[i % 2]] for i in range(40)]

    async def all_at_once():
        transport = httpx.ASGITransport(app=mock.transport.asgi.app)
        async with httpx.AsyncClient(transport=transport, base_url=mock.base_url) as c:
            return await asyncio.gather(*(_arevoke(c, unknown, key["secret"]) for key in asks))

    answers = mock.transport.portal.call(all_at_once)
    assert [r.status_code for r in answers] == [404] * 40
    with mock.control() as control:
        journal = {e["requestId"]: e["keyId"] for e in control.journal(limit=100)}
    decided_with = [journal[r.headers[CONTRACT.request_id_header]] for r in answers]
    assert decided_with == [key["id"] for key in asks]


async def _arevoke(client, account, secret):
    return await client.delete(CONTRACT.path_for(account), headers={"Authorization": f"Bearer {secret}"})
