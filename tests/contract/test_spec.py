"""The contract itself: valid, lint-clean, faithful to the published page, examples self-consistent."""

from __future__ import annotations

import copy
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate as validate_spec

from contract import CONTRACT
from contract.fidelity import page_facts
from contract.spec import Contract

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "tests" / "fixtures" / "revoke-social-account.txt").read_text()
REDOCLY = ROOT / "tools" / "node" / "node_modules" / ".bin" / "redocly"


@pytest.mark.e2e  # the validator's CLI, as a child process
def test_spec_passes_openapi_spec_validator():
    validate_spec(CONTRACT.raw)
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "openapi-spec-validator"), str(ROOT / "openapi.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.e2e  # Redocly's CLI on node
def test_spec_lints_clean_with_redocly():
    if not REDOCLY.exists():
        if os.environ.get("CI"):
            pytest.fail("Redocly CLI missing: scripts/setup-node-tools.sh did not run")
        pytest.skip("Redocly CLI not installed; run scripts/setup-node-tools.sh")
    result = subprocess.run(
        [str(REDOCLY), "lint", "openapi.yaml", "--format=summary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "warning" not in out.lower().replace("deprecation warning", ""), out


def test_every_fact_of_the_published_page_is_in_the_spec():
    facts = page_facts(PAGE, CONTRACT)
    missing = [f.name for f in facts if not f.present]
    print(f"fidelity: {len(facts) - len(missing)} of {len(facts)} facts present")
    assert len(facts) >= 30, "the page parser found too few facts; did the page's layout change?"
    assert not missing, f"facts of the published page missing from openapi.yaml: {missing}"


def _without(mutate) -> Contract:
    raw = copy.deepcopy(CONTRACT.raw)
    mutate(raw)
    return Contract(raw)


@pytest.mark.parametrize("status", [str(s) for s in CONTRACT.documented_statuses if s >= 400])
def test_fidelity_fails_when_a_documented_status_is_removed(status):
    broken = _without(lambda raw: raw["paths"][CONTRACT.route][CONTRACT.method]["responses"].pop(status))
    missing = [f.name for f in page_facts(PAGE, broken) if not f.present]
    assert any(name.startswith(status + " ") for name in missing), missing


def test_fidelity_fails_when_a_code_or_detail_changes():
    def rename(raw):
        raw["components"]["schemas"]["NotFoundError"]["allOf"][1]["properties"]["error"]["properties"]["code"][
            "enum"
        ] = ["MISSING"]
        del raw["components"]["schemas"]["ForbiddenScopeError"]["properties"]["error"]["allOf"][1]["properties"][
            "details"
        ]["properties"]["requiredScope"]

    missing = [f.name for f in page_facts(PAGE, _without(rename)) if not f.present]
    assert "404 NOT_FOUND" in missing and "403 details.requiredScope" in missing, missing


def test_fidelity_fails_when_the_scope_or_a_field_is_wrong():
    def damage(raw):
        raw["paths"][CONTRACT.route][CONTRACT.method]["security"] = [{"bearerAuth": ["social:read"]}]
        raw["components"]["schemas"]["RevokedSocialAccount"]["required"].remove("disconnectedAt")

    missing = [f.name for f in page_facts(PAGE, _without(damage)) if not f.present]
    assert "scope social:write" in missing and "200 field disconnectedAt" in missing, missing


def _examples():
    for status, resp in CONTRACT.responses.items():
        yield f"response {status}", resp.example, resp.schema
    for p in CONTRACT.operation["parameters"]:
        if "example" in p:  # optional headers have none: Swagger UI would pre-fill it
            yield f"parameter {p['name']}", p["example"], p["schema"]
    for name, header in CONTRACT.resolved["components"]["headers"].items():
        if "example" in header["schema"]:
            yield f"header {name}", header["schema"]["example"], header["schema"]


@pytest.mark.parametrize("label,example,schema", list(_examples()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_example_validates_against_its_schema(label, example, schema):
    errors = list(OAS30Validator(schema).iter_errors(example))
    assert not errors, f"{label}: {[e.message for e in errors]}"


def test_error_examples_carry_the_code_pinned_to_their_status():
    for status in CONTRACT.error_statuses:
        assert CONTRACT.responses[status].example["error"]["code"] == CONTRACT.code_for_status(status)


def test_a_wrong_example_is_caught():
    """The example check can fail: a 404 example with the 403 code does not validate."""
    bad = copy.deepcopy(CONTRACT.responses[404].example)
    bad["error"]["code"] = "FORBIDDEN_SCOPE"
    assert list(OAS30Validator(CONTRACT.responses[404].schema).iter_errors(bad))


def test_spec_is_openapi_3_0_for_connexion():
    assert yaml.safe_load((ROOT / "openapi.yaml").read_text())["openapi"].startswith("3.0.")
