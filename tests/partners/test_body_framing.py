"""Control-plane bodies are read however they are framed (control/guard.py): chunked with no
Content-Length (Node's http.request default, curl -H 'Transfer-Encoding: chunked'), a
Content-Length, HTTP/1.0; within the guard's size bound. Real clients against the real mock."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mock_control.launcher import MockProcess
from mock_server.core import bounds
from mock_server.core.errors import code_for

pytestmark = pytest.mark.e2e

NODE_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node"
EXAMPLE = "sa_9c1e42a0-b7f3-4e5d-a2c1-8b4f5e6c7d8e"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{name} is not installed")
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture(scope="module")
def mock():
    with MockProcess() as proc:
        yield proc


def _curl(*args: str, data: bytes = b"") -> tuple[int, dict]:
    """curl's status and JSON body; `data` on stdin as the request body."""
    proc = subprocess.run(
        [_tool("curl"), "-sS", "-o", "-", "-w", "\n%{http_code}", *args],
        input=data,
        capture_output=True,
        timeout=30,
        check=True,
    )
    body, _, status = proc.stdout.rpartition(b"\n")
    return int(status), json.loads(body)


def _arm_429_then_revoke(mock, keys, *framing: str) -> tuple[int, int]:
    _curl(
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        *framing,
        "--data-binary",
        "{}",
        f"{mock.base_url}/_mock/reset",
    )
    armed, _ = _curl(
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/json",
        *framing,
        "--data-binary",
        '{"remaining": 0}',
        f"{mock.base_url}/_mock/keys/write/budget",
    )
    revoked, _ = _curl(
        "-X",
        "DELETE",
        "-H",
        f"Authorization: Bearer {keys['write']['secret']}",
        f"{mock.base_url}/v1/social-accounts/{EXAMPLE}",
    )
    return armed, revoked


@pytest.mark.parametrize(
    "framing", [("-H", "Transfer-Encoding: chunked"), (), ("--http1.0",)], ids=["chunked", "content-length", "http1.0"]
)
def test_curl_arms_a_429_however_the_body_is_framed(mock, keys, framing):
    assert _arm_429_then_revoke(mock, keys, *framing) == (200, 429)


def test_a_chunked_body_over_the_bound_is_413(mock):
    too_big = b'{"remaining": 0, "pad": "' + b"x" * bounds.MAX_BODY_BYTES + b'"}'
    status, body = _curl(
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/json",
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        "@-",
        f"{mock.base_url}/_mock/keys/write/budget",
        data=too_big,
    )
    assert (status, body["error"]["code"]) == (413, code_for(413)), body


def test_node_standard_library_arms_a_429_and_sees_it(mock):
    proc = subprocess.run(
        [_tool("node"), "arm-429-with-node-http.mjs"],
        cwd=NODE_EXAMPLE,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "LAYERS_MOCK_URL": mock.base_url},
    )
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "DELETE /v1/social-accounts/{id}: 429" in proc.stdout
    assert "error.code RATE_LIMITED" in proc.stdout
