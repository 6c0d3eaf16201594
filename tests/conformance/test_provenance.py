"""Every check names its source, and every sentence it quotes from the endpoint page is on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance import provenance
from conformance.pipeline import all_checks
from conformance.provenance import SOURCES, Source, page_quotes
from conformance.results import Results
from conformance.scenarios import SCENARIOS
from conformance.transport import BODY_CHECKS

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "tests" / "fixtures" / "revoke-social-account.txt").read_text(encoding="utf-8")


@pytest.mark.parametrize("quote", page_quotes())
def test_every_cited_sentence_is_on_the_page_verbatim(quote):
    assert quote in PAGE, f"not on the endpoint page: {quote!r}"


def test_every_check_and_scenario_has_a_source():
    names = [c.__name__ for c in all_checks(strict=True)] + list(BODY_CHECKS) + [s.name for s in SCENARIOS]
    missing = [n for n in names if n not in SOURCES]
    assert not missing, missing


def test_strict_checks_are_decisions_and_decisions_are_numbered():
    for name, src in SOURCES.items():
        if name.startswith("strict_"):
            assert src.kind == "decision", name
        assert src.kind in provenance.KINDS
        assert src.cite()


def test_a_source_must_say_enough():
    with pytest.raises(ValueError):
        Source("page")
    with pytest.raises(ValueError):
        Source("docs", quote="a fact")
    with pytest.raises(ValueError):
        Source("decision")


def test_failures_carry_their_source_and_group_by_it():
    r = Results()
    r.failed("canceled_posts_equal_queued", "check", "wrong count")
    r.failed("documented_headers_present", "check", "no class header")
    r.failed("strict_success_fields_exactly_documented", "check", "extra field", strict=True)
    r.failed("strict_order_of_checks", "scenario", "wrong order", strict=True)
    assert r.records["canceled_posts_equal_queued"].failures[0].source.kind == "page"
    groups = r.failures_by_source()
    assert list(groups) == [
        "endpoint page",
        "Layers docs: https://developers.layers.com/docs/api/operational/rate-limits",
        "decision 1",
        "decision 13",
    ]


def test_documented_only_judges_the_page_and_reports_the_rest():
    r = Results(documented_only=True)
    r.failed("documented_headers_present", "check", "no class header")
    r.failed("strict_order_of_checks", "scenario", "wrong order", strict=True)
    assert r.failed_names == [] and r.conformant
    assert r.unasserted_failed_names == ["documented_headers_present", "strict_order_of_checks"]
    r.failed("canceled_posts_equal_queued", "check", "wrong count")
    assert r.failed_names == ["canceled_posts_equal_queued"] and not r.conformant
