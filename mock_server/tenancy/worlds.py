"""The rules a sandbox's world is loaded under: its key secrets derived from its adminToken, its limits, what a reset restores."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from mock_server.storage.queries import LOCAL_SANDBOX
from mock_server.tenancy.limits import Limits


def derive_secret(admin_token: str, given: str) -> str:
    """The secret a sandbox's key really has, for a secret given in a fixture or a key: HMAC of
    the sandbox's adminToken, so the same fixture makes different secrets in every sandbox (a
    bearer secret alone names its sandbox), and a reset restores the same ones without the mock
    storing any of them."""
    mac = hmac.new(admin_token.encode(), b"key-secret\0" + given.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return "lp_test_" + base64.urlsafe_b64encode(mac.digest()).decode().rstrip("=").replace("-", "x").replace("_", "y")


class SandboxWorlds:
    """The per-sandbox rules the control plane applies to worlds: limits and secrets."""

    def __init__(self, limits: Limits | None, default_world):
        self.limits = limits  # None: local mode, no limits
        self.default_world = default_world  # a callable: a big fixture is read only when needed

    def rewrite(self, fixture: dict, admin_token: str | None) -> dict:
        """`fixture` with every given key secret replaced by this sandbox's own (a copy)."""
        if admin_token is None or not fixture.get("keys"):
            return fixture
        keys = [
            {**k, "secret": derive_secret(admin_token, k["secret"])} if k.get("secret") else k for k in fixture["keys"]
        ]
        return {**fixture, "keys": keys}

    def world_for_reset(self, q, admin_token: str | None) -> dict:
        """What `reset` restores: the fixture the sandbox was made from, else the deployment's default."""
        stored = None
        if q.sandbox != LOCAL_SANDBOX:
            row = q.sandbox_row(q.sandbox)
            stored = json.loads(row["world"]) if row is not None and row["world"] else None
        return self.rewrite(stored or self.default_world(), admin_token)

    def check_growth(self, q, accounts: int = 0, posts: int = 0, others: int = 0) -> None:
        """The limits' check (`Limits.check_growth`) in hosted mode; local mode has none."""
        if self.limits is not None:
            self.limits.check_growth(q, accounts, posts, others)
