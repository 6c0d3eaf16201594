"""The HTTP edge of the API: read the request, call the rules, render the outcome. Nothing else."""
from __future__ import annotations

import json

from connexion.lifecycle import ConnexionResponse

from contract import CONTRACT
from mock_server.domain import Domain, Outcome
from mock_server.errors import ApiError
from mock_server.request_context import current


class ApiHandlers:
    """Bound to one Domain; Connexion resolves `operationId` to these methods."""

    def __init__(self, domain: Domain):
        self.domain = domain

    async def revokeSocialAccount(self, socialAccountId: str, token_info: dict, **_ignored) -> ConnexionResponse:
        ctx = current()
        caller = token_info["caller"]
        idempotency_key = ctx["idempotencyKey"]
        if ctx.get("idempotencyKeyRepeated"):  # which key would it be? A 400, before any budget or state
            raise ApiError("VALIDATION", f"Send at most one {CONTRACT.idempotency_header} header.")
        outcome = self.domain.revoke(caller, socialAccountId, idempotency_key, ctx["requestId"])
        return render(outcome)


def render(outcome: Outcome) -> ConnexionResponse:
    ctx = current()
    headers = {CONTRACT.request_id_header: outcome.request_id,
               CONTRACT.rate_limit_class_header: CONTRACT.rate_limit_class}
    if outcome.replayed:
        headers[CONTRACT.replay_header] = "true"
    if outcome.status >= 400:
        ctx["code"] = outcome.body["error"]["code"]
    return ConnexionResponse(status_code=outcome.status, content_type="application/json",
                             body=json.dumps(outcome.body, separators=(",", ":")), headers=headers)
