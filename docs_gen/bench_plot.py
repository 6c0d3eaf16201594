"""The performance page's plot: throughput and p99 of every target against Prism, per path, drawn
as a plain SVG from the throughput table `bench/run.py` writes into bench/RESULTS.md.

Deterministic (the same table gives the same bytes: no dates, no random ids, fixed number
formats) and dependency-free, so the site's build (tools/mkdocs/hooks.py) draws it from whatever
RESULTS.md holds at build time and the plot cannot go stale. The table is found by its header
cells (`path`, `target`, `req/s`, `p99 ms`), not by its position, so text around it may change.
`python -m docs_gen.bench_plot [RESULTS.md] > plot.svg` draws it by hand.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from html import escape
from pathlib import Path

from docs_gen.paths import REPO_ROOT

RESULTS = REPO_ROOT / "bench" / "RESULTS.md"
_NEEDED = ("path", "target", "req/s", "p99 ms")
# One colour per target, in the order the table lists them; Prism is always grey.
_PALETTE = ("#1d4ed8", "#0f766e", "#7c3aed", "#b45309", "#be123c", "#4d7c0f")
_PRISM = "#9ca3af"


class NoThroughputTable(ValueError):
    pass


@dataclass(frozen=True)
class Row:
    path: str
    target: str
    rps: float
    p99_ms: float


def _number(cell: str) -> float:
    return float(re.sub(r"[^0-9.]", "", cell))


def throughput_rows(markdown: str) -> list[Row]:
    """The rows of the first table whose header has path, target, req/s and p99 ms."""
    lines = markdown.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            continue
        header = [c.strip().lower() for c in line.strip().strip("|").split("|")]
        if not all(name in header for name in _NEEDED):
            continue
        col = {name: header.index(name) for name in _NEEDED}
        rows = []
        for body in lines[i + 2 :]:
            if not body.startswith("|"):
                break
            cells = [c.strip() for c in body.strip().strip("|").split("|")]
            rows.append(
                Row(
                    cells[col["path"]],
                    cells[col["target"]],
                    _number(cells[col["req/s"]]),
                    _number(cells[col["p99 ms"]]),
                )
            )
        if rows:
            return rows
    rows = _one_table_rows(lines)
    if rows:
        return rows
    raise NoThroughputTable("no table with the columns path, target, req/s and p99 ms (bench/run.py writes it)")


# bench/run.py's one table: a row per target, a column per path, each measured cell
# "req/s (x Prism)<br>p50 / p99" (Prism's own without the ratio; "—" where not measured).
_CELL = re.compile(r"^([0-9][0-9,]*(?:\.[0-9]+)?)[^<]*<br>\s*[0-9.]+\s*/\s*([0-9.]+)")


def _one_table_rows(lines: list[str]) -> list[Row]:
    for i, line in enumerate(lines):
        header = [c.strip() for c in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if not header or header[0].lower() != "target":
            continue
        rows = []
        for body in lines[i + 2 :]:
            if not body.startswith("|"):
                break
            cells = [c.strip() for c in body.strip().strip("|").split("|")]
            for path, cell in zip(header[1:], cells[1:], strict=False):
                m = _CELL.match(cell)
                if m:
                    rows.append(Row(path, cells[0], _number(m.group(1)), float(m.group(2))))
        if rows:
            return rows
    return []


def _panel(rows: list[Row], value, title: str, unit: str, x0: int, width: int, targets: list[str]) -> list[str]:
    """One grouped bar chart: a group per path, a bar per target, the value printed on each bar."""
    paths = list(dict.fromkeys(r.path for r in rows))
    top, height = 60, 260
    peak = max(value(r) for r in rows) or 1.0
    group_w = width / len(paths)
    bar_w = min(28.0, (group_w - 20) / len(targets))
    out = [
        f'<text x="{x0 + width / 2:.1f}" y="30" text-anchor="middle" font-size="15" font-weight="600">'
        f"{escape(title)}</text>",
        f'<line x1="{x0}" y1="{top + height}" x2="{x0 + width}" y2="{top + height}" stroke="#6b7280"/>',
    ]
    by_key = {(r.path, r.target): r for r in rows}
    for g, path in enumerate(paths):
        gx = x0 + g * group_w + (group_w - bar_w * len(targets)) / 2
        for t, target in enumerate(targets):
            row = by_key.get((path, target))
            if row is None:
                continue
            h = height * value(row) / peak
            x, y = gx + t * bar_w, top + height - h
            colour = _PRISM if target.lower().startswith("prism") else _PALETTE[t % len(_PALETTE)]
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 3:.1f}" height="{h:.1f}" fill="{colour}">'
                f"<title>{escape(path)} · {escape(target)}: {value(row):,.1f} {unit}</title></rect>"
            )
            out.append(
                f'<text x="{x + (bar_w - 3) / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" font-size="9">'
                f"{value(row):,.0f}</text>"
            )
        out.append(
            f'<text x="{x0 + g * group_w + group_w / 2:.1f}" y="{top + height + 18}" text-anchor="middle" '
            f'font-size="12">{escape(path)}</text>'
        )
    out.append(
        f'<text x="{x0 + width / 2:.1f}" y="{top + height + 36}" text-anchor="middle" font-size="11" '
        'fill="#4b5563">path</text>'
    )
    return out


def render_svg(rows: list[Row]) -> str:
    targets = list(dict.fromkeys(r.target for r in rows))
    width, height = 980, 400
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" role="img" '
        'aria-label="Throughput and p99 latency of each target against Prism, per path">',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
    ]
    parts += _panel(rows, lambda r: r.rps, "Throughput (req/s, higher is better)", "req/s", 20, 450, targets)
    parts += _panel(rows, lambda r: r.p99_ms, "p99 latency (ms, lower is better)", "ms", 510, 450, targets)
    for i, target in enumerate(targets):
        colour = _PRISM if target.lower().startswith("prism") else _PALETTE[i % len(_PALETTE)]
        x = 20 + i * 160
        parts.append(f'<rect x="{x}" y="{height - 22}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="{height - 12}" font-size="11">{escape(target)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def plot(results: Path = RESULTS) -> str:
    return render_svg(throughput_rows(results.read_text(encoding="utf-8")))


if __name__ == "__main__":
    sys.stdout.write(plot(Path(sys.argv[1]) if len(sys.argv) > 1 else RESULTS))
