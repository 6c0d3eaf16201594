"""`LayersMock`: what a test gets from the `layers_mock` fixture.

Each test starts from the mock's default world (the one `layers-mock` prints at start-up): the
plugin resets the mock before the test, so nothing a test revoked, killed or broke is seen by the
next one. The keys and organizations below are read from that world file, never retyped.

Against a live target (`--layers-base-url`) only `base_url`, the keys, `url_for`, `auth` and
`revoke` work; every helper that needs the mock's control plane skips the test and says why.
"""

from __future__ import annotations

from functools import cache
from typing import Any, NoReturn

import httpx
import pytest

from contract import CONTRACT
from layers_pytest.target import Target


@cache
def _default_world() -> dict:
    from contract.world import default_world

    return default_world()


class _WorldKeys:
    """The default world's ready keys, chosen by what they can do rather than by their labels."""

    def __init__(self, world: dict):
        scope = CONTRACT.required_scope
        keys = world["keys"]
        # An explicit grant of the revoke scope (not the wildcard key, which proves something else).
        self.write = next(k for k in keys if scope in k.get("scopes", []))
        self.organization_id = self.write["organizationId"]
        self.read_only = next(
            k
            for k in keys
            if k["organizationId"] == self.organization_id
            and scope not in k.get("scopes", [])
            and "*" not in k.get("scopes", [])
        )
        self.other_organization_id = next(o["id"] for o in world["organizations"] if o["id"] != self.organization_id)


class ClockSleep:
    """A stand-in for `time.sleep` that moves the mock's clock instead of waiting.

    Hand it to code that sleeps between retries: "waiting" N seconds advances the mock's clock
    by N seconds (so a rate-limit window really has passed when the code retries), and every
    duration is recorded in `calls` for the test to check.
    """

    def __init__(self, harness: LayersMock):
        self._harness = harness
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if seconds > 0:
            self._harness.advance_clock(seconds)

    @property
    def total(self) -> float:
        return sum(self.calls)


class LayersMock:
    """Helpers over one reset mock world (or a live target, with the control-plane parts skipped)."""

    def __init__(self, target: Target, control=None):
        self.target = target
        self._control = control
        self._http = httpx.Client(base_url=target.base_url, timeout=30.0)
        self._sleep: ClockSleep | None = None
        if target.live:
            self._keys = None
        elif target.key_secrets:
            # A hosted mock's sandbox: the default world's keys, with the sandbox's own secrets.
            world = _default_world()
            keys = [{**k, "secret": target.key_secrets.get(k["id"], k["secret"])} for k in world["keys"]]
            self._keys = _WorldKeys({**world, "keys": keys})
        else:
            self._keys = _WorldKeys(_default_world())

    def close(self) -> None:
        self._http.close()

    # -- where and who ---------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self.target.base_url

    @property
    def live(self) -> bool:
        return self.target.live

    @property
    def write_key(self) -> str:
        """A key with the revoke scope (the default world's; or `--layers-api-key` when live)."""
        if self._keys is not None:
            return self._keys.write["secret"]
        if not self.target.write_key:
            pytest.skip(f"no API key for {self.base_url}: pass --layers-api-key or set LAYERS_API_KEY")
        return self.target.write_key

    @property
    def read_only_key(self) -> str:
        """A key of the same organization without the revoke scope."""
        if self._keys is not None:
            return self._keys.read_only["secret"]
        if not self.target.read_only_key:
            pytest.skip(
                f"no read-only key for {self.base_url}: pass --layers-read-only-key or set LAYERS_READ_ONLY_KEY"
            )
        return self.target.read_only_key

    @property
    def write_key_id(self) -> str:
        return self._world().write["id"]

    @property
    def read_only_key_id(self) -> str:
        return self._world().read_only["id"]

    @property
    def organization_id(self) -> str:
        """The organization the ready keys belong to."""
        return self._world().organization_id

    @property
    def other_organization_id(self) -> str:
        return self._world().other_organization_id

    @property
    def example_account_id(self) -> str:
        """The published page's example account; in a fresh world it has 4 queued posts."""
        self._world()
        return CONTRACT.example_account_id

    def url_for(self, account_id: str) -> str:
        """The full revoke URL of an account."""
        return self.base_url + CONTRACT.path_for(account_id)

    def auth(self, key: str | None = None) -> dict:
        """`Authorization` header for `key` (default: the write key), for requests/httpx calls."""
        return {"Authorization": f"Bearer {key or self.write_key}"}

    def revoke(self, account_id: str, *, key: str | None = None, idempotency_key: str | None = None) -> httpx.Response:
        """Send one revoke and return the raw response (for setting up or checking state)."""
        headers = self.auth(key)
        if idempotency_key is not None:
            headers[CONTRACT.idempotency_header] = idempotency_key
        return self._http.request(CONTRACT.method.upper(), CONTRACT.path_for(account_id), headers=headers)

    # -- the control plane -----------------------------------------------------------------
    def _skip_without_mock(self) -> NoReturn:
        pytest.skip(f"needs the mock's control plane; running against {self.base_url}")

    @property
    def control(self):
        """The mock's `ControlClient`, for anything the helpers below do not cover."""
        if self._control is None:
            self._skip_without_mock()
        return self._control

    def _world(self) -> _WorldKeys:
        """The default world's keys and organizations (they exist only on the mock)."""
        if self._keys is None:
            self._skip_without_mock()
        return self._keys

    def create_account(
        self,
        *,
        queued: int = 0,
        published: int = 0,
        leased: bool = False,
        other_organization: bool = False,
        posts: dict | None = None,
        **extra: Any,
    ) -> str:
        """Create a connected account (in the keys' organization unless `other_organization`)
        with `queued` and `published` posts (more statuses via `posts={...}`); returns its id."""
        counts = dict(posts or {})
        if published:
            counts["published"] = published
        organization = self.other_organization_id if other_organization else self.organization_id
        if leased:
            extra["leased"] = True
        created = self.control.create_account(organization, queued=queued, posts=counts, **extra)
        return created["socialAccountId"]

    def create_accounts(self, count: int, **kwargs: Any) -> list[str]:
        return [self.create_account(**kwargs) for _ in range(count)]

    def create_key(
        self, scopes: list[str] | None = None, *, tier: str = "partner", other_organization: bool = False
    ) -> dict:
        """A new key (`{"id", "secret", ...}`); by default with the revoke scope, in the keys' organization."""
        organization = self.other_organization_id if other_organization else self.organization_id
        scopes = [CONTRACT.required_scope] if scopes is None else scopes
        return self.control.create_key(organization, scopes, tier=tier)

    def account(self, account_id: str) -> dict:
        """An account as the mock holds it: status, lease, token presence, `postCounts`, posts."""
        return self.control.account(account_id)

    def kill_switch(self, scope: str = "key", *, enabled: bool = True, target: str | None = None) -> dict:
        """Disable (or re-enable) the partner API for a key (default: the write key), an
        organization (default: the keys' organization), or `global`ly."""
        if target is None and scope == "key":
            target = self.write_key_id
        elif target is None and scope == "organization":
            target = self.organization_id
        return self.control.kill_switch(scope, enabled, target)

    def set_budget(self, remaining: int, key_id: str | None = None) -> dict:
        """Leave `remaining` revokes in the key's current one-minute window."""
        return self.control.set_budget(key_id or self.write_key_id, remaining)

    def exhaust_budget(self, key_id: str | None = None) -> int:
        """Spend the key's whole window; returns the seconds until it resets on the mock's clock
        (the `Retry-After` the next revoke answers, when the clock is frozen)."""
        return int(self.set_budget(0, key_id)["windowResetsInSeconds"])

    def fail_next_revoke(self, count: int = 1, *, step: str = "cancel_posts", account_id: str | None = None) -> dict:
        """Make the next `count` revokes (of `account_id`, or any) fail mid-transaction: 500,
        nothing changed."""
        return self.control.arm_fault(step=step, count=count, account_id=account_id)

    def now(self) -> float:
        """The mock clock, in epoch seconds."""
        return float(self.control.clock()["epochSeconds"])

    def freeze_clock(self, at: str | None = None) -> dict:
        """Stop the mock's clock (at an ISO-8601 instant, or now) so time moves only when told."""
        body: dict = {"frozen": True}
        if at is not None:
            body["now"] = at
        return self.control.set_clock(**body)

    def advance_clock(self, seconds: float) -> dict:
        return self.control.set_clock(advanceSeconds=seconds)

    @property
    def sleep(self) -> ClockSleep:
        """A `time.sleep` replacement that advances the mock clock and records durations."""
        if self._control is None:  # skip here, against a live target, rather than at the first call
            self._skip_without_mock()
        if self._sleep is None:
            self._sleep = ClockSleep(self)
        return self._sleep

    def journal(self, limit: int = 1000) -> list[dict]:
        """The API requests the mock answered in this test, oldest first (keys redacted)."""
        return self.control.journal(limit=limit)

    def requests_for(self, account_id: str) -> list[dict]:
        """Journal entries for one account's revoke URL."""
        path = CONTRACT.path_for(account_id)
        return [e for e in self.journal() if e["path"] == path]

    def integrity(self) -> dict:
        """Half-revoked accounts or double revokes, if any (`{"ok": True, ...}` when sound)."""
        return self.control.integrity()

    # -- how the client behaved (the client report, issue 24) ---------------------------------
    def arm_scenario(self, steps: list[dict], *, account_id: str | None = None, key_id: str | None = None) -> dict:
        """Scripted answers for the next revokes of an account and/or key, one per request, e.g.
        `[{"status": 429, "retryAfter": 2}, {"status": 200}]`, `[{"status": 500}]`,
        `[{"status": 503, "scope": "organization"}]`, `[{"status": 404}]` (revoked first elsewhere)."""
        return self.control.arm_scenario(steps, account_id=account_id, key_id=key_id)

    def client_report(self) -> dict:
        """Every rule with its passes, flags and the requests that raised them (this test's requests)."""
        return self.control.client_report()

    def client_report_text(self) -> str:
        return self.control.client_report_text()

    def assert_client_behaved(self, severity: str = "advice") -> dict:
        """Fail the test if the client broke a rule at `severity` or above ("advice": any rule;
        "violation": only the page's own rules); the message names the rule, the request and the
        fix. Returns the report."""
        from mock_control.report import SEVERITIES, failure_message

        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}")
        report = self.client_report()
        message = failure_message(report, severity)
        if message is not None:
            raise ClientMisbehaved(message)
        return report


class ClientMisbehaved(AssertionError):
    """`assert_client_behaved()` found a flagged request (the message says which, and the fix)."""
