"""A partner's suite that runs with warnings as errors passes with the plugin: `python -W error`,
PYTHONWARNINGS=error (which the mock's own process inherits) and pytest's `-W error`. Only the
exact Connexion import-time warnings are filtered (mock_server/__init__.py); the plugin loads by
its entry point, as in a partner's project."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

PARTNER_TESTS = '''
import warnings


def test_revoke_twice(layers_mock):
    assert layers_mock.revoke(layers_mock.example_account_id).status_code == 200
    assert layers_mock.revoke(layers_mock.example_account_id).status_code == 404


def test_a_429_armed_through_the_control_plane(layers_mock):
    layers_mock.set_budget(0)
    assert layers_mock.revoke(layers_mock.example_account_id).status_code == 429


def test_warnings_are_still_errors_here(layers_mock):
    """The filters are exact: any other deprecation is still an error in the partner's run."""
    try:
        warnings.warn("something of the partner's is deprecated", DeprecationWarning)
    except DeprecationWarning:
        return
    raise AssertionError("warnings were not errors")
'''


@pytest.mark.parametrize(
    "python_args,env,pytest_args",
    [
        (["-W", "error"], {}, []),
        ([], {"PYTHONWARNINGS": "error"}, []),
        ([], {}, ["-W", "error"]),
    ],
    ids=["python -W error", "PYTHONWARNINGS=error", "pytest -W error"],
)
def test_partner_suite_passes_with_warnings_as_errors(tmp_path, python_args, env, pytest_args):
    (tmp_path / "test_partner.py").write_text(PARTNER_TESTS)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "LAYERS_", "PYTHONWARNINGS"))}
    proc = subprocess.run(
        [sys.executable, *python_args, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args],
        cwd=tmp_path,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout, proc.stdout
