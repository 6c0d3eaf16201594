"""Deterministic scenarios: each isolates one documented condition, everything else valid.

A scenario records named expectations (`ctx.expect("second_revoke_answers_404", ...)`); the
name is what the summary, JUnit and JSON report. No scenario depends on the order in which a
server evaluates two failures at once: where two conditions meet (a read-only key on an unknown
account), either documented answer is accepted, and the order itself is asserted only under
`--strict`, labeled as this project's decision.
"""

from __future__ import annotations

import time
import uuid

from conformance import boundaries, concurrency, credentials, leaks, picking, probes, schedule
from conformance.client import retry_after_seconds
from conformance.exchange import Exchange
from conformance.ids import unknown_account_id
from conformance.scenario_base import (
    OK,
    STATUS,
    Context,
    Options,
    Scenario,
    ScenarioSkipped,
    needs_accounts,
    needs_foreign,
    needs_mock,
    needs_rate_limit,
    needs_read_only,
    scenario,
)
from contract import CONTRACT

__all__ = ["SCENARIOS", "run_scenarios", "selected"]

# -- non-destructive: nothing here can revoke an account of the caller's organization ----------

MALFORMED_IDS = ["sa_not-a-uuid", "not-an-account-id", "sa_", "sa_9c1e42a0-b7f3-4e5d-a2c1"]


@scenario("malformed_id_answers_400")
def malformed_id(ctx: Context) -> None:
    ctx.each(
        MALFORMED_IDS,
        lambda account_id: ctx.expect_error(
            "malformed_id_answers_400",
            ctx.revoke(account_id, f"malformed id {account_id}", token=ctx.target.api_key),
            "VALIDATION",
        ),
    )


# Without valid credentials there is no "your organization" to look an account up in, so an
# unknown id adds no second failure here: 401 is the only answer the docs allow.
@scenario("missing_credentials_answer_401")
def missing_credentials(ctx: Context) -> None:
    ex = ctx.revoke(unknown_account_id(), "no Authorization header", token=None)
    ctx.expect_error("missing_credentials_answer_401", ex, "UNAUTHENTICATED")


@scenario("invalid_credentials_answer_401")
def invalid_credentials(ctx: Context) -> None:
    for token in (f"lp_invalid_{uuid.uuid4().hex}", ctx.target.api_key + "x"):
        ex = ctx.revoke(unknown_account_id(), "unknown bearer token", token=token)
        ctx.expect_error("invalid_credentials_answer_401", ex, "UNAUTHENTICATED")
    # The key itself, but not as a bearer token: "Missing or invalid Authorization header".
    ex = ctx.client.send(
        "DELETE",
        ctx.client.url_for(unknown_account_id()),
        {"Authorization": f"Basic {ctx.target.api_key}"},
        "key sent as Basic, not Bearer",
    )
    ctx.expect_error("invalid_credentials_answer_401", ex, "UNAUTHENTICATED")


@scenario("unknown_account_answers_404")
def unknown_account(ctx: Context) -> None:
    ex = ctx.revoke(unknown_account_id(), "unknown account", token=ctx.target.api_key)
    ctx.expect_error("unknown_account_answers_404", ex, "NOT_FOUND")
    ctx.state["unknown_404"] = ex


@scenario("foreign_account_answers_404", needs=needs_foreign)
def foreign_account(ctx: Context) -> None:
    ex = ctx.revoke(ctx.foreign_account_id, "another organization's account", token=ctx.target.api_key)
    if ex.status == STATUS["FORBIDDEN_SCOPE"]:
        ctx.expect(
            "foreign_account_answers_404",
            False,
            "answered 403: it leaks that the account exists in another organization (the docs: 404, never 403)",
            ex,
        )
        return
    ctx.expect_error("foreign_account_answers_404", ex, "NOT_FOUND")
    ctx.state["foreign_404"] = ex


@scenario("read_only_key_answers_403", needs=needs_read_only)
def read_only_key(ctx: Context) -> None:
    # An account of the key's own organization that a correct server leaves connected: the only
    # thing wrong with the request is the missing scope.
    untouched = picking.bystander(ctx)
    if untouched is not None:
        ex = ctx.revoke(untouched.id, "read-only key on an own account", token=ctx.target.read_only_key)
        ctx.expect_error("read_only_key_answers_403", ex, "FORBIDDEN_SCOPE")
        return
    # No account to aim at: an unknown id adds a second failure, and the docs state no order,
    # so 403 and 404 are both conformant; only 403 proves the scope is enforced.
    ex = ctx.revoke(unknown_account_id(), "read-only key on an unknown account", token=ctx.target.read_only_key)
    if ex.status == STATUS["NOT_FOUND"]:
        raise ScenarioSkipped("answered 404 for an unknown account; give --accounts to isolate the scope check")
    ctx.expect_error("read_only_key_answers_403", ex, "FORBIDDEN_SCOPE")


# -- destructive: only accounts the kit was given or made itself ----------------------------------


@scenario("revoke_succeeds", needs=needs_accounts)
def revoke_succeeds(ctx: Context) -> None:
    account, ex = ctx.first_revoke()  # also the stale-account check: the run's first revoke
    ctx.expect(
        "revoke_answers_200",
        ex.status == OK,
        f"expected {OK}, got {ex.status} {ex.response.text[:160]!r}",
        ex,
        stop=True,
    )
    ctx.state["revoked"] = account
    body = ex.json() if isinstance(ex.json(), dict) else {}
    ctx.expect(
        "revoke_reports_disconnected",
        body.get("status") == CONTRACT.success_enum("status")
        and body.get("disconnectedReason") == CONTRACT.success_enum("disconnectedReason"),
        f"status/disconnectedReason are {body.get('status')!r}/{body.get('disconnectedReason')!r}",
        ex,
    )
    # The echoed id and canceledScheduledPosts are judged by the pipeline, on this and every 200.
    if account.queued == 0:
        ctx.results.notes.append(
            "the first revoke hit an account with no queued posts: canceledScheduledPosts"
            " was only checked against 0 (give --accounts with queuedPosts > 0)"
        )


@scenario("second_revoke_answers_404")
def second_revoke(ctx: Context) -> None:
    account = ctx.state.get("revoked")
    if account is None:
        raise ScenarioSkipped(ctx.skipped_because("revoke_succeeds") or "the first revoke did not succeed")
    ex = ctx.revoke(account.id, "revoke the same account again")
    ctx.expect_error("second_revoke_answers_404", ex, "NOT_FOUND")
    ctx.state["revoked_404"] = ex


@scenario("idempotent_replay_same_response", needs=needs_accounts)
def idempotent_replay(ctx: Context) -> None:
    account = ctx.account()
    key = f"conformance-{uuid.uuid4()}"
    headers = {CONTRACT.idempotency_header: key}
    first = ctx.revoke(account.id, "revoke with an Idempotency-Key", headers=headers)
    ctx.expect("revoke_answers_200", first.status == OK, f"expected {OK}, got {first.status}", first, stop=True)
    # disconnectedAt has whole seconds: a replay in the same second as the original cannot show
    # that it was computed again. Real time, not the mock's clock: moving that could end the rate
    # scenario's window while it runs.
    time.sleep(REPLAY_GAP_SECONDS)
    again = ctx.revoke(account.id, "the same request with the same Idempotency-Key, a second later", headers=headers)
    changed = _changed_fields(first.json(), again.json())
    ctx.expect(
        "idempotent_replay_same_response",
        again.status == first.status and again.json() == first.json(),
        f"the replay answered {again.status} {again.response.text[:160]!r}, the first request "
        f"{first.status} {first.response.text[:160]!r}" + (f" (changed: {', '.join(changed)})" if changed else ""),
        again,
    )
    ctx.state["idempotency"] = (key, first, again)
    if ctx.target.read_only_key:
        # A key without the scope, with the Idempotency-Key the write key used: the scope is checked
        # before anything is replayed, or a read-only key reads (and a stolen Idempotency-Key replays)
        # another key's revoke.
        ex = ctx.revoke(
            account.id,
            "a read-only key with the write key's Idempotency-Key",
            token=ctx.target.read_only_key,
            headers=headers,
        )
        code = (ex.json() or {}).get("error", {}).get("code") if isinstance(ex.json(), dict) else None
        # 403 for the scope; a server that looks the account up first may say 404 (already
        # disconnected): the docs state no order. Never the write key's 200.
        ctx.expect(
            "idempotency_replay_requires_scope",
            (ex.status, code) in ((STATUS["FORBIDDEN_SCOPE"], "FORBIDDEN_SCOPE"), (STATUS["NOT_FOUND"], "NOT_FOUND")),
            f"a key without {CONTRACT.required_scope} answered {ex.status} {code or ex.response.text[:120]!r}:"
            " expected 403 FORBIDDEN_SCOPE (or 404 for the disconnected account), never the replayed revoke",
            ex,
        )


REPLAY_GAP_SECONDS = 1.05


def _changed_fields(first, again) -> list[str]:
    if not isinstance(first, dict) or not isinstance(again, dict):
        return []
    return [k for k in sorted(set(first) | set(again)) if first.get(k) != again.get(k)]


@scenario("strict_replay_is_verbatim", strict=True)
def replay_verbatim(ctx: Context) -> None:
    if "idempotency" not in ctx.state:
        raise ScenarioSkipped("the replay scenario did not run")
    _, first, again = ctx.state["idempotency"]
    rid = CONTRACT.request_id_header
    ctx.expect(
        "strict_replay_is_verbatim",
        again.response.headers.get(rid) == first.response.headers.get(rid)
        and again.response.headers.get(CONTRACT.replay_header) == "true",
        f"decision 3: a replay carries the first {rid} and {CONTRACT.replay_header}: true; got "
        f"{again.response.headers.get(rid)!r} (first {first.response.headers.get(rid)!r}) and "
        f"{again.response.headers.get(CONTRACT.replay_header)!r}",
        again,
        strict=True,
    )


@scenario("idempotency_key_reuse_answers_409")
def idempotency_conflict(ctx: Context) -> None:
    if "idempotency" not in ctx.state:
        raise ScenarioSkipped(
            ctx.skipped_because("idempotent_replay_same_response") or "the replay scenario did not run"
        )
    key = ctx.state["idempotency"][0]
    other = picking.bystander(ctx)
    if other is None:
        raise ScenarioSkipped("no account left to aim the reused key at (give more with --accounts)")
    ex = ctx.revoke(other.id, "the same Idempotency-Key on another account", headers={CONTRACT.idempotency_header: key})
    ctx.expect_error("idempotency_key_reuse_answers_409", ex, "IDEMPOTENCY_CONFLICT")


@scenario("rate_limit_retry_after_succeeds", needs=needs_rate_limit)
def rate_limit(ctx: Context) -> None:
    account = ctx.target.take_account()
    blocked: Exchange | None = None
    if ctx.target.provisioned is not None:
        key = ctx.target.provisioned.rate_limited_key
        ctx.target.provisioned.control.set_budget(key["id"], 0)
        token = key["secret"]
        blocked = ctx.revoke(
            account.id if account else unknown_account_id(),
            "revoke with an exhausted budget",
            token=token,
            expect_429=True,
        )
    else:
        # A burst of revokes of unknown ids: they spend budget and change nothing.
        token = ctx.target.api_key
        blocked = ctx.burst_until_429(token)
    ctx.expect_error("rate_limit_answers_429", blocked, "RATE_LIMITED", stop=True)
    seconds = retry_after_seconds(blocked.response)
    ctx.expect("rate_limit_answers_429", seconds is not None, "no integer Retry-After to honour", blocked, stop=True)
    ctx.client.waiter.wait(seconds)
    target_id = account.id if account else unknown_account_id()
    retry = ctx.revoke(target_id, f"retry after waiting Retry-After {seconds}s", token=token, expect_429=True)
    expected = OK if account else STATUS["NOT_FOUND"]
    ctx.expect(
        "rate_limit_retry_after_succeeds",
        retry.status == expected,
        f"after waiting Retry-After {seconds}s the retry answered {retry.status}, expected {expected}",
        retry,
    )


@scenario("internal_error_changes_nothing", needs=needs_mock)
def internal_error(ctx: Context) -> None:
    account = ctx.account()
    control = ctx.mock.control
    control.arm_fault(account_id=account.id)
    ex = ctx.revoke(account.id, "revoke that fails mid-transaction (fault armed)", deliberate_5xx=True)
    ctx.expect_error("internal_error_answers_500", ex, "INTERNAL", stop=True)
    after = control.account(account.id)
    queued = (after.get("postCounts") or {}).get("queued", 0)
    ctx.expect(
        "internal_error_changes_nothing",
        after.get("status") != CONTRACT.success_enum("status") and queued == account.queued,
        f"after the 500 the account is {after.get('status')!r} with {queued} queued "
        f"posts (had {account.queued}): the cancellation is not atomic",
        ex,
    )
    retry = ctx.revoke(account.id, "retry after the 500 (safe to retry)")
    body = retry.json() if isinstance(retry.json(), dict) else {}
    ctx.expect(
        "internal_error_safe_to_retry",
        retry.status == OK and body.get("canceledScheduledPosts") == account.queued,
        f"the retry answered {retry.status} {retry.response.text[:160]!r}",
        retry,
    )


@scenario("kill_switch_answers_503", needs=needs_mock)
def kill_switch(ctx: Context) -> None:
    mock = ctx.mock
    control, key = mock.control, mock.kill_key
    targets = {"key": key["id"], "organization": mock.kill_org_id, "global": None}
    # Aim at a connected account of the key's own organization: the switch is then the only
    # thing wrong with the request (an unknown id would add a 404 and ask for an order).
    for scope, account in zip(CONTRACT.kill_switch_scopes, mock.kill_accounts, strict=True):
        control.kill_switch(scope, True, targets.get(scope))
        try:
            ex = ctx.revoke(account.id, f"{scope} kill switch on", token=key["secret"], deliberate_5xx=True)
        finally:
            control.kill_switch(scope, False, targets.get(scope))
        if ctx.expect_error("kill_switch_answers_503", ex, "KILL_SWITCH"):
            details = (ex.json().get("error") or {}).get("details") or {}
            ctx.expect(
                "kill_switch_names_scope",
                details.get("scope") == scope,
                f"details.scope is {details.get('scope')!r}, the {scope} switch was on",
                ex,
            )


# -- strict: this project's decisions where the docs are silent ------------------------------------


def _case_folded_own_account(ctx: Context) -> list[tuple[str, str]]:
    """The bystander's id in upper case: a lookup under a case-insensitive collation (MySQL's
    default) finds, and revokes, the account the lower-case id names."""
    account = picking.bystander(ctx)
    return [("sa_" + account.id[3:].upper(), "upper-case hex of an own account")] if account else []


@scenario("strict_id_shape_is_sa_uuid", strict=True)
def strict_id_shape(ctx: Context) -> None:
    bare = str(uuid.uuid4())
    for account_id, why in (
        (bare, "a bare UUID"),
        ("sa_" + bare.upper(), "upper-case hex"),
        ("sa_" + bare.replace("-", ""), "a UUID without hyphens"),
        ("sa_%7B" + bare + "%7D", "a UUID in braces"),
        ("sa_urn:uuid:" + bare, "a URN"),
        *_case_folded_own_account(ctx),
    ):
        ex = ctx.revoke(account_id, f"decision 2: {why} is not the sa_<uuid> shape", token=ctx.target.api_key)
        ctx.expect_error("strict_id_shape_is_sa_uuid", ex, "VALIDATION", strict=True)


@scenario("strict_order_of_checks", strict=True)
def strict_order(ctx: Context) -> None:
    ex = ctx.revoke("sa_not-a-uuid", "decision 1: no credentials and a malformed id", token=None)
    ctx.expect_error("strict_order_of_checks", ex, "UNAUTHENTICATED", strict=True)
    if ctx.target.read_only_key:
        ex = ctx.revoke(
            unknown_account_id(), "decision 1: read-only key on an unknown account", token=ctx.target.read_only_key
        )
        ctx.expect_error("strict_order_of_checks", ex, "FORBIDDEN_SCOPE", strict=True)
        ex = ctx.revoke("sa_not-a-uuid", "decision 1: read-only key and a malformed id", token=ctx.target.read_only_key)
        ctx.expect_error("strict_order_of_checks", ex, "FORBIDDEN_SCOPE", strict=True)


# Every scenario, in the order a run takes them: the documented statuses above, then the modules
# of their own (the existence-leak comparison needs the account the revoke scenario disconnected).
SCENARIOS: list[Scenario] = [
    malformed_id,
    missing_credentials,
    invalid_credentials,
    unknown_account,
    foreign_account,
    read_only_key,
    revoke_succeeds,
    second_revoke,
    idempotent_replay,
    replay_verbatim,
    idempotency_conflict,
    rate_limit,
    internal_error,
    kill_switch,
    strict_id_shape,
    strict_order,
    *boundaries.SCENARIOS,
    *probes.SCENARIOS,
    *credentials.SCENARIOS,
    *concurrency.SCENARIOS,
    *leaks.SCENARIOS,
]


def selected(options: Options) -> list[Scenario]:
    return [
        sc for sc in SCENARIOS if (options.strict or not sc.strict) and (not options.only or sc.name in options.only)
    ]


def run_scenarios(ctx: Context, progress) -> None:
    """The selected scenarios, at the same time where they are independent (conformance.schedule)."""
    schedule.run_all(ctx, selected(ctx.options), progress, ctx.options.parallel)
