"""The documented rules of the revoke endpoint, executed. No HTTP here.

`Domain.authenticate` and `Domain.authorize` run in the security layer (before request
validation, as Connexion orders it); `Domain.revoke` runs in the handler. The order of checks
is the one decided in openapi.yaml's description (Contract decisions, item 1).
"""
from __future__ import annotations

import json
import math
from contextlib import nullcontext
from dataclasses import dataclass

from contract import CONTRACT
from mock_server.clock import Clock, to_iso
from mock_server.errors import ApiError, status_and_message
from mock_server.store import Store

REVOKE_REASON = CONTRACT.success_enum("disconnectedReason")
DISCONNECTED = CONTRACT.success_enum("status")
CANCELABLE_STATUS = "queued"
WILDCARD_SCOPE = "*"

# Where an armed fault can break a revoke: right after each step of its transaction.
FAULT_STEPS = ("disconnect_account", "drop_token", "cancel_posts", "record_revocation")


class InjectedFault(Exception):
    """Raised mid-transaction by an armed fault; the transaction rolls back."""


@dataclass(frozen=True)
class Caller:
    key_id: str
    key_hint: str
    organization_id: str
    scopes: tuple[str, ...]
    tier: str


@dataclass(frozen=True)
class Outcome:
    """What a revoke produced: rendered by the handler, replayed verbatim by idempotency."""

    status: int
    body: dict
    request_id: str
    replayed: bool = False


class Domain:
    def __init__(self, store: Store, clock: Clock):
        self.store = store
        self.clock = clock

    # -- security layer -------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> Caller:
        scheme, _, secret = (authorization or "").strip().partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret or " " in secret:
            raise ApiError("UNAUTHENTICATED")
        row = self.store.caller_by_secret(secret)
        if row is None:
            raise ApiError("UNAUTHENTICATED")
        # Contract decision 8: the broadest switch wins.
        for scope in reversed(CONTRACT.kill_switch_scopes):
            if row["killed"][scope]:
                raise _kill_switch(scope)
        return Caller(row["keyId"], row["keyHint"], row["organizationId"], tuple(row["scopes"]), row["tier"])

    @staticmethod
    def authorize(caller: Caller, required_scopes: list[str]) -> None:
        if WILDCARD_SCOPE in caller.scopes:
            return
        for scope in required_scopes:
            if scope not in caller.scopes:
                raise _forbidden_scope(scope)

    # -- the revoke -----------------------------------------------------------------------
    def revoke(self, caller: Caller, account_id: str, idempotency_key: str | None, request_id: str) -> Outcome:
        """One revoke, all or nothing, committed before this returns."""
        quick = self.answer_without_writing(caller, account_id, idempotency_key, request_id)
        if quick is not None:
            return quick
        return self.revoke_writing(caller, account_id, idempotency_key, request_id)

    def answer_without_writing(self, caller: Caller, account_id: str, idempotency_key: str | None,
                               request_id: str) -> Outcome | None:
        """The answers that change nothing, decided without the write lock; None for the rest."""
        forced = self.store.test_account_status(account_id)
        if forced is not None:
            return self._test_account(forced, account_id, request_id)
        if (idempotency_key is None and caller.tier not in CONTRACT.rate_limit_tiers
                and self.store.revocable_account(account_id, caller.organization_id) is None):
            # No budget to spend (the `internal` tier), no outcome to remember, nothing to revoke:
            # the 404 is decided without taking the write lock that every other worker queues for.
            return _error_outcome("NOT_FOUND", request_id)
        return None

    def revoke_writing(self, caller: Caller, account_id: str, idempotency_key: str | None, request_id: str,
                       *, group: bool = False) -> Outcome:
        """The revoke's write transaction (after `answer_without_writing` said None). With
        `group=True` it runs inside `Store.run_grouped`'s batch (the fast path), in a savepoint of
        the batch's one transaction, which commits after the turn's other revokes."""
        now = self.clock.now()
        with self.store.group_write() if group else self.store.write():
            self._spend_budget(caller, now)
            if idempotency_key is not None:
                previous = self._previous_outcome(caller, idempotency_key, account_id, request_id, now)
                if previous is not None:
                    return previous
            outcome = self._revoke_in_transaction(caller, account_id, request_id, now)
            if idempotency_key is not None and outcome.status != 500:
                self.store.remember_idempotency(caller.key_id, idempotency_key, account_id, outcome.status,
                                                outcome.body, request_id, now)
        return outcome

    def _revoke_in_transaction(self, caller: Caller, account_id: str, request_id: str, now: float) -> Outcome:
        at = to_iso(now)
        if not self.store.fault_armed_for(account_id):
            # The common case, in the fewest statements under the write lock: one UPDATE checks
            # that the account is revocable (its rowcount) while disconnecting it and dropping its
            # token. No fault can fire, so the steps need no savepoint between them; an error
            # rolls back this revoke (the transaction, or its batch savepoint) as before.
            if not self.store.disconnect_revocable(account_id, caller.organization_id, REVOKE_REASON, at):
                return _error_outcome("NOT_FOUND", request_id)
            canceled = self.store.cancel_posts_by_revoke(account_id, CANCELABLE_STATUS)
            self.store.record_revocation(account_id, request_id, caller.key_id, at, canceled)
            return Outcome(CONTRACT.success_status, _revoked_body(account_id, canceled, at), request_id)
        # A fault is armed: one statement per step, so that it can break the revoke after any.
        if self.store.revocable_account(account_id, caller.organization_id) is None:
            # Unknown, another organization's, or already disconnected: one answer for all three,
            # so that cross-organization existence does not leak.
            return _error_outcome("NOT_FOUND", request_id)
        fault = self.store.take_fault(account_id)
        try:
            # The savepoint lets an injected fault undo these steps but keep the fault consumed;
            # with no fault armed, any error rolls the whole transaction back anyway.
            with self.store.savepoint("revoke") if fault else nullcontext():
                self.store.mark_disconnected(account_id, REVOKE_REASON, at)
                _maybe_fail(fault, "disconnect_account")
                self.store.drop_token(account_id)
                _maybe_fail(fault, "drop_token")
                canceled = self.store.cancel_posts_by_revoke(account_id, CANCELABLE_STATUS)
                _maybe_fail(fault, "cancel_posts")
                self.store.record_revocation(account_id, request_id, caller.key_id, at, canceled)
                _maybe_fail(fault, "record_revocation")
        except InjectedFault:
            return _error_outcome("INTERNAL", request_id)
        return Outcome(CONTRACT.success_status, _revoked_body(account_id, canceled, at), request_id)

    def _previous_outcome(self, caller: Caller, idempotency_key: str, account_id: str, request_id: str,
                          now: float) -> Outcome | None:
        entry = self.store.idempotency_entry(caller.key_id, idempotency_key)
        if entry is None:
            return None
        if now - entry["created_at"] >= CONTRACT.idempotency_window_seconds:
            self.store.forget_idempotency(caller.key_id, idempotency_key)
            return None
        if entry["account_id"] != account_id:
            return _error_outcome("IDEMPOTENCY_CONFLICT", request_id)
        return Outcome(entry["status"], json.loads(entry["body"]), entry["request_id"], replayed=True)

    def _spend_budget(self, caller: Caller, now: float) -> None:
        """Fixed windows of one clock minute and one UTC day, per key (Contract decision 7)."""
        limits = CONTRACT.rate_limit_tiers.get(caller.tier)
        if limits is None:  # the undocumented `internal` tier: no limit (used by benchmarks)
            return
        windows = [(_minute_window(now), limits["perMinute"], 60 - now % 60),
                   (f"d:{int(now // 86400)}", limits["perDay"], 86400 - now % 86400)]
        for window, limit, seconds_left in windows:
            if self.store.window_count(caller.key_id, window) >= limit:
                raise _rate_limited(max(1, math.ceil(seconds_left)))
        self.store.spend(caller.key_id, [w for w, _, _ in windows])

    def set_remaining_budget(self, key_id: str, remaining: int) -> dict:
        """Control plane: leave `remaining` requests in the key's current minute window."""
        row = self.store.key_row(key_id)
        if row is None:
            raise KeyError(key_id)
        limits = CONTRACT.rate_limit_tiers.get(row["tier"])
        if limits is None:
            raise ValueError(f"tier {row['tier']!r} has no budget to set")
        now = self.clock.now()
        with self.store.write():
            self.store.set_window_count(key_id, _minute_window(now), max(0, limits["perMinute"] - remaining))
        return {"keyId": key_id, "tier": row["tier"], "perMinute": limits["perMinute"],
                "remaining": max(0, min(remaining, limits["perMinute"])),
                "windowResetsInSeconds": max(1, math.ceil(60 - now % 60))}

    # -- reserved test accounts -----------------------------------------------------------
    def _test_account(self, status: int, account_id: str, request_id: str) -> Outcome:
        """Reserved ids that always answer one status and never change state."""
        if status == CONTRACT.success_status:
            return Outcome(status, _revoked_body(account_id, 4, to_iso(self.clock.now())), request_id)
        code = CONTRACT.code_for_status(status)
        # The same errors the real checks raise, with their details and headers.
        forced = {"FORBIDDEN_SCOPE": lambda: _forbidden_scope(CONTRACT.required_scope),
                  "KILL_SWITCH": lambda: _kill_switch(CONTRACT.kill_switch_scopes[0]),
                  "RATE_LIMITED": lambda: _rate_limited(1)}.get(code, lambda: ApiError(code))
        raise forced()


_KILL_MESSAGES = {
    "key": "This API key has been disabled.",
    "organization": "API access for your organization has been disabled.",
    "global": "The partner API is disabled.",
}


def _kill_switch(scope: str) -> ApiError:
    return ApiError("KILL_SWITCH", _KILL_MESSAGES[scope], details={"scope": scope})


def _forbidden_scope(scope: str) -> ApiError:
    return ApiError("FORBIDDEN_SCOPE", f"Key lacks {scope}.", details={"requiredScope": scope})


def _rate_limited(retry_after: int) -> ApiError:
    return ApiError("RATE_LIMITED", headers={CONTRACT.retry_after_header: str(retry_after)})


def _minute_window(now: float) -> str:
    """The rate-limit window key of the clock minute `now` falls in."""
    return f"m:{int(now // 60)}"


def _maybe_fail(fault: str | None, step: str) -> None:
    if fault == step:
        raise InjectedFault(step)


def _revoked_body(account_id: str, canceled: int, at: str) -> dict:
    return {
        "socialAccountId": account_id,
        "status": DISCONNECTED,
        "disconnectedReason": REVOKE_REASON,
        "canceledScheduledPosts": canceled,
        "disconnectedAt": at,
    }


def _error_outcome(code: str, request_id: str) -> Outcome:
    status, message = status_and_message(code)
    return Outcome(status, {"error": {"code": code, "message": message, "requestId": request_id}}, request_id)
