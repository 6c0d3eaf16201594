"""A world made before sandboxes (schema version 2, no sandbox column) is refused with a clear
message, never read wrongly; `--reset` rebuilds it as schema 3."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import httpx
import pytest

from mock_control.launcher import MockProcess
from mock_server.storage import SCHEMA_VERSION

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers


def test_a_version_2_world_is_refused_until_reset(tmp_path, default_world):
    state = tmp_path / "old.sqlite3"
    db = sqlite3.connect(state)
    db.executescript(
        "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('schema_version', '2');"
        "CREATE TABLE organizations (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, name TEXT, killed INT);"
    )
    db.commit()
    db.close()
    proc = subprocess.run(
        [sys.executable, "-m", "mock_server.cli", "--state", str(state), "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stderr
    assert "schema version 2" in proc.stderr and f"schema version {SCHEMA_VERSION}" in proc.stderr
    assert "--reset" in proc.stderr and "Traceback" not in proc.stderr
    with MockProcess(state=str(state), extra_args=["--reset"]) as mock:
        r = httpx.delete(
            mock.base_url + "/v1/social-accounts/" + default_world["accounts"][0]["id"],
            headers={"Authorization": f"Bearer {default_world['keys'][0]['secret']}"},
        )
        assert r.status_code == 200, r.text
