"""Load openapi.yaml and answer questions about the revoke operation.

Every documented fact lives in the YAML. This module only reads it: "which code goes with
429?", "which scope does the operation need?", "what does an error body look like?".
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from referencing import Registry, Resource

if TYPE_CHECKING:  # the class `Registry.resolver()` returns; referencing exports it only from _core
    from referencing._core import Resolver

SPEC_PATH = Path(__file__).resolve().parent / "openapi.yaml"
# libyaml's parser where PyYAML has it (its wheels do): the same safe loading (SafeConstructor,
# the same resolver), 5-8x faster; the specs are read at every start, in every worker.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def spec_sha256(path: Path = SPEC_PATH) -> str:
    """The contract's identity: sha256 of openapi.yaml's bytes, as `sha256sum openapi.yaml` prints
    it. The mock's ready file names it, so a harness can tell that the mock and its kit read the
    same spec."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def resolver_for(document: dict) -> Resolver:
    """A `referencing` resolver over one OpenAPI document (its `$ref`s are `#/...` pointers into
    itself). The document is opaque to `referencing`: an OpenAPI 3.0 file is not a JSON Schema
    of any draft, and only JSON-pointer lookup is needed."""
    return Registry().with_resource("", Resource.opaque(document)).resolver()


def resolve_refs(node: Any, resolver: Resolver, seen: tuple[str, ...] = ()) -> Any:
    """`node` with every `$ref` replaced by what it points to, recursively (a copy; `seen`
    refuses a reference that leads back to itself)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if ref in seen:
                raise ValueError(f"circular $ref {ref}")
            target = resolver.lookup(ref)
            return resolve_refs(target.contents, target.resolver, seen + (ref,))
        return {k: resolve_refs(v, resolver, seen) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve_refs(v, resolver, seen) for v in node]
    return node


def resolved(document: dict) -> dict:
    """The whole document with its references inlined."""
    return resolve_refs(document, resolver_for(document))


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

    @cached_property  # asked on every error response; the spec does not change
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
        self.resolved = resolved(raw)
        ((self.route, item),) = self.resolved["paths"].items()
        ((self.method, self.operation),) = (
            (m, op) for m, op in item.items() if m in {"get", "put", "post", "delete", "patch"}
        )
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

    # Cached: asked on every error response (the spec does not change once loaded).
    @cached_property
    def documented_statuses(self) -> list[int]:
        return sorted(self.responses)

    @cached_property
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
        return self.codes[code]  # KeyError for a code the spec does not have

    @cached_property
    def codes(self) -> dict[str, int]:
        return {self.code_for_status(s): s for s in self.error_statuses}

    @property
    def success_schema(self) -> dict:
        return self.responses[self.success_status].schema

    @property
    def envelope_schema(self) -> dict:
        return self.resolved["components"]["schemas"]["ErrorEnvelope"]

    # -- headers: found by what the spec says of them, never by a name typed here --------------
    @cached_property
    def _headers_on_every_response(self) -> dict[str, dict]:
        names = set.intersection(*(set(r.headers) for r in self.responses.values()))
        return {name: self.responses[self.success_status].headers[name] for name in sorted(names)}

    @cached_property
    def request_id_header(self) -> str:
        """The header on every response that carries the envelope's `requestId` (same pattern)."""
        pattern = self.envelope_schema["properties"]["error"]["properties"]["requestId"]["pattern"]
        (name,) = [n for n, h in self._headers_on_every_response.items() if h["schema"].get("pattern") == pattern]
        return name

    @property
    def request_id_pattern(self) -> re.Pattern:
        return re.compile(self._headers_on_every_response[self.request_id_header]["schema"]["pattern"])

    @cached_property
    def rate_limit_class_header(self) -> str:
        """The header on every response whose one value is the operation's rate-limit class."""
        (name,) = [
            n for n, h in self._headers_on_every_response.items() if h["schema"].get("enum") == [self.rate_limit_class]
        ]
        return name

    @cached_property
    def retry_after_header(self) -> str:
        """The header RATE_LIMITED requires that not every response carries."""
        (name,) = [
            n
            for n in self.responses[self.status_for_code("RATE_LIMITED")].required_headers
            if n not in self._headers_on_every_response
        ]
        return name

    @cached_property
    def replay_header(self) -> str:
        """The success response's optional header: present on a replay only."""
        (name,) = [n for n, h in self.responses[self.success_status].headers.items() if not h.get("required")]
        return name

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
        return Contract(yaml.load(fh, Loader=SAFE_LOADER), Path(path))


CONTRACT = load_contract()
