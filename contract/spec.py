"""Load openapi.yaml and answer questions about the revoke operation.

Every documented fact lives in the YAML. This module only reads it: "which code goes with
429?", "which scope does the operation need?", "what does an error body look like?".
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

SPEC_PATH = Path(__file__).resolve().parent / "openapi.yaml"


def _deref(node: Any, root: dict, seen: tuple[str, ...] = ()) -> Any:
    """Inline local `#/...` references (the spec has no remote ones)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/"):
            if ref in seen:
                raise ValueError(f"circular $ref {ref}")
            target: Any = root
            for part in ref[2:].split("/"):
                target = target[part.replace("~1", "/").replace("~0", "~")]
            return _deref(target, root, seen + (ref,))
        return {k: _deref(v, root, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [_deref(v, root, seen) for v in node]
    return node


def _merge_all_of(schema: dict) -> dict:
    """Flatten `allOf` into one schema, and in its properties (an error's `error` is an `allOf`),
    so callers can read `properties` directly."""
    if "allOf" not in schema:
        if "properties" in schema:
            schema["properties"] = {name: _merge_all_of(sub) for name, sub in schema["properties"].items()}
        return schema
    merged: dict = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        part = _merge_all_of(part)
        for key, value in part.items():
            if key == "properties":
                props = merged.setdefault("properties", {})
                for name, sub in value.items():
                    if name in props:
                        props[name] = _merge_all_of({"allOf": [props[name], sub]})
                    else:
                        props[name] = sub
            elif key == "required":
                merged["required"] = sorted(set(merged.get("required", [])) | set(value))
            else:
                merged.setdefault(key, value)
    return _merge_all_of(merged)


@dataclass(frozen=True)
class DocumentedResponse:
    """One documented status of the operation, as the spec states it."""

    status: int
    description: str
    schema: dict
    example: Any
    headers: dict = field(default_factory=dict)

    @property
    def code(self) -> str | None:
        """The envelope `code` pinned to this status (None for the success response)."""
        enum = self.schema.get("properties", {}).get("error", {}).get("properties", {}).get("code", {}).get("enum")
        return enum[0] if enum else None

    @property
    def required_headers(self) -> list[str]:
        return [name for name, h in self.headers.items() if h.get("required")]

    @property
    def details_schema(self) -> dict:
        return self.schema.get("properties", {}).get("error", {}).get("properties", {}).get("details", {})

    @property
    def required_details(self) -> list[str]:
        return list(self.details_schema.get("required", []))


class Contract:
    """The revoke operation's facts, read from the spec."""

    def __init__(self, raw: dict, path: Path = SPEC_PATH):
        self.raw = raw
        self.path = path
        self.resolved = _deref(raw, raw)
        (self.route, item), = self.resolved["paths"].items()
        (self.method, self.operation), = ((m, op) for m, op in item.items() if m in {"get", "put", "post", "delete", "patch"})
        self.operation_id: str = self.operation["operationId"]

    # -- the operation -------------------------------------------------------------------
    @property
    def required_scope(self) -> str:
        (requirement,) = self.operation["security"]
        (scopes,) = requirement.values()
        return scopes[0]

    @property
    def security_scheme_name(self) -> str:
        (requirement,) = self.operation["security"]
        (name,) = requirement.keys()
        return name

    @property
    def rate_limit_class(self) -> str:
        return self.operation["x-rate-limit-class"]

    @property
    def rate_limit_tiers(self) -> dict[str, dict[str, int]]:
        """Per-key-tier write budget: {"standard": {"perMinute": 60, "perDay": 10000}, ...}."""
        return self.operation["x-rate-limit-tiers"]

    def parameter(self, name: str) -> dict:
        for p in self.operation["parameters"]:
            if p["name"] == name:
                return p
        raise KeyError(name)

    @property
    def path_parameter(self) -> dict:
        (p,) = [p for p in self.operation["parameters"] if p["in"] == "path"]
        return p

    @cached_property
    def account_id_pattern(self) -> re.Pattern:
        return re.compile(self.path_parameter["schema"]["pattern"])

    @property
    def example_account_id(self) -> str:
        return self.path_parameter["example"]

    @property
    def idempotency_header(self) -> str:
        (p,) = [p for p in self.operation["parameters"] if p["in"] == "header"]
        return p["name"]

    @property
    def idempotency_window_seconds(self) -> int:
        return int(self.parameter(self.idempotency_header)["schema"]["x-window-seconds"])

    def path_for(self, account_id: str) -> str:
        return self.route.replace("{" + self.path_parameter["name"] + "}", account_id)

    # -- responses -----------------------------------------------------------------------
    @cached_property
    def responses(self) -> dict[int, DocumentedResponse]:
        out = {}
        for status, resp in self.operation["responses"].items():
            media = resp["content"]["application/json"]
            out[int(status)] = DocumentedResponse(
                status=int(status),
                description=resp["description"],
                schema=_merge_all_of(copy.deepcopy(media["schema"])),
                example=media.get("example"),
                headers=resp.get("headers", {}),
            )
        return out

    @property
    def documented_statuses(self) -> list[int]:
        return sorted(self.responses)

    @property
    def error_statuses(self) -> list[int]:
        return [s for s in self.documented_statuses if s >= 400]

    @property
    def success_status(self) -> int:
        (status,) = [s for s in self.documented_statuses if s < 300]
        return status

    def code_for_status(self, status: int) -> str:
        code = self.responses[status].code
        if code is None:
            raise KeyError(f"status {status} carries no error code")
        return code

    def status_for_code(self, code: str) -> int:
        for status in self.error_statuses:
            if self.responses[status].code == code:
                return status
        raise KeyError(code)

    @property
    def codes(self) -> dict[str, int]:
        return {self.responses[s].code: s for s in self.error_statuses}

    @property
    def success_schema(self) -> dict:
        return self.responses[self.success_status].schema

    @property
    def envelope_schema(self) -> dict:
        return self.resolved["components"]["schemas"]["ErrorEnvelope"]

    @property
    def request_id_pattern(self) -> re.Pattern:
        return re.compile(self.resolved["components"]["headers"]["X-Request-Id"]["schema"]["pattern"])

    @property
    def request_id_header(self) -> str:
        return "X-Request-Id"

    @property
    def rate_limit_class_header(self) -> str:
        return "X-RateLimit-Endpoint-Class"

    @property
    def retry_after_header(self) -> str:
        (name,) = self.responses[self.status_for_code("RATE_LIMITED")].required_headers[:1]
        return name

    @property
    def replay_header(self) -> str:
        return "Idempotent-Replayed"

    @property
    def kill_switch_scopes(self) -> list[str]:
        status = self.status_for_code("KILL_SWITCH")
        return list(self.responses[status].details_schema["properties"]["scope"]["enum"])

    @property
    def success_fields(self) -> list[str]:
        return list(self.success_schema["required"])

    def success_enum(self, field_name: str) -> str:
        return self.success_schema["properties"][field_name]["enum"][0]


def load_contract(path: Path = SPEC_PATH) -> Contract:
    with open(path, encoding="utf-8") as fh:
        return Contract(yaml.safe_load(fh), Path(path))


CONTRACT = load_contract()
