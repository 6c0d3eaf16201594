"""Proof of the kit: every deliberately broken implementation is caught, for the reason intended,
and no correct variant is ever flagged.

Each entry of the catalog (broken_impls.py) breaks one documented rule behind a proxy in front
of the real mock; the kit runs against it the way a staging run goes (`--api-key
--read-only-key --foreign-account-id --accounts`, no `--mock-control`: the test prepares the
world through the control plane, the kit never sees it), must exit 1 and must name the check
written for that rule. The few rules that only the mock's control plane can trigger (a 500 armed
on purpose, a kill switch, a spent budget) run with `--mock-control`. The correct variants
(another order of checks, additive fields, a slow server, ...) and the proxy without a bug must
pass. Every entry is its own test, so `pytest -n 2` spreads them.
"""

from __future__ import annotations

import pytest
from broken_impls import CATALOG, CLASSES, NEW_CLASSES, VARIANTS

from conformance.provenance import SOURCES

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

# A few generated cases only: the catalog proves the checks and scenarios, and every intended
# check is exercised by the deterministic part of the run.
FAST = ["--examples", "2"]


# The checks of issue 22 (truth, statuses, redirects, probes): each is proven by a broken server.
ISSUE_22_CHECKS = [
    "disconnected_at_is_revoke_time",
    "request_ids_unique",
    "request_id_is_req_ulid",
    "rate_limit_class_is_write_light",
    "revoke_counts_at_boundaries",
    "no_redirect",
    "status_is_documented",
    "idempotent_replay_same_response",
    "idempotency_replay_requires_scope",
    "method_override_ignored",
    "query_token_refused",
    "request_body_not_acted_on",
    "path_names_the_account",
]

# The correct variants issue 22 names: none may be flagged.
ISSUE_22_VARIANTS = [
    "ok_other_error_wording",
    "ok_charset_in_content_type",
    "ok_lower_case_header_names",
    "ok_connection_close",
    "ok_other_order_of_checks",  # validate before auth
    "ok_additive_fields",
    "ok_slow",
]


def test_catalog_covers_every_class():
    assert len(CATALOG) >= 80 and len(VARIANTS) >= 10
    by_class = {c: [b.name for b in CATALOG.values() if b.bug_class == c] for c in CLASSES}
    assert all(len(names) >= 3 for names in by_class.values()), by_class
    assert "check_then_act_race" in by_class["concurrency"] and by_class["leak"]
    assert sum(b.needs_control for b in CATALOG.values()) <= 5, "staging-style is the rule"
    assert set(CLASSES) >= NEW_CLASSES


def test_every_new_check_is_proven_by_a_broken_server():
    intended = {b.intended_check for b in CATALOG.values()}
    assert [c for c in ISSUE_22_CHECKS if c not in intended] == []
    assert [v for v in ISSUE_22_VARIANTS if v not in VARIANTS] == []


def _args(entry, base, staging_args) -> list[str]:
    world = [] if entry.needs_control else staging_args()
    return ["--base-url", f"{base}/bug/{entry.name}", *FAST, *world, *entry.kit_args]


def test_proxy_without_a_bug_is_conformant(kit, broken_base, staging_args):
    code, report = kit("--base-url", f"{broken_base}/bug/none", *FAST, *staging_args(), "--strict")
    assert report["failedChecks"] == [], report["failedChecks"]
    assert code == 0


# The slow variant first: xdist hands tests out in order, so its minute overlaps the rest.
@pytest.mark.parametrize("name", sorted(VARIANTS, key=lambda n: n != "ok_slow"))
def test_correct_variant_is_not_flagged(name, kit, broken_base, staging_args):
    variant = VARIANTS[name]
    code, report = kit(*_args(variant, broken_base, staging_args))
    assert report["failedChecks"] == [], f"{name} ({variant.rule}) was flagged: {report['failedChecks']}"
    assert code == 0, report["error"]


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_broken_implementation_is_caught(name, kit, broken_base, staging_args):
    bug = CATALOG[name]
    code, report = kit(*_args(bug, broken_base, staging_args))
    assert code == 1, f"{name} ({bug.rule}) was not caught: {report['failedChecks']} {report['error']}"
    assert bug.intended_check in report["failedChecks"], (
        f"{name} was caught, but not by {bug.intended_check}: {report['failedChecks']}"
    )
    failure = next(c for c in report["checks"] if c["name"] == bug.intended_check)["failures"][0]
    assert failure["curl"] and "curl -i -X " in failure["curl"], "every failure comes with a curl line"


@pytest.mark.parametrize("name", sorted(n for n, b in CATALOG.items() if "--strict" in b.kit_args))
def test_strict_only_bug_passes_without_strict(name, kit, broken_base, staging_args):
    """Decisions beyond the docs are not asserted unless --strict asks for them."""
    bug = CATALOG[name]
    args = [a for a in _args(bug, broken_base, staging_args) if a != "--strict"]
    code, report = kit(*args)
    assert code == 0, report["failedChecks"]


@pytest.mark.parametrize(
    "name, source",
    [("rate_limit_class_generic", "docs"), ("replay_not_marked", "decision")],
)
def test_documented_only_reports_but_does_not_judge_other_sources(name, source, kit, broken_base, staging_args):
    """--documented-only: a rule of the wider docs or a decision is still run and reported, apart,
    and decides nothing; the page's own rules still do."""
    bug = CATALOG[name]
    code, report = kit(*_args(bug, broken_base, staging_args), "--documented-only")
    assert code == 0, report["failedChecks"]
    assert next(c for c in report["checks"] if c["name"] == bug.intended_check)["failed"]
    assert SOURCES[bug.intended_check].kind == source
    page_bug = CATALOG["count_none_as_one"]
    code, report = kit(*_args(page_bug, broken_base, staging_args), "--documented-only")
    assert code == 1 and page_bug.intended_check in report["failedChecks"]
