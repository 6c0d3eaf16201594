"""The published page (tests/fixtures/revoke-social-account.txt), read into its facts.

The page is the authority the spec is written from. Two checks hold things against it: the
spec (`contract.fidelity`) and the generated docs (`docs_gen.fidelity`). Both read the page
through this one parser, so a change of the page's layout is mended in one place.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cached_property

_METHOD_PATH = re.compile(r"^(GET|POST|PUT|PATCH|DELETE)\s*(/\S+)$")


def _found(match: re.Match[str] | None, what: str) -> re.Match[str]:
    """The match, or a clear error naming what the page lacks (not an AttributeError on None)."""
    if match is None:
        raise ValueError(f"the published page has no {what}")
    return match


def route(path: str) -> str:
    """The docs site writes `/:id`; OpenAPI writes `/{id}`."""
    return re.sub(r":(\w+)", r"{\1}", path)


def split_error_row(line: str) -> tuple[str, str, str] | None:
    """Split a flattened table row, "404NOT_FOUNDAccount not in ...", into status, code, when.

    The copied page lost the cell borders. A "when" starts either with a capitalised word
    ("Missing ...": its capital is not part of the code) or with a camelCase identifier
    ("socialAccountId ...": the code ends right before it).
    """
    m = re.match(r"^(\d{3})([A-Z_]+)([a-z]\w*)(.*)$", line.strip())
    if m is None:
        return None
    status, run, head, rest = m.groups()
    if re.search(r"[A-Z]", head):  # camelCase identifier: the whole upper-case run is the code
        return status, run, head + rest
    return status, run[:-1], run[-1] + head + rest


@dataclass(frozen=True)
class ErrorRow:
    status: str
    code: str
    when: str

    @property
    def details_fields(self) -> list[str]:
        """`details.<field>` names the row mentions, e.g. ["requiredScope"]."""
        return re.findall(r"details\.(\w+)", self.when)

    @property
    def details_enums(self) -> dict[str, list[str]]:
        """Values the row lists for a details field: "details.scope is key, organization, or global"."""
        out = {}
        for m in re.finditer(r"details\.(\w+) is ([\w, ]+?)\.", self.when):
            out[m.group(1)] = [v for v in re.split(r",\s*(?:or\s+)?|\s+or\s+", m.group(2)) if v]
        return out

    @property
    def headers(self) -> list[str]:
        """HTTP header names the row mentions (e.g. Retry-After)."""
        return re.findall(r"\b[A-Z][a-z]+(?:-[A-Z][a-z]+)+\b", self.when)


class PublishedPage:
    def __init__(self, text: str):
        self.text = text
        self.lines = [ln.rstrip() for ln in text.splitlines()]
        self.stripped = [ln.strip() for ln in self.lines]

    def _after(self, label: str) -> str:
        return self.stripped[self.stripped.index(label) + 1]

    def section(self, start: str, end: str, *, raw: bool = False) -> list[str]:
        lines = self.lines if raw else self.stripped
        i = self.stripped.index(start)
        j = self.stripped.index(end, i + 1)
        return lines[i + 1 : j]

    # -- the header block -----------------------------------------------------------------
    @cached_property
    def _title_index(self) -> int:
        return next(i for i, ln in enumerate(self.stripped) if _METHOD_PATH.match(ln))

    @property
    def method(self) -> str:
        return _found(_METHOD_PATH.match(self.stripped[self._title_index]), "method").group(1)

    @property
    def path(self) -> str:
        """The OpenAPI form, `/v1/social-accounts/{socialAccountId}`."""
        return route(_found(_METHOD_PATH.match(self.stripped[self._title_index]), "path").group(2))

    @property
    def summary(self) -> str:
        return next(ln for ln in self.stripped[self._title_index + 1 :] if ln)

    @property
    def phase_and_stability(self) -> tuple[str, str]:
        line = next(ln for ln in self.stripped if ln.startswith("Phase "))
        phase, stability = _found(re.match(r"^(Phase \d+)\s*(\w+)$", line), "phase and stability").groups()
        return phase, stability

    @property
    def auth(self) -> str:
        return self._after("Auth")

    @property
    def scope(self) -> str:
        return self._after("Scope")

    # -- request --------------------------------------------------------------------------
    @property
    def body_statement(self) -> str:
        return next(ln for ln in self.stripped if "no request body" in ln)

    @property
    def path_parameters(self) -> list[tuple[str, str, str, str]]:
        """(name, type, required|optional, description) for each "• name" bullet."""
        block = self.section("Path", self.body_statement)
        out = []
        for k, ln in enumerate(block):
            if ln.startswith("•"):
                ptype, required = _found(
                    re.match(r"^(string|integer|number|boolean)(required|optional)$", block[k + 1]), "parameter type"
                ).groups()
                out.append((ln.lstrip("• ").strip(), ptype, required, block[k + 2]))
        return out

    @property
    def example_request_lines(self) -> list[str]:
        return [ln for ln in self.section("Example request", "Response", raw=True) if ln.strip()]

    @property
    def example_account_id(self) -> str:
        return _found(re.search(r"/v1/social-accounts/(sa_[0-9a-f-]+)", self.text), "example account id").group(1)

    # -- responses ------------------------------------------------------------------------
    @cached_property
    def _success_line(self) -> str:
        return next(ln for ln in self.stripped if re.match(r"^2\d\d[A-Z]", ln))

    @property
    def success_status(self) -> str:
        return self._success_line[:3]

    @property
    def success_label(self) -> str:
        return self._success_line[3:]

    @cached_property
    def success_example(self) -> dict:
        start = self.stripped.index("{", self.stripped.index(self._success_line))
        end = self.stripped.index("}", start)
        return json.loads("\n".join(self.stripped[start : end + 1]))

    @property
    def disconnected_reason(self) -> str:
        return _found(re.search(r'disconnectedReason = "(\w+)"', self.text), "disconnectedReason").group(1)

    @cached_property
    def error_rows(self) -> list[ErrorRow]:
        rows = map(split_error_row, self.section("StatusCodeWhen", ""))
        return [ErrorRow(*row) for row in rows if row is not None]

    # -- advice ---------------------------------------------------------------------------
    @property
    def leased_advice(self) -> str:
        return next(ln for ln in self.stripped if ln.startswith("For leased accounts, prefer"))

    @property
    def leased_endpoint(self) -> str:
        m = _found(re.search(r"(GET|POST|PUT|PATCH|DELETE) (/\S+)", self.leased_advice), "leased endpoint")
        return f"{m.group(1)} {route(m.group(2))}"
