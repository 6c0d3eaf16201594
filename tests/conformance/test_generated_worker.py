"""The generated phase's worker process (conformance/generated.py): its cases cross the pipe whole,
seeds still reproduce them, the responses are judged by schemathesis there, a worker that crashes
or hangs ends the run with a clear error and the right exit (a violation already seen still exits
1), --max-time still bounds the run, and the kit's own process imports neither schemathesis nor
hypothesis."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from servers import ROOT_DIR

from conformance import generated, limits
from conformance.exchange import Exchange
from conformance.generated import AUTH_PLACEHOLDER, BUILTIN_CHECKS, Worker
from contract import CONTRACT

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

BASE = "http://kit.invalid"
ID = re.compile(r"sa_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def no_time_limit(doing: str) -> None:
    return None


def generate(examples: int, seed: int | None, strict: bool = False) -> tuple[Worker, list[generated.Case]]:
    worker = Worker()
    worker.begin(base_url=BASE, examples=examples, seed=seed, strict=strict)
    return worker, list(worker.cases(stop=lambda: False, check_time=no_time_limit))


def masked(cases: list[generated.Case]) -> list[tuple]:
    """The cases with what is random on purpose masked: the unknown ids (fresh in every run) and
    schemathesis' test case id header."""
    return [
        (
            c.mode,
            c.method,
            ID.sub("sa_<random>", c.url),
            tuple((k, "<random>" if k == "X-Schemathesis-TestCaseId" else v) for k, v in c.headers),
        )
        for c in cases
    ]


# Headers as a negative case may carry them: non-ASCII, control characters, a lone surrogate, bytes.
AWKWARD = [
    ["X-Text", "é\u00a0\u2028 ünïcode"],
    ["X-Ctl", "a\tb\x7f"],
    ["X-Surrogate", "\udc80"],
    ["X-Raw", b"\xff\x00ok"],
]
EMITS_AWKWARD = (
    "import sys; from conformance.generated import _emit, _encode_value\n"
    "sys.stdin.readline()\n"
    f"headers = [[k, _encode_value(v)] for k, v in {AWKWARD!r}]\n"
    "_emit(sys.stdout, {'case': 0, 'mode': 'negative', 'method': 'DELETE', 'url': 'http://x/v1/a b', 'headers': headers})\n"
    "_emit(sys.stdout, {'end': True, 'cpu': 0.5})\n"
    "sys.stdin.readline()\n"
)


def test_a_case_crosses_the_pipe_whole(fake_worker):
    """What the worker emits is what the kit gets: every header, bytes and non-ASCII included."""
    fake_worker(EMITS_AWKWARD)
    worker = generated.start_worker()
    worker.begin(base_url=BASE, examples=1, seed=None, strict=False)
    cases = list(worker.cases(stop=lambda: False, check_time=no_time_limit))
    worker.close()
    assert cases == [generated.Case(0, "negative", "DELETE", "http://x/v1/a b", tuple(map(tuple, AWKWARD)))]
    assert worker.cpu == 0.5


def test_the_worker_makes_cases_the_kit_can_send():
    """Both modes; the spec's method; well-formed ids swapped for unknown ones; the key a placeholder
    that the kit replaces."""
    worker, cases = generate(5, seed=7)
    worker.close()
    assert {c.mode for c in cases} == {"positive", "negative"}
    assert all(c.method == CONTRACT.method.upper() and c.url.startswith(BASE) for c in cases)
    positive = [c for c in cases if c.mode == "positive"]
    assert positive and all(ID.search(c.url) for c in positive)
    sent = positive[0].headers_for("lp_test_key")
    assert sent["Authorization"] == "Bearer lp_test_key" and AUTH_PLACEHOLDER not in json.dumps(sent)


def test_seeds_still_reproduce_the_cases():
    first = generate(4, seed=123)
    again = generate(4, seed=123)
    other = generate(4, seed=124)
    default = [generate(4, seed=None) for _ in range(2)]
    for worker, _ in (first, again, other, *default):
        worker.close()
    assert masked(first[1]) == masked(again[1])
    assert masked(first[1]) != masked(other[1])
    assert masked(default[0][1]) == masked(default[1][1])  # no --seed: deterministic generation


def test_schemathesis_judges_the_kit_responses_in_the_worker():
    """A response goes back to the worker and its verdict comes back: a documented 404 passes the
    built-in checks, a text/plain 404 fails content_type_conformance."""
    worker, cases = generate(2, seed=1)
    case = next(c for c in cases if c.mode == "positive")
    verdicts: dict[str, list] = {}

    def exchange(name: str, content_type: str, body: bytes) -> Exchange:
        request = httpx.Request(case.method, case.url, headers=case.headers_for("lp_test_key"))
        rid = "req_01J0000000000000000000000A"
        response = httpx.Response(
            404,
            headers={
                "Content-Type": content_type,
                "X-Request-Id": rid,
                CONTRACT.rate_limit_class_header: "write-light",
            },
            content=body,
            request=request,
        )
        response.elapsed = datetime.timedelta(milliseconds=5)
        return Exchange(case.method, case.url, dict(request.headers), response, name)

    good = json.dumps({"error": {"code": "NOT_FOUND", "message": "No such account.", "requestId": "req_1"}}).encode()
    for name, ctype, body in (("good", "application/json", good), ("bad", "text/plain", b"not found")):
        worker.validate(case, exchange(name, ctype, body), lambda outcomes, n=name: verdicts.__setitem__(n, outcomes))
        worker.wait_verdicts(no_time_limit)
    worker.close()
    assert [name for name, _ in verdicts["good"]] == list(BUILTIN_CHECKS)
    assert dict(verdicts["good"])["content_type_conformance"] is None
    assert dict(verdicts["bad"])["content_type_conformance"], verdicts["bad"]


class Answers404(BaseHTTPRequestHandler):
    """A target that answers every request with a documented 404, except that its request ids are
    not req_ + a ULID (`request_id_is_req_ulid`): a violation the kit sees on its first answer."""

    def do_DELETE(self):
        body = json.dumps({"error": {"code": "NOT_FOUND", "message": "No such account.", "requestId": "req_1"}})
        self.send_response(404)
        for name, value in (
            ("Content-Type", "application/json"),
            ("X-Request-Id", "req_1"),
            (CONTRACT.rate_limit_class_header, CONTRACT.rate_limit_class),
            ("Content-Length", str(len(body))),
        ):
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def violating_target():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answers404)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_worker(monkeypatch):
    """Replace the worker's command for this test (and start from no kept worker)."""
    monkeypatch.setattr(generated, "_idle", None)

    def use(code: str) -> None:
        monkeypatch.setattr(generated, "WORKER_COMMAND", [sys.executable, "-c", code])

    return use


CRASH = "import sys; sys.stdin.readline(); sys.stderr.write('worker went boom\\n'); sys.exit(3)"
HANG = "import time; time.sleep(600)"


def test_a_crashed_worker_ends_the_run_with_exit_2_and_says_why(fake_worker, kit, kit_mock, staging_args):
    fake_worker(CRASH)
    code, report = kit("--base-url", kit_mock.base_url, *staging_args())
    assert code == 2, report["error"]
    assert "worker process" in report["error"] and "exit code 3" in report["error"]
    assert "worker went boom" in report["error"]


def test_a_crashed_worker_after_a_violation_still_exits_1(fake_worker, kit, violating_target):
    """The verdict is monotone: the violation seen on the probe stands, the crash is reported beside it."""
    fake_worker(CRASH)
    code, report = kit("--base-url", violating_target, "--api-key", "lp_test_" + "k" * 32, "--parallel", "1")
    assert code == 1
    assert "request_id_is_req_ulid" in {c["name"] for c in report["checks"] if c["outcome"] == "failed"}
    assert "exit code 3" in report["error"]


def test_a_hung_worker_is_stopped(fake_worker, monkeypatch, kit, kit_mock, staging_args):
    fake_worker(HANG)
    monkeypatch.setattr(limits, "WORKER_SILENCE", 1.0)
    code, report = kit("--base-url", kit_mock.base_url, *staging_args())
    assert code == 2
    assert "said nothing" in report["error"] and "hung" in report["error"]


def test_max_time_still_stops_a_run_waiting_for_the_worker(fake_worker, kit, kit_mock, staging_args):
    fake_worker(HANG)
    code, report = kit("--base-url", kit_mock.base_url, "--max-time", "3", *staging_args())
    assert code == 2
    assert "--max-time 3s" in report["error"] and report["complete"] is False


def test_the_kit_process_imports_neither_schemathesis_nor_hypothesis(kit_mock, staging_args, tmp_path):
    """A whole run, generated phase included, in a process of its own; then its modules."""
    code = (
        "import json, sys; from conformance.cli import main\n"
        "code = main(sys.argv[1:])\n"
        "loaded = sorted({m.split('.')[0] for m in sys.modules} & {'schemathesis', 'hypothesis'})\n"
        "print(json.dumps([code, loaded]))\n"
    )
    report = tmp_path / "report.json"
    args = ["--base-url", kit_mock.base_url, *staging_args(), "--examples", "3", "--report-json", str(report)]
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT_DIR, timeout=300)
    exit_code, loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert exit_code == 0, out.stderr[-2000:]
    assert loaded == []
    checks = {c["name"]: c for c in json.loads(report.read_text())["checks"]}
    assert checks["response_schema_conformance"]["outcome"] == "passed"  # judged, in the worker
