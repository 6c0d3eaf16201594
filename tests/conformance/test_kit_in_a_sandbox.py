"""`layers-conformance --mock-control --operator-token T` against a hosted mock: the kit makes a
sandbox of its own, provisions and runs inside it (its kill switches, the global one too, and
its clock moves stay there), and deletes it at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from contract import CONTRACT
from mock_control import ControlClient
from mock_control.launcher import MockProcess

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from sandbox.support import OPERATOR, new_sandbox

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

ROOT = Path(__file__).resolve().parents[2]


def kit_process(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from conformance.cli import main; sys.exit(main())", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
    )


@pytest.fixture
def hosted_mock(tmp_path):
    with MockProcess(database=str(tmp_path / "hosted.sqlite3"), extra_args=["--operator-token", OPERATOR]) as proc:
        yield proc


def test_kit_provisions_inside_its_own_sandbox_and_leaves_the_others_alone(hosted_mock, tmp_path):
    bystander = new_sandbox(hosted_mock.base_url, "bystander")
    report = tmp_path / "report.json"
    proc = kit_process(
        ["--base-url", hosted_mock.base_url, "--mock-control", "--report-json", str(report)],
        env={"LAYERS_MOCK_OPERATOR_TOKEN": OPERATOR},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(report.read_text())
    assert [row["status"] for row in data["statuses"] if row["seen"]] == CONTRACT.documented_statuses
    assert OPERATOR not in proc.stdout + proc.stderr + report.read_text()
    with ControlClient(hosted_mock.base_url, admin_token=OPERATOR) as operator:
        assert [s["sandboxId"] for s in operator.list_sandboxes()["sandboxes"]] == [bystander.id]
    with bystander.control() as c, httpx.Client(base_url=hosted_mock.base_url, timeout=30) as http:
        state = c.state()
        assert state["globalKillSwitch"] is False and state["clock"]["offsetSeconds"] == 0
        assert state["counts"]["journal"] == 0 and state["counts"]["revocations"] == 0
        r = http.delete(
            CONTRACT.path_for(CONTRACT.example_account_id),
            headers={"Authorization": f"Bearer {bystander.key('write')['secret']}"},
        )
        assert r.status_code == CONTRACT.success_status, r.text
