"""The revoke operation's HTTP edge for well-formed requests, without Connexion's per-request stack.

Connexion routes, authenticates, validates and renders every request through a dozen ASGI
layers; under load that stack, not the rules or SQLite, was most of the mock's time (see
bench/RESULTS.md). A request that Connexion's routing and request validation would pass
unchanged (the documented method and route, an id matching the spec's pattern, no query string,
no body, at most one `Authorization`, an `Idempotency-Key` absent or once and valid by the
spec's schema) is answered here instead, by the same calls in the same order: `Domain.authenticate` (401, 503), `Domain.authorize` (403),
`Domain.revoke`, and the same renderers (`handlers.render`, `errors.envelope_body`).
Every other request (a malformed id, an unknown route, another method, the control plane) goes
on to Connexion, untouched.

With `validate_responses`, the handler's responses are checked against the spec's schema and
required headers, as Connexion's response validation does; the schemas are compiled
once (jsonschema_rs when present, else jsonschema), so the check costs microseconds.
"""
from __future__ import annotations

import logging

from contract import CONTRACT
from mock_server.domain import Domain
from mock_server.errors import ApiError, envelope_body
from mock_server.handlers import render
from mock_server.request_context import current

log = logging.getLogger("layers.mock")

_JSON = b"application/json"
_PREFIX, _SUFFIX = CONTRACT.route.split("{" + CONTRACT.path_parameter["name"] + "}")
_IDEMPOTENCY = CONTRACT.idempotency_header.lower().encode()


def _compile(schema: dict):
    """A fast `is_valid(instance)` for one schema, formats checked (as Connexion does)."""
    try:
        import jsonschema_rs

        return jsonschema_rs.Draft4Validator(schema, validate_formats=True).is_valid
    except Exception:  # noqa: BLE001 - not installed, or a schema it cannot compile
        import jsonschema

        return jsonschema.Draft4Validator(schema, format_checker=jsonschema.Draft4Validator.FORMAT_CHECKER).is_valid


def _raw_responses() -> dict[int, dict]:
    return {int(s): r for s, r in CONTRACT.operation["responses"].items()}


class RevokeFastPath:
    """ASGI middleware: answers well-formed revoke requests itself, passes everything else on."""

    def __init__(self, app, domain: Domain, validate_responses: bool = True):
        self.app = app
        self.domain = domain
        self.method = CONTRACT.method.upper()
        self.id_pattern = CONTRACT.account_id_pattern
        self.scopes = [CONTRACT.required_scope]
        self.idempotency_valid = _compile(CONTRACT.parameter(CONTRACT.idempotency_header)["schema"])
        self.validate_responses = validate_responses
        raw = _raw_responses()
        self.body_valid = {s: _compile(r["content"]["application/json"]["schema"]) for s, r in raw.items()}
        self.required_headers = {s: {k.lower() for k, h in r.get("headers", {}).items() if h.get("required")}
                                 for s, r in raw.items()}

    def _account_id(self, scope) -> str | None:
        """The account id if Connexion would route and validate this request unchanged, else None."""
        if scope["type"] != "http" or scope["method"] != self.method or scope.get("query_string"):
            return None
        path: str = scope["path"]
        if not path.startswith(_PREFIX) or not path.endswith(_SUFFIX):
            return None
        account_id = path[len(_PREFIX):len(path) - len(_SUFFIX)] if _SUFFIX else path[len(_PREFIX):]
        if self.id_pattern.fullmatch(account_id) is None:
            return None
        seen_idempotency = seen_authorization = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                if seen_authorization:
                    return None  # a repeated header: Connexion's path decides what that means
                seen_authorization = True
            elif name == _IDEMPOTENCY:
                if seen_idempotency or not self.idempotency_valid(value.decode("latin-1")):
                    return None
                seen_idempotency = True
            elif name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
                return None  # a body: leave it to Connexion's validation
        return account_id

    async def __call__(self, scope, receive, send):
        account_id = self._account_id(scope)
        if account_id is None:
            return await self.app(scope, receive, send)
        try:
            status, headers, body = await self._answer(scope, account_id)
        except ApiError as exc:
            status = exc.status_code
            body = envelope_body(exc.code, exc.message, exc.details)
            headers = {**exc.headers, CONTRACT.request_id_header: current()["requestId"]}
        except Exception as exc:  # noqa: BLE001 - what errors.render_unexpected does
            log.exception("unexpected error", exc_info=exc)
            status = 500
            body = envelope_body(CONTRACT.code_for_status(500), CONTRACT.responses[500].example["error"]["message"])
            headers = {CONTRACT.request_id_header: current()["requestId"]}
        raw = [(b"content-type", _JSON), (b"content-length", str(len(body)).encode())]
        raw += [(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in headers.items()
                if k.lower() not in ("content-type", "content-length")]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope, account_id: str) -> tuple[int, dict, bytes]:
        ctx = current()
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
                break
        caller = self.domain.authenticate(authorization)  # what security.py's verify does
        ctx["keyId"], ctx["keyHint"] = caller.key_id, caller.key_hint
        self.domain.authorize(caller, self.scopes)
        idempotency_key, request_id = ctx["idempotencyKey"], ctx["requestId"]
        # Answers that write nothing go out now; the others join this process's group commit
        # (store.run_grouped): the revokes of one event-loop turn share one transaction, each in
        # its own savepoint, and their outcomes come after the COMMIT.
        outcome = self.domain.answer_without_writing(caller, account_id, idempotency_key, request_id)
        if outcome is None:
            outcome = await self.domain.store.run_grouped(
                lambda: self.domain.revoke_writing(caller, account_id, idempotency_key, request_id, group=True))
        response = render(outcome)  # what handlers.py's handler does
        if self.validate_responses:
            self._check_response(response.status_code, response.headers, outcome.body)
        body = response.body if isinstance(response.body, bytes) else response.body.encode()
        return response.status_code, dict(response.headers or {}), body

    def _check_response(self, status: int, headers: dict, body: dict) -> None:
        """Connexion's response validation: required headers and the body schema."""
        if status not in self.body_valid:  # Connexion does not reject undocumented statuses either
            return
        problem = None
        if self.required_headers[status] - {k.lower() for k in headers}:
            problem = f"missing headers {sorted(self.required_headers[status] - {k.lower() for k in headers})}"
        elif not self.body_valid[status](body):
            problem = f"body does not match the {status} schema"
        if problem is not None:
            log.error("response rejected: %s", problem)
            raise ApiError(CONTRACT.code_for_status(500), status=500)

