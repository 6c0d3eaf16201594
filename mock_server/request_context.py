"""Per-request facts (request id, caller, code) shared by the layers of one request.

The outermost middleware opens a context; security, handlers and error rendering fill it; the
middleware stamps headers and writes the journal from it when the response leaves.
"""
from __future__ import annotations

from contextvars import ContextVar

from mock_server.ids import request_id

_CURRENT: ContextVar[dict] = ContextVar("layers_request")


def open_context() -> dict:
    ctx = {"requestId": request_id(), "keyId": None, "keyHint": None, "idempotencyKey": None, "code": None}
    _CURRENT.set(ctx)
    return ctx


def current() -> dict:
    try:
        return _CURRENT.get()
    except LookupError:  # outside a request (tests calling the rules directly)
        return open_context()
