"""The fast edge: well-formed revokes answered without Connexion's per-request stack.

Connexion routes, authenticates, validates and renders every request through a dozen ASGI
layers; under load that stack, not the rules or the storage, was most of the mock's time
(bench/RESULTS.md). A request Connexion's routing and validation would pass unchanged (the
documented method and route, an id matching the spec's pattern, no query string, no body, at
most one `Authorization`, an `Idempotency-Key` absent or once and valid by the spec's schema)
goes to the same `RevokePipeline.handle` the Connexion edge uses. Everything else goes on to
Connexion, untouched.

It is not an ASGI layer of its own: the context middleware (middleware.py), which opens every
request's context and writes its journal entry, asks it first (`request`), and writes the
`Reply` it answers with (`answer`) on the wire itself, so a revoke passes through no more
layers and `send` wrappers than it must.
"""

from __future__ import annotations

from mock_server.core.errors import Reply
from mock_server.core.pipeline import RevokePipeline, RevokeRequest
from mock_server.core.request_context import RequestContext
from mock_server.core.validation import compile_schema
from mock_server.edge.route import RevokeRoute


class RevokeFastPath:
    """Well-formed revoke requests, answered by the pipeline; None for everything else."""

    def __init__(self, pipeline: RevokePipeline):
        self.pipeline = pipeline
        contract = pipeline.contract
        self.route = RevokeRoute(contract)
        self.id_pattern = contract.account_id_pattern
        self.idempotency_header = contract.idempotency_header.lower().encode()
        self.idempotency_valid = compile_schema(contract.parameter(contract.idempotency_header)["schema"])

    def request(self, scope, context: RequestContext) -> RevokeRequest | None:
        """The facts, if Connexion would route and validate this request unchanged; else None."""
        if scope["type"] != "http" or scope["method"] != self.route.method or scope.get("query_string"):
            return None
        account_id = self.route.account_id(scope["path"])
        if account_id is None or self.id_pattern.fullmatch(account_id) is None:
            return None
        authorization = []
        seen_idempotency = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization.append(value.decode("latin-1"))
                if len(authorization) > 1:
                    return None  # a repeated header: Connexion's path decides what that means
            elif name == self.idempotency_header:
                if seen_idempotency or not self.idempotency_valid(value.decode("latin-1")):
                    return None
                seen_idempotency = True
            elif name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
                return None  # a body: leave it to Connexion's validation
        return RevokeRequest(account_id, tuple(authorization), context)

    async def answer(self, request: RevokeRequest) -> Reply:
        reply = await self.pipeline.handle(request)
        request.context.code = reply.code
        return reply
