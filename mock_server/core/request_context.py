"""The facts of one request (its id, caller, idempotency key, error code), shared by the layers
that handle it: the edge (edge/middleware.py) opens it, security and the pipeline fill it, the
journal reads it when the response leaves.

It exists only inside a request: `current()` outside one is a bug and says so (it used to make a
new context silently, with a new request id that no response carried).
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

from mock_server.core.ids import request_id as new_request_id


@dataclass(slots=True)  # made for every request: slots are quicker to make and to read
class RequestContext:
    request_id: str
    idempotency_key: str | None = None
    idempotency_key_repeated: bool = False
    key_id: str | None = None
    key_hint: str | None = None
    code: str | None = None  # the error code of the answer, for the journal
    status: int | None = None  # the answer's status once it started (metrics, access log); None: none did
    # Whose world the request acts on (mock_server/sandboxes.py): set from the caller's key on
    # the API, from the admin token on the control plane; None until known.
    sandbox: str | None = None
    admin_token: str | None = field(default=None, repr=False)  # a hosted sandbox's, to derive its key secrets
    operator: bool = False  # the call carried the operator token


_CURRENT: ContextVar[RequestContext] = ContextVar("layers_request")


class NoRequestContext(RuntimeError):
    pass


def open_context(**facts) -> RequestContext:
    ctx = RequestContext(request_id=new_request_id(), **facts)
    _CURRENT.set(ctx)
    return ctx


def current() -> RequestContext:
    try:
        return _CURRENT.get()
    except LookupError:
        raise NoRequestContext("no request context: current() is only for code running inside a request") from None
