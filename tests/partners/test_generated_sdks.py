"""Generated SDKs read every documented error (scripts/check-sdks.sh): openapi-typescript's types
under `tsc --strict` and openapi-python-client's client under `mypy --strict`, each read by a
consumer with no assertion or cast; then the Python consumer reads the details from the real mock."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from mock_control.launcher import MockProcess

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SDK = ROOT / "tools" / "sdk"


def test_generated_clients_type_check_every_error_and_read_the_mock(keys):
    if shutil.which("npm") is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("npm is not installed (scripts/check-sdks.sh needs it)")
        pytest.skip("npm is not installed")
    checked = subprocess.run(
        ["bash", str(ROOT / "scripts" / "check-sdks.sh")], capture_output=True, text=True, timeout=900
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Success: no issues found" in checked.stdout

    with MockProcess() as mock:
        read = subprocess.run(
            [
                str(SDK / ".venv" / "bin" / "python"),
                "consumer/revoke_errors.py",
                mock.base_url,
                keys["write"]["secret"],
            ],
            cwd=SDK,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONPATH": str(SDK / "generated" / "python")},
        )
    print(read.stdout)
    assert read.returncode == 0, read.stdout + read.stderr
    lines = read.stdout.splitlines()
    assert lines[0] == "403 FORBIDDEN_SCOPE requiredScope=social:write"
    assert lines[1] in {f"503 KILL_SWITCH scope={s}" for s in ("key", "organization", "global")}
    assert lines[2].startswith("400 VALIDATION issues=[") and lines[2] != "400 VALIDATION issues=[]"
