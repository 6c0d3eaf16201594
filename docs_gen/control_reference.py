"""The control plane's reference page (the site's `reference/control-plane.md`), rendered from
`contract/control.yaml` alone: its description, then every operation by tag with its parameters,
its request body's fields (with their bounds) and its answers. Nothing is typed here that the
spec says; a new operation or a changed bound shows up at the next `mkdocs build`.

`python -m docs_gen.control_reference` prints it (the site's build hook calls `render`).
"""

from __future__ import annotations

import sys
from typing import Any

from contract.control import CONTROL, ControlSpec

_METHOD_ORDER = ("get", "post", "put", "patch", "delete")


def _cell(text: Any) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _bounds(schema: dict) -> str:
    """A schema's type and its limits in a few words (`integer, 0 to 1000000`)."""
    if "allOf" in schema and len(schema["allOf"]) == 1:
        schema = {**schema["allOf"][0], **{k: v for k, v in schema.items() if k != "allOf"}}
    kind = schema.get("type", "any")
    if kind == "array":
        kind = f"list of {schema.get('items', {}).get('type', 'any')}"
    parts = [kind]
    if "enum" in schema:
        parts.append("one of " + ", ".join(f"`{v}`" for v in schema["enum"]))
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None or high is not None:
        parts.append(f"{low if low is not None else '…'} to {high if high is not None else '…'}")
    if "maxLength" in schema:
        parts.append(f"{schema.get('minLength', 0)} to {schema['maxLength']} characters")
    if "maxItems" in schema:
        parts.append(f"at most {schema['maxItems']} items")
    if "default" in schema:
        parts.append(f"default `{schema['default']}`")
    return ", ".join(parts)


def _body_rows(schema: dict) -> list[tuple[str, str, str, str]]:
    required = set(schema.get("required", []))
    return [
        (name, _bounds(prop), "yes" if name in required else "no", prop.get("description", ""))
        for name, prop in schema.get("properties", {}).items()
    ]


def _responses(op: dict) -> list[tuple[str, str]]:
    out = []
    for status, response in op.get("responses", {}).items():
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        code = (
            (schema.get("properties", {}).get("error", {}) or {}).get("properties", {}).get("code", {}).get("enum")
            if isinstance(schema, dict)
            else None
        )
        label = f"{status} `{code[0]}`" if code and len(code) == 1 else str(status)
        out.append((label, response.get("description", "")))
    return out


def render(control: ControlSpec = CONTROL) -> str:
    spec = control.resolved
    prefix = control.prefix
    lines = [
        "# Control plane reference",
        "",
        "<!-- Generated from contract/control.yaml by docs_gen/control_reference.py at build time. -->",
        "",
        f"Every call below is served by `layers-mock` under `{prefix}`; the machine-readable form is "
        f"`contract/control.yaml`, and a running mock shows it in Swagger UI at `{prefix}/ui/`.",
        "",
        spec["info"]["description"].strip(),
        "",
        "## Bounds on every request body",
        "",
        "| bound | value |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {value:,} |" for name, value in control.request_bounds.items()]
    tags = [t["name"] for t in spec.get("tags", [])]
    by_tag: dict[str, list[tuple[str, str, dict]]] = {t: [] for t in tags}
    for path, item in spec["paths"].items():
        for method in _METHOD_ORDER:
            op = item.get(method)
            if isinstance(op, dict):
                tag = (op.get("tags") or ["Other"])[0]
                by_tag.setdefault(tag, []).append((method, path, op))
    descriptions = {t["name"]: t.get("description", "") for t in spec.get("tags", [])}
    for tag, ops in by_tag.items():
        if not ops:
            continue
        lines += ["", f"## {tag}", ""]
        if descriptions.get(tag):
            lines += [descriptions[tag], ""]
        lines += ["| call | what it does |", "|---|---|"]
        lines += [f"| `{m.upper()} {prefix}{p}` | {_cell(op.get('summary', ''))} |" for m, p, op in ops]
        for method, path, op in ops:
            lines += ["", f"### `{method.upper()} {prefix}{path}`", "", _cell(op.get("summary", ""))]
            if op.get("description"):
                lines += ["", op["description"].strip()]
            params = op.get("parameters", []) + spec["paths"][path].get("parameters", [])
            if params:
                lines += ["", "| parameter | in | type | description |", "|---|---|---|---|"]
                lines += [
                    f"| `{p['name']}` | {p['in']} | {_cell(_bounds(p.get('schema', {})))} | "
                    f"{_cell(p.get('description', ''))} |"
                    for p in params
                ]
            body = (op.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema")
            if body and body.get("properties"):
                lines += ["", "| body field | type | required | description |", "|---|---|---|---|"]
                lines += [f"| `{n}` | {_cell(t)} | {r} | {_cell(d)} |" for n, t, r, d in _body_rows(body)]
            answers = _responses(op)
            if answers:
                lines += ["", "| answer | when |", "|---|---|"]
                lines += [f"| {s} | {_cell(d)} |" for s, d in answers]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
