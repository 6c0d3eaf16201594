"""Proof of the kit: every deliberately broken implementation is caught, for the reason intended.

Each entry of the catalog (broken_impls.py) breaks one documented rule behind a proxy in front
of the real mock; the kit must exit 1 and name the check written for that rule. The same proxy
without a bug must pass, so a catch is the bug's doing and not the proxy's.
"""
from __future__ import annotations

import pytest

from broken_impls import CATALOG

# Fewer generated cases than the default: the catalog proves the checks and scenarios, and
# every intended check is exercised by the deterministic part of the run.
FAST = ["--mock-control", "--examples", "3"]


def test_catalog_is_large_enough():
    assert len(CATALOG) >= 15
    assert len({b.intended_check for b in CATALOG.values()}) >= 15


def test_proxy_without_a_bug_is_conformant(kit, broken_base):
    code, report = kit("--base-url", f"{broken_base}/bug/none", *FAST, "--strict")
    assert report["failedChecks"] == []
    assert code == 0


@pytest.mark.parametrize("name", sorted(CATALOG))
def test_broken_implementation_is_caught(name, kit, broken_base):
    bug = CATALOG[name]
    code, report = kit("--base-url", f"{broken_base}/bug/{name}", *FAST, *bug.kit_args)
    assert code == 1, f"{name} ({bug.rule}) was not caught: {report['failedChecks']}"
    assert bug.intended_check in report["failedChecks"], (
        f"{name} was caught, but not by {bug.intended_check}: {report['failedChecks']}")
    failure = next(c for c in report["checks"] if c["name"] == bug.intended_check)["failures"][0]
    assert failure["curl"] and failure["curl"].startswith("curl "), "every failure comes with a curl line"


@pytest.mark.parametrize("name", sorted(n for n, b in CATALOG.items() if "--strict" in b.kit_args))
def test_strict_only_bug_passes_without_strict(name, kit, broken_base):
    """Decisions beyond the docs are not asserted unless --strict asks for them."""
    code, report = kit("--base-url", f"{broken_base}/bug/{name}", *FAST)
    assert code == 0, report["failedChecks"]
