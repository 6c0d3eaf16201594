"""A tiny Layers client, in the published page's Python call style:

    layers = Layers(base_url="https://api.layers.com", api_key="lp_...")
    result = layers.social.revoke(social_account_id="sa_9c1e42a0-...")

This stands for a partner's own client code, so it does not import the kit: the few facts it needs
from the page are written once, here, and `test_offboard_customer.py` checks them against the
kit's contract (`contract.CONTRACT`), which is how a partner notices when the API changes.
"""

from __future__ import annotations

import requests

REVOKE_PATH = "/v1/social-accounts/{socialAccountId}"
RETRY_AFTER_HEADER = "Retry-After"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# The error codes this integration acts on (the page's catalog has more).
NOT_FOUND = "NOT_FOUND"
RATE_LIMITED = "RATE_LIMITED"
INTERNAL = "INTERNAL"
KILL_SWITCH = "KILL_SWITCH"


class LayersError(Exception):
    """An error envelope from the API: `code`, `message`, `request_id` (quote it to Layers)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        request_id: str | None,
        details: dict | None = None,
        retry_after: int | None = None,
    ):
        super().__init__(f"{status} {code}: {message} (requestId {request_id})")
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.details = details or {}
        self.retry_after = retry_after


class _Social:
    def __init__(self, client: Layers):
        self._client = client

    def revoke(self, *, social_account_id: str, idempotency_key: str | None = None) -> dict:
        """Disconnect an account; returns the body (`canceledScheduledPosts` is the audit trail)."""
        # The resource calls its client's one transport method, as SDKs split resources from the client.
        return self._client._delete(REVOKE_PATH.format(socialAccountId=social_account_id), idempotency_key)  # noqa: SLF001


class Layers:
    def __init__(
        self,
        base_url: str = "https://api.layers.com",
        api_key: str | None = None,
        *,
        session: requests.Session | None = None,
        timeout: float = 30.0,
    ):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"Bearer {api_key}"
        self.social = _Social(self)

    def _delete(self, path: str, idempotency_key: str | None) -> dict:
        headers = {IDEMPOTENCY_HEADER: idempotency_key} if idempotency_key else {}
        response = self.session.delete(self.base_url + path, headers=headers, timeout=self.timeout)
        if response.ok:
            return response.json()
        try:
            error = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            error = {"code": f"HTTP_{response.status_code}", "message": response.text[:200]}
        retry_after = response.headers.get(RETRY_AFTER_HEADER)
        raise LayersError(
            response.status_code,
            error.get("code", ""),
            error.get("message", ""),
            error.get("requestId"),
            error.get("details"),
            int(retry_after) if retry_after and retry_after.isdigit() else None,
        )
