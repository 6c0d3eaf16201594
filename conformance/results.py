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

    def saw(self, status: int) -> None:
        self.statuses[status] += 1

    @property
    def failed_names(self) -> list[str]:
        return [r.name for r in self.records.values() if r.failed]

    @property
    def conformant(self) -> bool:
        return not self.failed_names
