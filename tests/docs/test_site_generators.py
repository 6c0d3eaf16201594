"""What the site generates at build time (tools/mkdocs/hooks.py), in process: the control plane
reference covers control.yaml, the benchmark plot is drawn from RESULTS.md's table and is the
same bytes every time, and the include and settings markers expand."""

from __future__ import annotations

import pytest

from contract.control import CONTROL
from docs_gen.bench_plot import RESULTS, NoThroughputTable, plot, render_svg, throughput_rows
from docs_gen.control_reference import render

TABLE = """
| path | target | req/s | x Prism | p50 ms | p99 ms |
|---|---|---|---|---|---|
| 401 | ours, SQLite | 14,635 | **6.24** | 2.1 | 4.6 |
| 401 | Prism | 2,345 |  | 13.1 | 23.8 |
| 200 | ours, SQLite | 8,066 | **2.21** | 4.0 | 8.6 |
| 200 | Prism | 3,654 |  | 8.4 | 17.0 |
"""


def test_control_reference_names_every_operation_and_its_answers():
    page = render()
    for method, path, op in CONTROL.operations.values():
        assert f"### `{method.upper()} {CONTROL.prefix}{path}`" in page
        for status in op["responses"]:
            assert f"| {status}" in page
    for bound in CONTROL.request_bounds:
        assert f"`{bound}`" in page


def test_the_plot_reads_the_table_by_its_header():
    rows = throughput_rows("text before\n" + TABLE + "\ntext after")
    assert [(r.path, r.target, r.rps, r.p99_ms) for r in rows][:2] == [
        ("401", "ours, SQLite", 14635.0, 4.6),
        ("401", "Prism", 2345.0, 23.8),
    ]
    svg = render_svg(rows)
    assert svg == render_svg(throughput_rows(TABLE))  # deterministic
    assert svg.count("<rect") == 1 + 4 + 4 + 2  # background, 4 bars per panel, 2 legend swatches
    assert ">14,635</text>" in svg and "<title>401 · Prism: 23.8 ms</title>" in svg  # on and over the bars


def test_the_committed_results_give_a_plot_with_every_backend_and_prism():
    rows = throughput_rows(RESULTS.read_text(encoding="utf-8"))
    targets = {r.target for r in rows}
    assert any(t.lower().startswith("prism") for t in targets) and len(targets) >= 2
    assert plot().startswith("<svg")


def test_a_results_file_without_the_table_stops_the_build():
    with pytest.raises(NoThroughputTable):
        throughput_rows("# Benchmark results\n\nno table here\n| a | b |\n|---|---|\n| 1 | 2 |\n")


def test_markers_expand_and_an_unknown_one_fails(site_hooks):
    text = site_hooks.expand("# Changes\n\n<!-- include: CHANGELOG.md -->\n")
    assert "\n## Changelog\n" in text and "\n### Unreleased\n" in text  # one level down
    assert site_hooks.expand("<!-- include-page: CHANGELOG.md -->\n").startswith("# Changelog\n\n## Unreleased\n")
    with pytest.raises(KeyError):
        site_hooks.expand("<!-- generated: nothing-by-that-name -->")
    with pytest.raises(FileNotFoundError):
        site_hooks.expand("<!-- include: ../../etc/passwd -->")
