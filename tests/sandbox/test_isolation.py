"""Nothing in one sandbox can see or change another (issue #13's isolation matrix).

Every control-plane operation of control.yaml is called on both backends:
- with another sandbox's token (B's token aimed at A: `X-Mock-Sandbox: <A>`, and, for the
  operations that name an account, key or organization, B's token naming A's own objects),
- with a wrong token, and with none,
- (and with the operator's token, which manages sandboxes only),
and each call must be refused in the error envelope while both sandboxes' whole state, read
through their own tokens, stays exactly as it was. The API: a key of sandbox A on sandbox B's
account answers exactly the bytes of an unknown account's 404 (the request id aside).
"""

from __future__ import annotations

import json
import secrets
import uuid

import httpx
import pytest

from contract import CONTRACT
from contract.control import CONTROL_PREFIX
from mock_server.storage import open_storage
from mock_server.storage.schema import TABLES_TO_CLEAR

from .support import OPERATOR, new_sandbox

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

# (operation, method, path, body); {org}/{key}/{acc}/{sandbox} are sandbox A's own objects.
OPERATIONS = [
    ("reset", "POST", "/reset", {}),
    ("load fixtures", "POST", "/fixtures", {"organizations": [{"name": "intruder"}]}),
    ("state", "GET", "/state", None),
    ("create organization", "POST", "/organizations", {"name": "intruder"}),
    ("create key", "POST", "/keys", {"organizationId": "{org}", "scopes": ["social:write"]}),
    ("set budget", "PUT", "/keys/{key}/budget", {"remaining": 0}),
    ("create account", "POST", "/accounts", {"organizationId": "{org}", "posts": {"queued": 1}}),
    ("get account", "GET", "/accounts/{acc}", None),
    ("create posts", "POST", "/posts", {"socialAccountId": "{acc}", "status": "queued", "count": 2}),
    ("global kill switch", "PUT", "/kill-switches", {"scope": "global", "enabled": True}),
    ("key kill switch", "PUT", "/kill-switches", {"scope": "key", "target": "{key}", "enabled": True}),
    (
        "organization kill switch",
        "PUT",
        "/kill-switches",
        {"scope": "organization", "target": "{org}", "enabled": True},
    ),
    ("arm fault", "POST", "/faults", {"socialAccountId": "{acc}", "count": 3}),
    ("list faults", "GET", "/faults", None),
    ("clear faults", "DELETE", "/faults", None),
    ("get clock", "GET", "/clock", None),
    ("set clock", "PUT", "/clock", {"advanceSeconds": 86400, "frozen": True}),
    ("journal", "GET", "/journal", None),
    ("integrity", "GET", "/integrity", None),
    ("create sandbox", "POST", "/sandboxes", {"label": "intruder"}),
    ("list sandboxes", "GET", "/sandboxes", None),
    ("delete sandbox", "DELETE", "/sandboxes/{sandbox}", None),
]
OPERATOR_ONLY = {"create sandbox", "list sandboxes", "delete sandbox"}
NAMES_OBJECTS = {
    op
    for op, _, path, body in OPERATIONS
    if op not in OPERATOR_ONLY and any(f"{{{n}}}" in path + json.dumps(body) for n in ("org", "key", "acc"))
}


def fill(value, objects: dict):
    text = json.dumps(value)
    for name, ident in objects.items():
        text = text.replace("{" + name + "}", ident)
    return json.loads(text)


def call(http: httpx.Client, method: str, path: str, body, headers: dict) -> httpx.Response:
    return http.request(method, CONTROL_PREFIX + path, json=body, headers=headers)


def fingerprint(http: httpx.Client, sandbox, objects: dict) -> dict:
    """Everything a sandbox holds, read through its own token (times that move by themselves aside)."""
    h = sandbox.headers()
    state = http.get(CONTROL_PREFIX + "/state", headers=h).json()
    clock = state.pop("clock")
    integrity = http.get(CONTROL_PREFIX + "/integrity", headers=h).json()
    integrity.pop("checkedAt")
    return {
        "state": state,
        "clock": (clock["frozen"], clock["offsetSeconds"]),
        "account": http.get(CONTROL_PREFIX + f"/accounts/{objects['acc']}", headers=h).json(),
        "faults": http.get(CONTROL_PREFIX + "/faults", headers=h).json(),
        "journal": http.get(CONTROL_PREFIX + "/journal", headers=h, params={"limit": 10000}).json(),
        "integrity": integrity,
    }


def stored_rows(storage, sandbox_id: str) -> dict:
    """Every row of every world table of one sandbox, read from the database itself (rate
    windows and idempotency entries included, which no control call shows)."""
    with storage.sandbox_transaction(sandbox_id, write=False) as q:
        return {
            t: sorted(
                json.dumps(dict(r), sort_keys=True, default=str)
                for r in q.rows(f"SELECT * FROM {t} WHERE sandbox=?", (sandbox_id,))
            )
            for t in TABLES_TO_CLEAR
        }


def own_objects(sandbox) -> dict:
    """An organization, key and account of the sandbox's own, with ids no other sandbox has."""
    with sandbox.control() as c:
        org = c.create_organization("own")
        key = c.create_key(org["id"], [CONTRACT.required_scope], tier="partner")
        acc = c.create_account(org["id"], queued=3)
    return {
        "org": org["id"],
        "key": key["id"],
        "acc": acc["socialAccountId"],
        "sandbox": sandbox.id,
        "secret": key["secret"],
    }


def assert_envelope(r: httpx.Response, status: int, code: str, where: str) -> None:
    assert r.status_code == status, f"{where}: {r.status_code} {r.text[:300]}"
    err = r.json()["error"]
    assert err["code"] == code and err["message"] and err["requestId"], f"{where}: {r.text[:300]}"


def test_isolation_matrix(hosted, operator):
    a, b = new_sandbox(hosted.base_url, "A"), new_sandbox(hosted.base_url, "B")
    a_objects, b_objects = own_objects(a), own_objects(b)
    wrong = {"X-Mock-Admin-Token": "sbt_" + secrets.token_urlsafe(32)}
    matrix = []
    storage = open_storage(hosted.database)
    with httpx.Client(base_url=hosted.base_url, timeout=30) as http:

        def snapshot():
            listed = {s["sandboxId"] for s in operator.get(CONTROL_PREFIX + "/sandboxes").json()["sandboxes"]}
            assert {a.id, b.id} <= listed
            return (
                fingerprint(http, a, a_objects),
                fingerprint(http, b, b_objects),
                stored_rows(storage, a.id),
                stored_rows(storage, b.id),
            )

        for op, method, path, body in OPERATIONS:
            path_a, body_a = fill(path, a_objects), fill(body, a_objects)
            before = snapshot()
            row = {"operation": op}
            # Another sandbox's token, aimed at A.
            r = call(http, method, path_a, body_a, {**b.headers(), "X-Mock-Sandbox": a.id})
            assert_envelope(r, 403, "FORBIDDEN", f"{op} with B's token aimed at A")
            row["other token"] = r.status_code
            if op in NAMES_OBJECTS:
                # B's token naming A's account/key/organization: they do not exist in B's world.
                r = call(http, method, path_a, body_a, b.headers())
                assert r.status_code in (400, 404), f"{op} naming A's objects with B's token: {r.text[:300]}"
                assert r.json()["error"]["code"] in ("NOT_FOUND", "VALIDATION"), r.text
                row["other token, A's ids"] = r.status_code
            r = call(http, method, path_a, body_a, wrong)
            assert_envelope(r, 401, "UNAUTHENTICATED", f"{op} with a wrong token")
            row["wrong token"] = r.status_code
            r = call(http, method, path_a, body_a, {})
            assert_envelope(r, 401, "UNAUTHENTICATED", f"{op} with no token")
            row["no token"] = r.status_code
            if op in OPERATOR_ONLY:
                r = call(http, method, path_a, body_a, a.headers())  # a sandbox's own token: not the operator
                assert_envelope(r, 403, "FORBIDDEN", f"{op} with A's own token")
                row["sandbox's own token"] = r.status_code
            else:
                r = call(http, method, path_a, body_a, {"X-Mock-Admin-Token": OPERATOR})
                assert_envelope(r, 403, "FORBIDDEN", f"{op} with the operator token")
                row["operator token"] = r.status_code
            after = snapshot()
            assert after[0] == before[0], f"{op}: sandbox A changed (seen through its token)"
            assert after[1] == before[1], f"{op}: sandbox B changed (seen through its token)"
            assert after[2] == before[2], f"{op}: sandbox A's rows changed"
            assert after[3] == before[3], f"{op}: sandbox B's rows changed"
            matrix.append(row)
    storage.close()
    print(f"\nisolation matrix ({hosted.backend}):")
    for row in matrix:
        print("  " + "; ".join(f"{k}: {v}" for k, v in row.items()))
    assert len(matrix) == len(OPERATIONS)


def test_the_same_operations_work_with_the_sandbox_own_token(hosted):
    """The matrix's refusals are not a broken control plane: A's own token does each of them."""
    a = new_sandbox(hosted.base_url, "A")
    objects = own_objects(a)
    with httpx.Client(base_url=hosted.base_url, timeout=30) as http:
        for op, method, path, body in OPERATIONS:
            if op in OPERATOR_ONLY or op == "reset":
                continue
            r = call(http, method, fill(path, objects), fill(body, objects), a.headers())
            assert r.status_code in (200, 201), f"{op}: {r.status_code} {r.text[:300]}"
        r = call(http, "POST", "/reset", {}, a.headers())
        assert r.status_code == 200 and r.json()["counts"]["accounts"] == len(a.created["accounts"])


def revoke(http: httpx.Client, secret: str, account: str) -> httpx.Response:
    return http.delete(CONTRACT.path_for(account), headers={"Authorization": f"Bearer {secret}"})


@pytest.mark.parametrize("edge", ["fast", "connexion"])
def test_a_key_of_another_sandbox_gets_exactly_the_unknown_account_404(hosted, edge):
    a, b = new_sandbox(hosted.base_url, "A"), new_sandbox(hosted.base_url, "B")
    b_objects = own_objects(b)
    secret = a.key("write")["secret"]
    # A query string sends the request through Connexion's full stack instead of the fast edge.
    suffix = "" if edge == "fast" else "?"
    with httpx.Client(base_url=hosted.base_url, timeout=30) as http:

        def attempt(account):
            return http.delete(CONTRACT.path_for(account) + suffix, headers={"Authorization": f"Bearer {secret}"})

        cross = attempt(b_objects["acc"])
        unknown = attempt(f"sa_{uuid.uuid4()}")
        assert cross.status_code == unknown.status_code == CONTRACT.status_for_code("NOT_FOUND"), cross.text
        rid = CONTRACT.request_id_header
        assert cross.content.replace(cross.headers[rid].encode(), b"RID") == unknown.content.replace(
            unknown.headers[rid].encode(), b"RID"
        )
        strip = lambda r: sorted((k, v) for k, v in r.headers.items() if k.lower() not in (rid.lower(), "date"))  # noqa: E731
        assert strip(cross) == strip(unknown)
        # B's own key on the same account still revokes it: the 404 changed nothing there.
        own = revoke(http, b_objects["secret"], b_objects["acc"])
        assert own.status_code == CONTRACT.success_status and own.json()["canceledScheduledPosts"] == 3


def test_hosted_mode_serves_no_local_world_and_no_published_secret(hosted, default_world):
    """The default world's published secrets name no sandbox in hosted mode."""
    with httpx.Client(base_url=hosted.base_url, timeout=30) as http:
        for key in default_world["keys"]:
            r = revoke(http, key["secret"], CONTRACT.example_account_id)
            assert r.status_code == CONTRACT.status_for_code("UNAUTHENTICATED"), r.text


def test_every_sandbox_gets_its_own_secrets_and_a_reset_restores_them(hosted):
    a, b = new_sandbox(hosted.base_url, "A"), new_sandbox(hosted.base_url, "B")
    a_secrets = {k["label"]: k["secret"] for k in a.created["keys"]}
    b_secrets = {k["label"]: k["secret"] for k in b.created["keys"]}
    assert a_secrets.keys() == b_secrets.keys() and not set(a_secrets.values()) & set(b_secrets.values())
    with httpx.Client(base_url=hosted.base_url, timeout=30) as http:
        assert revoke(http, a_secrets["write"], CONTRACT.example_account_id).status_code == CONTRACT.success_status
        assert revoke(http, a_secrets["write"], CONTRACT.example_account_id).status_code == 404
        assert revoke(http, b_secrets["write"], CONTRACT.example_account_id).status_code == CONTRACT.success_status
        with a.control() as c:
            c.reset()
        assert revoke(http, a_secrets["write"], CONTRACT.example_account_id).status_code == CONTRACT.success_status
        # A key made with a chosen secret in a sandbox gets that sandbox's own secret instead.
        with a.control() as ca, b.control() as cb:
            org_a, org_b = ca.create_organization("x"), cb.create_organization("x")
            chosen = "lp_test_chosen_by_partner_123"
            ka = ca.create_key(org_a["id"], [CONTRACT.required_scope], secret=chosen)
            kb = cb.create_key(org_b["id"], [CONTRACT.required_scope], secret=chosen)
        assert ka["secret"] != chosen and kb["secret"] != chosen and ka["secret"] != kb["secret"]
        assert revoke(http, chosen, CONTRACT.example_account_id).status_code == 401


def test_a_sandbox_made_from_fixtures_resets_to_them(hosted, default_world):
    fixture = {
        "organizations": [default_world["organizations"][0]],
        "keys": [default_world["keys"][0]],
        "accounts": [default_world["accounts"][0]],
    }
    a = new_sandbox(hosted.base_url, "from fixture", fixture)
    assert len(a.created["accounts"]) == 1 and a.key("write")["secret"] != default_world["keys"][0]["secret"]
    with a.control() as c:
        c.create_account(default_world["organizations"][0]["id"])
        assert c.state()["counts"]["accounts"] == 2
        assert c.reset()["counts"]["accounts"] == 1


def test_local_mode_has_no_sandboxes(base_url):
    """Without --operator-token nothing changes for the single user; /sandboxes says how to turn it on."""
    with httpx.Client(base_url=base_url, timeout=30) as http:
        r = http.post(CONTROL_PREFIX + "/sandboxes", json={})
        assert_envelope(r, 403, "FORBIDDEN", "POST /sandboxes in local mode")
        assert "--operator-token" in r.json()["error"]["message"]
        assert http.get(CONTROL_PREFIX + "/state").status_code == 200


def test_a_database_used_locally_then_hosted_does_not_serve_its_local_world(tmp_path, default_world):
    """The local world's published secrets stay unknown in hosted mode even when the database
    still holds that world (Domain.hosted)."""
    from mock_control.launcher import MockProcess

    from .support import hosted_mock

    database = str(tmp_path / "both.sqlite3")
    secret = default_world["keys"][0]["secret"]
    with MockProcess(database=database) as local, httpx.Client(base_url=local.base_url, timeout=30) as http:
        assert revoke(http, secret, f"sa_{uuid.uuid4()}").status_code == 404  # a known key: past authentication
    with hosted_mock(database) as hosted, httpx.Client(base_url=hosted.base_url, timeout=30) as http:
        assert revoke(http, secret, CONTRACT.example_account_id).status_code == 401
        assert http.get(CONTROL_PREFIX + "/state").status_code == 401


def test_bad_sandbox_requests_get_a_clear_400_and_make_nothing(operator, default_world):
    org = default_world["organizations"][0]
    twice = {
        "organizations": [org],
        "keys": [
            {"organizationId": org["id"], "secret": "lp_test_twice_123456"},
            {"organizationId": org["id"], "secret": "lp_test_twice_123456"},
        ],
    }
    before = operator.get(CONTROL_PREFIX + "/sandboxes").json()["sandboxes"]
    for body in (
        {"fixtures": twice},
        {"fixtures": {"accounts": [{"organizationId": "org_nowhere"}]}},
        {"label": "x" * 201},
        {"unknown": 1},
        {"fixtures": []},
    ):
        r = operator.post(CONTROL_PREFIX + "/sandboxes", json=body)
        assert r.status_code == 400 and r.json()["error"]["code"], (body, r.text)
        assert "lp_test_twice" not in r.text
    assert operator.get(CONTROL_PREFIX + "/sandboxes").json()["sandboxes"] == before
    r = operator.delete(CONTROL_PREFIX + "/sandboxes/sbx_" + "0" * 16)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NOT_FOUND"
