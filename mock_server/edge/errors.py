"""Every error leaving the HTTP edge becomes the envelope: the rules' (`ApiError`, rendered by
`core.errors`), Connexion's own (400 from validation, 401 from security, 404/405 from routing,
500 from response validation) and anything unexpected; then the bytes, on either edge.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from http import HTTPStatus

from connexion.exceptions import (
    BadRequestProblem,
    ExtraParameterProblem,
    OAuthProblem,
    OAuthResponseProblem,
    ProblemException,
)
from connexion.lifecycle import ConnexionResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from contract import CONTRACT
from contract.spec import Contract
from mock_server.core import errors as core_errors
from mock_server.core.errors import ApiError, Reply, code_for, error_reply, first_line
from mock_server.core.request_context import current

log = logging.getLogger("layers.mock")


def reply_for(exc: BaseException, request_id: str, contract: Contract = CONTRACT) -> Reply:
    """The envelope for any exception, on any edge."""
    if isinstance(exc, ClientDisconnect):
        # The body could not be read to its end: the client went away mid-body, or sent a body
        # the HTTP server could not decode (granian hands a broken chunked body to the app as a
        # disconnect; uvicorn's parser refuses it itself). A client error, not ours: if the
        # client is still there it gets the 400 envelope; nothing was changed.
        return error_reply(
            400,
            code_for(400, contract),
            "The request body could not be read to its end (connection closed, or a malformed chunked body).",
            request_id,
            contract=contract,
        )
    if not isinstance(exc, (ProblemException, HTTPException)):
        return core_errors.reply_for(exc, request_id, contract)
    status = getattr(exc, "status_code", None) or getattr(exc, "status", None) or 500
    headers = dict(getattr(exc, "headers", None) or {})  # keep 405's Allow
    details = None
    if isinstance(exc, (BadRequestProblem, ExtraParameterProblem)):
        problem = first_line(exc.detail)
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
        message = first_line(getattr(exc, "detail", None) or getattr(exc, "title", None) or HTTPStatus(status).phrase)
    return error_reply(
        status, code_for(status, contract), message, request_id, details=details, headers=headers, contract=contract
    )


def to_connexion(reply: Reply) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=reply.status, content_type="application/json", body=reply.body, headers=reply.headers
    )


_JSON = (b"content-type", b"application/json")


@lru_cache(maxsize=64)
def _header_name(name: str) -> bytes:
    """A header name as it goes on the wire (names come from the contract: a few, reused)."""
    return name.lower().encode("latin-1")


def reply_headers(reply: Reply) -> list[tuple[bytes, bytes]]:
    """A Reply's headers as ASGI writes them, content type and length first."""
    return [
        _JSON,
        (b"content-length", str(len(reply.body)).encode()),
        *[(_header_name(k), str(v).encode("latin-1")) for k, v in reply.headers.items()],
    ]


async def send_reply(send, reply: Reply, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """A Reply's bytes on a raw ASGI edge (the fast edge, the control plane's guard); `headers`:
    its `reply_headers`, when the caller has them already."""
    await send({"type": "http.response.start", "status": reply.status, "headers": headers or reply_headers(reply)})
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
