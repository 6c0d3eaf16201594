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
import email.utils
import json
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from contract import CONTRACT  # noqa: E402

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

    def with_json(self, data, status: int | None = None) -> "Reply":
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

    @property
    def account_id(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def without(self, name: str) -> "Request":
        return Request(self.method, self.path, {k: v for k, v in self.headers.items() if k != name.lower()})

    def with_header(self, name: str, value: str) -> "Request":
        return Request(self.method, self.path, {**self.headers, name.lower(): value})


Forward = Callable[[Request], Awaitable[Reply]]


@dataclass
class Proxy:
    upstream: httpx.AsyncClient
    good_tokens: list[str] = field(default_factory=list)  # tokens the real server accepted with the scope

    async def forward(self, req: Request) -> Reply:
        r = await self.upstream.request(req.method, req.path, headers=req.headers)
        reply = Reply(r.status_code, {k.lower(): v for k, v in r.headers.items() if k.lower() not in HOP_HEADERS},
                      r.content)
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
    rule: str               # the documented rule it breaks
    intended_check: str     # the kit check that must name it
    apply: Callable[[Proxy, Request], Awaitable[Reply]]
    kit_args: list[str] = field(default_factory=list)


CATALOG: dict[str, Bug] = {}


def bug(name: str, rule: str, intended_check: str, kit_args: list[str] | None = None):
    def register(fn):
        CATALOG[name] = Bug(name, rule, intended_check, fn, kit_args or [])
        return fn
    return register


STATUS = CONTRACT.codes  # code -> status


def _error(reply: Reply) -> dict:
    data = reply.data
    return dict(data["error"]) if isinstance(data, dict) and isinstance(data.get("error"), dict) else {}


def _rewrite_error(reply: Reply, code: str, message: str, details: dict | None = None) -> Reply:
    err = {"code": code, "message": message, "requestId": _error(reply).get("requestId") or reply.headers.get("x-request-id")}
    if details is not None:
        err["details"] = details
    return reply.with_json({"error": err}, STATUS[code])


# -- organizations and existence --------------------------------------------------------------

@bug("foreign_account_403", "another organization's account answers 404, never 403", "foreign_account_answers_404")
async def foreign_account_403(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "NOT_FOUND":
        account = await p.control_account(req.account_id)
        if account and account["status"] == "connected":  # exists, just not the caller's
            return _rewrite_error(reply, "FORBIDDEN_SCOPE", "This account belongs to another organization.",
                                  {"requiredScope": CONTRACT.required_scope})
    return reply


@bug("second_revoke_answers_200", "revoking an already disconnected account answers 404", "second_revoke_answers_404")
async def second_revoke_200(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "NOT_FOUND":
        account = await p.control_account(req.account_id)
        if account and account["status"] == "disconnected":
            return reply.with_json({"socialAccountId": req.account_id, "status": "disconnected",
                                    "disconnectedReason": "revoked_by_partner", "canceledScheduledPosts": 0,
                                    "disconnectedAt": account["disconnectedAt"]}, 200)
    return reply


@bug("malformed_id_looked_up", "a malformed socialAccountId answers 400 VALIDATION", "malformed_id_answers_400")
async def malformed_id_looked_up(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "VALIDATION" and not CONTRACT.account_id_pattern.match(req.account_id):
        return _rewrite_error(reply, "NOT_FOUND", "Account not found.")
    return reply


# -- credentials and scope ---------------------------------------------------------------------

@bug("any_bearer_accepted", "an invalid Authorization answers 401", "invalid_credentials_answer_401")
async def any_bearer_accepted(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 401 and req.headers.get("authorization", "").startswith("Bearer ") and p.good_tokens:
        return await p.forward(req.with_header("Authorization", p.good_tokens[-1]))
    return reply


@bug("missing_auth_answers_403", "a missing Authorization header answers 401", "missing_credentials_answer_401")
async def missing_auth_403(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 401 and "authorization" not in req.headers:
        return _rewrite_error(reply, "FORBIDDEN_SCOPE", "No key, no scope.", {"requiredScope": CONTRACT.required_scope})
    return reply


@bug("scope_not_enforced", "a key without social:write answers 403", "read_only_key_answers_403")
async def scope_not_enforced(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "FORBIDDEN_SCOPE" and p.good_tokens:
        return await p.forward(req.with_header("Authorization", p.good_tokens[-1]))
    return reply


@bug("forbidden_without_required_scope", "403 names the scope in details.requiredScope", "forbidden_names_required_scope")
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


@bug("errors_not_in_envelope", "errors use the {\"error\": {...}} envelope", "error_envelope_shape")
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

@bug("rate_limited_without_retry_after", "429 carries Retry-After", "retry_after_is_integer_seconds")
async def no_retry_after(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    reply.headers.pop("retry-after", None)
    return reply


@bug("retry_after_http_date", "Retry-After is an integer number of seconds", "retry_after_is_integer_seconds")
async def retry_after_date(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if "retry-after" in reply.headers:
        reply.headers["retry-after"] = email.utils.formatdate(usegmt=True)
    return reply


@bug("retry_after_too_short", "retrying after Retry-After succeeds", "rate_limit_retry_after_succeeds")
async def retry_after_too_short(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if "retry-after" in reply.headers:
        reply.headers["retry-after"] = "1"  # hard-coded, whatever the window says
    return reply


@bug("kill_switch_unknown_scope", "503 details.scope is key, organization or global", "kill_switch_scope_in_enum")
async def kill_switch_scope(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "KILL_SWITCH":
        return _rewrite_error(reply, "KILL_SWITCH", "Disabled.", {"scope": "api_key"})
    return reply


# -- the revoke itself ----------------------------------------------------------------------------

@bug("counts_published_as_canceled", "canceledScheduledPosts counts only the queued posts", "canceled_posts_equal_queued")
async def counts_published(p: Proxy, req: Request) -> Reply:
    before = await p.control_account(req.account_id) if req.method == "DELETE" else None
    reply = await p.forward(req)
    if reply.status == 200 and before:
        data = reply.data
        data["canceledScheduledPosts"] += (before.get("postCounts") or {}).get("published", 0)
        return reply.with_json(data)
    return reply


@bug("revoke_returns_other_id", "the 200 body echoes the revoked socialAccountId", "revoke_echoes_account_id")
async def returns_other_id(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 200:
        data = reply.data
        data["socialAccountId"] = "sa_" + str(uuid.uuid5(uuid.NAMESPACE_URL, data["socialAccountId"]))
        return reply.with_json(data)
    return reply


@bug("success_without_disconnected_at", "the 200 body carries disconnectedAt", "success_body_shape")
async def no_disconnected_at(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 200:
        data = reply.data
        data.pop("disconnectedAt", None)
        return reply.with_json(data)
    return reply


@bug("idempotency_key_ignored", "the same Idempotency-Key replays the first response", "idempotent_replay_same_response")
async def idempotency_ignored(p: Proxy, req: Request) -> Reply:
    return await p.forward(req.without("Idempotency-Key"))


@bug("idempotency_conflict_ignored", "the same Idempotency-Key on another account answers 409",
     "idempotency_key_reuse_answers_409")
async def conflict_ignored(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "IDEMPOTENCY_CONFLICT":
        return await p.forward(req.without("Idempotency-Key"))
    return reply


@bug("not_atomic_on_failure", "a 500 means nothing changed", "internal_error_changes_nothing")
async def not_atomic(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.code == "INTERNAL":
        await p.forward(req.without("Idempotency-Key"))  # the disconnect committed anyway
    return reply


# -- a decision beyond the docs: caught only under --strict -----------------------------------------

@bug("replay_not_marked", "decision 3: a replay repeats X-Request-Id and says Idempotent-Replayed: true",
     "strict_replay_is_verbatim", kit_args=["--strict"])
async def replay_not_marked(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.headers.pop(CONTRACT.replay_header.lower(), None) is not None:
        reply.headers["x-request-id"] = "req_" + uuid.uuid4().hex[:26].upper()
    return reply


@bug("success_with_extra_field", "decision 13: the 200 body has exactly the documented fields",
     "strict_success_fields_exactly_documented", kit_args=["--strict"])
async def extra_field(p: Proxy, req: Request) -> Reply:
    reply = await p.forward(req)
    if reply.status == 200:
        return reply.with_json({**reply.data, "deleted": True})
    return reply


# -- the proxy -----------------------------------------------------------------------------------

def make_app(upstream_url: str):
    proxies: dict[str, Proxy] = {}
    client = httpx.AsyncClient(base_url=upstream_url, timeout=30.0)

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await client.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        raw_path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        parts = raw_path.split("/", 3)  # "", "bug", name, rest
        reply = Reply(404, {"content-type": "application/json"}, b'{"error": "unknown bug"}')
        if len(parts) == 4 and parts[1] == "bug" and (parts[2] in CATALOG or parts[2] == "none"):
            name, path = parts[2], "/" + parts[3]
            if scope.get("query_string"):
                path += "?" + scope["query_string"].decode("latin-1")
            headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
                       if k.decode("latin-1").lower() not in {"host", "content-length"}}
            if path.startswith(CONTROL_PREFIX) or name == "none":
                r = await client.request(scope["method"], path, headers=headers, content=body)
                reply = Reply(r.status_code, {k.lower(): v for k, v in r.headers.items()
                                              if k.lower() not in HOP_HEADERS}, r.content)
            else:
                proxy = proxies.setdefault(name, Proxy(client))
                reply = await CATALOG[name].apply(proxy, Request(scope["method"], path, headers))
        await send({"type": "http.response.start", "status": reply.status,
                    "headers": [(k.encode(), v.encode()) for k, v in reply.headers.items()]})
        await send({"type": "http.response.body", "body": reply.body})

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(make_app(args.upstream), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
