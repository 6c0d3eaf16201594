"""Reports of a run, each rendered from the one `Results` model: the console summary, JUnit XML
(one test case per check) and JSON."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from http import HTTPStatus

from conformance.results import EXIT_CANNOT_RUN, EXIT_CONFORMANT, Results
from conformance.secrets import redact

# Characters XML 1.0 cannot hold; a hostile target's body may put them in a failure message.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def verdict(results: Results) -> str:
    """The result line, schemathesis-style: what was checked, what was skipped and why."""
    failed = results.failed_names
    passed, skipped = len(results.passed_names), len(results.skipped_names)
    counts = f"{passed} checks passed, {skipped} skipped" + (f" ({results.skip_summary()})" if skipped else "")
    if results.exit_code == EXIT_CANNOT_RUN:
        return f"ERROR: the run could not be made ({counts} before it stopped)"
    if failed:
        return f"NOT CONFORMANT: {len(failed)} check(s) failed: {', '.join(failed)}; {counts}"
    if results.fail_on_skip and skipped:
        return f"NOT CONFORMANT under --fail-on-skip: {counts}"
    return f"CONFORMANT: {counts}"


def render_console(results: Results) -> str:
    lines = ["", "== Documented statuses =="]
    for row in results.status_table():
        mark = "seen    " if row["seen"] else "not seen"
        lines.append(f"  {row['status']} {row['code'] or HTTPStatus(row['status']).phrase:<22} {mark} ({row['count']})")
    extra = results.undocumented_statuses
    if extra:
        lines.append("  undocumented statuses answered: " + ", ".join(f"{s} ({extra[s]})" for s in sorted(extra)))
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
    if results.error:
        lines.append(f"RUN NOT COMPLETED: {results.error}")
    lines.append(f"Result: {verdict(results)} (exit {results.exit_code})")
    return redact("\n".join(lines))


def to_json(results: Results) -> dict:
    return {
        "target": results.target,
        "strict": results.strict,
        "exitCode": results.exit_code,
        "conformant": results.exit_code == EXIT_CONFORMANT,
        "error": results.error,
        "complete": results.complete,
        "requests": results.requests,
        "seconds": round(results.seconds, 3),
        "passedChecks": results.passed_names,
        "skippedChecks": results.skipped_names,
        "failedChecks": results.failed_names,
        "statuses": results.status_table(),
        "undocumentedStatuses": {str(s): n for s, n in results.undocumented_statuses.items()},
        "checks": [
            {
                "name": r.name,
                "kind": r.kind,
                "strict": r.strict,
                "outcome": r.outcome,
                "passed": r.passed,
                "failed": r.failed,
                "skipped": r.skipped,
                "seconds": round(r.seconds, 3),
                "failures": [{"message": f.message, "curl": f.curl} for f in r.failures],
            }
            for r in results.records.values()
        ],
        "notes": list(dict.fromkeys(results.notes)),
    }


def junit_xml(results: Results) -> str:
    error = results.error
    records = list(results.records.values())
    suite = ET.Element(
        "testsuite",
        name="layers-conformance",
        tests=str(len(records) + (1 if error else 0)),
        failures=str(sum(1 for r in records if r.failed)),
        skipped=str(sum(1 for r in records if not r.failed and not r.passed)),
        errors="1" if error else "0",
        time=f"{results.seconds:.3f}",
    )
    for rec in records:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"conformance.{rec.kind}{'.strict' if rec.strict else ''}",
            name=rec.name,
            time=f"{rec.seconds:.3f}",
        )
        if rec.failed:
            text = "\n\n".join(f"{f.message}\n{f.curl or ''}" for f in rec.failures)
            ET.SubElement(
                case, "failure", message=rec.failures[0].message[:500] if rec.failures else "failed"
            ).text = text
        elif not rec.passed:
            ET.SubElement(case, "skipped", message=rec.skipped or "not exercised")
    if error:
        case = ET.SubElement(suite, "testcase", classname="conformance.run", name="run", time="0.000")
        ET.SubElement(case, "error", message=error).text = error
    return "<?xml version='1.0' encoding='utf-8'?>\n" + _NOT_XML.sub(
        "\ufffd", redact(ET.tostring(suite, encoding="unicode"))
    )


def json_text(results: Results) -> str:
    return redact(json.dumps(to_json(results), indent=2))


def write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
