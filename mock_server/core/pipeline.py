"""The one place a revoke happens over HTTP, whichever edge received it.

Request facts in (`RevokeRequest`), a whole answer out (`errors.Reply`: status, headers, JSON
bytes). Both edges call it: the Connexion edge (`security.py` for the security step,
`handlers.py` for the rest, because Connexion validates the request between the two) and the
fast edge (`fastpath.py`, one call to `handle`). Neither edge decides anything: they translate
bytes or Connexion's objects into facts and the Reply back.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace

from mock_server.core.clock import mock_time
from mock_server.core.domain import Caller, Domain, Outcome
from mock_server.core.errors import ApiError, Reply, dumps, envelope_bytes, reply_for
from mock_server.core.request_context import RequestContext
from mock_server.core.validation import compile_schema
from mock_server.storage import Storage, StorageFault, hash_secret
from mock_server.storage.gathered import Ask
from mock_server.storage.queries import clock_settings_of

log = logging.getLogger("layers.mock")
# The rate windows a revoke reads are guessed from the clock its key's sandbox had last time
# (a wrong guess costs one more read): how many keys' clocks are remembered before starting over.
CLOCK_GUESSES = 4096
# How many Authorization headers' secret digests are kept before starting over, and the longest
# header kept: a key's secret is at most ~200 characters (control.yaml's Secret), so a longer
# header is hashed each time rather than held (4,096 hostile headers of a server's maximum size
# would otherwise sit in every worker's memory).
DIGESTS_KEPT = 4096
DIGEST_HEADER_MAX = 512


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
        # A request without any Authorization header (most 401s: a client that forgot its key) is
        # refused whatever else it says: the domain's refusal (its rule: `bearer_secret`), asked
        # once here instead of raised, caught and rendered on every such request.
        self._no_key: ApiError | None = None
        try:
            self.domain.bearer_secret(None)
        except ApiError as refusal:
            self._no_key = refusal
        self._clocks: dict[str, tuple[float | None, float]] = {}  # digest -> the clock its sandbox had
        self._digests: dict[str, str] = {}  # Authorization header -> its secret's digest (`_digest`)

    async def handle(self, request: RevokeRequest) -> Reply:
        """The whole revoke; every failure becomes its envelope here."""
        ctx = request.context
        if not request.authorization and self._no_key is not None:
            return reply_for(self._no_key, ctx.request_id, self.contract)
        try:
            outcome = await self._decide(request.authorization, None, request.account_id, ctx)
            return self.render(outcome)
        except Exception as exc:  # noqa: BLE001 - each becomes its documented answer (or a 500)
            return reply_for(exc, ctx.request_id, self.contract)

    async def authenticate(self, authorization: tuple[str, ...], ctx: RequestContext) -> Caller:
        """The Connexion edge's security step (request validation comes after it): 401 (missing,
        malformed, unknown or repeated key), 503 (kill switch), 403 (scope). One read."""
        digest = self._digest(authorization)
        row = await self.storage.gather(self.domain.ask(digest, "", None, ()))
        caller = self._caller(row, ctx)
        return replace(caller, digest=digest)

    async def revoke(self, caller: Caller, account_id: str, ctx: RequestContext) -> Reply:
        """After the Connexion edge's security step and request validation: 400, 404, 409, 429, 500 or 200."""
        return self.render(await self._decide((), caller.digest, account_id, ctx))

    def _digest(self, authorization: tuple[str, ...]) -> str:
        # A malformed header is a 401 without a lookup; only a well-formed secret reaches storage.
        # The digests of the headers seen last are kept (clients send the same few keys again).
        if len(authorization) != 1:
            return hash_secret(self.domain.bearer_secret(None))  # raises: none, or which one?
        header = authorization[0]
        digest = self._digests.get(header)
        if digest is None:
            digest = hash_secret(self.domain.bearer_secret(header))  # a malformed header raises: never kept
            if len(header) <= DIGEST_HEADER_MAX:
                if len(self._digests) >= DIGESTS_KEPT:
                    self._digests.clear()
                self._digests[header] = digest
        return digest

    def _caller(self, row: dict | None, ctx: RequestContext) -> Caller:
        try:
            caller = self.domain.caller_from(None if row is None else row["caller"])
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

    async def _decide(self, authorization: tuple[str, ...], digest: str | None, account_id: str, ctx) -> Outcome:
        """One read, the domain's decision on it, one batch of writes (storage.decide)."""
        digest = digest or self._digest(authorization)
        wall = time.time()
        guess = self._clocks.get(digest, (None, 0.0))
        ask = self.domain.ask(digest, account_id, ctx.idempotency_key, self.domain.windows_at(mock_time(wall, *guess)))
        rid = ctx.request_id
        planned: list = []  # the last decision, for a write that fails (Contract decision 15)

        def decide(row: dict | None, ask: Ask):
            caller = self._caller(row, ctx)
            if ctx.idempotency_key_repeated:  # which key would it be? A 400, before any budget or state
                raise self.domain.error("VALIDATION", f"Send at most one {self.contract.idempotency_header} header.")
            assert row is not None  # _caller raised otherwise
            if len(self._clocks) > CLOCK_GUESSES:
                self._clocks.clear()
            self._clocks[digest] = clock_settings_of(row["clock_frozen"], row["clock_offset"])
            decided = self.domain.plan(row, caller, ask, rid, wall)
            planned[:] = [decided]
            return decided

        try:
            return await self.storage.decide(ask, decide)
        except StorageFault:
            # The write failed and changed nothing. A 404 whose only write was spending its budget
            # unit needs no write: it is still a 404, its unit not spent (Contract decision 15).
            # What must write (a revoke, a remembered outcome, a consumed fault) stays a 500.
            decided = planned[0] if planned else None
            if isinstance(decided, tuple):
                outcome, writes = decided
                if outcome.status == self.contract.status_for_code("NOT_FOUND") and (
                    writes is None or (writes.remember is None and writes.revoke is None)
                ):
                    return outcome
            raise

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
        if outcome.status < 400:
            return Reply(outcome.status, headers, dumps(outcome.body), None)
        error = outcome.body["error"]  # an envelope: its bytes from the template (no encoding)
        body = envelope_bytes(error["code"], error["message"], error["requestId"], error.get("details"))
        return Reply(outcome.status, headers, body, error["code"])
