"""One error type carrying a contract code, and the one place errors become the envelope.

Errors raised by the rules (`ApiError("NOT_FOUND")`) and errors Connexion raises itself
(400 from validation, 401 from security, 404/405 from routing, 500 from response validation)
all leave the app through `render`, so no response can escape in another shape.
"""
from __future__ import annotations

import json
import logging
from functools import lru_cache
from http import HTTPStatus

from connexion.exceptions import (
    BadRequestProblem, ExtraParameterProblem, OAuthProblem, OAuthResponseProblem, ProblemException,
)
from connexion.lifecycle import ConnexionResponse
from starlette.exceptions import HTTPException

from contract import CONTRACT
from mock_server.request_context import current

log = logging.getLogger("layers.mock")


@lru_cache(maxsize=None)
def status_and_message(code: str) -> tuple[int, str]:
    """The contract's status for an error code, and its example message (looked up once)."""
    status = CONTRACT.status_for_code(code)
    return status, CONTRACT.responses[status].example["error"]["message"]


class ApiError(Exception):
    """A documented failure: `code` is an envelope code from the spec; the status follows from it."""

    def __init__(self, code: str, message: str | None = None, *, details: dict | None = None,
                 headers: dict | None = None, status: int | None = None):
        self.code = code
        self.status_code = status or status_and_message(code)[0]
        if message is None:
            message = CONTRACT.responses[self.status_code].example["error"]["message"]
        self.message = message
        self.details = details
        self.headers = headers or {}
        super().__init__(f"{code}: {message}")


def _code_for(status: int) -> str:
    """The contract's code for a documented status; a plain name for the few the spec omits (405, 413, 415)."""
    if status in CONTRACT.responses and status >= 400:
        return CONTRACT.code_for_status(status)
    try:
        return HTTPStatus(status).name
    except ValueError:
        return "ERROR"


def envelope_body(code: str, message: str, details: dict | None = None) -> bytes:
    """The canonical envelope, for the current request (whose id it carries)."""
    ctx = current()
    ctx["code"] = code
    error = {"code": code, "message": message, "requestId": ctx["requestId"]}
    if details is not None:
        error["details"] = details
    return json.dumps({"error": error}, separators=(",", ":")).encode()


def envelope_response(status: int, code: str, message: str, *, details: dict | None = None,
                      headers: dict | None = None) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=status,
        body=envelope_body(code, message, details),
        content_type="application/json",
        headers={**(headers or {}), CONTRACT.request_id_header: current()["requestId"]},
    )


def render_api_error(_request, exc: ApiError) -> ConnexionResponse:
    return envelope_response(exc.status_code, exc.code, exc.message, details=exc.details, headers=exc.headers)


def abbreviate(line: str, limit: int = 300) -> str:
    """A huge bad value is not echoed whole; the end of a jsonschema message says which rule
    and field ("... is too long - 'name'"), so the middle goes."""
    return line if len(line) <= limit else line[:limit // 3] + "…" + line[-limit // 2:]


def _first_line(text: str) -> str:
    # jsonschema messages end with a multi-line dump of the schema; the first line says it all.
    return abbreviate(str(text).split("\n", 1)[0].strip())


def render_connexion_error(_request, exc: Exception) -> ConnexionResponse:
    status = getattr(exc, "status_code", None) or getattr(exc, "status", None) or 500
    headers = dict(getattr(exc, "headers", None) or {})  # keep 405's Allow
    details = None
    if isinstance(exc, (BadRequestProblem, ExtraParameterProblem)):
        problem = _first_line(exc.detail)
        message = f"Request validation failed: {problem}"
        path_param = CONTRACT.path_parameter["name"]
        if CONTRACT.account_id_pattern.pattern in problem:
            message = f"{path_param} must be of the form sa_<uuid> (lower-case hex)."
        details = {"issues": [{"message": problem}]}
    elif isinstance(exc, (OAuthProblem, OAuthResponseProblem)):
        message = CONTRACT.responses[401].example["error"]["message"]
    elif status == 404:
        message = "No such route. This mock serves " + CONTRACT.method.upper() + " " + CONTRACT.route + "."
    elif status == 405:
        message = "Method not allowed on this route."
    elif status >= 500:
        log.error("response rejected: %s", getattr(exc, "detail", exc))
        message = CONTRACT.responses[500].example["error"]["message"]
    else:
        message = _first_line(getattr(exc, "detail", None) or getattr(exc, "title", None) or HTTPStatus(status).phrase)
    return envelope_response(status, _code_for(status), message, details=details, headers=headers)


def render_unexpected(_request, exc: Exception) -> ConnexionResponse:
    log.exception("unexpected error", exc_info=exc)
    return envelope_response(500, _code_for(500), CONTRACT.responses[500].example["error"]["message"])


def install(app) -> None:
    app.add_error_handler(ApiError, render_api_error)
    app.add_error_handler(ProblemException, render_connexion_error)
    app.add_error_handler(HTTPException, render_connexion_error)
    app.add_error_handler(Exception, render_unexpected)
