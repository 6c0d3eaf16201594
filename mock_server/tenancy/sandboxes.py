"""Hosted sandboxes: one deployment serves many partners, each in a world of its own (issue #13).

What a sandbox is: its own organizations, keys, accounts, posts, clock, kill switches, faults,
rate windows, idempotency entries and journal, every row carrying its sandbox id
(storage/schema.py) and every query scoped by it (storage/queries.py). This module holds the
rest, in one place:

- who may call the control plane in hosted mode (`authorize`, run by the outermost middleware):
  the operator token (`--operator-token`) only for `/sandboxes`; a sandbox's adminToken for
  everything else, acting on that sandbox only. Wrong, missing or repeated token: 401; the
  operator token on a sandbox's call, a sandbox token on `/sandboxes`, or an `X-Mock-Sandbox`
  naming another sandbox than the token's: 403. Refused calls change nothing anywhere.
- making, listing, deleting and expiring sandboxes (the operator's calls, served by `mock_server/control/sandboxes.py`);
- the key secrets of a sandbox (`SandboxWorlds.rewrite`): a secret given in a fixture or a key
  is replaced by HMAC(adminToken, given), so the same fixture makes different secrets in every
  sandbox (a bearer secret alone names its sandbox), and a reset restores the same secrets
  without the mock storing any of them;
- the limits (`SandboxWorlds.check_growth`, `Limits`).

Local mode (no operator token) is the one implicit sandbox `local`: nothing here applies to it.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass

from mock_server.core import world
from mock_server.core.clock import Clock, to_iso
from contract.control import CONTROL_PREFIX
from mock_server.core.errors import ApiError
from mock_server.core.request_context import current
from mock_server.storage import Conflict
from mock_server.storage.queries import LOCAL_SANDBOX, hash_secret
from mock_server.storage.schema import TABLES_TO_CLEAR

log = logging.getLogger("layers.mock")

# The operator token's variable: read by mock_server/settings.py, named in the control plane's refusal.
OPERATOR_TOKEN_ENV = "LAYERS_MOCK_OPERATOR_TOKEN"

ADMIN_TOKEN_HEADER = b"x-mock-admin-token"
SANDBOX_HEADER = b"x-mock-sandbox"
SANDBOXES_PATH = CONTROL_PREFIX + "/sandboxes"
TOKEN_PREFIX = "sbt_"
ID_PREFIX = "sbx_"
MAX_TOKEN_LENGTH = 256  # longer is no token of ours: refused before any lookup
MAX_LABEL_LENGTH = 200


@dataclass(frozen=True)
class Limits:
    """Defaults, and why:
    - idle_ttl 24 h: the issue's default; a CI job or a partner's day of work keeps its world,
      an abandoned one is gone by the next day.
    - max_sandboxes 200: a few hundred partners or parallel CI jobs per deployment; at the
      per-sandbox ceilings below that is at most 2,000,000 accounts and 20,000,000 posts, a
      database of a few GB, not an unbounded one.
    - max_accounts 10,000 and max_posts 100,000 per sandbox (organizations, keys and test
      accounts together: as many as accounts, at least 1,000): far beyond what a test needs,
      and small enough that one revoke (at most every post of the sandbox canceled in one
      transaction, ~0.1 s for 100,000 posts in bench/) or a sandbox's deletion never stalls
      the others. A bigger world is what local mode (`--fixtures`, a million accounts) is for.
    """

    idle_ttl: float = 24 * 3600.0
    max_sandboxes: int = 200
    max_accounts: int = 10_000
    max_posts: int = 100_000

    @property
    def max_others(self) -> int:
        return max(self.max_accounts, 1000)

    def describe(self) -> dict:
        return {"idleTtlSeconds": self.idle_ttl, "maxSandboxes": self.max_sandboxes,
                "maxAccountsPerSandbox": self.max_accounts, "maxPostsPerSandbox": self.max_posts,
                "maxOrganizationsKeysAndTestAccountsPerSandbox": self.max_others}


def limit_exceeded(what: str, limit: int, current: int, adding: int) -> ApiError:
    return ApiError("LIMIT_EXCEEDED", f"This would make {current + adding} {what}; the limit is {limit}"
                    f" (a sandbox holds up to the limits in GET {SANDBOXES_PATH}).", status=409,
                    details={"limit": what, "max": limit, "current": current, "adding": adding})


def _refusal(status: int, message: str) -> tuple[int, str, str]:
    return status, ("UNAUTHENTICATED" if status == 401 else "FORBIDDEN"), message


def derive_secret(admin_token: str, given: str) -> str:
    """The secret a sandbox's key really has, for a secret given in a fixture or a key."""
    mac = hmac.new(admin_token.encode(), b"key-secret\0" + given.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return "lp_test_" + base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=").replace("-", "x").replace("_", "y")


def request_scope() -> tuple[str, str | None]:
    """The sandbox the current control-plane call acts on, and its adminToken (None locally).
    Fails closed: a call that reached a handler without a resolved sandbox is refused."""
    ctx = current()
    if ctx.sandbox is None:
        raise ApiError("UNAUTHENTICATED", "No sandbox: send the sandbox's adminToken as X-Mock-Admin-Token.",
                       status=401)
    return ctx.sandbox, ctx.admin_token


class SandboxWorlds:
    """The per-sandbox rules the control plane applies to worlds: limits and secrets."""

    def __init__(self, limits: Limits | None, default_world):
        self.limits = limits  # None: local mode, no limits
        self._default_world = default_world

    @property
    def hosted(self) -> bool:
        return self.limits is not None

    def rewrite(self, fixture: dict, admin_token: str | None) -> dict:
        """`fixture` with every given key secret replaced by this sandbox's own (a copy)."""
        if admin_token is None or not fixture.get("keys"):
            return fixture
        keys = [{**k, "secret": derive_secret(admin_token, k["secret"])} if k.get("secret") else k
                for k in fixture["keys"]]
        return {**fixture, "keys": keys}

    def world_for_reset(self, q, admin_token: str | None) -> dict:
        """What `reset` restores: the fixture the sandbox was made from, else the deployment's default."""
        stored = None
        if q.sandbox != LOCAL_SANDBOX:
            row = q.sandbox_row(q.sandbox)
            stored = json.loads(row["world"]) if row is not None and row["world"] else None
        return self.rewrite(stored or self._default_world(), admin_token)

    def check_growth(self, q, accounts: int = 0, posts: int = 0, others: int = 0) -> None:
        """Refuse (409 LIMIT_EXCEEDED, nothing written) what would take a hosted sandbox past its
        limits. `others`: organizations, keys and test accounts, bounded together by the
        accounts' limit. Holds the sandbox's row (PostgreSQL) so two writers check one after the other."""
        if self.limits is None or q.sandbox == LOCAL_SANDBOX or not (accounts or posts or others):
            return
        q.sandbox_row(q.sandbox, lock=True)
        counts = q.counts(("accounts", "posts", "organizations", "api_keys", "test_accounts"))
        existing_others = counts["organizations"] + counts["api_keys"] + counts["test_accounts"]
        if existing_others + others > self.limits.max_others:
            raise limit_exceeded("organizations, keys and test accounts", self.limits.max_others,
                                 existing_others, others)
        if counts["accounts"] + accounts > self.limits.max_accounts:
            raise limit_exceeded("accounts", self.limits.max_accounts, counts["accounts"], accounts)
        if counts["posts"] + posts > self.limits.max_posts:
            raise limit_exceeded("posts", self.limits.max_posts, counts["posts"], posts)


def fixture_size(fixture: dict) -> tuple[int, int, int]:
    """(accounts, posts, others) a validated fixture would add (`others`: organizations, keys
    and test accounts)."""
    accounts = fixture.get("accounts", [])
    others = sum(len(fixture.get(k, [])) for k in ("organizations", "keys", "testAccounts"))
    return len(accounts), sum(int(n) for a in accounts for n in (a.get("posts") or {}).values()), others


class Sandboxes:
    """Hosted mode's registry: token resolution (async, on the event loop), the operator's
    calls (blocking, on Connexion's thread pool), touching and expiry."""

    def __init__(self, storage, operator_token: str, limits: Limits, worlds: SandboxWorlds):
        self.storage = storage
        self.operator_token = operator_token.encode()
        self.limits = limits
        self.worlds = worlds
        # Touch a sandbox's idle timer at most this often per process: one small write a
        # minute per busy sandbox, not one per request (tests use a TTL of seconds).
        self.touch_interval = min(60.0, limits.idle_ttl / 10)
        self.sweep_interval = min(60.0, limits.idle_ttl / 4)
        self._touched: dict[str, float] = {}
        self._tasks: set[asyncio.Task] = set()
        self._sweep_lock = threading.Lock()
        self._last_sweep = 0.0

    # -- who is calling -------------------------------------------------------------------
    async def authorize(self, scope, path: str, ctx) -> tuple[int, str, str] | None:
        """A refusal (status, code, message) or None, with ctx.sandbox / ctx.admin_token /
        ctx.operator set for the handlers."""
        headers = scope.get("headers") or []
        given = [v for k, v in headers if k == ADMIN_TOKEN_HEADER]
        operator_call = path == SANDBOXES_PATH or path.startswith(SANDBOXES_PATH + "/")
        if len(given) != 1 or not given[0]:
            return _refusal(401, "Hosted mode: send the sandbox's adminToken (or, for /sandboxes, the operator"
                                 " token) as one X-Mock-Admin-Token header.")
        token = given[0]
        if hmac.compare_digest(token, self.operator_token):
            if not operator_call:
                return _refusal(403, "The operator token manages sandboxes (/sandboxes) only; act on a sandbox"
                                     " with its own adminToken.")
            ctx.operator = True
            return None
        text = token.decode("latin-1")
        if not text.startswith(TOKEN_PREFIX) or len(text) > MAX_TOKEN_LENGTH:
            return _refusal(401, "Unknown X-Mock-Admin-Token.")
        digest = hash_secret(text)
        row = await self.storage.read(lambda q: q.sandbox_by_token(digest))
        if row is None or not hmac.compare_digest(row["admin_token_sha256"], digest):
            return _refusal(401, "Unknown X-Mock-Admin-Token (or its sandbox expired and was deleted).")
        if row["expires_at"] is not None and row["expires_at"] <= time.time():
            return _refusal(401, f"Sandbox {row['id']} expired after {row['idle_ttl']:g} s unused;"
                                 f" ask the operator for a new one.")
        if operator_call:
            return _refusal(403, "Only the operator token manages sandboxes.")
        named = [v for k, v in headers if k == SANDBOX_HEADER]
        if named and (len(named) > 1 or named[0].decode("latin-1") != row["id"]):
            return _refusal(403, "X-Mock-Sandbox names another sandbox than this adminToken's.")
        ctx.sandbox, ctx.admin_token = row["id"], text
        self.seen(row["id"])
        return None

    # -- idle timers ----------------------------------------------------------------------
    def seen(self, sandbox: str) -> None:
        """The sandbox was used now (API or control plane): push its expiry out, at most once per
        touch_interval per process, without making the request wait for the write."""
        if sandbox == LOCAL_SANDBOX:
            return
        now = time.monotonic()
        if now - self._touched.get(sandbox, -1e9) < self.touch_interval:
            return
        self._touched[sandbox] = now
        if len(self._touched) > 10 * max(1, self.limits.max_sandboxes):
            self._touched.clear()  # deleted sandboxes' entries: a bounded cache
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self.storage.write(lambda q: q.touch_sandbox(sandbox, time.time())))
        self._tasks.add(task)
        task.add_done_callback(self._touch_done)

    def _touch_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("could not touch a sandbox: %s", task.exception())

    def sweep(self, *, force: bool = False, batch: int = 20) -> int:
        """Delete expired sandboxes (blocking; control-plane threads only), at most every
        sweep_interval per process unless forced. Their keys were refused from the moment they
        expired; this frees their rows."""
        now = time.time()
        with self._sweep_lock:
            if not force and now - self._last_sweep < self.sweep_interval:
                return 0
            self._last_sweep = now
        with self.storage.snapshot() as q:
            expired = q.expired_sandboxes(now, batch)
        deleted = 0
        for sandbox_id in expired:
            with self.storage.transaction() as q:
                row = q.sandbox_row(sandbox_id, lock=True)
                if row is not None and row["expires_at"] is not None and row["expires_at"] <= now:
                    deleted += q.delete_sandbox(sandbox_id, TABLES_TO_CLEAR)
        return deleted

    # -- the operator's calls -------------------------------------------------------------
    def create(self, label: str | None, fixture: dict | None) -> dict:
        self.sweep(force=True)
        made_from = fixture
        fixture = fixture if fixture is not None else self.worlds._default_world()  # noqa: SLF001 - one module
        accounts, posts, others = fixture_size(fixture)
        if accounts > self.limits.max_accounts:
            raise limit_exceeded("accounts", self.limits.max_accounts, 0, accounts)
        if posts > self.limits.max_posts:
            raise limit_exceeded("posts", self.limits.max_posts, 0, posts)
        if others > self.limits.max_others:
            raise limit_exceeded("organizations, keys and test accounts", self.limits.max_others, 0, others)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        sandbox_id = ID_PREFIX + secrets.token_hex(8)
        now = time.time()
        try:
            with self.storage.transaction() as q:
                # One creation at a time across instances (the meta row's lock), so the count is exact.
                q.one("SELECT value FROM meta WHERE name='schema_version'{FOR_UPDATE}")
                existing = q.count_sandboxes(now)
                if existing >= self.limits.max_sandboxes:
                    raise limit_exceeded("sandboxes", self.limits.max_sandboxes, existing, 1)
                q.insert_sandbox(sandbox_id, label, hash_secret(token), now, self.limits.idle_ttl,
                                 None if made_from is None else json.dumps(made_from, separators=(",", ":")))
                sq = q.within(sandbox_id)
                loaded = world.load(sq, self.worlds.rewrite(fixture, token), Clock.now(sq))
        except world.WorldError as exc:
            raise ApiError("VALIDATION", str(exc)) from None
        except Conflict as exc:  # e.g. two keys of the fixture with one id, or one secret
            raise ApiError("VALIDATION", f"fixtures: {exc}") from None
        return {
            "sandboxId": sandbox_id, "adminToken": token, "label": label,
            "keys": [{"id": k["id"], "label": k["label"], "secret": k["secret"], "scopes": k["scopes"],
                      "tier": k["tier"], "organizationId": k["organizationId"]} for k in loaded["keys"]],
            "organizations": loaded["organizations"],
            "accounts": [{"socialAccountId": a["id"], "organizationId": a["organizationId"], "platform": a["platform"],
                          "handle": a["handle"], "status": a["status"], "leased": a["leased"], "posts": a["posts"]}
                         for a in loaded["accounts"]],
            "testAccounts": [{"socialAccountId": t["id"], "status": t["status"]} for t in loaded["testAccounts"]],
            "createdAt": to_iso(now), "expiresAt": to_iso(now + self.limits.idle_ttl),
            "limits": self.limits.describe(),
        }

    def list(self) -> dict:
        self.sweep()
        with self.storage.snapshot() as q:
            rows = q.list_sandboxes(self.limits.max_sandboxes + 100)
        now = time.time()
        return {"sandboxes": [_view(r) for r in rows if r["expires_at"] is None or r["expires_at"] > now],
                "limits": self.limits.describe()}

    def delete(self, sandbox_id: str) -> dict:
        with self.storage.transaction() as q:
            row = q.sandbox_row(sandbox_id, lock=True)
            if row is None or row["admin_token_sha256"] is None:
                raise ApiError("NOT_FOUND", f"No sandbox {sandbox_id[:100]!r}.")
            q.delete_sandbox(sandbox_id, TABLES_TO_CLEAR)
        self._touched.pop(sandbox_id, None)
        return {"sandboxId": sandbox_id, "deleted": True}


def _view(row) -> dict:
    return {"sandboxId": row["id"], "label": row["label"], "createdAt": to_iso(row["created_at"]),
            "lastUsedAt": to_iso(row["last_used_at"]),
            "expiresAt": None if row["expires_at"] is None else to_iso(row["expires_at"])}
