"""Shared pieces of the reliability tests and of the soak (`bench/soak_reliability.py`).

Everything here talks HTTP to a real `layers-mock` on loopback, or reads its real SQLite state
file. Statuses and codes come from the contract (`contract.CONTRACT`), never typed here.
"""

from __future__ import annotations

import json
import random
import socket
import threading
import time
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from contract import CONTRACT
from mock_control import ControlClient
from mock_control.launcher import MockProcess
from mock_server.storage import open_storage

OK = CONTRACT.success_status
NOT_FOUND = CONTRACT.status_for_code("NOT_FOUND")
INTERNAL = CONTRACT.status_for_code("INTERNAL")
CONFLICT = CONTRACT.status_for_code("IDEMPOTENCY_CONFLICT")
QUEUED = "queued"  # the post status a revoke cancels (Contract decision 6)
CANCELED = "canceled"
UNTOUCHED_POSTS = {"published": 1, "draft": 1, "publishing": 1}  # must survive every revoke
REQUEST_TIMEOUT = 30.0  # a bound on every request, so nothing can hang a test


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


# -- a tenant of our own ----------------------------------------------------------------------
@dataclass
class Tenant:
    """An organization, a `social:write` key and accounts with a known number of queued posts."""

    organization_id: str
    key_id: str
    secret: str
    queued: dict[str, int]  # account id -> queued posts seeded

    @property
    def accounts(self) -> list[str]:
        return list(self.queued)


def make_tenant(
    control: ControlClient,
    n_accounts: int,
    queued_for=lambda i: i % 6,
    *,
    tier: str = "internal",
    name: str = "reliability",
) -> Tenant:
    """`internal` tier: no rate limit, so a 429 can never blur the counts under load."""
    org = control.create_organization(name)
    key = control.create_key(org["id"], [CONTRACT.required_scope], tier=tier)
    queued = {}
    for i in range(n_accounts):
        q = int(queued_for(i))
        acc = control.create_account(org["id"], queued=q, posts=dict(UNTOUCHED_POSTS))
        queued[acc["socialAccountId"]] = q
    return Tenant(org["id"], key["id"], key["secret"], queued)


# -- one revoke, recorded ---------------------------------------------------------------------
@dataclass(frozen=True)
class Result:
    client: int
    account: str
    status: int
    body: dict
    request_id: str | None
    replayed: bool
    idempotency_key: str | None


def revoke(
    http: httpx.Client, secret: str, account: str, idempotency_key: str | None = None, client: int = 0
) -> Result:
    headers = bearer(secret)
    if idempotency_key is not None:
        headers[CONTRACT.idempotency_header] = idempotency_key
    r = http.delete(CONTRACT.path_for(account), headers=headers)
    try:
        body = r.json()
    except ValueError:
        body = {"_raw": r.text[:200]}
    return Result(
        client,
        account,
        r.status_code,
        body,
        r.headers.get(CONTRACT.request_id_header),
        r.headers.get(CONTRACT.replay_header) == "true",
        idempotency_key,
    )


class LoadRun:
    """N client threads, each with its own connection, each working through its own plan.

    A plan is a list of (account, idempotency key or None). All clients start together (a
    barrier). A client stops at the end of its plan or at its first transport error (the server
    died), so a run always ends by itself.
    """

    def __init__(self, base_url: str | list[str], secret: str, plans: list[list[tuple[str, str | None]]]):
        # Several base URLs (instances on one database): client i talks to base_url[i % n].
        self.base_urls = [base_url] if isinstance(base_url, str) else list(base_url)
        self.secret = secret
        self.plans = plans
        self.results: list[Result] = []
        self.transport_errors: list[tuple[int, str, str]] = []
        self._lock = threading.Lock()
        self._barrier = threading.Barrier(len(plans))
        self._threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(len(plans))]

    def _client(self, index: int) -> None:
        with httpx.Client(base_url=self.base_urls[index % len(self.base_urls)], timeout=REQUEST_TIMEOUT) as http:
            with suppress(threading.BrokenBarrierError):
                self._barrier.wait(timeout=REQUEST_TIMEOUT)
            for account, idem in self.plans[index]:
                try:
                    result = revoke(http, self.secret, account, idem, client=index)
                except httpx.HTTPError as exc:
                    with self._lock:
                        self.transport_errors.append((index, account, type(exc).__name__))
                    return
                with self._lock:
                    self.results.append(result)

    def start(self) -> LoadRun:
        for t in self._threads:
            t.start()
        return self

    def join(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        alive = [t for t in self._threads if t.is_alive()]
        assert not alive, f"{len(alive)} clients still running after {timeout}s"

    def run(self, timeout: float = 120.0) -> LoadRun:
        self.start()
        self.join(timeout)
        return self

    def count(self, status: int) -> int:
        with self._lock:
            return sum(1 for r in self.results if r.status == status)

    def wait_for_status(self, status: int, at_least: int, timeout: float) -> int:
        """Wait (bounded) until `at_least` responses with `status` came back, or all clients ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            n = self.count(status)
            if n >= at_least or not any(t.is_alive() for t in self._threads):
                return n
            time.sleep(0.005)
        return self.count(status)


def shuffled_plans(
    accounts: list[str], clients: int, seed: int, idem_every: int = 0, tag: str = "k"
) -> list[list[tuple[str, str | None]]]:
    """Every client revokes every account, each in its own random order (overlapping)."""
    rnd = random.Random(seed)
    plans = []
    for c in range(clients):
        order = list(accounts)
        rnd.shuffle(order)
        use_idem = idem_every and c % idem_every == 0
        plans.append([(a, f"{tag}-{seed}-{c}-{a}" if use_idem else None) for a in order])
    return plans


# -- the state file, read directly ------------------------------------------------------------
def revocation_rows(database: str | Path) -> list[dict]:
    """The `revocations` table, the durable record of every committed revoke (read directly
    from the SQLite file or the PostgreSQL database, not through the mock)."""
    storage = open_storage(str(database))
    try:
        with storage.snapshot() as q:
            return [dict(r) for r in q.revocations(limit=10**9)]
    finally:
        storage.close()


def account_is_whole(view: dict, seeded_queued: int) -> str | None:
    """None if the account is either untouched or fully revoked; else what is half-done."""
    counts = view["postCounts"]
    for status, n in UNTOUCHED_POSTS.items():
        if counts.get(status, 0) != n:
            return f"{status} posts changed: {counts}"
    if view["status"] == CONTRACT.success_enum("status"):
        if view["hasToken"] or counts.get(QUEUED, 0) or counts.get(CANCELED, 0) != seeded_queued:
            return f"disconnected but token={view['hasToken']} counts={counts} seeded={seeded_queued}"
    else:
        if not view["hasToken"] or counts.get(QUEUED, 0) != seeded_queued or counts.get(CANCELED, 0):
            return f"connected but token={view['hasToken']} counts={counts} seeded={seeded_queued}"
    return None


# -- the crash test, one iteration (CI runs a few, the soak runs 20+) --------------------------
def crash_iteration(
    workdir: Path,
    seed: int,
    *,
    n_accounts: int = 48,
    clients: int = 16,
    kill_after_oks: int = 12,
    workers: int = 2,
    database: str | None = None,
) -> dict:
    """Load a multi-worker mock, SIGKILL it mid-load, restart it on the same state (a SQLite
    file in `workdir`, or the PostgreSQL `database`), check.

    Returns a summary; raises AssertionError (with details) on any broken promise.
    """
    state = database or str(Path(workdir) / f"crash-{seed}.sqlite3")
    mock = MockProcess(workers=workers, database=state).start()
    try:
        with ControlClient(mock.base_url) as control:
            tenant = make_tenant(control, n_accounts, queued_for=lambda i: (i * 7 + seed) % 6, name=f"crash {seed}")
        # A quarter of the clients send an Idempotency-Key, so idempotency rows are written too.
        load = LoadRun(
            mock.base_url, tenant.secret, shuffled_plans(tenant.accounts, clients, seed, idem_every=4, tag="crash")
        ).start()
        oks_at_kill = load.wait_for_status(OK, kill_after_oks, timeout=60)
        mock.kill()  # SIGKILL to the whole process group, mid-load
        load.join(REQUEST_TIMEOUT * 2)
    finally:
        mock.stop()  # only cleans up: the process is already dead

    acknowledged = [r for r in load.results if r.status == OK]
    unexpected = [r for r in load.results if r.status not in (OK, NOT_FOUND)]
    assert not unexpected, f"unexpected answers under load: {unexpected[:3]}"

    restarted = MockProcess(workers=workers, database=state).start()
    try:
        with ControlClient(restarted.base_url) as control:
            integrity = control.integrity()
            assert integrity["ok"] and integrity["violations"] == [], integrity
            rows = [r for r in revocation_rows(state) if r["account_id"] in tenant.queued]
            by_account = {r["account_id"]: r for r in rows}
            assert len(by_account) == len(rows), f"an account revoked twice: {rows}"
            # No lost revoke: every 200 a client received is in the durable record, same request.
            for r in acknowledged:
                row = by_account.get(r.account)
                assert row is not None, f"acknowledged revoke of {r.account} ({r.request_id}) lost"
                assert row["request_id"] == r.request_id, (row, r)
                assert row["canceled_posts"] == r.body["canceledScheduledPosts"] == tenant.queued[r.account]
            # No half-revoked account, and the record matches the account's state.
            disconnected = set()
            for account, seeded in tenant.queued.items():
                view = control.account(account)
                problem = account_is_whole(view, seeded)
                assert problem is None, f"{account}: {problem}"
                if view["status"] == CONTRACT.success_enum("status"):
                    disconnected.add(account)
            assert disconnected == set(by_account), "revocation records and account states disagree"

            # The restarted mock finishes the job: the rest revoke once, the revoked answer 404.
            with httpx.Client(base_url=restarted.base_url, timeout=REQUEST_TIMEOUT) as http:
                after = [revoke(http, tenant.secret, a) for a in tenant.accounts]
            for r in after:
                expected = NOT_FOUND if r.account in disconnected else OK
                assert r.status == expected, (r, expected)
                if r.status == OK:
                    assert r.body["canceledScheduledPosts"] == tenant.queued[r.account]
            final = control.integrity()
            assert final["ok"], final
            # The request journal is written after a response leaves (not in the revoke's
            # transaction), so a kill in between may drop a line: counted, not asserted.
            journaled = {e["requestId"] for e in control.journal(limit=10000)}
            journal_missing = sum(1 for r in acknowledged if r.request_id not in journaled)
            assert {r["account_id"] for r in revocation_rows(state)} >= set(tenant.queued)
    finally:
        restarted.stop()
    return {
        "seed": seed,
        "responses_before_kill": len(load.results),
        "oks_before_kill": len(acknowledged),
        "oks_seen_when_killing": oks_at_kill,
        "transport_errors": len(load.transport_errors),
        "committed_at_restart": len(by_account),
        "committed_unacknowledged": len(by_account) - len(acknowledged),
        "integrity_violations": len(integrity["violations"]),
        "journal_lines_missing_for_acknowledged": journal_missing,
    }


# -- raw HTTP for what clients (and fuzzers) rarely send --------------------------------------
def raw_exchange(port: int, data: bytes, *, timeout: float = REQUEST_TIMEOUT, half_close: bool = False) -> bytes:
    """Send bytes on a fresh loopback connection; read until the server closes it.

    `half_close`: shut our sending side after the bytes, for requests that promise more than
    they send (the server cannot know they never will, so without it, it rightly waits).
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def raw_request(path: bytes, headers: list[bytes] = (), method: bytes = b"DELETE") -> bytes:
    lines = [method + b" " + path + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close", *headers]
    return b"\r\n".join(lines) + b"\r\n\r\n"


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes
    envelope: dict | None = field(default=None)


def parse_response(raw: bytes) -> RawResponse | None:
    if not raw:
        return None
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    envelope = None
    if headers.get("content-type", "").startswith("application/json"):
        try:
            envelope = json.loads(body)
        except ValueError:
            envelope = None
    return RawResponse(status, headers, body, envelope)


# What an HTTP server's parser answers before the app sees a request: malformed (400), a request
# line too long (414), headers too large (431).
PARSER_REFUSALS = (400, 414, 431)


def classify_hostile(raw: bytes) -> str:
    """Judge one answer to hostile input. Returns "envelope", "parser-close" or "closed".

    Accepted: a 4xx in the contract's envelope (whose requestId equals X-Request-Id), or a clean
    connection close. A clean close is either no answer at all, or the HTTP server's own parser
    refusing the bytes with `Connection: close` (uvicorn: "400 Invalid HTTP request received.";
    granian: an empty 400, or 414 for a request line past its limit, 431 for headers): that
    request never reached the app, so there is no request id to put in an envelope. Anything
    else (a 5xx, a non-envelope answer from the app, a 2xx) fails.
    """
    resp = parse_response(raw)
    if resp is None:
        return "closed"
    assert 400 <= resp.status < 500, f"status {resp.status}: {raw[:300]!r}"
    rid = resp.headers.get(CONTRACT.request_id_header.lower())
    if rid is None:  # not from the app: the HTTP server's parser refused the bytes
        assert resp.status in PARSER_REFUSALS and resp.headers.get("connection") == "close", raw[:300]
        return "parser-close"
    env = resp.envelope
    assert isinstance(env, dict) and set(env) == {"error"}, f"not an envelope: {raw[:300]!r}"
    err = env["error"]
    assert err["requestId"] == rid and CONTRACT.request_id_pattern.match(rid), err
    assert isinstance(err["message"], str) and err["message"], err
    if resp.status in CONTRACT.responses:
        assert err["code"] == CONTRACT.code_for_status(resp.status), err
    return "envelope"


def assert_alive(base_url: str, secret: str) -> None:
    """The server still answers a well-formed request: 404 NOT_FOUND for an id nobody has."""
    with httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT) as http:
        r = http.delete(CONTRACT.path_for(f"sa_{uuid.uuid4()}"), headers=bearer(secret))
    assert r.status_code == NOT_FOUND, r.text
    assert r.json()["error"]["code"] == CONTRACT.code_for_status(NOT_FOUND)
    assert r.json()["error"]["requestId"] == r.headers[CONTRACT.request_id_header]


# -- schemathesis against the running mock ----------------------------------------------------
SCHEMATHESIS = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "schemathesis"
SPEC = Path(__file__).resolve().parents[2] / "openapi.yaml"


def run_schemathesis(
    base_url: str,
    secret: str,
    accounts: list[str],
    *,
    seed: int,
    max_examples: int,
    workdir: Path,
    timeout: float = 600.0,
) -> dict:
    """One `schemathesis run --checks all -m all` (positive and negative cases) over the spec,
    with a valid key, against the live mock; some ids drawn from `accounts` so that 200, 404
    after revoke and 409 are reached. Returns the case, mode and status counts from its NDJSON
    events, the failures and errors from its JSON report, and its exit code."""
    import subprocess
    import sys

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / f"schemathesis-{seed}.toml"
    config.write_text(
        "[dictionaries.known_accounts]\n"
        f"values = {json.dumps(accounts)}\n"
        "[parameters]\n"
        '"path.socialAccountId" = { dictionary = "known_accounts", probability = 0.3 }\n'
    )
    report, events = workdir / f"run-{seed}.json", workdir / f"run-{seed}.ndjson"
    exe = str(SCHEMATHESIS) if SCHEMATHESIS.exists() else None
    cmd = ([exe] if exe else [sys.executable, "-m", "schemathesis.cli"]) + [
        "--config-file",
        str(config),
        "run",
        str(SPEC),
        "--url",
        base_url,
        "-H",
        f"Authorization: Bearer {secret}",
        "--checks",
        "all",
        "-m",
        "all",
        "-n",
        str(max_examples),
        "--seed",
        str(seed),
        "-w",
        "1",
        "--request-timeout",
        str(REQUEST_TIMEOUT),
        "--continue-on-failure",
        "--report",
        "json,ndjson",
        "--report-json-path",
        str(report),
        "--report-ndjson-path",
        str(events),
    ]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    summary = json.loads(report.read_text())
    modes: dict[str, int] = {}
    statuses: dict[int | None, int] = {}
    cases = 0
    for line in events.read_text().splitlines():
        event = json.loads(line)
        if "ScenarioFinished" not in event:
            continue
        recorder = event["ScenarioFinished"]["recorder"]
        for case_id, case in recorder["cases"].items():
            cases += 1
            mode = case["value"]["meta"]["generation"]["mode"]
            modes[mode] = modes.get(mode, 0) + 1
            interaction = recorder["interactions"].get(case_id) or {}
            status = (interaction.get("response") or {}).get("status_code")
            statuses[status] = statuses.get(status, 0) + 1
    return {
        "seed": seed,
        "exit_code": proc.returncode,
        "generated": summary["test_cases"]["generated"],
        "cases": cases,
        "modes": modes,
        "statuses": dict(sorted(statuses.items(), key=lambda kv: str(kv[0]))),
        "failures": summary["failures"],
        "errors": summary["errors"],
        "output_tail": proc.stdout[-3000:] + proc.stderr[-2000:],
    }
