"""Every documented status, reached through the real app over HTTP (in-process) by the steps in
docs/guides/any-language.md, with the world checked through the control plane afterwards; on
both backends, through both edges."""

from __future__ import annotations

from http import HTTPStatus

import httpx
import pytest

from contract import CONTRACT

EXAMPLE_ID = CONTRACT.example_account_id
FOREIGN_ID = "sa_f903c2af-f230-43bd-9a1a-764fda511dce"  # Globex's account in the default world
DISCONNECTED_ID = "sa_f1da6e09-46d3-4f52-834c-fa81badc5bfd"
LEASED_ID = "sa_618f28b4-fef1-4054-8650-62f1e1848ed5"
MIXED_ID = "sa_06f478ce-d45f-482c-a684-f6d446cad5e2"  # queued 2, publishing, failed, canceled


def revoke(api: httpx.Client, account_id: str, key: str | None, **headers) -> httpx.Response:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    return api.delete(CONTRACT.path_for(account_id), headers=headers)


def assert_error(resp: httpx.Response, status: int) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == CONTRACT.code_for_status(status)
    assert error["message"]
    assert CONTRACT.request_id_pattern.fullmatch(error["requestId"])
    assert resp.headers[CONTRACT.request_id_header] == error["requestId"]
    assert resp.headers[CONTRACT.rate_limit_class_header] == CONTRACT.rate_limit_class
    return error


def test_page_example_revokes_then_answers_404(api, control, keys):
    first = revoke(api, EXAMPLE_ID, keys["write"]["secret"])
    assert first.status_code == 200
    body = first.json()
    assert list(body) == CONTRACT.success_fields
    assert body["socialAccountId"] == EXAMPLE_ID
    assert body["status"] == CONTRACT.success_enum("status")
    assert body["disconnectedReason"] == CONTRACT.success_enum("disconnectedReason")
    assert body["canceledScheduledPosts"] == 4
    assert CONTRACT.request_id_pattern.fullmatch(first.headers[CONTRACT.request_id_header])

    state = control.account(EXAMPLE_ID)
    assert state["status"] == "disconnected" and state["disconnectedReason"] == "revoked_by_partner"
    assert state["disconnectedAt"] == body["disconnectedAt"]
    assert state["hasToken"] is False
    assert state["postCounts"] == {"canceled": 4, "published": 2, "draft": 1}
    assert {p["cancelReason"] for p in state["posts"] if p["status"] == "canceled"} == {"revoked_by_partner"}

    assert_error(revoke(api, EXAMPLE_ID, keys["write"]["secret"]), 404)


def test_only_queued_posts_are_canceled(api, control, keys):
    before = control.account(MIXED_ID)["postCounts"]
    resp = revoke(api, MIXED_ID, keys["write"]["secret"])
    assert resp.json()["canceledScheduledPosts"] == before["queued"] == 2
    after = control.account(MIXED_ID)["postCounts"]
    assert after == {"canceled": before["canceled"] + 2, "publishing": 1, "failed": 1}


def test_malformed_id_is_400_validation(api, control, keys):
    for bad in [
        "sa_not-a-uuid",
        EXAMPLE_ID.upper().replace("SA_", "sa_"),
        EXAMPLE_ID[3:],
        "sa_01HXZ9P2M4N5KLM6TUV7WXYZ9A",
    ]:
        error = assert_error(revoke(api, bad, keys["write"]["secret"]), 400)
        assert "sa_<uuid>" in error["message"]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer lp_unknown_key_123", "Basic dXNlcjpwYXNz", "lp_test_acme_write_7Qm2xK9pL4vN8rT1"],
)
def test_missing_or_invalid_credentials_are_401(api, control, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    assert_error(api.delete(CONTRACT.path_for(EXAMPLE_ID), headers=headers), 401)
    assert control.account(EXAMPLE_ID)["status"] == "connected"


def test_key_without_scope_is_403_with_required_scope(api, control, keys):
    error = assert_error(revoke(api, EXAMPLE_ID, keys["read-only"]["secret"]), 403)
    assert error["details"]["requiredScope"] == CONTRACT.required_scope
    assert control.account(EXAMPLE_ID)["status"] == "connected"


def test_wildcard_scope_is_allowed(api, control, keys):
    assert revoke(api, EXAMPLE_ID, keys["wildcard, standard tier"]["secret"]).status_code == 200


def test_other_organization_and_unknown_accounts_look_the_same(api, control, keys):
    foreign = assert_error(revoke(api, FOREIGN_ID, keys["write"]["secret"]), 404)
    unknown = assert_error(revoke(api, "sa_11111111-2222-4333-8444-555555555555", keys["write"]["secret"]), 404)
    gone = assert_error(revoke(api, DISCONNECTED_ID, keys["write"]["secret"]), 404)
    assert (
        {k: v for k, v in foreign.items() if k != "requestId"}
        == {k: v for k, v in unknown.items() if k != "requestId"}
        == {k: v for k, v in gone.items() if k != "requestId"}
    )
    assert control.account(FOREIGN_ID)["status"] == "connected"


def test_leased_account_revokes_and_keeps_its_lease(api, control, keys):
    resp = revoke(api, LEASED_ID, keys["write"]["secret"])
    assert resp.status_code == 200 and resp.json()["canceledScheduledPosts"] == 3
    state = control.account(LEASED_ID)
    assert state["status"] == "disconnected" and state["leased"] is True
    assert state["lease"] == {"status": "active"}


def test_idempotency_replays_then_conflicts(api, control, keys):
    key = keys["write"]["secret"]
    first = revoke(api, EXAMPLE_ID, key, **{"Idempotency-Key": "offboard-42"})
    replay = revoke(api, EXAMPLE_ID, key, **{"Idempotency-Key": "offboard-42"})
    assert first.status_code == replay.status_code == 200
    assert replay.content == first.content
    assert replay.headers[CONTRACT.request_id_header] == first.headers[CONTRACT.request_id_header]
    assert replay.headers[CONTRACT.replay_header] == "true"
    assert CONTRACT.replay_header.lower() not in {k.lower() for k in first.headers}
    assert_error(revoke(api, MIXED_ID, key, **{"Idempotency-Key": "offboard-42"}), 409)
    assert control.account(MIXED_ID)["status"] == "connected"
    # Keys are scoped to the API key: another key may use the same value freely.
    other = revoke(api, MIXED_ID, keys["wildcard, standard tier"]["secret"], **{"Idempotency-Key": "offboard-42"})
    assert other.status_code == 200


def test_idempotency_key_expires_after_the_window(api, control, keys):
    key = keys["write"]["secret"]
    control.set_clock(frozen=True)
    assert revoke(api, EXAMPLE_ID, key, **{"Idempotency-Key": "k-window"}).status_code == 200
    control.set_clock(advanceSeconds=CONTRACT.idempotency_window_seconds - 1)
    assert_error(revoke(api, MIXED_ID, key, **{"Idempotency-Key": "k-window"}), 409)
    control.set_clock(advanceSeconds=CONTRACT.idempotency_window_seconds)
    # Past the window the key is fresh again: on another account it revokes instead of conflicting.
    assert revoke(api, MIXED_ID, key, **{"Idempotency-Key": "k-window"}).status_code == 200


def test_empty_idempotency_key_is_400(api, control, keys):
    assert_error(revoke(api, EXAMPLE_ID, keys["write"]["secret"], **{"Idempotency-Key": ""}), 400)


def test_rate_limit_429_with_truthful_retry_after(api, control, keys):
    control.set_clock(frozen=True)
    control.set_budget(keys["write"]["id"], 0)
    limited = revoke(api, EXAMPLE_ID, keys["write"]["secret"])
    assert_error(limited, 429)
    retry_after = int(limited.headers[CONTRACT.retry_after_header])
    assert 1 <= retry_after <= 60
    assert control.account(EXAMPLE_ID)["status"] == "connected"
    control.set_clock(advanceSeconds=retry_after - 1)
    assert revoke(api, EXAMPLE_ID, keys["write"]["secret"]).status_code == 429
    control.set_clock(advanceSeconds=1)
    assert revoke(api, EXAMPLE_ID, keys["write"]["secret"]).status_code == 200


def test_standard_tier_budget_runs_out_after_its_per_minute_limit(api, control, keys):
    control.set_clock(frozen=True)
    limit = CONTRACT.rate_limit_tiers["standard"]["perMinute"]
    key = keys["wildcard, standard tier"]["secret"]
    statuses = [revoke(api, "sa_11111111-2222-4333-8444-555555555555", key).status_code for _ in range(limit + 1)]
    assert statuses[:limit] == [404] * limit and statuses[limit] == 429


def test_fault_gives_500_and_changes_nothing_then_retry_succeeds(api, control, keys):
    before = control.account(EXAMPLE_ID)
    control.arm_fault("cancel_posts")
    assert_error(revoke(api, EXAMPLE_ID, keys["write"]["secret"], **{"Idempotency-Key": "retry-me"}), 500)
    after = control.account(EXAMPLE_ID)
    assert after == before
    retry = revoke(api, EXAMPLE_ID, keys["write"]["secret"], **{"Idempotency-Key": "retry-me"})
    assert retry.status_code == 200 and retry.json()["canceledScheduledPosts"] == 4
    assert control.integrity()["ok"]


@pytest.mark.parametrize("scope", CONTRACT.kill_switch_scopes)
def test_kill_switches_answer_503_with_their_scope(api, control, keys, default_world, scope):
    target = {"key": keys["write"]["id"], "organization": keys["write"]["organizationId"], "global": None}[scope]
    control.kill_switch(scope, True, target)
    error = assert_error(revoke(api, EXAMPLE_ID, keys["write"]["secret"]), 503)
    assert error["details"]["scope"] == scope
    assert control.account(EXAMPLE_ID)["status"] == "connected"
    control.kill_switch(scope, False, target)
    assert revoke(api, EXAMPLE_ID, keys["write"]["secret"]).status_code == 200


def test_kill_switch_wins_over_missing_scope(api, control, keys):
    control.kill_switch("organization", True, keys["read-only"]["organizationId"])
    assert_error(revoke(api, EXAMPLE_ID, keys["read-only"]["secret"]), 503)


def test_reserved_test_accounts_always_answer_their_status(api, control, keys, default_world):
    for entry in default_world["testAccounts"]:
        for _ in range(2):  # and again: they never change state
            resp = revoke(api, entry["id"], keys["write"]["secret"])
            if entry["status"] == 200:
                assert resp.status_code == 200 and resp.json()["socialAccountId"] == entry["id"]
            else:
                assert_error(resp, entry["status"])


def test_unknown_route_and_wrong_method_use_the_envelope(api, control, keys):
    nowhere = api.get("/v1/nowhere")
    assert nowhere.status_code == 404 and nowhere.json()["error"]["code"] == "NOT_FOUND"
    wrong = api.get(CONTRACT.path_for(EXAMPLE_ID), headers={"Authorization": f"Bearer {keys['write']['secret']}"})
    assert wrong.status_code == 405 and wrong.headers["allow"] == "DELETE"
    assert wrong.json()["error"]["requestId"] == wrong.headers[CONTRACT.request_id_header]


def test_journal_records_requests_with_keys_redacted(api, control, keys):
    # Found by this layer (requests follow each other with no network between them): on
    # PostgreSQL a flush already handed to a thread was not awaited by /_mock/journal or
    # /_mock/reset; both now wait for it.
    secret = keys["write"]["secret"]
    revoke(api, EXAMPLE_ID, secret)
    revoke(api, EXAMPLE_ID, None)
    entries = control.journal()
    assert [e["status"] for e in entries] == [200, 401]
    assert entries[0]["keyId"] == keys["write"]["id"] and entries[1]["code"] == "UNAUTHENTICATED"
    assert secret not in str(entries) and entries[0]["keyHint"].endswith("…")


# -- the project's decisions on what the page does not document (docs/decisions.md, decision 12) --------------
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH"])
def test_other_methods_on_the_revoke_route_are_405_in_the_envelope(api, control, keys, method):
    r = api.request(
        method, CONTRACT.path_for(EXAMPLE_ID), headers={"Authorization": f"Bearer {keys['write']['secret']}"}
    )
    assert r.status_code == HTTPStatus.METHOD_NOT_ALLOWED and r.headers["allow"] == "DELETE"
    error = r.json()["error"]
    assert error["code"] == HTTPStatus.METHOD_NOT_ALLOWED.name
    assert error["requestId"] == r.headers[CONTRACT.request_id_header]
    assert control.account(EXAMPLE_ID)["status"] == "connected"


def test_control_plane_413_and_415_use_the_envelope_with_the_status_name(api, control):
    before = control.state()["counts"]
    cases = [
        (HTTPStatus.REQUEST_ENTITY_TOO_LARGE, b" " * (2 << 20) + b"{}", "application/json"),  # past 1 MiB
        (HTTPStatus.UNSUPPORTED_MEDIA_TYPE, b"{}", "text/plain"),
    ]
    for status, body, content_type in cases:
        r = api.post("/_mock/organizations", content=body, headers={"Content-Type": content_type})
        assert r.status_code == status, r.text
        assert r.json()["error"]["code"] == status.name
        assert r.json()["error"]["requestId"] == r.headers[CONTRACT.request_id_header]
    assert control.state()["counts"] == before


def test_a_query_string_on_the_revoke_route_is_400(api, control, keys):
    r = api.delete(
        CONTRACT.path_for(EXAMPLE_ID),
        params={"force": "true"},
        headers={"Authorization": f"Bearer {keys['write']['secret']}"},
    )
    assert_error(r, 400)
    assert control.account(EXAMPLE_ID)["status"] == "connected"


def test_a_body_on_the_revoke_is_ignored(api, control, keys):
    """The operation takes no body: one sent anyway leaves the fast path for Connexion, which
    answers as it would without it."""
    r = api.request(
        "DELETE",
        CONTRACT.path_for(EXAMPLE_ID),
        content=b'{"reason": "x"}',
        headers={"Authorization": f"Bearer {keys['write']['secret']}", "Content-Type": "application/json"},
    )
    assert r.status_code == 200 and r.json()["canceledScheduledPosts"] == 4


# -- the pipeline's branches ------------------------------------------------------------------
def test_a_fault_armed_for_one_account_spares_the_others(api, control, keys):
    key = keys["write"]["secret"]
    control.arm_fault("cancel_posts", account_id=MIXED_ID)
    assert revoke(api, EXAMPLE_ID, key).status_code == 200
    assert_error(revoke(api, MIXED_ID, key), 500)
    assert revoke(api, MIXED_ID, key).status_code == 200
    assert control.integrity()["ok"]


def test_a_fault_armed_twice_fails_twice_then_clears(api, control, keys):
    control.arm_fault("cancel_posts", count=2)
    statuses = [revoke(api, EXAMPLE_ID, keys["write"]["secret"]).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    assert control.state()["faults"] == []


def test_cleared_faults_fail_nothing(api, control, keys):
    control.arm_fault("cancel_posts", count=5)
    control.clear_faults()
    assert revoke(api, EXAMPLE_ID, keys["write"]["secret"]).status_code == 200


def test_a_clock_set_to_a_moment_stamps_the_revoke(api, control, keys):
    control.set_clock(now="2031-05-06T07:08:09Z", frozen=True)
    r = revoke(api, EXAMPLE_ID, keys["write"]["secret"])
    assert r.json()["disconnectedAt"] == "2031-05-06T07:08:09Z"
    assert control.account(EXAMPLE_ID)["disconnectedAt"] == "2031-05-06T07:08:09Z"


def test_an_idempotency_key_still_replays_after_a_kill_switch_came_and_went(api, control, keys):
    """While the key's switch is on, a new request is 503; once it is off, the key sent before
    replays the first answer (the 503 in between stored nothing)."""
    key = keys["write"]
    first = revoke(api, EXAMPLE_ID, key["secret"], **{"Idempotency-Key": "before-the-switch"})
    control.kill_switch("key", True, key["id"])
    assert_error(revoke(api, MIXED_ID, key["secret"], **{"Idempotency-Key": "after-the-switch"}), 503)
    control.kill_switch("key", False, key["id"])
    replay = revoke(api, EXAMPLE_ID, key["secret"], **{"Idempotency-Key": "before-the-switch"})
    assert replay.content == first.content and replay.headers[CONTRACT.replay_header] == "true"
