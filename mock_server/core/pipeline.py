"""The one place a revoke happens over HTTP, whichever edge received it.

Request facts in (`RevokeRequest`), a whole answer out (`errors.Reply`: status, headers, JSON
bytes). Both edges call it: the Connexion edge (`security.py` for the security step,
`handlers.py` for the rest, because Connexion validates the request between the two) and the
fast edge (`fastpath.py`, one call to `handle`). Neither edge decides anything: they translate
bytes or Connexion's objects into facts and the Reply back.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mock_server.core.domain import Caller, Domain, Outcome
from mock_server.core.errors import Reply, dumps, reply_for
from mock_server.core.request_context import RequestContext
from mock_server.core.validation import compile_schema
from mock_server.storage import Storage

log = logging.getLogger("layers.mock")


@dataclass(frozen=True)
class RevokeRequest:
    """What the revoke needs from an HTTP request."""

    account_id: str
    authorization: tuple[str, ...]  # every Authorization header, in order (two is ambiguous: 401)
    context: RequestContext  # request id, Idempotency-Key (and whether it was repeated)


class ResponseCheck:
    """The spec's required headers and body schema per status, compiled once (microseconds a check)."""

    def __init__(self, contract):
        raw = {int(s): r for s, r in contract.operation["responses"].items()}
        self.body_valid = {s: compile_schema(r["content"]["application/json"]["schema"]) for s, r in raw.items()}
        self.required = {
            s: {k.lower() for k, h in r.get("headers", {}).items() if h.get("required")} for s, r in raw.items()
        }

    def problem(self, status: int, headers: dict, body: dict) -> str | None:
        if status not in self.body_valid:  # Connexion does not reject undocumented statuses either
            return None
        missing = self.required[status] - {k.lower() for k in headers}
        if missing:
            return f"missing headers {sorted(missing)}"
        if not self.body_valid[status](body):
            return f"body does not match the {status} schema"
        return None


class RevokePipeline:
    def __init__(self, storage: Storage, domain: Domain, *, validate_responses: bool = True, on_caller=None):
        self.on_caller = on_caller  # hosted mode: Sandboxes.seen (the key's sandbox was used)
        self.storage = storage
        self.domain = domain
        self.contract = domain.contract
        self.check = ResponseCheck(domain.contract) if validate_responses else None
        self._headers = {self.contract.rate_limit_class_header: self.contract.rate_limit_class}

    async def handle(self, request: RevokeRequest) -> Reply:
        """The whole revoke; every failure becomes its envelope here."""
        try:
            caller = await self.authenticate(request.authorization, request.context)
            return await self.revoke(caller, request.account_id, request.context)
        except Exception as exc:  # noqa: BLE001 - each becomes its documented answer (or a 500)
            return reply_for(exc, request.context.request_id, self.contract)

    async def authenticate(self, authorization: tuple[str, ...], ctx: RequestContext) -> Caller:
        """401 (missing, malformed, unknown or repeated key), 503 (kill switch), 403 (scope)."""
        # A malformed header is a 401 without a lookup; only a well-formed secret reaches storage.
        secret = self.domain.bearer_secret(authorization[0] if len(authorization) == 1 else None)
        try:
            caller = await self.storage.read(lambda q: self.domain.caller(q, secret))
        except Exception as exc:
            ctx.sandbox = getattr(exc, "sandbox", None)  # a killed key's sandbox (else unknown)
            ctx.key_id = getattr(exc, "key_id", None)  # and the key: the client report grades its calls
            ctx.key_hint = getattr(exc, "key_hint", None)
            raise
        ctx.key_id, ctx.key_hint, ctx.sandbox = caller.key_id, caller.key_hint, caller.sandbox
        if self.on_caller is not None:
            self.on_caller(caller.sandbox)
        self.domain.authorize(caller)
        return caller

    async def revoke(self, caller: Caller, account_id: str, ctx: RequestContext) -> Reply:
        """After the security step and request validation: 400, 404, 409, 429, 500 or 200."""
        if ctx.idempotency_key_repeated:  # which key would it be? A 400, before any budget or state
            raise self.domain.error("VALIDATION", f"Send at most one {self.contract.idempotency_header} header.")
        key, rid = ctx.idempotency_key, ctx.request_id
        outcome = await self.storage.read_or_write(
            lambda q: self.domain.answer_without_writing(q, caller, account_id, key, rid),
            lambda q: self.domain.revoke_writing(q, caller, account_id, key, rid),
        )
        return self.render(outcome)

    def render(self, outcome: Outcome) -> Reply:
        headers = {self.contract.request_id_header: outcome.request_id, **self._headers}
        if outcome.headers:
            headers.update(outcome.headers)
        if outcome.replayed:
            headers[self.contract.replay_header] = "true"
        if self.check is not None:
            problem = self.check.problem(outcome.status, headers, outcome.body)
            if problem is not None:
                log.error("response rejected: %s", problem)
                raise self.domain.error(self.contract.code_for_status(500))
        code = outcome.body["error"]["code"] if outcome.status >= 400 else None
        return Reply(outcome.status, headers, dumps(outcome.body), code)
