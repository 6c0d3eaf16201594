"""The documentation site builds with `mkdocs build --strict` (links, anchors and the navigation
validated: mkdocs.yml's `validation:`), with its generated pages in it; a broken link or anchor
fails the build."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from contract.control import CONTROL

pytestmark = pytest.mark.e2e  # runs mkdocs as a process, as CI and a publisher do

REPO = Path(__file__).resolve().parents[2]


def build(config_dir: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=config_dir,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(REPO)},
    )


def test_the_site_builds_strict_with_its_generated_pages(tmp_path):
    site = tmp_path / "site"
    proc = build(REPO, site)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "WARNING" not in proc.stderr, proc.stderr[-4000:]
    # Every page of the navigation is there.
    for page in ("guides/pytest", "guides/any-language", "guides/staging-ci", "guides/operator", "guides/publishing"):
        assert (site / page / "index.html").is_file(), page
    # The control plane reference: every operation of control.yaml.
    control = (site / "reference" / "control-plane" / "index.html").read_text(encoding="utf-8")
    for method, path, _ in CONTROL.operations.values():
        assert f"{method.upper()} {CONTROL.prefix}{path}" in control, (method, path)
    # The settings tables, generated from the settings objects.
    settings = (site / "reference" / "settings" / "index.html").read_text(encoding="utf-8")
    assert "--sandbox-max-accounts" in settings and "--max-body-bytes" in settings
    # The plot and the included results.
    svg = (site / "performance" / "throughput-p99.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg") and svg.count("<rect") > 8
    performance = (site / "performance" / "index.html").read_text(encoding="utf-8")
    assert "throughput-p99.svg" in performance and "Benchmark results" in performance
    assert 'class="mermaid"' in (site / "architecture" / "index.html").read_text(encoding="utf-8")
    changelog = (site / "changelog" / "index.html").read_text(encoding="utf-8")
    assert "Unreleased" in changelog


def test_a_broken_link_or_anchor_fails_the_build(tmp_path):
    copy = tmp_path / "repo"
    for part in ("docs", "tools/mkdocs"):
        shutil.copytree(REPO / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("mkdocs.yml", "CHANGELOG.md", "bench/RESULTS.md"):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, copy / name)
    index = copy / "docs" / "index.md"
    index.write_text(
        index.read_text(encoding="utf-8") + "\n[gone](no-such-page.md) and [off](decisions.md#no-such-anchor)\n",
        encoding="utf-8",
    )
    proc = build(copy, tmp_path / "site")
    assert proc.returncode != 0
    assert "no-such-page.md" in proc.stderr
    assert re.search(r"no-such-anchor", proc.stderr)
