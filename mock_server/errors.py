"""One error type carrying a contract code, and the one place any error becomes the envelope.

Errors raised by the rules (`ApiError`), errors Connexion raises itself (400 from validation,
401 from security, 404/405 from routing, 500 from response validation), the control plane's
refusals and anything unexpected all become a `Reply` through `reply_for`, whichever edge
answers: the Connexion edge wraps it in a ConnexionResponse, the fast edge sends its bytes.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from http import HTTPStatus

from connexion.exceptions import (
    BadRequestProblem, ExtraParameterProblem, OAuthProblem, OAuthResponseProblem, ProblemException,
)
from connexion.lifecycle import ConnexionResponse
from starlette.exceptions import HTTPException

from contract import CONTRACT
from contract.spec import Contract
from mock_server.request_context import current

log = logging.getLogger("layers.mock")


@dataclass(frozen=True)
class Reply:
    """A whole answer, edge-neutral: status, headers (besides content-type and -length), JSON bytes."""

    status: int
    headers: dict[str, str]
    body: bytes
    code: str | None = field(default=None, compare=False)  # the envelope's code, for the journal


def status_and_message(code: str, contract: Contract = CONTRACT) -> tuple[int, str]:
    """The contract's status for an error code, and its example message."""
    status = contract.status_for_code(code)
    return status, contract.responses[status].example["error"]["message"]


class ApiError(Exception):
    """A documented failure: `code` is an envelope code from the spec; the status follows from it
    (in the contract that raised it; the control plane's errors use the default one)."""

    def __init__(self, code: str, message: str | None = None, *, details: dict | None = None,
                 headers: dict | None = None, status: int | None = None):
        self.code = code
        if status is None or message is None:
            doc_status, doc_message = status_and_message(code)
            status = status or doc_status
            message = message if message is not None else doc_message
        self.status_code = status
        self.message = message
        self.details = details
        self.headers = headers or {}
        super().__init__(f"{code}: {message}")


def envelope(code: str, message: str, request_id: str, details: dict | None = None) -> dict:
    error = {"code": code, "message": message, "requestId": request_id}
    if details is not None:
        error["details"] = details
    return {"error": error}


def dumps(body: dict) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def error_reply(status: int, code: str, message: str, request_id: str, *, details: dict | None = None,
                headers: dict | None = None, contract: Contract = CONTRACT) -> Reply:
    return Reply(status, {**(headers or {}), contract.request_id_header: request_id},
                 dumps(envelope(code, message, request_id, details)), code)


def _code_for(status: int, contract: Contract = CONTRACT) -> str:
    """The contract's code for a documented status; a plain name for the few the spec omits (405, 413, 415)."""
    if status in contract.responses and status >= 400:
        return contract.code_for_status(status)
    try:
        return HTTPStatus(status).name
    except ValueError:
        return "ERROR"


def abbreviate(line: str, limit: int = 300) -> str:
    """A huge bad value is not echoed whole; the end of a jsonschema message says which rule
    and field ("... is too long - 'name'"), so the middle goes."""
    return line if len(line) <= limit else line[:limit // 3] + "…" + line[-limit // 2:]


def _first_line(text: str) -> str:
    # jsonschema messages end with a multi-line dump of the schema; the first line says it all.
    return abbreviate(str(text).split("\n", 1)[0].strip())


def reply_for(exc: BaseException, request_id: str, contract: Contract = CONTRACT) -> Reply:
    """The envelope for any exception, on any edge."""
    if isinstance(exc, ApiError):
        return error_reply(exc.status_code, exc.code, exc.message, request_id, details=exc.details,
                           headers=exc.headers, contract=contract)
    if not isinstance(exc, (ProblemException, HTTPException)):
        log.exception("unexpected error", exc_info=exc)
        return error_reply(500, _code_for(500, contract), contract.responses[500].example["error"]["message"],
                           request_id, contract=contract)
    status = getattr(exc, "status_code", None) or getattr(exc, "status", None) or 500
    headers = dict(getattr(exc, "headers", None) or {})  # keep 405's Allow
    details = None
    if isinstance(exc, (BadRequestProblem, ExtraParameterProblem)):
        problem = _first_line(exc.detail)
        message = f"Request validation failed: {problem}"
        if contract.account_id_pattern.pattern in problem:
            message = f"{contract.path_parameter['name']} must be of the form sa_<uuid> (lower-case hex)."
        details = {"issues": [{"message": problem}]}
    elif isinstance(exc, (OAuthProblem, OAuthResponseProblem)):
        message = contract.responses[401].example["error"]["message"]
    elif status == 404:
        message = "No such route. This mock serves " + contract.method.upper() + " " + contract.route + "."
    elif status == 405:
        message = "Method not allowed on this route."
    elif status >= 500:
        log.error("response rejected: %s", getattr(exc, "detail", exc))
        message = contract.responses[500].example["error"]["message"]
    else:
        message = _first_line(getattr(exc, "detail", None) or getattr(exc, "title", None) or HTTPStatus(status).phrase)
    return error_reply(status, _code_for(status, contract), message, request_id, details=details, headers=headers,
                       contract=contract)


def to_connexion(reply: Reply) -> ConnexionResponse:
    return ConnexionResponse(status_code=reply.status, content_type="application/json", body=reply.body,
                             headers=reply.headers)


async def send_reply(send, reply: Reply) -> None:
    """A Reply's bytes on a raw ASGI edge (the fast edge, the control plane's guard)."""
    await send({"type": "http.response.start", "status": reply.status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(reply.body)).encode()),
        *[(k.lower().encode("latin-1"), str(v).encode("latin-1")) for k, v in reply.headers.items()]]})
    await send({"type": "http.response.body", "body": reply.body})


def install(app, contract: Contract = CONTRACT) -> None:
    """Every error leaving Connexion goes through `reply_for`."""

    async def render(_request, exc: Exception) -> ConnexionResponse:
        ctx = current()
        reply = reply_for(exc, ctx.request_id, contract)
        ctx.code = reply.code
        return to_connexion(reply)

    for exc_type in (ApiError, ProblemException, HTTPException, Exception):
        app.add_error_handler(exc_type, render)
