"""control.yaml describes what the control plane really answers: every operation tagged and
summarised, every success response typed (no bare `{type: object}`), every example valid, and the
live mock's answers valid against those types, for every operation."""

from __future__ import annotations

import httpx
import pytest
import yaml
from openapi_schema_validator import OAS30Validator

from contract import CONTRACT
from contract.control import CONTROL_PREFIX, CONTROL_SPEC
from contract.spec import resolved
from contract.world import DEFAULT_WORLD, default_write_key
from mock_server.core.world import read_fixture

RAW = yaml.safe_load(CONTROL_SPEC.read_text())
SPEC = resolved(RAW)
OPERATIONS = {
    op["operationId"]: (method, path, op)
    for path, item in SPEC["paths"].items()
    for method, op in item.items()
    if isinstance(op, dict) and "operationId" in op
}
WRITE = default_write_key(read_fixture(DEFAULT_WORLD))


def _schemas(node):
    """Every schema object under a node (for the examples)."""
    if isinstance(node, dict):
        if "example" in node and ("type" in node or "properties" in node):
            yield node
        for v in node.values():
            yield from _schemas(v)
    elif isinstance(node, list):
        for v in node:
            yield from _schemas(v)


def _typed(schema: dict) -> bool:
    if schema.get("type") == "array":
        return _typed(schema["items"])
    return bool(schema.get("properties")) or (
        "additionalProperties" in schema and schema["additionalProperties"] not in (True, {})
    )


@pytest.mark.parametrize("operation_id", sorted(OPERATIONS))
def test_operation_tagged_summarised_and_typed(operation_id):
    _, _, op = OPERATIONS[operation_id]
    declared_tags = {t["name"] for t in RAW["tags"]}
    assert op.get("tags") and set(op["tags"]) <= declared_tags, operation_id
    assert op.get("summary"), operation_id
    for status, response in op["responses"].items():
        if operation_id in TEXT_OPERATIONS:  # Prometheus' text format: a string, not JSON
            ((media, content),) = response["content"].items()
            assert media.startswith("text/plain") and content["schema"]["type"] == "string"
            continue
        schema = response["content"]["application/json"]["schema"]
        assert _typed(schema), f"{operation_id} {status} is an untyped object"


def test_every_example_is_valid_against_its_schema():
    examples = list(_schemas(SPEC["components"]))
    assert len(examples) >= 15
    for schema in examples:
        OAS30Validator(schema).validate(schema["example"])


def test_a_wrong_type_is_caught():
    """The validation below is not vacuous: a real answer with one field of the wrong type fails."""
    schema = OPERATIONS["set_budget"][2]["responses"]["200"]["content"]["application/json"]["schema"]
    bad = {**schema["example"], "remaining": "0"}
    assert list(OAS30Validator(schema).iter_errors(bad))


def _calls(account_id: str) -> list[tuple[str, dict, dict]]:
    """(operationId, path params / query, body) for every control operation, in a runnable order."""
    return [
        ("reset", {}, {}),
        ("get_state", {}, None),
        ("load_fixture", {}, {"organizations": [{"name": "Initech"}]}),
        ("create_organization", {}, {"name": "Umbrella"}),
        ("create_key", {}, {"organizationId": WRITE["organizationId"], "label": "ci"}),
        ("create_account", {}, {"posts": {"queued": 2, "published": 1}}),
        ("create_posts", {}, {"socialAccountId": account_id, "status": "queued", "count": 2}),
        ("set_budget", {"keyId": WRITE["label"]}, {"remaining": 5}),
        ("set_kill_switch", {}, {"scope": "global", "enabled": False}),
        ("arm_fault", {}, {"step": "cancel_posts"}),
        ("list_faults", {}, None),
        ("clear_faults", {}, None),
        ("get_clock", {}, None),
        ("set_clock", {}, {"advanceSeconds": 60, "frozen": True}),
        ("get_account", {"accountId": account_id}, None),
        ("get_journal", {}, None),
        ("get_integrity", {}, None),
        ("get_health", {}, None),
        ("get_ready", {}, None),
        ("get_metrics", {}, None),
        ("arm_scenario", {}, {"keyId": WRITE["label"], "steps": [{"status": 429, "retryAfter": 2}, {"status": 200}]}),
        ("list_scenarios", {}, None),
        ("clear_scenarios", {}, None),
        ("get_client_report", {}, None),
        ("clear_client_report", {}, None),
    ]


# Answered in a text format (GET /metrics): checked by its media type, not a JSON schema.
TEXT_OPERATIONS = ("get_metrics",)


# Hosted mode's operations: checked against a mock started with --operator-token (below).
SANDBOX_OPERATIONS = ("create_sandbox", "list_sandboxes", "delete_sandbox")


def _assert_typed(operation_id: str, r: httpx.Response) -> None:
    op = OPERATIONS[operation_id][2]
    status = str(r.status_code)
    assert status in op["responses"] and status.startswith("2"), f"{operation_id}: {r.status_code} {r.text}"
    if operation_id in TEXT_OPERATIONS:
        assert r.headers["content-type"] in op["responses"][status]["content"], r.headers["content-type"]
        return
    schema = op["responses"][status]["content"]["application/json"]["schema"]
    errors = [e.message for e in OAS30Validator(schema).iter_errors(r.json())]
    assert not errors, f"{operation_id} answered outside its schema: {errors[:3]}"


def test_hosted_mode_answers_match_the_declared_types(hosted_mock):
    with hosted_mock.client(
        base_url=hosted_mock.base_url + CONTROL_PREFIX,
        headers={"X-Mock-Admin-Token": hosted_mock.operator_token, "Content-Type": "application/json"},
    ) as c:
        created = c.post("/sandboxes", json={"label": "typing"})
        _assert_typed("create_sandbox", created)
        _assert_typed("list_sandboxes", c.get("/sandboxes"))
        _assert_typed("delete_sandbox", c.delete(f"/sandboxes/{created.json()['sandboxId']}"))


def test_live_answers_match_the_declared_types(mock, api):
    with mock.client(base_url=mock.base_url + CONTROL_PREFIX) as c:
        calls = _calls(CONTRACT.example_account_id)
        assert {c_[0] for c_ in calls} | set(SANDBOX_OPERATIONS) == set(OPERATIONS), (
            "a control operation is not exercised"
        )
        for operation_id, params, body in calls:
            method, path, _ = OPERATIONS[operation_id]
            r = c.request(method.upper(), path.format(**params), json=body)
            _assert_typed(operation_id, r)
            if operation_id == "reset":  # then a revoke, so the journal and the account have content to check
                assert (
                    api.delete(
                        CONTRACT.path_for(CONTRACT.example_account_id),
                        headers={"Authorization": f"Bearer {WRITE['secret']}"},
                    ).status_code
                    == 200
                )
