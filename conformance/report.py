"""Reports of a run: the console summary, JUnit XML (one test case per check) and JSON."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from http import HTTPStatus

from contract import CONTRACT
from conformance.results import Results
from conformance.secrets import redact

# Characters XML 1.0 cannot hold; a hostile target's body may put them in a failure message.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def status_table(results: Results) -> list[dict]:
    rows = []
    for status in CONTRACT.documented_statuses:
        code = CONTRACT.responses[status].code
        rows.append({"status": status, "code": code, "seen": results.statuses[status] > 0,
                     "count": results.statuses[status]})
    return rows


def verdict(results: Results, exit_code: int, fail_on_skip: bool = False) -> str:
    """The result line, schemathesis-style: what was checked, what was skipped and why."""
    failed = results.failed_names
    passed, skipped = len(results.passed_names), len(results.skipped_names)
    counts = f"{passed} checks passed, {skipped} skipped" + (f" ({results.skip_summary()})" if skipped else "")
    if exit_code == 2:
        return f"ERROR: the run could not be made ({counts} before it stopped)"
    if failed:
        return f"NOT CONFORMANT: {len(failed)} check(s) failed: {', '.join(failed)}; {counts}"
    if fail_on_skip and skipped:
        return f"NOT CONFORMANT under --fail-on-skip: {counts}"
    return f"CONFORMANT: {counts}"


def render_console(results: Results, *, exit_code: int, error: str | None = None,
                   fail_on_skip: bool = False) -> str:
    lines = ["", "== Documented statuses =="]
    for row in status_table(results):
        mark = "seen    " if row["seen"] else "not seen"
        lines.append(f"  {row['status']} {row['code'] or HTTPStatus(row['status']).phrase:<22} {mark} ({row['count']})")
    extra = sorted(s for s in results.statuses if s not in CONTRACT.responses)
    if extra:
        lines.append("  undocumented statuses answered: " + ", ".join(f"{s} ({results.statuses[s]})" for s in extra))
    lines.append("")
    lines.append("== Checks ==")
    for rec in results.records.values():
        tag = " [strict: this project's expectation, not a documented promise]" if rec.strict else ""
        detail = f"{rec.passed} passed, {rec.failed} failed" if (rec.passed or rec.failed) else (rec.skipped or "")
        lines.append(f"  {rec.outcome.upper():<13} {rec.name}{tag}: {detail}")
    failed = [r for r in results.records.values() if r.failed]
    if failed:
        lines.append("")
        lines.append("== Failures ==")
        for rec in failed:
            lines.append(f"- {rec.name}{' (strict)' if rec.strict else ''}: {rec.failed} failure(s)")
            for f in rec.failures:
                lines.append(f"    {f.message}")
                if f.curl:
                    lines.append(f"    reproduce: {f.curl}")
    for note in dict.fromkeys(results.notes):
        lines.append(f"note: {note}")
    lines.append("")
    lines.append(f"{results.requests} requests sent in {results.seconds:.1f}s.")
    if error:
        lines.append(f"RUN NOT COMPLETED: {error}")
    lines.append(f"Result: {verdict(results, exit_code, fail_on_skip)} (exit {exit_code})")
    return redact("\n".join(lines))


def to_json(results: Results, *, exit_code: int, base_url: str, strict: bool, error: str | None) -> dict:
    return {
        "target": base_url,
        "strict": strict,
        "exitCode": exit_code,
        "conformant": exit_code == 0,
        "error": error,
        "complete": error is None,  # False: a bound stopped the run (or it could not start); never conformant
        "requests": results.requests,
        "seconds": round(results.seconds, 3),
        "passedChecks": results.passed_names,
        "skippedChecks": results.skipped_names,
        "failedChecks": results.failed_names,
        "statuses": status_table(results),
        "undocumentedStatuses": {str(s): n for s, n in results.statuses.items() if s not in CONTRACT.responses},
        "checks": [
            {"name": r.name, "kind": r.kind, "strict": r.strict, "outcome": r.outcome, "passed": r.passed,
             "failed": r.failed, "skipped": r.skipped, "seconds": round(r.seconds, 3),
             "failures": [{"message": f.message, "curl": f.curl} for f in r.failures]}
            for r in results.records.values()
        ],
        "notes": list(dict.fromkeys(results.notes)),
    }


def write_junit(results: Results, path: str, *, error: str | None) -> None:
    records = list(results.records.values())
    suite = ET.Element("testsuite", name="layers-conformance", tests=str(len(records) + (1 if error else 0)),
                       failures=str(sum(1 for r in records if r.failed)),
                       skipped=str(sum(1 for r in records if not r.failed and not r.passed)),
                       errors="1" if error else "0", time=f"{results.seconds:.3f}")
    for rec in records:
        case = ET.SubElement(suite, "testcase", classname=f"conformance.{rec.kind}{'.strict' if rec.strict else ''}",
                             name=rec.name, time=f"{rec.seconds:.3f}")
        if rec.failed:
            text = "\n\n".join(f"{f.message}\n{f.curl or ''}" for f in rec.failures)
            ET.SubElement(case, "failure", message=rec.failures[0].message[:500] if rec.failures else "failed").text = text
        elif not rec.passed:
            ET.SubElement(case, "skipped", message=rec.skipped or "not exercised")
    if error:
        case = ET.SubElement(suite, "testcase", classname="conformance.run", name="run", time="0.000")
        ET.SubElement(case, "error", message=error).text = error
    text = _NOT_XML.sub("\ufffd", redact(ET.tostring(suite, encoding="unicode")))
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("<?xml version='1.0' encoding='utf-8'?>\n" + text)


def write_json(results: Results, path: str, **kw) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(redact(json.dumps(to_json(results, **kw), indent=2)))
