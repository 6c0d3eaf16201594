"""A machine-readable start and a true banner (issue 21), with the real `layers-mock`:
`--ready-file` (the real port with --port 0, mode 0600, the banner's keys, never a token; removed
on exit), the banner after a restart on a kept state file, and the Node example's connection error."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from contract import CONTRACT
from contract.world import default_world
from mock_control.launcher import MockProcess, free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
NODE_EXAMPLE = ROOT / "examples" / "node"
WRITE = default_world()["keys"][0]
TOKEN = "admin-token-that-must-not-leak-1234"


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "mock_server.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        cwd=ROOT,
    )


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "no ready file"
        time.sleep(0.05)
    return json.loads(path.read_text())


def _stop(proc: subprocess.Popen) -> str:
    os.killpg(proc.pid, signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_ready_file_names_the_real_port_and_the_keys_never_a_token(tmp_path, workers):
    ready = tmp_path / "ready.json"
    proc = _start(
        "--port", "0", "--quiet", "--workers", str(workers), "--ready-file", str(ready), "--admin-token", TOKEN
    )
    try:
        doc = _wait_for(ready, proc)
        assert stat.S_IMODE(ready.stat().st_mode) == 0o600
        assert TOKEN not in ready.read_text()
        assert doc["port"] != 0 and doc["baseUrl"] == f"http://127.0.0.1:{doc['port']}"
        assert doc["controlUrl"] == doc["baseUrl"] + "/_mock" and doc["pid"] == proc.pid
        assert doc["specSha256"] == hashlib.sha256((ROOT / "openapi.yaml").read_bytes()).hexdigest()
        assert doc["state"] == "temporary" and doc["mode"] == "local"
        assert [(k["id"], k["secret"]) for k in doc["keys"]] == [
            (k["id"], k["secret"]) for k in default_world()["keys"]
        ]
        assert doc["exampleAccountId"] == CONTRACT.example_account_id
        # Ready means answering: the revoke the banner prints works at once.
        auth = {"Authorization": f"Bearer {doc['keys'][0]['secret']}"}
        assert (
            httpx.delete(doc["baseUrl"] + CONTRACT.path_for(doc["exampleAccountId"]), headers=auth).status_code == 200
        )
        assert [p.name for p in tmp_path.iterdir()] == ["ready.json"]  # no temporary file left beside it
    finally:
        out = _stop(proc)
    assert not ready.exists(), out  # removed on exit
    assert out == ""  # --quiet


def test_ready_file_in_a_missing_directory_is_refused_before_anything_is_printed(tmp_path):
    proc = _start("--port", "0", "--ready-file", str(tmp_path / "missing" / "ready.json"))
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert (
        out.strip() == f"layers-mock: cannot write the ready file {tmp_path}/missing/ready.json: "
        f"{tmp_path}/missing is not a writable directory"
    )


def test_ready_file_names_the_state_without_a_password(tmp_path):
    state = tmp_path / "world.sqlite3"
    ready = tmp_path / "ready.json"
    proc = _start("--port", "0", "--quiet", "--state", str(state), "--ready-file", str(ready))
    try:
        assert _wait_for(ready, proc)["state"] == str(state)
    finally:
        _stop(proc)


def test_banner_after_a_restart_shows_the_stored_world(tmp_path):
    state = str(tmp_path / "world.sqlite3")
    example = CONTRACT.example_account_id
    with MockProcess(state=state) as mock:
        auth = {"Authorization": f"Bearer {WRITE['secret']}"}
        assert httpx.delete(mock.base_url + CONTRACT.path_for(example), headers=auth).status_code == 200
        made = httpx.post(mock.base_url + "/_mock/accounts", json={"posts": {"queued": 3}}).json()["socialAccountId"]
        assert httpx.put(
            mock.base_url + "/_mock/kill-switches",
            json={"scope": "organization", "target": WRITE["organizationId"], "enabled": True},
        ).is_success
    port = free_port()
    proc = _start("--state", state, "--port", str(port), "--workers", "1")
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if "every documented status" in line:
                break
    finally:
        _stop(proc)
    text = "\n".join(lines)
    example_line = next(line for line in lines if line.strip().startswith(example))
    assert "disconnected" in example_line and "revoked_by_partner at " in example_line
    assert "canceledScheduledPosts 4" not in text
    assert "connected" in next(line for line in lines if line.strip().startswith(made))
    assert f"kill switches ON (revokes they cover answer 503): organization {WRITE['organizationId']}" in text
    assert "revoke a connected account (run it twice: 200, then 404; 503 while a kill switch covers it):" in text
    assert CONTRACT.path_for(example) not in text


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("node is not installed")
        pytest.skip("node is not installed")
    return node


def _node_revoke(env: dict) -> subprocess.CompletedProcess:
    script = (
        'import { revoke } from "./layers.mjs";'
        f' const r = await revoke("{CONTRACT.example_account_id}"); console.log(r.status);'
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LAYERS_")}
    return subprocess.run(
        [_node(), "--input-type=module", "-e", script],
        cwd=NODE_EXAMPLE,
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, **env},
        check=False,
    )


def test_node_example_connection_error_names_the_url_and_how_to_start_the_mock():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    proc = _node_revoke({"LAYERS_MOCK_URL": url})
    assert proc.returncode != 0
    assert (
        f"cannot reach the Layers mock at {url}{CONTRACT.path_for(CONTRACT.example_account_id)} (ECONNREFUSED)"
        in proc.stderr
    )
    assert "Start it with `layers-mock --port 4010`" in proc.stderr


def test_node_example_finds_the_mock_through_its_ready_file(tmp_path):
    with MockProcess(port=0) as mock:
        proc = _node_revoke({"LAYERS_MOCK_READY_FILE": mock.ready_file})
    assert proc.stdout.strip() == "200", proc.stderr
    missing = _node_revoke({"LAYERS_MOCK_READY_FILE": str(tmp_path / "nope.json")})
    assert f"LAYERS_MOCK_READY_FILE={tmp_path / 'nope.json'}: no such file" in missing.stderr
    assert f"layers-mock --port 0 --ready-file {tmp_path / 'nope.json'}" in missing.stderr
