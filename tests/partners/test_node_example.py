"""examples/node/ (node:test, global fetch, no dependencies) passes against the real mock."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mock_control.launcher import MockProcess

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

NODE_EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node"


def test_node_example_passes_against_the_mock():
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("node is not installed (scripts/setup-node-tools.sh needs it too)")
        pytest.skip("node is not installed")
    # Every test(...) the example files declare must run and pass: none skipped or lost.
    declared = sum(len(re.findall(r"^test\(", f.read_text(), re.M)) for f in NODE_EXAMPLE.glob("*.test.mjs"))
    assert declared >= 6
    # As a harness in another language starts it: --port 0, found through its ready file.
    env = {k: v for k, v in os.environ.items() if k not in ("LAYERS_MOCK_URL", "LAYERS_API_KEY")}
    with MockProcess(port=0) as mock:
        # cwd + `node --test`: Node 18-22 all find *.test.mjs there (a directory argument is not a glob in 22).
        proc = subprocess.run(
            [node, "--test", "--test-reporter=spec"],
            cwd=NODE_EXAMPLE,
            capture_output=True,
            text=True,
            timeout=120,
            env={**env, "LAYERS_MOCK_READY_FILE": mock.ready_file},
        )
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = {name: int(n) for name, n in re.findall(r"^\S+ (tests|pass|fail|skipped) (\d+)$", proc.stdout, re.M)}
    assert counts == {"tests": declared, "pass": declared, "fail": 0, "skipped": 0}, counts
