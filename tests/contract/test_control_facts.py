"""One source per fact: the control plane's vocabularies, bounds, error codes and header names are
written in control.yaml (and the API's in openapi.yaml) and the mock reads them from there.

Two kinds of proof: change a fact in a copy of the spec and see what the mock builds from it
follow; and scan the mock's code for facts typed by hand (error codes, header names).
"""

from __future__ import annotations

import ast
import asyncio
import copy
import re
from pathlib import Path

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_spec

from contract import CONTRACT
from contract.control import CONTROL, CONTROL_SPEC, ControlSpec
from mock_server.control.guard import ControlGuard
from mock_server.core import bounds, clock, world
from mock_server.core.domain import FAULT_STEPS
from mock_server.tenancy import routing
from mock_server.tenancy.limits import Limits

ROOT = Path(__file__).resolve().parents[2]
MOCK = ROOT / "mock_server"
# Upper-case words in control/ and tenancy/ that are not error codes: HTTP methods, a CLI metavar
# (environment variable names, LAYERS_*, are told apart by their prefix).
_NOT_CODES = {"GET", "POST", "PUT", "PATCH", "DELETE", "SECONDS"}


def _copy_with(change) -> ControlSpec:
    raw = copy.deepcopy(CONTROL.raw)
    change(raw)
    return ControlSpec(raw, CONTROL_SPEC)


def test_control_spec_is_valid_openapi():
    validate_spec(copy.deepcopy(CONTROL.raw))


# -- change the spec, the mock follows ------------------------------------------------------
def test_world_validation_follows_a_changed_vocabulary_and_bound():
    account = {"organizationId": "org_1", "platform": "youtube", "handle": "@" + "h" * 150}
    fixture = {"accounts": [account]}
    with pytest.raises(world.WorldError, match="platform"):
        world.validate(fixture)

    def widen(raw):
        raw["components"]["schemas"]["Platform"]["enum"].append("youtube")
        raw["components"]["schemas"]["Handle"]["maxLength"] = 200

    file_schema, control_schema = world.world_schemas(_copy_with(widen))

    jsonschema.validate(fixture, file_schema)
    jsonschema.validate(fixture, control_schema)

    def narrow(raw):
        raw["components"]["schemas"]["FixtureList"]["maxItems"] = 0

    _, control_schema = world.world_schemas(_copy_with(narrow))
    with pytest.raises(jsonschema.ValidationError, match=r"too long|is not valid|maxItems|non-empty"):
        jsonschema.validate({"accounts": [{"organizationId": "org_1"}]}, control_schema)


def test_the_mocks_world_is_built_from_the_shipped_spec():
    assert world.world_schemas(CONTROL) == (world.WORLD_SCHEMA, world.CONTROL_WORLD_SCHEMA)
    assert CONTROL.enum("KeyTier") == world.KEY_TIERS
    assert CONTROL.enum("PostStatus") == world.POST_STATUSES
    assert CONTROL.enum("Platform") == world.PLATFORMS
    assert CONTROL.enum("AccountStatus") == world.ACCOUNT_STATUSES


def test_the_revokes_fault_steps_are_the_specs_in_order():
    # The statements an armed fault breaks the revoke between (storage/queries.py), in order.
    from mock_server.storage.gathered import Revoke
    from mock_server.storage.queries import fault_steps

    revoke = Revoke("sa_1", "org_1", "revoked", "2026-01-01T00:00:00Z", "req_1", "queued", 0)
    steps = [step for step, _, _ in fault_steps("local", "key_1", revoke)]
    assert steps == CONTROL.enum("FaultStep") == list(FAULT_STEPS)


def test_clock_range_and_limits_follow_the_spec():
    def move(raw):
        raw["components"]["schemas"]["Clock"]["properties"]["epochSeconds"]["minimum"] = 0
        raw["components"]["schemas"]["Limits"]["properties"]["maxSandboxes"]["default"] = 7

    moved = _copy_with(move)
    assert moved.clock_range[0] == 0 and moved.limit_defaults["maxSandboxes"] == 7
    # ... and what the mock holds is what the shipped spec says
    assert CONTROL.clock_range == (clock.CLOCK_MIN, clock.CLOCK_MAX)
    assert "2000-01-01T00:00:00Z" in clock.clock_problem(CONTROL.clock_range[0] - 1)
    assert clock.clock_problem(CONTROL.clock_range[0]) is None
    assert clock.clock_problem(CONTROL.clock_range[1]) is not None  # half-open
    d = CONTROL.limit_defaults
    assert Limits().describe() | {"maxOrganizationsKeysAndTestAccountsPerSandbox": 0} == d | {
        "maxOrganizationsKeysAndTestAccountsPerSandbox": 0
    }
    assert CONTROL.schemas["PostCount"]["maximum"] == bounds.MAX_POSTS_PER_CALL


def test_request_bounds_and_token_length_are_the_specs():
    assert tuple(CONTROL.request_bounds[k] for k in ("maxBodyBytes", "maxJsonDepth", "maxNumberDigits")) == (
        bounds.MAX_BODY_BYTES,
        bounds.MAX_JSON_DEPTH,
        bounds.MAX_NUMBER_DIGITS,
    )
    assert CONTROL.parameter("AdminToken")["schema"]["maxLength"] == routing.MAX_TOKEN_LENGTH
    deeper = _copy_with(lambda raw: raw["x-request-bounds"].update(maxJsonDepth=3))
    assert deeper.request_bounds["maxJsonDepth"] == 3


def test_error_codes_follow_the_spec():
    def rename(raw):
        schema = raw["components"]["schemas"]["NotJsonError"]["properties"]["error"]["allOf"][1]
        schema["properties"]["code"]["enum"] = ["NOT_JSON"]

    assert _copy_with(rename).code_for_status(415) == "NOT_JSON"

    def clash(raw):
        schema = raw["components"]["schemas"]["NotJsonError"]["properties"]["error"]["allOf"][1]
        schema["properties"]["code"]["enum"] = ["VALIDATION"]

    with pytest.raises(ValueError, match="two statuses"):
        _ = _copy_with(clash).codes


def test_the_guard_answers_the_codes_of_the_spec():
    guard = ControlGuard(allowed_hosts=())

    async def never():
        raise AssertionError("the body must not be read")

    scope = {"type": "http", "method": "POST", "client": ("127.0.0.1", 1), "headers": []}
    too_big = {b"content-type": b"application/json", b"content-length": str(bounds.MAX_BODY_BYTES + 1).encode()}
    refusal, _ = asyncio.run(guard.admit(scope, too_big, never))
    assert refusal[:2] == (413, CONTROL.code_for_status(413))
    refusal, _ = asyncio.run(guard.admit(scope, {b"content-type": b"text/plain"}, never))
    assert refusal[:2] == (415, CONTROL.code_for_status(415))
    refusal, _ = asyncio.run(guard.admit({**scope, "client": ("203.0.113.9", 1)}, {}, never))
    assert refusal[:2] == (403, CONTROL.code_for_status(403))
    refusal, _ = asyncio.run(ControlGuard("t" * 20).admit(scope, {}, never))
    assert refusal[:2] == (401, CONTROL.code_for_status(401))


# -- the two specs agree where they share a fact ---------------------------------------------
def test_codes_shared_with_the_api_have_the_apis_status():
    shared = set(CONTROL.codes) & set(CONTRACT.codes)
    assert shared >= {"VALIDATION", "UNAUTHENTICATED", "NOT_FOUND"}
    assert {c: CONTROL.codes[c] for c in shared} == {c: CONTRACT.codes[c] for c in shared}


def test_key_tiers_are_the_apis_rate_limit_tiers_and_the_mocks_unmetered_ones():
    tiers = CONTROL.enum("KeyTier")
    assert set(CONTRACT.rate_limit_tiers) <= set(tiers)
    assert CONTROL.default("KeyTier") in CONTRACT.rate_limit_tiers


def test_kill_switch_scopes_are_the_apis():
    assert CONTROL.enum("KillSwitchScope") == CONTRACT.kill_switch_scopes


def test_post_status_lists_are_post_status():
    """OpenAPI 3.0 cannot key an object by an enum: the property lists are held equal here."""
    statuses = CONTROL.enum("PostStatus")
    assert list(CONTROL.schemas["PostCounts"]["properties"]) == statuses
    _, _, create_account = CONTROL.operations["create_account"]
    body = create_account["requestBody"]["content"]["application/json"]["schema"]
    assert list(body["properties"]["posts"]["properties"]) == statuses


# -- nothing typed by hand in the mock -------------------------------------------------------
def _string_constants(package: Path):
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                    yield path, name, node.args[0].value


def test_every_control_error_code_in_the_mock_is_documented_in_control_yaml():
    made = {
        (p.relative_to(ROOT).as_posix(), code) for p, name, code in _string_constants(MOCK) if name == "control_error"
    }
    assert len(made) >= 8, made  # the scan sees the calls
    undocumented = {(p, code) for p, code in made if code not in CONTROL.codes}
    assert not undocumented, f"control error codes control.yaml does not document: {sorted(undocumented)}"


def test_the_control_plane_and_tenancy_type_no_error_code_or_status_pairing():
    """They raise `control_error(code)` (status from control.yaml) or refuse by status (code from
    control.yaml): no `ApiError(...)` of their own, no code literal anywhere else."""
    for package in ("control", "tenancy"):
        for path in sorted((MOCK / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            assert not [
                n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", None) == "ApiError"
            ], f"{path}: ApiError(...) with a status not read from control.yaml"
            raised = {
                id(n.args[0])
                for n in ast.walk(tree)
                if isinstance(n, ast.Call) and n.args and getattr(n.func, "id", None) == "control_error"
            }
            typed = {
                n.value
                for n in ast.walk(tree)
                if isinstance(n, ast.Constant)
                and isinstance(n.value, str)
                and id(n) not in raised
                and re.fullmatch("[A-Z][A-Z_]+", n.value)
                and not n.value.startswith("LAYERS_")
            } - _NOT_CODES
            assert not typed, f"{path}: codes typed outside control_error(...): {sorted(typed)}"


def test_control_header_names_are_read_from_the_spec():
    names = {CONTROL.admin_token_header, CONTROL.sandbox_header}
    assert names == {"X-Mock-Admin-Token", "X-Mock-Sandbox"}  # the documented ones, found by the reader
    for package in ("control", "tenancy"):
        for path in sorted((MOCK / package).rglob("*.py")):
            text = path.read_text(encoding="utf-8").lower()
            for name in names:
                assert f'"{name.lower()}"' not in text and f'b"{name.lower()}"' not in text, (path, name)


def test_api_header_names_are_found_by_what_the_spec_says_of_them():
    headers = CONTRACT.responses[CONTRACT.success_status].headers
    assert CONTRACT.request_id_header in headers and headers[CONTRACT.request_id_header]["required"]
    assert headers[CONTRACT.rate_limit_class_header]["schema"]["enum"] == [CONTRACT.rate_limit_class]
    assert not headers[CONTRACT.replay_header].get("required")
    assert CONTRACT.retry_after_header in CONTRACT.responses[CONTRACT.status_for_code("RATE_LIMITED")].headers
    assert CONTRACT.retry_after_header not in headers
    source = (ROOT / "contract" / "spec.py").read_text(encoding="utf-8")
    for name in (
        CONTRACT.request_id_header,
        CONTRACT.rate_limit_class_header,
        CONTRACT.replay_header,
        CONTRACT.retry_after_header,
    ):
        assert f'"{name}"' not in source, name
