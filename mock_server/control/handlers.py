"""The control plane's HTTP edge (`/_mock`, described in control.yaml).

It changes the world only through the storage's transactions, the world builders and the
domain: the same code paths the fixtures and the API use. Every call acts on one sandbox's world
(`_tx`/`_snap`): the implicit `local` one, or in hosted mode the one the admin token named
(mock_server/tenancy/: routing, and the limits and secret rewriting used here).
"""

from __future__ import annotations

import json
import time

from connexion.lifecycle import ConnexionResponse

from contract import CONTRACT
from contract.control import CONTROL
from contract.world import default_write_key
from mock_server.core import invariants, world
from mock_server.core.clock import parse_iso, to_iso
from mock_server.core.domain import Domain
from mock_server.core.errors import ApiError, control_error
from mock_server.core.grading import Grader, render_text
from mock_server.storage import Conflict
from mock_server.storage.schema import TABLES_TO_CLEAR
from mock_server.tenancy.limits import fixture_size
from mock_server.tenancy.routing import request_scope
from mock_server.tenancy.worlds import SandboxWorlds


def _key_view(row) -> dict:
    return {
        "id": row["id"],
        "secretHint": row["secret_hint"],
        "organizationId": row["organization_id"],
        "scopes": json.loads(row["scopes"]),
        "tier": row["tier"],
        "killed": bool(row["killed"]),
        "label": row["label"],
    }


def _account_view(row) -> dict:
    return {
        "socialAccountId": row["id"],
        "organizationId": row["organization_id"],
        "platform": row["platform"],
        "handle": row["handle"],
        "status": row["status"],
        "disconnectedReason": row["disconnected_reason"],
        "disconnectedAt": row["disconnected_at"],
        "leased": bool(row["leased"]),
        "lease": {"status": row["lease_status"]} if row["leased"] else None,
        "hasToken": row["token"] is not None,
        "connectedAt": row["connected_at"],
    }


def _post_view(row) -> dict:
    return {
        "id": row["id"],
        "socialAccountId": row["account_id"],
        "status": row["status"],
        "scheduledFor": row["scheduled_for"],
        "canceledAt": row["canceled_at"],
        "cancelReason": row["cancel_reason"],
    }


def _json_body(body) -> dict:
    """A call with no body at all gets the schema's default, which Connexion hands over unparsed."""
    if isinstance(body, (bytes, str)):
        return json.loads(body or "{}")
    return body or {}


def _bad(message: str) -> ApiError:
    return control_error("VALIDATION", message)


def _missing(what: str, ident: str) -> ApiError:
    return control_error("NOT_FOUND", f"No {what} {ident!r} in the mock's world.")


class ControlHandlers:
    """Plain (blocking) functions: Connexion runs them on its thread pool, so their transactions
    wait for locks there, never on the event loop."""

    def __init__(self, storage, domain: Domain, default_world, worlds: SandboxWorlds | None = None):
        self.storage = storage
        self.domain = domain
        self.clock = domain.clock
        self._default_world = default_world  # a callable: a big fixture is read only if a reset needs it
        self.worlds = worlds or SandboxWorlds(None, default_world)
        self.grader = Grader(domain.contract)

    # -- the sandbox this call acts on ----------------------------------------------------
    def _tx(self):
        return self.storage.sandbox_transaction(request_scope()[0])

    def _snap(self):
        return self.storage.sandbox_transaction(request_scope()[0], write=False)

    # -- whole world ----------------------------------------------------------------------
    def reset(self, body: dict | bytes | None = None):
        which = _json_body(body).get("world", "default")
        admin_token = request_scope()[1]
        self.storage.flush_journal()  # entries of requests answered before the reset are cleared with it
        with self._tx() as q:
            restore = self.worlds.world_for_reset(q, admin_token) if which == "default" else None
            q.clear(TABLES_TO_CLEAR)
            if restore is not None:
                world.load(q, restore, self.clock.now(q), report=False)
        return self.get_state()

    def load_fixture(self, body: dict):
        try:
            data = world.validate(body, "request body", control=True)
            sandbox, admin_token = request_scope()
            loaded = world.load_into(
                self.storage,
                self.worlds.rewrite(data, admin_token),
                self.clock,
                sandbox,
                before=lambda q: self.worlds.check_growth(q, *fixture_size(data)),
            )
        except world.WorldError as exc:
            raise _bad(str(exc)) from None
        return loaded, 201

    def get_state(self):
        self.storage.flush_journal()
        with self._snap() as q:
            return {
                "counts": q.counts(),
                "organizations": [
                    {"id": r["id"], "name": r["name"], "killed": bool(r["killed"])} for r in q.list_organizations()
                ],
                "keys": [_key_view(r) for r in q.list_keys()],
                "testAccounts": [
                    {"socialAccountId": r["id"], "status": r["status"], "note": r["note"]}
                    for r in q.list_test_accounts()
                ],
                "globalKillSwitch": q.get_setting("global_kill") == "1",
                "faults": _faults_view(q),
                "clock": self.clock.describe(q),
            }

    # -- things ---------------------------------------------------------------------------
    def create_organization(self, body: dict):
        try:
            with self._tx() as q:
                self.worlds.check_growth(q, others=1)
                org = world.add_organization(q, {"name": "Test organization", **body})
        except Conflict:  # found by schemathesis over control.yaml: was a 500
            raise _bad(f"an organization with id {body.get('id')!r} already exists") from None
        return org, 201

    def create_key(self, body: dict):
        try:
            admin_token = request_scope()[1]
            if admin_token is not None and body.get("secret"):
                body = {**body, "secret": self.worlds.rewrite({"keys": [body]}, admin_token)["keys"][0]["secret"]}
            with self._tx() as q:
                self.worlds.check_growth(q, others=1)
                key = world.add_key(q, body)
        except world.WorldError as exc:
            raise _bad(str(exc)) from None
        except Conflict:
            raise _bad("a key with this id or secret already exists") from None
        return key, 201

    @staticmethod
    def _key_id(q, ref: str) -> str:
        """A key's id, or its label where an id is expected (`PUT /_mock/keys/write/budget`)."""
        if q.key_row(ref) is not None:
            return ref
        labelled = [r["id"] for r in q.list_keys() if r["label"] == ref]
        if len(labelled) > 1:
            raise _bad(f"{len(labelled)} keys are labelled {ref!r}: use the key's id")
        if not labelled:
            raise _missing("key (by id or label)", ref)
        return labelled[0]

    def _default_organization(self) -> str:
        key = default_write_key(self._default_world())
        with self._snap() as q:
            row = q.key_row(key["id"]) if key else None
        if row is None:
            raise _bad("organizationId is required: the default world's write key is not in the current world")
        return row["organization_id"]

    def set_budget(self, keyId: str, body: dict):
        try:
            with self._tx() as q:  # the label resolved in the same transaction as the write
                return self.domain.set_remaining_budget(q, self._key_id(q, keyId), body["remaining"])
        except KeyError:
            raise _missing("key", keyId) from None
        except ValueError as exc:
            raise _bad(str(exc)) from None

    def create_account(self, body: dict):
        if "id" in body and not CONTRACT.account_id_pattern.match(body["id"]):
            raise _bad("id must be of the form sa_<uuid> (lower-case hex)")
        if "organizationId" not in body:
            body = {**body, "organizationId": self._default_organization()}
        try:
            with self._tx() as q:
                self.worlds.check_growth(q, 1, sum((body.get("posts") or {}).values()))
                account = world.add_account(q, body, self.clock.now(q))
        except world.WorldError as exc:
            raise _bad(str(exc)) from None
        except Conflict:
            raise _bad(f"an account with id {body.get('id')!r} already exists") from None
        return {
            "socialAccountId": account["id"],
            "organizationId": account["organizationId"],
            "platform": account["platform"],
            "handle": account["handle"],
            "status": account["status"],
            "leased": account["leased"],
            "posts": account["posts"],
        }, 201

    def get_account(self, accountId: str, postLimit: int = 100):
        with self._snap() as q:
            row = q.account(accountId)
            if row is None:
                raise _missing("account", accountId)
            view = _account_view(row)
            view["postCounts"] = q.post_counts(accountId)
            view["posts"] = [_post_view(p) for p in q.posts_of(accountId, limit=postLimit)]
        return view

    def create_posts(self, body: dict):
        with self._tx() as q:
            if q.account(body["socialAccountId"]) is None:
                raise _missing("account", body["socialAccountId"])
            self.worlds.check_growth(q, 0, body.get("count", 1))
            ids, created = world.add_posts(
                q, body["socialAccountId"], {body["status"]: body.get("count", 1)}, self.clock.now(q)
            )
        return {
            "socialAccountId": body["socialAccountId"],
            "status": body["status"],
            "postIds": ids,
            "created": created,
        }, 201

    # -- breaking it ----------------------------------------------------------------------
    def set_kill_switch(self, body: dict):
        scope, enabled, target = body["scope"], body["enabled"], body.get("target")
        if scope == "global":
            with self._tx() as q:
                q.set_setting("global_kill", "1" if enabled else "0")
        elif not target:
            raise _bad(f"a {scope} kill switch needs a target ({scope} id)")
        else:
            with self._tx() as q:
                if scope == "key" and not q.set_key_killed(target := self._key_id(q, target), enabled):
                    raise _missing("key", target)
                if scope == "organization" and not q.set_org_killed(target, enabled):
                    raise _missing("organization", target)
        return {"scope": scope, "target": target, "enabled": enabled}

    def arm_fault(self, body: dict | bytes | None = None):
        body = _json_body(body)
        step, count = body.get("step", CONTROL.default("FaultStep")), body.get("count", 1)
        with self._tx() as q:
            if body.get("socialAccountId") and q.account(body["socialAccountId"]) is None:
                raise _missing("account", body["socialAccountId"])
            fault_id = q.arm_fault(step, count, body.get("socialAccountId"))
        return {"id": fault_id, "step": step, "remaining": count, "socialAccountId": body.get("socialAccountId")}, 201

    def list_faults(self):
        with self._snap() as q:
            return _faults_view(q)

    def clear_faults(self):
        with self._tx() as q:
            q.clear_faults(answers=False)
        return {"faults": []}

    def get_clock(self):
        with self._snap() as q:
            return self.clock.describe(q)

    def set_clock(self, body: dict):
        try:
            now = parse_iso(body["now"]) if "now" in body else None
        except ValueError:
            raise _bad("now must be an ISO-8601 date-time") from None
        try:
            with self._tx() as q:
                return self.clock.set(q, now=now, advance=body.get("advanceSeconds"), frozen=body.get("frozen"))
        except ValueError as exc:
            raise _bad(str(exc)) from None

    # -- looking at it --------------------------------------------------------------------
    def get_journal(self, limit: int = 100, after: int = 0):
        self.storage.flush_journal()
        with self._snap() as q:
            rows = q.journal(limit, after)
        return {
            "entries": [
                {
                    "id": r["id"],
                    "at": r["at"],
                    "requestId": r["request_id"],
                    "method": r["method"],
                    "path": r["path"],
                    "status": r["status"],
                    "keyId": r["key_id"],
                    "keyHint": r["key_hint"],
                    "idempotencyKey": r["idempotency_key"],
                    "code": r["code"],
                }
                for r in rows
            ]
        }

    # -- the client report (issue 24) -------------------------------------------------------
    def get_client_report(self, format: str | None = None):
        """Every rule with its passes and flags over this sandbox's journal (core/grading.py)."""
        self.storage.flush_journal()  # this process's answered requests first
        with self._tx() as q:  # exact bound before reading; the same transaction reads
            self.storage.trim_journal(q)
            since = q.get_setting("grading_since")
            rows = q.journal_since(float(since) if since else 0.0, self.storage.journal_limit + 1)
            report = self.grader.report(
                [dict(r) for r in rows],
                q.key_organizations(),
                dropped=int(q.get_setting("journal_dropped") or 0),
                limit=self.storage.journal_limit,
                since=to_iso(float(since)) if since else None,
            )
        # Two content types documented: Connexion needs the answer to name its own.
        if format == "text" or (format is None and _wants_text()):
            return ConnexionResponse(
                status_code=200, content_type="text/plain; charset=utf-8", body=render_text(report)
            )
        return ConnexionResponse(status_code=200, content_type="application/json", body=json.dumps(report))

    def clear_client_report(self):
        """Grade afresh from now: requests whose responses left before this call are not graded
        (the journal keeps them); the dropped count starts again at 0."""
        self.storage.flush_journal()
        with self._tx() as q:
            q.set_setting("grading_since", repr(time.time()))
            q.set_setting("journal_dropped", "0")
        return self.get_client_report(format="json")

    # -- scripted answers (issue 24) ---------------------------------------------------------
    def arm_scenario(self, body: dict):
        account_id, key_ref = body.get("socialAccountId"), body.get("keyId")
        steps = body["steps"]
        with self._tx() as q:
            if account_id and q.account(account_id) is None:
                raise _missing("account", account_id)
            key_id = self._key_id(q, key_ref) if key_ref else None
            ids = q.arm_answers([json.dumps(s, sort_keys=True) for s in steps], account_id, key_id)
        return {"socialAccountId": account_id, "keyId": key_id, "steps": _steps_view(zip(ids, steps, strict=True))}, 201

    def list_scenarios(self):
        with self._snap() as q:
            return _scenarios_view(q)

    def clear_scenarios(self):
        with self._tx() as q:
            q.clear_faults(answers=True)
        return {"steps": []}

    def get_integrity(self):
        with self._snap() as q:
            found = invariants.violations(q, self.domain)
            return {
                "ok": not found,
                "violations": found,
                "revocations": q.revocation_count(),
                "checkedAt": to_iso(self.clock.now(q)),
            }


def _wants_text() -> bool:
    """`Accept: text/plain` (and not JSON) asks for the readable report."""
    try:
        from connexion import request

        accept = request.headers.get("accept", "")
    except RuntimeError:  # outside Connexion's request context
        return False
    return "text/plain" in accept and "application/json" not in accept


def _steps_view(pairs) -> list[dict]:
    return [{"id": i, **step} for i, step in pairs]


def _scenarios_view(q) -> dict:
    rows = q.list_answers()
    return {
        "steps": [
            {"id": r["id"], "socialAccountId": r["account_id"], "keyId": r["key_id"], **json.loads(r["answer"])}
            for r in rows
        ]
    }


def _faults_view(q) -> list[dict]:
    return [
        {"id": r["id"], "step": r["step"], "remaining": r["remaining"], "socialAccountId": r["account_id"]}
        for r in q.list_faults()
    ]
