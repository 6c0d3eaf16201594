"""The Connexion edge of the API: Connexion's arguments in, the pipeline's Reply out. Nothing else."""

from __future__ import annotations

from connexion.lifecycle import ConnexionResponse

from mock_server.core.pipeline import RevokePipeline
from mock_server.core.request_context import current
from mock_server.edge.errors import to_connexion


class ApiHandlers:
    """Connexion resolves `operationId` to these methods."""

    def __init__(self, pipeline: RevokePipeline):
        self.pipeline = pipeline

    async def revokeSocialAccount(self, socialAccountId: str, token_info: dict, **_ignored) -> ConnexionResponse:
        ctx = current()
        reply = await self.pipeline.revoke(token_info["caller"], socialAccountId, ctx)
        ctx.code = reply.code
        return to_connexion(reply)
