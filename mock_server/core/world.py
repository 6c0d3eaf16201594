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
from typing import cast

import jsonschema
import jsonschema_rs

from contract import CONTRACT
from contract.control import CONTROL, ControlSpec
from mock_server.core import bounds as control_bounds
from mock_server.core.clock import to_iso
from mock_server.core.errors import abbreviate
from mock_server.storage import Conflict
from mock_server.storage.queries import LOCAL_SANDBOX

# The world's vocabularies and their defaults, as control.yaml writes them (components.schemas).
POST_STATUSES: list[str] = CONTROL.enum("PostStatus")
ACCOUNT_STATUSES: list[str] = CONTROL.enum("AccountStatus")
PLATFORMS: list[str] = CONTROL.enum("Platform")
KEY_TIERS: list[str] = CONTROL.enum("KeyTier")
DEFAULT_PLATFORM: str = CONTROL.default("Platform")
DEFAULT_ACCOUNT_STATUS: str = CONTROL.default("AccountStatus")
DEFAULT_TIER: str = CONTROL.default("KeyTier")
UUID_RE = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


# A fixture file may hold a production-sized world (bench/: a million accounts); a control-plane
# call (`POST /_mock/fixtures`) is bounded by control.yaml's FixtureList, checked on top.
FILE_LIST_MAX = 5_000_000


def world_schemas(control: ControlSpec = CONTROL) -> tuple[dict, dict]:
    """(a fixture file's schema, a control call's): sizes, counts and vocabularies from `control`'s
    schemas, so a fixture file and a control call share them; account ids from the contract."""
    s = control.schemas

    def listing(items: dict, most: int = FILE_LIST_MAX) -> dict:
        return {**s["FixtureList"], "maxItems": most, "items": items}

    org = {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "id": {"type": "string", "pattern": f"^org_{UUID_RE}$"},
            "name": s["Name"],
            "killed": {"type": "boolean"},
        },
    }
    key = {
        "type": "object",
        "additionalProperties": False,
        "required": ["organizationId"],
        "properties": {
            "id": {"type": "string", "pattern": f"^key_{UUID_RE}$"},
            "secret": s["Secret"],
            "organizationId": s["Id"],
            "scopes": s["Scopes"],
            "tier": {"enum": control.enum("KeyTier")},
            "killed": {"type": "boolean"},
            "label": s["Text"],
        },
    }
    post_counts = {
        "type": "object",
        "additionalProperties": False,
        "properties": dict.fromkeys(control.enum("PostStatus"), s["PostCount"]),
    }
    account = {
        "type": "object",
        "additionalProperties": False,
        "required": ["organizationId"],
        "properties": {
            "id": {"type": "string", "pattern": CONTRACT.account_id_pattern.pattern},
            "organizationId": s["Id"],
            "platform": {"enum": control.enum("Platform")},
            "handle": s["Handle"],
            "status": {"enum": control.enum("AccountStatus")},
            "leased": {"type": "boolean"},
            "posts": post_counts,
            "note": s["Text"],
        },
    }
    test_account = {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "status"],
        "properties": {
            "id": {"type": "string", "pattern": CONTRACT.account_id_pattern.pattern},
            "status": {"enum": CONTRACT.documented_statuses},
            "note": s["Text"],
        },
    }
    lists = {"organizations": org, "keys": key, "accounts": account, "testAccounts": test_account}

    def world(most: int) -> dict:
        return {
            "type": "object",
            "additionalProperties": False,
            "properties": {"description": s["Text"], **{name: listing(items, most) for name, items in lists.items()}},
        }

    return world(FILE_LIST_MAX), world(s["FixtureList"]["maxItems"])


WORLD_SCHEMA, CONTROL_WORLD_SCHEMA = world_schemas()


class WorldError(ValueError):
    """A fixture that cannot be loaded; the message names the file position or the field."""


def _where(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(top level)"


# jsonschema_rs's yes/no (a million accounts in about a second; a declared dependency of the
# mock); the messages, when the answer is no, come from jsonschema, which words them better.
_is_valid = {
    False: jsonschema_rs.Draft7Validator(WORLD_SCHEMA).is_valid,
    True: jsonschema_rs.Draft7Validator(CONTROL_WORLD_SCHEMA).is_valid,
}


def validate(data: object, source: str = "fixture", *, control: bool = False) -> dict:
    """`control`: a world sent to the control plane, held to its smaller bounds."""
    if not _is_valid[control](data):
        schema = CONTROL_WORLD_SCHEMA if control else WORLD_SCHEMA
        errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(data), key=lambda e: list(e.path))
        if errors:
            lines = [f"{source}: {_where(e.absolute_path)}: {abbreviate(e.message)}" for e in errors[:10]]
            raise WorldError("invalid world fixture:\n  " + "\n  ".join(lines))
    return cast(dict, data)  # valid against a schema whose top level is an object


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
        "tier": key.get("tier", DEFAULT_TIER),
        "killed": key.get("killed", False),
        "label": key.get("label"),
    }
    _require_orgs(q, [key["organizationId"]])
    q.insert_key(key)
    return key


def add_account(q, acc: dict, now: float) -> dict:
    _require_post_total(sum((acc.get("posts") or {}).values()))
    (account,) = add_accounts(q, [acc], now, report=True)
    return account


def add_accounts(q, accounts: list[dict], now: float, *, report: bool = False) -> list[dict]:
    """Accounts in one bulk insert, their posts generated by the database. `report`: return what was made."""
    _require_orgs(q, {a["organizationId"] for a in accounts})
    connected_at, disconnected_at = to_iso(now - 86400), to_iso(now - 3600)
    # One read of the OS's randomness for every token and handle (secrets.token_hex per account
    # was a visible part of loading a million accounts): 8 bytes of token, 3 of handle each.
    random_hex = os.urandom(11 * len(accounts)).hex()
    made: list[dict] = []
    ids: list[str] = []  # each account's id, for posts named by id
    # Posts by runs of consecutive accounts with the same single status and count (a million
    # accounts of 3 queued posts each: one run): [the first account's row, its id, counts, span].
    runs: list[list] = []

    def rows():
        # Made as the database takes them (a million accounts' rows never all held at once).
        run: list = [-2, None, None, 0]
        for i, acc in enumerate(accounts):
            status = acc.get("status", DEFAULT_ACCOUNT_STATUS)
            account_id = acc.get("id") or f"sa_{uuid.uuid4()}"
            ids.append(account_id)
            leased = bool(acc.get("leased", False))
            r = random_hex[22 * i : 22 * i + 22]
            row = (
                account_id,
                acc["organizationId"],
                acc.get("platform", DEFAULT_PLATFORM),
                acc.get("handle") or "@user" + r[16:],
                status,
                None,
                disconnected_at if status == "disconnected" else None,
                int(leased),
                "active" if leased else None,
                None if status == "disconnected" else "ptok_" + r[:16],
                connected_at,
            )
            yield row
            counts = acc.get("posts")
            if counts:
                if counts == run[2] and run[0] + run[3] == i and len(counts) == 1:
                    run[3] += 1
                else:
                    run = [i, account_id, counts, 1]
                    runs.append(run)
            if report:
                made.append(
                    {
                        "id": account_id,
                        "organizationId": row[1],
                        "platform": row[2],
                        "handle": row[3],
                        "status": status,
                        "leased": leased,
                        "leaseStatus": row[8],
                        "token": row[9],
                        "connectedAt": connected_at,
                        "disconnectedReason": None,
                        "disconnectedAt": row[6],
                        "posts": {s: int(n) for s, n in (counts or {}).items()},
                    }
                )

    first_seq = q.insert_accounts(rows())
    if first_seq is None:  # the database numbered them apart: name each account by its id
        _insert_posts(q, [(None, ids[i + j], c, 1) for i, _, c, span in runs for j in range(span)], now)
    else:
        _insert_posts(q, [(first_seq + i, None, c, span) for i, _, c, span in runs], now)
    return made


def add_posts(q, account_id: str, counts: dict[str, int], now: float, *, report: int = 1000) -> tuple[list[str], int]:
    """Posts for one account; (the first `report` ids, how many were made)."""
    _require_post_total(sum(counts.values()))
    before = _insert_posts(q, [(None, account_id, counts, 1)], now)
    return q.post_ids_after(before, account_id, report), sum(int(n) for n in counts.values())


def _insert_posts(q, runs: list[tuple[int | None, str | None, dict[str, int], int]], now: float) -> int:
    """The posts of many accounts, generated by the database: runs of `span` accounts of
    consecutive seqs from the one named (by its seq, or else by its id with a span of 1), each
    with these counts; the `seq` before the first."""
    rows = [
        (seq, account_id, status, int(n), span)
        for seq, account_id, counts, span in runs
        for status, n in (counts.items() if len(counts) == 1 else sorted(counts.items(), key=_status_order))
        if n
    ]
    most = max((r[3] for r in rows), default=0)
    # the i-th post of a status is scheduled i hours from now
    schedule = [to_iso(now + 3600 * i) for i in range(1, most + 1)]
    return q.generate_posts(rows, schedule, to_iso(now - 60), "canceled_by_partner")


def _require_post_total(total: int) -> None:
    """The control plane's bound on posts made by one call (core/bounds.py). Fixture files are
    not bounded by it: a production-sized world is what `--fixtures` is for."""
    problem = control_bounds.posts_problem(total)
    if problem is not None:
        raise WorldError(problem)


def _status_order(item: tuple[str, int]) -> int:
    return POST_STATUSES.index(item[0])


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
    return {"organizations": orgs, "keys": keys, "accounts": accounts, "testAccounts": world.get("testAccounts", [])}


def load_into(storage, world: dict, clock, sandbox: str = LOCAL_SANDBOX, before=None) -> dict:
    """`load` into one sandbox's world in a transaction of its own; a duplicate id or secret is a
    WorldError, nothing kept. `before(q)` runs first in the same transaction (a limit check)."""
    _require_post_total(sum(sum((a.get("posts") or {}).values()) for a in world.get("accounts", [])))
    try:
        with storage.sandbox_transaction(sandbox) as q:
            if before is not None:
                before(q)
            return load(q, world, clock.now(q))
    except Conflict as exc:
        raise WorldError(f"fixture conflicts with the current world: {exc}") from None
