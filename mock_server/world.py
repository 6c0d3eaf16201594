"""The fake world: fixture files checked against a JSON Schema, and loaded into the store.

A fixture file (the default one ships as `default_world.json`) lists organizations, API keys,
social accounts with their posts, and reserved test accounts. The control plane creates the
same things one at a time with the same functions.
"""
from __future__ import annotations

import json
import secrets
import uuid
from pathlib import Path

import jsonschema

from contract import CONTRACT
from mock_server import control_bounds
from mock_server.clock import to_iso
from mock_server.errors import abbreviate
from mock_server.store import Store

DEFAULT_WORLD = Path(__file__).with_name("default_world.json")
POST_STATUSES = ["queued", "publishing", "published", "failed", "canceled", "draft"]
ACCOUNT_STATUSES = ["connected", "reauth_required", "disconnected"]
PLATFORMS = ["tiktok", "instagram"]
KEY_TIERS = sorted(CONTRACT.rate_limit_tiers) + ["internal"]
UUID_RE = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# Sizes and counts come from control.yaml's schemas: a fixture file and a control call share bounds.
_S = control_bounds.SCHEMAS


def _list(items: dict) -> dict:
    return {**_S["FixtureList"], "items": items}


_ORG = {
    "type": "object", "additionalProperties": False, "required": ["name"],
    "properties": {"id": {"type": "string", "pattern": f"^org_{UUID_RE}$"}, "name": _S["Name"],
                   "killed": {"type": "boolean"}},
}
_KEY = {
    "type": "object", "additionalProperties": False, "required": ["organizationId"],
    "properties": {
        "id": {"type": "string", "pattern": f"^key_{UUID_RE}$"},
        "secret": _S["Secret"],
        "organizationId": _S["Id"],
        "scopes": _S["Scopes"],
        "tier": {"enum": KEY_TIERS},
        "killed": {"type": "boolean"},
        "label": _S["Text"],
    },
}
_POST_COUNTS = {
    "type": "object", "additionalProperties": False,
    "properties": {s: _S["PostCount"] for s in POST_STATUSES},
}
_ACCOUNT = {
    "type": "object", "additionalProperties": False, "required": ["organizationId"],
    "properties": {
        "id": {"type": "string", "pattern": CONTRACT.account_id_pattern.pattern},
        "organizationId": _S["Id"],
        "platform": {"enum": PLATFORMS},
        "handle": _S["Handle"],
        "status": {"enum": ACCOUNT_STATUSES},
        "leased": {"type": "boolean"},
        "posts": _POST_COUNTS,
        "note": _S["Text"],
    },
}
_TEST_ACCOUNT = {
    "type": "object", "additionalProperties": False, "required": ["id", "status"],
    "properties": {"id": {"type": "string", "pattern": CONTRACT.account_id_pattern.pattern},
                   "status": {"enum": CONTRACT.documented_statuses}, "note": _S["Text"]},
}
WORLD_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "description": _S["Text"],
        "organizations": _list(_ORG),
        "keys": _list(_KEY),
        "accounts": _list(_ACCOUNT),
        "testAccounts": _list(_TEST_ACCOUNT),
    },
}


class WorldError(ValueError):
    """A fixture that cannot be loaded; the message names the file position or the field."""


def _where(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(top level)"


def validate(data: object, source: str = "fixture") -> dict:
    errors = sorted(jsonschema.Draft7Validator(WORLD_SCHEMA).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        lines = [f"{source}: {_where(e.absolute_path)}: {abbreviate(e.message)}" for e in errors[:10]]
        raise WorldError("invalid world fixture:\n  " + "\n  ".join(lines))
    return data  # type: ignore[return-value]


def read_fixture(path: str | Path) -> dict:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise WorldError(f"cannot read fixture file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise WorldError(f"{path}: not UTF-8 text") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorldError(f"{path}: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    return validate(data, str(path))


def default_write_key(fixture: dict) -> dict | None:
    """The key partners are pointed at first (banner, docs, `POST /_mock/accounts` without an
    organizationId): the first one holding the required scope itself (not `*`) on a documented
    rate-limit tier."""
    return next((k for k in fixture.get("keys", []) if CONTRACT.required_scope in k.get("scopes", [])
                 and k.get("tier", "standard") in CONTRACT.rate_limit_tiers), None)


# -- building things (shared by fixtures and the control plane) ----------------------------
def new_secret() -> str:
    return "lp_test_" + secrets.token_urlsafe(24).replace("-", "x").replace("_", "y")


def add_organization(store: Store, org: dict) -> dict:
    org = {"id": org.get("id") or f"org_{uuid.uuid4()}", "name": org["name"], "killed": org.get("killed", False)}
    store.insert_organization(org)
    return org


def add_key(store: Store, key: dict) -> dict:
    key = {
        "id": key.get("id") or f"key_{uuid.uuid4()}",
        "secret": key.get("secret") or new_secret(),
        "organizationId": key["organizationId"],
        "scopes": list(key.get("scopes", [CONTRACT.required_scope])),
        "tier": key.get("tier", "standard"),
        "killed": key.get("killed", False),
        "label": key.get("label"),
    }
    _require_org(store, key["organizationId"])
    store.insert_key(key)
    return key


def add_account(store: Store, acc: dict, now: float) -> dict:
    status = acc.get("status", "connected")
    account = {
        "id": acc.get("id") or f"sa_{uuid.uuid4()}",
        "organizationId": acc["organizationId"],
        "platform": acc.get("platform", "tiktok"),
        "handle": acc.get("handle") or "@user" + secrets.token_hex(3),
        "status": status,
        "leased": bool(acc.get("leased", False)),
        "leaseStatus": "active" if acc.get("leased") else None,
        "token": None if status == "disconnected" else "ptok_" + secrets.token_hex(8),
        "connectedAt": to_iso(now - 86400),
        "disconnectedReason": None,
        "disconnectedAt": to_iso(now - 3600) if status == "disconnected" else None,
    }
    _require_org(store, account["organizationId"])
    store.insert_account(account)
    counts = {s: int(n) for s, n in (acc.get("posts") or {}).items()}
    add_posts(store, account["id"], counts, now)
    return {**account, "posts": counts}


def add_posts(store: Store, account_id: str, counts: dict[str, int], now: float) -> list[str]:
    _require_post_total(sum(counts.values()))
    rows, ids = [], []
    for status in POST_STATUSES:
        for i in range(counts.get(status, 0)):
            post_id = f"sp_{uuid.uuid4()}"
            ids.append(post_id)
            canceled_at = to_iso(now - 60) if status == "canceled" else None
            reason = "canceled_by_partner" if status == "canceled" else None
            rows.append((post_id, account_id, status, to_iso(now + 3600 * (i + 1)), canceled_at, reason))
    store.insert_posts(rows)
    return ids


def _require_post_total(total: int) -> None:
    problem = control_bounds.posts_problem(total)
    if problem is not None:
        raise WorldError(problem)


def _require_org(store: Store, org_id: str) -> None:
    if store.organization(org_id) is None:
        raise WorldError(f"organizationId {org_id!r} names no organization")


def load(store: Store, world: dict, now: float) -> dict:
    """Add a validated world to the store in one transaction: all of it, or none of it."""
    _require_post_total(sum(sum((a.get("posts") or {}).values()) for a in world.get("accounts", [])))
    try:
        with store.write():
            orgs = [add_organization(store, o) for o in world.get("organizations", [])]
            keys = [add_key(store, k) for k in world.get("keys", [])]
            accounts = [add_account(store, a, now) for a in world.get("accounts", [])]
            for t in world.get("testAccounts", []):
                store.insert_test_account(t["id"], t["status"], t.get("note"))
    except store.db.IntegrityError as exc:  # a duplicate id or secret
        raise WorldError(f"fixture conflicts with the current world: {exc}") from None
    return {"organizations": orgs, "keys": keys, "accounts": accounts,
            "testAccounts": world.get("testAccounts", [])}
