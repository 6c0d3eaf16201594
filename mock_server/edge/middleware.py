"""The edge, the outermost ASGI callable: a request context (and id) for every request, the
documented headers on every response, the journal, the hook to the control plane's guard
(control_guard.py), and once the answer is sent, the request's metrics and access-log line.

Well-formed revokes are answered here, by the fast edge (fastpath.py) and written on the wire
directly; everything else goes on to Connexion's stack, its answer passing through `send`."""

from __future__ import annotations

import json
import logging
import time
from contextlib import suppress
from time import perf_counter

from contract import CONTRACT
from contract.control import CONTROL, CONTROL_PREFIX
from contract.spec import Contract
from mock_server.control.guard import ControlGuard
from mock_server.core.errors import documented_500, error_reply, reply_for
from mock_server.core.request_context import RequestContext, open_context
from mock_server.edge.access_log import AccessLog
from mock_server.edge.cors import ApiOnlyCors
from mock_server.edge.errors import reply_headers, send_reply
from mock_server.edge.fastpath import RevokeFastPath
from mock_server.edge.request_metrics import RequestMetrics
from mock_server.edge.route import RevokeRoute
from mock_server.storage import StorageFault
from mock_server.storage.queries import LOCAL_SANDBOX

log = logging.getLogger("layers.mock")


class RequestContextMiddleware:
    """The edge: the ASGI callable the HTTP server calls (app.py's `MockApp` and `app_from_env`
    hand every request here first), and the only layer a fast-path request crosses. Connexion's
    stack (`app`) is called only for what the fast path does not answer, and for lifespan.

    Metrics, the access log and CORS are not layers around it (each would be one more call and
    one more `send` wrapper on every request, for a function call's worth of work): the edge
    counts and logs each request once, after its answer was sent, and runs the rest of a request
    through CORS only where CORS applies (`--cors-origin`, an API route)."""

    def __init__(
        self,
        app,
        storage=None,
        admin_token: str | None = None,
        allowed_hosts: tuple[str, ...] = (),
        contract: Contract = CONTRACT,
        sandboxes=None,
        fast_path: RevokeFastPath | None = None,
        metrics: RequestMetrics | None = None,
        access_log: AccessLog | None = None,
        cors: ApiOnlyCors | None = None,
    ):
        self.app = app
        self.fast_path = fast_path  # None: `--no-fast-path`, every request through Connexion
        self.metrics = metrics  # None: not counted (an edge built on its own, as tests do)
        self.access_log = access_log  # None: `--quiet`
        self.cors = cors  # None: no `--cors-origin`
        # Hosted mode (mock_server/sandboxes.py): tokens decide who may call the control plane and
        # on which sandbox; API requests of no known key are journaled nowhere.
        self.sandboxes = sandboxes
        self._unknown_callers_sandbox = None if sandboxes is not None else LOCAL_SANDBOX
        self.storage = storage
        self.control_guard = ControlGuard(admin_token, allowed_hosts, hosted=sandboxes is not None)
        self.contract = contract
        self.route = RevokeRoute(contract)
        self._request_id_name, self._rate_class_name = contract.request_id_header, contract.rate_limit_class_header
        self._request_id = contract.request_id_header.lower().encode()
        self._rate_class = (contract.rate_limit_class_header.lower().encode(), contract.rate_limit_class.encode())
        self._idempotency = contract.idempotency_header.lower().encode()
        self._retry_after = contract.retry_after_header.lower().encode()
        # What the client report needs of an answer, read off the bytes already passing by: the
        # Retry-After of a 429, the details.scope of a 503 (both rare; nothing more on a 200).
        self._rate_limited = contract.status_for_code("RATE_LIMITED")
        self._kill_switch = contract.status_for_code("KILL_SWITCH")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)  # lifespan: Connexion's
        started = perf_counter()
        keys = []
        has_body = False
        for k, v in scope.get("headers") or []:
            if k == self._idempotency:
                keys.append(v)
            elif (k == b"content-length" and v.strip() not in (b"0", b"")) or k == b"transfer-encoding":
                has_body = True  # graded by the client report (the page: no request body)
        ctx = open_context(
            idempotency_key=keys[0].decode("latin-1") if keys else None, idempotency_key_repeated=len(keys) > 1
        )
        route = None  # the metrics' route label, when known without parsing the path again
        try:
            if self.cors is not None and self.cors.applies(scope):
                await self._with_cors(scope, receive, send, ctx, has_body)
            else:
                route = await self._serve(scope, receive, send, ctx, has_body)
        except Exception:
            if ctx.status is None:  # nothing answered yet (Connexion's stack answers its own failures)
                reply = documented_500(ctx.request_id, self.contract)
                ctx.code, ctx.status = reply.code, reply.status
                with suppress(Exception):  # the client may be gone: the server logs the cause
                    await send_reply(send, reply)
            raise
        finally:
            seconds = perf_counter() - started
            if self.metrics is not None:  # a request that failed unanswered is a 500 to its client
                self.metrics.record(scope, ctx.status or 500, seconds, route)
            if self.access_log is not None:
                self.access_log.write(scope, ctx.status, ctx.code, ctx.request_id, seconds)
        return None

    async def _with_cors(self, scope, receive, send, ctx: RequestContext, has_body: bool) -> None:
        async def noted(message):  # a preflight is answered by CORS itself
            if message["type"] == "http.response.start":
                ctx.status = message["status"]
            await send(message)

        await self.cors.around(  # type: ignore[union-attr]
            scope, receive, noted, lambda cors_send: self._serve(scope, receive, cors_send, ctx, has_body)
        )

    async def _serve(self, scope, receive, send, ctx: RequestContext, has_body: bool) -> str | None:
        """The request, answered; the route's template when the fast path answered it (the
        metrics' label), else None."""
        path = scope.get("path", "")
        is_api = self.route.is_api(path)

        if path.startswith(CONTROL_PREFIX):
            refusal, receive = await self.control_guard.admit(scope, dict(scope.get("headers") or []), receive)
            if refusal is None:
                if self.sandboxes is not None and path not in CONTROL.probe_paths:
                    try:
                        refusal = await self.sandboxes.authorize(scope, path, ctx)
                    except StorageFault as fault:  # the token's lookup failed: the documented 500
                        reply = reply_for(fault, ctx.request_id, self.contract)
                        ctx.code, ctx.status = reply.code, reply.status
                        await send_reply(send, reply)
                        return None
                else:
                    ctx.sandbox = LOCAL_SANDBOX
            if refusal is not None:
                status, code, message = refusal
                reply = error_reply(status, code, message, ctx.request_id, contract=self.contract)
                ctx.code, ctx.status = reply.code, reply.status
                await send_reply(send, reply)
                return None

        if is_api and self.fast_path is not None:
            request = self.fast_path.request(scope, ctx)
            if request is not None:
                reply = await self.fast_path.answer(request)
                # A Reply's header names are the contract's, as written: asked of its dict.
                headers = self._documented(
                    reply_headers(reply),
                    ctx,
                    is_api,
                    self._request_id_name in reply.headers,
                    self._rate_class_name in reply.headers,
                )
                ctx.status = reply.status
                try:
                    await send_reply(send, reply, headers)
                finally:
                    retry_after = (
                        _retry_after(headers, self._retry_after) if reply.status == self._rate_limited else None
                    )
                    kill_body = reply.body if reply.status == self._kill_switch else None
                    self._journal(scope, path, ctx, reply.status, retry_after, kill_body, has_body)
                return self.contract.route

        # granian hands every request of a worker the SAME `extensions` dict, and Connexion keeps
        # each request's routing and its security step's token_info in it (`scope.setdefault(
        # "extensions", {})`): concurrent requests then read each other's caller (a revoke
        # decided with another key: seen as a flaky 404 in CI). Each request gets its own.
        scope["extensions"] = dict(scope.get("extensions") or ())
        status_holder: dict = {}

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                status_holder["status"] = ctx.status = message["status"]
                raw = list(message.get("headers") or [])
                if message["status"] == self._rate_limited:
                    status_holder["retry_after"] = _retry_after(raw, self._retry_after)
                names = {k.lower() for k, _ in raw}
                has_id, has_class = self._request_id in names, self._rate_class[0] in names
                message = {**message, "headers": self._documented(raw, ctx, is_api, has_id, has_class)}
            elif status_holder.get("status") == self._kill_switch and is_api:
                status_holder["body"] = status_holder.get("body", b"") + message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
            return None
        finally:
            if is_api and "status" in status_holder:
                self._journal(
                    scope,
                    path,
                    ctx,
                    status_holder["status"],
                    status_holder.get("retry_after"),
                    status_holder.get("body"),
                    has_body,
                )

    def _documented(self, raw: list, ctx: RequestContext, is_api: bool, has_id: bool, has_class: bool) -> list:
        """`raw` (an answer's headers) with the documented ones it lacks (`has_id`, `has_class`:
        what it has): the request id on every answer, the rate-limit class on the API's."""
        if not has_id:
            raw.append((self._request_id, ctx.request_id.encode()))
        if is_api and not has_class:
            raw.append(self._rate_class)
        return raw

    def _journal(
        self, scope, path: str, ctx: RequestContext, status: int, retry_after, kill_body, has_body: bool
    ) -> None:
        """The API request's journal entry (what the client report grades), once it was answered."""
        if self.storage is None:
            return
        try:
            self.storage.journal(
                (
                    time.time(),
                    ctx.request_id,
                    scope.get("method", ""),
                    path[:2048],
                    status,
                    ctx.key_id,
                    ctx.key_hint,
                    ctx.idempotency_key,
                    ctx.code,
                    ctx.sandbox or self._unknown_callers_sandbox,
                    retry_after,
                    _kill_scope(kill_body),
                    has_body,
                )
            )
        except Exception:  # the journal must never break a response
            log.exception("journal write failed")


def _retry_after(headers: list, name: bytes) -> int | None:
    for k, v in headers:
        if k.lower() == name:
            try:
                return int(v)
            except ValueError:
                return None
    return None


def _kill_scope(body: bytes | None) -> str | None:
    """details.scope of a 503 envelope (None if it has none)."""
    if not body:
        return None
    try:
        scope = json.loads(body)["error"]["details"]["scope"]
    except (ValueError, KeyError, TypeError):
        return None
    return scope if isinstance(scope, str) else None
