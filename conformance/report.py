"""Reports of a run, each rendered from the one `Results` model: the console summary, JUnit XML
(one test case per check) and JSON."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import xml.etree.ElementTree as ET
from http import HTTPStatus
from importlib import metadata

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

# The order and the titles of the sources a check can come from (conformance.provenance).
SOURCE_TITLES = {
    "page": "the endpoint page (the published contract)",
    "docs": "the wider Layers docs",
    "decision": 'this project\'s decisions (README, "Contract decisions")',
    None: "source not recorded",
}


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


def source_of(rec: CheckRecord):
    """The record's source (a `conformance.provenance.Source`), or None where none is recorded."""
    return getattr(rec, "source", None)


def source_kind(rec: CheckRecord) -> str | None:
    source = source_of(rec)
    kind = getattr(source, "kind", None)
    return kind if kind in SOURCE_TITLES else None


def source_text(source) -> str:
    """One line naming where a check comes from: the page's sentence, the docs page, the decision."""
    if source is None:
        return "source not recorded"
    kind = getattr(source, "kind", None)
    quote, page, number = (getattr(source, a, None) for a in ("quote", "page", "number"))
    if kind == "page":
        return f'the endpoint page: "{quote}"' if quote else "the endpoint page"
    if kind == "docs":
        return f"the Layers docs, {page}" + (f': "{quote}"' if quote else "")
    if kind == "decision":
        return f"decision {number}" + (f": {quote}" if quote else "")
    return str(source)


def source_json(source) -> dict | None:
    if source is None:
        return None
    if dataclasses.is_dataclass(source) and not isinstance(source, type):
        return {k: v for k, v in dataclasses.asdict(source).items() if v is not None}
    return {a: getattr(source, a) for a in ("kind", "quote", "page", "number") if getattr(source, a, None) is not None}


def by_source(records: list[CheckRecord]) -> dict[str | None, list[CheckRecord]]:
    """The records grouped by the kind of their source, in SOURCE_TITLES' order."""
    groups: dict[str | None, list[CheckRecord]] = {kind: [] for kind in SOURCE_TITLES}
    for rec in records:
        groups[source_kind(rec)].append(rec)
    return {kind: recs for kind, recs in groups.items() if recs}


def verdict(results: Results) -> str:
    """The result line, schemathesis-style: what was checked, what was skipped and why."""
    failed = results.failed_names
    passed, skipped = len(results.passed_names), len(results.skipped_names)
    counts = f"{passed} checks passed, {skipped} skipped" + (f" ({results.skip_summary()})" if skipped else "")
    if results.exit_code == EXIT_CANNOT_RUN:
        return f"ERROR: the run could not be made ({counts} before it stopped)"
    if failed:
        # A violation stands even when the run then stopped (cli.stopped): said, not hidden.
        unfinished = "; the run stopped before the end (see RUN NOT COMPLETED)" if results.error else ""
        return f"NOT CONFORMANT: {len(failed)} check(s) failed: {', '.join(failed)}; {counts}{unfinished}"
    if results.fail_on_skip and skipped:
        return f"NOT CONFORMANT under --fail-on-skip: {counts}"
    return f"CONFORMANT: {counts}"


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
    failed = [r for r in results.records.values() if r.failed]
    if failed:
        lines.append("")
        lines.append("== Failures, by source ==")
        for kind, recs in by_source(failed).items():
            lines.append(f"-- {SOURCE_TITLES[kind]}: {len(recs)} check(s) failed --")
            for rec in recs:
                lines.append(f"- {rec.name}{' (strict)' if rec.strict else ''}: {rec.failed} failure(s)")
                if source_of(rec) is not None:
                    lines.append(f"    source: {source_text(source_of(rec))}")
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
    failed = [r for r in results.records.values() if r.failed]
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
        "failedChecksBySource": {str(kind): [r.name for r in recs] for kind, recs in by_source(failed).items()},
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
                "source": source_json(source_of(r)),
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
        failures=str(sum(1 for r in records if r.failed)),
        skipped=str(sum(1 for r in records if not r.failed and not r.passed)),
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
        if source_of(rec) is not None:
            ET.SubElement(
                ET.SubElement(case, "properties"), "property", name="source", value=source_text(source_of(rec))
            )
        if rec.failed:
            text = "\n\n".join(
                f"{cut(f.message, MAX_MESSAGE_CHARS)}\n{cut(f.curl, MAX_CURL_CHARS) or ''}" for f in rec.failures
            )
            if source_of(rec) is not None:
                text = f"source: {source_text(source_of(rec))}\n\n{text}"
            ET.SubElement(
                case, "failure", message=(cut(rec.failures[0].message, 500) if rec.failures else None) or "failed"
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
