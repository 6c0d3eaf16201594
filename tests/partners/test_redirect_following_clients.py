"""Clients that follow redirects (requests, httpx with follow_redirects=True) against the real
mock over TCP: a trailing slash or a `%2F` in the id gets the envelope, never a 3xx to follow,
and the account stays connected (mock_server/edge/strict_paths.py)."""

from __future__ import annotations

import httpx
import pytest
import requests

from mock_control import ControlClient
from mock_control.launcher import MockProcess

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def mock():
    with MockProcess() as proc:
        yield proc


@pytest.mark.parametrize("suffix,status", [("/", 404), ("%2F", 400), ("%0A", 400)])
def test_following_clients_revoke_nothing(mock, keys, default_world, suffix, status):
    with ControlClient(mock.base_url) as control:
        control.reset()
        account = next(a["id"] for a in default_world["accounts"] if a.get("status", "connected") == "connected")
        url = f"{mock.base_url}/v1/social-accounts/{account}{suffix}"
        headers = {"Authorization": f"Bearer {keys['write']['secret']}"}
        answered = requests.delete(url, headers=headers, timeout=10)  # requests follows 307 by default
        assert (answered.status_code, answered.history) == (status, []), answered.text
        assert answered.json()["error"]["code"] == ("NOT_FOUND" if status == 404 else "VALIDATION")
        answered = httpx.delete(httpx.URL(url), headers=headers, follow_redirects=True, timeout=10)
        assert (answered.status_code, answered.history) == (status, []), answered.text
        assert control.account(account)["status"] == "connected"
        answered = requests.get(f"{mock.base_url}/_mock/state/", timeout=10)
        assert (answered.status_code, answered.history) == (404, [])
