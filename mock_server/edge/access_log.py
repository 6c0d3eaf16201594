"""One line per request on stdout, as Prism prints them: method, path, status, code, request id, ms.

On by default when `layers-mock` serves, off with `--quiet` (the `quiet` setting) and in apps
built directly from a database path (tests; benchmarks through MockProcess, which passes
`--quiet`). Keys are never shown: only the method, path and query are printed, with control
characters escaped and long paths cut, so a hostile request cannot forge or flood log lines.
"""

from __future__ import annotations

import logging
import sys
import time

from connexion.middleware import MiddlewarePosition

from mock_server.core.request_context import NoRequestContext, current

MAX_TARGET = 200  # characters of path + query shown; the rest is counted, not printed
log = logging.getLogger("layers.mock.access")


def _printable(text: str) -> str:
    """Spaces as %20, other unprintable characters escaped (\\n, \\x00, \\u2028): one token, one line."""
    return "".join(
        "%20" if ch == " " else ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )


def request_target(scope) -> str:
    target = scope.get("path", "")
    query = scope.get("query_string", b"")
    if query:
        target += "?" + query.decode("latin-1")
    if len(target) > MAX_TARGET:
        return _printable(target[:MAX_TARGET]) + f"…(+{len(target) - MAX_TARGET} chars)"
    return _printable(target)


def format_line(
    method: str, target: str, status: int | None, code: str | None, request_id: str | None, ms: float
) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return (
        f"{stamp} {_printable(method)} {target} {status if status is not None else '-'} "
        f"{code or '-'} {request_id or '-'} {ms:.1f}ms"
    )


class AccessLog:
    """Outermost ASGI layer: it sees every request, the control plane's refusals included."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        seen: dict = {}

        async def send_and_note(message):
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            # The request context opened inside (RequestContextMiddleware) is this task's context.
            code: str | None
            request_id: str | None
            try:
                ctx = current()
                code, request_id = ctx.code, ctx.request_id
            except NoRequestContext:  # refused before a context was opened: the line says so with '-'
                code = request_id = None
            log.info(
                format_line(
                    scope.get("method", ""),
                    request_target(scope),
                    seen.get("status"),
                    code,
                    request_id,
                    (time.perf_counter() - started) * 1000,
                )
            )


class _AccessHandler(logging.StreamHandler):
    """The access log's own handler: its class tells a second install that the log is set up."""


def _configure_logger() -> None:
    if any(isinstance(h, _AccessHandler) for h in log.handlers):
        return
    handler = _AccessHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


def install(app, enabled: bool) -> None:
    """The hook create_app calls first, so the access log wraps every other layer."""
    if not enabled:
        return
    _configure_logger()
    app.add_middleware(AccessLog, position=MiddlewarePosition.BEFORE_EXCEPTION)
