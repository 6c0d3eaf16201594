"""What fuzzers rarely send: huge ids, raw unicode and NUL in the path, a 100 KB Authorization
header, repeated headers, invalid UTF-8, slow and vanishing clients.

Each must get a 4xx envelope or a clean connection close (see `support.classify_hostile`),
never a 5xx, a hang or a dead server. Every case is followed by a well-formed request.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections import Counter

import httpx
import pytest

from contract import CONTRACT
from mock_control import ControlClient

from .support import (
    NOT_FOUND,
    OK,
    REQUEST_TIMEOUT,
    assert_alive,
    classify_hostile,
    make_tenant,
    parse_response,
    raw_exchange,
    raw_request,
    revoke,
)

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

PATH = CONTRACT.route.split("{", 1)[0].encode()  # b"/v1/social-accounts/"
IDEM = CONTRACT.idempotency_header.encode()
VALIDATION = CONTRACT.status_for_code("VALIDATION")
UNAUTHENTICATED = CONTRACT.status_for_code("UNAUTHENTICATED")


@pytest.fixture(scope="module")
def tenant(multi_mock):
    with ControlClient(multi_mock.base_url) as control:
        return make_tenant(control, 6, queued_for=lambda i: 2, name="hostile")


def _auth(secret: str) -> bytes:
    return b"Authorization: Bearer " + secret.encode()


HALF_CLOSED = {"body shorter than its Content-Length", "chunked body never finished"}


def hostile_cases(secret: str, account: str) -> dict[str, tuple[bytes, int | None]]:
    """name -> (raw request, the status the app must answer, or None: any clean rejection)."""
    ok_path = PATH + account.encode()
    a = _auth(secret)
    return {
        "10 KB id": (raw_request(PATH + b"sa_" + b"a" * 10240, [a]), VALIDATION),
        "10 KB uuid-ish id": (raw_request(PATH + b"sa_" + b"0" * 10240 + b"-0000", [a]), VALIDATION),
        "100 KB id": (raw_request(PATH + b"sa_" + b"a" * 102400, [a]), None),
        "raw unicode in path": (raw_request(PATH + "sa_é€😀".encode(), [a]), None),
        "percent-encoded unicode": (raw_request(PATH + b"sa_%C3%A9%E2%82%AC%F0%9F%98%80", [a]), VALIDATION),
        "percent-encoded NUL": (raw_request(PATH + b"sa_%00", [a]), VALIDATION),
        "NUL after a real id": (raw_request(ok_path + b"%00", [a]), VALIDATION),
        "percent-encoded slash": (raw_request(PATH + b"sa_..%2F..%2F_mock%2Freset", [a]), None),
        "invalid UTF-8 percent-encoded": (raw_request(PATH + b"sa_%ff%fe%80", [a]), VALIDATION),
        "invalid UTF-8 raw in path": (raw_request(PATH + b"sa_\xff\xfe", [a]), None),
        "100 KB Authorization": (raw_request(ok_path, [b"Authorization: Bearer " + b"x" * 102400]), UNAUTHENTICATED),
        "100 KB Authorization, real key first": (raw_request(ok_path, [a + b"x" * 102400]), UNAUTHENTICATED),
        "invalid UTF-8 Authorization": (
            raw_request(ok_path, [b"Authorization: Bearer lp_\xff\xfe\x80"]),
            UNAUTHENTICATED,
        ),
        "repeated Authorization, valid first": (
            raw_request(ok_path, [a, b"Authorization: Bearer lp_nope"]),
            UNAUTHENTICATED,
        ),
        "repeated Authorization, valid last": (
            raw_request(ok_path, [b"Authorization: Bearer lp_nope", a]),
            UNAUTHENTICATED,
        ),
        "repeated Authorization, both valid": (raw_request(ok_path, [a, a]), UNAUTHENTICATED),
        "repeated Idempotency-Key": (raw_request(ok_path, [a, IDEM + b": one", IDEM + b": two"]), VALIDATION),
        "invalid UTF-8 Idempotency-Key": (raw_request(ok_path, [a, IDEM + b": \xff\xfe"]), VALIDATION),
        "300-character Idempotency-Key": (raw_request(ok_path, [a, IDEM + b": " + b"k" * 300]), VALIDATION),
        "NUL byte in a header": (raw_request(ok_path, [a, b"X-Evil: a\x00b"]), None),
        "header without a colon": (raw_request(ok_path, [a, b"NoColonHere"]), None),
        "request line garbage": (b"\x00\x01\x02 garbage\r\n\r\n", None),
        "HTTP/0.9-ish": (b"DELETE " + ok_path + b"\r\n\r\n", None),
        "unknown method": (raw_request(ok_path, [a], method=b"BREW"), None),
        "chunked garbage": (raw_request(ok_path, [a, b"Transfer-Encoding: chunked"]) + b"zz\r\nxx\r\n", None),
        "body shorter than its Content-Length": (
            raw_request(ok_path, [a, b"Content-Type: application/json", b"Content-Length: 5"]) + b"{",
            None,
        ),
        "chunked body never finished": (
            raw_request(ok_path, [a, b"Content-Type: application/json", b"Transfer-Encoding: chunked"]) + b"5\r\n{",
            None,
        ),
        # Within every server's header count (granian's parser takes 100): answered by the app.
        "90 headers": (
            raw_request(PATH + f"sa_{uuid.uuid4()}".encode(), [a] + [b"X-H%d: %d" % (i, i) for i in range(89)]),
            NOT_FOUND,
        ),
        # Past granian's: its parser refuses them (431, connection closed); uvicorn's app answers.
        "200 headers": (
            raw_request(PATH + f"sa_{uuid.uuid4()}".encode(), [a] + [b"X-H%d: %d" % (i, i) for i in range(200)]),
            None,
        ),
    }


def _expect_answer(name: str, raw: bytes, expected: int | None) -> str:
    """The kind of answer a hostile request got; with `expected`, an envelope of that status."""
    try:
        kind = classify_hostile(raw)
        if expected is not None:
            assert kind == "envelope" and parse_response(raw).status == expected, raw[:300]
    except AssertionError as exc:
        raise AssertionError(f"{name}: {exc}") from None
    return kind


def test_hostile_requests_get_envelopes_or_clean_closes(multi_mock, multi_control, tenant):
    account = tenant.accounts[0]
    before = multi_control.account(account)
    outcomes = Counter()
    for name, (data, expected) in hostile_cases(tenant.secret, account).items():
        raw = raw_exchange(multi_mock.port, data, half_close=name in HALF_CLOSED)
        outcomes[_expect_answer(name, raw, expected)] += 1
        assert_alive(multi_mock.base_url, tenant.secret)
    print(f"\nhostile: {sum(outcomes.values())} cases, {dict(outcomes)}, 0 5xx")
    # None of it revoked the account it named (only well-formed, single-key requests may).
    after = multi_control.account(account)
    assert (after["status"], after["postCounts"]) == (before["status"], before["postCounts"])
    assert multi_control.integrity()["ok"]


def test_slow_clients_do_not_block_others(multi_mock, tenant):
    """Eight clients dribble a request a few bytes at a time while others are served; then each
    slow client gets its own answer."""
    accounts = tenant.accounts[1:]
    slow_target = f"sa_{uuid.uuid4()}"  # nobody's: a 404 envelope at the end
    request = raw_request(PATH + slow_target.encode(), [_auth(tenant.secret)])
    answers: list[bytes] = []
    errors: list[BaseException] = []

    def slow_client():
        try:
            with socket.create_connection(("127.0.0.1", multi_mock.port), timeout=REQUEST_TIMEOUT) as s:
                for i in range(0, len(request), 8):
                    s.sendall(request[i : i + 8])
                    time.sleep(0.05)  # pacing only; nothing asserts on time
                chunks = []
                while chunk := s.recv(65536):
                    chunks.append(chunk)
                answers.append(b"".join(chunks))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    slow = [threading.Thread(target=slow_client, daemon=True) for _ in range(8)]
    for t in slow:
        t.start()
    # Meanwhile, normal clients get through: revoke the other accounts, once each.
    with httpx.Client(base_url=multi_mock.base_url, timeout=REQUEST_TIMEOUT) as http:
        results = [revoke(http, tenant.secret, a) for a in accounts]
        stalled_alive = any(t.is_alive() for t in slow)
    for t in slow:
        t.join(REQUEST_TIMEOUT * 2)
    assert not errors and not any(t.is_alive() for t in slow)
    assert [r.status for r in results] == [OK] * len(accounts)
    assert stalled_alive, "the slow clients were done before the others ran: nothing was tested"
    assert len(answers) == 8
    for raw in answers:
        resp = parse_response(raw)
        assert classify_hostile(raw) == "envelope" and resp.status == NOT_FOUND


def test_stalled_and_vanishing_clients(multi_mock, tenant):
    """Half a request left hanging, and clients that hang up right after sending: the server
    serves others meanwhile and afterwards."""
    stalled = []
    for _ in range(16):
        s = socket.create_connection(("127.0.0.1", multi_mock.port), timeout=REQUEST_TIMEOUT)
        s.sendall(b"DELETE " + PATH + b"sa_")  # never finished
        stalled.append(s)
    try:
        for _ in range(30):  # send a full request, then vanish without reading
            with socket.create_connection(("127.0.0.1", multi_mock.port), timeout=REQUEST_TIMEOUT) as s:
                s.sendall(raw_request(PATH + f"sa_{uuid.uuid4()}".encode(), [_auth(tenant.secret)]))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
        assert_alive(multi_mock.base_url, tenant.secret)
    finally:
        for s in stalled:
            s.close()
    assert_alive(multi_mock.base_url, tenant.secret)


# -- the control plane (issue 14) ---------------------------------------------------------------
# Every case is refused before it can change anything. The carrier of body encodings is a kill
# switch on a key nobody has: even if the JSON were accepted, it could only answer 404.
CONTROL_RESET = b"/_mock/reset"
NOBODY_SWITCH = b'{"scope": "key", "target": "key_nobody", "enabled": true}'


def _json_headers(n: int) -> list[bytes]:
    return [b"Content-Type: application/json", b"Content-Length: %d" % n]


def control_cases() -> dict[str, tuple[bytes, int | None]]:
    from mock_server.core import bounds as control_bounds

    deep = b"[" * 100_000 + b"]" * 100_000
    chunk = b" " * 65536
    too_big_chunked = (
        b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(control_bounds.MAX_BODY_BYTES // len(chunk) + 2))
        + b"0\r\n\r\n"
    )
    return {
        "body-less POST /reset without Content-Type": (raw_request(CONTROL_RESET, method=b"POST"), 415),
        "POST /reset with a JSON body but no Content-Type": (
            raw_request(CONTROL_RESET, [b"Content-Length: 17"], method=b"POST") + b'{"world":"empty"}',
            415,
        ),
        "POST /reset text/plain": (
            raw_request(CONTROL_RESET, [b"Content-Type: text/plain", b"Content-Length: 2"], method=b"POST") + b"{}",
            415,
        ),
        "declared 2 MiB body, never sent": (
            raw_request(CONTROL_RESET, [b"Content-Type: application/json", b"Content-Length: 2097152"], method=b"POST"),
            413,
        ),
        "chunked body past the bound": (
            raw_request(
                CONTROL_RESET, [b"Content-Type: application/json", b"Transfer-Encoding: chunked"], method=b"POST"
            )
            + too_big_chunked,
            413,
        ),
        "100,000 levels deep": (
            raw_request(CONTROL_RESET, _json_headers(len(deep)), method=b"POST") + deep,
            VALIDATION,
        ),
        "invalid UTF-8 in the JSON": (
            raw_request(b"/_mock/kill-switches", _json_headers(13), method=b"PUT") + b'{"scope":"\xff"}',
            VALIDATION,
        ),
        "a BOM before the JSON": (
            raw_request(b"/_mock/kill-switches", _json_headers(len(NOBODY_SWITCH) + 3), method=b"PUT")
            + b"\xef\xbb\xbf"
            + NOBODY_SWITCH,
            None,
        ),
        "UTF-16 JSON": (
            raw_request(
                b"/_mock/kill-switches", _json_headers(len(NOBODY_SWITCH.decode().encode("utf-16"))), method=b"PUT"
            )
            + NOBODY_SWITCH.decode().encode("utf-16"),
            VALIDATION,
        ),
        "NaN": (
            raw_request(b"/_mock/clock", _json_headers(22), method=b"PUT") + b'{"advanceSeconds": NaN}',
            VALIDATION,
        ),
        "two Host headers, the foreign one first": (
            raw_request(b"/_mock/state", [b"Host: evil.example"], method=b"GET"),
            None,
        ),
        "two Origin headers, the foreign one first": (
            raw_request(
                CONTROL_RESET,
                [
                    b"Origin: http://evil.example",
                    b"Origin: http://127.0.0.1",
                    b"Content-Type: application/json",
                    b"Content-Length: 2",
                ],
                method=b"POST",
            )
            + b"{}",
            VALIDATION,
        ),
        "Host of a rebound name": (
            raw_request(b"/_mock/state", method=b"GET").replace(b"Host: 127.0.0.1", b"Host: evil.example"),
            403,
        ),
    }


def test_hostile_control_plane_requests_change_nothing(multi_mock, multi_control, tenant):
    before = multi_control.state()
    for name, (data, expected) in control_cases().items():
        raw = raw_exchange(multi_mock.port, data)
        if expected == 403:  # the control plane's own 403 (FORBIDDEN), not the API's scope 403
            resp = parse_response(raw)
            assert resp.status == 403 and resp.envelope["error"]["code"] == "FORBIDDEN", f"{name}: {raw[:300]}"
        else:
            _expect_answer(name, raw, expected)
        assert_alive(multi_mock.base_url, tenant.secret)
    after = multi_control.state()
    for part in ("organizations", "keys", "testAccounts", "globalKillSwitch", "faults"):
        assert after[part] == before[part] or (
            part == "organizations" and {o["id"] for o in before[part]} <= {o["id"] for o in after[part]}
        ), part  # other tests add theirs
