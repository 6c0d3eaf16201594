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
from dataclasses import dataclass, field
from typing import Callable

_METHOD_PATH = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) (/\S+)$")


def words(text: str) -> str:
    """Text as lower-case words joined by one space: ignores punctuation, backticks, `:id` vs `{id}`."""
    return " ".join(re.findall(r"[a-z0-9_]+", text.lower()))


def route(path: str) -> str:
    """The docs site writes `/:id`; OpenAPI writes `/{id}`."""
    return re.sub(r":(\w+)", r"{\1}", path)


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


def _section(lines: list[str], start: str, end: str) -> list[str]:
    i = lines.index(start)
    j = lines.index(end, i + 1)
    return lines[i + 1:j]


def _error_row(line: str) -> tuple[str, str, str] | None:
    """Split a flattened table row, "404NOT_FOUNDAccount not in ...", into status, code, when.

    The copied page lost the cell borders. A "when" starts either with a capitalised word
    ("Missing ...": its capital is not part of the code) or with a camelCase identifier
    ("socialAccountId ...": the code ends right before it).
    """
    m = re.match(r"^(\d{3})([A-Z_]+)([a-z]\w*)(.*)$", line)
    if m is None:
        return None
    status, run, head, rest = m.groups()
    if re.search(r"[A-Z]", head):  # camelCase identifier: the whole upper-case run is the code
        return status, run, head + rest
    return status, run[:-1], run[-1] + head + rest


def published_facts(page: str) -> list[Fact]:
    lines = [ln.rstrip() for ln in page.splitlines()]
    stripped = [ln.strip() for ln in lines]
    facts: list[Fact] = []

    # Title and summary: the first "METHOD /path" line and the line after it.
    i, m = next((i, m) for i, ln in enumerate(stripped) if (m := _METHOD_PATH.match(ln)))
    title = f"{m.group(1)} {route(m.group(2))}"
    facts.append(Fact(f"title `{title}`", _in_text(f"# {title}\n")))
    summary = next(ln for ln in stripped[i + 1:] if ln)
    facts.append(Fact(f"summary {summary!r}", _in_text(summary)))

    # Phase and stability ("Phase 1stable"), auth, scope: the badges under the title.
    phase, stability = re.match(r"^(Phase \d+)\s*(\w+)$", next(ln for ln in stripped if ln.startswith("Phase "))).groups()
    facts.append(Fact(f"phase {phase!r} and stability {stability!r}", _in_one_row(phase, stability)))
    auth = stripped[stripped.index("Auth") + 1]
    scope = stripped[stripped.index("Scope") + 1]
    facts.append(Fact(f"auth {auth!r}", _in_one_row(auth)))
    facts.append(Fact(f"scope `{scope}`", _in_one_row(scope)))

    # Path parameters: "• name", then "stringrequired", then the description.
    path_block = _section(stripped, "Path", next(ln for ln in stripped if "no request body" in ln))
    for k, ln in enumerate(path_block):
        if ln.startswith("•"):
            name = ln.lstrip("• ").strip()
            ptype, required = re.match(r"^(string|integer|number|boolean)(required|optional)$", path_block[k + 1]).groups()
            facts.append(Fact(f"path parameter `{name}` ({ptype}, {required})", _in_one_row(name, ptype, required)))
            facts.append(Fact(f"path parameter description {path_block[k + 2]!r}", _in_words(path_block[k + 2].rstrip("."))))

    # No request body, and the recorded reason.
    body_line = next(ln for ln in stripped if "no request body" in ln)
    for sentence in re.split(r"(?<=\.) ", body_line):
        facts.append(Fact(f"statement {sentence!r}", _in_words(sentence)))

    # Example requests (curl, JavaScript, Python): every line, verbatim.
    for ln in _section(lines, "Example request", "Response"):
        if ln.strip():
            facts.append(Fact(f"example request line {ln.strip()!r}", _in_text(ln)))

    # The 200 response: its label, every field and example value.
    status_label = next(ln for ln in stripped if re.match(r"^2\d\d[A-Z]", ln))
    status, label = status_label[:3], status_label[3:]
    facts.append(Fact(f"response {status} {label}", _in_text(f"{status} {label}")))
    start = stripped.index("{", stripped.index(status_label))
    end = stripped.index("}", start)
    example = json.loads("\n".join(stripped[start:end + 1]))
    for name, value in example.items():
        facts.append(Fact(f"{status} field `{name}`", _in_one_row(name)))
        facts.append(Fact(f"example value {name} = {json.dumps(value)}", _in_text(f'"{name}": {json.dumps(value)}')))

    # The errors table: status and code on one row; details fields, headers and ids named in "when".
    for status, code, when in filter(None, map(_error_row, _section(stripped, "StatusCodeWhen", ""))):
        facts.append(Fact(f"error {status} `{code}`", _in_one_row(status, code)))
        for detail in re.findall(r"details\.\w+", when):
            facts.append(Fact(f"`{detail}` ({code})", _in_text(detail)))
        for header in re.findall(r"\b[A-Z][a-z]+(?:-[A-Z][a-z]+)+\b", when):
            facts.append(Fact(f"header `{header}` ({code})", _in_text(f"`{header}`")))
        for enum in re.finditer(r"(details\.\w+) is ([\w, ]+?)\.", when):
            for value in re.split(r",\s*(?:or\s+)?|\s+or\s+", enum.group(2)):
                facts.append(Fact(f"`{enum.group(1)}` value `{value}`", _in_text(f"`{value}`")))
        if "requestId" in when:
            facts.append(Fact(f"`requestId` ({code})", _in_text("requestId")))

    # The leased-accounts advice: the endpoint to prefer, and the whole paragraph.
    advice = next(ln for ln in stripped if ln.startswith("For leased accounts, prefer"))
    endpoint = re.search(r"(GET|POST|PUT|PATCH|DELETE) (/\S+)", advice)
    facts.append(Fact(f"leased accounts: prefer `{endpoint.group(1)} {route(endpoint.group(2))}`",
                      _in_text(f"{endpoint.group(1)} {route(endpoint.group(2))}")))
    facts.append(Fact("leased accounts advice (whole paragraph)", _in_words(advice)))
    return facts


def check_page(facts: list[Fact], markdown: str) -> Report:
    return Report(len(facts), [f.name for f in facts if not f.present(markdown)])
