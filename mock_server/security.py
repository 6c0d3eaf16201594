"""Bearer authentication that also enforces the operation's scope and the kill switches.

Connexion's stock bearer handler drops the scopes of the security requirement, so a key
without `social:write` would pass. This handler asks the Domain instead.
"""
from __future__ import annotations

from connexion.security import BearerSecurityHandler

from mock_server.domain import Domain
from mock_server.request_context import current


def security_handler_for(domain: Domain) -> type[BearerSecurityHandler]:
    class LayersBearerHandler(BearerSecurityHandler):
        def get_fn(self, security_scheme, required_scopes):
            scopes = list(required_scopes or [])

            async def verify(request):
                ctx = current()
                # A repeated Authorization header is ambiguous (which key is it?): invalid, 401.
                values = request.headers.getlist("Authorization")
                caller = domain.authenticate(values[0] if len(values) == 1 else None)
                ctx["keyId"], ctx["keyHint"] = caller.key_id, caller.key_hint
                domain.authorize(caller, scopes)
                return {"sub": caller.key_id, "caller": caller}

            return verify

    return LayersBearerHandler
