"""The edge is the outermost ASGI callable (issue 20): a fast-path request crosses it and nothing
else, so its answer costs no Connexion layers and no `send` wrappers. What used to be layers
around it (metrics, the access log, CORS) are calls from it, and still do their work: a request
is counted once and logged once, whichever way it was answered, and CORS headers go on the API's
answers only, never on the control plane's.

The number of layers is asserted (not timed): it is what would quietly grow back if a layer were
added with `app.add_middleware` in front of the edge."""

from __future__ import annotations

import gc
import logging
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from contract import CONTRACT
from contract.control import CONTROL_PREFIX
from mock_server.app import app_from_env
from mock_server.cli import seed_state
from mock_server.edge.middleware import RequestContextMiddleware
from mock_server.settings import METRICS_DIR_ENV, SETTINGS_ENV, MockSettings

UNKNOWN = "sa_ffffffff-ffff-4fff-8fff-ffffffffffff"  # well-formed, in no world
REVOKE = CONTRACT.path_for(UNKNOWN)
APP_ORIGIN = "http://localhost:3000"


def _asgi_frames() -> list[str]:
    """The ASGI callables on the stack now, innermost first: the frames of functions whose
    parameters end with (scope, receive, send), by qualified name. A coroutine awaited by
    another runs on top of its frame, so this is every layer the request has passed through."""
    names = []
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_varnames[: code.co_argcount][-3:] == ("scope", "receive", "send"):
            names.append(code.co_qualname)
        frame = frame.f_back
    return names


def _scope(path: str = REVOKE, method: str = "DELETE", headers: tuple = ()) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:4010"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 4010),
    }


def _serve(portal, app, scope: dict) -> tuple[list[dict], list[str]]:
    """One request through `app` on the mock's loop: the messages sent, and the ASGI callables
    on the stack when the answer started."""
    sent: list[dict] = []
    layers: list[str] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        if message["type"] == "http.response.start":
            layers.extend(_asgi_frames())
        sent.append(message)

    portal.call(app, scope, receive, send)
    return sent, layers


def test_a_fast_path_request_crosses_the_edge_alone(make_mock):
    mock = make_mock("sqlite")
    sent, layers = _serve(mock.transport.portal, mock.app.edge, _scope())
    assert sent[0]["status"] == CONTRACT.status_for_code("UNAUTHENTICATED")
    assert layers == ["RequestContextMiddleware.__call__"]
    # An app built in-process (tests, benchmarks) adds its own entry, and nothing more.
    _, layers = _serve(mock.transport.portal, mock.app, _scope())
    assert layers == ["RequestContextMiddleware.__call__", "MockApp.__call__"]


def test_the_measure_sees_connexions_layers(make_mock):
    """The same request through Connexion (`--no-fast-path`): the count above could fail."""
    mock = make_mock("sqlite", fast_path=False)
    sent, layers = _serve(mock.transport.portal, mock.app.edge, _scope())
    assert sent[0]["status"] == CONTRACT.status_for_code("UNAUTHENTICATED")
    assert layers[-1] == "RequestContextMiddleware.__call__" and len(layers) > 5, layers


def test_the_server_is_handed_the_edge(tmp_path, monkeypatch, default_world, portal):
    database = str(tmp_path / "state.sqlite3")
    seed_state(database, default_world, False)
    monkeypatch.setenv(SETTINGS_ENV, MockSettings(database=database, quiet=True).to_json())
    monkeypatch.delenv(METRICS_DIR_ENV, raising=False)
    edge = app_from_env()
    gc.unfreeze()  # app_from_env freezes what a worker holds; a test process keeps collecting
    try:
        assert isinstance(edge, RequestContextMiddleware)
        sent, layers = _serve(portal, edge, _scope())
        assert sent[0]["status"] == CONTRACT.status_for_code("UNAUTHENTICATED")
        assert layers == ["RequestContextMiddleware.__call__"]
    finally:
        edge.storage.close()


def _requests_total(client) -> dict:
    text = client.get(CONTROL_PREFIX + "/metrics").text
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "layers_mock_requests_total"
    }


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "connexion-only"])
def test_each_request_is_counted_once(make_mock, fast_path):
    mock = make_mock("sqlite", fast_path=fast_path)
    with mock.client() as client, mock.client(headers={"Origin": "http://evil.example"}) as page:
        before = _requests_total(client)
        assert client.delete(REVOKE).status_code == 401  # the fast path's (or Connexion's) 401
        assert client.get("/v1/nowhere").status_code == 404  # Connexion's routing, always
        assert page.post(CONTROL_PREFIX + "/reset", json={}).status_code == 403  # the guard's refusal
        after = _requests_total(client)

    def delta(route: str, method: str, status: int) -> float:
        key = tuple(sorted({"route": route, "method": method, "status": str(status)}.items()))
        return after.get(key, 0) - before.get(key, 0)

    assert delta(CONTRACT.route, "DELETE", 401) == 1
    assert delta("unmatched", "GET", 404) == 1
    assert delta(CONTROL_PREFIX + "/reset", "POST", 403) == 1
    # The scrape before this one is counted too, and nothing else happened.
    assert sum(after.values()) - sum(before.values()) == 4


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def access_lines():
    handler = _Lines()
    access = logging.getLogger("layers.mock.access")
    access.addHandler(handler)
    yield handler.lines
    access.removeHandler(handler)


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "connexion-only"])
def test_each_request_is_logged_once(make_mock, access_lines, fast_path):
    mock = make_mock("sqlite", fast_path=fast_path, quiet=False)
    with mock.client() as client, mock.client(headers={"Origin": "http://evil.example"}) as page:
        answers = [client.delete(REVOKE), client.get("/v1/nowhere"), page.post(CONTROL_PREFIX + "/reset", json={})]
    assert len(access_lines) == len(answers)
    for line, answer in zip(access_lines, answers, strict=True):
        request_id = answer.headers[CONTRACT.request_id_header]
        code = answer.json()["error"]["code"]
        assert f" {answer.request.url.path} {answer.status_code} {code} {request_id} " in line, line


def test_quiet_logs_nothing(make_mock, access_lines):
    mock = make_mock("sqlite")  # an app built in-process is quiet unless told otherwise
    with mock.client() as client:
        assert client.delete(REVOKE).status_code == 401
    assert access_lines == []


CORS_HEADER = "access-control-allow-origin"
PREFLIGHT = {"Origin": APP_ORIGIN, "Access-Control-Request-Method": CONTRACT.method.upper()}


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "connexion-only"])
def test_cors_on_the_api_routes_only(make_mock, keys, fast_path):
    mock = make_mock("sqlite", fast_path=fast_path, cors_origins=(APP_ORIGIN,))
    with mock.client() as client:
        before = _requests_total(client)
        answered = client.delete(REVOKE, headers={"Origin": APP_ORIGIN})
        assert answered.status_code == 401 and answered.headers[CORS_HEADER] == APP_ORIGIN
        assert CONTRACT.request_id_header in answered.headers["access-control-expose-headers"]
        auth = {"Authorization": f"Bearer {keys['write']['secret']}"}
        invalid = client.delete(CONTRACT.path_for("not-an-id"), headers={"Origin": APP_ORIGIN, **auth})
        assert invalid.status_code == 400 and invalid.headers[CORS_HEADER] == APP_ORIGIN  # through Connexion
        preflight = client.options(REVOKE, headers=PREFLIGHT)
        assert preflight.status_code == 200 and preflight.headers[CORS_HEADER] == APP_ORIGIN
        # Another origin, or none: no CORS headers (the browser then keeps the answer from the page).
        assert CORS_HEADER not in client.delete(REVOKE, headers={"Origin": "http://evil.example"}).headers
        assert CORS_HEADER not in client.delete(REVOKE).headers
        # The control plane never answers a cross-origin request: no CORS headers, preflight included.
        for method, path in (("OPTIONS", "/reset"), ("POST", "/reset"), ("GET", "/state")):
            headers = PREFLIGHT if method == "OPTIONS" else {"Origin": APP_ORIGIN}
            r = client.request(method, CONTROL_PREFIX + path, headers=headers)
            assert r.status_code >= 400 and not [h for h in r.headers if h.startswith("access-control-")], r.headers
        after = _requests_total(client)
    # The preflight CORS answered itself is counted once too, under the API's route.
    key = tuple(sorted({"route": CONTRACT.route, "method": "OPTIONS", "status": "200"}.items()))
    assert after.get(key, 0) - before.get(key, 0) == 1


def test_a_failure_in_the_edge_is_answered_with_the_500_envelope(make_mock, monkeypatch):
    """Nothing outside the edge answers for it any more: it answers its own failures (and lets
    the exception on to the server, which logs it)."""
    mock = make_mock("sqlite")

    def broken(scope, ctx):
        raise RuntimeError("a bug in the fast path")

    monkeypatch.setattr(mock.app.edge.fast_path, "request", broken)
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    with pytest.raises(RuntimeError, match="a bug in the fast path"):
        mock.transport.portal.call(mock.app, _scope(), receive, send)
    assert sent[0]["status"] == 500
    headers = dict(sent[0]["headers"])
    assert headers[CONTRACT.request_id_header.lower().encode()].startswith(b"req_")
    assert CONTRACT.code_for_status(500).encode() in sent[1]["body"]


# The edge records through core/metrics.py's adders, not prometheus_client's `inc`/`observe`:
# the same numbers must come out of a scrape, in both of the library's modes.
RECORDING = r"""
import json, sys
from prometheus_client.parser import text_string_to_metric_families
from mock_server.core import metrics

DURATIONS = (0.0, 0.0005, 0.001, 0.0011, 0.3, 5.0, 60.0, 61.0)


def scraped(route):
    text = metrics.exposition(sys.argv[1] or None).decode()
    return sorted(
        (s.name, sorted((k, v) for k, v in s.labels.items() if k != "route"), s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.labels.get("route") == route and not s.name.endswith("_created")
    )


for seconds in DURATIONS:
    metrics.latency_observer("ours")(seconds)
    metrics.request_counter("ours", "DELETE", "401")(1.0)
    metrics.latency("theirs").observe(seconds)
    metrics.requests("theirs", "DELETE", "401").inc()
ours, theirs = scraped("ours"), scraped("theirs")
print(json.dumps({"multiprocess": metrics.multiprocess_ready(), "same": ours == theirs, "ours": ours}))
"""


@pytest.mark.parametrize("multiprocess", [False, True], ids=["one-worker", "several-workers"])
def test_the_edges_recording_scrapes_as_prometheus_clients_own(tmp_path, multiprocess):
    import json
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != METRICS_DIR_ENV}
    if multiprocess:  # read by prometheus_client when imported: a process of its own
        env[METRICS_DIR_ENV] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-c", RECORDING, str(tmp_path) if multiprocess else ""],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout)
    assert result["multiprocess"] is multiprocess
    assert result["same"], result["ours"]
    counts = {name: value for name, labels, value in result["ours"] if name.endswith(("_total", "_count"))}
    assert set(counts.values()) == {8.0}, counts
