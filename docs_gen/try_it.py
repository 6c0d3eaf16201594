""" "Try it against the mock": for each documented status, the steps that make the mock answer it.

Built from what the mock itself runs on: the default world (its keys, accounts and reserved
`testAccounts`) and the control plane's spec (`control.yaml`: each call's method, path and
summary; each request body is checked against its schema here, so a change there fails
generation instead of leaving stale docs). The only hand-written knowledge is `WAYS` below: which
situation produces which documented code. It is keyed by the contract's codes and must cover
every documented status, or generation stops. (Entries for codes the spec no longer documents are simply not used.)
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from contract.spec import Contract

# The mock's own files, so the steps always match the mock that ships with them.
from contract.steps import Step, control_step, load_control_spec
from contract.world import default_world, default_write_key


@dataclass(frozen=True)
class Way:
    title: str
    steps: list[Step]
    after: str = ""  # what to notice once the last step has answered


@dataclass(frozen=True)
class Recipe:
    status: int
    code: str | None
    test_account: dict | None  # the reserved id that always answers this status, if the world has one
    test_step: Step | None  # that id, revoked with a valid key
    ways: list[Way]


class MockDocs:
    """The default world and the control plane, asked the questions the recipes need."""

    def __init__(self, contract: Contract, world: dict, control_spec: dict):
        self.contract = contract
        self.world = world
        self.control = control_spec
        self.operations = {
            op["operationId"]: (method.upper(), path, op)
            for path, item in control_spec["paths"].items()
            for method, op in item.items()
            if isinstance(op, dict) and "operationId" in op
        }
        scope = contract.required_scope
        write_key = default_write_key(world)
        if write_key is None:
            raise ValueError("the fixture has no key holding the required scope: every recipe revokes with one")
        self.write_key: dict = write_key
        org = self.write_key["organizationId"]
        self.read_key = next(
            k
            for k in world["keys"]
            if k["organizationId"] == org and scope not in k.get("scopes", []) and "*" not in k.get("scopes", [])
        )
        own = [a for a in world["accounts"] if a["organizationId"] == org]
        self.revocable = [a for a in own if a.get("status", "connected") == "connected" and not a.get("leased")]
        self.other_org_account = next(a for a in world["accounts"] if a["organizationId"] != org)

    # -- building blocks -------------------------------------------------------------------
    def auth(self, key: dict) -> dict[str, str]:
        return {"Authorization": f"Bearer {key['secret']}"}

    def revoke(self, account_id: str, key: dict | None, expect: int, say: str, **headers: str) -> Step:
        h = self.auth(key) if key else {}
        h.update({name.replace("_", "-"): v for name, v in headers.items()})
        return Step(say, self.contract.method.upper(), self.contract.path_for(account_id), expect, h)

    def body_schema(self, operation_id: str) -> dict:
        op = self.operations[operation_id][2]
        schema = (op.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema")
        if schema is None:
            raise KeyError(f"control.yaml's {operation_id} documents no JSON body")
        return schema

    def control_call(self, operation_id: str, body: Any = None, **path_params: str) -> Step:
        return control_step(self.control, operation_id, body, **path_params)

    def reset(self) -> Step:
        # An empty JSON object, not no body: Connexion's strict validation refuses a bodiless POST.
        return self.control_call("reset", {})

    def account_say(self, account: dict, default: str) -> str:
        return f"{default} (`{account.get('handle', account['id'])}`" + (
            f": {account['note']})" if account.get("note") else ")"
        )


# -- the one table: which situation answers which documented code --------------------------
def _ok(m: MockDocs) -> list[Way]:
    acct = m.revocable[0]
    queued = acct.get("posts", {}).get("queued", 0)
    return [
        Way(
            "Revoke a connected account of your organization",
            [
                m.reset(),
                m.revoke(
                    acct["id"],
                    m.write_key,
                    m.contract.success_status,
                    m.account_say(acct, f"revoke it with the `{m.write_key['label']}` key"),
                ),
            ],
            f"`canceledScheduledPosts` is {queued}: the account's queued posts.",
        )
    ]


def _validation(m: MockDocs) -> list[Way]:
    bare = m.contract.example_account_id.split("_", 1)[1]
    if m.contract.account_id_pattern.match(bare):
        raise ValueError("the bare UUID unexpectedly matches the account id pattern")
    return [
        Way(
            "Send an id that is not of the `sa_<uuid>` shape (here a bare UUID)",
            [
                m.reset(),
                m.revoke(
                    bare, m.write_key, m.contract.status_for_code("VALIDATION"), "a bare UUID, without the prefix"
                ),
            ],
        )
    ]


def _unauthenticated(m: MockDocs) -> list[Way]:
    acct = m.revocable[0]
    status = m.contract.status_for_code("UNAUTHENTICATED")
    return [
        Way(
            "Leave out the `Authorization` header, or send a key the mock does not know",
            [
                m.reset(),
                m.revoke(acct["id"], None, status, "no Authorization header"),
                m.revoke(acct["id"], {"secret": "lp_unknown"}, status, "an unknown key"),
            ],
        )
    ]


def _forbidden_scope(m: MockDocs) -> list[Way]:
    acct = m.revocable[0]
    return [
        Way(
            f"Use a key without `{m.contract.required_scope}` (the `{m.read_key['label']}` key)",
            [
                m.reset(),
                m.revoke(
                    acct["id"],
                    m.read_key,
                    m.contract.status_for_code("FORBIDDEN_SCOPE"),
                    "revoke with the read-only key",
                ),
            ],
            _details_said(m, m.contract.status_for_code("FORBIDDEN_SCOPE")),
        )
    ]


def _not_found(m: MockDocs) -> list[Way]:
    acct, status = m.revocable[0], m.contract.status_for_code("NOT_FOUND")
    other = m.other_org_account
    return [
        Way(
            "Revoke the same account twice",
            [
                m.reset(),
                m.revoke(acct["id"], m.write_key, m.contract.success_status, "first revoke"),
                m.revoke(acct["id"], m.write_key, status, "second revoke: already disconnected"),
            ],
        ),
        Way(
            "Revoke another organization's account",
            [
                m.revoke(other["id"], m.write_key, status, m.account_say(other, "its account")),
            ],
            "The same answer as for an unknown id: the API does not leak which accounts exist elsewhere.",
        ),
    ]


def _idempotency_conflict(m: MockDocs) -> list[Way]:
    first, second = m.revocable[0], m.revocable[1]
    key = m.contract.idempotency_header.replace("-", "_")
    # Any value the caller chooses: the spec gives no example (Swagger UI would pre-fill it).
    value = "offboard-acme-job-1"
    return [
        Way(
            f"Reuse one `{m.contract.idempotency_header}` on two different accounts",
            [
                m.reset(),
                m.revoke(
                    first["id"],
                    m.write_key,
                    m.contract.success_status,
                    "revoke one account with the key",
                    **{key: value},
                ),
                m.revoke(
                    second["id"],
                    m.write_key,
                    m.contract.status_for_code("IDEMPOTENCY_CONFLICT"),
                    "the same key on another account",
                    **{key: value},
                ),
            ],
            f"Sending the first request again instead replays its response, marked `{m.contract.replay_header}: true`.",
        )
    ]


def _rate_limited(m: MockDocs) -> list[Way]:
    acct, status = m.revocable[0], m.contract.status_for_code("RATE_LIMITED")
    return [
        Way(
            "Exhaust the key's write budget with the control plane",
            [
                m.reset(),
                m.control_call("set_budget", {"remaining": 0}, keyId=m.write_key["id"]),
                m.revoke(acct["id"], m.write_key, status, "revoke"),
                m.control_call("set_clock", {"advanceSeconds": 60}),
                m.revoke(
                    acct["id"],
                    m.write_key,
                    m.contract.success_status,
                    "the same revoke once the window has passed: it succeeds",
                ),
            ],
            f"The 429 carries {_extra_headers(m, status)}: the seconds until the key's one-minute window "
            "ends. Instead of waiting, step 4 moves the mock's clock past it.",
        )
    ]


def _details_said(m: MockDocs, status: int) -> str:
    """The spec's example `details` for this status, as a sentence ("" when it has none)."""
    details = (m.contract.responses[status].example or {}).get("error", {}).get("details") or {}
    return " ".join(f"`details.{k}` is `{v}`." for k, v in details.items())


def _extra_headers(m: MockDocs, status: int) -> str:
    """The headers a status documents beyond those on every response (for 429: the wait)."""
    common = {m.contract.request_id_header, m.contract.rate_limit_class_header}
    names = [n for n in m.contract.responses[status].required_headers if n not in common]
    return " and ".join(f"`{n}`" for n in names) or "no wait header"


def _internal(m: MockDocs) -> list[Way]:
    acct = m.revocable[0]
    return [
        Way(
            "Arm a fault with the control plane",
            [
                m.reset(),
                m.control_call("arm_fault", {"step": "cancel_posts"}),
                m.revoke(
                    acct["id"], m.write_key, m.contract.status_for_code("INTERNAL"), "revoke: fails mid-transaction"
                ),
                m.revoke(
                    acct["id"], m.write_key, m.contract.success_status, "retry: the fault is spent, the revoke succeeds"
                ),
            ],
            "Nothing changed on the failed attempt (`GET /_mock/accounts/{id}` shows the posts still queued); "
            "that is why a 500 is safe to retry.",
        )
    ]


def _kill_switch(m: MockDocs) -> list[Way]:
    acct = m.revocable[0]
    scopes = m.body_schema("set_kill_switch")["properties"]["scope"]["enum"]  # what the mock accepts
    scope = scopes[0]
    return [
        Way(
            f"Disable the key with a kill switch (`scope` may also be {', '.join(f'`{s}`' for s in scopes[1:])})",
            [
                m.reset(),
                m.control_call("set_kill_switch", {"scope": scope, "target": m.write_key["id"], "enabled": True}),
                m.revoke(acct["id"], m.write_key, m.contract.status_for_code("KILL_SWITCH"), "revoke"),
                m.control_call("set_kill_switch", {"scope": scope, "target": m.write_key["id"], "enabled": False}),
                m.revoke(acct["id"], m.write_key, m.contract.success_status, "the switch is off: the revoke succeeds"),
            ],
            _details_said(m, m.contract.status_for_code("KILL_SWITCH")),
        )
    ]


WAYS: dict[str | None, Callable[[MockDocs], list[Way]]] = {
    None: _ok,  # the success status carries no code
    "VALIDATION": _validation,
    "UNAUTHENTICATED": _unauthenticated,
    "FORBIDDEN_SCOPE": _forbidden_scope,
    "NOT_FOUND": _not_found,
    "IDEMPOTENCY_CONFLICT": _idempotency_conflict,
    "RATE_LIMITED": _rate_limited,
    "INTERNAL": _internal,
    "KILL_SWITCH": _kill_switch,
}


def mock_base_url(contract: Contract) -> str:
    """The spec's loopback server: where `layers-mock` listens by default."""
    for server in contract.raw.get("servers", []):
        host = urlsplit(server["url"]).hostname or ""
        try:
            if ipaddress.ip_address(host).is_loopback:
                return server["url"].rstrip("/")
        except ValueError:
            continue
    raise ValueError("openapi.yaml lists no loopback server for the mock")


def recipes(contract: Contract, world: dict | None = None, control_spec: dict | None = None) -> list[Recipe]:
    world = world if world is not None else default_world()
    m = MockDocs(contract, world, control_spec if control_spec is not None else load_control_spec())
    by_status = {t["status"]: t for t in world.get("testAccounts", [])}
    out = []
    for status in contract.documented_statuses:
        code = contract.responses[status].code
        if code not in WAYS:
            raise ValueError(f"no way to reach documented status {status} {code}: add it to docs_gen.try_it.WAYS")
        reserved = by_status.get(status)
        step = m.revoke(reserved["id"], m.write_key, status, "a reserved test account") if reserved else None
        out.append(Recipe(status, code, reserved, step, WAYS[code](m)))
    return out
