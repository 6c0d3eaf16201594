"""Keys compared in constant time and never logged; another organization's accounts
indistinguishable from missing ones; the control plane refused off loopback without its
admin token and from web pages (Host, Origin, content type); the default bind is 127.0.0.1."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from contract import CONTRACT
from mock_control import ControlClient
from mock_control.launcher import MockProcess, free_port
from mock_server import cli
from mock_server.control import guard as control_guard
from mock_server.edge import middleware
from mock_server.storage import open_storage
from mock_server.storage import queries as store_module

from .support import NOT_FOUND, OK, REQUEST_TIMEOUT, bearer, make_tenant, raw_exchange, raw_request, revoke

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

REPO = Path(__file__).resolve().parents[2]
ADMIN_HEADER = "X-Mock-Admin-Token"


def _this_machines_non_loopback_ipv4() -> str | None:
    """An IPv4 address of one of this machine's own interfaces that is not loopback, if any.

    Only addresses we can bind to are returned: binding proves the address is this machine's,
    so connecting to it never leaves the host.
    """
    candidates = []
    if shutil.which("hostname"):
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=10).stdout
        candidates += out.split()
    for addr in candidates:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            continue
        if ip.version != 4 or ip.is_loopback:
            continue
        with socket.socket() as s:
            try:
                s.bind((addr, 0))
            except OSError:
                continue
        return addr
    return None


LOCAL_NON_LOOPBACK = _this_machines_non_loopback_ipv4()
needs_local_address = pytest.mark.skipif(
    LOCAL_NON_LOOPBACK is None, reason="this machine has no non-loopback IPv4 address"
)


# -- secrets are never logged, stored or compared naively ---------------------------------------
def test_keys_never_reach_the_journal_logs_or_state_file(tmp_path):
    state = tmp_path / "state.sqlite3"
    with (
        MockProcess(workers=1, state=str(state), extra_args=["--log-level", "debug"]) as mock,
        ControlClient(mock.base_url) as control,
    ):
        tenant = make_tenant(control, 2, queued_for=lambda i: 1, name="secrets")
        near_miss = tenant.secret[:-1] + ("A" if tenant.secret[-1] != "A" else "B")
        unknown = "lp_test_" + uuid.uuid4().hex
        secrets = [tenant.secret, near_miss, unknown]
        control.arm_fault("cancel_posts", 1, tenant.accounts[1])
        with httpx.Client(base_url=mock.base_url, timeout=REQUEST_TIMEOUT) as http:
            assert revoke(http, tenant.secret, tenant.accounts[0]).status == OK
            assert revoke(http, tenant.secret, tenant.accounts[1]).status == CONTRACT.status_for_code("INTERNAL")
            assert revoke(http, near_miss, tenant.accounts[1]).status == CONTRACT.status_for_code("UNAUTHENTICATED")
            assert revoke(http, unknown, tenant.accounts[1]).status == CONTRACT.status_for_code("UNAUTHENTICATED")
            http.delete(CONTRACT.path_for("sa_nope"), headers=bearer(tenant.secret))  # 400
            http.get("/v1/nowhere", headers=bearer(tenant.secret))  # 404 route
            http.request("PATCH", CONTRACT.path_for(tenant.accounts[0]), headers=bearer(tenant.secret))  # 405
        raw_exchange(
            mock.port,
            raw_request(
                CONTRACT.path_for(tenant.accounts[1]).encode(), [b"Authorization: Bearer " + tenant.secret.encode()] * 2
            ),
        )
        journal = control.journal(limit=1000)
        seen = json.dumps(journal) + json.dumps(control.state()) + json.dumps(control.integrity())
        log = mock.log_text()
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("state.sqlite3"))

    mine = [e for e in journal if e["keyId"] == tenant.key_id]
    assert len(mine) >= 3 and all(e["keyHint"] and e["keyHint"] != tenant.secret for e in mine)
    for secret in secrets:
        hidden = secret[len("lp_test_") + 4 :]  # whatever a hint may show, the rest never appears
        for where, text in (("journal/control plane", seen), ("log", log)):
            assert secret not in text and hidden not in text, f"a key leaked into the {where}"
        assert secret.encode() not in stored and hidden.encode() not in stored, "a key is stored in clear"


def test_key_check_uses_a_constant_time_compare(tmp_path, monkeypatch):
    """The store looks keys up by SHA-256 (no secret-dependent string compare in SQL) and
    confirms with hmac.compare_digest; the admin token is compared the same way."""
    calls = []
    real = store_module.hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(store_module.hmac, "compare_digest", spy)
    storage = open_storage(str(tmp_path / "s.sqlite3"))
    storage.prepare(None)
    with storage.transaction() as store:
        store.insert_organization({"id": "org_1", "name": "o"})
        store.insert_key(
            {
                "id": "key_1",
                "secret": "lp_test_secret_value",
                "organizationId": "org_1",
                "scopes": ["*"],
                "tier": "internal",
            }
        )
    with storage.snapshot() as store:
        assert store.caller_by_secret("lp_test_secret_value")["keyId"] == "key_1"
        assert calls and calls[-1] == (store_module.hash_secret("lp_test_secret_value"),) * 2
        assert store.caller_by_secret("lp_test_secret_valuX") is None
        assert "lp_test_secret_value" not in json.dumps([dict(r) for r in store.list_keys()])
    storage.close()

    calls.clear()
    monkeypatch.setattr(control_guard.hmac, "compare_digest", spy)
    status, called = _call_control_plane(("127.0.0.1", 1), admin_token="T0ken", sent=b"wrong")
    assert (status, called) == (401, False) and calls == [(b"wrong", b"T0ken")]


# -- cross-organization secrecy ---------------------------------------------------------------
def _shape(r: httpx.Response) -> tuple:
    body = r.json()
    names = sorted(k.lower() for k in r.headers if k.lower() != "date")
    return (
        r.status_code,
        sorted(body),
        sorted(body["error"]),
        body["error"]["code"],
        body["error"]["message"],
        names,
        r.headers["content-length"],
        r.headers.get(CONTRACT.replay_header),
    )


def test_other_organizations_accounts_look_exactly_like_missing_ones(multi_mock, multi_control):
    mine = make_tenant(multi_control, 2, queued_for=lambda i: 2, name="mine")
    theirs = make_tenant(multi_control, 1, queued_for=lambda i: 3, name="theirs")
    (their_account,) = theirs.accounts
    with httpx.Client(base_url=multi_mock.base_url, timeout=REQUEST_TIMEOUT) as http:
        assert revoke(http, mine.secret, mine.accounts[0]).status == OK  # now already disconnected

        def attempt(account, idem=None):
            headers = bearer(mine.secret)
            if idem:
                headers[CONTRACT.idempotency_header] = idem
            return http.delete(CONTRACT.path_for(account), headers=headers)

        missing_id = f"sa_{uuid.uuid4()}"
        for idem in (None, "probe-1"):
            other = attempt(their_account, idem and idem + "a")
            missing = attempt(missing_id, idem and idem + "b")
            gone = attempt(mine.accounts[0], idem and idem + "c")
            assert other.status_code == NOT_FOUND
            assert _shape(other) == _shape(missing) == _shape(gone)
        # The same keys again: replayed 404s, alike too.
        replays = [
            attempt(their_account, "probe-1a"),
            attempt(missing_id, "probe-1b"),
            attempt(mine.accounts[0], "probe-1c"),
        ]
        assert all(r.headers.get(CONTRACT.replay_header) == "true" for r in replays)
        assert _shape(replays[0]) == _shape(replays[1]) == _shape(replays[2])
        # No side effect on their account, and their own key still revokes it.
        view = multi_control.account(their_account)
        assert view["status"] != CONTRACT.success_enum("status") and view["postCounts"]["queued"] == 3
        ok = revoke(http, theirs.secret, their_account)
        assert ok.status == OK and ok.body["canceledScheduledPosts"] == 3


# -- the control plane guard --------------------------------------------------------------------
def _call_control_plane(client, *, admin_token=None, sent=None, path="/_mock/state") -> tuple[int, bool]:
    """Drive RequestContextMiddleware in-process with an ASGI scope from `client`."""
    called = []

    async def inner(scope, receive, send):
        called.append(True)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    sent_messages = []

    async def send(message):
        sent_messages.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    headers = [(b"host", b"127.0.0.1:4010")]
    if sent is not None:
        headers.append((b"x-mock-admin-token", sent))
    scope = {"type": "http", "method": "GET", "path": path, "headers": headers, "client": client, "query_string": b""}
    mw = middleware.RequestContextMiddleware(inner, storage=None, admin_token=admin_token)
    asyncio.run(mw(scope, receive, send))
    start = sent_messages[0]
    if start["status"] >= 400:
        body = json.loads(sent_messages[1]["body"])
        assert set(body) == {"error"} and body["error"]["requestId"]
    return start["status"], bool(called)


@pytest.mark.parametrize(
    "client", [("192.0.2.10", 5000), ("10.1.2.3", 1), ("::ffff:8.8.8.8", 1), ("2001:db8::1", 1), None, ("not-an-ip", 1)]
)
def test_control_plane_refuses_non_loopback_clients_in_process(client):
    status, called = _call_control_plane(client)
    assert status == 403 and not called


@pytest.mark.parametrize("client", [("127.0.0.1", 1), ("127.8.9.10", 1), ("::1", 1)])
def test_control_plane_answers_loopback_clients_in_process(client):
    assert _call_control_plane(client) == (200, True)


@pytest.mark.parametrize("client", [("127.0.0.1", 1), ("192.0.2.10", 1)])
def test_admin_token_is_required_everywhere_once_set(client):
    assert _call_control_plane(client, admin_token="s3cret") == (401, False)
    assert _call_control_plane(client, admin_token="s3cret", sent=b"s3cre") == (401, False)
    assert _call_control_plane(client, admin_token="s3cret", sent=b"s3cret") == (200, True)


class _TokenMockProcess(MockProcess):
    """MockProcess whose readiness probe sends the admin token (the stock one cannot)."""

    def __init__(self, token: str, **kw):
        super().__init__(extra_args=["--admin-token", token], **kw)
        self.token = token

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log_text())
            try:
                if (
                    httpx.get(
                        self.base_url + "/_mock/clock", headers={ADMIN_HEADER: self.token}, timeout=1.0
                    ).status_code
                    == 200
                ):
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(self.log_text())


@needs_local_address
def test_control_plane_over_a_real_non_loopback_interface():
    """Bound to 0.0.0.0 and reached through this machine's own non-loopback address: the API
    answers, the control plane refuses."""
    with MockProcess(host="0.0.0.0") as mock:
        outside = f"http://{LOCAL_NON_LOOPBACK}:{mock.port}"
        with httpx.Client(base_url=outside, timeout=REQUEST_TIMEOUT) as http:
            refused = http.get("/_mock/state")
            reset = http.post("/_mock/reset", json={"world": "empty"})
            api = http.delete(CONTRACT.path_for(f"sa_{uuid.uuid4()}"))
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
        assert reset.status_code == 403
        assert api.status_code == CONTRACT.status_for_code("UNAUTHENTICATED")  # the API itself is open
        with ControlClient(f"http://127.0.0.1:{mock.port}") as control:  # loopback still works
            assert control.state()["counts"]["organizations"] > 0  # and the reset never ran


def test_admin_token_over_real_http():
    token = "adm_" + uuid.uuid4().hex
    host = "0.0.0.0" if LOCAL_NON_LOOPBACK else "127.0.0.1"
    with _TokenMockProcess(token, host=host) as mock:
        targets = [f"http://127.0.0.1:{mock.port}"] + (
            [f"http://{LOCAL_NON_LOOPBACK}:{mock.port}"] if LOCAL_NON_LOOPBACK else []
        )
        for base in targets:
            with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT) as http:
                assert http.get("/_mock/state").status_code == 401
                assert http.get("/_mock/state", headers={ADMIN_HEADER: token[:-1]}).status_code == 401
                assert http.get("/_mock/state", headers={ADMIN_HEADER: token}).status_code == 200
            with ControlClient(base, admin_token=token) as control:
                assert control.integrity()["ok"]
        assert token not in mock.log_text()


# -- the default bind ---------------------------------------------------------------------------
def test_default_bind_is_loopback():
    assert cli.parse_args([]).host == "127.0.0.1"
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server.cli", "--port", str(port), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "layers-mock did not start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/_mock/clock", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        if LOCAL_NON_LOOPBACK:
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://{LOCAL_NON_LOOPBACK}:{port}/_mock/clock", timeout=5)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)


# -- a web page cannot reach the control plane (issue 14) ---------------------------------------
# DNS rebinding: a page from evil.example, whose name the attacker then resolves to 127.0.0.1,
# talks to the mock "same-origin": every request carries Host: evil.example. Raw requests here;
# the cross-origin page in a real browser is tests/reliability/test_browser_control_plane.py.
REBOUND_CALLS = [
    ("GET", "/_mock/state", None),
    ("POST", "/_mock/keys", {"organizationId": "ORG"}),
    ("PUT", "/_mock/kill-switches", {"scope": "global", "enabled": True}),
    ("POST", "/_mock/reset", {"world": "empty"}),
    ("POST", "/_mock/faults", {}),
    ("PUT", "/_mock/clock", {"advanceSeconds": 86400}),
    ("DELETE", "/_mock/faults", None),
]


def _control_state(control: ControlClient) -> dict:
    state = control.state()
    clock = state.pop("clock")
    return {**state, "clock": (clock["frozen"], round(clock["offsetSeconds"]))}


@pytest.fixture(scope="module")
def guarded_mock(tmp_path_factory):
    state = tmp_path_factory.mktemp("guard") / "state.sqlite3"
    with MockProcess(
        state=str(state), extra_args=["--allowed-host", "mock.test", "--allowed-host", ".team.test"]
    ) as mock:
        yield mock


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:4010",
        "EVIL.example.",
        "localhost.evil.example",
        "127.0.0.1.nip.io",
        "sub.mock.test",
        "team.test.evil.example",
        "mock.test.evil",
    ],
)
def test_rebound_host_names_reach_nothing_on_the_control_plane(guarded_mock, host):
    with ControlClient(guarded_mock.base_url) as control:
        before = _control_state(control)
        org = before["organizations"][0]["id"]
        with httpx.Client(base_url=guarded_mock.base_url, timeout=REQUEST_TIMEOUT) as http:
            for method, path, body in REBOUND_CALLS:
                if body is not None and "organizationId" in body:
                    body = {"organizationId": org}
                r = http.request(method, path, json=body, headers={"Host": host})
                assert r.status_code == 403, (host, method, path, r.status_code, r.text[:200])
                err = r.json()["error"]
                assert err["code"] == "FORBIDDEN" and "--allowed-host" in err["message"]
                assert "secret" not in r.text
        assert _control_state(control) == before
        # The API answers under any Host name, as before (partners point apps at the mock).
        api = httpx.delete(
            guarded_mock.base_url + CONTRACT.path_for(f"sa_{uuid.uuid4()}"),
            headers={"Host": host},
            timeout=REQUEST_TIMEOUT,
        )
        assert api.status_code == CONTRACT.status_for_code("UNAUTHENTICATED")


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST",
        "localhost.",
        "app.localhost",
        "127.0.0.1",
        "127.9.9.9",
        "[::1]",
        "10.0.0.5",
        "mock.test",
        "team.test",
        "a.b.team.test",
    ],
)
def test_local_ip_and_allowed_host_names_are_served(guarded_mock, host):
    with httpx.Client(base_url=guarded_mock.base_url, timeout=REQUEST_TIMEOUT) as http:
        for value in (host, f"{host}:{guarded_mock.port}"):
            r = http.get("/_mock/state", headers={"Host": value})
            assert r.status_code == 200, (value, r.text[:200])
        r = http.post("/_mock/faults", json={}, headers={"Host": host})
        assert r.status_code == 201, r.text
        http.delete("/_mock/faults", headers={"Host": host})


def test_allowed_hosts_from_the_environment(tmp_path):
    with (
        MockProcess(env={"LAYERS_MOCK_ALLOWED_HOSTS": "compose-mock, .svc.test"}) as mock,
        httpx.Client(base_url=mock.base_url, timeout=REQUEST_TIMEOUT) as http,
    ):
        assert http.get("/_mock/state", headers={"Host": "compose-mock:4010"}).status_code == 200
        assert http.get("/_mock/state", headers={"Host": "mock.svc.test"}).status_code == 200
        assert http.get("/_mock/state", headers={"Host": "other"}).status_code == 403


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:1",
        "http://localhost:{port}0",
        "null",
        "https://evil.example",
        "http://evil.example:{port}",
        "file://",
        "http://127.0.0.1:{port}.evil.example",
    ],
)
def test_other_origins_change_nothing(guarded_mock, origin):
    origin = origin.format(port=guarded_mock.port)
    with ControlClient(guarded_mock.base_url) as control:
        before = _control_state(control)
        with httpx.Client(base_url=guarded_mock.base_url, timeout=REQUEST_TIMEOUT) as http:
            for method, path, body in REBOUND_CALLS:
                body = (
                    {"organizationId": before["organizations"][0]["id"]} if body and "organizationId" in body else body
                )
                r = http.request(method, path, json=body, headers={"Origin": origin})
                assert r.status_code == 403 and "origin" in r.json()["error"]["message"], (origin, path, r.text)
        assert _control_state(control) == before


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_sec_fetch_site_from_another_site_is_refused(guarded_mock, site):
    """A GET from a page (an <img>, a no-cors fetch) carries no Origin, but Sec-Fetch-Site."""
    r = httpx.get(guarded_mock.base_url + "/_mock/state", headers={"Sec-Fetch-Site": site}, timeout=REQUEST_TIMEOUT)
    assert r.status_code == 403
    ok = httpx.get(
        guarded_mock.base_url + "/_mock/state", headers={"Sec-Fetch-Site": "same-origin"}, timeout=REQUEST_TIMEOUT
    )
    assert ok.status_code == 200


@pytest.mark.parametrize("origin", ["http://127.0.0.1:{port}", "http://localhost:{port}"])
def test_the_mocks_own_origin_is_served(guarded_mock, origin):
    """A page the mock serves itself (its docs, Swagger UI) is its own origin."""
    host = origin.format(port=guarded_mock.port).split("//", 1)[1]
    r = httpx.post(
        guarded_mock.base_url + "/_mock/faults",
        json={},
        timeout=REQUEST_TIMEOUT,
        headers={"Origin": origin.format(port=guarded_mock.port), "Host": host},
    )
    assert r.status_code == 201, r.text
    httpx.delete(guarded_mock.base_url + "/_mock/faults", timeout=REQUEST_TIMEOUT)


def test_no_cors_headers_anywhere(guarded_mock):
    """Still no CORS: a preflight gets no Access-Control-Allow-* header, so a browser never sends
    the JSON call it asked about."""
    for path in ("/_mock/reset", "/_mock/state", CONTRACT.path_for(f"sa_{uuid.uuid4()}")):
        r = httpx.options(
            guarded_mock.base_url + path,
            timeout=REQUEST_TIMEOUT,
            headers={
                "Origin": "http://127.0.0.1:1",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert not [h for h in r.headers if h.lower().startswith("access-control-")], (path, dict(r.headers))


@pytest.mark.parametrize(
    "value,expected",
    [
        ("localhost", ("localhost", "")),
        ("LocalHost:4010", ("localhost", "4010")),
        ("[::1]:80", ("::1", "80")),
        ("[::1]", ("::1", "")),
        ("example.test.:8080", ("example.test", "8080")),
    ],
)
def test_split_host(value, expected):
    assert control_guard.split_host(value) == expected
