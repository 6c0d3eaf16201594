"""The control plane usable without lookups: the banner names every id, a busy port fails before
any banner, a key's label works where its id is expected, accounts default to the write key's
organization, and every request gets one access-log line (never a key)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from contract import CONTRACT
from contract.world import DEFAULT_WORLD, default_write_key
from mock_control.launcher import MockProcess, free_port
from mock_server.core.world import read_fixture

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

REPO = Path(__file__).resolve().parents[2]
WORLD = read_fixture(DEFAULT_WORLD)
WRITE = default_write_key(WORLD)
JSON = {"Content-Type": "application/json"}


class LoudMock:
    """`layers-mock` as a partner runs it (no --quiet), its stdout and stderr captured to files."""

    def __init__(self, tmp_path: Path, *args: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.out, self.err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mock_server.cli", "--port", str(self.port), "--workers", "1", *args],
                cwd=REPO,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        for _ in range(300):
            if self.proc.poll() is not None:
                raise AssertionError(f"layers-mock exited {self.proc.returncode}: {self.err.read_text()}")
            try:
                httpx.get(self.base + "/openapi.json", timeout=0.5)
                return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("layers-mock did not answer")

    def stdout(self) -> str:
        time.sleep(0.3)  # the workers' lines are flushed by another process
        return self.out.read_text()

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(10)


@pytest.fixture
def loud(tmp_path):
    mock = LoudMock(tmp_path)
    yield mock
    mock.stop()


def test_banner_names_every_id_the_control_plane_needs(loud):
    banner = loud.stdout()
    for org in WORLD["organizations"]:
        assert org["id"] in banner and org["name"] in banner
    for key in WORLD["keys"]:
        assert key["id"] in banner and key["label"] in banner and key["secret"] in banner
    for account in WORLD["accounts"]:
        assert account["id"] in banner
    assert f"{loud.base}/docs" in banner and f"{loud.base}/_mock/ui/" in banner
    assert "next steps:" in banner
    # The printed commands are complete: the budget one names the key by label and sends JSON.
    assert f"PUT {loud.base}/_mock/keys/{WRITE['label']}/budget -H 'Content-Type: application/json'" in banner


def test_access_log_one_line_per_request_and_no_keys(loud):
    r = httpx.delete(
        loud.base + CONTRACT.path_for(CONTRACT.example_account_id),
        headers={"Authorization": f"Bearer {WRITE['secret']}"},
    )
    missing = httpx.delete(
        loud.base + CONTRACT.path_for(CONTRACT.example_account_id),
        headers={"Authorization": f"Bearer {WRITE['secret']}"},
    )
    forged = httpx.get(loud.base + "/v1/x%0a2026-01-01T00:00:00Z%20GET%20/forged%20200")
    out = loud.stdout()
    log = out[out.index("every documented status") :].splitlines()[1:]  # what follows the banner
    line = next(line for line in log if r.headers["X-Request-Id"] in line)
    assert re.fullmatch(
        rf"\S+Z DELETE {re.escape(CONTRACT.path_for(CONTRACT.example_account_id))} 200 - "
        rf"{r.headers['X-Request-Id']} \d+\.\dms",
        line,
    ), line
    assert any(f"404 NOT_FOUND {missing.headers['X-Request-Id']}" in line for line in log)
    assert not any(line.startswith("2026-01-01") for line in log), "a path forged a log line"
    assert any(forged.headers["X-Request-Id"] in line and "\\n" in line for line in log)
    for key in WORLD["keys"]:
        assert key["secret"] not in "\n".join(log)


def test_quiet_prints_no_banner_and_no_access_log(tmp_path):
    mock = LoudMock(tmp_path, "--quiet")
    try:
        httpx.get(mock.base + "/_mock/state")
        assert mock.stdout() == ""
    finally:
        mock.stop()


def test_busy_port_fails_before_any_banner(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "mock_server.cli", "--port", str(port)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2
    assert proc.stdout == ""  # no banner, no curl line pointing at someone else's server
    assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr and "--port" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def mock():
    with MockProcess() as proc:
        yield proc


def test_key_label_where_an_id_is_expected(mock):
    c = httpx.Client(base_url=mock.base_url)
    c.post("/_mock/reset", json={})
    r = c.put(f"/_mock/keys/{WRITE['label']}/budget", json={"remaining": 0})
    assert r.status_code == 200 and r.json()["keyId"] == WRITE["id"]
    revoke = c.delete(
        CONTRACT.path_for(CONTRACT.example_account_id), headers={"Authorization": f"Bearer {WRITE['secret']}"}
    )
    assert revoke.status_code == 429
    c.post("/_mock/reset", json={})
    r = c.put("/_mock/kill-switches", json={"scope": "key", "target": WRITE["label"], "enabled": True})
    assert r.status_code == 200 and r.json()["target"] == WRITE["id"]
    revoke = c.delete(
        CONTRACT.path_for(CONTRACT.example_account_id), headers={"Authorization": f"Bearer {WRITE['secret']}"}
    )
    assert revoke.status_code == 503
    unknown = c.put("/_mock/keys/no-such-label/budget", json={"remaining": 0})
    assert unknown.status_code == 404 and "no-such-label" in unknown.json()["error"]["message"]
    spaced = next(k for k in WORLD["keys"] if " " in (k.get("label") or ""))
    assert c.put(f"/_mock/keys/{spaced['label']}/budget", json={"remaining": 1}).json()["keyId"] == spaced["id"]
    c.post("/_mock/reset", json={})


def test_two_keys_with_one_label_are_refused_by_label(mock):
    c = httpx.Client(base_url=mock.base_url)
    c.post("/_mock/reset", json={})
    c.post("/_mock/keys", json={"organizationId": WRITE["organizationId"], "label": WRITE["label"]})
    r = c.put(f"/_mock/keys/{WRITE['label']}/budget", json={"remaining": 0})
    assert r.status_code == 400 and "use the key's id" in r.json()["error"]["message"]
    c.post("/_mock/reset", json={})


def test_accounts_default_to_the_write_keys_organization(mock):
    c = httpx.Client(base_url=mock.base_url)
    c.post("/_mock/reset", json={})
    r = c.post("/_mock/accounts", json={"posts": {"queued": 3}})
    assert r.status_code == 201 and r.json()["organizationId"] == WRITE["organizationId"]
    revoke = c.delete(
        CONTRACT.path_for(r.json()["socialAccountId"]), headers={"Authorization": f"Bearer {WRITE['secret']}"}
    )
    assert revoke.status_code == 200 and revoke.json()["canceledScheduledPosts"] == 3
    c.post("/_mock/reset", json={"world": "empty"})
    r = c.post("/_mock/accounts", json={})
    assert r.status_code == 400 and "organizationId is required" in r.json()["error"]["message"]
    c.post("/_mock/reset", json={})


def test_banner_with_an_admin_token_shows_the_header_but_never_the_token(tmp_path):
    token = "tok-" + os.urandom(8).hex()
    mock = LoudMock(tmp_path, "--admin-token", token)
    try:
        banner = mock.stdout()
        assert "needs X-Mock-Admin-Token" in banner
        assert '-H "X-Mock-Admin-Token: <your admin token>"' in banner
        assert token not in banner and token not in mock.err.read_text()
    finally:
        mock.stop()
