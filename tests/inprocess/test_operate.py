"""The probes and metrics for whoever hosts the mock (issue 20): `/_mock/health`, `/_mock/ready`
and `/_mock/metrics` answer any client address without a token, in local and hosted mode, and
still refuse web pages (the guard's Host and Origin rules); ready says 503 with the reason when
the database holds another schema or does not answer; metrics are Prometheus' text format."""

from __future__ import annotations

import sqlite3
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from contract import CONTRACT
from contract.control import CONTROL, CONTROL_PREFIX
from mock_server.storage import SCHEMA_VERSION, StorageFault
from tests.conftest import InProcessMock, PortalTransport

PROBES = sorted(CONTROL.probe_paths)
REMOTE = ("10.1.2.3", 51234)  # a kubelet or a scraper: not loopback


def remote_client(mock: InProcessMock, **kwargs) -> httpx.Client:
    """A client whose address is not loopback (the ASGI scope's `client`), as a probe's is."""
    transport = PortalTransport(mock.transport.portal, mock.app)
    transport.asgi = httpx.ASGITransport(app=mock.app, client=REMOTE)
    return httpx.Client(transport=transport, base_url=mock.base_url, **kwargs)


@pytest.fixture
def remote(make_mock):
    mock = make_mock("sqlite")
    with remote_client(mock) as client:
        yield client


def test_probes_are_the_three_operate_operations():
    assert [CONTROL_PREFIX + p for p in ("/health", "/metrics", "/ready")] == PROBES


def test_health_and_ready_answer_off_loopback_without_a_token(remote):
    health = remote.get(CONTROL_PREFIX + "/health")
    assert health.status_code == 200 and health.json() == {"status": "live"}
    ready = remote.get(CONTROL_PREFIX + "/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "backend": "sqlite", "schemaVersion": SCHEMA_VERSION}
    # The rest of the control plane still refuses the same client (the probes open nothing else).
    assert remote.get(CONTROL_PREFIX + "/state").status_code == 403
    assert remote.post(CONTROL_PREFIX + "/reset", json={}).status_code == 403


def test_probes_need_no_admin_token_but_the_rest_does(make_mock):
    mock = make_mock("sqlite", admin_token="admin-token-of-the-probe-test")
    with remote_client(mock) as c:
        for path in PROBES:
            assert c.get(path).status_code == 200, path
        assert c.get(CONTROL_PREFIX + "/state").status_code == 401


def test_probes_answer_in_hosted_mode_without_a_token(hosted_mock):
    with remote_client(hosted_mock) as c:
        for path in PROBES:
            assert c.get(path).status_code == 200, path
        assert c.get(CONTROL_PREFIX + "/state").status_code == 401  # a sandbox's call still needs its token


@pytest.mark.parametrize("path", PROBES)
@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Host": "evil.example"},  # DNS rebinding
        {"Sec-Fetch-Site": "cross-site"},
    ],
    ids=["foreign-origin", "null-origin", "rebound-host", "cross-site"],
)
def test_web_pages_cannot_reach_the_probes(remote, path, headers):
    r = remote.get(path, headers=headers)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "FORBIDDEN"


def test_ready_is_503_when_the_schema_is_not_current(make_mock, tmp_path):
    mock = make_mock("sqlite")
    path = mock.app.storage.path
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value=? WHERE name='schema_version'", (str(SCHEMA_VERSION - 1),))
    with mock.client() as c:
        r = c.get(CONTROL_PREFIX + "/ready")
        assert r.status_code == 503, r.text
        error = r.json()["error"]
        assert error["code"] == "NOT_READY" and error["details"] == {"reason": "schema not current"}
        assert c.get(CONTROL_PREFIX + "/health").status_code == 200  # live all the same
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value=? WHERE name='schema_version'", (str(SCHEMA_VERSION),))
    with mock.client() as c:
        assert c.get(CONTROL_PREFIX + "/ready").status_code == 200


@pytest.mark.parametrize(
    ("raised", "reason"),
    [
        (StorageFault("database unreachable", "no connection"), "database unreachable"),
        (StorageFault("timed out", "statement timeout"), "timed out"),
        (OSError("connection refused"), "database unreachable"),  # a driver's own error
    ],
)
def test_ready_is_503_naming_why_the_database_did_not_answer(make_mock, monkeypatch, caplog, raised, reason):
    mock = make_mock("sqlite")

    def fails():
        raise raised

    monkeypatch.setattr(mock.app.storage, "schema_version", fails)
    with mock.client() as c:
        r = c.get(CONTROL_PREFIX + "/ready")
    assert r.status_code == 503, r.text
    assert r.json()["error"]["details"] == {"reason": reason}
    assert "connection refused" not in caplog.text  # a driver's message (it may hold a URL) is not logged


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_requests_by_route_template_and_status(make_mock, keys):
    mock = make_mock("sqlite")
    with mock.client() as c:
        before = _samples(c.get(CONTROL_PREFIX + "/metrics").text)
        auth = {"Authorization": f"Bearer {keys['write']['secret']}"}
        assert c.delete(CONTRACT.path_for(CONTRACT.example_account_id), headers=auth).status_code == 200
        assert c.delete(CONTRACT.path_for(CONTRACT.example_account_id), headers=auth).status_code == 404
        assert c.get(CONTROL_PREFIX + "/accounts/" + CONTRACT.example_account_id).status_code == 200
        assert c.request("BREW", "/no/such/route").status_code in (404, 405)
        r = c.get(CONTROL_PREFIX + "/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    after = _samples(r.text)

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    api = {"route": CONTRACT.route, "method": "DELETE"}
    assert delta("layers_mock_requests_total", **api, status="200") == 1
    assert delta("layers_mock_requests_total", **api, status="404") == 1
    account = CONTROL_PREFIX + "/accounts/{accountId}"
    assert delta("layers_mock_requests_total", route=account, method="GET", status="200") == 1
    # Paths and unknown methods never become labels (a client cannot grow the label set).
    assert not [k for k in after if CONTRACT.example_account_id in str(k) or "BREW" in str(k)]
    assert delta("layers_mock_request_duration_seconds_count", route=CONTRACT.route) == 2
    for cause in ("lock held", "disk full", "database unreachable", "timed out"):
        assert ("layers_mock_storage_faults_total", (("cause", cause),)) in after


def test_a_storage_fault_is_counted_by_cause_and_logged_once(make_mock, keys, monkeypatch, caplog):
    mock = make_mock("sqlite")
    storage = mock.app.storage

    async def full(fn):
        raise StorageFault("disk full", "SQLite could not write the state file (SQLITE_FULL)")

    with mock.client() as c:
        before = _samples(c.get(CONTROL_PREFIX + "/metrics").text)
        monkeypatch.setattr(storage, "write", full)
        caplog.clear()
        r = c.delete(
            CONTRACT.path_for(CONTRACT.example_account_id),
            headers={"Authorization": f"Bearer {keys['write']['secret']}"},
        )
        monkeypatch.undo()
        after = _samples(c.get(CONTROL_PREFIX + "/metrics").text)
    assert r.status_code == 500
    assert r.json()["error"]["code"] == CONTRACT.code_for_status(500)
    key = ("layers_mock_storage_faults_total", (("cause", "disk full"),))
    assert after[key] - before.get(key, 0) == 1
    lines = [rec for rec in caplog.records if rec.name == "layers.mock" and "storage fault" in rec.getMessage()]
    assert len(lines) == 1 and "disk full" in lines[0].getMessage() and lines[0].exc_info is None
    assert keys["write"]["secret"] not in caplog.text


def test_ready_is_503_when_postgresql_does_not_answer(portal):
    """The real driver against a port where no server listens: 503 `database unreachable`, at once."""
    from mock_server.app import create_app

    app = create_app("postgresql://layers@127.0.0.1:1/nowhere", storage_timeout=0.5)
    try:
        with InProcessMock(app, portal, "postgresql").client() as c:
            assert c.get(CONTROL_PREFIX + "/health").status_code == 200
            started = time.perf_counter()
            r = c.get(CONTROL_PREFIX + "/ready")
            took = time.perf_counter() - started
    finally:
        app.storage.close()
    assert r.status_code == 503, r.text
    assert r.json()["error"]["details"] == {"reason": "database unreachable"}
    assert took < 0.5 + 2.0, took
