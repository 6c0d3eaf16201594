"""A revoke with no Authorization header at all (issue 20's 401 path): the pipeline answers it
with the domain's refusal asked once (core/pipeline.py `_no_key`), not raised and rendered per
request. Its answer must stay the one the raised refusal gives: the same status, headers and
envelope as a malformed header's 401 (which still raises), on either edge, journaled like it."""

from __future__ import annotations

import json

import pytest

from contract import CONTRACT

UNKNOWN = "sa_ffffffff-ffff-4fff-8fff-ffffffffffff"  # well-formed, in no world
REVOKE = CONTRACT.path_for(UNKNOWN)


def _answer(response) -> tuple[int, list[str], dict]:
    """Status, header names, and the envelope with its request id checked and blanked out."""
    body = response.json()
    assert body["error"]["requestId"] == response.headers[CONTRACT.request_id_header]
    body["error"]["requestId"] = "-"
    return response.status_code, sorted(response.headers), body


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "connexion-only"])
def test_no_key_is_answered_as_a_raised_refusal_is(make_mock, fast_path):
    mock = make_mock("sqlite", fast_path=fast_path)
    with mock.client() as client:
        no_key = client.delete(REVOKE)
        malformed = client.delete(REVOKE, headers={"Authorization": "Basic Zm9vOmJhcg=="})
        again = client.delete(REVOKE)
    assert no_key.status_code == CONTRACT.status_for_code("UNAUTHENTICATED")
    assert _answer(no_key) == _answer(malformed) == _answer(again)
    assert no_key.json()["error"]["code"] == "UNAUTHENTICATED"
    assert no_key.json()["error"]["message"] == CONTRACT.responses[401].example["error"]["message"]
    assert no_key.headers[CONTRACT.rate_limit_class_header] == CONTRACT.rate_limit_class
    # Each its own request id, and each journaled with it.
    ids = [r.headers[CONTRACT.request_id_header] for r in (no_key, malformed, again)]
    assert len(set(ids)) == 3
    entries = {e["requestId"]: e for e in mock.control().journal()}
    assert [(entries[i]["status"], entries[i]["code"]) for i in ids] == [(401, "UNAUTHENTICATED")] * 3


def test_no_key_bytes_match_the_raised_refusals(make_mock):
    """Byte for byte (the fast path writes its own bytes): the body is the raised refusal's with
    the other request id."""
    mock = make_mock("sqlite")
    with mock.client() as client:
        no_key = client.delete(REVOKE)
        malformed = client.delete(REVOKE, headers={"Authorization": "Bearer"})
    rid_a, rid_b = (r.headers[CONTRACT.request_id_header] for r in (no_key, malformed))
    assert no_key.content == malformed.content.replace(rid_b.encode(), rid_a.encode())
    assert json.loads(no_key.content)["error"]["requestId"] == rid_a
