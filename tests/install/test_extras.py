"""Install only what you use: the mock and the pytest plugin run without the conformance kit's
and the docs tooling's packages; the console scripts that need an extra say what to install.

"Without" is made real by a meta path finder in a child interpreter that refuses to import the
extras' modules (as if they were not installed), rather than by a second virtualenv: seconds
instead of a minute of pip.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import httpx
import pytest

from contract import CONTRACT
from mock_control.launcher import free_port

pytestmark = pytest.mark.e2e  # real processes: see pyproject.toml's markers

REPO = Path(__file__).resolve().parents[2]
EXTRAS_ONLY = [
    "schemathesis",
    "hypothesis",
    "playwright",
    "openapi_spec_validator",
    "xdist",
    "mkdocs",
    "material",
    "pymdownx",
]
# Not installed at all any more (pyproject.toml asks for connexion without its `flask` extra): an
# older environment may still have them, and the mock must not need them.
NOT_INSTALLED = ["flask", "a2wsgi"]

BLOCKER = textwrap.dedent(f"""
    import sys
    from importlib.abc import MetaPathFinder
    BLOCKED = {EXTRAS_ONLY + NOT_INSTALLED!r}
    class NotInstalled(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)", name=name)
            return None
    sys.meta_path.insert(0, NotInstalled())
""")


def _python(code: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def test_blocker_really_blocks():
    """The finder must make an extra look absent, or the tests below prove nothing."""
    proc = _python("import schemathesis")
    assert proc.returncode != 0 and "blocked by the test" in proc.stderr


def test_mock_serves_and_plugin_loads_without_extras():
    port = free_port()
    code = f"""
        import runpy, sys
        import layers_pytest.plugin, layers_pytest.harness, mock_control  # the plugin's imports
        sys.argv = ["layers-mock", "--port", "{port}", "--workers", "1", "--quiet"]
        runpy.run_module("mock_server.cli", run_name="__main__")
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(code)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            if proc.poll() is not None:
                raise AssertionError(f"the mock died without the extras:\n{proc.stdout.read()}")
            try:
                httpx.get(base + "/_mock/clock", timeout=0.5)
                break
            except httpx.HTTPError:
                import time

                time.sleep(0.1)
        r = httpx.delete(
            base + CONTRACT.path_for(CONTRACT.example_account_id),
            headers={"Authorization": "Bearer lp_test_acme_write_7Qm2xK9pL4vN8rT1"},
        )
        assert r.status_code == 200, r.text
        assert httpx.get(base + "/docs").status_code == 200
        assert httpx.get(base + "/ui/").status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)


def test_conformance_without_its_extra_says_what_to_install():
    proc = _python("""
        from conformance.entry import main
        sys.exit(main(["--base-url", "http://127.0.0.1:9", "--api-key", "lp_x"]))
    """)
    assert proc.returncode == 2, proc.stderr
    assert 'pip install "layers-contract-kit[conformance]"' in proc.stderr
    assert "Traceback" not in proc.stderr


def test_docs_screenshot_without_its_extra_says_what_to_install(tmp_path):
    proc = _python(f"""
        from docs_gen.entry import main
        sys.exit(main(["--check", "--screenshot", "{tmp_path / "x.png"}"]))
    """)
    assert proc.returncode == 2, proc.stderr
    assert 'pip install "layers-contract-kit[docs]"' in proc.stderr


def test_docs_render_needs_no_extra():
    proc = _python("""
        from docs_gen.entry import main
        sys.exit(main(["--committed", "--check"]))  # both renderings and the guide's steps, rendered anew
    """)
    assert proc.returncode == 0, proc.stderr


def test_base_install_names_no_extra_and_allows_pytest_8():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"]).lower()
    for name in ["schemathesis", "hypothesis", "playwright", "openapi-spec-validator", "pytest", "flask", "mkdocs"]:
        assert name not in base, f"{name} is in the base install"
    assert "jsonschema_rs" in base, "the mock's fast validation path must be declared, not inherited"
    assert "pytest>=8" in project["optional-dependencies"]["pytest"]
    assert project["scripts"]["layers-conformance"] == "conformance.entry:main"
