"""Hosted mode in-process (mock_server/sandboxes.py's rules, on both backends): the operator's
token makes, lists and deletes sandboxes and nothing else; a sandbox's admin token drives its own
world and no other; its keys revoke in it; wrong, missing or foreign tokens are refused and
change nothing. The limits, expiry and many-sandbox load stay in tests/sandbox (e2e)."""

from __future__ import annotations

import contextlib

import pytest

from contract import CONTRACT
from mock_control import ControlPlaneError

UNAUTHENTICATED = CONTRACT.status_for_code("UNAUTHENTICATED")
FORBIDDEN = 403  # control.yaml's hosted-mode refusal (code FORBIDDEN); the API's 403 is another code


@pytest.fixture
def operator(hosted_mock):
    with hosted_mock.control(admin_token=hosted_mock.operator_token) as client:
        yield client


@pytest.fixture
def sandbox(operator):
    made = operator.create_sandbox(label="in-process")
    yield made
    with contextlib.suppress(ControlPlaneError):  # the test may have deleted it itself
        operator.delete_sandbox(made["sandboxId"])


def write_key(sandbox: dict) -> dict:
    return next(k for k in sandbox["keys"] if CONTRACT.required_scope in k["scopes"])


def test_a_sandbox_key_revokes_in_its_own_world_only(hosted_mock, operator, sandbox):
    other = operator.create_sandbox(label="other")
    key = write_key(sandbox)
    with (
        hosted_mock.client() as api,
        hosted_mock.control(admin_token=sandbox["adminToken"]) as mine,
        hosted_mock.control(admin_token=other["adminToken"]) as theirs,
    ):
        account = CONTRACT.example_account_id
        first = api.delete(CONTRACT.path_for(account), headers={"Authorization": f"Bearer {key['secret']}"})
        assert first.status_code == CONTRACT.success_status, first.text
        assert mine.account(account)["status"] == "disconnected"
        assert theirs.account(account)["status"] == "connected"  # the same fixture, another world
        again = api.delete(CONTRACT.path_for(account), headers={"Authorization": f"Bearer {key['secret']}"})
        assert again.status_code == CONTRACT.status_for_code("NOT_FOUND")
        if hosted_mock.backend == "sqlite":  # PostgreSQL: see test_journal_records_requests_with_keys_redacted
            assert [e["status"] for e in mine.journal()] == [first.status_code, again.status_code]
        assert theirs.journal() == []
        mine.reset()
        assert mine.account(account)["status"] == "connected"
    operator.delete_sandbox(other["sandboxId"])


def test_the_operator_token_is_for_sandboxes_only(hosted_mock, operator, sandbox):
    listed = operator.list_sandboxes()
    assert sandbox["sandboxId"] in {s["sandboxId"] for s in listed["sandboxes"]}
    with hosted_mock.client() as http:
        r = http.get("/_mock/state", headers={"X-Mock-Admin-Token": hosted_mock.operator_token})
        assert r.status_code == FORBIDDEN and r.json()["error"]["code"] == "FORBIDDEN", r.text
        r = http.get("/_mock/sandboxes", headers={"X-Mock-Admin-Token": sandbox["adminToken"]})
        assert r.status_code == FORBIDDEN and r.json()["error"]["code"] == "FORBIDDEN", r.text


@pytest.mark.parametrize("token", [None, "not-a-token-of-ours"])
def test_missing_or_unknown_tokens_are_refused_and_change_nothing(hosted_mock, operator, sandbox, token):
    headers = {"Content-Type": "application/json"} | ({"X-Mock-Admin-Token": token} if token else {})
    with hosted_mock.client() as http, hosted_mock.control(admin_token=sandbox["adminToken"]) as mine:
        before = mine.state()["counts"]
        for method, path in [("POST", "/_mock/reset"), ("POST", "/_mock/sandboxes"), ("GET", "/_mock/state")]:
            r = http.request(method, path, headers=headers, content=b"{}")
            assert r.status_code == UNAUTHENTICATED, (method, path, r.text)
            assert r.json()["error"]["code"] == "UNAUTHENTICATED"
        assert mine.state()["counts"] == before


def test_a_deleted_sandbox_is_gone_with_its_tokens(hosted_mock, operator, sandbox):
    operator.delete_sandbox(sandbox["sandboxId"])
    assert sandbox["sandboxId"] not in {s["sandboxId"] for s in operator.list_sandboxes()["sandboxes"]}
    with hosted_mock.client() as http:
        r = http.get("/_mock/state", headers={"X-Mock-Admin-Token": sandbox["adminToken"]})
        assert r.status_code == UNAUTHENTICATED, r.text
        gone = http.delete(
            CONTRACT.path_for(CONTRACT.example_account_id),
            headers={"Authorization": f"Bearer {write_key(sandbox)['secret']}"},
        )
        assert gone.status_code == UNAUTHENTICATED, gone.text
