"""What a run found: one record per named check or scenario expectation, and the statuses seen.

Names are what a CI log reader greps for (`foreign_account_answers_404`), so a record is keyed
by the check's name; repeated failures of one check keep the first few examples, each with the
curl line that reproduces it.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from conformance.exchange import Exchange

MAX_EXAMPLES_PER_CHECK = 3


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
    def __init__(self):
        self.records: dict[str, CheckRecord] = {}
        self.statuses: Counter[int] = Counter()
        self.requests = 0
        self.notes: list[str] = []
        self.seconds = 0.0  # the whole run

    def _record(self, name: str, kind: str, strict: bool) -> CheckRecord:
        rec = self.records.get(name)
        if rec is None:
            rec = self.records[name] = CheckRecord(name, kind, strict)
        return rec

    def passed(self, name: str, kind: str, strict: bool = False) -> None:
        self._record(name, kind, strict).passed += 1

    def failed(self, name: str, kind: str, message: str, exchange: Exchange | None = None,
               strict: bool = False, curl: str | None = None) -> None:
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
        """"needs --mock-control: a, b; needs --read-only-key: c", grouped by reason."""
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
