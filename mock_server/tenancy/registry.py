"""The operator's calls in hosted mode: make, list and delete sandboxes (served by mock_server/control/sandboxes.py)."""

from __future__ import annotations

import json
import secrets
import time

from mock_server.core import world
from mock_server.core.clock import Clock, to_iso
from mock_server.core.errors import control_error
from mock_server.storage import Conflict
from mock_server.storage.queries import hash_secret
from mock_server.storage.schema import TABLES_TO_CLEAR
from mock_server.tenancy.lifecycle import Lifecycle
from mock_server.tenancy.limits import Limits, limit_exceeded
from mock_server.tenancy.routing import TOKEN_PREFIX
from mock_server.tenancy.worlds import SandboxWorlds

ID_PREFIX = "sbx_"


class Sandboxes:
    """Hosted mode's registry (blocking: Connexion's thread pool)."""

    def __init__(self, storage, limits: Limits, worlds: SandboxWorlds, lifecycle: Lifecycle):
        self.storage = storage
        self.limits = limits
        self.worlds = worlds
        self.lifecycle = lifecycle

    def create(self, label: str | None, fixture: dict | None) -> dict:
        self.lifecycle.sweep(force=True)
        made_from = fixture
        fixture = fixture if fixture is not None else self.worlds.default_world()
        self.limits.check_new_sandbox(fixture)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        sandbox_id = ID_PREFIX + secrets.token_hex(8)
        now = time.time()
        try:
            with self.storage.transaction() as q:
                q.lock_sandbox_creation()  # one creation at a time across instances, so the count is exact
                existing = q.count_sandboxes(now)
                if existing >= self.limits.max_sandboxes:
                    raise limit_exceeded("sandboxes", self.limits.max_sandboxes, existing, 1)
                q.insert_sandbox(
                    sandbox_id,
                    label,
                    hash_secret(token),
                    now,
                    self.limits.idle_ttl,
                    None if made_from is None else json.dumps(made_from, separators=(",", ":")),
                )
                sq = q.within(sandbox_id)
                loaded = world.load(sq, self.worlds.rewrite(fixture, token), Clock.now(sq))
        except world.WorldError as exc:
            raise control_error("VALIDATION", str(exc)) from None
        except Conflict as exc:  # e.g. two keys of the fixture with one id, or one secret
            raise control_error("VALIDATION", f"fixtures: {exc}") from None
        return {
            "sandboxId": sandbox_id,
            "adminToken": token,
            "label": label,
            "keys": [
                {
                    "id": k["id"],
                    "label": k["label"],
                    "secret": k["secret"],
                    "scopes": k["scopes"],
                    "tier": k["tier"],
                    "organizationId": k["organizationId"],
                }
                for k in loaded["keys"]
            ],
            "organizations": loaded["organizations"],
            "accounts": [
                {
                    "socialAccountId": a["id"],
                    "organizationId": a["organizationId"],
                    "platform": a["platform"],
                    "handle": a["handle"],
                    "status": a["status"],
                    "leased": a["leased"],
                    "posts": a["posts"],
                }
                for a in loaded["accounts"]
            ],
            "testAccounts": [{"socialAccountId": t["id"], "status": t["status"]} for t in loaded["testAccounts"]],
            "createdAt": to_iso(now),
            "expiresAt": to_iso(now + self.limits.idle_ttl),
            "limits": self.limits.describe(),
        }

    def list(self) -> dict:
        self.lifecycle.sweep()
        with self.storage.snapshot() as q:
            rows = q.list_sandboxes(self.limits.max_sandboxes + 100)
        now = time.time()
        return {
            "sandboxes": [_view(r) for r in rows if r["expires_at"] is None or r["expires_at"] > now],
            "limits": self.limits.describe(),
        }

    def delete(self, sandbox_id: str) -> dict:
        with self.storage.transaction() as q:
            row = q.sandbox_row(sandbox_id, lock=True)
            if row is None or row["admin_token_sha256"] is None:
                raise control_error("NOT_FOUND", f"No sandbox {sandbox_id[:100]!r}.")
            q.delete_sandbox(sandbox_id, TABLES_TO_CLEAR)
        self.lifecycle.forget(sandbox_id)
        return {"sandboxId": sandbox_id, "deleted": True}


def _view(row) -> dict:
    return {
        "sandboxId": row["id"],
        "label": row["label"],
        "createdAt": to_iso(row["created_at"]),
        "lastUsedAt": to_iso(row["last_used_at"]),
        "expiresAt": None if row["expires_at"] is None else to_iso(row["expires_at"]),
    }
