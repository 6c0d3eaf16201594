"""A catalog of deliberately broken implementations of the revoke endpoint, to prove the kit.

Each entry is one realistic bug against one documented rule. They are served by one small
proxy process in front of the real mock: `/bug/<name>/v1/...` forwards to the mock's API and
rewrites the exchange to inject that one bug; `/bug/<name>/_mock/...` forwards to the control
plane untouched, so the kit's `--mock-control` provisioning works through the proxy. The mock
itself carries no bug switches.

Run: python tests/conformance/broken_impls.py --upstream http://127.0.0.1:4010 --port 4600
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import email.utils
import hashlib
import json
import posixpath
import random
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote

import httpx
from asgi_relay import relay_app

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from contract import CONTRACT

CONTROL_PREFIX = "/_mock"
HOP_HEADERS = {"content-length", "transfer-encoding", "content-encoding", "connection", "date", "server"}


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def data(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def with_json(self, data, status: int | None = None) -> Reply:
        return Reply(status or self.status, dict(self.headers), json.dumps(data).encode())

    @property
    def code(self) -> str | None:
        data = self.data
        return data.get("error", {}).get("code") if isinstance(data, dict) else None


@dataclass
class Request:
    method: str
    path: str  # the upstream path, e.g. /v1/social-accounts/sa_...
    headers: dict[str, str]  # lower-case names
    body: bytes = b""
    client: str = ""  # the caller's address and port: one per connection

    @property
    def account_id(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1]

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(self.path.split("?", 1)[1]) if "?" in self.path else {}

    @property
    def decoded_id(self) -> str:
        """The id as an application sees it after the framework decoded the path."""
        return unquote(self.path.split("?", 1)[0].split("/social-accounts/", 1)[-1])

    def with_id(self, account_id: str) -> Request:
        return dataclasses.replace(self, path="/v1/social-accounts/" + quote(account_id, safe=""))

    def without(self, name: str) -> Request:
        return dataclasses.replace(self, headers={k: v for k, v in self.headers.items() if k != name.lower()})

    def with_header(self, name: str, value: str) -> Request:
        return dataclasses.replace(self, headers={**self.headers, name.lower(): value})


Forward = Callable[[Request], Awaitable[Reply]]


@dataclass
class Proxy:
    upstream: httpx.AsyncClient
    good_tokens: list[str] = field(default_factory=list)  # tokens the real server accepted with the scope
    in_flight: dict[str, int] = field(default_factory=dict)  # account id -> requests being served

    async def forward(self, req: Request) -> Reply:
        # Header values arrive as latin-1 text; send the very bytes on (httpx would refuse non-ASCII str).
        r = await self.upstream.request(
            req.method,
            req.path,
            headers={k: v.encode("latin-1") for k, v in req.headers.items()},
            content=req.body or None,
        )
        reply = Reply(
            r.status_code, {k.lower(): v for k, v in r.headers.items() if k.lower() not in HOP_HEADERS}, r.content
        )
        auth = req.headers.get("authorization", "")
        if reply.status not in (401, 403) and auth.startswith("Bearer ") and auth not in self.good_tokens:
            self.good_tokens.append(auth)
        return reply

    async def control_account(self, account_id: str) -> dict | None:
        r = await self.upstream.get(f"{CONTROL_PREFIX}/accounts/{account_id}")
        return r.json() if r.status_code == 200 else None


@dataclass
class Bug:
    name: str
    rule: str  # the documented rule it breaks
    intended_check: str  # the kit check that must name it
    apply: Callable[[Proxy, Request], Awaitable[Reply]]
    kit_args: list[str] = field(default_factory=list)
    bug_class: str = ""  # the catch-rate table's class (docs/guides/staging-ci.md): one of CLASSES

    @property
    def needs_control(self) -> bool:
        """Only a few rules can be reached only through the mock's control plane (a 500 armed on
        purpose, a kill switch, a spent rate budget); every other entry runs staging-style."""
        return "--mock-control" in self.kit_args


CLASSES = {
    "pipeline": "a rule checked on every response, whichever phase produced it",
    "success": "weak success: the 200 body and its canceledScheduledPosts",
    "concurrency": "races: simultaneous revokes of one account",
    "leak": "existence leaks: another organization's account told apart from a missing one",
    "5xx": "server errors on bad input (boundary ids and headers)",
    "credentials": "lenient credentials",
    "rules": "the documented statuses, codes and envelope",
    # Issue 22: classes the kit used to miss.
    "time": "truth: disconnectedAt well-formed but not the revoke's time",
    "request_ids": "truth: request ids (and the class header) well-formed but not what they say",
    "boundary_counts": "truth: the count right for many queued posts, wrong at zero or one",
    "redirects": "a 3xx on the documented route",
    "statuses": "a status on neither the page nor a decision",
    "replay": "a replay that is not the original response",
    "probes": "what the page forbids: method override, key in the query, a body or header naming the account",
}
NEW_CLASSES = frozenset(["time", "request_ids", "boundary_counts", "redirects", "statuses", "replay", "probes"])

CATALOG: dict[str, Bug] = {}
VARIANTS: dict[str, Bug] = {}  # correct implementations, different from the mock: never flagged


def bug(name: str, rule: str, intended_check: str, kit_args: list[str] | None = None, bug_class: str = "rules"):
    def register(fn):
        CATALOG[name] = Bug(name, rule, intended_check, fn, kit_args or [], bug_class)
        return fn

    return register


def variant(name: str, why: str, kit_args: list[str] | None = None):
    def register(fn):
        VARIANTS[name] = Bug(name, why, "", fn, kit_args or [], "correct")
        return fn

    return register


STATUS = CONTRACT.codes  # code -> status


def _error(reply: Reply) -> dict:
    data = reply.data
    return dict(data["error"]) if isinstance(data, dict) and isinstance(data.get("error"), dict) else {}


def _rewrite_error(reply: Reply, code: str, message: str, details: dict | None = None) -> Reply:
    err = {
        "code": code,
        "message": message,
        "requestId": _error(reply).get("requestId") or reply.headers.get("x-request-id"),
    }
    if details is not None:
        err["details"] = details
    return reply.with_json({"error": err}, STATUS[code])


# -- organizations and existence --------------------------------------------------------------


@bug(
    "foreign_account_403",
    "another organization's account answers 404, never 403",
    "foreign_account_answers_404",
    bug_class="leak",
)
async def foreign_account_403(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "NOT_FOUND":
        account = await p.control_account(req.account_id)
        if account and account["status"] == "connected":  # exists, just not the caller's
            return _rewrite_error(
                reply,
                "FORBIDDEN_SCOPE",
                "This account belongs to another organization.",
                {"requiredScope": CONTRACT.required_scope},
            )
    return reply


@bug("second_revoke_answers_200", "revoking an already disconnected account answers 404", "second_revoke_answers_404")
async def second_revoke_200(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "NOT_FOUND":
        account = await p.control_account(req.account_id)
        if account and account["status"] == "disconnected":
            return reply.with_json(
                {
                    "socialAccountId": req.account_id,
                    "status": "disconnected",
                    "disconnectedReason": "revoked_by_partner",
                    "canceledScheduledPosts": 0,
                    "disconnectedAt": account["disconnectedAt"],
                },
                200,
            )
    return reply


@bug("malformed_id_looked_up", "a malformed socialAccountId answers 400 VALIDATION", "malformed_id_answers_400")
async def malformed_id_looked_up(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "VALIDATION" and not CONTRACT.account_id_pattern.match(req.account_id):
        return _rewrite_error(reply, "NOT_FOUND", "Account not found.")
    return reply


# -- credentials and scope ---------------------------------------------------------------------


@bug(
    "any_bearer_accepted",
    "an invalid Authorization answers 401",
    "invalid_credentials_answer_401",
    bug_class="credentials",
)
async def any_bearer_accepted(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 401 and req.headers.get("authorization", "").startswith("Bearer ") and p.good_tokens:
        return await p.forward(req.with_header("Authorization", p.good_tokens[-1]))
    return reply


@bug(
    "missing_auth_answers_403",
    "a missing Authorization header answers 401",
    "missing_credentials_answer_401",
    bug_class="credentials",
)
async def missing_auth_403(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 401 and "authorization" not in req.headers:
        return _rewrite_error(reply, "FORBIDDEN_SCOPE", "No key, no scope.", {"requiredScope": CONTRACT.required_scope})
    return reply


@bug(
    "scope_not_enforced", "a key without social:write answers 403", "read_only_key_answers_403", bug_class="credentials"
)
async def scope_not_enforced(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "FORBIDDEN_SCOPE" and p.good_tokens:
        return await p.forward(req.with_header("Authorization", p.good_tokens[-1]))
    return reply


@bug(
    "forbidden_without_required_scope", "403 names the scope in details.requiredScope", "forbidden_names_required_scope"
)
async def forbidden_without_scope(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "FORBIDDEN_SCOPE":
        return _rewrite_error(reply, "FORBIDDEN_SCOPE", "Forbidden.")
    return reply


# -- the envelope --------------------------------------------------------------------------------


@bug("error_without_request_id", "every error carries requestId", "request_id_matches_header")
async def error_without_request_id(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status >= 400 and _error(reply):
        err = _error(reply)
        err.pop("requestId", None)
        return reply.with_json({"error": err})
    return reply


@bug("request_id_mismatch", "error.requestId equals the X-Request-Id header", "request_id_matches_header")
async def request_id_mismatch(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if "x-request-id" in reply.headers:
        # A gateway that stamps its own id on the response without touching the body.
        reply.headers["x-request-id"] = "req_" + uuid.uuid4().hex[:26].upper()
    return reply


@bug("wrong_code_string", "404 carries the code NOT_FOUND", "error_code_matches_status")
async def wrong_code(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "NOT_FOUND":
        err = _error(reply)
        err["code"] = "ACCOUNT_NOT_FOUND"
        return reply.with_json({"error": err})
    return reply


@bug("errors_not_in_envelope", 'errors use the {"error": {...}} envelope', "error_envelope_shape")
async def errors_not_in_envelope(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status >= 400 and _error(reply):
        return reply.with_json(_error(reply))  # flat {"code", "message", "requestId"}
    return reply


@bug("errors_as_problem_json", "responses are application/json", "json_content_type")
async def errors_as_problem_json(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status >= 400:
        reply.headers["content-type"] = "application/problem+json"
    return reply


# -- rate limits and kill switches -------------------------------------------------------------


@bug(
    "rate_limited_without_retry_after",
    "429 carries Retry-After",
    "retry_after_is_integer_seconds",
    kit_args=["--mock-control"],
)
async def no_retry_after(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    reply.headers.pop("retry-after", None)
    return reply


@bug(
    "retry_after_http_date",
    "Retry-After is an integer number of seconds",
    "retry_after_is_integer_seconds",
    kit_args=["--mock-control"],
)
async def retry_after_date(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if "retry-after" in reply.headers:
        reply.headers["retry-after"] = email.utils.formatdate(usegmt=True)
    return reply


@bug(
    "retry_after_too_short",
    "retrying after Retry-After succeeds",
    "rate_limit_retry_after_succeeds",
    kit_args=["--mock-control"],
)
async def retry_after_too_short(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if "retry-after" in reply.headers:
        reply.headers["retry-after"] = "1"  # hard-coded, whatever the window says
    return reply


@bug(
    "kill_switch_unknown_scope",
    "503 details.scope is key, organization or global",
    "kill_switch_scope_in_enum",
    kit_args=["--mock-control"],
)
async def kill_switch_scope(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "KILL_SWITCH":
        return _rewrite_error(reply, "KILL_SWITCH", "Disabled.", {"scope": "api_key"})
    return reply


# -- the revoke itself ----------------------------------------------------------------------------


@bug(
    "counts_published_as_canceled",
    "canceledScheduledPosts counts only the queued posts",
    "canceled_posts_equal_queued",
    bug_class="success",
)
async def counts_published(p: Proxy, req: Request) -> Reply:
    before = await p.control_account(req.account_id) if req.method == "DELETE" else None
    reply = await p.forward(req)
    if reply.status == 200 and before:
        data = reply.data
        data["canceledScheduledPosts"] += (before.get("postCounts") or {}).get("published", 0)
        return reply.with_json(data)
    return reply


@bug(
    "revoke_returns_other_id",
    "the 200 body echoes the revoked socialAccountId",
    "revoke_echoes_account_id",
    bug_class="success",
)
async def returns_other_id(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 200:
        data = reply.data
        data["socialAccountId"] = "sa_" + str(uuid.uuid5(uuid.NAMESPACE_URL, data["socialAccountId"]))
        return reply.with_json(data)
    return reply


@bug(
    "success_without_disconnected_at", "the 200 body carries disconnectedAt", "success_body_shape", bug_class="success"
)
async def no_disconnected_at(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 200:
        data = reply.data
        data.pop("disconnectedAt", None)
        return reply.with_json(data)
    return reply


@bug(
    "idempotency_key_ignored", "the same Idempotency-Key replays the first response", "idempotent_replay_same_response"
)
async def idempotency_ignored(p: Proxy, req: Request) -> Reply:
    return await p.forward(req.without("Idempotency-Key"))


@bug(
    "idempotency_conflict_ignored",
    "the same Idempotency-Key on another account answers 409",
    "idempotency_key_reuse_answers_409",
)
async def conflict_ignored(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "IDEMPOTENCY_CONFLICT":
        return await p.forward(req.without("Idempotency-Key"))
    return reply


@bug(
    "not_atomic_on_failure",
    "a 500 means nothing changed",
    "internal_error_changes_nothing",
    kit_args=["--mock-control"],
)
async def not_atomic(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "INTERNAL":
        await p.forward(req.without("Idempotency-Key"))  # the disconnect committed anyway
    return reply


# -- a decision beyond the docs: caught only under --strict -----------------------------------------


@bug(
    "replay_not_marked",
    "decision 3: a replay repeats X-Request-Id and says Idempotent-Replayed: true",
    "strict_replay_is_verbatim",
    kit_args=["--strict"],
)
async def replay_not_marked(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.headers.pop(CONTRACT.replay_header.lower(), None) is not None:
        reply.headers["x-request-id"] = "req_" + uuid.uuid4().hex[:26].upper()
    return reply


@bug(
    "success_with_extra_field",
    "decision 13: the 200 body has exactly the documented fields",
    "strict_success_fields_exactly_documented",
    kit_args=["--strict"],
)
async def extra_field(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 200:
        return reply.with_json({**reply.data, "deleted": True})
    return reply


# -- issue 11: one pipeline: rules that hold on every response, a scenario's 200 included ---------


def _request_id() -> str:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return "req_" + "".join(random.choice(alphabet) for _ in range(26))


def _fresh_error(code: str, message: str, details: dict | None = None, status: int | None = None) -> Reply:
    """An error an implementation answers from its own code path, not the mock's."""
    rid = _request_id()
    err = {"code": code, "message": message, "requestId": rid}
    if details is not None:
        err["details"] = details
    return Reply(
        status or STATUS[code],
        {
            "content-type": "application/json",
            "x-request-id": rid,
            "x-ratelimit-endpoint-class": CONTRACT.rate_limit_class,
        },
        json.dumps({"error": err}).encode(),
    )


def _crash(
    text: str = "Internal Server Error", content_type: str = "text/plain; charset=utf-8", status: int = 500
) -> Reply:
    """What a framework answers when the handler raised: no envelope, no request id."""
    return Reply(status, {"content-type": content_type}, text.encode())


@bug(
    "success_without_request_id",
    "every documented response carries X-Request-Id",
    "documented_headers_present",
    bug_class="pipeline",
)
async def success_without_request_id(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 200:
        reply.headers.pop("x-request-id", None)  # the success path forgot the middleware
    return reply


@bug(
    "success_without_rate_limit_class",
    "every documented response carries X-RateLimit-Endpoint-Class",
    "documented_headers_present",
    bug_class="pipeline",
)
async def success_without_class(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 200:
        reply.headers.pop("x-ratelimit-endpoint-class", None)
    return reply


@bug("success_as_text_plain", "responses are application/json", "json_content_type", bug_class="pipeline")
async def success_as_text(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 200:
        reply.headers["content-type"] = "text/plain; charset=utf-8"
    return reply


# -- weak success: what a single "canceled == queued" on a zero-post account lets through --------


def _with_count(reply: Reply, count) -> Reply:
    return reply.with_json({**reply.data, "canceledScheduledPosts": count})


@bug(
    "never_cancels_posts",
    "every queued post is canceled and counted",
    "canceled_posts_equal_queued",
    bug_class="success",
)
async def never_cancels(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    return _with_count(reply, 0) if reply.status == 200 else reply


@bug(
    "cancels_first_page_only",
    "every queued post is canceled (not the first page of two)",
    "canceled_posts_equal_queued",
    bug_class="success",
)
async def cancels_first_page(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 200:
        return _with_count(reply, min(reply.data["canceledScheduledPosts"], 2))  # LIMIT 2 without a loop
    return reply


@bug(
    "replay_recounts_zero",
    "a replay repeats the first response, count included",
    "canceled_posts_equal_queued",
    bug_class="success",
)
async def replay_recounts(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 200 and reply.headers.get(CONTRACT.replay_header.lower()) == "true":
        return _with_count(reply, 0)  # recomputed from the now-empty queue
    return reply


@bug(
    "counts_every_post",
    "canceledScheduledPosts counts the queued posts only",
    "canceled_posts_equal_queued",
    bug_class="success",
)
async def counts_every_post(p: Proxy, req: Request) -> Reply:
    before = await p.control_account(req.account_id) if req.method == "DELETE" else None
    reply = await p.forward(req)
    if reply.status == 200 and before:
        return _with_count(reply, sum((before.get("postCounts") or {}).values()))
    return reply


# -- races: the page promises one atomic revoke ----------------------------------------------------


@bug(
    "check_then_act_race",
    "simultaneous revokes: exactly one 200, the others 404",
    "concurrent_revokes_one_succeeds",
    bug_class="concurrency",
)
async def check_then_act(p: Proxy, req: Request) -> Reply:
    """Reads the account, then updates it without re-checking: every request that read
    "connected" before the first update committed answers 200 and counts the posts again."""
    before = await p.control_account(req.account_id) if req.method == "DELETE" else None
    if not before or before.get("status") != "connected":
        return await p.forward(req)
    await asyncio.sleep(1.0)  # the time between the SELECT and the UPDATE (wide: CI machines are slow)
    reply = await p.forward(req)
    after = await p.control_account(req.account_id) if reply.code == "NOT_FOUND" else None
    # Only a row of the caller's that someone else disconnected in the meantime: another
    # organization's account stays connected and keeps its 404.
    if after and after.get("status") == "disconnected":
        return reply.with_json(
            {
                "socialAccountId": req.decoded_id,
                "status": "disconnected",
                "disconnectedReason": "revoked_by_partner",
                "canceledScheduledPosts": (before.get("postCounts") or {}).get("queued", 0),
                "disconnectedAt": before.get("disconnectedAt") or "2026-01-01T00:00:00Z",
            },
            200,
        )
    return reply


async def _while_busy(p: Proxy, req: Request, busy: Callable[[Reply], Reply]) -> Reply:
    key = req.decoded_id
    if p.in_flight.get(key):
        await asyncio.sleep(0.05)
        return busy(await p.forward(req))
    if not CONTRACT.account_id_pattern.match(key):
        return await p.forward(req)
    # Take the "lock" before the first await, so that requests arriving meanwhile see it.
    p.in_flight[key] = p.in_flight.get(key, 0) + 1
    try:
        if ((await p.control_account(req.account_id)) or {}).get("status") == "connected":
            await asyncio.sleep(1.0)  # a revoke that writes holds the row lock this long (wide: CI is slow)
        return await p.forward(req)
    finally:
        p.in_flight[key] -= 1


@bug(
    "race_losers_answer_409",
    "simultaneous revokes: the losers answer 404 NOT_FOUND",
    "concurrent_revokes_one_succeeds",
    bug_class="concurrency",
)
async def race_409(p: Proxy, req: Request) -> Reply:
    return await _while_busy(p, req, lambda r: _fresh_error("IDEMPOTENCY_CONFLICT", "Account is being modified."))


@bug(
    "race_losers_answer_500",
    "simultaneous revokes: no 500 (database is locked)",
    "concurrent_revokes_one_succeeds",
    bug_class="concurrency",
)
async def race_500(p: Proxy, req: Request) -> Reply:
    return await _while_busy(p, req, lambda r: _fresh_error("INTERNAL", "database is locked"))


# -- existence leaks: the 404 for another organization's account ----------------------------------


async def _foreign(p: Proxy, req: Request, reply: Reply) -> bool:
    if reply.code != "NOT_FOUND":
        return False
    account = await p.control_account(req.account_id)
    return bool(account) and account["status"] == "connected"  # exists, just not the caller's


@bug(
    "foreign_404_names_other_org",
    "the cross-org 404 does not reveal the account exists",
    "not_found_reveals_nothing",
    bug_class="leak",
)
async def foreign_names_org(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if await _foreign(p, req, reply):
        return _rewrite_error(reply, "NOT_FOUND", f"Account {req.decoded_id} belongs to another organization.")
    return reply


@bug(
    "foreign_404_owner_in_details",
    "the cross-org 404 does not reveal the owner",
    "not_found_reveals_nothing",
    bug_class="leak",
)
async def foreign_owner(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if await _foreign(p, req, reply):
        account = await p.control_account(req.account_id)
        err = _error(reply)
        return _rewrite_error(
            reply, "NOT_FOUND", err.get("message", "Not found."), {"organizationId": account.get("organizationId")}
        )
    return reply


@bug(
    "foreign_404_other_message",
    "the cross-org 404 is worded like any other 404",
    "foreign_404_indistinguishable",
    bug_class="leak",
)
async def foreign_message(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if await _foreign(p, req, reply):
        return _rewrite_error(reply, "NOT_FOUND", "You do not have access to this social account.")
    return reply


@bug(
    "foreign_404_extra_header",
    "the cross-org 404 carries the same headers as any other 404",
    "foreign_404_indistinguishable",
    bug_class="leak",
)
async def foreign_header(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if await _foreign(p, req, reply):
        reply.headers["www-authenticate"] = 'Bearer error="insufficient_scope"'  # from the authz layer
    return reply


@bug(
    "foreign_404_extra_detail_key",
    "the cross-org 404 has the same detail keys as any other 404",
    "foreign_404_indistinguishable",
    bug_class="leak",
)
async def foreign_details(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if await _foreign(p, req, reply):
        return _rewrite_error(reply, "NOT_FOUND", _error(reply).get("message", ""), {"reason": "not_accessible"})
    return reply


@bug(
    "revoked_404_says_disconnected",
    "already disconnected, missing and foreign accounts answer the same 404",
    "foreign_404_indistinguishable",
    bug_class="leak",
)
async def revoked_message(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "NOT_FOUND":
        account = await p.control_account(req.account_id)
        if account and account["status"] == "disconnected":
            return _rewrite_error(reply, "NOT_FOUND", "This social account is already disconnected.")
    return reply


# -- server errors on bad input -------------------------------------------------------------------


@bug(
    "long_id_500",
    "a malformed id answers 400, never 500 (VARCHAR(255) overflow)",
    "no_unexpected_server_error",
    bug_class="5xx",
)
async def long_id(p: Proxy, req: Request) -> Reply:
    if len(req.decoded_id) > 255:
        return _fresh_error("INTERNAL", "value too long for type character varying(255)")
    return await p.forward(req)


@bug(
    "huge_url_502", "a 10 KB id answers 4xx, never 502 from the gateway", "no_unexpected_server_error", bug_class="5xx"
)
async def huge_url(p: Proxy, req: Request) -> Reply:
    if len(req.path) > 8 * 1024:
        return _crash("<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html", 502)
    return await p.forward(req)


@bug(
    "unicode_id_500",
    "a non-ASCII id answers 400, never 500 (UnicodeEncodeError)",
    "no_unexpected_server_error",
    bug_class="5xx",
)
async def unicode_id(p: Proxy, req: Request) -> Reply:
    if not req.decoded_id.isascii():
        return _crash()
    return await p.forward(req)


@bug("nul_in_id_500", "an id with a NUL byte answers 400, never 500", "no_unexpected_server_error", bug_class="5xx")
async def nul_id(p: Proxy, req: Request) -> Reply:
    if "\x00" in req.decoded_id:
        return _crash("A string literal cannot contain NUL (0x00) characters.")
    return await p.forward(req)


@bug(
    "numeric_id_500",
    "a numeric id answers 400, never 500 (integer overflow)",
    "no_unexpected_server_error",
    bug_class="5xx",
)
async def numeric_id(p: Proxy, req: Request) -> Reply:
    if req.decoded_id.lstrip("-").isdigit() and abs(int(req.decoded_id)) >= 2**63:
        return _fresh_error("INTERNAL", "bigint out of range")
    return await p.forward(req)


@bug("format_string_id_500", "an id with % answers 400, never 500", "no_unexpected_server_error", bug_class="5xx")
async def format_id(p: Proxy, req: Request) -> Reply:
    if "%" in req.decoded_id:
        return _crash("TypeError: not enough arguments for format string")
    return await p.forward(req)


@bug("empty_id_500", "an empty id answers 4xx, never 500", "no_unexpected_server_error", bug_class="5xx")
async def empty_id(p: Proxy, req: Request) -> Reply:
    if req.path.split("?", 1)[0].endswith("/social-accounts/"):
        return _crash("KeyError: 'socialAccountId'")
    return await p.forward(req)


@bug(
    "long_idempotency_key_500",
    "an Idempotency-Key past 255 characters answers 4xx, never 500",
    "no_unexpected_server_error",
    bug_class="5xx",
)
async def long_key(p: Proxy, req: Request) -> Reply:
    if len(req.headers.get("idempotency-key", "")) > 255:
        return _fresh_error("INTERNAL", "value too long for type character varying(255)")
    return await p.forward(req)


@bug(
    "utf8_idempotency_key_500",
    "a non-ASCII Idempotency-Key answers 4xx, never 500",
    "no_unexpected_server_error",
    bug_class="5xx",
)
async def utf8_key(p: Proxy, req: Request) -> Reply:
    if not req.headers.get("idempotency-key", "").isascii():
        return _crash()
    return await p.forward(req)


@bug(
    "whitespace_id_trimmed",
    "an id with whitespace is malformed: 400, not looked up",
    "boundary_ids_answer_400",
    bug_class="5xx",
)
async def whitespace_trimmed(p: Proxy, req: Request) -> Reply:
    trimmed = req.decoded_id.strip()
    if trimmed != req.decoded_id and CONTRACT.account_id_pattern.match(trimmed):
        return await p.forward(req.with_id(trimmed))
    return await p.forward(req)


@bug(
    "uuid_parsed_leniently",
    "an id that is not sa_<uuid> answers 400 (uuid.UUID() takes fullwidth digits, braces, ...)",
    "boundary_ids_answer_400",
    bug_class="5xx",
)
async def uuid_lenient(p: Proxy, req: Request) -> Reply:
    raw = req.decoded_id
    if raw.startswith("sa_") and not CONTRACT.account_id_pattern.match(raw):
        try:
            canonical = "sa_" + str(uuid.UUID(raw[3:]))  # accepts no hyphens, braces, urn:uuid:
        except ValueError:
            return await p.forward(req)
        return await p.forward(req.with_id(canonical))
    return await p.forward(req)


@bug(
    "uuid_without_hyphens_accepted",
    "decision 2: only sa_ + the canonical lower-case UUID is an id",
    "strict_id_shape_is_sa_uuid",
    kit_args=["--strict"],
    bug_class="5xx",
)
async def hyphenless(p: Proxy, req: Request) -> Reply:
    raw = req.decoded_id
    if len(raw) == 35 and raw.startswith("sa_") and all(c in "0123456789abcdef" for c in raw[3:]):
        h = raw[3:]
        return await p.forward(req.with_id(f"sa_{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"))
    return await p.forward(req)


# -- lenient credentials ---------------------------------------------------------------------------


def _token(req: Request) -> str:
    return req.headers.get("authorization", "")


def _as_good(p: Proxy, req: Request, secret: str) -> Request | None:
    for good in p.good_tokens:
        if good == f"Bearer {secret}":
            return req.with_header("Authorization", good)
    return None


@bug(
    "key_without_scheme_accepted",
    "only `Authorization: Bearer <key>` is accepted",
    "lenient_credentials_answer_401",
    bug_class="credentials",
)
async def no_scheme(p: Proxy, req: Request) -> Reply:
    value = _token(req)
    fixed = _as_good(p, req, value) if value and " " not in value else None
    return await p.forward(fixed or req)


@bug(
    "any_scheme_accepted",
    "a wrong scheme (Token, Basic) answers 401",
    "lenient_credentials_answer_401",
    bug_class="credentials",
)
async def any_scheme(p: Proxy, req: Request) -> Reply:
    scheme, _, secret = _token(req).partition(" ")
    fixed = _as_good(p, req, secret) if scheme and scheme.lower() != "bearer" else None
    return await p.forward(fixed or req)


@bug(
    "extra_text_after_key_accepted",
    "a token with extra text answers 401 (split()[1])",
    "lenient_credentials_answer_401",
    bug_class="credentials",
)
async def extra_text(p: Proxy, req: Request) -> Reply:
    parts = _token(req).split()
    fixed = _as_good(p, req, parts[1].rstrip(",")) if len(parts) > 2 and parts[0] == "Bearer" else None
    return await p.forward(fixed or req)


@bug(
    "secret_not_verified",
    "a key with a wrong secret answers 401 (looked up by its prefix only)",
    "lenient_credentials_answer_401",
    bug_class="credentials",
)
async def prefix_lookup(p: Proxy, req: Request) -> Reply:
    value = _token(req)
    for good in p.good_tokens:
        if value != good and len(value) >= len(good) - 1 and value[: len(good) - 1] == good[:-1]:
            return await p.forward(req.with_header("Authorization", good))
    return await p.forward(req)


@bug(
    "empty_bearer_500",
    "an empty bearer token answers 401, never 500 (IndexError)",
    "lenient_credentials_answer_401",
    bug_class="credentials",
)
async def empty_bearer(p: Proxy, req: Request) -> Reply:
    if _token(req).strip() == "Bearer":
        return _crash("IndexError: list index out of range")
    return await p.forward(req)


@bug(
    "legacy_x_api_key_accepted",
    "the legacy X-Api-Key header alone answers 401 (Bearer is the only form)",
    "lenient_credentials_answer_401",
    bug_class="credentials",
)
async def legacy_header(p: Proxy, req: Request) -> Reply:
    if "authorization" not in req.headers and req.headers.get("x-api-key"):
        fixed = _as_good(p, req, req.headers["x-api-key"])
        if fixed is not None:
            return await p.forward(fixed)
    return await p.forward(req)


@bug(
    "bearer_scheme_case_sensitive",
    "decision 14: the scheme is case-insensitive (RFC 7235)",
    "strict_bearer_scheme_case_insensitive",
    kit_args=["--strict"],
    bug_class="credentials",
)
async def scheme_case(p: Proxy, req: Request) -> Reply:
    if _token(req).split(" ", 1)[0] not in ("", "Bearer") and _token(req).split(" ", 1)[0].lower() == "bearer":
        return _fresh_error("UNAUTHENTICATED", "Missing or invalid Authorization header.")
    return await p.forward(req)


# -- issue 22: values that are well-formed but false, and what the target must never do ----------------
#
# Each entry below is in one of the classes the kit used to miss (NEW_CLASSES): a value of the
# right shape that is not true, a status that is on neither the page nor a decision, a redirect,
# a replay that is not the original, and the probes of what the page forbids.


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _stamp(reply: Reply) -> datetime:
    return datetime.strptime(reply.data["disconnectedAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _shift_disconnected_at(reply: Reply, by: timedelta) -> Reply:
    if reply.status != 200 or not isinstance(reply.data, dict) or "disconnectedAt" not in reply.data:
        return reply
    return reply.with_json({**reply.data, "disconnectedAt": _z(_stamp(reply) + by)})


def _with_request_id(reply: Reply, rid: str) -> Reply:
    """The same answer with another request id, in the header and (on errors) in the envelope."""
    if "x-request-id" in reply.headers:
        reply.headers["x-request-id"] = rid
    err = _error(reply)
    if err:
        err["requestId"] = rid
        replaced = reply.with_json({"error": err})
        replaced.headers = reply.headers
        return replaced
    return reply


@bug(
    "disconnected_at_local_time_as_utc",
    "disconnectedAt is the revoke's time: a server in UTC-7 writes its wall clock with a Z",
    "disconnected_at_is_revoke_time",
    bug_class="time",
)
async def local_time_as_utc(p: Proxy, req: Request) -> Reply:
    return _shift_disconnected_at(await p.forward(req), timedelta(hours=-7))


@bug(
    "disconnected_at_is_connected_at",
    "disconnectedAt is the revoke's time, not the account's connectedAt (the wrong column)",
    "disconnected_at_is_revoke_time",
    bug_class="time",
)
async def connected_at(p: Proxy, req: Request) -> Reply:
    return _shift_disconnected_at(await p.forward(req), timedelta(days=-38, hours=-5, minutes=-12))


@bug(
    "disconnected_at_is_purge_time",
    "disconnectedAt is the revoke's time, not when the soft-deleted row will be purged (+24 h)",
    "disconnected_at_is_revoke_time",
    bug_class="time",
)
async def purge_time(p: Proxy, req: Request) -> Reply:
    return _shift_disconnected_at(await p.forward(req), timedelta(hours=24))


DOCS_EXAMPLE_REQUEST_ID = "req_01HXZ9G7KMV2QX8Y1S5RJW3B7T"


@bug(
    "constant_request_id",
    "request ids correlate with the logs: the docs' example id on every response is none",
    "request_ids_unique",
    bug_class="request_ids",
)
async def constant_request_id(p: Proxy, req: Request) -> Reply:
    return _with_request_id(await p.forward(req), DOCS_EXAMPLE_REQUEST_ID)


@bug(
    "request_id_per_connection",
    "one request id per request, not per keep-alive connection (minted in the connection handler)",
    "request_ids_unique",
    bug_class="request_ids",
)
async def request_id_per_connection(p: Proxy, req: Request) -> Reply:
    minted = p.__dict__.setdefault("connection_ids", {})
    rid = minted.setdefault(req.client, _request_id())
    return _with_request_id(await p.forward(req), rid)


@bug(
    "request_id_hash_of_path",
    "one request id per request, not a hash of method and path (the second revoke repeats the first's)",
    "request_ids_unique",
    bug_class="request_ids",
)
async def request_id_hash(p: Proxy, req: Request) -> Reply:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    digest = hashlib.sha256(f"{req.method} {req.path}".encode()).digest()
    rid = "req_" + "".join(alphabet[b % 32] for b in digest[:26])
    return _with_request_id(await p.forward(req), rid)


@bug(
    "request_id_is_uuid",
    "request ids are req_ + a ULID (the id-formats page), not req_ + 32 hex digits",
    "request_id_is_req_ulid",
    bug_class="request_ids",
)
async def request_id_uuid(p: Proxy, req: Request) -> Reply:
    return _with_request_id(await p.forward(req), "req_" + uuid.uuid4().hex)


@bug(
    "rate_limit_class_generic",
    "X-RateLimit-Endpoint-Class names the revoke's bucket, write-light (not a generic 'write')",
    "rate_limit_class_is_write_light",
    bug_class="request_ids",
)
async def class_generic(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if "x-ratelimit-endpoint-class" in reply.headers:
        reply.headers["x-ratelimit-endpoint-class"] = "write"
    return reply


@bug(
    "count_none_as_one",
    "canceledScheduledPosts is 0 for an account with nothing queued (COUNT(*) over a LEFT JOIN says 1)",
    "revoke_counts_at_boundaries",
    bug_class="boundary_counts",
)
async def count_none_as_one(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 200 and reply.data.get("canceledScheduledPosts") == 0:
        return _with_count(reply, 1)
    return reply


@bug(
    "count_single_post_as_zero",
    "canceledScheduledPosts is 1 for one queued post (the single-post path cancels but never counts)",
    "revoke_counts_at_boundaries",
    bug_class="boundary_counts",
)
async def count_single_as_zero(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 200 and reply.data.get("canceledScheduledPosts") == 1:
        return _with_count(reply, 0)
    return reply


@bug(
    "trailing_slash_redirect",
    "no 3xx on the route: redirect_slashes answers 308 to the path without the slash",
    "no_redirect",
    bug_class="redirects",
)
async def trailing_slash(p: Proxy, req: Request) -> Reply:
    path = req.path.split("?", 1)[0]
    if path.endswith("/") and path.startswith("/v1/social-accounts/") and path != "/v1/social-accounts/":
        return Reply(308, {"location": path.rstrip("/"), "content-length": "0"}, b"")
    return await p.forward(req)


@bug(
    "login_redirect_on_401",
    "no 3xx on the route: a web framework's auth guard redirects a missing key to its login page",
    "no_redirect",
    bug_class="redirects",
)
async def login_redirect(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 401 and "authorization" not in req.headers:
        body = b"<html><body>Redirecting to /login</body></html>"
        return Reply(302, {"location": "/login?next=" + quote(req.path, safe=""), "content-type": "text/html"}, body)
    return reply


@bug(
    "validation_as_422",
    "a malformed id is 400 on this page (422 elsewhere in the docs)",
    "status_is_documented",
    bug_class="statuses",
)
async def validation_422(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "VALIDATION":
        replaced = reply.with_json(reply.data, 422)
        return replaced
    return reply


@bug(
    "revoke_answers_204",
    "a revoke answers 200 with its body, not 204 No Content",
    "status_is_documented",
    bug_class="statuses",
)
async def revoke_204(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 200:
        headers = {k: v for k, v in reply.headers.items() if k != "content-type"}
        return Reply(204, headers, b"")
    return reply


@bug(
    "second_revoke_answers_410",
    "an already disconnected account answers 404, not 410 Gone",
    "status_is_documented",
    bug_class="statuses",
)
async def second_revoke_410(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "NOT_FOUND":
        account = await p.control_account(req.account_id)
        if account and account["status"] == "disconnected":
            return reply.with_json(reply.data, 410)
    return reply


@bug(
    "other_method_answers_501",
    "another method answers 405 (decision 12), not 501 Not Implemented",
    "status_is_documented",
    bug_class="statuses",
)
async def other_method_501(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 405:
        return _fresh_error("INTERNAL", "Method not implemented.", status=501)
    return reply


@bug(
    "replay_recomputes_disconnected_at",
    "a replay repeats the first response verbatim, not with disconnectedAt recomputed",
    "idempotent_replay_same_response",
    bug_class="replay",
)
async def replay_now(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 200 and reply.headers.get(CONTRACT.replay_header.lower()) == "true":
        return reply.with_json({**reply.data, "disconnectedAt": _z(datetime.now(UTC))})
    return reply


def _override(req: Request) -> str | None:
    for name in ("x-http-method-override", "x-http-method", "x-method-override"):
        if req.headers.get(name):
            return req.headers[name].upper()
    values = req.query.get("_method")
    return values[0].upper() if values else None


@bug(
    "method_override_honoured",
    "the method is DELETE: a POST with X-HTTP-Method-Override: DELETE is not a revoke",
    "method_override_ignored",
    bug_class="probes",
)
async def method_override(p: Proxy, req: Request) -> Reply:
    if req.method == "POST" and _override(req) == "DELETE":
        return await p.forward(dataclasses.replace(req, method="DELETE", path=req.path.split("?", 1)[0]))
    return await p.forward(req)


@bug(
    "query_token_accepted",
    "a key in ?access_token= is not an Authorization header: 401",
    "query_token_refused",
    bug_class="probes",
)
async def query_token(p: Proxy, req: Request) -> Reply:
    token = (req.query.get("access_token") or req.query.get("api_key") or [None])[0]
    if token and "authorization" not in req.headers:
        fixed = req.with_header("Authorization", f"Bearer {token}")
        return await p.forward(dataclasses.replace(fixed, path=req.path.split("?", 1)[0]))
    return await p.forward(req)


@bug(
    "body_account_id_wins",
    "the endpoint takes no request body: an id in it is not revoked",
    "request_body_not_acted_on",
    bug_class="probes",
)
async def body_account(p: Proxy, req: Request) -> Reply:
    try:
        named = json.loads(req.body).get("socialAccountId") if req.body else None
    except (ValueError, AttributeError):
        named = None
    if req.method == "DELETE" and isinstance(named, str):
        return await p.forward(dataclasses.replace(req.with_id(named), body=b""))
    return await p.forward(req)


@bug(
    "query_account_id_wins",
    "the path names the account: ?socialAccountId= does not override it ($_REQUEST merges them)",
    "path_names_the_account",
    bug_class="probes",
)
async def query_account(p: Proxy, req: Request) -> Reply:
    named = (req.query.get("socialAccountId") or [None])[0]
    return await p.forward(req.with_id(named) if req.method == "DELETE" and named else req)


@bug(
    "x_original_url_honoured",
    "the path names the account: X-Original-URL does not rewrite it (IIS/Symfony)",
    "path_names_the_account",
    bug_class="probes",
)
async def original_url(p: Proxy, req: Request) -> Reply:
    rewritten = req.headers.get("x-original-url") or req.headers.get("x-rewrite-url")
    if rewritten and rewritten.startswith("/v1/"):
        return await p.forward(dataclasses.replace(req, path=rewritten))
    return await p.forward(req)


@bug(
    "encoded_dot_segments_resolved",
    "the path names the account: a decoded %2F..%2F does not lead to another one",
    "path_names_the_account",
    bug_class="probes",
)
async def dot_segments(p: Proxy, req: Request) -> Reply:
    raw = req.decoded_id
    if "/" in raw:
        resolved = posixpath.normpath("/" + raw).rsplit("/", 1)[-1]
        if CONTRACT.account_id_pattern.match(resolved):
            return await p.forward(req.with_id(resolved))
    return await p.forward(req)


@bug(
    "case_insensitive_id_lookup",
    "decision 2: upper-case hex is not an id (a case-insensitive collation finds the account)",
    "strict_id_shape_is_sa_uuid",
    kit_args=["--strict"],
    bug_class="probes",
)
async def case_insensitive(p: Proxy, req: Request) -> Reply:
    raw = req.decoded_id
    if raw != raw.lower() and raw.startswith("sa_") and CONTRACT.account_id_pattern.match(raw.lower()):
        return await p.forward(req.with_id(raw.lower()))
    return await p.forward(req)


@bug(
    "count_none_as_null",
    "canceledScheduledPosts is 0 for an account with nothing queued (SUM over no rows is NULL)",
    "revoke_counts_at_boundaries",
    bug_class="boundary_counts",
)
async def count_none_as_null(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 200 and reply.data.get("canceledScheduledPosts") == 0:
        return _with_count(reply, None)
    return reply


@bug(
    "dot_segments_redirect",
    "no 3xx on the route: a gateway redirects a decoded %2F..%2F to the normalised path (another account)",
    "no_redirect",
    bug_class="redirects",
)
async def dot_redirect(p: Proxy, req: Request) -> Reply:
    raw = req.decoded_id
    if "/" in raw:
        resolved = posixpath.normpath("/" + raw).rsplit("/", 1)[-1]
        return Reply(301, {"location": "/v1/social-accounts/" + quote(resolved, safe=""), "content-length": "0"}, b"")
    return await p.forward(req)


@bug(
    "replay_kept_one_second",
    "a replay repeats the first response within the window (a TTL of 1 s, not 24 h, passed to the store)",
    "idempotent_replay_same_response",
    bug_class="replay",
)
async def replay_one_second(p: Proxy, req: Request) -> Reply:
    key = req.headers.get("idempotency-key")
    kept = p.__dict__.setdefault("kept", {})
    if key and req.method == "DELETE" and key in kept and asyncio.get_running_loop().time() - kept[key] > 1.0:
        return await p.forward(req.without("Idempotency-Key"))  # expired: the request runs again
    reply = await p.forward(req)
    if key and key not in kept:
        kept[key] = asyncio.get_running_loop().time()
    return reply


@bug(
    "replay_before_auth",
    "a key without social:write answers 403, even with another key's Idempotency-Key (replayed before the scope check)",
    "idempotency_replay_requires_scope",
    bug_class="replay",
)
async def replay_before_auth(p: Proxy, req: Request) -> Reply:
    key = req.headers.get("idempotency-key")
    stored = p.__dict__.setdefault("stored", {})
    if key and (key, req.path) in stored:
        first = stored[(key, req.path)]
        return Reply(first.status, {**first.headers, CONTRACT.replay_header.lower(): "true"}, first.body)
    reply = await p.forward(req)
    if key and reply.status == 200:
        stored[(key, req.path)] = reply
    return reply


# -- correct variants: different from the mock, still conformant -----------------------------------


@variant(
    "ok_other_order_of_checks", "validates the id before the credentials, and looks the account up before the scope"
)
async def other_order(p: Proxy, req: Request) -> Reply:
    if req.method == "DELETE" and not CONTRACT.account_id_pattern.match(req.decoded_id):
        reply = await p.forward(req)
        if reply.status == 401:  # the mock said "no key" first; this server says "bad id" first
            return _fresh_error("VALIDATION", "socialAccountId must be of the form sa_<uuid>.")
        return reply
    reply = await p.forward(req)
    if reply.code == "FORBIDDEN_SCOPE":
        account = await p.control_account(req.account_id)
        if not account or account["status"] != "connected":
            return _fresh_error("NOT_FOUND", CONTRACT.responses[404].example["error"]["message"])
    return reply


@variant("ok_additive_fields", "adds fields to the 200 body (the versioning page allows additive fields in v1)")
async def additive(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 200:
        return reply.with_json({**reply.data, "platform": "tiktok", "leased": False, "canceledPostIds": []})
    return reply


@variant(
    "ok_slow",
    "takes 1-2 s per answer",
    kit_args=[
        "--no-fuzz",
        "--only",
        "unknown_account_answers_404,"
        "foreign_account_answers_404,revoke_succeeds,second_revoke_answers_404,concurrent_revokes_one_succeeds,"
        "foreign_404_indistinguishable",
    ],
)
async def slow(p: Proxy, req: Request) -> Reply:
    await asyncio.sleep(1 + random.random())
    return await p.forward(req)


@variant("ok_uniform_404_wording", "every 404 says 'not in your organization, or already disconnected'")
async def uniform_404(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "NOT_FOUND":
        return _rewrite_error(reply, "NOT_FOUND", "Account not in your organization, or already disconnected.")
    return reply


@variant("ok_gateway_headers", "a gateway adds headers of its own to every answer")
async def gateway(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    reply.headers["via"] = "1.1 edge"
    reply.headers["x-envoy-upstream-service-time"] = str(random.randint(1, 40))
    reply.headers["cache-control"] = "no-store"
    return reply


@variant("ok_charset_in_content_type", "every JSON answer says application/json; charset=utf-8")
async def charset(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.headers.get("content-type", "").startswith("application/json"):
        reply.headers["content-type"] = "application/json; charset=utf-8"
    return reply


@variant("ok_lower_case_header_names", "every header name in lower case (HTTP/2 style), values untouched")
async def lower_case_names(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    reply.headers = {k.lower(): v for k, v in reply.headers.items()}
    return reply


@variant("ok_title_case_header_names", "every header name in Title-Case (X-Request-Id, X-Ratelimit-Endpoint-Class)")
async def title_case_names(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    reply.headers = {"-".join(part.capitalize() for part in k.split("-")): v for k, v in reply.headers.items()}
    return reply


@variant("ok_connection_close", "answers every request with Connection: close (no keep-alive)")
async def connection_close(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    reply.headers["connection"] = "close"
    return reply


@variant("ok_other_error_wording", "every error message worded differently (clients branch on code, not message)")
async def other_wording(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    err = _error(reply)
    if err:
        err["message"] = f"Request refused ({err.get('code', 'error').lower()}); see the docs."
        replaced = reply.with_json({"error": err})
        replaced.headers = reply.headers
        return replaced
    return reply


@variant("ok_date_skewed", "the gateway's Date runs 40 s behind the database's clock (within decision 16)")
async def date_skewed(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    reply.headers["date"] = email.utils.formatdate(datetime.now(UTC).timestamp() - 40, usegmt=True)
    return reply


@variant("ok_body_refused_415", "a DELETE with a body answers 415 in the envelope (decision 12)")
async def body_415(p: Proxy, req: Request) -> Reply:
    if req.body:
        return _fresh_error("VALIDATION", "This endpoint takes no request body.", status=415)
    return await p.forward(req)


@variant("ok_query_refused_400", "a DELETE with any query string answers 400 VALIDATION, before authentication")
async def query_400(p: Proxy, req: Request) -> Reply:
    if req.method == "DELETE" and "?" in req.path:
        return _fresh_error("VALIDATION", "This endpoint takes no query parameters.")
    return await p.forward(req)


# -- the proxy -----------------------------------------------------------------------------------


def make_app(upstream_url: str):
    proxies: dict[str, Proxy] = {}

    async def handle(client, scope, body: bytes, raw_path: str, query: str, headers: dict[str, str]):
        parts = raw_path.split("/", 3)  # "", "bug", name, rest
        reply = Reply(404, {"content-type": "application/json"}, b'{"error": "unknown bug"}')
        known = {**CATALOG, **VARIANTS}
        if len(parts) == 4 and parts[1] == "bug" and (parts[2] in known or parts[2] == "none"):
            name, path = parts[2], "/" + parts[3] + query
            if path.startswith(CONTROL_PREFIX) or name == "none":
                r = await client.request(
                    scope["method"], path, content=body, headers={k: v.encode("latin-1") for k, v in headers.items()}
                )
                reply = Reply(
                    r.status_code,
                    {k.lower(): v for k, v in r.headers.items() if k.lower() not in HOP_HEADERS},
                    r.content,
                )
            else:
                proxy = proxies.setdefault(name, Proxy(client))
                client_addr = scope.get("client") or ("", 0)
                request = Request(scope["method"], path, headers, body, f"{client_addr[0]}:{client_addr[1]}")
                reply = await known[name].apply(proxy, request)
        if "date" not in reply.headers:  # the proxy's own clock; a variant may send another (uvicorn's is off)
            reply.headers["date"] = email.utils.formatdate(usegmt=True)
        return reply.status, list(reply.headers.items()), reply.body

    return relay_app(upstream_url, 30.0, handle)


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ssl-certfile", help="serve HTTPS with this certificate (the kit's TLS tests)")
    parser.add_argument("--ssl-keyfile")
    args = parser.parse_args()
    uvicorn.run(
        make_app(args.upstream),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        ssl_certfile=args.ssl_certfile,
        ssl_keyfile=args.ssl_keyfile,
        date_header=False,  # the proxy sends Date itself (once), so that a variant can send its own
    )


if __name__ == "__main__":
    main()
