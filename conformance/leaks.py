"""Existence leaks: another organization's account must look exactly like no account at all.

The page returns 404 for an account "not in your organization, or already disconnected", and
says it does so "deliberately so the API doesn't leak cross-org existence". So the 404 for the
foreign account is compared with the 404 for an unknown account and with the 404 for an account
the run already revoked: same status, code, message, detail keys and header names. Values that
differ per request (the request id, the id that was asked for) are normalised first; transport
headers that depend on the connection, not the answer, are left out.
"""

from __future__ import annotations

import re

from conformance.exchange import Exchange
from conformance.ids import unknown_account_id
from conformance.scenario_base import Context, ScenarioSkipped, needs_foreign, scenario
from contract import CONTRACT

TRANSPORT_HEADERS = {
    "date",
    "server",
    "connection",
    "keep-alive",
    "content-length",
    "transfer-encoding",
    "content-encoding",
    "vary",
    "via",
    "age",
    "alt-svc",
    "strict-transport-security",
}
_REQUEST_ID = re.compile(r"req_[0-9A-Za-z]+")


def shape(ex: Exchange) -> dict:
    """What a caller could tell two 404s apart by."""
    body = ex.json()
    err = body.get("error") if isinstance(body, dict) else None
    err = err if isinstance(err, dict) else {}
    message = err.get("message")
    if isinstance(message, str):
        asked = ex.path_account_id or ""
        message = _REQUEST_ID.sub("req_…", message.replace(asked, "{id}") if asked else message)
    details = err.get("details")
    return {
        "status": ex.status,
        "code": err.get("code"),
        "message": message,
        "detail keys": sorted(details)
        if isinstance(details, dict)
        else (None if details is None else type(details).__name__),
        "body keys": sorted(body) if isinstance(body, dict) else type(body).__name__,
        "error keys": sorted(err),
        "header names": sorted({h.lower() for h in ex.response.headers} - TRANSPORT_HEADERS),
    }


def differences(a: dict, b: dict) -> list[str]:
    return [f"{k}: {a[k]!r} vs {b[k]!r}" for k in a if a[k] != b[k]]


@scenario("foreign_404_indistinguishable", needs=needs_foreign)
def foreign_indistinguishable(ctx: Context) -> None:
    key = ctx.target.api_key
    foreign = ctx.state.get("foreign_404") or ctx.revoke(
        ctx.foreign_account_id, "another organization's account", token=key
    )
    if foreign.status != CONTRACT.status_for_code("NOT_FOUND"):
        raise ScenarioSkipped(
            f"the foreign account answered {foreign.status}, not 404 (foreign_account_answers_404 reports it)"
        )
    others = [
        (
            "an unknown account",
            ctx.state.get("unknown_404") or ctx.revoke(unknown_account_id(), "unknown account", token=key),
        )
    ]
    if ctx.state.get("revoked_404") is not None:
        others.append(("an account this run already revoked", ctx.state["revoked_404"]))
    else:
        ctx.results.notes.append(
            "foreign_404_indistinguishable compared the foreign 404 with an unknown account's"
            " only: no revoked account to compare with (give --accounts)"
        )
    mine = shape(foreign)
    for what, other in others:
        diff = differences(mine, shape(other))
        ctx.expect(
            "foreign_404_indistinguishable",
            not diff,
            f"the 404 for another organization's account differs from the 404 for {what} "
            f"({other.label!r}), so a caller can tell the account exists: {'; '.join(diff)}",
            foreign,
        )


SCENARIOS = [foreign_indistinguishable]
