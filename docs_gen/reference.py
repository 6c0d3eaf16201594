"""The reference page's content, read from a Contract: what the published page shows, in order.

Everything here is a lookup in the spec (the operation, its `x-` extensions, its responses);
nothing is typed twice. The templates only lay it out.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from contract.spec import Contract


@dataclass(frozen=True)
class ErrorRow:
    status: int
    code: str
    when: str
    details: list[tuple[str, str]]  # (field, description or allowed values)
    headers: list[tuple[str, str]]  # documented headers beyond the ones every response carries
    published_when: str = ""  # `x-published-description`: what Layers' page says, when the spec says more
    unpublished_details: tuple[str, ...] = ()  # fields marked `x-published: false` (this contract's additions)


@dataclass(frozen=True)
class Note:
    """Where the spec says more than Layers' page: the public rendering shows the page's words in
    place and this, set apart, as a note."""

    what: str
    text: str


def inline_code(text: str) -> str:
    """Wrap identifiers the spec writes bare (`details.scope`, `Retry-After`) in backticks.

    The spec's "when" texts are prose; the page sets field names and headers in code type.
    """

    def wrap(m: re.Match) -> str:
        return f"`{m.group(0)}`"

    # Skip what is already in backticks, then wrap dotted field paths and Header-Names.
    parts = re.split(r"(`[^`]*`)", text)
    pattern = re.compile(
        r"\b(?:[a-z]+[A-Z]\w*|details)\.\w+\b|\b[A-Z][a-z]+(?:-[A-Z][a-z]+)+\b|\brequestId\b|\bsocialAccountId\b"
    )
    return "".join(p if p.startswith("`") else pattern.sub(wrap, p) for p in parts)


def _detail_props(schema: dict) -> dict:
    return schema.get("properties", {}).get("error", {}).get("properties", {}).get("details", {}).get("properties", {})


def _details(schema: dict) -> list[tuple[str, str]]:
    props = _detail_props(schema)
    out = []
    for name, prop in props.items():
        text = prop.get("description", "")
        if "enum" in prop:
            text = (text + " One of " + ", ".join(f"`{v}`" for v in prop["enum"]) + ".").strip()
        out.append((f"details.{name}", text))
    return out


def _type(prop: dict) -> str:
    return prop.get("type", "") + (f" ({prop['format']})" if "format" in prop else "")


def _field_text(prop: dict) -> str:
    text = prop.get("description", "")
    if len(prop.get("enum", [])) == 1:
        text = (text + f" Always `{prop['enum'][0]}`.").strip()
    if "minimum" in prop:
        text = (text + f" At least {prop['minimum']}.").strip()
    return text


def page_context(contract: Contract) -> dict[str, Any]:
    """Everything the Markdown template needs, in the published page's order."""
    op = contract.operation
    common_headers = {contract.request_id_header, contract.rate_limit_class_header}
    success = contract.responses[contract.success_status]
    errors = []
    for status in contract.error_statuses:
        resp = contract.responses[status]
        extra = [
            (name, h.get("description", ""))
            for name, h in resp.headers.items()
            if name not in common_headers and h.get("required")
        ]
        raw = contract.operation["responses"][str(status)]
        published = raw.get("x-published-description", "")
        errors.append(
            ErrorRow(
                status,
                contract.code_for_status(status),
                inline_code(resp.description),
                _details(resp.schema),
                extra,
                inline_code(published) if published else "",
                tuple(
                    f"details.{name}"
                    for name, prop in _detail_props(resp.schema).items()
                    if prop.get("x-published") is False
                ),
            )
        )
    scheme = contract.resolved["components"]["securitySchemes"][contract.security_scheme_name]
    success_fields = [
        (name, _type(prop), _field_text(prop), json.dumps(success.example.get(name)))
        for name, prop in success.schema.get("properties", {}).items()
    ]
    path_params = [p for p in op["parameters"] if p["in"] == "path"]
    notes = [
        Note(f"path parameter `{p['name']}`", p["description"]) for p in path_params if p.get("x-published-description")
    ]
    notes += [Note(f"{e.status} `{e.code}`", e.when) for e in errors if e.published_when]
    notes += [
        Note(f"{e.status} `{e.code}`: `{field}`", text)
        for e in errors
        for field, text in e.details
        if field in e.unpublished_details
    ]
    notes += [
        Note(f"header `{p['name']}` ({'required' if p.get('required') else 'optional'})", p.get("description", ""))
        for p in op["parameters"]
        if p["in"] == "header"
    ]
    return {
        "notes": notes,
        "title": f"{contract.method.upper()} {contract.route}",
        "summary": op["summary"],
        "phase": op.get("x-phase"),
        "stability": op.get("x-stability"),
        "auth": scheme.get("scheme", scheme.get("type", "")).capitalize(),
        "scope": op.get("x-required-scope", contract.required_scope),
        "rate_limit_class": op.get("x-rate-limit-class"),
        "description": op["description"].strip(),
        "path_params": path_params,
        "header_params": [p for p in op["parameters"] if p["in"] == "header"],
        "has_body": "requestBody" in op,
        "code_samples": op.get("x-codeSamples", []),
        "success_status": contract.success_status,
        "success_label": success.description.split(".")[0],
        "success_description": success.description,
        "success_example": json.dumps(success.example, indent=2),
        "success_fields": success_fields,
        "errors": errors,
        "envelope_description": contract.envelope_schema.get("description", "").strip(),
        "leased_note": op.get("x-leased-accounts-note", "").strip(),
        "source": contract.path.name,
        "decisions": contract.raw.get("x-contract-decisions", {}),
    }
