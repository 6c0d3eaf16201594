"""Opt-in CORS (`--cors-origin`) for the API routes only, for partners testing a browser app
against the mock. The control plane never answers a cross-origin request: a web page must not
be able to reset, seed or break the mock (GUIDE: nothing on the control plane is reachable from
a web page). Starlette's CORSMiddleware does the work; this module only decides where it applies.

Requests from an origin not on the list are passed on untouched (no CORS headers, so the browser
blocks the page from reading them); a preflight then gets the API's own 405 envelope.
"""

from __future__ import annotations

import functools
import re

from starlette.datastructures import Headers
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
    """Not an ASGI layer: the edge (middleware.py) asks `applies` of every request and, for the
    few it applies to, runs the rest of the request through `around`. The others cross nothing."""

    def __init__(self, origins: list[str] | tuple[str, ...]):
        self.route = RevokeRoute(CONTRACT)
        self.origins = set(origins)
        self.cors = CORSMiddleware(
            _never_called,
            allow_origins=list(origins),
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

    def applies(self, scope) -> bool:
        """An API route, from an origin on the list (any, with `*`)."""
        if not self.route.is_api(scope.get("path", "")):
            return False
        if "*" in self.origins:
            return True
        origin = dict(scope.get("headers") or []).get(b"origin", b"").decode("latin-1")
        return origin in self.origins

    async def around(self, scope, receive, send, serve) -> None:
        """What Starlette's CORSMiddleware does around an app, around `serve(send)` (the rest of
        the request, as the edge serves it): a preflight answered here, any other request
        served with the CORS headers added to its answer."""
        headers = Headers(scope=scope)
        if scope["method"] == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers:
            await self.cors.preflight_response(request_headers=headers)(scope, receive, send)
            return
        await serve(functools.partial(self.cors.send, send=send, request_headers=headers))


async def _never_called(scope, receive, send) -> None:
    raise AssertionError("ApiOnlyCors.around passes the request on itself")


def make(origins: tuple[str, ...]) -> ApiOnlyCors | None:
    """`origins`: the `cors_origins` setting, checked by `check_origin` when it was built; None
    when it is empty (no CORS at all)."""
    return ApiOnlyCors(origins) if origins else None
