"""Hold the published page against the spec: every fact the page states must be in openapi.yaml.

The facts are parsed from the page's text (`contract.published_page`: its errors table, its
response example, its scope and example request), not typed here, so a fact the page adds is a
fact this check demands.
"""

from __future__ import annotations

from dataclasses import dataclass

from contract.published_page import PublishedPage
from contract.spec import Contract


@dataclass(frozen=True)
class Fact:
    name: str
    present: bool


def page_facts(text: str, contract: Contract) -> list[Fact]:
    page = PublishedPage(text)
    facts: list[Fact] = []

    def fact(name: str, present: bool) -> None:
        facts.append(Fact(name, bool(present)))

    fact(f"{page.method} {page.path}", contract.method.upper() == page.method and contract.route == page.path)
    fact(f"scope {page.scope}", contract.required_scope == page.scope)
    schemes = contract.resolved["components"]["securitySchemes"]
    fact(f"auth {page.auth}", schemes[contract.security_scheme_name].get("scheme") == page.auth.lower())
    fact("no request body", "requestBody" not in contract.operation)
    fact(
        f"example id {page.example_account_id}",
        contract.example_account_id == page.example_account_id
        and contract.account_id_pattern.fullmatch(page.example_account_id) is not None,
    )

    # The errors table: each status and code pair, every `details.<field>` and header it names.
    for row in page.error_rows:
        documented = contract.responses.get(int(row.status))
        fact(f"{row.status} {row.code}", documented is not None and documented.code == row.code)
        details = documented.details_schema.get("properties", {}) if documented else {}
        required = documented.required_details if documented else []
        for name in row.details_fields:
            fact(f"{row.status} details.{name}", name in details and name in required)
        for name, values in row.details_enums.items():
            for value in values:
                fact(f"{row.status} details.{name} = {value}", value in details.get(name, {}).get("enum", []))
        request_headers = {p["name"] for p in contract.operation["parameters"] if p["in"] == "header"}
        for header in row.headers:  # a response header of that status, or a request header it is about
            fact(
                f"{row.status} {header} header",
                documented is not None and (header in documented.required_headers or header in request_headers),
            )

    # The 200 body: every field, with the page's example value, all required, and no others.
    success = contract.responses[int(page.success_status)]
    for name, value in page.success_example.items():
        fact(f"200 field {name}", name in success.schema.get("properties", {}) and name in success.schema["required"])
        fact(f"200 example {name}={value}", success.example.get(name) == value)
    fact("200 has exactly the page's fields", set(success.schema["properties"]) == set(page.success_example))
    reason = page.disconnected_reason
    fact(f"disconnectedReason {reason}", success.schema["properties"]["disconnectedReason"].get("enum") == [reason])
    return facts
