"""How big hosted sandboxes may grow: the limits, their defaults (control.yaml's `Limits`) and the check."""

from __future__ import annotations

from dataclasses import dataclass

from contract.control import CONTROL
from mock_server.core.errors import ApiError, control_error
from mock_server.storage.queries import LOCAL_SANDBOX
from mock_server.tenancy.routing import SANDBOXES_PATH

_DEFAULTS = CONTROL.limit_defaults


@dataclass(frozen=True)
class Limits:
    """Defaults (documented in control.yaml), and why:
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

    idle_ttl: float = float(_DEFAULTS["idleTtlSeconds"])
    max_sandboxes: int = _DEFAULTS["maxSandboxes"]
    max_accounts: int = _DEFAULTS["maxAccountsPerSandbox"]
    max_posts: int = _DEFAULTS["maxPostsPerSandbox"]

    @property
    def max_others(self) -> int:
        return max(self.max_accounts, 1000)

    def describe(self) -> dict:
        return {
            "idleTtlSeconds": self.idle_ttl,
            "maxSandboxes": self.max_sandboxes,
            "maxAccountsPerSandbox": self.max_accounts,
            "maxPostsPerSandbox": self.max_posts,
            "maxOrganizationsKeysAndTestAccountsPerSandbox": self.max_others,
        }

    def check_growth(self, q, accounts: int = 0, posts: int = 0, others: int = 0) -> None:
        """Refuse (409 LIMIT_EXCEEDED, nothing written) what would take `q`'s hosted sandbox past
        the limits. `others`: organizations, keys and test accounts, bounded together by the
        accounts' limit. Holds the sandbox's row (PostgreSQL) so two writers check one after the other."""
        if q.sandbox == LOCAL_SANDBOX or not (accounts or posts or others):
            return
        q.sandbox_row(q.sandbox, lock=True)
        counts = q.counts(("accounts", "posts", "organizations", "api_keys", "test_accounts"))
        existing_others = counts["organizations"] + counts["api_keys"] + counts["test_accounts"]
        if existing_others + others > self.max_others:
            raise limit_exceeded("organizations, keys and test accounts", self.max_others, existing_others, others)
        if counts["accounts"] + accounts > self.max_accounts:
            raise limit_exceeded("accounts", self.max_accounts, counts["accounts"], accounts)
        if counts["posts"] + posts > self.max_posts:
            raise limit_exceeded("posts", self.max_posts, counts["posts"], posts)

    def check_new_sandbox(self, fixture: dict) -> None:
        """Refuse a sandbox whose fixture alone is past the per-sandbox limits."""
        accounts, posts, others = fixture_size(fixture)
        if accounts > self.max_accounts:
            raise limit_exceeded("accounts", self.max_accounts, 0, accounts)
        if posts > self.max_posts:
            raise limit_exceeded("posts", self.max_posts, 0, posts)
        if others > self.max_others:
            raise limit_exceeded("organizations, keys and test accounts", self.max_others, 0, others)


def limit_exceeded(what: str, limit: int, current: int, adding: int) -> ApiError:
    return control_error(
        "LIMIT_EXCEEDED",
        f"This would make {current + adding} {what}; the limit is {limit}"
        f" (a sandbox holds up to the limits in GET {SANDBOXES_PATH}).",
        details={"limit": what, "max": limit, "current": current, "adding": adding},
    )


def fixture_size(fixture: dict) -> tuple[int, int, int]:
    """(accounts, posts, others) a validated fixture would add (`others`: organizations, keys
    and test accounts)."""
    accounts = fixture.get("accounts", [])
    others = sum(len(fixture.get(k, [])) for k in ("organizations", "keys", "testAccounts"))
    return len(accounts), sum(int(n) for a in accounts for n in (a.get("posts") or {}).values()), others
