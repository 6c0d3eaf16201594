"""Response checks derived from the spec: each one rule, written once.

Every function has schemathesis' check signature `(ctx, response, case)`, but none registers
itself with schemathesis on import: a process that imports `conformance` must not judge every
other API by the revoke schema. The kit calls them explicitly, through `conformance.pipeline`,
on every response of every phase; `conformance.hooks` registers them for a schemathesis run
that opts in (`--hooks conformance.hooks`). They read only the response, and every fact (codes
per status, the scope, the kill-switch enum, header names) comes from the contract. A check
that does not apply to a response returns None; a violated rule raises AssertionError.
"""

from __future__ import annotations

import re

import jsonschema

from contract import CONTRACT

_ENVELOPE = jsonschema.Draft4Validator(CONTRACT.envelope_schema)


def open_success_schema(schema: dict) -> dict:
    """The 200 schema without `additionalProperties: false`.

    The page shows five fields; that no sixth may ever appear is this project's decision 13,
    not a documented promise, so only `--strict` holds an implementation to it."""
    return {k: v for k, v in schema.items() if k != "additionalProperties"}


_SUCCESS = jsonschema.Draft4Validator(open_success_schema(CONTRACT.success_schema))
_SUCCESS_CLOSED = jsonschema.Draft4Validator(CONTRACT.success_schema)
_INTEGER_SECONDS = re.compile(r"^\d+$")
_REQUEST_ID_PREFIX = CONTRACT.request_id_pattern.pattern.lstrip("^").split("[", 1)[0]  # "req_"


def _decided_statuses() -> dict[int, int]:
    """Statuses the page does not list but a decision allows: status -> decision number.

    Decision 12's statuses are read from the spec's own wording (`x-contract-decisions`); decision
    17 adds the two refusals an HTTP stack or gateway answers before any application code runs
    for a request line or headers beyond its limits (the kit sends a 10 KB id and an 8 KB header)."""
    decided: dict[int, int] = {}
    for number, item in enumerate(CONTRACT.raw.get("x-contract-decisions", {}).get("decisions", []), start=1):
        if item.get("title") == "Undocumented statuses":
            decided.update({int(s): number for s in re.findall(r"\b([1-5]\d\d)\b", item.get("text", ""))})
    decided.update({414: 17, 431: 17})  # decision 17: URI Too Long, Request Header Fields Too Large
    return {s: n for s, n in decided.items() if s not in CONTRACT.responses}


DECIDED_STATUSES = _decided_statuses()


def _header(response, name: str) -> str | None:
    values = response.headers.get(name.lower())
    if not values:
        return None
    return values[0] if isinstance(values, list) else values


def _json(response):
    try:
        return response.json()
    except Exception:  # noqa: BLE001 - any undecodable body is "not JSON" here
        return None


def _error(response) -> dict:
    body = _json(response)
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    return {}


def _is_error(response) -> bool:
    """An error status the docs describe: only there do they promise the envelope.

    Statuses the page does not list (405, 414, a gateway's 502, ...) using the envelope too is
    this project's decision 12, held under --strict by `strict_undocumented_status_uses_envelope`."""
    return response.status_code in CONTRACT.error_statuses


def body_text(response, limit: int = 300) -> str:
    """The body as a reader wants it in a log: text, shortened, never a Python bytes literal."""
    raw = response.content if hasattr(response, "content") else b""
    text = raw[:limit].decode("utf-8", errors="replace")
    return text + (f"… ({len(raw)} bytes)" if len(raw) > limit else "")


def applies_to(description: str):
    """Say which responses a check judges; a check that judged none is reported as skipped."""

    def mark(fn):
        fn.applies_to = description
        return fn

    return mark


@applies_to("documented responses with a body")
def json_content_type(ctx, response, case):
    """Every documented response is `application/json`; errors too (the envelope is JSON)."""
    if not response.content or response.status_code not in CONTRACT.responses:
        return None
    ctype = _header(response, "content-type") or ""
    assert ctype.split(";")[0].strip().lower() == "application/json", (
        f"{response.status_code} answered with Content-Type {ctype!r}, expected application/json"
    )
    return True


@applies_to("documented error responses (400-503)")
def error_envelope_shape(ctx, response, case):
    """Every 4xx/5xx body is the canonical envelope `{"error": {code, message, requestId[, details]}}`."""
    if not _is_error(response):
        return None
    body = _json(response)
    errors = sorted(_ENVELOPE.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, (
        f"{response.status_code} body is not the error envelope: "
        f"{errors[0].message if errors else ''} (at {'/'.join(map(str, errors[0].path)) or 'root'});"
        f" body: {body_text(response)}"
    )
    return True


@applies_to("documented error responses (400-503)")
def error_code_matches_status(ctx, response, case):
    """Each documented error status carries exactly the code the contract pins to it."""
    if response.status_code not in CONTRACT.error_statuses:
        return None
    expected = CONTRACT.code_for_status(response.status_code)
    actual = _error(response).get("code")
    assert actual == expected, f"{response.status_code} carries error.code {actual!r}, the contract pins {expected!r}"
    return True


@applies_to("documented error responses (400-503)")
def request_id_matches_header(ctx, response, case):
    """On errors, `error.requestId` is present, `req_`-prefixed and equal to the X-Request-Id header."""
    if not _is_error(response):
        return None
    body_id = _error(response).get("requestId")
    header_id = _header(response, CONTRACT.request_id_header)
    assert isinstance(body_id, str) and body_id.startswith(_REQUEST_ID_PREFIX), (
        f"{response.status_code}: error.requestId is {body_id!r}, expected a {_REQUEST_ID_PREFIX}… id"
    )
    assert header_id == body_id, (
        f"{response.status_code}: error.requestId {body_id!r} differs from {CONTRACT.request_id_header} {header_id!r}"
    )
    return True


@applies_to("403 responses")
def forbidden_names_required_scope(ctx, response, case):
    """A 403 names the operation's scope in `details.requiredScope`."""
    if response.status_code != CONTRACT.status_for_code("FORBIDDEN_SCOPE"):
        return None
    details = _error(response).get("details") or {}
    actual = details.get("requiredScope") if isinstance(details, dict) else None
    assert actual == CONTRACT.required_scope, (
        f"403 details.requiredScope is {actual!r}, the operation requires {CONTRACT.required_scope!r}"
    )
    return True


@applies_to("429 responses")
def retry_after_is_integer_seconds(ctx, response, case):
    """A 429 carries Retry-After as a whole number of seconds (the docs: "Honor Retry-After")."""
    if response.status_code != CONTRACT.status_for_code("RATE_LIMITED"):
        return None
    value = _header(response, CONTRACT.retry_after_header)
    assert value is not None, f"429 without a {CONTRACT.retry_after_header} header"
    assert _INTEGER_SECONDS.match(value.strip()), (
        f"429 {CONTRACT.retry_after_header} is {value!r}, expected an integer number of seconds"
    )
    return True


@applies_to("503 responses")
def kill_switch_scope_in_enum(ctx, response, case):
    """A 503 says what was disabled: `details.scope` is one of the documented scopes."""
    if response.status_code != CONTRACT.status_for_code("KILL_SWITCH"):
        return None
    details = _error(response).get("details") or {}
    scope = details.get("scope") if isinstance(details, dict) else None
    assert scope in CONTRACT.kill_switch_scopes, (
        f"503 details.scope is {scope!r}, expected one of {CONTRACT.kill_switch_scopes}"
    )
    return True


@applies_to("200 responses")
def success_body_shape(ctx, response, case):
    """A 200 body has exactly the documented fields with their documented values and formats."""
    if response.status_code != CONTRACT.success_status:
        return None
    body = _json(response)
    errors = list(_SUCCESS.iter_errors(body))
    assert not errors, f"200 body does not match the documented shape: {errors[0].message}; body: {body!r}"
    return True


@applies_to("200 responses")
def strict_success_fields_exactly_documented(ctx, response, case):
    """Strict (decision 13): the 200 body carries the documented fields and no others."""
    if response.status_code != CONTRACT.success_status:
        return None
    errors = list(_SUCCESS_CLOSED.iter_errors(_json(response)))
    assert not errors, f"decision 13: 200 body has fields beyond the documented ones: {errors[0].message}"
    return True


@applies_to("documented responses")
def documented_headers_present(ctx, response, case):
    """Each documented status carries the headers the spec marks required (X-Request-Id, ...).

    Schemathesis checks this on the responses it generated; here it runs on every response, so
    a scenario's 200 (which a non-destructive fuzz phase never sees) is held to it as well."""
    documented = CONTRACT.responses.get(response.status_code)
    if documented is None:
        return None
    missing = [name for name in documented.required_headers if _header(response, name) is None]
    assert not missing, f"{response.status_code} lacks the required header(s) {', '.join(missing)}"
    return True


@applies_to("undocumented error statuses (405, 414, 502, ...)")
def strict_undocumented_status_uses_envelope(ctx, response, case):
    """Strict (decision 12): statuses the page does not list still answer the JSON envelope."""
    if response.status_code < 400 or response.status_code in CONTRACT.responses:
        return None
    ctype = (_header(response, "content-type") or "").split(";")[0].strip().lower()
    errors = list(_ENVELOPE.iter_errors(_json(response)))
    assert ctype == "application/json" and not errors, (
        f"decision 12: {response.status_code} is not the JSON error envelope ({ctype or 'no Content-Type'});"
        f" body: {body_text(response)}"
    )
    return True


@applies_to("every response")
def no_redirect(ctx, response, case):
    """No 3xx: the page documents 200 and its errors table, no decision adds a redirect, and a
    client that follows one re-sends a DELETE (with its key) somewhere the caller did not name."""
    status = response.status_code
    if not 300 <= status < 400:
        return True
    location = _header(response, "location")
    raise AssertionError(
        f"answered {status} (Location: {location!r}): no 3xx is on the page or in a decision; a client that"
        " follows it sends the DELETE and the key to another URL"
    )


@applies_to("every response but 3xx")
def status_is_documented(ctx, response, case):
    """Every status is on the page, or allowed by a numbered decision (12: 404/405/413/415; 17: 414/431)."""
    status = response.status_code
    if 300 <= status < 400:
        return None  # no_redirect's
    if status in CONTRACT.responses or status in DECIDED_STATUSES:
        return True
    documented = ", ".join(str(s) for s in CONTRACT.documented_statuses)
    decided = ", ".join(f"{s} (decision {n})" for s, n in sorted(DECIDED_STATUSES.items()))
    raise AssertionError(
        f"answered {status}, which is neither on the page ({documented}) nor allowed by a decision ({decided});"
        f" body: {body_text(response)}"
    )


@applies_to("documented responses carrying X-RateLimit-Endpoint-Class")
def rate_limit_class_is_write_light(ctx, response, case):
    """The class header names the bucket the revoke spends: `write-light`, whatever the answer."""
    if response.status_code not in CONTRACT.responses:
        return None
    value = _header(response, CONTRACT.rate_limit_class_header)
    if value is None:
        return None  # documented_headers_present's
    assert value.strip() == CONTRACT.rate_limit_class, (
        f"{response.status_code}: {CONTRACT.rate_limit_class_header} is {value!r}; a DELETE is"
        f" {CONTRACT.rate_limit_class!r} (the rate-limits page)"
    )
    return True


@applies_to("documented responses carrying X-Request-Id")
def request_id_is_req_ulid(ctx, response, case):
    """Request ids are `req_` + a 26-character ULID (the id-formats page), in the header and the envelope."""
    if response.status_code not in CONTRACT.responses:
        return None
    ids = [_header(response, CONTRACT.request_id_header)]
    if _is_error(response):
        ids.append(_error(response).get("requestId"))
    ids = [i for i in ids if i is not None]
    if not ids:
        return None  # documented_headers_present's and request_id_matches_header's
    bad = [i for i in ids if not isinstance(i, str) or not CONTRACT.request_id_pattern.match(i)]
    assert not bad, f"{response.status_code}: request id {bad[0]!r} is not req_ + a ULID (26 Crockford characters)"
    return True


RESPONSE_CHECKS = [
    json_content_type,
    error_envelope_shape,
    error_code_matches_status,
    request_id_matches_header,
    forbidden_names_required_scope,
    retry_after_is_integer_seconds,
    kill_switch_scope_in_enum,
    success_body_shape,
    documented_headers_present,
    no_redirect,
    status_is_documented,
    rate_limit_class_is_write_light,
    request_id_is_req_ulid,
]
"""Run on every response the kit receives, in every phase."""

STRICT_RESPONSE_CHECKS = [strict_success_fields_exactly_documented, strict_undocumented_status_uses_envelope]
"""Run on every response too, but only under --strict: this project's decisions."""
