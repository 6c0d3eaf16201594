"""The truth checks on hand-made exchanges: each rule fails a false value and passes a true one."""

from __future__ import annotations

import email.utils
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import schemathesis

from conformance import checks, truth
from conformance.exchange import Exchange
from conformance.pipeline import Pipeline
from conformance.results import Results
from contract import CONTRACT

ACCOUNT = "sa_9c1e42a0-b7f3-4e5d-a2c1-8b4f5e6c7d8e"
URL = "http://target" + CONTRACT.path_for(ACCOUNT)
RID = "req_01HXZ9G7KMV2QX8Y1S5RJW3B7T"


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _made(status: int, headers, content: bytes) -> httpx.Response:
    """A response as the transport hands it over: with its request, and its time taken."""
    response = httpx.Response(status, headers=headers, content=content, request=httpx.Request("DELETE", URL))
    response.elapsed = timedelta(milliseconds=5)
    return response


def exchange(status=200, body=None, headers=None, request_headers=None, date: datetime | None = None) -> Exchange:
    now = date or datetime.now(UTC)
    hdrs = {
        "content-type": "application/json",
        "x-request-id": RID,
        CONTRACT.rate_limit_class_header: CONTRACT.rate_limit_class,
        "date": email.utils.format_datetime(now, usegmt=True),
        **(headers or {}),
    }
    if body is None and status == 200:
        body = {
            "socialAccountId": ACCOUNT,
            "status": "disconnected",
            "disconnectedReason": "revoked_by_partner",
            "canceledScheduledPosts": 3,
            "disconnectedAt": _z(now),
        }
    content = json.dumps(body).encode() if body is not None else b""
    response = _made(status, hdrs, content)
    return Exchange("DELETE", URL, {"Authorization": "Bearer k", **(request_headers or {})}, response, "test")


def judge(*exchanges: Exchange, **pipeline_kw) -> Results:
    results = Results()
    pipeline = Pipeline(results, **pipeline_kw)
    for ex in exchanges:
        pipeline.judge(ex)
    return results


def failed(results: Results, name: str) -> bool:
    rec = results.records.get(name)
    return bool(rec and rec.failed)


@pytest.mark.parametrize(
    "shift, bad",
    [
        (timedelta(0), False),
        (timedelta(seconds=truth.TIME_TOLERANCE_SECONDS), False),  # at the bound
        (timedelta(seconds=truth.TIME_TOLERANCE_SECONDS + 1), True),  # just past it
        (timedelta(hours=-7), True),
        (timedelta(days=-38), True),
        (timedelta(hours=24), True),
    ],
)
def test_disconnected_at_is_held_to_the_date_header(shift, bad):
    now = datetime.now(UTC).replace(microsecond=0)
    ex = exchange(date=now)
    body = ex.json()
    body["disconnectedAt"] = _z(now + shift)
    ex.response = _made(200, ex.response.headers, json.dumps(body).encode())
    assert failed(judge(ex), "disconnected_at_is_revoke_time") is bad


def test_the_mock_clock_wins_over_the_date_header():
    moved = datetime.now(UTC) + timedelta(hours=5)  # the kit moved the mock's clock
    ex = exchange()
    body = ex.json()
    body["disconnectedAt"] = _z(moved)
    ex.response = _made(200, ex.response.headers, json.dumps(body).encode())
    results = Results()
    pipeline = Pipeline(results)
    pipeline.truth.mock_clock = lambda: {"now": _z(moved)}
    pipeline.judge(ex)
    assert not failed(results, "disconnected_at_is_revoke_time")
    assert results.records["disconnected_at_is_revoke_time"].passed == 1


def test_request_ids_are_unique_but_a_replay_repeats_its_original():
    key = {CONTRACT.idempotency_header: "k1"}
    first, replay = exchange(request_headers=key), exchange(request_headers=key)
    assert not failed(judge(first, replay), "request_ids_unique")
    # Another request (no key, or another account, or another API key) may not share the id.
    assert failed(judge(exchange(), exchange()), "request_ids_unique")
    other_key = exchange(request_headers={**key, "Authorization": "Bearer other"})
    assert failed(judge(exchange(request_headers=key), other_key), "request_ids_unique")


def _response(status, headers=None, body=b"{}"):
    hdrs = {"content-type": "application/json", **(headers or {})}
    return schemathesis.Response.from_any(_made(status, hdrs, body))


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_never_legitimate(status):
    with pytest.raises(AssertionError, match="no 3xx"):
        checks.no_redirect(None, _response(status, {"location": "/elsewhere"}), None)


@pytest.mark.parametrize(
    "status, ok",
    [
        (200, True),
        (404, True),
        (405, True),
        (413, True),
        (415, True),
        (414, True),
        (204, False),
        (410, False),
        (422, False),
        (501, False),
    ],
)
def test_only_statuses_of_the_page_or_a_decision(status, ok):
    call = lambda: checks.status_is_documented(None, _response(status), None)  # noqa: E731
    if ok:
        assert call()
    else:
        with pytest.raises(AssertionError, match="neither on the page"):
            call()


def test_request_id_and_class_values():
    good = {"x-request-id": RID, CONTRACT.rate_limit_class_header: CONTRACT.rate_limit_class}
    assert checks.request_id_is_req_ulid(None, _response(404, good), None)
    assert checks.rate_limit_class_is_write_light(None, _response(404, good), None)
    with pytest.raises(AssertionError):
        checks.request_id_is_req_ulid(None, _response(404, {**good, "x-request-id": "req_" + "a" * 32}), None)
    with pytest.raises(AssertionError):
        checks.rate_limit_class_is_write_light(
            None, _response(404, {**good, CONTRACT.rate_limit_class_header: "write"}), None
        )


def test_a_key_in_the_url_becomes_its_variable_in_the_curl_line():
    ex = exchange()
    ex.url = URL + "?access_token=lp_secret_key_123"
    ex.secrets = {"lp_secret_key_123": "LAYERS_API_KEY"}
    assert "lp_secret_key_123" not in ex.curl() and "${LAYERS_API_KEY}" in ex.curl()
