"""Hold the published page against the spec: every fact the page states must be in openapi.yaml.

The facts are parsed from the page's text (its errors table, its response example, its scope
and example request), not typed here, so a fact the page adds is a fact this check demands.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from contract.spec import Contract

_ERROR_ROW = re.compile(r"^(\d{3})([A-Z][A-Z_]+[A-Z])(.+)$")


def _split_row(line: str, page: str) -> tuple[int, str, str] | None:
    """'401UNAUTHENTICATEDMissing or…' -> (401, 'UNAUTHENTICATED', 'Missing or…').

    The text view of the page runs the table's cells together, so where the code ends is
    ambiguous when the "when" cell starts with a capital. The greedy split is kept when the
    word it leaves is a word of the page ('VALIDATION' + 'socialAccountId'); otherwise the
    code gives its last letter back ('UNAUTHENTICATED' + 'Missing', not '…DM' + 'issing').
    """
    m = _ERROR_ROW.match(line.strip())
    if not m:
        return None
    status, code, when = int(m.group(1)), m.group(2), m.group(3)
    first_word = re.match(r"\w*", when).group(0)
    if first_word and not re.search(rf"\b{re.escape(first_word)}\b", page.replace(code + when, "")):
        code, when = code[:-1], code[-1] + when
    return status, code, when


@dataclass(frozen=True)
class Fact:
    name: str
    present: bool


def _page_response_example(page: str) -> dict:
    start = page.index("{", page.index("200Revoked"))
    depth = 0
    for i, ch in enumerate(page[start:], start):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0:
            return json.loads(page[start:i + 1])
    raise ValueError("no response example on the page")


def page_facts(page: str, contract: Contract) -> list[Fact]:
    facts: list[Fact] = []

    def fact(name: str, present: bool) -> None:
        facts.append(Fact(name, bool(present)))

    # The scope and the auth scheme.
    scope = re.search(r"^Scope\s*\n(\S+)", page, re.M).group(1)
    fact(f"scope {scope}", contract.required_scope == scope)
    schemes = contract.resolved["components"]["securitySchemes"]
    fact("auth Bearer", schemes[contract.security_scheme_name].get("scheme") == "bearer")

    # The errors table: each status and code pair, and every `details.<field>` it names.
    for line in page.splitlines():
        row = _split_row(line, page)
        if row is None:
            continue
        status, code, when = row
        documented = contract.responses.get(status)
        fact(f"{status} {code}", documented is not None and documented.code == code)
        for detail in re.findall(r"details\.(\w+)", when):
            fact(f"{status} details.{detail}",
                 documented is not None and detail in documented.details_schema.get("properties", {})
                 and detail in documented.required_details)
        if "Retry-After" in when:
            fact(f"{status} Retry-After header",
                 documented is not None and "Retry-After" in documented.required_headers)
        enum_values = re.search(r"details\.\w+ is ([\w, ]+?)\.?$", when)
        if enum_values and documented is not None:
            values = [v.strip() for v in re.split(r",|\bor\b", enum_values.group(1)) if v.strip()]
            for detail in re.findall(r"details\.(\w+)", when):
                enum = documented.details_schema.get("properties", {}).get(detail, {}).get("enum", [])
                for value in values:
                    fact(f"{status} details.{detail} = {value}", value in enum)

    # The 200 body: every field, with the page's example value, all required.
    example = _page_response_example(page)
    success = contract.responses[contract.success_status]
    for name, value in example.items():
        fact(f"200 field {name}", name in success.schema.get("properties", {}) and name in success.schema["required"])
        fact(f"200 example {name}={value}", success.example.get(name) == value)
    fact("200 has exactly the page's fields", set(success.schema["properties"]) == set(example))
    reason = re.search(r'disconnectedReason = "(\w+)"', page).group(1)
    fact(f"disconnectedReason {reason}", success.schema["properties"]["disconnectedReason"].get("enum") == [reason])

    # The example id and the method/path.
    example_id = re.search(r"/v1/social-accounts/(sa_[0-9a-f-]+)", page).group(1)
    fact(f"example id {example_id}", contract.example_account_id == example_id
         and contract.account_id_pattern.fullmatch(example_id) is not None)
    method, path = re.search(r"^(DELETE)\s*(/v1/\S+)$", page, re.M).groups()
    fact(f"{method} {path}", contract.method.upper() == method
         and contract.route == re.sub(r":(\w+)", r"{\1}", path))
    fact("no request body", "requestBody" not in contract.operation)
    return facts
