"""The documented rules of the revoke endpoint, executed. No HTTP, no SQL: moto's models.py.

A revoke is decided by `plan`, a pure function of one snapshot that storage gathers in one read
(storage/gathered.py): it returns the answer and the writes that go with it, which storage
applies in one batch, all or nothing, with guards that detect a concurrent writer (then the
decision is made again from a fresh read). So the rules exist once, for both backends and for
the blocking path (`revoke_writing`, inside a transaction). The order of checks is the one decided in
openapi.yaml's description (Contract decisions, item 1): `authenticate` (401, 503) and
`authorize` (403) run in the security step, the revoke after request validation.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, replace

from contract import CONTRACT
from contract.control import CONTROL
from contract.spec import Contract
from mock_server.core.clock import Clock, mock_time, to_iso
from mock_server.core.errors import ApiError, envelope, status_and_message
from mock_server.core.ids import request_id as new_request_id
from mock_server.storage.gathered import Ask, Remember, Revoke, Writes
from mock_server.storage.queries import LOCAL_SANDBOX, clock_settings_of

CANCELABLE_STATUS = "queued"
WILDCARD_SCOPE = "*"

# Where an armed fault can break a revoke: right after each step of its transaction, in order
# (control.yaml's FaultStep).
FAULT_STEPS: tuple[str, ...] = tuple(CONTROL.enum("FaultStep"))

_KILL_MESSAGES = {
    "key": "This API key has been disabled.",
    "organization": "API access for your organization has been disabled.",
    "global": "The partner API is disabled.",
}


@dataclass(frozen=True)
class Caller:
    key_id: str
    key_hint: str
    organization_id: str
    scopes: tuple[str, ...]
    tier: str
    sandbox: str = LOCAL_SANDBOX  # the world the key belongs to: everything after authentication is scoped by it
    digest: str = ""  # the secret's hash, when known (the Connexion edge reads again with it after validation)


@dataclass(frozen=True)
class Outcome:
    """What a revoke produced: rendered by the pipeline, replayed verbatim by idempotency."""

    status: int
    body: dict
    request_id: str
    replayed: bool = False
    headers: dict | None = None  # a scripted 429's Retry-After (the real ones are raised as ApiError)


class Domain:
    """The rules of one contract (its statuses, codes, messages, limits and enums)."""

    def __init__(self, contract: Contract = CONTRACT, *, hosted: bool = False):
        self.contract = contract
        # Hosted mode serves only the sandboxes made by POST /_mock/sandboxes: keys of the
        # implicit local world (whose secrets are published) are unknown there.
        self.hosted = hosted
        self.clock = Clock()
        self.revoke_reason = contract.success_enum("disconnectedReason")
        self.disconnected = contract.success_enum("status")
        self.required_scopes = [contract.required_scope]
        # Read off the spec once, not per request (the contract computes them on each call).
        self._kill_scopes_broadest_first = tuple(reversed(contract.kill_switch_scopes))  # Contract decision 8
        self._success_status = contract.success_status
        self._idempotency_window = contract.idempotency_window_seconds
        self._windows_known: tuple[int | None, tuple[str, ...]] = (None, ())  # windows_at's last minute

    # -- errors, built in one place each ----------------------------------------------------
    def error(self, code: str, message: str | None = None, **kw) -> ApiError:
        status, documented = status_and_message(code, self.contract)
        return ApiError(code, documented if message is None else message, status=status, **kw)

    def kill_switch(self, scope: str) -> ApiError:
        return self.error("KILL_SWITCH", _KILL_MESSAGES[scope], details={"scope": scope})

    def forbidden_scope(self, scope: str) -> ApiError:
        return self.error("FORBIDDEN_SCOPE", f"Key lacks {scope}.", details={"requiredScope": scope})

    def rate_limited(self, retry_after: int) -> ApiError:
        return self.error("RATE_LIMITED", headers={self.contract.retry_after_header: str(retry_after)})

    def error_outcome(self, code: str, request_id: str) -> Outcome:
        status, message = status_and_message(code, self.contract)
        return Outcome(status, envelope(code, message, request_id), request_id)

    # -- security step --------------------------------------------------------------------
    def bearer_secret(self, authorization: str | None) -> str:
        """The secret of a well-formed `Bearer` header; 401 without looking anything up."""
        scheme, _, secret = (authorization or "").strip().partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret or " " in secret:
            raise self.error("UNAUTHENTICATED")
        return secret

    def authenticate(self, q, authorization: str | None) -> Caller:
        return self.caller(q, self.bearer_secret(authorization))

    def caller(self, q, secret: str) -> Caller:
        """The key behind a secret: 401 if none, 503 if a kill switch covers it."""
        return self.caller_from(q.caller_by_secret(secret))

    def caller_from(self, row: dict | None) -> Caller:
        """The caller of a key's facts (queries.py `caller_of`; None: no such key): 401, 503."""
        if (
            row is None
            or (self.hosted and row["sandbox"] == LOCAL_SANDBOX)
            or (row["expiresAt"] is not None and row["expiresAt"] <= time.time())
        ):
            # An expired sandbox's keys are unknown at once, before its rows are cleaned up.
            raise self.error("UNAUTHENTICATED")
        # Contract decision 8: the broadest switch wins.
        for scope in self._kill_scopes_broadest_first:
            if row["killed"][scope]:
                refused = self.kill_switch(scope)
                refused.sandbox = row["sandbox"]  # a known key's refusal belongs in its sandbox's journal
                refused.key_id, refused.key_hint = row["keyId"], row["keyHint"]  # graded (client report)
                raise refused
        return Caller(
            row["keyId"], row["keyHint"], row["organizationId"], tuple(row["scopes"]), row["tier"], row["sandbox"]
        )

    def authorize(self, caller: Caller, required_scopes: list[str] | None = None) -> None:
        if WILDCARD_SCOPE in caller.scopes:
            return
        for scope in required_scopes or self.required_scopes:
            if scope not in caller.scopes:
                raise self.forbidden_scope(scope)

    # -- the revoke: decided on one snapshot, written in one batch (storage/gathered.py) -----
    def ask(self, digest: str, account_id: str, idempotency_key: str | None, windows: tuple[str, ...]) -> Ask:
        """What to read to decide a revoke; `windows`: the rate windows the clock is likely in
        (`windows_at`); a wrong guess costs one more read, never a wrong answer."""
        return Ask(digest, account_id, idempotency_key, windows, CANCELABLE_STATUS)

    def windows_at(self, now: float) -> tuple[str, ...]:
        """The rate windows `now` falls in: its clock minute and its UTC day (asked twice a
        revoke; made again only when the minute changes)."""
        minute = int(now // 60)
        known = self._windows_known
        if known[0] != minute:
            known = self._windows_known = (minute, (minute_window(now), f"d:{int(now // 86400)}"))
        return known[1]

    def plan(
        self, row: dict, caller: Caller, ask: Ask, request_id: str, wall: float
    ) -> tuple[Outcome, Writes | None] | Ask:
        """The revoke's answer and what it stores, decided on `row` (the gathered snapshot,
        queries.py `gather`) at wall-clock time `wall`; or, when the snapshot read other rate
        windows than the clock is in, the Ask to read instead. Raises the refusals that change
        nothing (429 and the reserved test accounts' errors). Pure: no I/O."""
        now = mock_time(wall, *clock_settings_of(row["clock_frozen"], row["clock_offset"]))
        if row["test_status"] is not None:  # reserved ids: one status, never a change
            return self._test_account(int(row["test_status"]), ask.account_id, request_id, now), None
        take = None
        if row["fault_answer"] is not None:
            # A scripted answer armed for this account or key (POST /_mock/scenarios), taken once;
            # it comes after authentication and before budget, idempotency and revoke (decision 25).
            take = row["fault_id"]
            answer = json.loads(row["fault_answer"])
            if answer["status"] != self._success_status:
                return self._scripted(answer, row, caller, ask, request_id, now)
            row = {**row, "fault_id": None, "fault_step": None}  # a `200` step: the real revoke runs
        spend: tuple[tuple[str, int], ...] = ()
        limits = self.contract.rate_limit_tiers.get(caller.tier)
        if limits is not None:  # the undocumented `internal` tier has none (used by benchmarks)
            names = self.windows_at(now)
            if names != ask.windows:
                return replace(ask, windows=names)
            # Fixed windows of one clock minute and one UTC day, per key (Contract decision 7):
            # over the limit is refused, and a refused request spends nothing.
            spend = ((names[0], limits["perMinute"]), (names[1], limits["perDay"]))
            for (window, limit), count in zip(spend, (row["count_0"], row["count_1"]), strict=True):
                if (count or 0) + 1 > limit:
                    raise self.rate_limited(max(1, math.ceil(_seconds_left(window, now))))
        # Every outcome from here stores the budget spent and the scripted answer taken (`_writes`).
        key, replaces = ask.idempotency_key, None
        if key is not None and row["idem_account_id"] is not None:
            if now - row["idem_created_at"] >= self._idempotency_window:
                replaces = row["idem_created_at"]  # expired: as if there were none
            elif row["idem_account_id"] != ask.account_id:
                return self.error_outcome("IDEMPOTENCY_CONFLICT", request_id), _writes(caller, spend, take)
            else:
                replay = Outcome(row["idem_status"], json.loads(row["idem_body"]), row["idem_request_id"], True)
                return replay, _writes(caller, spend, take)
        revoke = None
        if row["account_seq"] is None:
            # Unknown, another organization's, or already disconnected: one answer for all three,
            # so that cross-organization existence does not leak.
            outcome = self.error_outcome("NOT_FOUND", request_id)
        else:
            at = to_iso(now)
            canceled = int(row["cancelable"])
            revoke = Revoke(
                ask.account_id,
                caller.organization_id,
                self.revoke_reason,
                at,
                request_id,
                ask.cancelable,
                canceled,
                row["fault_id"],
                row["fault_step"],
            )
            if row["fault_id"] is not None:
                # An armed fault breaks the revoke after its step: the steps roll back, the fault
                # is consumed, the budget spent, nothing remembered (safe to retry).
                outcome = self.error_outcome("INTERNAL", request_id)
            else:
                outcome = Outcome(self._success_status, self._revoked_body(ask.account_id, canceled, at), request_id)
        remember = None
        if key is not None and outcome.status != 500:
            body = json.dumps(outcome.body, separators=(",", ":"))
            remember = Remember(key, ask.account_id, outcome.status, body, request_id, now, replaces)
        return outcome, _writes(caller, spend, take, remember, revoke)

    def _scripted(
        self, answer: dict, row: dict, caller: Caller, ask: Ask, request_id: str, now: float
    ) -> tuple[Outcome, Writes]:
        """A scripted answer's outcome, and its writes: the armed row taken, and for a 404 of
        "another process revoked first" the account really revoked (under a request id of its
        own), so that this request finds it already disconnected."""
        taken = Writes(caller.sandbox, caller.key_id, take=row["fault_id"])
        status = answer["status"]
        code = self.contract.code_for_status(status)
        if code == "RATE_LIMITED":
            out = self.error_outcome(code, request_id)
            retry_after = {self.contract.retry_after_header: str(answer.get("retryAfter", 1))}
            return Outcome(out.status, out.body, request_id, headers=retry_after), taken
        if code == "KILL_SWITCH":
            scope = answer.get("scope", self.contract.kill_switch_scopes[0])
            return Outcome(
                status, envelope(code, _KILL_MESSAGES[scope], request_id, {"scope": scope}), request_id
            ), taken
        if code == "NOT_FOUND" and answer.get("revokedElsewhere", True) and row["account_seq"] is not None:
            elsewhere = Revoke(
                ask.account_id,
                caller.organization_id,
                self.revoke_reason,
                to_iso(now),
                new_request_id(),
                ask.cancelable,
                int(row["cancelable"]),
            )
            taken = replace(taken, revoke=elsewhere)
        return self.error_outcome(code, request_id), taken

    def revoke_writing(
        self, q, caller: Caller, account_id: str, idempotency_key: str | None, request_id: str
    ) -> Outcome:
        """One revoke inside an open blocking transaction (tools, tests, benchmarks): the same
        read, decision and writes as the request path. A raised ApiError (429) changes nothing."""
        digest = q.within(caller.sandbox).key_row(caller.key_id)["secret_sha256"]
        wall = time.time()
        ask = self.ask(digest, account_id, idempotency_key, ())
        for _ in range(2):  # the second read has the windows the clock is in
            row = q.gather(ask)
            if row is None:
                raise self.error("UNAUTHENTICATED")
            decided = self.plan(row, caller, ask, request_id, wall)
            if isinstance(decided, Ask):
                ask = decided
                continue
            outcome, writes = decided
            if writes is not None:
                q.apply(writes)
            return outcome
        raise RuntimeError("the rate windows moved twice while one revoke was decided")

    def set_remaining_budget(self, q, key_id: str, remaining: int) -> dict:
        """Control plane: leave `remaining` requests in the key's current minute window."""
        row = q.key_row(key_id)
        if row is None:
            raise KeyError(key_id)
        limits = self.contract.rate_limit_tiers.get(row["tier"])
        if limits is None:
            raise ValueError(f"tier {row['tier']!r} has no budget to set")
        now = self.clock.now(q)
        q.set_window_count(key_id, minute_window(now), max(0, limits["perMinute"] - remaining))
        return {
            "keyId": key_id,
            "tier": row["tier"],
            "perMinute": limits["perMinute"],
            "remaining": max(0, min(remaining, limits["perMinute"])),
            "windowResetsInSeconds": max(1, math.ceil(60 - now % 60)),
        }

    # -- reserved test accounts -----------------------------------------------------------
    def _test_account(self, status: int, account_id: str, request_id: str, now: float) -> Outcome:
        """Reserved ids that always answer one status and never change state."""
        if status == self.contract.success_status:
            return Outcome(status, self._revoked_body(account_id, 4, to_iso(now)), request_id)
        code = self.contract.code_for_status(status)
        # The same errors the real checks raise, with their details and headers.
        forced = {
            "FORBIDDEN_SCOPE": lambda: self.forbidden_scope(self.contract.required_scope),
            "KILL_SWITCH": lambda: self.kill_switch(self.contract.kill_switch_scopes[0]),
            "RATE_LIMITED": lambda: self.rate_limited(1),
        }.get(code, lambda: self.error(code))
        raise forced()

    def _revoked_body(self, account_id: str, canceled: int, at: str) -> dict:
        return {
            "socialAccountId": account_id,
            "status": self.disconnected,
            "disconnectedReason": self.revoke_reason,
            "canceledScheduledPosts": canceled,
            "disconnectedAt": at,
        }


def _writes(
    caller: Caller,
    spend: tuple[tuple[str, int], ...],
    take: int | None,
    remember: Remember | None = None,
    revoke: Revoke | None = None,
) -> Writes | None:
    """A decision's writes (None: nothing to write), made once, when returned: a frozen
    dataclass costs a microsecond or two to make."""
    return Writes(caller.sandbox, caller.key_id, spend=spend, remember=remember, revoke=revoke, take=take) or None


def minute_window(now: float) -> str:
    """The rate-limit window key of the clock minute `now` falls in."""
    return f"m:{int(now // 60)}"


def _seconds_left(window: str, now: float) -> float:
    """Until the window `now` is in ends (Retry-After)."""
    return 60 - now % 60 if window.startswith("m:") else 86400 - now % 86400
