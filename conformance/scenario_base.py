"""What every scenario module builds on: the run's context, the `Scenario` record and its decorator.

The scenario modules (`conformance.scenarios` and the ones it lists) import this module and never
each other, so the kit has no import circle and the run order is written in one place.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from conformance.client import RATE_LIMITED, PoliteClient, budget_hint
from conformance.exchange import Exchange
from conformance.ids import unknown_account_id
from conformance.results import Results
from conformance.target import Account, Provisioned, Target
from conformance.transport import RunStopped
from contract import CONTRACT

STATUS = CONTRACT.codes  # error code -> its documented status
OK = CONTRACT.success_status
BURST_PROGRESS_EVERY = 50  # a progress line every this many burst requests
T = TypeVar("T")


class ScenarioSkipped(Exception):
    pass


class ScenarioStopped(Exception):
    """A precondition failed; the expectation that failed is already recorded."""


class AccountsStale(RunStopped):
    """The accounts handed to the run are not connected: the run cannot be made with them (exit 2)."""


@dataclass
class Touched:
    """What one scenario recorded (its thread's share of the run): for its time and its progress line."""

    expectations: set[str] = field(default_factory=set)
    failed: list[str] = field(default_factory=list)


@dataclass
class Options:
    strict: bool = False
    burst: bool = False
    burst_limit: int = 200
    only: frozenset[str] = frozenset()  # scenario names to run; empty: all
    concurrency: int = 8  # simultaneous revokes of one account in the race scenario
    parallel: int = 8  # scenarios (and requests) in flight at once
    key_tier: str | None = None  # the key's rate-limit tier, when the operator said it


class Context:
    def __init__(self, client: PoliteClient, target: Target, results: Results, options: Options):
        self.client = client
        self.target = target
        self.results = results
        self.options = options
        self.state: dict = {}
        # Scenarios run on several threads (conformance.schedule): everything that writes the
        # results, or takes an account, holds the pipeline's lock, the one lock of the run's results.
        self.lock = client.pipeline.lock
        self._local = threading.local()
        self.progress: Callable[[str], None] = client.progress

    @contextlib.contextmanager
    def tracking(self) -> Iterator[Touched]:
        """Collect what the scenario running on this thread records, checks of the pipeline included."""
        touched = self._local.touched = Touched()
        with self.client.pipeline.tracking() as checks_failed:
            try:
                yield touched
            finally:
                self._local.touched = None
                touched.failed.extend(n for n in checks_failed if n not in touched.failed)

    def _touch(self, name: str, failed: bool) -> None:
        touched = getattr(self._local, "touched", None)
        if touched is not None:
            touched.expectations.add(name)
            if failed and name not in touched.failed:
                touched.failed.append(name)

    def each(self, items: Iterable[T], fn: Callable[[T], object]) -> None:
        """`fn(item)` for every item, as `together` runs them."""
        self.together([partial(fn, item) for item in items])

    def together(self, calls: Iterable[Callable[[], object]]) -> None:
        """Every call, at the same time within `--parallel`: for a scenario whose
        requests do not depend on each other's answers (a list of malformed ids, of lenient
        credentials), so that a slow target costs one answer's wait per `--parallel` requests, not
        one per call. What each call records counts for the calling scenario (its time, its
        progress line, its failed checks). Every call runs even when one fails; then the first
        error (in the calls' order) is raised, as the loop would have. `--parallel 1`: a plain
        loop, in order."""
        calls = list(calls)
        width = min(self.options.parallel, len(calls))
        if width <= 1:
            for call in calls:
                call()
            return
        touched = getattr(self._local, "touched", None)
        checks_failed = self.client.pipeline.tracked()

        def one(call: Callable[[], object]) -> None:
            self._local.touched = touched
            with self.client.pipeline.tracking(checks_failed):
                try:
                    call()
                finally:
                    self._local.touched = None

        with ThreadPoolExecutor(max_workers=width, thread_name_prefix="together") as pool:
            futures = [pool.submit(one, call) for call in calls]
        for future in futures:
            if future.exception() is not None:
                raise future.exception()  # type: ignore[misc]

    def skip(self, sc: Scenario, reason: str) -> None:
        with self.lock:
            self.results.skipped(sc.name, "scenario", reason, sc.strict)

    def add_time(self, names: set[str], seconds: float) -> None:
        with self.lock:
            for name in names:
                self.results.add_time(name, seconds)

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
        with self.lock:
            if condition:
                self.results.passed(name, "scenario", strict)
            else:
                label = f"{exchange.label}: " if exchange else ""
                self.results.failed(name, "scenario", label + message, exchange, strict, curl=curl)
            self._touch(name, not condition)  # under the lock: `Context.each` shares one record among threads
        if not condition and stop:
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
        with self.lock:  # two scenarios at once never get the same account
            if not self.target.accounts:
                raise ScenarioSkipped("no account left to revoke (give more with --accounts)")
            pick = (max if prefer == "queued" else min)(self.target.accounts, key=lambda a: a.queued)
            self.target.accounts.remove(pick)
        return pick

    def first_revoke(self, label: str = "revoke an account") -> tuple[Account, Exchange]:
        """The run's first revoke of an account it was handed, and the stale-account check.

        The scheduler starts every scenario that revokes handed accounts after this one, so this
        is the first destructive request of the run. A 404 NOT_FOUND here says the account is not
        connected: the file was used up by an earlier run (a re-run with the same --accounts). That
        is not the server's violation, and the run cannot be made with such accounts: exit 2, with
        what to do. (A server that cannot find a connected account looks the same from outside:
        the message says so.)"""
        account = self.account()
        ex = self.revoke(account.id, label)
        body = ex.json()
        error = body.get("error") if isinstance(body, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        if (
            self.target.had_accounts
            and not self.target.mock
            and ex.status == STATUS["NOT_FOUND"]
            and code == "NOT_FOUND"
        ):
            raise AccountsStale(
                f"stale accounts: {account.id} from {self.target.accounts_source} answered "
                f"{ex.status} NOT_FOUND to the run's first revoke, before anything else was revoked: it is "
                "not connected (an earlier run revoked it?). Give accounts that are connected: a fresh "
                "accounts file, or --accounts-command to provision them for each run. If that account "
                "is connected, the server could not find it, and that is the bug to look at."
            )
        return account, ex

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

    def burst_until_429(self, token: str) -> Exchange:
        """Revokes of unknown ids (they spend budget and change nothing) until the target answers
        429, at most --burst-limit of them, with a progress line every BURST_PROGRESS_EVERY. None
        came: the scenario is skipped with the budget it ran into and how to reach it."""
        limit = self.options.burst_limit
        for i in range(limit):
            ex = self.revoke(unknown_account_id(), f"burst request {i + 1}", token=token, expect_429=True)
            if ex.status == RATE_LIMITED:
                self.progress(f"  [burst] 429 after {i + 1} request(s)")
                return ex
            if (i + 1) % BURST_PROGRESS_EVERY == 0 and i + 1 < limit:
                self.progress(f"  [burst] {i + 1} of at most {limit} requests (--burst-limit), no 429 yet")
        tier = self.options.key_tier
        per_minute = CONTRACT.rate_limit_tiers[tier]["perMinute"] if tier else None
        if per_minute is not None and per_minute < limit:
            reach = f"the burst should have passed it: is --key-tier {tier} the key's tier, and is the budget enforced?"
        elif per_minute is not None:
            reach = f"to reach it, --burst-limit {per_minute + 1} or more, or a key of a smaller tier"
        else:
            reach = "to reach it, --burst-limit above the key's budget, or a key of a smaller tier"
        raise ScenarioSkipped(f"no 429 within --burst-limit {limit} requests: {budget_hint(tier)}; {reach}")

    def revoke(self, account_id: str, label: str, token: str | None = "default", **kw) -> Exchange:
        token = self.target.scenario_key if token == "default" else token
        return self.client.revoke(account_id, token=token, label=label, **kw)


@dataclass
class Scenario:
    name: str
    run: Callable[[Context], None]
    strict: bool = False
    needs: Callable[[Target, Options], str | None] = lambda target, options: None  # a reason to skip, or None
    # Scheduling (conformance.schedule): the scenarios whose ctx.state this one reads, and whether
    # it must run alone (it changes what every other request would meet).
    after: frozenset[str] = frozenset()
    exclusive: bool = False


def scenario(
    name: str, *, strict: bool = False, needs=None, after: tuple[str, ...] = (), exclusive: bool = False
) -> Callable[[Callable[[Context], None]], Scenario]:
    """Make the decorated function a `Scenario`. Nothing is registered: each scenario module lists
    its scenarios in its own `SCENARIOS`, and `conformance.scenarios` lists the modules, in run order."""

    def make(fn: Callable[[Context], None]) -> Scenario:
        return Scenario(name, fn, strict, needs or (lambda target, options: None), frozenset(after), exclusive)

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
