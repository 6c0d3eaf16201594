"""Probes of what the target must never do: what an attacker tries and a careless implementation allows.

Each probe is backed by a sentence of the page (`conformance.provenance` quotes it). The method is
DELETE, so a POST that asks to be taken for one (`X-HTTP-Method-Override`, `?_method=`) must be
answered like any POST; the key travels in the Authorization header, so a key in the query string
is "missing" (401); the endpoint "takes no request body", so an account named in a body is not
revoked; and the path names the "Account to revoke", so neither the query string, nor a rewrite
header (`X-Original-URL`), nor a decoded `%2F..%2F` may make it name another one.

Where the run has accounts, the other account named is the bystander (`conformance.picking`): an
account of the key's own organization that a correct server leaves connected, so a server that
wrongly follows the probe revokes it and answers 200, which no correct answer is. Without
accounts the probes name random ids, and can only show statuses (a 3xx, a 5xx, a 2xx).
No 3xx anywhere is judged by the pipeline's `no_redirect`: the trailing-slash probe is where
frameworks that redirect to the canonical URL (Starlette's redirect_slashes, Django's
APPEND_SLASH) show it.
"""

from __future__ import annotations

import json
from urllib.parse import quote

from conformance import picking
from conformance.exchange import Exchange
from conformance.ids import unknown_account_id
from conformance.scenario_base import STATUS, Context, scenario
from contract import CONTRACT


def _code(ex: Exchange) -> str | None:
    body = ex.json()
    err = body.get("error") if isinstance(body, dict) else None
    return err.get("code") if isinstance(err, dict) else None


def _other_account(ctx: Context) -> tuple[str, str]:
    """(id, what it is): the bystander when the run has accounts, else a random unknown id."""
    account = picking.bystander(ctx)
    if account is not None:
        return account.id, "an own account that must stay connected"
    return unknown_account_id(), "an unknown account (no --accounts: a revoke cannot show)"


def _auth(ctx: Context) -> dict[str, str]:
    return {"Authorization": f"Bearer {ctx.target.api_key}"}


def _refused(ex: Exchange) -> bool:
    return 400 <= ex.status < 500


@scenario("method_override_ignored")
def method_override(ctx: Context) -> None:
    other, what = _other_account(ctx)
    url = ctx.client.url_for(other)
    plain = ctx.client.send("POST", url, _auth(ctx), f"probe: POST on the route, {what}")
    # What a DELETE of an unknown account answers: an override taken for a DELETE shows as this
    # (or as a 200, when it names the bystander), where a plain POST answers otherwise.
    as_delete = (STATUS["NOT_FOUND"], "NOT_FOUND")
    overrides = [
        ("X-HTTP-Method-Override: DELETE", {"X-HTTP-Method-Override": "DELETE"}, ""),
        ("X-HTTP-Method: DELETE", {"X-HTTP-Method": "DELETE"}, ""),
        ("X-Method-Override: DELETE", {"X-Method-Override": "DELETE"}, ""),
        ("?_method=DELETE", {}, "?_method=DELETE"),
    ]
    for why, headers, query in overrides:
        ex = ctx.client.send("POST", url + query, {**_auth(ctx), **headers}, f"probe: POST with {why}, {what}")
        answered = (ex.status, _code(ex))
        taken = 200 <= ex.status < 300 or (answered == as_delete and (plain.status, _code(plain)) != as_delete)
        ctx.expect(
            "method_override_ignored",
            not taken,
            f"a POST with {why} answered {ex.status} {_code(ex)}, a plain POST {plain.status} {_code(plain)}:"
            " the override was taken for the DELETE it is not",
            ex,
        )


@scenario("query_token_refused")
def query_token(ctx: Context) -> None:
    for param in ("access_token", "api_key"):
        url = ctx.client.url_for(unknown_account_id()) + f"?{param}={quote(ctx.target.api_key, safe='')}"
        ex = ctx.client.send("DELETE", url, {}, f"probe: the key as ?{param}=, no Authorization header")
        # 401 as the page says; a 400 VALIDATION for the unexpected parameter, from a server that
        # validates before it authenticates, refuses the key too (the order is decision 1's, --strict).
        refused = (ex.status, _code(ex)) in (
            (STATUS["UNAUTHENTICATED"], "UNAUTHENTICATED"),
            (STATUS["VALIDATION"], "VALIDATION"),
        )
        ctx.expect(
            "query_token_refused",
            refused,
            f"answered {ex.status} {_code(ex)}: a key in the query string is not an Authorization header,"
            f" so 401 UNAUTHENTICATED (or 400 VALIDATION for the parameter)",
            ex,
        )


@scenario("request_body_not_acted_on")
def request_body(ctx: Context) -> None:
    other, what = _other_account(ctx)
    body = json.dumps({"socialAccountId": other, "status": "disconnected"}).encode()
    ex = ctx.client.send(
        "DELETE",
        ctx.client.url_for(unknown_account_id()),
        {**_auth(ctx), "Content-Type": "application/json"},
        f"probe: an unknown account in the path, {what} in a JSON body",
        content=body,
    )
    ctx.expect(
        "request_body_not_acted_on",
        _refused(ex),
        f"answered {ex.status} {_code(ex)}: the path names an unknown account, so only a 4xx is right"
        " (404, or 400/413/415 for the body); a 2xx acted on the body",
        ex,
    )


@scenario("path_names_the_account")
def path_names_the_account(ctx: Context) -> None:
    other, what = _other_account(ctx)
    other_path = CONTRACT.path_for(other)
    unknown = unknown_account_id()
    base = ctx.client.url_for(unknown)
    probes: list[tuple[str, str, dict[str, str]]] = [
        (f"?{CONTRACT.path_parameter['name']}= naming {what}", f"{base}?{CONTRACT.path_parameter['name']}={other}", {}),
        (f"X-Original-URL naming {what}", base, {"X-Original-URL": other_path}),
        (f"X-Rewrite-URL naming {what}", base, {"X-Rewrite-URL": other_path}),
        (
            f"an encoded ../ leading to {what}",
            ctx.client.base_url + CONTRACT.route.split("{", 1)[0] + quote(f"{unknown}/../{other}", safe=""),
            {},
        ),
        ("a trailing slash", base + "/", {}),
    ]
    for why, url, headers in probes:
        ex = ctx.client.send("DELETE", url, {**_auth(ctx), **headers}, f"probe: an unknown account in the path, {why}")
        ctx.expect(
            "path_names_the_account",
            _refused(ex),
            f"answered {ex.status} {_code(ex)}: the path names an unknown account, so only a 4xx is right;"
            " something other than the path chose the account",
            ex,
        )


SCENARIOS = [method_override, query_token, request_body, path_names_the_account]
