"""The kit's reports, rendered from a `Results` made by hand (no target, no network): failures
grouped by their source, the kit's version and the spec's hash, the cuts, a stop beside a violation."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from conformance.report import MAX_CURL_CHARS, identity, json_text, junit_xml, render_console
from conformance.results import Results
from contract.spec import spec_sha256

# One failed check from each source (conformance/provenance.py): the page, the wider docs, a decision.
FROM_EACH_SOURCE = {
    "canceled_posts_equal_queued": "the endpoint page",
    "documented_headers_present": "the wider Layers docs",
    "strict_order_of_checks": "this project's decisions",
}


def results_with_a_failure_from_each_source(**kw) -> Results:
    r = Results(target="http://staging.example", **kw)
    r.passed("error_code_matches_status", "check")
    for name in reversed(FROM_EACH_SOURCE):  # recorded out of order: the report orders them
        r.failed(name, "check", f"{name} failed", curl="curl -i -X DELETE http://staging.example/x")
    return r


def test_failures_are_grouped_page_then_docs_then_decisions():
    r = results_with_a_failure_from_each_source()
    r.end(1, None, 1.0)
    text = render_console(r)
    failures = text.split("== Failures, by source ==", 1)[1]
    headings = [line for line in failures.splitlines() if line.startswith("-- ")]
    assert headings == [f"-- {title} --" for title in FROM_EACH_SOURCE.values()]
    positions = [failures.index(f"- {name}:") for name in FROM_EACH_SOURCE]
    assert positions == sorted(positions)
    assert 'source: the endpoint page: "' in failures and "source: project decision 1" in failures
    data = json.loads(json_text(r))
    assert next(iter(data["failedChecksBySource"])) == "endpoint page"
    assert {c["name"]: c["source"]["kind"] for c in data["checks"] if c["failures"]} == {
        "canceled_posts_equal_queued": "page",
        "documented_headers_present": "docs",
        "strict_order_of_checks": "decision",
    }
    suite = ET.fromstring(junit_xml(r).split("\n", 1)[1])
    sources = {case.get("name"): case.find("properties/property").get("value") for case in suite.iter("testcase")}
    assert sources["strict_order_of_checks"].startswith("project decision 1")


def test_documented_only_reports_the_rest_apart():
    r = results_with_a_failure_from_each_source(documented_only=True)
    r.end(1, None, 1.0)
    text = render_console(r)
    assert "NOT CONFORMANT: 1 check(s) failed: canceled_posts_equal_queued" in text
    assert "2 more failed, not asserted under --documented-only" in text
    assert "documented_headers_present: 1 failure(s) [not asserted: --documented-only]" in text
    suite = ET.fromstring(junit_xml(r).split("\n", 1)[1])
    assert suite.get("failures") == "1"


def test_every_report_names_the_kit_and_the_spec():
    r = results_with_a_failure_from_each_source()
    r.end(1, None, 1.0)
    assert identity()["specSha256"] == spec_sha256()
    assert spec_sha256() in render_console(r)
    data = json.loads(json_text(r))
    assert (data["kitVersion"], data["specSha256"]) == (identity()["kitVersion"], spec_sha256())
    props = ET.fromstring(junit_xml(r).split("\n", 1)[1]).find("properties")
    assert {p.get("name"): p.get("value") for p in props} == identity()


def test_long_messages_and_curl_lines_are_cut_with_the_cut_marked():
    r = Results()
    r.failed("boundary_ids_answer_400", "scenario", "x" * 30_000, curl="curl " + "y" * 10_000)
    r.end(1, None, 1.0)
    for text in (render_console(r), junit_xml(r), json_text(r)):
        assert "x" * 1001 not in text and "y" * (MAX_CURL_CHARS + 1) not in text
        assert "[cut: 29,000 more characters]" in text and "[cut: 9,005 more characters]" in text


def test_a_stop_after_a_violation_is_not_conformant_with_the_stop_beside_it():
    r = results_with_a_failure_from_each_source()
    r.end(1, "run stopped before the end: the target still answered 429", 3.0)
    text = render_console(r)
    assert "RUN NOT COMPLETED: run stopped before the end" in text
    assert "Result: NOT CONFORMANT: 3 check(s) failed" in text and "the run stopped before the end" in text
    data = json.loads(json_text(r))
    assert data["exitCode"] == 1 and data["complete"] is False and not data["conformant"]
