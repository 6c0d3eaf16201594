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
from conformance.provenance import PAGE, Source, source_for
from contract import CONTRACT

MAX_EXAMPLES_PER_CHECK = 3
EXIT_CONFORMANT, EXIT_VIOLATIONS, EXIT_CANNOT_RUN = 0, 1, 2


@dataclass
class Failure:
    message: str
    curl: str | None
    source: Source | None = None  # the check's source: what the target broke (provenance.py)


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
    source: Source | None = None  # where the rule comes from (conformance.provenance); None: unknown name
    asserted: bool = True  # False under --documented-only for a rule the endpoint page does not state

    @property
    def outcome(self) -> str:
        if self.failed:
            return "failed"
        if self.passed:
            return "passed"
        return "skipped" if self.skipped else "not exercised"


class Results:
    def __init__(
        self,
        *,
        target: str | None = None,
        strict: bool = False,
        fail_on_skip: bool = False,
        documented_only: bool = False,
    ):
        # The run as asked: what the reports say was judged, and how.
        self.target = target
        self.strict = strict
        self.fail_on_skip = fail_on_skip
        # --documented-only: only what the endpoint page states decides the verdict; the rest is
        # still recorded (and reported as "not asserted") so nothing seen is hidden.
        self.documented_only = documented_only
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
            source = source_for(name)
            asserted = not self.documented_only or (source is not None and source.kind == PAGE)
            rec = self.records[name] = CheckRecord(name, kind, strict, source=source, asserted=asserted)
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
            rec.failures.append(Failure(message, curl or (exchange.curl() if exchange else None), rec.source))

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
        """The failures that decide the verdict (under --documented-only: the page's rules only)."""
        return [r.name for r in self.records.values() if r.failed and r.asserted]

    @property
    def unasserted_failed_names(self) -> list[str]:
        """Failures of rules --documented-only does not assert: reported, never hidden, not judged."""
        return [r.name for r in self.records.values() if r.failed and not r.asserted]

    def failures_by_source(self) -> dict[str, list[CheckRecord]]:
        """Failed records grouped by where their rule comes from (the page, a docs page, a decision),
        page first, then docs, then decisions in number order: what a report lists them under."""
        groups: dict[str, list[CheckRecord]] = {}
        order: dict[str, tuple] = {}
        for rec in self.records.values():
            if not rec.failed:
                continue
            src = rec.source
            key = src.group if src else "unknown source"
            groups.setdefault(key, []).append(rec)
            rank = {"page": 0, "docs": 1, "decision": 2}[src.kind] if src else 3
            order[key] = (rank, (src.number or 0) if src else 0, key)
        return {k: groups[k] for k in sorted(groups, key=lambda k: order[k])}

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
