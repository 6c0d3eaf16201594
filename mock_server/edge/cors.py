"""Opt-in CORS (`--cors-origin`) for the API routes only, for partners testing a browser app
against the mock. The control plane never answers a cross-origin request: a web page must not
be able to reset, seed or break the mock (GUIDE: nothing on the control plane is reachable from
a web page). Starlette's CORSMiddleware does the work; this module only decides where it applies.

Requests from an origin not on the list are passed on untouched (no CORS headers, so the browser
blocks the page from reading them); a preflight then gets the API's own 405 envelope.
"""

from __future__ import annotations

import re

from starlette.middleware.cors import CORSMiddleware

from contract import CONTRACT
from mock_server.edge.route import RevokeRoute

_ORIGIN = re.compile(r"^(\*|https?://[A-Za-z0-9.-]+(:\d{1,5})?|https?://\[[0-9A-Fa-f:]+\](:\d{1,5})?)$")


def check_origin(origin: str) -> str:
    """An origin as browsers send it (scheme://host[:port], no path), or `*`; ValueError otherwise."""
    origin = origin.strip().rstrip("/")
    if not _ORIGIN.match(origin):
        raise ValueError(f"{origin!r} is not an origin: give scheme://host[:port] (e.g. http://localhost:3000) or *")
    return origin


class ApiOnlyCors:
    def __init__(self, app, origins: list[str]):
        self.app = app
        self.route = RevokeRoute(CONTRACT)
        self.origins = set(origins)
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=[CONTRACT.method.upper()],
            allow_headers=["Authorization", CONTRACT.idempotency_header, "Content-Type"],
            expose_headers=[
                CONTRACT.request_id_header,
                CONTRACT.retry_after_header,
                CONTRACT.replay_header,
                CONTRACT.rate_limit_class_header,
            ],
            max_age=600,
        )

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and self.route.is_api(scope.get("path", "")):
            origin = dict(scope.get("headers") or []).get(b"origin", b"").decode("latin-1")
            if "*" in self.origins or origin in self.origins:
                return await self.cors(scope, receive, send)
        return await self.app(scope, receive, send)


def install(app, origins: tuple[str, ...]) -> None:
    """`origins`: the `cors_origins` setting, checked by `check_origin` when it was built."""
    if not origins:
        return
    from connexion.middleware import MiddlewarePosition

    app.add_middleware(ApiOnlyCors, position=MiddlewarePosition.BEFORE_EXCEPTION, origins=list(origins))
