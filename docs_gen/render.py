"""Render the reference page: Markdown from a Jinja2 template, HTML from that Markdown.

The HTML is the Markdown run through markdown-it-py, so the two cannot say different things;
code is highlighted by Pygments at build time and all CSS is inlined, so the page needs no
server and no network.
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

from contract.spec import Contract
from docs_gen.paths import PAGE_NAME, RENDERINGS
from docs_gen.reference import page_context
from docs_gen.try_it import mock_base_url, recipes

TEMPLATES = Path(__file__).with_name("templates")
# x-codeSamples names languages the way readers do; Pygments and fences want lexer names.
_FENCE_LANG = {"curl": "bash"}


def _cell(text: str) -> str:
    """One Markdown table cell: a single line, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def _sentence(text: str) -> str:
    text = text.strip()
    if text[:1].isalpha():
        text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=jinja2.select_autoescape(["html.j2"]),
    )
    env.filters["cell"] = _cell
    env.filters["sentence"] = _sentence
    env.filters["fence_lang"] = lambda lang: _FENCE_LANG.get(lang.lower(), lang.lower())
    return env


def _check_rendering(rendering: str) -> None:
    if rendering not in RENDERINGS:
        raise ValueError(f"unknown rendering {rendering!r}: one of {', '.join(RENDERINGS)}")


def render_markdown(
    contract: Contract, world: dict | None = None, control_spec: dict | None = None, rendering: str = "sandbox"
) -> str:
    """The page as Markdown. `public`: only what Layers documents, in Layers' voice (no mock, no
    "Try it", no decisions of this kit; the spec's additions set apart as notes). `sandbox`: the
    same reference followed by "Try it against the mock" and the contract decisions."""
    _check_rendering(rendering)
    context = page_context(contract)
    context["rendering"] = rendering
    context["recipes"] = recipes(contract, world, control_spec) if rendering == "sandbox" else []
    context["mock_base"] = mock_base_url(contract)
    text = _environment().get_template("reference.md.j2").render(**context)
    # Blank-line runs come from template control blocks, not from content.
    out: list[str] = []
    for line in text.splitlines():
        if line.strip() == "" and out and out[-1].strip() == "":
            continue
        out.append(line.rstrip())
    return "\n".join(out).strip() + "\n"


def _highlight(code: str, lang: str, _attrs) -> str:
    try:
        lexer = get_lexer_by_name(lang or "text")
    except ClassNotFound:
        lexer = get_lexer_by_name("text")
    return highlight(code, lexer, HtmlFormatter(nowrap=True))


def slug(text: str) -> str:
    """A heading's id, GitHub-style: lower case, code marks dropped, other runs of symbols as '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.replace("`", "").lower()).strip("-") or "section"


def _heading_ids(md: MarkdownIt) -> None:
    """Give every heading an id (unique on the page), so each section can be linked to."""

    def rule(state) -> None:
        seen: dict[str, int] = {}
        for i, token in enumerate(state.tokens):
            if token.type == "heading_open":
                base = slug(state.tokens[i + 1].content)
                n = seen.get(base, 0)
                seen[base] = n + 1
                token.attrSet("id", base if n == 0 else f"{base}-{n}")

    md.core.ruler.push("heading_ids", rule)


def render_html(contract: Contract, markdown: str, rendering: str = "sandbox") -> str:
    md = MarkdownIt("commonmark", {"highlight": _highlight, "html": True}).enable("table")
    _heading_ids(md)
    body = md.render(markdown)
    return (
        _environment()
        .get_template("page.html.j2")
        .render(
            title=f"{contract.method.upper()} {contract.route}",
            summary=contract.operation["summary"],
            body=body,
            rendering=rendering,
            pygments_css=HtmlFormatter(style="friendly").get_style_defs("pre code"),
        )
    )


def render_all(
    contract: Contract, world: dict | None = None, control_spec: dict | None = None, rendering: str = "sandbox"
) -> dict[str, str]:
    """File name -> content, for one rendering (the same names for both: they live in different
    directories, docs_gen.paths.COMMITTED_DIRS)."""
    markdown = render_markdown(contract, world, control_spec, rendering)
    return {f"{PAGE_NAME}.md": markdown, f"{PAGE_NAME}.html": render_html(contract, markdown, rendering)}
