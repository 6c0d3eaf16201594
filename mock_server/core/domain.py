"""The documented rules of the revoke endpoint, executed. No HTTP, no SQL: moto's models.py.

Every rule runs over `q`, the queries of one open transaction that the storage hands in
(`storage.write(fn)` on the request path, `storage.transaction()` elsewhere): the domain never
commits, so "all or nothing" is the transaction's. The order of checks is the one decided in
openapi.yaml's description (Contract decisions, item 1): `authenticate` (401, 503) and
`authorize` (403) run in the security step, the revoke after request validation.
"""

from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass

from contract import CONTRACT
from contract.control import CONTROL
from contract.spec import Contract
from mock_server.core.clock import Clock, to_iso
from mock_server.core.errors import ApiError, envelope, status_and_message
from mock_server.core.ids import request_id as new_request_id
from mock_server.storage.queries import LOCAL_SANDBOX

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


class InjectedFault(Exception):
    """Raised mid-transaction by an armed fault; the revoke's savepoint rolls back."""


@dataclass(frozen=True)
class Caller:
    key_id: str
    key_hint: str
    organization_id: str
    scopes: tuple[str, ...]
    tier: str
    sandbox: str = LOCAL_SANDBOX  # the world the key belongs to: everything after authentication is scoped by it


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
        row = q.caller_by_secret(secret)
        if (
            row is None
            or (self.hosted and row["sandbox"] == LOCAL_SANDBOX)
            or (row["expiresAt"] is not None and row["expiresAt"] <= time.time())
        ):
            # An expired sandbox's keys are unknown at once, before its rows are cleaned up.
            raise self.error("UNAUTHENTICATED")
        # Contract decision 8: the broadest switch wins.
        for scope in reversed(self.contract.kill_switch_scopes):
            if row["killed"][scope]:
                refused = self.kill_switch(scope)
                refused.sandbox = row["sandbox"]  # a known key's refusal belongs in its sandbox's journal
                refused.key_id, refused.key_hint = row["keyId"], row["keyHint"]
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

    # -- the revoke -----------------------------------------------------------------------
    def answer_without_writing(
        self, q, caller: Caller, account_id: str, idempotency_key: str | None, request_id: str
    ) -> Outcome | None:
        """The answers that change nothing, decided over committed state without a write
        transaction; None for the rest (then `revoke_writing`)."""
        q = q.within(caller.sandbox)
        forced = q.test_account_status(account_id)
        if forced is not None:
            return self._test_account(q, forced, account_id, request_id)
        if (
            idempotency_key is None
            and caller.tier not in self.contract.rate_limit_tiers
            and q.revocable_account(account_id, caller.organization_id) is None
        ):
            # No budget to spend (the `internal` tier), no outcome to remember, nothing to revoke.
            return self.error_outcome("NOT_FOUND", request_id)
        return None

    def revoke_writing(
        self, q, caller: Caller, account_id: str, idempotency_key: str | None, request_id: str
    ) -> Outcome:
        """One revoke inside a write transaction. A raised ApiError (429) rolls it back whole."""
        q = q.within(caller.sandbox)
        now = self.clock.now(q)
        # One check for faults and scripted answers (the same table; nothing armed: one cheap SELECT).
        armed = q.fault_armed_for(account_id, caller.key_id)
        if armed:
            scripted = self._scripted(q, caller, account_id, request_id, now)
            if scripted is not None:
                return scripted
        self._spend_budget(q, caller, now)
        if idempotency_key is not None:
            q.lock_idempotency_key(caller.key_id, idempotency_key)
            previous = self._previous_outcome(q, caller, idempotency_key, account_id, request_id, now)
            if previous is not None:
                return previous
        outcome = self._revoke(q, caller, account_id, request_id, now, armed)
        if idempotency_key is not None and outcome.status != 500:
            q.remember_idempotency(
                caller.key_id, idempotency_key, account_id, outcome.status, outcome.body, request_id, now
            )
        return outcome

    def _revoke(self, q, caller: Caller, account_id: str, request_id: str, now: float, armed: bool) -> Outcome:
        at = to_iso(now)
        if not armed:
            # The common case, in the fewest statements: one UPDATE checks that the account is
            # revocable (its rowcount) while disconnecting it and dropping its token. A
            # concurrent revoke of the same account waits for this row, then finds it disconnected.
            if not q.disconnect_revocable(account_id, caller.organization_id, self.revoke_reason, at):
                return self.error_outcome("NOT_FOUND", request_id)
            canceled = q.cancel_posts_by_revoke(account_id, CANCELABLE_STATUS)
            q.record_revocation(account_id, request_id, caller.key_id, at, canceled)
            return Outcome(self.contract.success_status, self._revoked_body(account_id, canceled, at), request_id)
        # A fault is armed: one statement per step, so that it can break the revoke after any.
        if q.revocable_account(account_id, caller.organization_id, lock=True) is None:
            # Unknown, another organization's, or already disconnected: one answer for all three,
            # so that cross-organization existence does not leak.
            return self.error_outcome("NOT_FOUND", request_id)
        fault = q.take_fault(account_id, caller.key_id)
        try:
            # The savepoint lets an injected fault undo these steps but keep the fault consumed.
            with q.savepoint("revoke") if fault else nullcontext():
                q.mark_disconnected(account_id, self.revoke_reason, at)
                _maybe_fail(fault, "disconnect_account")
                q.drop_token(account_id)
                _maybe_fail(fault, "drop_token")
                canceled = q.cancel_posts_by_revoke(account_id, CANCELABLE_STATUS)
                _maybe_fail(fault, "cancel_posts")
                q.record_revocation(account_id, request_id, caller.key_id, at, canceled)
                _maybe_fail(fault, "record_revocation")
        except InjectedFault:
            return self.error_outcome("INTERNAL", request_id)
        return Outcome(self.contract.success_status, self._revoked_body(account_id, canceled, at), request_id)

    def _scripted(self, q, caller: Caller, account_id: str, request_id: str, now: float) -> Outcome | None:
        """The next scripted answer armed for this account or key (POST /_mock/scenarios), taken
        once; None when the next armed row is a fault, or a `200` step (the real revoke runs)."""
        row = q.next_armed(account_id, caller.key_id)
        if row is None or row["answer"] is None:
            return None
        q.consume_armed(row["id"])
        answer = json.loads(row["answer"])
        status = answer["status"]
        if status == self.contract.success_status:
            return None
        code = self.contract.code_for_status(status)
        if code == "RATE_LIMITED":
            retry_after = str(answer.get("retryAfter", 1))
            out = self.error_outcome(code, request_id)
            return Outcome(out.status, out.body, request_id, headers={self.contract.retry_after_header: retry_after})
        if code == "KILL_SWITCH":
            scope = answer.get("scope", self.contract.kill_switch_scopes[0])
            return Outcome(status, envelope(code, _KILL_MESSAGES[scope], request_id, {"scope": scope}), request_id)
        # "Another process revoked first": the account really is revoked now (by this key, under a
        # request id of its own), and this request finds it already disconnected.
        if (
            code == "NOT_FOUND"
            and answer.get("revokedElsewhere", True)
            and q.revocable_account(account_id, caller.organization_id, lock=True) is not None
        ):
            at = to_iso(now)
            q.mark_disconnected(account_id, self.revoke_reason, at)
            q.drop_token(account_id)
            canceled = q.cancel_posts_by_revoke(account_id, CANCELABLE_STATUS)
            q.record_revocation(account_id, new_request_id(), caller.key_id, at, canceled)
        return self.error_outcome(code, request_id)

    def _previous_outcome(
        self, q, caller: Caller, idempotency_key: str, account_id: str, request_id: str, now: float
    ) -> Outcome | None:
        entry = q.idempotency_entry(caller.key_id, idempotency_key)
        if entry is None:
            return None
        if now - entry["created_at"] >= self.contract.idempotency_window_seconds:
            q.forget_idempotency(caller.key_id, idempotency_key)
            return None
        if entry["account_id"] != account_id:
            return self.error_outcome("IDEMPOTENCY_CONFLICT", request_id)
        return Outcome(entry["status"], json.loads(entry["body"]), entry["request_id"], replayed=True)

    def _spend_budget(self, q, caller: Caller, now: float) -> None:
        """Fixed windows of one clock minute and one UTC day, per key (Contract decision 7).
        Counted first, checked after: over the limit raises, and the transaction's rollback
        takes the count back, so a refused request spends nothing."""
        limits = self.contract.rate_limit_tiers.get(caller.tier)
        if limits is None:  # the undocumented `internal` tier: no limit (used by benchmarks)
            return
        windows = [
            (minute_window(now), limits["perMinute"], 60 - now % 60),
            (f"d:{int(now // 86400)}", limits["perDay"], 86400 - now % 86400),
        ]
        counts = q.spend(caller.key_id, [w for w, _, _ in windows])
        for (_, limit, seconds_left), count in zip(windows, counts, strict=True):
            if count > limit:
                raise self.rate_limited(max(1, math.ceil(seconds_left)))

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
    def _test_account(self, q, status: int, account_id: str, request_id: str) -> Outcome:
        """Reserved ids that always answer one status and never change state."""
        if status == self.contract.success_status:
            return Outcome(status, self._revoked_body(account_id, 4, to_iso(self.clock.now(q))), request_id)
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


def minute_window(now: float) -> str:
    """The rate-limit window key of the clock minute `now` falls in."""
    return f"m:{int(now // 60)}"


def _maybe_fail(fault: str | None, step: str) -> None:
    if fault == step:
        raise InjectedFault(step)
