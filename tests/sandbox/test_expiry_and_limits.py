"""Sandboxes expire when unused and are cleaned up; limits on sandboxes, accounts and posts
answer a clear 409 with nothing written. Both backends, with a short `--sandbox-idle-ttl` and
small limits so the tests run in seconds (the defaults and their reasons: sandboxes.Limits)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import httpx
import pytest

from contract import CONTRACT
from contract.control import CONTROL_PREFIX
from mock_control import ControlClient
from mock_server.storage import open_storage
from mock_server.storage.schema import TABLES_TO_CLEAR

from .support import BACKENDS, OPERATOR, database_for, hosted_mock, new_sandbox

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

TTL = 2.0


def rows_of(database: str, sandbox_id: str) -> int:
    storage = open_storage(database)
    try:
        with storage.snapshot() as q:
            world = sum(
                int(q.scalar(f"SELECT COUNT(*) AS n FROM {t} WHERE sandbox=?", (sandbox_id,))) for t in TABLES_TO_CLEAR
            )
            return world + int(q.scalar("SELECT COUNT(*) AS n FROM sandboxes WHERE id=?", (sandbox_id,)))
    finally:
        storage.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unused_sandbox_expires_and_is_deleted_while_used_ones_live(backend, request, tmp_path):
    database = database_for(backend, request, tmp_path, "expiry")
    with (
        hosted_mock(database, "--sandbox-idle-ttl", str(TTL)) as mock,
        httpx.Client(base_url=mock.base_url, timeout=30) as http,
    ):
        idle, by_api, by_control = (
            new_sandbox(mock.base_url, n) for n in ("idle", "used by the API", "used by control")
        )
        assert rows_of(database, idle.id) > 0
        deadline = time.monotonic() + TTL * 1.75
        while time.monotonic() < deadline:  # two sandboxes in use, one left alone
            r = http.delete(
                CONTRACT.path_for(f"sa_{uuid.uuid4()}"),
                headers={"Authorization": f"Bearer {by_api.key('write')['secret']}"},
            )
            assert r.status_code == 404, r.text
            assert http.get(CONTROL_PREFIX + "/clock", headers=by_control.headers()).status_code == 200
            time.sleep(TTL / 8)

        # The idle one is refused at once, by token and by key...
        r = http.get(CONTROL_PREFIX + "/state", headers=idle.headers())
        assert r.status_code == 401 and r.json()["error"]["code"] == "UNAUTHENTICATED", r.text
        r = http.delete(
            CONTRACT.path_for(CONTRACT.example_account_id),
            headers={"Authorization": f"Bearer {idle.key('write')['secret']}"},
        )
        assert r.status_code == CONTRACT.status_for_code("UNAUTHENTICATED"), r.text
        # ...while the used ones live.
        r = http.delete(
            CONTRACT.path_for(CONTRACT.example_account_id),
            headers={"Authorization": f"Bearer {by_api.key('write')['secret']}"},
        )
        assert r.status_code == CONTRACT.success_status, r.text
        assert http.get(CONTROL_PREFIX + "/state", headers=by_control.headers()).status_code == 200
        # The operator's listing sweeps: the idle sandbox's rows are gone, the others' kept.
        with ControlClient(mock.base_url, admin_token=OPERATOR) as operator:
            listed = {s["sandboxId"] for s in operator.list_sandboxes()["sandboxes"]}
        assert listed == {by_api.id, by_control.id}
        assert rows_of(database, idle.id) == 0
        assert rows_of(database, by_api.id) > 0 and rows_of(database, by_control.id) > 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_limits_answer_409_at_the_bound_plus_one_and_write_nothing(backend, request, tmp_path, default_world):
    world_accounts = len(default_world["accounts"])  # 6
    world_posts = sum(n for a in default_world["accounts"] for n in a.get("posts", {}).values())  # 18
    max_accounts, max_posts = world_accounts + 2, world_posts + 7
    database = database_for(backend, request, tmp_path, "limits")
    with (
        hosted_mock(
            database,
            "--max-sandboxes",
            "3",
            "--sandbox-max-accounts",
            str(max_accounts),
            "--sandbox-max-posts",
            str(max_posts),
        ) as mock,
        httpx.Client(base_url=mock.base_url, timeout=30, headers={"X-Mock-Admin-Token": OPERATOR}) as operator,
    ):
        boxes = [new_sandbox(mock.base_url, f"n{i}") for i in range(3)]
        r = operator.post(CONTROL_PREFIX + "/sandboxes", json={})
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "LIMIT_EXCEEDED"
        assert r.json()["error"]["details"] == {"limit": "sandboxes", "max": 3, "current": 3, "adding": 1}
        assert len(operator.get(CONTROL_PREFIX + "/sandboxes").json()["sandboxes"]) == 3
        assert operator.delete(CONTROL_PREFIX + f"/sandboxes/{boxes[2].id}").status_code == 200
        assert operator.delete(CONTROL_PREFIX + f"/sandboxes/{boxes[2].id}").status_code == 404
        boxes[2] = new_sandbox(mock.base_url, "after a delete")

        # A fixture past a limit makes no sandbox at all.
        too_big = {
            "organizations": default_world["organizations"][:1],
            "accounts": [{"organizationId": default_world["organizations"][0]["id"]}] * (max_accounts + 1),
        }
        assert operator.delete(CONTROL_PREFIX + f"/sandboxes/{boxes[2].id}").status_code == 200
        r = operator.post(CONTROL_PREFIX + "/sandboxes", json={"fixtures": too_big})
        assert r.status_code == 409 and r.json()["error"]["details"]["limit"] == "accounts", r.text
        assert len(operator.get(CONTROL_PREFIX + "/sandboxes").json()["sandboxes"]) == 2
        many_orgs = {"organizations": [{"name": f"o{i}"} for i in range(1001)]}  # past max(accounts, 1000)
        r = operator.post(CONTROL_PREFIX + "/sandboxes", json={"fixtures": many_orgs})
        assert r.status_code == 409 and r.json()["error"]["details"]["limit"].startswith("organizations"), r.text
        assert len(operator.get(CONTROL_PREFIX + "/sandboxes").json()["sandboxes"]) == 2

        a = boxes[0]
        org = default_world["organizations"][0]["id"]
        with a.control() as c:
            # Up to the bounds exactly: accepted.
            c.create_account(org, queued=max_posts - world_posts)  # posts at the bound
            c.create_account(org)  # accounts at the bound
            counts = c.state()["counts"]
            assert (counts["accounts"], counts["posts"]) == (max_accounts, max_posts)
        with httpx.Client(base_url=mock.base_url, timeout=30, headers=a.headers()) as http:
            past = [
                ("accounts", http.post(CONTROL_PREFIX + "/accounts", json={"organizationId": org})),
                (
                    "posts",
                    http.post(
                        CONTROL_PREFIX + "/posts",
                        json={"socialAccountId": CONTRACT.example_account_id, "status": "queued", "count": 1},
                    ),
                ),
                ("accounts", http.post(CONTROL_PREFIX + "/fixtures", json={"accounts": [{"organizationId": org}]})),
            ]
            for limit, r in past:
                assert r.status_code == 409, r.text
                err = r.json()["error"]
                assert err["code"] == "LIMIT_EXCEEDED" and err["details"]["limit"] == limit, r.text
                assert str(max_accounts if limit == "accounts" else max_posts) in err["message"]
            counts = http.get(CONTROL_PREFIX + "/state").json()["counts"]
            assert (counts["accounts"], counts["posts"]) == (max_accounts, max_posts)
        # The other sandboxes' room is their own.
        with boxes[1].control() as c:
            c.create_account(org, queued=max_posts - world_posts)


@pytest.mark.parametrize(
    "args, says",
    [
        (["--operator-token", "short"], "16 to"),
        (["--operator-token", OPERATOR, "--admin-token", "x" * 20], "not both"),
        (["--operator-token", OPERATOR, "--sandbox-idle-ttl", "0"], "--sandbox-idle-ttl"),
        (["--operator-token", OPERATOR, "--max-sandboxes", "0"], "--max-sandboxes"),
    ],
)
def test_bad_hosted_options_are_refused_at_start(args, says):
    proc = subprocess.run(
        [sys.executable, "-m", "mock_server.cli", "--quiet", *args], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr
    assert OPERATOR not in proc.stderr + proc.stdout
