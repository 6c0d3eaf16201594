"""Reports of a run, each rendered from the one `Results` model: the console summary, JUnit XML
(one test case per check) and JSON."""

from __future__ import annotations

import functools
import json
import re
import xml.etree.ElementTree as ET
from http import HTTPStatus
from importlib import metadata

from conformance.provenance import KIND_TITLES
from conformance.results import EXIT_CANNOT_RUN, EXIT_CONFORMANT, CheckRecord, Results
from conformance.secrets import redact
from contract.spec import spec_sha256

# Characters XML 1.0 cannot hold; a hostile target's body may put them in a failure message.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

# A failure message quotes the target's body, and a curl line carries the request's URL: against a
# target that serves a 26 KB login page, or for the 10 KB boundary id, either would flood a CI log.
# Each is cut here, in every report, and the cut is said (a cut curl line no longer runs as it is).
MAX_MESSAGE_CHARS = 1000
MAX_CURL_CHARS = 1000


def cut(text: str | None, limit: int) -> str | None:
    """`text`, at most `limit` characters of it, the cut marked with how much was left out."""
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}…[cut: {len(text) - limit:,} more characters]"


@functools.cache
def identity() -> dict[str, str]:
    """Which kit and which contract produced a report: the installed kit's version and the sha256
    of the openapi.yaml it read (the mock's ready file names the same hash)."""
    try:
        version = metadata.version("layers-contract-kit")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        version = "unknown (not installed)"
    return {"kitVersion": version, "specSha256": spec_sha256()}


def identity_line() -> str:
    ids = identity()
    return f"layers-conformance {ids['kitVersion']}, contract openapi.yaml sha256 {ids['specSha256']}"


def cite(rec: CheckRecord) -> str:
    """Where the record's rule comes from, in one line (conformance.provenance)."""
    return rec.source.cite() if rec.source is not None else "source not recorded"


def verdict(results: Results) -> str:
    """The result line, schemathesis-style: what was checked, what was skipped and why."""
    failed = results.failed_names
    passed, skipped = len(results.passed_names), len(results.skipped_names)
    others = results.unasserted_failed_names
    unasserted = (
        f"; {len(others)} more failed, not asserted under --documented-only: {', '.join(others)}" if others else ""
    )
    counts = f"{passed} checks passed, {skipped} skipped" + (f" ({results.skip_summary()})" if skipped else "")
    if results.exit_code == EXIT_CANNOT_RUN:
        return f"ERROR: the run could not be made ({counts} before it stopped)"
    if failed:
        # A violation stands even when the run then stopped (cli.stopped): said, not hidden.
        unfinished = "; the run stopped before the end (see RUN NOT COMPLETED)" if results.error else ""
        return f"NOT CONFORMANT: {len(failed)} check(s) failed: {', '.join(failed)}; {counts}{unasserted}{unfinished}"
    if results.fail_on_skip and skipped:
        return f"NOT CONFORMANT under --fail-on-skip: {counts}{unasserted}"
    return f"CONFORMANT: {counts}{unasserted}"


def render_console(results: Results) -> str:
    lines = ["", f"== {identity_line()} ==", "", "== Documented statuses =="]
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
    groups = results.failures_by_source()
    if groups:
        lines.append("")
        lines.append("== Failures, by source ==")
        shown_kind: object = ()
        for group, recs in groups.items():
            kind = recs[0].source.kind if recs[0].source is not None else None
            if kind != shown_kind:  # the three sources, each under its own heading
                lines.append(f"-- {KIND_TITLES[kind] if kind else 'source not recorded'} --")
                shown_kind = kind
            lines.append(f"  [{group}: {len(recs)} check(s) failed]")
            for rec in recs:
                unasserted = "" if rec.asserted else " [not asserted: --documented-only]"
                lines.append(f"- {rec.name}{' (strict)' if rec.strict else ''}: {rec.failed} failure(s){unasserted}")
                lines.append(f"    source: {cite(rec)}")
                for f in rec.failures:
                    lines.append(f"    {cut(f.message, MAX_MESSAGE_CHARS)}")
                    if f.curl:
                        lines.append(f"    reproduce: {cut(f.curl, MAX_CURL_CHARS)}")
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
        **identity(),
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
        "failedChecksBySource": {group: [r.name for r in recs] for group, recs in results.failures_by_source().items()},
        "documentedOnly": results.documented_only,
        "unassertedFailedChecks": results.unasserted_failed_names,
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
                "source": r.source.to_json() if r.source is not None else None,
                "asserted": r.asserted,
                "failures": [
                    {"message": cut(f.message, MAX_MESSAGE_CHARS), "curl": cut(f.curl, MAX_CURL_CHARS)}
                    for f in r.failures
                ],
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
        failures=str(sum(1 for r in records if r.failed and r.asserted)),
        skipped=str(sum(1 for r in records if (not r.failed and not r.passed) or (r.failed and not r.asserted))),
        errors="1" if error else "0",
        time=f"{results.seconds:.3f}",
    )
    props = ET.SubElement(suite, "properties")
    for name, value in identity().items():
        ET.SubElement(props, "property", name=name, value=value)
    for rec in records:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"conformance.{rec.kind}{'.strict' if rec.strict else ''}",
            name=rec.name,
            time=f"{rec.seconds:.3f}",
        )
        ET.SubElement(ET.SubElement(case, "properties"), "property", name="source", value=cite(rec))
        if rec.failed and not rec.asserted:  # seen and reported, but --documented-only does not judge it
            ET.SubElement(
                case, "skipped", message=f"not asserted under --documented-only ({rec.failed} failure(s)): {cite(rec)}"
            )
            ET.SubElement(case, "system-out").text = "\n\n".join(
                f"{cut(f.message, MAX_MESSAGE_CHARS)}\n{cut(f.curl, MAX_CURL_CHARS) or ''}" for f in rec.failures
            )
        elif rec.failed:
            text = "\n\n".join(
                f"{cut(f.message, MAX_MESSAGE_CHARS)}\n{cut(f.curl, MAX_CURL_CHARS) or ''}" for f in rec.failures
            )
            text = f"source: {cite(rec)}\n\n{text}"
            ET.SubElement(
                case, "failure", message=(cut(rec.failures[0].message, 500) if rec.failures else None) or "failed"
            ).text = text
        elif not rec.passed:
            ET.SubElement(case, "skipped", message=rec.skipped or "not exercised")
    if error:
        case = ET.SubElement(suite, "testcase", classname="conformance.run", name="run", time="0.000")
        ET.SubElement(case, "error", message=error).text = error
    ET.indent(suite)  # one element a line: a CI log or a diff shows where a failure is
    return "<?xml version='1.0' encoding='utf-8'?>\n" + _NOT_XML.sub(
        "\ufffd", redact(ET.tostring(suite, encoding="unicode"))
    )


def json_text(results: Results) -> str:
    return redact(json.dumps(to_json(results), indent=2))


def write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
