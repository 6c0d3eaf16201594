"""The Connexion edge's security step: the pipeline's `authenticate` (key, kill switches, scope).

Connexion's stock bearer handler drops the scopes of the security requirement, so a key
without `social:write` would pass; this one asks the pipeline, which asks the Domain.
"""

from __future__ import annotations

from connexion.security import BearerSecurityHandler

from mock_server.core.pipeline import RevokePipeline
from mock_server.core.request_context import current


def security_handler_for(pipeline: RevokePipeline) -> type[BearerSecurityHandler]:
    class LayersBearerHandler(BearerSecurityHandler):
        def get_fn(self, security_scheme, required_scopes):
            async def verify(request):
                caller = await pipeline.authenticate(tuple(request.headers.getlist("Authorization")), current())
                return {"sub": caller.key_id, "caller": caller}

            return verify

    return LayersBearerHandler
