"""Run a nested pytest session in a scratch directory, as a partner's project would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@dataclass
class InnerRun:
    returncode: int
    output: str
    outcomes: dict[str, str]  # test name -> passed / failed / skipped
    skip_reasons: dict[str, str]

    def named(self, outcome: str) -> set[str]:
        return {name for name, o in self.outcomes.items() if o == outcome}


def _parse_junit(path: Path) -> tuple[dict[str, str], dict[str, str]]:
    outcomes, reasons = {}, {}
    for case in ET.parse(path).iter("testcase"):
        name = case.get("name")
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped":
                outcome = "skipped"
                reasons[name] = child.get("message", "")
        outcomes[name] = outcome
    return outcomes, reasons


@pytest.fixture
def copy_examples(tmp_path):
    """Copy the example integration and its tests into a scratch project; returns its folder."""

    def copy() -> Path:
        for source in EXAMPLES.glob("*.py"):
            shutil.copy(source, tmp_path / source.name)
        return tmp_path

    return copy


@pytest.fixture
def run_pytest(tmp_path):
    """Run pytest in `tmp_path` with the plugin loaded, isolated from this session's settings.

    Entry-point autoloading is off in the nested run and the plugin is named with `-p`: the
    other installed plugins (schemathesis, hypothesis) cost seconds at start-up and play no part
    here. That the entry point itself works is shown by this suite (see
    test_layers_mock_fixture.py) and by `pytest examples/`.
    """

    def run(*args: str, env: dict | None = None) -> InnerRun:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LAYERS_"))}
        clean.update(env or {})
        clean["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        junit = tmp_path / "inner-report.xml"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "layers_pytest.plugin",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
            f"--junitxml={junit}",
            *args,
        ]
        proc = subprocess.run(cmd, cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=120)
        output = proc.stdout + proc.stderr
        assert junit.exists(), f"nested pytest wrote no report:\n{output}"
        outcomes, reasons = _parse_junit(junit)
        return InnerRun(proc.returncode, output, outcomes, reasons)

    return run
