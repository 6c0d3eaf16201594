"""The outermost layer: a request id for every request, documented headers on every response,
the journal, and the hook to the control plane's guard (control_guard.py)."""
from __future__ import annotations

import asyncio
import logging

from contract import CONTRACT
from mock_server.clock import to_iso
from mock_server.control_guard import ControlGuard
from mock_server.control_paths import CONTROL_PREFIX
from mock_server.errors import envelope_body
from mock_server.request_context import current, open_context
from mock_server.store import Store

log = logging.getLogger("layers.mock")
API_PREFIX = CONTRACT.route.split("/{", 1)[0].rsplit("/", 1)[0] + "/"  # "/v1/"
_REQUEST_ID = CONTRACT.request_id_header.lower().encode()
_RATE_CLASS = CONTRACT.rate_limit_class_header.lower().encode()
_IDEMPOTENCY = CONTRACT.idempotency_header.lower().encode()


class RequestContextMiddleware:
    def __init__(self, app, store: Store, clock, admin_token: str | None = None):
        self.app = app
        self.store = store
        self.clock = clock
        self.control_guard = ControlGuard(admin_token)
        self._flush_scheduled = False

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        ctx = open_context()
        path = scope.get("path", "")
        headers = dict(scope.get("headers") or [])
        idem = headers.get(_IDEMPOTENCY)
        ctx["idempotencyKey"] = idem.decode("latin-1") if idem is not None else None
        ctx["idempotencyKeyRepeated"] = sum(1 for k, _ in scope.get("headers") or [] if k == _IDEMPOTENCY) > 1
        is_api = path.startswith(API_PREFIX)

        if path.startswith(CONTROL_PREFIX):
            refusal, receive = await self.control_guard.admit(scope, headers, receive)
            if refusal is not None:
                return await self._send_error(send, *refusal)

        status_holder = {}

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                raw = list(message.get("headers") or [])
                names = {k.lower() for k, _ in raw}
                if _REQUEST_ID not in names:
                    raw.append((_REQUEST_ID, ctx["requestId"].encode()))
                if is_api and _RATE_CLASS not in names:
                    raw.append((_RATE_CLASS, CONTRACT.rate_limit_class.encode()))
                message = {**message, "headers": raw}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            if is_api and "status" in status_holder:
                self._journal(ctx, scope, status_holder["status"])

    async def _send_error(self, send, status: int, code: str, message: str) -> None:
        body = envelope_body(code, message)
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (_REQUEST_ID, current()["requestId"].encode())]})
        await send({"type": "http.response.body", "body": body})

    def _journal(self, ctx: dict, scope, status: int) -> None:
        try:
            self.store.journal_buffer({
                "at": to_iso(self.clock.now()), "requestId": ctx["requestId"], "method": scope.get("method", ""),
                "path": scope.get("path", "")[:2048], "status": status, "keyId": ctx["keyId"],
                "keyHint": ctx["keyHint"], "idempotencyKey": ctx["idempotencyKey"], "code": ctx["code"],
            })
            # Written as soon as the event loop has run the other ready requests: the entries of
            # all responses finished in one loop turn share one commit.
            if not self._flush_scheduled:
                self._flush_scheduled = True
                asyncio.get_running_loop().call_soon(self._flush_journal)
        except Exception:  # the journal must never break a response
            log.exception("journal write failed")

    def _flush_journal(self) -> None:
        self._flush_scheduled = False
        try:
            # In a transaction of its own, but without blocking the event loop while another
            # worker holds the write lock: then retried 1 ms later, unless the next group-commit
            # batch (store.run_grouped) has carried the entries in its COMMIT meanwhile.
            if not self.store.try_flush_journal():
                self._flush_scheduled = True
                asyncio.get_running_loop().call_later(0.001, self._flush_journal)
        except Exception:  # the journal must never break a response
            log.exception("journal write failed")
