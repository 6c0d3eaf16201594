"""Every control-plane input has a bound, tested at and just past it (issue 14).

Past a bound: a 400 (413 for the body size, 415 for the content type) in the envelope with a
message that says which bound, nothing changed, and the mock still serves. At the bound: the
call succeeds. Bounds are read from where they are written (control.yaml through
`contract.control.CONTROL`, and `core.bounds`), never retyped here.
"""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
import yaml

from contract import CONTRACT
from contract.control import CONTROL, CONTROL_PREFIX, CONTROL_SPEC
from mock_control import ControlClient
from mock_server.core import bounds as control_bounds

from .support import NOT_FOUND, REQUEST_TIMEOUT, bearer

S = CONTROL.schemas
VALIDATION = CONTRACT.status_for_code("VALIDATION")
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def mock(make_mock):
    """A mock of this module's own (in-process, on a SQLite file): these tests move its clock and
    reset it. Nothing here is about processes: the bounds are the app's."""
    return make_mock("sqlite")


@pytest.fixture
def http(mock):
    with mock.client(base_url=mock.base_url + CONTROL_PREFIX, timeout=REQUEST_TIMEOUT) as client:
        yield client


@pytest.fixture
def control(mock):
    with mock.control() as client:
        yield client


@pytest.fixture(scope="module")
def world(mock):
    """An organization, a key and an account of this module's own."""
    with mock.control() as control:
        org = control.create_organization("bounds")
        key = control.create_key(org["id"], [CONTRACT.required_scope], tier="standard")
        acc = control.create_account(org["id"], queued=2)
    return {"org": org["id"], "key": key["id"], "secret": key["secret"], "account": acc["socialAccountId"]}


def refused(r: httpx.Response, status: int = VALIDATION, says: str | None = None) -> dict:
    """The envelope, its request id echoed, the status expected, a message of bounded size."""
    assert r.status_code == status, (r.status_code, r.text[:300])
    body = r.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert err["requestId"] == r.headers[CONTRACT.request_id_header]
    assert isinstance(err["message"], str) and 0 < len(err["message"]) < 1000, len(err["message"])
    if says is not None:
        assert says in err["message"], err["message"]
    return err


def snapshot(control: ControlClient) -> dict:
    state = control.state()
    clock = state.pop("clock")
    return {**state, "clock": (clock["frozen"], round(clock["offsetSeconds"]))}


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# -- content type -----------------------------------------------------------------------------
STATE_CHANGING = [
    ("POST", "/reset"),
    ("POST", "/fixtures"),
    ("POST", "/organizations"),
    ("POST", "/keys"),
    ("POST", "/accounts"),
    ("POST", "/posts"),
    ("PUT", "/kill-switches"),
    ("POST", "/faults"),
    ("PUT", "/clock"),
    ("PUT", "/keys/key_x/budget"),
]


@pytest.mark.parametrize("method,path", STATE_CHANGING)
@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx"],
)
def test_state_changing_calls_need_the_json_content_type(http, control, method, path, content_type):
    before = snapshot(control)
    headers = {"Content-Type": content_type} if content_type else {}
    r = http.request(method, path, content=b'{"world": "empty", "name": "x"}', headers=headers)
    refused(r, 415, "application/json")
    assert snapshot(control) == before


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON"])
def test_json_with_parameters_or_any_case_is_json(http, content_type):
    r = http.post("/faults", content=b"{}", headers={"Content-Type": content_type})
    assert r.status_code == 201, r.text
    http.delete("/faults")


def test_an_empty_json_body_means_the_defaults(http):
    assert http.post("/faults", headers=JSON).status_code == 201
    assert http.post("/faults", content=b"{}", headers=JSON).status_code == 201
    assert len(http.get("/faults").json()) == 2
    http.delete("/faults")


# -- body size --------------------------------------------------------------------------------
def _padded(doc: bytes, size: int) -> bytes:
    return doc + b" " * (size - len(doc))


def test_body_at_the_size_bound_is_read(http):
    r = http.post("/faults", content=_padded(b"{}", control_bounds.MAX_BODY_BYTES), headers=JSON)
    assert r.status_code == 201, r.text
    http.delete("/faults")


def test_body_past_the_size_bound_is_413(http, control):
    before = snapshot(control)
    refused(
        http.post("/faults", content=_padded(b"{}", control_bounds.MAX_BODY_BYTES + 1), headers=JSON),
        413,
        f"{control_bounds.MAX_BODY_BYTES:,} bytes",
    )

    def chunks():  # chunked, no Content-Length: counted while it arrives
        for _ in range(control_bounds.MAX_BODY_BYTES // 65536 + 2):
            yield b" " * 65536

    refused(http.post("/faults", content=chunks(), headers=JSON), 413)
    refused(http.post("/organizations", json={"name": "n" * 10_000_000}), 413)  # the 10 MB name
    assert snapshot(control) == before


# -- nesting ----------------------------------------------------------------------------------
def test_json_at_the_depth_bound_reaches_the_schema(http):
    """32 levels pass the depth check; the schema then says what is wrong with the value."""
    body = b'{"world": ' + nested(control_bounds.MAX_JSON_DEPTH - 1) + b"}"
    err = refused(http.post("/reset", content=body, headers=JSON))
    assert "nested" not in err["message"] and "world" in err["message"]


@pytest.mark.parametrize("depth", [control_bounds.MAX_JSON_DEPTH + 1, 1_000, 100_000])
@pytest.mark.parametrize(
    "method,path",
    [
        ("POST", "/reset"),
        ("POST", "/fixtures"),
        ("POST", "/organizations"),
        ("PUT", "/clock"),
        ("POST", "/keys"),
        ("POST", "/accounts"),
    ],
)
def test_json_past_the_depth_bound_is_400_before_parsing(http, control, method, path, depth):
    before = snapshot(control)
    for body in (nested(depth), b'{"name": ' + nested(depth - 1) + b"}"):
        refused(
            http.request(method, path, content=body, headers=JSON), says=f"deeper than {control_bounds.MAX_JSON_DEPTH}"
        )
    assert snapshot(control) == before


def test_brackets_inside_strings_do_not_count(http, control, world):
    name = "[" * 150
    r = http.post("/organizations", json={"name": name})
    assert r.status_code == 201 and r.json()["name"] == name


# -- numbers ----------------------------------------------------------------------------------
@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e308", b"-1e12", b"1e999", b"1" + b"0" * 40])
def test_clock_advance_out_of_range_is_400(http, control, literal):
    before = snapshot(control)
    refused(http.put("/clock", content=b'{"advanceSeconds": ' + literal + b"}", headers=JSON))
    assert snapshot(control) == before


def test_clock_advance_at_and_past_its_schema_bound(http, control):
    maximum = _clock_schema()["advanceSeconds"]["maximum"]
    # At the schema's bound the value is accepted by the schema, then refused by the clock's range.
    refused(http.put("/clock", json={"advanceSeconds": maximum}), says="clock must stay between")
    refused(http.put("/clock", json={"advanceSeconds": maximum + 1}), says="maximum")
    minimum = _clock_schema()["advanceSeconds"]["minimum"]
    refused(http.put("/clock", json={"advanceSeconds": minimum}), says="clock must stay between")
    refused(http.put("/clock", json={"advanceSeconds": minimum - 1}), says="minimum")


def _clock_schema() -> dict:
    spec = yaml.safe_load(CONTROL_SPEC.read_text())
    return spec["paths"]["/clock"]["put"]["requestBody"]["content"]["application/json"]["schema"]["properties"]


@pytest.mark.parametrize(
    "now,ok",
    [
        ("1999-12-31T23:59:59Z", False),
        ("2000-01-01T00:00:00Z", True),
        ("2999-12-31T23:59:59Z", True),
        ("3000-01-01T00:00:00Z", False),
        ("9999-12-31T00:00:00Z", False),
        ("0001-01-01T00:00:00Z", False),
    ],
)
def test_clock_range_and_revokes_after_it(mock, http, control, world, now, ok):
    r = http.put("/clock", json={"now": now, "frozen": True})
    try:
        if not ok:
            refused(r, says="clock must stay between")
            return
        assert r.status_code == 200, r.text
        # At either end of the range the API still answers as documented (no 500).
        with mock.client(timeout=REQUEST_TIMEOUT) as api:
            missing = api.delete(CONTRACT.path_for(f"sa_{uuid.uuid4()}"), headers=bearer(world["secret"]))
            assert missing.status_code == NOT_FOUND, missing.text
    finally:
        http.put("/clock", json={"now": "2026-01-01T00:00:00Z", "frozen": False})


def test_after_a_clock_at_the_far_end_a_real_revoke_succeeds(mock, http, control, world):
    org = world["org"]
    acc = control.create_account(org, queued=1)["socialAccountId"]
    assert http.put("/clock", json={"now": "2999-12-31T23:59:59Z", "frozen": True}).status_code == 200
    try:
        with mock.client(timeout=REQUEST_TIMEOUT) as api:
            r = api.delete(CONTRACT.path_for(acc), headers=bearer(world["secret"]))
        assert r.status_code == CONTRACT.success_status, r.text
    finally:
        http.put("/clock", json={"now": "2026-01-01T00:00:00Z", "frozen": False})


def test_faults_count_at_and_past_its_bound(http, control):
    maximum = 1_000_000
    assert http.post("/faults", json={"count": maximum}).status_code == 201
    http.delete("/faults")
    before = snapshot(control)
    for count in (maximum + 1, 2**63, 2**70, 0):
        refused(http.post("/faults", json={"count": count}))
    assert snapshot(control) == before


def test_journal_after_at_and_past_its_bound(http):
    assert http.get("/journal", params={"after": 2**53 - 1}).status_code == 200
    for after in (2**53, 2**63, 2**70, -1):
        refused(http.get("/journal", params={"after": after}))


def test_post_limit_at_and_past_its_bound(http, world):
    assert http.get(f"/accounts/{world['account']}", params={"postLimit": 10_000}).status_code == 200
    for limit in (10_001, 2**63, 2**70, -1):
        refused(http.get(f"/accounts/{world['account']}", params={"postLimit": limit}))


def test_budget_at_and_past_its_bound(http, world):
    assert http.put(f"/keys/{world['key']}/budget", json={"remaining": 10**9}).status_code == 200
    for remaining in (10**9 + 1, 2**70, -1):
        refused(http.put(f"/keys/{world['key']}/budget", json={"remaining": remaining}))


# -- posts ------------------------------------------------------------------------------------
def test_account_posts_past_the_bound_are_refused_at_once(http, control, world):
    before = snapshot(control)
    cap = control_bounds.MAX_POSTS_PER_CALL
    refused(http.post("/accounts", json={"organizationId": world["org"], "posts": {"queued": 2**63}}), says="maximum")
    refused(http.post("/accounts", json={"organizationId": world["org"], "posts": {"queued": cap + 1}}), says="maximum")
    # Each status within its bound, the sum past it: refused before a single row is written.
    refused(
        http.post("/accounts", json={"organizationId": world["org"], "posts": {"queued": cap, "draft": 1}}),
        says=f"at most {cap:,} posts",
    )
    fixture = {"accounts": [{"organizationId": world["org"], "posts": {"queued": cap // 2 + 1}}] * 2}
    refused(http.post("/fixtures", json=fixture), says=f"at most {cap:,} posts")
    refused(http.post("/posts", json={"socialAccountId": world["account"], "status": "queued", "count": cap + 1}))
    assert snapshot(control) == before


def test_posts_at_the_bound_are_accepted_by_the_bound_check():
    """At the bound itself (creating 1,000,000 posts takes ~15 s here, so not over HTTP)."""
    assert control_bounds.posts_problem(control_bounds.MAX_POSTS_PER_CALL) is None
    assert control_bounds.posts_problem(control_bounds.MAX_POSTS_PER_CALL + 1)


# -- sizes of strings and lists ---------------------------------------------------------------
def _at_and_past(schema_name: str) -> tuple[int, int]:
    n = S[schema_name]["maxLength"]
    return n, n + 1


def test_organization_name_at_and_past_its_bound(http, control):
    at, past = _at_and_past("Name")
    assert http.post("/organizations", json={"name": "n" * at}).status_code == 201
    before = snapshot(control)
    refused(http.post("/organizations", json={"name": "n" * past}), says="too long")
    refused(http.post("/organizations", json={"name": ""}))
    assert snapshot(control) == before


def test_ids_at_and_past_their_bound(http, control, world):
    at, past = _at_and_past("Id")
    assert http.post("/organizations", json={"id": "o" * at}).status_code == 201
    for call in (
        lambda: http.post("/organizations", json={"id": "p" * past}),
        lambda: http.post("/keys", json={"organizationId": "o" * past}),
        lambda: http.post("/accounts", json={"organizationId": "o" * past}),
        lambda: http.put("/kill-switches", json={"scope": "key", "enabled": True, "target": "k" * past}),
        lambda: http.post("/faults", json={"socialAccountId": "s" * past}),
        lambda: http.post("/posts", json={"socialAccountId": "s" * past, "status": "queued"}),
        lambda: http.get("/accounts/" + "s" * past),
        lambda: http.put(f"/keys/{'k' * past}/budget", json={"remaining": 1}),
    ):
        refused(call(), says="too long")


def test_key_label_and_scopes_at_and_past_their_bounds(http, world):
    at, past = _at_and_past("Text")
    items = S["Scopes"]["maxItems"]
    scope_len = S["Scopes"]["items"]["maxLength"]
    ok = http.post(
        "/keys",
        json={
            "organizationId": world["org"],
            "label": "l" * at,
            "scopes": [f"s{i}" for i in range(items - 1)] + ["x" * scope_len],
        },
    )
    assert ok.status_code == 201, ok.text
    refused(http.post("/keys", json={"organizationId": world["org"], "label": "l" * past}), says="too long")
    refused(
        http.post("/keys", json={"organizationId": world["org"], "scopes": [f"s{i}" for i in range(items + 1)]}),
        says="too long",
    )
    refused(
        http.post("/keys", json={"organizationId": world["org"], "scopes": ["x" * (scope_len + 1)]}), says="too long"
    )


def test_handle_at_and_past_its_bound(http, world):
    at, past = _at_and_past("Handle")
    ok = http.post("/accounts", json={"organizationId": world["org"], "handle": "h" * at})
    assert ok.status_code == 201, ok.text
    refused(http.post("/accounts", json={"organizationId": world["org"], "handle": "h" * past}), says="too long")


def test_fixture_lists_at_and_past_their_bound(http, control):
    n = S["FixtureList"]["maxItems"]
    statuses = CONTRACT.documented_statuses

    def accounts(count):
        return [{"id": f"sa_{uuid.uuid4()}", "status": statuses[i % len(statuses)]} for i in range(count)]

    before = snapshot(control)
    refused(http.post("/fixtures", json={"testAccounts": accounts(n + 1)}), says="too long")
    assert snapshot(control) == before
    at = http.post("/fixtures", json={"testAccounts": accounts(n)})
    assert at.status_code == 201, at.text[:300]
    assert len(control.state()["testAccounts"]) == len(before["testAccounts"]) + n


def test_fixture_strings_share_the_control_bounds(http, control):
    _, past = _at_and_past("Name")
    refused(http.post("/fixtures", json={"organizations": [{"name": "n" * past}]}), says="too long")


def test_after_all_of_it_the_world_is_sound(control):
    assert control.integrity()["ok"]
    json.dumps(control.state())  # and it still reads back


# -- the raw-bytes check itself -----------------------------------------------------------------
@pytest.mark.parametrize(
    "body,problem",
    [
        (b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', None),  # brackets in a string
        (b'{"a": "\\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}', None),  # after an escaped quote
        (b'{"a": "NaN Infinity 1234567890123456789012345678901234567890"}', None),
        (b"[" * 32 + b"]" * 32, None),
        (b"[" * 33 + b"]" * 33, "deeper"),
        (b'{"a": [' + b"{}," * 100_000 + b"{}]}", None),  # wide, not deep
        (b'{"n": -Infinity}', "NaN"),
        (b'{"n": 1' + b"0" * 32 + b"}", "digits"),
        (b'{"n": 1' + b"0" * 31 + b"}", None),
        ('{"s": "é"}'.encode("utf-16"), "UTF-8"),
        (b'{"s": "' + bytes([0xFF]) + b'"}', "UTF-8"),
        ('{"s": "é"}'.encode(), None),
    ],
)
def test_json_text_problem(body, problem):
    found = control_bounds.json_text_problem(body)
    assert (found is None) if problem is None else (problem in found), found
