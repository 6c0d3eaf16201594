"""Ready-to-run HTTP steps (a curl line each) read from the control plane's spec: what the
docs' "Try it" and the mock's start-up banner show, built in one place so both stay true."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema

from contract.control import CONTROL_PREFIX, CONTROL_SPEC, load_control


@dataclass(frozen=True)
class Step:
    """One HTTP request: an API call, or a control-plane call (path under CONTROL_PREFIX)."""

    say: str
    method: str
    path: str
    expect: int
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    def curl(self, base_url: str) -> str:
        parts = ["curl", "-i", "-X", self.method, base_url + self.path]
        for name, value in self.headers.items():
            parts += ["-H", f"{name}: {value}"]
        if self.body is not None:
            parts += ["-H", "Content-Type: application/json", "-d", json.dumps(self.body, separators=(",", ":"))]
        return " ".join(shlex.quote(p) if i > 3 else p for i, p in enumerate(parts))


def control_step(control_spec: dict, operation_id: str, body: Any = None, **path_params: str) -> Step:
    """A control-plane call read from control.yaml: its method, path, summary and success status;
    the body is checked against the operation's request schema, so a stale step fails here."""
    found = next(
        (
            (method, path, op)
            for path, item in control_spec["paths"].items()
            for method, op in item.items()
            if isinstance(op, dict) and op.get("operationId") == operation_id
        ),
        None,
    )
    if found is None:
        raise ValueError(f"control.yaml has no operation {operation_id!r}")
    method, path, op = found
    schema = (op.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema")
    if body is not None:
        if schema is None:
            raise ValueError(f"control operation {operation_id} takes no body")
        # With the spec's components beside it, so the schema's $refs (its bounds) resolve.
        jsonschema.validate(body, {**schema, "components": control_spec.get("components", {})})
    ok = min(int(s) for s in op["responses"] if str(s).startswith("2"))
    say = f"`{method.upper()} {CONTROL_PREFIX}{path}`: {op.get('summary', operation_id)}"
    return Step(
        say,
        method.upper(),
        CONTROL_PREFIX + path.format(**{k: quote(v, safe="") for k, v in path_params.items()}),
        ok,
        body=body,
    )


def load_control_spec(path: Path = CONTROL_SPEC) -> dict:
    """control.yaml with its `$ref`s inlined (a vocabulary is read where it is used)."""
    return load_control(path).resolved
