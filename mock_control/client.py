"""A small HTTP client for the mock's control plane (`/_mock`, see contract/control.yaml).

The conformance kit (`--mock-control`), the pytest plugin and the tests provision through it,
so no caller hand-writes control-plane URLs. It imports only `contract` and httpx.
"""

from __future__ import annotations

from typing import Any

import httpx

from contract.control import CONTROL_PREFIX


class ControlPlaneError(RuntimeError):
    pass


class ControlClient:
    def __init__(
        self,
        base_url: str,
        *,
        admin_token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ):
        """`transport`: how requests go out, if not httpx's default (the conformance kit bounds its
        control-plane calls by the end of its run this way; the in-process tests send them to the app)."""
        headers = {"X-Mock-Admin-Token": admin_token} if admin_token else {}
        self.http = httpx.Client(
            base_url=base_url.rstrip("/") + CONTROL_PREFIX, headers=headers, timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, json: Any = None, params: dict | None = None) -> Any:
        r = self.http.request(method, path, json=json, params=params)
        if r.status_code >= 400:
            raise ControlPlaneError(f"{method} {CONTROL_PREFIX}{path} answered {r.status_code}: {r.text[:500]}")
        return r.json()

    # -- the world ------------------------------------------------------------------------
    def reset(self, world: str = "default") -> dict:
        return self._call("POST", "/reset", {"world": world})

    def load_fixture(self, fixture: dict) -> dict:
        return self._call("POST", "/fixtures", fixture)

    def state(self) -> dict:
        return self._call("GET", "/state")

    def create_organization(self, name: str = "Test organization", **extra: Any) -> dict:
        return self._call("POST", "/organizations", {"name": name, **extra})

    def create_key(self, organization_id: str, scopes: list[str], tier: str = "partner", **extra: Any) -> dict:
        return self._call("POST", "/keys", {"organizationId": organization_id, "scopes": scopes, "tier": tier, **extra})

    def create_account(self, organization_id: str, *, queued: int = 0, posts: dict | None = None, **extra: Any) -> dict:
        counts = dict(posts or {})
        if queued:
            counts["queued"] = queued
        return self._call("POST", "/accounts", {"organizationId": organization_id, "posts": counts, **extra})

    def account(self, account_id: str, post_limit: int = 100) -> dict:
        return self._call("GET", f"/accounts/{account_id}", params={"postLimit": post_limit})

    def create_posts(self, account_id: str, status: str, count: int = 1) -> dict:
        return self._call("POST", "/posts", {"socialAccountId": account_id, "status": status, "count": count})

    # -- breaking it ----------------------------------------------------------------------
    def set_budget(self, key_id: str, remaining: int) -> dict:
        return self._call("PUT", f"/keys/{key_id}/budget", {"remaining": remaining})

    def kill_switch(self, scope: str, enabled: bool = True, target: str | None = None) -> dict:
        body = {"scope": scope, "enabled": enabled}
        if target:
            body["target"] = target
        return self._call("PUT", "/kill-switches", body)

    def arm_fault(self, step: str = "cancel_posts", count: int = 1, account_id: str | None = None) -> dict:
        body: dict = {"step": step, "count": count}
        if account_id:
            body["socialAccountId"] = account_id
        return self._call("POST", "/faults", body)

    def clear_faults(self) -> dict:
        return self._call("DELETE", "/faults")

    def arm_scenario(self, steps: list[dict], *, account_id: str | None = None, key_id: str | None = None) -> dict:
        """Scripted answers, one per matching revoke, e.g. [{"status": 429, "retryAfter": 2}, {"status": 200}]."""
        body: dict = {"steps": steps}
        if account_id:
            body["socialAccountId"] = account_id
        if key_id:
            body["keyId"] = key_id
        return self._call("POST", "/scenarios", body)

    def scenarios(self) -> list[dict]:
        return self._call("GET", "/scenarios")["steps"]

    def clear_scenarios(self) -> dict:
        return self._call("DELETE", "/scenarios")

    def clock(self) -> dict:
        return self._call("GET", "/clock")

    def set_clock(self, **body: Any) -> dict:
        """e.g. set_clock(advanceSeconds=60), set_clock(frozen=True), set_clock(now="2026-01-01T00:00:00Z")."""
        return self._call("PUT", "/clock", body)

    # -- hosted sandboxes (the operator's token as admin_token) ----------------------------
    def create_sandbox(self, label: str | None = None, fixtures: dict | None = None) -> dict:
        """201: sandboxId, adminToken, keys (with secrets), organizations, accounts, expiresAt."""
        body: dict = {}
        if label is not None:
            body["label"] = label
        if fixtures is not None:
            body["fixtures"] = fixtures
        return self._call("POST", "/sandboxes", body)

    def list_sandboxes(self) -> dict:
        return self._call("GET", "/sandboxes")

    def delete_sandbox(self, sandbox_id: str) -> dict:
        return self._call("DELETE", f"/sandboxes/{sandbox_id}")

    # -- looking at it --------------------------------------------------------------------
    def journal(self, limit: int = 100, after: int = 0) -> list[dict]:
        return self._call("GET", "/journal", params={"limit": limit, "after": after})["entries"]

    def integrity(self) -> dict:
        return self._call("GET", "/integrity")

    def client_report(self) -> dict:
        """How the client behaved, rule by rule (GET /client-report)."""
        return self._call("GET", "/client-report")

    def client_report_text(self) -> str:
        r = self.http.get("/client-report", params={"format": "text"})
        if r.status_code >= 400:
            raise ControlPlaneError(f"GET {CONTROL_PREFIX}/client-report answered {r.status_code}: {r.text[:500]}")
        return r.text

    def clear_client_report(self) -> dict:
        """Grade afresh from now (DELETE /client-report)."""
        return self._call("DELETE", "/client-report")
