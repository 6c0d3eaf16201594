"""CI builds ./Dockerfile (the file `docker build -t layers-mock .` reads) and runs the image: the API and the control plane answer from
outside the container, through a published port, with an admin token; the image runs as a
non-root user and its HEALTHCHECK passes. Prints the image size and the time to first answer.
"""

from __future__ import annotations

import json
import os
import secrets
import time

import httpx
import pytest

from contract import CONTRACT
from mock_control.launcher import free_port

from . import podman as pm

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    pm.check_ready()
    tag = f"localhost/layers-mock:test-{os.getpid()}"
    started = time.monotonic()
    pm.build_image(tag, tmp_path_factory.mktemp("image-context"))
    build_s = time.monotonic() - started
    size = int(pm.podman("image", "inspect", "--format", "{{.Size}}", tag).stdout.strip())
    yield {"tag": tag, "build_s": build_s, "size": size}
    pm.podman("rmi", "-f", tag, check=False)


def _wait_for_first_answer(url: str, started: float, timeout: float = 90) -> float:
    while time.monotonic() - started < timeout:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"no answer from {url} within {timeout}s")


def test_image_serves_api_and_control_plane_from_outside(image):
    token = "t-" + secrets.token_hex(12)
    port = free_port()
    name = f"layers-mock-test-{os.getpid()}"
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    # A published port, as partners run it: requests arrive from outside the container's loopback.
    pm.podman(
        "run",
        "-d",
        "--rm",
        "--name",
        name,
        "-p",
        f"127.0.0.1:{port}:4010",
        "-e",
        f"LAYERS_MOCK_ADMIN_TOKEN={token}",
        image["tag"],
    )
    try:
        first_answer_s = _wait_for_first_answer(base + "/openapi.json", started)
        revoke_url = base + CONTRACT.path_for(CONTRACT.example_account_id)
        auth = {"Authorization": "Bearer lp_test_acme_write_7Qm2xK9pL4vN8rT1"}

        r = httpx.delete(revoke_url, headers=auth)
        assert r.status_code == 200, r.text
        assert r.json()["canceledScheduledPosts"] == 4
        assert httpx.delete(revoke_url, headers=auth).status_code == 404

        # The control plane: refused without the token, served with it.
        refused = httpx.get(base + "/_mock/state")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "UNAUTHENTICATED"
        admin = {"X-Mock-Admin-Token": token}
        state = httpx.get(base + "/_mock/state", headers=admin)
        assert state.status_code == 200 and state.json()["counts"]["organizations"] >= 2
        assert (
            httpx.post(
                base + "/_mock/reset", headers={**admin, "Content-Type": "application/json"}, content="{}"
            ).status_code
            == 200
        )
        assert httpx.delete(revoke_url, headers=auth).status_code == 200  # the world is back
        # The reference page (rendered from the installed spec: no docs/ in the image) and Swagger UI.
        docs = httpx.get(base + "/docs")
        assert docs.status_code == 200 and 'id="try-it-against-the-mock"' in docs.text
        assert httpx.get(base + "/ui/").status_code == 200
        served = httpx.get(base + "/openapi.json").json()["servers"][0]["url"]
        assert served == base  # the published port, as the host reached it

        assert pm.podman("exec", name, "id", "-u").stdout.strip() == "10001"  # not root
        health = pm.podman("healthcheck", "run", name, check=False)
        assert health.returncode == 0, health.stderr
        # What the health check reads: the mock's ready file, with the keys but never the admin token.
        ready = json.loads(pm.podman("exec", name, "cat", "/tmp/layers-mock-ready.json").stdout)
        assert ready["port"] == 4010 and ready["keys"] and token not in json.dumps(ready)
        logs = pm.podman("logs", name).stdout + pm.podman("logs", name).stderr
        assert token not in logs
        assert f"DELETE {CONTRACT.path_for(CONTRACT.example_account_id)} 404 NOT_FOUND" in logs  # access log
    finally:
        pm.podman("rm", "-f", "-t", "2", name, check=False)

    report = {
        "image": image["tag"],
        "size_mb": round(image["size"] / 1e6, 1),
        "build_s": round(image["build_s"], 1),
        "first_answer_s": round(first_answer_s, 2),
    }
    print("\ncontainer: " + json.dumps(report))
