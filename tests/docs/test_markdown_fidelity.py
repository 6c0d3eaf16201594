"""Every fact of the published page appears in the generated Markdown, and the check notices a
fact that goes missing from the spec."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from contract import CONTRACT
from contract.published_page import split_error_row
from contract.spec import Contract
from docs_gen.fidelity import check_page, published_facts
from docs_gen.render import render_markdown

PAGE = (Path(__file__).resolve().parents[1] / "fixtures" / "revoke-social-account.txt").read_text()
FACTS = published_facts(PAGE)


@pytest.mark.parametrize("rendering", ["public", "sandbox"])
def test_generated_markdown_carries_every_published_fact(rendering):
    report = check_page(FACTS, render_markdown(CONTRACT, rendering=rendering))
    print(rendering, report.summary())  # "fidelity: N of N facts ..." (pytest -s, or -rP, shows it)
    assert report.ok, report.summary()


def test_facts_read_from_the_page_cover_the_documented_errors():
    """The page parser found the whole errors table: its statuses are the spec's error statuses."""
    statuses = sorted(int(f.name.split()[1]) for f in FACTS if f.name.startswith("error "))
    assert statuses == CONTRACT.error_statuses
    for name in CONTRACT.success_fields:
        assert any(f.name == f"{CONTRACT.success_status} field `{name}`" for f in FACTS), name


@pytest.mark.parametrize(
    "line, row",
    [
        (
            "401UNAUTHENTICATEDMissing or invalid Authorization header.",
            ("401", "UNAUTHENTICATED", "Missing or invalid Authorization header."),
        ),
        (
            "400VALIDATIONsocialAccountId path param malformed.",
            ("400", "VALIDATION", "socialAccountId path param malformed."),
        ),
        ("See Errors for the canonical envelope", None),
    ],
)
def test_flattened_error_rows_split_where_the_cells_were(line, row):
    assert split_error_row(line) == row


def _without(path: list, raw: dict) -> dict:
    """A copy of the raw spec with the node at `path` deleted."""
    raw = copy.deepcopy(raw)
    node = raw
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return raw


def _op(*rest):
    return ["paths", CONTRACT.route, CONTRACT.method, *rest]


def _retry_after_unmentioned(raw: dict) -> dict:
    """The 429 "when" without its advice, and the header gone: Retry-After is nowhere."""
    raw = _without(["components", "responses", "RateLimited", "headers", CONTRACT.retry_after_header], raw)
    when = raw["components"]["responses"]["RateLimited"]["description"]
    raw["components"]["responses"]["RateLimited"]["description"] = when.split(". ")[0] + "."
    return raw


def _details_scope_gone(raw: dict) -> dict:
    """503's `details` gone from its schema, its example and its "when" text."""
    raw = _without(
        ["components", "schemas", "KillSwitchError", "properties", "error", "allOf", 1, "properties", "details"], raw
    )
    raw = _without(
        ["components", "responses", "KillSwitch", "content", "application/json", "example", "error", "details"], raw
    )
    when = raw["components"]["responses"]["KillSwitch"]["description"]
    raw["components"]["responses"]["KillSwitch"]["description"] = when.split(". ")[0] + "."
    return raw


CONFLICT = CONTRACT.status_for_code("IDEMPOTENCY_CONFLICT")
MUTATIONS = {
    "409-response": (
        lambda raw: _without(_op("responses", str(CONFLICT)), raw),
        f"error {CONFLICT} `IDEMPOTENCY_CONFLICT`",
    ),
    # The scope is stated twice (x-required-scope and security): losing one copy loses nothing.
    "x-required-scope": (lambda raw: _without(_op("x-required-scope"), raw), None),
    "leased-note": (
        lambda raw: _without(_op("x-leased-accounts-note"), raw),
        "leased accounts advice (whole paragraph)",
    ),
    "x-phase": (lambda raw: _without(_op("x-phase"), raw), "phase 'Phase 1' and stability 'stable'"),
    "example-value": (
        lambda raw: _without(
            _op(
                "responses",
                str(CONTRACT.success_status),
                "content",
                "application/json",
                "example",
                "canceledScheduledPosts",
            ),
            raw,
        ),
        "example value canceledScheduledPosts = 4",
    ),
    "retry-after": (_retry_after_unmentioned, f"header `{CONTRACT.retry_after_header}` (RATE_LIMITED)"),
    "details-scope": (_details_scope_gone, "`details.scope` (KILL_SWITCH)"),
    "python-sample": (
        lambda raw: _without(_op("x-codeSamples", 2), raw),
        "example request line 'result = layers.social.revoke('",
    ),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_fidelity_reports_a_fact_removed_from_the_spec(mutation):
    """Render from a spec with one fact removed: the report names what went missing."""
    mutate, missing = MUTATIONS[mutation]
    report = check_page(FACTS, render_markdown(Contract(mutate(CONTRACT.raw))))
    if missing is None:
        assert report.ok, report.summary()
    else:
        assert missing in report.missing, report.summary()
        assert report.total == len(FACTS)
