"""The control plane's HTTP edge (`/_mock`, described in control.yaml).

It changes the world only through the store, the world builders and the domain: the same code
paths the fixtures and the API use.
"""
from __future__ import annotations

import json

from contract import CONTRACT
from mock_server import world
from mock_server.clock import parse_iso, to_iso
from mock_server.domain import Domain
from mock_server.errors import ApiError


def _key_view(row) -> dict:
    return {"id": row["id"], "secretHint": row["secret_hint"], "organizationId": row["organization_id"],
            "scopes": json.loads(row["scopes"]), "tier": row["tier"], "killed": bool(row["killed"]),
            "label": row["label"]}


def _account_view(row) -> dict:
    return {"socialAccountId": row["id"], "organizationId": row["organization_id"], "platform": row["platform"],
            "handle": row["handle"], "status": row["status"], "disconnectedReason": row["disconnected_reason"],
            "disconnectedAt": row["disconnected_at"], "leased": bool(row["leased"]),
            "lease": {"status": row["lease_status"]} if row["leased"] else None,
            "hasToken": row["token"] is not None, "connectedAt": row["connected_at"]}


def _post_view(row) -> dict:
    return {"id": row["id"], "socialAccountId": row["account_id"], "status": row["status"],
            "scheduledFor": row["scheduled_for"], "canceledAt": row["canceled_at"], "cancelReason": row["cancel_reason"]}


def _json_body(body) -> dict:
    """A call with no body at all gets the schema's default, which Connexion hands over unparsed."""
    if isinstance(body, (bytes, str)):
        return json.loads(body or "{}")
    return body or {}


def _bad(message: str) -> ApiError:
    return ApiError("VALIDATION", message)


def _missing(what: str, ident: str) -> ApiError:
    return ApiError("NOT_FOUND", f"No {what} {ident!r} in the mock's world.")


class ControlHandlers:
    def __init__(self, domain: Domain, default_world: dict):
        self.domain = domain
        self.store = domain.store
        self.clock = domain.clock
        self.default_world = default_world

    # -- whole world ----------------------------------------------------------------------
    async def reset(self, body: dict | bytes | None = None):
        self.store.clear()
        which = _json_body(body).get("world", "default")
        if which == "default":
            world.load(self.store, self.default_world, self.clock.now())
        return await self.get_state()

    async def load_fixture(self, body: dict):
        try:
            data = world.validate(body, "request body")
            loaded = world.load(self.store, data, self.clock.now())
        except world.WorldError as exc:
            raise _bad(str(exc)) from None
        return loaded, 201

    async def get_state(self):
        return {
            "counts": self.store.counts(),
            "organizations": [{"id": r["id"], "name": r["name"], "killed": bool(r["killed"])}
                              for r in self.store.list_organizations()],
            "keys": [_key_view(r) for r in self.store.list_keys()],
            "testAccounts": [{"socialAccountId": r["id"], "status": r["status"], "note": r["note"]}
                             for r in self.store.list_test_accounts()],
            "globalKillSwitch": self.store.get_setting("global_kill") == "1",
            "faults": await self.list_faults(),
            "clock": self.clock.describe(),
        }

    # -- things ---------------------------------------------------------------------------
    async def create_organization(self, body: dict):
        try:
            with self.store.write():
                org = world.add_organization(self.store, {"name": "Test organization", **body})
        except self.store.db.IntegrityError:  # found by schemathesis over control.yaml: was a 500
            raise _bad(f"an organization with id {body.get('id')!r} already exists") from None
        return org, 201

    async def create_key(self, body: dict):
        try:
            with self.store.write():
                key = world.add_key(self.store, body)
        except world.WorldError as exc:
            raise _bad(str(exc)) from None
        except self.store.db.IntegrityError:
            raise _bad("a key with this id or secret already exists") from None
        return key, 201

    def _key_id(self, ref: str) -> str:
        """A key's id, or its label where an id is expected (`PUT /_mock/keys/write/budget`)."""
        if self.store.key_row(ref) is not None:
            return ref
        labelled = [r["id"] for r in self.store.list_keys() if r["label"] == ref]
        if len(labelled) > 1:
            raise _bad(f"{len(labelled)} keys are labelled {ref!r}: use the key's id")
        if not labelled:
            raise _missing("key (by id or label)", ref)
        return labelled[0]

    def _default_organization(self) -> str:
        key = world.default_write_key(self.default_world)
        row = self.store.key_row(key["id"]) if key else None
        if row is None:
            raise _bad("organizationId is required: the default world's write key is not in the current world")
        return row["organization_id"]

    async def set_budget(self, keyId: str, body: dict):
        keyId = self._key_id(keyId)
        try:
            return self.domain.set_remaining_budget(keyId, body["remaining"])
        except KeyError:
            raise _missing("key", keyId) from None
        except ValueError as exc:
            raise _bad(str(exc)) from None

    async def create_account(self, body: dict):
        if "id" in body and not CONTRACT.account_id_pattern.match(body["id"]):
            raise _bad("id must be of the form sa_<uuid> (lower-case hex)")
        if "organizationId" not in body:
            body = {**body, "organizationId": self._default_organization()}
        try:
            with self.store.write():
                account = world.add_account(self.store, body, self.clock.now())
        except world.WorldError as exc:
            raise _bad(str(exc)) from None
        except self.store.db.IntegrityError:
            raise _bad(f"an account with id {body.get('id')!r} already exists") from None
        return {"socialAccountId": account["id"], "organizationId": account["organizationId"],
                "platform": account["platform"], "handle": account["handle"], "status": account["status"],
                "leased": account["leased"], "posts": account["posts"]}, 201

    async def get_account(self, accountId: str, postLimit: int = 100):
        row = self.store.account(accountId)
        if row is None:
            raise _missing("account", accountId)
        view = _account_view(row)
        view["postCounts"] = self.store.post_counts(accountId)
        view["posts"] = [_post_view(p) for p in self.store.posts_of(accountId, limit=postLimit)]
        return view

    async def create_posts(self, body: dict):
        if self.store.account(body["socialAccountId"]) is None:
            raise _missing("account", body["socialAccountId"])
        with self.store.write():
            ids = world.add_posts(self.store, body["socialAccountId"], {body["status"]: body.get("count", 1)},
                                  self.clock.now())
        return {"socialAccountId": body["socialAccountId"], "status": body["status"], "postIds": ids[:1000],
                "created": len(ids)}, 201

    # -- breaking it ----------------------------------------------------------------------
    async def set_kill_switch(self, body: dict):
        scope, enabled, target = body["scope"], body["enabled"], body.get("target")
        if scope == "global":
            self.store.set_setting("global_kill", "1" if enabled else "0")
        elif not target:
            raise _bad(f"a {scope} kill switch needs a target ({scope} id)")
        elif scope == "key" and not self.store.set_key_killed(target := self._key_id(target), enabled):
            raise _missing("key", target)
        elif scope == "organization" and not self.store.set_org_killed(target, enabled):
            raise _missing("organization", target)
        return {"scope": scope, "target": target, "enabled": enabled}

    async def arm_fault(self, body: dict | bytes | None = None):
        body = _json_body(body)
        step, count = body.get("step", "cancel_posts"), body.get("count", 1)
        fault_id = self.store.arm_fault(step, count, body.get("socialAccountId"))
        return {"id": fault_id, "step": step, "remaining": count, "socialAccountId": body.get("socialAccountId")}, 201

    async def list_faults(self):
        return [{"id": r["id"], "step": r["step"], "remaining": r["remaining"], "socialAccountId": r["account_id"]}
                for r in self.store.list_faults()]

    async def clear_faults(self):
        self.store.clear_faults()
        return {"faults": []}

    async def get_clock(self):
        return self.clock.describe()

    async def set_clock(self, body: dict):
        try:
            now = parse_iso(body["now"]) if "now" in body else None
        except ValueError:
            raise _bad("now must be an ISO-8601 date-time") from None
        try:
            return self.clock.set(now=now, advance=body.get("advanceSeconds"), frozen=body.get("frozen"))
        except ValueError as exc:
            raise _bad(str(exc)) from None

    # -- looking at it --------------------------------------------------------------------
    async def get_journal(self, limit: int = 100, after: int = 0):
        rows = self.store.journal(limit, after)
        return {"entries": [{"id": r["id"], "at": r["at"], "requestId": r["request_id"], "method": r["method"],
                             "path": r["path"], "status": r["status"], "keyId": r["key_id"],
                             "keyHint": r["key_hint"], "idempotencyKey": r["idempotency_key"], "code": r["code"]}
                            for r in rows]}

    async def get_integrity(self):
        violations = self.store.integrity_violations()
        return {"ok": not violations, "violations": violations,
                "revocations": len(self.store.revocations(limit=10**9)), "checkedAt": to_iso(self.clock.now())}
