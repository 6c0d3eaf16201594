"""One error type carrying a contract code, and the envelope every error becomes.

Errors raised by the rules (`ApiError`) and anything unexpected become a `Reply` here;
the HTTP edge (`mock_server/edge/errors.py`) maps Connexion's own errors (validation, security,
routing) onto the same envelope and writes the bytes. Nothing here knows HTTP frameworks.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from functools import lru_cache
from http import HTTPStatus
from typing import Any

from contract import CONTRACT
from contract.control import CONTROL
from contract.spec import Contract
from mock_server.core import metrics
from mock_server.storage.errors import StorageFault

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
    (in the contract that raised it; the control plane's errors are made by `control_error`)."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        details: dict | None = None,
        headers: dict | None = None,
        status: int | None = None,
    ):
        self.code = code
        if status is None or message is None:
            doc_status, doc_message = status_and_message(code)
            status = status or doc_status
            message = message if message is not None else doc_message
        self.status_code = status
        self.message = message
        self.details = details
        self.headers = headers or {}
        # The sandbox whose journal records this refusal, when the rules know it (a killed key's).
        self.sandbox: str | None = None
        # And the key (a killed key's): the client report grades the calls of a known key.
        self.key_id: str | None = None
        self.key_hint: str | None = None
        super().__init__(f"{code}: {message}")


def control_error(code: str, message: str, *, details: dict | None = None) -> ApiError:
    """A control-plane failure: its status is the one control.yaml documents for `code`."""
    return ApiError(code, message, details=details, status=CONTROL.status_for_code(code))


Refusal = tuple[int, str, str]


def control_refusal(status: int, message: str) -> Refusal:
    """A control-plane call turned away before any handler (status, code, message): the code is
    the one control.yaml documents for `status`."""
    return status, CONTROL.code_for_status(status), message


def envelope(code: str, message: str, request_id: str, details: dict | None = None) -> dict:
    error: dict[str, Any] = {"code": code, "message": message, "requestId": request_id}
    if details is not None:
        error["details"] = details
    return {"error": error}


# json.dumps makes a JSONEncoder per call when given any option (here the separators): one, made
# once, writes the same bytes (every answer's body goes through it).
_ENCODE = json.JSONEncoder(separators=(",", ":")).encode


def dumps(body: dict) -> bytes:
    return _ENCODE(body).encode()


_PLAIN_ID = re.compile(r"[A-Za-z0-9_]+")  # what JSON writes as it is (request ids are req_<ULID>)
_RID = "\x00"  # a stand-in request id, where `envelope_bytes` cuts its template


@lru_cache(maxsize=256)
def _envelope_template(code: str, message: str) -> tuple[bytes, bytes]:
    """The bytes of `envelope(code, message, rid)` before and after the request id: an error
    answered on every request (a 401 without a key) is then two concatenations, not a JSON
    encoding. Cut from `dumps(envelope(...))` itself, so the bytes are the same (at the last
    stand-in: the request id comes after the message, which might hold one too)."""
    before, _, after = dumps(envelope(code, message, _RID)).rpartition(json.dumps(_RID).encode()[1:-1])
    return before, after


def envelope_bytes(code: str, message: str, request_id: str, details: dict | None = None) -> bytes:
    """`dumps(envelope(code, message, request_id, details))`."""
    if details is not None or not _PLAIN_ID.fullmatch(request_id):  # else JSON might escape it
        return dumps(envelope(code, message, request_id, details))
    before, after = _envelope_template(code, message)
    return before + request_id.encode("ascii") + after


def error_reply(
    status: int,
    code: str,
    message: str,
    request_id: str,
    *,
    details: dict | None = None,
    headers: dict | None = None,
    contract: Contract = CONTRACT,
) -> Reply:
    return Reply(
        status,
        {**(headers or {}), contract.request_id_header: request_id},
        envelope_bytes(code, message, request_id, details),
        code,
    )


def code_for(status: int, contract: Contract = CONTRACT) -> str:
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
    return line if len(line) <= limit else line[: limit // 3] + "…" + line[-limit // 2 :]


def first_line(text: str) -> str:
    # jsonschema messages end with a multi-line dump of the schema; the first line says it all.
    return abbreviate(str(text).split("\n", 1)[0].strip())


def reply_for(exc: BaseException, request_id: str, contract: Contract = CONTRACT) -> Reply:
    """The envelope for a rule's error, or the documented 500 for anything unexpected."""
    if isinstance(exc, ApiError):
        return error_reply(
            exc.status_code,
            exc.code,
            exc.message,
            request_id,
            details=exc.details,
            headers=exc.headers,
            contract=contract,
        )
    if isinstance(exc, StorageFault):
        # Expected under faults (a stalled peer, a full disk, a database down): one line naming
        # the cause, no traceback; the storage rolled back (or never began), so nothing changed.
        log.error("storage fault (%s): answered 500 %s; %s", exc.cause, request_id, exc.detail or exc.cause)
        metrics.storage_fault(exc.cause)
    else:
        log.error("unexpected error", exc_info=exc)  # what log.exception() would say, outside an except
    return documented_500(request_id, contract)


def documented_500(request_id: str, contract: Contract = CONTRACT) -> Reply:
    """The page's 500: its code and its example's message."""
    return error_reply(
        500, code_for(500, contract), contract.responses[500].example["error"]["message"], request_id, contract=contract
    )
