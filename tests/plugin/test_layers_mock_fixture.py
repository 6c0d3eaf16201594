"""The `layers_mock` fixture itself, used in-process as a partner's suite would use it."""

from __future__ import annotations

from importlib.metadata import entry_points

import httpx
import pytest
import requests

from contract import CONTRACT

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers


def test_plugin_is_registered_by_entry_point(request):
    (entry,) = [e for e in entry_points(group="pytest11") if e.name == "layers_mock"]
    assert entry.value == "layers_pytest.plugin"
    assert request.config.pluginmanager.has_plugin("layers_mock")


def _assert_fresh_then_dirty(layers_mock):
    """What a fresh world looks like; then leave as much mess behind as possible."""
    assert layers_mock.journal() == []
    assert not layers_mock.control.clock()["frozen"]
    assert layers_mock.account(layers_mock.example_account_id)["hasToken"]
    assert layers_mock.revoke(layers_mock.example_account_id).is_success
    layers_mock.freeze_clock(at="2020-01-01T00:00:00Z")
    layers_mock.exhaust_budget()
    layers_mock.fail_next_revoke(count=5)
    for scope in CONTRACT.kill_switch_scopes:
        layers_mock.kill_switch(scope)


# Two tests that each check for a fresh world and then dirty it: whichever runs second fails
# unless the fixture reset the mock in between.
def test_world_is_fresh_in_one_test(layers_mock):
    _assert_fresh_then_dirty(layers_mock)


def test_world_is_fresh_in_another_test(layers_mock):
    _assert_fresh_then_dirty(layers_mock)


def test_write_key_revokes_and_read_only_key_is_refused(layers_mock):
    account = layers_mock.create_account(queued=1)

    refused = requests.delete(layers_mock.url_for(account), headers=layers_mock.auth(layers_mock.read_only_key))
    assert not refused.ok
    assert refused.json()["error"]["details"]["requiredScope"] == CONTRACT.required_scope
    assert layers_mock.account(account)["hasToken"]

    accepted = httpx.delete(layers_mock.url_for(account), headers=layers_mock.auth())
    assert accepted.is_success and accepted.json()["canceledScheduledPosts"] == 1


def test_create_account_options(layers_mock):
    leased = layers_mock.account(layers_mock.create_account(queued=2, published=3, leased=True))
    assert leased["leased"] and leased["postCounts"] == {"queued": 2, "published": 3}
    assert leased["organizationId"] == layers_mock.organization_id

    foreign = layers_mock.create_account(other_organization=True)
    assert layers_mock.account(foreign)["organizationId"] == layers_mock.other_organization_id
    gone = layers_mock.create_account()
    assert layers_mock.revoke(gone).is_success
    # Another organization's account answers exactly like one of ours that is already gone.
    foreign_answer, gone_answer = layers_mock.revoke(foreign), layers_mock.revoke(gone)
    assert not foreign_answer.is_success
    assert (foreign_answer.status_code, foreign_answer.json()["error"]["code"]) == (
        gone_answer.status_code,
        gone_answer.json()["error"]["code"],
    )
    assert layers_mock.account(foreign)["hasToken"]  # and it is untouched


def test_exhausted_budget_answers_the_promised_retry_after(layers_mock):
    account = layers_mock.create_account(queued=1)
    layers_mock.freeze_clock(at="2026-04-18T19:15:02Z")
    seconds = layers_mock.exhaust_budget()

    limited = layers_mock.revoke(account)
    assert limited.json()["error"]["code"] == CONTRACT.code_for_status(limited.status_code)
    assert limited.headers[CONTRACT.retry_after_header] == str(seconds)

    layers_mock.sleep(seconds)  # moves the mock's clock, takes no real time
    assert layers_mock.sleep.calls == [seconds]
    assert layers_mock.revoke(account).is_success


def test_clock_sleep_advances_the_mock_clock(layers_mock):
    layers_mock.freeze_clock()
    before = layers_mock.now()
    layers_mock.sleep(30)
    layers_mock.sleep(0.5)
    assert layers_mock.now() == pytest.approx(before + 30.5)
    assert layers_mock.sleep.total == 30.5


@pytest.mark.parametrize("scope", CONTRACT.kill_switch_scopes)
def test_kill_switch_defaults_hit_the_ready_key(layers_mock, scope):
    layers_mock.kill_switch(scope)
    response = layers_mock.revoke(layers_mock.example_account_id)
    assert response.json()["error"]["details"]["scope"] == scope

    layers_mock.kill_switch(scope, enabled=False)
    assert layers_mock.revoke(layers_mock.example_account_id).is_success


def test_failed_revoke_changes_nothing_and_journal_hides_keys(layers_mock):
    account = layers_mock.create_account(queued=2)
    layers_mock.fail_next_revoke(account_id=account)

    failed = layers_mock.revoke(account, idempotency_key="retry-me")
    assert not failed.is_success
    assert layers_mock.account(account)["postCounts"] == {"queued": 2}
    assert layers_mock.revoke(account, idempotency_key="retry-me").json()["canceledScheduledPosts"] == 2

    entries = layers_mock.requests_for(account)
    assert [e["idempotencyKey"] for e in entries] == ["retry-me", "retry-me"]
    assert layers_mock.write_key not in repr(entries)
    assert layers_mock.integrity()["ok"]
