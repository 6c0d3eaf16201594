"""A web page from another origin, in real headless Chromium, cannot change the mock (issue 14).

`attack_page.html` is served from another loopback port. It tries every state-changing
control call every way a page can: `fetch` in no-cors mode (untyped Blob, text, typed Blob, no
body, URL-encoded), CORS `fetch` and XHR with JSON (preflighted), `sendBeacon`, text/plain,
URL-encoded and multipart form posts into hidden frames, PUT and DELETE.

First the page runs against a recorder on a third port, which proves that the browser really
sends these requests (the issue's no-cors Blob POST arrives with no Content-Type and a JSON
body that used to wipe the world). Then it runs against the mock, and the world read back
through the control plane is exactly what it was. DNS rebinding (a foreign Host) is covered with
raw requests in test_security.py.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from contract import CONTRACT
from contract.control import CONTROL_PREFIX
from docs_gen.browser import HeadlessChromium
from mock_control import ControlClient, ControlPlaneError
from mock_control.launcher import MockProcess

from .support import NOT_FOUND, REQUEST_TIMEOUT, bearer

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

PAGE = Path(__file__).with_name("attack_page.html").read_bytes()


class _Server:
    """A loopback HTTP server on a port of its own: serves the page, records every request."""

    def __init__(self):
        self.requests: list[dict] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.requests.append(
                    {
                        "method": self.command,
                        "path": self.path.split("?")[0],
                        "content_type": self.headers.get("Content-Type"),
                        "origin": self.headers.get("Origin"),
                        "body": body,
                    }
                )
                page = self.command == "GET" and self.path.startswith("/attack")
                data = PAGE if page else b"ok"
                self.send_response(200)  # and never an Access-Control-* header
                self.send_header("Content-Type", "text/html; charset=utf-8" if page else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = _handle

            def log_message(self, *args):  # quiet
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def browser(require_chromium):
    with HeadlessChromium(width=800, height=600, timeout=120) as b:
        yield b


def _run_page(browser, page_server: _Server, target: str, world: dict) -> dict:
    query = urlencode({"target": target, "org": world["org"], "acc": world["acc"], "key": world["key"]})
    report = browser.open(
        f"{page_server.base_url}/attack.html?{query}", full_page=False, clip_height=50, wait_for="#done"
    )
    return json.loads(report.selector_text)


def _snapshot(control: ControlClient, account: str) -> dict:
    state = control.state()
    clock = state.pop("clock")
    counts = state.pop("counts")
    counts.pop("journal")  # our own API probes below are journaled
    try:
        view = control.account(account)
        seen = (view["status"], view["postCounts"])
    except ControlPlaneError:  # the page wiped it
        seen = "gone"
    return {**state, "counts": counts, "clock": (clock["frozen"], round(clock["offsetSeconds"])), "account": seen}


def test_a_page_from_another_origin_changes_nothing(browser, tmp_path):
    with (
        MockProcess(state=str(tmp_path / "state.sqlite3")) as mock,
        ControlClient(mock.base_url) as control,
        _Server() as page_server,
        _Server() as recorder,
    ):
        org = control.create_organization("browser victim")["id"]
        key = control.create_key(org, [CONTRACT.required_scope], tier="standard")
        acc = control.create_account(org, queued=2)["socialAccountId"]
        bystander = control.create_account(org)["socialAccountId"]  # a fault must name an existing account
        control.arm_fault(account_id=bystander)  # so that DELETE /faults would show
        world = {"org": org, "acc": acc, "key": key["id"]}

        # 1. Against a recorder: the browser does send the attacks (else this test proves nothing).
        dry = _run_page(browser, page_server, recorder.base_url, world)
        posts = [r for r in recorder.requests if r["method"] == "POST"]
        reset_blob = [
            r
            for r in posts
            if r["path"] == CONTROL_PREFIX + "/reset" and not r["content_type"] and r["body"] == b'{"world":"empty"}'
        ]
        assert reset_blob, "Chromium did not send the no-cors Blob POST the issue describes"
        text_form = [
            r
            for r in posts
            if r["path"] == CONTROL_PREFIX + "/reset"
            and (r["content_type"] or "").startswith("text/plain")
            and b'"world":"empty"' in r["body"]
        ]
        assert text_form, "no text/plain POST of the JSON reached the recorder"
        assert all(r["origin"] == page_server.base_url for r in posts), {r["origin"] for r in posts}
        json_sent = [
            r
            for r in recorder.requests
            if r["method"] in ("POST", "PUT", "DELETE") and (r["content_type"] or "").startswith("application/json")
        ]
        assert json_sent == [], "a cross-origin JSON call went out without a preflight"
        assert not [r for r in recorder.requests if r["method"] in ("PUT", "DELETE")]
        reached = sum(1 for r in recorder.requests if r["method"] == "POST")

        # 2. Against the mock: the same attempts, and the world read back is untouched.
        before = _snapshot(control, acc)
        live = _run_page(browser, page_server, mock.base_url, world)
        after = _snapshot(control, acc)
        assert after == before, "a web page changed the mock's world"
        assert [r["name"] for r in live["results"]] == [r["name"] for r in dry["results"]]
        assert not live["read"].startswith("{"), f"the page read the control plane: {live['read']}"
        # The key's budget was not zeroed and the API was not switched off: a revoke still gets 404.
        with httpx.Client(base_url=mock.base_url, timeout=REQUEST_TIMEOUT) as api:
            r = api.delete(CONTRACT.path_for(f"sa_{uuid.uuid4()}"), headers=bearer(key["secret"]))
        assert r.status_code == NOT_FOUND, r.text
        assert control.integrity()["ok"]

    outcomes: dict[str, int] = {}
    for r in live["results"]:
        outcomes[r["outcome"]] = outcomes.get(r["outcome"], 0) + 1
    print(
        f"\nbrowser: {len(live['results'])} attempts from {page_server.base_url} against {mock.base_url};"
        f" {reached} POSTs reached the recorder; outcomes against the mock {outcomes}; world unchanged"
    )
