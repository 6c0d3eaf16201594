"""The one model of a run: what it found and how it ended. The reports (`conformance.report`:
console, JUnit XML, JSON) render this object and nothing else.

What it found: one record per named check or scenario expectation, and the statuses seen. Names
are what a CI log reader greps for (`foreign_account_answers_404`), so a record is keyed by the
check's name; repeated failures of one check keep the first few examples, each with the curl line
that reproduces it. How it ended: the exit code and, for a run that could not be made or was
stopped by a bound, the reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from conformance.exchange import Exchange
from contract import CONTRACT

MAX_EXAMPLES_PER_CHECK = 3
EXIT_CONFORMANT, EXIT_VIOLATIONS, EXIT_CANNOT_RUN = 0, 1, 2


@dataclass
class Failure:
    message: str
    curl: str | None


@dataclass
class CheckRecord:
    name: str
    kind: str  # "check" (every response), "schemathesis" (built-in), "scenario"
    strict: bool = False
    passed: int = 0
    failed: int = 0
    failures: list[Failure] = field(default_factory=list)
    skipped: str | None = None
    seconds: float = 0.0  # time spent on it: the scenario's requests, or the check's own work

    @property
    def outcome(self) -> str:
        if self.failed:
            return "failed"
        if self.passed:
            return "passed"
        return "skipped" if self.skipped else "not exercised"


class Results:
    def __init__(self, *, target: str | None = None, strict: bool = False, fail_on_skip: bool = False):
        # The run as asked: what the reports say was judged, and how.
        self.target = target
        self.strict = strict
        self.fail_on_skip = fail_on_skip
        # What it found.
        self.records: dict[str, CheckRecord] = {}
        self.statuses: Counter[int] = Counter()
        self.requests = 0
        self.notes: list[str] = []
        self.seconds = 0.0  # the whole run
        # How it ended (`end`).
        self.exit_code: int | None = None
        self.error: str | None = None  # why the run could not be made or was stopped; None: it completed

    def _record(self, name: str, kind: str, strict: bool) -> CheckRecord:
        rec = self.records.get(name)
        if rec is None:
            rec = self.records[name] = CheckRecord(name, kind, strict)
        return rec

    def passed(self, name: str, kind: str, strict: bool = False) -> None:
        self._record(name, kind, strict).passed += 1

    def failed(
        self,
        name: str,
        kind: str,
        message: str,
        exchange: Exchange | None = None,
        strict: bool = False,
        curl: str | None = None,
    ) -> None:
        rec = self._record(name, kind, strict)
        rec.failed += 1
        if len(rec.failures) < MAX_EXAMPLES_PER_CHECK:
            rec.failures.append(Failure(message, curl or (exchange.curl() if exchange else None)))

    def skipped(self, name: str, kind: str, reason: str, strict: bool = False) -> None:
        rec = self._record(name, kind, strict)
        rec.skipped = rec.skipped or reason

    def add_time(self, name: str, seconds: float) -> None:
        rec = self.records.get(name)
        if rec is not None:
            rec.seconds += seconds

    def saw(self, status: int) -> None:
        self.statuses[status] += 1

    def end(self, exit_code: int, error: str | None, seconds: float) -> None:
        self.exit_code, self.error, self.seconds = exit_code, error, seconds

    def judged_exit_code(self) -> int:
        """The exit code of a run that went to its end: violations, or skips under --fail-on-skip, are 1."""
        if not self.conformant or (self.fail_on_skip and self.skipped_names):
            return EXIT_VIOLATIONS
        return EXIT_CONFORMANT

    @property
    def complete(self) -> bool:
        """False: a bound stopped the run, or it could not start; never conformant."""
        return self.error is None

    def status_table(self) -> list[dict]:
        """Each documented status, its error code, and whether (how often) the target answered it."""
        return [
            {
                "status": status,
                "code": CONTRACT.responses[status].code,
                "seen": self.statuses[status] > 0,
                "count": self.statuses[status],
            }
            for status in CONTRACT.documented_statuses
        ]

    @property
    def undocumented_statuses(self) -> dict[int, int]:
        return {s: n for s, n in self.statuses.items() if s not in CONTRACT.responses}

    @property
    def failed_names(self) -> list[str]:
        return [r.name for r in self.records.values() if r.failed]

    @property
    def passed_names(self) -> list[str]:
        return [r.name for r in self.records.values() if r.outcome == "passed"]

    @property
    def skipped_names(self) -> list[str]:
        return [r.name for r in self.records.values() if r.outcome in ("skipped", "not exercised")]

    def skip_summary(self) -> str:
        """ "needs --mock-control: a, b; needs --read-only-key: c", grouped by reason."""
        groups: dict[str, list[str]] = {}
        for rec in self.records.values():
            if rec.outcome in ("skipped", "not exercised"):
                reason = (rec.skipped or "not exercised").split(" (", 1)[0]
                reason = reason.replace("no response it applies to: ", "no ")
                groups.setdefault(reason, []).append(rec.name)
        return "; ".join(f"{reason}: {', '.join(names)}" for reason, names in groups.items())

    @property
    def conformant(self) -> bool:
        return not self.failed_names
