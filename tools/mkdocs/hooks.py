"""MkDocs hooks (mkdocs.yml `hooks:`): what the site generates at build time, so nothing
generated is committed twice and nothing can drift.

- `reference/control-plane.md`: rendered from contract/control.yaml (docs_gen/control_reference.py);
- `performance/throughput-p99.svg`: drawn from bench/RESULTS.md's throughput table
  (docs_gen/bench_plot.py);
- in any page, a marker line is replaced by what it names:
  `<!-- generated: mock-settings -->` (`python -m mock_server.settings --markdown`),
  `<!-- generated: kit-settings -->` (`python -m conformance.settings --markdown`),
  `<!-- include: PATH -->` (a file of the repository, e.g. bench/RESULTS.md, its headings moved
  one level down so they sit under the page's own title), `<!-- include-page: PATH -->` (the file
  as the whole page, headings as they are: CHANGELOG.md).

A marker that names nothing known fails the build (strict), as does a RESULTS.md without its
throughput table.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from mkdocs.structure.files import File

REPO = Path(__file__).resolve().parents[2]
GENERATED_PAGE = "reference/control-plane.md"
PLOT = "performance/throughput-p99.svg"
_MARKER = re.compile(r"^<!-- (generated|include|include-page): (\S+) -->$", re.M)
log = logging.getLogger("mkdocs.plugins.layers")


def generated_table(name: str) -> str:
    if name == "mock-settings":
        from mock_server.settings import markdown_table

        return markdown_table() + "\n"
    if name == "kit-settings":
        from conformance.settings import settings_table

        return settings_table()
    raise KeyError(f"no generated block named {name!r}")


def demote(markdown: str) -> str:
    """Every ATX heading one level down (outside fenced code), for a file included in a page."""
    out, fence = [], None
    for line in markdown.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("```", "~~~")):
            mark = stripped[:3]
            fence = None if fence == mark else (fence or mark)
        elif fence is None and re.match(r"#{1,5} ", line):
            line = "#" + line
        out.append(line)
    return "\n".join(out) + "\n"


def expand(markdown: str) -> str:
    def replace(m: re.Match) -> str:
        kind, name = m.group(1), m.group(2)
        if kind == "generated":
            return generated_table(name)
        path = (REPO / name).resolve()
        if REPO not in path.parents or not path.is_file():
            raise FileNotFoundError(f"<!-- include: {name} -->: no such file in the repository")
        text = path.read_text(encoding="utf-8")
        return text if kind == "include-page" else demote(text)

    return _MARKER.sub(replace, markdown)


def on_files(files, config):
    from docs_gen.bench_plot import plot
    from docs_gen.control_reference import render

    files.append(File.generated(config, GENERATED_PAGE, content=render()))
    files.append(File.generated(config, PLOT, content=plot()))
    return files


def on_page_markdown(markdown, page, config, files):
    return expand(markdown)
