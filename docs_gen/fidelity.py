"""Fidelity: does the generated Markdown carry every fact of the published page?

The facts are read from the published page's text (as copied from the Layers docs site), not
from the spec, so that a fact missing from the spec shows up as missing from the docs. Wording
may differ (the spec is the project's own rewrite); what must be there is each status and its
code, the scope, each 200 field and example value, the `details` fields, the headers, the code
samples and the leased-accounts advice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from contract.published_page import PublishedPage


def words(text: str) -> str:
    """Text as lower-case words joined by one space: ignores punctuation, backticks, `:id` vs `{id}`."""
    return " ".join(re.findall(r"[a-z0-9_]+", text.lower()))


def table_rows(markdown: str) -> list[list[str]]:
    """Cells of every Markdown table row, backticks stripped."""
    rows = []
    for line in markdown.splitlines():
        if line.startswith("|") and not set(line) <= set("|-: "):
            rows.append([c.strip().strip("`") for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
    return rows


@dataclass(frozen=True)
class Fact:
    name: str
    present: Callable[[str], bool]


@dataclass
class Report:
    total: int
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing

    def summary(self) -> str:
        head = f"fidelity: {self.total - len(self.missing)} of {self.total} facts of the published page present"
        return head + "".join(f"\n  missing: {m}" for m in self.missing)


def _in_text(needle: str) -> Callable[[str], bool]:
    return lambda md: needle in md


def _in_words(phrase: str) -> Callable[[str], bool]:
    target = words(phrase)
    return lambda md: target in words(md)


def _in_one_row(*cells: str) -> Callable[[str], bool]:
    return lambda md: any(all(c in row for c in cells) for row in table_rows(md))


def published_facts(text: str) -> list[Fact]:
    page = PublishedPage(text)
    facts: list[Fact] = []

    # Title and summary.
    title = f"{page.method} {page.path}"
    facts.append(Fact(f"title `{title}`", _in_text(f"# {title}\n")))
    facts.append(Fact(f"summary {page.summary!r}", _in_text(page.summary)))

    # Phase and stability ("Phase 1stable"), auth, scope: the badges under the title.
    phase, stability = page.phase_and_stability
    facts.append(Fact(f"phase {phase!r} and stability {stability!r}", _in_one_row(phase, stability)))
    facts.append(Fact(f"auth {page.auth!r}", _in_one_row(page.auth)))
    facts.append(Fact(f"scope `{page.scope}`", _in_one_row(page.scope)))

    # Path parameters.
    for name, ptype, required, description in page.path_parameters:
        facts.append(Fact(f"path parameter `{name}` ({ptype}, {required})", _in_one_row(name, ptype, required)))
        facts.append(Fact(f"path parameter description {description!r}", _in_words(description.rstrip("."))))

    # No request body, and the recorded reason.
    for sentence in re.split(r"(?<=\.) ", page.body_statement):
        facts.append(Fact(f"statement {sentence!r}", _in_words(sentence)))

    # Example requests (curl, JavaScript, Python): every line, verbatim.
    for ln in page.example_request_lines:
        facts.append(Fact(f"example request line {ln.strip()!r}", _in_text(ln)))

    # The 200 response: its label, every field and example value.
    status = page.success_status
    facts.append(Fact(f"response {status} {page.success_label}", _in_text(f"{status} {page.success_label}")))
    for name, value in page.success_example.items():
        facts.append(Fact(f"{status} field `{name}`", _in_one_row(name)))
        facts.append(Fact(f"example value {name} = {json.dumps(value)}", _in_text(f'"{name}": {json.dumps(value)}')))

    # The errors table: status and code on one row; details fields, headers and ids named in "when".
    for row in page.error_rows:
        facts.append(Fact(f"error {row.status} `{row.code}`", _in_one_row(row.status, row.code)))
        for name in row.details_fields:
            facts.append(Fact(f"`details.{name}` ({row.code})", _in_text(f"details.{name}")))
        for header in row.headers:
            facts.append(Fact(f"header `{header}` ({row.code})", _in_text(f"`{header}`")))
        for name, values in row.details_enums.items():
            for value in values:
                facts.append(Fact(f"`details.{name}` value `{value}`", _in_text(f"`{value}`")))
        if "requestId" in row.when:
            facts.append(Fact(f"`requestId` ({row.code})", _in_text("requestId")))

    # The leased-accounts advice: the endpoint to prefer, and the whole paragraph.
    facts.append(Fact(f"leased accounts: prefer `{page.leased_endpoint}`", _in_text(page.leased_endpoint)))
    facts.append(Fact("leased accounts advice (whole paragraph)", _in_words(page.leased_advice)))
    return facts


DECISIONS_HEADING = "\n## Contract decisions\n"


def check_page(facts: list[Fact], markdown: str) -> Report:
    # The published page's facts must be in the reference itself, not only in this kit's own
    # decisions (the page's last section, which mentions Retry-After, the codes...).
    reference = markdown.split(DECISIONS_HEADING, 1)[0]
    return Report(len(facts), [f.name for f in facts if not f.present(reference)])
