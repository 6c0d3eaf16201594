"""Where each check comes from: the endpoint page, the wider Layers docs, or a project decision.

When staging fails a check, the person on call needs to know whether the target broke the
published page, a rule of the wider Layers docs, or one of this project's own decisions (README
"Contract decisions"), without reading the kit's source. So every name the kit records (a
response check, a scenario expectation, a schemathesis check) has one `Source` here:

- `page`: the endpoint page (`tests/fixtures/revoke-social-account.txt`, the published page), with
  the sentence quoted verbatim (`tests/conformance/test_provenance.py` holds every quote to the
  page's text);
- `docs`: a fact of the wider Layers docs, with the page it is on
  (`/work/shared/reference/layers-api-facts.md` says which page each fact comes from);
- `decision`: a numbered decision of README "Contract decisions".

`--documented-only` asserts only the checks whose source is the page (`Results`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["page", "docs", "decision"]
PAGE: Kind = "page"
DOCS: Kind = "docs"
DECISION: Kind = "decision"
KINDS: tuple[Kind, ...] = ("page", "docs", "decision")
KIND_TITLES = {
    PAGE: "the endpoint page",
    DOCS: "the wider Layers docs",
    DECISION: "this project's decisions",
}

DOCS_SITE = "https://developers.layers.com/docs/api"


@dataclass(frozen=True)
class Source:
    kind: Kind
    quote: str | None = None  # page: a sentence of the page, verbatim; docs: the fact, paraphrased
    page: str | None = None  # docs: the page the fact is on
    number: int | None = None  # decision: its number in README "Contract decisions"
    note: str = ""  # how the check reads the source, when the quote alone does not say

    def __post_init__(self) -> None:
        if self.kind == PAGE and not self.quote:
            raise ValueError("a page source quotes the page")
        if self.kind == DOCS and not (self.page and self.quote):
            raise ValueError("a docs source names the page and the fact")
        if self.kind == DECISION and not self.number:
            raise ValueError("a decision source has its number")

    def cite(self) -> str:
        """One line for a report: `the endpoint page: "..."`, `Layers docs (errors page): ...`."""
        note = f" ({self.note})" if self.note else ""
        if self.kind == PAGE:
            return f'the endpoint page: "{self.quote}"{note}'
        if self.kind == DOCS:
            return f"Layers docs, {self.page}: {self.quote}{note}"
        return f"project decision {self.number}{': ' + self.quote if self.quote else ''}{note}"

    @property
    def group(self) -> str:
        """What a report groups failures by: the page, a docs page, or a decision number."""
        if self.kind == PAGE:
            return "endpoint page"
        if self.kind == DOCS:
            return f"Layers docs: {self.page}"
        return f"decision {self.number}"

    def to_json(self) -> dict:
        out: dict = {"kind": self.kind, "cite": self.cite()}
        for name in ("quote", "page", "number", "note"):
            value = getattr(self, name)
            if value:
                out[name] = value
        return out


def page(quote: str, note: str = "") -> Source:
    return Source(PAGE, quote=quote, note=note)


def docs(page_path: str, fact: str, note: str = "") -> Source:
    return Source(DOCS, quote=fact, page=f"{DOCS_SITE}/{page_path}", note=note)


def decision(number: int, title: str, note: str = "") -> Source:
    return Source(DECISION, quote=title, number=number, note=note)


# -- sentences of the endpoint page, each quoted once -----------------------------------------

DISCONNECT = (
    'Layers drops the stored token, marks the account disconnected (with disconnectedReason = "revoked_by_partner")'
)
AUDIT_TRAIL = "The response's canceledScheduledPosts count is your audit trail."
ONE_TRANSACTION = "Revoking cancels all queued scheduled posts on this account in a single transaction."
NO_BODY = "This endpoint takes no request body."
ACCOUNT_TO_REVOKE = "Account to revoke."
ROUTE = "DELETE /v1/social-accounts/:socialAccountId"
ENVELOPE = "See Errors for the canonical envelope and full code catalog."
ROW_400 = "socialAccountId path param malformed (not a sa_<uuid> shape)."
ROW_401 = "Missing or invalid Authorization header."
ROW_403 = "Key lacks social:write."
ROW_403_DETAILS = "details.requiredScope names the scope."
ROW_404 = "Account not in your organization, or already disconnected."
ROW_404_LEAK = "Returned (not 403) deliberately so the API doesn't leak cross-org existence."
ROW_409 = "this surfaces only if you reused a key across different socialAccountId paths."
ROW_429 = "Per-key write budget exhausted. Honor Retry-After."
ROW_500 = "Server-side failure mid-transaction."
ROW_500_ATOMIC = (
    "The cancellation is atomic — either every queued post was canceled and the account is disconnected,"
    " or nothing changed."
)
ROW_500_RETRY = "Safe to retry."
ROW_500_REQUEST_ID = "requestId correlates against Layers logs."
ROW_503 = "Your key, your org, or the global partner API has been disabled."
ROW_503_SCOPE = "details.scope is key, organization, or global."
SUCCESS = "200Revoked"  # the page's response heading: the one success status

SOURCES: dict[str, Source] = {
    # -- response checks, on every response (conformance.checks, conformance.pipeline) -----------
    "json_content_type": docs(
        "operational/errors",
        "every 4xx and 5xx response has the same body, a JSON object with an `error` object",
        "the 200 body is the JSON object of the page's example",
    ),
    "error_envelope_shape": page(ENVELOPE, "the envelope: error.code, error.message, error.requestId[, details]"),
    "error_code_matches_status": page(ENVELOPE, "the page's errors table pins one code to each status"),
    "request_id_matches_header": docs(
        "operational/errors",
        "`requestId` is on every error; the `X-Request-Id` header carries the same id (concepts/id-formats: req_ ids)",
    ),
    "forbidden_names_required_scope": page(ROW_403_DETAILS),
    "retry_after_is_integer_seconds": page(ROW_429, "operational/rate-limits: Retry-After is in seconds"),
    "kill_switch_scope_in_enum": page(ROW_503_SCOPE),
    "success_body_shape": page(DISCONNECT, "the fields and values of the page's 200 example"),
    "documented_headers_present": docs(
        "operational/rate-limits",
        "`X-RateLimit-Endpoint-Class` is on every response; `X-Request-Id` on every response (operational/errors)",
    ),
    "strict_success_fields_exactly_documented": decision(13, "the 200 body has exactly the five documented fields"),
    "strict_undocumented_status_uses_envelope": decision(12, "undocumented statuses still use the envelope"),
    "no_unexpected_server_error": page(ROW_500, "the only 5xx besides 503 KILL_SWITCH the page lists"),
    "revoke_echoes_account_id": page(ACCOUNT_TO_REVOKE, "the 200 body's socialAccountId is the path's account"),
    "canceled_posts_equal_queued": page(AUDIT_TRAIL, "every queued post is canceled, and counted"),
    "not_found_reveals_nothing": page(ROW_404_LEAK),
    "response_body_within_size_cap": decision(18, "a response of more than 1 MiB is the target's violation"),
    "response_json_nesting_within_bound": decision(18, "JSON nested deeper than 64 levels is the target's violation"),
    # -- truth, not only shape (issue 22) ----------------------------------------------------------
    "disconnected_at_is_revoke_time": page(
        DISCONNECT,
        "disconnectedAt is when the account was marked disconnected: the target's clock at the revoke,"
        " within decision 16's tolerance",
    ),
    "request_ids_unique": page(
        ROW_500_REQUEST_ID,
        "an id that two requests share correlates neither; a replay repeats its original (decision 3)",
    ),
    "request_id_is_req_ulid": docs("concepts/id-formats", "request ids are prefixed ULIDs: `req_<ULID>`"),
    "rate_limit_class_is_write_light": docs(
        "operational/rate-limits",
        "DELETE routes are `write-light`, and `X-RateLimit-Endpoint-Class` names the bucket used",
    ),
    "status_is_documented": page(
        "StatusCodeWhen",
        "the page lists 200 and the errors table; decision 12 adds 404/405/413/415, decision 17 414/431",
    ),
    "no_redirect": page(
        SUCCESS, "no 3xx is on the page or in a decision: a client that follows one may revoke without meaning to"
    ),
    "revoke_counts_at_boundaries": page(AUDIT_TRAIL, "at zero and at one queued post, not only at many"),
    "method_override_ignored": page(ROUTE, "the method is DELETE; an override header or parameter changes nothing"),
    "query_token_refused": page(ROW_401, "a key in the query string is not an Authorization header"),
    "request_body_not_acted_on": page(NO_BODY),
    "path_names_the_account": page(
        ACCOUNT_TO_REVOKE, "only the path names the account: not the query, a rewrite header, or a decoded segment"
    ),
    # -- scenarios: the documented statuses ------------------------------------------------------
    "malformed_id_answers_400": page(ROW_400),
    "missing_credentials_answer_401": page(ROW_401),
    "invalid_credentials_answer_401": page(ROW_401),
    "unknown_account_answers_404": page(ROW_404),
    "foreign_account_answers_404": page(ROW_404_LEAK),
    "read_only_key_answers_403": page(ROW_403),
    "revoke_succeeds": page(DISCONNECT),
    "revoke_answers_200": page(SUCCESS),
    "revoke_reports_disconnected": page(DISCONNECT),
    "second_revoke_answers_404": page(ROW_404, "decision 4: without an Idempotency-Key"),
    "idempotent_replay_same_response": docs(
        "getting-started/common-patterns",
        "the same Idempotency-Key replays the original response verbatim (same status, same body)",
        "decision 3 holds it on this DELETE",
    ),
    "idempotency_replay_requires_scope": page(ROW_403, "an Idempotency-Key replays nothing to a key without the scope"),
    "strict_replay_is_verbatim": decision(3, "a replay repeats X-Request-Id and says Idempotent-Replayed: true"),
    "idempotency_key_reuse_answers_409": page(ROW_409),
    "rate_limit_retry_after_succeeds": page(ROW_429, "retrying after Retry-After succeeds"),
    "rate_limit_answers_429": page(ROW_429),
    "internal_error_changes_nothing": page(ROW_500_ATOMIC),
    "internal_error_answers_500": page(ROW_500),
    "internal_error_safe_to_retry": page(ROW_500_RETRY),
    "kill_switch_answers_503": page(ROW_503),
    "kill_switch_names_scope": page(ROW_503_SCOPE),
    "strict_id_shape_is_sa_uuid": decision(2, "the id is sa_ + a lower-case canonical UUID"),
    "strict_order_of_checks": decision(1, "401 → 503 → 403 → 400 → 429 → 409/replay → 404 → revoke"),
    "boundary_ids_answer_400": page(ROW_400),
    "boundary_inputs_answer_4xx": page(
        ROW_400, "routing may refuse first (any 4xx); Idempotency-Key bounds are decision 3"
    ),
    "strict_undocumented_statuses_use_envelope": decision(12, "405 for another method, in the envelope, with Allow"),
    "lenient_credentials_answer_401": page(ROW_401, "operational/authentication: `Bearer <key>` is the only form"),
    "strict_bearer_scheme_case_insensitive": decision(14, "the Bearer scheme is matched case-insensitively"),
    "concurrent_revokes_one_succeeds": page(ONE_TRANSACTION, "and a second revoke answers 404"),
    "foreign_404_indistinguishable": page(ROW_404_LEAK),
    # -- schemathesis' own checks, against the spec written from the page ---------------------------
    "status_code_conformance": page("StatusCodeWhen", "the spec's statuses, from the page's table"),
    "content_type_conformance": docs(
        "operational/errors", "responses are JSON: the envelope on errors, the object of the example on 200"
    ),
    "response_headers_conformance": docs(
        "operational/rate-limits", "`X-RateLimit-Endpoint-Class` and `X-Request-Id` on every response"
    ),
    "response_schema_conformance": page(DISCONNECT, "the spec's schemas: the page's example and the envelope"),
    "negative_data_rejection": page(ROW_400),
}


def source_for(name: str) -> Source | None:
    return SOURCES.get(name)


def page_quotes() -> list[str]:
    """Every sentence the kit cites from the endpoint page (each must occur in it verbatim)."""
    return sorted({s.quote for s in SOURCES.values() if s.kind == PAGE and s.quote})
