"""The fake world: fixture files checked against a JSON Schema, and loaded into the store.

A fixture file (the default one ships as `default_world.json`) lists organizations, API keys,
social accounts with their posts, and reserved test accounts. The control plane creates the
same things one at a time with the same functions.
"""
from __future__ import annotations

import json
import os
import secrets
import uuid
from pathlib import Path

import jsonschema

from contract import CONTRACT
from mock_server.clock import to_iso
from mock_server.storage import Conflict
from mock_server.storage.queries import LOCAL_SANDBOX

DEFAULT_WORLD = Path(__file__).with_name("default_world.json")
POST_STATUSES = ["queued", "publishing", "published", "failed", "canceled", "draft"]
ACCOUNT_STATUSES = ["connected", "reauth_required", "disconnected"]
PLATFORMS = ["tiktok", "instagram"]
KEY_TIERS = sorted(CONTRACT.rate_limit_tiers) + ["internal"]
UUID_RE = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

_ORG = {
    "type": "object", "additionalProperties": False, "required": ["name"],
    "properties": {"id": {"type": "string", "pattern": f"^org_{UUID_RE}$"}, "name": {"type": "string", "minLength": 1},
                   "killed": {"type": "boolean"}},
}
_KEY = {
    "type": "object", "additionalProperties": False, "required": ["organizationId"],
    "properties": {
        "id": {"type": "string", "pattern": f"^key_{UUID_RE}$"},
        "secret": {"type": "string", "pattern": "^lp_[A-Za-z0-9_]{8,200}$"},
        "organizationId": {"type": "string"},
        "scopes": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "tier": {"enum": KEY_TIERS},
        "killed": {"type": "boolean"},
        "label": {"type": "string"},
    },
}
_POST_COUNTS = {
    "type": "object", "additionalProperties": False,
    "properties": {s: {"type": "integer", "minimum": 0, "maximum": 1_000_000} for s in POST_STATUSES},
}
_ACCOUNT = {
    "type": "object", "additionalProperties": False, "required": ["organizationId"],
    "properties": {
        "id": {"type": "string", "pattern": CONTRACT.account_id_pattern.pattern},
        "organizationId": {"type": "string"},
        "platform": {"enum": PLATFORMS},
        "handle": {"type": "string", "minLength": 1},
        "status": {"enum": ACCOUNT_STATUSES},
        "leased": {"type": "boolean"},
        "posts": _POST_COUNTS,
        "note": {"type": "string"},
    },
}
_TEST_ACCOUNT = {
    "type": "object", "additionalProperties": False, "required": ["id", "status"],
    "properties": {"id": {"type": "string", "pattern": CONTRACT.account_id_pattern.pattern},
                   "status": {"enum": CONTRACT.documented_statuses}, "note": {"type": "string"}},
}
WORLD_SCHEMA = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "description": {"type": "string"},
        "organizations": {"type": "array", "items": _ORG},
        "keys": {"type": "array", "items": _KEY},
        "accounts": {"type": "array", "items": _ACCOUNT},
        "testAccounts": {"type": "array", "items": _TEST_ACCOUNT},
    },
}


class WorldError(ValueError):
    """A fixture that cannot be loaded; the message names the file position or the field."""


def _where(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(top level)"


def _fast_validity_check():
    """jsonschema_rs's yes/no (a million accounts in about a second); the messages, when the
    answer is no, come from jsonschema as before."""
    try:
        import jsonschema_rs

        return jsonschema_rs.Draft7Validator(WORLD_SCHEMA).is_valid
    except Exception:  # noqa: BLE001 - not installed: jsonschema does both
        return lambda _data: False


_is_valid = _fast_validity_check()


def validate(data: object, source: str = "fixture") -> dict:
    if _is_valid(data):
        return data  # type: ignore[return-value]
    errors = sorted(jsonschema.Draft7Validator(WORLD_SCHEMA).iter_errors(data), key=lambda e: list(e.path))
    if errors:
        lines = [f"{source}: {_where(e.absolute_path)}: {e.message}" for e in errors[:10]]
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


# -- building things (shared by fixtures and the control plane) ----------------------------
# Each takes `q`, the queries of a write transaction the caller opened: a fixture loads in one
# transaction (all of it or none), the control plane makes one thing per transaction.
def new_secret() -> str:
    return "lp_test_" + secrets.token_urlsafe(24).replace("-", "x").replace("_", "y")


def _uuid4s(n: int) -> list[str]:
    """n random (version 4) UUIDs from one read of the OS's randomness: uuid.uuid4() per post
    was most of the time of loading a big fixture."""
    raw = os.urandom(16 * n).hex()
    out = []
    for i in range(0, 32 * n, 32):
        h = raw[i:i + 32]
        out.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}")
    return out


def add_organization(q, org: dict) -> dict:
    org = {"id": org.get("id") or f"org_{uuid.uuid4()}", "name": org["name"], "killed": org.get("killed", False)}
    q.insert_organization(org)
    return org


def add_key(q, key: dict) -> dict:
    key = {
        "id": key.get("id") or f"key_{uuid.uuid4()}",
        "secret": key.get("secret") or new_secret(),
        "organizationId": key["organizationId"],
        "scopes": list(key.get("scopes", [CONTRACT.required_scope])),
        "tier": key.get("tier", "standard"),
        "killed": key.get("killed", False),
        "label": key.get("label"),
    }
    _require_orgs(q, [key["organizationId"]])
    q.insert_key(key)
    return key


def add_account(q, acc: dict, now: float) -> dict:
    (account,) = add_accounts(q, [acc], now, report=True)
    return account


def add_accounts(q, accounts: list[dict], now: float, *, report: bool = False) -> list[dict]:
    """Accounts and their posts in two bulk inserts. `report`: return what was made."""
    _require_orgs(q, {a["organizationId"] for a in accounts})
    connected_at, disconnected_at = to_iso(now - 86400), to_iso(now - 3600)
    n_tokens = sum(1 for a in accounts if a.get("status", "connected") != "disconnected")
    tokens = iter(os.urandom(8 * n_tokens).hex()[i:i + 16] for i in range(0, 16 * n_tokens, 16))
    rows, made = [], []
    post_counts: list[tuple[str, dict[str, int]]] = []
    for acc in accounts:
        status = acc.get("status", "connected")
        account_id = acc.get("id") or f"sa_{uuid.uuid4()}"
        leased = bool(acc.get("leased", False))
        row = (account_id, acc["organizationId"], acc.get("platform", "tiktok"),
               acc.get("handle") or "@user" + secrets.token_hex(3), status, None,
               disconnected_at if status == "disconnected" else None, int(leased), "active" if leased else None,
               None if status == "disconnected" else "ptok_" + next(tokens), connected_at)
        rows.append(row)
        counts = acc.get("posts")
        if counts:
            post_counts.append((account_id, counts))
        if report:
            made.append({"id": account_id, "organizationId": row[1], "platform": row[2], "handle": row[3],
                         "status": status, "leased": leased, "leaseStatus": row[8], "token": row[9],
                         "connectedAt": connected_at, "disconnectedReason": None, "disconnectedAt": row[6],
                         "posts": {s: int(n) for s, n in (counts or {}).items()}})
    q.insert_accounts(rows)
    _insert_posts(q, post_counts, now)
    return made


def add_posts(q, account_id: str, counts: dict[str, int], now: float) -> list[str]:
    return _insert_posts(q, [(account_id, counts)], now)


def _insert_posts(q, post_counts: list[tuple[str, dict[str, int]]], now: float) -> list[str]:
    total = sum(int(n) for _, counts in post_counts for n in counts.values())
    ids = iter(_uuid4s(total))
    canceled_at = to_iso(now - 60)
    scheduled = {}  # the i-th post of a status is scheduled i hours from now: few distinct values
    made, rows = [], []
    for account_id, counts in post_counts:
        for status in POST_STATUSES:
            canceled = status == "canceled"
            for i in range(int(counts.get(status, 0))):
                post_id = "sp_" + next(ids)
                made.append(post_id)
                when = scheduled.get(i) or scheduled.setdefault(i, to_iso(now + 3600 * (i + 1)))
                rows.append((post_id, account_id, status, when, canceled_at if canceled else None,
                             "canceled_by_partner" if canceled else None))
    q.insert_posts(rows)
    return made


def _require_orgs(q, org_ids) -> None:
    missing = set(org_ids) - q.organization_ids(org_ids)
    if missing:
        raise WorldError(f"organizationId {sorted(missing)[0]!r} names no organization")


def load(q, world: dict, now: float, *, report: bool = True) -> dict:
    """Add a validated world inside the caller's transaction (so: all of it, or none of it)."""
    orgs = [add_organization(q, o) for o in world.get("organizations", [])]
    keys = [add_key(q, k) for k in world.get("keys", [])]
    accounts = add_accounts(q, world.get("accounts", []), now, report=report)
    for t in world.get("testAccounts", []):
        q.insert_test_account(t["id"], t["status"], t.get("note"))
    return {"organizations": orgs, "keys": keys, "accounts": accounts,
            "testAccounts": world.get("testAccounts", [])}


def load_into(storage, world: dict, clock, sandbox: str = LOCAL_SANDBOX, before=None) -> dict:
    """`load` into one sandbox's world in a transaction of its own; a duplicate id or secret is a
    WorldError, nothing kept. `before(q)` runs first in the same transaction (a limit check)."""
    try:
        with storage.sandbox_transaction(sandbox) as q:
            if before is not None:
                before(q)
            return load(q, world, clock.now(q))
    except Conflict as exc:
        raise WorldError(f"fixture conflicts with the current world: {exc}") from None
