"""What every scenario module builds on: the run's context, the `Scenario` record and its decorator.

The scenario modules (`conformance.scenarios` and the ones it lists) import this module and never
each other, so the kit has no import circle and the run order is written in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from conformance.client import PoliteClient
from conformance.exchange import Exchange
from conformance.results import Results
from conformance.target import Account, Provisioned, Target
from contract import CONTRACT

STATUS = CONTRACT.codes  # error code -> its documented status
OK = CONTRACT.success_status


class ScenarioSkipped(Exception):
    pass


class ScenarioStopped(Exception):
    """A precondition failed; the expectation that failed is already recorded."""


@dataclass
class Options:
    strict: bool = False
    burst: bool = False
    burst_limit: int = 200
    only: frozenset[str] = frozenset()  # scenario names to run; empty: all
    concurrency: int = 8  # simultaneous revokes of one account in the race scenario


class Context:
    def __init__(self, client: PoliteClient, target: Target, results: Results, options: Options):
        self.client = client
        self.target = target
        self.results = results
        self.options = options
        self.state: dict = {}

    def expect(
        self,
        name: str,
        condition: bool,
        message: str,
        exchange: Exchange | None = None,
        *,
        strict: bool = False,
        stop: bool = False,
        curl: str | None = None,
    ) -> bool:
        if condition:
            self.results.passed(name, "scenario", strict)
        else:
            label = f"{exchange.label}: " if exchange else ""
            self.results.failed(name, "scenario", label + message, exchange, strict, curl=curl)
            if stop:
                raise ScenarioStopped(name)
        return condition

    def expect_error(
        self, name: str, exchange: Exchange, code: str, *, strict: bool = False, stop: bool = False
    ) -> bool:
        """The exchange answered the status the contract pins to `code`, with that code."""
        status = CONTRACT.status_for_code(code)
        body = exchange.json()
        actual = (
            body.get("error", {}).get("code")
            if isinstance(body, dict) and isinstance(body.get("error"), dict)
            else None
        )
        return self.expect(
            name,
            exchange.status == status and actual == code,
            f"expected {status} {code}, got {exchange.status} {actual or exchange.response.text[:120]!r}",
            exchange,
            strict=strict,
            stop=stop,
        )

    def skipped_because(self, scenario_name: str) -> str | None:
        """Why an earlier scenario this one builds on was skipped (the same reason applies)."""
        rec = self.results.records.get(scenario_name)
        return rec.skipped if rec is not None and not rec.passed else None

    def account(self, prefer: str = "queued") -> Account:
        """An account to use up. `queued`: the one with most queued posts, so that a revoke that
        cancels nothing cannot pass; `empty`: the one with fewest (it will not be revoked)."""
        if not self.target.accounts:
            raise ScenarioSkipped(
                "no account left to revoke (give more with --accounts)"
                if self.target.had_accounts
                else "needs --accounts or --mock-control (accounts the run may revoke)"
            )
        pick = (max if prefer == "queued" else min)(self.target.accounts, key=lambda a: a.queued)
        self.target.accounts.remove(pick)
        return pick

    @property
    def mock(self) -> Provisioned:
        """What the kit made on the mock (a scenario that asks declares `needs=needs_mock`)."""
        if self.target.provisioned is None:
            raise ScenarioSkipped(needs_mock(self.target, self.options) or "")
        return self.target.provisioned

    @property
    def foreign_account_id(self) -> str:
        """Another organization's account (a scenario that asks declares `needs=needs_foreign`)."""
        if self.target.foreign_account_id is None:
            raise ScenarioSkipped(needs_foreign(self.target, self.options) or "")
        return self.target.foreign_account_id

    def revoke(self, account_id: str, label: str, token: str | None = "default", **kw) -> Exchange:
        token = self.target.scenario_key if token == "default" else token
        return self.client.revoke(account_id, token=token, label=label, **kw)


@dataclass
class Scenario:
    name: str
    run: Callable[[Context], None]
    strict: bool = False
    needs: Callable[[Target, Options], str | None] = lambda target, options: None  # a reason to skip, or None


def scenario(name: str, *, strict: bool = False, needs=None) -> Callable[[Callable[[Context], None]], Scenario]:
    """Make the decorated function a `Scenario`. Nothing is registered: each scenario module lists
    its scenarios in its own `SCENARIOS`, and `conformance.scenarios` lists the modules, in run order."""

    def make(fn: Callable[[Context], None]) -> Scenario:
        return Scenario(name, fn, strict, needs or (lambda target, options: None))

    return make


# What a scenario needs beyond --api-key: a reason to skip it, or None. They look at the target
# and the options only, so `--list` can say it before any run.


def needs_read_only(target: Target, options: Options) -> str | None:
    return None if target.read_only_key else "needs --read-only-key"


def needs_foreign(target: Target, options: Options) -> str | None:
    return None if target.foreign_account_id else "needs --foreign-account-id"


def needs_accounts(target: Target, options: Options) -> str | None:
    if target.had_accounts or target.mock:
        return None  # whether enough are left is ctx.account()'s to say
    return "needs --accounts or --mock-control (accounts the run may revoke)"


def needs_mock(target: Target, options: Options) -> str | None:
    return None if target.mock else "needs --mock-control (cannot be triggered on purpose elsewhere)"


def needs_rate_limit(target: Target, options: Options) -> str | None:
    if target.mock or options.burst:
        return None
    return "needs --burst (spends the key's rate budget) or --mock-control"
