"""The control plane's own spec (control.yaml, beside openapi.yaml), loaded once, and the facts the
mock reads from it instead of retyping them: its prefix, vocabularies (enums), bounds, error
codes with their statuses, and header names.

A module of its own, importing no web framework, so that light clients (ControlClient, the
pytest plugin) do not pull in Connexion just to know a prefix.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from contract.spec import SAFE_LOADER, _merge_all_of, resolved

CONTROL_SPEC = Path(__file__).with_name("control.yaml")
_METHODS = {"get", "put", "post", "delete", "patch"}


class ControlSpec:
    """control.yaml's facts. Schemas are read with their `$ref`s inlined."""

    def __init__(self, raw: dict, path: Path = CONTROL_SPEC):
        self.raw = raw
        self.path = path
        self.resolved = resolved(raw)
        self.prefix: str = urlsplit(raw["servers"][0]["url"]).path.rstrip("/")

    # -- schemas: vocabularies and bounds -------------------------------------------------
    @property
    def schemas(self) -> dict[str, dict]:
        return self.resolved["components"]["schemas"]

    def enum(self, schema: str) -> list[Any]:
        """A vocabulary of the world (`PostStatus`, `KeyTier`, ...), in the spec's order."""
        return list(self.schemas[schema]["enum"])

    def default(self, schema: str) -> Any:
        return self.schemas[schema]["default"]

    @property
    def clock_range(self) -> tuple[float, float]:
        """[minimum, maximum) the clock may be set to, in epoch seconds (Clock.epochSeconds)."""
        bound = self.schemas["Clock"]["properties"]["epochSeconds"]
        if bound.get("exclusiveMaximum") is not True:
            raise ValueError("control.yaml: Clock.epochSeconds' range must be half-open (exclusiveMaximum)")
        return float(bound["minimum"]), float(bound["maximum"])

    @property
    def request_bounds(self) -> dict[str, int]:
        """What a request body is held to before parsing (`x-request-bounds`: maxBodyBytes, ...)."""
        return dict(self.raw["x-request-bounds"])

    @property
    def limit_defaults(self) -> dict[str, Any]:
        """A hosted deployment's default limits, by their name in the answers (`maxSandboxes`...)."""
        return {
            name: prop["default"] for name, prop in self.schemas["Limits"]["properties"].items() if "default" in prop
        }

    # -- operations and their errors ------------------------------------------------------
    @cached_property
    def operations(self) -> dict[str, tuple[str, str, dict]]:
        """operationId -> (method, path, operation)."""
        return {
            op["operationId"]: (method, path, op)
            for path, item in self.resolved["paths"].items()
            for method, op in item.items()
            if method in _METHODS
        }

    @cached_property
    def codes(self) -> dict[str, int]:
        """Every error code an operation documents, with its status (one status per code)."""
        out: dict[str, int] = {}
        for _, _, op in self.operations.values():
            for status, response in op["responses"].items():
                code = _pinned_code(response)
                if code is None:
                    continue
                if out.setdefault(code, int(status)) != int(status):
                    raise ValueError(f"control.yaml gives {code} two statuses: {out[code]} and {status}")
        return out

    @cached_property
    def probe_paths(self) -> frozenset[str]:
        """The probes' paths, prefix included (`x-probe: true`): answered to any client address
        without a token, the Host and Origin rules still applied (the control guard)."""
        return frozenset(self.prefix + path for _, path, op in self.operations.values() if op.get("x-probe") is True)

    def status_for_code(self, code: str) -> int:
        return self.codes[code]

    def code_for_status(self, status: int) -> str:
        (code,) = [c for c, s in self.codes.items() if s == status]
        return code

    # -- headers --------------------------------------------------------------------------
    def parameter(self, component: str) -> dict:
        """A header the middleware reads before routing (components.parameters)."""
        return self.resolved["components"]["parameters"][component]

    @property
    def admin_token_header(self) -> str:
        return self.parameter("AdminToken")["name"]

    @property
    def sandbox_header(self) -> str:
        return self.parameter("Sandbox")["name"]


def _pinned_code(response: dict) -> str | None:
    """The envelope code an error response pins with a one-value enum, or None (a success)."""
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    error = schema.get("properties", {}).get("error")
    if error is None:
        return None
    enum = _merge_all_of(error).get("properties", {}).get("code", {}).get("enum")
    return enum[0] if enum and len(enum) == 1 else None


def load_control(path: Path = CONTROL_SPEC) -> ControlSpec:
    with open(path, encoding="utf-8") as fh:
        return ControlSpec(yaml.load(fh, Loader=SAFE_LOADER), Path(path))


CONTROL = load_control()
CONTROL_PREFIX: str = CONTROL.prefix
