"""Opt-in CORS for the API routes only (never the control plane), and the served specs' servers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from contract import CONTRACT
from contract.world import DEFAULT_WORLD, default_write_key
from mock_control.launcher import MockProcess
from mock_server.core.world import read_fixture

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

APP = "http://localhost:3000"
WRITE = default_write_key(read_fixture(DEFAULT_WORLD))
REVOKE = CONTRACT.path_for(CONTRACT.example_account_id)
PREFLIGHT = {
    "Access-Control-Request-Method": "DELETE",
    "Access-Control-Request-Headers": "authorization,idempotency-key",
}


@pytest.fixture(scope="module")
def cors_mock():
    with MockProcess(extra_args=["--cors-origin", APP]) as proc:
        yield proc


def test_api_preflight_and_response_allow_the_origin(cors_mock):
    c = httpx.Client(base_url=cors_mock.base_url)
    pre = c.options(REVOKE, headers={"Origin": APP, **PREFLIGHT})
    assert pre.status_code == 200
    assert pre.headers["access-control-allow-origin"] == APP
    assert "DELETE" in pre.headers["access-control-allow-methods"]
    assert "Idempotency-Key" in pre.headers["access-control-allow-headers"]
    c.post("/_mock/reset", json={})
    c.put(f"/_mock/keys/{WRITE['id']}/budget", json={"remaining": 0})
    r = c.delete(REVOKE, headers={"Origin": APP, "Authorization": f"Bearer {WRITE['secret']}"})
    assert r.status_code == 429 and r.headers["access-control-allow-origin"] == APP
    exposed = r.headers["access-control-expose-headers"]
    assert CONTRACT.request_id_header in exposed and CONTRACT.retry_after_header in exposed  # readable by the app
    c.post("/_mock/reset", json={})


def test_other_origins_get_no_cors_headers(cors_mock):
    r = httpx.delete(cors_mock.base_url + REVOKE, headers={"Origin": "http://evil.example"})
    assert r.status_code == 401 and "access-control-allow-origin" not in r.headers
    pre = httpx.options(cors_mock.base_url + REVOKE, headers={"Origin": "http://evil.example", **PREFLIGHT})
    assert "access-control-allow-origin" not in pre.headers and pre.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_control_plane_never_answers_cors(cors_mock):
    for method, path in [("OPTIONS", "/_mock/reset"), ("GET", "/_mock/state"), ("OPTIONS", "/_mock/keys/write/budget")]:
        r = httpx.request(
            method, cors_mock.base_url + path, headers={"Origin": APP, "Access-Control-Request-Method": "POST"}
        )
        assert not any(h.startswith("access-control-") for h in r.headers), (method, path, dict(r.headers))


def test_without_the_flag_there_is_no_cors():
    with MockProcess() as mock:
        pre = httpx.options(mock.base_url + REVOKE, headers={"Origin": APP, **PREFLIGHT})
        assert "access-control-allow-origin" not in pre.headers


def test_a_malformed_origin_is_refused_before_serving():
    proc = subprocess.run(
        [sys.executable, "-m", "mock_server.cli", "--port", "0", "--cors-origin", "localhost:3000/app"],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "is not an origin" in proc.stderr and proc.stdout == ""


def test_served_spec_lists_this_mock_first(cors_mock):
    spec = httpx.get(cors_mock.base_url + "/openapi.json").json()
    assert spec["servers"][0] == {"url": cors_mock.base_url, "description": "This mock"}
    assert [s["url"] for s in spec["servers"][1:]] == [s["url"] for s in CONTRACT.raw["servers"]]
    # A Host header that is not a host is not echoed into the spec.
    odd = httpx.get(cors_mock.base_url + "/openapi.json", headers={"Host": 'x"><script>'}).json()
    assert odd["servers"][0]["url"] == cors_mock.base_url
