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
    """Not an ASGI layer: the edge (middleware.py) calls `write` once per request, after its
    answer was sent, the control plane's refusals included."""

    def write(self, scope, status: int | None, code: str | None, request_id: str | None, seconds: float) -> None:
        """`status` None: the request failed before an answer started; the line says so with '-'."""
        log.info(format_line(scope.get("method", ""), request_target(scope), status, code, request_id, seconds * 1000))


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


def make(enabled: bool) -> AccessLog | None:
    """The access log the edge writes to (its logger set up once), or None when `quiet`."""
    if not enabled:
        return None
    _configure_logger()
    return AccessLog()
