"""One pipeline of checks: every response the kit receives, from any phase, is judged here.

Fuzzed cases, scenario requests, the concurrent burst and the boundary inputs all go out
through `PoliteClient.send`, which hands each exchange to `Pipeline.judge`. The pipeline runs
every check that applies to the response's status, so no rule depends on which phase happened
to produce a response; scenarios only add expectations of their own on top.

Two kinds of checks run here:
- the response-only checks of `conformance.checks` (schemathesis' `(ctx, response, case)` shape);
- checks that need what the kit knows about the request: which account it named, how many
  queued posts that account had, whether the kit caused a 5xx on purpose.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator

from conformance.checks import RESPONSE_CHECKS, STRICT_RESPONSE_CHECKS, applies_to, body_text
from conformance.exchange import Exchange
from conformance.results import Results
from conformance.truth import TRUTH_CHECKS, Truth
from contract import CONTRACT

OK = CONTRACT.success_status
NOT_FOUND = CONTRACT.status_for_code("NOT_FOUND")

# Wording that tells a caller the account exists elsewhere. The generic "not in your
# organization" of the docs' own 404 row is fine: it says the same for every missing account.
LEAKY_404 = re.compile(
    r"(another|other|different|foreign|someone else'?s?)\s+(organi[sz]ation|org|tenant|workspace|customer)"
    r"|belongs\s+to|owned\s+by|not\s+(yours|your\s+account)|\borg_[A-Za-z0-9]{4,}",
    re.IGNORECASE,
)


def _body(exchange: Exchange) -> dict:
    data = exchange.json()
    return data if isinstance(data, dict) else {}


@applies_to("every response (5xx the kit did not cause on purpose)")
def no_unexpected_server_error(pipeline: Pipeline, exchange: Exchange):
    """A 5xx the kit did not deliberately cause (fault armed, kill switch on) is a violation."""
    if exchange.deliberate_5xx:
        return None
    if exchange.status < 500:
        return True
    hint = ""
    error = _body(exchange).get("error")
    if isinstance(error, dict) and error.get("code") == "KILL_SWITCH":
        hint = " (if your key or organization is switched off on purpose, switch it on and run again)"
    raise AssertionError(
        f"answered {exchange.status} to a request the kit did not mean to fail{hint};"
        f" body: {body_text(exchange.response)}"
    )


@applies_to("200 responses")
def revoke_echoes_account_id(pipeline: Pipeline, exchange: Exchange):
    """A 200 names the account the path named (the page: the revoked account's id)."""
    if exchange.status != OK or exchange.path_account_id is None:
        return None
    actual = _body(exchange).get("socialAccountId")
    assert actual == exchange.path_account_id, (
        f"socialAccountId is {actual!r}, the path said {exchange.path_account_id!r}"
    )
    return True


@applies_to("200 responses for accounts whose queued posts are known (--accounts, --mock-control)")
def canceled_posts_equal_queued(pipeline: Pipeline, exchange: Exchange):
    """canceledScheduledPosts equals the account's queued posts, on every 200 (replays too)."""
    if exchange.status != OK:
        return None
    queued = pipeline.known_queued.get(exchange.path_account_id or "")
    if queued is None:
        return None
    actual = _body(exchange).get("canceledScheduledPosts")
    assert actual == queued, (
        f"canceledScheduledPosts is {actual!r}, the account had {queued} queued posts"
        " (the page: every queued post is canceled, and the count is the audit trail)"
    )
    return True


@applies_to("404 responses")
def not_found_reveals_nothing(pipeline: Pipeline, exchange: Exchange):
    """A 404 never says the account exists somewhere else (the page: 404 "so the API doesn't leak
    cross-org existence")."""
    if exchange.status != NOT_FOUND:
        return None
    error = _body(exchange).get("error")
    message = error.get("message") if isinstance(error, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    text = " ".join(str(x) for x in (message, details) if x)
    match = LEAKY_404.search(text)
    assert match is None, f"the 404 says {match.group(0)!r}: {message!r} leaks that the account exists elsewhere"
    return True


EXCHANGE_CHECKS = [
    no_unexpected_server_error,
    revoke_echoes_account_id,
    canceled_posts_equal_queued,
    not_found_reveals_nothing,
    *TRUTH_CHECKS,
]


def all_checks(strict: bool) -> list:
    """Every check the pipeline runs, in report order (for --list and the skip count)."""
    return [*RESPONSE_CHECKS, *EXCHANGE_CHECKS, *(STRICT_RESPONSE_CHECKS if strict else [])]


def is_strict(check) -> bool:
    return check in STRICT_RESPONSE_CHECKS


class Pipeline:
    def __init__(self, results: Results, *, strict: bool = False):
        self.results = results
        self.strict = strict
        self.known_queued: dict[str, int] = {}
        self.truth = Truth()  # what the truth checks remember over the run (conformance.truth)
        # Scenarios send from several threads at once (conformance.schedule, the race scenario):
        # this lock guards every write to the results, the scenarios' own included.
        self.lock = threading.RLock()
        self._local = threading.local()

    @contextlib.contextmanager
    def tracking(self, failed: list[str] | None = None) -> Iterator[list[str]]:
        """The names of the checks that fail on this thread's exchanges while inside (a scenario's).
        `failed`: another thread's list (`tracked()`), for the requests a scenario sends from helper
        threads (`Context.each`)."""
        failed = [] if failed is None else failed
        self._local.failed = failed
        try:
            yield failed
        finally:
            self._local.failed = None

    def tracked(self) -> list[str] | None:
        """This thread's list of failed checks while inside `tracking`, else None."""
        return getattr(self._local, "failed", None)

    def know(self, account_id: str, queued: int) -> None:
        """The account's queued posts before any revoke: what every 200 for it must report."""
        self.known_queued[account_id] = queued

    def judge(self, exchange: Exchange) -> None:
        response = exchange.checked_response
        with self.lock:
            self.results.saw(exchange.status)
            for check in RESPONSE_CHECKS + (STRICT_RESPONSE_CHECKS if self.strict else []):
                self._run(check, exchange, lambda c=check: c(None, response, None))
            for check in EXCHANGE_CHECKS:
                self._run(check, exchange, lambda c=check: c(self, exchange))

    def _run(self, check, exchange: Exchange, call) -> None:
        started = time.perf_counter()
        try:
            applied = call()
        except AssertionError as exc:
            self.results.failed(check.__name__, "check", f"{exchange.label}: {exc}", exchange, strict=is_strict(check))
            failed = getattr(self._local, "failed", None)
            if failed is not None and check.__name__ not in failed:
                failed.append(check.__name__)
        else:
            if applied:
                self.results.passed(check.__name__, "check", strict=is_strict(check))
        self.results.add_time(check.__name__, time.perf_counter() - started)

    def finish(self) -> None:
        """Checks that judged no response are skipped, with the responses they wait for."""
        for check in all_checks(self.strict):
            rec = self.results.records.get(check.__name__)
            if rec is None or not (rec.passed or rec.failed):
                self.results.skipped(
                    check.__name__, "check", f"no response it applies to: {check.applies_to}", strict=is_strict(check)
                )
